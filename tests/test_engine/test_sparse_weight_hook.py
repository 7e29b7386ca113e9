"""SparseWeightHook: masks from a checkpoint's zeros kept through optimizer
steps, masks in checkpoints, random (uniform / ERK) masks and the
prune-and-regrow schedule shared with SparseGroupHook."""
import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmreplk.engine import SparseWeightHook
from mmreplk.engine.hooks.sparse_weight_hook import (CHECKPOINT_KEY,
                                                     erk_densities)
from mmreplk.models.backbones import SLaK

ARCH = dict(
    stage_blocks=[1, 1, 1, 1],
    channels=[8, 16, 16, 16],
    large_kernels=[9, 7, 7, 5],
    small_kernel=3)


class Segmentor(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = SLaK(ARCH, impl='torch', layer_scale_init_value=1.0)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        return self.head(self.backbone(x)[-1]).square().mean()


def runner(model, iteration=0, max_iters=100):
    return SimpleNamespace(model=model, iter=iteration, max_iters=max_iters)


def sparse_model(seed=0, sparsity=0.4):
    """A model whose backbone weights have exact zeros, as a converted
    SLaK checkpoint."""
    torch.manual_seed(seed)
    model = Segmentor()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.backbone.parameters():
            if p.dim() in (2, 4):
                p[torch.rand(p.shape, generator=gen) < sparsity] = 0
    return model


def train_steps(model, hook, steps, lr=1e-2):
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for it in range(steps):
        optim.zero_grad()
        model(x).backward()
        optim.step()
        if hook is not None:
            hook.after_train_iter(runner(model, it), it)


def test_checkpoint_zeros_survive_optimizer_steps():
    model = sparse_model()
    zeros = {
        n: p == 0
        for n, p in model.named_parameters() if n.startswith('backbone.')
    }
    unhooked = copy.deepcopy(model)
    hook = SparseWeightHook()
    hook.before_train(runner(model))
    # Every backbone Linear/conv weight with zeros is masked; biases, norms,
    # gamma and the head are not.
    assert set(hook.masks) == {
        n
        for n, z in zeros.items() if z.any() and z.dim() in (2, 4)
    }
    assert any('large_kernel.vertical_strip.conv' in n for n in hook.masks)
    assert 0.55 < hook.density() < 0.65
    train_steps(model, hook, 2)
    train_steps(unhooked, None, 2)
    params = dict(model.named_parameters())
    free = dict(unhooked.named_parameters())
    for name, mask in hook.masks.items():
        assert torch.equal(params[name] != 0, mask), name
        # Without the hook AdamW moves the pruned weights off zero.
        assert (free[name][~mask] != 0).any(), name
    changed = [(params[n] != free[n]).any() for n in hook.masks]
    assert all(changed)  # but the kept weights train as usual


def test_masks_travel_in_checkpoints_and_are_checked():
    model = sparse_model()
    hook = SparseWeightHook()
    hook.before_train(runner(model))
    checkpoint = {}
    hook.before_save_checkpoint(runner(model), checkpoint)
    saved = checkpoint[CHECKPOINT_KEY]
    assert list(saved) == list(hook.masks)
    assert all(m.dtype == torch.bool and m.device.type == 'cpu'
               for m in saved.values())
    # A resumed run: masks from the checkpoint, not from the weights (which
    # may have other zeros by now).
    resumed = copy.deepcopy(model)
    with torch.no_grad():
        next(resumed.backbone.parameters()).zero_()
    other = SparseWeightHook()
    other.after_load_checkpoint(runner(resumed, 5), checkpoint)
    other.before_train(runner(resumed, 5))
    assert all(torch.equal(other.masks[n], m) for n, m in saved.items())
    # Resumed from a checkpoint without masks: the weights' zeros (the
    # official --sparse_init resume).
    fresh = SparseWeightHook(init='uniform')
    fresh.before_train(runner(model, 5))
    assert all(torch.equal(fresh.masks[n], m) for n, m in saved.items())
    # Masks of another model are refused by name.
    small = SparseWeightHook()
    bad = {
        CHECKPOINT_KEY:
        dict(
            saved, **{
                'backbone.nope.weight':
                saved['backbone.stages.0.0.pwconv1.weight']
            })
    }
    with pytest.raises(ValueError, match='belong to another model'):
        small.after_load_checkpoint(runner(model), bad)


def test_random_masks_and_prune_regrow_keep_density():
    model = sparse_model(sparsity=0.0)
    hook = SparseWeightHook(init='uniform', sparsity=0.5, update_interval=2)
    hook.before_train(runner(model))
    params = dict(model.named_parameters())
    for name, mask in hook.masks.items():
        assert int(mask.sum()) == round(0.5 * mask.numel()), name
        assert torch.equal(params[name] != 0, mask)
    twin = copy.deepcopy(model)
    twin_hook = copy.deepcopy(hook)
    train_steps(model, None, 1)
    train_steps(twin, None, 1)
    before = {n: m.clone() for n, m in hook.masks.items()}
    calls = []
    for it in range(4):  # updates after iterations 2 and 4
        hook.after_train_iter(runner(model, it), it)
        calls.append(
            sum((hook.masks[n] != before[n]).sum().item() for n in before))
    assert calls[0] == 0 and calls[1] > 0 and calls[2] == calls[1]
    assert calls[3] > 0
    for name, mask in hook.masks.items():
        assert int(mask.sum()) == int(before[name].sum()), name
        # Regrown weights start at zero; pruned ones are zeroed.
        regrown = mask & ~before[name]
        assert (params[name][regrown] == 0).all()
        assert (params[name][~mask] == 0).all()
    # Same state and iterations -> same masks (resume, other ranks).
    for it in range(4):
        twin_hook.after_train_iter(runner(twin, it), it)
    assert all(
        torch.equal(twin_hook.masks[n], m) for n, m in hook.masks.items())
    assert hook.current_prune_rate(0, 100) == pytest.approx(0.3)
    assert hook.current_prune_rate(100, 100) == pytest.approx(0.005)


def test_erk_densities():
    shapes = {
        'stem': (8, 3, 4, 4),
        'strip': (16, 1, 51, 5),
        'linear': (64, 16),
        'big': (512, 512)
    }
    dens = erk_densities(shapes, 0.6)
    total = sum(torch.Size(s).numel() for s in shapes.values())
    kept = sum(dens[k] * torch.Size(s).numel() for k, s in shapes.items())
    assert kept / total == pytest.approx(0.6)
    assert all(0 < d <= 1 for d in dens.values())
    assert dens['stem'] == 1.0  # capped: made dense, the others rescaled
    assert dens['big'] < dens['linear']  # larger tensors sparser
    model = sparse_model(sparsity=0.0)
    hook = SparseWeightHook(init='ERK', sparsity=0.4)
    hook.before_train(runner(model))
    assert hook.density() < 0.6  # (nearly) dense tensors are left out


def test_bad_arguments():
    with pytest.raises(ValueError, match='unknown init'):
        SparseWeightHook(init='snip')
    with pytest.raises(ValueError, match='update_interval'):
        SparseWeightHook(update_interval=0)
    with pytest.raises(ValueError, match='sparsity'):
        SparseWeightHook(sparsity=1.0)
    with pytest.raises(ValueError, match="no 'neck'"):
        SparseWeightHook(module='neck').before_train(runner(sparse_model()))
