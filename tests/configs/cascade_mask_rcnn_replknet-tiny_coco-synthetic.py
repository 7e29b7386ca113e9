# The real Cascade Mask R-CNN + RepLKNet-31B COCO config with width, depth,
# image scale and schedule shrunk for CPU tests on synthetic COCO
# (tools/dataset_converters/make_synthetic.py coco data/synthetic/coco).
_base_ = ['../../configs/cascade_mask_rcnn_replknet31b_coco.py']

data_root = 'data/synthetic/coco/'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            large_kernels=[7, 7, 5, 5],
            stage_blocks=[1, 1, 1, 1],
            channels=[16, 32, 64, 64],
            small_kernel=3),
        drop_path_rate=0.1,
        with_cp=False),
    neck=dict(in_channels=[16, 32, 64, 64]),
    # Fewer proposals keep the three 4conv1fc heads cheap on CPU.
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100)),
    # An untrained detector scores ~1/81 per class: keep every box so that
    # the COCO metrics are computed on a few iterations of training.
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(score_thr=0.0, max_per_img=20)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoiceResize',
        scales=[(128, 96), (160, 120)],
        keep_ratio=True),
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
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
