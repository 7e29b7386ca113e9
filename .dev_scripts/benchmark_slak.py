#!/usr/bin/env python
"""SLaK's large kernel in its forms, measured in one run (inference).

    python .dev_scripts/benchmark_slak.py [--arch T] [--size 224]
        [--batch-size 1] [--impl auto torch] [--stages 0 1 2 3]
        [--no-backbone] [--repeats 5] [--warmup 1] [--device cpu]
        [--threads N] [--out-dir DIR] [--force] [--quick]

Variants, all with the same weights, eval mode, no autograd:

* ``official``: the official formulation, three ``nn.Conv2d`` (``K x 5``,
  ``5 x K``, ``5 x 5``, groups = channels, padding ``(kh // 2, kw // 2)``)
  each followed by its BN, summed;
* ``training form``: :class:`~mmreplk.models.layers.DecomposedLargeKernelConv`
  (the same three convs through ``mmreplk.ops.depthwise_conv2d``);
* ``deploy 'decomposed'``: two strip convs (small kernel and BNs folded);
* ``deploy 'large_kernel'``: one ``K x K`` conv,

the last three for every ``--impl``. Part 1 times one layer per SLaK stage
at the stage's shape for a ``--size`` input; part 2 the whole backbone
(``SLaK(arch)``, every large kernel in each form; ``official`` = every op
conv replaced by its ``nn.Conv2d``). Variants of one table are timed
interleaved (``mmreplk.analysis.time_interleaved``: one call of each per
round), min / median / max over the rounds, with each variant's output
difference to ``official``. The 'decomposed' deploy form runs two of the
training form's three convs (same back end) without the BNs: measured slower
than the training form it is flagged, not reported as a finding. Writes
``slak_<arch>_<size>_<device>.json`` and ``.md`` into ``--out-dir``
(default ``work_dirs/benchmarks/slak``); existing files are replaced only
with ``--force``.
"""
import argparse
import copy
import sys

import torch
import torch.nn as nn

from mmreplk.analysis import (check_results_writable, machine_info,
                              time_interleaved, write_results)
from mmreplk.models.backbones import SLaK
from mmreplk.models.layers import DecomposedLargeKernelConv, DepthwiseConv2d
from mmreplk.ops import DEPTHWISE_CONV_IMPLS
from mmreplk.utils import tool_main
from benchmark_cli import (add_benchmark_args, check_benchmark_args,
                           format_timing, impossible_results_markdown)

FORMS = ('decomposed', 'large_kernel')
# --quick (for tests): narrow layers and a one-block-per-stage backbone at
# 64x64 with the real kernel sizes; a few seconds on a CPU.
QUICK_ARCH = dict(
    stage_blocks=[1, 1, 1, 1],
    channels=[8, 8, 16, 16],
    large_kernels=[51, 49, 47, 13],
    small_kernel=5)


def as_official(module):
    """A copy of ``module`` whose op-backed convs are plain ``nn.Conv2d``
    with the same weights and padding: the official formulation."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DepthwiseConv2d):
                conv = nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size,
                    padding=child.padding,
                    groups=child.groups,
                    bias=child.bias is not None)
                conv.load_state_dict(child.state_dict())
                setattr(parent, name, conv)
    return module


def randomise_bn(module, seed=0):
    """Non-trivial BN statistics, so that folding them means something."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
    return module


def set_impl(module, impl):
    for m in module.modules():
        if isinstance(m, (DepthwiseConv2d, DecomposedLargeKernelConv)):
            m.impl = impl
    return module


def variants(train_form, impls, deploy):
    """``{name: module}``: the official formulation, then per impl the
    training form and both deploy forms. ``deploy(module, form)`` converts
    a copy in place."""
    modules = {'official': as_official(train_form)}
    for impl in impls:
        base = set_impl(copy.deepcopy(train_form), impl)
        modules[f'training form, {impl}'] = base
        for form in FORMS:
            deployed = copy.deepcopy(base)
            deploy(deployed, form)
            modules[f"deploy '{form}', {impl}"] = deployed
    return {name: m.eval() for name, m in modules.items()}


def max_rel_diff(a, b):
    a, b = (a, ) if torch.is_tensor(a) else a, (
        b, ) if torch.is_tensor(b) else b
    return max(
        ((x - y).abs().max() / x.abs().max()).item() for x, y in zip(a, b))


def measure(modules, x, args):
    with torch.no_grad():
        reference = modules['official'](x)
        diffs = {
            name: max_rel_diff(reference, m(x))
            for name, m in modules.items()
        }
        times = time_interleaved(
            {
                name: (lambda m=m: m(x))
                for name, m in modules.items()
            }, args.device, args.repeats, args.warmup)
    return times, diffs


def impossible_results(label, times, impls):
    flags = []
    for impl in impls:
        train = times[f'training form, {impl}']
        deploy = times[f"deploy 'decomposed', {impl}"]
        for stat in ('median', 'min'):
            if deploy[stat] > train[stat]:
                flags.append(
                    f"{label}: deploy 'decomposed' ({impl}) {stat} "
                    f'{deploy[stat]:.4f} s > training form '
                    f'{train[stat]:.4f} s although it runs two of its three '
                    'convs without the BNs: not a finding (timing noise, or '
                    'a slower code path; check before citing).')
    return flags


