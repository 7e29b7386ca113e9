"""Depthwise 2-D convolution with large kernels: the dispatching front end.

``depthwise_conv2d`` has exactly the semantics of
``F.conv2d(x, weight, bias, stride=1, padding=padding, groups=C)``. The PyTorch
path (``impl='torch'``) is the reference and always available; faster
back ends register themselves in ``_IMPLS`` and ``impl='auto'`` picks the best
one that supports the input.
"""
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

IMPLS = ('auto', 'torch')


def _to_pair(value, name):
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{name} must be an int or a pair of ints, got {value!r}')


def check_depthwise_args(x, weight, bias, padding):
    """Validate inputs; return ``(kh, kw), (ph, pw)``."""
    if not torch.is_floating_point(x) or not torch.is_floating_point(weight):
        raise TypeError('depthwise_conv2d needs floating-point input and '
                        f'weight, got {x.dtype} and {weight.dtype}.')
    if x.dim() != 4:
        raise ValueError(f'depthwise_conv2d expects NCHW input, got shape '
                         f'{tuple(x.shape)}.')
    if weight.dim() != 4 or weight.shape[1] != 1:
        raise ValueError('depthwise_conv2d expects a weight of shape '
                         f'(C, 1, Kh, Kw), got {tuple(weight.shape)}.')
    if weight.shape[0] != x.shape[1]:
        raise ValueError(f'Channel mismatch: input has {x.shape[1]} channels '
                         f'but the depthwise weight has {weight.shape[0]}.')
    kh, kw = weight.shape[2:]
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f'depthwise_conv2d needs odd kernel sizes, got '
                         f'{kh}x{kw}; use e.g. {kh | 1}x{kw | 1}.')
    if bias is not None and bias.shape != (weight.shape[0], ):
        raise ValueError(f'bias must have shape ({weight.shape[0]},), got '
                         f'{tuple(bias.shape)}.')
    if padding is None:
        padding = (kh // 2, kw // 2)
    return (kh, kw), _to_pair(padding, 'padding')


def _torch_impl(x, weight, bias, padding):
    return F.conv2d(x, weight, bias, stride=1, padding=padding,
                    groups=x.shape[1])


_warned = set()


def _log_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        print_log(msg, logger='current')


def depthwise_conv2d(x, weight, bias=None, padding=None, impl='auto'):
    """Depthwise convolution, stride 1, ``groups=C``.

    Args:
        x (Tensor): Input ``(N, C, H, W)``.
        weight (Tensor): Kernel ``(C, 1, Kh, Kw)`` with odd ``Kh``, ``Kw``.
        bias (Tensor, optional): ``(C,)``. Defaults to None.
        padding (int | tuple[int, int], optional): Zero padding; defaults to
            ``(Kh // 2, Kw // 2)`` (same-size output).
        impl (str): ``'auto'`` or ``'torch'`` (reference, ``F.conv2d``).

    Returns:
        Tensor: ``(N, C, H', W')``.
    """
    if impl not in IMPLS:
        raise ValueError(f'Unknown impl {impl!r}; choose one of {IMPLS}.')
    _, padding = check_depthwise_args(x, weight, bias, padding)
    return _torch_impl(x, weight, bias, padding)
