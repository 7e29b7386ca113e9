"""The shift-add op: Triton (interpreted on CPU) and the vectorised PyTorch
back end against the explicit per-term reference, inverted tables, fp64
gradcheck, dispatch and errors. AOT compilation of the kernel for sm_80/90
is checked with the other kernels in test_depthwise_conv_op.py."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmreplk.ops import add_shift, invert_shift_tables
from mmreplk.ops.add_shift.torch_impl import (add_shift_gather,
                                              add_shift_reference)


def random_case(seed,
                b=2,
                c_in=5,
                c_out=4,
                k=3,
                h=7,
                w=9,
                out=(6, 10),
                max_shift=5,
                dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c_in, h, w, generator=gen).to(dtype)
    src = torch.randint(-1, c_in, (c_out, k), generator=gen)
    dh = torch.randint(-max_shift, max_shift + 1, (c_out, k), generator=gen)
    dw = torch.randint(-max_shift, max_shift + 1, (c_out, k), generator=gen)
    return x, src, dh, dw, out


def max_diff(a, b):
    return (a - b).abs().max().item()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    k=st.integers(1, 4),
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    out_h=st.integers(1, 9),
    out_w=st.integers(1, 9),
    max_shift=st.integers(0, 9))
def test_backends_match_reference_forward_and_backward(seed, c_in, c_out, k, h,
                                                       w, out_h, out_w,
                                                       max_shift):
    x, src, dh, dw, out = random_case(seed, 2, c_in, c_out, k, h, w,
                                      (out_h, out_w), max_shift)
    x.requires_grad_(True)
    expected = add_shift_reference(x, src, dh, dw, out)
    grad_out = torch.randn_like(expected)

    def input_grad(y):
        # + 0 * x.sum(): a case where no term reads x still has a graph.
        loss = (y * grad_out).sum() + 0 * x.sum()
        return torch.autograd.grad(loss, x)[0]

    grad_expected = input_grad(expected)
    for impl in ('triton', 'torch'):
        actual = add_shift(x, src.int(), dh, dw, out, impl=impl)
        grad = input_grad(actual)
        assert actual.shape == expected.shape
        assert max_diff(actual, expected) <= 1e-5, impl
        assert max_diff(grad, grad_expected) <= 1e-5, impl


def test_reference_by_hand():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 2, 3, 4)
    src = torch.tensor([[1, 0], [-1, 1]])
    dh = torch.tensor([[0, 1], [0, -1]])
    dw = torch.tensor([[1, 0], [0, 2]])
    out = add_shift_reference(x, src, dh, dw, (3, 4))
    # Channel 0: x[1] shifted left by 1 plus x[0] shifted up by 1.
    expected0 = torch.zeros(3, 4)
    expected0[:, :3] += x[0, 1, :, 1:]
    expected0[:2, :] += x[0, 0, 1:, :]
    # Channel 1: only x[1] shifted down by 1 and left by 2.
    expected1 = torch.zeros(3, 4)
    expected1[1:, :2] = x[0, 1, :2, 2:]
    assert torch.equal(out[0, 0], expected0)
    assert torch.equal(out[0, 1], expected1)


def test_inverted_tables_give_the_input_gradient():
    x, src, dh, dw, out = random_case(3, dtype=torch.float64)
    x.requires_grad_(True)
    y = add_shift_reference(x, src, dh, dw, out)
    grad_out = torch.randn_like(y)
    (grad, ) = torch.autograd.grad(y, x, grad_out)
    inverse = invert_shift_tables(src, dh, dw, x.shape[1])
    assert inverse[0].shape[0] == x.shape[1]
    assert int((inverse[0] >= 0).sum()) == int((src >= 0).sum())
    via_inverse = add_shift_reference(grad_out, *inverse, x.shape[2:])
    assert max_diff(via_inverse, grad) <= 1e-12


def test_gradcheck_fp64():
    x, src, dh, dw, out = random_case(
        5,
        b=1,
        c_in=3,
        c_out=2,
        k=2,
        h=4,
        w=5,
        out=(4, 5),
        dtype=torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: add_shift_reference(t, src, dh, dw, out), (x, ))
    assert torch.autograd.gradcheck(
        lambda t: add_shift_gather(t, src, dh, dw, out), (x, ))


def test_half_precision_triton_accumulates_in_fp32():
    x, src, dh, dw, out = random_case(7, dtype=torch.float16)
    expected = add_shift_reference(x.double(), src, dh, dw, out)
    actual = add_shift(x, src, dh, dw, out, impl='triton')
    assert actual.dtype == torch.float16
    assert max_diff(actual.double(), expected) <= 1e-2


def test_dispatch_and_errors(monkeypatch):
    import importlib
    front = importlib.import_module('mmreplk.ops.add_shift.api')
    x, src, dh, dw, out = random_case(0)
    assert front.select_impl(x, 'auto') == 'torch'  # CPU tensors
    with pytest.raises(ValueError, match='Unknown impl'):
        add_shift(x, src, dh, dw, out, impl='cuda')
    with pytest.raises(ValueError, match=r'\[-1, 4\]'):
        add_shift(x, src + 5, dh, dw, out)
    with pytest.raises(ValueError, match='one shape'):
        add_shift(x, src, dh[:, :2], dw, out)
    with pytest.raises(ValueError, match='int32/int64'):
        add_shift(x, src.float(), dh, dw, out)
    with pytest.raises(ValueError, match='NCHW'):
        add_shift(x[0], src, dh, dw, out)
    with pytest.raises(ValueError, match='out_size'):
        add_shift(x, src, dh, dw, (0, 3))
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    with pytest.raises(ValueError, match='not CUDA'):
        add_shift(x, src, dh, dw, out, impl='triton')
