"""CPU back end of the large-kernel depthwise convolution.

PyTorch's CPU depthwise convolution (oneDNN) is slow in NCHW for kernels
from 10x10 up and fast on channels_last fp32 tensors for every kernel size;
its weight gradient is slow in both layouts for large kernels
(docs/large_kernel_op.md has the measurements). So:

* Forward and grad input: PyTorch's depthwise convolution on channels_last
  fp32 (or fp64) tensors; grad input is the convolution of ``grad_out``
  with the flipped kernel, by ``aten.convolution_backward``. Results stay
  channels_last: the following 1x1 convolutions, norms and activations
  keep that layout, so a network converts once instead of twice per
  large-kernel layer. Half-precision inputs are computed in fp32 (oneDNN
  does not return from half-precision channels_last depthwise convolutions
  with large kernels) and results take the input's dtype.
* Grad weight: the FFT correlation of :mod:`.fft_impl` (the one
  implementation of the FFT math); for small feature maps (fewer than
  ``FFT_MIN_OUTPUT_PIXELS`` outputs) the native weight gradient instead.
"""
import torch
import torch.nn.functional as F

from . import fft_impl

# Below this many output pixels per channel the native grad weight wins.
FFT_MIN_OUTPUT_PIXELS = 144


def _work(tensor):
    """``tensor`` as channels_last in its compute dtype (fp32 or fp64)."""
    return tensor.to(fft_impl.work_dtype(
        tensor.dtype)).contiguous(memory_format=torch.channels_last)


def conv_forward(x, weight, bias, padding):
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)``."""
    work = _work(x)
    if bias is not None:
        bias = bias.to(work.dtype)
    out = F.conv2d(
        work, weight.to(work.dtype), bias, padding=padding, groups=x.shape[1])
    return out.to(x.dtype)


def _aten_backward(grad_out, x, weight, padding, mask):
    return torch.ops.aten.convolution_backward(grad_out, x, weight, None,
                                               (1, 1), padding, (1, 1), False,
                                               (0, 0), x.shape[1], mask)


def conv_backward_input(grad_out, weight, padding, input_hw):
    work = _work(grad_out)
    x_meta = work.new_empty((*grad_out.shape[:2], *input_hw))
    grad = _aten_backward(work, x_meta, weight.to(work.dtype), padding,
                          (True, False, False))[0]
    return grad.to(grad_out.dtype)


def conv_backward_weight(x, grad_out, kernel_size, padding):
    """``d loss / d weight`` of shape ``(C, 1, Kh, Kw)`` in ``x``'s dtype."""
    if grad_out.shape[2] * grad_out.shape[3] >= FFT_MIN_OUTPUT_PIXELS:
        return fft_impl.conv_backward_weight(x, grad_out, kernel_size, padding)
    work = fft_impl.work_dtype(x.dtype)
    weight_meta = x.new_empty((x.shape[1], 1, *kernel_size), dtype=work)
    grad = _aten_backward(
        grad_out.to(work).contiguous(),
        x.to(work).contiguous(), weight_meta, padding, (False, True, False))[1]
    return grad.to(x.dtype)
