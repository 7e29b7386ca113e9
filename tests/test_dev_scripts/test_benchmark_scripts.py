"""benchmark_shiftwise.py, benchmark_reparam.py, benchmark_slak.py and
benchmark_unireplknet.py in quick mode: the results they write (machine,
shapes, rounds, min/median/max of interleaved timings, flags) and their
refusal to replace result files without --force. Timings are written, never
asserted."""
import json

import pytest

from tests.helpers.tools import load_tool

STATS = {'min', 'median', 'max', 'repeats'}


def check_stats(stats, repeats):
    assert set(stats) == STATS
    assert stats['repeats'] == repeats
    assert 0 < stats['min'] <= stats['median'] <= stats['max']


def run_twice_then_force(tool, tmp_path, capsys, stem):
    """Run quick into ``tmp_path``; a second run refuses with one error
    line and leaves the files alone; ``--force`` replaces them."""
    argv = ['--quick', '--out-dir', str(tmp_path)]
    assert tool.main(argv) == 0
    paths = [tmp_path / f'{stem}.json', tmp_path / f'{stem}.md']
    assert all(p.is_file() for p in paths)
    capsys.readouterr()
    for p in paths:
        p.write_text('user file')
    assert tool.main(argv) == 2  # bad input (an existing result)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ')
    assert '--force' in err[0] and str(paths[0]) in err[0]
    assert all(p.read_text() == 'user file' for p in paths)
    assert tool.main(argv + ['--force']) == 0
    report = json.loads(paths[0].read_text())
    assert paths[1].read_text().startswith('# ')
    return report


def test_benchmark_shiftwise_quick(tmp_path, capsys):
    tool = load_tool('.dev_scripts/benchmark_shiftwise.py')
    report = run_twice_then_force(tool, tmp_path, capsys, 'shiftwise_cpu')
    assert {
        'machine', 'device', 'batch_size', 'repeats', 'warmup', 'add_shift',
        'layer', 'impossible'
    } <= set(report)
    assert report['machine']['torch'] and report['machine']['threads'] >= 1
    repeats = report['repeats']
    (row, ) = report['add_shift']
    assert len(row['input']) == 4 and len(row['table']) == 2
    assert {'reference forward', 'torch forward',
            'torch forward+backward'} <= set(row['times'])
    for stats in row['times'].values():
        check_stats(stats, repeats)
    layer = report['layer']
    assert len(layer['input']) == 4
    assert {
        'shift-wise (train form) forward',
        'shift-wise (train form) forward+backward',
        'shift-wise deploy (shift) inference',
        'shift-wise deploy (large_kernel) inference'
    } <= set(layer['times'])
    for stats in layer['times'].values():
        check_stats(stats, repeats)
    # The deploy forms compute the training form's eval output.
    assert max(layer['deploy_max_rel_diff'].values()) < 1e-5
    assert isinstance(report['impossible'], list)


def test_benchmark_reparam_quick(tmp_path, capsys):
    tool = load_tool('.dev_scripts/benchmark_reparam.py')
    report = run_twice_then_force(tool, tmp_path, capsys,
                                  'reparam_quick_64_cpu')
    assert {
        'machine', 'device', 'arch', 'input', 'repeats', 'warmup', 'results',
        'impossible'
    } <= set(report)
    assert report['input'] == '1x3x64x64'
    (row, ) = report['results']
    assert row['impl'] == 'torch'
    check_stats(row['train_form_s'], report['repeats'])
    check_stats(row['deploy_form_s'], report['repeats'])
    assert row['max_rel_diff'] < 1e-4


