"""tools/train.py and tools/test.py: the checkpoint safe globals, a missing
data root, mixed precision without a GPU. (Training, resume and
re-parameterisation end to end: test_own_train_tools.py; the segmentor
workflow through tools/test.py: test_make_demo.py.)"""
import os.path as osp

import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals, runner_config
from tests.helpers.tools import REPO, load_tool, run_tool, seg_options


@pytest.mark.slow
def test_checkpoint_safe_globals_are_scoped_not_imported(tmp_path):
    """The torch >= 2.6 failure: mmengine's checkpoints do not unpickle with
    weights_only=True on their own. ``import mmreplk`` leaves torch's
    safe-globals list as it was (it changes nothing process-wide), and the
    checkpoint loads inside mmengine_checkpoint_safe_globals() only.

    The checkpoint has the layout Runner.save_checkpoint writes (meta,
    state_dict, message_hub with its HistoryBuffers, optimizer), saved by
    mmengine's save_checkpoint."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import save_checkpoint

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 2)).sum().backward()
    optimizer.step()
    hub = MessageHub.get_instance('safe_globals_probe')
    for loss in (1.0, 0.5):
        hub.update_scalar('train/loss', loss)
    (tmp_path / 'w').mkdir()
    save_checkpoint(
        dict(
            meta=dict(iter=2, epoch=0),
            state_dict=model.state_dict(),
            message_hub=hub.state_dict(),
            optimizer=optimizer.state_dict()),
        str(tmp_path / 'w' / 'iter_2.pth'))
    work = str(tmp_path / 'w')
    probe = (
        'import sys, torch\n'
        'import torch.distributed.tensor  # torch allow-lists DTensor itself\n'
        'p = sys.argv[1]\n'
        'def load(tag):\n'
        '    try:\n'
        '        ck = torch.load(p, weights_only=True)\n'
        '        print(tag, "ok", sorted(ck["message_hub"]))\n'
        '    except Exception as e:\n'
        '        print(tag, "fail", type(e).__name__)\n'
        'def allowed():  # a set: adding and removing may reorder the list\n'
        '    return set(torch.serialization.get_safe_globals())\n'
        'before = allowed()\n'
        'load("plain:")\n'
        'import mmreplk\n'
        'print("import changed safe globals:", allowed() != before)\n'
        'load("after import:")\n'
        'from mmreplk.utils import mmengine_checkpoint_safe_globals\n'
        'with mmengine_checkpoint_safe_globals():\n'
        '    load("scoped:")\n'
        'print("left behind:", allowed() != before)\n')
    proc = run_tool(['-c', probe, osp.join(work, 'iter_2.pth')])
    assert 'plain: fail' in proc.stdout
    assert 'import changed safe globals: False' in proc.stdout
    assert 'after import: fail' in proc.stdout
    assert 'scoped: ok' in proc.stdout
    assert 'left behind: False' in proc.stdout


@pytest.mark.slow
def test_missing_data_root_gives_one_clear_message(tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.chdir(REPO)
    missing = str(tmp_path / 'no_such_ade')
    train = load_tool('tools/train.py')
    assert train.main([
        'configs/upernet_replknet31b_ade20k.py', '--work-dir',
        str(tmp_path / 'w'), '--cfg-options',
        f'train_dataloader.dataset.data_root={missing}'
    ]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: Dataset not found:')
    assert f"data_root '{missing}' does not exist" in err
    assert 'make_synthetic.py ade20k' in err
    test = load_tool('tools/test.py')
    assert test.main([
        'configs/upernet_replknet31b_ade20k.py',
        str(tmp_path / 'missing.pth')
    ]) == 2
    assert 'not found' in capsys.readouterr().err
    assert not (tmp_path / 'w').exists()


def test_cpu_autocast_optim_wrapper_runs_forward_in_bf16():
    from mmengine.optim import build_optim_wrapper
    model = torch.nn.Linear(4, 3)
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='CPUAutocastOptimWrapper', optimizer=dict(type='SGD',
                                                           lr=0.1)))
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert model(x).dtype == torch.bfloat16
    assert model(x).dtype == torch.float32
    with pytest.raises(ValueError, match='bfloat16'):
        build_optim_wrapper(
            model,
            dict(
                type='CPUAutocastOptimWrapper',
                dtype='float8',
                optimizer=dict(type='SGD', lr=0.1)))


@pytest.mark.slow
def test_amp_on_cpu_trains_under_bf16(synthetic_data, tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip('with a GPU --amp uses mmengine AmpOptimWrapper')
    monkeypatch.chdir(REPO)
    config = 'tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py'
    root = synthetic_data['ade20k']
    argv = [config, '--amp', '--work-dir',
            str(tmp_path / 'w')] + seg_options(root, 1)
    train = load_tool('tools/train.py')
    args = train.parse_args(argv)
    cfg = runner_config(args)
    changes = train.config_changes(cfg, args)
    assert len(changes) == 1 and 'CPUAutocastOptimWrapper' in changes[0]
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    # Any other wrapper: refused, not silently replaced.
    cfg = runner_config(args)
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    with pytest.raises(train.ToolInputError, match='drop --amp'):
        train.config_changes(cfg, args)
    assert train.main(argv) == 0
    with mmengine_checkpoint_safe_globals():
        ckpt = torch.load(tmp_path / 'w' / 'iter_1.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 1
