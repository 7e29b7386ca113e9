"""UniRepLKNet: large depthwise kernels with dilated re-parameterisation,
SE and a GRN ConvFFN, as a dense-prediction backbone.

Ding et al., "UniRepLKNet: A Universal Perception Large-Kernel ConvNet for
Audio, Video, Point Cloud, Time-Series and Image Recognition", CVPR 2024
(official code: AILab-CVC/UniRepLKNet).

Module names follow the official model (``downsample_layers``,
``stages.{i}.{j}``, ``dwconv``, ``norm``, ``se``, ``pwconv1``, ``act``,
``pwconv2``, ``gamma``, the output norms ``norm0``..``norm3`` of the official
dense backbone), in both forms, so official checkpoints load by key
identity.
"""
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath

from mmreplk.ops import check_impl
from mmreplk.registry import MODELS
from ..layers import (GRN, DilatedReparamBlock, LayerNorm2d, RepModule,
                      SEBlock, ToChannelsFirst, ToChannelsLast)
from ..layers.dilated_reparam import DILATED_BRANCHES
from ..layers.reparam_base import (build_deploy_conv, build_foldable_norm,
                                   fold_batch_norm)
from .convnext_layout import ConvNeXtLayoutBackbone
from .layer_depth import convnext_layer_depth

#: Block kernel sizes: 0 is no token mixer (identity), 3 and 5 a plain
#: depthwise conv + BN, the larger ones a :class:`DilatedReparamBlock`.
PLAIN_KERNELS = (3, 5)
BLOCK_KERNELS = (0, ) + PLAIN_KERNELS + tuple(
    sorted(k for k in DILATED_BRANCHES if k >= 7))


