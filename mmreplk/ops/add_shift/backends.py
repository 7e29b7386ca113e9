"""The back ends of the shift-add op and the order in which
``impl='auto'`` measures them."""
import torch

from ..dispatch import Backend, OpDispatcher, triton_device_reason

# The dtypes the Triton kernel is built for (fp32 accumulation inside).
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def triton_unsupported_reason(x):
    """Why the Triton back end cannot run ``x``, or None."""
    reason = triton_device_reason(x)
    if reason:
        return reason
    if x.dtype not in TRITON_DTYPES:
        return f'dtype {x.dtype} is not one of {TRITON_DTYPES}'
    return None


# On CUDA 'auto' measures the Triton kernel against the PyTorch gather; on
# other devices only the gather runs (the interpreter is never a candidate).
DISPATCHER = OpDispatcher(
    'add_shift', [
        Backend('triton', triton_unsupported_reason, auto_devices=('cuda', )),
        Backend('torch', lambda x: None),
    ],
    reference='torch')
IMPLS = DISPATCHER.impls
