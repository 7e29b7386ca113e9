from .atomic_checkpoint_hook import (AtomicCheckpointHook,
                                     upgrade_checkpoint_hook)
from .dispatch_choices_hook import DispatchChoicesHook
from .rng_state_hook import RNGStateHook
from .sparse_group_hook import SparseGroupHook
from .sparse_weight_hook import SparseWeightHook

# Hooks a run needs for --resume to continue it bit for bit; tools/train.py
# adds any that a config's custom_hooks lacks.
EXACT_RESUME_HOOKS = ('RNGStateHook', 'DispatchChoicesHook')

__all__ = [
    'AtomicCheckpointHook', 'DispatchChoicesHook', 'EXACT_RESUME_HOOKS',
    'RNGStateHook', 'SparseGroupHook', 'SparseWeightHook',
    'upgrade_checkpoint_hook'
]
