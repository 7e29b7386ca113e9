"""Squeeze-and-excitation as in the official RepVGG/OREPA ``SEBlock``."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule


class SEBlock(BaseModule):
    """Global average pool, 1x1 conv ``down``, ReLU, 1x1 conv ``up``,
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
