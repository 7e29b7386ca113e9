#!/usr/bin/env python
"""Convert the official ShiftWise (SW) ImageNet checkpoint
(lidc54/shift-wiseConv, ``ShiftWise_v2``) to mmreplk's ``ShiftWiseNet``
backbone keys.

    python tools/model_converters/shiftwise_official.py \
        checkpoint-best.pth pretrain/shiftwise_tiny_in1k.pth [--arch tiny]

mmreplk keeps the official module names: the classifier (``head.*``, the
final ``norm.*``) is dropped, a merged ``LoRA.weight`` is split into paths,
and the dense backbone's per-output LayerNorms and sparsity masks (which no
ImageNet checkpoint has) are initialised and reported.
"""
import re
import sys
from collections import OrderedDict

import torch

from mmreplk.models.backbones import ShiftWiseNet
from mmreplk.utils import tool_main
from mmreplk.utils.checkpoint_conversion import BackboneConverter, convert_main

MERGED_PATHS = re.compile(r'^(.*\.large_kernel\.)LoRA\.weight$')


class ShiftWiseConverter(BackboneConverter):
    family = 'ShiftWiseNet'
    archs = sorted(ShiftWiseNet.arch_settings)
    dropped = re.compile(r'^(head\.|norm\.)')
    width_key = 'downsample_layers.0.3.weight'
    width_to_arch = {80: 'tiny', 96: 'small', 128: 'base'}
    # The per-output LayerNorms (identity initialisation) and the coarse
    # sparsity masks (ones: the official sparse training leaves pruned
    # kernels at zero in the weights themselves).
    fresh = re.compile(r'^(norm\d\.|.*\.sparse_mask$)')

    def add_arguments(self, parser):
        parser.add_argument(
            '--n-path',
            type=int,
            default=2,
            help='paths of the target model (official: 2)')
        parser.add_argument(
            '--n-rep',
            type=int,
            default=4,
            help='shift repetitions (official: 4)')
        parser.add_argument(
            '--ghost-ratio',
            type=float,
            default=0.23,
            help='ghost ratio (official: 0.23)')

    def rename(self, state, args):
        """A merged ``LoRA.weight`` (official ``merge_branches``) becomes
        path 0 with zero further paths (their sum is what the layer
        computes)."""
        converted, dropped = super().rename(state, args)
        split = OrderedDict()
        for name, value in converted.items():
            merged = MERGED_PATHS.match(name)
            if not merged:
                split[name] = value
                continue
            split[f'{merged.group(1)}LoRAs.0.weight'] = value
            for path in range(1, args.n_path):
                split[f'{merged.group(1)}LoRAs.{path}.weight'] = \
                    torch.zeros_like(value)
        return split, dropped

    def build_backbone(self, arch, converted, args):
        backbone = ShiftWiseNet(
            arch,
            n_path=args.n_path,
            n_rep=args.n_rep,
            ghost_ratio=args.ghost_ratio)
        return backbone, {}


main = tool_main(lambda argv=None: convert_main(ShiftWiseConverter(), argv,
                                                __doc__.split('\n\n')[0]))

if __name__ == '__main__':
    sys.exit(main())
