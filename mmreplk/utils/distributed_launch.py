"""Start and end a tool's distributed run on machines without a GPU.

mmengine 0.10 initialises ``torch.distributed`` for ``--launcher pytorch``
by calling ``torch.cuda.set_device`` (fails without CUDA), and PyTorch's
``SyncBatchNorm`` refuses CPU tensors. ``tools/train.py`` and
``tools/test.py`` call :func:`setup_cpu_distributed` first: it starts the
gloo group (so mmengine skips its own initialisation), wraps the model in
DDP without device ids, and swaps every ``SyncBN`` of the config for
``GlooSyncBN``, saying so in the log. They end with
:func:`teardown_distributed`, which ends the process.
"""
import logging
import os
import sys

import torch
import torch.distributed as dist
from mmengine.logging import print_log


def _replace_sync_bn(cfg):
    count = 0
    if isinstance(cfg, dict):
        if cfg.get('type') in ('SyncBN', 'MMSyncBN'):
            cfg['type'] = 'GlooSyncBN'
            count += 1
        for value in cfg.values():
            count += _replace_sync_bn(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            count += _replace_sync_bn(value)
    return count


def setup_cpu_distributed(cfg, launcher):
    """For ``--launcher pytorch`` without CUDA: init gloo, swap SyncBN."""
    if launcher != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(
            'gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = \
        'gloo'
    # mmengine passes device_ids=[LOCAL_RANK], which DDP rejects for CPU
    # modules.
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
    """End a distributed run whose work is done (checkpoints written).

    Destroys the default process group, flushes logs, then leaves with
    ``os._exit(0)`` instead of a normal interpreter exit. Reason: on CPU
    (gloo, torch 2.13) a rank sometimes aborted *after* a successful run,
    in exit-time C++ destructors ("terminate called without an active
    exception", SIGABRT; about one 2-process run in five, before and after
    destroying the process group), which made torchrun report the whole
    run as failed. Does nothing outside distributed runs.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
