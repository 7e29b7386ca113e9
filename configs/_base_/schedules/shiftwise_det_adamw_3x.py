# The official SW-T Cascade Mask R-CNN schedule
# (cascade_mask_rcnn_sw_tiny_mstrain_480-800_adamw_3x_coco_in1k.py):
# AdamW(lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05) with layer-wise lr
# decay 0.8 over 12 layers (no weight decay on 1-D parameters and biases),
# 36 epochs with lr steps at 27 and 33, mmdet's linear warm-up over 500
# iterations, 8 GPUs x 2 images (auto_scale_lr base 16).
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
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
auto_scale_lr = dict(enable=True, base_batch_size=16)
