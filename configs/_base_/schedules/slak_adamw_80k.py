# Optimiser and schedule of the official upernet_slak_tiny_512_80k_ade20k_ss
# .py: AdamW(lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05) with mmseg's
# default constructor and norm_decay_mult=0 (no layer decay), linear warm-up
# from 1e-6 x lr over 800 iterations, then poly decay (power 1.0) to 0; 80k
# iterations, validation every 2000 and checkpoints every 8000 iterations,
# 4 GPUs x 4 images.
#
# norm_decay_mult=0 acts on torch norm classes only. The official backbone's
# LayerNorm is its own nn.Module, so there only the BatchNorms (the large
# kernels' branch BNs and the heads') lost their weight decay; SLaK's
# LayerNorms here are torch's, and the custom keys below give them back the
# official weight decay.
_base_ = ['mmseg::_base_/schedules/schedule_80k.py']

warmup_iters = 800
max_iters = 80000
official_decay = dict(decay_mult=1.0)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={
            # Block LayerNorms, the output norms norm0..norm3 and the
            # LayerNorms of the stem and downsampling layers.
            '.norm.': official_decay,
            'backbone.norm': official_decay,
            'backbone.downsample_layers.0.1.': official_decay,
            'backbone.downsample_layers.1.0.': official_decay,
            'backbone.downsample_layers.2.0.': official_decay,
            'backbone.downsample_layers.3.0.': official_decay,
        }))
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
train_cfg = dict(max_iters=max_iters, val_interval=2000)
# Checkpoints and the last_checkpoint pointer are written atomically (temp
# file + rename), so an interrupted save never corrupts the last good one.
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=8000))
