# UperNet + UniRepLKNet-L (ImageNet-22K pre-training), ADE20K 640x640, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_l_in22k_640_160k_ade20k.py
# Official recipe: 8 GPUs x 2 images, AdamW 1e-4, 1500 warm-up iterations
# then poly, layer-wise lr decay rate 0.85 over 12 layers, drop_path 0.4,
# activation checkpointing, 640 crops, whole-image test, no AMP; backbone
# from unireplknet_l_in22k_to_in1k_384_acc87.88.pth (converted).
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_unireplknet_s_in22k_640_ade20k.py']

model = dict(
    backbone=dict(arch='L', drop_path_rate=0.4),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.85, num_layers=12))
