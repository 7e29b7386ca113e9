#!/usr/bin/env python
"""Evaluate a checkpoint of an mmreplk config (segmentation or detection).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] \
        [--out-metrics metrics.json [--force]] [--cfg-options k=v ...] \
        [--launcher {none,pytorch,slurm,mpi}]

An existing ``--out-metrics`` file is refused before anything is evaluated,
unless ``--force`` asks to replace it.

For a re-parameterised checkpoint OUT.pth use the config OUT.py that
tools/deploy/reparameterize.py writes next to it.
"""
import argparse
import json
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

from mmengine.config import DictAction
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS

import mmreplk  # noqa: F401
from mmreplk.utils import (atomic_write_bytes, check_backbone_known,
                           check_checkpoint_matches, check_data_roots,
                           check_output_paths, is_remote, load_config,
                           read_state_dict, require_file,
                           setup_cpu_distributed, teardown_distributed,
                           tool_main)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a segmentor/detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--work-dir', help='dir for logs and metrics')
    parser.add_argument(
        '--out-metrics', help='also write the metrics to this JSON file')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace an existing --out-metrics file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, e.g. key=value')
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


@tool_main
def main(argv=None):
    args = parse_args(argv)
    if not is_remote(args.checkpoint):  # URLs: read below
        require_file(args.checkpoint, 'Checkpoint')
    if args.out_metrics:  # before the evaluation, not after it
        check_output_paths({'metrics file': args.out_metrics},
                           inputs={
                               'checkpoint': args.checkpoint,
                               'config': args.config
                           },
                           force=args.force)
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    check_backbone_known(cfg)
    check_data_roots(cfg, ['test_dataloader'])
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    setup_cpu_distributed(cfg, args.launcher)
    # A config that names no runner gets the one whose load_from accepts
    # mmengine's training state (see tools/train.py).
    cfg.setdefault('runner_type', 'SafeResumeRunner')
    runner = RUNNERS.build(cfg)
    # The runner loads checkpoints non-strictly (a warning, then a partly
    # random model); a checkpoint of another architecture is an error here.
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    check_checkpoint_matches(
        read_state_dict(args.checkpoint), model, args.checkpoint)
    metrics = runner.test()
    if args.out_metrics and is_main_process():
        text = json.dumps({k: float(v) for k, v in metrics.items()}, indent=2)
        atomic_write_bytes(text.encode('utf-8'), args.out_metrics)
    teardown_distributed()  # exits here in distributed runs


if __name__ == '__main__':
    sys.exit(main())
