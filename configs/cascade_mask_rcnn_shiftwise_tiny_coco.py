# Cascade Mask R-CNN + ShiftWiseNet-tiny (ImageNet-1K pre-training), COCO,
# 3x, multi-scale 480-800 training.
# Source: lidc54/shift-wiseConv downstream/detection/configs/
#   cascade_mask_rcnn_sw_tiny_mstrain_480-800_adamw_3x_coco_in1k.py
#   (mmdet 2.x): drop_path 0.4, SyncBN 4conv1fc heads with GIoU loss, FPN on
#   the four stages of dims [80, 160, 320, 640].
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/cascade_mask_rcnn_4conv1fc_giou.py',
    './_base_/datasets/coco_instance_ms_crop.py',
    './_base_/schedules/shiftwise_det_adamw_3x.py',
    './_base_/det_runtime.py',
]
model = dict(
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
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=None),
    neck=dict(in_channels=[80, 160, 320, 640]))
