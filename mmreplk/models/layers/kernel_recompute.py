"""Generating an online re-parameterised kernel without keeping its
intermediates.

OREPA-style units build their kernel from many branch kernels every training
step. Autograd would keep every branch kernel (and the einsum operands) until
the backward pass: a cost that scales with C_out x C_in x k x k per unit and
does not shrink with the batch, so in late, wide stages it exceeds the
feature maps themselves (ResNet-18 stage 4, batch 8: ~66 MB per unit vs
< 1 MB of activations). Recomputing the kernel in the backward pass (no batch
dimension) keeps only the final kernel alive, at the price of running the
generation twice.

Whether that trade pays depends on the device, so ``recompute_kernel=None``
(the default everywhere) picks it per device from measurements
(docs/orepa.md, "Kernel generation and its cost"): on CUDA the second
generation is launch-bound and cost far more time than the memory it saved
was worth, so it is off; elsewhere (CPU) it is on.
"""
import torch
from torch.utils.checkpoint import checkpoint

# Device types on which recomputation is off by default (measured).
NO_RECOMPUTE_BY_DEFAULT = ('cuda', )


def resolve_recompute(recompute, device):
    """``recompute`` itself, or for None the measured default of
    ``device``'s type (see the module docstring)."""
    if recompute is not None:
        return bool(recompute)
    return torch.device(device).type not in NO_RECOMPUTE_BY_DEFAULT


def training_kernel(kernel_fn, recompute=True, device='cpu'):
    """``kernel_fn()``; with ``recompute`` and gradients enabled, its
    intermediates are recomputed during backward instead of stored.

    Args:
        kernel_fn (Callable[[], Tensor]): Builds the kernel from parameters.
        recompute (bool, optional): Trade a second kernel generation in
            backward for the memory of the intermediates (results are
            identical); None: the measured default of ``device``.
        device (str | torch.device): Where the kernel is built.
    """
    if resolve_recompute(recompute, device) and torch.is_grad_enabled():
        return checkpoint(kernel_fn, use_reentrant=False)
    return kernel_fn()
