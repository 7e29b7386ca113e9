"""Depthwise 2-D convolution with large kernels: the dispatching front end.

``depthwise_conv2d`` has exactly the semantics of
``F.conv2d(x, weight, bias, stride, padding, groups=C)``. Back ends:

* ``'torch'``: ``F.conv2d``, the reference, always available.
* ``'triton'``: Triton kernels (forward and backward) for CUDA tensors, or for
  CPU tensors under ``TRITON_INTERPRET=1`` (tests).
* ``'cpu'``: fast CPU path (PyTorch's depthwise conv on channels_last + FFT
  grad weight), see :mod:`mmreplk.ops.depthwise_conv_cpu`.
* ``'auto'``: Triton on CUDA tensors, the CPU path on CPU tensors, and the
  reference otherwise; a fallback to the reference is logged once with its
  reason.

Unlike ``F.conv2d``, the Triton path accepts a weight whose dtype differs
from the input's (e.g. fp32 parameters with fp16 activations under AMP); the
output takes the input's dtype.
"""
import functools
import os

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

IMPLS = ('auto', 'triton', 'cpu', 'torch')
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
CPU_DTYPES = (torch.float32, torch.float64)


def _to_pair(value, name):
    if isinstance(value, int):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{name} must be an int or a pair of ints, got {value!r}')


def check_depthwise_args(x, weight, bias, padding, stride=1):
    """Validate inputs; return ``(kh, kw), (ph, pw), (sh, sw)``."""
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
    for name, tensor in (('weight', weight), ('bias', bias)):
        if tensor is not None and tensor.device != x.device:
            raise ValueError(f'{name} is on {tensor.device} but the input '
                             f'is on {x.device}; move them to one device.')
    kh, kw = weight.shape[2:]
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f'depthwise_conv2d needs odd kernel sizes, got '
                         f'{kh}x{kw}; use e.g. {kh | 1}x{kw | 1}.')
    if bias is not None and tuple(bias.shape) != (weight.shape[0], ):
        raise ValueError(f'bias must have shape ({weight.shape[0]},), got '
                         f'{tuple(bias.shape)}.')
    padding = _to_pair((kh // 2, kw // 2) if padding is None else padding,
                       'padding')
    if min(padding) < 0:
        raise ValueError(f'padding must be >= 0, got {padding}.')
    return (kh, kw), padding, _to_pair(stride, 'stride')


@functools.lru_cache(None)
def triton_import_error():
    """None when Triton imports, else the reason it does not."""
    try:
        import triton  # noqa: F401
    except Exception as err:  # ImportError, or a broken install
        return f'triton is not importable ({type(err).__name__}: {err})'
    return None


def triton_interpreter_on():
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def _common_reason(kernel, padding, stride):
    if stride != (1, 1):
        return f'stride {stride} (only stride 1 is supported)'
    if padding[0] > kernel[0] - 1 or padding[1] > kernel[1] - 1:
        return f'padding {padding} larger than kernel - 1'
    return None


def triton_unsupported_reason(x, kernel, padding, stride):
    """Why the Triton back end cannot run this input, or None."""
    reason = triton_import_error()
    if reason:
        return reason
    if x.device.type != 'cuda' and not (x.device.type == 'cpu'
                                        and triton_interpreter_on()):
        return (f'input is on {x.device.type}, not CUDA (CPU tensors need '
                'TRITON_INTERPRET=1)')
    if x.dtype not in TRITON_DTYPES:
        return f'dtype {x.dtype} is not one of {TRITON_DTYPES}'
    return _common_reason(kernel, padding, stride)


def cpu_unsupported_reason(x, kernel, padding, stride):
    """Why the CPU back end cannot run this input, or None."""
    if x.device.type != 'cpu':
        return f'input is on {x.device.type}, not CPU'
    if x.dtype not in CPU_DTYPES:
        return f'dtype {x.dtype} is not one of {CPU_DTYPES}'
    return _common_reason(kernel, padding, stride)


_logged = set()


def _log_once(key, msg):
    if key not in _logged:
        _logged.add(key)
        print_log(msg, logger='current')


def select_impl(x, kernel, padding, stride, impl='auto'):
    """Resolve ``impl`` to the back end that will run: 'triton', 'cpu' or
    'torch'. Forcing an unsupported back end raises ValueError."""
    if impl not in IMPLS:
        raise ValueError(f'Unknown impl {impl!r}; choose one of {IMPLS}.')
    if impl == 'torch':
        return 'torch'
    checks = dict(triton=triton_unsupported_reason,
                  cpu=cpu_unsupported_reason)
    if impl in checks:
        reason = checks[impl](x, kernel, padding, stride)
        if reason:
            raise ValueError(f"depthwise_conv2d(impl='{impl}') cannot run "
                             f"this input: {reason}. Use impl='auto' or "
                             "'torch'.")
        return impl
    # auto
    wanted = 'triton' if x.device.type == 'cuda' else 'cpu'
    reason = checks[wanted](x, kernel, padding, stride)
    if reason is None:
        return wanted
    _log_once((wanted, reason),
              f'mmreplk depthwise_conv2d: the {wanted} back end cannot run '
              f'this input ({reason}); using the PyTorch reference.')
    return 'torch'


def depthwise_conv2d(x, weight, bias=None, padding=None, stride=1,
                     impl='auto'):
    """Depthwise convolution (``groups = C``) with large odd kernels.

    Args:
        x (Tensor): Input ``(N, C, H, W)``, NCHW or channels_last.
        weight (Tensor): Kernel ``(C, 1, Kh, Kw)``, odd ``Kh`` and ``Kw``.
        bias (Tensor, optional): ``(C,)``. Defaults to None.
        padding (int | tuple[int, int], optional): Zero padding; defaults to
            ``(Kh // 2, Kw // 2)`` (same-size output).
        stride (int | tuple[int, int]): Only the reference supports
            ``!= 1``. Defaults to 1.
        impl (str): ``'auto'``, ``'triton'``, ``'cpu'`` or ``'torch'``.

    Returns:
        Tensor: ``(N, C, H', W')``.
    """
    kernel, padding, stride = check_depthwise_args(x, weight, bias, padding,
                                                   stride)
    backend = select_impl(x, kernel, padding, stride, impl)
    if backend == 'torch':
        return F.conv2d(x, weight, bias, stride=stride, padding=padding,
                        groups=x.shape[1])
    from .depthwise_conv_function import depthwise_conv2d_op
    return depthwise_conv2d_op(x, weight, bias, padding[0], padding[1],
                               backend)
