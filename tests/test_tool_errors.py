"""Every tool answers bad input with one clear ``error:`` line and exit
status 2: a missing file, a config whose backbone nobody registered, a
checkpoint of another architecture."""
import os.path as osp

import pytest
import torch

from conftest import REPO, load_tool
from test_tools import seg_options

SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
OTHER_CONFIG = 'tests/configs/upernet_orepa-r18_ade20k-synthetic.py'
TOOLS = {
    'train': 'tools/train.py',
    'test': 'tools/test.py',
    'reparameterize': 'tools/deploy/reparameterize.py',
    'benchmark': 'tools/analysis/benchmark.py',
    'visualize_erf': 'tools/analysis/visualize_erf.py',
}


def _argv(tool, config, checkpoint, tmp_path, data_root):
    if tool == 'train':
        return [config, '--work-dir', str(tmp_path / 'w')] + seg_options(
            data_root, 1)
    if tool == 'test':
        return [config, checkpoint, '--work-dir', str(tmp_path / 'w')
                ] + seg_options(data_root, 1)
    if tool == 'reparameterize':
        return [config, checkpoint, str(tmp_path / 'out.pth')]
    if tool == 'benchmark':
        return [config, checkpoint, '--shape', '32', '32']
    return [config, checkpoint, '--images', data_root, '--out',
            str(tmp_path / 'erf.png'), '--size', '32', '--num-images', '1']


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """A checkpoint of the demo config and one of another architecture."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmreplk  # noqa: F401
    root = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for key, config in (('same', SEG_CONFIG), ('other', OTHER_CONFIG)):
        init_default_scope('mmseg')
        model = MODELS.build(Config.fromfile(osp.join(REPO, config)).model)
        paths[key] = str(root / f'{key}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta={}), paths[key])
    return paths


@pytest.fixture(scope='module')
def unknown_backbone_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'unknown_backbone.py'
    path.write_text(f"_base_ = ['{osp.join(REPO, SEG_CONFIG)}']\n"
                    "model = dict(backbone=dict(type='RepLKNett'))\n")
    return str(path)


def _run(tool, argv, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    module = load_tool(TOOLS[tool])
    code = module.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize('tool', sorted(TOOLS))
def test_missing_config(tool, tmp_path, checkpoints, synthetic_data, capsys,
                        monkeypatch):
    argv = _argv(tool, str(tmp_path / 'nope.py'), checkpoints['same'],
                 tmp_path, synthetic_data['ade20k'])
    code, err = _run(tool, argv, capsys, monkeypatch)
    assert code == 2
    assert 'error:' in err and 'nope.py' in err and 'not found' in err


@pytest.mark.parametrize('tool', sorted(set(TOOLS) - {'train'}))
def test_missing_checkpoint(tool, tmp_path, synthetic_data, capsys,
                           monkeypatch):
    argv = _argv(tool, SEG_CONFIG, str(tmp_path / 'nope.pth'), tmp_path,
                 synthetic_data['ade20k'])
    code, err = _run(tool, argv, capsys, monkeypatch)
    assert code == 2
    assert "Checkpoint file" in err and 'nope.pth' in err


@pytest.mark.parametrize('tool', sorted(TOOLS))
def test_unknown_backbone(tool, tmp_path, checkpoints, synthetic_data,
                          unknown_backbone_config, capsys, monkeypatch):
    argv = _argv(tool, unknown_backbone_config, checkpoints['same'],
                 tmp_path, synthetic_data['ade20k'])
    code, err = _run(tool, argv, capsys, monkeypatch)
    assert code == 2
    assert "Backbone type 'RepLKNett' is not registered" in err
    assert 'RepLKNet, ShiftWiseNet' in err  # names what is available


@pytest.mark.parametrize('tool', sorted(set(TOOLS) - {'train'}))
def test_checkpoint_of_another_architecture(tool, tmp_path, checkpoints,
                                            synthetic_data, capsys,
                                            monkeypatch):
    argv = _argv(tool, SEG_CONFIG, checkpoints['other'], tmp_path,
                 synthetic_data['ade20k'])
    code, err = _run(tool, argv, capsys, monkeypatch)
    assert code == 2
    assert 'does not match the target model' in err
    assert 'missing keys' in err and 'another architecture' in err
    # nothing was written by the failed run
    assert not (tmp_path / 'out.pth').exists()
    assert not (tmp_path / 'erf.png').exists()


def test_matching_checkpoint_is_accepted(tmp_path, checkpoints,
                                         synthetic_data, capsys,
                                         monkeypatch):
    """The same call with the right checkpoint succeeds (the errors above
    are about the input, not the call)."""
    argv = _argv('reparameterize', SEG_CONFIG, checkpoints['same'],
                 tmp_path, synthetic_data['ade20k'])
    code, _ = _run('reparameterize', argv, capsys, monkeypatch)
    assert code == 0 and (tmp_path / 'out.pth').is_file()
