# Cascade Mask R-CNN + SLaK-T with the 120-epoch ImageNet-1K weights, COCO,
# 12 epochs (steps 8, 11), multi-scale 480-800 training.
# Source: VITA-Group/SLaK detection/configs/
#   cascade_mask_rcnn_slak_tiny_120_patch4_window7_mstrain_480-800_giou_
#   4conv1f_adamw_3x_coco_in1k.py (mmdet 2.x; "3x" in the name, but its
#   schedule is 12 epochs): otherwise as cascade_mask_rcnn_slak_tiny_coco.py.
# Published numbers: configs/published_results.yml.
_base_ = ['./cascade_mask_rcnn_slak_tiny_coco.py']

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
