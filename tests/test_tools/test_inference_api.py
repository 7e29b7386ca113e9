"""mmseg's and mmdet's own inference APIs on mmreplk configs, in training
and deploy form, and tools/demo/image_demo.py on top of them."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from tests.helpers.tools import REPO, load_tool

# End-to-end tool runs.
pytestmark = pytest.mark.slow

SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


@pytest.fixture(scope='module', autouse=True)
def logger_outside_capsys():
    # mmengine's logger keeps the stream it was created with: create it
    # here, not inside a capsys test whose stream is closed afterwards.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()


def _checkpoints(tmp_path, config, dataset_meta):
    """A random-weight training checkpoint (with the dataset meta a runner
    saves) and its deploy checkpoint + config from reparameterize.py."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    train_ckpt = str(tmp_path / 'train.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dataset_meta)), train_ckpt)
    deploy_ckpt = str(tmp_path / 'deploy.pth')
    reparam = load_tool('tools/deploy/reparameterize.py')
    assert reparam.main([config, train_ckpt, deploy_ckpt]) == 0
    return dict(
        train=(osp.join(REPO, config), train_ckpt),
        deploy=(str(tmp_path / 'deploy.py'), deploy_ckpt))


@pytest.fixture(scope='module')
def seg_models(tmp_path_factory):
    from mmseg.datasets import ADE20KDataset
    meta = dict(
        classes=ADE20KDataset.METAINFO['classes'],
        palette=ADE20KDataset.METAINFO['palette'])
    return _checkpoints(tmp_path_factory.mktemp('seg'), SEG_CONFIG, meta)


@pytest.fixture(scope='module')
def det_models(tmp_path_factory):
    from mmdet.datasets import CocoDataset
    meta = dict(
        classes=CocoDataset.METAINFO['classes'],
        palette=CocoDataset.METAINFO['palette'])
    return _checkpoints(tmp_path_factory.mktemp('det'), DET_CONFIG, meta)


def _image(synthetic_data, name):
    if name == 'ade20k':
        pattern = osp.join(synthetic_data['ade20k'], 'images', 'validation',
                           '*.jpg')
    else:
        pattern = osp.join(synthetic_data['coco'], 'val2017', '*.jpg')
    return sorted(glob.glob(pattern))[0]


def test_mmseg_apis_training_and_deploy_form(seg_models, synthetic_data):
    """init_model + inference_model on the training form, MMSegInferencer
    on the deploy form (init_model on the deploy form: the image_demo
    test): the same prediction."""
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    image = _image(synthetic_data, 'ade20k')
    h, w = cv2.imread(image).shape[:2]
    config, ckpt = seg_models['train']
    model = init_model(config, ckpt, device='cpu')
    assert not model.backbone.deploy
    assert len(model.dataset_meta['classes']) == 150
    train = inference_model(model, image)
    assert tuple(train.pred_sem_seg.data.shape) == (1, h, w)
    config, ckpt = seg_models['deploy']
    inferencer = MMSegInferencer(model=config, weights=ckpt, device='cpu')
    assert inferencer.model.backbone.deploy
    deploy = inferencer(image, return_datasamples=True)
    torch.testing.assert_close(
        deploy.seg_logits.data, train.seg_logits.data, rtol=1e-4, atol=1e-4)
    assert torch.equal(deploy.pred_sem_seg.data, train.pred_sem_seg.data)


def test_mmdet_apis_training_and_deploy_form(det_models, synthetic_data):
    """init_detector + inference_detector on the training form,
    DetInferencer on the deploy form (init_detector on the deploy form: the
    image_demo test): the same detections."""
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    image = _image(synthetic_data, 'coco')
    config, ckpt = det_models['train']
    model = init_detector(config, ckpt, device='cpu')
    assert not model.backbone.deploy
    train = inference_detector(model, image).pred_instances
    assert len(train) > 0
    config, ckpt = det_models['deploy']
    inferencer = DetInferencer(
        model=config, weights=ckpt, device='cpu', show_progress=False)
    assert inferencer.model.backbone.deploy
    out = inferencer(image, return_datasamples=True)
    deploy = out['predictions'][0].pred_instances
    torch.testing.assert_close(
        deploy.scores, train.scores, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(
        deploy.bboxes, train.bboxes, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize('task', ['segmentation', 'detection'])
def test_image_demo_writes_overlay(task, seg_models, det_models,
                                   synthetic_data, tmp_path, capsys):
    tool = load_tool('tools/demo/image_demo.py')
    models = seg_models if task == 'segmentation' else det_models
    image = _image(synthetic_data,
                   'ade20k' if task == 'segmentation' else 'coco')
    config, ckpt = models['deploy']
    out = str(tmp_path / 'vis' / 'result.png')
    # Random weights score every box ~1/81: draw them all.
    assert tool.main([
        image, config, ckpt, '--out', out, '--device', 'cpu', '--score-thr',
        '0'
    ]) == 0
    drawn, original = cv2.imread(out), cv2.imread(image)
    assert drawn is not None and drawn.shape == original.shape
    # Something was drawn over the image.
    assert np.abs(drawn.astype(int) - original.astype(int)).mean() > 1
    assert out in capsys.readouterr().out
    # No visualizer backend folders next to the output.
    assert sorted(glob.glob(str(tmp_path / 'vis' / '*'))) == [out]
    # An existing --out is kept without --force.
    before = open(out, 'rb').read()
    assert tool.main([image, config, ckpt, '--out', out]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'already exists' in err
    assert open(out, 'rb').read() == before


def test_image_demo_errors(seg_models, synthetic_data, tmp_path, capsys):
    tool = load_tool('tools/demo/image_demo.py')
    image = _image(synthetic_data, 'ade20k')
    config, ckpt = seg_models['train']
    out = str(tmp_path / 'r.png')

    def error(argv, lines=1):
        assert tool.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and 'Traceback' not in err, err
        assert lines is None or err.count('\n') == lines, err
        return err

    assert 'Image' in error(
        [str(tmp_path / 'no.jpg'), config, ckpt, '--out', out])
    assert 'Checkpoint' in error(
        [image, config, str(tmp_path / 'no.pth'), '--out', out])
    assert '.png' in error(
        [image, config, ckpt, '--out',
         str(tmp_path / 'r.txt')])
    # The deploy checkpoint with the training config: another architecture.
    # (The message lists the missing/unexpected keys on further lines.)
    err = error([image, config, seg_models['deploy'][1], '--out', out],
                lines=None)
    assert 'unexpected keys' in err and 'reparameterize.py' in err
    assert not osp.exists(out)


def test_docs_example_png_is_a_valid_image():
    """docs/images/ example written by image_demo.py: a readable PNG of the
    synthetic ADE20K image's size (256x256)."""
    path = osp.join(REPO, 'docs', 'images',
                    'image_demo_replknet-tiny_random-weights.png')
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    image = cv2.imread(path)
    assert image is not None and image.shape == (256, 256, 3)
