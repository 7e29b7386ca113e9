#!/usr/bin/env python
"""Train a segmentor (mmseg) or detector (mmdet) from an mmreplk config.

Same command line as mmseg/mmdet's tools/train.py:

    python tools/train.py configs/upernet_replknet31b_ade20k.py \
        [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...] \
        [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import logging
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmreplk  # noqa: F401  (registers modules; torch>=2.6 resume fix)
from mmreplk.apis import (ToolInputError, check_backbone_known, load_config,
                          require_file)
from mmreplk.datasets import check_data_roots
from mmreplk.engine.cpu_distributed import (setup_cpu_distributed,
                                             teardown_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor/detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the latest checkpoint in the work dir, or from '
        'the given checkpoint path')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, e.g. key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_cfg(args):
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    check_backbone_known(cfg)
    if cfg.get('load_from', None) and not args.resume:
        require_file(cfg.load_from, 'load_from checkpoint')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp and not torch.cuda.is_available():
        # mmengine 0.10's AmpOptimWrapper asserts a CUDA/NPU/MLU device.
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise ValueError(
                f'--amp on CPU wraps OptimWrapper in bf16 autocast, but the '
                f'config uses {cfg.optim_wrapper.type}; drop --amp.')
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        print_log('--amp without a GPU: training under bf16 autocast on CPU '
                  '(CPUAutocastOptimWrapper).', logger='current')
    elif args.amp:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      logger='current', level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint {args.resume!r} not found.')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_cfg(args)
        loaders = ['train_dataloader']
        if cfg.get('val_cfg') and cfg.get('val_dataloader'):
            loaders.append('val_dataloader')
        check_data_roots(cfg, loaders)
    except (ToolInputError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    setup_cpu_distributed(cfg, args.launcher)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()
    teardown_distributed()  # exits here in distributed runs
    return 0


if __name__ == '__main__':
    sys.exit(main())
