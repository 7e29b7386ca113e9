"""mmreplk.ops.depthwise_conv2d: Triton kernels (through the interpreter),
the CPU path, dispatch, errors, torch.compile and AOT compilation."""
import json

import pytest
import torch
import torch.nn.functional as F

from mmreplk.models.layers import DepthwiseConv2d
from mmreplk.ops import add_shift, depthwise_conv2d, use_impl
from mmreplk.ops.add_shift import api as shift_api
from mmreplk.ops.depthwise_conv import api as dispatch
from mmreplk.ops.depthwise_conv import cpu_impl, fft_impl, torch_impl
# Shapes: K in {3, 5, 13, 27, 31, 63}, rectangular kernels, H/W < K, N = 1.
from tests.helpers.op_checks import SHAPES, check_against_reference
from tests.helpers.tools import run_tool


# ----------------------------------------------------------------- CPU path
@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_cpu_path_matches_reference(shape):
    check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl='cpu'),
        shape)


def test_cpu_path_channels_last_and_explicit_padding():
    y = check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl='cpu'),
        (2, 3, 14, 12, 27, 27),
        channels_last=True)
    assert y.shape == (2, 3, 14, 12)
    y = check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl='cpu'),
        (1, 2, 30, 30, 29, 29),
        padding=(3, 10))
    assert y.shape == (1, 2, 30 + 6 - 28, 30 + 20 - 28)


@pytest.mark.parametrize('impl,hw,kernel', [('cpu', (6, 5), (15, 17)),
                                            ('triton', (5, 4), (3, 5))])
def test_public_op_gradcheck_fp64(impl, hw, kernel):
    """fp64 gradcheck of the custom op's autograd (Triton: interpreter, in
    gradcheck's fast mode, which checks random projections of the Jacobian
    instead of every column: each interpreted call costs a fraction of a
    second)."""
    x = torch.randn(1, 2, *hw, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, *kernel, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: depthwise_conv2d(*a, impl=impl), (x, w, b),
        fast_mode=impl == 'triton')


@pytest.mark.parametrize(
    'shape,grad_weight',
    [
        ((2, 4, 7, 7, 13, 13), 'native'),
        ((1, 2, 11, 13, 9, 9), 'native'),  # 143 outputs: one below 12x12
        ((1, 2, 12, 12, 9, 9), 'fft'),  # 144 outputs: the threshold
        ((2, 4, 40, 36, 31, 31), 'fft'),
    ],
    ids=str)
def test_cpu_path_small_maps_use_native_grad_weight(shape, grad_weight,
                                                    monkeypatch):
    """Outputs below 12x12 (FFT_MIN_OUTPUT_PIXELS) take the native weight
    gradient, the others the FFT one: both the values and which of the two
    ran (either gives the right values, so only the latter can tell a
    wrong threshold)."""
    calls = []
    fft_grad_weight = fft_impl.conv_backward_weight
    aten_backward = cpu_impl._aten_backward

    def fft_spy(*args):
        calls.append('fft')
        return fft_grad_weight(*args)

    def aten_spy(grad_out, x, weight, padding, output_mask):
        # The native weight gradient is the call that asks for the weight.
        calls.append('native' if output_mask[1] else 'input')
        return aten_backward(grad_out, x, weight, padding, output_mask)

    monkeypatch.setattr(fft_impl, 'conv_backward_weight', fft_spy)
    monkeypatch.setattr(cpu_impl, '_aten_backward', aten_spy)
    check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl='cpu'),
        shape)
    assert calls.count('input') == 1
    assert [c for c in calls if c != 'input'] == [grad_weight]


# ------------------------------------------------------ Triton (interpreter)
def triton_backend():
    from mmreplk.ops.depthwise_conv import triton_impl as tdc
    return tdc


# Big tiles keep the interpreter fast; the kernels' semantics do not depend
# on the tile shape (the shipped tiles are exercised below).
BIG_TILES = dict(BLOCK_H=16, BLOCK_W=32, BLOCK_KW=64, num_warps=4)


