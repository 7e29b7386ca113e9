from .conv_bn_fusion import fuse_conv_bn
from .depthwise_conv import DepthwiseConv2d
from .large_kernel_conv import ReparamLargeKernelConv

__all__ = ['fuse_conv_bn', 'DepthwiseConv2d', 'ReparamLargeKernelConv']