def test_benchmark_slak_quick(tmp_path, capsys):
    tool = load_tool('.dev_scripts/benchmark_slak.py')
    report = run_twice_then_force(tool, tmp_path, capsys, 'slak_quick_64_cpu')
    assert {
        'machine', 'device', 'arch', 'size', 'batch_size', 'impls', 'repeats',
        'warmup', 'layers', 'backbone', 'impossible'
    } <= set(report)
    names = [
        'official', 'training form, torch', "deploy 'decomposed', torch",
        "deploy 'large_kernel', torch"
    ]
    rows = report['layers']
    assert [r['input'] for r in rows] == [[1, 8, 16, 16], [1, 8, 8, 8],
                                          [1, 16, 4, 4], [1, 16, 2, 2]]
    assert [r['kernel'] for r in rows] == [51, 49, 47, 13]
    for row in rows + [report['backbone']]:
        assert list(row['times']) == names
        for stats in row['times'].values():
            check_stats(stats, report['repeats'])
        # Every form computes the official formulation.
        assert max(row['max_rel_diff'].values()) < 1e-5
    assert report['backbone']['input'] == [1, 3, 64, 64]
    assert isinstance(report['impossible'], list)
    flags = tool.impossible_results(
        'x', {
            'training form, torch': dict(median=1.0, min=1.0),
            "deploy 'decomposed', torch": dict(median=1.2, min=0.9)
        }, ['torch'])
    assert len(flags) == 1 and 'median' in flags[0]


def test_benchmark_unireplknet_quick(tmp_path, capsys):
    tool = load_tool('.dev_scripts/benchmark_unireplknet.py')
    report = run_twice_then_force(tool, tmp_path, capsys,
                                  'unireplknet_quick_cpu')
    assert {
        'machine', 'device', 'impl', 'repeats', 'warmup', 'results',
        'impossible'
    } <= set(report)
    assert report['impl'] == 'auto'
    (row, ) = report['results']
    for kind in ('inference', 'training'):
        assert row[kind]['input'] == [1, 3, 64, 64]
        times = row[kind]['times']
        assert set(times) == {'impl=auto', 'official'}
        for stats in times.values():
            check_stats(stats, report['repeats'])
        # Both variants compute the same function.
        assert row[kind]['max_rel_diff'] < 1e-4
    assert isinstance(report['impossible'], list)
    # The official formulation has no op-backed convolution left.
    from mmreplk.models.backbones import UniRepLKNet
    from mmreplk.models.layers import DepthwiseConv2d
    official = tool.official_formulation(UniRepLKNet(tool.QUICK_ARCH))
    assert not any(isinstance(m, DepthwiseConv2d) for m in official.modules())
    flags = tool.impossible_results([
        dict(
            arch='T',
            inference=dict(times={
                'impl=auto': dict(median=1.0),
                'official': dict(median=2.0)
            }),
            training=dict(times={
                'impl=auto': dict(median=3.0),
                'official': dict(median=2.0)
            }))
    ], 'auto')
    assert len(flags) == 1 and flags[0].startswith('T training')


def test_impossible_results_are_flagged():
    # The plausibility checks themselves, on made-up timings.
    shiftwise = load_tool('.dev_scripts/benchmark_shiftwise.py')
    slow_fwd = {
        'a forward': dict(median=2.0, min=1.0),
        'a forward+backward': dict(median=1.5, min=1.2)
    }
    flags = shiftwise.fwd_fwd_bwd_flags('x', slow_fwd,
                                        [('a forward', 'a forward+backward')])
    assert len(flags) == 1 and 'median' in flags[0]
    reparam = load_tool('.dev_scripts/benchmark_reparam.py')
    rows = [
        dict(
            impl='torch',
            train_form_s=dict(median=1.0, min=0.9),
            deploy_form_s=dict(median=0.8, min=0.95))
    ]
    (flag, ) = reparam.impossible_results(rows)
    assert 'min' in flag and 'strictly less work' in flag


@pytest.mark.parametrize('tool,args,match', [
    ('benchmark_shiftwise', ['--repeats', '0'], '--repeats must be >= 1'),
    ('benchmark_reparam', ['--impl', 'cuda'], 'unknown --impl cuda'),
    ('benchmark_reparam', ['--threads', '0'], '--threads must be >= 1'),
    ('benchmark_slak', ['--impl', 'gpu'], 'unknown --impl gpu'),
    ('benchmark_slak', ['--size', '100'], 'multiple of 32'),
])
def test_bad_arguments(tool, args, match, capsys):
    module = load_tool(f'.dev_scripts/{tool}.py')
    with pytest.raises(SystemExit) as exc:
        module.main(args)
    assert exc.value.code != 0
    assert match in capsys.readouterr().err
