"""Shift-add: the aggregation step of shift-wise convolution.

``add_shift(x, src_channel, offset_h, offset_w, out_size)`` computes::

    out[b, o, h, w] = sum_k x[b, src_channel[o, k],
                              h + offset_h[o, k], w + offset_w[o, k]]

with zero outside ``x`` and ``src_channel == -1`` marking an empty term. A
shift-wise layer runs small-kernel convolutions that produce several channels
per input channel and lets this op shift each of them to its place in a large
receptive field and add them up (see ``mmreplk.models.layers.shiftwise``).

Back ends (:mod:`.backends`):

* ``'torch'``: one advanced-indexing gather per distinct offset
  (:func:`~.torch_impl.add_shift_gather`), always available; the explicit
  per-term slicing of :func:`~.torch_impl.add_shift_reference` is what the
  tests hold every back end to.
* ``'triton'``: one Triton gather kernel for the forward and the input
  gradient (inverted tables, no atomics); CUDA tensors, or CPU tensors under
  ``TRITON_INTERPRET=1`` (tests).
* ``'auto'``: on CUDA tensors, the faster of Triton and ``'torch'``,
  measured per shape at run time (:mod:`mmreplk.ops.dispatch`); ``'torch'``
  on other devices.

Autocast: the op is a depthwise convolution with one-hot kernels, so it
follows ``F.conv2d``'s rule: under an active autocast for the input's
device, a floating-point input other than fp64 is cast to the autocast
dtype and the back end runs with autocast off; the result has the (cast)
input's dtype whichever back end runs.
"""
import torch

from ..dispatch import autocast_dtype, cast_for_autocast
from .backends import DISPATCHER
from .custom_op import add_shift_op
from .tables import check_shift_tables
from .torch_impl import add_shift_gather


def select_impl(x, impl='auto'):
    """Resolve ``impl`` to 'triton', 'torch' or 'auto' (measured at run time
    when several candidates are left); a forced back end that cannot run
    raises ValueError."""
    return DISPATCHER.resolve(impl, x)


def add_shift(x, src_channel, offset_h, offset_w, out_size, impl='auto'):
    """Gather, shift and sum channels of ``x`` (see the module docstring).

    Args:
        x (Tensor): ``(B, C_in, H_in, W_in)``.
        src_channel (Tensor): ``(C_out, K)`` int32/int64, values in
            ``[-1, C_in)``.
        offset_h (Tensor): ``(C_out, K)`` int row offsets (any sign).
        offset_w (Tensor): ``(C_out, K)`` int column offsets.
        out_size (tuple[int, int]): ``(H_out, W_out)``.
        impl (str): ``'auto'``, ``'triton'`` or ``'torch'``;
            :func:`mmreplk.ops.use_impl` overrides it for a whole model.

    Returns:
        Tensor: ``(B, C_out, H_out, W_out)``, differentiable w.r.t. ``x``.
    """
    out_size = check_shift_tables(x, src_channel, offset_h, offset_w, out_size)
    dtype = autocast_dtype(x.device.type)
    if dtype is not None:
        x, = cast_for_autocast((x, ), dtype)
    backend = select_impl(x, impl)
    with torch.autocast(x.device.type, enabled=False):
        if backend == 'torch':
            return add_shift_gather(x, src_channel, offset_h, offset_w,
                                    out_size)
        return add_shift_op(x, src_channel, offset_h, offset_w, list(out_size),
                            backend)
