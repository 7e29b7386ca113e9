# UperNet + ShiftWiseNet-tiny, Cityscapes 512x1024, 80k. The official
# repository has no Cityscapes config: this uses the official SW-T ADE20K
# recipe (AdamW 1e-4, warm-up + poly, drop_path 0.4) over mmseg's Cityscapes
# 80k setting (512x1024 crops, 4 GPUs x 2 images).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_shiftwise_tiny.py',
    'mmseg::_base_/datasets/cityscapes.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/shiftwise_adamw_160k.py',
]
crop_size = (512, 1024)
max_iters = 80000
model = dict(
    data_preprocessor=dict(size=crop_size), test_cfg=dict(mode='whole'))
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
