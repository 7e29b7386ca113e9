#!/usr/bin/env python
"""Parameters, FLOPs, latency/throughput and peak memory of a config's model.

Printed and written as JSON (``--out``) for leaderboard.py (docs/tools.md).
"""
import argparse
import datetime
import logging
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar

import mmreplk
from mmreplk.analysis import machine_info
from mmreplk.analysis.model_benchmark import (FixedProposalCount, count_flops,
                                              count_params, dummy_inputs,
                                              fix_proposal_count, latency,
                                              peak_memory)
from mmreplk.models.reparam import count_rep_modules
from mmreplk.utils import (ToolInputError, atomic_write_json,
                           build_model_from_config, check_output_paths,
                           load_config, load_model_checkpoint, model_task,
                           require_file, tool_main)

DEFAULT_SHAPES = dict(segmentation=(512, 512), detection=(800, 1333))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='changes no number')
    flag = dict(action='store_true')
    parser.add_argument('--deploy', **flag, help='re-parameterise first')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size (default 512 512 or, detectors, 800 1333)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=10, help='forwards')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', help="default: 'cuda' when available")
    parser.add_argument('--no-flops', **flag, help='skip the FLOP count')
    parser.add_argument('--out', help='write the result to this JSON file')
    parser.add_argument('--force', **flag, help='replace an existing --out')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1 or args.warmup < 0:
        parser.error('--repeats and --batch-size must be >= 1, --warmup >= 0')
    return args


def build_model(args, cfg):
    if not args.checkpoint:
        # OpenMMLab's initialisation, as at the start of training (raw
        # constructor weights can make a deep random backbone's RPN propose
        # nothing at all).
        cfg.model.backbone.init_cfg = None
    model = build_model_from_config(cfg)
    if args.checkpoint:
        load_model_checkpoint(model, args.checkpoint)
    else:
        # init_weights logs one INFO record per parameter: keep it quiet
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    if args.deploy:
        if count_rep_modules(model, deployed=False) == 0:
            raise ToolInputError('--deploy: this model has no training-form '
                                 're-parameterisable layer to convert.')
        mmreplk.reparameterize_model(model)
    return model


def benchmark(args, cfg, task):
    max_proposals = fix_proposal_count(cfg) if task == 'detection' else None
    model = build_model(args, cfg)
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model.to(device).eval()
    shape = tuple(args.shape or DEFAULT_SHAPES[task])
    inputs, samples = dummy_inputs(task, shape, args.batch_size, device)
    proposals = FixedProposalCount(model, max_proposals)
    bar = ProgressBar(args.repeats + 2 - args.no_flops, file=sys.stderr)
    memory_mb, memory_method = peak_memory(model, inputs, samples)
    bar.update()
    flops = None
    if not args.no_flops:
        flops = count_flops(model, inputs, samples)
        bar.update()
    times = latency(model, inputs, samples, args.repeats, args.warmup,
                    bar.update)
    sys.stderr.write('\n')
    proposals.remove()
    backbone = cfg.model.backbone
    keys = ('arch', 'depth', 'block_type', 'kernel_size', 'deploy_form')
    return dict(
        config=osp.relpath(args.config),
        name=osp.splitext(osp.basename(args.config))[0],
        task=task,
        backbone=dict(
            type=backbone.type,
            **{k: backbone[k]
               for k in keys if k in backbone}),
        deploy=args.deploy,
        checkpoint=args.checkpoint,
        input_shape=[args.batch_size, 3, *shape],
        device=str(device),
        proposals=None if max_proposals is None else dict(
            rpn_max_per_img=max_proposals,
            rpn_nms='off',
            to_roi_head=max_proposals,
            from_rpn=sorted(set(proposals.rpn_counts))),
        params=count_params(model),
        flops=None if flops is None else dict(
            total=flops['total'],
            backbone=flops['backbone'],
            uncounted_ops=flops['unsupported_ops']),
        latency_ms=dict({k: times[k] * 1e3
                         for k in ('median', 'min', 'max')},
                        repeats=args.repeats,
                        warmup=args.warmup),
        throughput_img_s=args.batch_size / times['median'],
        peak_memory_mb=memory_mb,
        peak_memory_method=memory_method,
        forward="model(inputs, data_samples, mode='tensor')",
        machine=machine_info(),
        mmreplk=mmreplk.__version__,
        date=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'))


def summary(result):
    flops = result['flops']
    flops_text = 'skipped' if flops is None else (
        f"{flops['total'] / 1e9:.2f} G (backbone "
        f"{(flops['backbone'] or 0) / 1e9:.2f} G)")
    memory = 'n/a' if result['peak_memory_mb'] is None else \
        f"{result['peak_memory_mb']:.1f} MiB"
    return '\n'.join([
        f"{result['name']}{' [deploy]' if result['deploy'] else ''} on "
        f"{result['device']}, input {result['input_shape']}",
        f"  params     {result['params']['total'] / 1e6:.2f} M (backbone "
        f"{(result['params']['backbone'] or 0) / 1e6:.2f} M)",
        f'  FLOPs      {flops_text}',
        f"  latency    {result['latency_ms']['median']:.1f} ms median of "
        f"{result['latency_ms']['repeats']}",
        f"  throughput {result['throughput_img_s']:.2f} img/s",
        f"  peak mem   {memory} ({result['peak_memory_method']})"
    ])


@tool_main
def main(argv=None):
    args = parse_args(argv)
    if args.checkpoint:
        require_file(args.checkpoint, 'Checkpoint')
    if args.out:
        check_output_paths({'result file': args.out},
                           inputs=dict(
                               config=args.config, checkpoint=args.checkpoint),
                           force=args.force)
    cfg = load_config(args.config, args.cfg_options)
    task = model_task(cfg)
    if args.device and args.device.startswith('cuda') and \
            not torch.cuda.is_available():
        raise ToolInputError('--device cuda, but torch sees no GPU; use '
                             '--device cpu.')
    result = benchmark(args, cfg, task)
    print(summary(result))
    if args.out:
        atomic_write_json(result, args.out)
        print(f'Result written to {args.out}')


if __name__ == '__main__':
    sys.exit(main())
