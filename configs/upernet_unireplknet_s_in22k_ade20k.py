# UperNet + UniRepLKNet-S (ImageNet-22K pre-training), ADE20K 512x512, 160k.
# Source: AILab-CVC/UniRepLKNet
#   segmentation/configs/ade20k/upernet_unireplknet_s_in22k_512_160k_ade20k.py
# Official recipe, as the ImageNet-1K S config (8 GPUs x 2 images, AdamW
# 1e-4, layer decay 0.9 over 12 layers, drop_path 0.3, activation
# checkpointing, 512 crops, whole-image test, no AMP); the backbone starts
# from the 22K->1K weights unireplknet_s_in22k_to_in1k_384_acc86.44.pth
# (converted with tools/model_converters/unireplknet_official.py).
# Published numbers: configs/published_results.yml.
_base_ = ['./upernet_unireplknet_s_ade20k.py']
