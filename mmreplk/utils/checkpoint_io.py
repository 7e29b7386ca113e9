"""Reading, checking and writing checkpoint files for the tools.

Reads go through the safe unpickler (``torch.load(weights_only=True)``)
with an allow-list scoped to the one load; a checkpoint is checked strictly
against its model (every key present, none extra, every shape right), and
written atomically. The converters in ``tools/model_converters`` and the
tools that load a whole-model checkpoint share these functions.
"""
import argparse
import io
import os.path as osp
import re
from collections import OrderedDict

import torch

from .atomic_write import atomic_write_bytes
from .checkpoint_safe_globals import mmengine_checkpoint_globals
from .output_paths import check_output_paths
from .tool_entry import ToolInputError


class CheckpointMismatchError(ToolInputError):
    """A state dict does not match the target model."""


class CheckpointReadError(ToolInputError):
    """A checkpoint file cannot be unpickled (corrupt, truncated, not a
    checkpoint, or it needs a global the safe unpickler refuses)."""


_WRAPPER_KEYS = ('state_dict', 'model', 'module', 'model_ema')
_PREFIXES = ('module.', 'backbone.')

# Globals that the official training scripts pickle next to the weights and
# that are safe to rebuild: the ConvNeXt-style ``save_model`` of RepLKNet and
# ShiftWise stores ``'args': argparse.Namespace`` (a plain attribute bag;
# rebuilding it runs no code of the checkpoint's choosing).
OFFICIAL_CHECKPOINT_GLOBALS = (argparse.Namespace, )


def _refused_global(message):
    """The ``module.name`` torch's safe unpickler refused, if it says so."""
    match = re.search(r'Unsupported global: GLOBAL ([\w.]+)', message)
    return match.group(1) if match else None


def _load_error_detail(message):
    """The informative part of a ``torch.load`` error message (the safe
    unpickler's own complaint, not its generic advice)."""
    if 'WeightsUnpickler error:' in message:
        message = message.split('WeightsUnpickler error:', 1)[1]
        message = message.split('Check the documentation', 1)[0]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return 'no message'
    return lines[0].split('. ')[0][:200]


def read_checkpoint(path):
    """``torch.load`` a checkpoint with ``weights_only=True``.

    :data:`OFFICIAL_CHECKPOINT_GLOBALS` and the training state of an
    mmengine checkpoint (:func:`mmengine_checkpoint_globals`) are allowed
    for this load only, so the official training checkpoints and mmengine's
    ``iter_N.pth`` load without switching the safe unpickler off. Anything
    that cannot be read raises :class:`CheckpointReadError` saying why and
    what to do.
    """
    if not osp.isfile(path):
        raise CheckpointReadError(
            f'Source checkpoint {path!r} does not exist.')
    allowed = list(OFFICIAL_CHECKPOINT_GLOBALS) + \
        mmengine_checkpoint_globals()
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle, zip, EOF and safe-unpickler errors
        message = str(err)
        refused = _refused_global(message)
        if refused:
            raise CheckpointReadError(
                f'{path!r} pickles the global {refused}, which the safe '
                'loader (torch.load(weights_only=True)) refuses to rebuild '
                'because unpickling it could run code. If you trust the '
                'file, keep only its weights in a Python session: '
                "torch.save(torch.load(PATH, weights_only=False)['model'], "
                "'weights_only.pth'), and convert that file.") from err
        raise CheckpointReadError(
            f'{path!r} is not a readable PyTorch checkpoint '
            f'({type(err).__name__}: {_load_error_detail(message)}). The '
            'file may be truncated or corrupt (download or copy it again), '
            'or it is not a checkpoint.') from err


def unwrap_state_dict(obj, source, prefixes=_PREFIXES):
    """The flat ``{name: tensor}`` dict inside a loaded checkpoint ``obj``.

    Accepts raw state dicts and the ``{'model': ...}`` /
    ``{'state_dict': ...}`` wrappers of the official training scripts,
    mmpretrain and mmengine; strips the given ``prefixes`` (by default
    ``module.`` (DDP) and ``backbone.`` (mmpretrain classifier)).
    """
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(
            torch.is_tensor(v) for v in obj.values()):
        raise CheckpointMismatchError(
            f'{source!r} holds no state dict of tensors (top-level keys: '
            f'{list(obj)[:10] if isinstance(obj, dict) else type(obj)}).')
    state = OrderedDict()
    for name, value in obj.items():
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix):]
        state[name] = value
    return state


def load_source_state_dict(path, prefixes=_PREFIXES):
    """:func:`read_checkpoint` then :func:`unwrap_state_dict`."""
    return unwrap_state_dict(read_checkpoint(path), path, prefixes)


def read_conversion_source(src, dst, force=False):
    """What every converter does first: refuse an output ``dst`` that is
    the source or exists (unless ``force``), then read the state dict of
    ``src`` (:func:`load_source_state_dict`)."""
    check_output_paths({'output checkpoint': dst},
                       inputs={'source checkpoint': src},
                       force=force)
    return load_source_state_dict(src)


def _summarise(keys, limit=12):
    keys = sorted(keys)
    more = f' ... (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


CONVERTER_ADVICE = ('Check that --arch matches the checkpoint and that it '
                    'is a checkpoint of this model family.')


def check_against_model(converted,
                        model,
                        source_hint='',
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
        lines = [
            'The converted checkpoint does not match the target model' +
            (f' ({source_hint})' if source_hint else '') + ':'
        ]
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
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state, meta=meta or {}), buffer)
    atomic_write_bytes(buffer.getvalue(), path)
