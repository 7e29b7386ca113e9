"""The FFT back end of depthwise_conv2d against fp64 F.conv2d: the Triton
tests' shape set (K 3-63, rectangular, H/W < K, batch 1), every padding,
channels_last, non-contiguous, bias, fp16/bf16, fp64 gradcheck, what it saves
for the backward and torch.compile."""
import pytest
import torch
import torch.nn.functional as F

from mmreplk.ops import depthwise_conv2d
from mmreplk.ops.depthwise_conv import fft_impl as fft
from tests.helpers.op_checks import SHAPES, check_against_reference, rel_err


def run_fft(x, w, b, p):
    return depthwise_conv2d(x, w, b, padding=p, impl='fft')


def test_next_fast_size():
    assert [fft.next_fast_size(n) for n in (1, 11, 13, 17, 29, 71, 97)] == \
        [1, 12, 14, 18, 30, 72, 98]
    for n in range(1, 300):
        m = fft.next_fast_size(n)
        assert m >= n and all(fft.next_fast_size(k) > k for k in range(n, m))
    # Transform length H + P: the smallest exact one (see the module).
    assert fft.transform_size((56, 13), (15, 6)) == (72, 20)


@pytest.mark.parametrize('shape', SHAPES, ids=str)
def test_fft_matches_reference(shape):
    check_against_reference(run_fft, shape)


def test_fft_every_padding_fp64():
    """All paddings 0..K-1 on a map smaller than the kernel (folded taps)
    and on a larger one; forward and both gradients, fp64."""
    gen = torch.Generator().manual_seed(1)
    for h, w, kh, kw in ((4, 3, 5, 7), (9, 8, 3, 5)):
        x = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64)
        wt = torch.randn(3, 1, kh, kw, generator=gen, dtype=torch.float64)
        for ph in range(kh):
            for pw in range(kw):
                if h + 2 * ph < kh or w + 2 * pw < kw:
                    continue
                xs = x.clone().requires_grad_()
                ws = wt.clone().requires_grad_()
                ref = F.conv2d(xs, ws, padding=(ph, pw), groups=3)
                go = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
                got = depthwise_conv2d(xs, ws, padding=(ph, pw), impl='fft')
                grads = torch.autograd.grad(got, (xs, ws), go)
                refs = torch.autograd.grad(ref, (xs, ws), go)
                assert got.shape == ref.shape
                errs = [rel_err(got, ref)
                        ] + [rel_err(a, b) for a, b in zip(grads, refs)]
                assert max(errs) < 1e-12, ((h, w, kh, kw, ph, pw), errs)


def test_fft_channels_last_noncontiguous_and_explicit_padding():
    y = check_against_reference(
        run_fft, (2, 3, 14, 12, 27, 27), channels_last=True)
    assert y.is_contiguous(memory_format=torch.channels_last)
    y = check_against_reference(
        run_fft, (1, 2, 30, 30, 29, 29), padding=(3, 10))
    assert y.shape == (1, 2, 30 + 6 - 28, 30 + 20 - 28)
    check_against_reference(run_fft, (1, 2, 11, 13, 9, 9), bias=False)
    # A strided view (every other column of a wider map).
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(2, 3, 10, 22, generator=gen, dtype=torch.float64)
    x = base[:, :, :, ::2]
    w = torch.randn(3, 1, 7, 5, generator=gen, dtype=torch.float64)
    assert not x.is_contiguous()
    torch.testing.assert_close(
        depthwise_conv2d(x.float(), w.float(), impl='fft').double(),
        F.conv2d(x, w, padding=(3, 2), groups=3),
        rtol=0,
        atol=1e-5)


def test_fft_gradcheck_fp64():
    # Map smaller than the kernel (taps folded onto one slot) and bias.
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 9, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: depthwise_conv2d(*a, padding=(4, 5), impl='fft'), (x, w, b))


@pytest.mark.parametrize('dtype,tol', [(torch.float16, 2e-3),
                                       (torch.bfloat16, 2e-2)])
