"""Re-parameterisation: one protocol, exact equivalence, deploy loading."""
import copy

import pytest
import torch
import torch.nn as nn

import mmreplk
from mmreplk.models.backbones import RepLKNet
from mmreplk.models.layers import (ConvBN, ReparamLargeKernelConv, RepModule,
                                   fuse_conv_bn)
from mmreplk.models.reparam import count_rep_modules
from tests.helpers.reparam_checks import randomise_bn, relative_max_diff


@pytest.mark.parametrize('arch', ['31B', '31L', 'XL'])
def test_whole_backbone_equivalence(arch):
    torch.manual_seed(0)
    model = randomise_bn(RepLKNet(arch=arch, drop_path_rate=0.3)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        n_rep = count_rep_modules(model, deployed=False)
        assert mmreplk.reparameterize_model(model) is model
        after = model(x)
    assert n_rep == 24 and count_rep_modules(model, deployed=True) == 24
    assert model.deploy is True
    assert not any(
        hasattr(m, 'large_conv')
        for m in model.modules() if isinstance(m, ReparamLargeKernelConv))
    assert relative_max_diff(before, after) <= 1e-4


def test_deploy_model_loads_converted_state_dict():
    arch = dict(
        large_kernels=[9, 7, 5, 5],
        stage_blocks=[1, 1, 1, 1],
        channels=[8, 16, 32, 32],
        small_kernel=3)
    train_form = randomise_bn(RepLKNet(arch=arch)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = train_form(x)
    mmreplk.reparameterize_model(train_form)
    deploy_form = RepLKNet(arch=arch, deploy=True).eval()
    deploy_form.load_state_dict(train_form.state_dict(), strict=True)
    with torch.no_grad():
        got = deploy_form(x)
    assert relative_max_diff(expected, got) <= 1e-5


@pytest.mark.parametrize('large,small', [(31, 5), (13, 3), (7, None), (5, 1)])
def test_large_kernel_layer_equivalence(large, small):
    layer = randomise_bn(ReparamLargeKernelConv(6, large, small)).eval()
    x = torch.randn(2, 6, 20, 17)
    with torch.no_grad():
        before = layer(x)
        layer.switch_to_deploy()
        layer.switch_to_deploy()  # idempotent
        after = layer(x)
    assert isinstance(layer, RepModule) and layer.deploy
    assert layer.reparam_conv.weight.shape == (6, 1, large, large)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_reparam_in_train_mode_model_uses_running_stats():
    # reparameterize_model puts the model in eval mode itself: the result
    # must match the eval-mode training form even if called in train mode.
    model = randomise_bn(
        RepLKNet(
            arch=dict(
                large_kernels=[7, 5, 5, 5],
                stage_blocks=[1, 1, 1, 1],
                channels=[8, 8, 8, 8],
                small_kernel=3)))
    x = torch.randn(1, 3, 32, 32)
    ref = copy.deepcopy(model).eval()
    model.train()
    mmreplk.reparameterize_model(model)
    with torch.no_grad():
        assert relative_max_diff(ref(x), model(x)) <= 1e-5


def test_fuse_conv_bn_formula():
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = randomise_bn(nn.Sequential(nn.BatchNorm2d(6)))[0].eval()
    x = torch.randn(2, 4, 9, 9)
    w, b = fuse_conv_bn(conv.weight, bn)
    torch.testing.assert_close(
        nn.functional.conv2d(x, w, b, padding=1),
        bn(conv(x)),
        rtol=1e-5,
        atol=1e-5)


def test_reparam_refuses_non_batchnorm():
    layer = ReparamLargeKernelConv(
        8, 7, 3, norm_cfg=dict(type='GN', num_groups=2))
    with pytest.raises(TypeError, match='BatchNorm'):
        layer.switch_to_deploy()


class ForeignRepBlock(nn.Module):
    """An mmpretrain-style re-parameterisable block: a bool ``deploy`` and a
    ``switch_to_deploy`` of its own, but not an mmreplk ``RepModule``."""

    def __init__(self):
        super().__init__()
        self.deploy = False
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)

    def switch_to_deploy(self):
        raise AssertionError('reparameterize_model converted a module it '
                             'does not own')


def test_reparameterize_model_leaves_foreign_deploy_modules_alone():
    foreign = ForeignRepBlock()
    model = nn.Sequential(ConvBN(2, 2, 3), foreign)
    before = copy.deepcopy(foreign.state_dict())
    assert mmreplk.reparameterize_model(model) is model
    assert model[0].deploy is True and model[0].conv.bias is not None
    assert foreign.deploy is False
    assert all(
        torch.equal(before[k], v) for k, v in foreign.state_dict().items())


@pytest.mark.parametrize('backbone,deployable', [('RepLKNet', True),
                                                 ('OREPAResNet', True),
                                                 ('DBB', False),
                                                 ('NoSuchBackbone', False)])
def test_deploy_config_decides_by_backbone_class(backbone, deployable):
    # DBB takes a ``deploy`` argument but is a layer, not a backbone: the
    # tool decides by class, not by the constructor's signature.
    from mmengine.config import Config

    from tests.helpers.tools import load_tool
    tool = load_tool('tools/deploy/reparameterize.py')
    cfg = Config(
        dict(model=dict(backbone=dict(type=backbone)), load_from='x.pth'))
    if deployable:
        out = tool.deploy_config(cfg)
        assert out.model.backbone.deploy is True and out.load_from is None
        assert 'deploy' not in cfg.model.backbone  # input left unchanged
    else:
        with pytest.raises(tool.ToolInputError, match='no deploy form'):
            tool.deploy_config(cfg)
