"""LayerNorm over the channels of NCHW feature maps."""
import torch.nn as nn
import torch.nn.functional as F

from mmreplk.registry import MODELS


@MODELS.register_module()
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
