from .atomic_local_backend import AtomicLocalBackend, atomic_write_bytes
from .checkpoint_safe_globals import register_checkpoint_safe_globals
from .cpu_distributed import GlooSyncBatchNorm, setup_cpu_distributed
from .hooks import AtomicCheckpointHook, RNGStateHook, SparseGroupHook
from .optimizers import (CPUAutocastOptimWrapper,
                         LayerDecayOptimWrapperConstructor)

__all__ = [
    'AtomicLocalBackend', 'atomic_write_bytes',
    'register_checkpoint_safe_globals', 'AtomicCheckpointHook',
    'RNGStateHook', 'SparseGroupHook',
    'LayerDecayOptimWrapperConstructor', 'CPUAutocastOptimWrapper',
    'GlooSyncBatchNorm',
    'setup_cpu_distributed'
]
