"""RepLKNet backbone: shapes, options, bad input."""
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmreplk.analysis import relative_max_diff
from mmreplk.models.backbones import RepLKNet
from mmreplk.models.layers import ReparamLargeKernelConv

TINY = dict(
    large_kernels=[7, 7, 5, 5],
    stage_blocks=[1, 1, 2, 1],
    channels=[8, 16, 32, 64],
    small_kernel=3)


@pytest.mark.parametrize('arch,channels', [
    ('31B', [128, 256, 512, 1024]),
    ('31L', [192, 384, 768, 1536]),
    ('XL', [256, 512, 1024, 2048]),
])
def test_official_archs_forward_shapes(arch, channels):
    model = RepLKNet(arch=arch, drop_path_rate=0.0).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (1, c, 64 // s, 64 // s) for c, s in zip(channels, (4, 8, 16, 32))
    ]
    lk = [m for m in model.modules() if isinstance(m, ReparamLargeKernelConv)]
    assert len(lk) == 24
    expected_kernels = RepLKNet.arch_settings[arch]['large_kernels']
    assert sorted({m.large_kernel
                   for m in lk}) == sorted(set(expected_kernels))
    # XL has no small kernel and normalises its outputs.
    if arch == 'XL':
        assert all(m.small_kernel is None for m in lk)
        assert all(isinstance(s.norm, nn.BatchNorm2d) for s in model.stages)
        assert lk[0].channels == int(256 * 1.5)
    else:
        assert all(m.small_kernel == 5 for m in lk)
        assert all(isinstance(s.norm, nn.Identity) for s in model.stages)


def test_param_count_31b_matches_official():
    # The official RepLKNet-31B (README: "79M") with its ImageNet head
    # (final BN + 1024x1000 linear) has exactly as many parameters as the
    # official module tree written out in official_replknet_state.py.
    from tests.helpers.official_replknet_state import official_state_dict
    official = sum(v.numel() for k, v in official_state_dict('31B').items()
                   if 'running' not in k and 'num_batches' not in k)
    model = RepLKNet(arch='31B')
    n = sum(p.numel() for p in model.parameters())
    assert n + 2 * 1024 + 1024 * 1000 + 1000 == official
    assert 79e6 < official < 80e6


def test_out_indices_and_negative_indices():
    model = RepLKNet(arch=TINY, out_indices=(1, -1)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [16, 64]


def test_frozen_stages_and_norm_eval():
    model = RepLKNet(arch=TINY, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = list(model.stem.parameters()) + list(
        model.stages[0].parameters()) + list(
            model.transitions[0].parameters()) + list(
                model.stages[1].parameters())
    assert all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert all(p.requires_grad for p in model.transitions[1].parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
    model = RepLKNet(arch=TINY, frozen_stages=0)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert model.stem[0].bn.training is False
    assert model.stages[0].blocks[0].pre_norm.training is True


def test_norm_cfg_is_honoured_everywhere():
    model = RepLKNet(arch=TINY, norm_cfg=dict(type='GN', num_groups=4))
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert sum(isinstance(m, nn.GroupNorm) for m in model.modules()) > 20
    model(torch.randn(1, 3, 32, 32))


def test_act_cfg_is_honoured():
    model = RepLKNet(
        arch=TINY, act_cfg=dict(type='SiLU'), ffn_act_cfg=dict(type='ReLU'))
    assert not any(isinstance(m, nn.GELU) for m in model.modules())
    assert any(isinstance(m, nn.SiLU) for m in model.modules())


def test_with_cp_gives_same_gradients():
    torch.manual_seed(0)
    ref = RepLKNet(arch=TINY, drop_path_rate=0.0)
    cp_model = RepLKNet(arch=TINY, drop_path_rate=0.0, with_cp=True)
    cp_model.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (ref, cp_model):
        model.train()
        xi = x.clone().requires_grad_()
        sum(o.sum() for o in model(xi)).backward()
        grads.append(xi.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_drop_path_rates_increase_linearly():
    model = RepLKNet(arch=TINY, drop_path_rate=0.4)
    rates = [
        b.drop_path.drop_prob for s in model.stages for b in s.blocks[::2]
        if hasattr(b.drop_path, 'drop_prob')
    ]
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='31XL'), r"presets \['31B', '31L', 'XL'\]"),
    (dict(arch=dict(stage_blocks=[1], channels=[8])),
     r"missing keys \['large_kernels'\]"),
    (dict(arch=dict(TINY, channels=[8, 8, 8])), 'one entry per stage'),
    (dict(arch=dict(large_kernels=[5], layers=[1], channels=[8])),
     r"missing keys \['stage_blocks'\], unknown keys \['layers'\]"),
    (dict(arch=dict(TINY, large_kernels=[8, 7, 5, 3])), 'odd'),
    (dict(arch=dict(TINY, small_kernel=7)), 'must be smaller'),
    (dict(arch=dict(TINY, small_kernel=4)), 'odd'),
    (dict(arch=TINY, out_indices=(4, )), 'out of range'),
    (dict(arch=TINY, frozen_stages=5), r'\[-1, 4\]'),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RepLKNet(**kwargs)


def test_large_kernel_op_is_used_and_matches_reference(monkeypatch):
    """impl routes both forms of the large-kernel conv through
    mmreplk.ops.depthwise_conv2d; the CPU path equals the reference."""
    import mmreplk
    from mmreplk.models.layers import large_kernel as dw_module
    arch = dict(
        large_kernels=[17, 15, 13, 5],
        stage_blocks=[1, 1, 1, 1],
        channels=[8, 8, 16, 16],
        small_kernel=3)
    torch.manual_seed(0)
    ref = RepLKNet(arch=arch, impl='torch', drop_path_rate=0.0)
    fast = RepLKNet(arch=arch, impl='cpu', drop_path_rate=0.0)
    fast.load_state_dict(ref.state_dict())
    calls = []
    real = dw_module.depthwise_conv2d

    def spy(*args, **kwargs):
        calls.append(kwargs['impl'])
        return real(*args, **kwargs)

    monkeypatch.setattr(dw_module, 'depthwise_conv2d', spy)
    x = torch.randn(2, 3, 48, 48)
    outs = []
    for model in (ref, fast):
        xi = x.clone().requires_grad_()
        out = model(xi)
        sum(o.square().sum() for o in out).backward()
        outs.append(
            (out, xi.grad,
             model.stages[0].blocks[0].large_kernel.large_conv.conv.weight.grad
             ))

    for a, b in zip(outs[0][0], outs[1][0]):
        assert relative_max_diff(a, b) <= 1e-5
    # Gradients pass through train-mode BN of a small batch, which amplifies
    # fp32 rounding differences; still 1e-4 of the gradient scale.
    assert relative_max_diff(outs[0][1], outs[1][1]) <= 1e-4
    assert relative_max_diff(outs[0][2], outs[1][2]) <= 1e-4
    assert calls.count('cpu') == 8 and calls.count('torch') == 8
    fast.eval()
    mmreplk.reparameterize_model(fast)
    calls.clear()
    fast(x)
    assert calls == ['cpu'] * 4


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match='Unknown impl'):
        RepLKNet(arch=TINY, impl='cutlass')
