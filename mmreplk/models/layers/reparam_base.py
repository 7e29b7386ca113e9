"""The re-parameterisation protocol and the plain conv-BN unit.

Every layer with a training form and a cheaper, equivalent inference form
subclasses :class:`RepModule`. A subclass says three things:

* :meth:`RepModule.fused_kernel_bias`: the tensors of the inference form,
  computed from the eval-mode training form;
* :meth:`RepModule.training_attrs`: the attributes only the training form
  has (deleted on conversion);
* :meth:`RepModule.build_deploy_module`: the inference module, stored under
  :attr:`RepModule.deploy_attr` (its name is the checkpoint key prefix).

:meth:`RepModule.switch_to_deploy` does the conversion, for every layer the
same way. Layers whose inference form is one biased convolution derive from
:class:`RepConvUnit`, which also holds their shared argument checks. A layer
whose inference form is several tensors rather than one module
(``ShiftWiseConv2d``) overrides ``_init_deploy_form`` and
``_install_deploy_form`` instead of giving a ``deploy_attr``.

BatchNorm folding (:func:`fold_batch_norm`) lives here too, once.
"""
import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

# --------------------------------------------------------------- BatchNorm


def fold_batch_norm(norm):
    """Per-channel ``(scale, shift)`` with ``norm(x) == x * scale + shift``
    in eval mode (running statistics).

    Args:
        norm (nn.Module): A BatchNorm-family layer (BN, SyncBN).

    Returns:
        tuple[Tensor, Tensor]: ``gamma / std`` and ``beta - mean * gamma /
        std``, differentiable in ``gamma`` and ``beta``.
    """
    if not isinstance(norm, _BatchNorm):
        raise TypeError(
            f'Re-parameterisation folds BatchNorm into convolutions, but got '
            f'{type(norm).__name__}. Use norm_cfg=dict(type="BN") or '
            f'dict(type="SyncBN") for re-parameterisable layers.')
    if norm.running_var is None:
        raise ValueError('Cannot fold a BatchNorm built with '
                         'track_running_stats=False: it has no statistics.')
    std = torch.sqrt(norm.running_var + norm.eps)
    gamma = norm.weight if norm.affine else torch.ones_like(std)
    beta = norm.bias if norm.affine else torch.zeros_like(std)
    scale = gamma / std
    return scale, beta - norm.running_mean * scale


def fuse_conv_bn(weight, norm):
    """Kernel and bias of the bias-free ``conv(x, weight)`` followed by
    ``norm`` (eval mode), as one biased convolution.

    Args:
        weight (Tensor): Kernel ``(C_out, C_in/groups, kh, kw)``.
        norm (nn.Module): A BatchNorm-family layer on ``C_out``.

    Returns:
        tuple[Tensor, Tensor]: Fused kernel and bias.
    """
    scale, shift = fold_batch_norm(norm)
    return weight * scale.reshape(-1, 1, 1, 1), shift


def build_foldable_norm(layer, norm_cfg, num_features):
    """Build ``norm_cfg`` on ``num_features`` and check it can be folded.

    Only BatchNorm-family norms become a per-channel affine map in eval mode;
    anything else could train but never be deployed, so it is rejected
    before any training time is spent.

    Args:
        layer (str): Name of the calling layer, for the error message.
        norm_cfg (dict): mmcv norm config.
        num_features (int): Channels.

    Returns:
        nn.Module: The norm layer.
    """
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise ValueError(f'{layer}: norm_cfg must be a dict with a "type", '
                         f'e.g. dict(type="BN"); got {norm_cfg!r}.')
    norm = build_norm_layer(norm_cfg, num_features)[1]
    if not isinstance(norm, _BatchNorm):
        raise ValueError(
            f'{layer} folds its norm into a convolution, which needs a '
            f'BatchNorm-family norm; got norm_cfg type {norm_cfg["type"]!r}. '
            f'Use dict(type="BN") or dict(type="SyncBN").')
    return norm


# --------------------------------------------------------- argument checks


def check_conv_channels(layer, in_channels, out_channels, groups):
    """Channels and groups must be positive and ``groups`` must divide
    both channel counts."""
    for name, value in (('in_channels', in_channels),
                        ('out_channels', out_channels), ('groups', groups)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'{layer}: {name} must be a positive int, got '
                             f'{value!r}.')
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f'{layer}: groups={groups} must divide in_channels={in_channels} '
            f'and out_channels={out_channels}; pick a common divisor.')


def check_odd_kernel(layer, kernel_size, minimum=1):
    """``kernel_size`` must be an odd int ``>= minimum``: branch kernels are
    aligned on the centre tap."""
    if not isinstance(kernel_size, int) or kernel_size < minimum \
            or kernel_size % 2 == 0:
        raise ValueError(
            f'{layer}: kernel_size must be an odd int >= {minimum} (square '
            f'kernels only), got {kernel_size!r}.')


def check_positive_int(layer, name, value):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f'{layer}: {name} must be a positive int, got '
                         f'{value!r}.')


def check_supported(layer, name, value, supported, why, instead):
    """``value`` must equal ``supported``; the error says why and what to
    use instead."""
    if value != supported:
        raise ValueError(f'{layer} supports only {name}={supported} ({why}), '
                         f'got {name}={value!r}; use {instead}.')


def resolve_padding(layer,
                    kernel_size,
                    padding,
                    dilation=1,
                    require_same=False):
    """``None`` -> "same" padding; otherwise a non-negative int, which must
    be the same padding when the layer's branches only agree with it."""
    check_positive_int(layer, 'dilation', dilation)
    same = dilation * (kernel_size - 1) // 2
    if padding is None:
        return same
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f'{layer}: padding must be None ("same") or a '
                         f'non-negative int, got {padding!r}.')
    if require_same and padding != same:
        raise ValueError(
            f'{layer}: its branches are only equivalent with "same" padding '
            f'({same} for kernel_size={kernel_size}, dilation={dilation}); '
            f'got padding={padding}. Use padding=None.')
    return padding


