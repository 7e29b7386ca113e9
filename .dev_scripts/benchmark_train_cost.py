#!/usr/bin/env python
"""Training cost of re-parameterised conv-BN units: plain Conv-BN, RepVGG,
DBB (offline re-param) and OREPA (online re-param, with its kernel-generation
options), as a single 3x3 unit and inside whole ResNet-18 / ResNet-50
backbones.

    python .dev_scripts/benchmark_train_cost.py [--models block resnet18
        resnet50] [--batch-size 8] [--size 224] [--repeats 5]
        [--out-dir DIR] [--force] [--quick]

Per model and unit type it reports:

* the time of one training step (forward, backward, SGD step), all variants
  of a model timed interleaved, min / median / max over the rounds;
* the kernel operations one step dispatches (``mmreplk.analysis.
  training_step_ops``: forward + backward + foreach SGD, counted at a small
  input, the count does not depend on the input size): a device-independent
  proxy for GPU kernel launches;
* training memory: parameters, gradients, optimizer state (SGD momentum),
  the activations autograd saves for backward (exact on any device) and
  their total; on GPU also the allocator's peak over a step.

The OREPA paper's claims are checked as ratios (OREPA >= 1.5x faster per
step than DBB, OREPA's extra memory over Conv-BN <= 0.5x DBB's), and results
that cannot be true (a unit that does strictly more work than plain Conv-BN
measured faster) are flagged as timing noise instead of being reported.
Writes ``train_cost_<device>.json`` and ``.md`` into ``--out-dir`` (default
``work_dirs/benchmarks/train_cost``); existing files are replaced only with
``--force``.
"""
import argparse
import sys

import torch

from mmreplk.analysis import (SavedTensorBytes, check_results_writable,
                              machine_info, time_interleaved, write_results)
from mmreplk.analysis.dispatch_count import training_step_ops
from mmreplk.models.backbones import OREPAResNet
from mmreplk.models.backbones.conv_bn_unit import build_conv_bn_unit
from mmreplk.models.layers.orepa_kernel_batching import batched_kernels
from mmreplk.utils import tool_main
from benchmark_cli import (add_benchmark_args, check_benchmark_args,
                           impossible_results_markdown)

# name -> (label, block_type, options of the online units / backbone).
UNITS = {
    'conv_bn': ('Conv', 'Conv', {}),
    'repvgg': ('RepVGG', 'RepVGG', {}),
    'dbb': ('DBB', 'DBB', {}),
    'orepa':
    ('OREPA', 'OREPA', dict(recompute_kernel=True, kernel_gen='eager')),
    'orepa_stored': ('OREPA (stored kernels)', 'OREPA',
                     dict(recompute_kernel=False, kernel_gen='eager')),
    'orepa_batched': ('OREPA (batched generation)', 'OREPA',
                      dict(recompute_kernel=True, kernel_gen='batched')),
    'orepa_batched_stored':
    ('OREPA (batched, stored)', 'OREPA',
     dict(recompute_kernel=False, kernel_gen='batched')),
}
# Input of the operation count (the count does not depend on it).
COUNT_SIZE = 64


class _BatchedUnit(torch.nn.Module):
    """A single online unit trained with ``kernel_gen='batched'`` (a group
    of one), as a backbone would run it."""

    def __init__(self, unit, recompute):
        super().__init__()
        self.unit, self.recompute = unit, recompute

    def forward(self, x):
        with batched_kernels(self, self.recompute):
            return self.unit(x)


def build(model_name, unit, channels):
    _, block_type, options = UNITS[unit]
    if model_name == 'block':
        layer = build_conv_bn_unit(
            block_type,
            channels,
            channels,
            3,
            act_cfg=dict(type='ReLU'),
            recompute_kernel=options.get('recompute_kernel', True))
        if options.get('kernel_gen') == 'batched':
            return _BatchedUnit(layer, options['recompute_kernel'])
        return layer
    depth = dict(resnet18=18, resnet50=50)[model_name]
    return OREPAResNet(
        depth=depth, block_type=block_type, out_indices=(3, ), **options)


