from .atomic_local_backend import AtomicLocalBackend
from .hooks import (AtomicCheckpointHook, RNGStateHook, SparseGroupHook,
                    SparseWeightHook)
from .optimizers import (CPUAutocastOptimWrapper,
                         LayerDecayOptimWrapperConstructor)
from .runner import SafeResumeRunner

__all__ = [
    'AtomicLocalBackend', 'AtomicCheckpointHook', 'RNGStateHook',
    'SparseGroupHook', 'SparseWeightHook', 'LayerDecayOptimWrapperConstructor',
    'CPUAutocastOptimWrapper', 'SafeResumeRunner'
]
