# UperNet + UniRepLKNet-B (ImageNet-22K pre-training), ADE20K 640x640, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_b_in22k_640_160k_ade20k.py
# Official recipe: as the S-22K 640 config (8 GPUs x 2 images, AdamW 1e-4,
# layer decay 0.9 over 12 layers, drop_path 0.3, activation checkpointing,
# 640 crops, whole-image test, no AMP); backbone from
# unireplknet_b_in22k_to_in1k_384_acc87.40.pth (converted).
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_unireplknet_s_in22k_640_ade20k.py']

model = dict(
    backbone=dict(arch='B', drop_path_rate=0.3),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
