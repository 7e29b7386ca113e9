"""Small building blocks of the backbones that are not re-parameterised:
GRN, LayerNorm2d, squeeze-and-excitation and the NCHW <-> NHWC
permutations."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule


class ToChannelsLast(nn.Module):
    """``(N, C, H, W) -> (N, H, W, C)``; no parameters (it takes an index of
    an ``nn.Sequential``, as in the official ConvNeXt-style blocks)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class ToChannelsFirst(nn.Module):
    """``(N, H, W, C) -> (N, C, H, W)``; no parameters."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2), channels-last:
    ``(gamma * N(x) + 1) * x + beta`` with ``N(x)`` the per-channel L2 norm
    over H and W divided by its mean over channels; inputs ``(N, H, W, C)``.

    Args:
        channels (int): Channels.
        use_bias (bool): Learn ``beta``. Defaults to True.
        eps (float): Stabiliser of the division. Defaults to 1e-6.
    """

    def __init__(self, channels, use_bias=True, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels)) \
            if use_bias else None

    def forward(self, x):
        spatial = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        response = spatial / (spatial.mean(dim=-1, keepdim=True) + self.eps)
        out = (self.gamma * response + 1) * x
        return out + self.beta if self.beta is not None else out


class LayerNorm2d(nn.LayerNorm):
    """``nn.LayerNorm`` applied over the channel dimension of ``(N, C, H, W)``
    inputs (ConvNeXt's "channels_first" LayerNorm; same ``weight``/``bias``
    keys).

    Args:
        num_channels (int): Channels.
        eps (float): Added to the variance. Defaults to 1e-6.
    """

    def __init__(self, num_channels, eps=1e-6):
        super().__init__(num_channels, eps=eps)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class SEBlock(BaseModule):
    """Squeeze-and-excitation (official RepVGG/OREPA ``SEBlock``):
    Global average pool, 1x1 conv ``down``, ReLU, 1x1 conv ``up``,
    sigmoid, channel-wise rescale. Keys ``down.*``, ``up.*``.

    Args:
        channels (int): Input/output channels.
        internal_neurons (int): Bottleneck width.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels, internal_neurons, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.down = nn.Conv2d(channels, internal_neurons, 1, bias=True)
        self.up = nn.Conv2d(internal_neurons, channels, 1, bias=True)

    def forward(self, x):
        scale = x.mean((2, 3), keepdim=True)
        scale = torch.sigmoid(self.up(F.relu(self.down(scale))))
        return x * scale
