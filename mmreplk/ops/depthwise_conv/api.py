"""Depthwise 2-D convolution with large kernels: the dispatching front end.

``depthwise_conv2d`` has exactly the semantics (and argument order) of
``F.conv2d(input, weight, bias, stride, padding, groups=C)``, autocast
included. Back ends (:mod:`.backends`):

* ``'torch'``: ``F.conv2d``, the reference, always available.
* ``'cpu'``: fast CPU path (PyTorch's depthwise conv on channels_last + FFT
  grad weight), see :mod:`.cpu_impl`.
* ``'fft'``: real FFTs at fast sizes for the forward and both gradients, on
  CPU and CUDA, see :mod:`.fft_impl`.
* ``'triton'``: Triton kernels (forward and backward) for CUDA tensors, or
  for CPU tensors under ``TRITON_INTERPRET=1`` (tests); forced only.
* ``'auto'``: measured per shape, separately for the forward, the input
  gradient and the weight gradient, among the back ends that can run the
  input on its device (CPU: cpu, torch, fft; CUDA: torch, fft), see
  :mod:`mmreplk.ops.dispatch`. Only the reference is left (e.g. stride 2)
  -> ``F.conv2d`` directly.

Autocast: ``F.conv2d`` is on autocast's lower-precision list, and so is
this op. Under an active autocast for the input's device, input, weight
and bias (unless fp64) are cast to the autocast dtype as ``F.conv2d``
would cast them, and the back end runs with autocast off on those tensors:
the result's dtype depends on the inputs and the autocast state only, never
on the back end. Unlike ``F.conv2d``, the back ends also accept a weight
whose dtype differs from the input's; the output takes the input's dtype.
"""
import torch

from ..dispatch import autocast_dtype, cast_for_autocast
from . import torch_impl
from .backends import DISPATCHER
from .custom_op import depthwise_conv2d_op


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


def select_impl(x, kernel, padding, stride, impl='auto'):
    """Resolve ``impl`` to the back end that will run, or to ``'auto'`` when
    the op measures several candidates at run time. Forcing a back end
    that cannot run the input raises ValueError."""
    return DISPATCHER.resolve(
        impl, x, kernel=kernel, padding=padding, stride=stride)


def depthwise_conv2d(input,
                     weight,
                     bias=None,
                     stride=1,
                     padding=None,
                     *,
                     impl='auto'):
    """Depthwise convolution (``groups = C``) with large odd kernels, with
    the arguments and the autocast behaviour of ``F.conv2d``.

    Args:
        input (Tensor): Input ``(N, C, H, W)``, NCHW or channels_last.
        weight (Tensor): Kernel ``(C, 1, Kh, Kw)``, odd ``Kh`` and ``Kw``.
        bias (Tensor, optional): ``(C,)``. Defaults to None.
        stride (int | tuple[int, int]): Only the reference supports
            ``!= 1``. Defaults to 1.
        padding (int | tuple[int, int], optional): Zero padding; defaults to
            ``(Kh // 2, Kw // 2)`` (same-size output).
        impl (str): Keyword only: ``'auto'``, ``'cpu'``, ``'fft'``,
            ``'torch'`` or ``'triton'``; :func:`mmreplk.ops.use_impl`
            overrides it for a whole model.

    Returns:
        Tensor: ``(N, C, H', W')``.
    """
    kernel, padding, stride = check_depthwise_args(input, weight, bias,
                                                   padding, stride)
    device_type = input.device.type
    dtype = autocast_dtype(device_type)
    if dtype is not None:
        input, weight, bias = cast_for_autocast((input, weight, bias), dtype)
    backend = select_impl(input, kernel, padding, stride, impl)
    with torch.autocast(device_type, enabled=False):
        if backend == 'torch':
            # F.conv2d with its own autograd, outside the custom op.
            return torch_impl.conv_forward(input, weight, bias, padding,
                                           stride)
        return depthwise_conv2d_op(input, weight, bias, padding[0], padding[1],
                                   backend)
