"""Shared machinery of the checkpoint converters in tools/model_converters.

A conversion is strict: every source key is either mapped or explicitly
dropped, the result fills every key of the target model with the right
shape, and the output is written atomically.
"""
import os.path as osp
from collections import OrderedDict

import torch

from mmreplk.engine.atomic_local_backend import atomic_write_bytes


class CheckpointMismatchError(RuntimeError):
    """A converted state dict does not match the target model."""


_WRAPPER_KEYS = ('state_dict', 'model', 'module', 'model_ema')
_PREFIXES = ('module.', 'backbone.')


def load_source_state_dict(path, prefixes=_PREFIXES):
    """Load a checkpoint and unwrap it to a flat ``{name: tensor}`` dict.

    Accepts raw state dicts and the ``{'model': ...}`` /
    ``{'state_dict': ...}`` wrappers of the official training scripts,
    mmpretrain and mmengine; strips ``module.`` (DDP) and ``backbone.``
    (mmpretrain classifier) prefixes, or the given ``prefixes``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Source checkpoint {path!r} does not exist.')
    obj = torch.load(path, map_location='cpu', weights_only=True)
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and key in obj and isinstance(
                obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(
            torch.is_tensor(v) for v in obj.values()):
        raise CheckpointMismatchError(
            f'{path!r} holds no state dict of tensors (top-level keys: '
            f'{list(obj)[:10] if isinstance(obj, dict) else type(obj)}).')
    state = OrderedDict()
    for name, value in obj.items():
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix):]
        state[name] = value
    return state


def _summarise(keys, limit=12):
    keys = sorted(keys)
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


CONVERTER_ADVICE = ('Check that --arch matches the checkpoint and that it '
                    'is a checkpoint of this model family.')


def check_against_model(converted, model, source_hint='',
                        advice=CONVERTER_ADVICE):
    """Raise :class:`CheckpointMismatchError` naming every missing,
    unexpected or wrongly-shaped key of ``converted`` w.r.t. ``model``."""
    target = model.state_dict()
    missing = set(target) - set(converted)
    unexpected = set(converted) - set(target)
    shapes = [
        f'{k}: checkpoint {tuple(converted[k].shape)} vs model '
        f'{tuple(target[k].shape)}' for k in set(target) & set(converted)
        if converted[k].shape != target[k].shape
    ]
    if missing or unexpected or shapes:
        lines = ['The converted checkpoint does not match the target model'
                 + (f' ({source_hint})' if source_hint else '') + ':']
        if missing:
            lines.append(f'  missing keys ({len(missing)}): '
                         f'{_summarise(missing)}')
        if unexpected:
            lines.append(f'  unexpected keys ({len(unexpected)}): '
                         f'{_summarise(unexpected)}')
        if shapes:
            lines.append(f'  shape mismatches ({len(shapes)}): '
                         f'{"; ".join(shapes[:6])}')
        lines.append(f'  {advice}')
        raise CheckpointMismatchError('\n'.join(lines))


def save_state_dict(state, path, meta=None):
    """Save ``{'state_dict': state, 'meta': meta}`` atomically (mmengine's
    ``Pretrained`` init and ``load_checkpoint`` read this layout)."""
    import io
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state, meta=meta or {}), buffer)
    atomic_write_bytes(buffer.getvalue(), path)
