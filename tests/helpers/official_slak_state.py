"""State dicts laid out exactly like the official SLaK models
(VITA-Group/SLaK ``models/SLaK.py`` for ImageNet, ``segmentation/slak.py``
and ``detection/slak.py`` downstream), written from the official module
names, widths and shapes (not from mmreplk's modules), and a re-statement of
the official forward pass on such a state dict."""
from collections import OrderedDict

import torch
import torch.nn.functional as F

# The official SLaK constructors: ConvNeXt depths and dims, widened with
# int(dim * width_factor), kernel_size = 4 stage kernels + the small one.
ARCHS = {
    'T':
    dict(
        depths=[3, 3, 9, 3],
        dims=[96, 192, 384, 768],
        kernel_size=[51, 49, 47, 13, 5]),
    'S':
    dict(
        depths=[3, 3, 27, 3],
        dims=[96, 192, 384, 768],
        kernel_size=[51, 49, 47, 13, 5]),
    'B':
    dict(
        depths=[3, 3, 27, 3],
        dims=[128, 256, 512, 1024],
        kernel_size=[51, 49, 47, 13, 5]),
}
# The tiny test configs' SLaK (tests/configs/*slak-tiny*), with the real
# kernel sizes of the family: width_factor 1.3 on these dims gives
# channels [10, 20, 31, 41].
TINY_ARCH = dict(
    depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], kernel_size=[51, 49, 47, 13, 5])
WIDTH_FACTOR = 1.3


def widths(arch, width_factor=WIDTH_FACTOR):
    return [int(d * width_factor) for d in arch['dims']]


def official_shapes(arch='T',
                    bn=True,
                    classifier=True,
                    output_norms=False,
                    branch_names=('LoRA1', 'LoRA2'),
                    num_classes=1000):
    """``{key: shape}`` of an official SLaK state dict.

    Args:
        arch (str | dict): A name of :data:`ARCHS` or a dict like them.
        bn (bool): Official ``bn``: BN after each large-kernel branch.
        classifier (bool): The ImageNet ``norm`` and ``head``.
        output_norms (bool): The downstream ``norm0..norm3``.
        branch_names (tuple[str, str]): Names of the two strips:
            ``('LoRA1', 'LoRA2')`` (released models) or ``('Decom1',
            'Decom2')`` (the names for a few commits in July 2022).
    """
    a = ARCHS[arch] if isinstance(arch, str) else arch
    dims = widths(a)
    kernels, small = a['kernel_size'][:4], a['kernel_size'][4]
    shapes = OrderedDict()

    def conv_bn(prefix, c, kh, kw):
        shapes[prefix + 'conv.weight'] = (c, 1, kh, kw)
        if bn:
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                shapes[prefix + 'bn.' + name] = (c, )
            shapes[prefix + 'bn.num_batches_tracked'] = ()

    shapes['downsample_layers.0.0.weight'] = (dims[0], 3, 4, 4)
    shapes['downsample_layers.0.0.bias'] = (dims[0], )
    shapes['downsample_layers.0.1.weight'] = (dims[0], )
    shapes['downsample_layers.0.1.bias'] = (dims[0], )
    for i in range(3):
        p = f'downsample_layers.{i + 1}.'
        shapes[p + '0.weight'] = (dims[i], )
        shapes[p + '0.bias'] = (dims[i], )
        shapes[p + '1.weight'] = (dims[i + 1], dims[i], 2, 2)
        shapes[p + '1.bias'] = (dims[i + 1], )
    vertical, horizontal = branch_names
    for s, (c, depth, k) in enumerate(zip(dims, a['depths'], kernels)):
        for b in range(depth):
            p = f'stages.{s}.{b}.'
            shapes[p + 'gamma'] = (c, )
            conv_bn(p + f'large_kernel.{vertical}.', c, k, small)
            conv_bn(p + f'large_kernel.{horizontal}.', c, small, k)
            conv_bn(p + 'large_kernel.small_conv.', c, small, small)
            shapes[p + 'norm.weight'] = (c, )
            shapes[p + 'norm.bias'] = (c, )
            shapes[p + 'pwconv1.weight'] = (4 * c, c)
            shapes[p + 'pwconv1.bias'] = (4 * c, )
            shapes[p + 'pwconv2.weight'] = (c, 4 * c)
            shapes[p + 'pwconv2.bias'] = (c, )
    if output_norms:
        for i, c in enumerate(dims):
            shapes[f'norm{i}.weight'] = (c, )
            shapes[f'norm{i}.bias'] = (c, )
    if classifier:
        shapes['norm.weight'] = (dims[3], )
        shapes['norm.bias'] = (dims[3], )
        shapes['head.weight'] = (num_classes, dims[3])
        shapes['head.bias'] = (num_classes, )
    return shapes


