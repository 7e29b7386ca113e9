"""Convolution followed by BatchNorm: the plain unit (``ConvBN``) and the
training-only branch used inside multi-branch blocks (``ConvBNBranch``)."""
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_arg_checks import (check_conv_channels, check_odd_kernel,
                              check_stride, resolve_padding)
from .conv_bn_fusion import fuse_conv_bn
from .deploy_conv import build_deploy_conv
from .foldable_norm import build_foldable_norm


class ConvBNBranch(BaseModule):
    """Bias-free conv + BN, a branch that its parent block folds.

    Not a :class:`RepModule`: the parent (DBB, RepVGG block) converts the
    whole block, so re-parameterisation counts units, not branches. Keys:
    ``conv.weight`` and ``bn.*``, as the official ``ConvBN``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size.
        stride (int): Stride.
        padding (int): Padding.
        dilation (int): Dilation.
        groups (int): Groups.
        norm_cfg (dict): BatchNorm-family norm config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False)
        self.bn = build_foldable_norm(type(self).__name__, norm_cfg,
                                      out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode branch as one conv."""
        return fuse_conv_bn(self.conv.weight, self.bn)


@MODELS.register_module()
class ConvBN(RepModule):
    """Conv + BN (+ activation), the plain conv-BN unit.

    Official ``basic.ConvBN``. Training keys ``conv.weight``, ``bn.*``;
    deploy keys ``conv.weight``, ``conv.bias`` (the BN folded into ``conv``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd square kernel size.
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Padding; None means "same"
            (``dilation * (kernel_size - 1) // 2``). Defaults to None.
        dilation (int): Dilation. Defaults to 1.
        groups (int): Groups. Defaults to 1.
        norm_cfg (dict): BatchNorm-family norm config (it is folded).
            Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation after the norm; None for none
            (the official ``nonlinear=None``). Defaults to None.
        deploy (bool): Build the biased-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=None, dilation=1, groups=1,
                 norm_cfg=dict(type='BN'), act_cfg=None, deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size)
        check_stride(name, stride)
        padding = resolve_padding(name, kernel_size, padding, dilation)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = \
            kernel_size, stride, padding
        self.dilation, self.groups = dilation, groups
        self.act = nn.Identity() if act_cfg is None else \
            build_activation_layer(act_cfg)
        if deploy:
            self.conv = self._deploy_conv()
            return
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False)
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

    def _deploy_conv(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels,
                                 self.kernel_size, self.stride, self.padding,
                                 self.dilation, self.groups, kernel, bias)

    def forward(self, x):
        if self.deploy:
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode unit as one conv (either form).
        """
        if self.deploy:
            return self.conv.weight, self.conv.bias
        return fuse_conv_bn(self.conv.weight, self.bn)

    def switch_to_deploy(self):
        if self.deploy:
            return
        kernel, bias = (t.detach() for t in self.fused_kernel_bias())
        del self.conv, self.bn
        self.conv = self._deploy_conv(kernel, bias)
        self.deploy = True
