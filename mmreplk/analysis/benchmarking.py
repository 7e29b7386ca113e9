"""Timing, machine info and result files of benchmarks (docs/tools.md)."""
import ctypes.util
import os
import platform
import statistics
import time

import torch

from mmreplk.utils.atomic_write import atomic_write_bytes, atomic_write_json
from mmreplk.utils.tool_entry import ToolInputError


def machine_info():
    """Machine, library versions and threads, for benchmark reports."""
    info = dict(
        python=platform.python_version(),
        torch=torch.__version__,
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        threads=torch.get_num_threads())
    try:
        import triton
        info['triton'] = triton.__version__
    except ImportError:
        info['triton'] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    info.update(gpu=gpu, cuda=torch.version.cuda if gpu else None)
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [ln for ln in f if ln.startswith('model name')]
        if names:
            info['cpu'] = names[0].split(':', 1)[1].strip()
    return info


def synchronize(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def _proc_status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if we can't."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            return f.write('5') == 1
    except OSError:
        return False


def _set_mmap_threshold(nbytes):
    """glibc's ``mallopt(M_MMAP_THRESHOLD, nbytes)``; False without glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        return bool(libc.mallopt(-3, int(nbytes)))  # M_MMAP_THRESHOLD = -3
    except (OSError, AttributeError):
        return False


def peak_memory(fn, device, setup=None, cpu_calls=3):
    """``(fn() or fn(setup()), peak bytes, how)``; method: docs/tools.md."""
    device = torch.device(device)
    if device.type == 'cuda':
        args = () if setup is None else (setup(), )
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn(*args)
        synchronize(device)
        return (out, torch.cuda.max_memory_allocated(device) - base,
                'cuda max_memory_allocated')
    if not _reset_peak_rss():
        out = fn() if setup is None else fn(setup())
        return out, None, 'not measured: /proc/self/clear_refs unavailable'
    mmapped, peak = _set_mmap_threshold(64 * 1024), 0
    try:
        for _ in range(cpu_calls):
            args = () if setup is None else (setup(), )
            _reset_peak_rss()
            base = _proc_status_kib('VmRSS')
            out = fn(*args)
            peak = max(peak, (_proc_status_kib('VmHWM') - base) * 1024)
    finally:
        if mmapped:  # glibc's dynamic maximum, where it settles anyway
            _set_mmap_threshold(32 * 2**20)
    return out, peak, (f'peak RSS growth, largest of {cpu_calls} calls (a '
                       'lower bound)')


def timing_stats(times):
    """``{'min', 'median', 'max', 'repeats'}`` of a list of seconds."""
    values = min(times), statistics.median(times), max(times), len(times)
    return dict(zip(('min', 'median', 'max', 'repeats'), values))


def time_interleaved(fns, device='cpu', repeats=5, warmup=1, progress=None):
    """``{name: timing_stats}`` (s) of ``{name: fn}`` timed round-robin."""
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}.')
    for fn in list(fns.values()) * warmup:  # round-robin, untimed
        fn()
    synchronize(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
        if progress is not None:
            progress()
    return {name: timing_stats(t) for name, t in times.items()}


def default_out_dir(tool):
    """``work_dirs/benchmarks/<tool>``, unless the user names ``--out-dir``."""
    return os.path.join('work_dirs', 'benchmarks', tool)


def check_results_writable(out_dir, stem, force=False):
    """``(json, md)`` paths, :class:`ToolInputError` if one exists unforced."""
    paths = tuple(os.path.join(out_dir, stem + e) for e in ('.json', '.md'))
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        raise ToolInputError(
            f'{", ".join(existing)} already exist(s); pass --force to '
            'replace it or choose another --out-dir.')
    return paths


def write_results(out_dir, stem, report, markdown, force=False):
    """Atomically write ``<stem>.json``/``.md`` unless refused; their paths."""
    paths = check_results_writable(out_dir, stem, force)
    atomic_write_json(report, paths[0])
    atomic_write_bytes(markdown.encode(), paths[1])
    return paths
