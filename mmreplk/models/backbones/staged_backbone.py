"""What every mmreplk backbone shares: OpenMMLab's ``out_indices``,
``frozen_stages`` and ``norm_eval`` conventions, checked and applied once."""
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm


class StagedBackbone(BaseModule):
    """Base class of backbones made of a stem and ``num_stages`` stages.

    Subclasses call ``super().__init__`` first, build their layers, implement
    :meth:`_frozen_modules` and call :meth:`_freeze_stages` at the end of their
    own ``__init__``.

    Args:
        num_stages (int): Number of stages that can be output or frozen.
        out_indices (int | Sequence[int]): Stages whose outputs are returned;
            negative indices count from the end.
        frozen_stages (int): -1 freezes nothing, 0 freezes the stem, ``i``
            freezes the stem and the first ``i`` stages.
        norm_eval (bool): Keep BatchNorm layers in eval mode during training.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self, num_stages, out_indices, frozen_stages, norm_eval,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_stages = num_stages
        self.out_indices = self._parse_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or \
                not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be an int in '
                             f'[-1, {num_stages}], got {frozen_stages!r}.')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    def _parse_out_indices(self, out_indices):
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for idx in out_indices:
            if not isinstance(idx, int) or \
                    not -self.num_stages <= idx < self.num_stages:
                raise ValueError(
                    f'out_indices entry {idx!r} is out of range for '
                    f'{self.num_stages} stages (valid: 0..'
                    f'{self.num_stages - 1} or negative).')
            parsed.append(idx % self.num_stages)
        return tuple(parsed)

    def _frozen_modules(self):
        """Yield the modules frozen by ``self.frozen_stages``."""
        raise NotImplementedError

    def _freeze_stages(self):
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
