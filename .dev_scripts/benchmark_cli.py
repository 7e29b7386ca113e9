"""Command line and markdown shared by the developer benchmarks in this
folder; timing, memory, machine info and result files come from
:mod:`mmreplk.analysis`."""
import torch

from mmreplk.analysis import default_out_dir


def add_benchmark_args(parser, tool, repeats=5, threads=True):
    """Add the shared options; ``--threads`` only if ``threads``."""
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
    """``parser.error`` on bad values; resolve ``args.device``."""
    for name in ('repeats', *positive, 'warmup', 'threads'):
        value, low = getattr(args, name, None), 0 if name == 'warmup' else 1
        if value is not None and value < low:
            parser.error(f'--{name.replace("_", "-")} must be >= {low}, got '
                         f'{value}.')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device not in ('cpu', 'cuda'):
        parser.error(f'--device must be cpu or cuda, got {device!r}.')
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda needs a GPU; use --device cpu.')
    args.device = device


def format_timing(stats, digits=3):
    """``'median (min-max)'`` of a :func:`timing_stats` dict."""
    return (f'{stats["median"]:.{digits}f} ({stats["min"]:.{digits}f}-'
            f'{stats["max"]:.{digits}f})')


def impossible_results_markdown(flags):
    """Closing markdown section: results flagged physically impossible."""
    return (['', 'Physically impossible results (flagged, not findings):'] +
            ([f'- {f}' for f in flags] or ['- none']))
