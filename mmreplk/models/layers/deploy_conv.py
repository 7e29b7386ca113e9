"""The single biased convolution every conv-BN unit becomes when deployed."""
import torch
import torch.nn as nn


def build_deploy_conv(in_channels, out_channels, kernel_size, stride,
                      padding, dilation, groups, kernel=None, bias=None):
    """``nn.Conv2d`` with bias; filled with ``kernel``/``bias`` if given
    (then on their device and dtype, detached from any graph)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     padding=padding, dilation=dilation, groups=groups,
                     bias=True)
    if kernel is not None:
        conv = conv.to(device=kernel.device, dtype=kernel.dtype)
        with torch.no_grad():
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias)
    return conv
