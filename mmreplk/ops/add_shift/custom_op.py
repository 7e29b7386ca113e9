"""Autograd for the custom back ends of the shift-add op, as a
``torch.library`` custom op (``mmreplk::add_shift``) with a fake
implementation so ``torch.compile`` traces through it.

``impl`` is ``'triton'`` or ``'auto'``; with ``'auto'`` the back end is
measured per shape at run time (:data:`mmreplk.ops.dispatch.AUTOTUNER`),
with autocast off (the front end casts).
The input gradient is the same op on the inverted tables, so it makes its
own choice for its own shape."""
from typing import List

import torch
from torch import Tensor

from ..dispatch import AUTOTUNER
from .backends import DISPATCHER
from .tables import invert_shift_tables
from .torch_impl import add_shift_gather


def _triton(x, src_channel, offset_h, offset_w, out_size):
    # Triton is an optional dependency: imported on first use.
    from .triton_impl import add_shift_forward
    return add_shift_forward(x, src_channel, offset_h, offset_w, out_size)


def _torch(x, src_channel, offset_h, offset_w, out_size):
    with torch.no_grad():
        return add_shift_gather(x, src_channel, offset_h, offset_w,
                                out_size).contiguous()


_BACKENDS = dict(triton=_triton, torch=_torch)


@torch.library.custom_op('mmreplk::add_shift', mutates_args=())
def add_shift_op(x: Tensor, src_channel: Tensor, offset_h: Tensor,
                 offset_w: Tensor, out_size: List[int], impl: str) -> Tensor:
    args = (x, src_channel, offset_h, offset_w, out_size)
    if impl != 'auto':
        with torch.autocast(x.device.type, enabled=False):
            return _BACKENDS[impl](*args)
    key = AUTOTUNER.make_key(
        'add_shift', 'forward', x.device,
        dict(
            dtype=x.dtype,
            shape=tuple(x.shape),
            terms=tuple(src_channel.shape),
            out=tuple(out_size)))
    candidates = {
        name: (lambda fn=_BACKENDS[name]: fn(*args))
        for name in DISPATCHER.auto_candidates(x)
    }
    with torch.autocast(x.device.type, enabled=False):
        return AUTOTUNER.run(
            key, candidates, x.device, reference=DISPATCHER.reference)


@add_shift_op.register_fake
def _add_shift_fake(x, src_channel, offset_h, offset_w, out_size, impl):
    return x.new_empty(x.shape[0], src_channel.shape[0], *out_size)


def _setup_context(ctx, inputs, output):
    x, src_channel, offset_h, offset_w, _, impl = inputs
    ctx.save_for_backward(src_channel, offset_h, offset_w)
    ctx.in_shape = tuple(x.shape)
    ctx.impl = impl


def _backward(ctx, grad_out):
    src_channel, offset_h, offset_w = ctx.saved_tensors
    _, c_in, h_in, w_in = ctx.in_shape
    grad_x = None
    if ctx.needs_input_grad[0]:
        inverse = invert_shift_tables(src_channel, offset_h, offset_w, c_in)
        grad_x = torch.ops.mmreplk.add_shift(grad_out.contiguous(), *inverse,
                                             [h_in, w_in], ctx.impl)
    return grad_x, None, None, None, None, None


add_shift_op.register_autograd(_backward, setup_context=_setup_context)
