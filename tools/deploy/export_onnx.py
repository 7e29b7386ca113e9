#!/usr/bin/env python
"""Export a model to ONNX in its deploy (re-parameterised) form.

Segmentor logits or detector features; docs/deployment.md has the details."""
import argparse
import os
import os.path as osp
import sys
import time
import warnings

import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm

import mmreplk
from mmreplk.analysis import (default_out_dir, machine_info,
                              max_abs_difference, time_interleaved,
                              write_results)
from mmreplk.models.layers import ShiftWiseConv2d
from mmreplk.models.reparam import count_rep_modules
from mmreplk.ops import use_impl
from mmreplk.utils import (ToolCheckFailed, ToolInputError, atomic_write_bytes,
                           build_model_from_config, check_output_paths,
                           load_config, load_model_checkpoint, model_task,
                           require_file, tool_main)

# Total downsampling of every mmreplk backbone (stem /4, three /2 stages).
STRIDE = 32


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
        help='multiples of 32 (default: data_preprocessor.size)')
    flag = dict(action='store_true')
    parser.add_argument('--dynamic-batch', **flag, help='dynamic batch size')
    parser.add_argument('--opset', type=int, default=18, help='(default 18)')
    parser.add_argument('--no-reparam', **flag, help='deploy form required')
    parser.add_argument('--verify', **flag, help='onnxruntime vs PyTorch')
    parser.add_argument(
        '--tolerance', type=float, default=1e-4, help='(default 1e-4)')
    parser.add_argument('--repeats', type=int, default=5, help='of --verify')
    parser.add_argument('--report', **flag, help='--verify to --report-dir')
    parser.add_argument(
        '--report-dir', default=default_out_dir('export_onnx'), help=' ')
    parser.add_argument('--force', **flag, help='replace OUT (and report)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def check_outputs(args):
    """Refuse a bad OUT, an input as output, or existing outputs."""
    if not args.out.endswith('.onnx'):
        raise ToolInputError(f'OUT {args.out!r} must end with .onnx.')
    if args.report and not args.verify:
        raise ToolInputError('--report writes the results of --verify; '
                             'add --verify.')
    if args.repeats < 1:
        raise ToolInputError(f'--repeats must be >= 1, got {args.repeats}.')
    outputs = {'ONNX file': args.out}
    if args.report:
        stem = osp.join(args.report_dir,
                        osp.splitext(osp.basename(args.out))[0])
        outputs['JSON report'] = stem + '.json'
        outputs['markdown report'] = stem + '.md'
    inputs = dict(config=args.config, checkpoint=args.checkpoint)
    check_output_paths(outputs, inputs=inputs, force=args.force)


def input_shape(cfg, shape):
    """``(H, W)`` from ``--shape`` or the config, checked against STRIDE."""
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
    """Deploy shift-wise layers as one depthwise conv; refuse 'shift' form."""
    layers = [m for m in model.modules() if isinstance(m, ShiftWiseConv2d)]
    if any(m.deploy and m.deploy_form == 'shift' for m in layers):
        raise ToolInputError(
            "The model has shift-wise layers in the 'shift' deploy form, "
            'whose gather does not export to ONNX. Export the training '
            'checkpoint (re-parameterised on the fly into the '
            "'large_kernel' form), or a deploy checkpoint written with "
            "backbone deploy_form='large_kernel'.")
    training = [m for m in layers if not m.deploy]
    for module in training:
        module.deploy_form = 'large_kernel'
    if training:
        print_log(
            f"{len(training)} shift-wise layers deploy into their "
            "'large_kernel' form (one depthwise Conv) for ONNX.",
            logger='current')


def deploy_model(cfg, checkpoint, no_reparam):
    """CONFIG's model with CHECKPOINT loaded strictly, deploy form, eval."""
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
    return revert_sync_batchnorm(model).eval()  # SyncBN in eval == BN


class ExportedGraph(nn.Module):
    """Segmentor decode-head logits or detector backbone + neck features."""

    def __init__(self, model, task):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, x):
        if self.task == 'segmentation':
            return self.model(x, mode='tensor')
        return tuple(self.model.extract_feat(x))


def export(wrapper, shape, out, opset, dynamic_batch):
    """Write ``wrapper`` to ``out`` atomically via torch.export; names."""
    with torch.no_grad():
        outs = wrapper(torch.zeros(1, 3, *shape))
    names = ['seg_logits'] if torch.is_tensor(outs) else [
        f'feat{i}' for i in range(len(outs))
    ]
    dynamic_shapes = None
    if dynamic_batch:
        dynamic_shapes = {'x': {0: torch.export.Dim('batch', min=1, max=1024)}}
    example = torch.randn(2 if dynamic_batch else 1, 3, *shape)
    with torch.no_grad(), use_impl('torch'), warnings.catch_warnings():
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
    atomic_write_bytes(program.model_proto.SerializeToString(), out)
    return names


