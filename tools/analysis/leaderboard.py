#!/usr/bin/env python
"""Collect benchmark and evaluation results into a leaderboard.

    python tools/analysis/leaderboard.py \
        [--benchmarks benchmarks/models] [--metrics DIR] \
        [--published configs/published_results.yml] \
        [--out-dir benchmarks/leaderboard] [--metafile-dir configs/metafiles] \
        [--model-index model-index.yml] [--update-readme README.md]

Inputs:

* ``--benchmarks``: JSON files written by ``tools/analysis/benchmark.py``
  (``NAME.json`` for the training form, ``NAME-deploy.json`` for
  ``--deploy``);
* ``--metrics``: evaluation results named after the config, ``NAME.json``:
  either ``tools/test.py --out-metrics`` files or mmengine's JSON test log;
* ``--published``: the numbers published by the papers/official repos.

Outputs: ``leaderboard.md`` and ``leaderboard.csv`` in ``--out-dir``, an
OpenMMLab model-index ``metafile.yml`` per family plus the top-level
``model-index.yml``, and with ``--update-readme`` the table between the
``<!-- model-zoo:start -->`` / ``<!-- model-zoo:end -->`` markers of the
README. Published numbers only ever appear in the columns marked
*published*; measured numbers in the others.
"""
import argparse
import csv
import glob
import io
import json
import os.path as osp
import sys

import yaml

from mmreplk.utils import ToolInputError, atomic_write_bytes, tool_main

README_START = '<!-- model-zoo:start -->'
README_END = '<!-- model-zoo:end -->'
BACKBONE_FAMILY = dict(
    RepLKNet='replknet',
    OREPAResNet='orepa',
    OREPARepVGG='orepa',
    ShiftWiseNet='shiftwise',
    SLaK='slak',
    UniRepLKNet='unireplknet')
# mmseg reports percentages, mmdet fractions: shown as mmseg/mmdet tables do.
MEASURED_METRICS = {
    'mIoU': ('mIoU', 1.0),
    'aAcc': ('aAcc', 1.0),
    'coco/bbox_mAP': ('box AP', 100.0),
    'coco/segm_mAP': ('mask AP', 100.0)
}
DATASET_ORDER = dict(ADE20K=0, Cityscapes=1, COCO=2)
MAIN_METRICS = ('mIoU', 'mIoU(ms)', 'box AP', 'mask AP')


