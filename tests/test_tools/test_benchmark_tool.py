"""tools/analysis/benchmark.py and the measurements behind it."""
import json

import pytest
import torch
from torch import nn

from mmreplk.analysis.model_benchmark import count_flops
from mmreplk.models.layers import DepthwiseConv2d
from tests.helpers.tools import load_tool

# End-to-end tool runs.
pytestmark = pytest.mark.slow

SEG_CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DET_CONFIG = 'tests/configs/cascade_mask_rcnn_replknet-tiny_coco-synthetic.py'


@pytest.fixture(scope='module', autouse=True)
def logger_outside_capsys():
    # mmengine's logger keeps the stream it was created with: create it
    # here, not inside a capsys test whose stream is closed afterwards.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()


class TinyNet(nn.Module):
    """A 'model' with the mode='tensor' signature: conv 3->8 (3x3) then a
    13x13 depthwise conv on the CPU fast path (a custom autograd op)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            DepthwiseConv2d(8, 8, 13, impl='cpu', padding=6, bias=False))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        assert mode == 'tensor'
        return self.backbone(inputs)


def test_flops_count_large_kernel_depthwise_conv():
    model = TinyNet().eval()
    x = torch.randn(1, 3, 20, 24)
    flops = count_flops(model, x, None)
    expected = 20 * 24 * (8 * 3 * 9 + 8 * 13 * 13)
    assert flops['total'] == expected
    assert flops['backbone'] == expected
    # the switch is temporary
    assert model.backbone[1].impl == 'cpu'
    # and needed: the tracer does not see into the custom CPU op
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model.backbone, (x, ))
    analyzer.unsupported_ops_warnings(False)
    assert analyzer.total() == 20 * 24 * 8 * 3 * 9


def test_benchmark_segmentor_train_and_deploy(tmp_path, capsys):
    out_train, out_deploy = tmp_path / 'train.json', tmp_path / 'deploy.json'
    common = ['--shape', '64', '96', '--repeats', '2', '--warmup', '1']
    tool = load_tool('tools/analysis/benchmark.py')
    assert tool.main([SEG_CONFIG, '--out', str(out_train)] + common) == 0
    assert '>>>' in capsys.readouterr().err  # progress bar
    assert tool.main([SEG_CONFIG, '--deploy', '--out',
                      str(out_deploy)] + common) == 0
    # An existing result is kept unless --force.
    out_train.write_text('{"keep": 1}')
    assert tool.main([SEG_CONFIG, '--out', str(out_train)] + common) == 2
    assert 'already exists' in capsys.readouterr().err
    assert json.loads(out_train.read_text()) == {'keep': 1}
    assert tool.main(
        [SEG_CONFIG, '--out', str(out_train), '--force'] + common) == 0
    train = json.loads(out_train.read_text())
    deploy = json.loads(out_deploy.read_text())

    # independent parameter count of the same config
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import mmreplk
    cfg = Config.fromfile(SEG_CONFIG)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    assert train['params']['total'] == sum(p.numel()
                                           for p in model.parameters())
    mmreplk.reparameterize_model(model)
    assert deploy['params']['total'] == sum(p.numel()
                                            for p in model.parameters())

    assert train['input_shape'] == [1, 3, 64, 96]
    assert train['task'] == 'segmentation' and deploy['deploy'] is True
    # re-parameterisation removes the small-kernel branches: fewer FLOPs
    assert 0 < deploy['flops']['total'] < train['flops']['total']
    assert 0 < train['flops']['backbone'] < train['flops']['total']
    for result in (train, deploy):
        latency = result['latency_ms']
        assert latency['min'] <= latency['median'] <= latency['max']
        assert result['throughput_img_s'] == pytest.approx(1e3 /
                                                           latency['median'])
        assert result['peak_memory_mb'] is None or \
            result['peak_memory_mb'] >= 0
        assert result['machine']['torch'] == torch.__version__


def test_benchmark_detector_counts_flops(tmp_path):
    out = tmp_path / 'det.json'
    assert load_tool('tools/analysis/benchmark.py').main([
        DET_CONFIG, '--shape', '64', '96', '--repeats', '1', '--warmup', '0',
        '--out',
        str(out)
    ]) == 0
    result = json.loads(out.read_text())
    assert result['task'] == 'detection'
    assert result['flops']['total'] > result['flops']['backbone'] > 0
    # RPN NMS off and topped up: the RoI heads always get max_per_img
    # proposals, so the cost does not depend on the (random) weights
    proposals = result['proposals']
    assert proposals['to_roi_head'] == proposals['rpn_max_per_img'] == 100
    assert all(0 < n <= 100 for n in proposals['from_rpn'])


def test_fixed_proposal_count_tops_up_and_cuts():
    from mmengine.structures import InstanceData

    from mmreplk.analysis.model_benchmark import FixedProposalCount

    class Head(nn.Module):

        def forward(self, x, proposals, samples):
            return [p.bboxes for p in proposals]

    class Detector(nn.Module):

        def __init__(self):
            super().__init__()
            self.roi_head = Head()

    def proposals(n):
        return InstanceData(
            metainfo=dict(img_shape=(40, 60)),
            bboxes=torch.tensor([[1., 2., 5., 9.]] * n),
            scores=torch.ones(n),
            labels=torch.zeros(n, dtype=torch.long))

    model = Detector()
    fixed = FixedProposalCount(model, 8)
    short, long_ = model.roi_head.forward(
        None, [proposals(3), proposals(20)], None)
    assert short.shape == long_.shape == (8, 4)
    assert torch.equal(short[:3], proposals(3).bboxes)
    extra = short[3:]
    assert (extra[:, 2] > extra[:, 0]).all() and (extra[:, 3]
                                                  > extra[:, 1]).all()
    assert extra[:, 0].min() >= 0 and extra[:, 2].max() <= 61
    assert fixed.rpn_counts == [3, 20]
    fixed.remove()
    assert len(model.roi_head.forward(None, [proposals(3)], None)[0]) == 3


def test_benchmark_errors(tmp_path, capsys):
    tool = load_tool('tools/analysis/benchmark.py')
    assert tool.main([str(tmp_path / 'missing.py')]) == 2
    assert 'not found' in capsys.readouterr().err

    bad = tmp_path / 'bad_backbone.py'
    bad.write_text(f"_base_ = ['{tool.osp.abspath(SEG_CONFIG)}']\n"
                   "model = dict(backbone=dict(type='RepLKNett'))\n")
    assert tool.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "'RepLKNett' is not registered" in err and 'RepLKNet,' in err

    assert tool.main([SEG_CONFIG, str(tmp_path / 'missing.pth')]) == 2
    assert "Checkpoint file" in capsys.readouterr().err
