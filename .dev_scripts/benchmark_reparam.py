#!/usr/bin/env python
"""Inference latency of a RepLKNet backbone in training form vs deploy form
(after ``mmreplk.reparameterize_model``), measured in one run.

    python .dev_scripts/benchmark_reparam.py [--arch 31B] [--size 512]
        [--batch-size 1] [--impl auto torch] [--repeats 5] [--warmup 1]
        [--device cpu] [--threads N] [--out-dir DIR] [--force] [--quick]

Both forms of every ``impl`` are built with the same weights and timed
interleaved (``mmreplk.analysis.time_interleaved``: one forward of each per
round, eval mode, no autograd), reported as min / median / max over the
rounds, with the max relative output difference of the two forms. The
deploy form runs the same large-kernel convolution with the small kernel
and the BNs folded in, strictly less work than the training form: a deploy
form measured slower is flagged, not reported as a finding. Writes
``reparam_<arch>_<size>_<device>.json`` and ``.md`` into ``--out-dir``
(default ``work_dirs/benchmarks/reparam``); existing files are replaced only
with ``--force``.
"""
import argparse
import copy
import sys

import torch

import mmreplk
from mmreplk.analysis import (check_results_writable, machine_info,
                              relative_max_diff, time_interleaved,
                              write_results)
from mmreplk.models.backbones import RepLKNet
from mmreplk.ops import DEPTHWISE_CONV_IMPLS
from mmreplk.utils import tool_main
from benchmark_cli import (add_benchmark_args, check_benchmark_args,
                           format_timing, impossible_results_markdown)

# --quick (for tests): a RepLKNet with one 8-channel block per stage at
# 64x64; a few seconds on a CPU.
QUICK_ARCH = dict(
    large_kernels=[7, 5, 5, 5],
    stage_blocks=[1, 1, 1, 1],
    channels=[8, 8, 8, 8],
    small_kernel=3)


def build_forms(arch, impl, device):
    """Training form (random BN statistics, so the folding is not trivial)
    and its re-parameterised copy."""
    torch.manual_seed(0)
    train_form = RepLKNet(arch=arch, impl=impl, drop_path_rate=0.0)
    for m in train_form.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    train_form = train_form.to(device).eval()
    deploy_form = mmreplk.reparameterize_model(copy.deepcopy(train_form))
    return train_form, deploy_form


def measure(args):
    arch = QUICK_ARCH if args.quick else args.arch
    x = torch.randn(
        args.batch_size, 3, args.size, args.size, device=args.device)
    fns, diffs = {}, {}
    for impl in args.impl:
        train_form, deploy_form = build_forms(arch, impl, args.device)
        with torch.no_grad():
            diffs[impl] = relative_max_diff(train_form(x), deploy_form(x))
        fns[(impl, 'train')] = (lambda m=train_form: m(x))
        fns[(impl, 'deploy')] = (lambda m=deploy_form: m(x))
    with torch.no_grad():
        times = time_interleaved(fns, args.device, args.repeats, args.warmup)
    rows = []
    for impl in args.impl:
        train, deploy = times[(impl, 'train')], times[(impl, 'deploy')]
        rows.append(
            dict(
                impl=impl,
                train_form_s=train,
                deploy_form_s=deploy,
                speedup=train['median'] / deploy['median'],
                max_rel_diff=diffs[impl]))
    return rows


def impossible_results(rows):
    """The deploy form does strictly less work than the training form."""
    flags = []
    for r in rows:
        for stat in ('median', 'min'):
            train, deploy = r['train_form_s'][stat], r['deploy_form_s'][stat]
            if deploy > train:
                flags.append(
                    f'impl={r["impl"]}: deploy form {stat} '
                    f'{deploy:.4f} s > training form {train:.4f} s although '
                    'it does strictly less work: not a finding (timing '
                    'noise, or a slower code path; check before citing).')
    return flags


def to_markdown(report):
    m = report['machine']
    lines = [
        '# RepLKNet training form vs deploy form (inference)', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}. Input '
        f'{report["input"]}, eval mode, no autograd. Both forms of every '
        f'impl timed interleaved, {report["repeats"]} rounds after '
        f'{report["warmup"]} warm-up round(s); seconds as median (min-max).'
    ]
    if report['note']:
        lines += ['', report['note']]
    lines += [
        '', '| arch | impl | training form (s) | deploy form (s) | '
        'speed-up (medians) | max rel diff |', '|---|---|---|---|---|---|'
    ]
    for r in report['results']:
        lines.append(f'| {report["arch"]} | {r["impl"]} | '
                     f'{format_timing(r["train_form_s"])} | '
                     f'{format_timing(r["deploy_form_s"])} | '
                     f'{r["speedup"]:.2f} | '
                     f'{r["max_rel_diff"]:.1e} |')
    lines += impossible_results_markdown(report['impossible'])
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_benchmark_args(parser, 'reparam', repeats=5)
    parser.add_argument(
        '--arch', default='31B', choices=list(RepLKNet.arch_settings))
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--impl',
        nargs='+',
        default=['auto', 'torch'],
        help='impl values to compare')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny run for tests: a one-block-per-stage '
        'RepLKNet, 64x64, impl torch, 2 rounds')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeats, args.impl = 64, 2, ['torch']
    check_benchmark_args(parser, args, positive=('size', 'batch_size'))
    unknown = [i for i in args.impl if i not in DEPTHWISE_CONV_IMPLS]
    if unknown:
        parser.error(f'unknown --impl {", ".join(unknown)}; choose from '
                     f'{", ".join(DEPTHWISE_CONV_IMPLS)}.')
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    arch_name = 'quick' if args.quick else args.arch
    stem = f'reparam_{arch_name}_{args.size}_{args.device}'
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = measure(args)
    for r in rows:
        print(
            f'{arch_name} impl={r["impl"]}: training form '
            f'{r["train_form_s"]["median"]:.3f} s, deploy form '
            f'{r["deploy_form_s"]["median"]:.3f} s (x{r["speedup"]:.2f}),'
            f' max rel diff {r["max_rel_diff"]:.1e}',
            flush=True)
    report = dict(
        machine=machine_info(),
        device=args.device,
        arch=arch_name,
        input=f'{args.batch_size}x3x{args.size}x{args.size}',
        batch_size=args.batch_size,
        size=args.size,
        repeats=args.repeats,
        warmup=args.warmup,
        quick=args.quick,
        note=args.note,
        results=rows,
        impossible=impossible_results(rows))
    markdown = to_markdown(report)
    paths = write_results(args.out_dir, stem, report, markdown, args.force)
    print(markdown)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
