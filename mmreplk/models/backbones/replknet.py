"""RepLKNet: large depthwise kernels (up to 31x31) with small-kernel
re-parameterisation, as a dense-prediction backbone.

Ding et al., "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design
in CNNs", CVPR 2022.
"""
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmreplk.registry import MODELS
from ..layers import ReparamLargeKernelConv
from .staged_backbone import StagedBackbone


class RepLKBlock(BaseModule):
    """Pre-norm, 1x1 conv-BN-act, large-kernel depthwise conv, act, 1x1
    conv-BN, drop path, identity shortcut.

    Args:
        channels (int): Input/output channels.
        dw_channels (int): Channels of the depthwise large-kernel conv.
        large_kernel (int): Large kernel size.
        small_kernel (int, optional): Parallel small kernel size or None.
        drop_path (float): Stochastic depth rate.
        norm_cfg (dict): Norm layers' config.
        act_cfg (dict): Activation config.
        impl (str): Back end of the depthwise op.
        with_cp (bool): Activation checkpointing.
        deploy (bool): Build the large-kernel conv in deploy form.
    """

    def __init__(self,
                 channels,
                 dw_channels,
                 large_kernel,
                 small_kernel,
                 drop_path,
                 norm_cfg,
                 act_cfg,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.pre_norm = build_norm_layer(norm_cfg, channels)[1]
        self.pw1 = ConvModule(
            channels, dw_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.large_kernel = ReparamLargeKernelConv(
            dw_channels,
            large_kernel,
            small_kernel,
            norm_cfg=norm_cfg,
            impl=impl,
            deploy=deploy)
        self.lk_act = build_activation_layer(act_cfg)
        self.pw2 = ConvModule(
            dw_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def forward(self, x):

        def _inner_forward(x):
            out = self.pw1(self.pre_norm(x))
            out = self.lk_act(self.large_kernel(out))
            return x + self.drop_path(self.pw2(out))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


class ConvFFN(BaseModule):
    """Pre-norm, 1x1 conv-BN-GELU, 1x1 conv-BN, drop path, shortcut.

    Args:
        channels (int): Input/output channels.
        hidden_channels (int): Expanded channels.
        drop_path (float): Stochastic depth rate.
        norm_cfg (dict): Norm layers' config.
        act_cfg (dict): Activation between the two 1x1 convs.
        with_cp (bool): Activation checkpointing.
    """

    def __init__(self,
                 channels,
                 hidden_channels,
                 drop_path,
                 norm_cfg,
                 act_cfg,
                 with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.pre_norm = build_norm_layer(norm_cfg, channels)[1]
        self.pw1 = ConvModule(
            channels, hidden_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pw2 = ConvModule(
            hidden_channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def forward(self, x):

        def _inner_forward(x):
            return x + self.drop_path(self.pw2(self.pw1(self.pre_norm(x))))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


class RepLKNetStage(BaseModule):
    """``num_blocks`` pairs of (RepLKBlock, ConvFFN), kept in one list in that
    order as in the official model, plus an optional output norm."""

    def __init__(self,
                 channels,
                 num_blocks,
                 large_kernel,
                 small_kernel,
                 drop_paths,
                 dw_ratio,
                 ffn_ratio,
                 norm_cfg,
                 act_cfg,
                 ffn_act_cfg,
                 norm_output,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        blocks = []
        for i in range(num_blocks):
            blocks.append(
                RepLKBlock(
                    channels,
                    int(channels * dw_ratio),
                    large_kernel,
                    small_kernel,
                    drop_paths[i],
                    norm_cfg,
                    act_cfg,
                    impl=impl,
                    with_cp=with_cp,
                    deploy=deploy))
            blocks.append(
                ConvFFN(
                    channels,
                    int(channels * ffn_ratio),
                    drop_paths[i],
                    norm_cfg,
                    ffn_act_cfg,
                    with_cp=with_cp))
        self.blocks = nn.ModuleList(blocks)
        # RepLKNet-XL normalises the features it hands to the dense heads.
        self.norm = build_norm_layer(norm_cfg, channels)[1] if norm_output \
            else nn.Identity()

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register_module()
class RepLKNet(StagedBackbone):
    """RepLKNet backbone for dense prediction.

    Args:
        arch (str | dict): ``'31B'``, ``'31L'``, ``'XL'`` or a dict with
            ``stage_blocks``, ``channels`` and ``large_kernels`` (one entry
            per stage) and optionally ``small_kernel`` (None: no parallel
            small kernel), ``dw_ratio``, ``ffn_ratio`` and
            ``norm_intermediate_features`` (see
            :meth:`StagedBackbone.parse_arch`).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages with their transitions; -1 freezes
            nothing. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode during training.
            Defaults to False.
        norm_cfg (dict): Config of every norm layer. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation of the stem, transitions and RepLK blocks.
            Defaults to ReLU.
        ffn_act_cfg (dict): Activation inside ConvFFN. Defaults to GELU.
        drop_path_rate (float): Stochastic depth, linearly increased over all
            blocks. Defaults to 0.3.
        with_cp (bool): Activation checkpointing per block. Defaults to False.
        deploy (bool): Build the large-kernel convs in re-parameterised form.
            Defaults to False.
        impl (str): Back end of the large-kernel depthwise op, one of
            :data:`mmreplk.ops.DEPTHWISE_CONV_IMPLS` (``'auto'``,
            ``'cpu'``, ``'torch'``, ``'fft'``, ``'triton'``). Defaults to
            'auto'.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=...)`` with a checkpoint converted by
            ``tools/model_converters/replknet_official.py``.
    """

    arch_settings = {
        '31B':
        dict(
            stage_blocks=[2, 2, 18, 2],
            channels=[128, 256, 512, 1024],
            large_kernels=[31, 29, 27, 13],
            small_kernel=5,
            dw_ratio=1,
            ffn_ratio=4,
            norm_intermediate_features=False),
        '31L':
        dict(
            stage_blocks=[2, 2, 18, 2],
            channels=[192, 384, 768, 1536],
            large_kernels=[31, 29, 27, 13],
            small_kernel=5,
            dw_ratio=1,
            ffn_ratio=4,
            norm_intermediate_features=False),
        'XL':
        dict(
            stage_blocks=[2, 2, 18, 2],
            channels=[256, 512, 1024, 2048],
            large_kernels=[27, 27, 27, 13],
            small_kernel=None,
            dw_ratio=1.5,
            ffn_ratio=4,
            norm_intermediate_features=True),
    }
    arch_required_keys = ('large_kernels', )
    arch_defaults = dict(
        small_kernel=None,
        dw_ratio=1,
        ffn_ratio=4,
        norm_intermediate_features=False)
    arch_per_stage_keys = ('stage_blocks', 'channels', 'large_kernels')
    arch_num_stages = None

    def __init__(self,
                 arch='31B',
                 in_channels=3,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 ffn_act_cfg=dict(type='GELU'),
                 drop_path_rate=0.3,
                 with_cp=False,
                 deploy=False,
                 impl='auto',
                 init_cfg=None):
        arch = self.parse_arch(arch)
        super().__init__(
            len(arch['stage_blocks']),
            out_indices,
            frozen_stages,
            norm_eval,
            init_cfg=init_cfg)
        self.arch = arch
        layers = arch['stage_blocks']
        channels = arch['channels']
        self.deploy = deploy
        self.with_cp = with_cp

        base = channels[0]
        stem_cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = nn.ModuleList([
            ConvModule(in_channels, base, 3, stride=2, padding=1, **stem_cfg),
            ConvModule(base, base, 3, padding=1, groups=base, **stem_cfg),
            ConvModule(base, base, 1, **stem_cfg),
            ConvModule(
                base, base, 3, stride=2, padding=1, groups=base, **stem_cfg),
        ])
        dpr = torch.linspace(0, drop_path_rate, sum(layers)).tolist()
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, num_blocks in enumerate(layers):
            self.stages.append(
                RepLKNetStage(
                    channels[i],
                    num_blocks,
                    self.arch['large_kernels'][i],
                    self.arch['small_kernel'],
                    dpr[sum(layers[:i]):sum(layers[:i + 1])],
                    self.arch['dw_ratio'],
                    self.arch['ffn_ratio'],
                    norm_cfg,
                    act_cfg,
                    ffn_act_cfg,
                    self.arch['norm_intermediate_features'],
                    impl=impl,
                    with_cp=with_cp,
                    deploy=deploy))
            if i < self.num_stages - 1:
                nxt = channels[i + 1]
                self.transitions.append(
                    nn.Sequential(
                        ConvModule(channels[i], nxt, 1, **stem_cfg),
                        ConvModule(
                            nxt,
                            nxt,
                            3,
                            stride=2,
                            padding=1,
                            groups=nxt,
                            **stem_cfg)))
        self._freeze_stages()

    def forward(self, x):
        for layer in self.stem:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(stage.norm(x))
            if i < self.num_stages - 1:
                x = self.transitions[i](x)
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.stem
        for i in range(self.frozen_stages):
            if i > 0:
                yield self.transitions[i - 1]
            yield self.stages[i]
