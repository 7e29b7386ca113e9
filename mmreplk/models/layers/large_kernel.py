"""Large depthwise kernels: RepLKNet's re-parameterisable large-kernel conv
(:class:`ReparamLargeKernelConv`) and the ``nn.Conv2d`` drop-in that runs it
on mmreplk's large-kernel op (:class:`DepthwiseConv2d`)."""
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import constant_init, kaiming_init

from mmreplk.ops import check_impl, depthwise_conv2d
from .kernel_transforms import pad_kernel_to
from .reparam_base import RepModule, filled_conv, fuse_conv_bn


def check_kernel_sizes(large_kernel, small_kernel):
    """Raise a ValueError naming the fix for invalid kernel sizes."""
    if not isinstance(large_kernel, int) or large_kernel < 3 \
            or large_kernel % 2 == 0:
        raise ValueError(f'large_kernel must be an odd int >= 3, got '
                         f'{large_kernel!r} (e.g. 31, 29, 27, 13).')
    if small_kernel is None:
        return
    if not isinstance(small_kernel, int) or small_kernel < 1 \
            or small_kernel % 2 == 0:
        raise ValueError(f'small_kernel must be an odd int (e.g. 5) or None, '
                         f'got {small_kernel!r}.')
    if small_kernel >= large_kernel:
        raise ValueError(
            f'small_kernel ({small_kernel}) must be smaller than large_kernel '
            f'({large_kernel}); use small_kernel=None to disable the branch.')