def input_shape(model_name, batch_size, size, channels):
    if model_name == 'block':
        # A ResNet stage-1 sized feature map.
        return (batch_size, channels, size // 4, size // 4)
    return (batch_size, 3, size, size)


def loss_of(out):
    out = out[-1] if isinstance(out, (tuple, list)) else out
    return out.float().pow(2).mean()


def memory_parts(model, optimizer, x, device):
    """Training memory in MB: parameters, gradients, optimizer state, saved
    activations, their total, and (CUDA) the allocator peak of a step."""
    mb = 2**-20
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    grads = sum(p.numel() * p.element_size() for p in model.parameters()
                if p.requires_grad)
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values()
                for t in s.values() if torch.is_tensor(t))
    optimizer.zero_grad(set_to_none=True)
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with SavedTensorBytes(exclude=model.parameters()) as saved:
        loss = loss_of(model(x))
    loss.backward()
    optimizer.step()
    peak = torch.cuda.max_memory_allocated() * mb \
        if device == 'cuda' else None
    return dict(
        params_mb=params * mb,
        grads_mb=grads * mb,
        optimizer_state_mb=state * mb,
        saved_activation_mb=saved.bytes * mb,
        total_mb=(params + grads + state + saved.bytes) * mb,
        gpu_peak_mb=peak)


