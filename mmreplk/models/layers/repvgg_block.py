"""RepVGG blocks (Ding et al., CVPR 2021) as in the official OREPA repo
(``blocks_repvgg.py``): ``RepVGGBlock`` and ``RepVGGBlock_OREPA``, whose kxk
branch is the online re-parameterised :class:`OREPA_3x3_RepVGG`.

Training: ``act(se(rbr_dense(x) + rbr_1x1(x) + rbr_identity(x)))`` with the
identity branch a BN, present only when ``in == out`` and ``stride == 1``.
Deploy: ``act(se(rbr_reparam(x)))``.
"""
import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_arg_checks import (check_conv_channels, check_odd_kernel,
                              check_stride, resolve_padding)
from .conv_bn import ConvBNBranch
from .conv_bn_fusion import fuse_conv_bn
from .deploy_conv import build_deploy_conv
from .foldable_norm import build_foldable_norm
from .kernel_transforms import identity_kernel, pad_kernel_to
from .orepa_3x3_repvgg import OREPA_3x3_RepVGG
from .squeeze_excitation import SEBlock


@MODELS.register_module()
class RepVGGBlock(RepModule):
    """RepVGG block: kxk conv-BN + 1x1 conv-BN (+ identity BN).

    Training keys: ``rbr_dense.conv.weight``, ``rbr_dense.bn.*``,
    ``rbr_1x1.conv.weight``, ``rbr_1x1.bn.*``, ``rbr_identity.*`` (if
    present), ``se.*`` (if ``use_se``). Deploy keys: ``rbr_reparam.*``
    (+ ``se.*``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size >= 3 (official: 3).
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Must be "same" (None or ``k // 2``).
        dilation (int): Must be 1 (the official training branches are not
            dilated).
        groups (int): Groups. Defaults to 1.
        norm_cfg (dict): BatchNorm-family norm of every branch.
        act_cfg (dict, optional): Activation after the sum (and SE); None
            for none. The official block always applies ReLU: pass
            ``dict(type='ReLU')`` for that. Defaults to None.
        use_se (bool): Squeeze-excitation (``out // 16`` neurons) before
            the activation; it stays in the deploy form.
        deploy (bool): Build the single-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=None, dilation=1, groups=1,
                 norm_cfg=dict(type='BN'), act_cfg=None, use_se=False,
                 deploy=False, init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, minimum=3)
        check_stride(name, stride)
        if dilation != 1:
            raise ValueError(f'{name} supports only dilation=1 (as the '
                             f'official training branches), got '
                             f'{dilation!r}; use OREPA for dilated convs.')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = resolve_padding(name, kernel_size, padding,
                                       require_same=True)
        self.dilation, self.groups = 1, groups
        self.act = nn.Identity() if act_cfg is None else \
            build_activation_layer(act_cfg)
        if use_se and out_channels < 16:
            raise ValueError(f'{name}: use_se needs out_channels >= 16 (the '
                             f'SE bottleneck is out_channels // 16 wide), '
                             f'got {out_channels}; set use_se=False.')
        self.se = SEBlock(out_channels, out_channels // 16) if use_se \
            else nn.Identity()
        if deploy:
            self.rbr_reparam = self._deploy_conv()
            return
        self.rbr_identity = build_foldable_norm(name, norm_cfg, in_channels) \
            if in_channels == out_channels and stride == 1 else None
        self.rbr_dense = self._build_dense(norm_cfg)
        self.rbr_1x1 = ConvBNBranch(in_channels, out_channels, 1, stride, 0,
                                    groups=groups, norm_cfg=norm_cfg)

    def _build_dense(self, norm_cfg):
        return ConvBNBranch(self.in_channels, self.out_channels,
                            self.kernel_size, self.stride, self.padding,
                            groups=self.groups, norm_cfg=norm_cfg)

    def _dense_kernel_bias(self):
        return self.rbr_dense.fused_kernel_bias()

    def _deploy_conv(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels,
                                 self.kernel_size, self.stride, self.padding,
                                 1, self.groups, kernel, bias)

    def forward(self, x):
        if self.deploy:
            return self.act(self.se(self.rbr_reparam(x)))
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return self.act(self.se(out))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode branches as one kxk conv."""
        kernel, bias = self._dense_kernel_bias()
        k1, b1 = self.rbr_1x1.fused_kernel_bias()
        kernel, bias = kernel + pad_kernel_to(k1, self.kernel_size), bias + b1
        if self.rbr_identity is not None:
            identity = identity_kernel(
                self.in_channels, self.in_channels // self.groups,
                self.kernel_size, dtype=kernel.dtype, device=kernel.device)
            kid, bid = fuse_conv_bn(identity, self.rbr_identity)
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias

    def switch_to_deploy(self):
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.fused_kernel_bias()
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity
        self.rbr_reparam = self._deploy_conv(kernel, bias)
        self.deploy = True


@MODELS.register_module()
class RepVGGBlock_OREPA(RepVGGBlock):
    """RepVGG block whose kxk branch is :class:`OREPA_3x3_RepVGG` (six
    linear branches squeezed online; the OREPA-VGG block of the paper).

    Training keys: ``rbr_dense.<OREPA_3x3_RepVGG keys>``, ``rbr_1x1.*``,
    ``rbr_identity.*`` (if present), ``se.*`` (if ``use_se``). Deploy keys:
    ``rbr_reparam.*`` (+ ``se.*``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size >= 3 (official: 3).
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Must be "same" (None or ``k // 2``).
        dilation (int): Must be 1.
        groups (int): Must be 1 (official OREPA branch is dense).
        internal_channels_1x1_3x3 (int, optional): Width of the dense
            branch's 1x1-kxk path; None: ``in_channels``.
        norm_cfg (dict): BatchNorm-family norm of every branch.
        act_cfg (dict, optional): Activation after the sum (and SE); None
            for none. The official default is ReLU: pass
            ``dict(type='ReLU')``. Defaults to None.
        use_se (bool): Squeeze-excitation before the activation.
        recompute_kernel (bool, optional): Regenerate the OREPA 3x3 kernel
            in the backward pass instead of storing its intermediates (same
            results, far less training memory, more time); None: the
            measured per-device default (see
            :mod:`mmreplk.models.layers.kernel_recompute`).
        deploy (bool): Build the single-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=None, dilation=1, groups=1,
                 internal_channels_1x1_3x3=None, norm_cfg=dict(type='BN'),
                 act_cfg=None, use_se=False, recompute_kernel=None,
                 deploy=False, init_cfg=None):
        if groups != 1:
            raise ValueError(f'RepVGGBlock_OREPA supports only groups=1, as '
                             f'the official code, got groups={groups!r}; use '
                             f'RepVGGBlock for grouped layers.')
        # Read by _build_dense(), which the parent constructor calls.
        self.internal_channels = internal_channels_1x1_3x3
        self.recompute_kernel = recompute_kernel
        super().__init__(in_channels, out_channels, kernel_size,
                         stride=stride, padding=padding, dilation=dilation,
                         groups=groups, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         use_se=use_se, deploy=deploy, init_cfg=init_cfg)

    def _build_dense(self, norm_cfg):
        return OREPA_3x3_RepVGG(self.in_channels, self.out_channels,
                                self.kernel_size, self.stride, self.padding,
                                internal_channels_1x1_3x3=(
                                    self.internal_channels),
                                norm_cfg=norm_cfg,
                                recompute_kernel=self.recompute_kernel)

    def _dense_kernel_bias(self):
        return fuse_conv_bn(self.rbr_dense.squeezed_kernel(),
                            self.rbr_dense.bn)
