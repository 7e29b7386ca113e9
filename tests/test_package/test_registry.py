"""What ``import mmreplk`` registers in mmengine's root registries: exactly
the types a config names, nothing else (mmengine's root registries are
shared with every OpenMMLab library and plugin, where a generic name such
as ``ConvBN`` or ``LayerNorm2d`` would collide)."""
import json

import pytest

from tests.helpers.package_imports import package_imports
from tests.helpers.tools import run_tool

# Registry -> names. A new config-facing type is added here on purpose.
EXPECTED = {
    'MODELS': [
        'GlooSyncBN', 'OREPARepVGG', 'OREPAResNet', 'RepLKNet', 'SLaK',
        'ShiftWiseNet', 'UniRepLKNet'
    ],
    'HOOKS': [
        'AtomicCheckpointHook', 'DispatchChoicesHook', 'RNGStateHook',
        'SparseGroupHook', 'SparseWeightHook'
    ],
    'RUNNERS': ['SafeResumeRunner'],
    'OPTIM_WRAPPERS': ['CPUAutocastOptimWrapper'],
    'OPTIM_WRAPPER_CONSTRUCTORS': ['LayerDecayOptimWrapperConstructor'],
    'file backends': ['atomic_local'],
}

# Snapshots every root registry (and mmengine's file backends), imports
# mmreplk and prints what was added, and every entry anywhere in the root
# registries whose object is defined in mmreplk.
PROBE = '''
import importlib, json, sys
import mmengine.registry.root as root
from mmengine.fileio.backends import backends
from mmengine.registry import Registry

for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError:  # optional dependencies
        pass
registries = {n: r for n, r in vars(root).items() if isinstance(r, Registry)}

def entries():
    found = {n: dict(r.module_dict) for n, r in registries.items()}
    found['file backends'] = dict(backends)
    return found

before = entries()
import mmreplk
after = entries()
added = {n: sorted(set(after[n]) - set(before[n])) for n in after}
ours = {n: sorted(k for k, v in after[n].items()
                  if getattr(v, '__module__', '').startswith('mmreplk'))
        for n in after}
print(json.dumps(dict(added={n: v for n, v in added.items() if v},
                      ours={n: v for n, v in ours.items() if v})))
'''


def third_party_imports():
    """Everything outside mmreplk that its modules import at import time:
    imported before the snapshot, so only mmreplk's own registrations
    differ."""
    _, imports = package_imports()
    return sorted({
        imp.target
        for imp in imports if not imp.internal and not imp.in_function
    })


def test_import_registers_exactly_the_config_facing_types():
    proc = run_tool(['-c', PROBE, json.dumps(third_party_imports())])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['added'] == EXPECTED
    # No mmreplk type under any other name or in any other registry.
    assert result['ours'] == EXPECTED


def test_unknown_backbone_error_lists_the_registered_backbones():
    from mmengine.config import Config

    import mmreplk  # noqa: F401
    from mmreplk.utils import ToolInputError, check_backbone_known
    cfg = Config(
        dict(default_scope='mmseg', model=dict(backbone=dict(type='Nope'))))
    with pytest.raises(ToolInputError) as err:
        check_backbone_known(cfg)
    backbones = [n for n in EXPECTED['MODELS'] if n != 'GlooSyncBN']
    assert f'mmreplk provides {", ".join(backbones)};' in str(err.value)
