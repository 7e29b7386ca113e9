"""Timing and machine description shared by the benchmark scripts in
tools/analysis (results are written to JSON/markdown, never asserted)."""
import os
import os.path as osp
import platform
import statistics
import time

import torch


def machine_info():
    """Machine, library versions and threads, for benchmark reports."""
    info = dict(python=platform.python_version(), torch=torch.__version__,
                platform=platform.platform(), cpu_count=os.cpu_count(),
                threads=torch.get_num_threads())
    try:
        import triton
        info['triton'] = triton.__version__
    except ImportError:
        info['triton'] = None
    info['gpu'] = torch.cuda.get_device_name(0) \
        if torch.cuda.is_available() else None
    info['cuda'] = torch.version.cuda if info['gpu'] else None
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    return info


def synchronize(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def median_time(fn, device='cpu', repeats=5, warmup=1):
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
