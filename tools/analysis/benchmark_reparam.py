#!/usr/bin/env python
"""Inference latency of a RepLKNet backbone in training form vs deploy form
(after ``mmreplk.reparameterize_model``), measured in one run.

    python tools/analysis/benchmark_reparam.py [--arch 31B] [--size 512]
        [--impl auto torch] [--repeats 5] [--out-dir benchmarks/reparam]

Writes ``reparam_<arch>_<size>_<device>.json`` and ``.md`` with the machine and
versions; also reports the max relative output difference of the two forms.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys

import torch

import mmreplk
from mmreplk.analysis import machine_info, median_time
from mmreplk.models.backbones import RepLKNet


def measure(arch, size, impl, repeats, device):
    torch.manual_seed(0)
    train_form = RepLKNet(arch=arch, lk_impl=impl,
                          drop_path_rate=0.0).to(device).eval()
    deploy_form = mmreplk.reparameterize_model(copy.deepcopy(train_form))
    x = torch.randn(1, 3, size, size, device=device)
    with torch.no_grad():
        t_train = median_time(lambda: train_form(x), device, repeats)
        t_deploy = median_time(lambda: deploy_form(x), device, repeats)
        diff = max(((a - b).abs().max() / a.abs().max()).item()
                   for a, b in zip(train_form(x), deploy_form(x)))
    return dict(arch=arch, input=f'1x3x{size}x{size}', lk_impl=impl,
                train_form_s=t_train, deploy_form_s=t_deploy,
                speedup=t_train / t_deploy, max_rel_diff=diff)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='31B')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--impl', nargs='+', default=['auto', 'torch'])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out-dir', default='benchmarks/reparam')
    args = parser.parse_args(argv)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    rows = []
    for impl in args.impl:
        rows.append(measure(args.arch, args.size, impl, args.repeats,
                            device))
        r = rows[-1]
        print(f'{args.arch} {r["input"]} lk_impl={impl}: training form '
              f'{r["train_form_s"]:.3f} s, deploy form '
              f'{r["deploy_form_s"]:.3f} s (x{r["speedup"]:.2f}), max rel '
              f'diff {r["max_rel_diff"]:.1e}', flush=True)
    report = dict(machine=machine_info(), device=device,
                  repeats=args.repeats, results=rows)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, f'reparam_{args.arch}_{args.size}_{device}')
    with open(stem + '.json', 'w') as f:
        json.dump(report, f, indent=2)
    lines = ['# RepLKNet training form vs deploy form (inference)', '',
             f'Machine: {json.dumps(report["machine"])}', '',
             '| arch | input | lk_impl | training form s | deploy form s | '
             'speed-up | max rel diff |', '|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["arch"]} | {r["input"]} | {r["lk_impl"]} | '
                     f'{r["train_form_s"]:.3f} | {r["deploy_form_s"]:.3f} | '
                     f'{r["speedup"]:.2f} | {r["max_rel_diff"]:.1e} |')
    with open(stem + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'Wrote {stem}.json and .md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
