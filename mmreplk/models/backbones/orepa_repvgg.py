"""RepVGG whose blocks are OREPA-enhanced RepVGG blocks (or plain RepVGG /
conv-BN for comparison), laid out like the official OREPA ``models/repvgg.py``
(``stage0`` .. ``stage4``) so the official RepVGG-OREPA checkpoints load."""
import torch.nn as nn
import torch.utils.checkpoint as cp

from mmreplk.registry import MODELS
from .conv_bn_unit import ConvBNUnitBackbone, build_conv_bn_unit


@MODELS.register_module()
class OREPARepVGG(ConvBNUnitBackbone):
    """RepVGG-A0/A1/A2/B1 with ``RepVGGBlock_OREPA`` (``block_type=
    'OREPA_VGG'``), ``RepVGGBlock`` (``'RepVGG'``) or ``ConvBN``
    (``'Conv'``) 3x3 units, each followed by the activation.

    Args:
        arch (str | dict): 'A0' | 'A1' | 'A2' | 'B1' or a dict with
            ``stage_blocks`` and ``channels`` (4 ints each; the stem has
            ``min(64, channels[0])`` channels) and optional ``groups_map``
            ({layer index: groups}, layer 1 is the first block of stage1),
            see :meth:`StagedBackbone.parse_arch`.
        block_type (str): 'OREPA_VGG' | 'RepVGG' | 'Conv'.
        in_channels (int): Image channels.
        out_indices (Sequence[int]): Stages (0..3 = stage1..stage4) to output.
        frozen_stages (int): -1: none; 0: ``stage0``; i: ``stage0``..``i``.
        norm_eval (bool): Keep BatchNorm layers in eval mode in training.
        norm_cfg (dict): Norm config of every unit (BatchNorm-family: it is
            folded). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation after every block.
        recompute_kernel (bool): ``RepVGGBlock_OREPA`` regenerates its
            kernel in the backward pass instead of storing the branch
            kernels (see
            :mod:`mmreplk.models.layers.orepa_kernel_batching`). Defaults to
            False.
        kernel_gen (str, optional): ``'eager'`` (each block builds its
            kernel) or ``'batched'`` (all blocks of equal shape in one
            batched computation per step; not with ``with_cp``); None:
            ``'batched'``, or ``'eager'`` with ``with_cp=True``. See
            :mod:`mmreplk.models.layers.orepa_kernel_batching`.
        with_cp (bool): Activation checkpointing per block.
        deploy (bool): Build every block as a single conv.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """
    # Official widths: multipliers (A0 0.75 x3, 2.5; A1 1 x3, 2.5; A2 1.5 x3,
    # 2.75; B1 2 x3, 4) of (64, 128, 256, 512).
    arch_settings = {
        'A0': dict(stage_blocks=(2, 4, 14, 1), channels=(48, 96, 192, 1280)),
        'A1': dict(stage_blocks=(2, 4, 14, 1), channels=(64, 128, 256, 1280)),
        'A2': dict(stage_blocks=(2, 4, 14, 1), channels=(96, 192, 384, 1408)),
        'B1': dict(stage_blocks=(4, 6, 16, 1), channels=(128, 256, 512, 2048)),
    }
    arch_defaults = dict(groups_map={})
    block_types = ('OREPA_VGG', 'RepVGG', 'Conv')

    def __init__(self,
                 arch='A0',
                 block_type='OREPA_VGG',
                 in_channels=3,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 recompute_kernel=False,
                 kernel_gen=None,
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        arch = self.parse_arch(arch)
        super().__init__(
            block_type,
            out_indices,
            frozen_stages,
            norm_eval,
            recompute_kernel,
            kernel_gen,
            with_cp,
            deploy,
            init_cfg=init_cfg)
        self.arch = arch
        unit = dict(
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            recompute_kernel=recompute_kernel,
            deploy=deploy)
        widths = list(arch['channels'])
        channels = min(64, widths[0])
        self.stage0 = build_conv_bn_unit(
            block_type, in_channels, channels, 3, stride=2, **unit)
        layer_idx = 1
        self.out_channels = widths
        for i, num_blocks in enumerate(arch['stage_blocks']):
            blocks = []
            for j in range(num_blocks):
                groups = arch['groups_map'].get(layer_idx, 1)
                blocks.append(
                    build_conv_bn_unit(
                        block_type,
                        channels,
                        widths[i],
                        3,
                        stride=2 if j == 0 else 1,
                        groups=groups,
                        **unit))
                channels = widths[i]
                layer_idx += 1
            self.add_module(f'stage{i + 1}', nn.Sequential(*blocks))
        self._freeze_stages()

    def forward(self, x):
        with self.kernel_generation():
            x = self.stage0(x)
            outs = []
            for i in range(self.num_stages):
                for block in getattr(self, f'stage{i + 1}'):
                    if self.with_cp and x.requires_grad:
                        x = cp.checkpoint(block, x, use_reentrant=False)
                    else:
                        x = block(x)
                if i in self.out_indices:
                    outs.append(x)
        return tuple(outs)
