"""Distributed training without GPUs: gloo process group and a BatchNorm
that synchronises its statistics over gloo.

mmengine 0.10 initialises ``torch.distributed`` for ``--launcher pytorch``
by calling ``torch.cuda.set_device`` (fails without CUDA), and PyTorch's
``SyncBatchNorm`` refuses CPU tensors. ``tools/train.py`` and
``tools/test.py`` call :func:`setup_cpu_distributed` first: it starts the
gloo group (so mmengine skips its own initialisation), wraps the model in
DDP without device ids, and swaps every ``SyncBN`` of the config for
:class:`GlooSyncBatchNorm`, saying so in the log.
"""
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.logging import print_log
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from mmreplk.registry import MODELS


@MODELS.register_module('GlooSyncBN')
class GlooSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are reduced over the default
    process group, on any device (gradients flow through the reduction).
    Behaves like ``nn.BatchNorm2d`` when not distributed or in eval mode."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f'expected at least 2-D input, got {input.dim()}')

    def forward(self, x):
        synced = self.training and dist.is_available() and \
            dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight,
                self.bias, self.training or not self.track_running_stats,
                0.0 if self.momentum is None else self.momentum, self.eps)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype,
                             device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        stats = all_reduce(stats)  # autograd-aware sum over ranks
        c = x.shape[1]
        total = stats[-1]
        mean = stats[:c] / total
        var = stats[c:2 * c] / total - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else \
                    1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = [1, c] + [1] * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) +
                                                   self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


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
        dist.init_process_group('gloo', rank=int(os.environ['RANK']),
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
    print_log(f'No GPU: torch.distributed runs on gloo ({dist.get_world_size()}'
              f' processes); {swapped} SyncBN configs use GlooSyncBN '
              '(statistics reduced over gloo).', logger='current')


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
    import logging
    import sys
    dist.barrier()
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
