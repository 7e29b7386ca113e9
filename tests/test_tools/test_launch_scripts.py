"""Launch scripts: tools/slurm_{train,test}.sh and tools/dist_{train,test}.sh,
thin wrappers around tools/launch.sh.

Argument handling is checked without a cluster: a fake ``srun`` on PATH (and
a fake interpreter through ``PYTHON``) records the argument vector it gets.
``tools/dist_test.sh`` is also run for real once (one gloo process).
"""
import os
import os.path as osp
import stat
import subprocess
import sys

import pytest
import torch

from tests.helpers.tools import REPO

RECORDER = """#!/usr/bin/env bash
# Records its arguments (NUL-separated) and PYTHONPATH, runs nothing.
printf '%s\\0' "$@" > "$RECORD_ARGS"
printf '%s' "$PYTHONPATH" > "$RECORD_ARGS.pythonpath"
"""


def _fake(tmp_path, name):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(RECORDER)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _run(script, args, tmp_path, **env_vars):
    record = str(tmp_path / 'args')
    env = dict(
        os.environ,
        RECORD_ARGS=record,
        PATH=str(tmp_path / 'bin') + os.pathsep + os.environ['PATH'])
    for key in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS',
                'NNODES', 'NODE_RANK', 'MASTER_ADDR', 'PORT', 'PYTHON'):
        env.pop(key, None)
    env.update(env_vars)
    proc = subprocess.run(
        ['bash', osp.join('tools', script)] + args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60)
    recorded = None
    if osp.exists(record):
        with open(record) as f:
            recorded = f.read().split('\0')[:-1]
    return proc, recorded


def _value(argv, flag):
    values = [a.split('=', 1)[1] for a in argv if a.startswith(flag + '=')]
    assert len(values) == 1, (flag, argv)
    return values[0]


@pytest.mark.parametrize('script,tool,fourth', [
    ('slurm_train.sh', 'train.py', 'work_dirs/run one'),
    ('slurm_test.sh', 'test.py', 'ckpt dir/iter_8.pth'),
])
def test_slurm_scripts_pass_arguments_to_srun(tmp_path, script, tool, fourth):
    _fake(tmp_path, 'srun')
    proc, argv = _run(
        script, [
            'gpu-part', 'my job', 'configs/a.py', fourth, '--cfg-options',
            'train_cfg.max_iters=4', '--x', 'two words'
        ],
        tmp_path,
        GPUS='16',
        GPUS_PER_NODE='4',
        CPUS_PER_TASK='3',
        SRUN_ARGS='--quotatype=auto --time=10',
        PYTHON='py3.11')
    assert proc.returncode == 0, proc.stderr
    assert argv[:2] == ['-p', 'gpu-part']
    assert _value(argv, '--job-name') == 'my job'
    assert _value(argv, '--gres') == 'gpu:4'
    assert _value(argv, '--ntasks') == '16'
    assert _value(argv, '--ntasks-per-node') == '4'
    assert _value(argv, '--cpus-per-task') == '3'
    assert '--kill-on-bad-exit=1' in argv
    # SRUN_ARGS become separate srun options, before the command.
    py = argv.index('py3.11')
    assert argv.index('--quotatype=auto') < py
    assert argv.index('--time=10') < py
    assert argv[py + 1] == '-u'
    assert argv[py + 2] == osp.join('tools', tool)
    assert argv[py + 3] == 'configs/a.py'
    if tool == 'train.py':
        assert argv[py + 4:py +
                    6] == ['--work-dir=work_dirs/run one', '--launcher=slurm']
    else:
        assert argv[py + 4:py + 6] == [fourth, '--launcher=slurm']
    # Extra arguments pass through unchanged (spaces kept).
    assert argv[py + 6:] == [
        '--cfg-options', 'train_cfg.max_iters=4', '--x', 'two words'
    ]
    with open(str(tmp_path / 'args') + '.pythonpath') as f:
        assert f.read().split(os.pathsep)[0] == 'tools/..'


