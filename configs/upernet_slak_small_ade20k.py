# UperNet + SLaK-S (ImageNet-1K pre-training, 300 epochs), ADE20K 512x512,
# 160k, single-scale.
# Source: VITA-Group/SLaK segmentation/configs/
#   upernet_slak_small_512_160k_ade20k_ss.py (mmseg 0.x): drop_path 0.3,
#   layer scale 1.0, stage-wise lr decay 0.9 over 12 layers, sparse
#   fine-tuning, sliding-window test (crop 512, stride 341), 4 GPUs x 4
#   images.
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_slak_tiny_ade20k.py']
model = dict(backbone=dict(arch='S', drop_path_rate=0.3))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
