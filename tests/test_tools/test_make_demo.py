"""tools/demo/replknet_ade20k_demo.py (`make demo`): its console progress
lines, and the whole workflow once in --quick mode."""
import json
import re

import pytest
import torch

from tests.helpers.tools import load_tool, run_tool

DEMO = 'tools/demo/replknet_ade20k_demo.py'


def test_progress_line_keeps_counter_eta_loss_and_metrics():
    demo = load_tool(DEMO)
    train = ('11/29 01:23:02 - mmengine - INFO - Iter(train) [ 50/600]  '
             'base_lr: 1.0e-04 lr: 1.0e-04  eta: 0:04:10  time: 0.4512  '
             'data_time: 0.0100  memory: 0  loss: 2.1234  '
             'decode.loss_ce: 1.5000  decode.acc_seg: 10.0000')
    assert demo.progress_line(train) == (
        '  Iter(train) [ 50/600]  eta: 0:04:10  time: 0.4512  loss: 2.1234')
    test = ('11/29 01:30:00 - mmengine - INFO - Iter(test) [24/24]    '
            'aAcc: 61.2000  mIoU: 20.5100  mAcc: 30.0000  data_time: 0.01  '
            'time: 0.2000')
    assert demo.progress_line(test) == (
        '  Iter(test) [24/24]  aAcc: 61.2000  mIoU: 20.5100  time: 0.2000')
    assert demo.progress_line('11/29 01:23:02 - mmengine - INFO - '
                              'Checkpoints will be saved to work') is None


@pytest.mark.slow
def test_demo_quick_runs_every_step(tmp_path):
    proc = run_tool([
        DEMO, '--quick', '--work-dir',
        str(tmp_path / 'demo'), '--data-root',
        str(tmp_path / 'ade')
    ],
                    timeout=600)
    out = proc.stdout
    # Training progress streamed to the console, with the ETA.
    assert re.search(r'Iter\(train\) \[1/2\]\s+eta: \S+', out), out
    assert re.search(r'Iter\(train\) \[2/2\]', out)
    # Evaluation progress of both forms and the final summary.
    assert len(re.findall(r'Iter\(test\) \[2/2\]\s+eta', out)) == 2, out
    assert len(re.findall(r'Iter\(test\) \[2/2\]\s+aAcc: \S+\s+mIoU',
                          out)) == 2, out
    for line in ('mIoU, training form', 'mIoU, deploy form', 'Verify:'):
        assert line in out
    # The workflow's own results (this run is also the suite's end-to-end
    # check of tools/train.py -> test.py -> reparameterize.py -> test.py on
    # a RepLKNet segmentor).
    demo = tmp_path / 'demo'
    rel = float(out.split('Verify:')[1].split('relative ')[1].split(')')[0])
    assert rel <= 1e-4, out
    m_train = json.loads((demo / 'metrics_train_form.json').read_text())
    m_deploy = json.loads((demo / 'metrics_deploy_form.json').read_text())
    assert set(m_train) >= {'mIoU', 'aAcc', 'mAcc'}
    assert m_train['mIoU'] == pytest.approx(m_deploy['mIoU'], abs=1e-6)
    state = torch.load(demo / 'deploy.pth', weights_only=True)['state_dict']
    assert any('reparam_conv' in k for k in state)
    assert not any('large_conv' in k for k in state)
    assert (demo / 'deploy.py').is_file()
