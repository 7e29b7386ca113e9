"""Mixed precision on CPU: bf16 autocast in the training step.

mmengine 0.10's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU device, so
``tools/train.py --amp`` uses this wrapper when no GPU is present. bfloat16
has float32's exponent range, so no loss scaling is needed.
"""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mmreplk.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` (the forward and loss of
    mmengine's ``train_step``) runs under ``torch.autocast('cpu', dtype)``.

    Args:
        dtype (str): Autocast dtype, 'bfloat16' (default) or 'float16'.
        **kwargs: ``OptimWrapper`` arguments.
    """

    def __init__(self, dtype='bfloat16', **kwargs):
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"dtype must be 'bfloat16' or 'float16', got "
                             f'{dtype!r}.')
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model):
            with torch.autocast('cpu', dtype=self.cast_dtype):
                yield
