"""How online re-parameterised units (the OREPA family) generate their
kernels during training: recomputation and batching.

**Recomputation.** An online unit builds its kernel from many branch kernels
every training step. Autograd keeps every branch kernel (and the einsum
operands) until the backward pass: ``C_out x C_in x k x k`` floats per
branch, a cost that does not shrink with the batch, so in late, wide stages
it can exceed the feature maps themselves. ``recompute_kernel=True``
recomputes the generation in the backward pass instead (no batch dimension),
keeping only the final kernel alive at the price of running the generation
twice. Off by default (the official behaviour); whether the trade pays
depends on the device, see docs/orepa.md ("Kernel generation and its
cost") for the measurements.

**Batching.** Generating a kernel is a few dozen small weight-only
operations, each one kernel launch on a GPU, whatever the batch size. Units
with the same kernel function and input shapes (a ResNet stage repeats them)
are generated together by :func:`batched_kernels`: their inputs are stacked
and the unit's own kernel function is run once under ``torch.func.vmap``, so
a group costs about the operations of one unit. The arithmetic is the same as
unit by unit, so kernels and gradients agree to rounding.

A module takes part as a *generator* if it has ``kernel_inputs()`` (its
tensors) and ``kernel_function()`` (a callable comparing equal across units
that can share a batch), or as a *composer* if it has ``compose_kernels()``
building its kernel from generators it contains (``OREPA_LargeConv``).

**How a unit gets its batched kernel.** Every online unit has a
``batched_kernel`` attribute, None outside its owner's forward pass. The
owner (the backbone, through :func:`kernel_generation`) generates the
kernels, sets the attribute of each unit that runs on its own, runs its
blocks and restores every attribute it set to its previous value when the
pass ends, also when it raises. A unit whose ``batched_kernel`` is None
generates its own kernel (:func:`unit_kernel`). Nothing is kept between
forward passes or outside the model, so nested and re-entrant forward passes
(a hook that runs the model again) each see their own kernels.
"""
import contextlib

import torch
from torch.func import vmap
from torch.utils.checkpoint import checkpoint


def check_recompute(owner, recompute):
    """``recompute_kernel`` must be a bool (clear error naming ``owner``)."""
    if not isinstance(recompute, bool):
        raise TypeError(f'{owner}: recompute_kernel must be True or False, '
                        f'got {recompute!r}.')
    return recompute


def training_kernel(kernel_fn, recompute=False):
    """``kernel_fn()``; with ``recompute`` and gradients enabled, its
    intermediates are recomputed during backward instead of stored.

    Args:
        kernel_fn (Callable[[], Tensor]): Builds the kernel from parameters.
        recompute (bool): Trade a second kernel generation in backward for
            the memory of the intermediates (results are identical).
    """
    if recompute and torch.is_grad_enabled():
        return checkpoint(kernel_fn, use_reentrant=False)
    return kernel_fn()


def unit_kernel(unit):
    """The kernel ``unit`` runs with in this forward pass: the one its owner
    supplied (``unit.batched_kernel``), else its own generation (recomputed
    in backward if ``unit.recompute_kernel``)."""
    if unit.batched_kernel is not None:
        return unit.batched_kernel
    return training_kernel(unit.squeezed_kernel, unit.recompute_kernel)


class _StackRuns(torch.autograd.Function):
    """Stack runs of equal-shaped tensors, all in one copy.

    ``forward(counts, *tensors)`` concatenates every tensor into one buffer
    and returns, for each ``n`` in ``counts``, the next ``n`` tensors as an
    ``(n, *shape)`` view of it. ``backward`` concatenates the gradients of
    the stacks once and gives every input a contiguous view of the result,
    which autograd hands to the parameter without a further copy. Stacking
    parameter by parameter would cost one copy per stack in each direction;
    stacks of tensors without gradient (buffers) are non-differentiable.
    """

    @staticmethod
    def forward(ctx, counts, *tensors):
        ctx.set_materialize_grads(False)
        flat = torch.cat([t.reshape(-1) for t in tensors])
        stacks, differentiable, index, offset = [], [], 0, 0
        for n in counts:
            first = tensors[index]
            size = n * first.numel()
            stacks.append(flat[offset:offset + size].view(n, *first.shape))
            differentiable.append(ctx.needs_input_grad[1 + index])
            index, offset = index + n, offset + size
        ctx.mark_non_differentiable(*(s
                                      for s, d in zip(stacks, differentiable)
                                      if not d))
        ctx.layout = [
            (n, tensors[i].shape, d)
            for n, i, d in zip(counts, _run_starts(counts), differentiable)
        ]
        ctx.dtype, ctx.device = flat.dtype, flat.device
        return tuple(stacks)

    @staticmethod
    def backward(ctx, *grads):
        pieces = []
        for grad, (n, shape, differentiable) in zip(grads, ctx.layout):
            if not differentiable:
                continue
            if grad is None:
                grad = torch.zeros(
                    n, *shape, dtype=ctx.dtype, device=ctx.device)
            pieces.append(grad.reshape(-1))
        flat = torch.cat(pieces) if pieces else None
        out, offset = [None], 0
        for n, shape, differentiable in ctx.layout:
            size = shape.numel()
            for _ in range(n):
                if differentiable:
                    out.append(flat[offset:offset + size].view(shape))
                    offset += size
                else:
                    out.append(None)
        return tuple(out)


def _run_starts(counts):
    starts, index = [], 0
    for n in counts:
        starts.append(index)
        index += n
    return starts


def _group_key(unit):
    fn = unit.kernel_function()
    inputs = unit.kernel_inputs()
    return (fn.func, tuple(sorted(fn.keywords.items())),
            tuple((tuple(t.shape), t.dtype, t.device, t.requires_grad)
                  for t in inputs))


