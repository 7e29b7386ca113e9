#!/usr/bin/env python
"""Training cost of re-parameterised conv-BN units: plain Conv-BN, RepVGG,
DBB (offline re-param) and OREPA (online re-param), as a single 3x3 block and
inside whole ResNet-18 / ResNet-50 backbones, measured in one run.

    python tools/analysis/benchmark_train_cost.py [--models block resnet18
        resnet50] [--batch-size 8] [--size 224] [--repeats 3]
        [--out-dir benchmarks/train_cost]

For every unit type it reports the median time of a full training step
(forward, backward, SGD step) and the training memory: the bytes of the
activations autograd saves for backward (exact, on any device; see
``mmreplk.analysis.SavedTensorBytes``) and, on GPU, the allocator's peak.
The OREPA paper's claims are checked as ratios: OREPA should be >= 1.5x
faster per step than DBB and need <= 0.5x DBB's extra memory over Conv-BN.
Writes ``train_cost_<device>.json`` and ``.md``.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

from mmreplk.analysis import SavedTensorBytes, machine_info, median_time
from mmreplk.models.backbones import OREPAResNet
from mmreplk.models.layers.conv_bn_unit import build_conv_bn_unit

# name -> (block_type, recompute_kernel). 'orepa_stored' keeps the branch
# kernels for backward as the official implementation does.
UNITS = dict(conv_bn=('Conv', True), repvgg=('RepVGG', True),
             dbb=('DBB', True), orepa=('OREPA', True),
             orepa_stored=('OREPA', False))
LABELS = dict(conv_bn='Conv', repvgg='RepVGG', dbb='DBB', orepa='OREPA',
              orepa_stored='OREPA (stored kernels)')


def build(model_name, unit, channels):
    block_type, recompute = UNITS[unit]
    if model_name == 'block':
        return build_conv_bn_unit(block_type, channels, channels, 3,
                                  act_cfg=dict(type='ReLU'),
                                  recompute_kernel=recompute)
    depth = dict(resnet18=18, resnet50=50)[model_name]
    return OREPAResNet(depth=depth, block_type=block_type,
                       recompute_kernel=recompute, out_indices=(3, ))


def input_shape(model_name, batch_size, size, channels):
    if model_name == 'block':
        # A ResNet stage-1 sized feature map.
        return (batch_size, channels, size // 4, size // 4)
    return (batch_size, 3, size, size)


def measure(model_name, unit, batch_size, size, channels, repeats,
            device):
    torch.manual_seed(0)
    model = build(model_name, unit, channels).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(*input_shape(model_name, batch_size, size, channels),
                    device=device)

    def loss_of(out):
        out = out[-1] if isinstance(out, (tuple, list)) else out
        return out.float().pow(2).mean()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_of(model(x)).backward()
        optimizer.step()

    step_s = median_time(step, device, repeats=repeats, warmup=1)
    optimizer.zero_grad(set_to_none=True)
    if device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    with SavedTensorBytes(exclude=model.parameters()) as saved:
        loss = loss_of(model(x))
    loss.backward()
    peak = torch.cuda.max_memory_allocated() - base \
        if device == 'cuda' else None
    n_params = sum(p.numel() for p in model.parameters())
    return dict(model=model_name, unit=LABELS[unit],
                input=list(x.shape), params=n_params, step_s=step_s,
                saved_activation_mb=saved.bytes / 2**20,
                gpu_peak_mb=None if peak is None else peak / 2**20)


def ratios(rows):
    """Per model: time and extra-memory ratios the paper's claims are about."""
    out = []
    for model_name in dict.fromkeys(r['model'] for r in rows):
        by_unit = {r['unit']: r for r in rows if r['model'] == model_name}
        if not {'Conv', 'DBB', 'OREPA'} <= set(by_unit):
            continue
        conv, dbb, orepa = by_unit['Conv'], by_unit['DBB'], by_unit['OREPA']
        extra_dbb = dbb['saved_activation_mb'] - conv['saved_activation_mb']
        extra_orepa = orepa['saved_activation_mb'] - \
            conv['saved_activation_mb']
        out.append(dict(
            model=model_name,
            dbb_over_orepa_step_time=dbb['step_s'] / orepa['step_s'],
            orepa_over_conv_step_time=orepa['step_s'] / conv['step_s'],
            orepa_extra_memory_over_dbb_extra=extra_orepa / extra_dbb
            if extra_dbb > 0 else None,
            orepa_over_conv_memory=orepa['saved_activation_mb'] /
            conv['saved_activation_mb']))
    return out


def to_markdown(report):
    m = report['machine']
    lines = [
        '# Training cost of re-parameterised units', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}, batch '
        f'{report["batch_size"]}, {report["size"]}x{report["size"]} images, '
        f'median of {report["repeats"]} steps.', '',
        '| model | unit | input | params | train step (s) | saved '
        'activations (MB) | GPU peak (MB) |', '|---|---|---|---|---|---|---|'
    ]
    for r in report['results']:
        peak = '-' if r['gpu_peak_mb'] is None else f'{r["gpu_peak_mb"]:.1f}'
        lines.append(
            f'| {r["model"]} | {r["unit"]} | {"x".join(map(str, r["input"]))}'
            f' | {r["params"] / 1e6:.2f}M | {r["step_s"]:.3f} | '
            f'{r["saved_activation_mb"]:.1f} | {peak} |')
    lines += [
        '', 'Paper targets: DBB/OREPA step time >= 1.5, OREPA extra memory / '
        'DBB extra memory <= 0.5 (extra = over plain Conv-BN).', '',
        '| model | DBB / OREPA step time | OREPA / Conv step time | OREPA '
        'extra mem / DBB extra mem | OREPA / Conv memory |',
        '|---|---|---|---|---|'
    ]
    for r in report['ratios']:
        extra = r['orepa_extra_memory_over_dbb_extra']
        lines.append(
            f'| {r["model"]} | {r["dbb_over_orepa_step_time"]:.2f} | '
            f'{r["orepa_over_conv_step_time"]:.2f} | '
            f'{"-" if extra is None else f"{extra:.2f}"} | '
            f'{r["orepa_over_conv_memory"]:.2f} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+',
                        choices=['block', 'resnet18', 'resnet50'],
                        default=['block', 'resnet18', 'resnet50'])
    parser.add_argument('--units', nargs='+', choices=list(UNITS),
                        default=list(UNITS))
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--channels', type=int, default=64,
                        help='channels of the single block')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default=None,
                        help='default: cuda when available, else cpu')
    parser.add_argument('--out-dir', default='benchmarks/train_cost')
    args = parser.parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda needs a GPU; use --device cpu.')
    rows = []
    for model_name in args.models:
        for unit in args.units:
            rows.append(measure(model_name, unit, args.batch_size,
                                args.size, args.channels, args.repeats,
                                device))
            r = rows[-1]
            print(f'{model_name:9s} {r["unit"]:22s} step {r["step_s"]:.3f} s,'
                  f' saved activations {r["saved_activation_mb"]:.1f} MB',
                  flush=True)
    report = dict(machine=machine_info(), device=device,
                  batch_size=args.batch_size, size=args.size,
                  repeats=args.repeats, results=rows, ratios=ratios(rows))
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, f'train_cost_{device}')
    with open(stem + '.json', 'w') as f:
        json.dump(report, f, indent=2)
    with open(stem + '.md', 'w') as f:
        f.write(to_markdown(report))
    print(to_markdown(report))
    print(f'Wrote {stem}.json and {stem}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
