# The real Cascade Mask R-CNN + UniRepLKNet-T COCO config with a narrow arch
# (the family's 3x3 / 13x13 kernels), small images and few proposals, for
# one-iteration CPU tests on synthetic COCO
# (tools/dataset_converters/make_synthetic.py coco ...).
_base_ = ['../../configs/cascade_mask_rcnn_unireplknet_t_coco.py']

data_root = 'data/synthetic/coco/'
model = dict(
    backbone=dict(
        with_cp=False,
        arch=dict(
            _delete_=True,
            stage_blocks=[1, 1, 1, 1],
            channels=[16, 32, 64, 64],
            kernel_sizes=[[3], [13], [13], [13]])),
    neck=dict(in_channels=[16, 32, 64, 64]),
    # 32 proposals: the heads' 4 convs per RoI and stage dominate the cost.
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=32)),
    # An untrained detector scores ~1/81 per class: keep every box so that
    # the COCO metrics are computed.
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=32),
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