class ReparamLargeKernelConv(RepModule, deploy_attr='reparam_conv'):
    """Large depthwise kernel + BN, plus a parallel small kernel + BN.

    In deploy form both branches are one depthwise convolution with bias: the
    small kernel is zero-padded to the large size and added (RepLKNet, Sec. 3,
    guideline 3).

    Args:
        channels (int): Input and output channels (depthwise).
        large_kernel (int): Odd size of the large kernel, e.g. 31.
        small_kernel (int, optional): Odd size of the parallel small kernel,
            e.g. 5; None disables the branch. Defaults to None.
        norm_cfg (dict): Norm of each branch; must be BatchNorm-family for
            re-parameterisation. Defaults to ``dict(type='BN')``.
        impl (str): Back end of the depthwise op (see
            :func:`mmreplk.ops.depthwise_conv2d`). Defaults to 'auto'.
        deploy (bool): Build the single-conv inference form. Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 channels,
                 large_kernel,
                 small_kernel=None,
                 norm_cfg=dict(type='BN'),
                 impl='auto',
                 deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        check_kernel_sizes(large_kernel, small_kernel)
        self.channels = channels
        self.large_kernel = large_kernel
        self.small_kernel = small_kernel
        self.impl = impl
        if deploy:
            self._init_deploy_form()
            return
        self.large_conv = DepthwiseConvNorm(channels, large_kernel, norm_cfg,
                                            impl)
        if small_kernel is not None:
            self.small_conv = DepthwiseConvNorm(channels, small_kernel,
                                                norm_cfg, impl)

    def forward(self, x):
        if self.deploy:
            return self.reparam_conv(x)
        out = self.large_conv(x)
        if self.small_kernel is not None:
            out = out + self.small_conv(x)
        return out

    def fused_kernel_bias(self):
        """Kernel and bias of the single conv equal to the eval-mode layer."""
        kernel, bias = fuse_conv_bn(self.large_conv.conv.weight,
                                    self.large_conv.norm)
        if self.small_kernel is not None:
            small_k, small_b = fuse_conv_bn(self.small_conv.conv.weight,
                                            self.small_conv.norm)
            kernel = kernel + pad_kernel_to(small_k, self.large_kernel)
            bias = bias + small_b
        return kernel, bias

    def training_attrs(self):
        return ('large_conv', 'small_conv')

    def build_deploy_module(self, kernel=None, bias=None):
        """The biased large-kernel :class:`DepthwiseConv2d`."""
        return filled_conv(
            DepthwiseConv2d(
                self.channels,
                self.channels,
                self.large_kernel,
                padding=self.large_kernel // 2,
                bias=True,
                impl=self.impl), kernel, bias)


class DepthwiseConvNorm(nn.Module):
    """A bias-free "same" :class:`DepthwiseConv2d` followed by a norm: one
    branch of :class:`ReparamLargeKernelConv` and of SLaK's
    :class:`~mmreplk.models.layers.DecomposedLargeKernelConv`.

    Keys ``conv.weight`` and ``<norm>.*`` (``bn.*`` for BatchNorm), the
    layout of mmcv's ``ConvModule`` that the converted official checkpoints
    use; the conv starts from the same Kaiming-normal (fan-out)
    initialisation, and :meth:`init_weights` repeats it.

    Args:
        channels (int): Input and output channels.
        kernel_size (int | tuple[int, int]): Odd kernel size, square or
            ``(kh, kw)`` (padded ``(kh // 2, kw // 2)``).
        norm_cfg (dict, optional): Norm config (BatchNorm-family to be
            foldable); None: no norm.
        impl (str): Back end of :func:`depthwise_conv2d`.
    """

    def __init__(self, channels, kernel_size, norm_cfg, impl='auto'):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) \
            else kernel_size
        self.conv = DepthwiseConv2d(
            channels,
            channels,
            kernel_size,
            padding=(kh // 2, kw // 2),
            bias=False,
            impl=impl)
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, channels)
            self.add_module(self.norm_name, norm)
        self.init_weights()

    @property
    def norm(self):
        return None if self.norm_name is None else getattr(
            self, self.norm_name)

    def init_weights(self):
        kaiming_init(self.conv, a=0, nonlinearity='relu')
        if self.norm is not None:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x):
        out = self.conv(x)
        return out if self.norm is None else self.norm(out)

    def fused_kernel_bias(self):
        """Kernel and bias of the eval-mode branch as one biased conv (a
        zero bias without norm)."""
        if self.norm is None:
            weight = self.conv.weight
            return weight, weight.new_zeros(weight.shape[0])
        return fuse_conv_bn(self.conv.weight, self.norm)


class DepthwiseConv2d(nn.Conv2d):
    """Depthwise, stride-1 ``nn.Conv2d`` backed by :func:`depthwise_conv2d`.

    Args:
        in_channels (int): Channels; must equal ``out_channels`` and
            ``groups``.
        out_channels (int): Same as ``in_channels``.
        kernel_size (int | tuple[int, int]): Odd kernel size.
        impl (str): Back end of :func:`depthwise_conv2d`. Defaults to 'auto'.
        **kwargs: Other ``nn.Conv2d`` arguments (``padding``, ``bias``...).
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 impl='auto',
                 **kwargs):
        groups = kwargs.pop('groups', in_channels)
        if not in_channels == out_channels == groups:
            raise ValueError(
                'DepthwiseConv2d needs in_channels == out_channels == groups, '
                f'got {in_channels}, {out_channels}, {groups}.')
        if kwargs.get('stride', 1) not in (1, (1, 1)):
            raise ValueError('DepthwiseConv2d supports stride 1 only, got '
                             f'{kwargs["stride"]}.')
        if kwargs.get('dilation', 1) not in (1, (1, 1)):
            raise ValueError('DepthwiseConv2d supports dilation 1 only.')
        if kwargs.get('padding_mode', 'zeros') != 'zeros':
            raise ValueError('DepthwiseConv2d supports zero padding only, '
                             f'got padding_mode={kwargs["padding_mode"]!r}.')
        if isinstance(kwargs.get('padding', 0), str):
            raise ValueError('DepthwiseConv2d needs integer padding (use '
                             'kernel_size // 2 for "same"), got '
                             f'{kwargs["padding"]!r}.')
        check_impl(impl, type(self).__name__, ops=('depthwise_conv2d', ))
        super().__init__(
            in_channels, out_channels, kernel_size, groups=groups, **kwargs)
        self.impl = impl

    def forward(self, x):
        return depthwise_conv2d(
            x, self.weight, self.bias, padding=self.padding, impl=self.impl)
