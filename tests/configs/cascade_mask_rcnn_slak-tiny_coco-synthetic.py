# The real Cascade Mask R-CNN + SLaK-T COCO config (its sparse fine-tuning
# hook included) with the real kernel sizes of the family on a tiny width and
# depth (tests/helpers/official_slak_state.TINY_ARCH), the official heads
# (4conv1fc, SyncBN, GIoU) at 32 channels instead of 256, small images and
# few proposals for CPU tests on synthetic COCO
# (tools/dataset_converters/make_synthetic.py coco ...).
_base_ = ['../../configs/cascade_mask_rcnn_slak_tiny_coco.py']

data_root = 'data/synthetic/coco/'
dims = [10, 20, 31, 41]
width = 32


def _bbox_head(target_stds):
    return dict(
        type='ConvFCBBoxHead',
        num_shared_convs=4,
        num_shared_fcs=1,
        in_channels=width,
        conv_out_channels=width,
        fc_out_channels=64,
        roi_feat_size=7,
        num_classes=80,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=target_stds),
        reg_class_agnostic=False,
        reg_decoded_bbox=True,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            stage_blocks=[1, 1, 2, 1],
            channels=dims,
            large_kernels=[51, 49, 47, 13],
            small_kernel=5),
        # The workflow is what these tests check (the op's back ends and
        # impl='auto' are tested in tests/test_ops): measuring every back
        # end for each of a run's ~40 strip shapes would cost more than
        # the run.
        impl='torch'),
    neck=dict(in_channels=dims, out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=[
            _bbox_head([0.1, 0.1, 0.2, 0.2]),
            _bbox_head([0.05, 0.05, 0.1, 0.1]),
            _bbox_head([0.033, 0.033, 0.067, 0.067]),
        ],
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width)),
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
