# Optimiser and schedule of the official SLaK ADE20K 160k configs
# (upernet_slak_{tiny,small,base}_512_160k_ade20k_ss.py): AdamW(lr=1e-4,
# betas=(0.9, 0.999), weight_decay=0.05) with stage-wise lr decay 0.9 (the
# official LearningRateDecayOptimizerConstructor, decay_type 'stage_wise';
# num_layers 6 for T, 12 for S and B; no weight decay on 1-D parameters and
# biases) through LayerDecayOptimWrapperConstructor and SLaK.get_layer_depth,
# linear warm-up from 1e-6 x lr over 1500 iterations, then poly decay (power
# 1.0) to 0; 160k iterations, validation every 4000 and checkpoints every
# 8000 iterations, 4 GPUs x 4 images.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

warmup_iters = 1500
max_iters = 160000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))
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
    checkpoint=dict(type='AtomicCheckpointHook', interval=8000))
