#!/usr/bin/env python
"""Convert a trained model to its deploy (re-parameterised) form.

    python tools/deploy/reparameterize.py CONFIG CHECKPOINT OUT.pth \
        [--out-config OUT.py] [--verify [--tolerance REL]] [--force]

Builds the model of CONFIG (segmentor or detector), loads CHECKPOINT, calls
``mmreplk.reparameterize_model`` and writes OUT.pth plus a config OUT.py
whose backbone is built with ``deploy=True`` (use it with tools/test.py).
``--verify`` feeds a random batch through both forms, prints the maximum
difference of the features and outputs, and fails (exit status 1, nothing
written) when it exceeds the tolerance relative to the output scale.

Nothing is overwritten by accident: an output that is an input (OUT equal to
CHECKPOINT, the deploy config equal to CONFIG) or that collides with the
other output is refused, and an existing file is replaced only with
``--force``. Both files are written atomically.
"""
import argparse
import copy
import os.path as osp
import sys
import warnings

# setuptools' deprecation warning for mmengine's ``import pkg_resources``:
# nothing a user can act on.
warnings.filterwarnings(
    'ignore',
    category=UserWarning,
    message='pkg_resources is deprecated as an API')

import torch
from mmengine.config import DictAction
from mmengine.registry import MODELS

import mmreplk
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
    parser.add_argument(
        '--out-config', help='output config (default: OUT with .py)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare training and deploy forms on a '
        'random input; fail above --tolerance')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest accepted max |train - deploy| '
        'relative to the output scale (default 1e-4)')
    parser.add_argument(
        '--force', action='store_true', help='overwrite existing output files')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=('H', 'W'),
        help='input size for --verify')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _flatten(outputs):
    if torch.is_tensor(outputs):
        return [outputs]
    flat = []
    for item in outputs:
        flat.extend(_flatten(item))
    return flat


@torch.no_grad()
def max_difference(model_a, model_b, shape):
    """Max abs difference (and the output scale) of ``extract_feat`` and,
    for segmentors, the logits, on one random batch."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, *shape)
    outs_a = _flatten(model_a.extract_feat(x))
    outs_b = _flatten(model_b.extract_feat(x))
    if hasattr(model_a, 'decode_head'):
        outs_a.append(model_a._forward(x))
        outs_b.append(model_b._forward(x))
    diff = max((a - b).abs().max().item() for a, b in zip(outs_a, outs_b))
    scale = max(a.abs().max().item() for a in outs_a)
    return diff, scale


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
    each other and existing files (:class:`ToolInputError` if unsafe)."""
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
    if args.verify:
        diff, scale = max_difference(reference, model, tuple(args.shape))
        relative = diff / scale if scale > 0 else float('inf')
        print(f'Verify: max |train - deploy| = {diff:.3e} '
              f'(output scale {scale:.3e}, relative {relative:.3e}), '
              f'tolerance {args.tolerance:.1e}')
        if not relative <= args.tolerance:
            raise ToolCheckFailed(
                f'the deploy form differs from the training form by '
                f'{relative:.3e} of the output scale, above the tolerance '
                f'{args.tolerance:.1e}; nothing was written. This is a '
                're-parameterisation bug (please report it); --tolerance '
                'raises the limit.')
    save_state_dict(
        model.state_dict(),
        out,
        meta=dict(source=args.checkpoint, deploy=True))
    atomic_write_bytes(out_cfg.pretty_text.encode('utf-8'), out_config)
    print(f'Deploy checkpoint: {out}\nDeploy config:     {out_config}')


if __name__ == '__main__':
    sys.exit(main())
