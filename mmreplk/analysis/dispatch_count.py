"""Counting the ATen operations a piece of eager code dispatches: a
device-independent proxy for the number of kernels it launches.

On a GPU, a training step whose tensors are small (OREPA's weight-only kernel
generation has no batch dimension) costs roughly one kernel launch per
dispatched operation, whatever the arithmetic. The count is the same on CPU
and GPU and does not depend on the input size, so CI can check it.
"""
import collections
import copy

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operations that launch no kernel: allocation without initialisation and
# reinterpretation of a buffer (views are recognised by their schema).
NO_KERNEL_OPS = frozenset({
    'aten.empty.memory_format', 'aten.empty_strided.default',
    'aten.empty_like.default', 'aten.new_empty.default',
    'aten.new_empty_strided.default', 'aten._unsafe_view.default',
    'aten.lift_fresh.default'
})


def launches_kernel(func):
    """Whether an ATen overload does work on data (not a view, not a bare
    allocation, not a profiler marker)."""
    return func.namespace == 'aten' and not func.is_view and \
        str(func) not in NO_KERNEL_OPS


class DispatchedOpCounter(TorchDispatchMode):
    """Context manager counting the ATen operations dispatched while active,
    forward and backward alike (autograd's backward formulas dispatch through
    the same mode).

    Operations composed of others (e.g. ``linear``) are counted as the
    operations they decompose into, as dispatched below autograd; what a
    kernel does internally is not seen. Code compiled with
    ``torch.compile`` is opaque to this counter.

    Attributes:
        kernel_ops (collections.Counter): Overload name -> calls, for
            operations that do work on data (see :func:`launches_kernel`).
        other_ops (collections.Counter): Views, bare allocations and
            non-ATen markers.

    Example:
        >>> with DispatchedOpCounter() as ops:
        ...     model(x).sum().backward()
        >>> ops.total_kernel_ops
    """

    def __init__(self):
        super().__init__()
        self.kernel_ops = collections.Counter()
        self.other_ops = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if launches_kernel(func):
            self.kernel_ops[str(func)] += 1
        else:
            self.other_ops[str(func)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total_kernel_ops(self):
        """Number of dispatched operations that do work on data."""
        return sum(self.kernel_ops.values())


def training_step_ops(model, inputs, loss_fn=None, lr=1e-3):
    """Kernel operations of one training step of ``model`` on ``inputs``:
    forward, backward and an SGD (momentum) step.

    SGD uses ``foreach=True``, the multi-tensor update that is the default
    on GPUs, so the count is the same on every device; with the per-tensor
    loop (the CPU default) the update alone would cost a few operations
    per parameter. One untimed step runs first, so that the optimizer state
    exists and the counted step is a steady-state one. Parameters and
    buffers are restored afterwards.

    Args:
        model (nn.Module): In the mode to count (usually ``train()``).
        inputs (Tensor): Model input.
        loss_fn (callable, optional): Output -> scalar loss; default: mean
            square of the (last) output.
        lr (float): Learning rate (tiny, the values do not matter).

    Returns:
        DispatchedOpCounter: The counts of the second step.
    """
    state = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=True)

    def default_loss(out):
        out = out[-1] if isinstance(out, (tuple, list)) else out
        return out.float().pow(2).mean()

    loss_fn = loss_fn or default_loss

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(inputs)).backward()
        optimizer.step()

    step()
    with DispatchedOpCounter() as counter:
        step()
    optimizer.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return counter
