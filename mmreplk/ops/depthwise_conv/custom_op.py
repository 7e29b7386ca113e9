"""Autograd for the custom back ends of the depthwise op, as
``torch.library`` custom ops (``mmreplk::depthwise_conv2d`` and its
backward) with fake implementations, so ``torch.compile`` traces through
them without graph breaks.

``impl`` is a back end name or ``'auto'``; with ``'auto'`` the forward, the
input gradient and the weight gradient each pick their back end at run time
through :data:`mmreplk.ops.dispatch.AUTOTUNER` (so forward by FFT and grad
weight by the CPU path compose: every back end computes the same function
from the same saved input and weight). Only ``x`` and ``weight`` are saved
for the backward. The ops receive tensors already cast by the front end
(:mod:`.api`) and run with autocast off, so the result's dtype is the
input's, whichever back end runs.
"""
import functools
from typing import Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor

from ..dispatch import AUTOTUNER
from . import cpu_impl, fft_impl, torch_impl
from .backends import DISPATCHER

OP = 'depthwise_conv2d'
DIRECTIONS = ('forward', 'grad_input', 'grad_weight')


def backend_module(impl):
    """The module of back end ``impl`` (Triton is imported on first use: it
    is an optional dependency)."""
    if impl == 'triton':
        from . import triton_impl
        return triton_impl
    modules = dict(cpu=cpu_impl, fft=fft_impl, torch=torch_impl)
    if impl not in modules:
        raise ValueError(f'No custom back end {impl!r}.')
    return modules[impl]


def _out_shape(x, weight, padding_h, padding_w):
    n, c, h, w = x.shape
    kh, kw = weight.shape[2:]
    return n, c, h + 2 * padding_h - kh + 1, w + 2 * padding_w - kw + 1


