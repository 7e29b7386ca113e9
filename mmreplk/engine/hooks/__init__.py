from .rng_state_hook import RNGStateHook
from .sparse_group_hook import SparseGroupHook

__all__ = ['RNGStateHook', 'SparseGroupHook']