def default_kernel_sizes(stage_blocks):
    """The official per-block kernel sizes of a depth preset: stage 0 all
    3, stages 1 and 3 all 13, stage 2 all 13 for (2, 2, 6, 2) and
    (2, 2, 8, 2), (13, 3) repeated for (3, 3, 18, 3) and (13, 3, 3)
    repeated for (3, 3, 27, 3).

    Raises:
        ValueError: Other depths have no official table.
    """
    depths = tuple(stage_blocks)
    period = {
        (2, 2, 6, 2): 1,
        (2, 2, 8, 2): 1,
        (3, 3, 18, 3): 2,
        (3, 3, 27, 3): 3
    }.get(depths)
    if period is None:
        raise ValueError(
            f'UniRepLKNet has official default kernel sizes only for the '
            f'stage_blocks (2, 2, 6, 2), (2, 2, 8, 2), (3, 3, 18, 3) and '
            f'(3, 3, 27, 3), got {depths}; give arch["kernel_sizes"] (one '
            'list of per-block kernel sizes per stage).')
    stage2 = ([13] + [3] * (period - 1)) * (depths[2] // period)
    return [[3] * depths[0], [13] * depths[1], stage2, [13] * depths[3]]


def check_block_kernel(kernel_size):
    if kernel_size not in BLOCK_KERNELS:
        raise ValueError(
            f'UniRepLKNet block kernel_size must be one of {BLOCK_KERNELS} '
            '(0: identity, 3/5: plain depthwise conv, >= 7: Dilated Reparam '
            f'Block), got {kernel_size!r}.')


def _filled_linear(weight, bias):
    """``nn.Linear`` holding ``weight`` and ``bias`` (built on the meta
    device: no initialisation to overwrite)."""
    linear = nn.Linear(weight.shape[1], weight.shape[0], device='meta')
    linear.weight = nn.Parameter(weight.detach().clone())
    linear.bias = nn.Parameter(bias.detach().clone())
    return linear


class UniRepLKNetBlock(RepModule):
    """Depthwise token mixer, BN, SE, Linear(4x)-GELU-GRN-Linear, BN, layer
    scale, drop path, identity shortcut (official ``UniRepLKNetBlock``).

    Deploy form (official ``reparameterize``): the mixer's BN folded into
    the depthwise conv (a :class:`DilatedReparamBlock` is first folded into
    its own single conv), and the GRN bias, the trailing BN and the layer
    scale folded into the second Linear, which gains a bias.

    Args:
        channels (int): Channels.
        kernel_size (int): Mixer kernel: 0 (identity), 3 or 5 (plain
            depthwise conv) or 7..17 (odd; Dilated Reparam Block).
        drop_path (float): Stochastic depth rate.
        layer_scale_init_value (float): Initial layer scale; 0 or None
            disables it.
        norm_cfg (dict): BatchNorm-family norm (folded at deploy).
        impl (str): Back end of the large-kernel depthwise op.
        with_cp (bool): Activation checkpointing of the whole block.
        deploy (bool): Build the inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels,
                 kernel_size,
                 drop_path=0.,
                 layer_scale_init_value=1e-6,
                 norm_cfg=dict(type='BN'),
                 impl='auto',
                 with_cp=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        check_block_kernel(kernel_size)
        name = type(self).__name__
        self.channels, self.kernel_size = channels, kernel_size
        self.with_cp = with_cp
        hidden = 4 * channels
        if kernel_size == 0:
            self.dwconv = nn.Identity()
        elif kernel_size in PLAIN_KERNELS:
            self.dwconv = nn.Conv2d(
                channels,
                channels,
                kernel_size,
                padding=kernel_size // 2,
                groups=channels,
                bias=deploy)
        else:
            self.dwconv = DilatedReparamBlock(
                channels,
                kernel_size,
                norm_cfg=norm_cfg,
                impl=impl,
                deploy=deploy)
        self.norm = nn.Identity() if deploy or kernel_size == 0 else \
            build_foldable_norm(name, norm_cfg, channels)
        self.se = SEBlock(channels, channels // 4)
        self.pwconv1 = nn.Sequential(ToChannelsLast(),
                                     nn.Linear(channels, hidden))
        self.act = nn.Sequential(nn.GELU(), GRN(hidden, use_bias=not deploy))
        if deploy:
            self.pwconv2 = nn.Sequential(
                nn.Linear(hidden, channels), ToChannelsFirst())
            self.gamma = None
        else:
            self.pwconv2 = nn.Sequential(
                nn.Linear(hidden, channels, bias=False), ToChannelsFirst(),
                build_foldable_norm(name, norm_cfg, channels))
            self.gamma = nn.Parameter(
                layer_scale_init_value * torch.ones(channels)) \
                if layer_scale_init_value is not None and \
                layer_scale_init_value > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()

    def residual(self, x):
        """The residual branch (everything but drop path and shortcut)."""
        out = self.se(self.norm(self.dwconv(x)))
        out = self.pwconv2(self.act(self.pwconv1(out)))
        if self.gamma is not None:
            out = self.gamma.view(1, -1, 1, 1) * out
        return out

    def forward(self, x):

        def _inner_forward(x):
            return x + self.drop_path(self.residual(x))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)

    def _mixer_kernel_bias(self):
        """Kernel and bias of the eval-mode depthwise conv + BN."""
        if isinstance(self.dwconv, DilatedReparamBlock):
            kernel, bias = self.dwconv.fused_kernel_bias()
        else:
            kernel = self.dwconv.weight
            bias = self.dwconv.bias if self.dwconv.bias is not None else \
                kernel.new_zeros(self.channels)
        if self.deploy:
            return kernel, bias
        scale, shift = fold_batch_norm(self.norm)
        return kernel * scale.reshape(-1, 1, 1, 1), bias * scale + shift

    def _ffn_weight_bias(self):
        """Weight and bias of the second Linear with the GRN bias, the BN
        and the layer scale folded in."""
        linear = self.pwconv2[0]
        if self.deploy:
            return linear.weight, linear.bias
        scale, shift = fold_batch_norm(self.pwconv2[2])
        # GRN's "+ beta" reaches the output through the Linear.
        bias = linear.weight @ self.act[1].beta.reshape(-1)
        if linear.bias is not None:
            bias = bias + linear.bias
        if self.gamma is not None:
            scale, shift = scale * self.gamma, shift * self.gamma
        return linear.weight * scale[:, None], bias * scale + shift

    def fused_kernel_bias(self):
        """Deploy-form tensors equal to the eval-mode block: the depthwise
        kernel and bias (absent for ``kernel_size=0``), then the second
        Linear's weight and bias."""
        mixer = self._mixer_kernel_bias() if self.kernel_size else ()
        return tuple(mixer) + tuple(self._ffn_weight_bias())

    def training_attrs(self):
        names = ('pwconv2', 'gamma')
        if self.kernel_size:
            names += ('norm', )
        if self.kernel_size in PLAIN_KERNELS:
            names += ('dwconv', )
        return names

    def _install_deploy_form(self, fused):
        if self.kernel_size:
            kernel, bias = fused[:2]
            if self.kernel_size not in PLAIN_KERNELS:
                # Its branches are folded by its own protocol; its single
                # conv then also takes this block's BN.
                self.dwconv.switch_to_deploy()
                with torch.no_grad():
                    self.dwconv.lk_origin.weight.copy_(kernel)
                    self.dwconv.lk_origin.bias.copy_(bias)
            else:
                k = self.kernel_size
                self.dwconv = build_deploy_conv(self.channels, self.channels,
                                                k, 1, k // 2, 1, self.channels,
                                                kernel, bias)
            self.norm = nn.Identity()
        weight, bias = fused[-2:]
        self.pwconv2 = nn.Sequential(
            _filled_linear(weight, bias), ToChannelsFirst())
        self.act[1].beta = None
        self.gamma = None


@MODELS.register_module()
class UniRepLKNet(ConvNeXtLayoutBackbone):
    """UniRepLKNet backbone for mmseg / mmdet.

    Args:
        arch (str | dict): ``'A'``, ``'F'``, ``'P'``, ``'N'``, ``'T'``,
            ``'S'``, ``'B'``, ``'L'``, ``'XL'`` or a dict with
            ``stage_blocks``, ``channels`` and optionally ``kernel_sizes``
            (one list of per-block kernel sizes per stage; by default the
            official table of the depths, :func:`default_kernel_sizes`),
            see :meth:`StagedBackbone.parse_arch`.
        in_channels (int): Image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages to output, each through its own
            channels-first LayerNorm ``norm{i}`` (the official dense
            backbone). Defaults to (0, 1, 2, 3).
        frozen_stages (int): -1: none; 0: the stem; i: the stem and stages
            0..i-1 with their downsampling layers. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode in training.
            Defaults to False.
        norm_cfg (dict): BatchNorm-family norm of the blocks and Dilated
            Reparam Blocks (official dense configs: SyncBN). Defaults to
            BN.
        drop_path_rate (float): Stochastic depth, linear over all blocks.
            Defaults to 0.
        layer_scale_init_value (float): Initial layer scale; 0 or None
            disables it. Defaults to 1e-6.
        with_cp (bool): Activation checkpointing per block. Defaults to
            False.
        deploy (bool): Build the inference form (official ``deploy=True``).
            Defaults to False.
        impl (str): Back end of the large-kernel depthwise op
            (:data:`mmreplk.ops.DEPTHWISE_CONV_IMPLS`). Defaults to 'auto'.
        init_cfg (dict | list[dict], optional): e.g. ``dict(type=
            'Pretrained', checkpoint=...)`` with a checkpoint converted by
            ``tools/model_converters/unireplknet_official.py``. Without one
            the layers keep PyTorch's default initialisation, as the
            official dense backbone.
    """

    arch_settings = {
        name:
        dict(
            stage_blocks=list(depths),
            channels=[width * m for m in (1, 2, 4, 8)],
            kernel_sizes=default_kernel_sizes(depths))
        for name, depths, width in (
            ('A', (2, 2, 6, 2), 40),
            ('F', (2, 2, 6, 2), 48),
            ('P', (2, 2, 6, 2), 64),
            ('N', (2, 2, 8, 2), 80),
            ('T', (3, 3, 18, 3), 80),
            ('S', (3, 3, 27, 3), 96),
            ('B', (3, 3, 27, 3), 128),
            ('L', (3, 3, 27, 3), 192),
            ('XL', (3, 3, 27, 3), 256),
        )
    }
    arch_defaults = dict(kernel_sizes=None)

    @classmethod
    def parse_arch(cls, arch):
        """:meth:`StagedBackbone.parse_arch`, with ``kernel_sizes`` filled
        in from the official table and checked (one entry per block, each
        in :data:`BLOCK_KERNELS`)."""
        arch = super().parse_arch(arch)
        if arch['kernel_sizes'] is None:
            arch['kernel_sizes'] = default_kernel_sizes(arch['stage_blocks'])
        kernels = arch['kernel_sizes']
        if len(kernels) != len(arch['stage_blocks']) or any(
                not hasattr(k, '__len__') or len(k) != n
                for k, n in zip(kernels, arch['stage_blocks'])):
            raise ValueError(
                'UniRepLKNet arch: kernel_sizes needs one list per stage '
                f'with one kernel size per block (stage_blocks '
                f'{arch["stage_blocks"]}); got {kernels!r}.')
        for stage in kernels:
            for k in stage:
                check_block_kernel(k)
        arch['kernel_sizes'] = [list(k) for k in kernels]
        return arch

    def __init__(self,
                 arch='T',
                 in_channels=3,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 norm_cfg=dict(type='BN'),
                 drop_path_rate=0.,
                 layer_scale_init_value=1e-6,
                 with_cp=False,
                 deploy=False,
                 impl='auto',
                 init_cfg=None):
        arch = self.parse_arch(arch)
        check_impl(impl, type(self).__name__, ops=('depthwise_conv2d', ))
        super().__init__(
            4, out_indices, frozen_stages, norm_eval, init_cfg=init_cfg)
        self.arch, self.deploy = arch, deploy
        dims = arch['channels']
        #: Channels of the outputs, in ``out_indices`` order.
        self.out_channels = [dims[i] for i in self.out_indices]
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
        rates = torch.linspace(
            0, drop_path_rate, sum(arch['stage_blocks']),
            device='cpu').tolist()
        self.stages = nn.ModuleList()
        cur = 0
        for i, kernels in enumerate(arch['kernel_sizes']):
            self.stages.append(
                nn.Sequential(*[
                    UniRepLKNetBlock(
                        dims[i],
                        k,
                        drop_path=rates[cur + j],
                        layer_scale_init_value=layer_scale_init_value,
                        norm_cfg=norm_cfg,
                        impl=impl,
                        with_cp=with_cp,
                        deploy=deploy) for j, k in enumerate(kernels)
                ]))
            cur += len(kernels)
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(dims[i]))
        self._freeze_stages()

    def get_layer_depth(self, param_name, num_layers):
        """Layer id for layer-wise lr decay, the official rule of the
        UniRepLKNet dense recipes (:func:`convnext_layer_depth`: stem 0,
        stage 0 1, stage 1 2, stage 2 block ``j`` ``3 + j // 3``, stage 3
        ``num_layers``, the output norms ``num_layers + 1``)."""
        return convnext_layer_depth(param_name, num_layers)
