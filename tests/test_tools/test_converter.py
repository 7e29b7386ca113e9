"""tools/model_converters/replknet_official.py: fidelity and strictness."""
import importlib.util
import os.path as osp

import pytest
import torch

from mmreplk.models.backbones import RepLKNet
from mmreplk.utils import CheckpointMismatchError, check_against_model
from tests.helpers.official_checkpoint_layouts import save_model_layout
from tests.helpers.official_replknet_state import (mmpretrain_state_dict,
                                                   official_state_dict)
from tests.helpers.tools import REPO, run_tool

CONVERTER = 'tools/model_converters/replknet_official.py'


def load_converter():
    spec = importlib.util.spec_from_file_location('replknet_official',
                                                  osp.join(REPO, CONVERTER))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_official_checkpoint_converts_and_loads_strictly(tmp_path):
    """A checkpoint exactly as the official ``save_model`` writes it (model,
    optimizer, epoch, scaler and an argparse.Namespace of the arguments)."""
    src = official_state_dict('31B')
    torch.save(save_model_layout(src), tmp_path / 'official.pth')
    proc = run_tool(
        [CONVERTER,
         str(tmp_path / 'official.pth'),
         str(tmp_path / 'out.pth')])
    assert 'RepLKNet-31B' in proc.stdout and "['head', 'norm']" in \
        proc.stdout
    out = torch.load(tmp_path / 'out.pth', weights_only=True)
    model = RepLKNet(arch='31B')
    model.load_state_dict(out['state_dict'], strict=True)
    # Values land where they belong.
    torch.testing.assert_close(
        model.stages[2].blocks[4].large_kernel.large_conv.conv.weight,
        src['stages.2.blocks.4.large_kernel.lkb_origin.conv.weight'],
        rtol=0,
        atol=0)
    torch.testing.assert_close(
        model.stages[1].blocks[1].pre_norm.running_var,
        src['stages.1.blocks.1.preffn_bn.running_var'],
        rtol=0,
        atol=0)
    torch.testing.assert_close(
        model.transitions[2][1].bn.weight,
        src['transitions.2.1.bn.weight'],
        rtol=0,
        atol=0)


def test_converted_model_matches_official_formula():
    """The converted backbone computes the official RepLK block: BN ->
    1x1 conv-BN-ReLU -> (KxK conv-BN + 5x5 conv-BN) -> ReLU -> 1x1 conv-BN,
    plus the shortcut; checked by hand on stage 3's first block."""
    conv = load_converter()
    src = official_state_dict('31B')
    state, _ = conv.convert_replknet(src)
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


def test_mmpretrain_checkpoint_converts():
    conv = load_converter()
    from mmreplk.utils.checkpoint_io import _PREFIXES
    src = {}
    for k, v in mmpretrain_state_dict('31B').items():
        for prefix in _PREFIXES:
            if k.startswith(prefix):
                k = k[len(prefix):]
        src[k] = v
    state, dropped = conv.convert_replknet(src)
    model = RepLKNet(arch='31B')
    new = conv.reconcile_stage_norms(state, dropped, model)
    assert new == [] and 'stages.3.norm.weight' in dropped
    check_against_model(state, model)


def test_xl_gets_fresh_output_norms_and_deploy_form_converts():
    conv = load_converter()
    state, dropped = conv.convert_replknet(official_state_dict('XL'))
    model = RepLKNet(arch='XL')
    new = conv.reconcile_stage_norms(state, dropped, model)
    assert sorted({k.rsplit('.', 1)[0]
                   for k in new}) == [f'stages.{i}.norm' for i in range(4)]
    assert torch.all(state['stages.0.norm.running_var'] == 1)
    check_against_model(state, model)
    merged, _ = conv.convert_replknet(official_state_dict('31B', merged=True))
    model, deploy = conv.build_target('31B', merged)
    assert deploy
    check_against_model(merged, model)


def test_mismatched_keys_are_named(tmp_path):
    src = official_state_dict('31B')
    del src['stages.0.blocks.0.pw1.conv.weight']
    src['stages.0.blocks.0.extra_branch.weight'] = torch.zeros(1)
    torch.save(src, tmp_path / 'broken.pth')
    proc = run_tool(
        [CONVERTER,
         str(tmp_path / 'broken.pth'),
         str(tmp_path / 'out.pth')],
        check=False)
    assert proc.returncode == 2
    assert 'missing keys (1): stages.0.blocks.0.pw1.conv.weight' in \
        proc.stderr
    assert 'unexpected keys (1): stages.0.blocks.0.extra_branch.weight' in \
        proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_wrong_arch_is_reported():
    conv = load_converter()
    state, _ = conv.convert_replknet(official_state_dict('31B'))
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        check_against_model(state, RepLKNet(arch='31L'))


def test_missing_source_file(tmp_path):
    proc = run_tool(
        [CONVERTER,
         str(tmp_path / 'nope.pth'),
         str(tmp_path / 'out.pth')],
        check=False)
    assert proc.returncode == 2 and 'does not exist' in proc.stderr


def test_pretrained_init_cfg_loads_converted_checkpoint(tmp_path):
    """A config's init_cfg=dict(type='Pretrained', checkpoint=...) loads the
    converter's output into the backbone."""
    torch.save(official_state_dict('31B', seed=3), tmp_path / 'official.pth')
    out = str(tmp_path / 'converted.pth')
    run_tool([CONVERTER, str(tmp_path / 'official.pth'), out])
    model = RepLKNet(
        arch='31B', init_cfg=dict(type='Pretrained', checkpoint=out))
    model.init_weights()
    expected = torch.load(out, weights_only=True)['state_dict']
    for key, value in model.state_dict().items():
        torch.testing.assert_close(
            value, expected[key], rtol=0, atol=0, msg=key)
