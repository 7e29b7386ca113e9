"""BatchNorm that pads its output with the value BN gives a zero input
(official DBB ``BNAndPadLayer``)."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from .foldable_norm import build_foldable_norm


class BNAndPadLayer(BaseModule):
    """BN, then a border of ``pad_pixels`` filled with BN's eval-mode output
    for a zero input, ``beta - mean * gamma / std``.

    In DBB a 1x1 conv + BN feeds a kxk conv (or average pool) without
    padding. Padding *after* the BN with BN's own response to zero makes the
    pair equal to a conv on a zero-padded input once the BN is folded into a
    bias, so the branch re-parameterises exactly at the borders. The pad
    value uses running statistics in training too, as the official code.

    Keys: ``bn.*``.

    Args:
        pad_pixels (int): Border width.
        num_features (int): Channels.
        norm_cfg (dict): BatchNorm-family norm config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, pad_pixels, num_features, norm_cfg=dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.pad_pixels = pad_pixels
        self.bn = build_foldable_norm('DBB', norm_cfg, num_features)

    def pad_values(self):
        """Per-channel border value (detached, like the official layer)."""
        bn = self.bn
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.affine:
            return bn.bias.detach() - bn.running_mean * \
                bn.weight.detach() * scale
        return -bn.running_mean * scale

    def forward(self, x):
        out = self.bn(x)
        p = self.pad_pixels
        if p == 0:
            return out
        values = self.pad_values().view(1, -1, 1, 1)
        # 1 on the border, 0 inside.
        border = F.pad(torch.zeros_like(out[:1, :1]), [p] * 4, value=1)
        return F.pad(out, [p] * 4) + border * values
