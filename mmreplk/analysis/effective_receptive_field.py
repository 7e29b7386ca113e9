"""Effective receptive field (ERF) of a backbone, measured as in the
RepLKNet paper (Sec. 5) and its official erf/ scripts: the positive gradient
of the ReLU'd centre of the last feature map w.r.t. the input, summed over
batch and colour channels and averaged over images (docs/tools.md).
"""
import os
import os.path as osp

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
PAPER_THRESHOLDS = (0.2, 0.3, 0.5, 0.99)


def list_images(directory, num_images):
    """Up to ``num_images`` image paths under ``directory`` (recursive,
    sorted, so runs are reproducible)."""
    if not osp.isdir(directory):
        raise FileNotFoundError(f'Image directory {directory!r} not found; '
                                'pass --images DIR with .jpg/.png files.')
    paths = sorted(
        osp.join(root, name) for root, _, names in os.walk(directory)
        for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'No {"/".join(IMAGE_EXTENSIONS)} image '
                                f'under {directory!r}.')
    return paths[:num_images]


def load_image(path, size, mean, std, bgr_to_rgb=True):
    """Read ``path`` and return a normalised ``(1, 3, size, size)`` tensor
    (bicubic resize, as the official script)."""
    image = mmcv.imread(path, channel_order='rgb' if bgr_to_rgb else 'bgr')
    image = torch.from_numpy(np.ascontiguousarray(image)).float()
    image = image.permute(2, 0, 1)[None]
    image = F.interpolate(
        image, size=(size, size), mode='bicubic', align_corners=False)
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (image - mean) / std


def contribution_scores(backbone, image):
    """Score map ``(H, W)`` of one input batch: positive gradient of the
    ReLU'd centre of the last feature map, summed over batch and channels."""
    image = image.detach().clone().requires_grad_(True)
    features = backbone(image)
    if isinstance(features, (tuple, list)):
        features = features[-1]
    height, width = features.shape[-2:]
    centre = F.relu(features[:, :, height // 2, width // 2]).sum()
    grad, = torch.autograd.grad(centre, image)
    return F.relu(grad).sum(dim=(0, 1)).double().cpu().numpy()


def aggregate_scores(backbone, images, progress=None):
    """Mean contribution-score map over ``images`` (an iterable of input
    tensors); returns ``(scores, number of images used)``."""
    total, count = None, 0
    for index, image in enumerate(images):
        scores = contribution_scores(backbone, image)
        if progress is not None:
            progress()
        if not np.isfinite(scores).all():
            print_log(
                f'ERF: image {index} gives a non-finite gradient; '
                'skipped.',
                logger='current')
            continue
        total = scores if total is None else total + scores
        count += 1
    if count == 0:
        raise RuntimeError('Every image gave a non-finite gradient; the '
                           'model diverges on these inputs.')
    return total / count, count


def normalise_scores(scores):
    """``log10(scores + 1)`` rescaled to [0, 1] (the paper's display)."""
    scores = np.log10(np.asarray(scores, dtype=np.float64) + 1)
    peak = scores.max()
    return scores / peak if peak > 0 else scores


def high_contribution_area_ratio(scores, threshold):
    """``(side, ratio)``: the smallest centred square whose sum exceeds
    ``threshold`` of the total, and its area over the map's area."""
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 < threshold < 1:
        raise ValueError(f'threshold must be in (0, 1), got {threshold}.')
    height, width = scores.shape
    total = scores.sum()
    if total <= 0:
        raise ValueError('The score map is all zero: no input pixel '
                         'contributes to the centre output.')
    cy, cx = height // 2, width // 2
    for radius in range(0, max(height, width)):
        window = scores[max(cy - radius, 0):cy + radius + 1,
                        max(cx - radius, 0):cx + radius + 1]
        if window.sum() / total > threshold:
            rows, cols = window.shape
            return max(rows, cols), rows * cols / (height * width)
    return max(height, width), 1.0
