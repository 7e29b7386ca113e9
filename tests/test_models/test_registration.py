"""`import mmreplk` makes its config-facing types resolvable from mmseg and
mmdet (the exact list is in tests/test_package/test_registry.py)."""
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmreplk  # noqa: F401

PUBLIC_TYPES = [
    'RepLKNet', 'ShiftWiseNet', 'OREPAResNet', 'OREPARepVGG', 'UniRepLKNet',
    'GlooSyncBN'
]


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_types_resolve_in_downstream_scopes(scope):
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    for name in PUBLIC_TYPES:
        assert registry.get(name) is not None, (scope, name)
    with DefaultScope.overwrite_default_scope(scope):
        backbone = registry.build(
            dict(
                type='RepLKNet',
                arch=dict(
                    large_kernels=[5, 5, 5, 3],
                    stage_blocks=[1, 1, 1, 1],
                    channels=[8, 8, 8, 8])))
    assert type(backbone).__name__ == 'RepLKNet'


def test_hooks_and_backends_registered():
    from mmengine.fileio.backends import backends
    from mmengine.registry import HOOKS
    assert HOOKS.get('RNGStateHook') is not None
    assert 'atomic_local' in backends


def test_configs_import_the_plugin():
    cfg = Config.fromfile('configs/upernet_replknet31b_ade20k.py')
    assert cfg.custom_imports == dict(
        imports=['mmreplk'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmseg'
    cfg = Config.fromfile('configs/cascade_mask_rcnn_replknet31b_coco.py')
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['mmreplk']
