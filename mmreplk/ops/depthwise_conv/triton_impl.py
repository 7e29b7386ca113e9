"""Triton kernels of the large-kernel depthwise convolution.

Design (see docs/large_kernel_op.md for the measurements and reasoning):

* Forward: one program computes a ``BLOCK_H x BLOCK_W`` output tile of one
  (n, c) plane. It walks the kernel row by row; for each row it processes
  ``BLOCK_KW`` kernel columns at once as a 3-D ``[BLOCK_KW, BLOCK_H,
  BLOCK_W]`` tile of shifted input loads (re-used input lines stay in L1)
  multiplied by the broadcast weights and reduced over the column axis, with
  fp32 accumulation. Kernel sizes, padding and strides are runtime
  arguments, so no kernel size, rectangular kernel or layout (NCHW,
  channels_last) needs its own source or a copy; Triton's JIT still
  compiles a few variants per configuration (it specialises integer
  arguments equal to 1 or divisible by 16).
* Grad input is the same kernel applied to ``grad_out`` with the flipped
  kernel and padding ``K - 1 - P``.
* Grad weight is a per-channel correlation of the input with ``grad_out``:
  one program owns one (channel, kernel row, split) and reduces
  ``BLOCK_KW`` kernel columns over its share of the batch and all output
  tiles; the ``SPLIT`` partial sums are added afterwards, so the reduction
  is deterministic (no atomics).
"""
from contextlib import nullcontext

import torch
import triton
import triton.language as tl


