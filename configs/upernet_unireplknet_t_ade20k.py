# UperNet + UniRepLKNet-T (ImageNet-1K pre-training), ADE20K 512x512, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_t_512_160k_ade20k.py
# Official recipe: 8 GPUs x 2 images, AdamW 1e-4, 1500 warm-up iterations
# then poly, layer-wise lr decay rate 1.0 over 9 layers, drop_path 0.2, no
# activation checkpointing, SyncBN, 512 crops, whole-image test at
# (2048, 512) resized to a multiple of 32, no AMP.
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_unireplknet.py',
    './_base_/datasets/ade20k_512_resize_to_multiple.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/unireplknet_adamw_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='T', drop_path_rate=0.2, with_cp=False),
    decode_head=dict(in_channels=[80, 160, 320, 640], num_classes=150),
    auxiliary_head=dict(in_channels=320, num_classes=150))
# Official comment: decay rates 0.9 and 1.0 make almost no difference.
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=1.0, num_layers=9))
train_dataloader = dict(batch_size=2)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
