"""UniRepLKNet: the presets against the official module tree, the deploy
form of every preset, small feature maps in fp32 and bf16, the OpenMMLab
options, the large-kernel op and the official layer-wise lr decay."""
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmreplk
from mmreplk.models.backbones import UniRepLKNet
from mmreplk.models.backbones.unireplknet import UniRepLKNetBlock
from mmreplk.models.layers import GRN, DilatedReparamBlock
from mmreplk.models.layers import large_kernel as large_kernel_module
from tests.helpers.official_unireplknet_state import (ARCHS,
                                                      official_kernel_sizes,
                                                      official_state_dict)
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff

# Counted on the official unireplknet.py (classifier form: with ``norm`` and
# ``head``): state-dict keys of the training / deploy form, and parameters
# (M) of the dense backbone in training form.
OFFICIAL_KEYS = {
    'A': (626, 156),
    'F': (626, 156),
    'P': (626, 156),
    'N': (738, 178),
    'T': (1116, 321),
    'S': (1305, 420),
    'B': (1305, 420),
    'L': (1305, 420),
    'XL': (1305, 420),
}
OFFICIAL_DENSE_PARAMS_M = dict(
    A=4.33,
    F=6.11,
    P=10.57,
    N=18.18,
    T=31.05,
    S=55.69,
    B=98.07,
    L=218.54,
    XL=386.65)
# Real kernel sizes (3, 13 and a (13, 3) stage), few narrow blocks.
TINY = dict(
    stage_blocks=[1, 1, 2, 1],
    channels=[16, 32, 64, 64],
    kernel_sizes=[[3], [13], [13, 3], [13]])


def randomise(model, seed=0):
    """Non-trivial BN statistics, layer scales and GRN parameters (at their
    initial values the residual branches vanish and folding is trivial)."""
    randomise_bn(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, UniRepLKNetBlock) and \
                isinstance(m.gamma, nn.Parameter):
            m.gamma.data.copy_(torch.rand(m.gamma.shape, generator=gen) + .5)
        if isinstance(m, GRN):
            m.gamma.data.copy_(torch.randn(m.gamma.shape, generator=gen) * .5)
            if m.beta is not None:
                m.beta.data.copy_(
                    torch.randn(m.beta.shape, generator=gen) * .5)
    return model


@pytest.mark.parametrize('name', list(ARCHS))
def test_preset_has_the_official_module_tree(name):
    """Every preset (both forms) has exactly the keys and shapes of the
    official dense backbone, written out from the official module tree, and
    its parameter count (built on the meta device: no memory, no time)."""
    depths, width = ARCHS[name]
    arch = UniRepLKNet.parse_arch(name)
    assert arch['stage_blocks'] == list(depths)
    assert arch['channels'] == [width, 2 * width, 4 * width, 8 * width]
    assert arch['kernel_sizes'] == official_kernel_sizes(depths)
    for deploy, official_count in zip((False, True), OFFICIAL_KEYS[name]):
        official = official_state_dict(
            name, deploy=deploy, dense=True, device='meta')
        # dense = classifier form - norm.{weight,bias}, head.{weight,bias}
        # + norm{0..3}.{weight,bias}
        assert len(official) == official_count + 4
        with torch.device('meta'):
            model = UniRepLKNet(name, deploy=deploy)
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert ours == {k: tuple(v.shape) for k, v in official.items()}
        if not deploy:
            params = sum(p.numel() for p in model.parameters()) / 1e6
            assert round(params, 2) == OFFICIAL_DENSE_PARAMS_M[name]


def reduced(name):
    """The preset with each stage cut to one period of its kernel pattern
    (e.g. S: [3], [13], [13, 3, 3], [13]), keeping its channels."""
    arch = UniRepLKNet.parse_arch(name)
    kernels = []
    for stage in arch['kernel_sizes']:
        period = next(
            p for p in range(1,
                             len(stage) + 1)
            if stage == (stage[:p] * len(stage))[:len(stage)])
        kernels.append(stage[:period])
    return dict(
        stage_blocks=[len(k) for k in kernels],
        channels=arch['channels'],
        kernel_sizes=kernels)


