#!/usr/bin/env python
"""UniRepLKNet backbones with mmreplk's large-kernel op (``impl``) vs the
official formulation (every convolution a plain ``nn.Conv2d``), measured
side by side in one run.

    python .dev_scripts/benchmark_unireplknet.py [--archs T S] [--size 512]
        [--train-size 224] [--batch-size 1] [--impl auto] [--repeats 5]
        [--warmup 1] [--device cpu] [--threads N] [--out-dir DIR] [--force]
        [--quick]

For every arch, two measurements, each with both variants built from the
same weights and timed interleaved (``mmreplk.analysis.time_interleaved``):

* inference of the deploy form (``reparameterize_model``; eval mode, no
  autograd) at ``--size``;
* a training step of the training form (train mode, forward, backward of
  the summed squared outputs, gradients zeroed) at ``--train-size``.

Reported as min / median / max over the rounds with the max relative
difference of the variants' outputs. ``impl='auto'`` measures the back ends
of every new shape and keeps the fastest, F.conv2d included, so a result
where it is clearly slower than the plain convolutions is flagged (timing
noise or dispatch overhead; check before citing), not reported as a
finding. Writes ``unireplknet_<size>_<device>.json`` and ``.md`` into
``--out-dir`` (default ``work_dirs/benchmarks/unireplknet``); existing
files are replaced only with ``--force``.
"""
import argparse
import copy
import sys

import torch
import torch.nn as nn

import mmreplk
from mmreplk.analysis import (check_results_writable, machine_info,
                              time_interleaved, write_results)
from mmreplk.models.backbones import UniRepLKNet
from mmreplk.models.layers import DepthwiseConv2d
from mmreplk.ops import DEPTHWISE_CONV_IMPLS
from mmreplk.utils import tool_main
from benchmark_cli import (add_benchmark_args, check_benchmark_args,
                           format_timing, impossible_results_markdown)

# --quick (for tests): one narrow block per stage with the real 13x13
# Dilated Reparam Blocks, at 64x64; seconds on a CPU.
QUICK_ARCH = dict(
    stage_blocks=[1, 1, 1, 1],
    channels=[8, 8, 8, 8],
    kernel_sizes=[[3], [13], [13], [13]])
# A variant more than this much slower than the plain convolutions (medians)
# is flagged.
SLOWER_FLAG = 1.1


def official_formulation(model):
    """A copy of ``model`` whose large-kernel convolutions are plain
    ``nn.Conv2d`` (the official code without its CUDA extension), with the
    same weights."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, DepthwiseConv2d):
                continue
            conv = nn.Conv2d(
                child.in_channels,
                child.out_channels,
                child.kernel_size,
                padding=child.padding,
                groups=child.groups,
                bias=child.bias is not None).to(child.weight)
            conv.load_state_dict(child.state_dict())
            setattr(parent, name, conv)
    return model


def randomise(model):
    """Non-trivial BN statistics, so that the deploy form's folding is not
    the identity."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(
                torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(
                torch.rand(m.num_features, generator=gen) + 0.5)
    return model


def max_rel_diff(a_outs, b_outs):
    return max(((a - b).abs().max() / a.abs().max()).item()
               for a, b in zip(a_outs, b_outs))


def variants(arch, impl, device, deploy):
    """``{name: model}`` with equal weights, in the training form or (after
    ``reparameterize_model``) the deploy form."""
    torch.manual_seed(0)
    ours = randomise(UniRepLKNet(arch, impl=impl)).to(device)
    if deploy:
        ours = mmreplk.reparameterize_model(ours)
    return {f'impl={impl}': ours, 'official': official_formulation(ours)}


def measure_inference(arch, impl, args):
    x = torch.randn(
        args.batch_size, 3, args.size, args.size, device=args.device)
    models = variants(arch, impl, args.device, deploy=True)
    with torch.no_grad():
        outs = {name: model(x) for name, model in models.items()}
        times = time_interleaved(
            {
                name: (lambda m=m: m(x))
                for name, m in models.items()
            }, args.device, args.repeats, args.warmup)
    names = list(models)
    return dict(
        input=list(x.shape),
        times=times,
        max_rel_diff=max_rel_diff(outs[names[1]], outs[names[0]]))


def measure_training(arch, impl, args):
    x = torch.randn(
        args.batch_size,
        3,
        args.train_size,
        args.train_size,
        device=args.device)
    models = {
        name: model.train()
        for name, model in variants(arch, impl, args.device,
                                    deploy=False).items()
    }

    def step(model):
        model.zero_grad(set_to_none=True)
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        return outs

    outs = {name: step(model) for name, model in models.items()}
    times = time_interleaved(
        {
            name: (lambda m=m: step(m))
            for name, m in models.items()
        }, args.device, args.repeats, args.warmup)
    names = list(models)
    return dict(
        input=list(x.shape),
        times=times,
        max_rel_diff=max_rel_diff([o.detach() for o in outs[names[1]]],
                                  [o.detach() for o in outs[names[0]]]))


