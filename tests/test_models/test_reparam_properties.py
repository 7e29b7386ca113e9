"""Property-based re-parameterisation equivalence (hypothesis): for random
channels, kernel sizes, strides, groups and BN statistics, every
re-parameterisable layer's deploy form computes what its training form
computes in eval mode."""
import copy

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mmreplk
from mmreplk.models import layers
from mmreplk.models.backbones.unireplknet import UniRepLKNetBlock
from mmreplk.models.layers import RepModule
from mmreplk.models.reparam import count_rep_modules
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff

# fp64 makes the tolerance independent of accumulation order.
TOLERANCE = 1e-9
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])


def check_equivalence(layer, x, seed):
    layer = randomise_bn(layer.double(), seed).eval()
    assert count_rep_modules(layer, deployed=False) >= 1
    x = x.double()
    with torch.no_grad():
        expected = layer(x)
        deployed = mmreplk.reparameterize_model(copy.deepcopy(layer))
        again = mmreplk.reparameterize_model(copy.deepcopy(deployed))
        actual, actual_again = deployed(x), again(x)
    assert all(m.deploy for m in deployed.modules()
               if isinstance(m, RepModule))
    assert actual.shape == expected.shape
    assert relative_max_diff(expected, actual) <= TOLERANCE
    assert relative_max_diff(expected, actual_again) <= TOLERANCE


odd = st.sampled_from([3, 5, 7, 9, 11])


@SETTINGS
@given(
    channels=st.integers(1, 6),
    large=odd,
    small=st.sampled_from([None, 3, 5]),
    size=st.integers(4, 13),
    seed=st.integers(0, 99))
def test_large_kernel_conv(channels, large, small, size, seed):
    if small is not None and small >= large:
        small = None
    layer = layers.ReparamLargeKernelConv(channels, large, small, impl='torch')
    x = torch.randn(2, channels, size, size + 1)
    check_equivalence(layer, x, seed)


# name -> (allowed kernel sizes, allowed groups, dilation allowed)
CONV_BN_UNITS = {
    'ConvBN': ([1, 3, 5], [1, 2, 4], True),
    'OREPA': ([3, 5], [1, 2, 4], True),
    'OREPA_1x1': ([1], [1], False),
    'OREPA_LargeConv': ([3, 5, 7], [1], True),
    'DBB': ([3, 5], [1, 2], False),
    'RepVGGBlock': ([3], [1, 2], False),
    'RepVGGBlock_OREPA': ([3], [1], False),
}


@SETTINGS
@given(
    data=st.data(),
    name=st.sampled_from(sorted(CONV_BN_UNITS)),
    seed=st.integers(0, 99))
def test_conv_bn_units(data, name, seed):
    kernels, groups_choices, dilated = CONV_BN_UNITS[name]
    kernel = data.draw(st.sampled_from(kernels), 'kernel')
    groups = data.draw(st.sampled_from(groups_choices), 'groups')
    in_channels = groups * data.draw(st.integers(1, 3), 'in_per_group')
    out_channels = groups * data.draw(st.integers(1, 3), 'out_per_group')
    stride = data.draw(st.sampled_from([1, 2]), 'stride')
    dilation = data.draw(st.sampled_from([1, 2]), 'dilation') \
        if dilated else 1
    # DBB with groups == out_channels pools the input directly (official):
    # it rejects in != out with a clear error, tested in test_orepa_layers.
    assume(not (name == 'DBB' and groups == out_channels
                and in_channels != out_channels))
    layer = getattr(layers, name)(
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        dilation=dilation,
        groups=groups)
    size = data.draw(st.integers(kernel * dilation, 16), 'size')
    check_equivalence(layer, torch.randn(2, in_channels, size, size), seed)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.integers(4, 12),
    small=st.sampled_from([3, 5]),
    extra=st.integers(1, 10),
    n_path=st.integers(1, 3),
    n_rep=st.integers(1, 4),
    ghost=st.sampled_from([0.0, 0.23, 0.5]),
    form=st.sampled_from(['shift', 'large_kernel']),
    size=st.integers(3, 12),
    seed=st.integers(0, 99))
def test_shiftwise_conv(channels, small, extra, n_path, n_rep, ghost, form,
                        size, seed):
    big = small + 2 * extra
    layer = layers.ShiftWiseConv2d(
        channels,
        big,
        small,
        n_path=n_path,
        n_rep=n_rep,
        ghost_ratio=ghost,
        impl='torch',
        deploy_form=form)
    check_equivalence(layer, torch.randn(2, channels, size, size + 2), seed)


@SETTINGS
@given(
    channels=st.integers(1, 6),
    large=st.sampled_from([3, 5, 7, 9, 11, 13, 15]),
    small=st.sampled_from([1, 3, 5, 7]),
    with_bn=st.booleans(),
    form=st.sampled_from(['decomposed', 'large_kernel']),
    height=st.integers(2, 18),
    width=st.integers(2, 18),
    seed=st.integers(0, 99))
def test_decomposed_large_kernel_conv(channels, large, small, with_bn, form,
                                      height, width, seed):
    # SLaK's K x s + s x K + s x s branches; maps smaller than K included.
    assume(small < large)
    layer = layers.DecomposedLargeKernelConv(
        channels,
        large,
        small,
        norm_cfg=dict(type='BN') if with_bn else None,
        impl='torch',
        deploy_form=form)
    check_equivalence(layer, torch.randn(2, channels, height, width), seed)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.integers(1, 5),
    height=st.integers(3, 20),
    width=st.integers(3, 20),
    seed=st.integers(0, 99))
@pytest.mark.parametrize('large_kernel', [5, 7, 9, 11, 13, 15, 17])
def test_dilated_reparam_block(large_kernel, channels, height, width, seed):
    """Every K of the official table, with maps smaller and larger than
    the dilated branches' reach."""
    layer = layers.DilatedReparamBlock(channels, large_kernel, impl='torch')
    check_equivalence(layer, torch.randn(2, channels, height, width), seed)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(
    channels=st.sampled_from([4, 8]),
    layer_scale=st.sampled_from([0.0, 1e-6, 1.0]),
    size=st.integers(3, 16),
    seed=st.integers(0, 99))
@pytest.mark.parametrize('kernel_size', [0, 3, 5, 7, 9, 11, 13, 15, 17])
def test_unireplknet_block(kernel_size, channels, layer_scale, size, seed):
    """The whole block: the mixer's BN folded into the depthwise conv, the
    GRN bias, the FFN's BN and the layer scale into the second Linear."""
    block = UniRepLKNetBlock(
        channels,
        kernel_size,
        layer_scale_init_value=layer_scale,
        impl='torch').double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in (block.act[1].gamma, block.act[1].beta):
            param.copy_(torch.randn(param.shape, generator=gen))
        if block.gamma is not None:
            block.gamma.mul_(torch.rand(channels, generator=gen) + 0.5)
    check_equivalence(block, torch.randn(2, channels, size, size + 1), seed)
