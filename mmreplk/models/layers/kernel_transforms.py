"""Kernel algebra of structural re-parameterisation.

Every linear branch of a re-parameterisable block (1x1 conv, average pool,
1x1 followed by kxk, depthwise followed by pointwise, identity) is written
here as one ``(C_out, C_in / groups, k, k)`` kernel, so that branches can be
summed into a single convolution. All functions are differentiable, which
OREPA needs: it squeezes its branches into one kernel at every training step.
"""
import math

import torch
import torch.nn.functional as F


def pad_kernel_to(kernel, kernel_size):
    """Zero-pad a smaller odd kernel (e.g. 1x1) to ``kernel_size``, centred.

    ``kernel_size`` is an int (square) or an ``(h, w)`` pair (e.g. a 5x5
    kernel placed inside a 51x5 strip). With the centres aligned,
    ``conv(x, padded)`` with "same" padding equals the small kernel applied
    at the centre tap, for any dilation.
    """
    size_h, size_w = (kernel_size, kernel_size) \
        if isinstance(kernel_size, int) else kernel_size
    pad_h = (size_h - kernel.size(2)) // 2
    pad_w = (size_w - kernel.size(3)) // 2
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f'Cannot pad a {tuple(kernel.shape[2:])} kernel to '
                         f'{size_h}x{size_w}: it is larger.')
    return F.pad(kernel, [pad_w, pad_w, pad_h, pad_h])


def identity_kernel(channels,
                    in_per_group,
                    kernel_size=1,
                    dtype=None,
                    device=None):
    """Kernel of the identity map under grouped convolution.

    Entry ``[c, c % in_per_group, centre, centre]`` is 1: in a grouped conv
    with ``in_per_group`` input channels per group, output channel ``c``
    sees its own input channel at that position of its group. (With more
    rows than inputs, as OREPA's widened 1x1-kxk branch, rows repeat.)
    """
    kernel = torch.zeros(
        channels,
        in_per_group,
        kernel_size,
        kernel_size,
        dtype=dtype,
        device=device)
    centre = kernel_size // 2
    index = torch.arange(channels)
    kernel[index, index % in_per_group, centre, centre] = 1
    return kernel


def avg_pool_kernel(channels,
                    in_per_group,
                    kernel_size,
                    dtype=None,
                    device=None):
    """Kernel of a ``kernel_size`` average pool (zeros counted at borders).

    Per channel, a constant ``1 / k^2`` kernel in the identity position of
    a grouped conv with ``in_per_group`` inputs per group (see
    :func:`identity_kernel`).
    """
    kernel = torch.zeros(
        channels,
        in_per_group,
        kernel_size,
        kernel_size,
        dtype=dtype,
        device=device)
    index = torch.arange(channels)
    kernel[index, index % in_per_group] = 1.0 / kernel_size**2
    return kernel


