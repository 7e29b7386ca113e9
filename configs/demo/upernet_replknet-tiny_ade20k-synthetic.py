# The `make demo` config: the real UperNet + RepLKNet-31B ADE20K config with
# only width, depth, kernel sizes, crop and iterations shrunk so that it
# trains on 2 CPU cores in minutes, on the synthetic ADE20K written by
# tools/dataset_converters/make_synthetic.py. Everything else (heads, losses,
# AdamW, warm-up + poly schedule, augmentation) is inherited unchanged.
_base_ = ['../upernet_replknet31b_ade20k.py']

data_root = 'data/synthetic/ade/ADEChallengeData2016'
crop_size = (128, 128)
max_iters = 600
warmup_iters = 50
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            large_kernels=[13, 11, 9, 7],
            stage_blocks=[1, 1, 2, 1],
            channels=[32, 64, 128, 256],
            small_kernel=3),
        drop_path_rate=0.1,
        with_cp=False,
        # One fixed back end (the CPU path) instead of 'auto': the demo's
        # numbers then do not depend on which back end measured fastest.
        impl='cpu'),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=64),
    auxiliary_head=dict(in_channels=128, channels=32))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=(256, 128),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
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
        end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=max_iters // 2))
# Seeded: a fresh clone reproduces the README's numbers on the same stack.
randomness = dict(seed=0)
