"""OREPA: online re-parameterised convolutions (Hu et al., CVPR 2022).

An online unit squeezes its linear training branches into one kernel at every
forward pass, so training runs one convolution (paper Sec. 3.2-3.3). This
module holds the whole family, with the official names and keys:

* :class:`OREPA`: kxk unit, six branches, one BN after their sum;
* :class:`OREPAKernel`: the same six branches as a weight-only generator;
* :class:`OREPA_1x1`: 1x1 unit, two branches (``blocks.OREPA_1x1``);
* :class:`OREPA_LargeConv`: the "linear deep stem", a large kernel composed
  from stacked 3x3 :class:`OREPAKernel` s (``blocks.OREPA_LargeConv``);
* :class:`OREPA_3x3_RepVGG`: the dense branch of ``RepVGGBlock_OREPA``.

Branch kernels of :class:`OREPA` (``v_b`` is row ``b`` of ``vector``,
scaling output channels)::

    0 origin    W_origin                                    (kxk)
    1 avg       W_avg_conv (1x1) then a kxk average pool    (1/k^2 taps)
    2 prior     W_pfir_conv (1x1) then a fixed DCT filter per out channel
    3 1x1-kxk   (W_idconv1 + I) (1x1) then W_conv2 (kxk)
    4 1x1       W_1x1, zero-padded to kxk
    5 dw-sep    depthwise kxk (8 per input channel) then pointwise W_pw
    K = sum_b v_b * K_b;   y = act(BN(conv(x, K)))

:class:`OREPA_1x1`: ``K = v_0 * W_origin + v_1 * (W_l2i_conv2 @
W_l2i_conv1)``. :class:`OREPA_3x3_RepVGG`: branches 0, 1, 2, 3 and 5 of the
above (the RepVGG block has its own 1x1 branch), named ``weight_rbr_*``.
"""
import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.nn import init

from .kernel_transforms import (depthwise_separable_kernel, frequency_prior,
                                identity_kernel, merge_1x1_kxk, pad_kernel_to)
from .orepa_kernel_batching import check_recompute, unit_kernel
from .reparam_base import (RepConvUnit, build_foldable_norm,
                           check_conv_channels, check_odd_kernel,
                           check_supported, fuse_conv_bn)

# Depthwise filters per input channel in the depthwise-separable branch.
DW_EXPAND_RATIO = 8
# Initial branch scales (rows of ``vector``), as in the official code, of
# OREPA / OREPAKernel, OREPA_1x1 and OREPA_3x3_RepVGG.
OREPA_BRANCH_SCALES = (0.25, 0.25, 0.0, 0.5, 1.0, 0.5)
OREPA_1X1_BRANCH_SCALES = (1.0, 0.5)
REPVGG_DENSE_BRANCH_SCALES = (0.25, 0.25, 0.0, 0.5, 0.5)


def _kaiming_parameter(*shape, a=0.0):
    weight = torch.empty(*shape)
    init.kaiming_uniform_(weight, a=a)
    return nn.Parameter(weight)


class OnlineRepConvUnit(RepConvUnit):
    """A conv-BN unit that squeezes its branches into one kernel at every
    training forward pass (``squeezed_kernel()``), then ``act(bn(conv))``.

    The kernel is the one its owner supplied for this forward pass
    (``batched_kernel``, see
    :mod:`~mmreplk.models.layers.orepa_kernel_batching`), else the unit's own
    (recomputed in the backward pass if ``recompute_kernel`` says so).

    Args:
        recompute_kernel (bool): Regenerate the kernel in the backward pass.
        deploy (bool): Build the inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, recompute_kernel=False, deploy=False, init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        self.recompute_kernel = check_recompute(
            type(self).__name__, recompute_kernel)
        self.batched_kernel = None

    def squeezed_kernel(self):
        raise NotImplementedError

    def forward(self, x):
        if self.deploy:
            return self.act(getattr(self, self.deploy_attr)(x))
        out = F.conv2d(x, unit_kernel(self), None, self.stride, self.padding,
                       self.dilation, self.groups)
        return self.act(self.bn(out))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode unit as one conv."""
        return fuse_conv_bn(self.squeezed_kernel(), self.bn)


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
        self.weight_orepa_1x1 = _kaiming_parameter(out_channels, in_per_group,
                                                   1, 1)
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
            torch.empty(len(OREPA_BRANCH_SCALES), out_channels))
        self.register_buffer('weight_orepa_prior',
                             frequency_prior(out_channels, k))

        with torch.no_grad():
            for row, scale in enumerate(OREPA_BRANCH_SCALES):
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
        return functools.partial(
            orepa_kernel, in_channels=self.in_channels, groups=self.groups)

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

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 groups=1,
                 internal_channels_1x1_3x3=None,
                 init_hyper_para=1.0,
                 init_hyper_gamma=1.0,
                 single_init=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self._build_branches(in_channels, out_channels, kernel_size, groups,
                             internal_channels_1x1_3x3, init_hyper_para,
                             init_hyper_gamma, single_init)
        self.batched_kernel = None

    def forward(self):
        """The squeezed kernel (the one supplied for this forward pass, if
        any)."""
        if self.batched_kernel is not None:
            return self.batched_kernel
        return self.squeezed_kernel()


