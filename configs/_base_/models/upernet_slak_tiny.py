# UperNet + SLaK-T, following the official VITA-Group/SLaK
# segmentation/configs/upernet_SLaK.py (mmseg 0.x) on mmseg 1.x's UperNet
# base: SyncBN heads and branch BNs, UPerHead(channels=512), FCN auxiliary
# head on stage 3 (weight 0.4); backbone kernels 51/49/47/13 decomposed into
# 51x5 + 5x51 strips and a 5x5 kernel, channels x 1.3, layer scale 1.0.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
dims = [124, 249, 499, 998]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='SLaK',
        arch='T',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        norm_cfg=norm_cfg,
        # Official SLaK-T ImageNet weights, converted with
        # tools/model_converters/slak_official.py, e.g.
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/slak_tiny_in1k.pth'),
        init_cfg=None),
    decode_head=dict(in_channels=dims, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=dims[2], norm_cfg=norm_cfg))
