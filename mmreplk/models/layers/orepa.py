"""OREPA: online re-parameterised kxk convolution (Hu et al., CVPR 2022).

The training block has six linear branches, each ending in a channel-wise
scaling vector instead of a BatchNorm, and one BatchNorm after their sum.
Being linear, the branches are squeezed into a single kxk kernel at every
forward pass, so training runs one convolution (Sec. 3.2-3.3 of the paper).

Branch kernels (``v_b`` is row ``b`` of ``vector``, scaling output channels)::

    0 origin    W_origin                                    (kxk)
    1 avg       W_avg_conv (1x1) then a kxk average pool    (1/k^2 taps)
    2 prior     W_pfir_conv (1x1) then a fixed DCT filter per out channel
    3 1x1-kxk   (W_idconv1 + I) (1x1) then W_conv2 (kxk)
    4 1x1       W_1x1, zero-padded to kxk
    5 dw-sep    depthwise kxk (8 per input channel) then pointwise W_pw
    K = sum_b v_b * K_b;   y = act(BN(conv(x, K)))
"""
import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmengine.model import BaseModule
from torch.nn import init

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_arg_checks import (check_conv_channels, check_odd_kernel,
                              check_stride, resolve_padding)
from .conv_bn_fusion import fuse_conv_bn
from .deploy_conv import build_deploy_conv
from .foldable_norm import build_foldable_norm
from .kernel_recompute import training_kernel
from .kernel_transforms import (depthwise_separable_kernel, frequency_prior,
                                identity_kernel, merge_1x1_kxk,
                                pad_kernel_to)
from .orepa_kernel_batching import supplied_kernel

# Depthwise filters per input channel in the depthwise-separable branch.
DW_EXPAND_RATIO = 8
# Initial branch scales (rows of ``vector``), as in the official code.
BRANCH_INIT_SCALES = (0.25, 0.25, 0.0, 0.5, 1.0, 0.5)


def _kaiming_parameter(*shape, a=0.0):
    weight = torch.empty(*shape)
    init.kaiming_uniform_(weight, a=a)
    return nn.Parameter(weight)


