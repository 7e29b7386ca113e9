"""Parameters, FLOPs, latency and peak memory of a whole segmentor or
detector, as ``tools/analysis/benchmark.py`` reports them: the network runs
as ``model(inputs, data_samples, mode='tensor')`` (no post-processing) and
two-stage detectors get a fixed number of proposals (docs/tools.md)."""
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.structures import InstanceData
from torch import nn

from mmreplk.analysis.benchmarking import peak_memory as measure_peak_memory
from mmreplk.analysis.benchmarking import time_interleaved
from mmreplk.ops import use_impl


def dummy_inputs(task, shape, batch_size=1, device='cpu'):
    """A random normalised batch and the data samples a ``mode='tensor'``
    forward needs (image meta of an unscaled ``shape`` image)."""
    height, width = shape
    meta = dict(
        img_shape=(height, width),
        ori_shape=(height, width),
        pad_shape=(height, width),
        batch_input_shape=(height, width),
        scale_factor=(1.0, 1.0))
    if task == 'segmentation':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.structures import DetDataSample as Sample
    samples = [Sample(metainfo=meta) for _ in range(batch_size)]
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, height, width, generator=generator)
    return inputs.to(device), samples


def fix_proposal_count(cfg):
    """Switch off the RPN's NMS of a detector config in place, so that it
    keeps ``max_per_img`` proposals (about what a trained RPN keeps), and
    return that count (None: no RPN). With untrained weights the count that
    survives NMS is arbitrary, and so would be the cost."""
    rpn = cfg.model.get('test_cfg', {}).get('rpn', None)
    if not rpn or 'nms' not in rpn:
        return None
    rpn.nms.iou_threshold = 1.0  # IoU never exceeds 1: nothing suppressed
    return rpn.get('max_per_img', None)


class FixedProposalCount:
    """Feed exactly ``count`` proposals per image to ``model.roi_head``:
    the RPN's are cut or topped up with random boxes inside the image (an
    untrained RPN drops zero-size boxes even without NMS). The counts the
    RPN produced are kept in :attr:`rpn_counts`. mmdet calls
    ``roi_head.forward`` directly (hooks never fire), so the instance's
    ``forward`` is wrapped until :meth:`remove`."""

    def __init__(self, model, count):
        self.rpn_counts = []
        self.head = getattr(model, 'roi_head', None)
        if self.head is None or count is None:
            self.head = None
            return
        original = self.head.forward

        def forward(x, proposals, *args, **kwargs):
            proposals = [self._fix(p, count) for p in proposals]
            return original(x, proposals, *args, **kwargs)

        self.head.forward = forward

    def _fix(self, proposals, count):
        have = len(proposals)
        self.rpn_counts.append(have)
        if have >= count:
            return proposals[:count]
        bboxes = proposals.bboxes
        height, width = proposals.metainfo.get('img_shape', (64, 64))
        generator = torch.Generator().manual_seed(have)
        corners = torch.rand(count - have, 2, 2, generator=generator)
        corners = corners * torch.tensor([width, height]).float()
        extra = torch.cat([corners.min(1).values,
                           corners.max(1).values + 1],
                          dim=1).to(bboxes)
        fixed = InstanceData(metainfo=proposals.metainfo)
        for key, value in proposals.items():
            pad = extra if key == 'bboxes' else value.new_zeros(
                (count - have, ) + tuple(value.shape[1:]))
            fixed[key] = torch.cat([value, pad])
        return fixed

    def remove(self):
        if self.head is not None and 'forward' in vars(self.head):
            del self.head.forward


class TensorForward(nn.Module):
    """``model`` with data samples bound, callable on a tensor alone (the
    form jit tracing needs)."""

    def __init__(self, model, data_samples):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs):
        return self.model(inputs, self.data_samples, mode='tensor')


def count_params(model):
    backbone = getattr(model, 'backbone', None)
    return dict(
        total=sum(p.numel() for p in model.parameters()),
        backbone=None if backbone is None else sum(
            p.numel() for p in backbone.parameters()))


@torch.no_grad()
def count_flops(model, inputs, data_samples):
    """Total and backbone FLOPs (mmengine's ``FlopAnalyzer``: one
    multiply-add = one FLOP) of one forward, the custom ops switched to
    their PyTorch reference so that the tracer sees plain convolutions."""
    wrapped = TensorForward(model, data_samples)
    with use_impl('torch'):
        analyzer = FlopAnalyzer(wrapped, (inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        by_module = analyzer.by_module()
        unsupported = dict(analyzer.unsupported_ops())
    return dict(
        total=by_module[''],
        backbone=by_module.get('model.backbone'),
        unsupported_ops=unsupported)


@torch.no_grad()
def peak_memory(model, inputs, data_samples):
    """Peak memory of one forward in MiB, and how it was measured (see
    :func:`mmreplk.analysis.benchmarking.peak_memory`)."""
    _, peak, how = measure_peak_memory(
        lambda: model(inputs, data_samples, mode='tensor'), inputs.device)
    return (None if peak is None else peak / 2**20), how + ' during forward'


@torch.no_grad()
def latency(model, inputs, data_samples, repeats=10, warmup=2, progress=None):
    """:func:`~mmreplk.analysis.benchmarking.timing_stats` of a forward, in
    seconds; ``progress`` is called after every timed run."""
    return time_interleaved(
        {'forward': lambda: model(inputs, data_samples, mode='tensor')},
        inputs.device, repeats, warmup, progress)['forward']
