#!/usr/bin/env python
"""Convert official OREPA ImageNet checkpoints (JUGGHM/OREPA_CVPR2022:
ResNet-18/34/50/101, WideResNet-18 (x2), ResNeXt-50, RepVGG-A0/A1/A2) to
mmreplk's ``OREPAResNet`` / ``OREPARepVGG`` backbone keys.

    python tools/model_converters/orepa_official.py \
        ResNet-50_OREPA.pth.tar pretrain/orepa_resnet50_in1k.pth

mmreplk keeps the official module names: the classifier (``linear.*``) is
dropped; arch and block type are inferred from the keys unless given.
"""
import re
import sys

from mmreplk.models.backbones import OREPARepVGG, OREPAResNet
from mmreplk.utils import CheckpointMismatchError, tool_main
from mmreplk.utils.checkpoint_conversion import BackboneConverter, convert_main

RESNET_ARCHS = {
    'ResNet-18': '18',
    'ResNet-34': '34',
    'ResNet-50': '50',
    'ResNet-101': '101',
    'ResNet-18-2x': '18-2x',
    'ResNeXt-50': 'resnext50_32x4d'
}
REPVGG_ARCHS = {f'RepVGG-{a}': a for a in OREPARepVGG.arch_settings}
ARCHS = dict(RESNET_ARCHS, **REPVGG_ARCHS)
# Key fragments of each unit family, training and deploy forms.
DEPLOY_MARKERS = ('orepa_reparam', 'or_large_reparam', 'or1x1_reparam',
                  'dbb_reparam', 'rbr_reparam')


def _stage_depths(state):
    depths = []
    for stage in range(1, 5):
        ids = {
            int(m.group(1))
            for k in state
            for m in [re.match(rf'stage{stage}\.(\d+)\.', k)] if m
        }
        depths.append(max(ids) + 1 if ids else 0)
    return tuple(depths)


def infer_arch_from_keys(state):
    """Official arch name from the key structure."""
    if any(k.startswith('stage0.conv1.') for k in state):
        depths = _stage_depths(state)
        bottleneck = any('.conv3.' in k for k in state)
        candidates = [
            name for name, key in RESNET_ARCHS.items()
            if OREPAResNet.arch_settings[key]['stage_blocks'] == depths and (
                OREPAResNet.arch_settings[key]['block'] == 'bottleneck'
            ) == bottleneck
        ]
        if len(candidates) > 1:  # 18 vs 18-2x, 50 vs ResNeXt-50: widths.
            width = next(v.shape[0] for k, v in state.items()
                         if k.startswith('stage1.0.conv1.') and v.dim() == 1)
            if bottleneck:
                candidates = ['ResNeXt-50' if width == 128 else 'ResNet-50']
            else:
                candidates = ['ResNet-18-2x' if width == 128 else 'ResNet-18']
        if candidates:
            return candidates[0]
    elif any(k.startswith('stage0.') for k in state):
        depths = _stage_depths(state)
        width = next(v.shape[0] for k, v in state.items()
                     if k.startswith('stage4.0.') and v.dim() == 1)
        for name, key in REPVGG_ARCHS.items():
            setting = OREPARepVGG.arch_settings[key]
            if setting['stage_blocks'] == depths and \
                    setting['channels'][3] == width:
                return name
    raise CheckpointMismatchError(
        'Cannot infer the architecture from the checkpoint keys (stage '
        f'depths {_stage_depths(state)}); pass --arch (one of {list(ARCHS)}).')


def infer_block_type(state, arch):
    keys = ' '.join(state)
    if arch in REPVGG_ARCHS:
        if 'weight_rbr_origin' in keys:
            return 'OREPA_VGG'
        return 'RepVGG' if 'rbr_' in keys else 'Conv'
    if 'weight_orepa_origin' in keys or 'weight_or1x1' in keys:
        return 'OREPA'
    if 'dbb_' in keys:
        return 'DBB'
    return 'RepVGG' if 'rbr_' in keys else 'Conv'


class OREPAConverter(BackboneConverter):
    family = 'OREPA'
    archs = list(ARCHS)
    dropped = re.compile(r'^linear\.')

    def add_arguments(self, parser):
        parser.add_argument(
            '--block-type',
            choices=['OREPA', 'DBB', 'RepVGG', 'Conv', 'OREPA_VGG'],
            help='default: inferred from the keys')

    def infer_arch(self, converted, args):
        return infer_arch_from_keys(converted)

    def build_backbone(self, arch, converted, args):
        block_type = args.block_type or infer_block_type(converted, arch)
        # A checkpoint of the merged (deploy) form needs a deploy target.
        deploy = any(marker in k for k in converted
                     for marker in DEPLOY_MARKERS)
        if arch in RESNET_ARCHS:
            backbone = OREPAResNet(
                arch=RESNET_ARCHS[arch], block_type=block_type, deploy=deploy)
        else:
            backbone = OREPARepVGG(
                arch=REPVGG_ARCHS[arch], block_type=block_type, deploy=deploy)
        return backbone, dict(block_type=block_type, deploy=deploy)


main = tool_main(lambda argv=None: convert_main(OREPAConverter(), argv,
                                                __doc__.split('\n\n')[0]))

if __name__ == '__main__':
    sys.exit(main())
