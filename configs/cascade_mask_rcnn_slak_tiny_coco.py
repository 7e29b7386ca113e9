# Cascade Mask R-CNN + SLaK-T (ImageNet-1K pre-training, 300 epochs), COCO,
# 3x, multi-scale 480-800 training.
# Source: VITA-Group/SLaK detection/configs/
#   cascade_mask_rcnn_slak_tiny_patch4_window7_mstrain_480-800_giou_4conv1f_
#   adamw_3x_coco_in1k.py (mmdet 2.x): drop_path 0.4, layer scale 1.0,
#   SyncBN 4conv1fc heads with GIoU loss, FPN on the four stages of
#   [124, 249, 499, 998], layer-wise lr decay 0.7 over 6 layers, sparse
#   fine-tuning, 36 epochs (steps 27, 33).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/cascade_mask_rcnn_4conv1fc_giou.py',
    './_base_/datasets/coco_instance_ms_crop.py',
    './_base_/schedules/slak_det_adamw_3x.py',
    './_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='SLaK',
        arch='T',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        # The official config loads no weights itself; convert the SLaK-T
        # ImageNet checkpoint with tools/model_converters/slak_official.py:
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/slak_tiny_in1k.pth'),
        init_cfg=None),
    neck=dict(in_channels=[124, 249, 499, 998]))
# Official sparse=True: the zeros of the converted ImageNet checkpoint stay
# zero. This list replaces the runtime's: keep its hooks.
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='DispatchChoicesHook'),
    dict(type='SparseWeightHook', init='checkpoint'),
]
