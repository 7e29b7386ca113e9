import os
import os.path as osp
import subprocess
import sys

# Triton kernels run on CPU tensors through Triton's interpreter in tests.
# It must be switched on before triton is first imported. (AOT compilation
# runs in a subprocess with the interpreter off.)
os.environ['TRITON_INTERPRET'] = '1'

import pytest  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'gpu: runs on a CUDA device (skipped without one); run '
        'them with `pytest -m gpu`')


@pytest.fixture(scope='session', autouse=True)
def shared_dispatch_cache(tmp_path_factory):
    """One persisted back-end cache for the whole session (inherited by the
    tools run in subprocesses), so runs that are compared bit for bit make
    the same impl='auto' choices (mmreplk.ops.dispatch)."""
    if 'MMREPLK_DISPATCH_CACHE' in os.environ:
        yield
        return
    path = tmp_path_factory.mktemp('dispatch') / 'choices.json'
    os.environ['MMREPLK_DISPATCH_CACHE'] = str(path)
    yield
    os.environ.pop('MMREPLK_DISPATCH_CACHE', None)


def run_tool(args, cwd=REPO, timeout=900, check=True):
    """Run a repository tool with this interpreter; return the process."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable] + list(args), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}'
            f'\nstderr:\n{proc.stderr[-4000:]}')
    return proc


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """Synthetic ADE20K, Cityscapes and COCO written by the real tool."""
    root = tmp_path_factory.mktemp('data')
    paths = dict(ade20k=root / 'ade' / 'ADEChallengeData2016',
                 cityscapes=root / 'cityscapes', coco=root / 'coco')
    sizes = dict(ade20k=['--size', '128', '96'],
                 cityscapes=['--size', '128', '64'],
                 coco=['--size', '128', '96'])
    for name, path in paths.items():
        run_tool(['tools/dataset_converters/make_synthetic.py', name,
                  str(path), '--num', '8', '--num-val', '2'] + sizes[name])
    return {k: str(v) for k, v in paths.items()}


def load_tool(path):
    """Import a script under tools/ as a module (to call its ``main(argv)``
    in-process, without a subprocess's start-up time)."""
    import importlib.util
    name = 'tool_' + osp.splitext(path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
