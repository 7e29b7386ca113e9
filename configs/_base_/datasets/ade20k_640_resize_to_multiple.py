# ADE20K at 640x640 crops (mmseg's base) with the test pipeline of the
# official UniRepLKNet ADE20K configs: keep-ratio resize to (2560, 640), then
# to a multiple of 32 (ResizeToMultiple), single scale, no flip.
_base_ = ['mmseg::_base_/datasets/ade20k_640x640.py']

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    # the ground truth is not resized (evaluated at the original size)
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
