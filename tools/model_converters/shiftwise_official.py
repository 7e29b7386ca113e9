#!/usr/bin/env python
"""Convert the official ShiftWise (SW) ImageNet checkpoint
(lidc54/shift-wiseConv, ``ShiftWise_v2``) to mmreplk's ``ShiftWiseNet``
backbone keys.

    python tools/model_converters/shiftwise_official.py \
        checkpoint-best.pth pretrain/shiftwise_tiny_in1k.pth [--arch tiny]

mmreplk keeps the official module names. The conversion unwraps ``model``
/ ``state_dict``, strips ``module.``, drops the classifier (``head.*`` and the
final ``norm.*``), splits a merged ``LoRA.weight`` (official
``merge_branches``) into path 0 with zero further paths (their sum is what
the layer computes), adds the per-output LayerNorms of the dense backbone
(identity initialisation) and all-ones sparsity masks (reported) and checks
the result strictly: missing, unexpected or wrongly-shaped keys are listed
and nothing is written. The official training checkpoint (``model``,
``optimizer``, ``epoch``, ``scaler`` and ``args``, an argparse.Namespace)
is read with the safe unpickler, Namespace allowed for that load only.
"""
import argparse
import re
import sys
from collections import OrderedDict

import torch

from mmreplk.models.backbones import ShiftWiseNet
from mmreplk.utils import (CheckpointMismatchError, ToolInputError,
                           check_against_model, read_conversion_source,
                           save_state_dict, tool_main)

DROPPED = re.compile(r'^(head\.|norm\.)')
MERGED_PATHS = re.compile(r'^(.*\.large_kernel\.)LoRA\.weight$')
STEM_WIDTH_TO_ARCH = {80: 'tiny', 96: 'small', 128: 'base'}


def convert_shiftwise(src_state, n_path):
    """Return ``(converted, dropped_keys)`` for a flat source state dict."""
    converted, dropped = OrderedDict(), []
    for name, value in src_state.items():
        if DROPPED.match(name):
            dropped.append(name)
            continue
        merged = MERGED_PATHS.match(name)
        if merged:
            converted[f'{merged.group(1)}LoRAs.0.weight'] = value
            for path in range(1, n_path):
                converted[f'{merged.group(1)}LoRAs.{path}.weight'] = \
                    torch.zeros_like(value)
            continue
        converted[name] = value
    return converted, dropped


def infer_arch(state):
    weight = state.get('downsample_layers.0.3.weight')
    if weight is None:
        raise CheckpointMismatchError(
            'No downsample_layers.0.3.weight (the stem) in the checkpoint: '
            'not a ShiftWise_v2 checkpoint.')
    width = weight.shape[0]
    if width not in STEM_WIDTH_TO_ARCH:
        raise CheckpointMismatchError(
            f'Stem width {width} matches no ShiftWiseNet arch '
            f'{STEM_WIDTH_TO_ARCH}; pass --arch.')
    return STEM_WIDTH_TO_ARCH[width]


def add_model_only_keys(converted, model):
    """Keys no ImageNet checkpoint has: the per-output LayerNorms (identity
    initialisation) and the coarse sparsity masks (ones: the official sparse
    training leaves pruned kernels at zero in the weights themselves)."""
    new_keys = []
    for key, value in model.state_dict().items():
        if re.match(r'^(norm\d\.|.*\.sparse_mask$)', key) and \
                key not in converted:
            converted[key] = value.clone()
            new_keys.append(key)
    return new_keys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official SW checkpoint')
    parser.add_argument('dst', help='output path (mmreplk backbone keys)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing output file')
    parser.add_argument(
        '--arch',
        choices=sorted(ShiftWiseNet.arch_settings),
        help='default: inferred from the stem width')
    parser.add_argument(
        '--n-path',
        type=int,
        default=2,
        help='paths of the target model (official: 2)')
    parser.add_argument(
        '--n-rep', type=int, default=4, help='shift repetitions (official: 4)')
    parser.add_argument(
        '--ghost-ratio',
        type=float,
        default=0.23,
        help='ghost ratio (official: 0.23)')
    return parser.parse_args(argv)


@tool_main
def main(argv=None):
    args = parse_args(argv)
    src = read_conversion_source(args.src, args.dst, args.force)
    converted, dropped = convert_shiftwise(src, args.n_path)
    arch = args.arch or infer_arch(converted)
    try:
        model = ShiftWiseNet(
            arch,
            n_path=args.n_path,
            n_rep=args.n_rep,
            ghost_ratio=args.ghost_ratio)
    except ValueError as err:  # the backbone refuses these options
        raise ToolInputError(str(err)) from err
    new_keys = add_model_only_keys(converted, model)
    check_against_model(converted, model, f'ShiftWiseNet-{arch}')
    save_state_dict(converted, args.dst, meta=dict(source=args.src, arch=arch))
    print(f'Converted {len(converted)} tensors of ShiftWiseNet-{arch} to '
          f'{args.dst}; dropped {len(dropped)} classifier keys; '
          f'{len(new_keys)} keys absent from ImageNet checkpoints (output '
          'norms, dense sparsity masks) initialised.')


if __name__ == '__main__':
    sys.exit(main())
