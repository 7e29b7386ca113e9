#!/usr/bin/env python
"""Convert official SLaK checkpoints (VITA-Group/SLaK) to mmreplk keys.

    python tools/model_converters/slak_official.py \
        checkpoint-best.pth pretrain/slak_tiny_in1k.pth [--arch T]
    python tools/model_converters/slak_official.py \
        upernet_slak_tiny_ade20k.pth slak_tiny_ade20k.pth \
        --config configs/upernet_slak_tiny_ade20k.py

ImageNet checkpoints (decomposed training form, with or without the branch
BNs) become ``SLaK`` backbone keys, fine-tuned UperNet / Cascade Mask R-CNN
checkpoints (``--config``) whole-model keys; strict, the sparse pattern
copied as it is (docs/slak.md).
"""
import re
import sys
from collections import OrderedDict

import torch

from mmreplk.models.backbones import SLaK
from mmreplk.utils import CheckpointMismatchError, tool_main
from mmreplk.utils.checkpoint_conversion import BackboneConverter, convert_main

BRANCH = re.compile(r'^stages\.(\d+)\.(\d+)\.large_kernel\.'
                    r'(vertical_strip|horizontal_strip|small_conv)\.(.+)$')
NOT_DECOMPOSED = re.compile(r'\.large_kernel\.(lkb_origin|lkb_reparam)\.')


def weight_density(state):
    """Fraction of non-zero entries over the 2-D and 4-D weights (the
    tensors official SLaK training makes sparse)."""
    total = kept = 0
    for value in state.values():
        if value.is_floating_point() and value.dim() in (2, 4):
            total += value.numel()
            kept += int(torch.count_nonzero(value))
    return kept / total if total else 1.0


def has_branch_norms(state):
    return any(
        BRANCH.match(k) and BRANCH.match(k).group(4).startswith('bn.')
        for k in state)


class SLaKConverter(BackboneConverter):
    """Official names but the strips'; the classifier is dropped."""
    family = 'SLaK'
    archs = sorted(SLaK.arch_settings)
    renames = (
        (r'\.large_kernel\.(LoRA1|Decom1)\.', '.large_kernel.vertical_strip.'),
        (r'\.large_kernel\.(LoRA2|Decom2)\.',
         '.large_kernel.horizontal_strip.'),
    )
    dropped = re.compile(r'^(norm|head)\.')

    def rename(self, state, args):
        not_decomposed = sorted(k for k in state if NOT_DECOMPOSED.search(k))
        if not_decomposed:
            raise CheckpointMismatchError(
                f'{not_decomposed[0]!r} (and {len(not_decomposed) - 1} more '
                'keys) belong to a non-decomposed SLaK (one K x K kernel, '
                'trained without --Decom True). The released SLaK models '
                'and mmreplk\'s SLaK decompose every large kernel into two '
                'strips (LoRA1 / LoRA2) and a small kernel; a K x K kernel '
                'cannot be written as those. Use the decomposed checkpoints '
                'of the official README.')
        return super().rename(state, args)

    def infer_arch(self, converted, args):
        """A preset name when the checkpoint's structure is one, else the
        arch dict read from the shapes (e.g. another kernel size)."""
        blocks = {}
        for key in converted:
            match = re.match(r'^stages\.(\d+)\.(\d+)\.', key)
            if match:
                stage, block = map(int, match.groups())
                blocks[stage] = max(blocks.get(stage, -1), block)
        try:
            stage_blocks = [blocks[s] + 1 for s in range(4)]
            channels = [
                converted[f'stages.{s}.0.norm.weight'].shape[0]
                for s in range(4)
            ]
            strips = [
                converted[f'stages.{s}.0.large_kernel.vertical_strip.'
                          'conv.weight'].shape[2:] for s in range(4)
            ]
        except KeyError as err:
            raise CheckpointMismatchError(
                f'No {err} in the checkpoint: not a decomposed SLaK '
                'checkpoint (4 stages of blocks with the strips LoRA1 / '
                'LoRA2), or pass --arch.') from None
        arch = dict(
            stage_blocks=stage_blocks,
            channels=channels,
            large_kernels=[int(s[0]) for s in strips],
            small_kernel=int(strips[0][1]))
        for name, preset in SLaK.arch_settings.items():
            if SLaK.parse_arch(preset) == arch:
                return name
        return arch

    def build_backbone(self, arch, converted, args):
        backbone = SLaK(arch, drop_path_rate=0.0, layer_scale_init_value=1.0)
        return backbone, dict(
            weight_density=round(weight_density(converted), 6),
            branch_norms='checkpoint'
            if has_branch_norms(converted) else 'initialised')

    def reconcile(self, converted, dropped, backbone):
        """Keys no ImageNet checkpoint has: the output norms ``norm{i}``
        (identity) and, when the checkpoint has no branch BN at all
        (official ``--bn False``), every branch BN (identity statistics)."""
        has_bn = has_branch_norms(converted)
        fresh = []
        for key, value in backbone.state_dict().items():
            branch = BRANCH.match(key)
            if key in converted:
                continue
            if re.match(r'^norm\d\.',
                        key) or (branch and branch.group(4).startswith('bn.')
                                 and not has_bn):
                converted[key] = value.clone()
                fresh.append(key)
        # Keep the backbone's key order (tidy checkpoints, same as a save).
        ordered = OrderedDict((k, converted.pop(k))
                              for k in backbone.state_dict() if k in converted)
        ordered.update(converted)
        converted.clear()
        converted.update(ordered)
        return fresh


@tool_main
def main(argv=None):
    return convert_main(SLaKConverter(), argv, __doc__.split('\n\n')[0])


if __name__ == '__main__':
    sys.exit(main())
