"""Distributed training without GPUs: tools/dist_train.sh with 2 gloo
processes, and GlooSyncBatchNorm equal to BatchNorm over the whole batch."""
import os
import os.path as osp
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmreplk.models.layers import GlooSyncBatchNorm
from mmreplk.utils import mmengine_checkpoint_safe_globals
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
    queue.put((rank, out.detach(), part.grad, bn.weight.grad, bn.running_mean,
               bn.running_var))
    dist.destroy_process_group()


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
        results[item[0]] = item[1:]
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


def test_dist_train_two_gloo_processes(synthetic_data, tmp_path):
    config = 'tests/configs/upernet_orepa-r18_ade20k-synthetic.py'
    root = synthetic_data['ade20k']
    work = str(tmp_path / 'dist')
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [
            'bash', 'tools/dist_train.sh', config, '2', '--work-dir', work,
            '--cfg-options'
        ] + [
            f'{s}_dataloader.dataset.data_root={root}'
            for s in ('train', 'val', 'test')
        ] + [
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2'
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]  # torchrun: every rank exited 0
    assert 'torch.distributed runs on gloo (2 processes)' in log
    assert 'SyncBN configs use GlooSyncBN' in log
    assert 'mIoU' in log
    ckpt = osp.join(work, 'iter_2.pth')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    with mmengine_checkpoint_safe_globals():
        state = torch.load(ckpt, weights_only=True)
    assert state['meta']['iter'] == 2
    model.load_state_dict(state['state_dict'], strict=True)
