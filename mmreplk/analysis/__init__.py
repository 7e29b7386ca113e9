from .activation_memory import SavedTensorBytes
from .benchmarking import (default_out_dir, machine_info, median_time,
                           synchronize, time_interleaved, timing_stats,
                           write_results)
from .dispatch_count import DispatchedOpCounter

__all__ = [
    'DispatchedOpCounter', 'SavedTensorBytes', 'default_out_dir',
    'machine_info', 'median_time', 'synchronize', 'time_interleaved',
    'timing_stats', 'write_results'
]
