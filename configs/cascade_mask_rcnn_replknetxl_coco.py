# Cascade Mask R-CNN + RepLKNet-XL (MegData-73M pre-training), COCO, 3x,
# multi-scale 480-800 training.
# Source: DingXiaoH/RepLKNet-pytorch detection/configs/
#   RepLKNet-XL_MegData73Mpretrain_cascade_mask_rcnn_3x_coco.py (drop_path 0.5,
#   kernels [27,27,27,13], no small kernel, dw_ratio 1.5, normalised
#   intermediate features, mean = std = 127.5).
# Published numbers: configs/published_results.yml.
_base_ = ['./cascade_mask_rcnn_replknet31b_coco.py']

model = dict(
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(arch='XL', drop_path_rate=0.5),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
