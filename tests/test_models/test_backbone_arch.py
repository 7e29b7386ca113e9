"""The ``arch`` vocabulary every backbone shares
(:meth:`StagedBackbone.parse_arch`); no network is built here."""
import inspect
import re

import pytest

from mmreplk.models.backbones import (OREPARepVGG, OREPAResNet, RepLKNet,
                                      ShiftWiseNet, SLaK, UniRepLKNet)

BACKBONES = [
    RepLKNet, ShiftWiseNet, OREPAResNet, OREPARepVGG, SLaK, UniRepLKNet
]
# The family keys each custom dict needs beside stage_blocks and channels.
FAMILY_KEYS = {
    RepLKNet: ['large_kernels'],
    ShiftWiseNet: ['large_kernels'],
    SLaK: ['large_kernels'],
    OREPAResNet: ['block'],
    OREPARepVGG: [],
    UniRepLKNet: []
}


@pytest.mark.parametrize('cls', BACKBONES, ids=lambda c: c.__name__)
def test_unknown_preset_is_a_value_error_listing_the_presets(cls):
    presets = re.escape(str(sorted(cls.arch_settings)))
    with pytest.raises(
            ValueError,
            match=f'Unknown {cls.__name__} arch '
            f"'nope'; use one of the presets {presets}"):
        cls(arch='nope')
    with pytest.raises(TypeError, match='preset name or a dict'):
        cls.parse_arch(3)


@pytest.mark.parametrize('cls', BACKBONES, ids=lambda c: c.__name__)
def test_presets_and_custom_dicts_share_the_keys(cls):
    required = ['stage_blocks', 'channels'] + FAMILY_KEYS[cls]
    for name, setting in cls.arch_settings.items():
        arch = cls.parse_arch(name)
        assert set(required) <= set(setting)
        assert len(arch['stage_blocks']) == len(arch['channels']) == 4
        # A preset written out as a custom dict is the same arch.
        assert cls.parse_arch(dict(setting)) == arch
        assert arch is not cls.arch_settings[name]  # a copy
    custom = dict(cls.parse_arch(next(iter(cls.arch_settings))))
    del custom['channels']
    custom['dims'] = [8, 8, 8, 8]
    expected = re.escape(f"missing keys ['channels'], unknown keys ['dims']; "
                         f'expected a dict with keys {required}')
    with pytest.raises(ValueError, match=expected):
        cls.parse_arch(custom)
    custom = dict(
        cls.parse_arch(next(iter(cls.arch_settings))), stage_blocks=[1, 1, 1])
    with pytest.raises(ValueError, match='one entry per stage'):
        cls.parse_arch(custom)


def test_repvgg_presets_keep_the_official_widths():
    # RepVGG paper: width multipliers a (stages 1-3) and b (stage 4) of
    # (64, 128, 256, 512).
    multipliers = dict(A0=(0.75, 2.5), A1=(1, 2.5), A2=(1.5, 2.75), B1=(2, 4))
    for name, (a, b) in multipliers.items():
        assert list(OREPARepVGG.arch_settings[name]['channels']) == [
            int(a * 64), int(a * 128),
            int(a * 256),
            int(b * 512)
        ]


def test_family_specific_checks():
    # Bottleneck stages output 4x their planes.
    with pytest.raises(ValueError, match='multiples of 4'):
        OREPAResNet(
            arch=dict(
                stage_blocks=[1, 1, 1, 1],
                channels=[32, 64, 128, 250],
                block='bottleneck'))
    # Only bottleneck blocks are grouped (ResNeXt).
    with pytest.raises(ValueError, match='basic blocks .* are not grouped'):
        OREPAResNet(
            arch=dict(
                stage_blocks=[1, 1, 1, 1],
                channels=[8, 16, 32, 64],
                block='basic',
                groups=2))
    with pytest.raises(ValueError, match='block must be one of'):
        OREPAResNet(
            arch=dict(
                stage_blocks=[1, 1, 1, 1],
                channels=[8, 16, 32, 64],
                block='dense'))
    # RepLKNet alone may have any number of stages.
    arch = RepLKNet.parse_arch(
        dict(stage_blocks=[1, 1], channels=[8, 16], large_kernels=[7, 5]))
    assert arch['small_kernel'] is None and arch['ffn_ratio'] == 4


def _classes_of(package):
    return [
        obj for obj in vars(package).values()
        if inspect.isclass(obj) and obj.__module__.startswith('mmreplk.')
    ]


def _layer_and_block_classes():
    """Every class defined in mmreplk.models (backbones, blocks, layers)."""
    import mmreplk.models.backbones as backbones
    import mmreplk.models.layers as layers
    classes = set()
    for package in (backbones, layers):
        for module in list(vars(package).values()):
            if inspect.ismodule(module):
                classes.update(_classes_of(module))
        classes.update(_classes_of(package))
    return sorted(classes, key=lambda c: c.__qualname__)


def test_one_default_norm_cfg():
    """Every backbone, block and layer that takes a norm_cfg defaults to the
    same one."""
    defaults = {}
    for cls in _layer_and_block_classes():
        param = inspect.signature(cls).parameters.get('norm_cfg')
        if param is not None and param.default is not param.empty:
            defaults[cls.__name__] = param.default
    assert {
        'RepLKNet', 'ShiftWiseNet', 'OREPAResNet', 'OREPARepVGG',
        'ReparamLargeKernelConv', 'ShiftWiseConv2d', 'OREPA', 'UniRepLKNet',
        'UniRepLKNetBlock', 'DilatedReparamBlock'
    } <= set(defaults)
    assert {n: d for n, d in defaults.items() if d != dict(type='BN')} == {}


def test_one_term_for_the_large_kernel():
    """The large kernel's size is ``large_kernel`` (``large_kernels`` per
    stage) in every argument."""
    others = re.compile(r'big_kernel|lk_size|kernel_size_large|large_k$')
    offending = {
        f'{cls.__name__}({name})'
        for cls in _layer_and_block_classes()
        for name in inspect.signature(cls).parameters if others.search(name)
    }
    assert not offending
