"""Head keys of fine-tuned checkpoints as mmseg 0.x (UperNet + FCN auxiliary
head) and mmdet 2.x (FPN + RPN + Cascade R-CNN with 4conv1fc SyncBN box
heads and FCN mask heads) save them, written from the 0.x / 2.x module
names and shapes, not from the installed 1.x / 3.x heads: loading them
strictly into an mmreplk config's model checks that the names really are
the same."""
from collections import OrderedDict

import torch


class _Random:

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, *shape):
        return torch.randn(*shape, generator=self.gen) * 0.02


def _conv_module(s, prefix, cout, cin, k, rand, norm=True):
    """An mmcv ConvModule: ``conv`` (no bias with a norm) and ``bn``."""
    s[prefix + 'conv.weight'] = rand(cout, cin, k, k)
    if norm:
        s[prefix + 'bn.weight'] = 1 + rand(cout)
        s[prefix + 'bn.bias'] = rand(cout)
        s[prefix + 'bn.running_mean'] = rand(cout)
        s[prefix + 'bn.running_var'] = 1 + rand(cout).abs()
        s[prefix + 'bn.num_batches_tracked'] = torch.tensor(160000)
    else:
        s[prefix + 'conv.bias'] = rand(cout)


def mmseg0_upernet_heads(in_channels,
                         channels=512,
                         aux_channels=256,
                         num_classes=150,
                         seed=0):
    """``decode_head.*`` (UPerHead, pool scales 1, 2, 3, 6) and
    ``auxiliary_head.*`` (FCNHead, one conv, on stage 3)."""
    rand, s, c = _Random(seed), OrderedDict(), channels
    s['decode_head.conv_seg.weight'] = rand(num_classes, c, 1, 1)
    s['decode_head.conv_seg.bias'] = rand(num_classes)
    for i in range(4):  # index 0 of each PPM branch is the pooling
        _conv_module(s, f'decode_head.psp_modules.{i}.1.', c, in_channels[3],
                     1, rand)
    _conv_module(s, 'decode_head.bottleneck.', c, in_channels[3] + 4 * c, 3,
                 rand)
    for i in range(3):
        _conv_module(s, f'decode_head.lateral_convs.{i}.', c, in_channels[i],
                     1, rand)
    for i in range(3):
        _conv_module(s, f'decode_head.fpn_convs.{i}.', c, c, 3, rand)
    _conv_module(s, 'decode_head.fpn_bottleneck.', c, 4 * c, 3, rand)
    s['auxiliary_head.conv_seg.weight'] = rand(num_classes, aux_channels, 1, 1)
    s['auxiliary_head.conv_seg.bias'] = rand(num_classes)
    _conv_module(s, 'auxiliary_head.convs.0.', aux_channels, in_channels[2], 3,
                 rand)
    return s


def mmdet2_cascade_mask_rcnn_heads(in_channels, num_classes=80, seed=0):
    """``neck.*`` (FPN, 256 channels, P6 by max-pool), ``rpn_head.*`` (3
    anchors) and ``roi_head.*`` (three 4conv1fc box heads with SyncBN,
    class-specific regression, and three FCN mask heads)."""
    rand, s = _Random(seed), OrderedDict()
    for i, c in enumerate(in_channels):
        _conv_module(s, f'neck.lateral_convs.{i}.', 256, c, 1, rand, False)
    for i in range(len(in_channels)):
        _conv_module(s, f'neck.fpn_convs.{i}.', 256, 256, 3, rand, False)
    for name, cout, k in (('rpn_conv', 256, 3), ('rpn_cls', 3, 1), ('rpn_reg',
                                                                    12, 1)):
        s[f'rpn_head.{name}.weight'] = rand(cout, 256, k, k)
        s[f'rpn_head.{name}.bias'] = rand(cout)
    for stage in range(3):
        p = f'roi_head.bbox_head.{stage}.'
        for i in range(4):
            _conv_module(s, f'{p}shared_convs.{i}.', 256, 256, 3, rand)
        s[p + 'shared_fcs.0.weight'] = rand(1024, 256 * 7 * 7)
        s[p + 'shared_fcs.0.bias'] = rand(1024)
        s[p + 'fc_cls.weight'] = rand(num_classes + 1, 1024)
        s[p + 'fc_cls.bias'] = rand(num_classes + 1)
        s[p + 'fc_reg.weight'] = rand(4 * num_classes, 1024)
        s[p + 'fc_reg.bias'] = rand(4 * num_classes)
        p = f'roi_head.mask_head.{stage}.'
        for i in range(4):
            _conv_module(s, f'{p}convs.{i}.', 256, 256, 3, rand, False)
        s[p + 'upsample.weight'] = rand(256, 256, 2, 2)
        s[p + 'upsample.bias'] = rand(256)
        s[p + 'conv_logits.weight'] = rand(num_classes, 256, 1, 1)
        s[p + 'conv_logits.bias'] = rand(num_classes)
    return s