class OREPABranchesMixin:
    """The six OREPA branches' parameters and their squeeze into one kernel.

    Shared by :class:`OREPA` (the unit) and :class:`OREPAKernel` (the
    weight-only generator of :class:`OREPA_LargeConv`); names and shapes are
    the official ones so checkpoints load by key identity.
    """

    def _build_branches(self, in_channels, out_channels, kernel_size, groups,
                        internal_channels, init_hyper_para, init_hyper_gamma,
                        single_init):
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, minimum=3)
        k, in_per_group = kernel_size, in_channels // groups
        if internal_channels is None:
            # Official default: wider 1x1-kxk branch for many groups.
            internal_channels = in_channels if groups <= 4 \
                else 2 * in_channels
        if not isinstance(internal_channels, int) or internal_channels < 1 \
                or internal_channels % groups:
            raise ValueError(
                f'{name}: internal_channels_1x1_3x3 must be a positive '
                f'multiple of groups={groups}, got {internal_channels!r}; '
                f'use None for the official default.')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.groups = kernel_size, groups
        self.internal_channels = internal_channels

        self.weight_orepa_origin = _kaiming_parameter(out_channels,
                                                      in_per_group, k, k)
        self.weight_orepa_avg_conv = _kaiming_parameter(
            out_channels, in_per_group, 1, 1)
        self.weight_orepa_pfir_conv = _kaiming_parameter(
            out_channels, in_per_group, 1, 1)
        self.register_buffer('weight_orepa_avg_avg',
                             torch.full((k, k), 1.0 / k**2))
        self.weight_orepa_1x1 = _kaiming_parameter(out_channels,
                                                   in_per_group, 1, 1)
        # The first 1x1 of the 1x1-kxk branch starts as the identity: a
        # zero-initialised residual on a fixed identity buffer.
        self.weight_orepa_1x1_kxk_idconv1 = nn.Parameter(
            torch.zeros(internal_channels, in_per_group, 1, 1))
        self.register_buffer('id_tensor',
                             identity_kernel(internal_channels, in_per_group))
        self.weight_orepa_1x1_kxk_conv2 = _kaiming_parameter(
            out_channels, internal_channels // groups, k, k)
        self.weight_orepa_gconv_dw = _kaiming_parameter(
            in_channels * DW_EXPAND_RATIO, 1, k, k)
        self.weight_orepa_gconv_pw = _kaiming_parameter(
            out_channels, in_channels * DW_EXPAND_RATIO // groups, 1, 1)
        self.vector = nn.Parameter(
            torch.empty(len(BRANCH_INIT_SCALES), out_channels))
        self.register_buffer('weight_orepa_prior',
                             frequency_prior(out_channels, k))

        with torch.no_grad():
            for row, scale in enumerate(BRANCH_INIT_SCALES):
                self.vector[row].fill_(scale * math.sqrt(init_hyper_gamma))
            for weight in (self.weight_orepa_1x1, self.weight_orepa_origin,
                           self.weight_orepa_1x1_kxk_conv2,
                           self.weight_orepa_avg_conv,
                           self.weight_orepa_pfir_conv):
                weight.mul_(init_hyper_para)
            for weight in (self.weight_orepa_gconv_dw,
                           self.weight_orepa_gconv_pw):
                weight.mul_(math.sqrt(init_hyper_para))
            if single_init:
                # Only the origin branch active at start (not the default).
                self.vector.zero_()
                self.vector[0].fill_(1.0)

    def kernel_inputs(self):
        """Parameters and buffers the squeezed kernel is built from, in the
        argument order of :func:`orepa_kernel`."""
        return (self.weight_orepa_origin, self.weight_orepa_avg_conv,
                self.weight_orepa_pfir_conv, self.weight_orepa_1x1,
                self.weight_orepa_1x1_kxk_idconv1,
                self.weight_orepa_1x1_kxk_conv2, self.weight_orepa_gconv_dw,
                self.weight_orepa_gconv_pw, self.vector,
                self.weight_orepa_avg_avg, self.id_tensor,
                self.weight_orepa_prior)

    def kernel_function(self):
        """``f(*kernel_inputs()) -> kernel``; units whose functions compare
        equal (and whose inputs have equal shapes) can be generated together
        (see :mod:`mmreplk.models.layers.orepa_kernel_batching`)."""
        return functools.partial(orepa_kernel, in_channels=self.in_channels,
                                 groups=self.groups)

    def squeezed_kernel(self):
        """``sum_b vector[b] * K_b``: the whole block as one kxk kernel
        (official ``weight_gen``); differentiable."""
        return self.kernel_function()(*self.kernel_inputs())


def orepa_kernel(origin, avg_conv, pfir_conv, one, idconv1, conv2, gconv_dw,
                 gconv_pw, vector, avg_avg, id_tensor, prior, in_channels,
                 groups):
    """The squeezed kernel of the six OREPA branches (module docstring), a
    pure function of the unit's tensors (so ``torch.func.vmap`` can build
    the kernels of several equal-shaped units at once)."""
    k = origin.size(-1)
    branches = (
        origin,
        avg_conv * avg_avg,
        pfir_conv * prior.unsqueeze(1),
        merge_1x1_kxk(idconv1 + id_tensor, conv2, groups),
        pad_kernel_to(one, k),
        depthwise_separable_kernel(gconv_dw, gconv_pw, in_channels, groups),
    )
    return torch.einsum('boihw,bo->oihw', torch.stack(branches), vector)


class OREPAKernel(OREPABranchesMixin, BaseModule):
    """Weight-only OREPA: the squeezed kxk kernel, no BN, no convolution.

    The official ``OREPA(..., weight_only=True)``: a linear kernel generator
    whose ``forward()`` returns the squeezed kernel. :class:`OREPA_LargeConv`
    chains several. Not a :class:`RepModule`: its parent folds it.

    Args:
        in_channels (int): Input channels of the generated kernel.
        out_channels (int): Output channels of the generated kernel.
        kernel_size (int): Odd kernel size >= 3.
        groups (int): Groups of the generated kernel. Defaults to 1.
        internal_channels_1x1_3x3 (int, optional): Width of the 1x1-kxk
            branch; None: ``in_channels`` if ``groups <= 4`` else twice.
        init_hyper_para (float): Initial scale of the branch weights.
        init_hyper_gamma (float): Initial scale (squared) of ``vector``.
        single_init (bool): Start with only the origin branch active.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size, groups=1,
                 internal_channels_1x1_3x3=None, init_hyper_para=1.0,
                 init_hyper_gamma=1.0, single_init=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self._build_branches(in_channels, out_channels, kernel_size, groups,
                             internal_channels_1x1_3x3, init_hyper_para,
                             init_hyper_gamma, single_init)

    def forward(self):
        return self.squeezed_kernel()


@MODELS.register_module()
class OREPA(OREPABranchesMixin, RepModule):
    """Online re-parameterised kxk conv-BN unit (official ``blocks.OREPA``).

    Training: ``act(BN(conv(x, squeezed_kernel())))``, one convolution.
    Deploy: ``act(orepa_reparam(x))``, the squeezed kernel with BN folded.

    Training keys: ``weight_orepa_origin``, ``weight_orepa_avg_conv``,
    ``weight_orepa_pfir_conv``, ``weight_orepa_1x1``,
    ``weight_orepa_1x1_kxk_idconv1``, ``weight_orepa_1x1_kxk_conv2``,
    ``weight_orepa_gconv_dw``, ``weight_orepa_gconv_pw``, ``vector``, the
    persistent buffers ``weight_orepa_avg_avg``, ``id_tensor``,
    ``weight_orepa_prior`` and ``bn.*``. Deploy keys: ``orepa_reparam.*``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size >= 3 (use :class:`OREPA_1x1` for
            1x1).
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Padding; None means "same". Any padding is
            exact here (the squeeze happens on kernels). Defaults to None.
        dilation (int): Dilation of the squeezed kernel. Defaults to 1.
        groups (int): Groups. Defaults to 1.
        internal_channels_1x1_3x3 (int, optional): Width of the 1x1-kxk
            branch; None: ``in_channels`` if ``groups <= 4`` else twice.
        norm_cfg (dict): BatchNorm-family norm after the branch sum.
        act_cfg (dict, optional): Activation after the norm; None for none.
        single_init (bool): Start with only the origin branch active (not
            the official default).
        init_hyper_para (float): Initial scale of the branch weights
            (square root of it for the two depthwise-separable weights).
        init_hyper_gamma (float): ``vector`` starts at
            ``sqrt(init_hyper_gamma) * (0.25, 0.25, 0, 0.5, 1, 0.5)``.
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
                 internal_channels_1x1_3x3=None, norm_cfg=dict(type='BN'),
                 act_cfg=None, single_init=False, init_hyper_para=1.0,
                 init_hyper_gamma=1.0, recompute_kernel=None, deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        self.recompute_kernel = recompute_kernel
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, minimum=3)
        check_stride(name, stride)
        self.padding = resolve_padding(name, kernel_size, padding, dilation)
        self.stride, self.dilation = stride, dilation
        self.act = nn.Identity() if act_cfg is None else \
            build_activation_layer(act_cfg)
        if deploy:
            self.in_channels, self.out_channels = in_channels, out_channels
            self.kernel_size, self.groups = kernel_size, groups
            self.orepa_reparam = self._deploy_conv()
            return
        self._build_branches(in_channels, out_channels, kernel_size, groups,
                             internal_channels_1x1_3x3, init_hyper_para,
                             init_hyper_gamma, single_init)
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

    def _deploy_conv(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels,
                                 self.kernel_size, self.stride, self.padding,
                                 self.dilation, self.groups, kernel, bias)

    def forward(self, x):
        if self.deploy:
            return self.act(self.orepa_reparam(x))
        kernel = supplied_kernel(self)
        if kernel is None:
            kernel = training_kernel(self.squeezed_kernel,
                                     self.recompute_kernel, x.device)
        out = F.conv2d(x, kernel, None, self.stride, self.padding,
                       self.dilation, self.groups)
        return self.act(self.bn(out))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode unit as one conv."""
        return fuse_conv_bn(self.squeezed_kernel(), self.bn)

    def switch_to_deploy(self):
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.fused_kernel_bias()
        for name in ('weight_orepa_origin', 'weight_orepa_avg_conv',
                     'weight_orepa_pfir_conv', 'weight_orepa_avg_avg',
                     'weight_orepa_1x1', 'weight_orepa_1x1_kxk_idconv1',
                     'id_tensor', 'weight_orepa_1x1_kxk_conv2',
                     'weight_orepa_gconv_dw', 'weight_orepa_gconv_pw',
                     'vector', 'weight_orepa_prior', 'bn'):
            delattr(self, name)
        self.orepa_reparam = self._deploy_conv(kernel, bias)
        self.deploy = True