class LeaderboardError(ToolInputError):
    """An input file of the leaderboard is missing or malformed."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--benchmarks',
        default='benchmarks/models',
        help='directory of benchmark.py JSON files')
    parser.add_argument(
        '--metrics', help='directory of NAME.json '
        'evaluation results')
    parser.add_argument('--published', default='configs/published_results.yml')
    parser.add_argument('--out-dir', default='benchmarks/leaderboard')
    parser.add_argument('--metafile-dir', default='configs/metafiles')
    parser.add_argument('--model-index', default='model-index.yml')
    parser.add_argument('--update-readme', metavar='README')
    return parser.parse_args(argv)


def read_json(path):
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # mmengine's JSON log: one dict per line, the metrics in the last
        # line that has any of them.
        records = [
            json.loads(line) for line in text.splitlines()
            if line.strip().startswith('{')
        ]
        for record in reversed(records):
            if any(key in record for key in MEASURED_METRICS):
                return record
        raise LeaderboardError(f'{path}: neither a JSON document nor a '
                               'JSON log with evaluation metrics.')


def load_benchmarks(directory):
    if not osp.isdir(directory):
        raise LeaderboardError(f'Benchmark directory {directory!r} not '
                               'found; write results there with '
                               'tools/analysis/benchmark.py --out.')
    results = {}
    for path in sorted(glob.glob(osp.join(directory, '*.json'))):
        result = read_json(path)
        if not isinstance(result, dict) or 'params' not in result:
            raise LeaderboardError(f'{path} is not a benchmark.py result.')
        form = 'deploy' if result['deploy'] else 'train'
        results.setdefault(result['name'], {})[form] = result
    return results


def load_metrics(directory):
    if directory is None:
        return {}
    if not osp.isdir(directory):
        raise LeaderboardError(f'Metrics directory {directory!r} not found.')
    metrics = {}
    for path in sorted(glob.glob(osp.join(directory, '*.json'))):
        name = osp.splitext(osp.basename(path))[0]
        values = {}
        for key, value in read_json(path).items():
            if key in MEASURED_METRICS:
                label, scale = MEASURED_METRICS[key]
                values[label] = round(float(value) * scale, 2)
        if not values:
            raise LeaderboardError(f'{path} holds none of the metrics '
                                   f'{sorted(MEASURED_METRICS)}.')
        metrics[name] = values
    return metrics


def load_published(path):
    if not osp.isfile(path):
        raise LeaderboardError(f'Published-results file {path!r} not found.')
    with open(path) as f:
        data = yaml.safe_load(f)
    for name, entry in data['models'].items():
        if entry.get('family') not in data['families']:
            raise LeaderboardError(f'{path}: {name} has unknown family '
                                   f"{entry.get('family')!r}.")
    return data


def build_rows(benchmarks, metrics, published):
    names = sorted(set(benchmarks) | set(metrics) | set(published['models']))
    rows = []
    for name in names:
        bench = benchmarks.get(name, {})
        any_bench = bench.get('deploy') or bench.get('train')
        entry = published['models'].get(name, {})
        family = entry.get('family') or (BACKBONE_FAMILY.get(
            any_bench['backbone']['type']) if any_bench else None)
        if family is None:
            raise LeaderboardError(
                f'{name}: no family; add it to the published-results file '
                'or benchmark it with a known backbone.')
        config = any_bench['config'] if any_bench else f'configs/{name}.py'
        rows.append(
            dict(
                name=name,
                family=family,
                config=config,
                entry=entry,
                train=bench.get('train'),
                deploy=bench.get('deploy'),
                measured=metrics.get(name, {})))
    order = {f: i for i, f in enumerate(published['families'])}
    rows.sort(key=lambda r:
              (order.get(r['family'], 99),
               DATASET_ORDER.get(r['entry'].get('dataset'), 9), r['name']))
    return rows


def _millions(result):
    return None if result is None else result['params']['total'] / 1e6


def _giga_flops(result):
    if result is None or result['flops'] is None:
        return None
    return result['flops']['total'] / 1e9


def _flops_text(result):
    total = _giga_flops(result)
    if total is None:
        return '-'
    return f"{total:.1f} / {result['flops']['backbone'] / 1e9:.1f}"


def _fmt(value, digits=1):
    return '-' if value is None else f'{value:.{digits}f}'


def _metrics_text(values, keys=MAIN_METRICS):
    parts = [f'{k} {values[k]}' for k in keys if k in values]
    return ', '.join(parts) if parts else '-'


def _shape(result):
    return 'x'.join(str(s) for s in result['input_shape'][2:]) \
        if result else '-'


def _device(result):
    if result is None:
        return '-'
    machine = result['machine']
    return machine.get('gpu') or machine.get('cpu') or result['device']


def markdown_table(rows):
    lines = [
        '| config | backbone | dataset | params (M) train / deploy | '
        'FLOPs (G) deploy: total / backbone | input | latency (ms) deploy | '
        'metric (measured here) | **published** metric | '
        '**published** params / FLOPs | note |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for row in rows:
        entry, train, deploy = row['entry'], row['train'], row['deploy']
        pub = entry.get('published', {})
        pub_cost = '-'
        if 'params(M)' in pub:
            pub_cost = f"{pub['params(M)']}M / {pub['FLOPs(G)']}G"
            if entry.get('published_flops_shape'):
                pub_cost += f" @{entry['published_flops_shape']}"
        note = entry.get('reference_note', '')
        if entry.get('reference'):
            note = (f"reference {_metrics_text(entry['reference'])}: "
                    f'{note}')
        elif not pub or not any(k in pub for k in MAIN_METRICS):
            note = entry.get('source', '')
        lines.append('| ' + ' | '.join([
            f"`{row['config']}`",
            entry.get('backbone', '-'),
            entry.get('dataset', '-'),
            f'{_fmt(_millions(train))} / {_fmt(_millions(deploy))}',
            _flops_text(deploy),
            _shape(deploy or train),
            _fmt(deploy['latency_ms']['median'], 0) if deploy else '-',
            _metrics_text(row['measured']),
            _metrics_text(pub), pub_cost,
            note.replace('|', '/')
        ]) + ' |')
    return '\n'.join(lines)


def machines_text(rows):
    seen = {}
    for row in rows:
        for result in (row['train'], row['deploy']):
            if result:
                key = (_device(result), result['machine']['torch'])
                seen[key] = result['machine']
    return '; '.join(f'{device} (torch {torch})' for device, torch in seen)


def markdown_document(rows):
    return '\n'.join([
        '# Leaderboard', '',
        'Generated by `tools/analysis/leaderboard.py`; do not edit by hand.',
        'Columns marked **published** are the papers\' / official '
        'repositories\' numbers, copied from `configs/published_results.yml`;'
        ' every other number was measured by this project with '
        '`tools/analysis/benchmark.py` (params, FLOPs with mmengine\'s '
        'FlopAnalyzer, one multiply-add = one FLOP, latency = median '
        "forward in mode='tensor'; two-stage detectors with the RPN's NMS "
        'off, i.e. at max_per_img proposals) and `tools/test.py '
        '--out-metrics` (metrics).', '',
        f'Measured on: {machines_text(rows) or "-"}.', '',
        markdown_table(rows), ''
    ])


def csv_text(rows):
    metric_keys = sorted({k for r in rows for k in r['measured']})
    pub_keys = sorted(
        {k
         for r in rows
         for k in r['entry'].get('published', {})})
    ref_keys = sorted(
        {k
         for r in rows
         for k in r['entry'].get('reference', {})})
    header = ([
        'config', 'family', 'backbone', 'dataset', 'input', 'params_train_M',
        'params_deploy_M', 'flops_train_G', 'flops_deploy_G',
        'latency_train_ms', 'latency_deploy_ms', 'device'
    ] + [f'measured_{k}'
         for k in metric_keys] + [f'published_{k}' for k in pub_keys] +
              [f'reference_{k}' for k in ref_keys])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(header)
    for row in rows:
        entry, train, deploy = row['entry'], row['train'], row['deploy']
        writer.writerow(
            [
                row['config'], row['family'],
                entry.get('backbone', ''),
                entry.get('dataset', ''),
                _shape(deploy or train),
                _fmt(_millions(train), 3),
                _fmt(_millions(deploy), 3),
                _fmt(_giga_flops(train), 3),
                _fmt(_giga_flops(deploy), 3),
                _fmt(train and train['latency_ms']['median'], 1),
                _fmt(deploy and deploy['latency_ms']['median'], 1),
                _device(deploy or train)
            ] + [row['measured'].get(k, '') for k in metric_keys] +
            [entry.get('published', {}).get(k, '') for k in pub_keys] +
            [entry.get('reference', {}).get(k, '') for k in ref_keys])
    return buffer.getvalue()


def model_index_entry(row, collection):
    entry, train, deploy = row['entry'], row['train'], row['deploy']
    metadata = {}
    for key, value in (('Backbone', entry.get('backbone')),
                       ('Pretrain', entry.get('pretrain')),
                       ('Training Data', entry.get('dataset'))):
        if value:
            metadata[key] = value
    if train:
        metadata['Parameters (M, training form)'] = round(_millions(train), 2)
    if deploy:
        metadata['Parameters (M, deploy form)'] = round(_millions(deploy), 2)
        if _giga_flops(deploy) is not None:
            metadata['FLOPs (G, deploy form)'] = round(_giga_flops(deploy), 2)
        metadata['inference time (ms/im)'] = [
            dict(
                value=round(deploy['latency_ms']['median'], 1),
                hardware=_device(deploy),
                backend=f"PyTorch {deploy['machine']['torch']}",
                **{'batch size': deploy['input_shape'][0]},
                mode='FP32',
                resolution=f'({_shape(deploy).replace("x", ",")})')
        ]
    results = []
    task, dataset = entry.get('task'), entry.get('dataset')
    if row['measured']:
        results.append(
            dict(
                Task=task,
                Dataset=dataset,
                Metrics=dict(row['measured']),
                Source='measured by mmreplk (tools/test.py)'))
    published = {
        k: v
        for k, v in entry.get('published', {}).items() if k in MAIN_METRICS
    }
    if published:
        results.append(
            dict(
                Task=task,
                Dataset=dataset,
                Metrics=published,
                Source=f"published: {entry.get('source')}; "
                'not reproduced by mmreplk'))
    model = dict(
        Name=row['name'],
        **{'In Collection': collection},
        Config=row['config'],
        Metadata=metadata)
    if results:
        model['Results'] = results
    return model


def metafiles(rows, published):
    files = {}
    for family, info in published['families'].items():
        family_rows = [r for r in rows if r['family'] == family]
        if not family_rows:
            continue
        collection = dict(
            Name=info['collection'],
            Metadata=dict(Architecture=list(info.get('architecture', []))),
            Paper=dict(Title=info['paper']['title'], URL=info['paper']['url']),
            README='configs/README.md',
            Code=dict(URL=info['code']))
        files[family] = dict(
            Collections=[collection],
            Models=[
                model_index_entry(r, info['collection']) for r in family_rows
            ])
    return files


def replace_between_markers(text, table, path):
    if README_START not in text or README_END not in text:
        raise LeaderboardError(
            f'{path} has no {README_START} ... {README_END} markers; add '
            'them where the model-zoo table belongs.')
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f'{head}{README_START}\n{table}\n{README_END}{tail}'


def _write(path, text):
    atomic_write_bytes(text.encode(), path)
    print(f'wrote {path}')


@tool_main
def main(argv=None):
    args = parse_args(argv)
    try:
        published = load_published(args.published)
        rows = build_rows(
            load_benchmarks(args.benchmarks), load_metrics(args.metrics),
            published)
    except (KeyError, yaml.YAMLError) as err:  # a malformed input file
        raise LeaderboardError(str(err)) from err
    readme = None
    if args.update_readme:
        if not osp.isfile(args.update_readme):
            raise LeaderboardError(f'README {args.update_readme!r} not found.')
        with open(args.update_readme) as f:
            readme = replace_between_markers(f.read(), markdown_table(rows),
                                             args.update_readme)
    _write(osp.join(args.out_dir, 'leaderboard.md'), markdown_document(rows))
    _write(osp.join(args.out_dir, 'leaderboard.csv'), csv_text(rows))
    imports = []
    for family, content in metafiles(rows, published).items():
        path = osp.join(args.metafile_dir, family, 'metafile.yml')
        _write(path,
               yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
        imports.append(
            osp.relpath(path, osp.dirname(osp.abspath(args.model_index))))
    _write(args.model_index,
           yaml.safe_dump(dict(Import=imports), sort_keys=False))
    if readme is not None:
        _write(args.update_readme, readme)


if __name__ == '__main__':
    sys.exit(main())
