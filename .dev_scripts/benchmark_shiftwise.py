#!/usr/bin/env python
"""Shift-wise convolution costs, measured in one run.

    python .dev_scripts/benchmark_shiftwise.py [--batch-size 4]
        [--repeats 10] [--warmup 1] [--stages 0 1 2 3] [--device cpu]
        [--threads N]
        [--reference-backward] [--out-dir DIR] [--force] [--quick]

Part 1, the shift-add op: the back ends of ``mmreplk.ops.add_shift``
('triton' on GPU, the vectorised 'torch' one) against the explicit per-term
reference, forward and forward + backward, on the shift tables of SW-T's
stages at 224x224 input. Part 2, the layer: a ``ShiftWiseConv2d`` emulating
a 51x51 kernel (training form, and both deploy forms) against a real 51x51
depthwise conv through ``mmreplk.ops.depthwise_conv2d``, latency and saved
activations.

All variants of one stage (part 1) or of the layer (part 2) are timed
interleaved (``mmreplk.analysis.time_interleaved``: one call of each variant
per round) and reported as min / median / max over the rounds. Results that
cannot be true are listed as flags, not findings: a forward slower than the
same forward plus its backward, and the 'shift' deploy form slower than the
training form's eval forward (it runs the same conv and shift-add with the
BNs folded). Writes ``shiftwise_<device>.json`` and ``.md`` into
``--out-dir`` (default ``work_dirs/benchmarks/shiftwise``); existing files
are replaced only with ``--force``.
"""
import argparse
import copy
import sys

import torch

from mmreplk.analysis import (SavedTensorBytes, check_results_writable,
                              machine_info, relative_max_diff,
                              time_interleaved, write_results)
from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.ops import add_shift, depthwise_conv2d
from mmreplk.ops.add_shift.torch_impl import add_shift_reference
from mmreplk.utils import tool_main
from benchmark_cli import (add_benchmark_args, check_benchmark_args,
                           format_timing, impossible_results_markdown)

# (stage, channels, large kernel, feature size at 224 input) of SW-T.
STAGES = [(0, 80, 51, 56), (1, 160, 49, 28), (2, 320, 47, 14), (3, 640, 13, 7)]
# --quick (for tests): SW-T's last stage with 24 channels, and a layer
# emulating a 7x7 kernel; a few seconds on a CPU.
QUICK_STAGE = (3, 24, 13, 7)
QUICK_LAYER = dict(channels=8, size=10, big=7)


def forward_backward(fn, x):
    """A callable running ``fn()`` and its backward (gradient of ones)."""

    def run():
        out = fn()
        out.backward(torch.ones_like(out))
        x.grad = None

    return run


def no_grad(fn):

    def run():
        with torch.no_grad():
            fn()

    return run


def fwd_fwd_bwd_flags(label, times, pairs):
    """Flag pairs ``(forward, forward+backward)`` whose forward is slower
    (by median or by min): the forward is part of forward+backward."""
    flags = []
    for fwd, both in pairs:
        if fwd not in times or both not in times:
            continue
        for stat in ('median', 'min'):
            if times[fwd][stat] > times[both][stat]:
                flags.append(
                    f'{label}: {fwd} {stat} {times[fwd][stat]:.4f} s > '
                    f'{both} {times[both][stat]:.4f} s although the forward '
                    'is part of forward+backward: timing noise, not a '
                    'result.')
    return flags


