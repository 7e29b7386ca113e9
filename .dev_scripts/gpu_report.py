#!/usr/bin/env python
"""Validate mmreplk on a GPU in one command, within a time budget.

    python .dev_scripts/gpu_report.py --out-dir benchmarks/gpu/<device-name>
        [--sections env correctness ops ...] [--budget 480] [--quick]
        [--device cuda|cpu] [--repeats 5] [--force]

Sections, in this order (each writes ``<section>.json`` and
``<section>.md`` before the next starts, and ``summary.md``/``summary.json``
are rewritten after every section, so a run stopped by a time limit still
leaves what it measured):

* ``env``: device, clocks, library versions.
* ``correctness``: every back end of both ops against fp64 references,
  fp32 and under autocast (fp16 and bf16 on CUDA, bf16 on CPU), NCHW and
  channels_last, forward and both gradients.
* ``ops``: per direction (forward, grad input, grad weight) and forward +
  backward, timing and peak memory of every back end and of ``auto``
  (with its picks), at the RepLKNet-31B stage shapes (224 batch 64, 512
  batch 8), SLaK-T's strips and UniRepLKNet-S's 13x13 kernels (512 batch
  8), fp32 and AMP; the shift-add at the SW-T stage shapes.
* ``replknet_train``: RepLKNet-31B training step (forward, backward,
  AdamW) and peak memory at 512x512 batch 8 under AMP, ``impl='torch'``
  vs ``'auto'``.
* ``upernet_infer``: UperNet-RepLKNet-31B (deploy form) inference at
  512x512 batch 4, ``'torch'`` vs ``'auto'`` (needs mmsegmentation).
* ``orepa_train``: OREPA-ResNet-18/50 vs DBB vs Conv-BN training step and
  peak memory.
* ``shiftwise_train``: the shift-wise layer's training step at the SW-T
  stage shapes, per back end.

It needs torch, Triton and the pure-Python OpenMMLab packages (mmengine,
mmcv without compiled ops, mmsegmentation); a section that cannot import
what it needs is skipped with a note. ``--quick`` runs every section at tiny
sizes (on CPU unless ``--device cuda``). The targets are printed with
pass/fail; "not measured" where a section did not run.
"""
import argparse
import contextlib
import importlib
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F

from mmreplk.analysis import (machine_info, peak_memory, relative_max_diff,
                              time_interleaved)
from mmreplk.ops import AUTOTUNER, add_shift, depthwise_conv2d, use_impl
from mmreplk.ops.add_shift.torch_impl import add_shift_reference
from mmreplk.ops.depthwise_conv.custom_op import (choice_key,
                                                  depthwise_conv2d_backward_op,
                                                  depthwise_conv2d_op)
from mmreplk.ops.dispatch import cast_for_autocast
from mmreplk.utils import ToolInputError, atomic_write_bytes, tool_main
from benchmark_cli import format_timing

SECTIONS = ('env', 'correctness', 'ops', 'replknet_train', 'upernet_infer',
            'orepa_train', 'shiftwise_train')
# (batch, channels, size, kernel): RepLKNet-31B's large-kernel stages.
REPLKNET_OP_SHAPES = {
    '224 bs64': [(64, 128, 56, 31), (64, 256, 28, 29), (64, 512, 14, 27),
                 (64, 1024, 7, 13)],
    '512 bs8': [(8, 128, 128, 31), (8, 256, 64, 29), (8, 512, 32, 27),
                (8, 1024, 16, 13)],
}
# SLaK-T's strips (K x 5 and 5 x K) and deploy kernels at 512 batch 8.
SLAK_OP_SHAPES = {
    '512 bs8 SLaK-T': [(8, 124, 128, (51, 5)), (8, 124, 128, (5, 51)),
                       (8, 124, 128, 51), (8, 249, 64, (49, 5)),
                       (8, 499, 32, (47, 5))],
}
# UniRepLKNet-S's 13x13 kernels (stages 1-3) at 512 batch 8.
UNIREPLKNET_OP_SHAPES = {
    '512 bs8 UniRepLKNet-S': [(8, 192, 64, 13), (8, 384, 32, 13),
                              (8, 768, 16, 13)],
}
QUICK_OP_SHAPES = {'quick': [(2, 8, 12, 13), (2, 8, 8, 7), (2, 8, 12, (9, 3))]}
# SW-T stages at a 512x512 input, batch 8: (batch, channels, size, kernel).
SHIFTWISE_SHAPES = [(8, 80, 128, 51), (8, 160, 64, 49), (8, 320, 32, 47),
                    (8, 640, 16, 13)]
