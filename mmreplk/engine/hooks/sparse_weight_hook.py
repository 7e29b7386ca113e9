"""Weight-level sparsity kept through training: SLaK's sparse fine-tuning
(the zero pattern of the loaded checkpoint) and, for training from scratch,
its dynamic sparsity (random masks, magnitude pruning and random regrowth
at an interval)."""
import logging
import math
from collections import OrderedDict

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmreplk.registry import HOOKS
from .dynamic_sparsity import DynamicSparsityHook, prune_and_regrow

INIT_MODES = ('checkpoint', 'uniform', 'ERK')
#: Checkpoint key of the masks (name -> bool tensor).
CHECKPOINT_KEY = 'sparse_weight_masks'


def erk_densities(shapes, density, power=1.0):
    """Per-tensor densities of the Erdős-Rényi-kernel rule (official SLaK
    ``ERK`` init): proportional to ``(sum(shape) / prod(shape)) ** power``,
    scaled so that the total density is ``density``; a tensor whose density
    would exceed 1 is made dense and the others rescaled.

    Args:
        shapes (dict[str, tuple]): Tensor name -> shape.
        density (float): Overall fraction of non-zero entries.
        power (float): Exponent of the raw scores.

    Returns:
        dict[str, float]: Name -> density in (0, 1].
    """
    dense = set()
    while True:
        budget, weighted, raw = 0.0, 0.0, {}
        for name, shape in shapes.items():
            numel = math.prod(shape)
            if name in dense:
                budget -= numel * (1 - density)
            else:
                budget += numel * density
                raw[name] = (sum(shape) / numel)**power
                weighted += raw[name] * numel
        if not raw:
            return dict.fromkeys(shapes, 1.0)
        epsilon = budget / weighted
        top = max(raw.values())
        if top * epsilon <= 1:
            return {
                name: 1.0 if name in dense else epsilon * raw[name]
                for name in shapes
            }
        dense.update(name for name, r in raw.items() if r == top)


