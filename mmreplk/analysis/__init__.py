from .benchmarking import machine_info, median_time, synchronize

__all__ = ['machine_info', 'median_time', 'synchronize']
