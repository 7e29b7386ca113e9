"""Counting the ATen operations eager code dispatches: a device-independent
proxy for the kernels it launches, which dominate the cost of small-tensor
work such as OREPA's weight-only kernel generation (docs/orepa.md)."""
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
    """Context manager counting the ATen operations dispatched below
    autograd while active, forward and backward alike (composite operations
    as what they decompose into; ``torch.compile``d code is opaque).

    Attributes:
        kernel_ops (collections.Counter): Overload name -> calls, for
            operations that do work on data (see :func:`launches_kernel`).
        other_ops (collections.Counter): Views, bare allocations, markers.
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
    """The :class:`DispatchedOpCounter` of one steady-state training step
    of ``model`` on ``inputs`` (forward, backward, SGD with momentum and
    ``foreach=True``, the GPU default, so that the count is the same on every
    device), after one uncounted step; parameters and buffers are restored.
    ``loss_fn`` maps the output to a scalar (default: mean square of the
    last output)."""
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
