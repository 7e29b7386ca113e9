#!/usr/bin/env python
"""Export a model to ONNX in its deploy (re-parameterised) form.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT OUT.onnx \
        [--shape H W] [--dynamic-batch] [--opset N] [--verify]

CHECKPOINT is either a training-form checkpoint of CONFIG (re-parameterised
on the fly) or a deploy-form one with the config OUT.py written next to it
by tools/deploy/reparameterize.py (``--no-reparam`` insists on that).

What the graph computes, from a normalised ``(N, 3, H, W)`` float input
(the output of the config's ``data_preprocessor``: mean/std, RGB, padded to
the stride):

* segmentors: ``seg_logits = EncoderDecoder.forward(x, mode='tensor')``, the
  decode head's logits at 1/4 of the input size; ``predict`` upsamples them
  bilinearly to the image size and takes the argmax.
* detectors: the backbone + neck features ``extract_feat(x)`` (one output per
  FPN level); the RPN/RoI heads with their NMS and RoIAlign stay in PyTorch.

Every large-kernel layer runs its deploy form through plain ``F.conv2d``
(``impl='torch'``), so the graph has only standard ONNX operators and does
not depend on the Triton, FFT or CPU back ends. Shift-wise layers are
re-parameterised into their ``'large_kernel'`` deploy form (one depthwise
``Conv``): the ``'shift'`` form's data-dependent gather is not exportable.

``--verify`` runs the file with onnxruntime (CPU) on random inputs of the
exported size (and batch 2 with ``--dynamic-batch``), compares with the
PyTorch deploy-form model as it runs without export (back ends as
configured, e.g. ``impl='auto'``) and exits 1 when the relative difference
exceeds ``--tolerance``; it prints the difference and the latency of both.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time
import warnings

# setuptools' deprecation warning for mmengine's ``import pkg_resources``
# (printed several times per config): nothing a user can act on.
warnings.filterwarnings(
    'ignore',
    category=UserWarning,
    message='pkg_resources is deprecated as an API')

import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.logging import print_log

import mmreplk
from mmreplk.analysis import (default_out_dir, machine_info, time_interleaved,
                              write_results)
from mmreplk.models.reparam import count_rep_modules
from mmreplk.ops import use_impl
from mmreplk.utils import (ToolCheckFailed, ToolInputError,
                           build_model_from_config, check_output_paths,
                           load_config, load_model_checkpoint, model_task,
                           require_file, tool_main)

# Total downsampling of every mmreplk backbone (stem /4, three /2 stages).
STRIDE = 32
EXPORT_IMPL = 'torch'
TOOL = 'export_onnx'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='output file (.onnx)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input size, multiples of 32 (default: the config\'s '
        'data_preprocessor size, e.g. the 512x512 crop)')
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='make the batch dimension dynamic')
    parser.add_argument(
        '--opset',
        type=int,
        default=18,
        help='ONNX opset version (default: 18)')
    parser.add_argument(
        '--no-reparam',
        action='store_true',
        help='the model must already be in deploy form '
        '(deploy config + deploy checkpoint)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare onnxruntime with PyTorch; exit 1 '
        'above --tolerance')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest accepted max|ort - torch| / '
        'max|torch| (default: 1e-4)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='timed rounds of --verify (default: 5)')
    parser.add_argument(
        '--report',
        action='store_true',
        help='with --verify: also write JSON + markdown '
        'results to --report-dir')
    parser.add_argument(
        '--report-dir',
        default=default_out_dir(TOOL),
        help='(default: %(default)s)')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing OUT (and report)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def report_paths(args):
    stem = osp.splitext(osp.basename(args.out))[0]
    return (osp.join(args.report_dir,
                     stem + '.json'), osp.join(args.report_dir, stem + '.md'))


def check_outputs(args):
    """Refuse an OUT that is not ``.onnx``, is an input, or exists (without
    ``--force``); the same for the report files."""
    if not args.out.endswith('.onnx'):
        raise ToolInputError(f'OUT {args.out!r} must end with .onnx.')
    if args.report and not args.verify:
        raise ToolInputError('--report writes the results of --verify; '
                             'add --verify.')
    outputs = {'ONNX file': args.out}
    if args.report:
        outputs.update(
            zip(('JSON report', 'markdown report'), report_paths(args)))
    check_output_paths(
        outputs,
        inputs=dict(config=args.config, checkpoint=args.checkpoint),
        force=args.force)


def input_shape(cfg, shape):
    """``(H, W)`` from ``--shape`` or the config, checked against the
    stride."""
    if shape is None:
        size = cfg.model.get('data_preprocessor', {}).get('size', None)
        if size is None:
            raise ToolInputError('The config has no model.data_preprocessor.'
                                 'size; pass --shape H W.')
        shape = tuple(size)
    h, w = shape
    if h <= 0 or w <= 0 or h % STRIDE or w % STRIDE:
        raise ToolInputError(
            f'--shape {h} {w} is not a multiple of the backbone stride '
            f'{STRIDE}; use e.g. --shape {max(1, round(h / STRIDE)) * STRIDE}'
            f' {max(1, round(w / STRIDE)) * STRIDE} (mmseg/mmdet pad inputs '
            'to it).')
    return h, w


def use_large_kernel_shiftwise(model):
    """Make every training-form shift-wise layer deploy into one depthwise
    conv; raise if a layer is already in the gather-based ``'shift'``
    form."""
    from mmreplk.models.layers import ShiftWiseConv2d
    count = 0
    for module in model.modules():
        if not isinstance(module, ShiftWiseConv2d):
            continue
        if module.deploy and module.deploy_form == 'shift':
            raise ToolInputError(
                "The model has shift-wise layers in the 'shift' deploy form, "
                'whose gather does not export to ONNX. Export the training '
                'checkpoint (re-parameterised on the fly into the '
                "'large_kernel' form), or a deploy checkpoint written with "
                "backbone deploy_form='large_kernel'.")
        if not module.deploy:
            module.deploy_form = 'large_kernel'
            count += 1
    if count:
        print_log(
            f"{count} shift-wise layers deploy into their "
            "'large_kernel' form (one depthwise Conv) for ONNX.",
            logger='current')


def deploy_model(cfg, checkpoint, no_reparam):
    """Build CONFIG's model, load CHECKPOINT strictly and return it in
    deploy form and eval mode."""
    from mmengine.model import revert_sync_batchnorm
    model = build_model_from_config(cfg)
    load_model_checkpoint(model, checkpoint)
    model.eval()
    training_form = count_rep_modules(model, deployed=False)
    if no_reparam and training_form:
        raise ToolInputError(
            f'--no-reparam, but the model has {training_form} training-form '
            're-parameterisable layers. Drop --no-reparam to re-parameterise '
            'on the fly, or pass the deploy config and checkpoint written by '
            'tools/deploy/reparameterize.py.')
    use_large_kernel_shiftwise(model)
    if training_form:
        mmreplk.reparameterize_model(model)
    else:
        print_log('The model is already in deploy form.', logger='current')
    model = revert_sync_batchnorm(model)  # SyncBN in eval == BatchNorm
    return model.eval()


class SegmentorLogits(nn.Module):
    """``EncoderDecoder.forward(x, mode='tensor')``: decode-head logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


