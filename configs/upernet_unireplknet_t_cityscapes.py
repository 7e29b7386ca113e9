# UperNet + UniRepLKNet-T (ImageNet-1K pre-training), Cityscapes 512x1024,
# 80k. The official repository has no Cityscapes config: this uses the
# official UniRepLKNet-T ADE20K recipe (AILab-CVC/UniRepLKNet
# segmentation/configs/ade20k/upernet_unireplknet_t_512_160k_ade20k.py:
# AdamW 1e-4, 1500 warm-up iterations then poly, layer decay 1.0 over 9
# layers, drop_path 0.2, SyncBN, no AMP) over mmseg's Cityscapes 80k setting
# (upernet_r50_4xb2-80k_cityscapes-512x1024: 512x1024 crops, 4 GPUs x 2
# images, whole-image test at 2048x1024, 19 classes).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_unireplknet.py',
    'mmseg::_base_/datasets/cityscapes.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/unireplknet_adamw_160k.py',
]
crop_size = (512, 1024)
max_iters = 80000
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='T', drop_path_rate=0.2, with_cp=False),
    decode_head=dict(in_channels=[80, 160, 320, 640], num_classes=19),
    auxiliary_head=dict(in_channels=320, num_classes=19))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=1.0, num_layers=9))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        by_epoch=False,
        begin=1500,
        end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
train_dataloader = dict(batch_size=2)  # x 4 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=8)
