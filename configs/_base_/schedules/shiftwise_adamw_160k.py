# Optimiser and schedule of the official SW-T ADE20K config
# (upernet_sw_tiny_512_160k_ade20k_ss.py): AdamW(lr=1e-4, betas=(0.9, 0.999),
# weight_decay=0.05) through the layer-decay constructor with decay_rate 1
# over 9 layers (so: no lr decay, but no weight decay on 1-D parameters and
# biases), linear warm-up from 1e-6 x lr over 1500 iterations, then poly
# decay (power 1.0) to 0; 160k iterations, 4 GPUs x 4 images.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

warmup_iters = 1500
max_iters = 160000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=1.0, num_layers=9))
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
train_cfg = dict(max_iters=max_iters)
# Checkpoints and the last_checkpoint pointer are written atomically (temp
# file + rename), so an interrupted save never corrupts the last good one.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
