#!/usr/bin/env python
"""`make demo`: the whole RepLKNet workflow on CPU in about ten minutes.

Synthetic ADE20K, training, evaluation, re-parameterisation (--verify) and
evaluation of the deploy form, whose mIoU must equal the training form's;
logs in the work dir, progress on the console. ``--quick``: seconds (CI).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DATA_ROOT = 'data/synthetic/ade/ADEChallengeData2016'
CONFIG_WARMUP_ITERS = 50  # warmup_iters of CONFIG

# mmengine's progress lines: "Iter(train) [ 50/600]  ...  eta: 0:04:10 ...".
PROGRESS = re.compile(r'(Iter|Epoch)\((train|val|test)\)\s*\[[^\]]*\]')
PROGRESS_KEYS = ('eta', 'time', 'loss', 'mIoU', 'aAcc')


def progress_line(line):
    """The counter, ETA, time and loss (or metrics) of an mmengine log
    line, or None."""
    match = PROGRESS.search(line)
    if not match:
        return None
    tail = line[match.end():]
    fields = [
        f'{key}: {value}'
        for key, value in re.findall(r'\b([A-Za-z]+):\s*(\S+)', tail)
        if key in PROGRESS_KEYS
    ]
    return '  ' + '  '.join([match.group(0)] + fields)


def run(cmd, log_path):
    """Run ``cmd`` in the repository, its output into ``log_path`` and its
    progress lines onto the console; the steps share the back ends that
    ``impl='auto'`` measured (a dispatch cache next to the log)."""
    print('$ ' + ' '.join(cmd), flush=True)
    start = time.time()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.setdefault('MMREPLK_DISPATCH_CACHE',
                   osp.join(osp.dirname(log_path), 'dispatch_cache.json'))
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            bufsize=1)
        for line in proc.stdout:
            log.write(line)
            if progress_line(line):
                print(progress_line(line), flush=True)
    if proc.wait() != 0:
        with open(log_path) as f:
            sys.stderr.write(''.join(f.readlines()[-30:]))
        # Exit status 1 and an "error:" line, as mmreplk.utils.tool_main.
        sys.exit(f'error: command failed ({proc.returncode}): '
                 f'{" ".join(cmd)}; log: {log_path}')
    print(f'  done in {time.time() - start:.0f} s', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument(
        '--data-root', default=DATA_ROOT, help='written when missing')
    parser.add_argument('--num-train', type=int, default=96)
    parser.add_argument('--iters', type=int, help='default: the config\'s')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='8 images, 2 iterations of batch 2, in seconds (CI)')
    args = parser.parse_args(argv)
    py, work = sys.executable, args.work_dir
    if args.quick:
        args.num_train, args.iters = 8, args.iters or 2
    os.makedirs(osp.join(REPO, work), exist_ok=True)

    def log(name):
        return osp.join(REPO, work, name + '.log')

    if not osp.isdir(osp.join(REPO, args.data_root, 'images')):
        run([
            py, 'tools/dataset_converters/make_synthetic.py', 'ade20k',
            args.data_root, '--num',
            str(args.num_train)
        ] + (['--num-val', '2', '--size', '128', '96'] if args.quick else []),
            log('make_synthetic'))
    options = ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={args.data_root}'
        for split in ('train', 'val', 'test')
    ]
    if args.quick:
        options += [
            f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
            for key in ('num_workers=0', 'persistent_workers=False')
        ]
    train_options = options + ['default_hooks.logger.interval=1'] * args.quick
    if args.iters:
        # The schedule's iterations were fixed when the config was parsed:
        # warm-up (at most the config's) then poly decay to the new end;
        # --quick validates in the evaluation steps only.
        warmup = max(1, min(CONFIG_WARMUP_ITERS, args.iters // 2))
        train_options += [
            f'train_cfg.max_iters={args.iters}',
            f'train_cfg.val_interval={args.iters + args.quick}',
            f'param_scheduler.0.end={warmup}',
            f'param_scheduler.1.begin={warmup}',
            f'param_scheduler.1.end={args.iters}',
            f'default_hooks.checkpoint.interval={args.iters}'
        ] + ['train_dataloader.batch_size=2'] * args.quick
    print(f'Training (full log: {work}/train.log) ...', flush=True)
    run([py, 'tools/train.py', CONFIG, '--work-dir', work] + train_options,
        log('train'))
    with open(osp.join(REPO, work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    if ckpt.startswith(REPO + os.sep):
        ckpt = osp.relpath(ckpt, REPO)
    # Evaluation progress every few images, not mmseg's default 50.
    test_options = options + [
        f'default_hooks.logger.interval={1 if args.quick else 10}'
    ]
    deploy_ckpt = osp.join(work, 'deploy.pth')
    deploy_cfg = osp.join(work, 'deploy.py')
    metrics = {}
    # The metrics files and deploy.pth/.py belong to this demo's work dir: a
    # rerun replaces them (--force).
    for form, config, checkpoint in (('train', CONFIG, ckpt),
                                     ('deploy', deploy_cfg, deploy_ckpt)):
        if form == 'deploy':
            run([
                py, 'tools/deploy/reparameterize.py', CONFIG, ckpt,
                deploy_ckpt, '--verify', '--shape', '128', '128', '--force'
            ], log('reparameterize'))
            with open(log('reparameterize')) as f:
                verify_line = [ln for ln in f
                               if ln.startswith('Verify')][-1].strip()
        out = osp.join(work, f'metrics_{form}_form.json')
        print(f'Evaluating the {form} form ...', flush=True)
        run([
            py, 'tools/test.py', config, checkpoint, '--work-dir', work,
            '--out-metrics', out, '--force'
        ] + test_options, log(f'test_{form}_form'))
        with open(osp.join(REPO, out)) as f:
            metrics[form] = json.load(f)
    m_train, m_deploy = metrics['train'], metrics['deploy']
    print('\n' + '=' * 64)
    print(f'mIoU, training form : {m_train["mIoU"]:.2f}')
    print(f'mIoU, deploy form   : {m_deploy["mIoU"]:.2f}')
    print(f'aAcc train / deploy : {m_train["aAcc"]:.2f} / '
          f'{m_deploy["aAcc"]:.2f}')
    print(verify_line)
    print(f'logs               : {work}/*.log (+ timestamped run dirs)')
    print(f'training checkpoint: {ckpt}')
    print(f'deploy checkpoint  : {deploy_ckpt}  (config {deploy_cfg})')
    print('=' * 64)
    if abs(m_train['mIoU'] - m_deploy['mIoU']) > 1e-6:
        sys.exit('error: mIoU of the two forms differ: re-parameterisation '
                 'is wrong')
    return 0


if __name__ == '__main__':
    sys.exit(main())
