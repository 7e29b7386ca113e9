"""mmreplk's custom ops, each with several back ends behind one dispatch.

What models and tools use:

* :func:`depthwise_conv2d` (large-kernel depthwise convolution) and
  :func:`add_shift` (the shift-add of shift-wise convolution), with their
  back-end names :data:`DEPTHWISE_CONV_IMPLS` and :data:`ADD_SHIFT_IMPLS`;
* :func:`check_impl`: a layer's ``impl`` option checked against the ops it
  feeds, when the layer is built;
* :func:`use_impl`: one back end for every op call inside a block (a whole
  model), whatever the layers' options say;
* :data:`AUTOTUNER`: the measured choices of ``impl='auto'`` (exported to
  and pinned from checkpoints);
* :func:`invert_shift_tables`: the tables of the shift-add's input
  gradient.
"""
from .add_shift import IMPLS as ADD_SHIFT_IMPLS
from .add_shift import add_shift, invert_shift_tables
from .depthwise_conv import IMPLS as DEPTHWISE_CONV_IMPLS
from .depthwise_conv import depthwise_conv2d
from .dispatch import AUTOTUNER, check_impl, use_impl

__all__ = [
    'ADD_SHIFT_IMPLS', 'AUTOTUNER', 'DEPTHWISE_CONV_IMPLS', 'add_shift',
    'check_impl', 'depthwise_conv2d', 'invert_shift_tables', 'use_impl'
]
