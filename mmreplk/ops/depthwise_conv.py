"""Depthwise 2-D convolution with large kernels: the dispatching front end.

``depthwise_conv2d`` has exactly the semantics (and argument order) of
``F.conv2d(input, weight, bias, stride, padding, groups=C)``. Back ends:

* ``'torch'``: ``F.conv2d``, the reference, always available.
* ``'triton'``: Triton kernels (forward and backward) for CUDA tensors, or for
  CPU tensors under ``TRITON_INTERPRET=1`` (tests).
* ``'cpu'``: fast CPU path (PyTorch's depthwise conv on channels_last + FFT
  grad weight), see :mod:`mmreplk.ops.depthwise_conv_cpu`.
* ``'fft'``: real FFTs at fast sizes for the forward and both gradients, on
  CPU and CUDA, see :mod:`mmreplk.ops.depthwise_conv_fft`.
* ``'auto'``: measured per shape, separately for the forward, the input
  gradient and the weight gradient, among the back ends that can run the
  input on its device (CPU: cpu, torch, fft; CUDA: torch, fft, triton), see
  :mod:`mmreplk.ops.dispatch`. Only the reference is left (e.g. stride 2)
  -> ``F.conv2d`` directly.

Unlike ``F.conv2d``, the custom back ends accept a weight whose dtype
differs from the input's (e.g. fp32 parameters with fp16 activations under
AMP); the output takes the input's dtype.
"""
import torch
import torch.nn.functional as F

from .depthwise_conv_fft import DTYPES as FFT_DTYPES
from .dispatch import Backend, OpDispatcher, triton_device_reason

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
    stride = _to_pair(stride, 'stride')
    for n, k, p, axis in ((x.shape[2], kh, padding[0], 'height'),
                          (x.shape[3], kw, padding[1], 'width')):
        if n + 2 * p < k:
            raise ValueError(
                f'The padded input {axis} {n} + 2 * {p} is smaller than the '
                f'kernel ({k}): the output would be empty; pad by at least '
                f'{(k - n + 1) // 2}.')
    return (kh, kw), padding, stride


def _common_reason(kernel, padding, stride):
    if stride != (1, 1):
        return f'stride {stride} (only stride 1 is supported)'
    if padding[0] > kernel[0] - 1 or padding[1] > kernel[1] - 1:
        return f'padding {padding} larger than kernel - 1'
    return None


def triton_unsupported_reason(x, kernel, padding, stride):
    """Why the Triton back end cannot run this input, or None."""
    reason = triton_device_reason(x)
    if reason:
        return reason
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


def fft_unsupported_reason(x, kernel, padding, stride):
    """Why the FFT back end cannot run this input, or None."""
    if x.device.type not in ('cpu', 'cuda'):
        return f'input is on {x.device.type}, not CPU or CUDA'
    if x.dtype not in FFT_DTYPES:
        return f'dtype {x.dtype} is not one of {FFT_DTYPES}'
    return _common_reason(kernel, padding, stride)


def _always(x, kernel, padding, stride):
    return None


# Measuring order of 'auto' (near-ties keep the earlier one): the CPU path
# first on CPU, cuDNN first on CUDA (the reference, and the least memory).
DISPATCHER = OpDispatcher('depthwise_conv2d', [
    Backend('cpu', cpu_unsupported_reason, auto_devices=('cpu', )),
    Backend('torch', _always),
    Backend('fft', fft_unsupported_reason, auto_devices=('cpu', 'cuda')),
    Backend('triton', triton_unsupported_reason, auto_devices=('cuda', )),
], reference='torch')
IMPLS = DISPATCHER.impls


def select_impl(x, kernel, padding, stride, impl='auto'):
    """Resolve ``impl`` to the back end that will run, or to ``'auto'`` when
    the op measures several candidates at run time. Forcing a back end
    that cannot run the input raises ValueError."""
    return DISPATCHER.resolve(impl, x, kernel=kernel, padding=padding,
                              stride=stride)


def depthwise_conv2d(input, weight, bias=None, stride=1, padding=None, *,
                     impl='auto'):
    """Depthwise convolution (``groups = C``) with large odd kernels, with
    the arguments of ``F.conv2d``.

    Args:
        input (Tensor): Input ``(N, C, H, W)``, NCHW or channels_last.
        weight (Tensor): Kernel ``(C, 1, Kh, Kw)``, odd ``Kh`` and ``Kw``.
        bias (Tensor, optional): ``(C,)``. Defaults to None.
        stride (int | tuple[int, int]): Only the reference supports
            ``!= 1``. Defaults to 1.
        padding (int | tuple[int, int], optional): Zero padding; defaults to
            ``(Kh // 2, Kw // 2)`` (same-size output).
        impl (str): Keyword only: ``'auto'``, ``'cpu'``, ``'fft'``,
            ``'torch'`` or ``'triton'``.

    Returns:
        Tensor: ``(N, C, H', W')``.
    """
    kernel, padding, stride = check_depthwise_args(input, weight, bias,
                                                   padding, stride)
    backend = select_impl(input, kernel, padding, stride, impl)
    if backend == 'torch':
        return F.conv2d(input, weight, bias, stride=stride, padding=padding,
                        groups=input.shape[1])
    from .depthwise_conv_function import depthwise_conv2d_op
    return depthwise_conv2d_op(input, weight, bias, padding[0], padding[1],
                               backend)
