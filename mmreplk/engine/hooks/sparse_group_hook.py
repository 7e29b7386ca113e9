"""Coarse-grained sparse channel groups of shift-wise convolutions, pruned
and regrown during training (the ``rep_coarse`` sparse training of the
official ShiftwiseConv code)."""
import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.registry import HOOKS
from .dynamic_sparsity import (DynamicSparsityHook, keep_largest,
                               prune_and_regrow)

INIT_MODES = ('magnitude', 'random')


@HOOKS.register_module()
class SparseGroupHook(DynamicSparsityHook):
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
    unit_name = 'kernels'

    def __init__(self,
                 sparsity=0.3,
                 prune_rate=0.3,
                 update_interval=100,
                 min_prune_rate=0.005,
                 init='magnitude',
                 growth='random',
                 seed=0):
        super().__init__(sparsity, prune_rate, update_interval, min_prune_rate,
                         growth, seed)
        if init not in INIT_MODES:
            raise ValueError(f'Unknown init {init!r}; choose one of '
                             f'{INIT_MODES}.')
        self.init = init

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
                self._apply(layer,
                            keep_largest(scores, keep).to(layer.sparse_mask))
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
                count = prune_and_regrow(mask,
                                         self.kernel_scores(layer).cpu(), rate,
                                         self._generator(iteration, index))
                if count:
                    self._apply(layer, mask.to(layer.sparse_mask))
                replaced += count
        return replaced

    def before_train(self, runner):
        # A resumed run keeps the masks of its checkpoint.
        if runner.iter == 0 and all(
                bool(layer.sparse_mask.all())
                for layer in self.sparse_layers(runner.model)):
            self.initialise(runner.model)
