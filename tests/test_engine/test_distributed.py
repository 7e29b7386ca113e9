"""Distributed training without GPUs: tools/dist_train.sh with 2 gloo
processes resuming every rank exactly, and GlooSyncBatchNorm equal to
BatchNorm over the whole batch."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmreplk.models.layers import GlooSyncBatchNorm
from mmreplk.utils import (build_model_from_config, load_config,
                           mmengine_checkpoint_safe_globals)
from tests.helpers.tools import REPO, free_port


def _sync_bn_worker(rank, world, port, x, grad_out, queue):
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world)
    torch.manual_seed(0)
    bn = GlooSyncBatchNorm(x.shape[1]).double().train()
    part = x.chunk(world)[rank].clone().requires_grad_(True)
    out = bn(part)
    out.backward(grad_out.chunk(world)[rank])
    # Plain arrays pickle by value; a tensor would travel as a shared-memory
    # handle that dies with this process if it exits before the parent reads.
    queue.put((rank, ) + tuple(t.detach().numpy().copy()
                               for t in (out, part.grad, bn.weight.grad,
                                         bn.running_mean, bn.running_var)))
    dist.destroy_process_group()


@pytest.mark.slow
def test_gloo_sync_bn_equals_whole_batch_bn():
    torch.manual_seed(0)
    x = torch.randn(6, 5, 4, 3, dtype=torch.float64) * 3 + 1
    grad_out = torch.randn_like(x)
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    port = free_port()
    procs = [
        ctx.Process(
            target=_sync_bn_worker, args=(r, 2, port, x, grad_out, queue))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    results = {}
    for _ in range(2):
        item = queue.get(timeout=120)
        results[item[0]] = [torch.from_numpy(a) for a in item[1:]]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ref = torch.nn.BatchNorm2d(5).double().train()
    full = x.clone().requires_grad_(True)
    expected = ref(full)
    expected.backward(grad_out)
    out = torch.cat([results[0][0], results[1][0]])
    grad_x = torch.cat([results[0][1], results[1][1]])
    torch.testing.assert_close(out, expected.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_x, full.grad, rtol=1e-10, atol=1e-10)
    # Weight gradients are per rank (DDP sums them): their sum is the total.
    torch.testing.assert_close(
        results[0][2] + results[1][2], ref.weight.grad, rtol=1e-10, atol=1e-10)
    for rank in (0, 1):
        torch.testing.assert_close(results[rank][3], ref.running_mean)
        torch.testing.assert_close(results[rank][4], ref.running_var)


def dist_train(config, work, options, phase, resume=None):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        PYTHONUNBUFFERED='1',
        MMREPLK_TEST_PHASE=phase)
    env.pop('MMREPLK_DISPATCH_CACHE', None)  # every rank measures
    args = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work]
    if resume:
        args += ['--resume', resume]
    proc = subprocess.run(
        args + options,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]  # torchrun: every rank exited 0
    return log


def load(path):
    with mmengine_checkpoint_safe_globals():
        return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_dist_train_two_gloo_processes_resumes_every_rank_exactly(
        synthetic_data, tmp_path):
    """tools/dist_train.sh with 2 gloo processes (SyncBN -> GlooSyncBN):
    4 iterations straight, then a resume from its iteration-2 checkpoint in
    processes whose measurements favour other back ends (and each rank
    another one). Every rank must continue with its own back-end choices
    and random stream: the resumed run ends bit-exact."""
    config = 'tests/configs/upernet_replknet-tiny-ranked-timer_ade20k-' \
        'synthetic.py'
    root = synthetic_data['ade20k']
    options = ['--cfg-options'] + [
        f'{s}_dataloader.dataset.data_root={root}'
        for s in ('train', 'val', 'test')
    ] + [
        'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
        'randomness.seed=0', 'default_hooks.checkpoint.interval=2',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False'
    ]
    straight = tmp_path / 'straight'
    log = dist_train(config, str(straight), options, 'first')
    assert 'torch.distributed runs on gloo (2 processes)' in log
    assert 'SyncBN configs use GlooSyncBN' in log and 'mIoU' in log
    first = load(straight / 'iter_2.pth')['meta']
    choices = first['mmreplk_dispatch_choices']
    assert choices['world_size'] == 2
    assert [set(c.values()) for c in choices['ranks']] == [{'fft'}, {'cpu'}]
    assert first['mmreplk_rng_state']['world_size'] == 2

    resumed = tmp_path / 'resumed'
    dist_train(
        config,
        str(resumed),
        options,
        'second',
        resume=str(straight / 'iter_2.pth'))
    a, b = load(straight / 'iter_4.pth'), load(resumed / 'iter_4.pth')
    assert b['meta']['iter'] == 4 and not (resumed / 'iter_2.pth').exists()
    # Each rank kept its own choices, although it would now measure others.
    assert b['meta']['mmreplk_dispatch_choices']['ranks'] == \
        choices['ranks']
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(
            b['state_dict'][key], value, rtol=0, atol=0, msg=key)
    model = build_model_from_config(load_config(osp.join(REPO, config)))
    model.load_state_dict(b['state_dict'], strict=True)
