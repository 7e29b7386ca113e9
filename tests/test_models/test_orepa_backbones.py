"""OREPAResNet / OREPARepVGG: official layout, OpenMMLab options,
re-parameterisation of whole backbones, converter fidelity."""
import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmreplk
from mmreplk.models.backbones import OREPARepVGG, OREPAResNet
from mmreplk.models.layers import (DBB, OREPA, ConvBN, OREPA_1x1,
                                   OREPA_LargeConv, RepModule, RepVGGBlock,
                                   RepVGGBlock_OREPA)
from mmreplk.models.reparam import count_rep_modules
from tests.helpers.official_orepa_state import (official_orepa_resnet_shapes,
                                                random_state)
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff
from tests.helpers.tools import load_tool

UNIT_OF = {  # block_type -> (7x7 stem, 3x3, bottleneck 1x1)
    'OREPA': (OREPA_LargeConv, OREPA, OREPA_1x1),
    'DBB': (ConvBN, DBB, ConvBN),
    'RepVGG': (ConvBN, RepVGGBlock, ConvBN),
    'Conv': (ConvBN, ConvBN, ConvBN),
}


@pytest.mark.parametrize('block_type', list(UNIT_OF))
def test_resnet50_units_follow_block_type(block_type):
    model = OREPAResNet(depth=50, block_type=block_type)
    stem, kxk, pointwise = UNIT_OF[block_type]
    block = model.stage2[0]
    assert type(model.stage0.conv1) is stem
    assert type(block.conv2) is kxk and type(block.conv1) is pointwise
    assert type(block.shortcut) is pointwise  # official: 1x1 unit choice
    # Basic blocks always use a plain conv-BN shortcut.
    basic = OREPAResNet(depth=18, block_type=block_type)
    assert type(basic.stage2[0].shortcut) is ConvBN
    assert type(basic.stage2[0].conv1) is kxk


@pytest.mark.parametrize('arch,channels', [
    ('18', [64, 128, 256, 512]),
    ('18-2x', [128, 256, 512, 1024]),
    ('resnext50_32x4d', [256, 512, 1024, 2048]),
])
def test_resnet_archs_output_shapes(arch, channels):
    model = OREPAResNet(arch=arch, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == channels == model.out_channels
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    if arch.startswith('resnext'):
        assert model.stage1[0].conv2.groups == 32


@pytest.mark.parametrize('depth,block_type', [(18, 'OREPA'), (50, 'OREPA'),
                                              (18, 'DBB'), (50, 'RepVGG')])
def test_resnet_reparameterisation(depth, block_type):
    torch.manual_seed(0)
    model = randomise_bn(OREPAResNet(depth=depth,
                                     block_type=block_type)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        n_rep = count_rep_modules(model)
        mmreplk.reparameterize_model(model)
        actual = model(x)
    assert n_rep > 0 and count_rep_modules(model, deployed=True) == n_rep
    assert model.deploy
    assert relative_max_diff(expected, actual) <= 1e-4
    # A deploy-form backbone loads the converted weights strictly.
    deploy = OREPAResNet(
        depth=depth, block_type=block_type, deploy=True).eval()
    deploy.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_max_diff(expected, deploy(x)) <= 1e-4


@pytest.mark.parametrize('block_type', ['OREPA_VGG', 'RepVGG', 'Conv'])
def test_repvgg_a0(block_type):
    torch.manual_seed(0)
    model = randomise_bn(OREPARepVGG('A0', block_type=block_type)).eval()
    unit = dict(
        OREPA_VGG=RepVGGBlock_OREPA, RepVGG=RepVGGBlock,
        Conv=ConvBN)[block_type]
    assert type(model.stage1[0]) is unit and len(model.stage3) == 14
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        assert [o.shape[1] for o in expected] == [48, 96, 192, 1280]
        mmreplk.reparameterize_model(model)
        assert relative_max_diff(expected, model(x)) <= 1e-4


def test_frozen_stages_and_norm_eval():
    model = OREPAResNet(depth=18, frozen_stages=1, norm_eval=True)
    model.train()
    for name in ('stage0', 'stage1'):
        module = getattr(model, name)
        assert not any(p.requires_grad for p in module.parameters())
        assert not module.training
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert model.stage2.training
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))


