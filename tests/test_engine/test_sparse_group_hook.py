"""SparseGroupHook: initial sparsity, prune/regrow schedule, masks in the
forward pass and in checkpoints, resumable schedule."""
from types import SimpleNamespace

import pytest
import torch

from mmreplk.engine import SparseGroupHook
from mmreplk.models.backbones import ShiftWiseNet
from mmreplk.utils import mmengine_checkpoint_safe_globals

ARCH = dict(
    stage_blocks=[1, 1, 1, 1],
    channels=[16, 32, 32, 32],
    large_kernels=[13, 11, 9, 7])


def masks(model):
    return [
        m.sparse_mask.view(-1).clone()
        for m in SparseGroupHook.sparse_layers(model)
    ]


def fake_runner(model, iteration, max_iters=1000):
    return SimpleNamespace(model=model, iter=iteration, max_iters=max_iters)


def test_initial_sparsity_and_forward_masking():
    torch.manual_seed(0)
    model = ShiftWiseNet(ARCH, layer_scale_init_value=1.0).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        dense = model(x)
    hook = SparseGroupHook(sparsity=0.3)
    hook.before_train(fake_runner(model, 0))
    for layer, mask in zip(SparseGroupHook.sparse_layers(model), masks(model)):
        assert int(mask.sum()) == mask.numel() - round(0.3 * mask.numel())
        # Magnitude init keeps the strongest kernels; pruned ones are zero.
        scores = SparseGroupHook.kernel_scores(layer)
        assert scores[mask == 0].max() == 0
        assert scores[mask == 1].min() > 0
    with torch.no_grad():
        sparse = model(x)
    assert not torch.allclose(dense[0], sparse[0])
    # A resumed run (iter > 0) keeps its masks.
    before = masks(model)
    hook.before_train(fake_runner(model, 500))
    assert all(torch.equal(a, b) for a, b in zip(before, masks(model)))


def test_update_keeps_density_and_is_deterministic_by_iteration():
    torch.manual_seed(0)
    model = ShiftWiseNet(ARCH)
    hook = SparseGroupHook(sparsity=0.5, prune_rate=0.3, update_interval=10)
    hook.initialise(model)
    for layer in SparseGroupHook.sparse_layers(model):  # training moved on
        for conv in layer.LoRAs:
            conv.weight.data += torch.randn_like(conv.weight) * 0.01
    twin = ShiftWiseNet(ARCH)
    twin.load_state_dict(model.state_dict())
    start = masks(model)
    replaced = hook.update(model, 10, 100)
    assert replaced > 0
    after = masks(model)
    assert [int(m.sum()) for m in after] == [int(m.sum()) for m in start]
    assert any(not torch.equal(a, b) for a, b in zip(start, after))
    # Same state + same iteration -> same masks (resume, other ranks).
    hook.update(twin, 10, 100)
    assert all(torch.equal(a, b) for a, b in zip(after, masks(twin)))
    # Masks are buffers: they travel in the state dict.
    restored = ShiftWiseNet(ARCH)
    restored.load_state_dict(model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(after, masks(restored)))


def test_schedule_and_interval():
    hook = SparseGroupHook(
        prune_rate=0.3, min_prune_rate=0.005, update_interval=7)
    assert hook.current_prune_rate(0, 100) == pytest.approx(0.3)
    assert hook.current_prune_rate(50, 100) == pytest.approx(0.1525)
    assert hook.current_prune_rate(100, 100) == pytest.approx(0.005)
    model = ShiftWiseNet(ARCH)
    hook.initialise(model)
    calls = []
    hook.update = lambda *args: calls.append(args[1]) or 0
    for it in range(21):
        hook.after_train_iter(fake_runner(model, it, 100), it)
    assert calls == [7, 14, 21]


def test_bad_arguments():
    with pytest.raises(ValueError, match='sparsity'):
        SparseGroupHook(sparsity=1.0)
    with pytest.raises(ValueError, match='init'):
        SparseGroupHook(init='snip')
    with pytest.raises(ValueError, match='update_interval'):
        SparseGroupHook(update_interval=0)


@pytest.mark.slow
def test_resume_continues_sparse_training(synthetic_data, tmp_path):
    """tools/train.py: 4 iterations straight == --resume from the same run's
    iteration-2 checkpoint to 4, with the masks initialised at iteration 0
    and updated at iteration 3."""
    import os.path as osp

    from tests.helpers.tools import run_tool, seg_options
    config = 'tests/configs/upernet_shiftwise-mini-sparse_ade20k-synthetic.py'
    root = synthetic_data['ade20k']
    opts = [
        'default_hooks.checkpoint.interval=2',
        'train_dataloader.num_workers=1',
        'train_dataloader.persistent_workers=True'
    ]
    straight = str(tmp_path / 'straight')
    proc = run_tool(['tools/train.py', config, '--work-dir', straight] +
                    seg_options(root, 4, opts))
    assert 'SparseGroupHook: iteration 3, replaced' in proc.stdout + \
        proc.stderr
    # Resumed in another work dir from the straight run's iteration-2
    # checkpoint (test_tools covers auto-resume of an interrupted work dir).
    resumed = str(tmp_path / 'resumed')
    run_tool([
        'tools/train.py', config, '--work-dir', resumed, '--resume',
        osp.join(straight, 'iter_2.pth')
    ] + seg_options(root, 4, opts))
    with mmengine_checkpoint_safe_globals():
        a = torch.load(
            osp.join(straight, 'iter_4.pth'), weights_only=True)['state_dict']
        b = torch.load(
            osp.join(resumed, 'iter_4.pth'), weights_only=True)['state_dict']
    mask_keys = [k for k in a if k.endswith('sparse_mask')]
    assert mask_keys and any(not a[k].all() for k in mask_keys)
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=0, msg=key)
