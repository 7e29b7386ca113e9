"""Config -> model -> checkpoint, with the checks every tool needs: a
missing or broken config, an unknown backbone and a checkpoint of another
architecture are a :class:`ToolInputError` here, not a late traceback or a
partly random model loaded non-strictly with a warning."""
import os.path as osp
import re

from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_io import (check_against_model, read_checkpoint,
                            unwrap_state_dict)
from .checkpoint_safe_globals import mmengine_checkpoint_safe_globals
from .tool_entry import ToolInputError

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
    """``Config.fromfile`` (then ``cfg_options`` merged) with a clear error
    for a missing or broken file."""
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
    task = dict(mmseg='segmentation', mmdet='detection')
    scope = cfg.get('default_scope', None)
    if scope not in task:
        raise ToolInputError(
            f"Config has default_scope={scope!r}; mmreplk tools handle mmseg "
            "and mmdet configs (inherit 'mmseg::...' or 'mmdet::...' bases).")
    return task[scope]


def check_backbone_known(cfg):
    """Fail early when ``cfg.model.backbone.type`` is not registered."""
    backbone = (cfg.get('model', None) or {}).get('backbone', None)
    if not backbone or 'type' not in backbone:
        raise ToolInputError('Config has no model.backbone.type; mmreplk '
                             'tools expect a segmentor or detector with a '
                             'backbone.')
    init_default_scope(cfg.get('default_scope', None))
    if MODELS.get(backbone['type']) is None:
        ours = sorted(name for name, cls in MODELS.module_dict.items()
                      if cls.__module__.startswith('mmreplk.models.backbones'))
        raise ToolInputError(
            f"Backbone type {backbone['type']!r} is not registered. mmreplk "
            f'provides {", ".join(ours)}; mmseg/mmdet '
            "backbones are also accepted. Check the spelling, or add "
            "custom_imports=dict(imports=['your_module']) to the config.")
    return backbone['type']


def build_model_from_config(cfg):
    """Build ``cfg.model`` in the config's scope after the backbone check."""
    check_backbone_known(cfg)
    return MODELS.build(cfg.model)


def is_remote(path):
    """Whether ``path`` is a URL (``https://``, ``s3://``, ...) that mmengine
    fetches itself."""
    return isinstance(path, str) and re.match(r'^[\w.+-]+://',
                                              path) is not None


def load_remote_checkpoint(url):
    """Fetch a checkpoint through mmengine's loader (which caches it, so the
    runner's own load of the same URL does not download it again)."""
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
        return unwrap_state_dict(
            read_checkpoint(path), path, prefixes=('module.', ))
    except ToolInputError as err:  # unreadable, or no state dict inside
        raise type(err)(f'{what} {err}') from err


def check_checkpoint_matches(state, model, path, advice=TOOL_ADVICE):
    """Raise :class:`ToolInputError` when ``state`` is not a checkpoint of
    ``model``; the message ends with ``advice``."""
    check_against_model(state, model, source_hint=path, advice=advice)


def load_model_checkpoint(model, path):
    """Load a whole-model checkpoint strictly, with a clear mismatch error."""
    state = read_state_dict(path)
    check_checkpoint_matches(state, model, path)
    model.load_state_dict(state, strict=True)
    return model