def impossible_results(results, impl):
    ours, official = f'impl={impl}', 'official'
    flags = []
    for row in results:
        for kind in ('inference', 'training'):
            times = row[kind]['times']
            ratio = times[ours]['median'] / times[official]['median']
            if ratio > SLOWER_FLAG:
                flags.append(
                    f'{row["arch"]} {kind}: {ours} median '
                    f'{times[ours]["median"]:.4f} s is {ratio:.2f}x the '
                    f'plain convolutions\' {times[official]["median"]:.4f} '
                    f's although its candidates include F.conv2d: not a '
                    'finding (timing noise or dispatch overhead; check '
                    'before citing).')
    return flags


def to_markdown(report):
    m = report['machine']
    impl = report['impl']
    lines = [
        '# UniRepLKNet: mmreplk large-kernel op vs the official '
        'formulation', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}. `impl={impl}`: '
        'UniRepLKNet with its K >= 7 depthwise convolutions on '
        '`mmreplk.ops.depthwise_conv2d`; official: the same model with '
        'every convolution a plain `nn.Conv2d` (same weights). Inference: '
        'deploy form, eval mode, no autograd; training step: training '
        'form, forward + backward. Variants timed interleaved, '
        f'{report["repeats"]} rounds after {report["warmup"]} warm-up '
        'round(s); seconds as median (min-max).'
    ]
    if report['note']:
        lines += ['', report['note']]
    lines += [
        '', f'| arch | measurement | input | impl={impl} (s) | official '
        '(s) | speed-up (medians) | max rel diff |',
        '|---|---|---|---|---|---|---|'
    ]
    for row in report['results']:
        for kind in ('inference', 'training'):
            r = row[kind]
            ours, official = r['times'][f'impl={impl}'], r['times']['official']
            lines.append(
                f'| {row["arch"]} | {kind} | '
                f'{"x".join(map(str, r["input"]))} | {format_timing(ours)} '
                f'| {format_timing(official)} | '
                f'{official["median"] / ours["median"]:.2f} | '
                f'{r["max_rel_diff"]:.1e} |')
    lines += impossible_results_markdown(report['impossible'])
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_benchmark_args(parser, 'unireplknet', repeats=5)
    parser.add_argument(
        '--archs',
        nargs='+',
        default=['T', 'S'],
        choices=list(UniRepLKNet.arch_settings))
    parser.add_argument(
        '--size', type=int, default=512, help='inference input size')
    parser.add_argument(
        '--train-size', type=int, default=224, help='training-step input size')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--impl',
        default='auto',
        help='back end of the large-kernel op (default auto)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny run for tests: a narrow UniRepLKNet with 13x13 kernels, '
        '64x64, 2 rounds')
    args = parser.parse_args(argv)
    if args.quick:
        args.size = args.train_size = 64
        args.repeats = 2
    check_benchmark_args(
        parser, args, positive=('size', 'train_size', 'batch_size'))
    if args.impl not in DEPTHWISE_CONV_IMPLS:
        parser.error(f'unknown --impl {args.impl}; choose from '
                     f'{", ".join(DEPTHWISE_CONV_IMPLS)}.')
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    archs = {
        'quick': QUICK_ARCH
    } if args.quick else {
        name: name
        for name in args.archs
    }
    stem = f'unireplknet_{"quick" if args.quick else args.size}_' \
        f'{args.device}'
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for name, arch in archs.items():
        row = dict(
            arch=name,
            inference=measure_inference(arch, args.impl, args),
            training=measure_training(arch, args.impl, args))
        results.append(row)
        for kind in ('inference', 'training'):
            times = row[kind]['times']
            print(
                f'UniRepLKNet-{name} {kind}: ' +
                ', '.join(f'{v} {t["median"]:.3f} s'
                          for v, t in times.items()),
                flush=True)
    report = dict(
        machine=machine_info(),
        device=args.device,
        impl=args.impl,
        batch_size=args.batch_size,
        size=args.size,
        train_size=args.train_size,
        repeats=args.repeats,
        warmup=args.warmup,
        quick=args.quick,
        note=args.note,
        results=results,
        impossible=impossible_results(results, args.impl))
    markdown = to_markdown(report)
    paths = write_results(args.out_dir, stem, report, markdown, args.force)
    print(markdown)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
