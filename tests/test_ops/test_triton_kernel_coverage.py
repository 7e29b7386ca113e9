"""Triton kernels (interpreted on CPU) on shapes that run every loop of the
kernels at least twice with the *shipped* tiles: kernel columns wider than
``BLOCK_KW``, a batch larger than the grad-weight split, outputs of several
tiles in H and W, shift-add outputs of several tiles, and long sums that an
fp16 accumulator gets wrong. Also the paths a model takes: the registered
custom ops' backward above K=7, non-contiguous inputs and gradients, fp16
activations with fp32 weights (AMP) and RepLKNet with ``impl='triton'``.

Every case compares against an fp64 PyTorch reference. The loop counts a
case relies on are asserted from the shipped tile sizes and the recorded
launch grids, so a change of the tiles or of the grad-weight split that
makes a case stop covering its loop fails here instead of passing.
"""
import pytest
import torch
import torch.nn.functional as F

from mmreplk.ops import add_shift, depthwise_conv2d
from mmreplk.ops.add_shift.torch_impl import add_shift_reference
from tests.helpers.op_checks import rel_err


def tdc():
    from mmreplk.ops.depthwise_conv import triton_impl as triton_depthwise_conv
    return triton_depthwise_conv


def tas():
    from mmreplk.ops.add_shift import triton_impl as triton_add_shift
    return triton_add_shift


