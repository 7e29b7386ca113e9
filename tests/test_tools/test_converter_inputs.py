"""The official-checkpoint converters read the files the official
training scripts really write, answer unreadable files with one clear
``error:`` line, and never overwrite a file they were not asked to."""
import argparse
import os.path as osp

import pytest
import torch

from tests.helpers.official_checkpoint_layouts import (orepa_train_layout,
                                                       save_model_layout)
from tests.helpers.official_orepa_state import (official_orepa_resnet_shapes,
                                                random_state)
from tests.helpers.official_shiftwise_state import official_sw_tiny_state
from tests.helpers.tools import load_tool

CONVERTERS = {
    'replknet': 'tools/model_converters/replknet_official.py',
    'shiftwise': 'tools/model_converters/shiftwise_official.py',
    'orepa': 'tools/model_converters/orepa_official.py',
    'unireplknet': 'tools/model_converters/unireplknet_official.py',
}


def _convert(name, argv, capsys):
    tool = load_tool(CONVERTERS[name])
    code = tool.main([str(a) for a in argv])
    return code, capsys.readouterr()


def test_official_save_model_layout_converts(tmp_path, capsys):
    """``{'model', 'optimizer', 'epoch', 'scaler', 'args'}`` with ``args`` an
    argparse.Namespace loads with the safe unpickler (Namespace allowed for
    this load only) and converts. (The RepLKNet converter is run on the same
    layout in test_converter.py.)"""
    state = official_sw_tiny_state()
    src, dst = tmp_path / 'checkpoint-best.pth', tmp_path / 'out.pth'
    torch.save(save_model_layout(state), src)
    with pytest.raises(Exception, match='argparse.Namespace'):
        torch.load(src, weights_only=True)  # what torch alone does
    code, out = _convert('shiftwise', [src, dst], capsys)
    assert code == 0, out.err
    converted = torch.load(dst, weights_only=True)['state_dict']
    key = 'stages.1.0.pwconv1.1.weight'
    assert torch.equal(converted[key], state[key])
    # Allowing Namespace was scoped to the converter's load.
    with pytest.raises(Exception, match='argparse.Namespace'):
        torch.load(src, weights_only=True)


def test_official_orepa_layout_converts(tmp_path, capsys):
    """OREPA's ``train.py`` saves epoch, arch, state_dict, best_acc1 (a
    tensor), optimizer and scheduler state."""
    shapes = official_orepa_resnet_shapes(18)
    state = random_state(shapes)
    src, dst = tmp_path / 'ResNet-18_OREPA.pth.tar', tmp_path / 'out.pth'
    torch.save(orepa_train_layout(state), src)
    code, out = _convert('orepa', [src, dst], capsys)
    assert code == 0, out.err
    meta = torch.load(dst, weights_only=True)['meta']
    assert (meta['arch'], meta['block_type'], meta['deploy']) == \
        ('ResNet-18', 'OREPA', False)


@pytest.mark.parametrize('name', sorted(CONVERTERS))
@pytest.mark.parametrize(
    'content',
    [b'', b'\x80\x02garbage' * 50, b'not a checkpoint\n', 'truncated'])
def test_unreadable_source_is_one_clear_error(name, content, tmp_path, capsys):
    src, dst = tmp_path / 'src.pth', tmp_path / 'out.pth'
    if content == 'truncated':
        torch.save({'model': {'w': torch.ones(1000)}}, src)
        content = src.read_bytes()[:500]
    src.write_bytes(content)
    code, out = _convert(name, [src, dst], capsys)
    assert code == 2
    errors = [
        line for line in out.err.splitlines() if line.startswith('error: ')
    ]
    assert len(errors) == 1 and 'Traceback' not in out.err
    assert 'not a readable PyTorch checkpoint' in out.err
    assert not dst.exists()


def test_refused_global_is_named_with_a_way_out(tmp_path, capsys):
    """A global beyond Namespace is refused, named, and the message says
    how to extract the weights from a trusted file."""
    import fractions
    src = tmp_path / 'src.pth'
    torch.save(
        {
            'model': {
                'w': torch.ones(2)
            },
            'args': argparse.Namespace(ratio=fractions.Fraction(1, 3))
        }, src)
    code, out = _convert('shiftwise', [src, tmp_path / 'out.pth'], capsys)
    assert code == 2 and 'fractions.Fraction' in out.err
    assert "weights_only=False)['model']" in out.err


@pytest.mark.parametrize('name', sorted(CONVERTERS))
def test_output_is_never_an_input_or_an_existing_file(name, tmp_path, capsys):
    src = tmp_path / 'src.pth'
    src.write_bytes(b'official checkpoint bytes')
    code, out = _convert(name, [src, src, '--force'], capsys)
    assert code == 2 and 'would destroy the input' in out.err
    existing = tmp_path / 'converted.pth'
    existing.write_bytes(b'earlier result')
    code, out = _convert(name, [src, existing], capsys)
    assert code == 2 and 'already exists' in out.err and '--force' in out.err
    assert src.read_bytes() == b'official checkpoint bytes'
    assert existing.read_bytes() == b'earlier result'
    assert osp.isfile(src)
