# UperNet + UniRepLKNet-S (ImageNet-22K pre-training), ADE20K 640x640, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_s_in22k_640_160k_ade20k.py
# Official recipe: 8 GPUs x 2 images, AdamW 1e-4, 1500 warm-up iterations
# then poly, layer-wise lr decay rate 0.9 over 12 layers, drop_path 0.3,
# activation checkpointing, SyncBN, 640 crops from (2560, 640) x 0.5-2.0,
# whole-image test at (2560, 640) resized to a multiple of 32, no AMP;
# backbone from unireplknet_s_in22k_to_in1k_384_acc86.44.pth (converted).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_unireplknet.py',
    './_base_/datasets/ade20k_640_resize_to_multiple.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/unireplknet_adamw_160k.py',
]
crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='S', drop_path_rate=0.3, with_cp=True),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, num_layers=12))
train_dataloader = dict(batch_size=2)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
