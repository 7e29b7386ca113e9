from .common import GRN, LayerNorm2d, SEBlock, ToChannelsFirst, ToChannelsLast
from .dbb import DBB
from .decomposed_kernel import DecomposedLargeKernelConv
from .dilated_reparam import DilatedReparamBlock
from .gloo_sync_batchnorm import GlooSyncBatchNorm
from .large_kernel import DepthwiseConv2d, ReparamLargeKernelConv
from .orepa import (OREPA, OREPA_1x1, OREPA_3x3_RepVGG, OREPA_LargeConv,
                    OREPAKernel)
from .reparam_base import (ConvBN, ConvBNBranch, RepConvUnit, RepModule,
                           fuse_conv_bn)
from .repvgg import RepVGGBlock, RepVGGBlock_OREPA
from .shiftwise import ShiftWiseConv2d

__all__ = [
    'ConvBN', 'ConvBNBranch', 'DBB', 'OREPA', 'OREPAKernel', 'OREPA_1x1',
    'OREPA_3x3_RepVGG', 'OREPA_LargeConv', 'RepVGGBlock', 'RepVGGBlock_OREPA',
    'fuse_conv_bn', 'DepthwiseConv2d', 'ReparamLargeKernelConv', 'LayerNorm2d',
    'ShiftWiseConv2d', 'RepModule', 'RepConvUnit', 'GRN', 'SEBlock',
    'GlooSyncBatchNorm', 'DecomposedLargeKernelConv', 'ToChannelsFirst',
    'ToChannelsLast', 'DilatedReparamBlock'
]
