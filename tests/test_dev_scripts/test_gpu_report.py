""".dev_scripts/gpu_report.py --quick: every section runs at tiny sizes on
CPU and writes its results before the next starts; a failing section is
recorded and the others still run; existing results are kept without
--force."""
import json

import pytest

from tests.helpers.tools import load_tool

SECTIONS = ('env', 'correctness', 'ops', 'replknet_train', 'upernet_infer',
            'orepa_train', 'shiftwise_train')


@pytest.fixture(scope='module')
def tool():
    return load_tool('.dev_scripts/gpu_report.py')


@pytest.mark.slow
def test_quick_report_runs_every_section(tool, tmp_path):
    out = tmp_path / 'report'
    assert tool.main(['--out-dir', str(out), '--quick']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert list(summary['sections']) == list(SECTIONS)
    assert {s['status'] for s in summary['sections'].values()} == {'done'}
    for name in SECTIONS:
        result = json.loads((out / f'{name}.json').read_text())['result']
        assert result and 'error' not in result, name
        assert (out / f'{name}.md').read_text().startswith('#')
    correctness = json.loads((out / 'correctness.json').read_text())
    cases = correctness['result']['cases']
    assert len(cases) >= 30 and all(c['passed'] for c in cases)
    assert {c['impl'] for c in cases} == {'torch', 'cpu', 'fft', 'auto'}
    ops = json.loads((out / 'ops.json').read_text())['result']['depthwise']
    for row in ops:
        assert set(row['times']) == {'torch', 'cpu', 'fft', 'auto'}
        for times in row['times'].values():
            for t in times.values():
                assert 0 < t['min'] <= t['median'] <= t['max']
        assert set(row['auto_picks'].values()) <= {'torch', 'cpu', 'fft'}
    names = [t['name'] for t in summary['targets']]
    assert any('auto vs the best single' in n for n in names)
    assert any('training step' in n for n in names)
    assert any('UperNet' in n for n in names)
    # Quick sizes are not the targets' shapes: no pass/fail claimed.
    assert {t['passed'] for t in summary['targets']} == {None}
    md = (out / 'summary.md').read_text()
    assert '## Targets' in md and 'quick sizes, not the target shapes' in md
    # Existing results are kept without --force.
    before = (out / 'summary.md').read_text()
    assert tool.main(['--out-dir', str(out), '--quick']) == 2
    assert (out / 'summary.md').read_text() == before


def test_failing_section_is_recorded_and_the_rest_run(tool, tmp_path,
                                                      monkeypatch):

    def broken(report):
        raise RuntimeError('simulated failure')

    monkeypatch.setitem(tool.RUNNERS, 'env', broken)
    out = tmp_path / 'report'
    assert tool.main([
        '--out-dir',
        str(out), '--quick', '--sections', 'env', 'replknet_train'
    ]) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['sections']['env']['status'] == 'error (RuntimeError)'
    assert summary['sections']['replknet_train']['status'] == 'done'
    assert 'simulated failure' in (out / 'env.md').read_text()


def test_out_of_budget_sections_are_not_run(tool, tmp_path):
    out = tmp_path / 'report'
    assert tool.main([
        '--out-dir',
        str(out), '--quick', '--budget', '0.001', '--sections', 'env', 'ops'
    ]) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert all(s['status'] == 'not run: out of time'
               for s in summary['sections'].values())
