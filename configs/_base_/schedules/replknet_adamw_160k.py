# Optimiser and schedule of the official RepLKNet segmentation configs:
# AdamW(lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05) with no weight decay
# on norm layers (norm_decay_mult=0), linear warm-up from 1e-6 x lr over 400
# iterations, then poly decay (power 1.0) to 0. The batch size (and so the
# number of samples) is each config's: the official files keep this lr for
# every GPU count and scale the iterations to train the same samples.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

warmup_iters = 400
max_iters = 160000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.))
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