def triton_fn(config=None):

    class Fn(torch.autograd.Function):

        @staticmethod
        def forward(ctx, x, w, b, padding):
            tdc = triton_backend()
            ctx.save_for_backward(x, w)
            ctx.padding = padding
            return tdc.conv_forward(x, w, b, padding, config)

        @staticmethod
        def backward(ctx, go):
            tdc = triton_backend()
            x, w = ctx.saved_tensors
            gx = tdc.conv_backward_input(go, w, ctx.padding, x.shape[2:],
                                         config)
            gw = tdc.conv_backward_weight(x, go, w.shape[2:], ctx.padding,
                                          config).to(w.dtype)
            return gx, gw, go.sum((0, 2, 3)), None

    return lambda x, w, b, p: Fn.apply(x, w, b, p)


@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_triton_kernels_match_reference(shape):
    check_against_reference(triton_fn(BIG_TILES), shape, tol=1e-4)


@pytest.mark.parametrize('config', ['wide', 'narrow'])
def test_triton_shipped_tiles(config):
    tdc = triton_backend()
    cfg = tdc.FWD_CONFIGS[config]
    check_against_reference(triton_fn(cfg), (1, 2, 9, 21, 5, 7), tol=1e-4)


def test_triton_channels_last_and_padding():
    y = check_against_reference(
        triton_fn(BIG_TILES), (2, 2, 10, 12, 9, 9),
        channels_last=True,
        tol=1e-4)
    assert y.is_contiguous(memory_format=torch.channels_last)
    y = check_against_reference(
        triton_fn(BIG_TILES), (1, 2, 12, 12, 11, 11), padding=(2, 7), tol=1e-4)
    assert y.shape == (1, 2, 12 + 4 - 10, 12 + 14 - 10)


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 2e-3),
                                       (torch.bfloat16, 2e-2)])
def test_triton_half_precision(dtype, tol):
    # fp32 accumulation; tolerances are those of the inputs' rounding.
    check_against_reference(
        triton_fn(BIG_TILES), (1, 2, 8, 9, 7, 7), dtype, tol=tol)


def test_public_op_triton_matches_reference():
    check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl='triton'),
        (2, 2, 10, 9, 7, 7),
        tol=1e-4)


@pytest.mark.slow
def test_aot_compile_every_shipped_config_without_spills(tmp_path):
    out = tmp_path / 'kernels.json'
    run_tool([
        '.dev_scripts/compile_triton_kernels.py', '--arch', '80', '90',
        '--json',
        str(out)
    ])
    result = json.loads(out.read_text())
    from mmreplk.ops.add_shift.backends import TRITON_DTYPES
    from mmreplk.ops.depthwise_conv import triton_impl as tdc
    n_configs = 3 * (2 * len(tdc.FWD_CONFIGS) + len(tdc.BWD_WEIGHT_CONFIGS))
    n_configs += len(TRITON_DTYPES)  # the shift-add gather
    assert len(result['kernels']) == 2 * n_configs
    assert {
        k['cc']
        for k in result['kernels'] if k['kernel'].startswith('add_shift')
    } == {80, 90}
    for k in result['kernels']:
        assert k['local'] == 0 and k['stack'] == 0, k
        assert 0 < k['registers'] <= 255 and k['cubin_bytes'] > 0


