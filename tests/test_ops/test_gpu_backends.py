"""``pytest -m gpu``: every back end natively on CUDA against fp64
references (tests/gpu_check_backends.py, in a subprocess with the Triton
interpreter off). Skipped without CUDA, so CPU-only CI never runs it."""
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers.tools import REPO

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA device'),
]


def test_every_backend_matches_reference_on_cuda():
    env = dict(os.environ, TRITON_INTERPRET='0', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable,
         os.path.join('tests', 'gpu_check_backends.py')],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert '\n0 failure(s)' in '\n' + proc.stdout
