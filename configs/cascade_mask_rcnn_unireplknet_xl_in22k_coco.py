# Cascade Mask R-CNN + UniRepLKNet-XL (ImageNet-22K pre-training), COCO, 3x.
# Source: AILab-CVC/UniRepLKNet detection/configs/coco/
#   casc_mask_rcnn_unireplknet_xl_in22k_fpn_3x_coco.py (mmdet 2.28).
# Official recipe: as the T config (8 GPUs x 2 images, AdamW 1e-4, 36
# epochs, activation checkpointing, no AMP) with drop_path 0.7, layer-wise lr
# decay 0.7 over 12 layers, and the EMA of the weights
# (ExpMomentumEMAHook). The official config names no ImageNet checkpoint
# (the 22K or the 22K->1K one): set init_cfg to a converted one.
# Published numbers: configs/published_results.yml.
_base_ = ['./cascade_mask_rcnn_unireplknet_t_coco.py']

model = dict(
    backbone=dict(arch='XL', drop_path_rate=0.7),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7, num_layers=12))
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='DispatchChoicesHook'),
    # mmdet 2.x ExpMomentumEMAHook(momentum=0.0001, priority=49) in mmdet
    # 3.x form: momentum (1 - 1e-4) * exp(-(1 + iter) / 2000) + 1e-4, over
    # parameters and buffers.
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        gamma=2000,
        update_buffers=True,
        priority=49)
]