@HOOKS.register_module()
class SparseWeightHook(DynamicSparsityHook):
    """Keep the weight tensors of a model's backbone sparse during training.

    The masked tensors are the 2-D and 4-D parameters of ``module``
    (Linear and conv weights: the official SLaK choice); each has a 0/1 mask
    applied after every training iteration (``weight *= mask``, so an
    optimizer update of a masked entry is discarded, as in the official
    code, which masks before every forward).

    * ``init='checkpoint'`` (SLaK's sparse fine-tuning): at the start of a
      fresh run, the masks are the non-zeros of the weights, i.e. the zero
      pattern of the loaded (converted) checkpoint; tensors without zeros
      are not masked. With ``update_interval=None`` (the default) the
      pattern is fixed.
    * ``init='uniform'`` / ``'ERK'`` (training from scratch): random masks
      with ``1 - sparsity`` non-zeros per tensor or the Erdos-Renyi-kernel
      densities (the official SNIP init, which scores a batch, is not
      implemented); tensors that ERK makes (nearly) dense (>= 0.99) stay
      unmasked, as officially.
    * ``update_interval=k``: every ``k`` iterations, per tensor, the active
      weights with the smallest magnitude (``rate`` of them, decaying with a
      cosine from ``prune_rate`` to ``min_prune_rate``) are pruned and as
      many inactive entries regrown at random (official ``--prune
      magnitude --growth random``); regrown weights start from zero.

    Masks live on the parameters' devices and are saved in every checkpoint
    (``sparse_weight_masks``, on CPU); a resumed run reloads them and the
    random draws depend only on ``(seed, iteration, tensor)``, so
    ``--resume`` continues exactly and all ranks agree. A run resumed from
    a checkpoint without masks derives them from its zeros (the official
    ``--sparse_init resume``).

    Args:
        init (str): 'checkpoint', 'uniform' or 'ERK'.
        sparsity (float): Fraction of zeros of 'uniform' / 'ERK' (official:
            0.4).
        update_interval (int, optional): Iterations between prune-and-regrow
            updates; None: fixed masks (official downstream fine-tuning).
        prune_rate (float): Initial fraction of active weights replaced per
            update (official: 0.5 for SLaK-T, 0.3 for S and B).
        min_prune_rate (float): Final prune rate (official: 0.005).
        module (str): Attribute path of the part of the model to sparsify
            ('backbone'; '' for the whole model).
        growth (str): 'random' (official).
        seed (int): Seed of the random draws.
    """
    allow_static = True
    unit_name = 'weights'

    def __init__(self,
                 init='checkpoint',
                 sparsity=0.4,
                 update_interval=None,
                 prune_rate=0.3,
                 min_prune_rate=0.005,
                 module='backbone',
                 growth='random',
                 seed=0):
        super().__init__(sparsity, prune_rate, update_interval, min_prune_rate,
                         growth, seed)
        if init not in INIT_MODES:
            raise ValueError(f'SparseWeightHook: unknown init {init!r}; '
                             f'choose one of {INIT_MODES}.')
        if not isinstance(module, str):
            raise TypeError('SparseWeightHook: module must be an attribute '
                            f"path like 'backbone', got {module!r}.")
        self.init, self.module = init, module
        self.masks = OrderedDict()

    # -------------------------------------------------------- parameters
    def candidates(self, model):
        """``{name: parameter}`` of the maskable tensors (2-D and 4-D
        parameters of ``module``), names as in the model's state dict."""
        if is_model_wrapper(model):
            model = model.module
        part, prefix = model, ''
        if self.module:
            for attr in self.module.split('.'):
                if not hasattr(part, attr):
                    raise ValueError(
                        f"SparseWeightHook: the model has no '{self.module}'"
                        f' ({type(model).__name__}); set module= to an '
                        "attribute path of it, or '' for the whole model.")
                part = getattr(part, attr)
            prefix = self.module + '.'
        return OrderedDict((prefix + name, p)
                           for name, p in part.named_parameters()
                           if p.dim() in (2, 4))

    def _check_names(self, params):
        unknown = sorted(set(self.masks) - set(params))
        if unknown:
            raise ValueError(
                f'SparseWeightHook: {len(unknown)} masked tensors are not '
                f'parameters of this model (e.g. {unknown[0]!r}): the masks '
                'belong to another model.')
        for name, mask in self.masks.items():
            if mask.shape != params[name].shape:
                raise ValueError(
                    f'SparseWeightHook: the mask of {name!r} has shape '
                    f'{tuple(mask.shape)}, the parameter '
                    f'{tuple(params[name].shape)}: the masks belong to '
                    'another model.')

    # ------------------------------------------------------------- masks
    def masks_from_zeros(self, model):
        """Masks = non-zeros of the current weights; tensors without zeros
        are left unmasked."""
        self.masks = OrderedDict()
        for name, param in self.candidates(model).items():
            mask = param.detach() != 0
            if not bool(mask.all()):
                self.masks[name] = mask

    def random_masks(self, model):
        """'uniform' / 'ERK' masks, exactly ``round(density * numel)``
        random non-zeros per tensor."""
        params = self.candidates(model)
        density = 1 - self.sparsity
        if self.init == 'ERK':
            densities = erk_densities(
                {
                    n: tuple(p.shape)
                    for n, p in params.items()
                }, density)
        else:
            densities = dict.fromkeys(params, density)
        self.masks = OrderedDict()
        for index, (name, param) in enumerate(params.items()):
            if densities[name] >= 0.99:
                continue
            keep = int(round(densities[name] * param.numel()))
            order = torch.randperm(
                param.numel(), generator=self._generator(-1, index))
            mask = torch.zeros(param.numel(), dtype=torch.bool)
            mask[order[:keep]] = True
            self.masks[name] = mask.view(param.shape).to(param.device)

    @torch.no_grad()
    def apply_masks(self, model):
        """Zero the masked entries of every masked tensor."""
        params = self.candidates(model)
        for name, mask in self.masks.items():
            param = params[name]
            if mask.device != param.device:
                mask = self.masks[name] = mask.to(param.device)
            param.masked_fill_(~mask, 0)

    def density(self):
        """Fraction of non-zeros over the masked tensors (1.0 if none)."""
        total = sum(m.numel() for m in self.masks.values())
        kept = sum(int(m.sum()) for m in self.masks.values())
        return kept / total if total else 1.0

    def update(self, model, iteration, max_iters):
        """Prune and regrow every masked tensor once; return the number of
        weights replaced."""
        rate = self.current_prune_rate(iteration, max_iters)
        params = self.candidates(model)
        replaced = 0
        for index, (name, mask) in enumerate(self.masks.items()):
            param = params[name]
            flat = mask.reshape(-1).cpu().float()
            scores = param.detach().abs().reshape(-1).float().cpu()
            replaced += prune_and_regrow(flat, scores, rate,
                                         self._generator(iteration, index))
            self.masks[name] = flat.bool().view(mask.shape).to(param.device)
        self.apply_masks(model)
        return replaced

    # ------------------------------------------------------------- hooks
    def before_train(self, runner):
        params = self.candidates(runner.model)
        if self.masks:  # restored from the resumed / loaded checkpoint
            self._check_names(params)
            how = 'from the checkpoint'
        elif runner.iter > 0 or self.init == 'checkpoint':
            self.masks_from_zeros(runner.model)
            how = 'from the zeros of the weights'
        else:
            self.random_masks(runner.model)
            how = f'{self.init}, sparsity {self.sparsity}'
        self.apply_masks(runner.model)
        masked = sum(m.numel() for m in self.masks.values())
        print_log(
            f'SparseWeightHook: {len(self.masks)} of {len(params)} weight '
            f'tensors masked ({how}); density {self.density():.4f} over '
            f'{masked} weights.',
            logger='current')
        if not self.masks and self.init == 'checkpoint':
            print_log(
                'SparseWeightHook: the weights have no zeros, so there is no '
                'sparsity to keep; load a sparse checkpoint (init_cfg or '
                "load_from), or use init='uniform' / 'ERK' to train sparse "
                'from scratch.',
                logger='current',
                level=logging.WARNING)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.apply_masks(runner.model)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint[CHECKPOINT_KEY] = OrderedDict(
            (name, mask.cpu()) for name, mask in self.masks.items())

    def after_load_checkpoint(self, runner, checkpoint):
        masks = checkpoint.get(CHECKPOINT_KEY)
        if masks is None:
            return
        params = self.candidates(runner.model)
        self.masks = OrderedDict(
            (name, mask.to(device=params[name].device, dtype=torch.bool)
             ) if name in params else (name, mask)
            for name, mask in masks.items())
        self._check_names(params)
