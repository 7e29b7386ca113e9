"""mmengine's CheckpointHook with every file it writes replaced atomically.

mmengine writes checkpoints through the configured file backend but writes
``work_dir/last_checkpoint`` (the pointer ``--resume`` follows) with a plain
``open(..., 'w')``: a run killed between the truncation and the write leaves
an empty pointer, and the next ``--resume`` fails or starts over. This hook
saves checkpoints through the ``atomic_local`` backend by default and lets
mmengine write the pointer into a private staging directory, from which it
is moved over the real one with a single rename.
"""
import os.path as osp
import shutil
import tempfile

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmreplk.registry import HOOKS
from mmreplk.utils.atomic_write import atomic_write_bytes

LAST_CHECKPOINT = 'last_checkpoint'


class _RunnerWithWorkDir:
    """The runner, except that ``work_dir`` names another directory (where
    mmengine then writes ``last_checkpoint``)."""

    def __init__(self, runner, work_dir):
        self._runner = runner
        self.work_dir = work_dir

    def __getattr__(self, name):
        return getattr(self._runner, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` whose checkpoint files and
    ``last_checkpoint`` pointer are each replaced in one rename.

    Takes the arguments of ``CheckpointHook``; ``backend_args`` defaults to
    ``dict(backend='atomic_local')`` (checkpoints written to a temporary file
    and renamed over the target).
    """

    def __init__(self, *args, backend_args=None, **kwargs):
        # mmengine refuses backend_args next to the deprecated
        # file_client_args, so the default applies only without them.
        if backend_args is None and kwargs.get('file_client_args') is None:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not is_main_process():
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        # The staging directory sits in work_dir, so the final rename stays
        # on one file system (and is atomic).
        staging = tempfile.mkdtemp(
            prefix=f'.{LAST_CHECKPOINT}.', dir=runner.work_dir)
        try:
            super()._save_checkpoint_with_step(
                _RunnerWithWorkDir(runner, staging), step, meta)
            staged = osp.join(staging, LAST_CHECKPOINT)
            if osp.isfile(staged):
                with open(staged, 'rb') as f:
                    atomic_write_bytes(
                        f.read(), osp.join(runner.work_dir, LAST_CHECKPOINT))
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def upgrade_checkpoint_hook(default_hooks):
    """Turn a plain local ``CheckpointHook`` entry of ``default_hooks`` into
    :class:`AtomicCheckpointHook` in place; return whether it changed.

    Only the type name changes (every argument keeps its meaning); hooks
    writing to another backend are left alone.
    """
    hook = default_hooks.get('checkpoint') if default_hooks else None
    if not hook or hook.get('type') not in ('CheckpointHook', CheckpointHook):
        return False
    backend = (hook.get('backend_args') or {}).get('backend', 'local')
    if backend not in ('local', 'atomic_local') or hook.get('out_dir'):
        return False
    hook['type'] = 'AtomicCheckpointHook'
    return True
