"""Timing, machine description and result writing shared by the benchmark
scripts in tools/analysis (results are written to JSON/markdown, never
asserted).

Conventions every benchmark script follows:

* variants are timed *interleaved* (:func:`time_interleaved`: one call of
  each variant per round), so a slow phase of the machine hits all of them
  alike, and each reports ``min``/``median``/``max`` over the rounds;
* results go to ``work_dirs/benchmarks/<tool>/`` unless ``--out-dir`` is
  given, and :func:`write_results` refuses to replace an existing file
  without ``--force`` (committed results under ``benchmarks/`` are only
  replaced on purpose), writing each file atomically.
"""
import ctypes
import ctypes.util
import json
import os
import os.path as osp
import platform
import statistics
import time

import torch

from mmreplk.utils.atomic_write import atomic_write_bytes
from mmreplk.utils.tool_entry import ToolInputError

DEFAULT_OUT_ROOT = osp.join('work_dirs', 'benchmarks')


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


def time_interleaved(fns, device='cpu', repeats=5, warmup=1):
    """Time several variants round-robin.

    Args:
        fns (dict[str, callable]): Variant name -> zero-argument callable.
        device (str | torch.device): Synchronised around every call.
        repeats (int): Timed rounds; each round calls every variant once.
        warmup (int): Untimed rounds first.

    Returns:
        dict[str, dict]: Variant name -> :func:`timing_stats` (seconds).
    """
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
    return {name: timing_stats(t) for name, t in times.items()}


def median_time(fn, device='cpu', repeats=5, warmup=1):
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    return time_interleaved({'fn': fn}, device, repeats,
                            warmup)['fn']['median']


def default_out_dir(tool):
    """``work_dirs/benchmarks/<tool>``: where a benchmark writes unless the
    user names ``--out-dir`` (committing results is an explicit choice)."""
    return osp.join(DEFAULT_OUT_ROOT, tool)


def add_benchmark_args(parser, tool, repeats=5, threads=True):
    """Add the options every benchmark script shares: ``--repeats``,
    ``--warmup``, ``--device``, ``--threads`` (optional), ``--out-dir``
    (default :func:`default_out_dir`), ``--force`` and ``--note``."""
    parser.add_argument(
        '--repeats',
        type=int,
        default=repeats,
        help='timed rounds (each times every variant once)')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--device',
        default=None,
        help='default: cuda when available, else cpu')
    if threads:
        parser.add_argument(
            '--threads',
            type=int,
            default=None,
            help="CPU threads of torch (default: torch's); "
            '1 is steadier on a machine shared with other '
            'jobs')
    parser.add_argument('--out-dir', default=default_out_dir(tool))
    parser.add_argument(
        '--force', action='store_true', help='replace existing result files')
    parser.add_argument(
        '--note', default='', help='a line added to the markdown (conditions)')


def check_benchmark_args(parser, args, positive=()):
    """Check the shared options and the script's ``positive`` integer
    options (attribute names), ending in ``parser.error`` on a bad value,
    and resolve ``args.device`` (:func:`resolve_device`)."""
    for name in ('repeats', ) + tuple(positive):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{getattr(args, name)}.')
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}.')
    if getattr(args, 'threads', None) is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}.')
    args.device = resolve_device(parser, args.device)


def resolve_device(parser, device):
    """``--device`` of a benchmark script: the given one, else CUDA when
    present, else CPU; an unusable choice ends in ``parser.error``."""
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device not in ('cpu', 'cuda'):
        parser.error(f'--device must be cpu or cuda, got {device!r}.')
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda needs a GPU; use --device cpu.')
    return device


def check_results_writable(out_dir, stem, force=False):
    """Raise :class:`~mmreplk.utils.ToolInputError` if ``<stem>.json`` or
    ``<stem>.md`` exist in ``out_dir`` and ``force`` is False. Scripts call
    it before measuring, so that a long run does not end in this error.

    Returns:
        tuple[str, str]: The JSON and markdown paths.
    """
    paths = (osp.join(out_dir,
                      stem + '.json'), osp.join(out_dir, stem + '.md'))
    existing = [p for p in paths if osp.exists(p)]
    if existing and not force:
        raise ToolInputError(
            f'{", ".join(existing)} already exist(s); pass --force to '
            'replace it or choose another --out-dir.')
    return paths


def write_results(out_dir, stem, report, markdown, force=False):
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir`` atomically.

    Raises:
        ToolInputError: If either file exists and ``force`` is False; the
            message names the file and the way out.

    Returns:
        tuple[str, str]: The JSON and markdown paths.
    """
    paths = check_results_writable(out_dir, stem, force)
    atomic_write_bytes((json.dumps(report, indent=2) + '\n').encode(),
                       paths[0])
    atomic_write_bytes(markdown.encode(), paths[1])
    return paths
