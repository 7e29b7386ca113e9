"""SLaK: the decomposed large kernel against the official three-conv
formulation, both deploy forms for every arch, the backbone's OpenMMLab
options, its layer ids for lr decay (against mmseg's constructor, which
refuses the class name) and bad input."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

import mmreplk
from mmreplk.models.backbones import SLaK
from mmreplk.models.layers import DecomposedLargeKernelConv, DepthwiseConv2d
from mmreplk.registry import MODELS
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff

TINY_ARCH = dict(
    stage_blocks=[1, 1, 2, 1],
    channels=[8, 16, 16, 16],
    large_kernels=[13, 11, 9, 7],
    small_kernel=3)


def official_layer(layer, x):
    """The official ``ReparamLargeKernelConv(Decom=True)`` in eval mode,
    restated: three ``nn.Conv2d``-style depthwise convs with padding ``(kh //
    2, kw // 2)`` (the CUTLASS kernel's), each followed by its BN, summed."""
    out = 0
    for branch in (layer.vertical_strip, layer.horizontal_strip,
                   layer.small_conv):
        w = branch.conv.weight
        y = F.conv2d(
            x,
            w,
            padding=(w.shape[2] // 2, w.shape[3] // 2),
            groups=x.shape[1])
        if branch.norm is not None:
            bn = branch.norm
            y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight,
                             bn.bias, False, 0.0, bn.eps)
        out = out + y
    return out


@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), None])
def test_layer_matches_official_formulation(norm_cfg):
    torch.manual_seed(0)
    layer = randomise_bn(
        DecomposedLargeKernelConv(6, 13, 5, norm_cfg=norm_cfg,
                                  impl='torch')).eval()
    shapes = {
        name: tuple(getattr(layer, name).conv.weight.shape)
        for name in ('vertical_strip', 'horizontal_strip', 'small_conv')
    }
    assert shapes == dict(
        vertical_strip=(6, 1, 13, 5),
        horizontal_strip=(6, 1, 5, 13),
        small_conv=(6, 1, 5, 5))
    # Every branch conv is the project's op-backed conv, without bias.
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(
        isinstance(m, DepthwiseConv2d) and m.bias is None for m in convs)
    x = torch.randn(2, 6, 9, 16)  # smaller than K in height
    with torch.no_grad():
        assert relative_max_diff(official_layer(layer, x), layer(x)) <= 1e-6


@pytest.mark.parametrize('form', ['decomposed', 'large_kernel'])
def test_layer_deploy_forms(form):
    torch.manual_seed(0)
    layer = randomise_bn(DecomposedLargeKernelConv(6, 11, 3)).eval()
    x = torch.randn(2, 6, 7, 12)
    with torch.no_grad():
        expected = layer(x)
        layer.switch_to_deploy(form)
        layer.switch_to_deploy('large_kernel')  # a no-op once deployed
        assert layer.deploy_form == form
        assert relative_max_diff(expected, layer(x)) <= 1e-5
    state = layer.state_dict()
    if form == 'large_kernel':
        assert {
            k: tuple(v.shape)
            for k, v in state.items()
        } == {
            'reparam_conv.weight': (6, 1, 11, 11),
            'reparam_conv.bias': (6, )
        }
    else:
        assert {
            k: tuple(v.shape)
            for k, v in state.items()
        } == {
            'reparam_vertical.weight': (6, 1, 11, 3),
            'reparam_vertical.bias': (6, ),
            'reparam_horizontal.weight': (6, 1, 3, 11)
        }
    built = DecomposedLargeKernelConv(6, 11, 3, deploy=True, deploy_form=form)
    built.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert relative_max_diff(expected, built.eval()(x)) <= 1e-5


def reduced(arch):
    """The preset with one block per stage: same channels and kernels."""
    return dict(SLaK.parse_arch(arch), stage_blocks=[1, 1, 1, 1])


@pytest.mark.parametrize('arch', ['T', 'S', 'B'])
def test_every_arch_deploys_exactly_fp32(arch):
    """Both deploy forms of every arch (one block per stage, the arch's
    channels and kernels) against its eval-mode training form, 1e-4."""
    torch.manual_seed(0)
    model = randomise_bn(
        SLaK(
            reduced(arch),
            drop_path_rate=0.3,
            layer_scale_init_value=1.0,
            impl='torch')).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    for form in ('decomposed', 'large_kernel'):
        deployed = copy.deepcopy(model)
        deployed.switch_to_deploy(form)
        assert deployed.deploy and all(
            m.deploy and m.deploy_form == form for m in deployed.modules()
            if isinstance(m, DecomposedLargeKernelConv))
        with torch.no_grad():
            assert relative_max_diff(expected, deployed(x)) <= 1e-4, form


