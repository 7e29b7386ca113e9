"""PyTorch back end of the large-kernel depthwise convolution inside the
custom op (what ``impl='auto'`` measures as ``'torch'``): ``F.conv2d`` and
``aten.convolution_backward`` on the tensors' own layout. ``impl='torch'``
itself calls ``F.conv2d`` directly, outside the custom op."""
import torch
import torch.nn.functional as F


def conv_forward(x, weight, bias, padding):
    if bias is not None:
        bias = bias.to(x.dtype)
    return F.conv2d(x, weight.to(x.dtype), bias, padding=padding,
                    groups=x.shape[1])


def conv_backward_input(grad_out, weight, padding, input_hw):
    x_shape = grad_out.new_empty(
        (grad_out.shape[0], grad_out.shape[1], *input_hw))
    return torch.ops.aten.convolution_backward(
        grad_out, x_shape, weight.to(grad_out.dtype), None, (1, 1), padding,
        (1, 1), False, (0, 0), grad_out.shape[1], (True, False, False))[0]


def conv_backward_weight(x, grad_out, kernel_size, padding):
    weight_shape = x.new_empty((x.shape[1], 1, *kernel_size))
    return torch.ops.aten.convolution_backward(
        grad_out.to(x.dtype), x, weight_shape, None, (1, 1), padding, (1, 1),
        False, (0, 0), x.shape[1], (False, True, False))[1]
