"""Both ops under torch.autocast: F.conv2d's rule (cast to the autocast
dtype, then compute with autocast off) for every back end and 'auto', in
eager and compiled mode; the fake implementation agrees with the real one;
no combination of autocast, layout, dtype and kernel size hangs on CPU."""
import os
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from mmreplk.ops import add_shift, depthwise_conv2d
from mmreplk.ops.add_shift.torch_impl import add_shift_reference
from tests.helpers.tools import REPO

DEPTHWISE_IMPLS = ('torch', 'cpu', 'fft', 'triton', 'auto')
LAYOUTS = (torch.contiguous_format, torch.channels_last)


def conv_inputs(dtype, layout, kernel=9, seed=0, shape=(2, 3, 11, 10)):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen).to(dtype)
    w = torch.randn(3, 1, kernel, kernel, generator=gen)  # fp32 parameter
    b = torch.randn(3, generator=gen)
    return x.contiguous(memory_format=layout), w, b


def expected_dtype(x_dtype, autocast_dtype):
    """What F.conv2d returns: the autocast dtype for any non-fp64 input."""
    if autocast_dtype is None or x_dtype == torch.float64:
        return x_dtype
    return autocast_dtype


@pytest.mark.parametrize('impl', DEPTHWISE_IMPLS)
@pytest.mark.parametrize('autocast', [torch.bfloat16, torch.float16, None])
def test_depthwise_output_dtype_follows_f_conv2d(impl, autocast):
    # The Triton interpreter is slow: a smaller map (every loop still runs
    # more than once).
    shape = (1, 3, 6, 7) if impl == 'triton' else (2, 3, 11, 10)
    for x_dtype in (torch.float32, torch.bfloat16):
        for layout in LAYOUTS:
            x, w, b = conv_inputs(x_dtype, layout, shape=shape)
            x.requires_grad_()
            w.requires_grad_()
            with torch.autocast(
                    'cpu',
                    dtype=autocast or torch.bfloat16,
                    enabled=autocast is not None):
                y = depthwise_conv2d(
                    x,
                    w.to(x_dtype) if autocast is None else w,
                    b.to(x_dtype) if autocast is None else b,
                    impl=impl)
                # F.conv2d with a small kernel (large ones do not return on
                # CPU in half-precision channels_last).
                ref_dtype = F.conv2d(
                    x,
                    w[:, :, :3, :3].to(x.dtype)
                    if autocast is None else w[:, :, :3, :3],
                    groups=3).dtype
            assert y.dtype == ref_dtype == expected_dtype(x_dtype, autocast)
            y.float().square().sum().backward()
            assert x.grad.dtype == x.dtype and w.grad.dtype == w.dtype
            # Values: the reference on the same (cast) tensors in fp64.
            cast = y.dtype
            ref = F.conv2d(
                x.detach().to(cast).double(),
                w.detach().to(cast).double(),
                b.to(cast).double(),
                padding=4,
                groups=3)
            tol = 2e-2 if cast == torch.bfloat16 else 2e-3
            torch.testing.assert_close(
                y.detach().double(),
                ref,
                rtol=tol,
                atol=tol * ref.abs().max().item())


@pytest.mark.slow
@pytest.mark.parametrize('impl', DEPTHWISE_IMPLS)
def test_depthwise_compiled_under_autocast(impl):
    """torch.compile(fullgraph=True) under autocast: the same dtype and
    values as eager, and the fake implementation's dtype and layout agree
    with the real output (a mismatch fails inside the compiled graph)."""
    torch._dynamo.reset()
    x, w, b = conv_inputs(torch.float32, torch.channels_last, seed=1)

    def fn(x, w, b):
        return depthwise_conv2d(x, w, b, impl=impl)

    compiled = torch.compile(fn, fullgraph=True, backend='aot_eager')
    results = []
    for call in (fn, compiled):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = call(xi, wi, b)
        y.float().square().sum().backward()
        results.append((y, xi.grad, wi.grad))
    (eager, *eager_grads), (got, *got_grads) = results
    assert got.dtype == eager.dtype == torch.bfloat16
    assert got.is_contiguous(memory_format=torch.channels_last) == \
        eager.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, eager, rtol=2e-2, atol=2e-2)
    for g, e in zip(got_grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=2e-2, atol=2e-2 * e.abs().max())
    # Outside autocast the same compiled function recompiles (the autocast
    # state is guarded) and computes in fp32.
    assert compiled(x, w, b).dtype == torch.float32


@pytest.mark.parametrize('impl', ('torch', 'triton', 'auto'))
def test_add_shift_follows_the_same_rule(impl):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 7, generator=gen)
    src = torch.randint(-1, 3, (4, 2), generator=gen)
    dh = torch.randint(-3, 4, (4, 2), generator=gen)
    dw = torch.randint(-3, 4, (4, 2), generator=gen)
    dtypes = (torch.float32, torch.bfloat16) + (() if impl == 'triton' else
                                                (torch.float64, ))
    for x_dtype in dtypes:
        xin = x.to(x_dtype).clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = add_shift(xin, src, dh, dw, (5, 8), impl=impl)
        assert y.dtype == expected_dtype(x_dtype, torch.bfloat16)
        y.float().sum().backward()
        assert xin.grad.dtype == x_dtype
        ref = add_shift_reference(x.to(y.dtype).double(), src, dh, dw, (5, 8))
        torch.testing.assert_close(y.double(), ref, rtol=2e-2, atol=2e-2)


HANG_PROBE = r'''
import sys, time, torch
from mmreplk.ops import depthwise_conv2d
impl = sys.argv[1]
# The Triton back end calls no PyTorch convolution; its interpreter is slow,
# so it runs a smaller map.
shape = (1, 1, 8, 9) if impl == 'triton' else (1, 8, 20, 33)
for k in (15, 31):
    for x_dtype in (torch.float32, torch.bfloat16):
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(*shape).to(x_dtype).contiguous(
                memory_format=layout).requires_grad_()
            w = torch.randn(shape[1], 1, k, k, requires_grad=True)
            start = time.perf_counter()
            with torch.autocast('cpu', dtype=torch.bfloat16):
                y = depthwise_conv2d(x, w, impl=impl)
            y.float().sum().backward()
            print(f'{impl} K={k} {x_dtype} {layout} '
                  f'{time.perf_counter() - start:.3f}s', flush=True)
'''


@pytest.mark.slow
def test_no_backend_hangs_under_cpu_autocast():
    """Every back end and 'auto' under CPU bf16 autocast, fp32 and bf16
    inputs, NCHW and channels_last, K=15 and K=31, forward and backward:
    each back end in its own process with a deadline (oneDNN's
    half-precision channels_last depthwise kernel does not return for
    K >= 15)."""
    env = dict(os.environ, TRITON_INTERPRET='1', PYTHONUNBUFFERED='1')
    env.pop('MMREPLK_DISPATCH_CACHE', None)
    procs = {
        impl:
        subprocess.Popen([sys.executable, '-c', HANG_PROBE, impl],
                         cwd=REPO,
                         env=env,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         text=True)
        for impl in DEPTHWISE_IMPLS
    }
    deadline = time.monotonic() + 180
    hung = {}
    for impl, proc in procs.items():
        try:
            out, _ = proc.communicate(
                timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            hung[impl] = out
            continue
        assert proc.returncode == 0, (impl, out)
        assert out.count(f'{impl} K=') == 8, (impl, out)
    assert not hung, f'did not return (last finished case shown): {hung}'
