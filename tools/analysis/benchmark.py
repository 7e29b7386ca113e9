#!/usr/bin/env python
"""Parameters, FLOPs, latency/throughput and peak memory of a config's model.

    python tools/analysis/benchmark.py CONFIG [CHECKPOINT] [--deploy] \
        [--shape H W] [--batch-size N] [--repeats 10] [--warmup 2] \
        [--device cpu|cuda] [--out result.json]

Works for every mmreplk segmentor (mmseg) and detector (mmdet) config.
``--deploy`` re-parameterises the model (``mmreplk.reparameterize_model``)
before measuring; without a checkpoint the weights are the config's random
initialisation, which does not change any of the numbers. The network runs
in ``mode='tensor'`` (no post-processing). FLOPs are mmengine's
``FlopAnalyzer`` count (one multiply-add = one FLOP). Results are printed and
written as JSON (``--out``) with the machine, library versions and shapes;
``tools/analysis/leaderboard.py`` collects them.
"""
import argparse
import datetime
import json
import logging
import os
import os.path as osp
import sys
import warnings

# setuptools' deprecation warning for mmengine's ``import pkg_resources``:
# nothing a user can act on.
warnings.filterwarnings(
    'ignore',
    category=UserWarning,
    message='pkg_resources is deprecated as an API')

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
from mmreplk.utils import (ToolInputError, atomic_write_bytes,
                           build_model_from_config, load_config,
                           load_model_checkpoint, model_task, require_file,
                           tool_main)

DEFAULT_SHAPES = dict(segmentation=(512, 512), detection=(800, 1333))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='optional; weights do not change the numbers')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='re-parameterise before measuring')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size (default 512 512 for segmentors, '
        '800 1333 for detectors)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--repeats',
        type=int,
        default=10,
        help='timed forwards; the median is reported')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--device', default=None, help="'cuda' when available, else 'cpu'")
    parser.add_argument(
        '--no-flops',
        action='store_true',
        help='skip the FLOP count (jit tracing is slow for '
        'detectors on CPU)')
    parser.add_argument('--out', help='write the result to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1 or args.warmup < 0:
        parser.error('--repeats and --batch-size must be >= 1, --warmup >= 0')
    return args


def describe_backbone(cfg):
    backbone = cfg.model.backbone
    keys = ('arch', 'depth', 'block_type', 'kernel_size', 'deploy_form')
    return dict(
        type=backbone.type, **{k: backbone[k]
                               for k in keys if k in backbone})


def benchmark(args, cfg, task):
    if not args.checkpoint:
        # OpenMMLab's initialisation, as at the start of training (without
        # the backbone's ImageNet checkpoint): detector latency depends on
        # how many proposals survive, and raw constructor weights can make
        # a deep random backbone produce none at all.
        cfg.model.backbone.init_cfg = None
    max_proposals = fix_proposal_count(cfg) if task == 'detection' else None
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
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model.to(device).eval()
    shape = tuple(args.shape or DEFAULT_SHAPES[task])
    inputs, samples = dummy_inputs(task, shape, args.batch_size, device)

    proposals = FixedProposalCount(model, max_proposals)
    steps = args.repeats + (0 if args.no_flops else 1) + 1
    bar = ProgressBar(steps, file=sys.stderr)
    memory_mb, memory_method = peak_memory(model, inputs, samples)
    bar.update()
    flops = None
    if not args.no_flops:
        flops = count_flops(model, inputs, samples)
        bar.update()
    times = latency(
        model,
        inputs,
        samples,
        repeats=args.repeats,
        warmup=args.warmup,
        progress=bar.update)
    sys.stderr.write('\n')
    proposals.remove()
    params = count_params(model)
    return dict(
        config=osp.relpath(args.config),
        name=osp.splitext(osp.basename(args.config))[0],
        task=task,
        backbone=describe_backbone(cfg),
        deploy=args.deploy,
        checkpoint=args.checkpoint,
        input_shape=[args.batch_size, 3, *shape],
        device=str(device),
        proposals=None if max_proposals is None else dict(
            rpn_max_per_img=max_proposals,
            rpn_nms='off',
            to_roi_head=max_proposals,
            from_rpn=sorted(set(proposals.rpn_counts))),
        params=params,
        flops=None if flops is None else dict(
            total=flops['total'],
            backbone=flops['backbone'],
            uncounted_ops=flops['unsupported_ops']),
        latency_ms=dict(
            median=times['median'] * 1e3,
            min=times['min'] * 1e3,
            max=times['max'] * 1e3,
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
    cfg = load_config(args.config, args.cfg_options)
    task = model_task(cfg)
    if args.device and args.device.startswith('cuda') and \
            not torch.cuda.is_available():
        raise ToolInputError('--device cuda, but torch sees no GPU; use '
                             '--device cpu.')
    result = benchmark(args, cfg, task)
    print(summary(result))
    if args.out:
        if osp.dirname(args.out):
            os.makedirs(osp.dirname(args.out), exist_ok=True)
        atomic_write_bytes((json.dumps(result, indent=2) + '\n').encode(),
                           args.out)
        print(f'Result written to {args.out}')


if __name__ == '__main__':
    sys.exit(main())
