# UperNet + ShiftWiseNet-tiny (ImageNet-1K pre-training), ADE20K 512x512,
# 160k, single-scale training recipe of the official
# downstream/segmentation/configs/upernet_sw_tiny_512_160k_ade20k_ss.py:
# sliding-window test (crop 512, stride 341), 4 GPUs x 4 images.
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_shiftwise_tiny.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/shiftwise_adamw_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=4)  # x 4 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
