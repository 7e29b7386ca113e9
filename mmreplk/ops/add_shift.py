"""Shift-add: the aggregation step of shift-wise convolution.

``add_shift(x, src_channel, offset_h, offset_w, out_size)`` computes::

    out[b, o, h, w] = sum_k x[b, src_channel[o, k],
                              h + offset_h[o, k], w + offset_w[o, k]]

with zero outside ``x`` and ``src_channel == -1`` marking an empty term. A
shift-wise layer runs small-kernel convolutions that produce several channels
per input channel and lets this op shift each of them to its place in a large
receptive field and add them up (see ``mmreplk.models.layers.shiftwise``).

Back ends:

* ``'torch'``: one advanced-indexing gather per term column
  (:func:`~mmreplk.ops.add_shift_reference.add_shift_gather`), always
  available; the explicit per-term slicing in
  :func:`~mmreplk.ops.add_shift_reference.add_shift_reference` is what the
  tests hold every back end to.
* ``'triton'``: one Triton gather kernel for the forward and the input
  gradient (inverted tables, no atomics); CUDA tensors, or CPU tensors under
  ``TRITON_INTERPRET=1`` (tests).
* ``'auto'``: on CUDA tensors, the faster of Triton and ``'torch'``,
  measured per shape at run time (:mod:`mmreplk.ops.dispatch`); ``'torch'``
  on other devices (the Triton interpreter is never a candidate).
"""
from .add_shift_tables import check_shift_tables
from .dispatch import Backend, OpDispatcher, triton_device_reason


def triton_unsupported_reason(x):
    """Why the Triton back end cannot run ``x``, or None."""
    reason = triton_device_reason(x)
    if reason:
        return reason
    from .triton_add_shift import DTYPES
    if x.dtype not in DTYPES:
        return f'dtype {x.dtype} is not one of {DTYPES}'
    return None


DISPATCHER = OpDispatcher('add_shift', [
    Backend('triton', triton_unsupported_reason, auto_devices=('cuda', )),
    Backend('torch', lambda x: None),
], reference='torch')
IMPLS = DISPATCHER.impls


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
        impl (str): ``'auto'``, ``'triton'`` or ``'torch'``.

    Returns:
        Tensor: ``(B, C_out, H_out, W_out)``, differentiable w.r.t. ``x``.
    """
    out_size = check_shift_tables(x, src_channel, offset_h, offset_w,
                                  out_size)
    backend = select_impl(x, impl)
    if backend == 'torch':
        from .add_shift_reference import add_shift_gather
        return add_shift_gather(x, src_channel, offset_h, offset_w, out_size)
    from .add_shift_function import add_shift_op
    return add_shift_op(x, src_channel, offset_h, offset_w, list(out_size),
                        backend)