def test_reparameterize_model_and_deploy_checkpoint():
    torch.manual_seed(0)
    model = randomise_bn(
        SLaK(
            TINY_ARCH, layer_scale_init_value=1.0,
            deploy_form='large_kernel')).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        assert mmreplk.reparameterize_model(model) is model
        assert relative_max_diff(expected, model(x)) <= 1e-5
    assert model.deploy and model.deploy_form == 'large_kernel'
    built = SLaK(TINY_ARCH, deploy=True, deploy_form='large_kernel').eval()
    built.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_max_diff(expected, built(x)) <= 1e-5


def test_presets_and_param_counts_match_the_official_models():
    """Channels int(c * 1.3) of ConvNeXt-T/S/B and kernels 51/49/47/13 with
    5; dense parameter counts of the official downstream backbone (the
    ImageNet model without its classifier, plus norm0..3), counted from the
    official module definitions: T 49.71M, S 90.13M, B 156.62M."""
    expected = dict(
        T=([3, 3, 9, 3], [124, 249, 499, 998], 49_706_582),
        S=([3, 3, 27, 3], [124, 249, 499, 998], 90_134_564),
        B=([3, 3, 27, 3], [166, 332, 665, 1331], 156_621_118))
    from tests.helpers.official_slak_state import official_shapes
    for name, (depths, channels, count) in expected.items():
        arch = SLaK.parse_arch(name)
        assert arch['stage_blocks'] == depths
        assert arch['channels'] == channels
        assert arch['large_kernels'] == [51, 49, 47, 13]
        assert arch['small_kernel'] == 5
        shapes = official_shapes(name, classifier=False, output_norms=True)
        official = sum(
            torch.Size(s).numel() for k, s in shapes.items()
            if 'running' not in k and 'num_batches' not in k)
        assert official == count
    model = SLaK('T')
    assert sum(p.numel() for p in model.parameters()) == expected['T'][2]


