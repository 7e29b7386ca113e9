"""Coarse-grained sparse channel groups of shift-wise convolutions, pruned
and regrown during training (the ``rep_coarse`` sparse training of the
official ShiftwiseConv code)."""
import math

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.registry import HOOKS

INIT_MODES = ('magnitude', 'random')
GROWTH_MODES = ('random', )


@HOOKS.register_module()
class SparseGroupHook(Hook):
    """Keep ``1 - sparsity`` of every shift-wise conv's small kernels alive,
    periodically pruning the weakest and regrowing as many at random.

    Every :class:`~mmreplk.models.layers.ShiftWiseConv2d` holds a
    ``sparse_mask`` buffer with one entry per small kernel (conv output
    channel), shared by its parallel paths. The hook

    * at the start of a fresh run, keeps the ``1 - sparsity`` kernels with the
      largest path-summed L1 norm (``init='magnitude'``) or a random subset
      (``init='random'``); the official code scores with SNIP on a batch,
      which is not implemented here;
    * every ``update_interval`` iterations prunes ``rate`` of the active
      kernels with the smallest path-summed L1 norm and regrows the same
      number among the inactive ones uniformly at random (official
      ``prune magnitude`` + ``growth random``), ``rate`` decaying from
      ``prune_rate`` to ``min_prune_rate`` with a cosine over training;
    * zeroes the weights of inactive kernels, so regrown kernels start from
      zero as in the official code.

    The schedule is a function of the iteration and the growth draws come
    from a generator seeded with ``(seed, iteration)``, and the masks are
    buffers saved in every checkpoint, so ``--resume`` continues the exact
    schedule, and every rank of a distributed run computes identical masks.

    Args:
        sparsity (float): Fraction of small kernels kept at zero (official:
            0.3).
        prune_rate (float): Initial fraction of active kernels replaced per
            update (official: 0.3).
        update_interval (int): Iterations between updates (official
            ``-u 100``).
        min_prune_rate (float): Final prune rate of the cosine decay
            (official: 0.005).
        init (str): 'magnitude' or 'random'.
        growth (str): 'random' (official).
        seed (int): Seed of the initial and growth draws.
    """
    priority = 'LOW'

    def __init__(self,
                 sparsity=0.3,
                 prune_rate=0.3,
                 update_interval=100,
                 min_prune_rate=0.005,
                 init='magnitude',
                 growth='random',
                 seed=0):
        if not 0 <= sparsity < 1:
            raise ValueError(f'sparsity must be in [0, 1), got {sparsity}.')
        if not 0 <= prune_rate <= 1:
            raise ValueError(f'prune_rate must be in [0, 1], got '
                             f'{prune_rate}.')
        if not isinstance(update_interval, int) or update_interval < 1:
            raise ValueError('update_interval must be a positive int, got '
                             f'{update_interval!r}.')
        if init not in INIT_MODES:
            raise ValueError(f'Unknown init {init!r}; choose one of '
                             f'{INIT_MODES}.')
        if growth not in GROWTH_MODES:
            raise ValueError(f'Unknown growth {growth!r}; choose one of '
                             f'{GROWTH_MODES}.')
        self.sparsity, self.prune_rate = sparsity, prune_rate
        self.update_interval, self.min_prune_rate = update_interval, \
            min_prune_rate
        self.init, self.growth, self.seed = init, growth, seed

    @staticmethod
    def sparse_layers(model):
        if is_model_wrapper(model):
            model = model.module
        return [
            m for m in model.modules()
            if isinstance(m, ShiftWiseConv2d) and not m.deploy
        ]

    @staticmethod
    def kernel_scores(layer):
        """Path-summed L1 norm of every small kernel."""
        return sum(conv.weight.detach().abs().sum((1, 2, 3))
                   for conv in layer.LoRAs)

    def _generator(self, iteration, index):
        return torch.Generator().manual_seed(
            hash((self.seed, iteration, index)) % 2**63)

    def current_prune_rate(self, iteration, max_iters):
        """Cosine decay from ``prune_rate`` to ``min_prune_rate``."""
        progress = min(iteration / max(max_iters, 1), 1.0)
        return self.min_prune_rate + 0.5 * (
            self.prune_rate -
            self.min_prune_rate) * (1 + math.cos(math.pi * progress))

    @staticmethod
    def _apply(layer, mask):
        layer.sparse_mask.copy_(mask.view_as(layer.sparse_mask))
        for conv in layer.LoRAs:
            conv.weight.data.mul_(layer.sparse_mask)

    def initialise(self, model):
        layers = self.sparse_layers(model)
        with torch.no_grad():
            for index, layer in enumerate(layers):
                n = layer.sparse_mask.numel()
                keep = n - int(round(self.sparsity * n))
                scores = self.kernel_scores(layer).cpu() \
                    if self.init == 'magnitude' else \
                    torch.rand(n, generator=self._generator(-1, index))
                mask = torch.zeros(n)
                mask[torch.topk(scores, keep).indices] = 1
                self._apply(layer, mask.to(layer.sparse_mask))
        print_log(
            f'SparseGroupHook: {len(layers)} shift-wise convs start at '
            f'sparsity {self.sparsity} ({self.init}).',
            logger='current')

    def update(self, model, iteration, max_iters):
        """Prune and regrow once; returns the number of kernels replaced."""
        rate = self.current_prune_rate(iteration, max_iters)
        replaced = 0
        with torch.no_grad():
            for index, layer in enumerate(self.sparse_layers(model)):
                mask = layer.sparse_mask.view(-1).cpu().clone()
                active = mask.nonzero().view(-1)
                count = min(
                    math.ceil(rate * active.numel()),
                    int((mask == 0).sum()) + active.numel())
                if count == 0:
                    continue
                scores = self.kernel_scores(layer).cpu()[active]
                pruned = active[torch.topk(scores, count,
                                           largest=False).indices]
                mask[pruned] = 0
                inactive = (mask == 0).nonzero().view(-1)
                order = torch.randperm(
                    inactive.numel(),
                    generator=self._generator(iteration, index))
                mask[inactive[order[:count]]] = 1
                self._apply(layer, mask.to(layer.sparse_mask))
                replaced += count
        return replaced

    def before_train(self, runner):
        # A resumed run keeps the masks of its checkpoint.
        if runner.iter == 0 and all(
                bool(layer.sparse_mask.all())
                for layer in self.sparse_layers(runner.model)):
            self.initialise(runner.model)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.every_n_train_iters(runner, self.update_interval):
            replaced = self.update(runner.model, runner.iter + 1,
                                   runner.max_iters)
            print_log(
                f'SparseGroupHook: iteration {runner.iter + 1}, '
                f'replaced {replaced} kernels.',
                logger='current')
