#!/usr/bin/env python
"""Benchmark mmreplk's large-kernel depthwise convolution.

    python tools/analysis/benchmark_dwconv.py [--out-dir benchmarks/dwconv]
        [--repeats 5] [--quick] [--skip-model]

Times forward and forward+backward on RepLKNet-31B's stage shapes at 224
(56x56xC128 K31, 28x28xC256 K29, 14x14xC512 K27, 7x7xC1024 K13; batch 64)
and at a 512x512 segmentation input (batch 8): mmreplk's back end (Triton on
a GPU, the CPU path on CPU) against PyTorch's native path, fp16 and fp32 on
GPU, fp32 on CPU. Also times RepLKNet-31B inference at 512x512 with the
large-kernel op vs plain ``nn.Conv2d`` (same weights, one run). Writes
``dwconv_{gpu,cpu}.json`` and ``.md`` with the machine, versions and shapes.
Without a GPU it says so and times only the CPU.
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

from mmreplk.analysis import machine_info, median_time
from mmreplk.ops import depthwise_conv2d

STAGES_224 = [(56, 128, 31), (28, 256, 29), (14, 512, 27), (7, 1024, 13)]
STAGES_512 = [(128, 128, 31), (64, 256, 29), (32, 512, 27), (16, 1024, 13)]
# Peak FP32 FMA throughput (CUDA cores) of common GPUs, TFLOP/s (dense).
FP32_PEAK_TFLOPS = {'H100': 67.0, 'H200': 67.0, 'A100': 19.5, 'L40S': 91.6,
                    'A10': 31.2, 'V100': 15.7, 'RTX 4090': 82.6}


def bench_shape(n, hw, c, k, dtype, device, impl, repeats):
    x = torch.randn(n, c, hw, hw, device=device, dtype=dtype)
    w = torch.randn(c, 1, k, k, device=device, dtype=dtype) * 0.01
    go = torch.randn_like(x)

    def fwd():
        with torch.no_grad():
            depthwise_conv2d(x, w, impl=impl)

    def fwd_bwd():
        xi = x.detach().requires_grad_()
        wi = w.detach().requires_grad_()
        depthwise_conv2d(xi, wi, impl=impl).backward(go)

    t_fwd = median_time(fwd, device, repeats)
    t_fb = median_time(fwd_bwd, device, repeats)
    flop = 2 * n * c * hw * hw * k * k  # one multiply-add = 2 FLOP
    return dict(fwd_s=t_fwd, fwd_bwd_s=t_fb, fwd_tflops=flop / t_fwd / 1e12,
                fwd_bwd_tflops=3 * flop / t_fb / 1e12)


def bench_ops(device, dtypes, fast_impl, repeats, quick):
    rows = []
    suites = [('224', 64, STAGES_224), ('512', 8, STAGES_512)]
    for label, batch, stages in suites:
        if quick:
            batch = max(1, batch // 8)
        for hw, c, k in stages:
            for dtype in dtypes:
                native = bench_shape(batch, hw, c, k, dtype, device, 'torch',
                                     repeats)
                fast = bench_shape(batch, hw, c, k, dtype, device, fast_impl,
                                   repeats)
                rows.append(dict(
                    input=label, batch=batch, hw=hw, channels=c, kernel=k,
                    dtype=str(dtype).replace('torch.', ''), impl=fast_impl,
                    native=native, mmreplk=fast,
                    fwd_speedup=native['fwd_s'] / fast['fwd_s'],
                    fwd_bwd_speedup=native['fwd_bwd_s'] / fast['fwd_bwd_s']))
                print(f'{label} {hw:3d}x{hw:<3d} C{c:<4d} K{k:<2d} {dtype}: '
                      f'fwd x{rows[-1]["fwd_speedup"]:.1f}, fwd+bwd '
                      f'x{rows[-1]["fwd_bwd_speedup"]:.1f}', flush=True)
    return rows


def bench_model(device, repeats, size, fast_impl):
    from mmreplk.models.backbones import RepLKNet
    torch.manual_seed(0)
    fast = RepLKNet(arch='31B', lk_impl=fast_impl,
                    drop_path_rate=0.0).to(device).eval()
    plain = RepLKNet(arch='31B', lk_impl='torch',
                     drop_path_rate=0.0).to(device).eval()
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(1, 3, size, size, device=device)
    result = {}
    with torch.no_grad():
        for name, model in (('native', plain), ('mmreplk', fast)):
            result[name + '_s'] = median_time(lambda: model(x), device,
                                              repeats)
        out_a, out_b = plain(x), fast(x)
    result['speedup'] = result['native_s'] / result['mmreplk_s']
    result['max_rel_diff'] = max(
        ((a - b).abs().max() / a.abs().max()).item()
        for a, b in zip(out_a, out_b))
    result['input'] = f'1x3x{size}x{size}'
    return result


def write_markdown(path, report):
    lines = ['# Large-kernel depthwise conv benchmark', '',
             f'Machine: {json.dumps(report["machine"])}', '']
    if report['machine']['gpu'] is None:
        lines += ['No GPU on this machine: Triton kernels were not timed '
                  '(only the CPU path vs PyTorch native).', '']
    lines += ['| input | batch | HxW | C | K | dtype | impl | native fwd ms | '
              'mmreplk fwd ms | fwd x | native fwd+bwd ms | mmreplk fwd+bwd '
              'ms | fwd+bwd x | mmreplk fwd TFLOP/s |',
              '|' + '---|' * 14]
    for r in report['ops']:
        lines.append(
            f'| {r["input"]} | {r["batch"]} | {r["hw"]}x{r["hw"]} | '
            f'{r["channels"]} | {r["kernel"]} | {r["dtype"]} | {r["impl"]} | '
            f'{r["native"]["fwd_s"] * 1e3:.1f} | '
            f'{r["mmreplk"]["fwd_s"] * 1e3:.1f} | {r["fwd_speedup"]:.1f} | '
            f'{r["native"]["fwd_bwd_s"] * 1e3:.1f} | '
            f'{r["mmreplk"]["fwd_bwd_s"] * 1e3:.1f} | '
            f'{r["fwd_bwd_speedup"]:.1f} | '
            f'{r["mmreplk"]["fwd_tflops"]:.3f} |')
    m = report.get('model')
    if m:
        lines += ['', f'RepLKNet-31B inference, {m["input"]}: native '
                  f'{m["native_s"]:.2f} s, mmreplk {m["mmreplk_s"]:.2f} s, '
                  f'speed-up x{m["speedup"]:.2f} (max rel. diff '
                  f'{m["max_rel_diff"]:.1e}).']
    if report.get('peak_fp32_tflops'):
        lines += ['', f'Peak FP32 FMA: {report["peak_fp32_tflops"]} TFLOP/s; '
                  'mmreplk forward share of it: ' + ', '.join(
                      f'K{r["kernel"]} {r["dtype"]} '
                      f'{100 * r["fwd_share_of_fp32_peak"]:.0f}%'
                      for r in report['ops']) + '.']
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default='benchmarks/dwconv')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--quick', action='store_true',
                        help='batch / 8 (smoke run)')
    parser.add_argument('--skip-model', action='store_true')
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    report = dict(machine=machine_info(), repeats=args.repeats,
                  quick=args.quick)
    if torch.cuda.is_available():
        device = torch.device('cuda')
        dtypes, impl = [torch.float16, torch.float32], 'triton'
        name = report['machine']['gpu']
        report['peak_fp32_tflops'] = next(
            (v for k, v in FP32_PEAK_TFLOPS.items() if k in name), None)
    else:
        print('No GPU: timing the CPU path against PyTorch native only.')
        device = torch.device('cpu')
        dtypes, impl = [torch.float32], 'cpu'
    report['ops'] = bench_ops(device, dtypes, impl, args.repeats, args.quick)
    peak = report.get('peak_fp32_tflops')
    for row in report['ops']:
        # The kernels accumulate in fp32 on the CUDA cores (no tensor
        # cores), so the FP32 FMA peak is the relevant one for every dtype.
        row['fwd_share_of_fp32_peak'] = (
            row['mmreplk']['fwd_tflops'] / peak if peak else None)
    if not args.skip_model:
        report['model'] = bench_model(device, max(2, args.repeats // 2), 512,
                                      impl)
        print(f'RepLKNet-31B 512x512: x{report["model"]["speedup"]:.2f}')
    stem = 'dwconv_' + ('gpu' if device.type == 'cuda' else 'cpu')
    with open(osp.join(args.out_dir, stem + '.json'), 'w') as f:
        json.dump(report, f, indent=2)
    write_markdown(osp.join(args.out_dir, stem + '.md'), report)
    print(f'Wrote {args.out_dir}/{stem}.json and .md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
