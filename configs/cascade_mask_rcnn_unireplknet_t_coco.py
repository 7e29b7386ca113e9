# Cascade Mask R-CNN + UniRepLKNet-T (ImageNet-1K pre-training), COCO, 3x,
# multi-scale 480-800 training.
# Source: AILab-CVC/UniRepLKNet detection/configs/coco/
#   casc_mask_rcnn_unireplknet_t_in1k_fpn_3x_coco.py (mmdet 2.28).
# Official recipe: 8 GPUs x 2 images, AdamW 1e-4, layer-wise lr decay 0.8
# over 12 layers, 36 epochs with steps at 27 and 33, 500 warm-up
# iterations, drop_path 0.3, activation checkpointing, SyncBN backbone and
# 4conv1fc SyncBN box heads with GIoU loss, FPN on the four stage outputs,
# DETR-style multi-scale / crop training, single-scale (1333, 800) test, no
# AMP, no EMA. The official config names no ImageNet checkpoint: set
# init_cfg to a converted one (tools/model_converters/unireplknet_official.py).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/cascade_mask_rcnn_4conv1fc_giou.py',
    './_base_/datasets/coco_instance_ms_crop.py',
    './_base_/schedules/unireplknet_det_adamw_3x.py',
    './_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='UniRepLKNet',
        arch='T',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.3,
        layer_scale_init_value=1e-6,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        with_cp=True,
        init_cfg=None),
    neck=dict(in_channels=[80, 160, 320, 640]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
train_dataloader = dict(batch_size=2)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
