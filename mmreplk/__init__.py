"""mmreplk: large-kernel and structurally re-parameterised ConvNets for
mmsegmentation and mmdetection.

``import mmreplk`` (or ``custom_imports=dict(imports=['mmreplk'])`` in a
config) registers the types a config names (backbones, hooks, runner,
optimizer wrapper and constructor, the ``GlooSyncBN`` norm and the
``atomic_local`` file backend) in mmengine's root registries, visible from
the ``mmseg`` and ``mmdet`` scopes, and changes nothing else.
"""
from .engine import *  # noqa: F401,F403  (hooks, runner, atomic backend)
from .models import *  # noqa: F401,F403
from .models.reparam import reparameterize_model
from .version import __version__

__all__ = ['reparameterize_model', '__version__']
