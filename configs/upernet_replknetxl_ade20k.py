# UperNet + RepLKNet-XL (MegData-73M pre-training), ADE20K 640x640, 160k.
# Source: DingXiaoH/RepLKNet-pytorch
#   segmentation/configs/RepLKNet-XL_MegData73M_upernet_160k_ade20k_640.py
# Kernels [27, 27, 27, 13], no small kernel, dw_ratio 1.5, normalised
# intermediate features, drop_path 0.5, 1500 warm-up iterations, mean = std =
# 127.5 (the official pre-training normalisation), slide test 640/426.
# (The official file trains on its test pipeline by mistake; this config uses
# the real multi-scale training pipeline of the 31L config.)
# Schedule as the official run: 160k iterations x 2 images x 16 GPUs
# (5.12 M samples).
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_replknet31l_ade20k.py']

warmup_iters = 1500
model = dict(
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(arch='XL', drop_path_rate=0.5),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024))
train_dataloader = dict(batch_size=2)  # x 16 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
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
        end=160000)
]
