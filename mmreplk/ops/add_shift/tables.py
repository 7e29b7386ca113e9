"""Shift tables of the shift-add op: validation and inversion.

A table set ``(src_channel, offset_h, offset_w)``, each ``(C_out, K)``, says
that term ``k`` of output channel ``o`` reads input channel
``src_channel[o, k]`` shifted by ``(offset_h[o, k], offset_w[o, k])``;
``src_channel == -1`` pads ragged rows.
"""
import torch


def check_shift_tables(x, src_channel, offset_h, offset_w, out_size):
    """Validate the op's arguments; return ``(H_out, W_out)``."""
    if not torch.is_floating_point(x) or x.dim() != 4:
        raise ValueError('add_shift expects a floating-point NCHW input, got '
                         f'{x.dtype} of shape {tuple(x.shape)}.')
    tables = dict(
        src_channel=src_channel, offset_h=offset_h, offset_w=offset_w)
    for name, table in tables.items():
        if not torch.is_tensor(table) or table.dim() != 2 or \
                table.dtype not in (torch.int32, torch.int64):
            raise ValueError(f'{name} must be a 2-D int32/int64 tensor '
                             '(C_out, K), got '
                             f'{getattr(table, "dtype", type(table))} '
                             f'{tuple(getattr(table, "shape", ()))}.')
        if table.shape != src_channel.shape:
            raise ValueError('src_channel, offset_h and offset_w must have '
                             f'one shape; got {tuple(src_channel.shape)}, '
                             f'{tuple(offset_h.shape)}, '
                             f'{tuple(offset_w.shape)}.')
        if table.device != x.device:
            raise ValueError(f'{name} is on {table.device} but the input is '
                             f'on {x.device}; move the tables with the input '
                             '(register them as buffers).')
    if src_channel.numel():
        low, high = int(src_channel.min()), int(src_channel.max())
        if low < -1 or high >= x.shape[1]:
            raise ValueError(
                f'src_channel values must be in [-1, {x.shape[1] - 1}] for '
                f'an input with {x.shape[1]} channels; got [{low}, {high}].')
    if len(out_size) != 2 or min(int(s) for s in out_size) < 1:
        raise ValueError(f'out_size must be (H_out, W_out) >= 1, got '
                         f'{out_size!r}.')
    return int(out_size[0]), int(out_size[1])


def invert_shift_tables(src_channel, offset_h, offset_w, in_channels):
    """Tables of the gradient w.r.t. the input.

    ``grad_x[c, h, w] = sum over terms (o, k) reading channel c of
    grad_out[o, h - offset_h[o, k], w - offset_w[o, k]]``: the same
    gather-shift-sum with rows per input channel, sources ``o`` and negated
    offsets, so one kernel serves forward and backward without atomics.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(in_channels, K_inv)`` int32 tables,
        ragged rows padded with -1.
    """
    device = src_channel.device
    c_out, k = src_channel.shape
    src = src_channel.reshape(-1).long()
    valid = src >= 0
    term_out = torch.arange(c_out, device=device).repeat_interleave(k)[valid]
    term_src = src[valid]
    term_oh = -offset_h.reshape(-1)[valid].long()
    term_ow = -offset_w.reshape(-1)[valid].long()
    order = torch.argsort(term_src, stable=True)
    term_out, term_src = term_out[order], term_src[order]
    term_oh, term_ow = term_oh[order], term_ow[order]
    counts = torch.bincount(term_src, minlength=in_channels)
    k_inv = max(int(counts.max()) if counts.numel() else 0, 1)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(term_src.numel(), device=device) - starts[term_src]
    shape = (in_channels, k_inv)
    inv_src = torch.full(shape, -1, dtype=torch.int32, device=device)
    inv_oh = torch.zeros(shape, dtype=torch.int32, device=device)
    inv_ow = torch.zeros(shape, dtype=torch.int32, device=device)
    inv_src[term_src, slot] = term_out.int()
    inv_oh[term_src, slot] = term_oh.int()
    inv_ow[term_src, slot] = term_ow.int()
    return inv_src, inv_oh, inv_ow
