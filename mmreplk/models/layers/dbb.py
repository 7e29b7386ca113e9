"""Diverse Branch Block (Ding et al., CVPR 2021; official OREPA repo
``blocks.DBB``): offline re-parameterisation, BN kept in every branch during
training, all branches folded into one kxk conv for deployment.

Branches (each ends in its own BN, outputs summed, then the activation)::

    dbb_origin   kxk conv - BN
    dbb_1x1      1x1 conv - BN                      (only if groups < out)
    dbb_avg      [1x1 conv - BN&pad -] avg pool kxk - BN
    dbb_1x1_kxk  1x1 conv (identity-based) - BN&pad - kxk conv - BN

Also here: the two helpers only DBB uses, :class:`BNAndPadLayer` and
:class:`IdentityBasedConv1x1`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .kernel_transforms import (avg_pool_kernel, identity_kernel,
                                merge_1x1_kxk, pad_kernel_to)
from .reparam_base import (ConvBNBranch, RepConvUnit, build_foldable_norm,
                           check_conv_channels, check_supported,
                           fold_batch_norm, fuse_conv_bn)


class BNAndPadLayer(BaseModule):
    """BN, then a border of ``pad_pixels`` filled with BN's eval-mode output
    for a zero input, ``beta - mean * gamma / std``.

    In DBB a 1x1 conv + BN feeds a kxk conv (or average pool) without
    padding. Padding *after* the BN with BN's own response to zero makes the
    pair equal to a conv on a zero-padded input once the BN is folded into a
    bias, so the branch re-parameterises exactly at the borders. The pad
    value uses running statistics in training too, as the official code.

    Keys: ``bn.*``.

    Args:
        pad_pixels (int): Border width.
        num_features (int): Channels.
        norm_cfg (dict): BatchNorm-family norm config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 pad_pixels,
                 num_features,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.pad_pixels = pad_pixels
        self.bn = build_foldable_norm('DBB', norm_cfg, num_features)

    def pad_values(self):
        """Per-channel border value: BN's eval-mode shift (detached, like
        the official layer)."""
        return fold_batch_norm(self.bn)[1].detach()

    def forward(self, x):
        out = self.bn(x)
        p = self.pad_pixels
        if p == 0:
            return out
        values = self.pad_values().view(1, -1, 1, 1)
        # 1 on the border, 0 inside.
        border = F.pad(torch.zeros_like(out[:1, :1]), [p] * 4, value=1)
        return F.pad(out, [p] * 4) + border * values


