"""Shift-wise convolution: a large depthwise kernel emulated by small ones.

Li et al., "ShiftwiseConv: Small Convolutional Kernel with Large Kernel
Effect", CVPR 2025 (official code: lidc54/shift-wiseConv).

Of the ``C`` input channels, ``rep`` channels (``1 - ghost_ratio`` of them)
go through ``n_path`` summed depthwise ``small x small`` convolutions that
produce ``nk = ceil(large / small)`` channels per input channel; ``ghost``
channels bypass the layer unchanged. The shift-add op
(:func:`mmreplk.ops.add_shift`) moves each of the ``nk`` pieces to its place
along a horizontal and a vertical strip of the ``large x large`` field,
``n_rep`` times with different shuffles, plus an identity pick; the three
aggregates are batch-normalised, summed with the input and concatenated with
the ghost channels (rep channels first, as in the official layer).

Deploy forms (both exact in eval mode):

* ``'shift'``: the paths and the sparse mask are merged into one small
  depthwise conv, the shift-add builds the three aggregates as in training,
  and the three BNs become one per-channel scale each plus one bias (not
  folded into the kernels, which would need three scaled copies of every
  conv output: three times the conv and its memory traffic; see
  docs/shiftwise.md).
* ``'large_kernel'``: the whole rep-channel map as one ``M x M`` depthwise
  kernel (identity and biases included), run by
  :func:`mmreplk.ops.depthwise_conv2d`.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmreplk.ops import add_shift, check_impl, depthwise_conv2d
from .reparam_base import RepModule, build_foldable_norm, fold_batch_norm

DEPLOY_FORMS = ('shift', 'large_kernel')
# The official code draws its ghost channels and shuffles from fixed seeds;
# reproducing them keeps official checkpoints meaningful.
OFFICIAL_SEED = 123


def check_deploy_form(deploy_form):
    if deploy_form not in DEPLOY_FORMS:
        raise ValueError(f'Unknown deploy_form {deploy_form!r}; choose one '
                         f'of {DEPLOY_FORMS}.')


def check_shiftwise_kernels(large_kernel, small_kernel):
    for name, k in (('large_kernel', large_kernel), ('small_kernel',
                                                     small_kernel)):
        if not isinstance(k, int) or k < 3 or k % 2 == 0:
            raise ValueError(f'ShiftWiseConv2d: {name} must be an odd int >= '
                             f'3, got {k!r}; e.g. {max(3, int(k) | 1)}.')
    if small_kernel >= large_kernel:
        raise ValueError(
            f'ShiftWiseConv2d: small_kernel ({small_kernel}) '
            f'must be smaller than large_kernel ({large_kernel}).')


def split_ghost_channels(channels, ghost_ratio):
    """``(rep, ghost)`` channel indices as the official layer picks them: an
    even number of rep channels, ghosts drawn with numpy seed 123."""
    if not 0 <= ghost_ratio < 1:
        raise ValueError(f'ghost_ratio must be in [0, 1), got {ghost_ratio}.')
    num_rep = int(channels * (1 - ghost_ratio)) // 2 * 2
    if num_rep < 2:
        raise ValueError(f'ShiftWiseConv2d with {channels} channels and '
                         f'ghost_ratio={ghost_ratio} leaves {num_rep} '
                         'shift-wise channels; use >= 2 (more channels or a '
                         'smaller ghost_ratio).')
    rng = np.random.RandomState(OFFICIAL_SEED)
    ghost = sorted(
        rng.choice(channels, channels - num_rep, replace=False).tolist())
    rep = sorted(set(range(channels)) - set(ghost))
    return rep, ghost


def official_shift_layout(large_kernel, small_kernel, num_rep, n_rep):
    """The official shift layout of the ``num_rep * nk`` conv outputs.

    Returns:
        tuple: ``extra_pad`` (int), ``pad_h`` and ``pad_v`` (``(num_rep * nk,
        n_rep)``: column shift of the horizontal strip and row shift of the
        vertical strip for each conv output and repetition), ``identity``
        (``(num_rep, n_rep)``: the conv output each repetition adds
        unshifted).
    """
    nk = math.ceil(large_kernel / small_kernel)
    padding = small_kernel - 1
    extra_pad = padding - small_kernel // 2
    mid = large_kernel // 2
    strip = torch.tensor([mid - i * small_kernel - padding for i in range(nk)])
    gen = torch.Generator().manual_seed(OFFICIAL_SEED)

    def shuffled_offsets():
        # Piece order shuffled within every output channel's block of nk.
        shuffle = torch.cat([
            torch.randperm(nk, generator=gen) + c * nk for c in range(num_rep)
        ])
        return strip.repeat(num_rep)[torch.argsort(shuffle)]

    pad_h = torch.stack([shuffled_offsets() for _ in range(n_rep)], 1)
    pad_v = torch.stack([shuffled_offsets() for _ in range(n_rep)], 1)
    identity = torch.stack([
        torch.randint(0, nk,
                      (num_rep, ), generator=gen) + torch.arange(num_rep) * nk
        for _ in range(n_rep)
    ], 1)
    return extra_pad, pad_h, pad_v, identity


def gather_tables(extra_pad, pad_h, pad_v, identity, nk):
    """Shift-add tables ``(3 * num_rep, n_rep * nk)`` for the horizontal,
    vertical and identity aggregates (rows in that order)."""
    num_rep, n_rep = identity.shape
    pieces = torch.arange(num_rep * nk).reshape(num_rep, nk)
    # Term (r, j) of row c: repetition r, piece j.
    src = pieces[:, None, :].expand(num_rep, n_rep, nk).reshape(num_rep, -1)
    pad_h = pad_h.reshape(num_rep, nk,
                          n_rep).transpose(1, 2).reshape(num_rep, -1)
    pad_v = pad_v.reshape(num_rep, nk,
                          n_rep).transpose(1, 2).reshape(num_rep, -1)
    full = torch.full_like(src, extra_pad)
    id_src = torch.full_like(src, -1)
    id_src[:, :n_rep] = identity
    srcs = torch.cat([src, src, id_src])
    offset_h = torch.cat([full, -pad_v, full])
    offset_w = torch.cat([-pad_h, full, full])
    return srcs.int(), offset_h.int(), offset_w.int()


class ShiftWiseConv2d(RepModule):
    """Shift-wise convolution (official ``ShifthWiseConv2dImplicit``).

    Args:
        channels (int): Input and output channels.
        large_kernel (int): Emulated kernel size (odd), e.g. 51.
        small_kernel (int): Real kernel size (odd), e.g. 3 or 5.
        n_path (int): Parallel small convs summed in training (merged at
            deploy). Defaults to 2.
        n_rep (int): Shuffled repetitions of the shift pattern. Defaults to 4.
        ghost_ratio (float): Share of channels that bypass the layer.
            Defaults to 0.23.
        norm_cfg (dict): BatchNorm-family norm of the three aggregates.
        impl (str): Back end of the shift-add op ('auto', 'triton', 'torch')
            and, for the large-kernel deploy form, of the depthwise op.
        deploy (bool): Build the deploy form directly.
        deploy_form (str): 'shift' or 'large_kernel', see the module doc.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels,
                 large_kernel=51,
                 small_kernel=3,
                 n_path=2,
                 n_rep=4,
                 ghost_ratio=0.23,
                 norm_cfg=dict(type='BN'),
                 impl='auto',
                 deploy=False,
                 deploy_form='shift',
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        check_shiftwise_kernels(large_kernel, small_kernel)
        check_deploy_form(deploy_form)
        check_impl(
            impl, type(self).__name__, ops=('add_shift', 'depthwise_conv2d'))
        if n_path < 1 or n_rep < 1:
            raise ValueError(f'n_path and n_rep must be >= 1, got {n_path} '
                             f'and {n_rep}.')
        self.channels, self.large_kernel = channels, large_kernel
        self.small_kernel, self.n_path, self.n_rep = small_kernel, n_path, \
            n_rep
        self.impl, self.deploy_form = impl, deploy_form
        self.nk = math.ceil(large_kernel / small_kernel)
        rep, ghost = split_ghost_channels(channels, ghost_ratio)
        self.num_rep = len(rep)
        # Derived from fixed seeds: not stored in checkpoints (as official).
        self.register_buffer(
            'rep_index', torch.tensor(rep, dtype=torch.long), persistent=False)
        self.register_buffer(
            'ghost_index',
            torch.tensor(ghost, dtype=torch.long),
            persistent=False)
        self.extra_pad, pad_h, pad_v, identity = official_shift_layout(
            large_kernel, small_kernel, self.num_rep, n_rep)
        tables = gather_tables(self.extra_pad, pad_h, pad_v, identity, self.nk)
        for name, table in zip(('shift_src', 'shift_dh', 'shift_dw'), tables):
            self.register_buffer(name, table, persistent=False)
        if deploy:
            self._init_deploy_form()
            return
        self.LoRAs = nn.ModuleList(
            self._small_conv(self.num_rep * self.nk) for _ in range(n_path))
        # Coarse-grained sparsity: one 0/1 entry per small kernel (conv
        # output channel), shared by all paths; updated by SparseGroupHook,
        # saved in checkpoints. All ones = dense.
        self.register_buffer('sparse_mask',
                             torch.ones(self.num_rep * self.nk, 1, 1, 1))
        self.bn_lora1 = build_foldable_norm('ShiftWiseConv2d', norm_cfg,
                                            self.num_rep)
        self.bn_lora2 = build_foldable_norm('ShiftWiseConv2d', norm_cfg,
                                            self.num_rep)
        self.bn_small = build_foldable_norm('ShiftWiseConv2d', norm_cfg,
                                            self.num_rep)

    def _small_conv(self, out_channels):
        return nn.Conv2d(
            self.num_rep,
            out_channels,
            self.small_kernel,
            padding=self.small_kernel - 1,
            groups=self.num_rep,
            bias=False)

    @property
    def equivalent_kernel_size(self):
        """Side of the one depthwise kernel equal to the layer (the
        ``'large_kernel'`` deploy form): it covers every shift, so it is a
        little larger than ``large_kernel``."""
        reach = int(max(self.shift_dh.abs().max(), self.shift_dw.abs().max()))
        return 2 * (reach + self.small_kernel - 1) + 1

    def _init_deploy_form(self):
        if self.deploy_form == 'shift':
            self.reparam_conv = self._small_conv(self.num_rep * self.nk)
            # BN scales of the horizontal, vertical and identity aggregates
            self.reparam_scale = nn.Parameter(torch.ones(3, self.num_rep))
            self.reparam_bias = nn.Parameter(torch.zeros(self.num_rep))
        else:
            size = self.equivalent_kernel_size
            self.reparam_kernel = nn.Parameter(
                torch.zeros(self.num_rep, 1, size, size))
            self.reparam_bias = nn.Parameter(torch.zeros(self.num_rep))

    def forward(self, x):
        if x.shape[1] != self.channels:
            raise ValueError(f'ShiftWiseConv2d expects {self.channels} '
                             f'input channels, got {x.shape[1]}.')
        rep = x.index_select(1, self.rep_index)
        ghost = x.index_select(1, self.ghost_index)
        size = tuple(x.shape[2:])
        if not self.deploy:
            # The paths are linear and summed: one conv with the summed,
            # masked kernel computes the same (and the same gradients) at
            # 1 / n_path of the cost.
            weight = sum(conv.weight for conv in self.LoRAs) * \
                self.sparse_mask
            conv = F.conv2d(rep, weight, None, 1, self.small_kernel - 1, 1,
                            self.num_rep)
            strips = add_shift(
                conv,
                self.shift_src,
                self.shift_dh,
                self.shift_dw,
                size,
                impl=self.impl)
            horizontal, vertical, identity = strips.chunk(3, dim=1)
            out = self.bn_lora1(horizontal) + self.bn_lora2(vertical) + \
                self.bn_small(identity) + rep
        elif self.deploy_form == 'shift':
            strips = add_shift(
                self.reparam_conv(rep),
                self.shift_src,
                self.shift_dh,
                self.shift_dw,
                size,
                impl=self.impl)
            horizontal, vertical, identity = strips.chunk(3, dim=1)
            scale = self.reparam_scale.view(3, 1, -1, 1, 1)
            out = horizontal * scale[0] + vertical * scale[1] + \
                identity * scale[2] + self.reparam_bias.view(1, -1, 1, 1) + \
                rep
        else:
            out = depthwise_conv2d(
                rep, self.reparam_kernel, self.reparam_bias, impl=self.impl)
        return torch.cat([out, ghost], dim=1)

    def fused_kernel_bias(self):
        """Tensors of the ``deploy_form`` inference form, equal to the
        eval-mode training form: ``'shift'``: the merged small kernel
        ``(num_rep * nk, 1, k, k)``, the summed BN bias ``(num_rep, )`` and
        the three BN scales ``(3, num_rep)``; ``'large_kernel'``: the
        ``(num_rep, 1, M, M)`` depthwise kernel (``M`` =
        :attr:`equivalent_kernel_size`, identity included) and the bias."""
        weight = sum(conv.weight for conv in self.LoRAs) * self.sparse_mask
        scales, shifts = zip(*(fold_batch_norm(bn)
                               for bn in (self.bn_lora1, self.bn_lora2,
                                          self.bn_small)))
        scale, bias = torch.stack(scales), sum(shifts)
        if self.deploy_form == 'shift':
            return weight, bias, scale
        return self._large_kernel(weight, scale), bias

    def _large_kernel(self, weight, scale):
        """Place every BN-scaled small kernel at its shift in one large
        kernel per rep channel."""
        k, size = self.small_kernel, self.equivalent_kernel_size
        centre = size // 2
        src = self.shift_src.long()
        # Row r of the tables: aggregate r // num_rep of channel r % num_rep.
        rows = torch.arange(src.shape[0], device=weight.device)
        rows = rows[:, None].expand_as(src)
        valid = src >= 0
        rows, src = rows[valid], src[valid]
        dh, dw = self.shift_dh[valid].long(), self.shift_dw[valid].long()
        taps = weight[src, 0] * scale.reshape(-1)[rows, None, None]
        i = torch.arange(k, device=weight.device)
        # Conv output row h + dh reads input rows h + dh + i - (k - 1).
        pos_h = (centre + dh - (k - 1))[:, None, None] + i[None, :, None]
        pos_w = (centre + dw - (k - 1))[:, None, None] + i[None, None, :]
        channel = (rows % self.num_rep)[:, None, None]
        large = weight.new_zeros(self.num_rep, size, size)
        large.index_put_((channel.expand(-1, k, k), pos_h.expand(
            -1, k, k), pos_w.expand(-1, k, k)),
                         taps,
                         accumulate=True)
        large[:, centre, centre] += 1  # the identity (+ rep) term
        return large.unsqueeze(1)

    def training_attrs(self):
        return ('LoRAs', 'bn_lora1', 'bn_lora2', 'bn_small', 'sparse_mask')

    def _install_deploy_form(self, fused):
        self._init_deploy_form()
        ref = fused[0]
        self.to(device=ref.device, dtype=ref.dtype)
        if self.deploy_form == 'shift':
            targets = (self.reparam_conv.weight, self.reparam_bias,
                       self.reparam_scale)
        else:
            targets = (self.reparam_kernel, self.reparam_bias)
        with torch.no_grad():
            for target, value in zip(targets, fused):
                target.copy_(value)

    def switch_to_deploy(self, deploy_form=None):
        """Fold paths and BNs into the ``deploy_form`` inference form
        (default: the one given at construction); see
        :meth:`RepModule.switch_to_deploy`."""
        if self.deploy:
            return
        if deploy_form is not None:
            check_deploy_form(deploy_form)
            self.deploy_form = deploy_form
        super().switch_to_deploy()