# ------------------------------------------------------ dispatch and errors
def test_auto_on_cpu_is_measured_and_logs_left_out_backends(monkeypatch):
    from mmreplk.ops import dispatch as shared
    x = torch.randn(1, 2, 8, 8)
    assert dispatch.select_impl(x, (31, 31), (15, 15), (1, 1)) == 'auto'
    logged = []
    monkeypatch.setattr(shared, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    monkeypatch.setattr(shared, '_logged', set())
    # fp16 is computed in fp32 by the cpu and fft back ends: all measured.
    assert dispatch.select_impl(x.half(), (31, 31), (15, 15), (1, 1)) == 'auto'
    assert not logged
    for _ in range(3):  # padding > K - 1: only the reference can run it
        assert dispatch.select_impl(x, (3, 3), (3, 3), (1, 1)) == 'torch'
    assert len(logged) == 2 and all('padding (3, 3) larger' in m
                                    for m in logged)
    assert 'the cpu back end' in logged[0] and 'the fft' in logged[1]
    # Stride 2: only the reference is left, F.conv2d runs directly.
    y = depthwise_conv2d(x, torch.randn(2, 1, 3, 3), stride=2)
    assert y.shape == (1, 2, 4, 4) and 'stride' in logged[-1]


def test_benchmark_dwconv_quick(tmp_path):
    from tests.helpers.tools import load_tool
    tool = load_tool('.dev_scripts/benchmark_dwconv.py')
    out = tmp_path / 'bench'
    argv = ['--quick', '--repeats', '1', '--out-dir', str(out)]
    assert tool.main(argv) == 0
    report = json.loads((out / 'dwconv_cpu.json').read_text())
    impls = ['torch', 'cpu', 'fft', 'auto']
    assert report['impls'] == impls and len(report['ops']) == 2
    for row in report['ops']:
        for part in ('fwd', 'fwd_bwd'):
            assert list(row[part]) == impls
            for t in row[part].values():
                assert 0 < t['min'] <= t['median'] <= t['max']
        assert set(row['auto_choice'].values()) <= {'torch', 'cpu', 'fft'}
        assert None not in row['auto_choice'].values()
        assert row['peak_bytes'] == dict.fromkeys(impls)  # n/a on CPU
    assert list(report['inference']['times']) == impls
    assert max(report['inference']['max_rel_diff_vs_torch'].values()) < 1e-4
    assert list(report['train']['times']) == impls
    md = (out / 'dwconv_cpu.md').read_text()
    assert 'auto picks' in md and 'training step' in md
    before = md
    assert tool.main(argv) == 2  # refuses to replace without --force
    assert (out / 'dwconv_cpu.md').read_text() == before


@pytest.mark.parametrize('args,kwargs,error,match', [
    ((torch.randn(1, 2, 8, 8), torch.randn(2, 1, 4,
                                           4)), {}, ValueError, 'odd kernel'),
    ((torch.randn(1, 2, 8, 8), torch.randn(
        2, 2, 3, 3)), {}, ValueError, r'\(C, 1, Kh, Kw\)'),
    ((torch.randn(1, 3, 8, 8), torch.randn(
        2, 1, 3, 3)), {}, ValueError, 'Channel mismatch'),
    ((torch.randn(1, 2, 8, 8), torch.randn(
        2, 1, 3, 3)), dict(stride=2, impl='triton'), ValueError, 'stride'),
    ((torch.randn(1, 2, 8, 8), torch.randn(
        2, 1, 3, 3)), dict(stride=2, impl='cpu'), ValueError, 'stride'),
    ((torch.ones(1, 2, 8, 8, dtype=torch.int32),
      torch.ones(2, 1, 3, 3,
                 dtype=torch.int32)), {}, TypeError, 'floating-point'),
    ((torch.randn(1, 2, 8, 8), torch.randn(2, 1, 3, 3)),
     dict(padding=3, impl='cpu'), ValueError, r'padding \(3, 3\) larger'),
    ((torch.randn(1, 2, 8, 8), torch.randn(
        2, 1, 3, 3)), dict(impl='cuda'), ValueError, 'Unknown impl'),
])
def test_bad_input_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        depthwise_conv2d(*args, **kwargs)


def test_arguments_follow_f_conv2d():
    # (input, weight, bias, stride, padding) positionally, impl keyword-only.
    x, w = torch.randn(1, 2, 9, 9), torch.randn(2, 1, 5, 5)
    y = depthwise_conv2d(x, w, None, 1, 0, impl='torch')
    torch.testing.assert_close(y, F.conv2d(x, w, None, 1, 0, groups=2))
    with pytest.raises(TypeError):
        depthwise_conv2d(x, w, None, 1, 0, 'torch')


def test_torch_compile_traces_custom_op_without_graph_break():
    x = torch.randn(1, 2, 10, 10, requires_grad=True)
    w = torch.randn(2, 1, 15, 15, requires_grad=True)

    def fn(x, w):
        return depthwise_conv2d(x, w, impl='cpu').square().sum()

    compiled = torch.compile(fn, backend='aot_eager', fullgraph=True)
    loss = compiled(x, w)
    gx, gw = torch.autograd.grad(loss, (x, w))
    loss_ref = fn(x, w)
    gx_ref, gw_ref = torch.autograd.grad(loss_ref, (x, w))
    torch.testing.assert_close(loss, loss_ref)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-5)


