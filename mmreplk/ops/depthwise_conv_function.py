"""Autograd for the Triton and CPU back ends, as ``torch.library`` custom ops
(``mmreplk::depthwise_conv2d`` and its backward) with fake implementations,
so ``torch.compile`` traces through them without graph breaks."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def _backend(impl):
    if impl == 'triton':
        from . import triton_depthwise_conv as backend
    elif impl == 'cpu':
        from . import depthwise_conv_cpu as backend
    else:
        raise ValueError(f'No custom back end {impl!r}.')
    return backend


def _out_shape(x, weight, padding_h, padding_w):
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    return n, c, h + 2 * padding_h - kh + 1, w + 2 * padding_w - kw + 1


def _empty_in_backend_layout(like, shape, impl):
    """An empty tensor with the memory format the back end returns: the CPU
    path always returns channels_last, Triton keeps the input's layout."""
    channels_last = impl == 'cpu' or (
        not like.is_contiguous()
        and like.is_contiguous(memory_format=torch.channels_last))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return like.new_empty(shape).contiguous(memory_format=fmt)


@torch.library.custom_op('mmreplk::depthwise_conv2d', mutates_args=())
def depthwise_conv2d_op(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                        padding_h: int, padding_w: int, impl: str) -> Tensor:
    return _backend(impl).conv_forward(x, weight, bias,
                                       (padding_h, padding_w))


@depthwise_conv2d_op.register_fake
def _depthwise_conv2d_fake(x, weight, bias, padding_h, padding_w, impl):
    return _empty_in_backend_layout(
        x, _out_shape(x, weight, padding_h, padding_w), impl)


@torch.library.custom_op('mmreplk::depthwise_conv2d_backward',
                         mutates_args=())
def depthwise_conv2d_backward_op(grad_out: Tensor, x: Tensor, weight: Tensor,
                                 padding_h: int, padding_w: int, impl: str,
                                 need_input: bool,
                                 need_weight: bool) -> Tuple[Tensor, Tensor]:
    backend = _backend(impl)
    padding = (padding_h, padding_w)
    grad_in = backend.conv_backward_input(
        grad_out, weight, padding, tuple(x.shape[2:])) if need_input \
        else x.new_empty(0)
    grad_w = backend.conv_backward_weight(
        x, grad_out, tuple(weight.shape[2:]), padding).to(weight.dtype) \
        if need_weight else weight.new_empty(0)
    return grad_in, grad_w


@depthwise_conv2d_backward_op.register_fake
def _depthwise_conv2d_backward_fake(grad_out, x, weight, padding_h,
                                    padding_w, impl, need_input,
                                    need_weight):
    return (_empty_in_backend_layout(grad_out, x.shape, impl)
            if need_input else x.new_empty(0),
            weight.new_empty(weight.shape) if need_weight
            else weight.new_empty(0))


def _setup_context(ctx, inputs, output):
    x, weight, bias, padding_h, padding_w, impl = inputs
    ctx.save_for_backward(x, weight)
    ctx.padding = (padding_h, padding_w)
    ctx.impl = impl
    ctx.bias_dtype = bias.dtype if bias is not None else None


def _backward(ctx, grad_out):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    grad_in = grad_w = grad_b = None
    if need_x or need_w:
        grad_in, grad_w = torch.ops.mmreplk.depthwise_conv2d_backward(
            grad_out, x, weight, *ctx.padding, ctx.impl, need_x, need_w)
    if ctx.bias_dtype is not None and need_b:
        acc = torch.float64 if grad_out.dtype == torch.float64 \
            else torch.float32
        grad_b = grad_out.sum((0, 2, 3), dtype=acc).to(ctx.bias_dtype)
    return (grad_in if need_x else None, grad_w if need_w else None, grad_b,
            None, None, None)


depthwise_conv2d_op.register_autograd(_backward,
                                      setup_context=_setup_context)
