# UperNet + RepLKNet-31B, following the official RepLKNet-pytorch
# segmentation/configs/RepLKNet_upernet.py (mmseg 0.x) on mmseg 1.x's
# UperNet base: SyncBN everywhere, drop_path 0.5, activation checkpointing,
# UPerHead(channels=512) and an FCN auxiliary head on stage 3 (weight 0.4).
_base_ = ['mmseg::_base_/models/upernet_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='RepLKNet',
        arch='31B',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.5,
        norm_cfg=norm_cfg,
        with_cp=True,
        # Official ImageNet weights, converted with
        # tools/model_converters/replknet_official.py, e.g.
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/replknet31b_in1k_224.pth'),
        init_cfg=None),
    decode_head=dict(in_channels=[128, 256, 512, 1024], norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=512, norm_cfg=norm_cfg))