@pytest.mark.parametrize('name', list(ARCHS))
def test_every_preset_deploys_to_the_same_function(name):
    """fp32, random BN statistics, layer scales and GRN parameters, on the
    preset's channels with one kernel period per stage; the deploy state
    dict loads strictly into a deploy=True backbone (built on the meta
    device: its keys and shapes are what is checked)."""
    torch.manual_seed(0)
    arch = reduced(name)
    model = randomise(UniRepLKNet(arch, impl='torch')).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        mmreplk.reparameterize_model(model)
        assert relative_max_diff(expected, model(x)) <= 1e-4
    assert model.deploy
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    with torch.device('meta'):
        built = UniRepLKNet(arch, deploy=True)
    built.load_state_dict(model.state_dict(), strict=True)
    # switch_to_deploy twice is a no-op.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.switch_to_deploy()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_deploy_form_built_directly_computes_the_folded_function():
    torch.manual_seed(0)
    model = randomise(UniRepLKNet(TINY, impl='torch')).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        built = UniRepLKNet(TINY, impl='torch', deploy=True).eval()
        built.load_state_dict(
            mmreplk.reparameterize_model(model).state_dict(), strict=True)
        assert relative_max_diff(expected, built(x)) <= 1e-4


def test_maps_smaller_than_the_kernel_fp32():
    """384x128: stage 3 is 24x8 and stage 4 12x4, smaller than the 13x13
    kernels; every back end gives finite outputs equal to F.conv2d's."""
    torch.manual_seed(0)
    ref = randomise(UniRepLKNet(TINY, impl='torch')).eval()
    x = torch.randn(1, 3, 384, 128)
    with torch.no_grad():
        expected = ref(x)
    assert [tuple(o.shape[2:]) for o in expected] == [(96, 32), (48, 16),
                                                      (24, 8), (12, 4)]
    for impl in ('auto', 'cpu', 'fft'):
        model = UniRepLKNet(TINY, impl=impl).eval()
        model.load_state_dict(ref.state_dict())
        with torch.no_grad():
            outs = model(x)
        assert all(torch.isfinite(o).all() for o in outs), impl
        assert relative_max_diff(expected, outs) <= 1e-4, impl