def test_fake_tensor_layout_matches_real_output():
    """The meta implementation returns the memory format the back end
    really produces (inductor relies on it)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from mmreplk.ops.depthwise_conv.custom_op import depthwise_conv2d_op
    x = torch.randn(1, 4, 9, 9)
    w = torch.randn(4, 1, 5, 5)
    for impl in ('cpu', 'fft', 'torch', 'auto'):
        for inp in (x, x.contiguous(memory_format=torch.channels_last)):
            real = depthwise_conv2d_op(inp, w, None, 2, 2, impl)
            with FakeTensorMode() as mode:
                fake = depthwise_conv2d_op(
                    mode.from_tensor(inp), mode.from_tensor(w), None, 2, 2,
                    impl)
            assert fake.shape == real.shape, impl
            assert fake.stride() == real.stride(), impl


def test_device_mismatch_and_module_padding_errors():
    with pytest.raises(ValueError, match='move them to one device'):
        depthwise_conv2d(
            torch.randn(1, 2, 8, 8), torch.randn(2, 1, 3, 3, device='meta'))
    with pytest.raises(ValueError, match='zero padding only'):
        DepthwiseConv2d(4, 4, 5, padding=2, padding_mode='reflect')
    with pytest.raises(ValueError, match='integer padding'):
        DepthwiseConv2d(4, 4, 5, padding='same')
    with pytest.raises(ValueError, match='stride 1 only'):
        DepthwiseConv2d(4, 4, 5, stride=2)


def test_use_impl_forces_one_backend_for_every_op_and_restores(monkeypatch):
    """use_impl overrides every layer's impl inside the block (both ops),
    also when the block raises, and accepts only names every op has."""
    calls = []
    for module, tag in ((torch_impl, 'torch'), (fft_impl, 'fft')):
        orig = module.conv_forward
        monkeypatch.setattr(
            module,
            'conv_forward',
            lambda *a, _o=orig, _t=tag, **k: calls.append(_t) or _o(*a, **k))
    shift_calls = []
    orig_gather = shift_api.add_shift_gather
    monkeypatch.setattr(
        shift_api, 'add_shift_gather',
        lambda *a: shift_calls.append('torch') or orig_gather(*a))
    layer = DepthwiseConv2d(2, 2, 7, padding=3, impl='fft')
    x = torch.randn(1, 2, 9, 9)
    layer(x)
    assert calls == ['fft']
    with pytest.raises(RuntimeError, match='inside'):
        with use_impl('torch'):
            layer(x)
            tables = [torch.zeros(2, 1, dtype=torch.long)] * 3
            add_shift(x, *tables, (9, 9), impl='triton')
            raise RuntimeError('inside')
    assert calls == ['fft', 'torch'] and shift_calls == ['torch']
    assert layer.impl == 'fft'
    layer(x)
    assert calls[-1] == 'fft'
    with pytest.raises(ValueError, match="add_shift has no 'cpu' back end"):
        with use_impl('cpu'):
            pass