def layer_rows(arch, args):
    rows, flags = [], []
    for stage in args.stages:
        channels = arch['channels'][stage]
        k, s = arch['large_kernels'][stage], arch['small_kernel']
        size = args.size // 2**(stage + 2)
        torch.manual_seed(stage)
        layer = randomise_bn(DecomposedLargeKernelConv(channels, k, s))
        modules = {
            name: m.to(args.device)
            for name, m in variants(layer, args.impl, lambda m, form: m.
                                    switch_to_deploy(form)).items()
        }
        x = torch.randn(
            args.batch_size, channels, size, size, device=args.device)
        times, diffs = measure(modules, x, args)
        label = f'stage {stage}'
        rows.append(
            dict(
                stage=stage,
                input=list(x.shape),
                kernel=k,
                small_kernel=s,
                times=times,
                max_rel_diff=diffs))
        flags += impossible_results(label, times, args.impl)
        for name, t in times.items():
            print(
                f'{label} {tuple(x.shape)} K={k}: {name:32s} median '
                f'{t["median"]:.4f} s (min {t["min"]:.4f})',
                flush=True)
    return rows, flags


def backbone_row(arch, args):
    torch.manual_seed(0)
    model = randomise_bn(SLaK(arch, layer_scale_init_value=1.0))
    modules = {
        name: m.to(args.device)
        for name, m in variants(model, args.impl, lambda m, form: m.
                                switch_to_deploy(form)).items()
    }
    x = torch.randn(
        args.batch_size, 3, args.size, args.size, device=args.device)
    times, diffs = measure(modules, x, args)
    for name, t in times.items():
        print(
            f'backbone {tuple(x.shape)}: {name:32s} median '
            f'{t["median"]:.4f} s (min {t["min"]:.4f})',
            flush=True)
    return dict(
        input=list(x.shape), times=times,
        max_rel_diff=diffs), impossible_results('backbone', times, args.impl)


def table(times, diffs):
    lines = [
        '| variant | time (s) | max rel diff vs official |', '|---|---|---|'
    ]
    for name, t in times.items():
        lines.append(f'| {name} | {format_timing(t, 4)} | '
                     f'{diffs[name]:.1e} |')
    return lines


def to_markdown(report):
    m = report['machine']
    lines = [
        f'# SLaK-{report["arch"]} large kernel: official formulation, '
        'training form and deploy forms (inference)', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}, input size '
        f'{report["size"]}, batch {report["batch_size"]}, eval mode, no '
        f'autograd. Variants of each table timed interleaved, '
        f'{report["repeats"]} rounds after {report["warmup"]} warm-up '
        'round(s); seconds as median (min-max). "official": three '
        'nn.Conv2d + BN; impl: back end of mmreplk.ops.depthwise_conv2d.'
    ]
    if report['note']:
        lines += ['', report['note']]
    for row in report['layers']:
        lines += [
            '', f'## Stage {row["stage"]}: '
            f'{"x".join(map(str, row["input"]))}, K = {row["kernel"]} '
            f'(strips {row["kernel"]}x{row["small_kernel"]})', ''
        ] + table(row['times'], row['max_rel_diff'])
    if report['backbone']:
        row = report['backbone']
        lines += ['', f'## Backbone: {"x".join(map(str, row["input"]))}', ''
                  ] + table(row['times'], row['max_rel_diff'])
    lines += impossible_results_markdown(report['impossible'])
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_benchmark_args(parser, 'slak', repeats=5)
    parser.add_argument(
        '--arch', default='T', choices=list(SLaK.arch_settings))
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--impl',
        nargs='+',
        default=['auto', 'torch'],
        help='impl values of the training and deploy forms')
    parser.add_argument('--stages', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument(
        '--no-backbone',
        action='store_true',
        help='time the layers only (part 1)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny run for tests: narrow layers and a one-block-per-stage '
        'backbone at 64x64 with the real kernel sizes, impl torch, 2 rounds '
        'without warm-up')
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeats, args.warmup = 64, 2, 0
        args.impl = ['torch']
    check_benchmark_args(parser, args, positive=('size', 'batch_size'))
    unknown = [i for i in args.impl if i not in DEPTHWISE_CONV_IMPLS]
    if unknown:
        parser.error(f'unknown --impl {", ".join(unknown)}; choose from '
                     f'{", ".join(DEPTHWISE_CONV_IMPLS)}.')
    bad = [s for s in args.stages if s not in range(4)]
    if bad:
        parser.error(f'--stages must be among 0 1 2 3, got {bad}.')
    if args.size % 32:
        parser.error(f'--size must be a multiple of 32, got {args.size}.')
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    arch_name = 'quick' if args.quick else args.arch
    stem = f'slak_{arch_name}_{args.size}_{args.device}'
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    arch = SLaK.parse_arch(QUICK_ARCH if args.quick else args.arch)
    layers, flags = layer_rows(arch, args)
    backbone = None
    if not args.no_backbone:
        backbone, more = backbone_row(arch, args)
        flags += more
    report = dict(
        machine=machine_info(),
        device=args.device,
        arch=arch_name,
        size=args.size,
        batch_size=args.batch_size,
        impls=list(args.impl),
        repeats=args.repeats,
        warmup=args.warmup,
        quick=args.quick,
        note=args.note,
        layers=layers,
        backbone=backbone,
        impossible=flags)
    markdown = to_markdown(report)
    paths = write_results(args.out_dir, stem, report, markdown, args.force)
    print(markdown)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
