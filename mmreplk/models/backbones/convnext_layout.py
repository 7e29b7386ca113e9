"""What the ConvNeXt-layout backbones (ShiftWiseNet, SLaK, UniRepLKNet)
share: four ``downsample_layers[i] -> stages[i]`` pairs, an output norm
``norm{i}`` per returned stage, freezing in that order, and optionally the
official trunc-normal initialisation."""
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_

from .staged_backbone import StagedBackbone


class ConvNeXtLayoutBackbone(StagedBackbone):
    """:class:`StagedBackbone` whose subclass builds ``downsample_layers``,
    ``stages`` (4 each) and ``norm{i}`` for ``i`` in ``out_indices``.

    Set ``official_init = True`` for the families whose official code
    initialises every ``Conv2d`` and ``Linear`` with trunc-normal weights
    (std 0.02) and zero biases; ``init_cfg`` (a ``Pretrained`` checkpoint)
    applies after it.
    """
    official_init = False

    def init_weights(self):
        if self.official_init and not self.is_init:
            self.apply(_trunc_normal_init)
        super().init_weights()

    def forward(self, x):
        outs = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x))
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield self.downsample_layers[0]
        for i in range(self.frozen_stages):
            if i > 0:
                yield self.downsample_layers[i]
            yield self.stages[i]


def _trunc_normal_init(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)
