# UperNet + SLaK-B (ImageNet-1K pre-training, 300 epochs), ADE20K 512x512,
# 160k, single-scale.
# Source: VITA-Group/SLaK segmentation/configs/
#   upernet_slak_base_512_160k_ade20k_ss.py (mmseg 0.x): drop_path 0.4,
#   layer scale 1.0, stage-wise lr decay 0.9 over 12 layers, sparse
#   fine-tuning, sliding-window test (crop 512, stride 341), 4 GPUs x 4
#   images; heads on channels [166, 332, 665, 1331].
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_slak_tiny_ade20k.py']
dims = [166, 332, 665, 1331]
model = dict(
    backbone=dict(arch='B', drop_path_rate=0.4),
    decode_head=dict(in_channels=dims),
    auxiliary_head=dict(in_channels=dims[2]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
