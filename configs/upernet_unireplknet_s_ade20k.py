# UperNet + UniRepLKNet-S (ImageNet-1K pre-training), ADE20K 512x512, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_s_512_160k_ade20k.py
# Official recipe: 8 GPUs x 2 images, AdamW 1e-4, 1500 warm-up iterations
# then poly, layer-wise lr decay rate 0.9 over 12 layers, drop_path 0.3,
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
    # ImageNet weights: unireplknet_s_in1k_224_acc83.91.pth, converted with
    # tools/model_converters/unireplknet_official.py, as init_cfg.
    backbone=dict(arch='S', drop_path_rate=0.3, with_cp=True),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, num_layers=12))
train_dataloader = dict(batch_size=2)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
