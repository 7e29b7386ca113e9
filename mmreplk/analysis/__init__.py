from .activation_memory import SavedTensorBytes
from .benchmarking import (add_benchmark_args, check_benchmark_args,
                           check_results_writable, default_out_dir,
                           format_timing, impossible_results_markdown,
                           machine_info, median_time, peak_memory,
                           resolve_device, synchronize, time_interleaved,
                           timing_stats, write_results)
from .dispatch_count import DispatchedOpCounter

__all__ = [
    'DispatchedOpCounter', 'SavedTensorBytes', 'add_benchmark_args',
    'check_benchmark_args', 'check_results_writable', 'default_out_dir',
    'resolve_device', 'format_timing', 'impossible_results_markdown',
    'machine_info', 'median_time', 'peak_memory', 'synchronize',
    'time_interleaved', 'timing_stats', 'write_results'
]