def build_act(act_cfg):
    """``act_cfg``'s activation, or ``nn.Identity`` for None."""
    return nn.Identity() if act_cfg is None else \
        build_activation_layer(act_cfg)


# ---------------------------------------------------------------- protocol


class RepModule(BaseModule):
    """Base class of every re-parameterisable layer.

    Args:
        deploy (bool): Build the layer directly in its inference form, e.g. to
            load a checkpoint written after :meth:`switch_to_deploy`.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    #: Attribute holding the inference module (its checkpoint key prefix),
    #: given in the class statement: ``class DBB(RepConvUnit,
    #: deploy_attr='dbb_reparam')``.
    deploy_attr = None

    def __init_subclass__(cls, deploy_attr=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if deploy_attr is not None:
            cls.deploy_attr = deploy_attr

    def __init__(self, deploy=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.deploy = deploy

    def fused_kernel_bias(self):
        """Tensors of the inference form equal to the eval-mode training
        form; differentiable (``switch_to_deploy`` calls it under
        ``no_grad``). Conv units return ``(kernel, bias)``."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement fused_kernel_bias().')

    def training_attrs(self):
        """Names of the training-only attributes; those an instance lacks
        (optional branches) are skipped."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement training_attrs().')

    def build_deploy_module(self, *fused):
        """The inference module, empty, or filled with ``fused`` (the
        output of :meth:`fused_kernel_bias`) on its device and dtype."""
        raise NotImplementedError(
            f'{type(self).__name__} must implement build_deploy_module().')

    def _init_deploy_form(self):
        """Create the empty inference form (``__init__`` with deploy=True).
        """
        setattr(self, self.deploy_attr, self.build_deploy_module())

    def _install_deploy_form(self, fused):
        setattr(self, self.deploy_attr, self.build_deploy_module(*fused))

    def switch_to_deploy(self):
        """Fold the training form into the inference form in place.

        Folding uses BatchNorm running statistics (eval-mode behaviour). A
        no-op on a deployed layer.
        """
        if self.deploy:
            return
        with torch.no_grad():
            fused = tuple(t.detach() for t in self.fused_kernel_bias())
        for name in self.training_attrs():
            if hasattr(self, name):
                delattr(self, name)
        self._install_deploy_form(fused)
        self.deploy = True


def filled_conv(conv, kernel=None, bias=None):
    """``conv`` (with bias) holding ``kernel``/``bias`` on their device and
    dtype; unchanged when ``kernel`` is None."""
    if kernel is None:
        return conv
    conv = conv.to(device=kernel.device, dtype=kernel.dtype)
    with torch.no_grad():
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
    return conv


def build_deploy_conv(in_channels,
                      out_channels,
                      kernel_size,
                      stride,
                      padding,
                      dilation,
                      groups,
                      kernel=None,
                      bias=None):
    """Biased ``nn.Conv2d``, filled with ``kernel``/``bias`` if given."""
    return filled_conv(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=True), kernel, bias)


class RepConvUnit(RepModule):
    """A :class:`RepModule` whose inference form is one biased
    ``nn.Conv2d`` followed by the unit's activation.

    Subclasses call :meth:`_setup_conv_unit` in ``__init__``; it checks the
    conv arguments, stores the conv geometry, builds ``act`` and, with
    ``deploy=True``, the empty inference conv.
    """

    def _setup_conv_unit(self,
                         in_channels,
                         out_channels,
                         kernel_size,
                         stride,
                         padding,
                         dilation,
                         groups,
                         act_cfg,
                         min_kernel=1,
                         require_same=False):
        """Check and store the conv arguments; return True when the layer
        is built in deploy form (then the subclass builds nothing else)."""
        name = type(self).__name__
        check_conv_channels(name, in_channels, out_channels, groups)
        check_odd_kernel(name, kernel_size, min_kernel)
        check_positive_int(name, 'stride', stride)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = kernel_size, stride
        self.padding = resolve_padding(name, kernel_size, padding, dilation,
                                       require_same)
        self.dilation, self.groups = dilation, groups
        self.act = build_act(act_cfg)
        if self.deploy:
            self._init_deploy_form()
        return self.deploy

    def build_deploy_module(self, kernel=None, bias=None):
        return build_deploy_conv(self.in_channels, self.out_channels,
                                 self.kernel_size, self.stride, self.padding,
                                 self.dilation, self.groups, kernel, bias)


# ---------------------------------------------------------- conv-BN units


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

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 stride=1,
                 padding=0,
                 dilation=1,
                 groups=1,
                 norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=False)
        self.bn = build_foldable_norm(
            type(self).__name__, norm_cfg, out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode branch as one conv."""
        return fuse_conv_bn(self.conv.weight, self.bn)


class ConvBN(RepConvUnit, deploy_attr='conv'):
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
        init_cfg (dict, optional): Initialisation config.
        deploy (bool): Build the inference form, a biased ``conv``.
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
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        if self._setup_conv_unit(in_channels, out_channels, kernel_size,
                                 stride, padding, dilation, groups, act_cfg):
            return
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=self.padding,
            dilation=dilation,
            groups=groups,
            bias=False)
        self.bn = build_foldable_norm(
            type(self).__name__, norm_cfg, out_channels)

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

    def training_attrs(self):
        return ('conv', 'bn')
