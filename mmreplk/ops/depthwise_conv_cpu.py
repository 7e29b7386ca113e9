"""CPU back end of the large-kernel depthwise convolution.

PyTorch's CPU depthwise convolution (oneDNN) is fast up to 13x13 kernels and
falls to a slow generic path above (about 8 vs 100-200 GFLOP/s on 2 cores),
which made RepLKNet's 27-31 wide kernels most of its CPU latency.

* Forward: a KhxKw kernel is cut into tiles of at most ``MAX_FAST_KERNEL``
  taps per side. Each tile is an exact, shifted sub-convolution that runs on
  the fast path (valid convolution over the matching window of the padded
  input); the tiles' outputs are summed. Exact up to fp32 rounding.
* Grad input: the same decomposition applied to ``grad_out`` with the
  flipped kernel and padding ``K - 1 - P``.
* Grad weight: a per-channel cross-correlation of the padded input with
  ``grad_out`` at the KhxKw offsets, computed with real FFTs and summed over
  the batch in the frequency domain (one inverse transform per channel). The
  circular correlation is exact for the offsets we keep because the FFT size
  equals the padded input size.
"""
import torch
import torch.nn.functional as F

# The largest kernel side that PyTorch's CPU depthwise path handles fast.
MAX_FAST_KERNEL = 13


def split_taps(size, max_taps=MAX_FAST_KERNEL):
    """Cut ``size`` kernel taps into the fewest contiguous pieces of at most
    ``max_taps``, as equal as possible: ``[(start, length), ...]``."""
    pieces = -(-size // max_taps)
    base, extra = divmod(size, pieces)
    out, start = [], 0
    for i in range(pieces):
        length = base + (1 if i < extra else 0)
        out.append((start, length))
        start += length
    return out


def is_fast_native(kernel_size):
    return max(kernel_size) <= MAX_FAST_KERNEL


def conv_forward(x, weight, bias, padding):
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)``."""
    channels = x.shape[1]
    kh, kw = weight.shape[2:]
    if is_fast_native((kh, kw)):
        return F.conv2d(x, weight, bias, padding=padding, groups=channels)
    ph, pw = padding
    xp = F.pad(x, (pw, pw, ph, ph))
    oh = xp.shape[2] - kh + 1
    ow = xp.shape[3] - kw + 1
    out = None
    for r0, rl in split_taps(kh):
        for c0, cl in split_taps(kw):
            window = xp[:, :, r0:r0 + oh + rl - 1, c0:c0 + ow + cl - 1]
            part = F.conv2d(window, weight[:, :, r0:r0 + rl, c0:c0 + cl],
                            groups=channels)
            out = part if out is None else out.add_(part)
    if bias is not None:
        out.add_(bias.view(1, -1, 1, 1))
    return out


def conv_backward_input(grad_out, weight, padding, input_hw):
    kh, kw = weight.shape[2:]
    pad_t = (kh - 1 - padding[0], kw - 1 - padding[1])
    if min(pad_t) < 0:
        # Padding beyond K - 1 (only reachable through an explicit padding):
        # cropping grad_out is equivalent, then pad zero.
        raise ValueError('The CPU depthwise path supports padding <= K - 1.')
    grad_in = conv_forward(grad_out, weight.flip(2, 3), None, pad_t)
    assert tuple(grad_in.shape[2:]) == tuple(input_hw)
    return grad_in


def conv_backward_weight(x, grad_out, kernel_size, padding):
    """``d loss / d weight`` of shape ``(C, 1, Kh, Kw)``."""
    kh, kw = kernel_size
    if is_fast_native(kernel_size):
        weight_shape = (x.shape[1], 1, kh, kw)
        return torch.ops.aten.convolution_backward(
            grad_out, x, torch.empty(weight_shape, dtype=x.dtype),
            None, (1, 1), padding, (1, 1), False, (0, 0), x.shape[1],
            (False, True, False))[1]
    ph, pw = padding
    xp = F.pad(x, (pw, pw, ph, ph))
    size = xp.shape[2:]
    # fp64 transforms for fp64 inputs (gradient checks), fp32 otherwise.
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    fx = torch.fft.rfft2(xp.to(work), s=size)
    fg = torch.fft.rfft2(grad_out.to(work), s=size)
    spectrum = (fx * fg.conj()).sum(0)
    corr = torch.fft.irfft2(spectrum, s=size)
    return corr[:, :kh, :kw].unsqueeze(1).to(x.dtype).contiguous()
