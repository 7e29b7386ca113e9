"""The large-kernel depthwise convolution op: ``depthwise_conv2d`` and the
names of its back ends."""
from .api import depthwise_conv2d
from .backends import DISPATCHER, IMPLS

__all__ = ['depthwise_conv2d', 'DISPATCHER', 'IMPLS']