def op_rows(batch, device, stages, args):
    """Part 1: per SW-T stage, add_shift back ends vs the reference."""
    rows, flags = [], []
    impls = ['triton', 'torch'] if device == 'cuda' else ['torch']
    for stage, channels, big, size in stages:
        layer = ShiftWiseConv2d(channels, big, 3).to(device)
        src, dh, dw = layer.shift_src, layer.shift_dh, layer.shift_dw
        x = torch.randn(
            batch,
            layer.num_rep * layer.nk,
            size + 2,
            size + 2,
            device=device,
            requires_grad=True)
        shape = (size, size)
        calls = {
            'reference': lambda: add_shift_reference(x, src, dh, dw, shape)
        }
        for impl in impls:
            calls[impl] = (
                lambda impl=impl: add_shift(x, src, dh, dw, shape, impl=impl))
        fns = {}
        for name, fn in calls.items():
            fns[f'{name} forward'] = fn
            # The reference's backward (one full-size pad per term) takes
            # minutes at these shapes on CPU: opt-in.
            if name != 'reference' or args.reference_backward:
                fns[f'{name} forward+backward'] = forward_backward(fn, x)
        times = time_interleaved(fns, device, args.repeats, args.warmup)
        row = dict(
            stage=stage,
            input=list(x.shape),
            table=list(src.shape),
            times=times)
        best = impls[0]
        row['best_impl'] = best
        row['speedup_fwd'] = times['reference forward']['median'] / \
            times[f'{best} forward']['median']
        ref_both = times.get('reference forward+backward')
        row['speedup_fwd_bwd'] = ref_both['median'] / times[
            f'{best} forward+backward']['median'] if ref_both else None
        rows.append(row)
        flags += fwd_fwd_bwd_flags(f'add_shift stage {stage}', times,
                                   [(f'{n} forward', f'{n} forward+backward')
                                    for n in calls])
        print(
            f'add_shift stage {stage} {tuple(x.shape)}: {best} forward '
            f'{times[f"{best} forward"]["median"]:.4f} s (x'
            f'{row["speedup_fwd"]:.2f} vs reference), forward+backward '
            f'{times[f"{best} forward+backward"]["median"]:.4f} s',
            flush=True)
    return rows, flags


def layer_rows(batch, device, args, channels=80, size=56, big=51):
    """Part 2: the layer's forms vs a real ``big x big`` depthwise conv."""
    torch.manual_seed(0)
    layer = ShiftWiseConv2d(channels, big, 3)
    # Random BN statistics and affine terms: folding them is then not
    # trivial, so the deploy forms' output check below means something.
    for m in layer.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    layer = layer.to(device).train()
    eval_layer = copy.deepcopy(layer).eval()
    deployed = {}
    for form in ('shift', 'large_kernel'):
        deployed[form] = copy.deepcopy(eval_layer)
        deployed[form].switch_to_deploy(form)
    x = torch.randn(
        batch, channels, size, size, device=device, requires_grad=True)
    weight = torch.randn(
        channels, 1, big, big, device=device, requires_grad=True)
    train_fwd = {
        'shift-wise (train form)': lambda: layer(x),
        f'depthwise {big}x{big}': lambda: depthwise_conv2d(x, weight),
    }
    fns = {}
    for name, fn in train_fwd.items():
        fns[f'{name} forward'] = fn
        fns[f'{name} forward+backward'] = forward_backward(fn, x)
    inference = {
        'shift-wise (train form, eval)': lambda: eval_layer(x),
        'shift-wise deploy (shift)': lambda: deployed['shift'](x),
        'shift-wise deploy (large_kernel)': lambda: deployed['large_kernel']
        (x),
        f'depthwise {big}x{big}': lambda: depthwise_conv2d(x, weight),
    }
    for name, fn in inference.items():
        fns[f'{name} inference'] = no_grad(fn)
    times = time_interleaved(fns, device, args.repeats, args.warmup)

    saved = {}
    for name, fn in train_fwd.items():
        with SavedTensorBytes(list(layer.parameters()) + [weight]) as s:
            fn().sum()
        saved[name] = s.bytes / 2**20
    with torch.no_grad():
        expected = eval_layer(x)
        deploy_diff = {
            form: relative_max_diff(expected, m(x))
            for form, m in deployed.items()
        }
    flags = fwd_fwd_bwd_flags('layer', times,
                              [(f'{n} forward', f'{n} forward+backward')
                               for n in train_fwd])
    shift = times['shift-wise deploy (shift) inference']
    train_eval = times['shift-wise (train form, eval) inference']
    for stat in ('median', 'min'):
        if shift[stat] > train_eval[stat]:
            flags.append(
                f'layer: deploy (shift) inference {stat} {shift[stat]:.4f} s'
                f' > training form (eval) {train_eval[stat]:.4f} s although '
                'it runs the same conv and shift-add with the BNs folded: '
                'not a finding (timing noise, or a slower code path; check '
                'before citing).')
    report = dict(
        input=list(x.shape),
        large_kernel=big,
        times=times,
        saved_activation_mb=saved,
        deploy_max_rel_diff=deploy_diff)
    for name, t in times.items():
        print(
            f'{name:48s} median {t["median"]:.4f} s (min {t["min"]:.4f},'
            f' max {t["max"]:.4f})',
            flush=True)
    return report, flags


