# The mini ShiftWiseNet UperNet with coarse sparse training switched on, as a
# user would from a config: SparseGroupHook next to the RNG-state hook.
_base_ = ['./upernet_shiftwise-mini_ade20k-synthetic.py']

custom_hooks = [
    dict(type='RNGStateHook'),
    dict(
        type='SparseGroupHook',
        sparsity=0.3,
        prune_rate=0.3,
        update_interval=3),
]
model = dict(backbone=dict(layer_scale_init_value=1.0))
