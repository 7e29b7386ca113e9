#!/usr/bin/env python
"""Convert official UniRepLKNet checkpoints (AILab-CVC/UniRepLKNet) to
mmreplk's ``UniRepLKNet`` keys.

    python tools/model_converters/unireplknet_official.py \
        unireplknet_t_in1k_224_acc83.21.pth pretrain/unireplknet_t_in1k.pth
    python tools/model_converters/unireplknet_official.py \
        upernet_unireplknet_t_512_160k_ade20k_miou48.56.pth \
        upernet_unireplknet_t_ade20k.pth \
        --config configs/upernet_unireplknet_t_ade20k.py

ImageNet checkpoints (1K, 22K, 22K->1K; training or deploy form) become
backbone keys (the classifier dropped, the output norms added), fine-tuned
UperNet / Cascade Mask R-CNN checkpoints (``--config``) whole-model keys
(``ema_*`` buffers dropped and listed); strict (docs/unireplknet.md).
"""
import re
import sys

from mmreplk.models.backbones import UniRepLKNet
from mmreplk.utils import CheckpointMismatchError, tool_main
from mmreplk.utils.checkpoint_conversion import BackboneConverter, convert_main

STEM_KEY = 'downsample_layers.0.3.weight'
BLOCK_KEY = re.compile(r'^stages\.(\d)\.(\d+)\.')
# Second Linear of a block: biased only in the deploy form.
DEPLOY_KEY = re.compile(r'^stages\.\d\.\d+\.pwconv2\.0\.bias$')
# mmdet 2.x ExpMomentumEMAHook buffers: one per state-dict entry, named
# "ema_" + the entry's name with "." replaced by "_".
EMA_KEY = re.compile(r'^ema_')


def is_deploy_form(state):
    """Whether official backbone keys are in the deploy form."""
    return any(DEPLOY_KEY.match(k) for k in state)


class UniRepLKNetConverter(BackboneConverter):
    """mmreplk keeps the official names in both forms; only the classifier
    is dropped (and the detectors' EMA buffers)."""
    family = 'UniRepLKNet'
    archs = list(UniRepLKNet.arch_settings)
    dropped = re.compile(r'^(norm|head)\.')

    def rename_head(self, name):
        """Head keys are named alike in mmseg 0.x/1.x and mmdet 2.x/3.x;
        ``ema_*`` buffers are dropped."""
        return None if EMA_KEY.match(name) else name

    def whole_model_config(self, cfg, backbone_state):
        """A fine-tuned checkpoint whose backbone is in the deploy form
        (official ``reparameterize.py``) is checked against the config's
        model built with ``deploy=True``."""
        if is_deploy_form(backbone_state):
            cfg.model.backbone.deploy = True
            cfg.model.backbone.init_cfg = None
            return cfg, dict(deploy=True)
        return cfg, dict(deploy=False)

    def infer_arch(self, converted, args):
        if STEM_KEY not in converted:
            raise CheckpointMismatchError(
                f'No {STEM_KEY} (the stem) in the checkpoint: not a '
                'UniRepLKNet checkpoint.')
        width = converted[STEM_KEY].shape[0]
        depths = [0] * 4
        for key in converted:
            match = BLOCK_KEY.match(key)
            if match:
                stage, block = int(match.group(1)), int(match.group(2))
                depths[stage] = max(depths[stage], block + 1)
        for name, arch in UniRepLKNet.arch_settings.items():
            if arch['channels'][0] == width and \
                    list(arch['stage_blocks']) == depths:
                return name
        known = {
            n: (a['channels'][0], a['stage_blocks'])
            for n, a in UniRepLKNet.arch_settings.items()
        }
        raise CheckpointMismatchError(
            f'Stem width {width} and stage depths {depths} match no '
            f'UniRepLKNet arch (width, depths) {known}; pass --arch.')

    def build_backbone(self, arch, converted, args):
        deploy = is_deploy_form(converted)
        backbone = UniRepLKNet(arch, deploy=deploy)
        return backbone, dict(deploy=deploy)

    def reconcile(self, converted, dropped, backbone):
        """The output norms ``norm0``..``norm3`` of the dense backbone,
        which no ImageNet checkpoint has: identity initialisation (the
        official dense backbone creates them after loading the ImageNet
        weights)."""
        fresh = []
        for key, value in backbone.state_dict().items():
            if re.match(r'^norm\d\.', key) and key not in converted:
                converted[key] = value.clone()
                fresh.append(key)
        return fresh


@tool_main
def main(argv=None):
    return convert_main(UniRepLKNetConverter(), argv, __doc__.split('\n\n')[0])


if __name__ == '__main__':
    sys.exit(main())
