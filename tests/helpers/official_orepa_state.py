"""State dicts with the key names and shapes of the official OREPA ImageNet
checkpoints (JUGGHM/OREPA_CVPR2022, ``blocks.py``, ``basic.py``,
``models/resnet.py``), written down independently of mmreplk's modules so
that the converter tests check real key fidelity.

Only the structure matters here, the values are random.
"""
from collections import OrderedDict

import torch


def _bn(prefix, c):
    return {
        f'{prefix}weight': (c, ),
        f'{prefix}bias': (c, ),
        f'{prefix}running_mean': (c, ),
        f'{prefix}running_var': (c, ),
        f'{prefix}num_batches_tracked': ()
    }


def conv_bn_keys(prefix, cin, cout, k, groups=1):
    keys = {f'{prefix}conv.weight': (cout, cin // groups, k, k)}
    keys.update(_bn(f'{prefix}bn.', cout))
    return keys


def orepa_keys(prefix, cin, cout, k, groups=1, weight_only=False):
    internal = cin if groups <= 4 else 2 * cin
    g = groups
    keys = {
        f'{prefix}weight_orepa_origin': (cout, cin // g, k, k),
        f'{prefix}weight_orepa_avg_conv': (cout, cin // g, 1, 1),
        f'{prefix}weight_orepa_pfir_conv': (cout, cin // g, 1, 1),
        f'{prefix}weight_orepa_avg_avg': (k, k),
        f'{prefix}weight_orepa_1x1': (cout, cin // g, 1, 1),
        f'{prefix}weight_orepa_1x1_kxk_idconv1': (internal, cin // g, 1, 1),
        f'{prefix}id_tensor': (internal, cin // g, 1, 1),
        f'{prefix}weight_orepa_1x1_kxk_conv2': (cout, internal // g, k, k),
        f'{prefix}weight_orepa_gconv_dw': (cin * 8, 1, k, k),
        f'{prefix}weight_orepa_gconv_pw': (cout, cin * 8 // g, 1, 1),
        f'{prefix}vector': (6, cout),
        f'{prefix}weight_orepa_prior': (cout, k, k),
    }
    if not weight_only:
        keys.update(_bn(f'{prefix}bn.', cout))
    return keys


def orepa_1x1_keys(prefix, cin, cout):
    l2i = ((cin, cin), (cout, cin)) if cout > cin else ((cout, cin), (cout,
                                                                      cout))
    keys = {
        f'{prefix}weight_or1x1_origin': (cout, cin, 1, 1),
        f'{prefix}weight_or1x1_l2i_conv1': l2i[0] + (1, 1),
        f'{prefix}weight_or1x1_l2i_conv2': l2i[1] + (1, 1),
        f'{prefix}vector': (2, cout),
    }
    keys.update(_bn(f'{prefix}bn.', cout))
    return keys


def orepa_large_conv_keys(prefix, cin, cout, k):
    keys = {}
    layers = (k - 1) // 2
    for i in range(layers):
        keys.update(
            orepa_keys(
                f'{prefix}weight{i}.',
                cin if i == 0 else cout,
                cout,
                3,
                weight_only=True))
    keys.update(_bn(f'{prefix}bn.', cout))
    return keys


def official_orepa_resnet_shapes(depth=50):
    """``{key: shape}`` of an official OREPA ResNet-18/34/50/101 (training
    form, with the ImageNet classifier ``linear``)."""
    blocks = {
        18: (2, 2, 2, 2),
        34: (3, 4, 6, 3),
        50: (3, 4, 6, 3),
        101: (3, 4, 23, 3)
    }[depth]
    bottleneck = depth >= 50
    expansion = 4 if bottleneck else 1
    keys = orepa_large_conv_keys('stage0.conv1.', 3, 64, 7)
    cin = 64
    for s, n in enumerate(blocks):
        planes = 64 * 2**s
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            p = f'stage{s + 1}.{b}.'
            cout = planes * expansion
            if stride != 1 or cin != cout:
                keys.update(
                    orepa_1x1_keys(f'{p}shortcut.', cin, cout) if bottleneck
                    else conv_bn_keys(f'{p}shortcut.', cin, cout, 1))
            if bottleneck:
                keys.update(orepa_1x1_keys(f'{p}conv1.', cin, planes))
                keys.update(orepa_keys(f'{p}conv2.', planes, planes, 3))
                keys.update(orepa_1x1_keys(f'{p}conv3.', planes, cout))
            else:
                keys.update(orepa_keys(f'{p}conv1.', cin, planes, 3))
                keys.update(orepa_keys(f'{p}conv2.', planes, cout, 3))
            cin = cout
    keys['linear.weight'] = (1000, cin)
    keys['linear.bias'] = (1000, )
    return keys


def random_state(shapes, seed=0, prefix='module.'):
    """Random tensors for ``shapes`` as saved by DataParallel training."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            state[prefix + key] = torch.tensor(100)
        elif key.endswith('running_var'):
            state[prefix + key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[prefix + key] = torch.randn(shape, generator=gen) * 0.1
    return state
