from .activation_memory import SavedTensorBytes
from .benchmarking import (check_results_writable, default_out_dir,
                           machine_info, peak_memory, synchronize,
                           time_interleaved, timing_stats, write_results)
from .dispatch_count import DispatchedOpCounter
from .output_difference import max_abs_difference, relative_max_diff

__all__ = [
    'DispatchedOpCounter', 'SavedTensorBytes', 'check_results_writable',
    'default_out_dir', 'machine_info', 'max_abs_difference', 'peak_memory',
    'relative_max_diff', 'synchronize', 'time_interleaved', 'timing_stats',
    'write_results'
]
