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

:class:`ConvBNUnitBackbone` is the base of the backbones built from these
units (``OREPAResNet``, ``OREPARepVGG``): the options every such backbone
takes and the kernel-generation context its forward pass runs in.
"""
from ..layers import (DBB, OREPA, ConvBN, OREPA_1x1, OREPA_LargeConv,
                      RepVGGBlock, RepVGGBlock_OREPA)
from ..layers.orepa_kernel_batching import (check_recompute, kernel_generation,
                                            resolve_kernel_gen)
from .staged_backbone import StagedBackbone

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
    return dict(
        DBB=DBB, RepVGG=RepVGGBlock, OREPA_VGG=RepVGGBlock_OREPA)[block_type]


def build_conv_bn_unit(block_type,
                       in_channels,
                       out_channels,
                       kernel_size,
                       stride=1,
                       groups=1,
                       norm_cfg=dict(type='BN'),
                       act_cfg=None,
                       recompute_kernel=False,
                       deploy=False):
    """Build the conv-BN(-act) unit ``block_type`` uses at this kernel size,
    with "same" padding (``kernel_size // 2``). ``recompute_kernel`` reaches
    the online (OREPA) units, which are the only ones generating a kernel."""
    unit = conv_bn_unit_type(block_type, kernel_size)
    extra = {}
    if unit.__name__ in ONLINE_UNITS:
        extra['recompute_kernel'] = recompute_kernel
    return unit(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=groups,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        deploy=deploy,
        **extra)


class ConvBNUnitBackbone(StagedBackbone):
    """Base of the four-stage backbones whose convolutions are conv-BN units
    chosen by ``block_type`` (``stage0`` is the stem, ``stage1`` ..
    ``stage4`` the stages).

    Subclasses list their accepted ``block_types``, call ``super().__init__``
    first, build ``stage0`` .. ``stage4`` and run their blocks inside
    ``with self.kernel_generation():``.

    Args:
        block_type (str): One of the subclass's ``block_types``.
        out_indices (Sequence[int]): Stages (0..3 = stage1..stage4) to output.
        frozen_stages (int): -1: none; 0: ``stage0``; i: ``stage0``..``i``.
        norm_eval (bool): Keep BatchNorm layers in eval mode in training.
        recompute_kernel (bool): Passed to the online units.
        kernel_gen (str, optional): ``'eager'``, ``'batched'`` or None, see
            :func:`~mmreplk.models.layers.orepa_kernel_batching.resolve_kernel_gen`.
        with_cp (bool): Activation checkpointing per block.
        deploy (bool): Build every unit in its deploy form.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """
    block_types = BLOCK_TYPES

    def __init__(self,
                 block_type,
                 out_indices,
                 frozen_stages,
                 norm_eval,
                 recompute_kernel,
                 kernel_gen,
                 with_cp,
                 deploy,
                 init_cfg=None):
        check_block_type(block_type, self.block_types)
        check_recompute(type(self).__name__, recompute_kernel)
        kernel_gen = resolve_kernel_gen(
            type(self).__name__, kernel_gen, with_cp)
        super().__init__(
            4, out_indices, frozen_stages, norm_eval, init_cfg=init_cfg)
        self.block_type = block_type
        self.recompute_kernel = recompute_kernel
        self.kernel_gen = kernel_gen
        self.with_cp = with_cp
        self.deploy = deploy

    def kernel_generation(self):
        """The context the blocks of one forward pass run in (the online
        units' kernels generated in batches, or nothing)."""
        return kernel_generation(self, self.kernel_gen, self.recompute_kernel,
                                 self.with_cp)

    def _frozen_modules(self):
        for i in range(self.frozen_stages + 1):
            yield getattr(self, f'stage{i}')
