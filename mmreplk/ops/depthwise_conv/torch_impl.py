"""PyTorch back end of the large-kernel depthwise convolution:
``F.conv2d`` and ``aten.convolution_backward`` on the tensors' own layout,
with one exception (:func:`native_layout`).

``impl='torch'`` calls :func:`conv_forward` directly, outside the custom
op (autograd differentiates ``F.conv2d``); inside the custom op these are
what ``impl='auto'`` measures as ``'torch'``.
"""
import torch
import torch.nn.functional as F

from .backends import HALF_DTYPES

# oneDNN (torch 2.13 CPU) does not return from a half-precision
# channels_last depthwise convolution with a kernel of 15 or more (1x8x20x33
# at K=15 ran past 40 s; NCHW takes 7 ms). Above this size such inputs run
# in NCHW.
CPU_HALF_CHANNELS_LAST_MAX_KERNEL = 7


def native_layout(tensor, kernel_size):
    """``tensor``, or its NCHW copy where PyTorch's CPU depthwise kernel
    would not return (half precision, channels_last, kernel > 7)."""
    if tensor.device.type == 'cpu' and tensor.dtype in HALF_DTYPES and \
            max(kernel_size) > CPU_HALF_CHANNELS_LAST_MAX_KERNEL and \
            not tensor.is_contiguous():
        return tensor.contiguous()
    return tensor


def conv_forward(x, weight, bias, padding, stride=(1, 1)):
    kernel = weight.shape[2:]
    if bias is not None:
        bias = bias.to(x.dtype)
    return F.conv2d(
        native_layout(x, kernel),
        weight.to(x.dtype),
        bias,
        stride=stride,
        padding=padding,
        groups=x.shape[1])


def conv_backward_input(grad_out, weight, padding, input_hw):
    kernel = weight.shape[2:]
    grad_out = native_layout(grad_out, kernel)
    x_shape = grad_out.new_empty(
        (grad_out.shape[0], grad_out.shape[1], *input_hw))
    return torch.ops.aten.convolution_backward(grad_out, x_shape,
                                               weight.to(grad_out.dtype), None,
                                               (1, 1), padding, (1, 1), False,
                                               (0, 0), grad_out.shape[1],
                                               (True, False, False))[0]


def conv_backward_weight(x, grad_out, kernel_size, padding):
    weight_shape = x.new_empty((x.shape[1], 1, *kernel_size))
    return torch.ops.aten.convolution_backward(
        native_layout(grad_out.to(x.dtype), kernel_size),
        native_layout(x, kernel_size), weight_shape, None, (1, 1), padding,
        (1, 1), False, (0, 0), x.shape[1], (False, True, False))[1]
