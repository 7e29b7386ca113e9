"""Shift-add: the aggregation step of shift-wise convolution.

``add_shift(x, src_channel, offset_h, offset_w, out_size)`` computes::

    out[b, o, h, w] = sum_k x[b, src_channel[o, k],
                              h + offset_h[o, k], w + offset_w[o, k]]

with zero outside ``x`` and ``src_channel == -1`` marking an empty term. A
shift-wise layer runs small-kernel convolutions that produce several channels
per input channel and lets this op shift each of them to its place in a large
receptive field and add them up (see ``mmreplk.models.layers.shiftwise_conv``).

Back ends:

* ``'torch'``: one advanced-indexing gather per term column
  (:func:`~mmreplk.ops.add_shift_reference.add_shift_gather`), always
  available; the explicit per-term slicing in
  :func:`~mmreplk.ops.add_shift_reference.add_shift_reference` is what the
  tests hold every back end to.
* ``'triton'``: one Triton gather kernel for the forward and the input
  gradient (inverted tables, no atomics); CUDA tensors, or CPU tensors under
  ``TRITON_INTERPRET=1`` (tests).
* ``'auto'``: Triton on CUDA tensors, ``'torch'`` otherwise; a fallback from
  a CUDA input is logged once with its reason.
"""
import functools
import os

from mmengine.logging import print_log

from .add_shift_tables import check_shift_tables

IMPLS = ('auto', 'triton', 'torch')


@functools.lru_cache(None)
def _triton_import_error():
    try:
        import triton  # noqa: F401
    except Exception as err:  # ImportError, or a broken install
        return f'triton is not importable ({type(err).__name__}: {err})'
    return None


def triton_unsupported_reason(x):
    """Why the Triton back end cannot run ``x``, or None."""
    from .triton_add_shift import DTYPES
    reason = _triton_import_error()
    if reason:
        return reason
    interpreted = os.environ.get('TRITON_INTERPRET', '0') == '1'
    if x.device.type != 'cuda' and not (x.device.type == 'cpu'
                                        and interpreted):
        return (f'input is on {x.device.type}, not CUDA (CPU tensors need '
                'TRITON_INTERPRET=1)')
    if x.dtype not in DTYPES:
        return f'dtype {x.dtype} is not one of {DTYPES}'
    return None


_logged = set()


def select_impl(x, impl='auto'):
    """Resolve ``impl`` to 'triton' or 'torch'; a forced back end that cannot
    run raises ValueError."""
    if impl not in IMPLS:
        raise ValueError(f'Unknown impl {impl!r}; choose one of {IMPLS}.')
    if impl == 'torch':
        return 'torch'
    if impl == 'triton':
        reason = triton_unsupported_reason(x)
        if reason:
            raise ValueError(f"add_shift(impl='triton') cannot run this "
                             f"input: {reason}. Use impl='auto' or 'torch'.")
        return 'triton'
    if x.device.type != 'cuda':
        return 'torch'
    reason = triton_unsupported_reason(x)
    if reason is None:
        return 'triton'
    if reason not in _logged:
        _logged.add(reason)
        print_log(f'mmreplk add_shift: the Triton back end cannot run this '
                  f'input ({reason}); using the PyTorch back end.',
                  logger='current')
    return 'torch'


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
    if select_impl(x, impl) == 'torch':
        from .add_shift_reference import add_shift_gather
        return add_shift_gather(x, src_channel, offset_h, offset_w, out_size)
    from .add_shift_function import add_shift_op
    return add_shift_op(x, src_channel, offset_h, offset_w, list(out_size))
