"""OREPA's linear deep stem: a large kernel squeezed from stacked 3x3
OREPA kernels (official ``blocks.OREPA_LargeConv``).

A kxk conv is trained as ``(k - 1) / 2`` stacked linear 3x3 layers, each an
:class:`OREPAKernel` (itself six squeezed branches); the stack is composed
into one kxk kernel at every forward pass, followed by one BN (paper
Sec. 3.5, "linear deep stem").
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_arg_checks import (check_conv_channels, check_odd_kernel,
                              check_stride, resolve_padding)
from .conv_bn_fusion import fuse_conv_bn
from .deploy_conv import build_deploy_conv
from .foldable_norm import build_foldable_norm
from .kernel_recompute import training_kernel
from .orepa import OREPAKernel
from .orepa_kernel_batching import supplied_kernel


def compose_kernels(kernels):
    """One kernel for a stack of bias-free stride-1 convolutions.

    Follows the official composition (``F.conv2d`` of the running kernel,
    viewed as a batch of ``C_in`` images, with the next kernel and full
    padding), which is cross-correlation: the stack it equals applies every
    kernel after the first spatially flipped. Only the composed kernel is
    ever used, so this is just a fixed re-labelling of the stacked weights;
    it is kept for official-checkpoint identity.
    """
    weight = kernels[0].transpose(0, 1)
    for kernel in kernels[1:]:
        weight = F.conv2d(weight, kernel, padding=kernel.size(-1) - 1)
    return weight.transpose(0, 1)


@MODELS.register_module()
class OREPA_LargeConv(RepModule):
    """Large-kernel conv-BN unit squeezed from stacked 3x3 OREPA kernels.

    ``layers = (kernel_size - 1) // 2`` kernels ``weight0 .. weight{n-1}``
    (``in -> out``, then ``out -> out``: the internal width is
    ``out_channels``, as official), composed into one kxk kernel, then BN.

    Training keys: ``weight{i}.<OREPAKernel keys>`` for each layer and
    ``bn.*``. Deploy keys: ``or_large_reparam.*``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (and internal width).
        kernel_size (int): Odd kernel size >= 3 (the official code uses 7
            for the stem and asserts > 3).
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Padding; None means "same". Defaults to
            None.
        dilation (int): Dilation of the composed kernel. Defaults to 1.
        groups (int): Must be 1 (the official composition only supports
            one group).
        norm_cfg (dict): BatchNorm-family norm after the composed conv.
        act_cfg (dict, optional): Activation after the norm; None for none.
        recompute_kernel (bool, optional): Regenerate the squeezed kernel in
            the backward pass instead of storing its intermediates (same
            results, far less training memory, more time); None: the
            measured per-device default (off on CUDA, on elsewhere; see
            :mod:`mmreplk.models.layers.kernel_recompute`).
        deploy (bool): Build the single-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=None, dilation=1, groups=1,
                 norm_cfg=dict(type='BN'), act_cfg=None,
                 recompute_kernel=None, deploy=False, init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        self.recompute_kernel = recompute_kernel
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, minimum=3)
        check_stride(name, stride)
        if groups != 1:
            raise ValueError(f'{name} supports only groups=1 (its 3x3 '
                             f'layers are composed densely), got '
                             f'groups={groups}; use OREPA or ConvBN.')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = resolve_padding(name, kernel_size, padding, dilation)
        self.dilation, self.groups = dilation, 1
        self.layers = (kernel_size - 1) // 2
        self.act = nn.Identity() if act_cfg is None else \
            build_activation_layer(act_cfg)
        if deploy:
            self.or_large_reparam = self._deploy_conv()
            return
        for i in range(self.layers):
            self.add_module(
                f'weight{i}',
                OREPAKernel(in_channels if i == 0 else out_channels,
                            out_channels, 3))
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

    def _deploy_conv(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels,
                                 self.kernel_size, self.stride, self.padding,
                                 self.dilation, 1, kernel, bias)

    def kernel_generators(self):
        """The stacked 3x3 kernel generators, first to last."""
        return [getattr(self, f'weight{i}') for i in range(self.layers)]

    def compose_kernels(self, kernels):
        """This unit's kernel from its generators' kernels."""
        return compose_kernels(kernels)

    def squeezed_kernel(self):
        """The composed kxk kernel (official ``weight_gen``)."""
        return self.compose_kernels(
            [g.squeezed_kernel() for g in self.kernel_generators()])

    def forward(self, x):
        if self.deploy:
            return self.act(self.or_large_reparam(x))
        kernel = supplied_kernel(self)
        if kernel is None:
            kernel = training_kernel(self.squeezed_kernel,
                                     self.recompute_kernel, x.device)
        out = F.conv2d(x, kernel, None, self.stride,
                       self.padding, self.dilation)
        return self.act(self.bn(out))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode unit as one conv."""
        return fuse_conv_bn(self.squeezed_kernel(), self.bn)

    def switch_to_deploy(self):
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.fused_kernel_bias()
        for i in range(self.layers):
            delattr(self, f'weight{i}')
        del self.bn
        self.or_large_reparam = self._deploy_conv(kernel, bias)
        self.deploy = True
