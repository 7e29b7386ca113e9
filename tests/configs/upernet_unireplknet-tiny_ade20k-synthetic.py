# The real UperNet + UniRepLKNet-T ADE20K config with a narrow arch that
# keeps the family's real kernel sizes (3x3 blocks, 13x13 Dilated Reparam
# Blocks, a (13, 3) stage), a small crop and narrow heads, for few-iteration
# CPU tests on synthetic ADE20K (tools/dataset_converters/make_synthetic.py
# ade20k ...).
_base_ = ['../../configs/upernet_unireplknet_t_ade20k.py']

data_root = 'data/synthetic/ade/ADEChallengeData2016'
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            stage_blocks=[1, 1, 2, 1],
            channels=[16, 32, 64, 64],
            kernel_sizes=[[3], [13], [13, 3], [13]])),
    decode_head=dict(in_channels=[16, 32, 64, 64], channels=32),
    auxiliary_head=dict(in_channels=64, channels=16))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(128, 64),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, save_best=None, max_keep_ckpts=-1))
