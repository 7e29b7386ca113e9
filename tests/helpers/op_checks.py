"""Numerical checks of the large-kernel depthwise op against an fp64
``F.conv2d`` reference."""
import torch
import torch.nn.functional as F

from mmreplk.analysis import relative_max_diff

SHAPES = [
    # (n, c, h, w, kh, kw)
    (2, 3, 9, 11, 3, 3),
    (1, 2, 12, 7, 5, 5),
    (2, 2, 16, 20, 13, 13),
    (1, 3, 11, 9, 27, 27),
    (2, 2, 12, 14, 31, 31),
    (1, 2, 9, 10, 63, 63),
    (1, 2, 8, 13, 7, 15),
    (2, 2, 6, 5, 31, 9),
]


def reference(x, w, b, padding):
    xr = x.detach().clone().requires_grad_()
    wr = w.detach().clone().requires_grad_()
    br = b.detach().clone().requires_grad_() if b is not None else None
    y = F.conv2d(xr, wr, br, padding=padding, groups=x.shape[1])
    return y, xr, wr, br


def rel_err(got, ref):
    """max |got - ref| / max |ref| in float64."""
    return relative_max_diff(ref, got)


def check_against_reference(fn,
                            shape,
                            dtype=torch.float32,
                            padding=None,
                            channels_last=False,
                            bias=True,
                            tol=1e-5,
                            seed=0):
    n, c, h, w, kh, kw = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64)
    wt = torch.randn(c, 1, kh, kw, generator=gen, dtype=torch.float64)
    b = torch.randn(c, generator=gen, dtype=torch.float64) if bias else None
    pad = (kh // 2, kw // 2) if padding is None else padding
    y_ref, xr, wr, br = reference(x, wt, b, pad)
    go = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64)
    y_ref.backward(go)
    x, wt = x.to(dtype), wt.to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    wt.requires_grad_()
    if b is not None:
        b = b.to(dtype).requires_grad_()
    y = fn(x, wt, b, pad)
    y.backward(go.to(dtype))
    errors = dict(
        out=rel_err(y, y_ref),
        grad_input=rel_err(x.grad, xr.grad),
        grad_weight=rel_err(wt.grad, wr.grad))
    if b is not None:
        errors['grad_bias'] = rel_err(b.grad, br.grad)
    assert all(e <= tol for e in errors.values()), (shape, dtype, errors)
    return y
