#!/usr/bin/env python
"""Benchmark the back ends of mmreplk's large-kernel depthwise convolution.

    python .dev_scripts/benchmark_dwconv.py [--out-dir DIR] [--force]
        [--repeats 3] [--batch-224 B] [--batch-512 B] [--quick]
        [--skip-model] [--skip-train] [--amp]

On the device present (CUDA if available, else CPU) it times, interleaved
(min/median/max of the rounds), every back end that can run there and
``impl='auto'``: forward and forward+backward on RepLKNet-31B's stage
shapes at 224 (56x56xC128 K31, 28x28xC256 K29, 14x14xC512 K27, 7x7xC1024
K13) and at a 512x512 segmentation input, plus the peak memory of one
forward+backward (CUDA only: ``max_memory_allocated``; on CPU there is no
honest per-variant figure, reported as n/a). Inputs are NCHW; the baseline
is PyTorch's ``F.conv2d`` on them (``impl='torch'``). Then RepLKNet-31B
whole-model inference at 512x512 and a training step (forward, backward,
SGD step) with each ``impl``. Writes ``dwconv_{cpu,gpu}.json`` and
``.md`` into ``--out-dir`` (default ``work_dirs/benchmarks/dwconv``), and
refuses to replace them without ``--force``.
"""
import argparse
import sys

import torch

from mmreplk.analysis import (check_results_writable, default_out_dir,
                              machine_info, relative_max_diff,
                              time_interleaved, write_results)
from mmreplk.ops import AUTOTUNER, DEPTHWISE_CONV_IMPLS, depthwise_conv2d
from mmreplk.ops.depthwise_conv.custom_op import choice_key
from mmreplk.utils import tool_main

STAGES_224 = [(56, 128, 31), (28, 256, 29), (14, 512, 27), (7, 1024, 13)]
STAGES_512 = [(128, 128, 31), (64, 256, 29), (32, 512, 27), (16, 1024, 13)]
QUICK_STAGES = [(12, 8, 13), (8, 16, 7)]
QUICK_ARCH = dict(
    large_kernels=[7, 7, 5, 5],
    stage_blocks=[1, 1, 1, 1],
    channels=[8, 16, 16, 16],
    small_kernel=3)
# Back ends of the device, in the order they are listed.
DEVICE_IMPLS = dict(
    cpu=['torch', 'cpu', 'fft', 'auto'],
    cuda=['torch', 'fft', 'triton', 'auto'])


