"""A BatchNorm synchronised over the default process group on any device
(gloo included), for distributed runs without a GPU."""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from mmreplk.registry import MODELS


@MODELS.register_module('GlooSyncBN')
class GlooSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are reduced over the default
    process group, on any device (gradients flow through the reduction).

    PyTorch's ``SyncBatchNorm`` refuses CPU tensors; distributed runs without
    a GPU use this instead (:func:`mmreplk.utils.setup_cpu_distributed` swaps
    ``SyncBN`` configs for ``GlooSyncBN``). Behaves like ``nn.BatchNorm2d``
    when not distributed or in eval mode."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f'expected at least 2-D input, got {input.dim()}')

    def forward(self, x):
        synced = self.training and dist.is_available() and \
            dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias,
                self.training or not self.track_running_stats,
                0.0 if self.momentum is None else self.momentum, self.eps)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]],
                             dtype=x.dtype,
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
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out
