"""tools/train.py, tools/test.py and tools/deploy/reparameterize.py end to end
on synthetic data for a detection config, exact resume, and the checkpoint
safe globals. (The same workflow for a segmentor runs in test_make_demo.py,
through the demo that chains these tools.)"""
import os.path as osp

import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.tools import run_tool, seg_options

SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


def det_options(data_root):
    root = data_root.rstrip('/') + '/'
    return [
        '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/instances_val2017.json',
        f'test_evaluator.ann_file={root}annotations/instances_val2017.json',
        # one iteration of 2 images: the three cascade stages are slow
        # on CPU (~7 s per iteration)
        'train_dataloader.dataset.indices=2',
        'default_hooks.logger.interval=1'
    ]


def test_detection_train_and_reparameterize(synthetic_data, tmp_path):
    work = str(tmp_path / 'det')
    opts = det_options(synthetic_data['coco'])
    proc = run_tool(['tools/train.py', DET_CONFIG, '--work-dir', work] + opts)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    log = proc.stdout + proc.stderr
    # Evaluated by the training run's validation (the COCO metric);
    # tools/test.py runs in test_make_demo and test_launch_scripts.
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    out = str(tmp_path / 'det_deploy.pth')
    proc = run_tool([
        'tools/deploy/reparameterize.py', DET_CONFIG,
        osp.join(work, 'epoch_1.pth'), out, '--verify', '--shape', '96', '128'
    ] + opts)
    rel = float(proc.stdout.split('relative ')[1].split(')')[0])
    assert rel <= 1e-4, proc.stdout


def test_resume_reproduces_uninterrupted_run(synthetic_data, tmp_path):
    """4 iterations straight == 2 iterations, stop, --resume to 4 (CPU, same
    seed; drop path, dropout and random augmentation all active)."""
    root = synthetic_data['ade20k']
    ckpt_opts = [
        'default_hooks.checkpoint.interval=2',
        'train_dataloader.num_workers=1',
        'train_dataloader.persistent_workers=True'
    ]
    straight = str(tmp_path / 'straight')
    run_tool(['tools/train.py', SEG_CONFIG, '--work-dir', straight] +
             seg_options(root, 4, ckpt_opts))
    resumed = str(tmp_path / 'resumed')
    # First half: the same run, stopped after iteration 2.
    run_tool(['tools/train.py', SEG_CONFIG, '--work-dir', resumed] +
             seg_options(
                 root, 4, ckpt_opts +
                 ['train_cfg.max_iters=2', 'train_cfg.val_interval=2']))
    proc = run_tool(
        ['tools/train.py', SEG_CONFIG, '--work-dir', resumed, '--resume'] +
        seg_options(root, 4, ckpt_opts))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch' in log or 'Auto resumed' in log
    with mmengine_checkpoint_safe_globals():
        a = torch.load(osp.join(straight, 'iter_4.pth'), weights_only=True)
        b = torch.load(osp.join(resumed, 'iter_4.pth'), weights_only=True)
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(
            b['state_dict'][key], value, rtol=0, atol=0, msg=key)


def test_checkpoint_safe_globals_are_scoped_not_imported(tmp_path):
    """The torch >= 2.6 failure: mmengine's checkpoints do not unpickle with
    weights_only=True on their own. ``import mmreplk`` leaves torch's
    safe-globals list as it was (it changes nothing process-wide), and the
    checkpoint loads inside mmengine_checkpoint_safe_globals() only.

    The checkpoint has the layout Runner.save_checkpoint writes (meta,
    state_dict, message_hub with its HistoryBuffers, optimizer), saved by
    mmengine's save_checkpoint."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import save_checkpoint

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 2)).sum().backward()
    optimizer.step()
    hub = MessageHub.get_instance('safe_globals_probe')
    for loss in (1.0, 0.5):
        hub.update_scalar('train/loss', loss)
    (tmp_path / 'w').mkdir()
    save_checkpoint(
        dict(
            meta=dict(iter=2, epoch=0),
            state_dict=model.state_dict(),
            message_hub=hub.state_dict(),
            optimizer=optimizer.state_dict()),
        str(tmp_path / 'w' / 'iter_2.pth'))
    work = str(tmp_path / 'w')
    probe = (
        'import sys, torch\n'
        'import torch.distributed.tensor  # torch allow-lists DTensor itself\n'
        'p = sys.argv[1]\n'
        'def load(tag):\n'
        '    try:\n'
        '        ck = torch.load(p, weights_only=True)\n'
        '        print(tag, "ok", sorted(ck["message_hub"]))\n'
        '    except Exception as e:\n'
        '        print(tag, "fail", type(e).__name__)\n'
        'def allowed():  # a set: adding and removing may reorder the list\n'
        '    return set(torch.serialization.get_safe_globals())\n'
        'before = allowed()\n'
        'load("plain:")\n'
        'import mmreplk\n'
        'print("import changed safe globals:", allowed() != before)\n'
        'load("after import:")\n'
        'from mmreplk.utils import mmengine_checkpoint_safe_globals\n'
        'with mmengine_checkpoint_safe_globals():\n'
        '    load("scoped:")\n'
        'print("left behind:", allowed() != before)\n')
    proc = run_tool(['-c', probe, osp.join(work, 'iter_2.pth')])
    assert 'plain: fail' in proc.stdout
    assert 'import changed safe globals: False' in proc.stdout
    assert 'after import: fail' in proc.stdout
    assert 'scoped: ok' in proc.stdout
    assert 'left behind: False' in proc.stdout


def test_missing_data_root_gives_one_clear_message(tmp_path):
    missing = str(tmp_path / 'no_such_ade')
    proc = run_tool([
        'tools/train.py', 'configs/upernet_replknet31b_ade20k.py',
        '--work-dir',
        str(tmp_path / 'w'), '--cfg-options',
        f'train_dataloader.dataset.data_root={missing}'
    ],
                    check=False)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    assert f"data_root '{missing}' does not exist" in proc.stderr
    assert 'make_synthetic.py ade20k' in proc.stderr
    proc = run_tool([
        'tools/test.py', 'configs/upernet_replknet31b_ade20k.py',
        str(tmp_path / 'missing.pth')
    ],
                    check=False)
    assert proc.returncode == 2 and 'not found' in proc.stderr


def test_cpu_autocast_optim_wrapper_runs_forward_in_bf16():
    from mmengine.optim import build_optim_wrapper
    model = torch.nn.Linear(4, 3)
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='CPUAutocastOptimWrapper', optimizer=dict(type='SGD',
                                                           lr=0.1)))
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert model(x).dtype == torch.bfloat16
    assert model(x).dtype == torch.float32
    with pytest.raises(ValueError, match='bfloat16'):
        build_optim_wrapper(
            model,
            dict(
                type='CPUAutocastOptimWrapper',
                dtype='float8',
                optimizer=dict(type='SGD', lr=0.1)))


def test_amp_on_cpu_trains_under_bf16(synthetic_data, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('with a GPU --amp uses mmengine AmpOptimWrapper')
    config = 'tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py'
    root = synthetic_data['ade20k']
    proc = run_tool([
        'tools/train.py', config, '--amp', '--work-dir',
        str(tmp_path / 'w'), '--cfg-options'
    ] + [
        f'{s}_dataloader.dataset.data_root={root}'
        for s in ('train', 'val', 'test')
    ])
    log = proc.stdout + proc.stderr
    assert 'training under bf16 autocast on CPU' in log
    assert 'mIoU' in log and osp.isfile(str(tmp_path / 'w' / 'iter_1.pth'))
