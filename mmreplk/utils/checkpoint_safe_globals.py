"""What ``torch.load(weights_only=True)`` must accept to read an mmengine
training checkpoint (the message hub's ``HistoryBuffer`` objects holding
numpy arrays), allowed only inside the loads that need it: nothing is
allow-listed for the rest of the process (docs/training.md)."""
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
    """Stand-in for the ``builtins.getattr`` that ``HistoryBuffer`` pickles
    (``getattr(HistoryBuffer, 'min')``): it hands out HistoryBuffer's
    statistics methods only, where the real ``getattr`` would let a
    malicious checkpoint reach any attribute of any allowed object."""
    is_buffer = owner is HistoryBuffer or isinstance(owner, HistoryBuffer)
    # Built-in statistics are public methods of the class; custom ones are
    # registered in _statistics_methods (filled lazily).
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
    # The dtype classes (numpy.dtypes.Float64DType, ...) of stored arrays.
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
