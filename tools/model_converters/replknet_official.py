#!/usr/bin/env python
"""Convert official RepLKNet checkpoints (DingXiaoH/RepLKNet-pytorch) or
mmpretrain RepLKNet checkpoints to mmreplk keys.

    python tools/model_converters/replknet_official.py \
        RepLKNet-31B_ImageNet-1K_224.pth pretrain/replknet31b_in1k.pth
    python tools/model_converters/replknet_official.py \
        RepLKNet-31B_upernet_ade20k.pth r31b_ade20k.pth \
        --config configs/upernet_replknet31b_ade20k.py

ImageNet checkpoints become backbone keys (the classifier dropped);
fine-tuned UperNet and Cascade Mask R-CNN checkpoints become whole-model
checkpoints of the given config.
"""
import re
import sys

from mmreplk.models.backbones import RepLKNet
from mmreplk.utils import tool_main
from mmreplk.utils.checkpoint_conversion import BackboneConverter, convert_main


class RepLKNetConverter(BackboneConverter):
    family = 'RepLKNet'
    archs = sorted(RepLKNet.arch_settings)
    renames = (
        (r'\.prelkb_bn\.', '.pre_norm.'),
        (r'\.preffn_bn\.', '.pre_norm.'),
        (r'\.large_kernel\.lkb_origin\.', '.large_kernel.large_conv.'),
        (r'\.large_kernel\.lkb_reparam\.', '.large_kernel.reparam_conv.'),
    )
    dropped = re.compile(r'^(norm\.|head\.)')
    width_key = 'stem.0.conv.weight'
    width_to_arch = {128: '31B', 192: '31L', 256: 'XL'}
    # Archs with normalised outputs (XL) add a BN per stage for the dense
    # heads, which starts from the identity as in the official downstream
    # training.
    fresh = re.compile(r'^stages\.\d+\.norm\.')

    def build_backbone(self, arch, converted, args):
        # A checkpoint of the merged (deploy) form needs a deploy target.
        deploy = any('.reparam_conv.' in k for k in converted)
        backbone = RepLKNet(arch=arch, deploy=deploy, drop_path_rate=0.0)
        return backbone, dict(deploy=deploy)

    def reconcile(self, converted, dropped, backbone):
        """mmpretrain stores the classifier's final norm as
        ``stages.3.norm``: dropped with the classifier for archs without
        normalised outputs (31B, 31L)."""
        if backbone.arch['norm_intermediate_features']:
            return super().reconcile(converted, dropped, backbone)
        for key in [k for k in converted if self.fresh.match(k)]:
            dropped.append(key)
            del converted[key]
        return []


main = tool_main(lambda argv=None: convert_main(RepLKNetConverter(), argv,
                                                __doc__.split('\n\n')[0]))

if __name__ == '__main__':
    sys.exit(main())
