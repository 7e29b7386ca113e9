"""Generating an online re-parameterised kernel without keeping its
intermediates.

OREPA-style units build their kernel from many branch kernels every training
step. Autograd would keep every branch kernel (and the einsum operands) until
the backward pass: a cost that scales with C_out x C_in x k x k per unit and
does not shrink with the batch, so in late, wide stages it exceeds the
feature maps themselves (ResNet-18 stage 4, batch 8: ~66 MB per unit vs
< 1 MB of activations). Recomputing the kernel in the backward pass (no batch
dimension, cheap) keeps only the final kernel alive.
"""
import torch
from torch.utils.checkpoint import checkpoint


def training_kernel(kernel_fn, recompute=True):
    """``kernel_fn()``; with ``recompute`` and gradients enabled, its
    intermediates are recomputed during backward instead of stored.

    Args:
        kernel_fn (Callable[[], Tensor]): Builds the kernel from parameters.
        recompute (bool): Trade a second kernel generation in backward for
            the memory of the intermediates. Results are identical.
    """
    if recompute and torch.is_grad_enabled():
        return checkpoint(kernel_fn, use_reentrant=False)
    return kernel_fn()
