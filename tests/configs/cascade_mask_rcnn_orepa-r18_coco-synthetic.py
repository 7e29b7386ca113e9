# The real Cascade Mask R-CNN + OREPA-ResNet-50 COCO config with depth 18,
# small images and few proposals for one-iteration CPU tests on synthetic
# COCO (tools/dataset_converters/make_synthetic.py coco ...).
_base_ = ['../../configs/cascade_mask_rcnn_orepa_resnet50_coco.py']

data_root = 'data/synthetic/coco/'
model = dict(
    # No ImageNet weights here: BN in eval mode would keep the init
    # statistics and the untrained OREPA kernels' activations explode, so
    # train BN like a from-scratch run (the real config assumes pretrained).
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512]),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100)),
    # An untrained detector scores ~1/81 per class: keep every box so that
    # the COCO metrics are computed.
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(score_thr=0.0, max_per_img=20)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline, indices=2))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
