"""ShiftWiseNet (SW): a ConvNeXt-style network whose token mixer is a
shift-wise convolution, as a dense-prediction backbone.

Li et al., "ShiftwiseConv: Small Convolutional Kernel with Large Kernel
Effect", CVPR 2025 (official ``ShiftWise_v2`` in lidc54/shift-wiseConv).

Module names follow the official model (``downsample_layers``, ``stages``,
per-output ``norm{i}`` of the official downstream version) so converted
ImageNet checkpoints load by key identity.
"""
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmreplk.ops import check_impl
from mmreplk.registry import MODELS
from ..layers import (GRN, LayerNorm2d, SEBlock, ShiftWiseConv2d,
                      ToChannelsFirst, ToChannelsLast)
from .convnext_layout import ConvNeXtLayoutBackbone
from .layer_depth import convnext_layer_depth


class ShiftWiseBlock(BaseModule):
    """Shift-wise conv, BN, SE, Linear(4x)-GELU-GRN-Linear, BN, layer scale,
    drop path, identity shortcut (the official ``Block`` with SE).

    Args:
        channels (int): Channels.
        large_kernel (int): Emulated kernel size.
        small_kernel (int): Real kernel size.
        drop_path (float): Stochastic depth rate.
        layer_scale_init_value (float): Initial layer scale; <= 0 disables.
        ghost_ratio (float): Channels bypassing the shift-wise conv.
        n_path (int): Parallel small convs of the shift-wise conv.
        n_rep (int): Shift repetitions of the shift-wise conv.
        norm_cfg (dict): BatchNorm-family norm config.
        impl (str): Back end of the shift-wise ops.
        with_cp (bool): Activation checkpointing.
        deploy (bool): Shift-wise conv in deploy form.
        deploy_form (str): 'shift' or 'large_kernel'.
    """

    def __init__(self,
                 channels,
                 large_kernel,
                 small_kernel,
                 drop_path,
                 layer_scale_init_value,
                 ghost_ratio,
                 n_path,
                 n_rep,
                 norm_cfg,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 deploy_form='shift',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.large_kernel = ShiftWiseConv2d(
            channels,
            large_kernel,
            small_kernel,
            n_path=n_path,
            n_rep=n_rep,
            ghost_ratio=ghost_ratio,
            norm_cfg=norm_cfg,
            impl=impl,
            deploy=deploy,
            deploy_form=deploy_form)
        self.norm = build_norm_layer(norm_cfg, channels)[1]
        self.se = SEBlock(channels, channels // 4)
        self.pwconv1 = nn.Sequential(ToChannelsLast(),
                                     nn.Linear(channels, 4 * channels))
        self.act = nn.Sequential(nn.GELU(), GRN(4 * channels))
        self.pwconv2 = nn.Sequential(
            nn.Linear(4 * channels, channels, bias=False), ToChannelsFirst(),
            build_norm_layer(norm_cfg, channels)[1])
        self.gamma = nn.Parameter(
            layer_scale_init_value * torch.ones(channels)) \
            if layer_scale_init_value > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def forward(self, x):

        def _inner_forward(x):
            out = self.se(self.norm(self.large_kernel(x)))
            out = self.pwconv2(self.act(self.pwconv1(out)))
            if self.gamma is not None:
                out = self.gamma.view(1, -1, 1, 1) * out
            return x + self.drop_path(out)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class ShiftWiseNet(ConvNeXtLayoutBackbone):
    """ShiftWiseNet backbone for mmseg / mmdet.

    Args:
        arch (str | dict): 'tiny', 'small', 'base' or a dict with
            ``stage_blocks``, ``channels`` and ``large_kernels`` (the
            emulated kernel size of each stage; 4 ints each) and optional
            ``small_kernel`` (default 3), see
            :meth:`StagedBackbone.parse_arch`.
        in_channels (int): Image channels.
        out_indices (Sequence[int]): Stages to output (each through its own
            channels-first LayerNorm ``norm{i}``, as the official downstream
            model).
        frozen_stages (int): -1: none; 0: the stem; i: the stem and stages
            0..i-1 with their downsampling layers.
        norm_eval (bool): Keep BatchNorm layers in eval mode in training.
        norm_cfg (dict): BatchNorm-family norm of the blocks and shift-wise
            convs (official: SyncBN). Defaults to ``dict(type='BN')``.
        ghost_ratio (float): Channels bypassing each shift-wise conv.
        n_path (int): Parallel small convs per shift-wise conv.
        n_rep (int): Shift repetitions per shift-wise conv.
        drop_path_rate (float): Stochastic depth, linear over blocks.
        layer_scale_init_value (float): Initial layer scale (official
            downstream configs: 1.0).
        impl (str): Back end of both ops of the shift-wise convs:
            ``add_shift`` (training and ``'shift'`` deploy form) and
            ``depthwise_conv2d`` (``'large_kernel'`` deploy form). Only the
            names both ops have are accepted: ``'auto'`` (measured per
            input), ``'torch'`` (the PyTorch reference) and ``'triton'``
            (the Triton kernels; CUDA tensors).
        with_cp (bool): Activation checkpointing per block.
        deploy (bool): Build the shift-wise convs in deploy form.
        deploy_form (str): 'shift' or 'large_kernel' (see
            :class:`~mmreplk.models.layers.ShiftWiseConv2d`).
        init_cfg (dict | list[dict], optional): Initialisation config,
            applied by :meth:`init_weights` after the official one.
    """
    arch_settings = {
        'tiny':
        dict(
            stage_blocks=[3, 3, 18, 3],
            channels=[80, 160, 320, 640],
            large_kernels=[51, 49, 47, 13],
            small_kernel=3),
        'small':
        dict(
            stage_blocks=[3, 3, 27, 3],
            channels=[96, 192, 384, 768],
            large_kernels=[51, 49, 47, 13],
            small_kernel=3),
        'base':
        dict(
            stage_blocks=[3, 3, 27, 3],
            channels=[128, 256, 512, 1024],
            large_kernels=[51, 49, 47, 13],
            small_kernel=3),
    }
    arch_required_keys = ('large_kernels', )
    arch_defaults = dict(small_kernel=3)
    arch_per_stage_keys = ('stage_blocks', 'channels', 'large_kernels')

    # Trunc-normal Conv2d / Linear weights, zero biases, as officially.
    official_init = True

    def __init__(self,
                 arch='tiny',
                 in_channels=3,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 norm_cfg=dict(type='BN'),
                 ghost_ratio=0.23,
                 n_path=2,
                 n_rep=4,
                 drop_path_rate=0.0,
                 layer_scale_init_value=1e-6,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 deploy_form='shift',
                 init_cfg=None):
        arch = self.parse_arch(arch)
        check_impl(
            impl, type(self).__name__, ops=('add_shift', 'depthwise_conv2d'))
        super().__init__(
            4, out_indices, frozen_stages, norm_eval, init_cfg=init_cfg)
        self.arch, self.deploy = arch, deploy
        dims = arch['channels']
        self.out_channels = list(dims)
        self.downsample_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels, dims[0] // 2, 3, stride=2, padding=1),
                LayerNorm2d(dims[0] // 2), nn.GELU(),
                nn.Conv2d(dims[0] // 2, dims[0], 3, stride=2, padding=1),
                LayerNorm2d(dims[0]))
        ])
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(
                    nn.Conv2d(dims[i], dims[i + 1], 3, stride=2, padding=1),
                    LayerNorm2d(dims[i + 1])))
        rates = torch.linspace(0, drop_path_rate, sum(arch['stage_blocks']))
        self.stages = nn.ModuleList()
        cur = 0
        for i, depth in enumerate(arch['stage_blocks']):
            self.stages.append(
                nn.Sequential(*[
                    ShiftWiseBlock(
                        dims[i],
                        arch['large_kernels'][i],
                        arch['small_kernel'],
                        rates[cur + j].item(),
                        layer_scale_init_value,
                        ghost_ratio,
                        n_path,
                        n_rep,
                        norm_cfg,
                        impl=impl,
                        with_cp=with_cp,
                        deploy=deploy,
                        deploy_form=deploy_form) for j in range(depth)
                ]))
            cur += depth
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(dims[i]))
        self._freeze_stages()

    def get_layer_depth(self, param_name, num_layers):
        """Layer id for layer-wise lr decay, the official ConvNeXt-style
        rule (:func:`~.layer_depth.convnext_layer_depth`): stem 0, stage 0
        -> 1, stage 1 -> 2, stage 2 block j -> 3 + j // 3, stage 3 ->
        num_layers; the rest (output norms) num_layers + 1."""
        return convnext_layer_depth(param_name, num_layers)
