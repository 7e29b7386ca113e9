"""tools/deploy/export_onnx.py: every family exports its deploy form to
standard ONNX and onnxruntime reproduces the PyTorch training-form model."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.tools import REPO, load_tool

# End-to-end tool runs.
pytestmark = pytest.mark.slow

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

# family -> (config, --cfg-options); RepLKNet's segmentor is exported from
# a deploy checkpoint (--no-reparam), the others and the RepLKNet detector
# from training checkpoints re-parameterised on the fly.
SEG_CONFIGS = {
    'replknet': ('configs/demo/upernet_replknet-tiny_ade20k-synthetic.py', {}),
    'orepa': ('tests/configs/upernet_orepa-r18_ade20k-synthetic.py', {}),
    'dbb': ('tests/configs/upernet_orepa-r18_ade20k-synthetic.py', {
        'model.backbone.block_type': 'DBB'
    }),
    'shiftwise':
    ('tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py', {}),
    # SLaK: both deploy forms (two strip convs / one K x K conv per layer).
    'slak': ('tests/configs/upernet_slak-tiny_ade20k-synthetic.py', {}),
    'slak-large_kernel':
    ('tests/configs/upernet_slak-tiny_ade20k-synthetic.py', {
        'model.backbone.deploy_form': 'large_kernel'
    }),
    'unireplknet':
    ('tests/configs/upernet_unireplknet-tiny_ade20k-synthetic.py', {}),
}
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


@pytest.fixture(scope='module')
def tool():
    # mmengine's logger keeps the stream it was created with: create it
    # here, not inside a capsys test whose stream is closed afterwards.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()
    return load_tool('tools/deploy/export_onnx.py')


def build(config, options):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def randomise_norms(model, seed=0):
    """Non-trivial BN statistics and affine parameters, so that folding
    them into the convs is actually tested."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def training_checkpoint(config, options, path):
    torch.manual_seed(0)
    model = build(config, options)
    randomise_norms(model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return model.eval()


def option_args(options):
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()] \
        if options else []


def conv_nodes(path):
    return sum(1 for n in onnx.load(path).graph.node if n.op_type == 'Conv')


def run_ort(path, x):
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


def relative_error(got, ref):
    return float(np.abs(got - ref.numpy()).max() / np.abs(ref.numpy()).max())


def deployed_conv2d_count(tool, config, options, ckpt):
    """Convolutions of the re-parameterised model that inference runs:
    nn.Conv2d modules outside the (training-only) auxiliary head, plus the
    one functional depthwise conv of each large-kernel shift-wise layer."""
    from mmreplk.models.layers import ShiftWiseConv2d
    cfg = tool.load_config(osp.join(REPO, config), options)
    model = tool.deploy_model(cfg, ckpt, False)
    aux = getattr(model, 'auxiliary_head', None)
    skip = set(aux.modules()) if aux is not None else set()
    count = sum(
        isinstance(m, (nn.Conv2d, ShiftWiseConv2d)) for m in model.modules()
        if m not in skip)
    return count, model


@pytest.mark.parametrize('family', [
    pytest.param(f, marks=pytest.mark.slow) if f.startswith('slak') else f
    for f in sorted(SEG_CONFIGS)
])  # SLaK's two deploy forms: 20-30 s each on 2 cores
def test_segmentor_exports_and_matches_training_form(family, tool, tmp_path,
                                                     capsys):
    config, options = SEG_CONFIGS[family]
    ckpt = str(tmp_path / 'train.pth')
    model = training_checkpoint(config, options, ckpt)
    expected_convs, _ = deployed_conv2d_count(tool, config, options, ckpt)
    out = str(tmp_path / f'{family}.onnx')
    if family == 'replknet':
        reparam = load_tool('tools/deploy/reparameterize.py')
        assert reparam.main(
            [config, ckpt, str(tmp_path / 'deploy.pth')] +
            option_args(options)) == 0
        config, ckpt = str(tmp_path / 'deploy.py'), str(tmp_path /
                                                        'deploy.pth')
        options = {}
    argv = [
        config, ckpt, out, '--shape', '64', '64', '--verify', '--repeats', '1'
    ] + option_args(options)
    if family == 'replknet':
        argv.append('--no-reparam')
    assert tool.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'Verify (batch 1)' in printed and ': ok' in printed
    assert 'Latency pytorch' in printed and 'Latency onnxruntime' in printed
    # Only standard operators, and the deploy form's convs rather than the
    # training branches: as many Conv nodes as nn.Conv2d modules in the
    # re-parameterised model.
    graph = onnx.load(out)
    assert all(n.domain in ('', 'ai.onnx') for n in graph.graph.node)
    assert conv_nodes(out) == expected_convs
    # Independently of the tool's --verify: onnxruntime vs the
    # training-form model in eval mode.
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x, mode='tensor')
    got, = run_ort(out, x)
    assert got.shape == (1, ref.shape[1], 16, 16)
    assert relative_error(got, ref) < 1e-4


