"""Shift-wise convolution and ShiftWiseNet: the layer against a test-side
re-statement of the official scatter formulation, both deploy forms, the
backbone's OpenMMLab options, layer-wise lr decay and the converter."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

import mmreplk
from mmreplk.models.backbones import ShiftWiseNet
from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.registry import MODELS
from tests.helpers.official_shiftwise_state import official_sw_tiny_state
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff
from tests.helpers.tools import load_tool

TINY_ARCH = dict(
    stage_blocks=[1, 1, 2, 1],
    channels=[16, 32, 64, 64],
    large_kernels=[13, 11, 9, 7])


def _add_shifted(dst, src, dh, dw):
    """dst[..., h + dh, w + dw] += src[..., h, w] where both are inside."""
    hs, ws = src.shape[-2:]
    hd, wd = dst.shape[-2:]
    h0, h1 = max(0, -dh), min(hs, hd - dh)
    w0, w1 = max(0, -dw), min(ws, wd - dw)
    if h0 < h1 and w0 < w1:
        dst[..., h0 + dh:h1 + dh, w0 + dw:w1 + dw] += src[..., h0:h1, w0:w1]


def official_formulation(layer, x, ghost_ratio, n_rep):
    """Eval-mode output written from the official description: numpy-seeded
    ghost channels, globally seeded shuffles, the CUDA kernel's scatter."""
    c = x.shape[1]
    small, big = layer.small_kernel, layer.large_kernel
    nk = math.ceil(big / small)
    num_rep = int(c * (1 - ghost_ratio)) // 2 * 2
    np.random.seed(123)
    ghost = sorted(np.random.choice(c, c - num_rep, replace=False).tolist())
    rep = sorted(set(range(c)) - set(ghost))
    padding = small - 1
    extra = padding - small // 2
    real_pad = [big // 2 - i * small - padding for i in range(nk)]
    with torch.random.fork_rng():
        torch.manual_seed(123)
        sh = [
            torch.cat([torch.randperm(nk) + i * nk for i in range(num_rep)])
            for _ in range(n_rep)
        ]
        sv = [
            torch.cat([torch.randperm(nk) + i * nk for i in range(num_rep)])
            for _ in range(n_rep)
        ]
        si = [
            torch.randint(0, nk, [num_rep]) + torch.arange(num_rep) * nk
            for _ in range(n_rep)
        ]
    offsets = torch.tensor(real_pad * num_rep)
    pad_h = [offsets[torch.sort(s)[1]] for s in sh]
    pad_v = [offsets[torch.sort(s)[1]] for s in sv]
    xr = x[:, rep]
    conv = sum(
        F.conv2d(xr, m.weight, padding=padding, groups=num_rep)
        for m in layer.LoRAs)
    b, _, h, w = x.shape
    outs = torch.zeros(3, b, num_rep, h, w, dtype=x.dtype)
    for pc in range(num_rep * nk):
        oc = pc // nk
        for ii in range(n_rep):
            _add_shifted(outs[0, :, oc], conv[:, pc], -extra,
                         int(pad_h[ii][pc]))
            _add_shifted(outs[1, :, oc], conv[:, pc], int(pad_v[ii][pc]),
                         -extra)
            if pc == int(si[ii][oc]):
                _add_shifted(outs[2, :, oc], conv[:, pc], -extra, -extra)
    bns = (layer.bn_lora1, layer.bn_lora2, layer.bn_small)
    y = sum(bn(o) for bn, o in zip(bns, outs)) + xr
    return torch.cat([y, x[:, ghost]], dim=1)


@pytest.mark.parametrize('channels,big,small,n_rep', [(10, 13, 3, 4),
                                                      (12, 11, 5, 2)])
def test_layer_matches_official_formulation(channels, big, small, n_rep):
    torch.manual_seed(0)
    layer = randomise_bn(
        ShiftWiseConv2d(channels, big, small, n_rep=n_rep,
                        impl='torch')).eval()
    x = torch.randn(2, channels, 9, 12)
    with torch.no_grad():
        expected = official_formulation(layer, x, 0.23, n_rep)
        actual = layer(x)
        triton = copy.deepcopy(layer)
        triton.impl = 'triton'
        via_triton = triton(x)
    assert relative_max_diff(expected, actual) <= 1e-5
    assert relative_max_diff(expected, via_triton) <= 1e-5


def test_tables_do_not_touch_the_global_rng():
    # Only the two small convs' initialisation draws from the global RNG;
    # the official seeds are replayed on private generators.
    torch.manual_seed(5)
    ShiftWiseConv2d(16, 13, 3)  # 12 shift-wise channels, nk = 5
    after_layer = torch.random.get_rng_state()
    torch.manual_seed(5)
    for _ in range(2):
        torch.nn.Conv2d(12, 12 * 5, 3, groups=12, bias=False)
    assert torch.equal(after_layer, torch.random.get_rng_state())


@pytest.mark.parametrize('form', ['shift', 'large_kernel'])
def test_deploy_forms_equal_training_form(form):
    torch.manual_seed(0)
    layer = randomise_bn(ShiftWiseConv2d(14, 15, 3, impl='torch')).eval()
    x = torch.randn(2, 14, 11, 10)
    with torch.no_grad():
        expected = layer(x)
        layer.switch_to_deploy(form)
        assert relative_max_diff(expected, layer(x)) <= 1e-5
    keys = set(layer.state_dict())
    assert 'reparam_bias' in keys and not any('LoRAs' in k for k in keys)
    if form == 'large_kernel':
        assert layer.reparam_kernel.shape[-1] == \
            layer.equivalent_kernel_size
    built = ShiftWiseConv2d(
        14, 15, 3, impl='torch', deploy=True, deploy_form=form).eval()
    built.load_state_dict(layer.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_max_diff(expected, built(x)) <= 1e-5


def test_backbone_shapes_options_and_reparam():
    model = ShiftWiseNet('tiny').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [80, 160, 320, 640]
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert [len(s) for s in model.stages] == [3, 3, 18, 3]
    assert model.stages[2][0].large_kernel.large_kernel == 47
    torch.manual_seed(0)
    model = randomise_bn(
        ShiftWiseNet(
            TINY_ARCH,
            out_indices=(1, 3),
            drop_path_rate=0.2,
            layer_scale_init_value=1.0)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        mmreplk.reparameterize_model(model)
        assert relative_max_diff(expected, model(x)) <= 1e-5
    assert len(expected) == 2
    frozen = MODELS.build(
        dict(
            type='ShiftWiseNet',
            arch=TINY_ARCH,
            frozen_stages=2,
            norm_eval=True,
            impl='triton'))
    # The official initialisation is applied by init_weights, not __init__.
    linears = [
        m for m in frozen.modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
    ]
    assert any(m.bias is not None and m.bias.any() for m in linears)
    frozen.init_weights()
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert abs(weights.std().item() - 0.02) < 1e-3
    assert all(m.bias is None or not m.bias.any() for m in linears)
    frozen.train()
    assert not any(p.requires_grad for p in frozen.stages[1].parameters())
    assert all(p.requires_grad for p in frozen.stages[2].parameters())
    assert all(not m.training for m in frozen.modules()
               if isinstance(m, _BatchNorm))
    sync = ShiftWiseNet(TINY_ARCH, norm_cfg=dict(type='SyncBN'))
    norms = [m for m in sync.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)


def test_layer_decay_follows_official_layer_ids():
    from mmengine.optim import build_optim_wrapper

    class Wrapper(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = ShiftWiseNet(
                dict(TINY_ARCH, stage_blocks=[1, 1, 6, 1]))
            self.head = torch.nn.Linear(4, 4)

    model = Wrapper()
    optim = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            constructor='LayerDecayOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
            paramwise_cfg=dict(decay_rate=0.5, num_layers=6)))
    lr_of = {id(p): g['lr'] for g in optim.param_groups for p in g['params']}
    wd_of = {
        id(p): g['weight_decay']
        for g in optim.param_groups
        for p in g['params']
    }
    bb = model.backbone
    # stem: id 0 -> 0.5 ** 7; stage 2 block 4: id 3 + 4 // 3 = 4 -> 0.5 ** 3
    assert lr_of[id(bb.downsample_layers[0][0].weight)] == 0.5**7
    assert lr_of[id(bb.stages[2][4].pwconv1[1].weight)] == 0.5**3
    assert lr_of[id(bb.stages[3][0].gamma)] == 0.5**1
    assert lr_of[id(model.head.weight)] == 1.0
    assert wd_of[id(bb.stages[0][0].gamma)] == 0.0  # 1-D: no decay
    assert wd_of[id(model.head.weight)] == 0.05


def test_bad_arguments():
    with pytest.raises(ValueError, match='odd'):
        ShiftWiseConv2d(16, 50, 3)
    with pytest.raises(ValueError, match='smaller'):
        ShiftWiseConv2d(16, 5, 7)
    with pytest.raises(ValueError, match='deploy_form'):
        ShiftWiseConv2d(16, 13, 3, deploy_form='fused')
    with pytest.raises(ValueError, match='shift-wise channels'):
        ShiftWiseConv2d(2, 13, 3)
    with pytest.raises(ValueError, match=r"presets \['base', 'small'"):
        ShiftWiseNet('huge')
    # One impl feeds add_shift and depthwise_conv2d: only shared names.
    for impl in ('fft', 'cpu'):
        with pytest.raises(
                ValueError,
                match=f"add_shift has no '{impl}' "
                r"back end .*use one of \('auto', 'triton', "
                r"'torch'\)"):
            ShiftWiseNet(TINY_ARCH, impl=impl)
        # The layer checks it too: it can be used without the backbone.
        with pytest.raises(
                ValueError,
                match=f"ShiftWiseConv2d: its impl|"
                f"for ShiftWiseConv2d.*no '{impl}'"):
            ShiftWiseConv2d(16, 13, 3, impl=impl)
    layer = ShiftWiseConv2d(16, 13, 3)
    with pytest.raises(ValueError, match='16 input channels'):
        layer(torch.randn(1, 8, 8, 8))


@pytest.mark.parametrize('merged', [False, True])
def test_converter_on_official_layout(merged, tmp_path):
    state = official_sw_tiny_state(merged)
    src = tmp_path / 'checkpoint-best.pth'
    torch.save(dict(model=state, epoch=299), src)
    dst = tmp_path / 'sw.pth'
    tool = load_tool('tools/model_converters/shiftwise_official.py')
    assert tool.main([str(src), str(dst)]) == 0
    converted, meta = torch.load(dst, weights_only=True).values()
    assert meta['arch'] == 'tiny'
    assert meta['dropped'] == [
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight'
    ]
    if merged:
        ShiftWiseNet('tiny').load_state_dict(converted, strict=True)
    else:  # the converted checkpoint as init_cfg wins over the official init
        model = ShiftWiseNet(
            'tiny', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
        model.init_weights()
        loaded = model.state_dict()
        assert loaded.keys() == converted.keys()
        assert all(torch.equal(loaded[k], v) for k, v in converted.items())
    key = 'stages.1.2.large_kernel.LoRAs.0.weight'
    if merged:
        assert torch.equal(converted[key],
                           state['stages.1.2.large_kernel.LoRA.weight'])
        assert not converted[key.replace('LoRAs.0', 'LoRAs.1')].any()
    else:
        assert torch.equal(converted[key], state[key])


def test_converter_rejects_other_architecture(tmp_path, capsys):
    state = official_sw_tiny_state()
    src = tmp_path / 'checkpoint-best.pth'
    torch.save(dict(model=state), src)
    dst = tmp_path / 'sw.pth'
    tool = load_tool('tools/model_converters/shiftwise_official.py')
    assert tool.main([str(src), str(dst), '--arch', 'small']) == 2
    assert 'shape mismatches' in capsys.readouterr().err
    assert not dst.exists()
