"""UniRepLKNet's Dilated Reparam Block: a large depthwise kernel plus
parallel dilated small depthwise kernels, folded into one large kernel.

Ding et al., "UniRepLKNet: A Universal Perception Large-Kernel ConvNet for
Audio, Video, Point Cloud, Time-Series and Image Recognition", CVPR 2024
(official code: AILab-CVC/UniRepLKNet).

Training form: ``BN(conv_KxK(x)) + sum_i BN_i(conv_{k_i, dilation r_i}(x))``,
every conv depthwise with "same" padding. A ``k x k`` kernel with dilation
``r`` is a ``r (k - 1) + 1`` dense kernel with zeros between the taps, so
after folding each BN into its conv the branches become one ``K x K``
depthwise conv with a bias (the deploy form).
"""
import torch.nn as nn

from mmreplk.ops import check_impl
from .kernel_transforms import dilate_kernel, pad_kernel_to
from .large_kernel import DepthwiseConv2d
from .reparam_base import (RepModule, build_foldable_norm, filled_conv,
                           fuse_conv_bn)

#: Large kernel size -> the ``(kernel_size, dilation)`` of each dilated
#: branch, as the official table (equivalent sizes ``r (k - 1) + 1`` all
#: within ``K``).
DILATED_BRANCHES = {
    17: ((5, 1), (9, 2), (3, 4), (3, 5), (3, 7)),
    15: ((5, 1), (7, 2), (3, 3), (3, 5), (3, 7)),
    13: ((5, 1), (7, 2), (3, 3), (3, 4), (3, 5)),
    11: ((5, 1), (5, 2), (3, 3), (3, 4), (3, 5)),
    9: ((5, 1), (5, 2), (3, 3), (3, 4)),
    7: ((5, 1), (3, 2), (3, 3)),
    5: ((3, 1), (3, 2)),
}


def check_dilated_kernel_size(large_kernel, owner='DilatedReparamBlock'):
    """``large_kernel`` must be one of :data:`DILATED_BRANCHES`."""
    if large_kernel not in DILATED_BRANCHES:
        raise ValueError(
            f'{owner}: large_kernel must be one of '
            f'{sorted(DILATED_BRANCHES)} (the sizes with an official '
            f'dilated-branch table), got {large_kernel!r}.')


class DilatedReparamBlock(RepModule, deploy_attr='lk_origin'):
    """Dilated Reparam Block (official ``DilatedReparamBlock``).

    The module names are the official ones: ``lk_origin`` (the ``K x K``
    depthwise conv, bias-free in training, biased in deploy form),
    ``origin_bn``, and per branch ``dil_conv_k{k}_{r}`` / ``dil_bn_k{k}_{r}``
    (a ``k x k`` depthwise conv with dilation ``r`` and its BN).

    Args:
        channels (int): Input and output channels (depthwise).
        large_kernel (int): The large kernel ``K``; one of 5, 7, 9, 11, 13,
            15, 17 (:data:`DILATED_BRANCHES`).
        norm_cfg (dict): BatchNorm-family norm of every branch (folded).
            Defaults to ``dict(type='BN')``.
        impl (str): Back end of the ``K x K`` depthwise op
            (:func:`mmreplk.ops.depthwise_conv2d`). The dilated branches are
            small convolutions and stay ``nn.Conv2d``. Defaults to 'auto'.
        deploy (bool): Build the single-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels,
                 large_kernel,
                 norm_cfg=dict(type='BN'),
                 impl='auto',
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        name = type(self).__name__
        check_dilated_kernel_size(large_kernel)
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f'{name}: channels must be a positive int, got '
                             f'{channels!r}.')
        check_impl(impl, name, ops=('depthwise_conv2d', ))
        self.channels, self.large_kernel, self.impl = \
            channels, large_kernel, impl
        self.branches = DILATED_BRANCHES[large_kernel]
        if deploy:
            self._init_deploy_form()
            return
        self.lk_origin = DepthwiseConv2d(
            channels,
            channels,
            large_kernel,
            padding=large_kernel // 2,
            bias=False,
            impl=impl)
        self.origin_bn = build_foldable_norm(name, norm_cfg, channels)
        for k, r in self.branches:
            self.add_module(
                f'dil_conv_k{k}_{r}',
                nn.Conv2d(
                    channels,
                    channels,
                    k,
                    padding=r * (k - 1) // 2,
                    dilation=r,
                    groups=channels,
                    bias=False))
            self.add_module(f'dil_bn_k{k}_{r}',
                            build_foldable_norm(name, norm_cfg, channels))

    def forward(self, x):
        if self.deploy:
            return self.lk_origin(x)
        out = self.origin_bn(self.lk_origin(x))
        for k, r in self.branches:
            conv = getattr(self, f'dil_conv_k{k}_{r}')
            out = out + getattr(self, f'dil_bn_k{k}_{r}')(conv(x))
        return out

    def fused_kernel_bias(self):
        """Kernel ``(C, 1, K, K)`` and bias of the one depthwise conv equal
        to the eval-mode block (either form)."""
        if self.deploy:
            return self.lk_origin.weight, self.lk_origin.bias
        kernel, bias = fuse_conv_bn(self.lk_origin.weight, self.origin_bn)
        for k, r in self.branches:
            branch_kernel, branch_bias = fuse_conv_bn(
                getattr(self, f'dil_conv_k{k}_{r}').weight,
                getattr(self, f'dil_bn_k{k}_{r}'))
            kernel = kernel + pad_kernel_to(
                dilate_kernel(branch_kernel, r), self.large_kernel)
            bias = bias + branch_bias
        return kernel, bias

    def training_attrs(self):
        names = ['lk_origin', 'origin_bn']
        for k, r in self.branches:
            names += [f'dil_conv_k{k}_{r}', f'dil_bn_k{k}_{r}']
        return tuple(names)

    def build_deploy_module(self, kernel=None, bias=None):
        """The biased ``K x K`` :class:`DepthwiseConv2d`."""
        return filled_conv(
            DepthwiseConv2d(
                self.channels,
                self.channels,
                self.large_kernel,
                padding=self.large_kernel // 2,
                bias=True,
                impl=self.impl), kernel, bias)
