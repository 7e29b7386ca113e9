# UperNet + OREPA-ResNet-50 on mmseg 1.x's UperNet-R50 base (SyncBN,
# UPerHead channels 512, FCN auxiliary head on stage 3 with weight 0.4).
# The backbone keeps the official OREPA ImageNet layout (7x7 deep linear stem,
# OREPA 3x3 and OREPA_1x1 units), so its checkpoints load after
# tools/model_converters/orepa_official.py.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='OREPAResNet',
        depth=50,
        block_type='OREPA',
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        # How the OREPA units build their kernels in training (see
        # docs/orepa.md): None = 'batched' (all equal-shaped units in one
        # computation per step) or 'eager' (unit by unit); recompute_kernel
        # regenerates them in backward (less memory, more time).
        kernel_gen=None,
        recompute_kernel=False,
        # Official ImageNet weights, converted with
        # tools/model_converters/orepa_official.py, e.g.
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/orepa_resnet50_in1k.pth'),
        init_cfg=None),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=1024, norm_cfg=norm_cfg))
