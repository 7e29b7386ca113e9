# Cascade Mask R-CNN + RepLKNet-31B (ImageNet-1K pre-training), COCO, 3x,
# multi-scale 480-800 training.
# Source: DingXiaoH/RepLKNet-pytorch detection/configs/
#   RepLKNet-31B_1Kpretrain_cascade_mask_rcnn_3x_coco.py (drop_path 0.6,
#   SyncBN, activation checkpointing, FPN on all four stages).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/cascade_mask_rcnn_4conv1fc_giou.py',
    './_base_/datasets/coco_instance_ms_crop.py',
    './_base_/schedules/replknet_det_adamw_3x.py',
    './_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RepLKNet',
        arch='31B',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.6,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        with_cp=True,
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 512, 1024]))
