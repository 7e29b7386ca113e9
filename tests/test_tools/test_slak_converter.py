"""tools/model_converters/slak_official.py: official SLaK checkpoints in
each layout (ImageNet training dict / ``model`` / bare, with and without
branch BNs, both strip names; fine-tuned UperNet and Cascade Mask R-CNN)
convert strictly and the converted models compute a re-statement of the
official forward; arch inference, sparsity and errors."""
import pytest
import torch

from mmreplk.models.backbones import SLaK
from mmreplk.ops import use_impl
from mmreplk.utils import (build_model_from_config, check_against_model,
                           load_config, load_model_checkpoint)
from tests.helpers.official_checkpoint_layouts import save_model_layout
from tests.helpers.official_slak_state import (TINY_ARCH, official_forward,
                                               official_shapes,
                                               official_state_dict)
from tests.helpers.tools import load_tool

CONVERTER = 'tools/model_converters/slak_official.py'
SEG_CONFIG = 'tests/configs/upernet_slak-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_slak-tiny_coco-synthetic.py'
TINY = dict(
    stage_blocks=[1, 1, 2, 1],
    channels=[10, 20, 31, 41],
    large_kernels=[51, 49, 47, 13],
    small_kernel=5)


@pytest.fixture(scope='module')
def tool():
    return load_tool(CONVERTER)


def with_identity_output_norms(state, arch):
    """The official downstream backbone starts its norm0..3 as identities
    (the ImageNet checkpoint has none)."""
    state = dict(state)
    for i, c in enumerate(arch['channels']):
        state[f'norm{i}.weight'] = torch.ones(c)
        state[f'norm{i}.bias'] = torch.zeros(c)
    return state


LAYOUTS = {
    # main.py's save_model dict (model, optimizer, epoch, scaler, args)
    'save_model': dict(bn=True, names=('LoRA1', 'LoRA2')),
    # {'model': ...} with the strips' names of July 2022
    'model-decom-names': dict(bn=True, names=('Decom1', 'Decom2')),
    # a bare state dict of a model trained with --bn False
    'bare-no-bn': dict(bn=False, names=('LoRA1', 'LoRA2')),
}


@pytest.mark.parametrize('layout', sorted(LAYOUTS))
def test_imagenet_layouts_convert_to_the_official_function(
        layout, tool, tmp_path):
    spec = LAYOUTS[layout]
    src = official_state_dict(
        TINY_ARCH, bn=spec['bn'], branch_names=spec['names'], seed=1)
    wrapped = {
        'save_model': save_model_layout,
        'model-decom-names': lambda s: dict(model=s),
        'bare-no-bn': lambda s: s
    }[layout](
        src)
    torch.save(wrapped, tmp_path / 'official.pth')
    out = tmp_path / 'slak.pth'
    assert tool.main([str(tmp_path / 'official.pth'), str(out)]) == 0
    converted = torch.load(out, weights_only=True)
    meta, state = converted['meta'], converted['state_dict']
    assert meta['arch'] == TINY  # not a preset: the arch read from shapes
    assert meta['dropped'] == [
        'head.bias', 'head.weight', 'norm.bias', 'norm.weight'
    ]
    norms = [f'norm{i}.{p}' for i in range(4) for p in ('bias', 'weight')]
    bn_keys = [k for k in state if '.bn.' in k]
    assert meta['initialised'] == sorted(norms +
                                         ([] if spec['bn'] else bn_keys))
    assert meta['branch_norms'] == ('checkpoint'
                                    if spec['bn'] else 'initialised')
    # The sparse pattern (exact zeros) is copied as it is.
    assert 0.55 < meta['weight_density'] < 0.65
    vertical = f'stages.2.1.large_kernel.{spec["names"][0]}.conv.weight'
    got = state['stages.2.1.large_kernel.vertical_strip.conv.weight']
    assert torch.equal(got, src[vertical]) and (got == 0).any()
    model = SLaK(meta['arch'], layer_scale_init_value=1.0, impl='torch').eval()
    model.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = official_forward(
            with_identity_output_norms(src, TINY), x, TINY_ARCH)
        outs = model(x)
    for a, b in zip(expected, outs):
        # Without branch BNs in the checkpoint, the fresh BNs divide by
        # sqrt(1 + eps), as in the official downstream model.
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('arch', ['T', 'S', 'B'])
def test_arch_inference_on_full_size_layouts(arch, tool):
    """Full-size key layouts (meta tensors: shapes only) infer their preset
    and convert strictly; another kernel size (the 120-epoch 31x31 SLaK-T)
    infers its own arch dict."""
    converter = tool.SLaKConverter()
    shapes = official_shapes(arch)
    assert len(shapes) == {'T': 470, 'S': 920, 'B': 920}[arch]
    state = {k: torch.empty(s, device='meta') for k, s in shapes.items()}
    converted, dropped = converter.rename(state, None)
    assert converter.infer_arch(converted, None) == arch
    with torch.device('meta'):  # shapes only, built in no time
        backbone = SLaK(arch, layer_scale_init_value=1.0)
    converter.reconcile(converted, dropped, backbone)
    check_against_model(converted, backbone)
    assert len(converted) == {'T': 474, 'S': 924, 'B': 924}[arch]
    if arch == 'T':
        other = dict(
            depths=[3, 3, 9, 3],
            dims=[96, 192, 384, 768],
            kernel_size=[31, 29, 27, 13, 5])
        state = {
            k: torch.empty(s, device='meta')
            for k, s in official_shapes(other).items()
        }
        converted, _ = converter.rename(state, None)
        assert converter.infer_arch(converted, None) == dict(
            SLaK.parse_arch('T'), large_kernels=[31, 29, 27, 13])


