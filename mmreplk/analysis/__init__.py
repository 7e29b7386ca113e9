from .activation_memory import SavedTensorBytes
from .benchmarking import machine_info, median_time, synchronize

__all__ = ['SavedTensorBytes', 'machine_info', 'median_time', 'synchronize']