class LaunchRecorder:
    """Stands in for a ``@triton.jit`` kernel: records the grid of every
    launch and launches the real kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.grids = []

    def __getitem__(self, grid):
        self.grids.append(tuple(grid))
        return self.kernel[grid]


@pytest.fixture
def launches(monkeypatch):
    """Record the launch grids of the depthwise and shift-add kernels."""
    recorders = {}
    for module, name in ((tdc(), 'dwconv_fwd_kernel'),
                         (tdc(), 'dwconv_bwd_weight_kernel'),
                         (tas(), 'add_shift_kernel')):
        recorders[name] = LaunchRecorder(getattr(module, name))
        monkeypatch.setattr(module, name, recorders[name])
    return recorders


def conv_reference(x, weight, bias, padding, grad_out):
    """fp64 output and gradients of ``F.conv2d(groups=C)``."""
    xr = x.detach().double().requires_grad_()
    wr = weight.detach().double().requires_grad_()
    br = bias.detach().double().requires_grad_() if bias is not None \
        else None
    y = F.conv2d(xr, wr, br, padding=padding, groups=x.shape[1])
    y.backward(grad_out.double())
    return y.detach(), xr.grad, wr.grad, br.grad if br is not None else None


def triton_conv_and_grads(x, weight, bias, padding, grad_out, tile=None):
    """Forward, grad input and grad weight through the module functions
    with the shipped tiles: ``tile`` names one ('wide', 'narrow'); None lets
    the launcher pick."""
    k = tdc()
    fwd_cfg = k.FWD_CONFIGS[tile] if tile else None
    bwd_cfg = k.BWD_WEIGHT_CONFIGS[tile] if tile else None
    y = k.conv_forward(x, weight, bias, padding, fwd_cfg)
    gx = k.conv_backward_input(grad_out, weight, padding, x.shape[2:], fwd_cfg)
    gw = k.conv_backward_weight(x, grad_out, weight.shape[2:], padding,
                                bwd_cfg)
    return y, gx, gw


def fwd_tiles(cfg, oh, ow):
    return -(-oh // cfg['BLOCK_H']), -(-ow // cfg['BLOCK_W'])


# ------------------------------------------------ depthwise: loop coverage
def test_kernel_column_loop_shipped_narrow_tile():
    # 17 kernel columns > BLOCK_KW: kw0 takes 0, 8 and 16 with the shipped
    # tiles in the forward, the grad input and the grad weight.
    k = tdc()
    cfg = k.pick_config(k.FWD_CONFIGS, 10)
    assert cfg is k.FWD_CONFIGS['narrow'] and 17 > 2 * cfg['BLOCK_KW']
    assert k.pick_config(k.BWD_WEIGHT_CONFIGS, 10)['BLOCK_KW'] < 17
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 6, 10, generator=gen)
    w = torch.randn(2, 1, 5, 17, generator=gen)
    b = torch.randn(2, generator=gen)
    go = torch.randn(1, 2, 6, 10, generator=gen)
    got = triton_conv_and_grads(x, w, b, (2, 8), go)
    ref = conv_reference(x, w, b, (2, 8), go)
    for name, g, r in zip(('out', 'grad_input', 'grad_weight'), got, ref):
        assert rel_err(g, r) <= 1e-5, name


@pytest.mark.parametrize('config', ['wide', 'narrow'])
def test_several_tiles_in_h_and_w(config, launches):
    """Forward, grad input and grad weight with >= 2 output tiles in H and
    in W (the grad-weight tile loop runs over all of them) and two column
    blocks. The launcher picks 'wide' for this width by itself; 'narrow' is
    forced (it is picked for narrow maps, which have one tile in W)."""
    k = tdc()
    n, c, h, w, kh, kw = 1, 1, 19, 41, 3, 11
    assert k.pick_config(k.FWD_CONFIGS, w) is k.FWD_CONFIGS['wide']
    picked = k.FWD_CONFIGS[config]
    for cfg in (picked, k.BWD_WEIGHT_CONFIGS[config]):
        assert all(t >= 2 for t in fwd_tiles(cfg, h, w)), cfg
        assert kw > cfg['BLOCK_KW']
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, c, h, w, generator=gen)
    wt = torch.randn(c, 1, kh, kw, generator=gen)
    b = torch.randn(c, generator=gen)
    go = torch.randn(n, c, h, w, generator=gen)
    got = triton_conv_and_grads(x, wt, b, (kh // 2, kw // 2), go,
                                None if config == 'wide' else config)
    ref = conv_reference(x, wt, b, (kh // 2, kw // 2), go)
    for name, g, r in zip(('out', 'grad_input', 'grad_weight'), got, ref):
        assert rel_err(g, r) <= 1e-5, name
    tiles_h, tiles_w = fwd_tiles(picked, h, w)
    # Forward and grad input: one program per (n, c, tile).
    assert launches['dwconv_fwd_kernel'].grids == [
        (n * c * tiles_h * tiles_w, )
    ] * 2


def test_grad_weight_batch_loop_runs_twice(launches, monkeypatch):
    # On a nominal one-multiprocessor device the split is cdiv(4, C*KH) = 2
    # programs per kernel row, fewer than the batch (3): program 0 of the
    # split reduces batches 0 and 2 (``for n in range(split, N, SPLIT)``
    # runs twice) and program 1 batch 1 only, the remainder case.
    monkeypatch.setattr(tdc(), 'INTERPRETER_MULTIPROCESSORS', 1)
    n, c, h, w, kh, kw = 3, 1, 5, 6, 3, 3
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(n, c, h, w, generator=gen)
    go = torch.randn(n, c, h, w, generator=gen)
    wt = torch.randn(c, 1, kh, kw, generator=gen)
    gw = tdc().conv_backward_weight(x, go, (kh, kw), (kh // 2, kw // 2))
    ref = conv_reference(x, wt, None, (kh // 2, kw // 2), go)[2]
    assert rel_err(gw, ref) <= 1e-5
    (grid, ) = launches['dwconv_bwd_weight_kernel'].grids
    split = grid[1]
    assert grid[0] == c * kh and split == 2 and n % split, grid


# --------------------------------------------- depthwise: fp16 long sums
def test_fp16_long_sums_accumulate_in_fp32():
    """Each output pixel of a 31x31 kernel over a 32x32 input without
    padding sums 961 in-bounds terms, in 124 steps of ``BLOCK_KW`` columns;
    so does each pixel of the input gradient of a 2x2 input padded by 30.
    Constant inputs make the rounding of an fp16 running sum systematic
    (0.5% here) instead of averaging out; with fp32 accumulation only the
    fp16 rounding of the result remains. The weight gradient
    gets an AMP-style scaled upstream gradient: its sums exceed the fp16
    range (65504) but not fp32's."""
    k = 31
    half = dict(dtype=torch.float16)
    wt = torch.full((1, 1, k, k), 0.1, **half)
    x = torch.ones(1, 1, 32, 32, **half)
    go = torch.ones(1, 1, 32, 32, **half)  # of a 2x2 input padded by 30
    small_x = torch.ones(1, 1, 8, 8, **half)
    scaled_go = torch.full((1, 1, 8, 8), 2048.0, **half)
    tri = tdc()
    got = dict(
        out=tri.conv_forward(x, wt, None, (0, 0)),
        grad_input=tri.conv_backward_input(go, wt, (30, 30), (2, 2)),
        grad_weight=tri.conv_backward_weight(small_x, scaled_go, (k, k),
                                             (15, 15)))
    ref = dict(
        out=conv_reference(x, wt, None, (0, 0), torch.ones(1, 1, 2, 2))[0],
        grad_input=conv_reference(
            torch.ones(1, 1, 2, 2), wt, None, (30, 30), go)[1],
        grad_weight=conv_reference(small_x, wt, None, (15, 15), scaled_go)[2])
    assert got['out'].dtype == got['grad_input'].dtype == torch.float16
    assert got['grad_weight'].dtype == torch.float32
    assert ref['out'].min() > 96 and ref['grad_input'].min() > 96
    assert ref['grad_weight'].max() > 65504
    # Half an fp16 ulp at 96 is 3.3e-4 of the result.
    for name in got:
        assert rel_err(got[name], ref[name]) <= 1e-3, name


