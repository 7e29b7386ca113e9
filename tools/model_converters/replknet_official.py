#!/usr/bin/env python
"""Convert official RepLKNet ImageNet checkpoints (DingXiaoH/RepLKNet-pytorch)
or mmpretrain RepLKNet checkpoints to mmreplk's ``RepLKNet`` backbone keys.

    python tools/model_converters/replknet_official.py \
        RepLKNet-31B_ImageNet-1K_224.pth pretrain/replknet31b_in1k.pth

The conversion is strict: every source key is mapped or explicitly dropped
(the ImageNet classifier: ``norm``/``head``, mmpretrain ``head.fc``), every
backbone key must be filled with the right shape; otherwise the missing and
unexpected keys are listed and nothing is written.
"""
import argparse
import re
import sys
from collections import OrderedDict

from mmreplk.models.backbones import RepLKNet
from mmreplk.utils import (CheckpointMismatchError, ToolInputError,
                           check_against_model, read_conversion_source,
                           save_state_dict, tool_main)

# Official / mmpretrain name -> mmreplk name (applied in order).
RENAMES = [
    (re.compile(r'\.prelkb_bn\.'), '.pre_norm.'),
    (re.compile(r'\.preffn_bn\.'), '.pre_norm.'),
    (re.compile(r'\.large_kernel\.lkb_origin\.'), '.large_kernel.large_conv.'),
    (re.compile(r'\.large_kernel\.lkb_reparam\.'),
     '.large_kernel.reparam_conv.'),
]
# The ImageNet classifier is not part of a dense-prediction backbone.
DROPPED = re.compile(r'^(norm\.|head\.)')
BASE_WIDTH_TO_ARCH = {128: '31B', 192: '31L', 256: 'XL'}


def convert_replknet(src_state):
    """Return ``(converted, dropped_keys)`` for a flat source state dict."""
    converted, dropped = OrderedDict(), []
    for name, value in src_state.items():
        if DROPPED.match(name):
            dropped.append(name)
            continue
        for pattern, repl in RENAMES:
            name = pattern.sub(repl, name)
        converted[name] = value
    return converted, dropped


def infer_arch(state):
    weight = state.get('stem.0.conv.weight')
    if weight is None:
        raise CheckpointMismatchError(
            'No stem.0.conv.weight in the checkpoint: not a RepLKNet '
            'checkpoint (or pass --arch).')
    width = weight.shape[0]
    if width not in BASE_WIDTH_TO_ARCH:
        raise CheckpointMismatchError(
            f'Stem width {width} matches no RepLKNet arch '
            f'{BASE_WIDTH_TO_ARCH}; pass --arch.')
    return BASE_WIDTH_TO_ARCH[width]


def build_target(arch, state):
    # A checkpoint of the merged (deploy) form needs a deploy-form target.
    deploy = any('.reparam_conv.' in k for k in state)
    model = RepLKNet(arch=arch, deploy=deploy, drop_path_rate=0.0)
    return model, deploy


def reconcile_stage_norms(converted, dropped, model):
    """Make the output norms of the stages match ``model``.

    * mmpretrain stores the classifier's final norm as ``stages.3.norm``;
      archs without normalised outputs (31B, 31L) have no such layer, so it
      is dropped with the classifier.
    * Archs with normalised outputs (XL) add a BN per stage for the dense
      heads that no ImageNet checkpoint has: those start from the identity
      BN initialisation (weight 1, bias 0, mean 0, var 1), as in the official
      downstream training. They are returned so the caller can report them.
    """
    norm_key = re.compile(r'^stages\.\d+\.norm\.')
    target = model.state_dict()
    new_keys = []
    if not model.arch['norm_intermediate_features']:
        for key in [k for k in converted if norm_key.match(k)]:
            dropped.append(key)
            del converted[key]
        return new_keys
    for key, value in target.items():
        if norm_key.match(key) and key not in converted:
            converted[key] = value.clone()
            new_keys.append(key)
    return new_keys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official or mmpretrain checkpoint')
    parser.add_argument('dst', help='output path (mmreplk backbone keys)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing output file')
    parser.add_argument(
        '--arch',
        choices=sorted(RepLKNet.arch_settings),
        help='default: inferred from the stem width')
    return parser.parse_args(argv)


@tool_main
def main(argv=None):
    args = parse_args(argv)
    src = read_conversion_source(args.src, args.dst, args.force)
    converted, dropped = convert_replknet(src)
    arch = args.arch or infer_arch(converted)
    try:
        model, deploy = build_target(arch, converted)
    except ValueError as err:  # the backbone refuses these options
        raise ToolInputError(str(err)) from err
    new_keys = reconcile_stage_norms(converted, dropped, model)
    check_against_model(converted, model, f'RepLKNet-{arch}')
    save_state_dict(
        converted,
        args.dst,
        meta=dict(source=args.src, arch=arch, deploy=deploy))
    print(f'Converted {len(converted)} tensors of RepLKNet-{arch} '
          f'({"deploy" if deploy else "training"} form) to {args.dst}; '
          f'dropped {len(dropped)} classifier keys '
          f'{sorted(set(k.split(".")[0] for k in dropped))}; '
          f'{len(new_keys)} freshly initialised output-norm keys.')


if __name__ == '__main__':
    sys.exit(main())
