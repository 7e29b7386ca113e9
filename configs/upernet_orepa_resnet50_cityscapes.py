# UperNet + OREPA-ResNet-50, Cityscapes 512x1024, 80k: mmseg's standard
# ResNet recipe (upernet_r50_4xb2-80k_cityscapes-512x1024: SGD lr 0.01, poly,
# batch 2 x 4 GPUs = 8). mmseg's UperNet-R50 is the reference
# (configs/published_results.yml).
_base_ = [
    './_base_/models/upernet_orepa_resnet50.py',
    'mmseg::_base_/datasets/cityscapes.py',
    './_base_/seg_runtime.py',
    './_base_/schedules/sgd_80k.py',
]
crop_size = (512, 1024)
model = dict(data_preprocessor=dict(size=crop_size))
# Lower learning rate for the deep linear stem (official OREPA advice).
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0., custom_keys={'backbone.stage0': dict(
            lr_mult=0.1)}))
train_dataloader = dict(batch_size=2)  # x 4 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=8)
