"""Test support for re-parameterisation: non-trivial BN statistics and the
relative output difference every equivalence test asserts on (the package's
one helper, itself tested against hand-computed values in
tests/test_analysis/test_output_difference.py)."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmreplk.analysis import relative_max_diff

__all__ = ['randomise_bn', 'relative_max_diff']


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
