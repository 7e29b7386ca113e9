"""Every tool answers bad input with one clear ``error:`` line and exit
status 2: a missing file, a config whose backbone nobody registered, a
checkpoint of another architecture."""
import os.path as osp

import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.tools import REPO, load_tool, seg_options

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
        return [config, '--work-dir',
                str(tmp_path / 'w')] + seg_options(data_root, 1)
    if tool == 'test':
        return [config, checkpoint, '--work-dir',
                str(tmp_path / 'w')] + seg_options(data_root, 1)
    if tool == 'reparameterize':
        return [config, checkpoint, str(tmp_path / 'out.pth')]
    if tool == 'benchmark':
        return [config, checkpoint, '--shape', '32', '32']
    return [
        config, checkpoint, '--images', data_root, '--out',
        str(tmp_path / 'erf.png'), '--size', '32', '--num-images', '1'
    ]


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
    argv = _argv(tool, unknown_backbone_config, checkpoints['same'], tmp_path,
                 synthetic_data['ade20k'])
    code, err = _run(tool, argv, capsys, monkeypatch)
    assert code == 2
    assert "Backbone type 'RepLKNett' is not registered" in err
    # Names what is available: every backbone mmreplk registers.
    assert all(
        name in err for name in ('OREPAResNet', 'RepLKNet', 'ShiftWiseNet',
                                 'SLaK', 'UniRepLKNet'))


@pytest.mark.slow
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


def test_matching_checkpoint_is_accepted(tmp_path, checkpoints, synthetic_data,
                                         capsys, monkeypatch):
    """The same call with the right checkpoint succeeds (the errors above
    are about the input, not the call)."""
    argv = _argv('reparameterize', SEG_CONFIG, checkpoints['same'], tmp_path,
                 synthetic_data['ade20k'])
    code, _ = _run('reparameterize', argv, capsys, monkeypatch)
    assert code == 0 and (tmp_path / 'out.pth').is_file()


# --- reparameterize.py never replaces a file it was not asked to ----------


def _reparam(argv, capsys, monkeypatch):
    return _run('reparameterize', argv, capsys, monkeypatch)


@pytest.mark.slow
def test_reparameterize_refuses_to_overwrite_inputs(tmp_path, checkpoints,
                                                    capsys, monkeypatch):
    """OUT equal to CHECKPOINT, OUT ending in .py and a deploy config equal
    to CONFIG are refused even with --force; the inputs stay untouched."""
    ckpt = tmp_path / 'train.pth'
    ckpt.write_bytes(open(checkpoints['same'], 'rb').read())
    config = tmp_path / 'cfg.py'
    config.write_text(f"_base_ = ['{osp.join(REPO, SEG_CONFIG)}']\n")
    before = {p: p.read_bytes() for p in (ckpt, config)}
    cases = [
        ([str(config), str(ckpt), str(ckpt)], 'would destroy the input'),
        ([str(config), str(ckpt),
          str(tmp_path / 'deploy.py')], 'ends in .py'),
        ([str(config), str(ckpt),
          str(tmp_path / 'cfg.pth')], 'would destroy the input'),
        ([
            str(config),
            str(ckpt),
            str(tmp_path / 'd.pth'), '--out-config',
            str(tmp_path / 'd.pth')
        ], 'must end in .py'),
    ]
    for argv, message in cases:
        code, err = _reparam(argv + ['--force'], capsys, monkeypatch)
        assert code == 2 and message in err, (argv, err)
        assert sum(line.startswith('error: ')
                   for line in err.splitlines()) == 1
    assert {p: p.read_bytes() for p in (ckpt, config)} == before
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['cfg.py', 'train.pth']


def test_reparameterize_needs_force_for_existing_files(tmp_path, checkpoints,
                                                       capsys, monkeypatch):
    """OUT work/<cfg>.pth next to the config mmengine saved as
    work/<cfg>.py: refused without --force, replaced with it."""
    work = tmp_path / 'work'
    work.mkdir()
    saved_cfg = work / 'upernet.py'
    saved_cfg.write_text('# the config mmengine saved\n')
    argv = [SEG_CONFIG, checkpoints['same'], str(work / 'upernet.pth')]
    code, err = _reparam(argv, capsys, monkeypatch)
    assert code == 2 and 'already exists' in err and '--force' in err
    assert saved_cfg.read_text() == '# the config mmengine saved\n'
    assert not (work / 'upernet.pth').exists()
    code, _ = _reparam(argv + ['--force'], capsys, monkeypatch)
    assert code == 0 and (work / 'upernet.pth').is_file()
    assert 'deploy=True' in saved_cfg.read_text().replace(' ', '')


