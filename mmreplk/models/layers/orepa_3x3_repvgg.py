"""The online re-parameterised 3x3 branch of ``RepVGGBlock_OREPA`` (official
``blocks_repvgg.OREPA_3x3_RepVGG``).

Like :class:`OREPA` without the 1x1 branch (the RepVGG block has its own),
with the official ``weight_rbr_*`` names, initialisations and branch scales::

    0 origin  1 avg (1x1 + pool)  2 prior (1x1 + DCT)  3 1x1-kxk  4 dw-sep
    K = sum_b vector[b] * K_b;  y = BN(conv(x, K))
"""
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .conv_arg_checks import check_conv_channels, check_odd_kernel
from .foldable_norm import build_foldable_norm
from .kernel_recompute import training_kernel
from .kernel_transforms import (depthwise_separable_kernel, frequency_prior,
                                identity_kernel, merge_1x1_kxk)
from .orepa import DW_EXPAND_RATIO, _kaiming_parameter
from .orepa_kernel_batching import supplied_kernel

# Initial scales of the five used branches (rows of ``vector``), official.
BRANCH_INIT_SCALES = (0.25, 0.25, 0.0, 0.5, 0.5)


class OREPA_3x3_RepVGG(BaseModule):
    """Squeezed multi-branch kxk conv + BN, the dense branch of
    :class:`RepVGGBlock_OREPA` (folded by that block, so not a RepModule).

    ``vector`` has a sixth row when ``in_channels == out_channels`` and
    ``stride == 1`` (the official code counts the block's identity branch
    there); that row is unused and initialised to 0 here (official: left
    uninitialised).

    Keys: ``weight_rbr_origin``, ``weight_rbr_avg_conv``,
    ``weight_rbr_pfir_conv``, ``weight_rbr_1x1_kxk_idconv1`` (or
    ``weight_rbr_1x1_kxk_conv1`` for a non-default internal width),
    ``weight_rbr_1x1_kxk_conv2``, ``weight_rbr_gconv_dw``,
    ``weight_rbr_gconv_pw``, ``vector``, ``bn.*`` and the persistent buffers
    ``weight_rbr_avg_avg``, ``id_tensor`` (identity-based case only),
    ``weight_rbr_prior``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size >= 3.
        stride (int): Stride.
        padding (int): Padding.
        groups (int): Must be 1 (the official depthwise-separable branch is
            dense).
        internal_channels_1x1_3x3 (int, optional): Width of the 1x1-kxk
            branch; None: ``in_channels`` (identity-based first 1x1).
        norm_cfg (dict): BatchNorm-family norm after the sum.
        recompute_kernel (bool, optional): Regenerate the squeezed kernel in
            the backward pass instead of storing its intermediates (same
            results, far less training memory, more time); None: the
            measured per-device default (off on CUDA, on elsewhere; see
            :mod:`mmreplk.models.layers.kernel_recompute`).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=1, groups=1, internal_channels_1x1_3x3=None,
                 norm_cfg=dict(type='BN'), recompute_kernel=None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.recompute_kernel = recompute_kernel
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, minimum=3)
        if groups != 1:
            raise ValueError(f'{name} (RepVGGBlock_OREPA) supports only '
                             f'groups=1, as the official code, got '
                             f'groups={groups}; use RepVGGBlock for grouped '
                             f'layers.')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = \
            kernel_size, stride, padding
        k = kernel_size
        internal = internal_channels_1x1_3x3 or in_channels
        self.weight_rbr_origin = _kaiming_parameter(out_channels,
                                                    in_channels, k, k, a=1.0)
        self.weight_rbr_avg_conv = _kaiming_parameter(
            out_channels, in_channels, 1, 1, a=1.0)
        self.weight_rbr_pfir_conv = _kaiming_parameter(
            out_channels, in_channels, 1, 1, a=1.0)
        self.register_buffer('weight_rbr_avg_avg',
                             torch.full((k, k), 1.0 / k**2))
        if internal == in_channels:
            self.weight_rbr_1x1_kxk_idconv1 = nn.Parameter(
                torch.zeros(in_channels, in_channels, 1, 1))
            self.register_buffer('id_tensor',
                                 identity_kernel(in_channels, in_channels))
        else:
            self.weight_rbr_1x1_kxk_conv1 = _kaiming_parameter(
                internal, in_channels, 1, 1, a=1.0)
        self.weight_rbr_1x1_kxk_conv2 = _kaiming_parameter(
            out_channels, internal, k, k, a=1.0)
        self.weight_rbr_gconv_dw = _kaiming_parameter(
            in_channels * DW_EXPAND_RATIO, 1, k, k, a=1.0)
        self.weight_rbr_gconv_pw = _kaiming_parameter(
            out_channels, in_channels * DW_EXPAND_RATIO, 1, 1, a=1.0)
        rows = len(BRANCH_INIT_SCALES) + int(in_channels == out_channels
                                             and stride == 1)
        self.vector = nn.Parameter(torch.zeros(rows, out_channels))
        with torch.no_grad():
            for row, scale in enumerate(BRANCH_INIT_SCALES):
                self.vector[row].fill_(scale)
        self.bn = build_foldable_norm('RepVGGBlock_OREPA', norm_cfg,
                                      out_channels)
        self.register_buffer('weight_rbr_prior',
                             frequency_prior(out_channels, k))

    def kernel_inputs(self):
        """Tensors of :func:`orepa_3x3_repvgg_kernel`, in its argument order
        (the identity buffer only in the identity-based case)."""
        if hasattr(self, 'weight_rbr_1x1_kxk_idconv1'):
            first = (self.weight_rbr_1x1_kxk_idconv1, self.id_tensor)
        else:
            first = (self.weight_rbr_1x1_kxk_conv1, )
        return (self.weight_rbr_origin, self.weight_rbr_avg_conv,
                self.weight_rbr_pfir_conv, self.weight_rbr_1x1_kxk_conv2,
                self.weight_rbr_gconv_dw, self.weight_rbr_gconv_pw,
                self.vector, self.weight_rbr_avg_avg,
                self.weight_rbr_prior) + first

    def kernel_function(self):
        """``f(*kernel_inputs()) -> kernel``, see
        :mod:`mmreplk.models.layers.orepa_kernel_batching`."""
        return functools.partial(orepa_3x3_repvgg_kernel,
                                 in_channels=self.in_channels)

    def squeezed_kernel(self):
        """``sum_b vector[b] * K_b`` (official ``weight_gen``)."""
        return self.kernel_function()(*self.kernel_inputs())

    def forward(self, x):
        kernel = supplied_kernel(self)
        if kernel is None:
            kernel = training_kernel(self.squeezed_kernel,
                                     self.recompute_kernel, x.device)
        out = F.conv2d(x, kernel, None, self.stride, self.padding)
        return self.bn(out)


def orepa_3x3_repvgg_kernel(origin, avg_conv, pfir_conv, conv2, gconv_dw,
                            gconv_pw, vector, avg_avg, prior, *first,
                            in_channels):
    """The squeezed kernel of the five branches of :class:`OREPA_3x3_RepVGG`
    (pure function of its tensors). ``first`` is ``(idconv1, id_tensor)``
    (identity-based first 1x1 of the 1x1-kxk branch) or ``(conv1, )``."""
    first_1x1 = first[0] + first[1] if len(first) == 2 else first[0]
    branches = (origin, avg_conv * avg_avg, pfir_conv * prior.unsqueeze(1),
                merge_1x1_kxk(first_1x1, conv2),
                depthwise_separable_kernel(gconv_dw, gconv_pw, in_channels))
    return torch.einsum('boihw,bo->oihw', torch.stack(branches),
                        vector[:len(branches)])
