"""Rectangular kernels (SLaK's K x 5 and 5 x K strips, K up to 51, maps
smaller than K) on every back end of ``mmreplk.ops.depthwise_conv2d``
against ``F.conv2d``: forward, input and weight gradients; fp64 gradcheck
of the custom back ends. The Triton kernels run through the interpreter on
tiny shapes chosen (and asserted) so that every loop of both kernels runs
at least twice with the shipped tiles."""
import pytest
import torch

from mmreplk.ops import depthwise_conv2d
from tests.helpers.op_checks import check_against_reference

# (n, c, h, w, kh, kw): strips of the four SLaK stages (51, 49, 47, 13 with
# 5), on maps smaller than K (as SLaK-T's stages at 224 and below) and one
# map larger than K (the cpu back end's FFT weight gradient).
RECT_SHAPES = [
    (2, 3, 12, 9, 51, 5),
    (2, 3, 9, 12, 5, 51),
    (1, 2, 16, 7, 5, 47),
    (2, 2, 4, 3, 13, 5),
    (1, 2, 60, 18, 51, 5),
]


@pytest.mark.parametrize('impl', ['torch', 'cpu', 'fft', 'auto'])
@pytest.mark.parametrize('shape', RECT_SHAPES, ids=str)
def test_backends_match_conv2d(impl, shape):
    check_against_reference(
        lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl=impl),
        shape)


@pytest.mark.parametrize('impl', ['cpu', 'fft'])
def test_explicit_padding_and_channels_last(impl):
    # Padding other than "same" and a channels_last input, both strips.
    for shape, padding in (((1, 2, 10, 9, 15, 5), (3, 1)), ((2, 2, 9, 10, 5,
                                                             15), (0, 7))):
        y = check_against_reference(
            lambda x, w, b, p: depthwise_conv2d(x, w, b, padding=p, impl=impl),
            shape,
            padding=padding,
            channels_last=True)
        n, c, h, w, kh, kw = shape
        assert y.shape == (n, c, h + 2 * padding[0] - kh + 1,
                           w + 2 * padding[1] - kw + 1)


@pytest.mark.parametrize('impl', ['cpu', 'fft', 'triton'])
@pytest.mark.parametrize('kernel', [(9, 3), (3, 9)], ids=str)
def test_gradcheck_fp64(impl, kernel):
    """fp64 gradcheck of the custom op's autograd with a strip longer than
    the 4x5 map (Triton: interpreter, gradcheck's fast mode)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(
        1, 1, 4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(
        1, 1, *kernel, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(1, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: depthwise_conv2d(*a, impl=impl), (x, w, b),
        fast_mode=impl == 'triton')


# ------------------------------------------------------ Triton (interpreter)
def triton_impl():
    from mmreplk.ops.depthwise_conv import triton_impl as tdc
    return tdc


class LaunchRecorder:
    """Records the launch grids of a ``@triton.jit`` kernel."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.grids = []

    def __getitem__(self, grid):
        self.grids.append(tuple(grid))
        return self.kernel[grid]


@pytest.fixture
def triton_launches(monkeypatch):
    tdc = triton_impl()
    # A nominal one-multiprocessor device: the weight gradient's batch split
    # is then 1, so its batch loop runs over both images.
    monkeypatch.setattr(tdc, 'INTERPRETER_MULTIPROCESSORS', 1)
    recorders = {}
    for name in ('dwconv_fwd_kernel', 'dwconv_bwd_weight_kernel'):
        recorders[name] = LaunchRecorder(getattr(tdc, name))
        monkeypatch.setattr(tdc, name, recorders[name])
    return recorders


def cdiv(a, b):
    return -(-a // b)


@pytest.mark.parametrize(
    'shape', [(2, 1, 17, 9, 5, 17), (2, 1, 17, 9, 17, 5), (2, 1, 4, 3, 51, 5)],
    ids=str)
def test_triton_strips_run_every_loop_twice(shape, triton_launches):
    """Through the public op (the custom op's forward and backward) with the
    shipped tiles. Loops and the shapes that make each run at least twice:
    kernel rows (``kh``: every strip), kernel column blocks (``kw0``: the
    5 x 17 strip, 17 > BLOCK_KW), the weight gradient's batch loop (2 images,
    split 1) and its output-tile loop (17 rows: two tiles of the 'narrow'
    tile picked for maps up to 16 wide); the forward and the input gradient
    also launch two programs per plane. The 51 x 5 strip on a 4 x 3 map
    checks K = 51 (taps far outside the map)."""
    n, c, h, w, kh, kw = shape
    tdc = triton_impl()
    fwd = tdc.pick_config(tdc.FWD_CONFIGS, w)
    bwd = tdc.pick_config(tdc.BWD_WEIGHT_CONFIGS, w)
    check_against_reference(
        lambda x, wt, b, p: depthwise_conv2d(
            x, wt, b, padding=p, impl='triton'),
        shape,
        tol=1e-5)
    tiles = cdiv(h, fwd['BLOCK_H']) * cdiv(w, fwd['BLOCK_W'])
    # Forward and input gradient: one program per (image, channel, tile).
    assert triton_launches['dwconv_fwd_kernel'].grids == [(n * c * tiles, )
                                                          ] * 2
    (grid, ) = triton_launches['dwconv_bwd_weight_kernel'].grids
    assert grid == (c * kh, 1)  # split 1: the batch loop runs n times
    assert kh >= 2 and n >= 2
    if kh != 51:
        assert cdiv(h, bwd['BLOCK_H']) * cdiv(w, bwd['BLOCK_W']) >= 2
        assert tiles >= 2
    if kw > kh:
        assert cdiv(kw, fwd['BLOCK_KW']) >= 2
        assert cdiv(kw, bwd['BLOCK_KW']) >= 2
