# The official UniRepLKNet Cascade Mask R-CNN schedule
# (AILab-CVC/UniRepLKNet detection/configs/coco/
# casc_mask_rcnn_unireplknet_*_fpn_3x_coco.py, mmdet 2.28): AdamW(lr=1e-4,
# betas=(0.9, 0.999), weight_decay=0.05) with layer-wise lr decay over 12
# layers for every size (each config sets decay_rate; no weight decay on
# 1-D parameters and biases), mmdet's linear warm-up over 500 iterations
# (ratio 0.001), 36 epochs with lr steps (x 0.1) at 27 and 33. No AMP (the
# official configs set no fp16).
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
