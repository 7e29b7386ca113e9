"""RepVGG blocks (Ding et al., CVPR 2021) as in the official OREPA repo
(``blocks_repvgg.py``): ``RepVGGBlock`` and ``RepVGGBlock_OREPA``, whose kxk
branch is the online re-parameterised :class:`OREPA_3x3_RepVGG`.

Training: ``act(se(rbr_dense(x) + rbr_1x1(x) + rbr_identity(x)))`` with the
identity branch a BN, present only when ``in == out`` and ``stride == 1``.
Deploy: ``act(se(rbr_reparam(x)))``.
"""
import torch.nn as nn

from .common import SEBlock
from .kernel_transforms import identity_kernel, pad_kernel_to
from .orepa import OREPA_3x3_RepVGG
from .reparam_base import (ConvBNBranch, RepConvUnit, build_foldable_norm,
                           check_supported, fuse_conv_bn)


class RepVGGBlock(RepConvUnit, deploy_attr='rbr_reparam'):
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
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build the deploy form, ``rbr_reparam`` (one conv).
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 stride=1,
                 padding=None,
                 dilation=1,
                 groups=1,
                 norm_cfg=dict(type='BN'),
                 act_cfg=None,
                 use_se=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        name = type(self).__name__
        check_supported(name, 'dilation', dilation, 1,
                        'as the official training branches',
                        'OREPA for dilated convs')
        if use_se and isinstance(out_channels, int) and out_channels < 16:
            raise ValueError(f'{name}: use_se needs out_channels >= 16 (the '
                             f'SE bottleneck is out_channels // 16 wide), '
                             f'got {out_channels}; set use_se=False.')
        # Built first: the SE block stays in the deploy form.
        self.se = SEBlock(out_channels, out_channels // 16) if use_se \
            else nn.Identity()
        if self._setup_conv_unit(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                1,
                groups,
                act_cfg,
                min_kernel=3,
                require_same=True):
            return
        self.rbr_identity = build_foldable_norm(name, norm_cfg, in_channels) \
            if in_channels == out_channels and stride == 1 else None
        self.rbr_dense = self._build_dense(norm_cfg)
        self.rbr_1x1 = ConvBNBranch(
            in_channels,
            out_channels,
            1,
            stride,
            0,
            groups=groups,
            norm_cfg=norm_cfg)

    def _build_dense(self, norm_cfg):
        return ConvBNBranch(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            groups=self.groups,
            norm_cfg=norm_cfg)

    def _dense_kernel_bias(self):
        return self.rbr_dense.fused_kernel_bias()

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
                self.in_channels,
                self.in_channels // self.groups,
                self.kernel_size,
                dtype=kernel.dtype,
                device=kernel.device)
            kid, bid = fuse_conv_bn(identity, self.rbr_identity)
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias

    def training_attrs(self):
        return ('rbr_dense', 'rbr_1x1', 'rbr_identity')


class RepVGGBlock_OREPA(RepVGGBlock):
    """RepVGG block whose kxk branch is :class:`OREPA_3x3_RepVGG` (six
    linear branches squeezed online; the OREPA-VGG block of the paper).

    Training keys: ``rbr_dense.<OREPA_3x3_RepVGG keys>``, ``rbr_1x1.*``,
    ``rbr_identity.*`` (if present), ``se.*`` (if ``use_se``). Deploy keys:
    ``rbr_reparam.*`` (+ ``se.*``).

    Arguments not listed here are those of :class:`RepVGGBlock`.

    Args:
        groups (int): Must be 1 (the official OREPA branch is dense).
        internal_channels_1x1_3x3 (int, optional): Width of the dense
            branch's 1x1-kxk path; None: ``in_channels``.
        recompute_kernel (bool): Regenerate the OREPA 3x3 kernel in the
            backward pass instead of storing its intermediates, as in
            :class:`OREPA`.
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
                 use_se=False,
                 recompute_kernel=False,
                 deploy=False,
                 init_cfg=None):
        if groups != 1:
            raise ValueError(f'RepVGGBlock_OREPA supports only groups=1, as '
                             f'the official code, got groups={groups!r}; use '
                             f'RepVGGBlock for grouped layers.')
        # Read by _build_dense(), which the parent constructor calls.
        self.internal_channels = internal_channels_1x1_3x3
        self.recompute_kernel = recompute_kernel
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            use_se=use_se,
            deploy=deploy,
            init_cfg=init_cfg)

    def _build_dense(self, norm_cfg):
        return OREPA_3x3_RepVGG(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            internal_channels_1x1_3x3=(self.internal_channels),
            norm_cfg=norm_cfg,
            recompute_kernel=self.recompute_kernel)

    def _dense_kernel_bias(self):
        return fuse_conv_bn(self.rbr_dense.squeezed_kernel(),
                            self.rbr_dense.bn)
