"""``nn.Conv2d`` drop-in that routes depthwise convolutions through mmreplk's
large-kernel op, so ``ConvModule(conv_cfg=dict(type='DepthwiseConv2d'))`` and
the deploy form of re-parameterised layers use the same fast kernel."""
import torch.nn as nn

from mmreplk.ops import depthwise_conv2d
from mmreplk.ops.depthwise_conv import IMPLS
from mmreplk.registry import MODELS


@MODELS.register_module()
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

    def __init__(self, in_channels, out_channels, kernel_size, impl='auto',
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
        if impl not in IMPLS:
            raise ValueError(f'Unknown impl {impl!r}; choose one of {IMPLS}.')
        super().__init__(in_channels, out_channels, kernel_size,
                         groups=groups, **kwargs)
        self.impl = impl

    def forward(self, x):
        return depthwise_conv2d(x, self.weight, self.bias, self.padding,
                                impl=self.impl)
