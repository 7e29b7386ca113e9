from .conv_bn import ConvBN, ConvBNBranch
from .conv_bn_fusion import fuse_conv_bn
from .dbb import DBB
from .depthwise_conv import DepthwiseConv2d
from .large_kernel_conv import ReparamLargeKernelConv
from .orepa import OREPA, OREPAKernel
from .orepa_1x1 import OREPA_1x1
from .orepa_3x3_repvgg import OREPA_3x3_RepVGG
from .orepa_large_conv import OREPA_LargeConv
from .layer_norm2d import LayerNorm2d
from .repvgg_block import RepVGGBlock, RepVGGBlock_OREPA
from .shiftwise_conv import ShiftWiseConv2d

__all__ = [
    'ConvBN', 'ConvBNBranch', 'DBB', 'OREPA', 'OREPAKernel', 'OREPA_1x1',
    'OREPA_3x3_RepVGG', 'OREPA_LargeConv', 'RepVGGBlock', 'RepVGGBlock_OREPA',
    'fuse_conv_bn', 'DepthwiseConv2d', 'ReparamLargeKernelConv', 'LayerNorm2d',
    'ShiftWiseConv2d']
