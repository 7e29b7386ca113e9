"""Triton kernel of the shift-add op: one gather-shift-sum kernel that runs
the forward (tables as given) and the input gradient (inverted tables, see
:func:`.tables.invert_shift_tables`)."""
import torch
import triton
import triton.language as tl

# Output pixels per program and warps; 1-D tiles of the flattened H x W plane
# keep every load coalesced along W.
BLOCK = 256
NUM_WARPS = 4


@triton.jit
def add_shift_kernel(x_ptr, src_ptr, dh_ptr, dw_ptr, out_ptr, C_in, H_in, W_in,
                     C_out, H_out, W_out, K, BLOCK: tl.constexpr):
    """out[b, o, p] = sum_k x[b, src[o, k], h(p) + dh[o, k], w(p) + dw[o, k]]
    over a tile of BLOCK output pixels p of one (b, o) plane."""
    plane = tl.program_id(0)  # b * C_out + o
    tile = tl.program_id(1)
    b = plane // C_out
    o = plane % C_out
    offs = tile * BLOCK + tl.arange(0, BLOCK)
    inside = offs < H_out * W_out
    h = offs // W_out
    w = offs % W_out
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(K):
        entry = o * K + k
        # Broadcast the table entry over the tile (a scalar & vector mask is
        # not accepted by every Triton back end).
        c = tl.load(src_ptr + entry + tl.zeros([BLOCK], dtype=tl.int32))
        hi = h + tl.load(dh_ptr + entry)
        wi = w + tl.load(dw_ptr + entry)
        mask = inside & (c >= 0) & (hi >= 0) & (hi < H_in) & (wi >= 0) & \
            (wi < W_in)
        base = (tl.cast(b, tl.int64) * C_in + c) * H_in * W_in
        vals = tl.load(x_ptr + base + hi * W_in + wi, mask=mask, other=0.0)
        acc += vals.to(tl.float32)
    out_base = tl.cast(plane, tl.int64) * H_out * W_out
    tl.store(
        out_ptr + out_base + offs,
        acc.to(out_ptr.dtype.element_ty),
        mask=inside)


def add_shift_forward(x, src_channel, offset_h, offset_w, out_size):
    """Launch :func:`add_shift_kernel`; tables int32, on ``x``'s device."""
    x = x.contiguous()
    b, c_in, h_in, w_in = x.shape
    c_out, k = src_channel.shape
    h_out, w_out = out_size
    out = x.new_empty(b, c_out, h_out, w_out)
    if out.numel() == 0:
        return out
    tables = [
        t.to(torch.int32).contiguous()
        for t in (src_channel, offset_h, offset_w)
    ]
    grid = (b * c_out, triton.cdiv(h_out * w_out, BLOCK))
    with torch.cuda.device(x.device) if x.is_cuda else _null():
        add_shift_kernel[grid](
            x,
            *tables,
            out,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            k,
            BLOCK=BLOCK,
            num_warps=NUM_WARPS)
    return out


class _null:

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