QUICK_SHIFTWISE_SHAPES = [(2, 8, 12, 9)]
MIB = 2**-20


# ------------------------------------------------------------ the context
class Report:
    """Budget, device and output of one run."""

    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device)
        self.quick = args.quick
        self.repeats = args.repeats
        self.start = time.monotonic()
        self.deadline = self.start + args.budget
        self.targets = []
        self.sections = {}

    def time_left(self):
        return self.deadline - time.monotonic()

    def amp_dtype(self):
        return torch.float16 if self.device.type == 'cuda' else torch.bfloat16

    def autocast(self, enabled=True):
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype(), enabled=enabled)

    def impls(self):
        """Back ends of the depthwise op on this device, then 'auto'."""
        if self.device.type == 'cuda':
            return ['torch', 'fft', 'triton', 'auto']
        return ['torch', 'cpu', 'fft', 'auto']

    def target(self, name, goal, measured, passed, note=''):
        if self.quick:  # tiny sizes say nothing about the targets
            passed, note = None, 'quick sizes, not the target shapes'
        self.targets.append(
            dict(
                name=name,
                target=goal,
                measured=measured,
                passed=passed,
                note=note))

    def write(self, name, data, lines):
        out = self.args.out_dir
        os.makedirs(out, exist_ok=True)
        atomic_write_bytes(
            (json.dumps(data, indent=1, default=str) + '\n').encode(),
            osp.join(out, f'{name}.json'))
        atomic_write_bytes(('\n'.join(lines) + '\n').encode(),
                           osp.join(out, f'{name}.md'))


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def fmt_s(stats):
    return format_timing(
        {
            k: v * 1e3
            for k, v in stats.items() if k != 'repeats'
        }, digits=3) + ' ms'


def fmt_mib(value):
    return 'n/a' if value is None else f'{value * MIB:.1f} MiB'


