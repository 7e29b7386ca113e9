"""Timing, machine description and result writing shared by the benchmark
scripts (.dev_scripts/) and tools: variants are timed interleaved
(:func:`time_interleaved`) and reported as min/median/max over the rounds;
results go to JSON + markdown under ``work_dirs/benchmarks/<tool>/`` unless
``--out-dir`` says otherwise, never replacing a file without ``--force``.
Results are written, never asserted.
"""
import ctypes
import ctypes.util
import os
import os.path as osp
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
            f.write('5')
        return True
    except OSError:
        return False


def _set_mmap_threshold(nbytes):
    """glibc's ``mallopt(M_MMAP_THRESHOLD, nbytes)``; False where there is
    no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        return bool(libc.mallopt(-3, int(nbytes)))  # M_MMAP_THRESHOLD = -3
    except (OSError, AttributeError):
        return False


def peak_memory(fn, device, setup=None, cpu_calls=3):
    """``(fn(), peak bytes, how)``: the memory ``fn()`` needed above what was
    in use before it; with ``setup``, ``fn(setup())`` with ``setup()`` run
    unmeasured before each call (e.g. a forward whose backward is
    measured).

    On CUDA, the allocator's peak of allocated tensors (one call). On CPU
    there is no allocator statistic: the process's peak resident set
    (VmHWM) is reset just before a call and read after it, minus the
    resident set before (Linux; None elsewhere), with allocations from
    64 KiB up served by mmap during the call (glibc ``mallopt``) so that
    freed tensors leave the resident set. The C library can still reuse
    memory it holds, which hides part of a peak, so the figure is the
    largest of ``cpu_calls`` calls and a lower bound.
    """
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
    mmapped = _set_mmap_threshold(64 * 1024)
    peak = 0
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
    return dict(
        min=min(times),
        median=statistics.median(times),
        max=max(times),
        repeats=len(times))


def format_timing(stats, digits=3):
    """``'median (min-max)'`` of a :func:`timing_stats` dict, for the
    markdown tables of the benchmark scripts."""
    return (f'{stats["median"]:.{digits}f} ({stats["min"]:.{digits}f}-'
            f'{stats["max"]:.{digits}f})')


def impossible_results_markdown(flags):
    """The markdown section every benchmark report ends with: the results
    a script flagged as physically impossible (not findings), or none."""
    return (['', 'Physically impossible results (flagged, not findings):'] +
            ([f'- {f}' for f in flags] or ['- none']))


def time_interleaved(fns, device='cpu', repeats=5, warmup=1, progress=None):
    """Time the zero-argument callables ``fns`` (``{name: fn}``)
    round-robin, ``device`` synchronised around every call: ``warmup``
    untimed rounds, then ``repeats`` timed ones, each followed by the
    untimed ``progress()``; ``{name:`` :func:`timing_stats` ``}`` in
    seconds."""
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}.')
    for _ in range(warmup):
        for fn in fns.values():
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
    """``work_dirs/benchmarks/<tool>``: where a benchmark writes unless the
    user names ``--out-dir`` (committing results is an explicit choice)."""
    return osp.join('work_dirs', 'benchmarks', tool)


def add_benchmark_args(parser, tool, repeats=5, threads=True):
    """Add the options every benchmark script shares: ``--repeats``,
    ``--warmup``, ``--device``, ``--threads`` (optional), ``--out-dir``
    (default :func:`default_out_dir`), ``--force`` and ``--note``."""
    parser.add_argument(
        '--repeats', type=int, default=repeats, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', help='default: cuda when available')
    if threads:
        parser.add_argument('--threads', type=int, help="default: torch's")
    parser.add_argument('--out-dir', default=default_out_dir(tool))
    parser.add_argument(
        '--force', action='store_true', help='replace existing result files')
    parser.add_argument('--note', default='', help='a line for the markdown')


def check_benchmark_args(parser, args, positive=()):
    """Check the shared options and the script's ``positive`` integer
    options (attribute names), ending in ``parser.error`` on a bad value,
    and resolve ``args.device`` (default: CUDA when present, else CPU)."""
    for name in ('repeats', ) + tuple(positive):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}.')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}.')
    if getattr(args, 'threads', None) is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}.')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device not in ('cpu', 'cuda'):
        parser.error(f'--device must be cpu or cuda, got {device!r}.')
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda needs a GPU; use --device cpu.')
    args.device = device


def check_results_writable(out_dir, stem, force=False):
    """The ``(json, markdown)`` result paths; :class:`ToolInputError` if one
    exists and not ``force``. Called before measuring, so that a long run
    does not end in this error."""
    paths = (osp.join(out_dir,
                      stem + '.json'), osp.join(out_dir, stem + '.md'))
    existing = [p for p in paths if osp.exists(p)]
    if existing and not force:
        raise ToolInputError(
            f'{", ".join(existing)} already exist(s); pass --force to '
            'replace it or choose another --out-dir.')
    return paths


def write_results(out_dir, stem, report, markdown, force=False):
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir`` atomically
    (refused as :func:`check_results_writable` says); return their paths."""
    paths = check_results_writable(out_dir, stem, force)
    atomic_write_json(report, paths[0])
    atomic_write_bytes(markdown.encode(), paths[1])
    return paths
