# UperNet + SLaK-T (ImageNet-1K pre-training, 300 epochs), ADE20K 512x512,
# 80k, single-scale, dense fine-tuning.
# Source: VITA-Group/SLaK segmentation/configs/
#   upernet_slak_tiny_512_80k_ade20k_ss.py (mmseg 0.x): drop_path 0.1,
#   layer scale 1.0, AdamW lr 2e-4 without layer decay and with
#   norm_decay_mult 0, no sparse masks (pruned weights may become non-zero),
#   sliding-window test (crop 512, stride 341), 4 GPUs x 4 images.
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_slak_tiny.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/slak_adamw_80k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(drop_path_rate=0.1),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
train_dataloader = dict(batch_size=4)  # x 4 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