class IdentityBasedConv1x1(nn.Conv2d):
    """Square grouped 1x1 conv whose kernel is ``weight + I``.

    ``weight`` starts at zero, so the conv starts as the identity. ``I`` is a
    non-persistent buffer (the official code keeps it out of the state dict
    too): keys ``weight`` only.

    Args:
        channels (int): Input and output channels.
        groups (int): Groups. Defaults to 1.
    """

    def __init__(self, channels, groups=1):
        super().__init__(channels, channels, 1, groups=groups, bias=False)
        self.register_buffer(
            'id_tensor',
            identity_kernel(channels, channels // groups),
            persistent=False)
        nn.init.zeros_(self.weight)

    def actual_kernel(self):
        return self.weight + self.id_tensor

    def forward(self, x):
        return F.conv2d(x, self.actual_kernel(), None, groups=self.groups)


class DBB(RepConvUnit, deploy_attr='dbb_reparam'):
    """Diverse Branch Block conv-BN unit.

    With ``groups < out_channels`` the average branch is 1x1 conv - BN&pad -
    avg pool - BN and there is a 1x1 branch; with ``groups ==
    out_channels`` (depthwise) the average branch pools the input directly
    and there is no 1x1 branch.

    Training keys: ``dbb_origin.conv.weight``, ``dbb_origin.bn.*``,
    ``dbb_avg.conv.weight``, ``dbb_avg.bn.bn.*``, ``dbb_avg.avgbn.*``,
    ``dbb_1x1.conv.weight``, ``dbb_1x1.bn.*`` (non-depthwise only);
    ``dbb_1x1_kxk.idconv1.weight`` (or ``conv1.weight`` when the internal
    width differs from ``in_channels``), ``dbb_1x1_kxk.bn1.bn.*``,
    ``dbb_1x1_kxk.conv2.weight``, ``dbb_1x1_kxk.bn2.*``. Deploy keys:
    ``dbb_reparam.*``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size.
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Must be "same" (None or ``k // 2``): the
            branches only agree with it. Defaults to None.
        dilation (int): Must be 1 (the official pool and 1x1-kxk branches
            are not dilated).
        groups (int): Groups; ``groups == out_channels`` needs
            ``in_channels == out_channels``.
        internal_channels_1x1_3x3 (int, optional): Width of the 1x1-kxk
            branch; None: ``in_channels`` if ``groups < out_channels`` else
            twice that (official default).
        norm_cfg (dict): BatchNorm-family norm of every branch (the border
            padding needs BN statistics, so other norms are rejected).
        act_cfg (dict, optional): Activation after the sum; None for none.
        single_init (bool): Start with only ``dbb_origin``'s BN gamma at 1,
            the other branches' last gammas at 0 (not the default).
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build the deploy form: every branch folded into the
            single kxk conv ``dbb_reparam``.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 stride=1,
                 padding=None,
                 dilation=1,
                 groups=1,
                 internal_channels_1x1_3x3=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=None,
                 single_init=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_supported(name, 'dilation', dilation, 1,
                        'its pool and 1x1-kxk branches are not dilated',
                        'OREPA for dilated convs')
        depthwise = groups == out_channels
        if depthwise and in_channels != out_channels:
            raise ValueError(
                f'{name}: groups == out_channels ({groups}) pools the input '
                f'directly, which needs in_channels == out_channels, got '
                f'{in_channels}; use a smaller groups.')
        if self._setup_conv_unit(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                1,
                groups,
                act_cfg,
                require_same=True):
            return

        k, padding = kernel_size, self.padding
        self.dbb_origin = ConvBNBranch(
            in_channels,
            out_channels,
            k,
            stride,
            padding,
            groups=groups,
            norm_cfg=norm_cfg)
        self.dbb_avg = nn.Sequential()
        if not depthwise:
            self.dbb_avg.add_module(
                'conv',
                nn.Conv2d(
                    in_channels, out_channels, 1, groups=groups, bias=False))
            self.dbb_avg.add_module(
                'bn', BNAndPadLayer(padding, out_channels, norm_cfg))
            self.dbb_avg.add_module('avg', nn.AvgPool2d(k, stride, 0))
            self.dbb_1x1 = ConvBNBranch(
                in_channels,
                out_channels,
                1,
                stride,
                0,
                groups=groups,
                norm_cfg=norm_cfg)
        else:
            self.dbb_avg.add_module('avg', nn.AvgPool2d(k, stride, padding))
        self.dbb_avg.add_module(
            'avgbn', build_foldable_norm(name, norm_cfg, out_channels))

        internal = internal_channels_1x1_3x3
        if internal is None:
            # Official: twice as wide for depthwise (MobileNet-like) convs.
            internal = in_channels if not depthwise else 2 * in_channels
        if not isinstance(internal, int) or internal < 1 or internal % groups:
            raise ValueError(
                f'{name}: internal_channels_1x1_3x3 must be a positive '
                f'multiple of groups={groups}, got {internal!r}; use None '
                f'for the official default.')
        self.dbb_1x1_kxk = nn.Sequential()
        if internal == in_channels:
            self.dbb_1x1_kxk.add_module(
                'idconv1', IdentityBasedConv1x1(in_channels, groups))
        else:
            self.dbb_1x1_kxk.add_module(
                'conv1',
                nn.Conv2d(in_channels, internal, 1, groups=groups, bias=False))
        self.dbb_1x1_kxk.add_module('bn1',
                                    BNAndPadLayer(padding, internal, norm_cfg))
        self.dbb_1x1_kxk.add_module(
            'conv2',
            nn.Conv2d(
                internal,
                out_channels,
                k,
                stride,
                0,
                groups=groups,
                bias=False))
        self.dbb_1x1_kxk.add_module(
            'bn2', build_foldable_norm(name, norm_cfg, out_channels))

        if single_init:
            with torch.no_grad():
                for bn in self._last_norms():
                    bn.weight.zero_()
                self.dbb_origin.bn.weight.fill_(1.0)

    def _last_norms(self):
        norms = [self.dbb_origin.bn, self.dbb_avg.avgbn, self.dbb_1x1_kxk.bn2]
        if hasattr(self, 'dbb_1x1'):
            norms.append(self.dbb_1x1.bn)
        return norms

    def forward(self, x):
        if self.deploy:
            return self.act(self.dbb_reparam(x))
        out = self.dbb_origin(x)
        if hasattr(self, 'dbb_1x1'):
            out = out + self.dbb_1x1(x)
        out = out + self.dbb_avg(x)
        out = out + self.dbb_1x1_kxk(x)
        return self.act(out)

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode block as one kxk conv."""
        k, g = self.kernel_size, self.groups
        kernel, bias = self.dbb_origin.fused_kernel_bias()
        if hasattr(self, 'dbb_1x1'):
            k1, b1 = self.dbb_1x1.fused_kernel_bias()
            kernel, bias = kernel + pad_kernel_to(k1, k), bias + b1

        seq = self.dbb_1x1_kxk
        first = seq.idconv1.actual_kernel() if hasattr(seq, 'idconv1') \
            else seq.conv1.weight
        first, first_bias = fuse_conv_bn(first, seq.bn1.bn)
        second, second_bias = fuse_conv_bn(seq.conv2.weight, seq.bn2)
        k2, b2 = merge_1x1_kxk(first, second, g, first_bias, second_bias)
        kernel, bias = kernel + k2, bias + b2

        seq = self.dbb_avg
        out_per_group = self.out_channels // g
        avg = avg_pool_kernel(
            self.out_channels,
            out_per_group,
            k,
            dtype=kernel.dtype,
            device=kernel.device)
        avg, avg_bias = fuse_conv_bn(avg, seq.avgbn)
        if hasattr(seq, 'conv'):
            first, first_bias = fuse_conv_bn(seq.conv.weight, seq.bn.bn)
            avg, avg_bias = merge_1x1_kxk(first, avg, g, first_bias, avg_bias)
        return kernel + avg, bias + avg_bias

    def training_attrs(self):
        return ('dbb_origin', 'dbb_avg', 'dbb_1x1', 'dbb_1x1_kxk')