@pytest.mark.slow
@pytest.mark.parametrize(
    'config', [SEG_CONFIG, DET_CONFIG], ids=['upernet', 'cascade'])
def test_finetuned_checkpoints_convert_for_their_config(
        config, tool, tmp_path):
    """An official fine-tuned UperNet (mmseg 0.x) / Cascade Mask R-CNN
    (mmdet 2.x) checkpoint, as mmcv saves it: needs --config, converts
    strictly for the config's whole model, loads with tools/test.py's
    strict loader, and its backbone computes the official forward."""
    from tests.helpers.official_slak_state import official_finetuned_state_dict
    model = build_model_from_config(load_config(config))
    gen = torch.Generator().manual_seed(0)
    heads = {  # random values under the head names of the 0.x / 2.x model
        k:
        torch.randn(v.shape, generator=gen).to(v.dtype)
        if v.is_floating_point() else v
        for k, v in model.state_dict().items() if not k.startswith('backbone.')
    }
    src = official_finetuned_state_dict(TINY_ARCH, heads, seed=3)
    torch.save(
        dict(meta=dict(CLASSES=('a', 'b')), state_dict=src),
        tmp_path / 'official.pth')
    out = tmp_path / 'out.pth'
    argv = [str(tmp_path / 'official.pth'), str(out)]
    assert tool.main(argv) == 2 and not out.exists()  # needs --config
    assert tool.main(argv + ['--config', config]) == 0
    load_model_checkpoint(model, str(out))
    model.eval()
    for key in list(heads)[:5]:
        assert torch.equal(model.state_dict()[key], src[key]), key
    backbone = {
        k[len('backbone.'):]: v
        for k, v in src.items() if k.startswith('backbone.')
    }
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad(), use_impl('torch'):
        expected = official_forward(backbone, x, TINY_ARCH)
        outs = model.backbone(x)
    for a, b in zip(expected, outs):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)


def test_bad_checkpoints_are_refused_with_the_reason(tool, tmp_path, capsys):
    src = official_state_dict(TINY_ARCH)
    out = tmp_path / 'out.pth'
    # The non-decomposed model (one K x K kernel) cannot be converted.
    origin = {
        k.replace('large_kernel.LoRA1.', 'large_kernel.lkb_origin.'): v
        for k, v in src.items() if 'LoRA2' not in k
    }
    torch.save(origin, tmp_path / 'origin.pth')
    assert tool.main([str(tmp_path / 'origin.pth'), str(out)]) == 2
    err = capsys.readouterr().err
    assert 'lkb_origin' in err and 'non-decomposed' in err
    # A missing and an unexpected key are both named.
    broken = dict(src)
    del broken['stages.0.0.pwconv1.weight']
    broken['stages.0.0.extra.weight'] = torch.zeros(1)
    torch.save(broken, tmp_path / 'broken.pth')
    assert tool.main([str(tmp_path / 'broken.pth'), str(out)]) == 2
    err = capsys.readouterr().err
    assert 'missing keys (1): stages.0.0.pwconv1.weight' in err
    assert 'unexpected keys (1): stages.0.0.extra.weight' in err
    # --arch overrides the inference, and a wrong one is reported.
    torch.save(src, tmp_path / 'tiny.pth')
    assert tool.main([str(tmp_path / 'tiny.pth'),
                      str(out), '--arch', 'T']) == 2
    assert 'shape mismatches' in capsys.readouterr().err
    # No SLaK keys at all.
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    assert tool.main([str(tmp_path / 'other.pth'), str(out)]) == 2
    assert 'not a decomposed SLaK checkpoint' in capsys.readouterr().err
    assert not out.exists()
