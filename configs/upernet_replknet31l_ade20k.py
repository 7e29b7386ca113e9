# UperNet + RepLKNet-31L (ImageNet-22K pre-training), ADE20K 640x640, 160k.
# Source: DingXiaoH/RepLKNet-pytorch
#   segmentation/configs/RepLKNet-31L_22Kpretrain_upernet_160k_ade20k_640.py
# drop_path 0.3, 800 warm-up iterations, crop 640 with multi-scale resize
# around (2048, 512), sliding-window test (640, stride 426). The official run
# used 64 GPUs x 1 image for 80k iterations (5.12 M samples); here the same
# count as 160k iterations x 4 images x 8 GPUs, the official file's default.
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_replknet31b.py',
    'mmseg::_base_/datasets/ade20k_640x640.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/replknet_adamw_160k.py',
]
crop_size = (640, 640)
warmup_iters = 800
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='31L', drop_path_rate=0.3),
    decode_head=dict(in_channels=[192, 384, 768, 1536], num_classes=150),
    auxiliary_head=dict(in_channels=768, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        by_epoch=False,
        begin=warmup_iters,
        end=160000)
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
# x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
