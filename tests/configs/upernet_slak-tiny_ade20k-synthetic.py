# The real UperNet + SLaK-T ADE20K config (its sparse fine-tuning hook
# included) with the real kernel sizes of the family (51/49/47/13 strips and
# 5x5 kernels) on a tiny width and depth, a small crop and narrow heads, for
# CPU tests on synthetic ADE20K (tools/dataset_converters/make_synthetic.py
# ade20k ...). The arch is tests/helpers/official_slak_state.TINY_ARCH.
_base_ = ['../../configs/upernet_slak_tiny_ade20k.py']

data_root = 'data/synthetic/ade/ADEChallengeData2016'
crop_size = (64, 64)
dims = [10, 20, 31, 41]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            stage_blocks=[1, 1, 2, 1],
            channels=dims,
            large_kernels=[51, 49, 47, 13],
            small_kernel=5),
        # The workflow is what these tests check (the op's back ends and
        # impl='auto' are tested in tests/test_ops): measuring every back
        # end for each of a run's ~40 strip shapes would cost more than
        # the run.
        impl='torch'),
    decode_head=dict(in_channels=dims, channels=32),
    auxiliary_head=dict(in_channels=dims[2], channels=16),
    test_cfg=dict(mode='whole'))
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
train_cfg = dict(max_iters=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
