# UperNet + OREPA-ResNet-50, ADE20K 512x512, 160k: mmseg's standard ResNet
# recipe (upernet_r50_4xb4-160k_ade20k-512x512: SGD lr 0.01, poly, batch
# 4 x 4 GPUs = 16). OREPA's paper reports downstream gains but its text gives
# no ADE20K number; compare with block_type='DBB' (the *_dbb_* config) and
# mmseg's UperNet-R50 (the reference in configs/published_results.yml).
_base_ = [
    './_base_/models/upernet_orepa_resnet50.py',
    'mmseg::_base_/datasets/ade20k.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/sgd_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
# The official advice for the deep linear stem (OREPA_LargeConv, whose
# ImageNet weights are distributed very differently from a plain 7x7 conv):
# fine-tune it with a lower learning rate. No weight decay on norms, as in
# the official ImageNet training.
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0., custom_keys={'backbone.stage0': dict(
            lr_mult=0.1)}))
train_dataloader = dict(batch_size=4)  # x 4 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=16)