def test_fft_half_precision_returns_input_dtype(dtype, tol):
    # fp32 transforms inside; tolerances are those of the inputs' rounding.
    y = check_against_reference(run_fft, (1, 2, 12, 9, 13, 7), dtype, tol=tol)
    assert y.dtype == dtype
    # fp32 weight with a half input (AMP): the output keeps the input dtype.
    x = torch.randn(1, 2, 8, 8).to(dtype)
    assert depthwise_conv2d(x, torch.randn(2, 1, 5, 5), impl='fft').dtype \
        == dtype


def test_fft_saves_only_input_and_weight():
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    w = torch.randn(3, 1, 13, 13, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    saved = []

    def pack(t):
        saved.append((tuple(t.shape), t.dtype))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = depthwise_conv2d(x, w, b, impl='fft')
    assert sorted(saved) == sorted([(tuple(x.shape), x.dtype),
                                    (tuple(w.shape), w.dtype)])
    y.sum().backward()
    assert x.grad is not None and w.grad is not None and b.grad is not None


def test_fft_rejects_stride_and_empty_outputs():
    x, w = torch.randn(1, 2, 8, 8), torch.randn(2, 1, 3, 3)
    with pytest.raises(ValueError, match='stride'):
        depthwise_conv2d(x, w, stride=2, impl='fft')
    with pytest.raises(ValueError, match='larger than kernel - 1'):
        depthwise_conv2d(x, w, padding=3, impl='fft')
    with pytest.raises(ValueError, match='output would be empty'):
        depthwise_conv2d(
            torch.randn(1, 2, 4, 4),
            torch.randn(2, 1, 9, 9),
            padding=0,
            impl='fft')


@pytest.mark.parametrize('impl', ['fft', 'auto'])
def test_torch_compile_fullgraph_without_recompiles(impl):
    """'auto' decides inside the opaque op at run time: one graph, no
    recompilation on the second call."""
    import torch._dynamo
    torch._dynamo.reset()
    x = torch.randn(1, 2, 10, 10, requires_grad=True)
    w = torch.randn(2, 1, 15, 15, requires_grad=True)

    def fn(x, w):
        return depthwise_conv2d(x, w, impl=impl).square().sum()

    compiled = torch.compile(fn, backend='aot_eager', fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(2):
            loss = compiled(x, w)
            gx, gw = torch.autograd.grad(loss, (x, w))
    loss_ref = fn(x, w)
    gx_ref, gw_ref = torch.autograd.grad(loss_ref, (x, w))
    torch.testing.assert_close(loss, loss_ref)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('impl', ['fft', 'auto'])
def test_fft_backward_transforms_grad_output_once(impl, monkeypatch):
    """When both gradients run by FFT (forced, or both 'auto' choices), the
    spectrum of grad_out is computed once for both: 5 transforms (rfft of
    grad_out, the placed kernel and the input; two inverse transforms),
    one fewer than the two gradients computed apart; the results equal
    those of the separate gradients."""
    from mmreplk.ops import AUTOTUNER
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 17, 15, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 1, 9, 7, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 3, 17, 15, generator=gen, dtype=torch.float64)
    if impl == 'auto':
        monkeypatch.setattr(AUTOTUNER, 'choices', {})
        monkeypatch.setattr(AUTOTUNER, 'pinned', set())
        monkeypatch.setattr(
            AUTOTUNER, 'timer', lambda key, name, fn, device:
            (fn(), 1e-4 if name == 'fft' else 1.0))
        xi = x.clone().requires_grad_()
        wi = w.clone().requires_grad_()
        depthwise_conv2d(xi, wi, impl='auto').backward(g)  # measures
    calls = []
    for name in ('rfft2', 'irfft2'):
        real = getattr(torch.fft, name)
        monkeypatch.setattr(
            torch.fft,
            name,
            lambda *a, _real=real, _name=name, **k:
            (calls.append(_name), _real(*a, **k))[1])
    xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
    y = depthwise_conv2d(xi, wi, impl=impl)
    calls.clear()
    y.backward(g)
    assert sorted(calls) == ['irfft2'] * 2 + ['rfft2'] * 3
    separate = (fft.conv_backward_input(g, w, (4, 3), (17, 15)),
                fft.conv_backward_weight(x, g, (9, 7), (4, 3)))
    assert len(calls) == 5 + 6  # the separate gradients: 3 + 3
    torch.testing.assert_close(xi.grad, separate[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(wi.grad, separate[1], rtol=1e-12, atol=1e-12)
