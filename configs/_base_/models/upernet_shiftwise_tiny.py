# UperNet + ShiftWiseNet-tiny (SW-T), following the official
# lidc54/shift-wiseConv downstream/segmentation/configs/upernet_SW.py and
# upernet_sw_tiny_512_160k_ade20k_ss.py (mmseg 0.x) on mmseg 1.x's UperNet
# base: SyncBN heads, UPerHead(channels=512), FCN auxiliary head on stage 3
# (weight 0.4); backbone drop_path 0.4, kernels 51/49/47/13 emulated with 3x3
# (2 paths, 4 repetitions, ghost ratio 0.23), layer scale 1.0.
_base_ = ['mmseg::_base_/models/upernet_r50.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)
dims = [80, 160, 320, 640]
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='ShiftWiseNet',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        ghost_ratio=0.23,
        n_path=2,
        n_rep=4,
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        norm_cfg=norm_cfg,
        # Official SW-T ImageNet weights, converted with
        # tools/model_converters/shiftwise_official.py, e.g.
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/shiftwise_tiny_in1k.pth'),
        init_cfg=None),
    decode_head=dict(in_channels=dims, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=dims[2], norm_cfg=norm_cfg))
