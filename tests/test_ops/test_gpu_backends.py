"""``pytest -m gpu``: every back end of both ops natively on CUDA against
fp64 references (the correctness section of .dev_scripts/gpu_report.py, in
a subprocess with the Triton interpreter off). Skipped without CUDA, so
CPU-only CI never runs it."""
import json
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


def test_every_backend_matches_reference_on_cuda(tmp_path):
    env = dict(os.environ, TRITON_INTERPRET='0', PYTHONUNBUFFERED='1')
    proc = subprocess.run([
        sys.executable, '.dev_scripts/gpu_report.py', '--out-dir',
        str(tmp_path), '--device', 'cuda', '--sections', 'correctness'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    cases = json.loads(
        (tmp_path / 'correctness.json').read_text())['result']['cases']
    failed = [c for c in cases if not c['passed']]
    assert {c['impl'] for c in cases} == {'torch', 'fft', 'triton', 'auto'}
    assert not failed, failed
