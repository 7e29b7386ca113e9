"""ResNet / ResNeXt whose conv-BN units are OREPA, DBB, RepVGG or plain,
laid out like the official OREPA ImageNet models so their checkpoints load.

Hu et al., "Online Convolutional Re-parameterization", CVPR 2022.

Module names follow the official ``models/resnet.py``: ``stage0`` (the 7x7
stem unit ``conv1`` and a max-pool), ``stage1`` .. ``stage4`` (blocks with
``conv1``, ``conv2`` [, ``conv3``] and ``shortcut``).
"""
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule

from mmreplk.registry import MODELS
from .conv_bn_unit import ConvBNUnitBackbone, build_conv_bn_unit


class OREPAResidualBlock(BaseModule):
    """What both residual blocks share: ``act(residual(x) + shortcut(x))``,
    with optional activation checkpointing.

    Subclasses build ``shortcut``, their units and ``act`` and implement
    :meth:`residual`.

    Args:
        with_cp (bool): Activation checkpointing.
        init_cfg (dict, optional): Initialisation config.
    """
    expansion = 1

    def __init__(self, with_cp=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp

    def residual(self, x):
        raise NotImplementedError

    def forward(self, x):

        def _inner_forward(x):
            return self.residual(x) + self.shortcut(x)

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.act(out)


class OREPABasicBlock(OREPAResidualBlock):
    """Two 3x3 units and a shortcut; the shortcut is always a plain 1x1
    conv-BN, as in the official code.

    Args:
        in_channels (int): Input channels.
        planes (int): Output channels (expansion 1).
        stride (int): Stride of the first 3x3 unit and of the shortcut.
        block_type (str): Conv-BN unit family, see
            :mod:`mmreplk.models.backbones.conv_bn_unit`.
        norm_cfg (dict): Norm config of every unit.
        act_cfg (dict): Activation after ``conv1`` and after the sum.
        recompute_kernel (bool): Passed to online (OREPA) units.
        with_cp (bool): Activation checkpointing.
        deploy (bool): Build the units in their deploy form.
        init_cfg (dict, optional): Initialisation config.
    """
    expansion = 1

    def __init__(self,
                 in_channels,
                 planes,
                 stride,
                 block_type,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 recompute_kernel=False,
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        unit = dict(
            norm_cfg=norm_cfg,
            recompute_kernel=recompute_kernel,
            deploy=deploy)
        out_channels = planes * self.expansion
        if stride != 1 or in_channels != out_channels:
            self.shortcut = build_conv_bn_unit(
                'Conv', in_channels, out_channels, 1, stride=stride, **unit)
        else:
            self.shortcut = nn.Identity()
        self.conv1 = build_conv_bn_unit(
            block_type,
            in_channels,
            planes,
            3,
            stride=stride,
            act_cfg=act_cfg,
            **unit)
        self.conv2 = build_conv_bn_unit(block_type, planes, out_channels, 3,
                                        **unit)
        self.act = build_activation_layer(act_cfg)

    def residual(self, x):
        return self.conv2(self.conv1(x))


class OREPABottleneck(OREPAResidualBlock):
    """1x1, 3x3 (grouped for ResNeXt), 1x1 units and a shortcut; the 1x1
    shortcut uses ``block_type``'s 1x1 unit (``OREPA_1x1`` for OREPA), as in
    the official code.

    Args:
        in_channels (int): Input channels.
        planes (int): Base width; output channels are ``4 * planes``.
        stride (int): Stride of the 3x3 unit and of the shortcut.
        block_type (str): Conv-BN unit family.
        groups (int): Groups of the 3x3 unit (ResNeXt cardinality).
        width_per_group (int): ResNeXt width per group; 64 with groups=1 is
            plain ResNet.
        norm_cfg (dict): Norm config of every unit.
        act_cfg (dict): Activation after ``conv1``, ``conv2`` and the sum.
        recompute_kernel (bool): Passed to online (OREPA) units.
        with_cp (bool): Activation checkpointing.
        deploy (bool): Build the units in their deploy form.
        init_cfg (dict, optional): Initialisation config.
    """
    expansion = 4

    def __init__(self,
                 in_channels,
                 planes,
                 stride,
                 block_type,
                 groups=1,
                 width_per_group=64,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 recompute_kernel=False,
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        unit = dict(
            norm_cfg=norm_cfg,
            recompute_kernel=recompute_kernel,
            deploy=deploy)
        out_channels = planes * self.expansion
        # Official ResNeXt: D = cardinality * int(planes * width / 64).
        mid = planes if groups == 1 and width_per_group == 64 else \
            groups * int(planes * width_per_group / 64)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = build_conv_bn_unit(
                block_type,
                in_channels,
                out_channels,
                1,
                stride=stride,
                **unit)
        else:
            self.shortcut = nn.Identity()
        self.conv1 = build_conv_bn_unit(
            block_type, in_channels, mid, 1, act_cfg=act_cfg, **unit)
        self.conv2 = build_conv_bn_unit(
            block_type,
            mid,
            mid,
            3,
            stride=stride,
            groups=groups,
            act_cfg=act_cfg,
            **unit)
        self.conv3 = build_conv_bn_unit(block_type, mid, out_channels, 1,
                                        **unit)
        self.act = build_activation_layer(act_cfg)

    def residual(self, x):
        return self.conv3(self.conv2(self.conv1(x)))


@MODELS.register_module()
class OREPAResNet(ConvBNUnitBackbone):
    """ResNet-18/34/50/101, ResNet-18-2x and ResNeXt-50 (32x4d) built from
    re-parameterisable conv-BN units.

    ``block_type`` chooses the unit per kernel size exactly as the official
    OREPA code (see :mod:`mmreplk.models.backbones.conv_bn_unit`): with
    ``'OREPA'`` the 7x7 stem is an ``OREPA_LargeConv`` (a deep linear stem:
    give it a lower learning rate when fine-tuning, see the configs), 3x3 convs
    are ``OREPA`` and 1x1 convs ``OREPA_1x1``; with ``'DBB'`` / ``'RepVGG'``
    only the 3x3 convs change; ``'Conv'`` is a plain ResNet with a 7x7 stem.

    Args:
        depth (int, optional): 18, 34, 50 or 101; shorthand for ``arch``.
        arch (str | dict, optional): A key of ``arch_settings`` or a dict with
            ``stage_blocks``, ``channels`` (output channels per stage; the
            stem has ``channels[0] // expansion``), ``block`` ('basic' |
            'bottleneck') and optional ``groups``, ``width_per_group``
            (ResNeXt), see :meth:`StagedBackbone.parse_arch`. Exactly one of
            ``depth`` and ``arch`` is given.
        block_type (str): 'OREPA' | 'DBB' | 'RepVGG' | 'Conv'.
        in_channels (int): Image channels.
        out_indices (Sequence[int]): Stages (0..3) to output.
        frozen_stages (int): -1: none; 0: the stem; i: the stem and stages
            1..i.
        norm_eval (bool): Keep BatchNorm layers in eval mode in training.
        norm_cfg (dict): Norm config of every unit (BatchNorm-family: it is
            folded). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation config (ReLU in the paper).
        recompute_kernel (bool): Online (OREPA) units regenerate their
            kernels in the backward pass instead of storing the branch
            kernels: identical results, less training memory in wide stages,
            more time (see
            :mod:`mmreplk.models.layers.orepa_kernel_batching`). Defaults to
            False.
        kernel_gen (str, optional): How online units build their kernels in
            a training step: ``'eager'``, each unit on its own, or
            ``'batched'``, all units of equal shape in one batched
            computation before the blocks run (fewer operations, same
            results; not with ``with_cp``). None (default): ``'batched'``,
            or ``'eager'`` with ``with_cp=True``. See
            :mod:`mmreplk.models.layers.orepa_kernel_batching`.
        with_cp (bool): Activation checkpointing per block.
        deploy (bool): Build every unit in its deploy (single conv) form.
        init_cfg (dict | list[dict], optional): Initialisation config, e.g.
            ``dict(type='Pretrained', checkpoint=...)`` with a checkpoint
            converted by ``tools/model_converters/orepa_official.py``.
    """
    arch_settings = {
        '18':
        dict(
            stage_blocks=(2, 2, 2, 2),
            channels=(64, 128, 256, 512),
            block='basic'),
        '34':
        dict(
            stage_blocks=(3, 4, 6, 3),
            channels=(64, 128, 256, 512),
            block='basic'),
        '50':
        dict(
            stage_blocks=(3, 4, 6, 3),
            channels=(256, 512, 1024, 2048),
            block='bottleneck'),
        '101':
        dict(
            stage_blocks=(3, 4, 23, 3),
            channels=(256, 512, 1024, 2048),
            block='bottleneck'),
        '18-2x':
        dict(
            stage_blocks=(2, 2, 2, 2),
            channels=(128, 256, 512, 1024),
            block='basic'),
        'resnext50_32x4d':
        dict(
            stage_blocks=(3, 4, 6, 3),
            channels=(256, 512, 1024, 2048),
            block='bottleneck',
            groups=32,
            width_per_group=4),
    }
    arch_required_keys = ('block', )
    arch_defaults = dict(groups=1, width_per_group=64)
    _blocks = dict(basic=OREPABasicBlock, bottleneck=OREPABottleneck)
    block_types = ('OREPA', 'DBB', 'RepVGG', 'Conv')

    def __init__(self,
                 depth=None,
                 arch=None,
                 block_type='OREPA',
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
        arch = self._parse_depth_or_arch(depth, arch)
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
        block = self._blocks[arch['block']]
        # Only bottlenecks are grouped (ResNeXt).
        width = dict(
            groups=arch['groups'], width_per_group=arch['width_per_group']
        ) if block is OREPABottleneck else {}
        base = arch['channels'][0] // block.expansion
        self.stage0 = nn.Sequential()
        self.stage0.add_module(
            'conv1',
            build_conv_bn_unit(
                block_type,
                in_channels,
                base,
                7,
                stride=2,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                recompute_kernel=recompute_kernel,
                deploy=deploy))
        self.stage0.add_module('maxpool', nn.MaxPool2d(3, 2, padding=1))
        self.out_channels = []
        channels = base
        for i, num_blocks in enumerate(arch['stage_blocks']):
            planes = arch['channels'][i] // block.expansion
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    block(
                        channels,
                        planes,
                        2 if i > 0 and j == 0 else 1,
                        block_type,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        recompute_kernel=recompute_kernel,
                        with_cp=with_cp,
                        deploy=deploy,
                        **width))
                channels = planes * block.expansion
            self.add_module(f'stage{i + 1}', nn.Sequential(*blocks))
            self.out_channels.append(channels)
        self._freeze_stages()

    def _parse_depth_or_arch(self, depth, arch):
        if (depth is None) == (arch is None):
            raise ValueError('Give exactly one of depth (18, 34, 50, 101) and '
                             f'arch (one of {sorted(self.arch_settings)} or '
                             f'a dict); got depth={depth!r}, arch={arch!r}.')
        if depth is not None:
            if str(depth) not in ('18', '34', '50', '101'):
                raise ValueError(f'Unsupported depth {depth!r}; OREPAResNet '
                                 'supports 18, 34, 50 and 101 (and the arch '
                                 f'presets {sorted(self.arch_settings)}).')
            arch = str(depth)
        arch = self.parse_arch(arch)
        block = self._blocks.get(arch['block'])
        if block is None:
            raise ValueError(f'OREPAResNet arch block must be one of '
                             f'{sorted(self._blocks)}; got {arch["block"]!r}.')
        if block is OREPABasicBlock and (arch['groups'] != 1
                                         or arch['width_per_group'] != 64):
            raise ValueError(
                'OREPAResNet basic blocks (ResNet-18/34) are not grouped: '
                'their arch takes groups=1 and width_per_group=64, got '
                f'groups={arch["groups"]!r}, width_per_group='
                f'{arch["width_per_group"]!r}; use block=\'bottleneck\' for '
                'ResNeXt.')
        if any(c % block.expansion for c in arch['channels']):
            raise ValueError(f'OREPAResNet {arch["block"]} arch channels must '
                             f'be multiples of {block.expansion} (the block '
                             f'expansion); got {arch["channels"]}.')
        return arch

    def forward(self, x):
        with self.kernel_generation():
            x = self.stage0(x)
            outs = []
            for i in range(self.num_stages):
                x = getattr(self, f'stage{i + 1}')(x)
                if i in self.out_indices:
                    outs.append(x)
        return tuple(outs)