# ------------------------------------------------------------ sections
def section_env(report):
    info = machine_info()
    info['device'] = str(report.device)
    info['quick'] = report.quick
    for module in ('mmengine', 'mmcv', 'mmseg', 'mmdet'):
        try:
            info[module] = importlib.import_module(module).__version__
        except Exception as err:  # not installed: noted, not fatal
            info[module] = f'not importable ({type(err).__name__})'
    if report.device.type == 'cuda':
        props = torch.cuda.get_device_properties(report.device)
        info.update(
            gpu_memory_gib=props.total_memory / 2**30,
            multiprocessors=props.multi_processor_count,
            capability=f'{props.major}.{props.minor}',
            cudnn=torch.backends.cudnn.version())
        try:
            info['nvidia_smi'] = subprocess.run([
                'nvidia-smi', '--query-gpu=name,driver_version,'
                'clocks.sm,clocks.max.sm,clocks.mem,power.limit,'
                'temperature.gpu', '--format=csv'
            ],
                                                capture_output=True,
                                                text=True,
                                                timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as err:
            info['nvidia_smi'] = f'not available ({err})'
    lines = ['# Environment', ''] + [f'- {k}: {v}' for k, v in info.items()]
    return info, lines


def _depthwise_case(report, impl, shape, layout, amp):
    n, c, h, w, kh, kw = shape
    gen = torch.Generator().manual_seed(hash(shape) % 1000)
    x = torch.randn(n, c, h, w, generator=gen).to(report.device)
    wt = (torch.randn(c, 1, kh, kw, generator=gen) * 0.1).to(report.device)
    b = torch.randn(c, generator=gen).to(report.device)
    x = x.contiguous(memory_format=layout).requires_grad_()
    wt.requires_grad_()
    with (report.autocast() if amp else contextlib.nullcontext()):
        y = depthwise_conv2d(x, wt, b, impl=impl)
    expected = report.amp_dtype() if amp else torch.float32
    g = torch.randn(y.shape, generator=gen).to(report.device)
    y.backward(g.to(y.dtype))
    cast = y.dtype
    xr, wr = (t.detach().to(cast).double().requires_grad_() for t in (x, wt))
    yr = F.conv2d(
        xr, wr, b.to(cast).double(), padding=(kh // 2, kw // 2), groups=c)
    yr.backward(g.to(cast).double())
    tol = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}
    errors = dict(
        out=relative_max_diff(yr, y),
        grad_input=relative_max_diff(xr.grad, x.grad),
        grad_weight=relative_max_diff(wr.grad, wt.grad))
    ok = y.dtype == expected and all(e <= tol[cast] for e in errors.values())
    return dict(
        impl=impl,
        shape=list(shape),
        layout='channels_last' if layout == torch.channels_last else 'nchw',
        autocast=str(report.amp_dtype()) if amp else None,
        out_dtype=str(y.dtype),
        errors=errors,
        tolerance=tol[cast],
        passed=ok)


def _shift_case(report, impl, amp):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 9, 11, generator=gen).to(report.device)
    src = torch.randint(-1, 6, (8, 5), generator=gen).to(report.device)
    dh = torch.randint(-4, 5, (8, 5), generator=gen).to(report.device)
    dw = torch.randint(-4, 5, (8, 5), generator=gen).to(report.device)
    x.requires_grad_()
    with (report.autocast() if amp else contextlib.nullcontext()):
        y = add_shift(x, src, dh, dw, (7, 12), impl=impl)
    g = torch.randn(y.shape, generator=gen).to(report.device)
    y.backward(g.to(y.dtype))
    xr = x.detach().to(y.dtype).double().requires_grad_()
    yr = add_shift_reference(xr, src, dh, dw, (7, 12))
    yr.backward(g.to(y.dtype).double())
    tol = 1e-5 if y.dtype == torch.float32 else 3e-2
    errors = dict(
        out=relative_max_diff(yr, y),
        grad_input=relative_max_diff(xr.grad, x.grad))
    expected = report.amp_dtype() if amp else torch.float32
    return dict(
        op='add_shift',
        impl=impl,
        autocast=str(report.amp_dtype()) if amp else None,
        out_dtype=str(y.dtype),
        errors=errors,
        tolerance=tol,
        passed=y.dtype == expected and all(e <= tol for e in errors.values()))


def section_correctness(report):
    shapes = [(2, 8, 20, 33, 13, 13), (1, 4, 9, 10, 31, 31),
              (2, 6, 16, 16, 27, 5), (2, 4, 12, 14, 7, 7)]
    if report.quick:
        shapes = shapes[1:3]
    impls = [i for i in report.impls()
             if i != 'triton'] if report.device.type == 'cpu' else \
        report.impls()
    rows = []
    for impl in impls:
        for shape in shapes:
            for layout in (torch.contiguous_format, torch.channels_last):
                for amp in (False, True):
                    try:
                        rows.append(
                            _depthwise_case(report, impl, shape, layout, amp))
                    except Exception as err:  # recorded, not fatal
                        rows.append(
                            dict(
                                impl=impl,
                                shape=list(shape),
                                error=f'{type(err).__name__}: {err}',
                                passed=False))
    shift_impls = ['torch', 'triton', 'auto'] \
        if report.device.type == 'cuda' else ['torch', 'auto']
    for impl in shift_impls:
        for amp in (False, True):
            rows.append(_shift_case(report, impl, amp))
    failed = [r for r in rows if not r['passed']]
    report.target('correctness: every back end vs fp64', 'all cases pass',
                  f'{len(rows) - len(failed)}/{len(rows)} pass', not failed)
    lines = [
        '# Correctness against fp64 references', '',
        f'{len(rows) - len(failed)} of {len(rows)} cases within tolerance '
        '(relative max error of output and gradients; output dtype = '
        "F.conv2d's under the same autocast).", ''
    ]
    for r in failed:
        lines.append(f'- FAILED: {r}')
    return dict(cases=rows), lines


def _op_variants(report, x, w, g, padding, impl):
    """Zero-argument calls of each direction and of forward+backward."""
    ph, pw = padding

    def forward():
        with torch.no_grad():
            return depthwise_conv2d_op(x, w, None, ph, pw, impl)

    def grad_input():
        return depthwise_conv2d_backward_op(g, x, w, ph, pw, impl, True,
                                            False)[0]

    def grad_weight():
        return depthwise_conv2d_backward_op(g, x, w, ph, pw, impl, False,
                                            True)[1]

    xg = x.detach().requires_grad_()
    wg = w.detach().requires_grad_()

    def forward_backward():
        y = depthwise_conv2d(xg, wg, impl=impl)
        y.backward(g)
        xg.grad = wg.grad = None

    return dict(
        forward=forward,
        grad_input=grad_input,
        grad_weight=grad_weight,
        forward_backward=forward_backward)


def _time_shape(report, batch, channels, size, kernel, amp, impls):
    dev = report.device
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=gen).to(dev)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    w = (torch.randn(channels, 1, kh, kw, generator=gen) * 0.05).to(dev)
    if amp:
        x, w = cast_for_autocast((x, w), report.amp_dtype())
    g = torch.randn(x.shape, generator=gen).to(dev, x.dtype)
    padding = (kh // 2, kw // 2)
    calls, peaks, backward_peaks = {}, {}, {}
    for impl in impls:
        variants = _op_variants(report, x, w, g, padding, impl)
        # First calls: Triton compilation, 'auto''s measurement.
        for fn in variants.values():
            fn()
        sync(dev)
        _, peaks[impl], _ = peak_memory(variants['forward_backward'], dev)

        def forward(impl=impl):
            xg = x.detach().requires_grad_()
            wg = w.detach().requires_grad_()
            return depthwise_conv2d(xg, wg, impl=impl)

        _, backward_peaks[impl], _ = peak_memory(
            lambda out: out.backward(g), dev, setup=forward)
        for direction, fn in variants.items():
            calls[(impl, direction)] = fn
    times = time_interleaved({
        f'{i}|{d}': fn
        for (i, d), fn in calls.items()
    },
                             dev,
                             repeats=report.repeats,
                             warmup=1)
    picks = {
        d: AUTOTUNER.known_choice(choice_key(x, w, padding, d))
        for d in ('forward', 'grad_input', 'grad_weight')
    } if 'auto' in impls else {}
    return dict(
        batch=batch,
        channels=channels,
        size=size,
        kernel=kernel,
        dtype=str(x.dtype),
        times={
            impl: {
                d: times[f'{impl}|{d}']
                for d in ('forward', 'grad_input', 'grad_weight',
                          'forward_backward')
            }
            for impl in impls
        },
        peak_bytes=peaks,
        backward_peak_bytes=backward_peaks,
        auto_picks=picks)


def _shift_rows(report):
    from mmreplk.models.layers import ShiftWiseConv2d
    dev = report.device
    impls = ['torch', 'triton', 'auto'] if dev.type == 'cuda' else ['torch']
    shapes = QUICK_SHIFTWISE_SHAPES if report.quick else SHIFTWISE_SHAPES
    rows = []
    for batch, channels, size, kernel in shapes:
        if report.time_left() < 30:
            rows.append(
                dict(
                    shape=[batch, channels, size, kernel],
                    skipped='out of time'))
            continue
        layer = ShiftWiseConv2d(channels, kernel, 3).to(dev)
        tables = (layer.shift_src, layer.shift_dh, layer.shift_dw)
        x = torch.randn(
            batch,
            layer.num_rep * layer.nk,
            size + 2,
            size + 2,
            device=dev,
            requires_grad=True)
        calls = {}
        for impl in impls:

            def step(impl=impl):
                y = add_shift(x, *tables, (size, size), impl=impl)
                y.backward(torch.ones_like(y))
                x.grad = None

            step()
            calls[impl] = step
        rows.append(
            dict(
                shape=[batch, channels, size, kernel],
                input=list(x.shape),
                forward_backward=time_interleaved(
                    calls, dev, repeats=report.repeats, warmup=1)))
    return rows


def section_ops(report):
    shape_sets = QUICK_OP_SHAPES if report.quick else dict(
        REPLKNET_OP_SHAPES, **SLAK_OP_SHAPES, **UNIREPLKNET_OP_SHAPES)
    impls = report.args.impls or report.impls()
    rows = []
    for set_name, shapes in shape_sets.items():
        for batch, channels, size, kernel in shapes:
            for amp in report.args.op_modes:
                if report.time_left() < 45:
                    rows.append(
                        dict(
                            set=set_name,
                            batch=batch,
                            channels=channels,
                            size=size,
                            kernel=kernel,
                            amp=amp,
                            skipped='out of time'))
                    continue
                row = _time_shape(report, batch, channels, size, kernel, amp,
                                  impls)
                row.update(set=set_name, amp=amp)
                rows.append(row)
                print(
                    f'ops {set_name} {channels}x{size}x{size} K{kernel} '
                    f'amp={amp}: ' + ', '.join(
                        f'{i} {row["times"][i]["forward_backward"]["median"]*1e3:.2f} ms'  # noqa: E501
                        for i in impls),
                    flush=True)
    shift = _shift_rows(report)
    lines = [
        '# Large-kernel depthwise op: every back end and auto', '',
        f'Device {report.device}; {report.repeats} interleaved rounds per '
        'variant; median (min-max); the baseline `torch` is `F.conv2d` '
        '(PyTorch native depthwise kernel on CUDA NCHW); peak memory of one '
        'forward+backward, and of the backward alone, above what was '
        'allocated before (CUDA allocator; CPU: peak resident set).', '',
        '| shapes | C x H x W, K | dtype | back end | forward | grad input |'
        ' grad weight | forward+backward | peak | backward peak |'
        ' auto picks |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for row in rows:
        if 'skipped' in row:
            lines.append(f'| {row["set"]} | {row["channels"]} x {row["size"]}'
                         f' K{row["kernel"]} | amp={row["amp"]} | not '
                         f'measured ({row["skipped"]}) | | | | | | | |')
            continue
        for impl, t in row['times'].items():
            picks = ', '.join(f'{v}' for v in row['auto_picks'].values()) \
                if impl == 'auto' else ''
            lines.append(
                f'| {row["set"]} | {row["channels"]} x {row["size"]}^2 '
                f'K{row["kernel"]} | {row["dtype"]} | {impl} | '
                f'{fmt_s(t["forward"])} | {fmt_s(t["grad_input"])} | '
                f'{fmt_s(t["grad_weight"])} | '
                f'{fmt_s(t["forward_backward"])} | '
                f'{fmt_mib(row["peak_bytes"][impl])} | '
                f'{fmt_mib(row["backward_peak_bytes"][impl])} | {picks} |')
    _ops_targets(report, rows, impls)
    lines += [
        '', '## Shift-add (SW-T stages), forward+backward', '',
        '| batch, C, size, K | input | ' +
        ' | '.join(['torch', 'triton', 'auto'] if report.device.type ==
                   'cuda' else ['torch']) + ' |'
    ]
    for row in shift:
        if 'skipped' in row:
            lines.append(f'| {row["shape"]} | not measured ({row["skipped"]})'
                         ' | |')
            continue
        lines.append(f'| {row["shape"]} | {row["input"]} | ' + ' | '.join(
            fmt_s(t) for t in row['forward_backward'].values()) + ' |')
    return dict(depthwise=rows, add_shift=shift, impls=impls), lines


def _ops_targets(report, rows, impls):
    measured = [r for r in rows if 'skipped' not in r]
    big = [
        r for r in measured if isinstance(r['kernel'], int)
        and r['kernel'] >= 27 and r['size'] >= 28
    ]
    if 'auto' in impls and 'torch' in impls and big:
        ratios = [
            r['times']['torch']['forward_backward']['median'] /
            r['times']['auto']['forward_backward']['median'] for r in big
        ]
        report.target(
            'ops: auto forward+backward vs the native kernel, K >= 27, '
            'spatial >= 28 (fp32 and AMP)', '>= 5x',
            f'{min(ratios):.2f}x-{max(ratios):.2f}x',
            min(ratios) >= 5)
    else:
        report.target('ops: auto forward+backward vs the native kernel',
                      '>= 5x', 'not measured', None)
    singles = [i for i in impls if i != 'auto']
    if 'auto' in impls and singles and measured:
        worst = None
        for r in measured:
            best = min(r['times'][i]['forward_backward']['median']
                       for i in singles)
            ratio = best / r['times']['auto']['forward_backward']['median']
            worst = ratio if worst is None else min(worst, ratio)
        report.target('ops: auto vs the best single back end (every shape)',
                      '>= 0.95x', f'worst {worst:.2f}x', worst >= 0.95)
    else:
        report.target('ops: auto vs the best single back end', '>= 0.95x',
                      'not measured', None)


def _train_step_fn(model, optimizer, scaler, x, report):

    def step():
        optimizer.zero_grad(set_to_none=True)
        with report.autocast():
            outs = model(x)
            loss = sum(o.float().square().mean() for o in outs)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    return step


def section_replknet_train(report):
    from mmreplk.models.backbones import RepLKNet
    dev = report.device
    if report.quick:
        arch = dict(
            large_kernels=[7, 7, 5, 5],
            stage_blocks=[1, 1, 1, 1],
            channels=[8, 16, 16, 16],
            small_kernel=3)
        size, batch = 64, 2
    else:
        arch, size, batch = '31B', 512, 8
    x = torch.randn(batch, 3, size, size, device=dev)
    steps, peaks = {}, {}
    for impl in ('torch', 'auto'):
        torch.manual_seed(0)
        model = RepLKNet(arch=arch, impl=impl, drop_path_rate=0.0).to(dev)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler('cuda') if dev.type == 'cuda' else None
        step = _train_step_fn(model, optimizer, scaler, x, report)
        step()  # 'auto' measures here
        step()
        sync(dev)
        _, peaks[impl], _ = peak_memory(step, dev)
        steps[impl] = step
    times = time_interleaved(steps, dev, repeats=report.repeats, warmup=1)
    speedup = times['torch']['median'] / times['auto']['median']
    memory = None if peaks['torch'] in (None, 0) else \
        peaks['auto'] / peaks['torch']
    name = 'tiny RepLKNet' if report.quick else 'RepLKNet-31B'
    report.target(
        f'{name} training step {size}x{size} batch {batch} AMP: auto vs '
        'torch', '>= 2.3x faster, peak memory <= 1.1x',
        f'{speedup:.2f}x, memory {memory:.2f}x'
        if memory is not None else f'{speedup:.2f}x, memory n/a',
        speedup >= 2.3 and (memory is not None and memory <= 1.1))
    lines = [
        f'# {name} training step (forward, backward, AdamW), AMP', '',
        f'Input {batch}x3x{size}x{size}, autocast {report.amp_dtype()}, '
        f'{report.repeats} interleaved rounds.', '',
        '| impl | step | peak memory |', '| --- | --- | --- |'
    ] + [f'| {i} | {fmt_s(times[i])} | {fmt_mib(peaks[i])} |'
         for i in times] + ['', f'auto vs torch: {speedup:.2f}x faster.']
    return dict(times=times, peak_bytes=peaks, speedup=speedup), lines


def section_upernet_infer(report):
    try:
        import mmseg  # noqa: F401
        from mmengine.model import revert_sync_batchnorm
    except ImportError as err:
        return None, [f'skipped: mmsegmentation is not importable ({err})']
    import mmreplk
    from mmreplk.utils import build_model_from_config, load_config
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if report.quick:
        config = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
        size, batch = 64, 1
    else:
        config, size, batch = 'configs/upernet_replknet31b_ade20k.py', 512, 4
    cfg = load_config(osp.join(repo, config))
    model = revert_sync_batchnorm(build_model_from_config(cfg)).to(
        report.device).eval()
    mmreplk.reparameterize_model(model)
    x = torch.randn(batch, 3, size, size, device=report.device)

    @torch.no_grad()
    def infer():
        return model(x, None, mode='tensor')

    @torch.no_grad()
    def infer_torch():
        with use_impl('torch'):
            return model(x, None, mode='tensor')

    infer()
    infer_torch()
    times = time_interleaved(
        dict(torch=infer_torch, auto=infer),
        report.device,
        repeats=report.repeats,
        warmup=1)
    speedup = times['torch']['median'] / times['auto']['median']
    report.target(
        f'UperNet-RepLKNet{"-tiny" if report.quick else "-31B"} inference '
        f'{size}x{size} batch {batch}: auto vs torch', '>= 1.5x',
        f'{speedup:.2f}x', speedup >= 1.5)
    lines = [
        f'# UperNet inference ({config}, deploy form)', '',
        f'Input {batch}x3x{size}x{size}, fp32.', '', '| impl | forward |',
        '| --- | --- |'
    ] + [f'| {i} | {fmt_s(t)} |' for i, t in times.items()]
    return dict(config=config, times=times, speedup=speedup), lines


def section_orepa_train(report):
    from mmreplk.models.backbones import OREPAResNet
    dev = report.device
    depths = (18, ) if report.quick else (18, 50)
    size, batch = (64, 2) if report.quick else (224, 32)
    x = torch.randn(batch, 3, size, size, device=dev)
    rows = []
    for depth in depths:
        steps, peaks = {}, {}
        for unit in ('Conv', 'DBB', 'OREPA'):
            torch.manual_seed(0)
            model = OREPAResNet(
                depth=depth, block_type=unit, out_indices=(3, )).to(dev)
            model.train()
            optimizer = torch.optim.SGD(
                model.parameters(), lr=1e-3, momentum=0.9)

            def step(model=model, optimizer=optimizer):
                optimizer.zero_grad(set_to_none=True)
                model(x)[-1].float().square().mean().backward()
                optimizer.step()

            step()
            sync(dev)
            _, peaks[unit], _ = peak_memory(step, dev)
            steps[unit] = step
        times = time_interleaved(steps, dev, repeats=report.repeats, warmup=1)
        rows.append(dict(depth=depth, times=times, peak_bytes=peaks))
    lines = [
        '# OREPA-ResNet vs DBB vs Conv-BN training step', '',
        f'Input {batch}x3x{size}x{size}, fp32, SGD.', '',
        '| ResNet | unit | step | peak memory |', '| --- | --- | --- | --- |'
    ]
    for row in rows:
        for unit, t in row['times'].items():
            lines.append(f'| {row["depth"]} | {unit} | {fmt_s(t)} | '
                         f'{fmt_mib(row["peak_bytes"][unit])} |')
    return dict(rows=rows), lines


def section_shiftwise_train(report):
    from mmreplk.models.layers import ShiftWiseConv2d
    dev = report.device
    impls = ['torch', 'triton', 'auto'] if dev.type == 'cuda' else ['torch']
    shapes = QUICK_SHIFTWISE_SHAPES if report.quick else SHIFTWISE_SHAPES
    rows = []
    for batch, channels, size, kernel in shapes:
        if report.time_left() < 30:
            rows.append(
                dict(
                    shape=[batch, channels, size, kernel],
                    skipped='out of time'))
            continue
        x = torch.randn(batch, channels, size, size, device=dev)
        steps = {}
        for impl in impls:
            torch.manual_seed(0)
            layer = ShiftWiseConv2d(channels, kernel, 3, impl=impl).to(dev)

            def step(layer=layer):
                layer(x).float().square().mean().backward()

            step()
            steps[impl] = step
        rows.append(
            dict(
                shape=[batch, channels, size, kernel],
                times=time_interleaved(
                    steps, dev, repeats=report.repeats, warmup=1)))
    lines = [
        '# Shift-wise layer training step (forward + backward)', '',
        '| batch, C, size, large kernel | ' + ' | '.join(impls) + ' |',
        '| --- | ' + ' | '.join('---' for _ in impls) + ' |'
    ]
    for row in rows:
        if 'skipped' in row:
            lines.append(f'| {row["shape"]} | not measured '
                         f'({row["skipped"]}) |')
            continue
        lines.append(f'| {row["shape"]} | ' +
                     ' | '.join(fmt_s(row['times'][i]) for i in impls) + ' |')
    return dict(rows=rows), lines


RUNNERS = {name: globals()[f'section_{name}'] for name in SECTIONS}
# Seconds a section needs at least to be worth starting (full sizes).
MIN_SECONDS = dict(
    env=1,
    correctness=20,
    ops=60,
    replknet_train=40,
    upernet_infer=30,
    orepa_train=30,
    shiftwise_train=20)


# ------------------------------------------------------------ driver
def summary_lines(report):
    lines = [
        '# mmreplk GPU report', '',
        f'Device: {report.sections.get("env", {}).get("gpu") or "cpu"} '
        f'({report.device}); {platform.python_version()}, torch '
        f'{torch.__version__}; budget {report.args.budget:.0f} s, '
        f'{"quick sizes" if report.quick else "full sizes"}; '
        f'{report.repeats} rounds per variant.', '', '## Sections', '',
        '| section | status | seconds |', '| --- | --- | --- |'
    ]
    for name, info in report.sections.items():
        lines.append(f'| {name} | {info["status"]} | '
                     f'{info.get("seconds", 0):.1f} |')
    lines += [
        '', '## Targets', '', '| target | goal | measured | result |',
        '| --- | --- | --- | --- |'
    ]
    for t in report.targets:
        result = t['note'] or {
            True: 'pass',
            False: 'FAIL',
            None: 'not measured'
        }[t['passed']]
        lines.append(f'| {t["name"]} | {t["target"]} | {t["measured"]} | '
                     f'{result} |')
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--sections', nargs='+', choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument(
        '--budget', type=float, default=480, help='seconds for all sections')
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--device', default=None)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--impls', nargs='+', help='depthwise back ends of the ops section')
    parser.add_argument(
        '--op-dtypes',
        nargs='+',
        choices=['fp32', 'amp'],
        default=['fp32', 'amp'],
        help='precisions of the ops section (amp: autocast fp16 on CUDA, '
        'bf16 on CPU)')
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)
    args.op_modes = [d == 'amp' for d in args.op_dtypes]
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() and \
            not args.quick else 'cpu'
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolInputError('--device cuda, but CUDA is not available.')
    if args.repeats < 1 or args.budget <= 0:
        raise ToolInputError('--repeats and --budget must be positive.')
    if args.quick:
        args.repeats = min(args.repeats, 2)
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    names = [f'{s}.{e}' for s in args.sections for e in ('json', 'md')]
    names += ['summary.json', 'summary.md']
    existing = [n for n in names if osp.exists(osp.join(args.out_dir, n))]
    if existing and not args.force:
        raise ToolInputError(
            f'{args.out_dir} already has {", ".join(existing)}; choose '
            'another --out-dir or pass --force to replace them.')
    report = Report(args)
    for name in args.sections:
        start = time.monotonic()
        min_needed = 1 if args.quick else MIN_SECONDS[name]
        if report.time_left() < min_needed:
            report.sections[name] = dict(status='not run: out of time')
            data, lines = None, [f'# {name}', '', 'not run: out of time']
        else:
            try:
                data, lines = RUNNERS[name](report)
                status = 'skipped' if data is None else 'done'
            except Exception as err:  # recorded; the next section runs
                data = dict(error=traceback.format_exc())
                lines = [
                    f'# {name}', '', f'error: {type(err).__name__}: '
                    f'{err}'
                ]
                status = f'error ({type(err).__name__})'
            report.sections[name] = dict(
                status=status, seconds=time.monotonic() - start)
            if name == 'env' and data:
                report.sections['env'].update(gpu=data.get('gpu'))
        report.write(name, dict(section=name, result=data), lines)
        report.write(
            'summary',
            dict(
                sections=report.sections,
                targets=report.targets,
                device=str(report.device),
                quick=args.quick), summary_lines(report))
        print(
            f'{name}: {report.sections[name]["status"]} '
            f'({time.monotonic() - start:.1f} s)',
            flush=True)
    print('\n'.join(summary_lines(report)))


if __name__ == '__main__':
    sys.exit(main())
