"""FFT back end of the large-kernel depthwise convolution (stride 1).

The one module that owns the FFT math of the op: forward, grad input and
grad weight (the CPU path reuses :func:`conv_backward_weight`).

Along one axis, with input length ``H``, kernel length ``K`` and zero
padding ``P <= K - 1`` on both sides, the output is
``y[i] = sum_a x[i - P + a] * w[a]`` for ``0 <= i < H + 2P - K + 1``. The
indices ``i - P + a`` read lie in ``[-P, H + P - 1]``, so a circular
correlation of length ``S >= H + P`` sees every out-of-range index in the
zero tail ``[H, S)`` of the transformed input and never wraps onto data.
The kernel is placed circularly with its tap ``a`` at ``(a - P) mod S``.
When ``K > S`` (maps smaller than the kernel) taps share a slot; a tap
``a >= S`` and its partner ``a - S`` only ever meet zeros (the tail and the
left padding), so summing them is exact and both get a zero gradient.
Then

* forward: ``y = irfft(X * conj(Wc))`` cropped to the first ``OH`` entries;
* grad input: ``irfft(G * Wc)`` cropped to ``H`` (the adjoint: circular
  convolution with the same placed kernel);
* grad weight: ``irfft(sum_n conj(G) * X)`` read back at ``(a - P) mod S``,
  summed over the batch in the frequency domain (one inverse transform per
  channel).

``S`` is rounded up to the next 2/3/5/7-smooth length, where real
transforms are fast. fp16/bf16 inputs are transformed in fp32 (fp64 inputs
in fp64) and results take the input's dtype. Nothing but the input and the
weight is needed for the backward: spectra are recomputed there, not kept;
when both gradients are wanted, the spectrum of ``grad_out`` is computed
once for both (:func:`conv_backward`).
"""
import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(None)
def next_fast_size(n):
    """Smallest integer ``>= n`` whose prime factors are 2, 3, 5 and 7."""
    m = max(1, int(n))
    while True:
        rest = m
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


def transform_size(input_hw, padding):
    """Per-axis transform lengths ``next_fast_size(H + P)``."""
    return tuple(next_fast_size(n + p) for n, p in zip(input_hw, padding))


def work_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _placed_kernel(weight, size, padding, dtype):
    """``(C, Sh, Sw)``: tap ``(a, b)`` at ``((a - Ph) mod Sh, (b - Pw) mod
    Sw)``, taps sharing a slot summed."""
    c, _, kh, kw = weight.shape
    sh, sw = size
    rh, rw = -(-kh // sh), -(-kw // sw)
    w = F.pad(
        weight.reshape(c, kh, kw).to(dtype),
        (0, rw * sw - kw, 0, rh * sh - kh))
    w = w.reshape(c, rh, sh, rw, sw).sum((1, 3))
    return torch.roll(w, shifts=(-padding[0], -padding[1]), dims=(1, 2))


def _read_kernel(placed, kernel_size, padding):
    """Inverse of :func:`_placed_kernel`'s placement (its adjoint): tap
    ``(a, b)`` read from slot ``((a - Ph) mod Sh, (b - Pw) mod Sw)``."""
    kh, kw = kernel_size
    sh, sw = placed.shape[-2:]
    rolled = torch.roll(placed, shifts=(padding[0], padding[1]), dims=(1, 2))
    tiled = rolled.repeat(1, -(-kh // sh), -(-kw // sw))
    return tiled[:, :kh, :kw]


def _output(full, shape, dtype, bias=None):
    """Crop the circular result to ``shape[-2:]``, add ``bias``, cast: one
    dense result."""
    out = full[..., :shape[-2], :shape[-1]]
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    return out.to(dtype).contiguous()


def conv_forward(x, weight, bias, padding):
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)`` by FFT."""
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    out_hw = (h + 2 * padding[0] - kh + 1, w + 2 * padding[1] - kw + 1)
    size = transform_size((h, w), padding)
    work = work_dtype(x.dtype)
    fx = torch.fft.rfft2(x.to(work), s=size)
    fw = torch.fft.rfft2(_placed_kernel(weight, size, padding, work))
    # In place: one batch-sized spectrum alive at a time. conj_physical, not
    # conj(): an in-place product with a lazily conjugated operand lost the
    # conjugation inside torch.compile'd graphs (torch 2.13, aot_eager).
    full = torch.fft.irfft2(fx.mul_(torch.conj_physical(fw)), s=size)
    return _output(full, (n, c, *out_hw), x.dtype, bias)


def _grad_input(fg, weight, size, padding, shape, dtype):
    """Consumes ``fg`` (multiplied in place)."""
    fw = torch.fft.rfft2(_placed_kernel(weight, size, padding, fg.real.dtype))
    full = torch.fft.irfft2(fg.mul_(fw), s=size)
    return _output(full, shape, dtype)


def _grad_weight(fg, x, size, kernel_size, padding):
    fx = torch.fft.rfft2(x.to(work_dtype(x.dtype)), s=size)
    # sum_n fx * conj(fg) = conj(sum_n conj(fx) * fg): in place on fx, no
    # batch-sized conjugate copy of fg (and no lazy conj, see above).
    summed = fx.conj_physical_().mul_(fg).sum(0).conj_physical_()
    placed = torch.fft.irfft2(summed, s=size)
    return _read_kernel(placed, kernel_size,
                        padding).unsqueeze(1).to(x.dtype).contiguous()


def _grad_out_spectrum(grad_out, size):
    return torch.fft.rfft2(grad_out.to(work_dtype(grad_out.dtype)), s=size)


def conv_backward_input(grad_out, weight, padding, input_hw):
    """``d loss / d x`` of shape ``(N, C, *input_hw)``."""
    size = transform_size(input_hw, padding)
    return _grad_input(
        _grad_out_spectrum(grad_out, size), weight, size, padding,
        (*grad_out.shape[:2], *input_hw), grad_out.dtype)


def conv_backward_weight(x, grad_out, kernel_size, padding):
    """``d loss / d weight`` of shape ``(C, 1, Kh, Kw)`` in ``x``'s dtype."""
    size = transform_size(x.shape[2:], padding)
    return _grad_weight(
        _grad_out_spectrum(grad_out, size), x, size, kernel_size, padding)


def conv_backward(grad_out, x, weight, padding):
    """Both gradients ``(d x, d weight)`` from one spectrum of ``grad_out``
    (one transform fewer than :func:`conv_backward_input` plus
    :func:`conv_backward_weight`)."""
    size = transform_size(x.shape[2:], padding)
    fg = _grad_out_spectrum(grad_out, size)
    # The weight gradient first: it leaves ``fg`` intact, which the input
    # gradient then consumes in place (at most two batch-sized spectra
    # alive, as in either gradient alone).
    grad_w = _grad_weight(fg, x, size, tuple(weight.shape[2:]), padding)
    return _grad_input(fg, weight, size, padding, tuple(x.shape),
                       grad_out.dtype), grad_w
