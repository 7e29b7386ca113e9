"""OREPA-family conv-BN units: online squeeze == explicit multi-branch
computation, eval == deploy, official key names, bad-input errors."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmreplk
from mmreplk.models.layers import (DBB, OREPA, ConvBN, OREPA_1x1,
                                   OREPA_LargeConv, RepModule, RepVGGBlock,
                                   RepVGGBlock_OREPA)
from mmreplk.models.layers.kernel_transforms import frequency_prior
from mmreplk.models.reparam import count_rep_modules
from tests.helpers.official_orepa_state import (conv_bn_keys, orepa_1x1_keys,
                                                orepa_keys,
                                                orepa_large_conv_keys)
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff

SQUEEZE_TOL = 1e-10  # relative, fp64
REPARAM_TOL = 1e-5  # relative, fp32


def randomise(layer, seed=0):
    """Random values for every parameter (so that branches initialised to
    zero, e.g. OREPA's prior scale, are exercised) and BN statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * .3)
    return randomise_bn(layer, seed)


def exact_avg_buffers(layer):
    """The stored 1/k^2 average kernels are float32 values (as official);
    after ``.double()`` refill them exactly, as the explicit average pools
    are exact."""
    with torch.no_grad():
        for name, buf in layer.named_buffers():
            if name.endswith('avg_avg'):
                buf.fill_(1.0 / buf.numel())
    return layer


def train_bn(layer_bn, x):
    """Training-mode BN with batch statistics, without touching the
    module's running statistics."""
    return F.batch_norm(x, None, None, layer_bn.weight, layer_bn.bias, True,
                        0.0, layer_bn.eps)


# --------------------------------------------------------------------------
# Test-side explicit branches: every branch computed on feature maps with its
# own convolution / pooling, scaled by its vector row, summed, then BN.


def centre_1x1(x, weight, out_hw, stride, padding, offset, groups=1):
    """A 1x1 conv aligned with the centre tap of a padded kxk conv."""
    xp = F.pad(x, [padding] * 4)
    out = F.conv2d(
        xp[..., offset:, offset:], weight, stride=stride, groups=groups)
    return out[..., :out_hw[0], :out_hw[1]]


def explicit_orepa(layer, x):
    s, p, d, g = layer.stride, layer.padding, layer.dilation, layer.groups
    k, out_ch = layer.kernel_size, layer.out_channels

    def kxk(inp, weight, groups):
        return F.conv2d(inp, weight, None, s, p, d, groups)

    origin = kxk(x, layer.weight_orepa_origin, g)
    mid = F.conv2d(x, layer.weight_orepa_avg_conv, groups=g)
    if d == 1 and p <= k // 2:
        avg = F.avg_pool2d(mid, k, s, p, count_include_pad=True)
    else:  # dilated / wide padding: the pool as a constant depthwise conv
        avg = kxk(mid, mid.new_full((out_ch, 1, k, k), 1 / k**2), out_ch)
    mid = F.conv2d(x, layer.weight_orepa_pfir_conv, groups=g)
    prior = kxk(mid, layer.weight_orepa_prior.unsqueeze(1), out_ch)
    mid = F.conv2d(
        x, layer.weight_orepa_1x1_kxk_idconv1 + layer.id_tensor, groups=g)
    one_kxk = kxk(mid, layer.weight_orepa_1x1_kxk_conv2, g)
    one = centre_1x1(x, layer.weight_orepa_1x1, origin.shape[-2:], s, p,
                     d * (k // 2), g)
    mid = kxk(x, layer.weight_orepa_gconv_dw, layer.in_channels)
    pw = layer.weight_orepa_gconv_pw
    # Official output-channel layout: pointwise row a * g + c feeds output
    # channel c * (out / g) + a.
    pw = pw.reshape(out_ch // g, g, -1).transpose(0, 1).reshape(pw.shape)
    dw_sep = F.conv2d(mid, pw, groups=g)
    branches = (origin, avg, prior, one_kxk, one, dw_sep)
    out = sum(v.view(1, -1, 1, 1) * b for v, b in zip(layer.vector, branches))
    return layer.act(train_bn(layer.bn, out))


def explicit_orepa_1x1(layer, x):
    s = layer.stride
    origin = F.conv2d(x, layer.weight_or1x1_origin, stride=s)
    chain = F.conv2d(
        F.conv2d(x, layer.weight_or1x1_l2i_conv1),
        layer.weight_or1x1_l2i_conv2,
        stride=s)
    out = layer.vector[0].view(1, -1, 1, 1) * origin + \
        layer.vector[1].view(1, -1, 1, 1) * chain
    return layer.act(train_bn(layer.bn, out))


def explicit_orepa_large_conv(layer, x):
    """Stacked 3x3 convs on the once-padded input (the official composition
    applies every kernel after the first spatially flipped)."""
    y = F.pad(x, [layer.padding] * 4)
    for i in range(layer.layers):
        kernel = getattr(layer, f'weight{i}')()
        if i > 0:
            kernel = torch.flip(kernel, [2, 3])
        y = F.conv2d(y, kernel, dilation=layer.dilation)
    y = y[..., ::layer.stride, ::layer.stride]
    return layer.act(train_bn(layer.bn, y))


def explicit_orepa_3x3_repvgg(dense, x):
    s, p, k = dense.stride, dense.padding, dense.kernel_size
    out_ch = dense.out_channels
    origin = F.conv2d(x, dense.weight_rbr_origin, None, s, p)
    avg = F.avg_pool2d(
        F.conv2d(x, dense.weight_rbr_avg_conv),
        k,
        s,
        p,
        count_include_pad=True)
    prior = F.conv2d(
        F.conv2d(x, dense.weight_rbr_pfir_conv),
        dense.weight_rbr_prior.unsqueeze(1), None, s, p, 1, out_ch)
    first = dense.weight_rbr_1x1_kxk_idconv1 + dense.id_tensor
    one_kxk = F.conv2d(
        F.conv2d(x, first), dense.weight_rbr_1x1_kxk_conv2, None, s, p)
    dw = F.conv2d(x, dense.weight_rbr_gconv_dw, None, s, p, 1,
                  dense.in_channels)
    dw_sep = F.conv2d(dw, dense.weight_rbr_gconv_pw)
    branches = (origin, avg, prior, one_kxk, dw_sep)
    out = sum(v.view(1, -1, 1, 1) * b for v, b in zip(dense.vector, branches))
    return train_bn(dense.bn, out)


def assert_close(actual, expected, tol):
    err = relative_max_diff(expected, actual)
    assert err <= tol, f'relative max diff {err:.3g} > {tol}'


SQUEEZE_CASES = [
    (OREPA, dict(in_channels=8, out_channels=8, kernel_size=3)),
    (OREPA,
     dict(in_channels=8, out_channels=12, kernel_size=3, stride=2, groups=2)),
    # groups > 4: the 1x1-kxk branch is twice as wide (official default).
    (OREPA, dict(in_channels=8, out_channels=8, kernel_size=3, groups=8)),
    (OREPA,
     dict(
         in_channels=6,
         out_channels=6,
         kernel_size=5,
         padding=1,
         act_cfg=dict(type='ReLU'))),
    (OREPA,
     dict(in_channels=6, out_channels=4, kernel_size=3, padding=0, stride=2)),
    (OREPA, dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2)),
    (OREPA_1x1, dict(in_channels=6, out_channels=10, stride=2)),
    (OREPA_1x1, dict(in_channels=10, out_channels=6)),
    (OREPA_LargeConv,
     dict(in_channels=3, out_channels=6, kernel_size=7, stride=2)),
    (OREPA_LargeConv,
     dict(in_channels=4, out_channels=5, kernel_size=5, dilation=2,
          padding=3)),
]
EXPLICIT = {
    OREPA: explicit_orepa,
    OREPA_1x1: explicit_orepa_1x1,
    OREPA_LargeConv: explicit_orepa_large_conv
}


@pytest.mark.parametrize('cls,kwargs', SQUEEZE_CASES)
def test_squeezed_conv_equals_explicit_branches(cls, kwargs):
    torch.manual_seed(0)
    layer = exact_avg_buffers(randomise(cls(**kwargs)).double()).train()
    x = torch.randn(2, kwargs['in_channels'], 13, 11, dtype=torch.float64)
    with torch.no_grad():
        expected = EXPLICIT[cls](layer, x)
        actual = layer(x)
    assert actual.shape == expected.shape
    assert_close(actual, expected, SQUEEZE_TOL)


def test_squeezed_gradients_equal_explicit_gradients():
    torch.manual_seed(0)
    layer = exact_avg_buffers(
        randomise(OREPA(6, 8, 3, stride=2, groups=2)).double()).train()
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    weights = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    grads = []
    for forward in (layer, lambda inp: explicit_orepa(layer, inp)):
        layer.zero_grad()
        (forward(x) * weights).sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for g_squeezed, g_explicit in zip(*grads):
        assert_close(g_squeezed, g_explicit, 1e-9)


@pytest.mark.parametrize('in_ch,out_ch,stride', [(6, 6, 1), (6, 8, 2)])
def test_repvgg_orepa_dense_branch_squeeze(in_ch, out_ch, stride):
    torch.manual_seed(0)
    block = exact_avg_buffers(
        randomise(RepVGGBlock_OREPA(in_ch, out_ch, 3, stride)).double())
    block.train()
    dense = block.rbr_dense
    # Official: a sixth (unused) vector row when the block has an identity.
    assert dense.vector.shape == (6 if in_ch == out_ch else 5, out_ch)
    x = torch.randn(2, in_ch, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        assert_close(
            dense(x), explicit_orepa_3x3_repvgg(dense, x), SQUEEZE_TOL)


def test_frequency_prior_is_the_dct_basis():
    prior = frequency_prior(4, 3, dtype=torch.float64)
    pos = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64)
    pi = torch.pi
    # Channels 0, 1 (first half) vary along height with u = 1, 2.
    for c, u in ((0, 1), (1, 2)):
        expected = torch.cos(pi * pos * u / 3)[:, None].expand(3, 3)
        assert torch.allclose(prior[c], expected, atol=1e-12)
    # Channels 2, 3 vary along width with u = c + 1 - 2.
    for c, u in ((2, 1), (3, 2)):
        expected = torch.cos(pi * pos * u / 3)[None, :].expand(3, 3)
        assert torch.allclose(prior[c], expected, atol=1e-12)


# --------------------------------------------------------------------------
# Eval-mode training form == deploy form.

REPARAM_CASES = [
    (ConvBN,
     dict(in_channels=6, out_channels=8, kernel_size=3, stride=2, groups=2)),
    (ConvBN, dict(in_channels=6, out_channels=6, kernel_size=5, dilation=2)),
    (ConvBN, dict(in_channels=6, out_channels=4, kernel_size=1)),
] + SQUEEZE_CASES + [
    (OREPA_LargeConv, dict(in_channels=4, out_channels=4, kernel_size=3)),
    (DBB, dict(in_channels=8, out_channels=8, kernel_size=3)),
    (DBB,
     dict(
         in_channels=8,
         out_channels=12,
         kernel_size=3,
         stride=2,
         groups=2,
         act_cfg=dict(type='ReLU'))),
    (DBB, dict(in_channels=8, out_channels=8, kernel_size=3, groups=8)),
    (DBB, dict(in_channels=6, out_channels=6, kernel_size=5, stride=2)),
    (DBB,
     dict(
         in_channels=6,
         out_channels=8,
         kernel_size=3,
         internal_channels_1x1_3x3=4)),
    (RepVGGBlock, dict(in_channels=8, out_channels=8, kernel_size=3)),
    (RepVGGBlock,
     dict(in_channels=8, out_channels=16, kernel_size=3, stride=2, groups=2)),
    (RepVGGBlock,
     dict(
         in_channels=16,
         out_channels=16,
         kernel_size=5,
         groups=4,
         use_se=True,
         act_cfg=dict(type='ReLU'))),
    (RepVGGBlock_OREPA,
     dict(
         in_channels=8,
         out_channels=8,
         kernel_size=3,
         act_cfg=dict(type='ReLU'))),
    (RepVGGBlock_OREPA,
     dict(in_channels=6, out_channels=10, kernel_size=3, stride=2)),
    (RepVGGBlock_OREPA,
     dict(
         in_channels=6,
         out_channels=16,
         kernel_size=3,
         internal_channels_1x1_3x3=9,
         use_se=True)),
]


@pytest.mark.parametrize('cls,kwargs', REPARAM_CASES)
def test_deploy_form_equals_eval_training_form(cls, kwargs):
    torch.manual_seed(0)
    layer = randomise(cls(**kwargs)).eval()
    x = torch.randn(2, kwargs['in_channels'], 12, 10)
    with torch.no_grad():
        expected = layer(x)
        model = nn.Sequential(layer)
        n_rep = count_rep_modules(model, deployed=False)
        assert mmreplk.reparameterize_model(model) is model
        actual = model(x)
        assert n_rep == 1 and count_rep_modules(model, deployed=True) == 1
        assert_close(actual, expected, REPARAM_TOL)
        # Idempotent.
        state = copy.deepcopy(layer.state_dict())
        layer.switch_to_deploy()
        mmreplk.reparameterize_model(model)
        assert all(
            torch.equal(v, state[k]) for k, v in layer.state_dict().items())
        assert layer.state_dict().keys() == state.keys()
        # A deploy-built layer loads the converted weights strictly.
        deployed = cls(**kwargs, deploy=True).eval()
        deployed.load_state_dict(state, strict=True)
        assert_close(deployed(x), expected, REPARAM_TOL)


# --------------------------------------------------------------------------
# Official key names (training and deploy forms).


def key_shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def bn(prefix, c):
    keys = {
        f'{prefix}{n}': (c, )
        for n in ('weight', 'bias', 'running_mean', 'running_var')
    }
    keys[f'{prefix}num_batches_tracked'] = ()
    return keys


def conv(prefix, shape, bias=False):
    keys = {f'{prefix}weight': shape}
    if bias:
        keys[f'{prefix}bias'] = (shape[0], )
    return keys


@pytest.mark.parametrize('groups', [1, 2, 8])
def test_orepa_keys_are_official(groups):
    assert key_shapes(OREPA(8, 16, 3, groups=groups)) == orepa_keys(
        '', 8, 16, 3, groups=groups)
    assert key_shapes(OREPA(8, 16, 3, groups=groups, deploy=True)) == conv(
        'orepa_reparam.', (16, 8 // groups, 3, 3), bias=True)


def test_other_unit_keys_are_official():
    for cin, cout in ((8, 16), (16, 8)):
        assert key_shapes(OREPA_1x1(cin,
                                    cout)) == orepa_1x1_keys('', cin, cout)
    assert key_shapes(OREPA_1x1(8, 16, deploy=True)) == conv(
        'or1x1_reparam.', (16, 8, 1, 1), bias=True)
    assert key_shapes(OREPA_LargeConv(3, 16, 7)) == orepa_large_conv_keys(
        '', 3, 16, 7)
    assert key_shapes(OREPA_LargeConv(3, 16, 7, deploy=True)) == conv(
        'or_large_reparam.', (16, 3, 7, 7), bias=True)
    assert key_shapes(ConvBN(8, 16, 3)) == conv_bn_keys('', 8, 16, 3)
    assert key_shapes(ConvBN(8, 16, 3, deploy=True)) == conv(
        'conv.', (16, 8, 3, 3), bias=True)


def test_dbb_keys_are_official():
    expected = {
        **conv('dbb_origin.conv.', (16, 4, 3, 3)),
        **bn('dbb_origin.bn.', 16),
        **conv('dbb_avg.conv.', (16, 4, 1, 1)),
        **bn('dbb_avg.bn.bn.', 16),
        **bn('dbb_avg.avgbn.', 16),
        **conv('dbb_1x1.conv.', (16, 4, 1, 1)),
        **bn('dbb_1x1.bn.', 16),
        # idconv1's identity is not a persistent buffer (official: a plain
        # attribute), so only its residual weight is a key.
        **conv('dbb_1x1_kxk.idconv1.', (8, 4, 1, 1)),
        **bn('dbb_1x1_kxk.bn1.bn.', 8),
        **conv('dbb_1x1_kxk.conv2.', (16, 4, 3, 3)),
        **bn('dbb_1x1_kxk.bn2.', 16),
    }
    assert key_shapes(DBB(8, 16, 3, groups=2)) == expected
    depthwise = key_shapes(DBB(8, 8, 3, groups=8))
    assert not any(
        k.startswith(('dbb_1x1.', 'dbb_avg.conv')) for k in depthwise)
    assert depthwise['dbb_1x1_kxk.conv1.weight'] == (16, 1, 1, 1)
    assert key_shapes(DBB(8, 16, 3, deploy=True)) == conv(
        'dbb_reparam.', (16, 8, 3, 3), bias=True)


def test_repvgg_keys_are_official():
    expected = {
        **conv('rbr_dense.conv.', (8, 4, 3, 3)),
        **bn('rbr_dense.bn.', 8),
        **conv('rbr_1x1.conv.', (8, 4, 1, 1)),
        **bn('rbr_1x1.bn.', 8),
        **bn('rbr_identity.', 8)
    }
    assert key_shapes(RepVGGBlock(8, 8, 3, groups=2)) == expected
    assert 'rbr_identity.weight' not in key_shapes(RepVGGBlock(8, 8, 3, 2))
    assert 'rbr_identity.weight' not in key_shapes(RepVGGBlock(8, 16, 3))
    dense = {
        'weight_rbr_origin': (16, 8, 3, 3),
        'weight_rbr_avg_conv': (16, 8, 1, 1),
        'weight_rbr_pfir_conv': (16, 8, 1, 1),
        'weight_rbr_avg_avg': (3, 3),
        'weight_rbr_1x1_kxk_idconv1': (8, 8, 1, 1),
        'id_tensor': (8, 8, 1, 1),
        'weight_rbr_1x1_kxk_conv2': (16, 8, 3, 3),
        'weight_rbr_gconv_dw': (64, 1, 3, 3),
        'weight_rbr_gconv_pw': (16, 64, 1, 1),
        'vector': (5, 16),
        'weight_rbr_prior': (16, 3, 3),
    }
    expected = {f'rbr_dense.{k}': v for k, v in dense.items()}
    expected.update({
        **bn('rbr_dense.bn.', 16),
        **conv('rbr_1x1.conv.', (16, 8, 1, 1)),
        **bn('rbr_1x1.bn.', 16)
    })
    assert key_shapes(RepVGGBlock_OREPA(8, 16, 3, 2)) == expected
    assert key_shapes(RepVGGBlock_OREPA(
        8, 32, 3, deploy=True, use_se=True)) == {
            **conv('rbr_reparam.', (32, 8, 3, 3), bias=True),
            **conv('se.down.', (2, 32, 1, 1), bias=True),
            **conv('se.up.', (32, 2, 1, 1), bias=True)
        }


# --------------------------------------------------------------------------
# Options and bad input.


@pytest.mark.parametrize('cls,args', [(ConvBN, (4, 6, 3)), (OREPA, (4, 6, 3)),
                                      (OREPA_1x1, (4, 6)),
                                      (OREPA_LargeConv, (4, 6, 5)),
                                      (DBB, (4, 6, 3)),
                                      (RepVGGBlock, (6, 6, 3)),
                                      (RepVGGBlock_OREPA, (6, 6, 3))])
def test_act_after_norm_and_norm_cfg(cls, args):
    torch.manual_seed(0)
    plain = randomise(cls(*args)).eval()
    with_act = cls(*args, act_cfg=dict(type='ReLU')).eval()
    with_act.load_state_dict(plain.state_dict())
    x = torch.randn(1, args[0], 7, 7)
    with torch.no_grad():
        assert torch.equal(with_act(x), F.relu(plain(x)))
    layer = cls(*args, norm_cfg=dict(type='BN', momentum=0.3, eps=1e-3))
    norms = [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.3 and m.eps == 1e-3 for m in norms)
    sync = cls(*args, norm_cfg=dict(type='SyncBN'))
    assert any(isinstance(m, nn.SyncBatchNorm) for m in sync.modules())
    with pytest.raises(ValueError, match='BatchNorm-family'):
        cls(*args, norm_cfg=dict(type='GN', num_groups=2))
    assert isinstance(plain, RepModule)


@pytest.mark.parametrize('build,match', [
    (lambda: OREPA(4, 4, 4), 'odd'),
    (lambda: OREPA(4, 4, 1), 'odd int >= 3'),
    (lambda: OREPA(6, 8, 3, groups=4), 'groups=4 must divide'),
    (lambda: OREPA(4, 4, 3, padding=-1), 'padding'),
    (lambda: OREPA(4, 4, 3, internal_channels_1x1_3x3=3, groups=2),
     'multiple of groups'),
    (lambda: ConvBN(4, 4, 2), 'odd'),
    (lambda: ConvBN(4, 4, 3, stride=0), 'stride'),
    (lambda: OREPA_1x1(4, 4, 3), 'kernel_size must be 1'),
    (lambda: OREPA_1x1(4, 4, groups=2), 'groups=1'),
    (lambda: OREPA_1x1(4, 4, padding=1), 'padding'),
    (lambda: OREPA_LargeConv(4, 4, 6), 'odd'),
    (lambda: OREPA_LargeConv(4, 4, 1), 'odd int >= 3'),
    (lambda: OREPA_LargeConv(4, 4, 7, groups=2), 'groups=1'),
    (lambda: DBB(4, 4, 3, padding=0), 'same'),
    (lambda: DBB(4, 4, 3, dilation=2), 'dilation=1'),
    (lambda: DBB(8, 4, 3, groups=4), 'in_channels == out_channels'),
    (lambda: RepVGGBlock(4, 4, 3, padding=2), 'same'),
    (lambda: RepVGGBlock(4, 4, 3, dilation=2), 'dilation=1'),
    (lambda: RepVGGBlock(4, 4, 2), 'odd'),
    (lambda: RepVGGBlock(4, 4, 1), 'odd int >= 3'),
    (lambda: RepVGGBlock_OREPA(4, 4, 3, groups=2), 'groups=1'),
    (lambda: RepVGGBlock(8, 8, 3, use_se=True), 'use_se'),
])
def test_bad_input_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_units_build_from_downstream_configs(scope):
    """The units are not registered (their names are generic); a config
    reaches each of them through its backbone's block_type."""
    from mmengine.registry import DefaultScope
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    expected = dict(
        OREPA=(OREPA, OREPA_1x1, OREPA_LargeConv),
        DBB=(DBB, ConvBN),
        RepVGG=(RepVGGBlock, ),
        OREPA_VGG=(RepVGGBlock_OREPA, ))
    arch = dict(stage_blocks=(1, 1, 1, 1), channels=(8, 8, 8, 8))
    with DefaultScope.overwrite_default_scope(scope):
        for block_type, units in expected.items():
            if block_type == 'OREPA_VGG':
                cfg = dict(type='OREPARepVGG', arch=arch)
            else:
                cfg = dict(
                    type='OREPAResNet',
                    arch=dict(
                        stage_blocks=(1, 1, 1, 1),
                        channels=(32, 32, 32, 32),
                        block='bottleneck'))
            model = registry.build(dict(cfg, block_type=block_type))
            built = {type(m) for m in model.modules()}
            for unit in units:
                assert unit in built, (block_type, unit)
            assert registry.get(units[0].__name__) is None
