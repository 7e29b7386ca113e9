# The official RepLKNet Cascade Mask R-CNN schedule: AdamW(lr=4e-4,
# betas=(0.9, 0.999), weight_decay=0.05), no weight decay on norms,
# 36 epochs with lr steps at 27 and 33, linear warm-up over 500 iterations.
# The official configs use 1 image per GPU and do not state the GPU count;
# this file keeps mmdet's 8 GPUs x 2 images.
_base_ = ['mmdet::_base_/schedules/schedule_1x.py']

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.))
