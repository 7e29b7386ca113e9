"""Config -> model -> checkpoint, with the checks every tool needs.

mmengine on its own reports these mistakes late or not at all: a missing
config is a bare ``FileNotFoundError``, an unknown backbone a registry
``KeyError`` deep in ``build``, and a checkpoint of another architecture is
loaded non-strictly by the runner with a warning, leaving a model that is
partly random. Each tool goes through these functions instead; the
:class:`~mmreplk.utils.tool_entry.ToolInputError` they raise becomes one
``error:`` line and exit status 2 (:func:`~mmreplk.utils.tool_main`).
"""
import os.path as osp
import re

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_io import (check_against_model, load_source_state_dict,
                            unwrap_state_dict)
from .checkpoint_safe_globals import mmengine_checkpoint_safe_globals
from .tool_entry import ToolInputError

# Where mmreplk's backbone classes are defined.
BACKBONE_MODULES = 'mmreplk.models.backbones.'

TOOL_ADVICE = ('The checkpoint was saved from another architecture or task. '
               'Use the config it was trained with; official ImageNet '
               'weights go through tools/model_converters/ and init_cfg, and '
               'a deploy checkpoint needs the config written by '
               'tools/deploy/reparameterize.py.')


def require_file(path, what):
    """Raise :class:`ToolInputError` unless ``path`` is an existing file."""
    if not osp.isfile(path):
        raise ToolInputError(f'{what} file {path!r} not found.')
    return path


def load_config(path, cfg_options=None):
    """``Config.fromfile`` with a clear error for a missing or broken file."""
    require_file(path, 'Config')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # syntax errors, missing _base_ files, ...
        raise ToolInputError(f'Config {path!r} cannot be read: '
                             f'{type(err).__name__}: {err}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def model_task(cfg):
    """``'segmentation'`` or ``'detection'``, from the config's scope."""
    scope = cfg.get('default_scope', None)
    if scope == 'mmseg':
        return 'segmentation'
    if scope == 'mmdet':
        return 'detection'
    raise ToolInputError(f"Config has default_scope={scope!r}; mmreplk tools "
                         "handle mmseg and mmdet configs (inherit "
                         "'mmseg::...' or 'mmdet::...' bases).")


def _registered_backbones():
    """Names of the mmreplk backbones in the registry (those ``import
    mmreplk`` registered)."""
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if cls.__module__.startswith(BACKBONE_MODULES))


def check_backbone_known(cfg):
    """Fail early when ``cfg.model.backbone.type`` is not registered."""
    model = cfg.get('model', None)
    backbone = model.get('backbone', None) if model else None
    if not backbone or 'type' not in backbone:
        raise ToolInputError('Config has no model.backbone.type; mmreplk '
                             'tools expect a segmentor or detector with a '
                             'backbone.')
    init_default_scope(cfg.get('default_scope', None))
    if MODELS.get(backbone['type']) is None:
        raise ToolInputError(
            f"Backbone type {backbone['type']!r} is not registered. mmreplk "
            f'provides {", ".join(_registered_backbones())}; mmseg/mmdet '
            "backbones are also accepted. Check the spelling, or add "
            "custom_imports=dict(imports=['your_module']) to the config.")
    return backbone['type']


def build_model_from_config(cfg):
    """Build ``cfg.model`` in the config's scope after the backbone check."""
    check_backbone_known(cfg)
    return MODELS.build(cfg.model)


def is_remote(path):
    """Whether ``path`` is a URL-like checkpoint address (``https://``,
    ``s3://``, ``open-mmlab://`` ...) that mmengine fetches itself."""
    return isinstance(path, str) and \
        re.match(r'^[\w.+-]+://', path) is not None


def load_remote_checkpoint(url):
    """Fetch a checkpoint through mmengine's loader (it caches downloads, so
    the runner's own load of the same URL does not download again)."""
    with mmengine_checkpoint_safe_globals():
        return CheckpointLoader.load_checkpoint(url, map_location='cpu')


def read_state_dict(path, what='Checkpoint'):
    """The ``{name: tensor}`` state dict of a whole-model checkpoint file or
    URL (mmengine's ``state_dict`` wrapper and DDP's ``module.`` removed)."""
    if is_remote(path):
        try:
            obj = load_remote_checkpoint(path)
        except Exception as err:  # network, missing object, unpickling
            raise ToolInputError(f'{what} {path!r} cannot be fetched or '
                                 f'read: {type(err).__name__}: {err}') from err
        return unwrap_state_dict(obj, path, prefixes=('module.', ))
    require_file(path, what)
    try:
        return load_source_state_dict(path, prefixes=('module.', ))
    except ToolInputError as err:  # unreadable, or no state dict inside
        raise type(err)(f'{what} {err}') from err
    except Exception as err:  # anything else torch.load raises
        raise ToolInputError(f'{what} {path!r} cannot be read: '
                             f'{type(err).__name__}: {err}') from err


def check_checkpoint_matches(state, model, path, advice=TOOL_ADVICE):
    """Raise :class:`ToolInputError` when ``state`` is not a checkpoint of
    ``model`` (missing/unexpected keys or wrong shapes); the message ends
    with ``advice``."""
    check_against_model(state, model, source_hint=path, advice=advice)


def load_model_checkpoint(model, path):
    """Load a whole-model checkpoint strictly, with a clear mismatch error."""
    state = read_state_dict(path)
    check_checkpoint_matches(state, model, path)
    model.load_state_dict(state, strict=True)
    return model
