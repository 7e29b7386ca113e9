"""CPU back end of the large-kernel depthwise convolution.

Measured on the project's 2-core machine (torch 2.13 CPU, oneDNN): in NCHW,
PyTorch's depthwise convolution runs at 17-40 GFLOP/s up to 9x9 and falls to
2.5-5 GFLOP/s from 10x10 up (31x31: 1.25 s for 8x128x56x56), while the
same convolution on a channels_last tensor runs at 50-60 GFLOP/s for every
kernel size (31x31: 0.12 s). Its weight gradient, however, is slow in both
layouts for large kernels (3.1 s).

* Forward and grad input: PyTorch's own depthwise convolution on
  channels_last tensors (grad input is the convolution of ``grad_out`` with
  the flipped kernel, computed by ``aten.convolution_backward``). Results
  stay channels_last: the following 1x1 convolutions, norms and
  activations keep that layout, so a network converts once instead of twice
  per large-kernel layer (the copies cost ~10 % of a 31x31 convolution).
* Grad weight: the FFT correlation of :mod:`.depthwise_conv_fft` (the one
  implementation of the FFT math). For small feature maps (< 12x12
  outputs) the native weight gradient is faster and is used instead.
"""
import torch
import torch.nn.functional as F

from . import depthwise_conv_fft

# Below this many output pixels per channel the native grad weight wins.
FFT_MIN_OUTPUT_PIXELS = 144


def _channels_last(tensor):
    return tensor.contiguous(memory_format=torch.channels_last)


def conv_forward(x, weight, bias, padding):
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)``."""
    if bias is not None:
        bias = bias.to(x.dtype)
    return F.conv2d(_channels_last(x), weight.to(x.dtype), bias,
                    padding=padding, groups=x.shape[1])


def _aten_backward(grad_out, x, weight, padding, mask):
    return torch.ops.aten.convolution_backward(
        _channels_last(grad_out), _channels_last(x), weight, None, (1, 1),
        padding, (1, 1), False, (0, 0), x.shape[1], mask)


def conv_backward_input(grad_out, weight, padding, input_hw):
    shape = (grad_out.shape[0], grad_out.shape[1], *input_hw)
    x_meta = grad_out.new_empty(shape)
    return _aten_backward(grad_out, x_meta, weight.to(grad_out.dtype),
                          padding, (True, False, False))[0]


def conv_backward_weight(x, grad_out, kernel_size, padding):
    """``d loss / d weight`` of shape ``(C, 1, Kh, Kw)``."""
    if grad_out.shape[2] * grad_out.shape[3] >= FFT_MIN_OUTPUT_PIXELS:
        return depthwise_conv_fft.conv_backward_weight(x, grad_out,
                                                       kernel_size, padding)
    weight_shape = x.new_empty((x.shape[1], 1, *kernel_size))
    return torch.ops.aten.convolution_backward(
        grad_out.to(x.dtype).contiguous(), x.contiguous(), weight_shape,
        None, (1, 1), padding, (1, 1), False, (0, 0), x.shape[1],
        (False, True, False))[1]
