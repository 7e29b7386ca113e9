"""Parameters, FLOPs, latency, peak memory of a whole model (docs/tools.md)."""
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.structures import InstanceData
from torch import nn

from mmreplk.analysis import benchmarking
from mmreplk.ops import use_impl


def dummy_inputs(task, shape, batch_size=1, device='cpu'):
    """A seeded random batch and its data samples (unscaled image meta)."""
    height, width = shape
    keys = ('img_shape', 'ori_shape', 'pad_shape', 'batch_input_shape')
    meta = dict(dict.fromkeys(keys, (height, width)), scale_factor=(1.0, 1.0))
    if task == 'segmentation':
        from mmseg.structures import SegDataSample as Sample
    else:
        from mmdet.structures import DetDataSample as Sample
    samples = [Sample(metainfo=meta) for _ in range(batch_size)]
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, height, width, generator=generator)
    return inputs.to(device), samples


def fix_proposal_count(cfg):
    """Switch off the RPN NMS in place; its ``max_per_img`` (None: no RPN)."""
    rpn = cfg.model.get('test_cfg', {}).get('rpn', None)
    if not rpn or 'nms' not in rpn:
        return None
    rpn.nms.iou_threshold = 1.0  # IoU never exceeds 1: nothing suppressed
    return rpn.get('max_per_img', None)


class FixedProposalCount:
    """Cut/pad ``roi_head``'s proposals to ``count`` until :meth:`remove`."""

    def __init__(self, model, count):
        self.rpn_counts, self.count = [], count
        self.head = None if count is None else getattr(model, 'roi_head', None)
        if self.head is not None:  # mmdet calls forward directly: no hooks
            self.original, self.head.forward = self.head.forward, self._forward

    def _forward(self, x, proposals, *args, **kwargs):
        proposals = [self._fix(p, self.count) for p in proposals]
        return self.original(x, proposals, *args, **kwargs)

    def _fix(self, proposals, count):
        have = len(proposals)
        self.rpn_counts.append(have)
        if have >= count:
            return proposals[:count]
        height, width = proposals.metainfo.get('img_shape', (64, 64))
        generator = torch.Generator().manual_seed(have)
        corners = torch.rand(count - have, 2, 2, generator=generator)
        corners = corners * torch.tensor([width, height]).float()
        extra = torch.cat([corners.amin(1), corners.amax(1) + 1], 1)
        fixed = InstanceData(metainfo=proposals.metainfo)
        for key, value in proposals.items():
            pad = extra.to(value) if key == 'bboxes' else value.new_zeros(
                (count - have, ) + tuple(value.shape[1:]))
            fixed[key] = torch.cat([value, pad])
        return fixed

    def remove(self):
        if self.head is not None and 'forward' in vars(self.head):
            del self.head.forward


class TensorForward(nn.Module):
    """``model`` with data samples bound, callable on a tensor (for jit)."""

    def __init__(self, model, data_samples):
        super().__init__()
        self.model, self.data_samples = model, data_samples

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
    """Total/backbone FLOPs (multiply-add = 1) of a forward on torch ops."""
    with use_impl('torch'):
        flops = FlopAnalyzer(TensorForward(model, data_samples), (inputs, ))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_module = flops.by_module()
        return dict(
            total=by_module[''],
            backbone=by_module.get('model.backbone'),
            unsupported_ops=dict(flops.unsupported_ops()))


@torch.no_grad()
def peak_memory(model, inputs, data_samples):
    """MiB (see :func:`.benchmarking.peak_memory`) of a forward, and how."""
    _, peak, how = benchmarking.peak_memory(
        lambda: model(inputs, data_samples, mode='tensor'), inputs.device)
    return (None if peak is None else peak / 2**20), how + ' during forward'


@torch.no_grad()
def latency(model, inputs, data_samples, repeats=10, warmup=2, progress=None):
    """Forward :func:`.timing_stats` (s), ``progress()`` after each run."""
    return benchmarking.time_interleaved(
        {'forward': lambda: model(inputs, data_samples, mode='tensor')},
        inputs.device, repeats, warmup, progress)['forward']
