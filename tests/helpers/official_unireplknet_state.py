"""State dicts laid out exactly like the official AILab-CVC/UniRepLKNet
``unireplknet.py`` (ImageNet model and dense backbone, training and deploy
form), written from the official module names and shapes, and a functional
re-statement of the official forward on such a state dict, for testing the
port and its converter without downloading weights.

Nothing here imports mmreplk's model: the architecture tables are written
out again from the official description."""
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F

# name: (depths, width of stage 0); widths double per stage.
ARCHS = {
    'A': ((2, 2, 6, 2), 40),
    'F': ((2, 2, 6, 2), 48),
    'P': ((2, 2, 6, 2), 64),
    'N': ((2, 2, 8, 2), 80),
    'T': ((3, 3, 18, 3), 80),
    'S': ((3, 3, 27, 3), 96),
    'B': ((3, 3, 27, 3), 128),
    'L': ((3, 3, 27, 3), 192),
    'XL': ((3, 3, 27, 3), 256),
}
# Dilated Reparam Block: K -> (branch kernel sizes, dilations).
DRB_TABLE = {
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    7: ((5, 3, 3), (1, 2, 3)),
    5: ((3, 3), (1, 2)),
}
NUM_CLASSES = {'1k': 1000, '22k': 21841}


def official_kernel_sizes(depths):
    """The official default kernel sizes of a depth preset."""
    depths = tuple(depths)
    if depths in ((2, 2, 6, 2), (2, 2, 8, 2)):
        middle = [13] * depths[2]
    elif depths == (3, 3, 18, 3):
        middle = [13, 3] * 9
    elif depths == (3, 3, 27, 3):
        middle = [13, 3, 3] * 9
    else:
        raise ValueError(depths)
    return [[3] * depths[0], [13] * depths[1], middle, [13] * depths[3]]


def arch_spec(arch):
    """``(depths, dims, kernel_sizes)`` of a preset name or of a dict with
    ``depths``, ``dims`` and ``kernel_sizes``."""
    if isinstance(arch, str):
        depths, width = ARCHS[arch]
        return depths, [width * m for m in (1, 2, 4, 8)], \
            official_kernel_sizes(depths)
    return arch['depths'], arch['dims'], arch['kernel_sizes']


class _Filler:
    """Random tensors (or shape-only meta tensors) in a fixed order."""

    def __init__(self, seed, device):
        self.gen = torch.Generator().manual_seed(seed)
        self.device = device

    def randn(self, *shape, scale=1.0, offset=0.0):
        if self.device == 'meta':
            return torch.empty(*shape, device='meta')
        return torch.randn(*shape, generator=self.gen) * scale + offset

    def rand(self, *shape, low=0.0, high=1.0):
        if self.device == 'meta':
            return torch.empty(*shape, device='meta')
        return torch.rand(*shape, generator=self.gen) * (high - low) + low


def _bn(s, prefix, c, fill):
    s[prefix + 'weight'] = fill.rand(c, low=0.5, high=1.5)
    s[prefix + 'bias'] = fill.randn(c, scale=0.1)
    s[prefix + 'running_mean'] = fill.randn(c, scale=0.1)
    s[prefix + 'running_var'] = fill.rand(c, low=0.5, high=1.5)
    s[prefix + 'num_batches_tracked'] = torch.tensor(1000)


def _ln(s, prefix, c, fill):
    s[prefix + 'weight'] = fill.rand(c, low=0.5, high=1.5)
    s[prefix + 'bias'] = fill.randn(c, scale=0.1)


def _conv(s, prefix, cout, cin, k, fill, bias=True):
    s[prefix + 'weight'] = fill.randn(
        cout, cin, k, k, scale=1 / math.sqrt(cin * k * k))
    if bias:
        s[prefix + 'bias'] = fill.randn(cout, scale=0.1)


def _linear(s, prefix, cout, cin, fill, bias=True):
    s[prefix + 'weight'] = fill.randn(cout, cin, scale=1 / math.sqrt(cin))
    if bias:
        s[prefix + 'bias'] = fill.randn(cout, scale=0.1)


