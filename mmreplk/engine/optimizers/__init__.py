from .cpu_autocast_optim_wrapper import CPUAutocastOptimWrapper
from .layer_decay_constructor import LayerDecayOptimWrapperConstructor

__all__ = ['CPUAutocastOptimWrapper', 'LayerDecayOptimWrapperConstructor']
