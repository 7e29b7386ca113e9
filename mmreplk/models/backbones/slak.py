"""SLaK: a ConvNeXt macro design whose depthwise kernels (up to 51x51) are
each decomposed into two sparse strips and a small kernel, as a
dense-prediction backbone.

Liu et al., "More ConvNets in the 2020s: Scaling up Kernels Beyond 51x51
using Sparsity", ICLR 2023 (official code: VITA-Group/SLaK).

Module names follow the official downstream model (``downsample_layers``,
``stages``, per-output ``norm{i}``; inside a block ``large_kernel``,
``norm``, ``pwconv1``, ``pwconv2``, ``gamma``), so converted checkpoints
differ only in the large kernel's branch names (see
``tools/model_converters/slak_official.py``). Sparsity lives in the weights
(exact zeros); :class:`~mmreplk.engine.hooks.SparseWeightHook` keeps it
during fine-tuning.
"""
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule

from mmreplk.ops import check_impl
from mmreplk.registry import MODELS
from ..layers import DecomposedLargeKernelConv, LayerNorm2d
from ..layers.decomposed_kernel import check_deploy_form
from .convnext_layout import ConvNeXtLayoutBackbone
from .layer_depth import convnext_layer_depth

# Every released SLaK widens ConvNeXt's channels by 1.3, truncated:
# int(96 * 1.3) = 124, int(192 * 1.3) = 249, ...
WIDTH_FACTOR = 1.3
CONVNEXT_CHANNELS = dict(
    T=(96, 192, 384, 768), S=(96, 192, 384, 768), B=(128, 256, 512, 1024))
CONVNEXT_DEPTHS = dict(T=(3, 3, 9, 3), S=(3, 3, 27, 3), B=(3, 3, 27, 3))


def _preset(name):
    return dict(
        stage_blocks=list(CONVNEXT_DEPTHS[name]),
        channels=[int(c * WIDTH_FACTOR) for c in CONVNEXT_CHANNELS[name]],
        large_kernels=[51, 49, 47, 13],
        small_kernel=5)