def output_memory_format(like, impl):
    """Memory format of the op's results, a function of ``impl``, the
    device and the input layout only (so the fake implementation knows it
    whatever 'auto' picks): channels_last on CPU for 'cpu' and 'auto' (the
    CPU path's layout, kept by the following layers), else the input's."""
    if like.device.type == 'cpu' and impl in ('cpu', 'auto'):
        return torch.channels_last
    if not like.is_contiguous() and like.is_contiguous(
            memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def choice_key(x, weight, padding, direction):
    """The :class:`~mmreplk.ops.dispatch.Autotuner` key of one direction of
    the op on these tensors."""
    kh, kw = weight.shape[2:]
    layout = 'cl' if output_memory_format(x, 'triton') == \
        torch.channels_last else 'nchw'
    return AUTOTUNER.make_key(
        OP, direction, x.device,
        dict(
            dtype=x.dtype,
            wdtype=weight.dtype,
            shape=tuple(x.shape),
            kernel=(kh, kw),
            padding=padding,
            layout=layout))


# 'auto' on CPU first probes the candidates on one sample when the batch
# has at least this many (see Autotuner.run).
PROBE_MIN_BATCH = 4


def _run(direction, x, weight, padding, impl, fmt, call):
    """``call(backend_module, batch)`` in ``fmt``, where ``batch`` slices
    the batch dimension: by ``impl``, or for 'auto' by the measured choice
    for this direction and key."""
    everything = slice(None)

    def in_format(module, batch=everything):
        return call(module, batch).contiguous(memory_format=fmt)

    if impl != 'auto':
        return in_format(backend_module(impl))
    kernel = tuple(weight.shape[2:])
    names = DISPATCHER.auto_candidates(
        x, kernel=kernel, padding=padding, stride=(1, 1))
    candidates = {
        name: functools.partial(in_format, backend_module(name))
        for name in names
    }
    probes = {
        name: functools.partial(in_format, backend_module(name), slice(1))
        for name in names
    } if x.shape[0] >= PROBE_MIN_BATCH else None
    return AUTOTUNER.run(
        choice_key(x, weight, padding, direction),
        candidates,
        x.device,
        probes,
        reference=DISPATCHER.reference)


@torch.library.custom_op('mmreplk::depthwise_conv2d', mutates_args=())
def depthwise_conv2d_op(x: Tensor, weight: Tensor, bias: Optional[Tensor],
                        padding_h: int, padding_w: int, impl: str) -> Tensor:
    padding = (padding_h, padding_w)
    with torch.autocast(x.device.type, enabled=False):
        return _run('forward', x, weight, padding, impl,
                    output_memory_format(x, impl),
                    lambda m, b: m.conv_forward(x[b], weight, bias, padding))


@depthwise_conv2d_op.register_fake
def _depthwise_conv2d_fake(x, weight, bias, padding_h, padding_w, impl):
    return x.new_empty(_out_shape(
        x, weight, padding_h,
        padding_w)).contiguous(memory_format=output_memory_format(x, impl))


def _both_by_fft(x, weight, padding, impl):
    """Whether both gradients run by FFT (forced, or both known 'auto'
    choices), so they can share the spectrum of ``grad_out``."""
    if impl != 'auto':
        return impl == 'fft'
    return all(
        AUTOTUNER.known_choice(choice_key(x, weight, padding, d)) == 'fft'
        for d in ('grad_input', 'grad_weight'))


def _shared_fft_backward(grad_out, x, weight, padding, impl):
    """Both gradients by :func:`.fft_impl.conv_backward`; under 'auto', None
    when it raises (the directions then run, and fail over, one by one)."""
    try:
        grad_in, grad_w = fft_impl.conv_backward(grad_out, x, weight, padding)
    except Exception as err:  # e.g. out of memory
        if impl != 'auto':
            raise
        print_log(
            f'mmreplk dispatch: the shared FFT backward failed '
            f'({type(err).__name__}: {err}); running the gradients '
            'one by one.',
            logger='current',
            level=30)
        return None
    return (grad_in.contiguous(
        memory_format=output_memory_format(grad_out, impl)),
            grad_w.to(weight.dtype))


@torch.library.custom_op('mmreplk::depthwise_conv2d_backward', mutates_args=())
def depthwise_conv2d_backward_op(grad_out: Tensor, x: Tensor, weight: Tensor,
                                 padding_h: int, padding_w: int, impl: str,
                                 need_input: bool,
                                 need_weight: bool) -> Tuple[Tensor, Tensor]:
    padding = (padding_h, padding_w)
    kernel = tuple(weight.shape[2:])
    with torch.autocast(x.device.type, enabled=False):
        if need_input and need_weight and \
                _both_by_fft(x, weight, padding, impl):
            shared = _shared_fft_backward(grad_out, x, weight, padding, impl)
            if shared is not None:
                return shared
        grad_in = _run(
            'grad_input', x, weight, padding, impl,
            output_memory_format(grad_out, impl), lambda m, b: m.
            conv_backward_input(grad_out[b], weight, padding, tuple(x.shape[
                2:]))) if need_input else x.new_empty(0)
        grad_w = _run(
            'grad_weight', x, weight, padding, impl,
            torch.contiguous_format, lambda m, b: m.conv_backward_weight(
                x[b], grad_out[b], kernel, padding).to(
                    weight.dtype)) if need_weight else weight.new_empty(0)
    return grad_in, grad_w


@depthwise_conv2d_backward_op.register_fake
def _depthwise_conv2d_backward_fake(grad_out, x, weight, padding_h, padding_w,
                                    impl, need_input, need_weight):
    grad_in = x.new_empty(x.shape).contiguous(
        memory_format=output_memory_format(grad_out, impl)) \
        if need_input else x.new_empty(0)
    return grad_in, (
        weight.new_empty(weight.shape) if need_weight else weight.new_empty(0))


def _setup_context(ctx, inputs, output):
    x, weight, bias, padding_h, padding_w, impl = inputs
    ctx.save_for_backward(x, weight)
    ctx.padding = (padding_h, padding_w)
    ctx.impl = impl
    ctx.bias_dtype = bias.dtype if bias is not None else None


def _backward(ctx, grad_out):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    grad_in = grad_w = grad_b = None
    if need_x or need_w:
        grad_in, grad_w = torch.ops.mmreplk.depthwise_conv2d_backward(
            grad_out, x, weight, *ctx.padding, ctx.impl, need_x, need_w)
    if ctx.bias_dtype is not None and need_b:
        acc = torch.float64 if grad_out.dtype == torch.float64 \
            else torch.float32
        grad_b = grad_out.sum((0, 2, 3), dtype=acc).to(ctx.bias_dtype)
    return (grad_in if need_x else None, grad_w if need_w else None, grad_b,
            None, None, None)


depthwise_conv2d_op.register_autograd(_backward, setup_context=_setup_context)
