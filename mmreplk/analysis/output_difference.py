"""The one measure of how far two computations' outputs are apart, used by
the tools' ``--verify``, the benchmarks and the tests."""
import numpy as np
import torch


def _tensors(outputs):
    if torch.is_tensor(outputs):
        return [outputs]
    if isinstance(outputs, np.ndarray):
        return [torch.from_numpy(outputs)]
    return [t for item in outputs for t in _tensors(item)]


def max_abs_difference(expected, actual):
    """``(max |actual - expected|, max |expected|)`` in float64 over all
    tensors of two tensors, numpy arrays or nested sequences of them."""
    expected, actual = _tensors(expected), _tensors(actual)
    if len(expected) != len(actual) or any(e.shape != a.shape
                                           for e, a in zip(expected, actual)):
        raise ValueError('Outputs to compare differ in structure: shapes '
                         f'{[tuple(e.shape) for e in expected]} vs '
                         f'{[tuple(a.shape) for a in actual]}.')
    # torch's max propagates NaN (Python's max() would drop it).
    diff = torch.stack([
        (a.to(e.device).double() - e.double()).abs().max().cpu()
        for e, a in zip(expected, actual)
    ]).max().item()
    scale = max(e.double().abs().max().item() for e in expected)
    return diff, scale


def relative_max_diff(expected, actual):
    """``max |actual - expected| / max |expected|`` over all outputs (see
    :func:`max_abs_difference`); the absolute difference when ``expected``
    is all zero."""
    diff, scale = max_abs_difference(expected, actual)
    return diff / scale if scale > 0 else diff
