"""A failed save never corrupts the checkpoint already on disk."""
import io
import os

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
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, path,
                    backend_args=args)
    with pytest.raises(RuntimeError, match='simulated'):
        save_checkpoint({'state_dict': {'w': torch.zeros(3)},
                         'x': ExplodingState()}, path, backend_args=args)
    ck = torch.load(path, weights_only=True)
    torch.testing.assert_close(ck['state_dict']['w'], torch.ones(3))
    assert os.listdir(tmp_path) == ['iter_2.pth']  # no temp file left


def test_interrupted_write_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    backend = get_file_backend(str(path),
                               backend_args=dict(backend='atomic_local'))
    backend.put(b'complete old checkpoint', str(path))

    real_fdopen = os.fdopen

    class HalfWriter(io.RawIOBase):

        def __init__(self, fd):
            self.f = real_fdopen(fd, 'wb')

        def write(self, data):
            self.f.write(data[:5])
            self.f.flush()
            raise KeyboardInterrupt  # killed mid-write

        def close(self):
            self.f.close()

        def __exit__(self, *args):
            self.close()

    monkeypatch.setattr(os, 'fdopen', lambda fd, mode: HalfWriter(fd))
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint bytes', str(path))
    monkeypatch.undo()
    assert path.read_bytes() == b'complete old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']


def test_configs_use_atomic_backend_and_rng_hook():
    from mmengine.config import Config
    for name in ('upernet_replknet31b_ade20k', 'upernet_replknet31b_cityscapes',
                 'cascade_mask_rcnn_replknet31b_coco'):
        cfg = Config.fromfile(f'configs/{name}.py')
        assert cfg.default_hooks.checkpoint.backend_args == dict(
            backend='atomic_local'), name
        assert dict(type='RNGStateHook') in cfg.custom_hooks, name
