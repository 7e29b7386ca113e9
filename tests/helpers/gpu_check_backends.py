"""Every back end of mmreplk's custom ops natively on CUDA against fp64
references (run by tests/test_gpu_backends.py in a subprocess, because the
test session switches the Triton interpreter on before triton is imported).

Prints one line per case and exits 1 if any case is off."""
import os
import sys

os.environ['TRITON_INTERPRET'] = '0'

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mmreplk.ops import add_shift, depthwise_conv2d  # noqa: E402
from mmreplk.ops.add_shift.torch_impl import add_shift_reference  # noqa

SHAPES = [(2, 3, 9, 11, 3, 3), (1, 2, 12, 7, 5, 5), (2, 4, 16, 20, 13, 13),
          (1, 3, 11, 9, 27, 27), (2, 8, 56, 56, 31, 31), (1, 2, 9, 10, 63, 63),
          (1, 2, 8, 13, 7, 15), (2, 2, 6, 5, 31, 9), (4, 64, 28, 28, 29, 29)]
TOL = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}


def rel(a, b):
    return ((a.double() - b).abs().max() /
            b.abs().max().clamp_min(1e-12)).item()


def check_depthwise(impl, shape, dtype, channels_last):
    n, c, h, w, kh, kw = shape
    gen = torch.Generator(device='cuda').manual_seed(0)
    x = torch.randn(
        n, c, h, w, device='cuda', dtype=torch.float64, generator=gen)
    wt = torch.randn(
        c, 1, kh, kw, device='cuda', dtype=torch.float64, generator=gen)
    b = torch.randn(c, device='cuda', dtype=torch.float64, generator=gen)
    pad = (kh // 2, kw // 2)
    ref_in = [t.clone().requires_grad_() for t in (x, wt, b)]
    y_ref = F.conv2d(*ref_in, padding=pad, groups=c)
    go = torch.randn(
        y_ref.shape, device='cuda', dtype=torch.float64, generator=gen)
    refs = [y_ref] + list(torch.autograd.grad(y_ref, ref_in, go))
    xi = x.to(dtype)
    if channels_last:
        xi = xi.contiguous(memory_format=torch.channels_last)
    args = [
        xi.requires_grad_(),
        wt.to(dtype).requires_grad_(),
        b.to(dtype).requires_grad_()
    ]
    y = depthwise_conv2d(*args, impl=impl)
    got = [y] + list(torch.autograd.grad(y, args, go.to(dtype)))
    return max(rel(g, r) for g, r in zip(got, refs))


def check_add_shift(impl, dtype):
    gen = torch.Generator(device='cuda').manual_seed(0)
    x = torch.randn(2, 6, 20, 24, device='cuda', generator=gen)
    src = torch.randint(-1, 6, (8, 3), device='cuda', generator=gen)
    dh = torch.randint(-7, 8, (8, 3), device='cuda', generator=gen)
    dw = torch.randint(-7, 8, (8, 3), device='cuda', generator=gen)
    xr = x.double().requires_grad_()
    y_ref = add_shift_reference(xr, src, dh, dw, (18, 26))
    go = torch.randn(
        y_ref.shape, device='cuda', dtype=torch.float64, generator=gen)
    (gx_ref, ) = torch.autograd.grad(y_ref, xr, go)
    xi = x.to(dtype).requires_grad_()
    y = add_shift(xi, src, dh, dw, (18, 26), impl=impl)
    (gx, ) = torch.autograd.grad(y, xi, go.to(dtype))
    return max(rel(y, y_ref), rel(gx, gx_ref))


def main():
    if not torch.cuda.is_available():
        print('no CUDA device')
        return 2
    failures = 0
    for impl in ('torch', 'fft', 'triton', 'auto'):
        for dtype in TOL:
            for shape in SHAPES:
                for cl in (False, True):
                    err = check_depthwise(impl, shape, dtype, cl)
                    ok = err <= TOL[dtype]
                    failures += not ok
                    print(
                        f'depthwise_conv2d {impl:6s} {dtype} {shape} '
                        f'channels_last={cl}: rel err {err:.1e} '
                        f'{"ok" if ok else "FAIL"}',
                        flush=True)
    for impl in ('torch', 'triton', 'auto'):
        for dtype in TOL:
            err = check_add_shift(impl, dtype)
            ok = err <= TOL[dtype]
            failures += not ok
            print(
                f'add_shift {impl:6s} {dtype}: rel err {err:.1e} '
                f'{"ok" if ok else "FAIL"}',
                flush=True)
    print(f'{failures} failure(s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
