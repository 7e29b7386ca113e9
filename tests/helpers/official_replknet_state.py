"""State dicts laid out exactly like the official RepLKNet-pytorch
``replknet.py`` (and mmpretrain's port), written from the official module
names and shapes, for testing the converter without downloading weights."""
from collections import OrderedDict

import torch

ARCHS = {
    '31B':
    dict(
        kernels=[31, 29, 27, 13],
        layers=[2, 2, 18, 2],
        channels=[128, 256, 512, 1024],
        small=5,
        dw_ratio=1),
    'XL':
    dict(
        kernels=[27, 27, 27, 13],
        layers=[2, 2, 18, 2],
        channels=[256, 512, 1024, 2048],
        small=None,
        dw_ratio=1.5),
}
# The demo config's RepLKNet (configs/demo/...-tiny_...), official layout.
TINY_ARCH = dict(
    kernels=[13, 11, 9, 7],
    layers=[1, 1, 2, 1],
    channels=[32, 64, 128, 256],
    small=3,
    dw_ratio=1)
# The tiny Cascade Mask R-CNN test config's RepLKNet.
TINY_DET_ARCH = dict(
    kernels=[7, 7, 5, 5],
    layers=[1, 1, 1, 1],
    channels=[16, 32, 64, 64],
    small=3,
    dw_ratio=1)


def _bn(state, prefix, c, gen):
    state[prefix + 'weight'] = torch.rand(c, generator=gen) + 0.5
    state[prefix + 'bias'] = torch.randn(c, generator=gen) * 0.1
    state[prefix + 'running_mean'] = torch.randn(c, generator=gen) * 0.1
    state[prefix + 'running_var'] = torch.rand(c, generator=gen) + 0.5
    state[prefix + 'num_batches_tracked'] = torch.tensor(100)


def _conv_bn(state, prefix, cout, cin_per_group, k, gen):
    state[prefix + 'conv.weight'] = torch.randn(
        cout, cin_per_group, k, k, generator=gen) * 0.05
    _bn(state, prefix + 'bn.', cout, gen)


def official_state_dict(arch='31B', merged=False, num_classes=1000, seed=0):
    """Official ImageNet checkpoint layout (``merged``: small_kernel_merged
    deploy form with ``lkb_reparam``); ``arch`` is a name of :data:`ARCHS`
    or a dict with the same keys."""
    a = ARCHS[arch] if isinstance(arch, str) else arch
    gen = torch.Generator().manual_seed(seed)
    s = OrderedDict()
    c0 = a['channels'][0]
    _conv_bn(s, 'stem.0.', c0, 3, 3, gen)
    _conv_bn(s, 'stem.1.', c0, 1, 3, gen)
    _conv_bn(s, 'stem.2.', c0, c0, 1, gen)
    _conv_bn(s, 'stem.3.', c0, 1, 3, gen)
    for i, (k, n,
            c) in enumerate(zip(a['kernels'], a['layers'], a['channels'])):
        dw = int(c * a['dw_ratio'])
        for j in range(n):
            p = f'stages.{i}.blocks.{2 * j}.'
            _bn(s, p + 'prelkb_bn.', c, gen)
            _conv_bn(s, p + 'pw1.', dw, c, 1, gen)
            if merged:
                s[p + 'large_kernel.lkb_reparam.weight'] = torch.randn(
                    dw, 1, k, k, generator=gen) * 0.01
                s[p + 'large_kernel.lkb_reparam.bias'] = torch.randn(
                    dw, generator=gen) * 0.01
            else:
                _conv_bn(s, p + 'large_kernel.lkb_origin.', dw, 1, k, gen)
                if a['small'] is not None:
                    _conv_bn(s, p + 'large_kernel.small_conv.', dw, 1,
                             a['small'], gen)
            _conv_bn(s, p + 'pw2.', c, dw, 1, gen)
            p = f'stages.{i}.blocks.{2 * j + 1}.'
            _bn(s, p + 'preffn_bn.', c, gen)
            _conv_bn(s, p + 'pw1.', 4 * c, c, 1, gen)
            _conv_bn(s, p + 'pw2.', c, 4 * c, 1, gen)
        if i < 3:
            nxt = a['channels'][i + 1]
            _conv_bn(s, f'transitions.{i}.0.', nxt, c, 1, gen)
            _conv_bn(s, f'transitions.{i}.1.', nxt, 1, 3, gen)
    c3 = a['channels'][-1]
    _bn(s, 'norm.', c3, gen)
    s['head.weight'] = torch.randn(num_classes, c3, generator=gen) * 0.01
    s['head.bias'] = torch.zeros(num_classes)
    return s


def official_finetuned_state_dict(arch, heads, seed=0):
    """A fine-tuned official segmentor/detector checkpoint: the official
    backbone keys under ``backbone.`` (no classifier) next to ``heads``, a
    ``{name: tensor}`` dict of head keys in mmseg 0.x / mmdet 2.x names."""
    backbone = official_state_dict(arch, seed=seed)
    state = OrderedDict(('backbone.' + k, v) for k, v in backbone.items()
                        if not k.startswith(('norm.', 'head.')))
    state.update(heads)
    return state


def mmpretrain_state_dict(arch='31B', seed=0):
    """mmpretrain's ImageClassifier layout of the same weights: backbone.*
    with the classifier norm at backbone.stages.3.norm, head.fc.*."""
    official = official_state_dict(arch, seed=seed)
    s = OrderedDict()
    for k, v in official.items():
        if k.startswith('norm.'):
            s['backbone.stages.3.' + k] = v
        elif k.startswith('head.'):
            s['head.fc.' + k[len('head.'):]] = v
        else:
            s['backbone.' + k] = v
    return s
