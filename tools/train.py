#!/usr/bin/env python
"""Train a segmentor (mmseg) or detector (mmdet) from an mmreplk config.

Same command line as mmseg/mmdet's tools/train.py:

    python tools/train.py configs/upernet_replknet31b_ade20k.py \
        [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...] \
        [--allow-partial-load] [--launcher {none,pytorch,slurm,mpi}]

Before training, the checkpoint that ``load_from`` or ``--resume`` names is
read and checked against the model: missing, unexpected or wrongly-shaped
keys are an error (mmengine alone loads them non-strictly with a warning)
unless ``--allow-partial-load`` asks for exactly that. ``load_from`` may be
a URL. The hooks that make ``--resume`` exact (``EXACT_RESUME_HOOKS``) are
added when a config's ``custom_hooks`` lacks them, and mmengine's
``CheckpointHook`` becomes ``AtomicCheckpointHook`` (checkpoints and the
``last_checkpoint`` pointer replaced atomically).
"""
import argparse
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
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import find_latest_checkpoint

import mmreplk  # noqa: F401  (registers modules)
from mmreplk.engine.hooks import EXACT_RESUME_HOOKS, upgrade_checkpoint_hook
from mmreplk.utils import (ToolInputError, check_backbone_known,
                           check_checkpoint_matches, check_data_roots,
                           is_remote, load_config, read_state_dict,
                           require_file, setup_cpu_distributed,
                           teardown_distributed, tool_main)

PARTIAL_LOAD_ADVICE = (
    'Use a checkpoint of this config\'s model. To load only the matching '
    'weights on purpose (e.g. a new head), pass --allow-partial-load.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor/detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the latest checkpoint in the work dir, or from '
        'the given checkpoint path')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='load a load_from/--resume checkpoint whose keys or shapes do '
        'not all match the model (mismatches are logged, not an error)')
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


def _hook_type_name(hook):
    hook_type = hook.get('type') if hasattr(hook, 'get') else None
    return hook_type if isinstance(hook_type, str) else getattr(
        hook_type, '__name__', None)


def add_exact_resume_hooks(cfg):
    """Append the :data:`EXACT_RESUME_HOOKS` that ``cfg.custom_hooks``
    lacks (a user's ``custom_hooks=[...]`` replaces the base list, dropping
    them); return the names added."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {_hook_type_name(h) for h in hooks}
    added = [name for name in EXACT_RESUME_HOOKS if name not in present]
    if added:
        cfg.custom_hooks = hooks + [dict(type=name) for name in added]
        print_log(
            f'custom_hooks lacks {", ".join(added)}: added, so that '
            '--resume continues this run exactly.',
            logger='current')
    return added


def build_cfg(args):
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    check_backbone_known(cfg)
    if cfg.get('load_from', None) and not args.resume \
            and not is_remote(cfg.load_from):
        require_file(cfg.load_from, 'load_from checkpoint')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    add_exact_resume_hooks(cfg)
    if upgrade_checkpoint_hook(cfg.get('default_hooks', None)):
        print_log(
            'default_hooks.checkpoint: CheckpointHook -> '
            'AtomicCheckpointHook (checkpoints and last_checkpoint '
            'written atomically).',
            logger='current')
    if args.amp and not torch.cuda.is_available():
        # mmengine 0.10's AmpOptimWrapper asserts a CUDA/NPU/MLU device.
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise ToolInputError(
                f'--amp on CPU wraps OptimWrapper in bf16 autocast, but the '
                f'config uses {cfg.optim_wrapper.type}; drop --amp.')
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        print_log(
            '--amp without a GPU: training under bf16 autocast on CPU '
            '(CPUAutocastOptimWrapper).',
            logger='current')
    elif args.amp:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in your config.',
                logger='current',
                level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        require_file(args.resume, '--resume checkpoint')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def checkpoint_to_load(cfg, args):
    """``(path, what)`` of the checkpoint the runner will load, or
    ``(None, None)``."""
    if args.resume == 'auto':
        pointer = osp.join(cfg.work_dir, 'last_checkpoint')
        path = find_latest_checkpoint(cfg.work_dir) \
            if osp.isfile(pointer) else None
        if path is None:
            return None, None  # mmengine logs that it starts from scratch
        if not path:
            raise ToolInputError(
                f'{pointer!r} is empty (a run was killed while writing it); '
                'pass the checkpoint to resume explicitly: --resume PATH.')
        return path, f'--resume checkpoint (named by {pointer})'
    if args.resume is not None:
        return args.resume, '--resume checkpoint'
    if cfg.get('load_from', None):
        return cfg.load_from, 'load_from checkpoint'
    return None, None


def check_checkpoint_to_load(runner, cfg, args):
    """Read the checkpoint the runner will load and check it against the
    model; a mismatch is an error unless ``--allow-partial-load``."""
    path, what = checkpoint_to_load(cfg, args)
    if path is None:
        return
    state = read_state_dict(path, what)
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    try:
        check_checkpoint_matches(
            state, model, path, advice=PARTIAL_LOAD_ADVICE)
    except ToolInputError as err:
        if not args.allow_partial_load:
            raise
        print_log(
            f'{err}\n--allow-partial-load: loading the matching '
            'weights only; the rest keep their initialisation.',
            logger='current',
            level=logging.WARNING)


@tool_main
def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    loaders = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        loaders.append('val_dataloader')
    check_data_roots(cfg, loaders)
    setup_cpu_distributed(cfg, args.launcher)
    # A config that names no runner gets the one whose checkpoint loads
    # (load_from, --resume) accept mmengine's training state.
    cfg.setdefault('runner_type', 'SafeResumeRunner')
    runner = RUNNERS.build(cfg)
    check_checkpoint_to_load(runner, cfg, args)
    runner.train()
    teardown_distributed()  # exits here in distributed runs


if __name__ == '__main__':
    sys.exit(main())