def to_markdown(report):
    m = report['machine']
    lines = [
        '# Shift-wise convolution benchmark',
        '',
        f'Device: {report["device"]} ({m.get("gpu") or m.get("cpu")}, '
        f'{m["threads"]} threads), torch {m["torch"]}, triton '
        f'{m["triton"]}, batch {report["batch_size"]}. Variants timed '
        f'interleaved, {report["repeats"]} rounds after {report["warmup"]} '
        'warm-up round(s); seconds as median (min-max).',
    ]
    if report['note']:
        lines += ['', report['note']]
    lines += [
        '', '## add_shift vs the explicit reference', '',
        '| SW-T stage | input | table | variant | forward (s) | '
        'forward+backward (s) |', '|---|---|---|---|---|---|'
    ]
    for r in report['add_shift']:
        for name in dict.fromkeys(k.rsplit(' ', 1)[0] for k in r['times']):
            fwd = r['times'][f'{name} forward']
            both = r['times'].get(f'{name} forward+backward')
            lines.append(
                f'| {r["stage"]} | {"x".join(map(str, r["input"]))} | '
                f'{"x".join(map(str, r["table"]))} | {name} | '
                f'{format_timing(fwd, 4)} '
                f'| {format_timing(both, 4) if both else "not run"} |')
    lines += [
        '', 'Speed-up of the fastest back end over the reference '
        '(medians): ' +
        ', '.join(f'stage {r["stage"]} forward x{r["speedup_fwd"]:.2f}'
                  for r in report['add_shift']) + '.'
    ]
    layer = report['layer']
    lines += [
        '', f'## Layer vs a real {layer["large_kernel"]}x'
        f'{layer["large_kernel"]} kernel', '',
        f'Input {"x".join(map(str, layer["input"]))}. "forward" and '
        '"forward+backward" in training mode; "inference" in eval '
        'mode without autograd.', '',
        '| variant | time (s) | saved activations (MB) |', '|---|---|---|'
    ]
    for name, t in layer['times'].items():
        module = name.rsplit(' ', 1)[0].replace(' forward', '')
        mem = layer['saved_activation_mb'].get(module) \
            if name.endswith(' forward') else None
        lines.append(f'| {name} | {format_timing(t, 4)} | '
                     f'{"-" if mem is None else f"{mem:.1f}"} |')
    lines += [
        '', 'Deploy forms vs the training form (eval), max relative '
        'difference: ' +
        ', '.join(f'{k} {v:.1e}'
                  for k, v in layer['deploy_max_rel_diff'].items()) + '.'
    ]
    lines += impossible_results_markdown(report['impossible'])
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_benchmark_args(parser, 'shiftwise', repeats=10)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument(
        '--stages',
        type=int,
        nargs='+',
        default=[0, 1, 2, 3],
        choices=[s[0] for s in STAGES])
    parser.add_argument(
        '--reference-backward',
        action='store_true',
        help='also time the reference backward (slow)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny run for tests: one small stage, a small '
        'layer, batch 1, 2 rounds')
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.repeats = 1, 2
    check_benchmark_args(parser, args, positive=('batch_size', ))
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    stem = f'shiftwise_{args.device}'
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = [QUICK_STAGE] if args.quick else \
        [s for s in STAGES if s[0] in args.stages]
    add_shift_rows, op_flags = op_rows(args.batch_size, args.device, stages,
                                       args)
    layer, layer_flags = layer_rows(args.batch_size, args.device, args,
                                    **(QUICK_LAYER if args.quick else {}))
    report = dict(
        machine=machine_info(),
        device=args.device,
        batch_size=args.batch_size,
        repeats=args.repeats,
        warmup=args.warmup,
        quick=args.quick,
        note=args.note,
        add_shift=add_shift_rows,
        layer=layer,
        impossible=op_flags + layer_flags)
    markdown = to_markdown(report)
    paths = write_results(args.out_dir, stem, report, markdown, args.force)
    print(markdown)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
