"""Running the repository's tools from tests."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_tool(args, cwd=REPO, timeout=900, check=True):
    """Run a repository tool with this interpreter; return the process."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable] + list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}'
            f'\nstderr:\n{proc.stderr[-4000:]}')
    return proc


def load_tool(path):
    """Import a script under tools/ as a module (to call its ``main(argv)``
    in-process, without a subprocess's start-up time)."""
    name = 'tool_' + osp.splitext(path)[0].replace('/', '_').replace('.', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    # As when run as a script: its folder first on the path (the developer
    # benchmarks import their shared command line from a sibling module).
    sys.path.insert(0, osp.dirname(osp.join(REPO, path)))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def seg_options(data_root, iters, extra=()):
    """``--cfg-options`` that point a segmentation config at ``data_root``
    and train ``iters`` iterations quickly (batch 2, no workers)."""
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        'default_hooks.logger.interval=1', 'randomness.seed=0', *extra
    ]


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
