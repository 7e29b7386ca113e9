# Optimiser and schedule of the official UniRepLKNet ADE20K configs
# (AILab-CVC/UniRepLKNet segmentation/configs/ade20k/): AdamW(lr=1e-4,
# betas=(0.9, 0.999), weight_decay=0.05) through the layer-decay constructor
# (official UniRepLKNetLearningRateDecayOptimizerConstructor: no weight
# decay on 1-D parameters and biases; each config sets decay_rate and
# num_layers), linear warm-up from 1e-6 x lr over 1500 iterations, then poly
# decay (power 1.0) to 0 at 160k iterations; checkpoint and mIoU evaluation
# every 4000 iterations. No AMP (the official configs set
# no fp16).
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

warmup_iters = 1500
max_iters = 160000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, num_layers=12))
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
train_cfg = dict(max_iters=max_iters, val_interval=4000)
# Checkpoints and the last_checkpoint pointer are written atomically (temp
# file + rename), so an interrupted save never corrupts the last good one.
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=4000,
        max_keep_ckpts=20,
        save_best='mIoU'))
