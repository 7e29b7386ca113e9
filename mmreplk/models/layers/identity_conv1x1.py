"""A 1x1 convolution parameterised as identity + learned residual (official
DBB ``IdentityBasedConv1x1``)."""
import torch.nn as nn
import torch.nn.functional as F

from .kernel_transforms import identity_kernel


class IdentityBasedConv1x1(nn.Conv2d):
    """Square grouped 1x1 conv whose kernel is ``weight + I``.

    ``weight`` starts at zero, so the conv starts as the identity. ``I`` is a
    non-persistent buffer (the official code keeps it out of the state dict
    too): keys ``weight`` only.

    Args:
        channels (int): Input and output channels.
        groups (int): Groups. Defaults to 1.
    """

    def __init__(self, channels, groups=1):
        super().__init__(channels, channels, 1, groups=groups, bias=False)
        self.register_buffer('id_tensor',
                             identity_kernel(channels, channels // groups),
                             persistent=False)
        nn.init.zeros_(self.weight)

    def actual_kernel(self):
        return self.weight + self.id_tensor

    def forward(self, x):
        return F.conv2d(x, self.actual_kernel(), None, groups=self.groups)
