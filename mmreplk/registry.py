"""Where mmreplk registers its config-facing types.

mmreplk registers into mmengine's *root* registries. mmseg's and mmdet's
registries are children of these roots and fall back to their parent when a
type is not found in their own scope, so ``type='RepLKNet'`` resolves under
``default_scope='mmseg'`` and ``default_scope='mmdet'`` alike, with a single
registration and no patching of either library.

Because the root registries are shared with every other OpenMMLab library
and plugin, only the types a config names are registered here: the
backbones, the hooks, the runner, the optimizer wrapper and constructor and
the ``GlooSyncBN`` norm. Layers and blocks are built by the backbones
directly and are not registered, so their generic names (``ConvBN``,
``DBB``, ``LayerNorm2d``, ...) cannot collide with another library's types.
"""
from mmengine.registry import (HOOKS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                               OPTIM_WRAPPERS, RUNNERS)

__all__ = [
    'HOOKS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS',
    'RUNNERS'
]
