# The RepLKNet AdamW schedule (see replknet_adamw_160k.py) over 80k
# iterations, as the official Cityscapes config (8-GPU setting).
_base_ = ['./replknet_adamw_160k.py']

warmup_iters = 400
max_iters = 80000
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
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
