# UperNet + UniRepLKNet-XL (ImageNet-22K pre-training), ADE20K 640x640, 160k.
# The official repository publishes an XL ADE20K result but no XL config:
# this config follows the official L-22K recipe
# (AILab-CVC/UniRepLKNet segmentation/configs/ade20k/
# upernet_unireplknet_l_in22k_640_160k_ade20k.py: 8 GPUs x 2 images, AdamW
# 1e-4, 1500 warm-up iterations then poly, layer decay 0.85 over 12 layers,
# drop_path 0.4, activation checkpointing, 640 crops, whole-image test, no
# AMP) with the XL backbone, from
# unireplknet_xl_in22k_to_in1k_384_acc87.96.pth (converted).
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_unireplknet_l_in22k_640_ade20k.py']

model = dict(
    backbone=dict(arch='XL', drop_path_rate=0.4),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
