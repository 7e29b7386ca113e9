"""Save and restore the random number generators with each checkpoint, so a
resumed run continues the exact random stream (drop path, dropout, random
augmentation in the main process) of the run it resumes."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmreplk.registry import HOOKS


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


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store the RNG states in every checkpoint and restore them on resume.

    The states are restored right before the first iteration after resuming,
    i.e. after mmengine has replayed the data loader up to the resumed
    iteration, so the random stream continues exactly where the checkpoint
    was written.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['rng_state'] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint):
        # Only a resumed run continues the stream; load_from (fine-tuning)
        # starts its own.
        if getattr(runner, '_resume', False) and 'rng_state' in checkpoint:
            self._pending = checkpoint['rng_state']

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is not None:
            restore_rng_state(self._pending)
            self._pending = None
            print_log(
                'Restored the random number generators of the '
                'resumed checkpoint.',
                logger='current')
