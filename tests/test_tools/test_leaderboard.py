"""tools/analysis/leaderboard.py: benchmark JSONs + evaluation results +
published numbers -> markdown, CSV, model-index metafiles, README table."""
import csv
import glob
import json
import os.path as osp
import re
import shutil

import yaml

from tests.helpers.tools import REPO, load_tool

TOOL = 'tools/analysis/leaderboard.py'


def _outputs(tmp_path):
    return [
        '--out-dir',
        str(tmp_path / 'lb'), '--metafile-dir',
        str(tmp_path / 'meta'), '--model-index',
        str(tmp_path / 'model-index.yml')
    ]


def _row(markdown, config):
    header = next(line for line in markdown.splitlines()
                  if line.startswith('| config'))
    names = [c.strip() for c in header.strip('|').split('|')]
    line = next(line for line in markdown.splitlines()
                if f'`configs/{config}.py`' in line)
    return dict(zip(names, [c.strip() for c in line.strip('|').split('|')]))


def test_leaderboard_keeps_measured_and_published_apart(tmp_path):
    metrics = tmp_path / 'metrics'
    metrics.mkdir()
    # tools/test.py --out-metrics form (mmseg: percentages)
    (metrics / 'upernet_replknet31b_ade20k.json').write_text(
        json.dumps(dict(aAcc=80.0, mIoU=45.5, mAcc=55.0)))
    # mmengine JSON-log form (mmdet: fractions)
    (metrics / 'cascade_mask_rcnn_replknet31b_coco.json').write_text(
        '{"lr": 0.1, "step": 1}\n'
        '{"coco/bbox_mAP": 0.512, "coco/segm_mAP": 0.443, "step": 1}\n')
    readme = tmp_path / 'README.md'
    readme.write_text('# title\n\nbefore\n<!-- model-zoo:start -->\nold '
                      'table\n<!-- model-zoo:end -->\nafter\n')
    assert load_tool(TOOL).main(
        ['--metrics',
         str(metrics), '--update-readme',
         str(readme)] + _outputs(tmp_path)) == 0

    markdown = (tmp_path / 'lb' / 'leaderboard.md').read_text()
    seg = _row(markdown, 'upernet_replknet31b_ade20k')
    assert seg['metric (measured here)'] == 'mIoU 45.5'
    assert seg['**published** metric'] == 'mIoU 49.9, mIoU(ms) 50.6'
    det = _row(markdown, 'cascade_mask_rcnn_replknet31b_coco')
    assert det['metric (measured here)'] == 'box AP 51.2, mask AP 44.3'
    assert det['**published** metric'] == 'box AP 52.2, mask AP 45.2'
    orepa = _row(markdown, 'upernet_orepa_resnet50_ade20k')
    assert orepa['**published** metric'] == '-'  # a reference is no result
    assert 'reference mIoU 42.05' in orepa['note']

    with open(tmp_path / 'lb' / 'leaderboard.csv') as f:
        rows = {r['config']: r for r in csv.DictReader(f)}
    row = rows['configs/upernet_replknet31b_ade20k.py']
    assert float(row['measured_mIoU']) == 45.5
    assert float(row['published_mIoU']) == 49.9
    with open(
            osp.join(REPO, 'benchmarks/models/'
                     'upernet_replknet31b_ade20k.json')) as f:
        bench = json.load(f)
    assert float(row['params_train_M']) == round(
        bench['params']['total'] / 1e6, 3)

    index = yaml.safe_load((tmp_path / 'model-index.yml').read_text())
    families = set()
    for path in index['Import']:
        meta = yaml.safe_load(open(osp.join(tmp_path, path)))
        families.add(meta['Collections'][0]['Name'])
        for model in meta['Models']:
            assert osp.isfile(osp.join(REPO, model['Config']))
            if model['Name'] == 'upernet_replknet31b_ade20k':
                sources = [r['Source'] for r in model['Results']]
                assert sources[0].startswith('measured')
                assert sources[1].startswith('published')
                assert model['Results'][0]['Metrics'] == dict(
                    mIoU=45.5, aAcc=80.0)
    with open(osp.join(REPO, 'configs/published_results.yml')) as f:
        published = yaml.safe_load(f)['families']
    assert families == {info['collection'] for info in published.values()}

    text = readme.read_text()
    assert text.startswith('# title\n\nbefore\n<!-- model-zoo:start -->\n')
    assert text.endswith('<!-- model-zoo:end -->\nafter\n')
    assert 'old table' not in text and '| config |' in text


