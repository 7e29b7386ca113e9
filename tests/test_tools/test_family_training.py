"""Every backbone family trains one iteration through tools/train.py with its
real config (shrunk) on synthetic data, for segmentation and detection, is
validated, and its checkpoint re-parameterises through
tools/deploy/reparameterize.py with equal outputs (in-process)."""
import glob
import json
import os.path as osp

import pytest
import torch

from tests.helpers.tools import REPO, load_tool

CASES = [
    ('tests/configs/upernet_orepa-r18_ade20k-synthetic.py', 'ade20k'),
    ('tests/configs/cascade_mask_rcnn_orepa-r18_coco-synthetic.py', 'coco'),
    ('tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py', 'ade20k'),
    ('tests/configs/cascade_mask_rcnn_shiftwise-mini_coco-synthetic.py',
     'coco'),
]


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
    return ['--cfg-options'] + opts


def validation_metrics(work_dir):
    """The metrics of the last validation, from mmengine's scalars.json."""
    path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        records = [json.loads(line) for line in f]
    return [r for r in records if 'step' in r and 'loss' not in r][-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    'config,kind', CASES, ids=[osp.basename(c[0]) for c in CASES])
def test_train_one_iteration_and_reparameterize(config, kind, synthetic_data,
                                                tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    work = str(tmp_path / 'work')
    # A visualizer of its own: mmengine reuses one of the same name within a
    # process, with the first run's log directory.
    opts = data_options(kind, synthetic_data[kind]) + [
        f'visualizer.name=family_training_{tmp_path.name}'
    ]
    assert load_tool('tools/train.py').main([config, '--work-dir', work] +
                                            opts) == 0
    metric = 'mIoU' if kind == 'ade20k' else 'coco/segm_mAP'
    assert metric in validation_metrics(work)
    ckpt = sorted(glob.glob(osp.join(work, '*_1.pth')))
    assert ckpt, f'no checkpoint in {work}'
    out = str(tmp_path / 'deploy.pth')
    shape = ['64', '64'] if kind == 'ade20k' else ['96', '128']
    assert load_tool('tools/deploy/reparameterize.py').main(
        [config, ckpt[0], out, '--verify', '--shape', *shape] + opts) == 0
    assert torch.load(
        out, weights_only=True)['meta']['verify']['relative'] <= 1e-4
    assert osp.isfile(out.replace('.pth', '.py'))
