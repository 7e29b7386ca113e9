import os

# Triton kernels run on CPU tensors through Triton's interpreter in tests.
# It must be switched on before triton is first imported. (AOT compilation
# runs in a subprocess with the interpreter off.)
os.environ['TRITON_INTERPRET'] = '1'
# Parallel workers (pytest-xdist, ``make test``) share the cores: each worker
# and the tools it runs get their share of threads (read by torch when it is
# first imported, below), so the workers do not oversubscribe the machine.
if 'PYTEST_XDIST_WORKER_COUNT' in os.environ:
    workers = int(os.environ['PYTEST_XDIST_WORKER_COUNT'])
    os.environ.setdefault('OMP_NUM_THREADS',
                          str(max(1, (os.cpu_count() or 1) // workers)))

import pytest  # noqa: E402

from mmreplk.ops import AUTOTUNER  # noqa: E402
from tests.helpers.tools import run_tool  # noqa: E402


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


@pytest.fixture(autouse=True)
def dispatch_timer_unchanged():
    """A test that leaves another timer in the shared autotuner (a test
    module imported in-process, a forgotten monkeypatch) fails itself
    instead of every later test that measures."""
    timer = AUTOTUNER.timer
    yield
    leaked = AUTOTUNER.timer
    AUTOTUNER.timer = timer
    assert leaked is timer, f'the test left AUTOTUNER.timer = {leaked!r}'


@pytest.fixture(scope='session')
def synthetic_data(tmp_path_factory):
    """Synthetic ADE20K, Cityscapes and COCO written by the real tool."""
    root = tmp_path_factory.mktemp('data')
    paths = dict(
        ade20k=root / 'ade' / 'ADEChallengeData2016',
        cityscapes=root / 'cityscapes',
        coco=root / 'coco')
    sizes = dict(
        ade20k=['--size', '128', '96'],
        cityscapes=['--size', '128', '64'],
        coco=['--size', '128', '96'])
    for name, path in paths.items():
        run_tool([
            'tools/dataset_converters/make_synthetic.py', name,
            str(path), '--num', '8', '--num-val', '2'
        ] + sizes[name])
    return {k: str(v) for k, v in paths.items()}
