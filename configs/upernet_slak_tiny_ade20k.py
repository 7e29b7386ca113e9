# UperNet + SLaK-T (ImageNet-1K pre-training, 300 epochs), ADE20K 512x512,
# 160k, single-scale.
# Source: VITA-Group/SLaK segmentation/configs/
#   upernet_slak_tiny_512_160k_ade20k_ss.py (mmseg 0.x): drop_path 0.4,
#   layer scale 1.0, stage-wise lr decay 0.9 over 6 layers, sparse
#   fine-tuning (the checkpoint's zero pattern kept), sliding-window test
#   (crop 512, stride 341), 4 GPUs x 4 images.
# Published numbers: configs/published_results.yml.
_base_ = [
    './_base_/models/upernet_slak_tiny.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/slak_adamw_160k.py',
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
# Official sparse=True: the zeros of the converted ImageNet checkpoint stay
# zero (SparseWeightHook masks every Linear and conv weight of the backbone
# after each step). This list replaces the runtime's: keep its hooks.
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='DispatchChoicesHook'),
    dict(type='SparseWeightHook', init='checkpoint'),
]