class OREPA(
        OREPABranchesMixin, OnlineRepConvUnit, deploy_attr='orepa_reparam'):
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
        recompute_kernel (bool): Regenerate the squeezed kernel in the
            backward pass instead of storing its intermediates (same
            results, less training memory, more time; see
            :mod:`mmreplk.models.layers.orepa_kernel_batching`). Defaults to
            False.
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build ``orepa_reparam`` only: the squeezed kernel
            with the BN folded in.
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
                 init_hyper_para=1.0,
                 init_hyper_gamma=1.0,
                 recompute_kernel=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(
            recompute_kernel=recompute_kernel,
            deploy=deploy,
            init_cfg=init_cfg)
        if self._setup_conv_unit(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                act_cfg,
                min_kernel=3):
            return
        self._build_branches(in_channels, out_channels, kernel_size, groups,
                             internal_channels_1x1_3x3, init_hyper_para,
                             init_hyper_gamma, single_init)
        self.bn = build_foldable_norm(
            type(self).__name__, norm_cfg, out_channels)

    def training_attrs(self):
        return ('weight_orepa_origin', 'weight_orepa_avg_conv',
                'weight_orepa_pfir_conv', 'weight_orepa_avg_avg',
                'weight_orepa_1x1', 'weight_orepa_1x1_kxk_idconv1',
                'id_tensor', 'weight_orepa_1x1_kxk_conv2',
                'weight_orepa_gconv_dw', 'weight_orepa_gconv_pw', 'vector',
                'weight_orepa_prior', 'bn')


