"""Save and restore the random number generators with each checkpoint, so a
resumed run continues the exact random stream (drop path, dropout, random
augmentation in the main process) of the run it resumes, on every rank."""
import random

import numpy as np
import torch
from mmengine.logging import print_log

from mmreplk.registry import HOOKS
from .per_rank_state import PerRankStateHook


def capture_rng_state():
    """All RNG states as tensors/ints only (safe for weights_only loading).
    """
    np_state = np.random.get_state()
    state = dict(
        torch=torch.get_rng_state(),
        numpy=dict(
            name=np_state[0],
            keys=torch.from_numpy(np_state[1].astype(np.int64)),
            pos=int(np_state[2]),
            has_gauss=int(np_state[3]),
            gauss=float(np_state[4])),
        python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    torch.set_rng_state(state['torch'])
    npy = state['numpy']
    np.random.set_state((npy['name'], npy['keys'].numpy().astype(np.uint32),
                         npy['pos'], npy['has_gauss'], npy['gauss']))
    random.setstate(state['python'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreBeforeNextBatch:
    """Wraps a train loop's data iterator: lets ``skip`` batches through
    (mmengine replaying the data of the resumed iterations), then calls
    ``restore`` before the next batch is fetched and puts the loop's own
    iterator back."""

    def __init__(self, loop, skip, restore):
        self._loop, self._skip, self._restore = loop, skip, restore
        self._iterator = loop.dataloader_iterator

    def __iter__(self):
        return self

    def __next__(self):
        if self._skip > 0:
            self._skip -= 1
        else:
            self._restore()
            self._loop.dataloader_iterator = self._iterator
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(PerRankStateHook):
    """Store every rank's RNG states in each checkpoint and restore them on
    resume.

    A checkpoint holds the states right before the next batch is fetched
    (the data pipeline draws from them too), so they are restored right
    before the resumed run fetches its first new batch: after mmengine's
    iteration-based loop has replayed the data loader up to the resumed
    iteration (its replay draws from the generators as well), or at the
    start of the epoch for epoch-based loops.
    """

    meta_key = 'mmreplk_rng_state'

    def __init__(self):
        super().__init__()
        self._pending = None

    def capture(self, runner):
        return capture_rng_state()

    def restore(self, runner, state):
        self._pending = state

    def _restore_pending(self):
        restore_rng_state(self._pending)
        self._pending = None
        print_log(
            'Restored the random number generators of the resumed '
            'checkpoint.',
            logger='current')

    def before_train_epoch(self, runner):
        if self._pending is None:
            return
        loop = runner.train_loop
        replayed = getattr(loop, '_iter', 0)
        if replayed > 0 and hasattr(loop, 'dataloader_iterator'):
            # mmengine's IterBasedTrainLoop replays ``_iter`` batches next.
            loop.dataloader_iterator = _RestoreBeforeNextBatch(
                loop, replayed, self._restore_pending)
        else:
            self._restore_pending()