def test_norm_cfg_reaches_every_unit():
    model = OREPAResNet(
        depth=50,
        block_type='OREPA',
        norm_cfg=dict(type='SyncBN', requires_grad=True))
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    dbb = OREPAResNet(
        depth=18, block_type='DBB', norm_cfg=dict(type='BN', momentum=0.3))
    norms = [m for m in dbb.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(m.momentum == 0.3 for m in norms)


def test_with_cp_same_output_and_grads():
    torch.manual_seed(0)
    # Batched kernel generation happens before the blocks run, so blocks
    # re-run by with_cp need each unit's own generation.
    model = OREPAResNet(depth=18, kernel_gen='eager')
    model_cp = copy.deepcopy(model)
    model_cp.with_cp = True
    for m in model_cp.modules():
        if hasattr(m, 'with_cp'):
            m.with_cp = True
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    sum(o.sum() for o in model(x)).backward()
    grad = model.stage1[0].conv1.vector.grad.clone()
    sum(o.sum() for o in model_cp(x)).backward()
    assert torch.allclose(
        model_cp.stage1[0].conv1.vector.grad, grad, rtol=1e-4, atol=1e-6)
    assert OREPAResNet(depth=18, with_cp=True).kernel_gen == 'eager'
    model_cp.kernel_gen = 'batched'
    with pytest.raises(ValueError, match='with_cp=True'):
        model_cp(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match='block_type'):
        OREPAResNet(depth=50, block_type='ACNet')
    with pytest.raises(ValueError, match='depth'):
        OREPAResNet(depth=42)
    with pytest.raises(ValueError, match='exactly one'):
        OREPAResNet(depth=50, arch='50')
    with pytest.raises(ValueError, match='arch'):
        OREPARepVGG('Z9')
    with pytest.raises(ValueError, match='out_indices'):
        OREPAResNet(depth=18, out_indices=(4, ))
    with pytest.raises(ValueError, match='block_type'):
        OREPARepVGG('A0', block_type='DBB')


@pytest.mark.parametrize('depth', [18, 50])
def test_converter_on_official_layout(depth, tmp_path):
    shapes = official_orepa_resnet_shapes(depth)
    src = tmp_path / 'official.pth.tar'
    torch.save(
        dict(
            epoch=120, arch=f'ResNet-{depth}',
            state_dict=random_state(shapes)), src)
    dst = tmp_path / 'converted.pth'
    tool = load_tool('tools/model_converters/orepa_official.py')
    assert tool.main([str(src), str(dst)]) == 0
    converted, meta = torch.load(dst, weights_only=True).values()
    assert (meta['arch'], meta['block_type']) == (f'ResNet-{depth}', 'OREPA')
    assert meta['dropped'] == ['linear.bias', 'linear.weight']
    model = OREPAResNet(depth=depth, block_type='OREPA')
    model.load_state_dict(converted, strict=True)
    original = random_state(shapes, prefix='')
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key


def test_converter_rejects_other_architecture(tmp_path, capsys):
    shapes = official_orepa_resnet_shapes(50)
    src = tmp_path / 'official.pth.tar'
    torch.save(dict(state_dict=random_state(shapes)), src)
    dst = tmp_path / 'converted.pth'
    tool = load_tool('tools/model_converters/orepa_official.py')
    assert tool.main([str(src), str(dst), '--arch', 'ResNet-101']) == 2
    err = capsys.readouterr().err
    assert 'missing keys' in err and 'ResNet-101' in err and \
        not dst.exists()
    assert not dst.exists()


def test_every_unit_is_a_rep_module():
    model = OREPAResNet(depth=50, block_type='OREPA')
    units = [
        m for m in model.modules()
        if isinstance(m, (OREPA, OREPA_1x1, OREPA_LargeConv, ConvBN))
    ]
    assert units and all(isinstance(m, RepModule) for m in units)


def test_recompute_kernel_same_gradients_less_memory():
    from mmreplk.analysis import SavedTensorBytes
    torch.manual_seed(0)
    stored = OREPAResNet(depth=18, recompute_kernel=False, out_indices=(3, ))
    recomputed = copy.deepcopy(stored)
    for m in recomputed.modules():
        if hasattr(m, 'recompute_kernel'):
            m.recompute_kernel = True
    x = torch.randn(2, 3, 32, 32)
    saved = []
    for model in (stored, recomputed):
        with SavedTensorBytes(model.parameters()) as counter:
            loss = model(x)[0].pow(2).mean()
        loss.backward()
        saved.append(counter.bytes)
    for (name, a), b in zip(stored.named_parameters(),
                            recomputed.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-8), name
    # Kernel intermediates of the wide stages dominate at this input size.
    assert saved[1] < 0.2 * saved[0]
    plain = OREPAResNet(depth=18, block_type='OREPA', recompute_kernel=False)
    assert not any(
        getattr(m, 'recompute_kernel', False) for m in plain.modules())
