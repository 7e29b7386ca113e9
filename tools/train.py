#!/usr/bin/env python
"""Train a segmentor (mmseg) or detector (mmdet) from an mmreplk config.

mmdet's command line plus ``--allow-partial-load``; the config decides how
it trains, this tool checks its inputs and prints every change it makes to
the config (docs/tools.md).
"""
import logging
import os.path as osp
import sys

import torch
from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint

import mmreplk  # noqa: F401  (registers modules)
from mmreplk.engine.hooks import EXACT_RESUME_HOOKS, upgrade_checkpoint_hook
from mmreplk.utils import (ToolInputError, build_runner,
                           check_checkpoint_matches, is_remote,
                           parse_runner_args, read_state_dict,
                           report_config_changes, require_file, runner_config,
                           runner_parser, teardown_distributed, tool_main)

TOOL = 'tools/train.py'
PARTIAL_LOAD_ADVICE = (
    'Use a checkpoint of this config\'s model. To load only the matching '
    'weights on purpose (e.g. a new head), pass --allow-partial-load.')


def parse_args(argv=None):
    parser = runner_parser('Train a segmentor/detector')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from the latest checkpoint in the work dir, or from '
        'the given checkpoint path')
    parser.add_argument('--amp', action='store_true', help='mixed precision')
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='load a load_from/--resume checkpoint whose keys or shapes do '
        'not all match the model (mismatches are logged, not an error)')
    return parse_runner_args(parser, argv)


def _hook_type_name(hook):
    hook_type = hook.get('type') if hasattr(hook, 'get') else None
    return hook_type if isinstance(hook_type, str) else getattr(
        hook_type, '__name__', None)


def config_changes(cfg, args):
    """Make what this tool adds to a config (nothing, for a config on the
    runtime bases trained without ``--amp``); return one line per change.
    """
    changes = []
    # A config's custom_hooks=[...] replaces the base list, dropping them.
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {_hook_type_name(h) for h in hooks}
    added = [name for name in EXACT_RESUME_HOOKS if name not in present]
    if added:
        cfg.custom_hooks = hooks + [dict(type=name) for name in added]
        changes.append(f'custom_hooks += {", ".join(added)} (so that '
                       '--resume continues this run exactly)')
    if upgrade_checkpoint_hook(cfg.get('default_hooks', None)):
        changes.append('default_hooks.checkpoint: CheckpointHook -> '
                       'AtomicCheckpointHook (checkpoints written atomically)')
    optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if args.amp and not torch.cuda.is_available():
        # mmengine 0.10's AmpOptimWrapper asserts a CUDA/NPU/MLU device.
        if optim_type != 'OptimWrapper':
            raise ToolInputError(
                f'--amp on CPU wraps OptimWrapper in bf16 autocast, but the '
                f'config uses {optim_type}; drop --amp.')
        cfg.optim_wrapper.update(
            type='CPUAutocastOptimWrapper', dtype='bfloat16')
        changes.append('--amp without a GPU: training under bf16 autocast '
                       'on CPU (CPUAutocastOptimWrapper)')
    elif args.amp and optim_type == 'AmpOptimWrapper':
        print_log(
            'AMP training is already enabled in your config.',
            logger='current',
            level=logging.WARNING)
    elif args.amp:
        cfg.optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic')
        changes.append('--amp: optim_wrapper.type=AmpOptimWrapper')
    return changes


def build_cfg(args):
    cfg = runner_config(args)
    if cfg.get('load_from', None) and not args.resume \
            and not is_remote(cfg.load_from):
        require_file(cfg.load_from, 'load_from checkpoint')
    report_config_changes(TOOL, config_changes(cfg, args))
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else require_file(
            args.resume, '--resume checkpoint')
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


@tool_main
def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    loaders = ['train_dataloader']
    if cfg.get('val_cfg') and cfg.get('val_dataloader'):
        loaders.append('val_dataloader')
    runner, model = build_runner(cfg, TOOL, loaders)
    path, what = checkpoint_to_load(cfg, args)
    if path is not None:
        try:
            check_checkpoint_matches(
                read_state_dict(path, what),
                model,
                path,
                advice=PARTIAL_LOAD_ADVICE)
        except ToolInputError as err:
            if not args.allow_partial_load:
                raise
            print_log(
                f'{err}\n--allow-partial-load: loading the matching '
                'weights only; the rest keep their initialisation.',
                logger='current',
                level=logging.WARNING)
    runner.train()
    teardown_distributed()  # exits here in distributed runs


if __name__ == '__main__':
    sys.exit(main())