def merge_1x1_kxk(kernel_1x1,
                  kernel_kxk,
                  groups=1,
                  bias_1x1=None,
                  bias_kxk=None):
    """One kernel (and bias) for a grouped 1x1 conv followed by a grouped kxk
    conv with the same ``groups``.

    Args:
        kernel_1x1 (Tensor): ``(T, C_in / g, 1, 1)``.
        kernel_kxk (Tensor): ``(C_out, T / g, k, k)``.
        groups (int): Groups of both convolutions.
        bias_1x1 (Tensor, optional): ``(T,)`` bias after the 1x1 conv. It
            reaches the output through every kxk tap, so the kxk conv's
            input must be padded with this bias (DBB's ``BNAndPadLayer``)
            for the merge to be exact at the borders.
        bias_kxk (Tensor, optional): ``(C_out,)`` bias after the kxk conv.

    Returns:
        Tensor | tuple[Tensor, Tensor]: The ``(C_out, C_in / g, k, k)``
        kernel; with any bias given, ``(kernel, bias)``.
    """
    mid, in_per_group = kernel_1x1.shape[:2]
    out, mid_per_group, kh, kw = kernel_kxk.shape
    first = kernel_1x1.reshape(groups, mid // groups, in_per_group)
    second = kernel_kxk.reshape(groups, out // groups, mid_per_group, kh, kw)
    kernel = torch.einsum('gti,gothw->goihw', first,
                          second).reshape(out, in_per_group, kh, kw)
    if bias_1x1 is None and bias_kxk is None:
        return kernel
    bias = kernel_kxk.new_zeros(out)
    if bias_1x1 is not None:
        bias = bias + torch.einsum('gt,got->go',
                                   bias_1x1.reshape(groups, mid // groups),
                                   second.sum((3, 4))).reshape(out)
    if bias_kxk is not None:
        bias = bias + bias_kxk
    return kernel, bias


def depthwise_separable_kernel(weight_dw, weight_pw, in_channels, groups=1):
    """One kernel for OREPA's linear depthwise-separable branch.

    A depthwise kxk conv with ``M = T / in_channels`` filters per input
    channel (``weight_dw``: ``(T, 1, k, k)``) followed by a grouped
    pointwise conv (``weight_pw``: ``(C_out, T / groups, 1, 1)``).

    The output-channel layout is the one of the official OREPA code (it
    decides which pointwise row feeds which output channel, so it must match
    for official checkpoints): pointwise row ``a * groups + c`` feeds output
    channel ``c * (C_out / groups) + a``. With ``groups == 1`` this is the
    plain composition.
    """
    total, _, kh, kw = weight_dw.shape
    out = weight_pw.size(0)
    mult = total // in_channels
    in_per_group = in_channels // groups
    dw = weight_dw.reshape(groups, in_per_group, mult, kh, kw)
    pw = weight_pw.reshape(out // groups, groups, in_per_group, mult)
    kernel = torch.einsum('cimhw,acim->caihw', dw, pw)
    return kernel.reshape(out, in_per_group, kh, kw)


def frequency_prior(channels, kernel_size, dtype=None):
    """OREPA's frequency-prior filters (DCT-II basis), one per channel.

    The first half of the channels vary along height with frequency
    ``u = c + 1``, the second half along width with ``u = c + 1 - C / 2``:
    ``cos(pi * (pos + 0.5) * u / k)``. For ``k = 3`` this is exactly the
    official buffer; the official code fills only the top-left 3x3 of larger
    kernels (the rest stays uninitialised memory), here the same basis is
    evaluated over the whole kernel.
    """
    half = channels / 2
    pos = torch.arange(kernel_size, dtype=torch.float64) + 0.5
    prior = torch.empty(
        channels, kernel_size, kernel_size, dtype=torch.float64)
    for c in range(channels):
        if c < half:
            wave = torch.cos(math.pi * pos * (c + 1) / kernel_size)
            prior[c] = wave[:, None].expand(kernel_size, kernel_size)
        else:
            wave = torch.cos(math.pi * pos * (c + 1 - half) / kernel_size)
            prior[c] = wave[None, :].expand(kernel_size, kernel_size)
    return prior.to(dtype or torch.get_default_dtype())


def dilate_kernel(kernel, dilation):
    """The dense kernel of a dilated convolution: ``k x k`` taps spread to
    ``dilation * (k - 1) + 1`` per side with zeros in between.

    ``conv(x, kernel, dilation=r, padding=p)`` equals ``conv(x,
    dilate_kernel(kernel, r), padding=p)``; with "same" padding the result
    can then be centred in a larger kernel with :func:`pad_kernel_to`.
    """
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f'dilation must be a positive int, got {dilation!r}.')
    if dilation == 1:
        return kernel
    kh, kw = kernel.shape[2:]
    dense = kernel.new_zeros(*kernel.shape[:2],
                             dilation * (kh - 1) + 1,
                             dilation * (kw - 1) + 1)
    dense[:, :, ::dilation, ::dilation] = kernel
    return dense
