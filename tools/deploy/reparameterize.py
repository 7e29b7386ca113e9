#!/usr/bin/env python
"""Convert a trained model to its deploy (re-parameterised) form.

Writes OUT.pth and the deploy config OUT.py; ``--verify`` compares both
forms (docs/tools.md).
"""
import argparse
import copy
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.registry import MODELS

import mmreplk
from mmreplk.analysis import max_abs_difference
from mmreplk.models.backbones.staged_backbone import StagedBackbone
from mmreplk.models.reparam import count_rep_modules
from mmreplk.utils import (ToolCheckFailed, ToolInputError, atomic_write_bytes,
                           build_model_from_config, check_output_paths,
                           load_config, load_model_checkpoint, require_file,
                           save_state_dict, tool_main)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out', help='output checkpoint (.pth)')
    parser.add_argument('--out-config', help='default: OUT with .py')
    flag = dict(action='store_true')
    parser.add_argument('--verify', **flag, help='compare the two forms')
    parser.add_argument('--tolerance', type=float, default=1e-4, help='1e-4')
    parser.add_argument('--force', **flag, help='replace existing outputs')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'),
        help='input size for --verify')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


@torch.no_grad()
def verify(reference, model, shape, tolerance):
    """Compare ``extract_feat`` and, for segmentors, the logits of the two
    forms on one random batch; the result as a dict (raise above
    ``tolerance``)."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, *shape)
    outputs = []
    for m in (reference, model):
        outputs.append([m.extract_feat(x)] +
                       ([m._forward(x)] if hasattr(m, 'decode_head') else []))
    diff, scale = max_abs_difference(*outputs)
    relative = diff / scale if scale > 0 else float('inf')
    print(f'Verify: max |train - deploy| = {diff:.3e} '
          f'(output scale {scale:.3e}, relative {relative:.3e}), '
          f'tolerance {tolerance:.1e}')
    if not relative <= tolerance:
        raise ToolCheckFailed(
            f'the deploy form differs from the training form by '
            f'{relative:.3e} of the output scale, above the tolerance '
            f'{tolerance:.1e}; nothing was written. This is a '
            're-parameterisation bug (please report it); --tolerance '
            'raises the limit.')
    return dict(max_abs_diff=diff, output_scale=scale, relative=relative)


def deploy_config(cfg):
    """Copy of ``cfg`` whose backbone is built in deploy form."""
    cfg = copy.deepcopy(cfg)
    backbone_type = MODELS.get(cfg.model.backbone.type)
    # mmreplk backbones (StagedBackbone) are the ones with a deploy form.
    if not (isinstance(backbone_type, type)
            and issubclass(backbone_type, StagedBackbone)):
        raise ToolInputError(
            f'Backbone {cfg.model.backbone.type!r} has no deploy form: '
            'nothing in this model is re-parameterisable by mmreplk.')
    cfg.model.backbone.deploy = True
    cfg.model.backbone.init_cfg = None
    cfg.load_from = None
    return cfg


def output_paths(args):
    """``(checkpoint, config)`` output paths, checked against the inputs,
    each other and existing files."""
    if args.out.endswith('.py'):
        raise ToolInputError(
            f'OUT {args.out!r} ends in .py: OUT is the deploy checkpoint '
            '(e.g. deploy/model.pth); the deploy config is written next to '
            'it with the .py suffix (or to --out-config).')
    out_config = args.out_config or osp.splitext(args.out)[0] + '.py'
    if not out_config.endswith('.py'):
        raise ToolInputError(
            f'--out-config {out_config!r} must end in .py (it is a config).')
    check_output_paths(
        {
            'deploy checkpoint': args.out,
            'deploy config': out_config
        },
        inputs={
            'input checkpoint': args.checkpoint,
            'input config': args.config
        },
        force=args.force)
    return args.out, out_config


@tool_main
def main(argv=None):
    args = parse_args(argv)
    require_file(args.checkpoint, 'Checkpoint')
    cfg = load_config(args.config, args.cfg_options)
    out, out_config = output_paths(args)
    model = build_model_from_config(cfg)
    out_cfg = deploy_config(cfg)
    load_model_checkpoint(model, args.checkpoint)
    model.eval()
    if count_rep_modules(model, deployed=False) == 0:
        raise ToolInputError('the checkpoint holds no training-form '
                             're-parameterisable layer (already deployed?).')
    reference = copy.deepcopy(model) if args.verify else None
    mmreplk.reparameterize_model(model)
    meta = dict(source=args.checkpoint, deploy=True)
    if args.verify:
        meta['verify'] = verify(reference, model, tuple(args.shape),
                                args.tolerance)
    save_state_dict(model.state_dict(), out, meta=meta)
    atomic_write_bytes(out_cfg.pretty_text.encode('utf-8'), out_config)
    print(f'Deploy checkpoint: {out}\nDeploy config:     {out_config}')


if __name__ == '__main__':
    sys.exit(main())
