# The official SLaK-T Cascade Mask R-CNN schedule (detection/configs/
# cascade_mask_rcnn_slak_tiny_patch4_window7_mstrain_480-800_giou_4conv1f_
# adamw_3x_coco_in1k.py): AdamW(lr=2e-4, betas=(0.9, 0.999),
# weight_decay=0.05) with layer-wise lr decay 0.7 over 6 layers (the official
# LearningRateDecayOptimizerConstructor, decay_type 'layer_wise'; no weight
# decay on 1-D parameters and biases) through
# LayerDecayOptimWrapperConstructor and SLaK.get_layer_depth, 36 epochs with
# lr steps at 27 and 33, mmdet's linear warm-up over 500 iterations;
# 2 images per GPU, scaled to a total batch of 16 (auto_scale_lr, as
# official).
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
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=6))
auto_scale_lr = dict(enable=True, base_batch_size=16)
