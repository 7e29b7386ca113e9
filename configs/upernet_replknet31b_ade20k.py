# UperNet + RepLKNet-31B (ImageNet-1K pre-training), ADE20K 512x512, 160k.
# Source: DingXiaoH/RepLKNet-pytorch
#   segmentation/configs/RepLKNet-31B_1Kpretrain_upernet_160k_ade20k_512.py
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_replknet31b.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/replknet_adamw_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
# The official schedule: 5.12 M samples = 160k iterations x 4 images x 8
# GPUs (the official file's own comment; its run used 64 GPUs x 2 images for
# 40k iterations, the same count, at the same learning rate).
train_dataloader = dict(batch_size=4)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
