"""What ``torch.load(weights_only=True)`` must accept to read an mmengine
training checkpoint, allowed only for the loads that need it.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10's
checkpoints carry the message hub's state (``HistoryBuffer`` objects holding
numpy arrays), which the safe unpickler rejects, so ``--resume`` fails with
"Weights only load failed ... HistoryBuffer". Rather than switching
``weights_only`` off (which would unpickle arbitrary code), the loads of a
training checkpoint (resume, ``load_from``, the tools' checkpoint reads)
run inside :func:`mmengine_checkpoint_safe_globals`, which allow-lists
exactly the classes and functions that mmengine writes into a checkpoint
and resolves the one ``getattr`` it pickles to a function that allows only
what mmengine needs. Nothing is allow-listed for the rest of the process.
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_reconstruct():
    # numpy 2 moved the pickling helpers from numpy.core to numpy._core;
    # pickles name whichever module wrote them, so allow both when present.
    funcs = []
    for modname in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            module = __import__(modname, fromlist=['_reconstruct'])
        except ImportError:
            continue
        funcs.append((module._reconstruct, f'{modname}._reconstruct'))
        funcs.append((module.scalar, f'{modname}.scalar'))
    return funcs


def history_buffer_statistic(owner, name):
    """Stand-in for ``getattr`` while unpickling a checkpoint.

    ``HistoryBuffer`` pickles its statistics table as
    ``getattr(HistoryBuffer, 'min')`` etc. Allow-listing the real
    ``getattr`` would let a malicious checkpoint reach any attribute of any
    allowed object (and from there, arbitrary code), so the pickled
    ``builtins.getattr`` is resolved to this function, which only hands out
    HistoryBuffer's registered statistics methods.
    """
    is_buffer = owner is HistoryBuffer or isinstance(owner, HistoryBuffer)
    # The built-in statistics are public methods of the class itself; custom
    # ones are registered in _statistics_methods (filled lazily, so it may
    # still be empty in a fresh process).
    builtin = not name.startswith('_') and callable(
        vars(HistoryBuffer).get(name))
    if is_buffer and (builtin or name in HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({owner!r}, {name!r}) while loading '
        'a checkpoint: only HistoryBuffer statistics methods are allowed.')


def mmengine_checkpoint_globals():
    """The globals an mmengine training checkpoint needs to unpickle."""
    safe = [HistoryBuffer, np.ndarray, np.dtype]
    # The concrete dtype classes (numpy.dtypes.Float64DType, ...) of the
    # arrays that HistoryBuffer and the message hub store.
    safe += [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                    np.int64, np.int32, np.bool_)
    ]
    safe += _numpy_reconstruct()
    safe.append((history_buffer_statistic, 'builtins.getattr'))
    return safe


def mmengine_checkpoint_safe_globals():
    """Context manager: :func:`mmengine_checkpoint_globals` are allowed for
    ``torch.load(weights_only=True)`` inside the ``with`` block only."""
    return torch.serialization.safe_globals(mmengine_checkpoint_globals())
