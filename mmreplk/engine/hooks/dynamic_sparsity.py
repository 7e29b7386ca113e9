"""What the sparse-training hooks share: the prune-and-regrow step on a 0/1
mask, its cosine prune-rate schedule and the seeded draws that make every
rank, and a resumed run, compute the same masks.

The step is the one of the official sparse-training code of SLaK
(``magnitude`` pruning, ``random`` growth) and of ShiftwiseConv (the same
code on groups of weights): drop the ``rate`` fraction of the active entries
with the smallest scores, then activate as many inactive entries (the ones
just pruned included) uniformly at random. Users are
:class:`~mmreplk.engine.hooks.SparseGroupHook` (shift-wise small kernels)
and :class:`~mmreplk.engine.hooks.SparseWeightHook` (single weights).
"""
import math

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

GROWTH_MODES = ('random', )


def cosine_prune_rate(iteration, max_iters, prune_rate, min_prune_rate):
    """Cosine decay from ``prune_rate`` (iteration 0) to ``min_prune_rate``
    (``max_iters``), constant after."""
    progress = min(iteration / max(max_iters, 1), 1.0)
    return min_prune_rate + 0.5 * (prune_rate - min_prune_rate) * (
        1 + math.cos(math.pi * progress))


def seeded_generator(seed, iteration, index):
    """A CPU generator that depends only on ``(seed, iteration, index)``."""
    return torch.Generator().manual_seed(
        hash((seed, iteration, index)) % 2**63)


def keep_largest(scores, keep):
    """Float 0/1 mask (CPU, ``scores``' shape flattened) keeping the
    ``keep`` largest scores."""
    mask = torch.zeros(scores.numel())
    mask[torch.topk(scores.reshape(-1), keep).indices] = 1
    return mask


def prune_and_regrow(mask, scores, rate, generator):
    """One prune-and-regrow step on a flat CPU 0/1 ``mask`` (modified in
    place): the ``ceil(rate * active)`` active entries with the smallest
    ``scores`` are dropped, and as many inactive entries (those just dropped
    included) are drawn with ``generator`` and activated. The density does
    not change.

    Returns:
        int: The number of entries dropped (and regrown).
    """
    active = mask.nonzero().view(-1)
    count = min(math.ceil(rate * active.numel()), mask.numel())
    if count == 0:
        return 0
    pruned = active[torch.topk(scores[active], count, largest=False).indices]
    mask[pruned] = 0
    inactive = (mask == 0).nonzero().view(-1)
    order = torch.randperm(inactive.numel(), generator=generator)
    mask[inactive[order[:count]]] = 1
    return count


class DynamicSparsityHook(Hook):
    """Base of the sparse-training hooks: argument checks, the schedule and
    the periodic update; subclasses implement :meth:`update`.

    Args:
        sparsity (float): Fraction of entries kept at zero.
        prune_rate (float): Initial fraction of active entries replaced per
            update.
        update_interval (int, optional): Iterations between updates; None
            (where the subclass allows it): never.
        min_prune_rate (float): Final prune rate of the cosine decay.
        growth (str): 'random'.
        seed (int): Seed of the random draws.
    """
    priority = 'LOW'
    #: Whether ``update_interval=None`` (fixed masks) is allowed.
    allow_static = False

    def __init__(self,
                 sparsity,
                 prune_rate,
                 update_interval,
                 min_prune_rate=0.005,
                 growth='random',
                 seed=0):
        name = type(self).__name__
        if not 0 <= sparsity < 1:
            raise ValueError(f'{name}: sparsity must be in [0, 1), got '
                             f'{sparsity}.')
        if not 0 <= prune_rate <= 1:
            raise ValueError(f'{name}: prune_rate must be in [0, 1], got '
                             f'{prune_rate}.')
        if not 0 <= min_prune_rate <= 1:
            raise ValueError(f'{name}: min_prune_rate must be in [0, 1], '
                             f'got {min_prune_rate}.')
        if not (update_interval is None and self.allow_static) and (
                not isinstance(update_interval, int) or update_interval < 1):
            allowed = ' or None (fixed masks)' if self.allow_static else ''
            raise ValueError(f'{name}: update_interval must be a positive '
                             f'int{allowed}, got {update_interval!r}.')
        if growth not in GROWTH_MODES:
            raise ValueError(f'{name}: unknown growth {growth!r}; choose one '
                             f'of {GROWTH_MODES}.')
        self.sparsity, self.prune_rate = sparsity, prune_rate
        self.update_interval, self.min_prune_rate = update_interval, \
            min_prune_rate
        self.growth, self.seed = growth, seed

    def current_prune_rate(self, iteration, max_iters):
        """Cosine decay from ``prune_rate`` to ``min_prune_rate``."""
        return cosine_prune_rate(iteration, max_iters, self.prune_rate,
                                 self.min_prune_rate)

    def _generator(self, iteration, index):
        return seeded_generator(self.seed, iteration, index)

    def update(self, model, iteration, max_iters):
        """Prune and regrow once; return the number of entries replaced."""
        raise NotImplementedError

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.update_interval is not None and self.every_n_train_iters(
                runner, self.update_interval):
            replaced = self.update(runner.model, runner.iter + 1,
                                   runner.max_iters)
            print_log(
                f'{type(self).__name__}: iteration {runner.iter + 1}, '
                f'replaced {replaced} {self.unit_name}.',
                logger='current')

    #: What one mask entry is, for the log.
    unit_name = 'entries'