# ------------------------------------ depthwise: the registered custom op
def public_op_case(k, seed, shape=(1, 2, 6, 10)):
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    x = torch.randn(n, c, h, w, generator=gen)
    wt = torch.randn(c, 1, k, k, generator=gen)
    b = torch.randn(c, generator=gen)
    go = torch.randn(n, c, h, w, generator=gen)
    return x, wt, b, go


def grads_through(fn, x, wt, b, go):
    x, wt, b = (t.detach().requires_grad_() for t in (x, wt, b))
    y = fn(x, wt, b)
    y.backward(go)
    return y.detach(), x.grad, wt.grad, b.grad


def test_custom_op_triton_backward_above_k7():
    x, wt, b, go = public_op_case(13, 4, shape=(2, 2, 6, 10))
    got = grads_through(lambda *a: depthwise_conv2d(*a, impl='triton'), x, wt,
                        b, go)
    ref = conv_reference(x, wt, b, (6, 6), go)
    for name, g, r in zip(('out', 'grad_input', 'grad_weight', 'grad_bias'),
                          got, ref):
        assert rel_err(g, r) <= 1e-5, name


def test_custom_op_non_contiguous_input_weight_and_grad():
    x, wt, b, go = public_op_case(9, 5, shape=(1, 2, 10, 7))
    # Non-contiguous views of the same values: transposed input and
    # weight, and an upstream gradient that is a transposed view as well.
    xt = x.transpose(2, 3).contiguous().transpose(2, 3)
    wtt = wt.transpose(2, 3).contiguous().transpose(2, 3)
    got_go = go.transpose(2, 3).contiguous().transpose(2, 3)
    assert not (xt.is_contiguous() or wtt.is_contiguous()
                or got_go.is_contiguous())
    xt.requires_grad_()
    wtt.requires_grad_()
    bt = b.clone().requires_grad_()
    y = depthwise_conv2d(xt, wtt, bt, impl='triton')
    y.backward(got_go)
    ref = conv_reference(x, wt, b, (4, 4), go)
    for name, g, r in zip(('out', 'grad_input', 'grad_weight', 'grad_bias'),
                          (y, xt.grad, wtt.grad, bt.grad), ref):
        assert rel_err(g, r) <= 1e-5, name
    # A broadcast upstream gradient (stride 0), as from ``y.sum()``.
    xt.grad = wtt.grad = None
    depthwise_conv2d(xt, wtt, None, impl='triton').sum().backward()
    ref = conv_reference(x, wt, None, (4, 4), torch.ones_like(go))
    assert rel_err(xt.grad, ref[1]) <= 1e-5
    assert rel_err(wtt.grad, ref[2]) <= 1e-5


def test_custom_op_fp16_input_fp32_weight_amp():
    x, wt, b, go = public_op_case(17, 6)
    x, go = x.half(), go.half()
    got = grads_through(lambda *a: depthwise_conv2d(*a, impl='triton'), x, wt,
                        b, go)
    assert got[0].dtype == got[1].dtype == torch.float16
    assert got[2].dtype == got[3].dtype == torch.float32
    ref = conv_reference(x, wt, b, (8, 8), go)
    for name, g, r in zip(('out', 'grad_input', 'grad_weight', 'grad_bias'),
                          got, ref):
        assert rel_err(g, r) <= 2e-3, name


