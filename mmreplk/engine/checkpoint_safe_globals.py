"""Let mmengine resume training on torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10's
checkpoints carry the message hub's state (``HistoryBuffer`` objects holding
numpy arrays), which the safe unpickler rejects, so ``--resume`` fails with
"Weights only load failed ... HistoryBuffer". Rather than switching
``weights_only`` off (which would unpickle arbitrary code), we allow-list
exactly the classes and functions that mmengine writes into a checkpoint.
"""
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


def mmengine_checkpoint_globals():
    """The globals an mmengine training checkpoint needs to unpickle."""
    safe = [HistoryBuffer, np.ndarray, np.dtype]
    # The concrete dtype classes (numpy.dtypes.Float64DType, ...) of the
    # arrays that HistoryBuffer and the message hub store.
    safe += [type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                         np.int64, np.int32, np.bool_)]
    safe += _numpy_reconstruct()
    return safe


def register_checkpoint_safe_globals():
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load``."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


register_checkpoint_safe_globals()
