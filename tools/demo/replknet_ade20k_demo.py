#!/usr/bin/env python
"""`make demo`: the whole RepLKNet workflow on CPU in about ten minutes.

1. writes a synthetic ADE20K (tools/dataset_converters/make_synthetic.py),
2. trains configs/demo/upernet_replknet-tiny_ade20k-synthetic.py
   (tools/train.py),
3. evaluates mIoU of the training-form checkpoint (tools/test.py),
4. re-parameterises it (tools/deploy/reparameterize.py --verify),
5. evaluates the deploy-form checkpoint with the deploy config,
and prints both mIoU values (they must be equal) and where everything is.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/demo/upernet_replknet-tiny_ade20k-synthetic.py'
DATA_ROOT = 'data/synthetic/ade/ADEChallengeData2016'


def run(cmd, log_path=None):
    print('$ ' + ' '.join(cmd), flush=True)
    start = time.time()
    if log_path:
        with open(log_path, 'w') as log:
            proc = subprocess.run(cmd, cwd=REPO, stdout=log,
                                  stderr=subprocess.STDOUT)
    else:
        proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode != 0:
        tail = ''
        if log_path:
            with open(log_path) as f:
                tail = ''.join(f.readlines()[-30:])
        sys.exit(f'{tail}\nCommand failed ({proc.returncode}): '
                 f'{" ".join(cmd)}' + (f'\nLog: {log_path}' if log_path
                                       else ''))
    print(f'  done in {time.time() - start:.0f} s', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--num-train', type=int, default=96)
    parser.add_argument('--iters', type=int, default=None,
                        help='override max_iters (default: the config)')
    args = parser.parse_args(argv)
    py = sys.executable
    work_dir = args.work_dir
    os.makedirs(osp.join(REPO, work_dir), exist_ok=True)
    if not osp.isdir(osp.join(REPO, DATA_ROOT, 'images')):
        run([py, 'tools/dataset_converters/make_synthetic.py', 'ade20k',
             DATA_ROOT, '--num', str(args.num_train)])
    train_cmd = [py, 'tools/train.py', CONFIG, '--work-dir', work_dir]
    if args.iters:
        # The poly schedule's end was fixed when the config was parsed.
        train_cmd += ['--cfg-options', f'train_cfg.max_iters={args.iters}',
                      f'train_cfg.val_interval={args.iters}',
                      f'param_scheduler.1.end={args.iters}',
                      f'default_hooks.checkpoint.interval={args.iters}']
    print('Training (log: %s/train.log) ...' % work_dir, flush=True)
    run(train_cmd, osp.join(REPO, work_dir, 'train.log'))
    with open(osp.join(REPO, work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    ckpt = osp.relpath(ckpt, REPO) if osp.isabs(ckpt) else ckpt

    train_metrics = osp.join(work_dir, 'metrics_train_form.json')
    run([py, 'tools/test.py', CONFIG, ckpt, '--work-dir', work_dir,
         '--out-metrics', train_metrics],
        osp.join(REPO, work_dir, 'test_train_form.log'))

    deploy_ckpt = osp.join(work_dir, 'deploy.pth')
    deploy_cfg = osp.join(work_dir, 'deploy.py')
    run([py, 'tools/deploy/reparameterize.py', CONFIG, ckpt, deploy_ckpt,
         '--verify', '--shape', '128', '128'],
        osp.join(REPO, work_dir, 'reparameterize.log'))
    with open(osp.join(REPO, work_dir, 'reparameterize.log')) as f:
        verify_line = [l for l in f if l.startswith('Verify')][-1].strip()

    deploy_metrics = osp.join(work_dir, 'metrics_deploy_form.json')
    run([py, 'tools/test.py', deploy_cfg, deploy_ckpt, '--work-dir',
         work_dir, '--out-metrics', deploy_metrics],
        osp.join(REPO, work_dir, 'test_deploy_form.log'))

    with open(osp.join(REPO, train_metrics)) as f:
        m_train = json.load(f)
    with open(osp.join(REPO, deploy_metrics)) as f:
        m_deploy = json.load(f)
    print('\n' + '=' * 64)
    print(f'mIoU, training form : {m_train["mIoU"]:.2f}')
    print(f'mIoU, deploy form   : {m_deploy["mIoU"]:.2f}')
    print(f'aAcc train / deploy : {m_train["aAcc"]:.2f} / '
          f'{m_deploy["aAcc"]:.2f}')
    print(verify_line)
    print(f'logs               : {work_dir}/*.log (+ timestamped run dirs)')
    print(f'training checkpoint: {ckpt}')
    print(f'deploy checkpoint  : {deploy_ckpt}  (config {deploy_cfg})')
    print('=' * 64)
    if abs(m_train['mIoU'] - m_deploy['mIoU']) > 1e-6:
        sys.exit('mIoU of the two forms differ: re-parameterisation is wrong')
    return 0


if __name__ == '__main__':
    sys.exit(main())
