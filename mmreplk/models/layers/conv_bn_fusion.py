"""Folding a BatchNorm into the convolution that precedes it."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def fuse_conv_bn(weight, norm):
    """Return the kernel and bias of ``conv(x, weight)`` followed by ``norm``.

    Uses ``norm``'s running statistics, i.e. its eval-mode behaviour.

    Args:
        weight (Tensor): Convolution kernel ``(C_out, C_in/groups, kh, kw)``;
            the convolution itself must have no bias.
        norm (nn.Module): A BatchNorm-family layer (BN, SyncBN) on ``C_out``.

    Returns:
        tuple[Tensor, Tensor]: Fused kernel and bias.
    """
    if not isinstance(norm, _BatchNorm):
        raise TypeError(
            f'Re-parameterisation folds BatchNorm into convolutions, but got '
            f'{type(norm).__name__}. Use norm_cfg=dict(type="BN") or '
            f'dict(type="SyncBN") for re-parameterisable layers.')
    if norm.running_var is None:
        raise ValueError('Cannot fold a BatchNorm built with '
                         'track_running_stats=False: it has no statistics.')
    std = torch.sqrt(norm.running_var + norm.eps)
    gamma = norm.weight if norm.affine else torch.ones_like(std)
    beta = norm.bias if norm.affine else torch.zeros_like(std)
    scale = gamma / std
    fused_weight = weight * scale.reshape(-1, 1, 1, 1)
    fused_bias = beta - norm.running_mean * scale
    return fused_weight, fused_bias
