"""The back ends of the large-kernel depthwise convolution: what each can
run, and the order in which ``impl='auto'`` measures them.

Each back end module (``torch_impl``, ``cpu_impl``, ``fft_impl``,
``triton_impl``) has the same three functions, ``conv_forward``,
``conv_backward_input`` and ``conv_backward_weight``, on tensors of one
dtype (the front end casts them first, see :mod:`.api`).
"""
import torch

from ..dispatch import Backend, OpDispatcher, triton_device_reason

# Half-precision dtypes are computed in fp32 inside the cpu, fft and triton
# back ends (fp64 stays fp64).
HALF_DTYPES = (torch.float16, torch.bfloat16)
FLOAT_DTYPES = HALF_DTYPES + (torch.float32, torch.float64)


def _common_reason(kernel, padding, stride):
    if stride != (1, 1):
        return f'stride {stride} (only stride 1 is supported)'
    if padding[0] > kernel[0] - 1 or padding[1] > kernel[1] - 1:
        return f'padding {padding} larger than kernel - 1'
    return None


def _dtype_reason(x):
    if x.dtype not in FLOAT_DTYPES:
        return f'dtype {x.dtype} is not one of {FLOAT_DTYPES}'
    return None


def triton_unsupported_reason(x, kernel, padding, stride):
    """Why the Triton back end cannot run this input, or None."""
    return triton_device_reason(x) or _dtype_reason(x) or \
        _common_reason(kernel, padding, stride)


def cpu_unsupported_reason(x, kernel, padding, stride):
    """Why the CPU back end cannot run this input, or None."""
    if x.device.type != 'cpu':
        return f'input is on {x.device.type}, not CPU'
    return _dtype_reason(x) or _common_reason(kernel, padding, stride)


def fft_unsupported_reason(x, kernel, padding, stride):
    """Why the FFT back end cannot run this input, or None."""
    if x.device.type not in ('cpu', 'cuda'):
        return f'input is on {x.device.type}, not CPU or CUDA'
    return _dtype_reason(x) or _common_reason(kernel, padding, stride)


def _always(x, kernel, padding, stride):
    return None


# Measuring order of 'auto' (near-ties keep the earlier one): the CPU path
# first on CPU, PyTorch's native kernel first on CUDA (the reference, and
# the least memory). The Triton kernel can be forced but 'auto' never
# measures it: it was slower than PyTorch's native depthwise kernel on every
# shape measured on a GPU (docs/large_kernel_op.md).
DISPATCHER = OpDispatcher(
    'depthwise_conv2d', [
        Backend('cpu', cpu_unsupported_reason, auto_devices=('cpu', )),
        Backend('torch', _always),
        Backend('fft', fft_unsupported_reason, auto_devices=('cpu', 'cuda')),
        Backend('triton', triton_unsupported_reason, auto_devices=()),
    ],
    reference='torch')
IMPLS = DISPATCHER.impls