def test_replknet_triton_matches_torch_forward_backward():
    """A tiny RepLKNet in training mode, fp64 (so the comparison is not
    limited by the conditioning of BN-after-BN gradients): outputs and
    every parameter gradient of impl='triton' equal impl='torch'."""
    from mmreplk.models.backbones import RepLKNet
    arch = dict(
        large_kernels=[9, 5, 5, 5],
        stage_blocks=[1, 1, 1, 1],
        channels=[2, 2, 2, 2],
        small_kernel=3)
    torch.manual_seed(7)
    models = {
        impl: RepLKNet(arch=arch, impl=impl, drop_path_rate=0.0).double()
        for impl in ('torch', 'triton')
    }
    models['triton'].load_state_dict(models['torch'].state_dict())
    x = torch.randn(
        1,
        3,
        64,
        64,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(8))
    results = {}
    for impl, model in models.items():
        model.train()
        outs = model(x)
        sum((o *
             torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in outs).backward()
        grads = {
            name: p.grad
            for name, p in model.named_parameters() if p.grad is not None
        }
        results[impl] = (outs, grads)
    (out_t, grad_t), (out_r, grad_r) = results['triton'], results['torch']
    for a, b in zip(out_t, out_r):
        assert rel_err(a, b) <= 1e-10
    assert grad_t.keys() == grad_r.keys()
    assert any('large_kernel' in name for name in grad_t)
    # Some gradients are zero up to rounding (a bias followed by BN):
    # measure every difference against the largest gradient.
    scale = max(g.abs().max() for g in grad_r.values())
    for name in grad_t:
        diff = (grad_t[name] - grad_r[name]).abs().max()
        assert diff <= 1e-10 * scale, name


# ------------------------------------------------------------- shift-add
def shift_case(seed, b, c_in, c_out, k, h_in, w_in, max_shift, dtype):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c_in, h_in, w_in, generator=gen).to(dtype)
    src = torch.randint(0, c_in, (c_out, k), generator=gen)
    dh = torch.randint(-max_shift, max_shift + 1, (c_out, k), generator=gen)
    dw = torch.randint(-max_shift, max_shift + 1, (c_out, k), generator=gen)
    return x, src, dh, dw


def shift_grads(fn, x, src, dh, dw, out_size, grad_out):
    x = x.detach().requires_grad_()
    y = fn(x, src, dh, dw, out_size)
    (gx, ) = torch.autograd.grad(y, x, grad_out)
    return y.detach(), gx


def test_shift_add_several_tiles_forward_backward(launches):
    # 21x29 = 609 output pixels and 23x31 input pixels: three tiles each.
    block = tas().BLOCK
    out_size, in_hw = (21, 29), (23, 31)
    assert min(out_size[0] * out_size[1], in_hw[0] * in_hw[1]) > 2 * block
    x, src, dh, dw = shift_case(9, 2, 3, 4, 3, *in_hw, 4, torch.float32)
    gen = torch.Generator().manual_seed(10)
    go = torch.randn(2, 4, *out_size, generator=gen)
    got = shift_grads(lambda *a: add_shift(*a, impl='triton'), x, src, dh, dw,
                      out_size, go)
    ref = shift_grads(add_shift_reference, x.double(), src, dh, dw, out_size,
                      go.double())
    assert rel_err(got[0], ref[0]) <= 1e-6
    assert rel_err(got[1], ref[1]) <= 1e-6
    assert [g[1] for g in launches['add_shift_kernel'].grids] == [3, 3]


def test_shift_add_non_contiguous_input_tables_and_grad():
    x, src, dh, dw = shift_case(11, 2, 3, 4, 5, 9, 12, 3, torch.float32)
    out_size = (8, 13)
    xt = x.transpose(2, 3).contiguous().transpose(2, 3)
    srct, dht, dwt = (t.t().contiguous().t() for t in (src, dh, dw))
    go = torch.randn(2, 4, 13, 8, generator=torch.Generator().manual_seed(12))
    go = go.transpose(2, 3)
    assert not any(t.is_contiguous() for t in (xt, srct, dht, dwt, go))
    got = shift_grads(lambda *a: add_shift(*a, impl='triton'), xt, srct, dht,
                      dwt, out_size, go)
    ref = shift_grads(add_shift_reference, x.double(), src, dh, dw, out_size,
                      go.double())
    assert rel_err(got[0], ref[0]) <= 1e-6
    assert rel_err(got[1], ref[1]) <= 1e-6


def test_shift_add_fp16_long_sums_accumulate_in_fp32():
    """256 terms per output pixel of constant inputs (and 256 per input
    pixel in the gradient): an fp16 running sum is off by about 2% here,
    fp32 accumulation only by the fp16 rounding of the result."""
    k = 256
    gen = torch.Generator().manual_seed(13)
    x = torch.full((1, 1, 12, 14), 0.1, dtype=torch.float16)
    src = torch.zeros(1, k, dtype=torch.int64)
    dh = torch.randint(-1, 2, (1, k), generator=gen)
    dw = torch.randint(-1, 2, (1, k), generator=gen)
    go = torch.full((1, 1, 12, 14), 0.1, dtype=torch.float16)
    got = shift_grads(lambda *a: add_shift(*a, impl='triton'), x, src, dh, dw,
                      (12, 14), go)
    ref = shift_grads(add_shift_reference, x.double(), src, dh, dw, (12, 14),
                      go.double())
    assert got[0].dtype == got[1].dtype == torch.float16
    assert rel_err(got[0], ref[0]) <= 2e-3
    assert rel_err(got[1], ref[1]) <= 2e-3
