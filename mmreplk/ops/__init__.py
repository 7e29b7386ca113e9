from .add_shift import add_shift
from .add_shift_tables import invert_shift_tables
from .depthwise_conv import depthwise_conv2d

__all__ = ['add_shift', 'depthwise_conv2d', 'invert_shift_tables']