def check_standard_ops(path):
    """Sorted operator types; raise if any is outside ``ai.onnx``."""
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

    for graph in [model.graph, *model.functions]:
        visit(graph)
    if custom:
        raise RuntimeError('The exported graph has non-standard operators: '
                           f'{sorted(custom)}.')
    return sorted(ops)


def verify(wrapper, path, shape, dynamic_batch, rtol, repeats):
    """onnxruntime (CPU) vs PyTorch: differences and latency, printed."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads = torch.get_num_threads()
    session = ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    torch.manual_seed(0)
    cases = []
    for batch in ((1, 2) if dynamic_batch else (1, )):
        x = torch.randn(batch, 3, *shape)
        with torch.no_grad():
            diff, scale = max_abs_difference(
                wrapper(x), session.run(None, {name: x.numpy()}))
        rel = diff / max(scale, 1e-12)
        cases.append(
            dict(
                batch=batch,
                max_abs_diff=diff,
                output_scale=scale,
                relative_diff=rel,
                passed=rel <= rtol))
        print(f'Verify (batch {batch}): max |onnxruntime - pytorch| = '
              f'{diff:.3e} (output scale {scale:.3e}, relative {rel:.3e}, '
              f"limit {rtol:.0e}): {'ok' if rel <= rtol else 'FAILED'}")
    feed = {name: torch.randn(1, 3, *shape).numpy()}
    runs = {
        'pytorch': lambda: wrapper(torch.from_numpy(feed[name])),
        'onnxruntime': lambda: session.run(None, feed)
    }
    load_before = os.getloadavg()
    with torch.no_grad():
        times = time_interleaved(runs, repeats=repeats, warmup=1)
    for runtime, t in times.items():
        print(f"Latency {runtime:<11}: median {t['median'] * 1e3:.1f} ms "
              f"(min {t['min'] * 1e3:.1f}, max {t['max'] * 1e3:.1f}, "
              f"{t['repeats']} runs, batch 1, {threads} threads)")
    impls = {getattr(m, 'impl', None) for m in wrapper.modules()}
    return dict(
        cases=cases,
        latency_s=times,
        rtol=rtol,
        pytorch_impls=sorted(i for i in impls if isinstance(i, str)),
        load_average=[load_before, os.getloadavg()],
        passed=all(c['passed'] for c in cases))


def report_markdown(report):
    verified, machine = report['verify'], report['machine']
    impls = ', '.join(map(repr, verified['pytorch_impls']))
    impls = f'mmreplk ops with impl {impls}' if impls else \
        'no mmreplk op with a choice of back end'
    load = verified['load_average']
    return '\n'.join([
        f"# ONNX export: {osp.basename(report['config'])}", '',
        f"Input {report['shape'][0]}x{report['shape'][1]}, batch 1, "
        f"opset {report['opset']}, {machine.get('cpu', 'CPU')}, torch "
        f"{machine['torch']}, onnxruntime {report['onnxruntime']}, "
        f"{machine['threads']} threads.", '',
        f"Export: {report['export_s']:.1f} s. Outputs: "
        f"{', '.join(report['outputs'])}.", '',
        f'PyTorch: the deploy form as it runs without export ({impls}); '
        'onnxruntime: CPUExecutionProvider. Timed interleaved, '
        f"{verified['latency_s']['pytorch']['repeats']} rounds after one "
        f'warm-up round. Load average (1 min) before / after: '
        f"{load[0][0]:.1f} / {load[1][0]:.1f} on {machine['cpu_count']} "
        'CPUs.', '', '| runtime | min (s) | median (s) | max (s) |',
        '|---|---|---|---|'
    ] + [
        f"| {name} | {t['min']:.4f} | {t['median']:.4f} | {t['max']:.4f} |"
        for name, t in verified['latency_s'].items()
    ] + [''] + [
        f"Batch {c['batch']}: max |ort - torch| = {c['max_abs_diff']:.3e}, "
        f"relative {c['relative_diff']:.3e} (limit {verified['rtol']:.0e})."
        for c in verified['cases']
    ]) + '\n'


@tool_main
def main(argv=None):
    args = parse_args(argv)
    check_outputs(args)
    require_file(args.checkpoint, 'Checkpoint')
    cfg = load_config(args.config, args.cfg_options)
    task = model_task(cfg)
    shape = input_shape(cfg, args.shape)
    wrapper = ExportedGraph(
        deploy_model(cfg, args.checkpoint, args.no_reparam), task).eval()
    start = time.perf_counter()
    names = export(wrapper, shape, args.out, args.opset, args.dynamic_batch)
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