def _block(s, p, c, k, deploy, fill):
    if not deploy:
        s[p + 'gamma'] = fill.rand(c, low=0.5, high=1.5)  # layer scale
    if k >= 7:
        _conv(s, p + 'dwconv.lk_origin.', c, 1, k, fill, bias=deploy)
        if not deploy:
            _bn(s, p + 'dwconv.origin_bn.', c, fill)
            for kk, r in zip(*DRB_TABLE[k]):
                _conv(
                    s,
                    p + f'dwconv.dil_conv_k{kk}_{r}.',
                    c,
                    1,
                    kk,
                    fill,
                    bias=False)
                _bn(s, p + f'dwconv.dil_bn_k{kk}_{r}.', c, fill)
    elif k in (3, 5):
        _conv(s, p + 'dwconv.', c, 1, k, fill, bias=deploy)
    if k and not deploy:
        _bn(s, p + 'norm.', c, fill)
    _conv(s, p + 'se.down.', c // 4, c, 1, fill)
    _conv(s, p + 'se.up.', c, c // 4, 1, fill)
    _linear(s, p + 'pwconv1.1.', 4 * c, c, fill)
    s[p + 'act.1.gamma'] = fill.randn(1, 1, 1, 4 * c, scale=0.5)
    if not deploy:
        s[p + 'act.1.beta'] = fill.randn(1, 1, 1, 4 * c, scale=0.5)
    _linear(s, p + 'pwconv2.0.', c, 4 * c, fill, bias=deploy)
    if not deploy:
        _bn(s, p + 'pwconv2.2.', c, fill)


def official_state_dict(arch='A',
                        deploy=False,
                        num_classes=1000,
                        dense=False,
                        seed=0,
                        device=None):
    """An official checkpoint's state dict.

    Args:
        arch (str | dict): Preset name of :data:`ARCHS` or a dict with
            ``depths``, ``dims``, ``kernel_sizes``.
        deploy (bool): The official deploy form (after
            ``reparameterize_unireplknet``).
        num_classes (int | None): Classifier classes (``norm`` + ``head``);
            1000 for ImageNet-1K and 22K->1K, 21841 for 22K; ignored with
            ``dense``.
        dense (bool): The dense backbone (``UniRepLKNetBackbone``): no
            classifier, output norms ``norm0``..``norm3`` instead.
        seed (int): Random values.
        device (str, optional): ``'meta'`` for shapes only.
    """
    depths, dims, kernels = arch_spec(arch)
    fill = _Filler(seed, device)
    s = OrderedDict()
    _conv(s, 'downsample_layers.0.0.', dims[0] // 2, 3, 3, fill)
    _ln(s, 'downsample_layers.0.1.', dims[0] // 2, fill)
    _conv(s, 'downsample_layers.0.3.', dims[0], dims[0] // 2, 3, fill)
    _ln(s, 'downsample_layers.0.4.', dims[0], fill)
    for i in range(1, 4):
        _conv(s, f'downsample_layers.{i}.0.', dims[i], dims[i - 1], 3, fill)
        _ln(s, f'downsample_layers.{i}.1.', dims[i], fill)
    for i in range(4):
        for j in range(depths[i]):
            _block(s, f'stages.{i}.{j}.', dims[i], kernels[i][j], deploy, fill)
    if dense:
        for i in range(4):
            _ln(s, f'norm{i}.', dims[i], fill)
    else:
        s['norm.weight'] = fill.rand(dims[3], low=0.5, high=1.5)
        s['norm.bias'] = fill.randn(dims[3], scale=0.1)
        _linear(s, 'head.', num_classes, dims[3], fill)
    return s


def official_finetuned_state_dict(arch, heads, deploy=False, seed=0):
    """A fine-tuned official segmentor/detector state dict: the dense
    backbone under ``backbone.`` next to ``heads`` (mmseg 0.x / mmdet 2.x
    names)."""
    backbone = official_state_dict(arch, deploy=deploy, dense=True, seed=seed)
    state = OrderedDict(('backbone.' + k, v) for k, v in backbone.items())
    state.update(heads)
    return state


def mmdet2_ema_buffers(state):
    """The buffers mmdet 2.x's ExpMomentumEMAHook adds to a model: one
    ``ema_<name with '.' -> '_'>`` per state-dict entry."""
    return OrderedDict(
        ('ema_' + k.replace('.', '_'), v.clone()) for k, v in state.items())


# ------------------------------------------------- the official forward


def _layer_norm_cf(x, s, p):
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    x = (x - mean) / torch.sqrt(var + 1e-6)
    return s[p + 'weight'][:, None, None] * x + s[p + 'bias'][:, None, None]


def _batch_norm(x, s, p):
    std = torch.sqrt(s[p + 'running_var'] + 1e-5)
    shape = (1, -1, 1, 1)
    return (x - s[p + 'running_mean'].view(shape)) / std.view(shape) * \
        s[p + 'weight'].view(shape) + s[p + 'bias'].view(shape)


def _official_block(x, s, p, c, k):
    deploy = p + 'pwconv2.0.bias' in s
    y = x
    if k >= 7:
        y = F.conv2d(
            x,
            s[p + 'dwconv.lk_origin.weight'],
            s.get(p + 'dwconv.lk_origin.bias'),
            padding=k // 2,
            groups=c)
        if not deploy:
            y = _batch_norm(y, s, p + 'dwconv.origin_bn.')
            for kk, r in zip(*DRB_TABLE[k]):
                y = y + _batch_norm(
                    F.conv2d(
                        x,
                        s[p + f'dwconv.dil_conv_k{kk}_{r}.weight'],
                        padding=(r * (kk - 1) + 1) // 2,
                        dilation=r,
                        groups=c), s, p + f'dwconv.dil_bn_k{kk}_{r}.')
    elif k:
        y = F.conv2d(
            x,
            s[p + 'dwconv.weight'],
            s.get(p + 'dwconv.bias'),
            padding=k // 2,
            groups=c)
    if k and not deploy:
        y = _batch_norm(y, s, p + 'norm.')
    # SE
    w = y.mean((2, 3), keepdim=True)
    w = F.relu(F.conv2d(w, s[p + 'se.down.weight'], s[p + 'se.down.bias']))
    w = torch.sigmoid(F.conv2d(w, s[p + 'se.up.weight'], s[p + 'se.up.bias']))
    y = y * w
    # ConvFFN with GRN, channels last
    y = y.permute(0, 2, 3, 1)
    y = F.gelu(F.linear(y, s[p + 'pwconv1.1.weight'], s[p + 'pwconv1.1.bias']))
    g = torch.sqrt((y * y).sum((1, 2), keepdim=True))
    n = g / (g.mean(-1, keepdim=True) + 1e-6)
    y = (s[p + 'act.1.gamma'] * n + 1) * y
    if not deploy:
        y = y + s[p + 'act.1.beta']
    y = F.linear(y, s[p + 'pwconv2.0.weight'], s.get(p + 'pwconv2.0.bias'))
    y = y.permute(0, 3, 1, 2)
    if not deploy:
        y = _batch_norm(y, s, p + 'pwconv2.2.')
        y = s[p + 'gamma'].view(1, -1, 1, 1) * y
    return x + y


def official_features(state, x, arch='A'):
    """The official dense backbone's four outputs (``norm{i}`` of each
    stage output; identity norms where ``state`` has none, as the official
    backbone before its output norms are trained), in eval mode."""
    depths, dims, kernels = arch_spec(arch)
    s = state
    x = F.conv2d(
        x,
        s['downsample_layers.0.0.weight'],
        s['downsample_layers.0.0.bias'],
        stride=2,
        padding=1)
    x = F.gelu(_layer_norm_cf(x, s, 'downsample_layers.0.1.'))
    x = F.conv2d(
        x,
        s['downsample_layers.0.3.weight'],
        s['downsample_layers.0.3.bias'],
        stride=2,
        padding=1)
    x = _layer_norm_cf(x, s, 'downsample_layers.0.4.')
    outs = []
    for i in range(4):
        if i:
            x = F.conv2d(
                x,
                s[f'downsample_layers.{i}.0.weight'],
                s[f'downsample_layers.{i}.0.bias'],
                stride=2,
                padding=1)
            x = _layer_norm_cf(x, s, f'downsample_layers.{i}.1.')
        for j in range(depths[i]):
            x = _official_block(x, s, f'stages.{i}.{j}.', dims[i],
                                kernels[i][j])
        if f'norm{i}.weight' in s:
            outs.append(_layer_norm_cf(x, s, f'norm{i}.'))
        else:
            outs.append(
                _layer_norm_cf(x, {
                    'weight': torch.ones(dims[i]),
                    'bias': torch.zeros(dims[i])
                }, ''))
    return outs
