#!/usr/bin/env python
"""Run a segmentor or detector on one image and save the prediction drawn
over it, through mmseg's / mmdet's own APIs (docs/deployment.md).
"""
import argparse
import sys

import torch
from mmengine.config import DictAction

import mmreplk  # noqa: F401  (registers the backbones)
from mmreplk.utils import (ToolInputError, check_checkpoint_matches,
                           check_output_paths, load_config,
                           mmengine_checkpoint_safe_globals, model_task,
                           read_state_dict, require_file, tool_main)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('image', help='input image file')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output .png/.jpg')
    parser.add_argument('--device', help="default: 'cuda:0' when available")
    parser.add_argument('--opacity', type=float, default=0.5, help='seg.')
    parser.add_argument('--score-thr', type=float, default=0.3, help='det.')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing --out')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def check_args(args):
    require_file(args.image, 'Image')
    require_file(args.checkpoint, 'Checkpoint')
    if not args.out.lower().endswith(IMAGE_SUFFIXES):
        raise ToolInputError(f'--out {args.out!r} must end with one of '
                             f'{", ".join(IMAGE_SUFFIXES)}.')
    check_output_paths({'--out image': args.out},
                       inputs=dict(
                           image=args.image,
                           config=args.config,
                           checkpoint=args.checkpoint),
                       force=args.force)
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


def predict(cfg, checkpoint, device, task, image_path):
    """The library's own model loading (a training checkpoint's mmengine
    state allowed for this load), the strict check, then inference."""
    if task == 'segmentation':
        from mmseg.apis import inference_model as infer
        from mmseg.apis import init_model as init
    else:
        from mmdet.apis import inference_detector as infer
        from mmdet.apis import init_detector as init
    with mmengine_checkpoint_safe_globals():
        model = init(cfg, checkpoint, device=device)
    check_checkpoint_matches(read_state_dict(checkpoint), model, checkpoint)
    return model, infer(model, image_path)


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
    model, result = predict(cfg, args.checkpoint, device, task, args.image)
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
