"""UniRepLKNet through the tools, in process, on synthetic data: a tiny
UperNet and a tiny Cascade Mask R-CNN train a few iterations
(tools/train.py), evaluate (tools/test.py), re-parameterise
(tools/deploy/reparameterize.py --verify) and evaluate the deploy form to
the same metrics; the UperNet, with the family's real 13x13 kernels, also
trains under --amp (bf16 autocast on CPU)."""
import json
import math
import os.path as osp

import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.tools import load_tool

SEG_CONFIG = 'tests/configs/upernet_unireplknet-tiny_ade20k-synthetic.py'
DET_CONFIG = ('tests/configs/'
              'cascade_mask_rcnn_unireplknet-tiny_coco-synthetic.py')
# A few iterations at a constant lr of 1e-3 move the untrained model off
# its initial all-wrong prediction, so the metrics compared are not zeros.
TRAIN_OPTIONS = [
    'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
    'optim_wrapper.optimizer.lr=1e-3', 'param_scheduler=None',
    'randomness.seed=0'
]


@pytest.fixture(scope='module')
def tools():
    # mmengine's logger keeps the stream it was created with: create it
    # outside the tests' captured streams.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()
    return {
        name: load_tool(path)
        for name, path in (('train', 'tools/train.py'), ('test',
                                                         'tools/test.py'),
                           ('reparam', 'tools/deploy/reparameterize.py'))
    }


def data_options(kind, root):
    root = root.rstrip('/') + ('/' if kind == 'coco' else '')
    opts = [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ]
    if kind == 'coco':
        ann = f'{root}annotations/instances_val2017.json'
        opts += [
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
        ]
    return opts


def evaluate(tools, config, ckpt, work, name, opts):
    out = osp.join(work, f'{name}.json')
    assert tools['test'].main(
        [config, ckpt, '--work-dir', work, '--out-metrics', out] +
        (['--cfg-options'] + opts if opts else [])) == 0
    with open(out) as f:
        return json.load(f)


def train_reparameterize_evaluate(tools, config, kind, root, work, train,
                                  checkpoint):
    opts = data_options(kind, root)
    assert tools['train'].main([config, '--work-dir', work, '--cfg-options'] +
                               opts + TRAIN_OPTIONS + train) == 0
    ckpt = osp.join(work, checkpoint)
    trained = evaluate(tools, config, ckpt, work, 'train_form', opts)
    deploy = osp.join(work, 'deploy.pth')
    shape = ['64', '64'] if kind == 'ade20k' else ['96', '128']
    assert tools['reparam'].main(
        [config, ckpt, deploy, '--verify', '--shape', *shape, '--cfg-options'
         ] + opts) == 0
    state = torch.load(deploy, weights_only=True)['state_dict']
    assert any(k.endswith('dwconv.lk_origin.bias') for k in state)
    assert not any('dil_conv' in k or k.endswith('act.1.beta') for k in state)
    deployed = evaluate(tools, deploy.replace('.pth', '.py'), deploy, work,
                        'deploy_form', opts)
    return trained, deployed


@pytest.mark.slow
def test_upernet_trains_deploys_and_evaluates_alike(tools, synthetic_data,
                                                    tmp_path):
    trained, deployed = train_reparameterize_evaluate(
        tools, SEG_CONFIG, 'ade20k', synthetic_data['ade20k'], str(tmp_path),
        ['train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=4'],
        'iter_4.pth')
    assert trained['aAcc'] > 0 and trained['mIoU'] > 0
    assert set(trained) == set(deployed)
    for key, value in trained.items():
        assert deployed[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_upernet_trains_under_amp_with_13x13_kernels(tools, synthetic_data,
                                                     tmp_path):
    if torch.cuda.is_available():
        pytest.skip('with a GPU --amp uses mmengine AmpOptimWrapper')
    work = str(tmp_path)
    assert tools['train'].main(
        [SEG_CONFIG, '--amp', '--work-dir', work, '--cfg-options'] +
        data_options('ade20k', synthetic_data['ade20k']) + TRAIN_OPTIONS +
        ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']) == 0
    with mmengine_checkpoint_safe_globals():
        ckpt = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)
    assert "type='CPUAutocastOptimWrapper'" in ckpt['meta']['cfg']
    assert "dtype='bfloat16'" in ckpt['meta']['cfg']
    kernel = ckpt['state_dict']['backbone.stages.1.0.dwconv.lk_origin.weight']
    assert kernel.shape[-1] == 13
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())
    # The losses of both iterations, as the runner logged them.
    losses, _ = ckpt['message_hub']['log_scalars']['train/loss'].data
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)


@pytest.mark.slow
def test_cascade_mask_rcnn_trains_deploys_and_evaluates_alike(
        tools, synthetic_data, tmp_path):
    trained, deployed = train_reparameterize_evaluate(tools, DET_CONFIG,
                                                      'coco',
                                                      synthetic_data['coco'],
                                                      str(tmp_path), [],
                                                      'epoch_1.pth')
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(trained)
    assert set(trained) == set(deployed)
    for key, value in trained.items():
        assert deployed[key] == pytest.approx(value, abs=1e-6), key