class DetectorFeatures(nn.Module):
    """Backbone + neck features of a detector (``extract_feat``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model.extract_feat(x))


def export_wrapper(model, task):
    wrapper = SegmentorLogits(model) if task == 'segmentation' \
        else DetectorFeatures(model)
    return wrapper.eval()


def output_names(wrapper, shape):
    with torch.no_grad():
        outs = wrapper(torch.zeros(1, 3, *shape))
    if torch.is_tensor(outs):
        return ['seg_logits']
    return [f'feat{i}' for i in range(len(outs))]


def export(wrapper, shape, out, opset, dynamic_batch):
    """Write ``wrapper`` to ``out`` with torch.export-based exporter."""
    names = output_names(wrapper, shape)
    dynamic_shapes = None
    if dynamic_batch:
        dynamic_shapes = {'x': {0: torch.export.Dim('batch', min=1, max=1024)}}
    example = torch.randn(2 if dynamic_batch else 1, 3, *shape)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # exporter chatter, not the user's
        program = torch.onnx.export(
            wrapper, (example, ),
            dynamo=True,
            opset_version=opset,
            input_names=['input'],
            output_names=names,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False)
    # Written next to OUT, then renamed: OUT is never left half-written.
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=osp.dirname(osp.abspath(out)),
        prefix=f'.{osp.basename(out)}.',
        suffix='.tmp')
    os.close(fd)
    try:
        program.save(tmp, external_data=False)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return names


def check_standard_ops(path):
    """Operator types of the graph; raise if any is outside the standard
    ``ai.onnx`` domain."""
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops, custom = set(), set()

    def visit(graph):
        for node in graph.node:
            if node.domain not in ('', 'ai.onnx'):
                custom.add(f'{node.domain}::{node.op_type}')
            ops.add(node.op_type)
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    visit(attr.g)

    visit(model.graph)
    for func in model.functions:
        visit(func)
    if custom:
        raise RuntimeError('The exported graph has non-standard operators: '
                           f'{sorted(custom)}.')
    return sorted(ops)


def ort_session(path):
    import onnxruntime as ort
    options = ort.SessionOptions()
    # The same thread count as PyTorch, for a fair latency comparison.
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])


def compare(wrapper, session, x):
    """Max abs difference and max |torch| over all outputs."""
    with torch.no_grad():
        ref = wrapper(x)
    ref = [ref] if torch.is_tensor(ref) else list(ref)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    diff = max(
        float((torch.from_numpy(g) - r).abs().max()) for g, r in zip(got, ref))
    scale = max(float(r.abs().max()) for r in ref)
    return diff, scale


def verify(wrapper, path, shape, dynamic_batch, rtol, repeats):
    """onnxruntime vs PyTorch on random inputs; the results as a dict."""
    session = ort_session(path)
    torch.manual_seed(0)
    cases = []
    for batch in ((1, 2) if dynamic_batch else (1, )):
        x = torch.randn(batch, 3, *shape)
        diff, scale = compare(wrapper, session, x)
        rel = diff / max(scale, 1e-12)
        cases.append(
            dict(
                batch=batch,
                max_abs_diff=diff,
                output_scale=scale,
                relative_diff=rel,
                passed=rel <= rtol))
    x = torch.randn(1, 3, *shape)
    feed = {session.get_inputs()[0].name: x.numpy()}

    def run_torch():
        with torch.no_grad():
            wrapper(x)

    load_before = os.getloadavg()
    times = time_interleaved(
        {
            'pytorch': run_torch,
            'onnxruntime': lambda: session.run(None, feed)
        },
        repeats=repeats,
        warmup=1)
    backends = sorted({
        m.impl
        for m in wrapper.modules()
        if isinstance(getattr(m, 'impl', None), str)
    })
    return dict(
        cases=cases,
        latency_s=times,
        rtol=rtol,
        pytorch_impls=backends,
        load_average=[load_before, os.getloadavg()],
        passed=all(c['passed'] for c in cases))


def describe_impls(impls):
    if not impls:
        return 'no mmreplk op with a choice of back end'
    return 'mmreplk ops with impl ' + ', '.join(repr(i) for i in impls)


def report_markdown(report):
    lines = [
        f"# ONNX export: {osp.basename(report['config'])}", '',
        f"Input {report['shape'][0]}x{report['shape'][1]}, batch 1, "
        f"opset {report['opset']}, {report['machine'].get('cpu', 'CPU')}"
        f", torch {report['machine']['torch']}, onnxruntime "
        f"{report['onnxruntime']}, {report['machine']['threads']} "
        'threads.', '', f"Export: {report['export_s']:.1f} s. Outputs: "
        f"{', '.join(report['outputs'])}.", '',
        'PyTorch: the deploy form as it runs without export ('
        f"{describe_impls(report['verify']['pytorch_impls'])}); "
        'onnxruntime: CPUExecutionProvider. Timed interleaved, '
        f"{report['verify']['latency_s']['pytorch']['repeats']} rounds "
        'after one warm-up round. Load average (1 min) before / after: '
        f"{report['verify']['load_average'][0][0]:.1f} / "
        f"{report['verify']['load_average'][1][0]:.1f} on "
        f"{report['machine']['cpu_count']} CPUs.", '',
        '| runtime | min (s) | median (s) | max (s) |', '|---|---|---|---|'
    ]
    for name, stats in report['verify']['latency_s'].items():
        lines.append(f"| {name} | {stats['min']:.4f} | {stats['median']:.4f}"
                     f" | {stats['max']:.4f} |")
    lines.append('')
    for case in report['verify']['cases']:
        lines.append(f"Batch {case['batch']}: max |ort - torch| = "
                     f"{case['max_abs_diff']:.3e}, relative "
                     f"{case['relative_diff']:.3e} (limit "
                     f"{report['verify']['rtol']:.0e}).")
    return '\n'.join(lines) + '\n'


@tool_main
def main(argv=None):
    args = parse_args(argv)
    check_outputs(args)
    require_file(args.checkpoint, 'Checkpoint')
    cfg = load_config(args.config, args.cfg_options)
    task = model_task(cfg)
    shape = input_shape(cfg, args.shape)
    if args.repeats < 1:
        raise ToolInputError(f'--repeats must be >= 1, got {args.repeats}.')
    model = deploy_model(cfg, args.checkpoint, args.no_reparam)
    wrapper = export_wrapper(model, task)
    start = time.perf_counter()
    with use_impl(EXPORT_IMPL):
        names = export(wrapper, shape, args.out, args.opset,
                       args.dynamic_batch)
    export_s = time.perf_counter() - start
    ops = check_standard_ops(args.out)
    what = 'segmentation logits (mode=tensor)' if task == 'segmentation' \
        else 'backbone + neck features'
    print(f'ONNX: {args.out} ({what}; input 1x3x{shape[0]}x{shape[1]}'
          f"{', dynamic batch' if args.dynamic_batch else ''}; outputs "
          f"{', '.join(names)}; exported in {export_s:.1f} s)")
    print(f'Operators: {", ".join(ops)}')
    if not args.verify:
        return
    result = verify(wrapper, args.out, shape, args.dynamic_batch,
                    args.tolerance, args.repeats)
    for case in result['cases']:
        print(f"Verify (batch {case['batch']}): max |onnxruntime - pytorch| "
              f"= {case['max_abs_diff']:.3e} (output scale "
              f"{case['output_scale']:.3e}, relative "
              f"{case['relative_diff']:.3e}, limit {args.tolerance:.0e}): "
              f"{'ok' if case['passed'] else 'FAILED'}")
    for name, stats in result['latency_s'].items():
        print(f"Latency {name:<11}: median {stats['median'] * 1e3:.1f} ms "
              f"(min {stats['min'] * 1e3:.1f}, max {stats['max'] * 1e3:.1f},"
              f" {stats['repeats']} runs, batch 1, "
              f'{torch.get_num_threads()} threads)')
    if args.report:
        import onnxruntime
        report = dict(
            config=args.config,
            checkpoint=args.checkpoint,
            onnx=args.out,
            shape=list(shape),
            opset=args.opset,
            task=task,
            outputs=names,
            export_s=export_s,
            operators=ops,
            verify=result,
            onnxruntime=onnxruntime.__version__,
            machine=machine_info())
        stem = osp.splitext(osp.basename(args.out))[0]
        paths = write_results(args.report_dir, stem, report,
                              report_markdown(report), args.force)
        print(f'Report: {paths[0]}, {paths[1]}')
    if not result['passed']:
        raise ToolCheckFailed(
            f'onnxruntime and PyTorch differ by more than '
            f'{args.tolerance:.0e} (relative); the ONNX file is not faithful.')


if __name__ == '__main__':
    sys.exit(main())