def auto_choices(x, w):
    """What 'auto' picked for this shape, per direction (None: not yet)."""
    padding = (w.shape[2] // 2, w.shape[3] // 2)
    return {
        d: AUTOTUNER.known_choice(choice_key(x, w, padding, d))
        for d in ('forward', 'grad_input', 'grad_weight')
    }


def peak_memory(fn, device):
    """Peak bytes allocated by one call above what was allocated before
    (CUDA), or None (CPU)."""
    if device.type != 'cuda':
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def bench_shape(batch, hw, c, k, dtype, device, impls, repeats):
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(
        batch, c, hw, hw, device=device, dtype=dtype, generator=gen)
    w = torch.randn(
        c, 1, k, k, device=device, dtype=dtype, generator=gen) * 0.01
    go = torch.randn(x.shape, device=device, dtype=dtype, generator=gen)

    def fwd(impl):

        def call():
            with torch.no_grad():
                depthwise_conv2d(x, w, impl=impl)

        return call

    def fwd_bwd(impl):

        def call():
            xi = x.detach().requires_grad_()
            wi = w.detach().requires_grad_()
            depthwise_conv2d(xi, wi, impl=impl).backward(go)

        return call

    t_fwd = time_interleaved({i: fwd(i) for i in impls}, device, repeats)
    t_fb = time_interleaved({i: fwd_bwd(i) for i in impls}, device, repeats)
    row = dict(
        batch=batch,
        hw=hw,
        channels=c,
        kernel=k,
        dtype=str(dtype).replace('torch.', ''),
        fwd=t_fwd,
        fwd_bwd=t_fb,
        auto_choice=auto_choices(x, w),
        peak_bytes={i: peak_memory(fwd_bwd(i), device)
                    for i in impls})
    flop = 2 * batch * c * hw * hw * k * k  # one multiply-add = 2 FLOP
    row['fwd_tflops'] = {
        i: flop / t['median'] / 1e12
        for i, t in t_fwd.items()
    }
    return row


def check_row(row):
    """Results that cannot be physical, and auto clearly behind the best
    single back end: flagged, not reported as findings."""
    flags = []
    for impl, t in row['fwd'].items():
        if t['min'] > row['fwd_bwd'][impl]['median']:
            flags.append(f'{impl}: forward ({t["min"] * 1e3:.1f} ms min) '
                         'slower than its forward+backward (noise?)')
    for part in ('fwd', 'fwd_bwd'):
        times = {i: t['median'] for i, t in row[part].items()}
        best = min(t for i, t in times.items() if i != 'auto')
        if 'auto' in times and times['auto'] > 1.1 * best:
            flags.append(f'auto {part} {times["auto"] / best:.2f}x the best '
                         'single back end')
    return flags


def bench_ops(device, dtypes, impls, repeats, suites):
    rows = []
    for label, batch, stages in suites:
        for hw, c, k in stages:
            for dtype in dtypes:
                row = bench_shape(batch, hw, c, k, dtype, device, impls,
                                  repeats)
                row['input'] = label
                row['flags'] = check_row(row)
                rows.append(row)
                med = {i: t['median'] * 1e3 for i, t in row['fwd_bwd'].items()}
                print(
                    f'{label} {hw}x{hw} C{c} K{k} {row["dtype"]} batch '
                    f'{batch}: fwd+bwd ms ' +
                    ', '.join(f'{i} {v:.1f}' for i, v in med.items()) +
                    f'; auto {row["auto_choice"]}',
                    flush=True)
                for flag in row['flags']:
                    print('  FLAG: ' + flag, flush=True)
    return rows


def build_models(device, impls, arch):
    from mmreplk.models.backbones import RepLKNet
    torch.manual_seed(0)
    models = {}
    for impl in impls:
        models[impl] = RepLKNet(
            arch=arch, impl=impl, drop_path_rate=0.0).to(device)
        if len(models) > 1:
            models[impl].load_state_dict(models[impls[0]].state_dict())
    return models


def bench_inference(device, impls, arch, size, repeats):
    models = build_models(device, impls, arch)
    x = torch.randn(1, 3, size, size, device=device)

    def infer(model):

        def call():
            with torch.no_grad():
                return model(x)

        return call

    for model in models.values():
        model.eval()
    times = time_interleaved({
        i: infer(m)
        for i, m in models.items()
    }, device, repeats)
    ref = infer(models['torch'])()
    diff = {}
    for impl, model in models.items():
        out = infer(model)()
        diff[impl] = relative_max_diff(ref, out)
    return dict(
        input=f'1x3x{size}x{size}', times=times, max_rel_diff_vs_torch=diff)


def bench_train(device, impls, arch, size, batch, repeats, amp):
    models = build_models(device, impls, arch)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, 3, size, size, device=device, generator=gen)
    optims = {
        i: torch.optim.SGD(m.parameters(), lr=1e-4)
        for i, m in models.items()
    }

    def step(impl):
        model, optim = models[impl], optims[impl]

        def call():
            optim.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=amp):
                loss = sum(o.float().mean() for o in model(x))
            loss.backward()
            optim.step()

        return call

    for model in models.values():
        model.train()
    times = time_interleaved({i: step(i) for i in impls}, device, repeats)
    peak = {i: peak_memory(step(i), device) for i in impls}
    return dict(
        input=f'{batch}x3x{size}x{size}',
        amp=amp,
        times=times,
        peak_bytes=peak)