def test_leaderboard_errors(tmp_path, capsys):
    # In-process (the tool's main, wrapped by tool_main, returns the exit
    # status): three subprocesses' start-up would cost more than the checks.
    leaderboard = load_tool(TOOL)

    def run(args):
        status = leaderboard.main(args + _outputs(tmp_path))
        return status, capsys.readouterr().err

    readme = tmp_path / 'README.md'
    readme.write_text('no markers here\n')
    status, err = run(['--update-readme', str(readme)])
    assert status == 2 and 'model-zoo:start' in err
    assert readme.read_text() == 'no markers here\n'  # untouched
    assert not (tmp_path / 'lb').exists()  # nothing half-written

    status, err = run(['--benchmarks', str(tmp_path / 'nope')])
    assert status == 2 and 'nope' in err

    bad = tmp_path / 'metrics'
    bad.mkdir()
    (bad / 'x.json').write_text('{"loss": 1.0}')
    status, err = run(['--metrics', str(bad)])
    assert status == 2 and 'holds none of the metrics' in err

    # Every row needs its entry in the one published-results file.
    (bad / 'x.json').write_text('{"mIoU": 40.0}')
    status, err = run(['--metrics', str(bad)])
    assert status == 2 and 'x: no entry in the published-results file' in err


def test_committed_leaderboard_and_readmes_are_generated(tmp_path):
    """The model-zoo tables of README.md and configs/README.md, the
    committed leaderboard and metafiles are exactly what the tool makes
    from the committed results."""
    readmes = [tmp_path / 'README.md', tmp_path / 'configs_README.md']
    for copy, path in zip(readmes, ('README.md', 'configs/README.md')):
        shutil.copy(osp.join(REPO, path), copy)
    assert load_tool(TOOL).main(['--update-readme', *map(str, readmes)] +
                                _outputs(tmp_path)) == 0
    for copy, path in zip(readmes, ('README.md', 'configs/README.md')):
        assert copy.read_text() == open(osp.join(REPO, path)).read(), path
    assert (tmp_path / 'lb' / 'leaderboard.md').read_text() == open(
        osp.join(REPO, 'benchmarks/leaderboard/leaderboard.md')).read()
    with open(osp.join(REPO, 'configs/published_results.yml')) as f:
        families = yaml.safe_load(f)['families']
    for family in families:
        assert (tmp_path / 'meta' / family / 'metafile.yml').read_text() \
            == open(osp.join(REPO, 'configs/metafiles', family,
                             'metafile.yml')).read()


def _numbers(values):
    return {str(v) for v in values if isinstance(v, (int, float))}


def test_published_numbers_are_written_in_one_place():
    """configs/published_results.yml is the one hand-edited source: no
    config header and no hand-written part of configs/README.md restates a
    published or reference number; every config header points to it."""
    with open(osp.join(REPO, 'configs/published_results.yml')) as f:
        models = yaml.safe_load(f)['models']
    numbers = set()
    for entry in models.values():
        for key in ('published', 'reference'):
            numbers |= _numbers(entry.get(key, {}).values())
    numbers -= {'0'}
    texts = {}
    for config in glob.glob(osp.join(REPO, 'configs', '*.py')):
        with open(config) as f:
            header = ''.join(iter(lambda: f.readline(),
                                  '')).split('\n_base_')[0]
        assert 'configs/published_results.yml' in header, config
        texts[config] = header
    with open(osp.join(REPO, 'configs', 'README.md')) as f:
        readme = f.read()
    texts['configs/README.md'] = readme.split('<!-- model-zoo:start -->')[0]
    for path, text in texts.items():
        words = set(re.findall(r'\d+(?:\.\d+)?', text))
        restated = sorted(n for n in numbers & words if '.' in n)
        assert not restated, (path, restated)
