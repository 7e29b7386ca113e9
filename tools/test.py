#!/usr/bin/env python
"""Evaluate a checkpoint of an mmreplk config (segmentation or detection).

mmseg's/mmdet's command line plus ``--out-metrics`` (docs/tools.md).
"""
import json
import sys

from mmengine.dist import is_main_process

import mmreplk  # noqa: F401
from mmreplk.utils import (atomic_write_bytes, build_runner,
                           check_checkpoint_matches, check_output_paths,
                           is_remote, parse_runner_args, read_state_dict,
                           require_file, runner_config, runner_parser,
                           teardown_distributed, tool_main)


@tool_main
def main(argv=None):
    parser = runner_parser('Test a segmentor/detector',
                           ('checkpoint', 'checkpoint file or URL'))
    parser.add_argument(
        '--out-metrics', help='also write the metrics to this JSON file')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace an existing --out-metrics file')
    args = parse_runner_args(parser, argv)
    if not is_remote(args.checkpoint):  # URLs: read below
        require_file(args.checkpoint, 'Checkpoint')
    if args.out_metrics:  # before the evaluation, not after it
        check_output_paths({'metrics file': args.out_metrics},
                           inputs={
                               'checkpoint': args.checkpoint,
                               'config': args.config
                           },
                           force=args.force)
    cfg = runner_config(args)
    cfg.load_from = args.checkpoint
    runner, model = build_runner(cfg, 'tools/test.py', ['test_dataloader'])
    check_checkpoint_matches(
        read_state_dict(args.checkpoint), model, args.checkpoint)
    metrics = runner.test()
    if args.out_metrics and is_main_process():
        text = json.dumps({k: float(v) for k, v in metrics.items()}, indent=2)
        atomic_write_bytes(text.encode('utf-8'), args.out_metrics)
    teardown_distributed()  # exits here in distributed runs


if __name__ == '__main__':
    sys.exit(main())
