"""The synthetic datasets load through the real mmseg/mmdet dataset classes
with the configs' own pipelines."""
import glob
import json
import os.path as osp

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmreplk  # noqa: F401


def build_dataset(config, loader, data_root):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    registry = __import__(
        f'{cfg.default_scope}.registry', fromlist=['DATASETS']).DATASETS
    ds_cfg = cfg[loader].dataset
    ds_cfg.data_root = data_root
    return registry.build(ds_cfg)


def test_ade20k_layout_and_loading(synthetic_data):
    root = synthetic_data['ade20k']
    assert len(glob.glob(osp.join(root, 'images/training/ADE_train_*.jpg'))) \
        == 8
    assert len(
        glob.glob(osp.join(root, 'annotations/validation/ADE_val_*.png'))) == 2
    train = build_dataset('configs/upernet_replknet31b_ade20k.py',
                          'train_dataloader', root)
    assert type(train).__name__ == 'ADE20KDataset' and len(train) == 8
    sample = train[0]
    seg = sample['data_samples'].gt_sem_seg.data.numpy()
    # multi-scale resize (2048x512, ratio 0.5-2) then a crop of at most 512
    assert max(sample['inputs'].shape[-2:]) <= 512
    assert min(sample['inputs'].shape[-2:]) >= 128
    # reduce_zero_label: 'other' -> 255, classes 1..150 -> 0..149
    values = set(np.unique(seg).tolist())
    assert values <= set(range(150)) | {255} and len(values - {255}) >= 2
    val = build_dataset('configs/upernet_replknet31b_ade20k.py',
                        'val_dataloader', root)
    assert len(val) == 2


def test_cityscapes_layout_and_loading(synthetic_data):
    root = synthetic_data['cityscapes']
    imgs = glob.glob(osp.join(root, 'leftImg8bit/train/*/*_leftImg8bit.png'))
    gts = glob.glob(
        osp.join(root, 'gtFine/train/*/*_gtFine_labelTrainIds.png'))
    assert len(imgs) == len(gts) == 8
    train = build_dataset('configs/upernet_replknet31b_cityscapes.py',
                          'train_dataloader', root)
    assert type(train).__name__ == 'CityscapesDataset' and len(train) == 8
    seg = train[0]['data_samples'].gt_sem_seg.data.numpy()
    assert set(np.unique(seg).tolist()) <= set(range(19)) | {255}


def test_coco_layout_and_loading(synthetic_data):
    root = synthetic_data['coco']
    with open(osp.join(root, 'annotations/instances_train2017.json')) as f:
        ann = json.load(f)
    assert len(ann['categories']) == 80
    assert ann['categories'][-1]['id'] == 90
    assert all(len(a['segmentation'][0]) >= 6 for a in ann['annotations'])
    train = build_dataset('configs/cascade_mask_rcnn_replknet31b_coco.py',
                          'train_dataloader', root)
    assert type(train).__name__ == 'CocoDataset' and len(train) == 8
    sample = train[0]
    inst = sample['data_samples'].gt_instances
    assert len(inst) >= 1 and inst.masks.masks.shape[0] == len(inst)
    assert min(sample['inputs'].shape[-2:]) >= 384  # multi-scale resize


def test_synthetic_content_is_class_dependent(synthetic_data):
    """Pixels of one class share a colour that differs between classes, so
    the data is learnable."""
    import cv2
    root = synthetic_data['ade20k']
    img = cv2.imread(osp.join(root, 'images/training/ADE_train_00000001.jpg'))
    lab = cv2.imread(
        osp.join(root, 'annotations/training/ADE_train_00000001.png'), 0)
    means = {
        c: img[lab == c].mean(0)
        for c in np.unique(lab) if c != 0 and (lab == c).sum() > 50
    }
    assert len(means) >= 2
    cs = list(means)
    assert np.abs(means[cs[0]] - means[cs[1]]).max() > 15


def test_marker_says_the_data_is_synthetic(synthetic_data):
    for name, root in synthetic_data.items():
        with open(osp.join(root, 'SYNTHETIC_DATA.txt')) as f:
            text = f.read()
        assert text.startswith('SYNTHETIC DATA - not the real dataset.')
        assert f'make_synthetic.py {name} {root}' in text


def test_refuses_a_non_empty_target_without_force(tmp_path, capsys):
    """A directory that may hold the real dataset is left alone: the
    synthetic files have the real names (ADE_train_00000001.jpg ...)."""
    from tests.helpers.tools import load_tool
    tool = load_tool('tools/dataset_converters/make_synthetic.py')
    root = tmp_path / 'ADEChallengeData2016'
    real = root / 'images' / 'training' / 'ADE_train_00000001.jpg'
    real.parent.mkdir(parents=True)
    real.write_bytes(b'the real image')
    argv = [
        'ade20k',
        str(root), '--num', '1', '--num-val', '1', '--size', '32', '32'
    ]
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert 'error: ' in err and 'not empty' in err
    assert '--force' in err and 'possibly the real dataset' in err
    assert real.read_bytes() == b'the real image'
    assert not (root / 'SYNTHETIC_DATA.txt').exists()
    assert tool.main(argv + ['--force']) == 0
    assert real.read_bytes() != b'the real image'
    assert (root / 'SYNTHETIC_DATA.txt').is_file()
    # A second run into its own output is refused too (and says so).
    assert tool.main(argv) == 2
    assert 'synthetic data written by this tool' in capsys.readouterr().err
