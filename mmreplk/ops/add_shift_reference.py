"""PyTorch implementations of the shift-add op.

``add_shift_reference`` slices and sums every term explicitly: slow, obviously
right, the source of truth of the tests. ``add_shift_gather`` computes the
same with one advanced-indexing gather per term column (the ``'torch'``
back end); autograd differentiates both.
"""
import torch
import torch.nn.functional as F


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


def add_shift_gather(x, src_channel, offset_h, offset_w, out_size):
    """Vectorised equivalent of :func:`add_shift_reference`."""
    b, _, h_in, w_in = x.shape
    h_out, w_out = out_size
    src = src_channel.long()
    dh, dw = offset_h.long(), offset_w.long()
    # Zero borders wide enough for every shifted read.
    top = max(0, -int(dh.min())) if dh.numel() else 0
    left = max(0, -int(dw.min())) if dw.numel() else 0
    bottom = max(0, h_out - h_in + int(dh.max())) if dh.numel() else 0
    right = max(0, w_out - w_in + int(dw.max())) if dw.numel() else 0
    padded = F.pad(x, (left, right, top, bottom))
    rows = torch.arange(h_out, device=x.device)
    cols = torch.arange(w_out, device=x.device)
    out = x.new_zeros(b, src.shape[0], h_out, w_out)
    for k in range(src.shape[1]):
        valid = (src[:, k] >= 0).to(x.dtype)[None, :, None, None]
        term = padded[:, src[:, k].clamp(min=0)[:, None, None],
                      (rows[None, :, None] + dh[:, k, None, None] + top),
                      (cols[None, None, :] + dw[:, k, None, None] + left)]
        out = out + term * valid
    return out
