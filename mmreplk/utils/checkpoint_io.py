"""Reading, checking and writing checkpoint files for the tools: reads go
through the safe unpickler with an allow-list scoped to the one load, checks
are strict, writes atomic."""
import argparse
import io
import os.path as osp
import re
from collections import OrderedDict

import torch

from .atomic_write import atomic_write_bytes
from .checkpoint_safe_globals import mmengine_checkpoint_globals
from .tool_entry import ToolInputError


class CheckpointMismatchError(ToolInputError):
    """A state dict does not match the target model."""


class CheckpointReadError(ToolInputError):
    """A checkpoint file cannot be unpickled (corrupt, truncated, not a
    checkpoint, or it needs a global the safe unpickler refuses)."""


# Globals the official training scripts pickle next to the weights that are
# safe to rebuild: ConvNeXt-style ``save_model`` (RepLKNet, ShiftWise)
# stores ``'args': argparse.Namespace``, a plain attribute bag.
OFFICIAL_CHECKPOINT_GLOBALS = (argparse.Namespace, )


def _load_error_detail(message):
    """The informative part of a ``torch.load`` error message."""
    if 'WeightsUnpickler error:' in message:
        message = message.split('WeightsUnpickler error:', 1)[1]
        message = message.split('Check the documentation', 1)[0]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0].split('. ')[0][:200] if lines else 'no message'


def read_checkpoint(path):
    """``torch.load(path, weights_only=True)`` with
    :data:`OFFICIAL_CHECKPOINT_GLOBALS` and mmengine's training state allowed
    for this load only; :class:`CheckpointReadError` says why a file cannot
    be read and what to do."""
    if not osp.isfile(path):
        raise CheckpointReadError(
            f'Source checkpoint {path!r} does not exist.')
    allowed = list(OFFICIAL_CHECKPOINT_GLOBALS) + \
        mmengine_checkpoint_globals()
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # pickle, zip, EOF and safe-unpickler errors
        refused = re.search(r'Unsupported global: GLOBAL ([\w.]+)', str(err))
        if refused:
            raise CheckpointReadError(
                f'{path!r} pickles the global {refused.group(1)}, which the '
                'safe loader (torch.load(weights_only=True)) refuses to '
                'rebuild because unpickling it could run code. If you trust '
                'the file, keep only its weights in a Python session: '
                "torch.save(torch.load(PATH, weights_only=False)['model'], "
                "'weights_only.pth'), and convert that file.") from err
        raise CheckpointReadError(
            f'{path!r} is not a readable PyTorch checkpoint '
            f'({type(err).__name__}: {_load_error_detail(str(err))}). The '
            'file may be truncated or corrupt (download or copy it again), '
            'or it is not a checkpoint.') from err


def unwrap_state_dict(obj, source, prefixes=('module.', 'backbone.')):
    """The flat ``{name: tensor}`` dict of a loaded checkpoint: a raw state
    dict or one under ``state_dict`` / ``model`` / ``module`` /
    ``model_ema``, with ``prefixes`` stripped (DDP's ``module.``,
    mmpretrain's ``backbone.``)."""
    for key in ('state_dict', 'model', 'module', 'model_ema'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
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
    if not (missing or unexpected or shapes):
        return
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
    raise CheckpointMismatchError('\n'.join(lines + [f'  {advice}']))


def save_state_dict(state, path, meta=None):
    """Save ``{'state_dict': state, 'meta': meta}`` atomically (the layout
    mmengine's ``Pretrained`` init and ``load_checkpoint`` read)."""
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state, meta=meta or {}), buffer)
    atomic_write_bytes(buffer.getvalue(), path)