def fmt_ms(t):
    return (f'{t["median"] * 1e3:.1f} ({t["min"] * 1e3:.1f}-'
            f'{t["max"] * 1e3:.1f})')


def fmt_mem(b):
    return 'n/a' if b is None else f'{b / 2**20:.0f}'


def markdown(report):
    impls = report['impls']
    m = report['machine']
    device = m['gpu'] or f'{m.get("cpu", "CPU")} ({m["threads"]} threads)'
    lines = [
        '# Large-kernel depthwise conv: back ends and auto', '',
        f'Device: {device}; torch {m["torch"]}, triton {m["triton"]}. '
        f'Interleaved timing, {report["repeats"]} rounds after one warm-up '
        'round (auto measures its candidates in the warm-up); median '
        '(min-max) in ms. Inputs NCHW; baseline `torch` = PyTorch '
        '`F.conv2d` on them. `cpu` = the CPU path (channels_last oneDNN + '
        'FFT grad weight; what `auto` ran on CPU before it measured).', ''
    ]
    if report.get('note'):
        lines += [report['note'], '']
    if m['gpu'] is None:
        lines += [
            'No GPU here: the Triton back end was not timed; peak '
            'memory is n/a on CPU (no per-variant allocator '
            'statistics).', ''
        ]
    head = '| input | batch | HxW | C | K | dtype |'
    for part, title in (('fwd', 'forward'), ('fwd_bwd', 'forward+backward')):
        lines += [
            f'## {title} (ms)', '', head + ''.join(f' {i} |' for i in impls) +
            ' auto / cpu | auto / torch | auto picks (fwd, dx, dw) |'
            if part == 'fwd_bwd' else head +
            ''.join(f' {i} |' for i in impls) + ' auto / best single |',
            '|' + '---|' * (6 + len(impls) + (3 if part == 'fwd_bwd' else 1))
        ]
        for r in report['ops']:
            t = r[part]
            cells = [
                r['input'], r['batch'], f'{r["hw"]}x{r["hw"]}', r['channels'],
                r['kernel'], r['dtype']
            ]
            cells += [fmt_ms(t[i]) for i in impls]
            auto = t['auto']['median']
            if part == 'fwd_bwd':
                if 'cpu' in t:
                    cells.append(f'{t["cpu"]["median"] / auto:.2f}x')
                else:
                    cells.append('-')
                cells.append(f'{t["torch"]["median"] / auto:.2f}x')
                cells.append(', '.join(
                    str(v) for v in r['auto_choice'].values()))
            else:
                best = min(v['median'] for i, v in t.items() if i != 'auto')
                cells.append(f'{best / auto:.2f}x')
            lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
        lines.append('')
    lines += ['Speed-ups are ratios of medians (> 1: auto faster).', '']
    if m['gpu'] is not None:
        lines += [
            '## peak memory of one forward+backward (MiB)', '',
            head + ''.join(f' {i} |' for i in impls),
            '|' + '---|' * (6 + len(impls))
        ]
        for r in report['ops']:
            lines.append('| ' + ' | '.join(
                str(c) for c in [
                    r['input'], r['batch'], f'{r["hw"]}x{r["hw"]}',
                    r['channels'], r['kernel'], r['dtype']
                ] + [fmt_mem(r['peak_bytes'][i]) for i in impls]) + ' |')
        lines.append('')
    model = report.get('inference')
    if model:
        lines += [
            f'## RepLKNet-31B inference, {model["input"]} '
            f'({report["model_arch"]})', '',
            '| impl | ms | max rel. diff vs torch |', '|---|---|---|'
        ]
        for i in impls:
            lines.append(f'| {i} | {fmt_ms(model["times"][i])} | '
                         f'{model["max_rel_diff_vs_torch"][i]:.1e} |')
        lines.append('')
    train = report.get('train')
    if train:
        lines += [
            f'## RepLKNet-31B training step (forward, backward, SGD), '
            f'{train["input"]}, amp={train["amp"]} '
            f'({report["model_arch"]})', '', '| impl | ms | peak MiB |',
            '|---|---|---|'
        ]
        for i in impls:
            lines.append(f'| {i} | {fmt_ms(train["times"][i])} | '
                         f'{fmt_mem(train["peak_bytes"][i])} |')
        lines.append('')
    flags = [(r, f) for r in report['ops'] for f in r['flags']]
    if flags:
        lines += [
            '## Flags (implausible or auto behind; re-run before '
            'drawing conclusions)', ''
        ]
        lines += [
            f'- {r["input"]} {r["hw"]}x{r["hw"]} K{r["kernel"]} '
            f'{r["dtype"]}: {f}' for r, f in flags
        ]
        lines.append('')
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default=default_out_dir('dwconv'))
    parser.add_argument(
        '--force', action='store_true', help='replace existing result files')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--batch-224',
        type=int,
        default=None,
        help='batch of the 224 shapes (GPU 64, CPU 8)')
    parser.add_argument(
        '--batch-512',
        type=int,
        default=None,
        help='batch of the 512 shapes (GPU 8, CPU 2)')
    parser.add_argument(
        '--train-size',
        type=int,
        default=None,
        help='training-step input size (GPU 512, CPU 224)')
    parser.add_argument(
        '--train-batch',
        type=int,
        default=None,
        help='training-step batch (GPU 8, CPU 1)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast the training step (CUDA fp16)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny shapes and a tiny RepLKNet (smoke run)')
    parser.add_argument('--skip-model', action='store_true')
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument(
        '--note', default='', help='a line added to the markdown (conditions)')
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error('--repeats must be >= 1')
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device('cuda' if cuda else 'cpu')
    impls = DEVICE_IMPLS[device.type]
    if not cuda:
        print('No GPU: timing the CPU back ends (torch, cpu, fft) and auto.')
    dtypes = [torch.float32, torch.float16] if cuda else [torch.float32]
    if args.quick:
        suites = [('quick', 1, QUICK_STAGES)]
        arch, model_size, train_size, train_batch = QUICK_ARCH, 64, 64, 1
    else:
        suites = [('224', args.batch_224 or (64 if cuda else 8), STAGES_224),
                  ('512', args.batch_512 or (8 if cuda else 2), STAGES_512)]
        arch, model_size = '31B', 512
        train_size = args.train_size or (512 if cuda else 224)
        train_batch = args.train_batch or (8 if cuda else 1)
    stem = 'dwconv_' + ('gpu' if cuda else 'cpu')
    # Before measuring: a long run must not end in this error.
    check_results_writable(args.out_dir, stem, args.force)
    report = dict(
        machine=machine_info(),
        repeats=args.repeats,
        quick=args.quick,
        impls=impls,
        note=args.note,
        model_arch=arch if isinstance(arch, str) else 'tiny',
        candidates=DEPTHWISE_CONV_IMPLS)
    report['ops'] = bench_ops(device, dtypes, impls, args.repeats, suites)
    if not args.skip_model:
        report['inference'] = bench_inference(device, impls, arch, model_size,
                                              args.repeats)
        print(
            'inference ms: ' +
            ', '.join(f'{i} {t["median"] * 1e3:.0f}'
                      for i, t in report['inference']['times'].items()),
            flush=True)
    if not args.skip_train:
        report['train'] = bench_train(device, impls, arch, train_size,
                                      train_batch, args.repeats, args.amp
                                      and cuda)
        print(
            'train step ms: ' +
            ', '.join(f'{i} {t["median"] * 1e3:.0f}'
                      for i, t in report['train']['times'].items()),
            flush=True)
    paths = write_results(args.out_dir, stem, report, markdown(report),
                          args.force)
    print(f'Wrote {paths[0]} and {paths[1]}')


if __name__ == '__main__':
    sys.exit(main())
