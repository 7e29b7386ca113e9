"""Autograd for the Triton back end of the shift-add op, as ``torch.library``
custom ops (``mmreplk::add_shift``) with a fake implementation so
``torch.compile`` traces through it."""
from typing import List

import torch
from torch import Tensor

from .add_shift_tables import invert_shift_tables


@torch.library.custom_op('mmreplk::add_shift', mutates_args=())
def add_shift_op(x: Tensor, src_channel: Tensor, offset_h: Tensor,
                 offset_w: Tensor, out_size: List[int]) -> Tensor:
    from .triton_add_shift import add_shift_forward
    return add_shift_forward(x, src_channel, offset_h, offset_w, out_size)


@add_shift_op.register_fake
def _add_shift_fake(x, src_channel, offset_h, offset_w, out_size):
    return x.new_empty(x.shape[0], src_channel.shape[0], *out_size)


def _setup_context(ctx, inputs, output):
    x, src_channel, offset_h, offset_w, _ = inputs
    ctx.save_for_backward(src_channel, offset_h, offset_w)
    ctx.in_shape = tuple(x.shape)


def _backward(ctx, grad_out):
    src_channel, offset_h, offset_w = ctx.saved_tensors
    _, c_in, h_in, w_in = ctx.in_shape
    grad_x = None
    if ctx.needs_input_grad[0]:
        inverse = invert_shift_tables(src_channel, offset_h, offset_w, c_in)
        grad_x = torch.ops.mmreplk.add_shift(grad_out.contiguous(), *inverse,
                                             [h_in, w_in])
    return grad_x, None, None, None, None


add_shift_op.register_autograd(_backward, setup_context=_setup_context)