def test_maps_smaller_than_the_kernel_bf16_autocast():
    torch.manual_seed(0)
    model = randomise(UniRepLKNet(TINY, impl='auto'))
    block_dtypes = []
    for layer in (model.stages[3][0].dwconv.lk_origin,
                  model.stages[3][0].pwconv1):
        layer.register_forward_hook(
            lambda m, i, o: block_dtypes.append(o.dtype))
    x = torch.randn(2, 3, 384, 128, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model.train()(x)
        loss = sum(o.float().square().mean() for o in outs)
    loss.backward()
    # The large-kernel op and the Linears run in bf16 (the norms in fp32,
    # autocast's rule).
    assert block_dtypes == [torch.bfloat16] * 2
    assert all(torch.isfinite(o.float()).all() for o in outs)
    assert torch.isfinite(x.grad).all()
    grad = model.stages[1][0].dwconv.lk_origin.weight.grad
    assert grad is not None and torch.isfinite(grad).all()
    model.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        mmreplk.reparameterize_model(model)
        outs = model(x)
    assert all(torch.isfinite(o.float()).all() for o in outs)
    assert block_dtypes[-2:] == [torch.bfloat16] * 2


def test_large_kernels_run_through_the_op(monkeypatch):
    """Every K >= 7 conv goes through mmreplk.ops.depthwise_conv2d with the
    backbone's impl, in both forms; the 3x3 blocks do not."""
    calls = []
    real = large_kernel_module.depthwise_conv2d

    def spy(x, weight, *args, **kwargs):
        calls.append((weight.shape[-1], kwargs['impl']))
        return real(x, weight, *args, **kwargs)

    monkeypatch.setattr(large_kernel_module, 'depthwise_conv2d', spy)
    model = UniRepLKNet(TINY, impl='cpu').eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
        assert calls == [(13, 'cpu')] * 3
        calls.clear()
        mmreplk.reparameterize_model(model)
        model(torch.randn(1, 3, 64, 64))
    assert calls == [(13, 'cpu')] * 3
    assert isinstance(model.stages[0][0].dwconv, nn.Conv2d)


def test_options():
    model = UniRepLKNet(TINY, out_indices=(1, -1)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == model.out_channels == [32, 64]
    assert not hasattr(model, 'norm0') and hasattr(model, 'norm3')
    model = UniRepLKNet(TINY, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = [
        model.downsample_layers[0], model.stages[0],
        model.downsample_layers[1], model.stages[1]
    ]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    sync = UniRepLKNet(TINY, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in sync.modules() if isinstance(m, _BatchNorm)]
    # block norm + FFN norm per block, 6 BNs per K=13 Dilated Reparam Block
    assert len(norms) == 5 * 2 + 3 * 6
    assert all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    model = UniRepLKNet(TINY, drop_path_rate=0.4, layer_scale_init_value=0)
    rates = [
        b.drop_path.drop_prob for s in model.stages for b in s
        if hasattr(b.drop_path, 'drop_prob')
    ]
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert all(b.gamma is None for s in model.stages for b in s)


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    ref = randomise(UniRepLKNet(TINY, impl='torch'))
    cp_model = UniRepLKNet(TINY, impl='torch', with_cp=True)
    cp_model.load_state_dict(ref.state_dict())
    grads = []
    for model in (ref, cp_model):
        x = torch.randn(
            2, 3, 32, 32,
            generator=torch.Generator().manual_seed(1)).requires_grad_()
        sum(o.square().sum() for o in model.train()(x)).backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(arch='M'), ValueError,
     r"presets \['A', 'B', 'F', 'L', 'N', 'P', 'S'"),
    (dict(arch=dict(stage_blocks=[1, 1, 1, 1], channels=[8] * 4)), ValueError,
     'official default kernel sizes only'),
    (dict(arch=dict(TINY, kernel_sizes=[[3], [13], [13], [13]])), ValueError,
     'one kernel size per block'),
    (dict(arch=dict(TINY, kernel_sizes=[[3], [19], [13, 3], [13]])),
     ValueError, r'one of \(0, 3, 5, 7, 9, 11, 13, 15, 17\)'),
    (dict(arch=dict(TINY, kernel_sizes=[[1], [13], [13, 3], [13]])),
     ValueError, 'got 1'),
    (dict(arch=dict(TINY, depths=[1, 1, 1, 1])), ValueError,
     r"unknown keys \['depths'\]"),
    (dict(arch=TINY, impl='cutlass'), ValueError, 'Unknown impl'),
    (dict(arch=TINY, norm_cfg=dict(
        type='GN', num_groups=4)), ValueError, 'BatchNorm-family'),
    (dict(arch=TINY, out_indices=(4, )), ValueError, 'out of range'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        UniRepLKNet(**kwargs)


def test_dilated_reparam_block_bad_arguments():
    with pytest.raises(ValueError, match=r'one of \[5, 7, 9, 11, 13, 15'):
        DilatedReparamBlock(8, 19)
    with pytest.raises(ValueError, match='positive int'):
        DilatedReparamBlock(0, 13)


def test_layer_decay_follows_the_official_layer_ids():
    """paramwise_cfg num_layers M: lr scale decay ** (M + 1 - id) with the
    official ids; GRN parameters (4-D) keep weight decay, the layer scale
    (1-D) does not; too small an M is refused."""
    from mmengine.optim import build_optim_wrapper

    class Segmentor(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = UniRepLKNet(
                dict(
                    stage_blocks=[1, 1, 9, 1],
                    channels=[8, 16, 32, 32],
                    kernel_sizes=[[3], [7], [7, 3, 3] * 3, [7]]))
            self.decode_head = nn.Linear(4, 4)

    def build(model, num_layers, decay_rate=0.5):
        return build_optim_wrapper(
            model,
            dict(
                type='OptimWrapper',
                constructor='LayerDecayOptimWrapperConstructor',
                optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
                paramwise_cfg=dict(
                    decay_rate=decay_rate, num_layers=num_layers)))

    model = Segmentor()
    optim = build(model, num_layers=6)
    lr = {id(p): g['lr'] for g in optim.param_groups for p in g['params']}
    wd = {
        id(p): g['weight_decay']
        for g in optim.param_groups
        for p in g['params']
    }
    bb = model.backbone
    # stem 0, stage 0 1, ds 1 / stage 1 2, ds 2 3, stage 2 block j
    # 3 + j // 3, ds 3 / stage 3 M = 6, output norms and heads M + 1.
    expected = {
        bb.downsample_layers[0][0].weight: 7,
        bb.stages[0][0].pwconv1[1].weight: 6,
        bb.downsample_layers[1][0].weight: 5,
        bb.stages[1][0].dwconv.dil_conv_k5_1.weight: 5,
        bb.downsample_layers[2][0].weight: 4,
        bb.stages[2][2].se.up.weight: 4,
        bb.stages[2][3].dwconv.lk_origin.weight: 3,
        bb.stages[2][8].pwconv2[0].weight: 2,
        bb.downsample_layers[3][0].weight: 1,
        bb.stages[3][0].act[1].gamma: 1,
        bb.norm0.weight: 0,
        model.decode_head.weight: 0,
    }
    for param, exponent in expected.items():
        assert lr[id(param)] == 0.5**exponent
    assert wd[id(bb.stages[2][0].act[1].gamma)] == 0.05
    assert wd[id(bb.stages[2][0].act[1].beta)] == 0.05
    assert wd[id(bb.stages[2][0].gamma)] == 0.0
    assert wd[id(bb.stages[2][0].pwconv1[1].bias)] == 0.0
    # Stage-2 block 8 has id 5: num_layers 5 would give it stage 3's id.
    with pytest.raises(ValueError, match='num_layers >= 6'):
        build(Segmentor(), num_layers=5)
