#!/usr/bin/env python
"""Effective receptive field of a config's backbone, as a PNG heat map.

The RepLKNet paper's method, area ratios printed and written to
``--out-json``; ``--compare`` draws several models side by side
(docs/tools.md).
"""
import argparse
import io
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.utils import ProgressBar

import mmreplk  # noqa: F401  (registers the backbones)
from mmreplk.analysis.effective_receptive_field import (
    PAPER_THRESHOLDS, aggregate_scores, high_contribution_area_ratio,
    list_images, load_image, normalise_scores)
from mmreplk.utils import (ToolInputError, atomic_write_bytes,
                           atomic_write_json, build_model_from_config,
                           check_checkpoint_matches, check_output_paths,
                           load_config, read_state_dict, require_file,
                           tool_main)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--images', required=True, help='image directory')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument(
        '--compare',
        nargs='+',
        default=[],
        metavar='CONFIG[:CKPT]',
        help='more models to draw in the same figure')
    parser.add_argument('--labels', nargs='+', help='one title per model')
    parser.add_argument('--size', type=int, default=1024, help='paper: 1024')
    parser.add_argument('--num-images', type=int, default=50, help='paper: 50')
    parser.add_argument('--out-json', help='write the area ratios here')
    flag = dict(action='store_true')
    parser.add_argument('--save-npy', **flag, help='score maps: OUT-<i>.npy')
    parser.add_argument('--force', **flag, help='replace existing outputs')
    args = parser.parse_args(argv)
    if args.size < 32 or args.num_images < 1:
        parser.error('--size must be >= 32 and --num-images >= 1')
    return args


def parse_models(args):
    models = [(args.config, args.checkpoint)]
    for spec in args.compare:
        config, _, checkpoint = spec.partition(':')
        models.append((config, checkpoint or None))
    labels = args.labels or [
        osp.splitext(osp.basename(c))[0] for c, _ in models
    ]
    if len(labels) != len(models):
        raise ToolInputError(f'--labels gives {len(labels)} names for '
                             f'{len(models)} models.')
    outputs = {'figure': args.out}
    if args.out_json:
        outputs['JSON report'] = args.out_json
    if args.save_npy:
        outputs.update((f'score map {i}', f'{osp.splitext(args.out)[0]}-{i}'
                        '.npy') for i in range(len(models)))
    inputs = {f'input {p}': p for model in models for p in model}
    check_output_paths(outputs, inputs, args.force)
    return models, labels


def build_backbone(config, checkpoint):
    """The config's backbone (eval mode) with the checkpoint loaded into the
    whole model or, for a backbone-only checkpoint, the backbone; and the
    data pre-processor's normalisation."""
    if checkpoint:
        require_file(checkpoint, 'Checkpoint')
    cfg = load_config(config)
    model = build_model_from_config(cfg)
    if checkpoint:
        state = read_state_dict(checkpoint)
        try:
            check_checkpoint_matches(state, model, checkpoint)
            model.load_state_dict(state)
        except ToolInputError as whole_model_error:
            try:
                check_checkpoint_matches(state, model.backbone, checkpoint)
            except ToolInputError:
                raise whole_model_error
            model.backbone.load_state_dict(state)
    preprocessor = cfg.model.get('data_preprocessor', {})
    normalisation = dict(
        mean=preprocessor.get('mean', [123.675, 116.28, 103.53]),
        std=preprocessor.get('std', [58.395, 57.12, 57.375]),
        bgr_to_rgb=preprocessor.get('bgr_to_rgb', True))
    return model.backbone.eval(), normalisation


def draw(maps, report, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(maps), figsize=(4.2 * len(maps), 4.6), squeeze=False)
    for ax, data, item in zip(axes[0], maps, report):
        image = ax.imshow(data, cmap='RdYlGn', vmin=0, vmax=1)
        ratio = item['area_ratio']
        ax.set_title(
            f'{item["label"]}\nt=20%: {100 * ratio["0.2"]["ratio"]:.1f}%'
            f'  t=99%: {100 * ratio["0.99"]["ratio"]:.1f}%',
            fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.02, pad=0.02)
    buffer = io.BytesIO()  # a failed run never leaves half a PNG
    fig.savefig(buffer, format='png', dpi=100, bbox_inches='tight')
    plt.close(fig)
    atomic_write_bytes(buffer.getvalue(), path)


@tool_main
def main(argv=None):
    args = parse_args(argv)
    models, labels = parse_models(args)
    try:
        paths = list_images(args.images, args.num_images)
    except FileNotFoundError as err:  # no image directory, or no image in it
        raise ToolInputError(str(err)) from err
    backbones = [build_backbone(c, k) for c, k in models]
    maps, report = [], []
    for (backbone,
         norm), label, (config, checkpoint) in zip(backbones, labels, models):
        print(
            f'{label}: {len(paths)} images at {args.size}x{args.size}',
            file=sys.stderr)
        bar = ProgressBar(len(paths), file=sys.stderr)
        images = (load_image(p, args.size, **norm) for p in paths)
        scores, used = aggregate_scores(backbone, images, bar.update)
        sys.stderr.write('\n')
        normalised = normalise_scores(scores)
        ratio = {}
        for t in PAPER_THRESHOLDS:
            side, area = high_contribution_area_ratio(normalised, t)
            ratio[str(t)] = dict(side=side, ratio=area)
        if args.save_npy:
            np.save(f'{osp.splitext(args.out)[0]}-{len(maps)}.npy', scores)
        maps.append(normalised)
        report.append(
            dict(
                label=label,
                config=config,
                checkpoint=checkpoint,
                images=used,
                size=args.size,
                area_ratio=ratio))
    print('high-contribution area ratio (side of the centred square)')
    print('model'.ljust(32) + ''.join(f't={int(100 * t)}%'.rjust(16)
                                      for t in PAPER_THRESHOLDS))
    for item in report:
        print(item['label'][:31].ljust(32) +
              ''.join(f"{100 * item['area_ratio'][str(t)]['ratio']:7.2f}% "
                      f"({item['area_ratio'][str(t)]['side']:4d})".rjust(16)
                      for t in PAPER_THRESHOLDS))
    draw(maps, report, args.out)
    print(f'ERF figure written to {args.out}')
    if args.out_json:
        atomic_write_json(
            dict(models=report, torch=torch.__version__), args.out_json)


if __name__ == '__main__':
    sys.exit(main())
