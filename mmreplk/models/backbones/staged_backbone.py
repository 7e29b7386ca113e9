"""What every mmreplk backbone shares: OpenMMLab's ``out_indices``,
``frozen_stages`` and ``norm_eval`` conventions and the ``arch`` vocabulary,
checked and applied once."""
import copy

from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import RepModule


class StagedBackbone(BaseModule):
    """Base class of backbones made of a stem and ``num_stages`` stages.

    Subclasses parse ``arch`` with :meth:`parse_arch`, call
    ``super().__init__``, build their layers, implement
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

    # ``arch`` vocabulary shared by every backbone: a preset name of
    # ``arch_settings`` or a dict with ``stage_blocks`` (blocks per stage)
    # and ``channels`` (output channels per stage), plus the family's own
    # ``arch_required_keys`` and ``arch_defaults``.
    arch_settings = {}
    arch_required_keys = ()
    arch_defaults = {}
    #: Keys holding one entry per stage.
    arch_per_stage_keys = ('stage_blocks', 'channels')
    #: Stages every arch must have; None: any number.
    arch_num_stages = 4

    def __init__(self,
                 num_stages,
                 out_indices,
                 frozen_stages,
                 norm_eval,
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

    @classmethod
    def parse_arch(cls, arch):
        """Return the full arch dict (a copy) of a preset name or a custom
        dict, with the optional keys filled in.

        Raises:
            ValueError: Unknown preset name, missing or unknown keys, or
                per-stage keys whose lengths differ.
            TypeError: ``arch`` is neither a str nor a dict.
        """
        name = cls.__name__
        required = ('stage_blocks', 'channels') + tuple(cls.arch_required_keys)
        expected = (f'a dict with keys {list(required)} (optional: '
                    f'{sorted(cls.arch_defaults)})')
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(f'Unknown {name} arch {arch!r}; use one of '
                                 f'the presets {sorted(cls.arch_settings)} '
                                 f'or {expected}.')
            arch = cls.arch_settings[arch]
        elif not isinstance(arch, dict):
            raise TypeError(f'{name} arch must be a preset name or '
                            f'{expected}; got {type(arch).__name__}.')
        missing = [k for k in required if k not in arch]
        unknown = sorted(set(arch) - set(required) - set(cls.arch_defaults))
        if missing or unknown:
            raise ValueError(f'{name} arch dict: missing keys {missing}, '
                             f'unknown keys {unknown}; expected {expected}.')
        lengths = {k: len(arch[k]) for k in cls.arch_per_stage_keys}
        num_stages = cls.arch_num_stages or lengths['stage_blocks']
        if any(n != num_stages for n in lengths.values()):
            raise ValueError(f'{name} arch: {list(lengths)} need one entry '
                             f'per stage ({num_stages}); got {arch!r}.')
        return dict(copy.deepcopy(cls.arch_defaults), **copy.deepcopy(arch))

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

    def switch_to_deploy(self):
        """Convert every re-parameterisable layer to its inference form in
        place (the mmpretrain convention) and set ``deploy``, the one flag
        that says which form the backbone and its checkpoints are in.

        Folding uses BatchNorm running statistics, so the result equals the
        eval-mode training form. A no-op on a deployed backbone.
        """
        # Collect first: switch_to_deploy deletes sub-modules.
        for module in [m for m in self.modules() if isinstance(m, RepModule)]:
            module.switch_to_deploy()
        self.deploy = True
