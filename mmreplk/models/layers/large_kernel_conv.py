"""RepLKNet's re-parameterisable large-kernel depthwise convolution."""
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from mmreplk.registry import MODELS
from ..reparam import RepModule
from .conv_bn_fusion import fuse_conv_bn
from .depthwise_conv import DepthwiseConv2d


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


@MODELS.register_module()
class ReparamLargeKernelConv(RepModule):
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

    def __init__(self, channels, large_kernel, small_kernel=None,
                 norm_cfg=dict(type='BN'), impl='auto', deploy=False,
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        check_kernel_sizes(large_kernel, small_kernel)
        self.channels = channels
        self.large_kernel = large_kernel
        self.small_kernel = small_kernel
        self.impl = impl
        if deploy:
            self.reparam_conv = self._make_conv(large_kernel, bias=True)
            return
        conv_cfg = dict(type='DepthwiseConv2d', impl=impl)
        self.large_conv = ConvModule(
            channels, channels, large_kernel, padding=large_kernel // 2,
            groups=channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            act_cfg=None)
        if small_kernel is not None:
            self.small_conv = ConvModule(
                channels, channels, small_kernel, padding=small_kernel // 2,
                groups=channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                act_cfg=None)

    def _make_conv(self, kernel, bias):
        return DepthwiseConv2d(self.channels, self.channels, kernel,
                               padding=kernel // 2, bias=bias, impl=self.impl)

    def forward(self, x):
        if self.deploy:
            return self.reparam_conv(x)
        out = self.large_conv(x)
        if self.small_kernel is not None:
            out = out + self.small_conv(x)
        return out

    def get_equivalent_kernel_bias(self):
        """Kernel and bias of the single conv equal to the eval-mode layer."""
        kernel, bias = fuse_conv_bn(self.large_conv.conv.weight,
                                    self.large_conv.norm)
        if self.small_kernel is not None:
            small_k, small_b = fuse_conv_bn(self.small_conv.conv.weight,
                                            self.small_conv.norm)
            pad = (self.large_kernel - self.small_kernel) // 2
            kernel = kernel + F.pad(small_k, [pad] * 4)
            bias = bias + small_b
        return kernel, bias

    def switch_to_deploy(self):
        if self.deploy:
            return
        kernel, bias = self.get_equivalent_kernel_bias()
        self.reparam_conv = self._make_conv(self.large_kernel, bias=True).to(
            device=kernel.device, dtype=kernel.dtype)
        self.reparam_conv.weight.data.copy_(kernel.detach())
        self.reparam_conv.bias.data.copy_(bias.detach())
        del self.large_conv
        if self.small_kernel is not None:
            del self.small_conv
        self.deploy = True
