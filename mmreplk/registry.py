"""Where mmreplk registers its modules.

mmreplk registers into mmengine's *root* registries. mmseg's and mmdet's
registries are children of these roots and fall back to their parent when a
type is not found in their own scope, so ``type='RepLKNet'`` resolves under
``default_scope='mmseg'`` and ``default_scope='mmdet'`` alike, with a single
registration and no patching of either library.
"""
from mmengine.registry import HOOKS, MODELS, RUNNERS

__all__ = ['MODELS', 'HOOKS', 'RUNNERS']
