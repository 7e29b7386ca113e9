"""A failed save never corrupts the checkpoint already on disk."""
import io
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint

import mmreplk  # noqa: F401  (registers the 'atomic_local' backend)


class ExplodingState:
    """Pickles halfway, then fails (like a kill or a full disk mid-save)."""

    def __reduce__(self):
        raise RuntimeError('simulated failure while writing')


def test_failed_save_keeps_previous_checkpoint(tmp_path):
    path = str(tmp_path / 'iter_2.pth')
    args = dict(backend='atomic_local')
    save_checkpoint({'state_dict': {
        'w': torch.ones(3)
    }},
                    path,
                    backend_args=args)
    with pytest.raises(RuntimeError, match='simulated'):
        save_checkpoint(
            {
                'state_dict': {
                    'w': torch.zeros(3)
                },
                'x': ExplodingState()
            },
            path,
            backend_args=args)
    ck = torch.load(path, weights_only=True)
    torch.testing.assert_close(ck['state_dict']['w'], torch.ones(3))
    assert os.listdir(tmp_path) == ['iter_2.pth']  # no temp file left


class HalfWriter(io.RawIOBase):
    """Stands in for the file object of ``os.fdopen``: writes 5 bytes, then
    the process is 'killed'."""

    def __init__(self, fd):
        self.f = REAL_FDOPEN(fd, 'wb')

    def write(self, data):
        self.f.write(data[:5])
        self.f.flush()
        raise KeyboardInterrupt  # killed mid-write

    def close(self):
        self.f.close()

    def __exit__(self, *args):
        self.close()


REAL_FDOPEN = os.fdopen


def test_interrupted_write_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    backend = get_file_backend(
        str(path), backend_args=dict(backend='atomic_local'))
    backend.put(b'complete old checkpoint', str(path))
    monkeypatch.setattr(os, 'fdopen', lambda fd, mode: HalfWriter(fd))
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint bytes', str(path))
    monkeypatch.undo()
    assert path.read_bytes() == b'complete old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']


def _stub_runner(work_dir):
    """What CheckpointHook uses of a runner; ``save_checkpoint`` writes a
    small file in place of a real checkpoint."""
    from mmengine.logging import MessageHub

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        with open(osp.join(out_dir, filename), 'wb') as f:
            f.write(b'checkpoint')

    return SimpleNamespace(
        work_dir=str(work_dir),
        iter=0,
        epoch=0,
        logger=SimpleNamespace(info=lambda msg: None),
        message_hub=MessageHub.get_instance(f'atomic_hook_{work_dir}'),
        save_checkpoint=save_checkpoint)


def test_last_checkpoint_pointer_is_replaced_atomically(tmp_path, monkeypatch):
    """mmengine rewrites work_dir/last_checkpoint in place; the hook
    replaces it by a rename, so a write killed midway keeps the old
    pointer, and leaves no temporary file behind."""
    from mmreplk.engine import AtomicCheckpointHook
    from mmreplk.engine.atomic_local_backend import AtomicLocalBackend
    hook = AtomicCheckpointHook(interval=1, by_epoch=False)
    runner = _stub_runner(tmp_path)
    hook.before_train(runner)
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    pointer = tmp_path / 'last_checkpoint'
    renamed = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renamed.append(str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', recording_replace)
    for it in (0, 1):
        runner.iter = it
        hook._save_checkpoint(runner)
        assert pointer.read_text() == str(tmp_path / f'iter_{it + 1}.pth')
    assert renamed.count(str(pointer)) == 2
    monkeypatch.setattr(os, 'fdopen', lambda fd, mode: HalfWriter(fd))
    runner.iter = 2
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint(runner)
    monkeypatch.undo()
    assert pointer.read_text() == str(tmp_path / 'iter_2.pth')
    assert sorted(os.listdir(tmp_path)) == [
        'iter_1.pth', 'iter_2.pth', 'iter_3.pth', 'last_checkpoint'
    ]


def test_train_tool_upgrades_a_plain_checkpoint_hook():
    from mmreplk.engine.hooks import upgrade_checkpoint_hook
    hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5))
    assert upgrade_checkpoint_hook(hooks)
    assert hooks['checkpoint'] == dict(type='AtomicCheckpointHook', interval=5)
    remote = dict(
        checkpoint=dict(type='CheckpointHook', out_dir='s3://bucket/ckpt'))
    assert not upgrade_checkpoint_hook(remote)
