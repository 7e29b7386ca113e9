"""Test support for re-parameterisation: non-trivial BN statistics and the
relative output difference every equivalence test asserts on."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def randomise_bn(model, seed=0):
    """Non-trivial BN statistics and affine parameters everywhere."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            c = m.num_features
            dtype = m.running_mean.dtype
            m.running_mean.copy_(torch.randn(c, generator=gen).to(dtype) * .2)
            m.running_var.copy_(torch.rand(c, generator=gen).to(dtype) + .5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)
    return model


def relative_max_diff(outs_a, outs_b):
    """max |a - b| over all outputs, relative to max |a| (absolute when
    every output is zero)."""
    if torch.is_tensor(outs_a):
        outs_a, outs_b = [outs_a], [outs_b]
    diff = max((a - b).abs().max().item() for a, b in zip(outs_a, outs_b))
    scale = max(a.abs().max().item() for a in outs_a)
    return diff / scale if scale > 0 else diff
