"""OREPA's re-parameterised 1x1 convolution (official ``blocks.OREPA_1x1``).

Two linear branches, each scaled channel-wise by a row of ``vector``, one BN
after the sum, squeezed into one 1x1 kernel at every forward pass::

    0 origin   W_origin
    1 1x1-1x1  W_l2i_conv2 @ W_l2i_conv1   (one factor starts as identity)
    K = v_0 * W_origin + v_1 * (W_l2i_conv2 @ W_l2i_conv1)
"""
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_arg_checks import check_conv_channels, check_stride
from .conv_bn_fusion import fuse_conv_bn
from .deploy_conv import build_deploy_conv
from .foldable_norm import build_foldable_norm
from .kernel_recompute import training_kernel
from .orepa import _kaiming_parameter
from .orepa_kernel_batching import supplied_kernel

# Initial scales of the two branches (rows of ``vector``), as official.
BRANCH_INIT_SCALES = (1.0, 0.5)


@MODELS.register_module()
class OREPA_1x1(RepModule):
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
        recompute_kernel (bool, optional): Regenerate the squeezed kernel in
            the backward pass instead of storing its intermediates (same
            results, far less training memory, more time); None: the
            measured per-device default (off on CUDA, on elsewhere; see
            :mod:`mmreplk.models.layers.kernel_recompute`).
        deploy (bool): Build the single-conv inference form.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1,
                 padding=None, dilation=1, groups=1,
                 norm_cfg=dict(type='BN'), act_cfg=None, single_init=False,
                 recompute_kernel=None, deploy=False, init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        self.recompute_kernel = recompute_kernel
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_stride(name, stride)
        if kernel_size != 1:
            raise ValueError(f'{name}: kernel_size must be 1, got '
                             f'{kernel_size!r}; use OREPA for kxk kernels.')
        if padding not in (None, 0):
            raise ValueError(f'{name}: padding must be None or 0 for a 1x1 '
                             f'kernel, got {padding!r}.')
        if groups != 1:
            raise ValueError(f'{name} supports only groups=1 (as the '
                             f'official code), got groups={groups}; use '
                             f'ConvBN for grouped 1x1 convs.')
        if not isinstance(dilation, int) or dilation < 1:
            raise ValueError(f'{name}: dilation must be a positive int, got '
                             f'{dilation!r}.')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = 1, stride, 0
        self.dilation, self.groups = dilation, 1
        self.act = nn.Identity() if act_cfg is None else \
            build_activation_layer(act_cfg)
        if deploy:
            self.or1x1_reparam = self._deploy_conv()
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
            for row, scale in enumerate(BRANCH_INIT_SCALES):
                self.vector[row].fill_(scale)
            if single_init:
                self.vector[1].zero_()
        self.bn = build_foldable_norm(name, norm_cfg, out_channels)

    def _deploy_conv(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels, 1,
                                 self.stride, 0, self.dilation, 1, kernel,
                                 bias)

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

    def forward(self, x):
        if self.deploy:
            return self.act(self.or1x1_reparam(x))
        kernel = supplied_kernel(self)
        if kernel is None:
            kernel = training_kernel(self.squeezed_kernel,
                                     self.recompute_kernel, x.device)
        out = F.conv2d(x, kernel, None, self.stride)
        return self.act(self.bn(out))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode unit as one conv."""
        return fuse_conv_bn(self.squeezed_kernel(), self.bn)

    def switch_to_deploy(self):
        if self.deploy:
            return
        with torch.no_grad():
            kernel, bias = self.fused_kernel_bias()
        for name in ('weight_or1x1_origin', 'weight_or1x1_l2i_conv1',
                     'weight_or1x1_l2i_conv2', 'vector', 'bn'):
            delattr(self, name)
        self.or1x1_reparam = self._deploy_conv(kernel, bias)
        self.deploy = True


def orepa_1x1_kernel(origin, l2i_conv1, l2i_conv2, vector):
    """The squeezed 1x1 kernel of :class:`OREPA_1x1`'s two branches, a pure
    function of its tensors."""
    product = torch.einsum('ti,ot->oi', l2i_conv1.flatten(1),
                           l2i_conv2.flatten(1))
    kernel = origin.flatten(1) * vector[0, :, None] + \
        product * vector[1, :, None]
    return kernel[:, :, None, None]
