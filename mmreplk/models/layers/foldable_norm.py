"""Norm layers that re-parameterisable units can fold into a convolution."""
from mmcv.cnn import build_norm_layer
from torch.nn.modules.batchnorm import _BatchNorm


def build_foldable_norm(layer, norm_cfg, num_features):
    """Build ``norm_cfg`` on ``num_features`` and check it can be folded.

    Only BatchNorm-family norms (BN, SyncBN, ...) become a per-channel affine
    map in eval mode. Anything else could train but never be deployed, so it
    is rejected here, before any training time is spent.

    Args:
        layer (str): Name of the calling layer, for the error message.
        norm_cfg (dict): mmcv norm config.
        num_features (int): Channels.

    Returns:
        nn.Module: The norm layer.
    """
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise ValueError(f'{layer}: norm_cfg must be a dict with a "type", '
                         f'e.g. dict(type="BN"); got {norm_cfg!r}.')
    norm = build_norm_layer(norm_cfg, num_features)[1]
    if not isinstance(norm, _BatchNorm):
        raise ValueError(
            f'{layer} folds its norm into a convolution, which needs a '
            f'BatchNorm-family norm; got norm_cfg type {norm_cfg["type"]!r}. '
            f'Use dict(type="BN") or dict(type="SyncBN").')
    return norm