def test_slurm_defaults_follow_openmmlab(tmp_path):
    _fake(tmp_path, 'srun')
    proc, argv = _run('slurm_train.sh', ['p', 'j', 'c.py', 'w'], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (_value(argv, '--gres'), _value(argv, '--ntasks'),
            _value(argv, '--ntasks-per-node'),
            _value(argv, '--cpus-per-task')) == ('gpu:8', '8', '8', '5')
    assert argv[argv.index('--kill-on-bad-exit=1') + 1] == 'python'


@pytest.mark.parametrize('script,tool,args', [
    ('dist_train.sh', 'train.py', ['configs/a.py', '4']),
    ('dist_test.sh', 'test.py', ['configs/a.py', 'c.pth', '4']),
])
def test_dist_scripts_multi_node_variables(tmp_path, script, tool, args):
    python = _fake(tmp_path, 'fake-python')
    proc, argv = _run(
        script,
        args + ['--work-dir', 'w d'],
        tmp_path,
        PYTHON=python,
        NNODES='2',
        NODE_RANK='1',
        MASTER_ADDR='10.1.2.3',
        PORT='29612')
    assert proc.returncode == 0, proc.stderr
    assert argv[:2] == ['-m', 'torch.distributed.run']
    assert _value(argv, '--nnodes') == '2'
    assert _value(argv, '--node_rank') == '1'
    assert _value(argv, '--master_addr') == '10.1.2.3'
    assert _value(argv, '--master_port') == '29612'
    assert _value(argv, '--nproc_per_node') == '4'
    start = argv.index(osp.join('tools', tool))
    assert argv[start + 1:] == args[:-1] + [
        '--launcher', 'pytorch', '--work-dir', 'w d'
    ]
    # Single-node defaults.
    proc, argv = _run(script, args, tmp_path, PYTHON=python)
    assert (_value(argv, '--nnodes'), _value(argv, '--node_rank'),
            _value(argv, '--master_addr'),
            _value(argv, '--master_port')) == ('1', '0', '127.0.0.1', '29500')


@pytest.mark.parametrize('script,args', [
    ('slurm_train.sh', ['p', 'j', 'c.py']),
    ('slurm_test.sh', ['p', 'j', 'c.py']),
    ('dist_train.sh', ['c.py']),
    ('dist_test.sh', ['c.py', 'ckpt.pth']),
])
def test_launch_scripts_reject_missing_arguments(tmp_path, script, args):
    _fake(tmp_path, 'srun')
    python = _fake(tmp_path, 'fake-python')
    proc, argv = _run(script, args, tmp_path, PYTHON=python)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: expected ')
    assert f'got {len(args)} argument(s)' in proc.stderr
    assert argv is None  # nothing was launched


def test_launch_body_rejects_an_unknown_launcher(tmp_path):
    python = _fake(tmp_path, 'fake-python')
    proc, argv = _run(
        'launch.sh', ['mpi', 'train', 'c.py', '2'], tmp_path, PYTHON=python)
    assert proc.returncode == 2 and argv is None
    assert proc.stderr.startswith('error: expected {dist|slurm} {train|test}')


@pytest.mark.slow
def test_dist_test_runs_one_gloo_process(synthetic_data, tmp_path):
    """tools/dist_test.sh end to end (one process): evaluates a checkpoint
    and writes the metrics."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from tests.helpers.tools import free_port
    config = 'tests/configs/upernet_orepa-r18_ade20k-synthetic.py'
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(osp.join(REPO, config)).model)
    ckpt = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    metrics = str(tmp_path / 'metrics.json')
    root = synthetic_data['ade20k']
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        PYTHONUNBUFFERED='1')
    proc = subprocess.run([
        'bash', 'tools/dist_test.sh', config, ckpt, '1', '--work-dir',
        str(tmp_path / 'work'), '--out-metrics', metrics, '--cfg-options',
        f'test_dataloader.dataset.data_root={root}'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'torch.distributed runs on gloo (1 processes)' in log
    import json
    with open(metrics) as f:
        assert 'mIoU' in json.load(f)
