"""PyTorch implementations of the shift-add op.

``add_shift_reference`` slices and sums every term explicitly: slow, obviously
right, the source of truth of the tests. ``add_shift_gather`` computes the
same with one advanced-indexing gather per term column (the ``'torch'``
back end); autograd differentiates both.
"""
import torch
import torch.nn.functional as F

from .tables import invert_shift_tables


def add_shift_reference(x, src_channel, offset_h, offset_w, out_size):
    """``out[b, o, h, w] = sum_k x[b, src[o, k], h + dh, w + dw]``, zero
    outside ``x``, one explicit slice per term."""
    b, _, h_in, w_in = x.shape
    h_out, w_out = out_size
    rows = []
    for o in range(src_channel.shape[0]):
        acc = x.new_zeros(b, h_out, w_out)
        for k in range(src_channel.shape[1]):
            c = int(src_channel[o, k])
            if c < 0:
                continue
            dh, dw = int(offset_h[o, k]), int(offset_w[o, k])
            # Output rows h with 0 <= h + dh < h_in (and h < h_out).
            h0, h1 = max(0, -dh), min(h_out, h_in - dh)
            w0, w1 = max(0, -dw), min(w_out, w_in - dw)
            if h0 >= h1 or w0 >= w1:
                continue
            term = F.pad(x[:, c, h0 + dh:h1 + dh, w0 + dw:w1 + dw],
                         (w0, w_out - w1, h0, h_out - h1))
            acc = acc + term
        rows.append(acc)
    return torch.stack(rows, dim=1)


def _gather_forward(x, src_channel, offset_h, offset_w, out_size):
    b, _, h_in, w_in = x.shape
    h_out, w_out = out_size
    out = x.new_zeros(b, src_channel.shape[0], h_out, w_out)
    valid = src_channel >= 0
    if not bool(valid.any()):
        return out
    outs = torch.arange(src_channel.shape[0], device=x.device)
    outs = outs[:, None].expand_as(src_channel)[valid]
    srcs = src_channel[valid].long()
    dh, dw = offset_h[valid].long(), offset_w[valid].long()
    # Zero borders wide enough for every shifted read.
    top, left = max(0, -int(dh.min())), max(0, -int(dw.min()))
    bottom = max(0, h_out - h_in + int(dh.max()))
    right = max(0, w_out - w_in + int(dw.max()))
    padded = F.pad(x, (left, right, top, bottom))
    offsets, which = torch.unique(
        torch.stack([dh, dw], 1), dim=0, return_inverse=True)
    for i, (a, c) in enumerate(offsets.tolist()):
        sel = which == i
        view = padded[:, :, top + a:top + a + h_out, left + c:left + c + w_out]
        out.index_add_(1, outs[sel], view.index_select(1, srcs[sel]))
    return out


class _AddShiftGather(torch.autograd.Function):
    """The input gradient is the same gather with inverted tables (instead
    of autograd's per-offset scatter into full-size zero tensors)."""

    @staticmethod
    def forward(ctx, x, src_channel, offset_h, offset_w, out_size):
        ctx.save_for_backward(src_channel, offset_h, offset_w)
        ctx.in_shape = x.shape
        return _gather_forward(x, src_channel, offset_h, offset_w, out_size)

    @staticmethod
    def backward(ctx, grad_out):
        src_channel, offset_h, offset_w = ctx.saved_tensors
        _, c_in, h_in, w_in = ctx.in_shape
        inverse = invert_shift_tables(src_channel, offset_h, offset_w, c_in)
        grad = _AddShiftGather.apply(grad_out, *inverse, (h_in, w_in)) \
            if ctx.needs_input_grad[0] else None
        return grad, None, None, None, None


def add_shift_gather(x, src_channel, offset_h, offset_w, out_size):
    """Vectorised equivalent of :func:`add_shift_reference`: one shifted
    view per distinct offset, whose channels are gathered and index-added
    into their outputs (shift-wise tables have ~2 * nk + 1 distinct
    offsets, so this is a handful of large tensor ops); its backward is the
    same gather with inverted tables (twice differentiable)."""
    return _AddShiftGather.apply(x, src_channel, offset_h, offset_w,
                                 tuple(out_size))
