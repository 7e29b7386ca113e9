# The recipe of cascade_mask_rcnn_orepa_resnet50_coco.py with Diverse Branch
# Blocks (offline re-parameterisation: branch BNs kept during training) for
# the OREPA vs DBB comparison. DBB keeps a plain 7x7 conv-BN stem, so the
# stem's lower learning rate is dropped.
# Published numbers: configs/published_results.yml.
_base_ = ['./cascade_mask_rcnn_orepa_resnet50_coco.py']
model = dict(backbone=dict(block_type='DBB'))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
