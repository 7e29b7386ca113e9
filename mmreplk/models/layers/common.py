"""Small building blocks of the backbones that are not re-parameterised:
GRN, LayerNorm2d, squeeze-and-excitation, the NCHW <-> NHWC permutations
and a BatchNorm synchronised over gloo."""
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from mmreplk.registry import MODELS


class ToChannelsLast(nn.Module):
    """``(N, C, H, W) -> (N, H, W, C)``; no parameters (it takes an index of
    an ``nn.Sequential``, as in the official ConvNeXt-style blocks)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class ToChannelsFirst(nn.Module):
    """``(N, H, W, C) -> (N, C, H, W)``; no parameters."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2), channels-last:
    ``(gamma * N(x) + 1) * x + beta`` with ``N(x)`` the per-channel L2 norm
    over H and W divided by its mean over channels; inputs ``(N, H, W, C)``.

    Args:
        channels (int): Channels.
        use_bias (bool): Learn ``beta``. Defaults to True.
        eps (float): Stabiliser of the division. Defaults to 1e-6.
    """

    def __init__(self, channels, use_bias=True, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels)) \
            if use_bias else None

    def forward(self, x):
        spatial = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        response = spatial / (spatial.mean(dim=-1, keepdim=True) + self.eps)
        out = (self.gamma * response + 1) * x
        return out + self.beta if self.beta is not None else out


@MODELS.register_module()
class LayerNorm2d(nn.LayerNorm):
    """``nn.LayerNorm`` applied over the channel dimension of ``(N, C, H, W)``
    inputs (ConvNeXt's "channels_first" LayerNorm; same ``weight``/``bias``
    keys).

    Args:
        num_channels (int): Channels.
        eps (float): Added to the variance. Defaults to 1e-6.
    """

    def __init__(self, num_channels, eps=1e-6):
        super().__init__(num_channels, eps=eps)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class SEBlock(BaseModule):
    """Squeeze-and-excitation (official RepVGG/OREPA ``SEBlock``):
    Global average pool, 1x1 conv ``down``, ReLU, 1x1 conv ``up``,
    sigmoid, channel-wise rescale. Keys ``down.*``, ``up.*``.

    Args:
        channels (int): Input/output channels.
        internal_neurons (int): Bottleneck width.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, channels, internal_neurons, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.down = nn.Conv2d(channels, internal_neurons, 1, bias=True)
        self.up = nn.Conv2d(internal_neurons, channels, 1, bias=True)

    def forward(self, x):
        scale = x.mean((2, 3), keepdim=True)
        scale = torch.sigmoid(self.up(F.relu(self.down(scale))))
        return x * scale


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
