"""tools/model_converters/replknet_official.py on the shared converter
driver: ImageNet and mmpretrain checkpoints, fine-tuned official UperNet
and Cascade Mask R-CNN checkpoints, fidelity and strictness."""
import pytest
import torch

from mmreplk.models.backbones import RepLKNet
from mmreplk.utils import (CheckpointMismatchError, build_model_from_config,
                           check_against_model, load_config,
                           load_model_checkpoint)
from tests.helpers.official_checkpoint_layouts import (old_head_keys,
                                                       save_model_layout)
from tests.helpers.official_replknet_state import (
    TINY_ARCH, TINY_DET_ARCH, mmpretrain_state_dict,
    official_finetuned_state_dict, official_state_dict)
from tests.helpers.tools import load_tool

CONVERTER = 'tools/model_converters/replknet_official.py'
SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


@pytest.fixture(scope='module')
def tool():
    return load_tool(CONVERTER)


@pytest.fixture(scope='module')
def converter(tool):
    return tool.RepLKNetConverter()


def test_official_checkpoint_converts_and_loads_strictly(
        tool, tmp_path, capsys):
    """A checkpoint exactly as the official ``save_model`` writes it (model,
    optimizer, epoch, scaler and an argparse.Namespace of the arguments)."""
    src = official_state_dict('31B')
    torch.save(save_model_layout(src), tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    assert tool.main([str(tmp_path / 'official.pth'), str(out)]) == 0
    assert "RepLKNet-31B; dropped 7 keys the dense backbone does not have " \
        "['head', 'norm']" in capsys.readouterr().out
    converted = torch.load(out, weights_only=True)
    assert converted['meta']['arch'] == '31B'
    model = RepLKNet(arch='31B')
    model.load_state_dict(converted['state_dict'], strict=True)
    # Values land where they belong.
    for got, key in (
        (model.stages[2].blocks[4].large_kernel.large_conv.conv.weight,
         'stages.2.blocks.4.large_kernel.lkb_origin.conv.weight'),
        (model.stages[1].blocks[1].pre_norm.running_var,
         'stages.1.blocks.1.preffn_bn.running_var'),
        (model.transitions[2][1].bn.weight, 'transitions.2.1.bn.weight'),
    ):
        torch.testing.assert_close(got, src[key], rtol=0, atol=0)


def test_converted_model_matches_official_formula(converter):
    """The converted backbone computes the official RepLK block: BN ->
    1x1 conv-BN-ReLU -> (KxK conv-BN + 5x5 conv-BN) -> ReLU -> 1x1 conv-BN,
    plus the shortcut; checked by hand on stage 3's first block."""
    src = official_state_dict('31B')
    state, _ = converter.rename(src, None)
    model = RepLKNet(arch='31B', drop_path_rate=0.0).eval()
    model.load_state_dict(state, strict=True)
    F = torch.nn.functional

    def bn(x, p):
        return F.batch_norm(x, src[p + 'running_mean'], src[p + 'running_var'],
                            src[p + 'weight'], src[p + 'bias'], False, 0.0,
                            1e-5)

    def conv_bn(x, p, groups=1):
        w = src[p + 'conv.weight']
        return bn(
            F.conv2d(x, w, padding=w.shape[-1] // 2, groups=groups), p + 'bn.')

    p = 'stages.3.blocks.0.'
    x = torch.randn(1, 1024, 8, 8)
    out = F.relu(conv_bn(bn(x, p + 'prelkb_bn.'), p + 'pw1.'))
    out = F.relu(
        conv_bn(out, p + 'large_kernel.lkb_origin.', 1024) +
        conv_bn(out, p + 'large_kernel.small_conv.', 1024))
    expected = x + conv_bn(out, p + 'pw2.')
    with torch.no_grad():
        got = model.stages[3].blocks[0](x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_mmpretrain_checkpoint_converts(tool, tmp_path, capsys):
    torch.save(mmpretrain_state_dict('31B'), tmp_path / 'mmpretrain.pth')
    out = tmp_path / 'out.pth'
    assert tool.main([str(tmp_path / 'mmpretrain.pth'), str(out)]) == 0
    assert '0 keys no ImageNet checkpoint has' in capsys.readouterr().out
    state = torch.load(out, weights_only=True)['state_dict']
    assert 'stages.3.norm.weight' not in state  # the classifier's norm
    check_against_model(state, RepLKNet(arch='31B'))


@pytest.mark.slow
def test_xl_gets_fresh_output_norms_and_deploy_form_converts(converter):
    state, dropped = converter.rename(official_state_dict('XL'), None)
    model = RepLKNet(arch='XL')
    new = converter.reconcile(state, dropped, model)
    assert sorted({k.rsplit('.', 1)[0]
                   for k in new}) == [f'stages.{i}.norm' for i in range(4)]
    assert torch.all(state['stages.0.norm.running_var'] == 1)
    check_against_model(state, model)
    merged, _ = converter.rename(official_state_dict('31B', merged=True), None)
    model, meta = converter.build_backbone('31B', merged, None)
    assert meta == dict(deploy=True)
    check_against_model(merged, model)


def test_mismatched_keys_are_named(tool, tmp_path, capsys):
    src = official_state_dict('31B')
    del src['stages.0.blocks.0.pw1.conv.weight']
    src['stages.0.blocks.0.extra_branch.weight'] = torch.zeros(1)
    torch.save(src, tmp_path / 'broken.pth')
    out = tmp_path / 'out.pth'
    assert tool.main([str(tmp_path / 'broken.pth'), str(out)]) == 2
    err = capsys.readouterr().err
    assert 'missing keys (1): stages.0.blocks.0.pw1.conv.weight' in err
    assert 'unexpected keys (1): stages.0.blocks.0.extra_branch.weight' in err
    assert not out.exists()


def test_wrong_arch_is_reported(converter):
    state, _ = converter.rename(official_state_dict('31B'), None)
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        check_against_model(state, RepLKNet(arch='31L'))


@pytest.mark.slow
def test_pretrained_init_cfg_loads_converted_checkpoint(tool, tmp_path):
    """A config's init_cfg=dict(type='Pretrained', checkpoint=...) loads the
    converter's output into the backbone."""
    torch.save(official_state_dict('31B', seed=3), tmp_path / 'official.pth')
    out = str(tmp_path / 'converted.pth')
    assert tool.main([str(tmp_path / 'official.pth'), out]) == 0
    model = RepLKNet(
        arch='31B', init_cfg=dict(type='Pretrained', checkpoint=out))
    model.init_weights()
    expected = torch.load(out, weights_only=True)['state_dict']
    for key, value in model.state_dict().items():
        torch.testing.assert_close(
            value, expected[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow
@pytest.mark.parametrize(
    'config,arch,expected_heads',
    [(SEG_CONFIG, TINY_ARCH, [
        'decode_head.conv_seg.weight', 'decode_head.psp_modules.0.1.conv.'
        'weight', 'decode_head.fpn_bottleneck.bn.running_var',
        'auxiliary_head.convs.0.conv.weight'
    ]),
     (DET_CONFIG, TINY_DET_ARCH, [
         'neck.lateral_convs.0.conv.weight', 'rpn_head.rpn_conv.weight',
         'roi_head.bbox_head.2.fc_cls.weight',
         'roi_head.mask_head.0.convs.0.conv.weight'
     ])],
    ids=['upernet', 'cascade'])
def test_finetuned_official_checkpoint_converts_for_its_config(
        tool, tmp_path, config, arch, expected_heads):
    """An official fine-tuned UperNet (mmseg 0.x) / Cascade Mask R-CNN
    (mmdet 2.x) checkpoint, wrapped as mmcv saves it: every key accounted
    for, checked against the config's whole model, loadable by
    tools/test.py's strict loader."""
    heads = old_head_keys(config)
    assert set(expected_heads) <= set(heads)
    src = official_finetuned_state_dict(arch, heads, seed=1)
    torch.save(
        dict(meta=dict(CLASSES=('a', 'b')), state_dict=src),
        tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    argv = [str(tmp_path / 'official.pth'), str(out)]
    assert tool.main(argv) == 2 and not out.exists()  # needs --config
    assert tool.main(argv + ['--config', config]) == 0
    model = build_model_from_config(load_config(config))
    load_model_checkpoint(model, str(out))
    state = model.state_dict()
    torch.testing.assert_close(
        state['backbone.stages.0.blocks.0.large_kernel.large_conv.conv.'
              'weight'],
        src['backbone.stages.0.blocks.0.large_kernel.lkb_origin.conv.weight'],
        rtol=0,
        atol=0)
    for key in expected_heads:
        torch.testing.assert_close(state[key], src[key], rtol=0, atol=0)
    # Another config's model is refused by name, nothing written.
    other = DET_CONFIG if config == SEG_CONFIG else SEG_CONFIG
    assert tool.main(argv + ['--config', other, '--force']) == 2