@triton.jit
def dwconv_fwd_kernel(x_ptr, w_ptr, b_ptr, y_ptr, C, H, W, OH, OW, KH, KW, PH,
                      PW, sxn, sxc, sxh, sxw, syn, syc, syh, syw,
                      HAS_BIAS: tl.constexpr, ACC_DTYPE: tl.constexpr,
                      BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
                      BLOCK_KW: tl.constexpr):
    # 1-D grid (axis 0 allows 2**31 - 1 programs; axes 1-2 only 65535).
    tiles_w = tl.cdiv(OW, BLOCK_W)
    num_tiles = tl.cdiv(OH, BLOCK_H) * tiles_w
    pid = tl.program_id(0)
    pid_nc = pid // num_tiles
    pid_tile = pid % num_tiles
    n = pid_nc // C
    c = pid_nc % C
    oh = (pid_tile // tiles_w) * BLOCK_H + tl.arange(0, BLOCK_H)
    ow = (pid_tile % tiles_w) * BLOCK_W + tl.arange(0, BLOCK_W)
    x_base = x_ptr + tl.cast(n, tl.int64) * sxn + tl.cast(c, tl.int64) * sxc
    w_base = w_ptr + c * KH * KW
    kw_off = tl.arange(0, BLOCK_KW)
    acc = tl.zeros([BLOCK_H, BLOCK_W], dtype=ACC_DTYPE)
    for kh in range(0, KH):
        ih = oh + kh - PH
        ih_ok = (ih >= 0) & (ih < H)
        for kw0 in range(0, KW, BLOCK_KW):
            kw = kw0 + kw_off
            kw_ok = kw < KW
            wv = tl.load(
                w_base + kh * KW + kw, mask=kw_ok, other=0.0).to(ACC_DTYPE)
            iw = ow[None, None, :] + kw[:, None, None] - PW
            mask = (
                ih_ok[None, :, None] & kw_ok[:, None, None]
                & (iw >= 0) & (iw < W))
            xv = tl.load(
                x_base + ih[None, :, None] * sxh + iw * sxw,
                mask=mask,
                other=0.0).to(ACC_DTYPE)
            acc += tl.sum(xv * wv[:, None, None], axis=0)
    if HAS_BIAS:
        acc += tl.load(b_ptr + c).to(ACC_DTYPE)
    out_mask = (oh[:, None] < OH) & (ow[None, :] < OW)
    y_base = y_ptr + tl.cast(n, tl.int64) * syn + tl.cast(c, tl.int64) * syc
    tl.store(
        y_base + oh[:, None] * syh + ow[None, :] * syw,
        acc.to(y_ptr.dtype.element_ty),
        mask=out_mask)


@triton.jit
def dwconv_bwd_weight_kernel(x_ptr, go_ptr, gw_ptr, N, C, H, W, OH, OW, KH, KW,
                             PH, PW, SPLIT, sxn, sxc, sxh, sxw, sgn, sgc, sgh,
                             sgw, ACC_DTYPE: tl.constexpr,
                             BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr,
                             BLOCK_KW: tl.constexpr):
    pid = tl.program_id(0)
    split = tl.program_id(1)
    c = pid // KH
    kh = pid % KH
    kw_off = tl.arange(0, BLOCK_KW)
    h_off = tl.arange(0, BLOCK_H)
    w_off = tl.arange(0, BLOCK_W)
    tiles_w = tl.cdiv(OW, BLOCK_W)
    num_tiles = tl.cdiv(OH, BLOCK_H) * tiles_w
    for kw0 in range(0, KW, BLOCK_KW):
        kw = kw0 + kw_off
        kw_ok = kw < KW
        acc = tl.zeros([BLOCK_KW], dtype=ACC_DTYPE)
        for n in range(split, N, SPLIT):
            x_base = x_ptr + tl.cast(n, tl.int64) * sxn + tl.cast(
                c, tl.int64) * sxc
            g_base = go_ptr + tl.cast(n, tl.int64) * sgn + tl.cast(
                c, tl.int64) * sgc
            for t in range(0, num_tiles):
                oh = (t // tiles_w) * BLOCK_H + h_off
                ow = (t % tiles_w) * BLOCK_W + w_off
                g_mask = (oh[:, None] < OH) & (ow[None, :] < OW)
                gv = tl.load(
                    g_base + oh[:, None] * sgh + ow[None, :] * sgw,
                    mask=g_mask,
                    other=0.0).to(ACC_DTYPE)
                ih = oh + kh - PH
                iw = ow[None, None, :] + kw[:, None, None] - PW
                mask = (((ih >= 0) & (ih < H))[None, :, None]
                        & kw_ok[:, None, None] & (iw >= 0) & (iw < W))
                xv = tl.load(
                    x_base + ih[None, :, None] * sxh + iw * sxw,
                    mask=mask,
                    other=0.0).to(ACC_DTYPE)
                acc += tl.sum(tl.sum(xv * gv[None, :, :], axis=2), axis=1)
        out = gw_ptr + (tl.cast(split, tl.int64) * C +
                        c) * KH * KW + kh * KW + kw
        tl.store(out, acc, mask=kw_ok)


# The tile shapes shipped (each compiled ahead of time for sm_80 and sm_90 in
# the tests, checked for register spills): wide tiles for large feature maps,
# square ones for narrow maps (output width <= 16).
FWD_CONFIGS = {
    'wide': dict(BLOCK_H=8, BLOCK_W=32, BLOCK_KW=8, num_warps=4),
    'narrow': dict(BLOCK_H=16, BLOCK_W=16, BLOCK_KW=8, num_warps=4),
}
BWD_WEIGHT_CONFIGS = {
    'wide': dict(BLOCK_H=8, BLOCK_W=32, BLOCK_KW=8, num_warps=4),
    'narrow': dict(BLOCK_H=16, BLOCK_W=16, BLOCK_KW=8, num_warps=4),
}
# Shipped dtypes (compiled ahead of time in the tests); the accumulator is
# fp32, or fp64 for fp64 inputs (gradient checks).
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def pick_config(configs, out_width, override=None):
    if override is not None:
        return override
    return configs['narrow' if out_width <= 16 else 'wide']


def acc_dtype(dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


def _split_meta(cfg):
    return {k: v for k, v in cfg.items() if k != 'num_warps'}, \
        cfg['num_warps']


def _launch_conv(x, weight, bias, padding, out, config=None):
    """``out = depthwise_conv(x, weight) + bias`` with ``padding``."""
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    oh, ow = out.shape[2:]
    meta, num_warps = _split_meta(pick_config(FWD_CONFIGS, ow, config))
    grid = (n * c * triton.cdiv(oh, meta['BLOCK_H']) *
            triton.cdiv(ow, meta['BLOCK_W']), )
    # Triton launches on the current device: make it the tensors' device.
    with torch.cuda.device(x.device) if x.is_cuda else nullcontext():
        dwconv_fwd_kernel[grid](
            x,
            weight,
            bias.contiguous() if bias is not None else weight,
            out,
            c,
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            padding[0],
            padding[1],
            *x.stride(),
            *out.stride(),
            HAS_BIAS=bias is not None,
            ACC_DTYPE=acc_dtype(x.dtype),
            num_warps=num_warps,
            **meta)
    return out


def _empty_like_layout(x, shape):
    """Output in ``x``'s memory format (NCHW or channels_last)."""
    if not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return torch.empty(
            shape,
            dtype=x.dtype,
            device=x.device,
            memory_format=torch.channels_last)
    return torch.empty(shape, dtype=x.dtype, device=x.device)


def conv_forward(x, weight, bias, padding, config=None):
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    oh, ow = h + 2 * padding[0] - kh + 1, w + 2 * padding[1] - kw + 1
    out = _empty_like_layout(x, (n, c, oh, ow))
    return _launch_conv(x, weight.contiguous(), bias, padding, out, config)


def conv_backward_input(grad_out, weight, padding, input_hw, config=None):
    """Grad input: the convolution of ``grad_out`` with the flipped kernel
    and padding ``K - 1 - P``."""
    kh, kw = weight.shape[2:]
    flipped = weight.flip(2, 3).contiguous()
    pad_t = (kh - 1 - padding[0], kw - 1 - padding[1])
    n, c = grad_out.shape[:2]
    out = _empty_like_layout(grad_out, (n, c, *input_hw))
    return _launch_conv(grad_out, flipped, None, pad_t, out, config)


INTERPRETER_MULTIPROCESSORS = 132


def _multiprocessors(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_properties(device).multi_processor_count
    # The interpreter (CPU tensors): a nominal GPU, so that tests of small
    # shapes still split the batch.
    return INTERPRETER_MULTIPROCESSORS


def conv_backward_weight(x, grad_out, kernel_size, padding, config=None):
    """Grad weight ``(C, 1, KH, KW)`` (accumulated in fp32, or fp64)."""
    n, c, h, w = x.shape
    kh, kw = kernel_size
    oh, ow = grad_out.shape[2:]
    meta, num_warps = _split_meta(pick_config(BWD_WEIGHT_CONFIGS, ow, config))
    # Split the batch so that C*KH*SPLIT programs fill the GPU (about four
    # waves of its multiprocessors) even for few channels or small kernels.
    split = max(1, min(n, triton.cdiv(4 * _multiprocessors(x.device), c * kh)))
    partial = torch.empty(
        (split, c, kh, kw),
        dtype=torch.float64 if x.dtype == torch.float64 else torch.float32,
        device=x.device)
    with torch.cuda.device(x.device) if x.is_cuda else nullcontext():
        dwconv_bwd_weight_kernel[(c * kh, split)](
            x,
            grad_out,
            partial,
            n,
            c,
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            padding[0],
            padding[1],
            split,
            *x.stride(),
            *grad_out.stride(),
            ACC_DTYPE=acc_dtype(x.dtype),
            num_warps=num_warps,
            **meta)
    return partial.sum(0).unsqueeze(1)