def _generate_groups(groups):
    """Kernels of groups of equal-keyed units sharing a dtype and device:
    one stacking copy for all of them, one vmapped call per group."""
    tensors, counts = [], []
    for units in groups:
        for inputs in zip(*(unit.kernel_inputs() for unit in units)):
            tensors += inputs
            counts.append(len(units))
    stacks = iter(_StackRuns.apply(counts, *tensors))
    kernels = []
    for units in groups:
        fn = units[0].kernel_function()
        inputs = [next(stacks) for _ in units[0].kernel_inputs()]
        kernels += vmap(fn)(*inputs).unbind(0)
    return kernels


def _generate_all(generators, composers):
    groups = {}
    for unit in generators:
        groups.setdefault(_group_key(unit), []).append(unit)
    kernels = {}
    # Units alone in their group gain nothing from stacking.
    for units in groups.values():
        if len(units) == 1:
            unit = units[0]
            kernels[unit] = unit.kernel_function()(*unit.kernel_inputs())
    partitions = {}
    for key, units in groups.items():
        if len(units) > 1:
            first = units[0].kernel_inputs()[0]
            partitions.setdefault((first.dtype, first.device),
                                  []).append(units)
    for part in partitions.values():
        kernels.update(
            zip([u for units in part for u in units], _generate_groups(part)))
    for unit in composers:
        kernels[unit] = unit.compose_kernels(
            [kernels[g] for g in unit.kernel_generators()])
    return kernels


def collect_online_units(model):
    """``(generators, composers)`` among ``model``'s training-form modules.

    A composer's generators are collected too; a generator inside a composer
    is not used on its own.
    """
    generators, composers = [], []
    for module in model.modules():
        if getattr(module, 'deploy', False):
            continue
        if hasattr(module, 'compose_kernels'):
            composers.append(module)
        elif hasattr(module, 'kernel_function'):
            generators.append(module)
    return generators, composers


def kernel_consumers(generators, composers):
    """The units that run with a kernel of their own: every composer and
    every generator that is not part of a composer."""
    composed = {id(g) for unit in composers for g in unit.kernel_generators()}
    return [g for g in generators if id(g) not in composed] + composers


@contextlib.contextmanager
def supplied_kernels(units, kernels):
    """Set each unit's ``batched_kernel`` for the duration of the context,
    then restore the value it had before (also when the body raises), so an
    inner context (a nested forward pass) hands the outer one its kernels
    back."""
    previous = [unit.batched_kernel for unit in units]
    try:
        for unit, kernel in zip(units, kernels):
            unit.batched_kernel = kernel
        yield
    finally:
        for unit, kernel in zip(units, previous):
            unit.batched_kernel = kernel


@contextlib.contextmanager
def batched_kernels(model, recompute=False):
    """Generate the kernels of every online unit in ``model`` in batched
    groups; inside the context each unit's forward uses its kernel (its
    ``batched_kernel``, restored on exit, see the module docstring).

    Args:
        model (nn.Module): Contains the online units.
        recompute (bool): Recompute the generation in the backward pass
            instead of storing its intermediates (activation checkpointing
            of the whole batched generation), as ``recompute_kernel`` does
            unit by unit.

    A unit called again after the context has closed (activation
    checkpointing of the block that contains it, ``with_cp``) would no longer
    find its kernel, so backbones refuse that combination.
    """
    generators, composers = collect_online_units(model)
    consumers = kernel_consumers(generators, composers)

    def generate():
        kernels = _generate_all(generators, composers)
        return tuple(kernels[unit] for unit in consumers)

    if not generators:
        kernels = ()
    elif recompute and torch.is_grad_enabled():
        kernels = checkpoint(generate, use_reentrant=False)
    else:
        kernels = generate()
    with supplied_kernels(consumers, kernels):
        yield


def own_kernels(model):
    """A context in which every online unit of ``model`` generates its own
    kernel, whatever an enclosing forward pass supplied (restored on
    exit)."""
    consumers = kernel_consumers(*collect_online_units(model))
    return supplied_kernels(consumers, [None] * len(consumers))


KERNEL_GEN_MODES = ('eager', 'batched')


def _with_cp_error(owner):
    return ValueError(
        f'{owner}: kernel_gen=\'batched\' generates the kernels once '
        'before the blocks run, so with_cp=True (which re-runs blocks in the '
        'backward pass) cannot find them; use kernel_gen=\'eager\' with '
        'with_cp=True.')


def resolve_kernel_gen(owner, kernel_gen, with_cp=False):
    """Check ``kernel_gen`` (clear errors naming ``owner``) and resolve None:
    ``'batched'``, or ``'eager'`` when ``with_cp`` re-runs blocks."""
    if kernel_gen is None:
        return 'eager' if with_cp else 'batched'
    if kernel_gen not in KERNEL_GEN_MODES:
        raise ValueError(f'{owner}: kernel_gen must be one of '
                         f'{list(KERNEL_GEN_MODES)} or None, got '
                         f'{kernel_gen!r}.')
    if kernel_gen == 'batched' and with_cp:
        raise _with_cp_error(owner)
    return kernel_gen


def kernel_generation(model, kernel_gen, recompute=False, with_cp=False):
    """The context a backbone runs its blocks in: :func:`batched_kernels`
    for ``kernel_gen='batched'`` in training with gradients, otherwise
    :func:`own_kernels` (every unit generates its own kernel).

    Raises:
        ValueError: ``'batched'`` with ``with_cp`` (attributes changed after
            construction).
    """
    if kernel_gen == 'batched' and model.training and \
            torch.is_grad_enabled():
        if with_cp:
            raise _with_cp_error(type(model).__name__)
        return batched_kernels(model, recompute)
    return own_kernels(model)