def measure_model(model_name, units, args, device):
    """Rows of one model: interleaved step times, op counts, memory."""
    models, optimizers, steps = {}, {}, {}
    x = torch.randn(
        *input_shape(model_name, args.batch_size, args.size, args.channels),
        device=device)
    for unit in units:
        torch.manual_seed(0)
        model = build(model_name, unit, args.channels).to(device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step(model=model, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            loss_of(model(x)).backward()
            optimizer.step()

        models[unit], optimizers[unit], steps[unit] = model, optimizer, step
    times = time_interleaved(
        steps, device, repeats=args.repeats, warmup=args.warmup)
    rows = []
    count_x = torch.randn(
        *input_shape(model_name, 1, COUNT_SIZE, args.channels), device=device)
    for unit in units:
        model = models[unit]
        ops = training_step_ops(model, count_x)
        rows.append(
            dict(
                model=model_name,
                unit=UNITS[unit][0],
                variant=unit,
                input=list(x.shape),
                params=sum(p.numel() for p in model.parameters()),
                step_s=times[unit],
                kernel_ops=ops.total_kernel_ops,
                **memory_parts(model, optimizers[unit], x, device)))
        print(
            f'{model_name:9s} {rows[-1]["unit"]:28s} step median '
            f'{times[unit]["median"]:.3f} s, {ops.total_kernel_ops} ops, '
            f'total memory {rows[-1]["total_mb"]:.1f} MB',
            flush=True)
        del models[unit], optimizers[unit], steps[unit]
    return rows


def impossible_results(rows):
    """Results that cannot be true: every unit does plain Conv-BN's
    convolution plus more work, so none can be faster than Conv-BN; a
    variant measured faster shows timing noise, not a finding."""
    flags = []
    for model_name in dict.fromkeys(r['model'] for r in rows):
        by_unit = {r['unit']: r for r in rows if r['model'] == model_name}
        conv = by_unit.get('Conv')
        if conv is None:
            continue
        for unit, r in by_unit.items():
            if unit != 'Conv' and \
                    r['step_s']['median'] < conv['step_s']['median']:
                flags.append(
                    f'{model_name}: {unit} median step '
                    f'{r["step_s"]["median"]:.4f} s < Conv-BN '
                    f'{conv["step_s"]["median"]:.4f} s although it does '
                    'strictly more work: timing noise, not a result.')
    return flags


def ratios(rows):
    """Per model: time, memory and op-count ratios of the paper's claims
    and of the issue's targets (OREPA = the default OREPA variant)."""
    out = []
    for model_name in dict.fromkeys(r['model'] for r in rows):
        by_unit = {r['variant']: r for r in rows if r['model'] == model_name}
        if not {'conv_bn', 'dbb', 'orepa'} <= set(by_unit):
            continue
        conv, dbb = by_unit['conv_bn'], by_unit['dbb']
        for variant in ('orepa', 'orepa_batched'):
            if variant not in by_unit:
                continue
            orepa = by_unit[variant]

            def extra(r, key):
                return r[key] - conv[key]

            def ratio(a, b):
                return a / b if b > 0 else None

            out.append(
                dict(
                    model=model_name,
                    unit=orepa['unit'],
                    dbb_over_orepa_step_time=dbb['step_s']['median'] /
                    orepa['step_s']['median'],
                    orepa_over_conv_step_time=orepa['step_s']['median'] /
                    conv['step_s']['median'],
                    orepa_over_conv_kernel_ops=orepa['kernel_ops'] /
                    conv['kernel_ops'],
                    orepa_extra_activation_over_dbb_extra=ratio(
                        extra(orepa, 'saved_activation_mb'),
                        extra(dbb, 'saved_activation_mb')),
                    orepa_extra_total_over_dbb_extra=ratio(
                        extra(orepa, 'total_mb'), extra(dbb, 'total_mb'))))
    return out


def _fmt(value, spec='.2f'):
    return '-' if value is None else format(value, spec)


def to_markdown(report):
    m = report['machine']
    lines = [
        '# Training cost of re-parameterised units', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}, batch '
        f'{report["batch_size"]}, {report["size"]}x{report["size"]} images '
        f'(block: {report["channels"]} channels at 1/4 size). One step = '
        'forward, backward, SGD (momentum) step; variants of a model timed '
        f'interleaved, {report["repeats"]} rounds after {report["warmup"]} '
        'warm-up. Kernel ops: ATen operations one step dispatches (foreach '
        f'SGD, counted at batch 1, {COUNT_SIZE}x{COUNT_SIZE}; views and bare '
        'allocations excluded), a proxy for GPU kernel launches. Memory in '
        'MB: parameters + gradients + optimizer state + saved activations = '
        'total.', ''
    ]
    if report.get('note'):
        lines += [report['note'], '']
    lines += [
        '| model | unit | params | step min / median / max (s) | kernel '
        'ops | params | grads | opt. state | saved act. | total | GPU peak '
        '|', '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in report['results']:
        t = r['step_s']
        lines.append(
            f'| {r["model"]} | {r["unit"]} | {r["params"] / 1e6:.2f}M | '
            f'{t["min"]:.3f} / {t["median"]:.3f} / {t["max"]:.3f} | '
            f'{r["kernel_ops"]} | {r["params_mb"]:.1f} | {r["grads_mb"]:.1f}'
            f' | {r["optimizer_state_mb"]:.1f} | '
            f'{r["saved_activation_mb"]:.1f} | {r["total_mb"]:.1f} | '
            f'{_fmt(r["gpu_peak_mb"], ".1f")} |')
    lines += [
        '', 'Targets: DBB / OREPA step time >= 1.5 (paper); OREPA extra '
        'memory / DBB extra memory <= 0.5 (paper; extra = over plain '
        'Conv-BN); OREPA / Conv kernel ops <= 1.5 (project target).', '',
        '| model | OREPA variant | DBB / OREPA step | OREPA / Conv step | '
        'OREPA / Conv kernel ops | extra saved act. vs DBB | extra total '
        'memory vs DBB |', '|---|---|---|---|---|---|---|'
    ]
    for r in report['ratios']:
        lines.append(f'| {r["model"]} | {r["unit"]} | '
                     f'{r["dbb_over_orepa_step_time"]:.2f} | '
                     f'{r["orepa_over_conv_step_time"]:.2f} | '
                     f'{r["orepa_over_conv_kernel_ops"]:.2f} | '
                     f'{_fmt(r["orepa_extra_activation_over_dbb_extra"])} | '
                     f'{_fmt(r["orepa_extra_total_over_dbb_extra"])} |')
    lines += impossible_results_markdown(report['impossible'])
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_benchmark_args(parser, 'train_cost', repeats=5, threads=False)
    parser.add_argument(
        '--models',
        nargs='+',
        choices=['block', 'resnet18', 'resnet50'],
        default=['block', 'resnet18', 'resnet50'])
    parser.add_argument(
        '--units', nargs='+', choices=list(UNITS), default=list(UNITS))
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument(
        '--channels',
        type=int,
        default=64,
        help='channels of the single block')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny run for tests: the single block at 16 '
        'channels, batch 2, 32x32, 2 rounds')
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.channels, args.batch_size = ['block'], 16, 2
        args.size, args.repeats = 32, 2
    check_benchmark_args(
        parser, args, positive=('batch_size', 'size', 'channels'))
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    stem = f'train_cost_{args.device}'
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    rows = []
    for model_name in args.models:
        rows += measure_model(model_name, args.units, args, args.device)
    report = dict(
        machine=machine_info(),
        device=args.device,
        batch_size=args.batch_size,
        size=args.size,
        channels=args.channels,
        repeats=args.repeats,
        warmup=args.warmup,
        note=args.note,
        results=rows,
        ratios=ratios(rows),
        impossible=impossible_results(rows))
    markdown = to_markdown(report)
    paths = write_results(args.out_dir, stem, report, markdown, args.force)
    print(markdown)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
