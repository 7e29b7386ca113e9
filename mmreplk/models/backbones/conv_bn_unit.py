"""Which conv-BN unit a re-parameterised backbone uses for each kernel size.

The official OREPA code picks the unit through a module-level global
(``CONV_BN_IMPL``); here it is the ``block_type`` argument of every backbone,
passed down to this one function, with the official mapping:

============  ============  ===============  =================
block_type    1x1           3x3 (and 5x5)    7x7 and larger
============  ============  ===============  =================
Conv          ConvBN        ConvBN           ConvBN
OREPA         OREPA_1x1     OREPA            OREPA_LargeConv
DBB           ConvBN        DBB              ConvBN
RepVGG        ConvBN        RepVGGBlock      ConvBN
OREPA_VGG     ConvBN        RepVGGBlock_OREPA ConvBN
============  ============  ===============  =================
"""
from ..layers import (DBB, OREPA, ConvBN, OREPA_1x1, OREPA_LargeConv,
                      RepVGGBlock, RepVGGBlock_OREPA)

BLOCK_TYPES = ('Conv', 'OREPA', 'DBB', 'RepVGG', 'OREPA_VGG')
# Units that generate their kernel from branches in every training step.
ONLINE_UNITS = ('OREPA', 'OREPA_1x1', 'OREPA_LargeConv', 'RepVGGBlock_OREPA')


def check_block_type(block_type, allowed=BLOCK_TYPES):
    """Raise a clear error for a ``block_type`` outside ``allowed``."""
    if block_type not in allowed:
        raise ValueError(f'Unknown block_type {block_type!r}; choose one of '
                         f'{list(allowed)}.')


def conv_bn_unit_type(block_type, kernel_size):
    """The layer class used for a ``kernel_size`` conv under ``block_type``."""
    check_block_type(block_type)
    if block_type == 'OREPA':
        if kernel_size == 1:
            return OREPA_1x1
        return OREPA_LargeConv if kernel_size >= 7 else OREPA
    if block_type == 'Conv' or kernel_size == 1 or kernel_size >= 7:
        return ConvBN
    return dict(DBB=DBB, RepVGG=RepVGGBlock,
                OREPA_VGG=RepVGGBlock_OREPA)[block_type]


def build_conv_bn_unit(block_type, in_channels, out_channels, kernel_size,
                       stride=1, groups=1, norm_cfg=dict(type='BN'),
                       act_cfg=None, recompute_kernel=None, deploy=False):
    """Build the conv-BN(-act) unit ``block_type`` uses at this kernel size,
    with "same" padding (``kernel_size // 2``). ``recompute_kernel`` reaches
    the online (OREPA) units, which are the only ones generating a kernel."""
    unit = conv_bn_unit_type(block_type, kernel_size)
    extra = {}
    if unit.__name__ in ONLINE_UNITS:
        extra['recompute_kernel'] = recompute_kernel
    return unit(in_channels, out_channels, kernel_size, stride=stride,
                padding=kernel_size // 2, groups=groups, norm_cfg=norm_cfg,
                act_cfg=act_cfg, deploy=deploy, **extra)
