#!/usr/bin/env python
"""Shift-wise convolution costs, measured in one run.

    python tools/analysis/benchmark_shiftwise.py [--batch-size 8]
        [--repeats 5] [--out-dir benchmarks/shiftwise]

Part 1, the shift-add op: the back ends of ``mmreplk.ops.add_shift``
('triton' on GPU, the vectorised 'torch' one) against the explicit per-term
reference, forward and forward + backward, on the shift tables of SW-T's
stages at 224x224 input. Part 2, the layer: a ``ShiftWiseConv2d`` emulating
a 51x51 kernel (training form, and both deploy forms) against a real 51x51
depthwise conv through ``mmreplk.ops.depthwise_conv2d``, latency and saved
activations. Writes ``shiftwise_<device>.json`` and ``.md``.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

from mmreplk.analysis import SavedTensorBytes, machine_info, median_time
from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.ops import add_shift, depthwise_conv2d
from mmreplk.ops.add_shift_reference import add_shift_reference

# (stage, channels, big kernel, feature size at 224 input) of SW-T.
STAGES = [(0, 80, 51, 56), (1, 160, 49, 28), (2, 320, 47, 14),
          (3, 640, 13, 7)]


def timed(fn, device, repeats, backward=False, x=None):
    def run():
        out = fn()
        if backward:
            out.backward(torch.ones_like(out))
            x.grad = None
    return median_time(run, device, repeats=repeats, warmup=1)


def op_rows(batch, repeats, device, stages, reference_backward=False):
    rows = []
    impls = ['triton', 'torch'] if device == 'cuda' else ['torch']
    for stage, channels, big, size in stages:
        layer = ShiftWiseConv2d(channels, big, 3).to(device)
        src, dh, dw = layer.shift_src, layer.shift_dh, layer.shift_dw
        x = torch.randn(batch, layer.num_rep * layer.nk, size + 2, size + 2,
                        device=device, requires_grad=True)
        shape = (size, size)
        row = dict(stage=stage, input=list(x.shape),
                   table=list(src.shape))
        for name, fn in [('reference', lambda: add_shift_reference(
                x, src, dh, dw, shape))] + [
                    (impl, lambda impl=impl: add_shift(
                        x, src, dh, dw, shape, impl=impl)) for impl in impls]:
            row[f'{name}_fwd_s'] = timed(fn, device, repeats)
            # The reference's backward (one full-size pad per term) takes
            # minutes at these shapes on CPU: opt-in.
            row[f'{name}_fwd_bwd_s'] = timed(
                fn, device, repeats, True, x) \
                if name != 'reference' or reference_backward else None
        best = impls[0]
        row['best_impl'] = best
        row['speedup_fwd'] = row['reference_fwd_s'] / row[f'{best}_fwd_s']
        row['speedup_fwd_bwd'] = row['reference_fwd_bwd_s'] / \
            row[f'{best}_fwd_bwd_s'] if row['reference_fwd_bwd_s'] else None
        rows.append(row)
        print(f'add_shift stage {stage} {tuple(x.shape)}: {best} '
              f'{row[f"{best}_fwd_s"]:.4f} s forward '
              f'(x{row["speedup_fwd"]:.2f} vs reference), '
              f'{row[f"{best}_fwd_bwd_s"]:.4f} s forward+backward',
              flush=True)
    return rows


def layer_rows(batch, repeats, device, channels=80, size=56, big=51):
    torch.manual_seed(0)
    layer = ShiftWiseConv2d(channels, big, 3).to(device)
    x = torch.randn(batch, channels, size, size, device=device,
                    requires_grad=True)
    weight = torch.randn(channels, 1, big, big, device=device,
                         requires_grad=True)
    candidates = {
        'shift-wise (train form)': lambda: layer(x),
        f'depthwise {big}x{big}': lambda: depthwise_conv2d(x, weight),
    }
    rows = []
    for name, fn in candidates.items():
        layer.train()
        with SavedTensorBytes(list(layer.parameters()) + [weight]) as saved:
            fn().sum()
        rows.append(dict(module=name, input=list(x.shape),
                         fwd_s=timed(fn, device, repeats),
                         fwd_bwd_s=timed(fn, device, repeats, True, x),
                         saved_activation_mb=saved.bytes / 2**20))
    layer.eval()
    for form in ('shift', 'large_kernel'):
        deployed = ShiftWiseConv2d(channels, big, 3, deploy=True,
                                   deploy_form=form).to(device).eval()
        with torch.no_grad():
            t = median_time(lambda: deployed(x), device, repeats, warmup=1)
        rows.append(dict(module=f'shift-wise deploy ({form})',
                         input=list(x.shape), fwd_s=t, fwd_bwd_s=None,
                         saved_activation_mb=None))
    for r in rows:
        print(f'{r["module"]:32s} forward {r["fwd_s"]:.4f} s'
              + (f', forward+backward {r["fwd_bwd_s"]:.4f} s, saved '
                 f'{r["saved_activation_mb"]:.1f} MB'
                 if r['fwd_bwd_s'] is not None else ''), flush=True)
    return rows


def _fmt(value, spec, suffix=''):
    return '-' if value is None else f'{value:{spec}}{suffix}'


def to_markdown(report):
    m = report['machine']
    lines = [
        '# Shift-wise convolution benchmark', '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}, triton '
        f'{m["triton"]}, batch {report["batch_size"]}, median of '
        f'{report["repeats"]}.', '', '## add_shift vs the explicit reference',
        '', '| SW-T stage | input | table | back end | forward (s) | '
        'reference (s) | speed-up | fwd+bwd (s) | reference (s) | speed-up |',
        '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in report['add_shift']:
        b = r['best_impl']
        lines.append(
            f'| {r["stage"]} | {"x".join(map(str, r["input"]))} | '
            f'{"x".join(map(str, r["table"]))} | {b} | '
            f'{r[f"{b}_fwd_s"]:.4f} | {r["reference_fwd_s"]:.4f} | '
            f'{r["speedup_fwd"]:.2f}x | {r[f"{b}_fwd_bwd_s"]:.4f} | '
            f'{_fmt(r["reference_fwd_bwd_s"], ".4f")} | '
            f'{_fmt(r["speedup_fwd_bwd"], ".2f", "x")} |')
    lines += ['', '## Layer vs a real large kernel', '',
              '| module | input | forward (s) | fwd+bwd (s) | saved '
              'activations (MB) |', '|---|---|---|---|---|']
    for r in report['layer']:
        fb = '-' if r['fwd_bwd_s'] is None else f'{r["fwd_bwd_s"]:.4f}'
        mem = '-' if r['saved_activation_mb'] is None else \
            f'{r["saved_activation_mb"]:.1f}'
        lines.append(f'| {r["module"]} | {"x".join(map(str, r["input"]))} |'
                     f' {r["fwd_s"]:.4f} | {fb} | {mem} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--stages', type=int, nargs='+', default=[0, 1, 2, 3])
    parser.add_argument('--device', default=None)
    parser.add_argument('--reference-backward', action='store_true',
                        help='also time the reference backward (slow)')
    parser.add_argument('--out-dir', default='benchmarks/shiftwise')
    args = parser.parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda needs a GPU; use --device cpu.')
    stages = [s for s in STAGES if s[0] in args.stages]
    report = dict(machine=machine_info(), device=device,
                  batch_size=args.batch_size, repeats=args.repeats,
                  add_shift=op_rows(args.batch_size, args.repeats, device,
                                    stages, args.reference_backward),
                  layer=layer_rows(args.batch_size, args.repeats, device))
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, f'shiftwise_{device}')
    with open(stem + '.json', 'w') as f:
        json.dump(report, f, indent=2)
    with open(stem + '.md', 'w') as f:
        f.write(to_markdown(report))
    print(to_markdown(report))
    print(f'Wrote {stem}.json and {stem}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