class SLaKBlock(BaseModule):
    """Decomposed large kernel, channels-last LayerNorm, Linear (4x), GELU,
    Linear, layer scale, drop path, identity shortcut (the official
    ``Block``).

    Args:
        channels (int): Channels.
        large_kernel (int): Large kernel size ``K``.
        small_kernel (int): Strip width and small kernel size ``s``.
        drop_path (float): Stochastic depth rate.
        layer_scale_init_value (float): Initial layer scale; <= 0 disables.
        norm_cfg (dict, optional): BatchNorm-family norm of the three
            large-kernel branches; None: no norm (official ``bn=False``).
        impl (str): Back end of the depthwise op.
        with_cp (bool): Activation checkpointing.
        deploy (bool): Large kernel in deploy form.
        deploy_form (str): 'decomposed' or 'large_kernel'.
    """

    def __init__(self,
                 channels,
                 large_kernel,
                 small_kernel,
                 drop_path,
                 layer_scale_init_value,
                 norm_cfg,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 deploy_form='decomposed',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.large_kernel = DecomposedLargeKernelConv(
            channels,
            large_kernel,
            small_kernel,
            norm_cfg=norm_cfg,
            impl=impl,
            deploy=deploy,
            deploy_form=deploy_form)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, 4 * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * channels, channels)
        self.gamma = nn.Parameter(
            layer_scale_init_value * torch.ones(channels)) \
            if layer_scale_init_value > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def forward(self, x):

        def _inner_forward(x):
            out = self.large_kernel(x).permute(0, 2, 3, 1)
            out = self.pwconv2(self.act(self.pwconv1(self.norm(out))))
            if self.gamma is not None:
                out = self.gamma * out
            return x + self.drop_path(out.permute(0, 3, 1, 2))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class SLaK(ConvNeXtLayoutBackbone):
    """SLaK backbone for mmseg / mmdet.

    Args:
        arch (str | dict): ``'T'``, ``'S'``, ``'B'`` (the released models:
            ConvNeXt-T/S/B depths, channels x 1.3, kernels 51/49/47/13 with
            5) or a dict with ``stage_blocks``, ``channels`` and
            ``large_kernels`` (4 odd ints) and optional ``small_kernel``
            (default 5), see :meth:`StagedBackbone.parse_arch`.
        in_channels (int): Image channels.
        out_indices (Sequence[int]): Stages to output, each through its own
            channels-first LayerNorm ``norm{i}`` (official downstream model).
        frozen_stages (int): -1: none; 0: the stem; i: the stem and stages
            0..i-1 with their downsampling layers.
        norm_eval (bool): Keep the branch BatchNorms in eval mode in
            training.
        norm_cfg (dict, optional): BatchNorm-family norm of the three
            branches of every large kernel (official downstream: SyncBN);
            None: branches without norm (official ImageNet ``bn=False``).
        drop_path_rate (float): Stochastic depth, linear over blocks.
        layer_scale_init_value (float): Initial layer scale (official
            downstream configs: 1.0; <= 0 disables it).
        impl (str): Back end of :func:`mmreplk.ops.depthwise_conv2d`, which
            runs every strip, small kernel and deploy-form kernel
            (``'auto'``, ``'torch'``, ``'cpu'``, ``'fft'``, ``'triton'``).
        with_cp (bool): Activation checkpointing per block.
        deploy (bool): Build the large kernels in deploy form.
        deploy_form (str): ``'decomposed'`` (two strips per layer, the small
            kernel folded into the vertical one) or ``'large_kernel'`` (one
            ``K x K`` kernel); see
            :class:`~mmreplk.models.layers.DecomposedLargeKernelConv`.
        init_cfg (dict | list[dict], optional): Initialisation config,
            applied by :meth:`init_weights` after the official one.
    """
    arch_settings = {name: _preset(name) for name in ('T', 'S', 'B')}
    arch_required_keys = ('large_kernels', )
    arch_defaults = dict(small_kernel=5)
    arch_per_stage_keys = ('stage_blocks', 'channels', 'large_kernels')

    # Trunc-normal Conv2d / Linear weights, zero biases, as officially.
    official_init = True

    def __init__(self,
                 arch='T',
                 in_channels=3,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 norm_cfg=dict(type='BN'),
                 drop_path_rate=0.0,
                 layer_scale_init_value=1e-6,
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 deploy_form='decomposed',
                 init_cfg=None):
        arch = self.parse_arch(arch)
        check_impl(impl, type(self).__name__, ops=('depthwise_conv2d', ))
        check_deploy_form(deploy_form)
        super().__init__(
            4, out_indices, frozen_stages, norm_eval, init_cfg=init_cfg)
        self.arch, self.deploy = arch, deploy
        self.deploy_form = deploy_form
        dims = arch['channels']
        self.out_channels = list(dims)
        self.downsample_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels, dims[0], 4, stride=4),
                LayerNorm2d(dims[0]))
        ])
        for i in range(3):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(dims[i]),
                    nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)))
        # On the CPU whatever the default device (shape-only builds on
        # 'meta' included): these are Python floats.
        rates = torch.linspace(
            0, drop_path_rate, sum(arch['stage_blocks']),
            device='cpu').tolist()
        self.stages = nn.ModuleList()
        cur = 0
        for i, depth in enumerate(arch['stage_blocks']):
            self.stages.append(
                nn.Sequential(*[
                    SLaKBlock(
                        dims[i],
                        arch['large_kernels'][i],
                        arch['small_kernel'],
                        rates[cur + j],
                        layer_scale_init_value,
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

    def switch_to_deploy(self, deploy_form=None):
        """Convert every large kernel to the ``deploy_form`` inference form
        (default: the backbone's ``deploy_form``), see
        :meth:`StagedBackbone.switch_to_deploy`. A no-op on a deployed
        backbone."""
        if self.deploy:
            return
        if deploy_form is not None:
            check_deploy_form(deploy_form)
            self.deploy_form = deploy_form
        for module in self.modules():
            if isinstance(module, DecomposedLargeKernelConv):
                module.deploy_form = self.deploy_form
        super().switch_to_deploy()

    def get_layer_depth(self, param_name, num_layers, decay_type='layer_wise'):
        """Layer id for lr decay, the official SLaK rules
        (:func:`~.layer_depth.convnext_layer_depth`): ``'stage_wise'``
        (segmentation: downsampling layers 0, stage s -> s + 1) or
        ``'layer_wise'`` (detection: stem 0, stage 0 -> 1, stage 1 -> 2,
        stage 2 block j -> 3 + j // 3, stage 3 -> num_layers); the output
        norms num_layers + 1, as the neck and heads."""
        return convnext_layer_depth(param_name, num_layers, decay_type)
