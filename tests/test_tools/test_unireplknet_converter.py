"""tools/model_converters/unireplknet_official.py: official ImageNet
checkpoints in every layout and form, fine-tuned official UperNet (mmseg
0.x) and Cascade Mask R-CNN (mmdet 2.x) checkpoints, fidelity against a
re-statement of the official forward, and strictness."""
import pytest
import torch

from mmreplk.models.backbones import UniRepLKNet
from mmreplk.utils import (build_model_from_config, load_config,
                           load_model_checkpoint)
from tests.helpers.official_checkpoint_layouts import save_model_layout
from tests.helpers.official_head_layouts import (
    mmdet2_cascade_mask_rcnn_heads, mmseg0_upernet_heads)
from tests.helpers.official_replknet_state import TINY_ARCH as REPLKNET_TINY
from tests.helpers.official_replknet_state import \
    official_state_dict as replknet_state_dict
from tests.helpers.official_unireplknet_state import (
    ARCHS, NUM_CLASSES, mmdet2_ema_buffers, official_features,
    official_finetuned_state_dict, official_state_dict)
from tests.helpers.reparam_checks import relative_max_diff
from tests.helpers.tools import load_tool

CONVERTER = 'tools/model_converters/unireplknet_official.py'
SEG_CONFIG = 'tests/configs/upernet_unireplknet-tiny_ade20k-synthetic.py'
DET_CONFIG = ('tests/configs/'
              'cascade_mask_rcnn_unireplknet-tiny_coco-synthetic.py')
# The tiny test configs' backbone, in the fixture builder's terms.
SEG_ARCH = dict(
    depths=[1, 1, 2, 1],
    dims=[16, 32, 64, 64],
    kernel_sizes=[[3], [13], [13, 3], [13]])
DET_ARCH = dict(
    depths=[1, 1, 1, 1],
    dims=[16, 32, 64, 64],
    kernel_sizes=[[3], [13], [13], [13]])

# The official features of the fixture backbone, per form (computed once).
OFFICIAL_FEATURES = {}


@pytest.fixture(scope='module')
def tool():
    return load_tool(CONVERTER)


def wrap(state, layout):
    """The official ways of storing the weights: bare (the released files
    as the README loads them), under ``model`` (``load_with_key``), the
    official training script's dict, and under ``state_dict``."""
    if layout == 'bare':
        return state
    if layout == 'model':
        return {'model': state}
    if layout == 'save_model':
        return save_model_layout(state)
    return {'state_dict': state, 'meta': {}}


@pytest.mark.parametrize('layout,deploy,pretraining',
                         [('bare', False, '1k'), ('model', True, '1k'),
                          ('save_model', False, '22k'),
                          ('state_dict', True, '22k')])
