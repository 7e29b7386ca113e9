# UperNet + UniRepLKNet, following the official AILab-CVC/UniRepLKNet
# segmentation/configs/ade20k/upernet_unireplknet_*_160k_ade20k.py (mmseg
# 0.27) on mmseg 1.x's UperNet base: SyncBN in the backbone and the heads,
# UPerHead(channels=512) on the four stage outputs (each through its
# channels-first LayerNorm), FCN auxiliary head on stage 3 (channels 256,
# weight 0.4), whole-image test. The sizes set arch, drop_path_rate, with_cp
# and the head input channels.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
dims = [80, 160, 320, 640]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='UniRepLKNet',
        arch='T',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.2,
        layer_scale_init_value=1e-6,
        norm_cfg=norm_cfg,
        with_cp=False,
        # Official ImageNet weights, converted with
        # tools/model_converters/unireplknet_official.py, e.g.
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/unireplknet_t_in1k_224.pth'),
        init_cfg=None),
    decode_head=dict(in_channels=dims, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=dims[2], norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))