# 1-D tensors drawn positive: norm and BN scales, variances, layer scales.
POSITIVE = ('.weight', 'running_var', 'gamma')


def official_state_dict(arch='T', sparsity=0.4, seed=0, **kwargs):
    """Random official state dict (see :func:`official_shapes`); every 2-D
    and 4-D weight has ``sparsity`` of its entries exactly zero, as in the
    released sparse models (masks on every Linear and conv weight)."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in official_shapes(arch, **kwargs).items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(1000)
        elif len(shape) == 1 and key.endswith(POSITIVE):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            value = torch.randn(shape, generator=gen) * 0.1
            if len(shape) in (2, 4) and sparsity > 0:
                value[torch.rand(shape, generator=gen) < sparsity] = 0
            state[key] = value
    return state


def official_finetuned_state_dict(arch, heads, seed=0, **kwargs):
    """A fine-tuned official segmentor/detector checkpoint (mmseg 0.x /
    mmdet 2.x, ``segmentation/slak.py`` / ``detection/slak.py``): the
    backbone with BN and ``norm0..norm3`` under ``backbone.``, next to
    ``heads`` (``{name: tensor}`` in the 0.x / 2.x names)."""
    backbone = official_state_dict(
        arch, seed=seed, classifier=False, output_norms=True, **kwargs)
    state = OrderedDict(('backbone.' + k, v) for k, v in backbone.items())
    state.update(heads)
    return state


def _channels_first_layer_norm(x, weight, bias, eps=1e-6):
    # The official LayerNorm(data_format='channels_first'), written out.
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return weight[:, None, None] * x + bias[:, None, None]


def official_forward(state, x, arch, out_indices=(0, 1, 2, 3)):
    """The official downstream SLaK forward (eval mode, no drop path) on an
    official state dict with output norms: ``downsample_layers[i]`` then
    the blocks of stage ``i``, each ``x + gamma * pwconv2(GELU(pwconv1(
    LN(LoRA1(x) + LoRA2(x) + small_conv(x)))))`` with every branch a
    depthwise conv with ("same" per axis, the CUTLASS kernel's) padding
    ``(kh // 2, kw // 2)`` and, if present, BN; returns ``norm{i}`` of the
    outputs of ``out_indices``."""
    a = ARCHS[arch] if isinstance(arch, str) else arch
    dims = widths(a)

    def branch(x, p):
        w = state[p + 'conv.weight']
        y = F.conv2d(
            x,
            w,
            padding=(w.shape[2] // 2, w.shape[3] // 2),
            groups=w.shape[0])
        if p + 'bn.weight' in state:
            y = F.batch_norm(y, state[p + 'bn.running_mean'],
                             state[p + 'bn.running_var'],
                             state[p + 'bn.weight'], state[p + 'bn.bias'],
                             False, 0.0, 1e-5)
        return y

    outs = []
    for i in range(4):
        p = f'downsample_layers.{i}.'
        if i == 0:
            x = F.conv2d(x, state[p + '0.weight'], state[p + '0.bias'], 4)
            x = _channels_first_layer_norm(x, state[p + '1.weight'],
                                           state[p + '1.bias'])
        else:
            x = _channels_first_layer_norm(x, state[p + '0.weight'],
                                           state[p + '0.bias'])
            x = F.conv2d(x, state[p + '1.weight'], state[p + '1.bias'], 2)
        for b in range(a['depths'][i]):
            p = f'stages.{i}.{b}.'
            names = [
                k[len(p + 'large_kernel.'):].split('.')[0] for k in state
                if k.startswith(p + 'large_kernel.')
            ]
            y = sum(
                branch(x, f'{p}large_kernel.{name}.')
                for name in dict.fromkeys(names))
            y = y.permute(0, 2, 3, 1)
            y = F.layer_norm(y, (dims[i], ), state[p + 'norm.weight'],
                             state[p + 'norm.bias'], 1e-6)
            y = F.linear(
                F.gelu(
                    F.linear(y, state[p + 'pwconv1.weight'],
                             state[p + 'pwconv1.bias'])),
                state[p + 'pwconv2.weight'], state[p + 'pwconv2.bias'])
            y = state[p + 'gamma'] * y
            x = x + y.permute(0, 3, 1, 2)
        if i in out_indices:
            outs.append(
                _channels_first_layer_norm(x, state[f'norm{i}.weight'],
                                           state[f'norm{i}.bias']))
    return outs
