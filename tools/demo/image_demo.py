#!/usr/bin/env python
"""Run a segmentor or detector on one image and save the prediction drawn
over it.

    python tools/demo/image_demo.py IMAGE CONFIG CHECKPOINT --out result.png \
        [--device cpu] [--opacity 0.5] [--score-thr 0.3] [--force]

Training-form and deploy-form models both work (a deploy checkpoint goes
with the config OUT.py written by tools/deploy/reparameterize.py). Nothing
here is mmreplk-specific: the model is loaded by mmseg's ``init_model`` or
mmdet's ``init_detector``, run by ``inference_model`` /
``inference_detector`` and drawn by the config's visualizer
(``SegLocalVisualizer``: class palette; ``DetLocalVisualizer``: boxes and
masks). The one addition is a strict checkpoint check: the libraries load
weights non-strictly, so a checkpoint of another architecture would give a
partly random model with a warning; here it is an error.
"""
import argparse
import os
import os.path as osp
import sys
import warnings

# setuptools' deprecation warning for mmengine's ``import pkg_resources``
# (printed several times per config): nothing a user can act on.
warnings.filterwarnings(
    'ignore',
    category=UserWarning,
    message='pkg_resources is deprecated as an API')

import torch
from mmengine.config import DictAction

import mmreplk  # noqa: F401  (registers the backbones)
from mmreplk.utils import (ToolInputError, check_checkpoint_matches,
                           load_config, mmengine_checkpoint_safe_globals,
                           model_task, read_state_dict, require_file,
                           tool_main)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', help='input image file')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--out',
        required=True,
        help='output image (.png/.jpg) with the prediction')
    parser.add_argument(
        '--device',
        default=None,
        help="e.g. 'cpu', 'cuda:0' (default: cuda:0 when "
        'available, else cpu)')
    parser.add_argument(
        '--opacity',
        type=float,
        default=0.5,
        help='segmentation: opacity of the class colours')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='detection: smallest score drawn')
    parser.add_argument(
        '--force', action='store_true', help='overwrite an existing --out')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def check_args(args):
    require_file(args.image, 'Image')
    require_file(args.checkpoint, 'Checkpoint')
    if not args.out.lower().endswith(IMAGE_SUFFIXES):
        raise ToolInputError(f'--out {args.out!r} must end with one of '
                             f'{", ".join(IMAGE_SUFFIXES)}.')
    for path in (args.image, args.config, args.checkpoint):
        if osp.exists(args.out) and osp.samefile(path, args.out):
            raise ToolInputError(f'--out {args.out!r} is the input file '
                                 f'{path!r}; choose another name.')
    if osp.exists(args.out) and not args.force:
        raise ToolInputError(f'{args.out!r} already exists; pass --force to '
                             'overwrite it or choose another --out.')
    if not 0 <= args.opacity <= 1:
        raise ToolInputError(f'--opacity must be in [0, 1], got '
                             f'{args.opacity}.')


def load_image(path):
    import mmcv
    try:
        return mmcv.imread(path, channel_order='rgb')
    except Exception as err:  # unreadable or not an image
        raise ToolInputError(f'Image {path!r} cannot be read: '
                             f'{type(err).__name__}: {err}') from err


def init(cfg, checkpoint, device, task):
    """The library's own model loading (a training checkpoint's mmengine
    state allowed for this load), then the strict check."""
    with mmengine_checkpoint_safe_globals():
        if task == 'segmentation':
            from mmseg.apis import init_model
            model = init_model(cfg, checkpoint, device=device)
        else:
            from mmdet.apis import init_detector
            model = init_detector(cfg, checkpoint, device=device)
    check_checkpoint_matches(read_state_dict(checkpoint), model, checkpoint)
    return model


def predict(model, image_path, task):
    if task == 'segmentation':
        from mmseg.apis import inference_model
        return inference_model(model, image_path)
    from mmdet.apis import inference_detector
    return inference_detector(model, image_path)


def draw(model, image, result, out, task, opacity, score_thr):
    """Draw ``result`` over ``image`` (RGB) with the config's visualizer and
    write ``out``."""
    from mmengine.registry import VISUALIZERS
    cfg = dict(model.cfg.visualizer)
    # A fresh instance (visualizers are named singletons) that writes only
    # ``out``: no vis backends, hence no vis_data folders.
    cfg.update(
        name=f'image_demo_{id(result)}', vis_backends=None, save_dir=None)
    visualizer = VISUALIZERS.build(cfg)
    visualizer.dataset_meta = model.dataset_meta
    extra = dict(pred_score_thr=score_thr) if task == 'detection' else {}
    if task == 'segmentation':
        visualizer.alpha = opacity
    # add_datasample writes BGR files from the RGB canvas.
    visualizer.add_datasample(
        'prediction',
        image,
        data_sample=result,
        draw_gt=False,
        show=False,
        out_file=out,
        **extra)
    return visualizer.get_image()


@tool_main
def main(argv=None):
    args = parse_args(argv)
    device = args.device or ('cuda:0' if torch.cuda.is_available() else 'cpu')
    check_args(args)
    cfg = load_config(args.config, args.cfg_options)
    task = model_task(cfg)
    image = load_image(args.image)
    model = init(cfg, args.checkpoint, device, task)
    result = predict(model, args.image, task)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    drawn = draw(model, image, result, args.out, task, args.opacity,
                 args.score_thr)
    if task == 'segmentation':
        classes = result.pred_sem_seg.data.unique().tolist()
        names = [model.dataset_meta['classes'][c] for c in classes]
        summary = f'{len(classes)} classes: {", ".join(names[:8])}' + \
            (' ...' if len(names) > 8 else '')
    else:
        kept = int((result.pred_instances.scores >= args.score_thr).sum())
        summary = f'{kept} detections with score >= {args.score_thr}'
    print(f'{args.out}: {drawn.shape[1]}x{drawn.shape[0]}, {summary}')


if __name__ == '__main__':
    sys.exit(main())
