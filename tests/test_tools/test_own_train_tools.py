"""Configs decide training behaviour: a config on mmreplk's runtime bases
trains the same weights under tools/train.py and under mmseg's / mmdet's own
tools/train.py (shipped in the installed packages), and both resume it
bit-exactly (1 iteration, stop, resume to 2 == 2 straight). In-process, on
synthetic data; the detector's run is also validated and re-parameterised.
"""
import glob
import json
import os
import os.path as osp
import sys

import mmdet
import mmseg
import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals, runner_config
from tests.helpers.tools import load_tool, seg_options

SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


def seg_case(root, iters, validate=False):
    return seg_options(
        root,
        iters,
        [
            'default_hooks.checkpoint.interval=1',
            f'train_cfg.val_begin={2 if validate else 3}',
            # a data-loader worker: its seeding must survive the resume too
            'train_dataloader.num_workers=1',
            'train_dataloader.persistent_workers=True'
        ])


def det_case(root, epochs, validate=False):
    root = root.rstrip('/') + '/'
    ann = f'{root}annotations/instances_val2017.json'
    return [
        '--cfg-options',
        *(f'{s}_dataloader.dataset.data_root={root}'
          for s in ('train', 'val', 'test')),
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
        # one image per epoch, few proposals: the cascade is slow on CPU
        'train_dataloader.dataset.indices=1',
        'model.train_cfg.rpn_proposal.max_per_img=20',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_begin={2 if validate else 3}',
        'randomness.seed=0'
    ]


CASES = dict(
    segmentation=(SEG_CONFIG, mmseg, 'iter', seg_case, 'ade20k'),
    detection=(DET_CONFIG, mmdet, 'epoch', det_case, 'coco'))


def weights(path):
    with mmengine_checkpoint_safe_globals():
        return torch.load(path, weights_only=True)['state_dict']


def assert_same_weights(path_a, path_b):
    a, b = weights(path_a), weights(path_b)
    assert a.keys() == b.keys()
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=0, msg=key)


def file_id(path):
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns


class Runs:
    """Our tools/train.py and the library's own, each into ``work/<name>``
    (checkpoints after every iteration or epoch)."""

    def __init__(self, task, tmp_path, root, monkeypatch):
        self.config, package, self.unit, self.options, _ = CASES[task]
        self.tmp_path, self.root = tmp_path, root
        self.monkeypatch = monkeypatch
        self.ours = load_tool('tools/train.py')
        self.library = load_tool(
            osp.join(
                osp.dirname(package.__file__), '.mim', 'tools', 'train.py'))

    def argv(self, name, n, resume, validate=False):
        return [self.config, '--work-dir',
                str(self.tmp_path / name)
                ] + (['--resume'] if resume else []) + self.options(
                    self.root, n, validate)

    def train(self, tool, name, n, resume=False, validate=False):
        argv = self.argv(name, n, resume, validate)
        if tool == 'ours':
            assert self.ours.main(argv) == 0
        else:  # the library's train.py reads sys.argv
            self.monkeypatch.setattr(sys, 'argv', ['train.py'] + argv)
            self.library.main()

    def train_and_resume(self, tool, name):
        """1 iteration (or epoch), stop, resume to 2; the checkpoint of the
        first run is left as it was (nothing was trained from scratch)."""
        self.train(tool, name, 1)
        first = self.checkpoint(name, 1)
        before = file_id(first)
        self.train(tool, name, 2, resume=True)
        assert file_id(first) == before
        return self.checkpoint(name, 2)

    def checkpoint(self, name, n):
        return self.tmp_path / name / f'{self.unit}_{n}.pth'


@pytest.mark.slow
def test_segmentation_trains_and_resumes_alike(synthetic_data, tmp_path,
                                               monkeypatch):
    runs = Runs('segmentation', tmp_path, synthetic_data['ade20k'],
                monkeypatch)
    args = runs.ours.parse_args(runs.argv('ours', 2, False))
    cfg = runner_config(args)
    # Nothing to add: the config's bases decide how it trains.
    assert runs.ours.config_changes(cfg, args) == []
    assert cfg.runner_type == 'SafeResumeRunner'
    runs.train('library', 'library', 2)
    ours_resumed = runs.train_and_resume('ours', 'ours')
    assert_same_weights(
        runs.checkpoint('library', 1), runs.checkpoint('ours', 1))
    assert_same_weights(runs.checkpoint('library', 2), ours_resumed)
    library_resumed = runs.train_and_resume('library', 'library_resumed')
    assert_same_weights(runs.checkpoint('library', 2), library_resumed)


@pytest.mark.slow
def test_detection_trains_resumes_and_reparameterizes_alike(
        synthetic_data, tmp_path, monkeypatch):
    root = synthetic_data['coco']
    runs = Runs('detection', tmp_path, root, monkeypatch)
    args = runs.ours.parse_args(runs.argv('ours', 2, False))
    assert runs.ours.config_changes(runner_config(args), args) == []
    # Ours: 2 epochs straight, validated after the second (logged by a
    # visualizer of its own: mmengine reuses one of the same name within a
    # process, with the first run's log directory).
    runs.options = lambda root, n, validate: det_case(root, n, validate) + [
        f'visualizer.name=own_train_{tmp_path.name}'
    ] * validate
    runs.train('ours', 'ours', 2, validate=True)
    runs.options = det_case
    library_resumed = runs.train_and_resume('library', 'library')
    assert_same_weights(
        runs.checkpoint('ours', 1), runs.checkpoint('library', 1))
    assert_same_weights(runs.checkpoint('ours', 2), library_resumed)
    scalars = glob.glob(
        str(tmp_path / 'ours' / '*' / 'vis_data' / 'scalars.json'))
    records = [json.loads(line) for line in open(scalars[0])]
    assert any({'coco/bbox_mAP', 'coco/segm_mAP'} <= set(r) for r in records)
    out = tmp_path / 'deploy.pth'
    reparam = load_tool('tools/deploy/reparameterize.py')
    assert reparam.main([
        DET_CONFIG,
        str(runs.checkpoint('ours', 2)),
        str(out), '--verify', '--shape', '96', '128'
    ] + det_case(root, 2)) == 0
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['deploy'] and meta['verify']['relative'] <= 1e-4