def test_shiftwise_deploys_into_large_kernel_form(tool, tmp_path):
    """The shift form's gather is replaced by one depthwise conv whose
    kernel covers every shift; the export forces F.conv2d through
    mmreplk.ops.use_impl, leaving the layers' own impl options as they
    were."""
    from mmreplk.models.layers import ShiftWiseConv2d
    config, options = SEG_CONFIGS['shiftwise']
    ckpt = str(tmp_path / 'train.pth')
    training_checkpoint(config, options, ckpt)
    _, model = deployed_conv2d_count(tool, config, options, ckpt)
    layers = [m for m in model.modules() if isinstance(m, ShiftWiseConv2d)]
    assert layers and all(m.deploy and m.deploy_form == 'large_kernel'
                          for m in layers)
    configured = {m: m.impl for m in model.modules() if hasattr(m, 'impl')}
    assert set(configured.values()) == {'auto'}


def test_detector_features_dynamic_batch(tool, tmp_path):
    ckpt = str(tmp_path / 'train.pth')
    model = training_checkpoint(DET_CONFIG, {}, ckpt)
    out = str(tmp_path / 'det.onnx')
    assert tool.main([
        DET_CONFIG, ckpt, out, '--shape', '64', '96', '--dynamic-batch',
        '--verify', '--repeats', '1'
    ]) == 0
    x = torch.randn(3, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model.extract_feat(x)
    got = run_ort(out, x)
    assert len(got) == len(ref) == 5  # FPN levels
    for g, r in zip(got, ref):
        assert g.shape == tuple(r.shape)
        assert relative_error(g, r) < 1e-4


def test_bad_inputs_give_one_line_errors(tool, tmp_path, capsys):
    config = SEG_CONFIGS['replknet'][0]
    ckpt = str(tmp_path / 'train.pth')
    training_checkpoint(config, {}, ckpt)
    out = str(tmp_path / 'm.onnx')

    def error(argv):
        assert tool.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1, err
        return err

    assert 'not found' in error([config, str(tmp_path / 'no.pth'), out])
    err = error([config, ckpt, out, '--shape', '64', '70'])
    assert 'multiple of the backbone stride 32' in err
    assert '--shape 64 64' in err
    err = error([config, ckpt, out, '--shape', '64', '64', '--no-reparam'])
    assert 'training-form' in err and 'reparameterize.py' in err
    assert '.onnx' in error([config, ckpt, str(tmp_path / 'm.pth')])
    # Never an input, even with --force.
    ckpt_onnx = str(tmp_path / 'ckpt.onnx')
    with mmengine_checkpoint_safe_globals():
        torch.save(torch.load(ckpt, weights_only=True), ckpt_onnx)
    assert 'input' in error([config, ckpt_onnx, ckpt_onnx, '--force'])
    assert not osp.exists(out)
    # An existing OUT is kept unless --force.
    with open(out, 'w') as f:
        f.write('keep me')
    assert 'already exists' in error(
        [config, ckpt, out, '--shape', '64', '64'])
    with open(out) as f:
        assert f.read() == 'keep me'
    # With --force it is replaced; --verify fails (exit 1) above --tolerance:
    # float32 onnxruntime and PyTorch never agree to 1e-12.
    assert tool.main([
        config, ckpt, out, '--shape', '64', '64', '--force', '--verify',
        '--tolerance', '1e-12', '--repeats', '1'
    ]) == 1
    captured = capsys.readouterr()
    assert 'FAILED' in captured.out
    assert captured.err.startswith('error: onnxruntime and PyTorch differ')
    assert conv_nodes(out) > 0


def test_shift_deploy_form_is_refused_with_advice(tool):
    """A model already in the gather-based 'shift' deploy form (which
    torch.export cannot trace: data-dependent loops over the shift tables)
    is refused with the way out."""
    from mmreplk.models.layers import ShiftWiseConv2d
    layer = ShiftWiseConv2d(
        16, large_kernel=13, small_kernel=3, deploy=True, deploy_form='shift')
    with pytest.raises(
            tool.ToolInputError, match="deploy_form='large_kernel'"):
        tool.use_large_kernel_shiftwise(nn.Sequential(layer))
    trainable = ShiftWiseConv2d(16, large_kernel=13, small_kernel=3)
    tool.use_large_kernel_shiftwise(nn.Sequential(trainable))
    assert trainable.deploy_form == 'large_kernel' and not trainable.deploy