def test_imagenet_checkpoint_converts_and_computes_the_official_features(
        tool, tmp_path, layout, deploy, pretraining):
    # One backbone per form (the head does not change the features).
    src = official_state_dict(
        'A', deploy=deploy, num_classes=NUM_CLASSES[pretraining], seed=1)
    torch.save(wrap(src, layout), tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    assert tool.main([str(tmp_path / 'official.pth'), str(out)]) == 0
    converted = torch.load(out, weights_only=True)
    meta = converted['meta']
    assert (meta['arch'], meta['deploy']) == ('A', deploy)
    assert meta['dropped'] == [
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight'
    ]
    assert meta['initialised'] == [
        f'norm{i}.{p}' for i in range(4) for p in ('bias', 'weight')
    ]
    # A config's init_cfg=dict(type='Pretrained', checkpoint=OUT) loads it.
    model = UniRepLKNet(
        'A',
        deploy=deploy,
        impl='torch',
        init_cfg=dict(type='Pretrained', checkpoint=str(out)))
    model.init_weights()
    model.eval()
    loaded = model.state_dict()
    assert loaded.keys() == converted['state_dict'].keys()
    assert all(
        torch.equal(loaded[k], v) for k, v in converted['state_dict'].items())
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        if deploy not in OFFICIAL_FEATURES:
            OFFICIAL_FEATURES[deploy] = official_features(src, x, 'A')
        expected = OFFICIAL_FEATURES[deploy]
        assert relative_max_diff(expected, model(x)) <= 1e-5
        # A converted training form, re-parameterised by mmreplk, still
        # computes the official features.
        model.switch_to_deploy()
        assert relative_max_diff(expected, model(x)) <= 1e-5


@pytest.mark.parametrize('name', list(ARCHS))
@pytest.mark.parametrize('deploy', [False, True])
def test_arch_and_form_are_inferred(tool, name, deploy):
    converter = tool.UniRepLKNetConverter()
    state, dropped = converter.rename(
        official_state_dict(name, deploy=deploy, device='meta'), None)
    assert converter.infer_arch(state, None) == name
    assert tool.is_deploy_form(state) == deploy
    assert sorted(dropped) == [
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight'
    ]


def test_bad_checkpoints_are_named_and_nothing_is_written(
        tool, tmp_path, capsys):
    src = official_state_dict('A')
    torch.save(src, tmp_path / 'a.pth')
    out = tmp_path / 'out.pth'
    # --arch overrides the inferred arch: F's widths do not fit.
    assert tool.main([str(tmp_path / 'a.pth'), str(out), '--arch', 'F']) == 2
    assert 'shape mismatches' in capsys.readouterr().err
    broken = dict(src)
    del broken['stages.2.3.dwconv.dil_conv_k7_2.weight']
    broken['stages.2.3.dwconv.extra.weight'] = torch.zeros(1)
    torch.save(broken, tmp_path / 'broken.pth')
    assert tool.main([str(tmp_path / 'broken.pth'), str(out)]) == 2
    err = capsys.readouterr().err
    assert 'missing keys (1): stages.2.3.dwconv.dil_conv_k7_2.weight' in err
    assert 'unexpected keys (1): stages.2.3.dwconv.extra.weight' in err
    torch.save(replknet_state_dict(REPLKNET_TINY), tmp_path / 'replknet.pth')
    assert tool.main([str(tmp_path / 'replknet.pth'), str(out)]) == 2
    assert 'not a UniRepLKNet checkpoint' in capsys.readouterr().err
    torch.save(official_state_dict(SEG_ARCH), tmp_path / 'narrow.pth')
    assert tool.main([str(tmp_path / 'narrow.pth'), str(out)]) == 2
    assert 'match no UniRepLKNet arch' in capsys.readouterr().err
    assert not out.exists()


def mmcv1_checkpoint(state, classes):
    """What mmcv 1.x's save_checkpoint writes for an mmseg 0.x / mmdet 2.x
    runner (the optimizer left out)."""
    return dict(
        meta=dict(mmcv_version='1.5.0', CLASSES=classes, iter=160000),
        state_dict=state)


@pytest.mark.slow
@pytest.mark.parametrize('deploy', [False, True])
def test_finetuned_upernet_converts_for_its_config(tool, tmp_path, deploy):
    heads = mmseg0_upernet_heads([16, 32, 64, 64],
                                 channels=32,
                                 aux_channels=16)
    src = official_finetuned_state_dict(SEG_ARCH, heads, deploy=deploy, seed=4)
    torch.save(
        mmcv1_checkpoint(src, ('wall', 'building')), tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    argv = [str(tmp_path / 'official.pth'), str(out)]
    assert tool.main(argv) == 2 and not out.exists()  # needs --config
    assert tool.main(argv + ['--config', SEG_CONFIG]) == 0
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['deploy'] == deploy and meta['dropped'] == []
    cfg = load_config(SEG_CONFIG)
    cfg.model.backbone.deploy = deploy
    model = build_model_from_config(cfg).eval()
    load_model_checkpoint(model, str(out))  # strict, as tools/test.py
    state = model.state_dict()
    for key in ('decode_head.psp_modules.2.1.bn.running_var',
                'auxiliary_head.convs.0.conv.weight', 'backbone.norm2.weight',
                'backbone.stages.2.0.dwconv.'
                'lk_origin.weight'):
        assert torch.equal(state[key], src[key]), key
    backbone = {
        k[len('backbone.'):]: v
        for k, v in src.items() if k.startswith('backbone.')
    }
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert relative_max_diff(
            official_features(backbone, x, SEG_ARCH),
            model.backbone(x)) <= 1e-5


@pytest.mark.slow
def test_finetuned_cascade_mask_rcnn_converts_without_ema_buffers(
        tool, tmp_path):
    """mmdet 2.x's EMA hook leaves one ``ema_*`` buffer per entry (the raw
    weights; the model's names hold the averaged ones): dropped, listed."""
    heads = mmdet2_cascade_mask_rcnn_heads([16, 32, 64, 64])
    src = official_finetuned_state_dict(DET_ARCH, heads, seed=5)
    src.update(mmdet2_ema_buffers(src))
    torch.save(mmcv1_checkpoint(src, ('person', )), tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    assert tool.main(
        [str(tmp_path / 'official.pth'),
         str(out), '--config', DET_CONFIG]) == 0
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['dropped'] and all(
        k.startswith('ema_') for k in meta['dropped'])
    assert len(meta['dropped']) == len(src) // 2
    model = build_model_from_config(load_config(DET_CONFIG))
    load_model_checkpoint(model, str(out))
    state = model.state_dict()
    for key in ('roi_head.bbox_head.2.shared_convs.3.bn.running_mean',
                'roi_head.mask_head.1.upsample.weight',
                'rpn_head.rpn_reg.weight', 'neck.lateral_convs.0.conv.bias',
                'backbone.stages.3.0.dwconv.dil_bn_k3_5.running_var'):
        assert torch.equal(state[key], src[key]), key
