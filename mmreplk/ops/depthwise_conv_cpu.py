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
* Grad weight: a per-channel cross-correlation of the padded input with
  ``grad_out`` at the KhxKw offsets, computed with real FFTs and summed over
  the batch in the frequency domain (one inverse transform per channel); the
  circular correlation is exact for the offsets kept because the transform
  size is the padded input size. For small feature maps (< 12x12 outputs)
  the native weight gradient is faster and is used instead.
"""
import torch
import torch.nn.functional as F

# Below this many output pixels per channel the native grad weight wins.
FFT_MIN_OUTPUT_PIXELS = 144


def _channels_last(tensor):
    return tensor.contiguous(memory_format=torch.channels_last)


def conv_forward(x, weight, bias, padding):
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)``."""
    return F.conv2d(_channels_last(x), weight, bias, padding=padding,
                    groups=x.shape[1])


def _aten_backward(grad_out, x, weight, padding, mask):
    return torch.ops.aten.convolution_backward(
        _channels_last(grad_out), _channels_last(x), weight, None, (1, 1),
        padding, (1, 1), False, (0, 0), x.shape[1], mask)


def conv_backward_input(grad_out, weight, padding, input_hw):
    shape = (grad_out.shape[0], grad_out.shape[1], *input_hw)
    x_meta = grad_out.new_empty(shape)
    return _aten_backward(grad_out, x_meta, weight, padding,
                          (True, False, False))[0]


def conv_backward_weight(x, grad_out, kernel_size, padding):
    """``d loss / d weight`` of shape ``(C, 1, Kh, Kw)``."""
    kh, kw = kernel_size
    if grad_out.shape[2] * grad_out.shape[3] < FFT_MIN_OUTPUT_PIXELS:
        weight_meta = x.new_empty((x.shape[1], 1, kh, kw))
        return torch.ops.aten.convolution_backward(
            grad_out.contiguous(), x.contiguous(), weight_meta, None, (1, 1),
            padding, (1, 1), False, (0, 0), x.shape[1],
            (False, True, False))[1]
    ph, pw = padding
    xp = F.pad(x, (pw, pw, ph, ph))
    size = xp.shape[2:]
    # fp64 transforms for fp64 inputs (gradient checks), fp32 otherwise.
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    fx = torch.fft.rfft2(xp.to(work), s=size)
    fg = torch.fft.rfft2(grad_out.to(work), s=size)
    corr = torch.fft.irfft2((fx * fg.conj()).sum(0), s=size)
    return corr[:, :kh, :kw].unsqueeze(1).to(x.dtype).contiguous()
