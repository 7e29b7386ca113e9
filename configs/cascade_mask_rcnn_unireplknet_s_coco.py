# Cascade Mask R-CNN + UniRepLKNet-S (ImageNet-1K pre-training), COCO, 3x.
# Source: AILab-CVC/UniRepLKNet detection/configs/coco/
#   casc_mask_rcnn_unireplknet_s_in1k_fpn_3x_coco.py (mmdet 2.28).
# Official recipe: as the T config (8 GPUs x 2 images, AdamW 1e-4, layer
# decay 0.8 over 12 layers, 36 epochs, activation checkpointing, no AMP, no
# EMA) with drop_path 0.5.
# Published numbers: configs/published_results.yml.
_base_ = ['./cascade_mask_rcnn_unireplknet_t_coco.py']

model = dict(
    backbone=dict(arch='S', drop_path_rate=0.5),
    neck=dict(in_channels=[96, 192, 384, 768]))