def test_backbone_options():
    torch.manual_seed(0)
    model = SLaK(TINY_ARCH, out_indices=(1, -1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 16, 2, 2)]
    assert sorted(k for k in model.state_dict() if k.startswith('norm')) == [
        'norm1.bias', 'norm1.weight', 'norm3.bias', 'norm3.weight'
    ]
    frozen = MODELS.build(
        dict(
            type='SLaK',
            arch=TINY_ARCH,
            frozen_stages=2,
            norm_eval=True,
            impl='fft'))
    frozen.train()
    assert not any(p.requires_grad for p in frozen.stages[1].parameters())
    assert not any(p.requires_grad
                   for p in frozen.downsample_layers[1].parameters())
    assert all(p.requires_grad for p in frozen.stages[2].parameters())
    assert all(p.requires_grad
               for p in frozen.downsample_layers[2].parameters())
    assert all(not m.training for m in frozen.modules()
               if isinstance(m, _BatchNorm))
    assert {
        m.impl
        for m in frozen.modules() if isinstance(m, DepthwiseConv2d)
    } == {'fft'}
    sync = SLaK(TINY_ARCH, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in sync.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 3 * 5 and all(
        isinstance(m, nn.SyncBatchNorm) for m in norms)
    bare = SLaK(TINY_ARCH, norm_cfg=None, layer_scale_init_value=0)
    assert not any(isinstance(m, _BatchNorm) for m in bare.modules())
    assert not any(k.endswith('gamma') for k in bare.state_dict())
    rates = [
        b.drop_path.drop_prob
        for b in SLaK(TINY_ARCH, drop_path_rate=0.3).modules()
        if hasattr(b, 'drop_path') and hasattr(b.drop_path, 'drop_prob')
    ]
    assert rates == pytest.approx([0.075, 0.15, 0.225, 0.3])


def test_official_init_then_pretrained_overrides(tmp_path):
    model = SLaK(TINY_ARCH)
    model.init_weights()
    convs = [
        m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.02) < 2e-3
    assert all(m.bias is None or not m.bias.any() for m in convs)
    source = SLaK(TINY_ARCH)
    torch.save(source.state_dict(), tmp_path / 'w.pth')
    loaded = SLaK(
        TINY_ARCH,
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'w.pth')))
    loaded.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_with_cp_gives_same_gradients():
    torch.manual_seed(0)
    ref = SLaK(TINY_ARCH, impl='torch')
    ckpt = SLaK(TINY_ARCH, impl='torch', with_cp=True)
    ckpt.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (ref, ckpt):
        xi = x.clone().requires_grad_()
        sum(o.sum() for o in model.train()(xi)).backward()
        grads.append(xi.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_layer_ids_follow_the_official_rules():
    bb = SLaK(dict(TINY_ARCH, stage_blocks=[1, 1, 7, 1]))
    stage_wise = {
        'downsample_layers.0.0.weight': 0,
        'downsample_layers.2.1.weight': 0,
        'stages.0.0.gamma': 1,
        'stages.2.6.pwconv1.weight': 3,
        'stages.3.0.large_kernel.small_conv.bn.bias': 4,
        'norm2.weight': 7,
    }
    layer_wise = {
        'downsample_layers.0.0.weight': 0,
        'downsample_layers.1.1.weight': 2,
        'downsample_layers.2.1.weight': 3,
        'downsample_layers.3.1.weight': 6,
        'stages.0.0.gamma': 1,
        'stages.1.0.norm.weight': 2,
        'stages.2.2.pwconv1.weight': 3,
        'stages.2.6.pwconv1.weight': 5,
        'stages.3.0.pwconv2.weight': 6,
        'norm0.weight': 7,
    }
    for name, layer_id in stage_wise.items():
        assert bb.get_layer_depth(name, 6, 'stage_wise') == layer_id, name
    for name, layer_id in layer_wise.items():
        assert bb.get_layer_depth(name, 6) == layer_id, name
    with pytest.raises(ValueError, match='decay_type'):
        bb.get_layer_depth('stages.0.0.gamma', 6, 'block_wise')


class _Segmentor(nn.Module):

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.decode_head = nn.Linear(4, 4)


class ConvNeXtNamedSLaK(SLaK):
    """SLaK under a class name that mmseg's constructor accepts."""


@pytest.mark.parametrize('decay_type,num_layers,rate',
                         [('stage_wise', 6, 0.9), ('layer_wise', 6, 0.7),
                          ('stage_wise', 12, 0.9)])
def test_layer_decay_equals_mmseg_constructor_with_official_rules(
        decay_type, num_layers, rate):
    """mmseg's LearningRateDecayOptimizerConstructor holds the official
    SLaK/ConvNeXt rules but refuses any backbone whose class name lacks
    'ConvNeXt' (SLaK's official copy tests for 'SLaK'); on a renamed SLaK
    it gives, for every parameter, the lr and weight decay that
    LayerDecayOptimWrapperConstructor gives on SLaK."""
    import mmseg.engine  # noqa: F401 (registers mmseg's constructors)
    from mmengine.optim import build_optim_wrapper
    arch = dict(TINY_ARCH, stage_blocks=[1, 1, 7, 1])
    paramwise = dict(
        decay_rate=rate, decay_type=decay_type, num_layers=num_layers)

    def groups(model, constructor):
        optim = build_optim_wrapper(
            model,
            dict(
                type='OptimWrapper',
                constructor=constructor,
                optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
                paramwise_cfg=paramwise))
        return {
            name: (g['lr'], g['weight_decay'])
            for g in optim.param_groups
            for p in g['params']
            for name, q in model.named_parameters() if p is q
        }

    torch.manual_seed(0)
    with pytest.raises(NotImplementedError):
        groups(
            _Segmentor(SLaK(arch)),
            'mmseg.LearningRateDecayOptimizerConstructor')
    official = groups(
        _Segmentor(ConvNeXtNamedSLaK(arch)),
        'mmseg.LearningRateDecayOptimizerConstructor')
    ours = groups(_Segmentor(SLaK(arch)), 'LayerDecayOptimWrapperConstructor')
    assert ours.keys() == official.keys()
    for name, (lr, wd) in official.items():
        assert ours[name][0] == pytest.approx(lr, rel=1e-12), name
        assert ours[name][1] == wd, name
    assert len({lr for lr, _ in ours.values()}) > 4  # the rule is not flat


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"presets \['B', 'S', 'T'\]"):
        SLaK('L')
    with pytest.raises(ValueError, match='deploy_form'):
        SLaK(TINY_ARCH, deploy_form='fused')
    with pytest.raises(ValueError, match='deploy_form'):
        DecomposedLargeKernelConv(4, 13, 5, deploy_form='shift')
    with pytest.raises(ValueError, match='must be smaller'):
        SLaK(dict(TINY_ARCH, small_kernel=7))
    with pytest.raises(ValueError, match='odd'):
        SLaK(dict(TINY_ARCH, large_kernels=[13, 11, 9, 8]))
    with pytest.raises(ValueError, match='needs a small_kernel'):
        DecomposedLargeKernelConv(4, 13, None)
    with pytest.raises(ValueError, match="no 'gpu' back end|'gpu'"):
        SLaK(TINY_ARCH, impl='gpu')
    with pytest.raises(ValueError, match='BatchNorm-family'):
        SLaK(TINY_ARCH, norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(ValueError, match='out of range'):
        SLaK(TINY_ARCH, out_indices=(4, ))
    layer = DecomposedLargeKernelConv(4, 7, 3)
    with pytest.raises(ValueError, match='deploy_form'):
        copy.deepcopy(layer).switch_to_deploy('fused')
