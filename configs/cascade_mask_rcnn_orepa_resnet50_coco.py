# Cascade Mask R-CNN + OREPA-ResNet-50 + FPN, COCO, 1x: mmdet's standard
# ResNet recipe (cascade-mask-rcnn_r50_fpn_1x_coco: SGD lr 0.02, 12 epochs,
# BN frozen in eval mode, stem and stage 1 frozen, batch 2 x 8 GPUs).
# mmdet's Cascade Mask R-CNN R50 is the reference
# (configs/published_results.yml).
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    './_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        _delete_=True,
        type='OREPAResNet',
        depth=50,
        block_type='OREPA',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        # A converted official ImageNet checkpoint (orepa_official.py):
        # init_cfg=dict(type='Pretrained',
        #               checkpoint='pretrain/orepa_resnet50_in1k.pth'),
        init_cfg=None),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
# Lower learning rate for the deep linear stem (official OREPA advice; it
# matters when frozen_stages=-1).
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone.stage0': dict(lr_mult=0.1)}))