class OREPA_1x1(OnlineRepConvUnit, deploy_attr='or1x1_reparam'):
    """Online re-parameterised 1x1 conv-BN unit.

    The 1x1-1x1 branch goes through ``min(in, out)`` channels: the factor on
    the wider side starts as the identity (``eye``), the other is random.

    Training keys: ``weight_or1x1_origin``, ``weight_or1x1_l2i_conv1``,
    ``weight_or1x1_l2i_conv2``, ``vector``, ``bn.*``. Deploy keys:
    ``or1x1_reparam.*``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Must be 1. Defaults to 1.
        stride (int): Stride. Defaults to 1.
        padding (int, optional): Must be None or 0. Defaults to None.
        dilation (int): Accepted for a uniform signature; no effect on 1x1.
        groups (int): Must be 1, as official.
        norm_cfg (dict): BatchNorm-family norm after the branch sum.
        act_cfg (dict, optional): Activation after the norm; None for none.
        single_init (bool): Start with only the origin branch active.
        recompute_kernel (bool): As in :class:`OREPA`.
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build ``or1x1_reparam`` only (one 1x1 conv).
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size=1,
                 stride=1,
                 padding=None,
                 dilation=1,
                 groups=1,
                 norm_cfg=dict(type='BN'),
                 act_cfg=None,
                 single_init=False,
                 recompute_kernel=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(
            recompute_kernel=recompute_kernel,
            deploy=deploy,
            init_cfg=init_cfg)
        name = type(self).__name__
        if kernel_size != 1:
            raise ValueError(f'{name}: kernel_size must be 1, got '
                             f'{kernel_size!r}; use OREPA for kxk kernels.')
        if padding not in (None, 0):
            raise ValueError(f'{name}: padding must be None or 0 for a 1x1 '
                             f'kernel, got {padding!r}.')
        check_supported(name, 'groups', groups, 1, 'as the official code',
                        'ConvBN for grouped 1x1 convs')
        if self._setup_conv_unit(in_channels, out_channels, 1, stride, 0,
                                 dilation, 1, act_cfg):
            return

        self.weight_or1x1_origin = _kaiming_parameter(
            out_channels, in_channels, 1, 1, a=1.0)
        eye = lambda c: nn.Parameter(torch.eye(c)[:, :, None, None])  # noqa
        if out_channels > in_channels:
            self.weight_or1x1_l2i_conv1 = eye(in_channels)
            self.weight_or1x1_l2i_conv2 = _kaiming_parameter(
                out_channels, in_channels, 1, 1, a=1.0)
        else:
            self.weight_or1x1_l2i_conv1 = _kaiming_parameter(
                out_channels, in_channels, 1, 1, a=1.0)
            self.weight_or1x1_l2i_conv2 = eye(out_channels)
        self.vector = nn.Parameter(torch.empty(2, out_channels))
        with torch.no_grad():
            for row, scale in enumerate(OREPA_1X1_BRANCH_SCALES):
                self.vector[row].fill_(scale)
            if single_init:
                self.vector[1].zero_()
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

    def kernel_inputs(self):
        """Tensors of :func:`orepa_1x1_kernel`, in its argument order."""
        return (self.weight_or1x1_origin, self.weight_or1x1_l2i_conv1,
                self.weight_or1x1_l2i_conv2, self.vector)

    def kernel_function(self):
        """``f(*kernel_inputs()) -> kernel``, see
        :mod:`mmreplk.models.layers.orepa_kernel_batching`."""
        return functools.partial(orepa_1x1_kernel)

    def squeezed_kernel(self):
        """``v_0 * W_origin + v_1 * (W_conv2 @ W_conv1)`` as one 1x1 kernel
        (official ``weight_gen``); differentiable."""
        return orepa_1x1_kernel(*self.kernel_inputs())

    def training_attrs(self):
        return ('weight_or1x1_origin', 'weight_or1x1_l2i_conv1',
                'weight_or1x1_l2i_conv2', 'vector', 'bn')


def orepa_1x1_kernel(origin, l2i_conv1, l2i_conv2, vector):
    """The squeezed 1x1 kernel of :class:`OREPA_1x1`'s two branches, a pure
    function of its tensors."""
    product = torch.einsum('ti,ot->oi', l2i_conv1.flatten(1),
                           l2i_conv2.flatten(1))
    kernel = origin.flatten(1) * vector[0, :, None] + \
        product * vector[1, :, None]
    return kernel[:, :, None, None]


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


class OREPA_LargeConv(OnlineRepConvUnit, deploy_attr='or_large_reparam'):
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
        recompute_kernel (bool): As in :class:`OREPA`.
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build ``or_large_reparam`` only (one kxk conv).
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
                 recompute_kernel=False,
                 deploy=False,
                 init_cfg=None):
        super().__init__(
            recompute_kernel=recompute_kernel,
            deploy=deploy,
            init_cfg=init_cfg)
        name = type(self).__name__
        check_supported(name, 'groups', groups, 1,
                        'its 3x3 layers are composed densely',
                        'OREPA or ConvBN')
        if self._setup_conv_unit(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation,
                1,
                act_cfg,
                min_kernel=3):
            return
        self.layers = (kernel_size - 1) // 2
        for i in range(self.layers):
            self.add_module(
                f'weight{i}',
                OREPAKernel(in_channels if i == 0 else out_channels,
                            out_channels, 3))
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

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

    def training_attrs(self):
        return tuple(f'weight{i}' for i in range(self.layers)) + ('bn', )


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
        recompute_kernel (bool): As in :class:`OREPA`.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 stride=1,
                 padding=1,
                 groups=1,
                 internal_channels_1x1_3x3=None,
                 norm_cfg=dict(type='BN'),
                 recompute_kernel=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        self.recompute_kernel = check_recompute(name, recompute_kernel)
        self.batched_kernel = None
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
        self.weight_rbr_origin = _kaiming_parameter(
            out_channels, in_channels, k, k, a=1.0)
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
        has_identity = in_channels == out_channels and stride == 1
        rows = len(REPVGG_DENSE_BRANCH_SCALES) + int(has_identity)
        self.vector = nn.Parameter(torch.zeros(rows, out_channels))
        with torch.no_grad():
            for row, scale in enumerate(REPVGG_DENSE_BRANCH_SCALES):
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
        return functools.partial(
            orepa_3x3_repvgg_kernel, in_channels=self.in_channels)

    def squeezed_kernel(self):
        """``sum_b vector[b] * K_b`` (official ``weight_gen``)."""
        return self.kernel_function()(*self.kernel_inputs())

    def forward(self, x):
        out = F.conv2d(x, unit_kernel(self), None, self.stride, self.padding)
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