def test_reparameterize_verify_fails_above_tolerance(tmp_path, checkpoints,
                                                     capsys, monkeypatch):
    """A deploy form that computes something else fails --verify (exit 1,
    difference and tolerance printed, nothing written)."""
    import mmreplk
    real = mmreplk.reparameterize_model

    def broken(model):
        real(model)
        with torch.no_grad():
            next(model.backbone.parameters()).add_(1.0)
        return model

    monkeypatch.chdir(REPO)
    module = load_tool(TOOLS['reparameterize'])
    monkeypatch.setattr(module.mmreplk, 'reparameterize_model', broken)
    out = tmp_path / 'out.pth'
    code = module.main([
        SEG_CONFIG, checkpoints['same'],
        str(out), '--verify', '--shape', '32', '32'
    ])
    captured = capsys.readouterr()
    assert code == 1
    assert 'tolerance 1.0e-04' in captured.out
    assert 'above the tolerance' in captured.err
    assert not out.exists() and not (tmp_path / 'out.py').exists()
    # (The same call with the real re-parameterisation passes: test_tools.)


# --- tools/train.py checks what it loads ----------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Record ``Runner.train`` calls instead of training: the checks under
    test all happen before it."""
    from mmengine.runner import Runner
    calls = []
    monkeypatch.setattr(Runner, 'train', lambda self: calls.append(self))
    return calls


def _train(argv, capsys, monkeypatch):
    return _run('train', argv, capsys, monkeypatch)


@pytest.mark.slow
def test_train_load_from_of_another_architecture(tmp_path, checkpoints,
                                                 synthetic_data, capsys,
                                                 monkeypatch, no_training):
    argv = _argv('train', SEG_CONFIG, None, tmp_path, synthetic_data['ade20k'])
    argv += [f'load_from={checkpoints["other"]}']
    code, err = _train(argv, capsys, monkeypatch)
    assert code == 2 and not no_training
    assert 'does not match the target model' in err
    assert 'missing keys' in err and '--allow-partial-load' in err
    code, err = _train(argv + ['--allow-partial-load'], capsys, monkeypatch)
    assert code == 0 and len(no_training) == 1


@pytest.mark.slow
def test_train_accepts_url_load_from(tmp_path, checkpoints, synthetic_data,
                                     capsys, monkeypatch, no_training):
    """A URL passes the existence check and is read through mmengine's
    loader (replaced here: no network in tests), then checked."""
    import mmreplk.utils.model_from_config as api
    url = 'https://download.example.org/upernet_replknet.pth'
    fetched = []

    def fake_fetch(path):
        fetched.append(path)
        with mmengine_checkpoint_safe_globals():
            return torch.load(checkpoints[source], weights_only=True)

    monkeypatch.setattr(api, 'load_remote_checkpoint', fake_fetch)
    argv = _argv('train', SEG_CONFIG, None, tmp_path,
                 synthetic_data['ade20k']) + [f'load_from={url}']
    source = 'other'
    code, err = _train(argv, capsys, monkeypatch)
    assert code == 2 and fetched == [url]
    assert 'does not match the target model' in err and url in err
    source = 'same'
    code, err = _train(argv, capsys, monkeypatch)
    assert code == 0 and fetched == [url, url] and len(no_training) == 1


@pytest.mark.slow
def test_train_corrupt_resume_checkpoint(tmp_path, synthetic_data, capsys,
                                         monkeypatch, no_training):
    garbage = tmp_path / 'iter_2.pth'
    garbage.write_bytes(b'\x80\x02not a checkpoint' * 20)
    argv = _argv('train', SEG_CONFIG, None, tmp_path, synthetic_data['ade20k'])
    code, err = _train(argv[:3] + ['--resume', str(garbage)] + argv[3:],
                       capsys, monkeypatch)
    assert code == 2 and not no_training
    assert 'not a readable PyTorch checkpoint' in err and 'iter_2.pth' in err
    # --resume without a path follows work_dir/last_checkpoint.
    work = tmp_path / 'w'
    work.mkdir(exist_ok=True)
    (work / 'last_checkpoint').write_text(str(garbage))
    code, err = _train(argv[:3] + ['--resume'] + argv[3:], capsys, monkeypatch)
    assert code == 2 and 'not a readable PyTorch checkpoint' in err
    assert 'last_checkpoint' in err
    (work / 'last_checkpoint').write_text('')
    code, err = _train(argv[:3] + ['--resume'] + argv[3:], capsys, monkeypatch)
    assert code == 2 and 'is empty' in err and not no_training


def test_test_refuses_existing_metrics_file_without_force(
        tmp_path, checkpoints, capsys, monkeypatch):
    """tools/test.py --out-metrics: an existing file is refused before the
    evaluation (nothing is run, the file is untouched); the checkpoint
    itself is never a valid metrics path, even with --force."""
    metrics = tmp_path / 'metrics.json'
    metrics.write_text('{"mIoU": 42.0}')
    code, err = _run(
        'test',
        [SEG_CONFIG, checkpoints['same'], '--out-metrics',
         str(metrics)], capsys, monkeypatch)
    assert code == 2 and 'already exists' in err and '--force' in err
    assert metrics.read_text() == '{"mIoU": 42.0}'
    code, err = _run('test', [
        SEG_CONFIG, checkpoints['same'], '--out-metrics', checkpoints['same'],
        '--force'
    ], capsys, monkeypatch)
    assert code == 2 and 'would destroy the input' in err
