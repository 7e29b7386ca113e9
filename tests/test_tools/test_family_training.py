"""Every backbone family trains one iteration through tools/train.py with its
real config (shrunk) on synthetic data, for segmentation and detection, and
its checkpoint re-parameterises through tools/deploy/reparameterize.py with
equal outputs."""
import glob
import os.path as osp

import pytest

from tests.helpers.tools import run_tool

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


@pytest.mark.parametrize(
    'config,kind', CASES, ids=[osp.basename(c[0]) for c in CASES])
def test_train_one_iteration_and_reparameterize(config, kind, synthetic_data,
                                                tmp_path):
    work = str(tmp_path / 'work')
    opts = data_options(kind, synthetic_data[kind])
    proc = run_tool(['tools/train.py', config, '--work-dir', work] + opts)
    log = proc.stdout + proc.stderr
    assert ('mIoU' if kind == 'ade20k' else 'coco/segm_mAP') in log
    ckpt = sorted(glob.glob(osp.join(work, '*_1.pth')))
    assert ckpt, f'no checkpoint in {work}'
    out = str(tmp_path / 'deploy.pth')
    shape = ['64', '64'] if kind == 'ade20k' else ['96', '128']
    proc = run_tool([
        'tools/deploy/reparameterize.py', config, ckpt[0], out, '--verify',
        '--shape', *shape
    ] + opts)
    rel = float(proc.stdout.split('relative ')[1].split(')')[0])
    assert rel <= 1e-4, proc.stdout
    assert osp.isfile(out) and osp.isfile(out.replace('.pth', '.py'))
