# UperNet + RepLKNet-31B (ImageNet-1K pre-training), Cityscapes 769x769, 80k.
# Source: DingXiaoH/RepLKNet-pytorch
#   segmentation/configs/RepLKNet-31B_1Kpretrain_upernet_80k_cityscapes_769.py
# (19 classes, align_corners=True, whole-image test).
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_replknet31b.py',
    'mmseg::_base_/datasets/cityscapes_769x769.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/replknet_adamw_80k.py',
]
crop_size = (769, 769)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=19, align_corners=True),
    auxiliary_head=dict(num_classes=19, align_corners=True),
    test_cfg=dict(mode='whole'))
# The official schedule: 1.28 M samples = 80k iterations x 2 images x 8 GPUs
# (its run used 32 GPUs for 20k iterations, the same count).
train_dataloader = dict(batch_size=2)  # x 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
