"""What tools/train.py and tools/test.py share: their common options, the
config they hand to mmengine's runner, and distributed runs on machines
without a GPU (docs/training.md)."""
import argparse
import logging
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS

from .data_roots import check_data_roots
from .model_from_config import check_backbone_known, load_config


def runner_parser(description, *positionals):
    """The command line mmseg's and mmdet's train/test tools share:
    ``config``, the given positionals, ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--local-rank``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    for name, text in positionals:
        parser.add_argument(name, help=text)
    parser.add_argument('--work-dir', help='the dir for logs and outputs')
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
    return parser


def parse_runner_args(parser, argv=None):
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def runner_config(args):
    """The config of ``args.config`` with ``--cfg-options``, the launcher
    and the work dir (``--work-dir``, the config's, or
    ``work_dirs/<config name>``) set, as mmseg's and mmdet's tools set them;
    its backbone checked."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    check_backbone_known(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def report_config_changes(tool, changes):
    """Print each change a tool made to the config it runs."""
    for change in changes:
        print_log(f'{tool} changed the config: {change}', logger='current')


def build_runner(cfg, tool, dataloaders):
    """Check the data roots, prepare a CPU distributed run, default the
    runner to ``SafeResumeRunner`` (printed) and build it; return the runner
    and its unwrapped model."""
    check_data_roots(cfg, dataloaders)
    setup_cpu_distributed(cfg, cfg.launcher)
    if 'runner_type' not in cfg:
        # The runner whose checkpoint loads accept mmengine's training state.
        cfg.runner_type = 'SafeResumeRunner'
        report_config_changes(tool, ["runner_type='SafeResumeRunner'"])
    runner = RUNNERS.build(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    return runner, model


def _replace_sync_bn(cfg):
    count = 0
    if isinstance(cfg, dict):
        if cfg.get('type') in ('SyncBN', 'MMSyncBN'):
            cfg['type'] = 'GlooSyncBN'
            count += 1
        values = cfg.values()
    else:
        values = cfg if isinstance(cfg, (list, tuple)) else ()
    return count + sum(_replace_sync_bn(value) for value in values)


def setup_cpu_distributed(cfg, launcher):
    """For ``--launcher pytorch`` without CUDA (mmengine 0.10 calls
    ``torch.cuda.set_device``, SyncBatchNorm refuses CPU tensors): start the
    gloo group, wrap the model in DDP without device ids and swap every
    SyncBN for GlooSyncBN, saying so."""
    if launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(
            'gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = \
        'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    swapped = _replace_sync_bn(cfg.model)
    print_log(
        f'No GPU: torch.distributed runs on gloo ({dist.get_world_size()}'
        f' processes); {swapped} SyncBN configs use GlooSyncBN '
        '(statistics reduced over gloo).',
        logger='current')


def teardown_distributed():
    """End a finished distributed run: destroy the process group, flush the
    logs and leave with ``os._exit(0)`` (on CPU/gloo a rank sometimes aborted
    in exit-time destructors after a successful run, see
    docs/training.md). Does nothing outside distributed runs."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
