#!/usr/bin/env python
"""Collect benchmark and evaluation results into a leaderboard.

benchmark.py results, evaluation metrics and the hand-edited published
numbers become leaderboard.md/.csv, model-index metafiles and the model-zoo
tables of the READMEs (docs/tools.md).
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
    parser.add_argument('--benchmarks', default='benchmarks/models')
    parser.add_argument('--metrics', help='NAME.json evaluation results')
    parser.add_argument('--published', default='configs/published_results.yml')
    parser.add_argument('--out-dir', default='benchmarks/leaderboard')
    parser.add_argument('--metafile-dir', default='configs/metafiles')
    parser.add_argument('--model-index', default='model-index.yml')
    parser.add_argument(
        '--update-readme',
        nargs='+',
        default=[],
        metavar='README',
        help='files whose model-zoo table is rewritten')
    return parser.parse_args(argv)


def read_json(path):
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # mmengine's JSON log: one dict per line, the metrics in the last
        # line that has any of them.
        for line in reversed(text.splitlines()):
            record = json.loads(line) if line.startswith('{') else {}
            if any(key in record for key in MEASURED_METRICS):
                return record
        raise LeaderboardError(f'{path}: neither a JSON document nor a '
                               'JSON log with evaluation metrics.')


def json_files(directory, what):
    if not osp.isdir(directory):
        raise LeaderboardError(f'{what} directory {directory!r} not found.')
    return sorted(glob.glob(osp.join(directory, '*.json')))


def load_benchmarks(directory):
    results = {}
    for path in json_files(directory, 'Benchmark'):
        result = read_json(path)
        if not isinstance(result, dict) or 'params' not in result:
            raise LeaderboardError(f'{path} is not a benchmark.py result.')
        form = 'deploy' if result['deploy'] else 'train'
        results.setdefault(result['name'], {})[form] = result
    return results


def load_metrics(directory):
    metrics = {}
    for path in json_files(directory, 'Metrics') if directory else []:
        values = {
            MEASURED_METRICS[k][0]:
            round(float(v) * MEASURED_METRICS[k][1], 2)
            for k, v in read_json(path).items() if k in MEASURED_METRICS
        }
        if not values:
            raise LeaderboardError(f'{path} holds none of the metrics '
                                   f'{sorted(MEASURED_METRICS)}.')
        metrics[osp.splitext(osp.basename(path))[0]] = values
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
    rows = []
    for name in sorted(
            set(benchmarks) | set(metrics)
            | set(published['models'])):
        if name not in published['models']:
            raise LeaderboardError(
                f'{name}: no entry in the published-results file; add one '
                '(family, backbone, dataset, ...; published: {} when '
                'nothing is published).')
        bench, entry = benchmarks.get(name, {}), published['models'][name]
        any_bench = bench.get('deploy') or bench.get('train')
        rows.append(
            dict(
                name=name,
                family=entry['family'],
                config=any_bench['config']
                if any_bench else f'configs/{name}.py',
                entry=entry,
                train=bench.get('train'),
                deploy=bench.get('deploy'),
                measured=metrics.get(name, {})))
    order = {f: i for i, f in enumerate(published['families'])}
    rows.sort(key=lambda r:
              (order[r['family']],
               DATASET_ORDER.get(r['entry'].get('dataset'), 9), r['name']))
    return rows


def _millions(result):
    return None if result is None else result['params']['total'] / 1e6


def _giga_flops(result):
    if result is None or result['flops'] is None:
        return None
    return result['flops']['total'] / 1e9


def _fmt(value, digits=1):
    return '-' if value is None else f'{value:.{digits}f}'


def _metrics_text(values, keys=MAIN_METRICS):
    return ', '.join(f'{k} {values[k]}' for k in keys if k in values) or '-'


def _shape(result):
    return 'x'.join(map(str, result['input_shape'][2:])) if result else '-'


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
        note = entry.get('note', '')
        if entry.get('reference'):
            note = f"reference {_metrics_text(entry['reference'])}: {note}"
        elif not any(k in pub for k in MAIN_METRICS):
            note = entry.get('source', '')
        flops = '-' if _giga_flops(deploy) is None else (
            f"{_giga_flops(deploy):.1f} / "
            f"{deploy['flops']['backbone'] / 1e9:.1f}")
        lines.append('| ' + ' | '.join([
            f"`{row['config']}`",
            entry.get('backbone', '-'),
            entry.get('dataset', '-'),
            f'{_fmt(_millions(train))} / {_fmt(_millions(deploy))}', flops,
            _shape(deploy or train),
            _fmt(deploy['latency_ms']['median'], 0) if deploy else '-',
            _metrics_text(row['measured']),
            _metrics_text(pub), pub_cost,
            note.replace('|', '/')
        ]) + ' |')
    return '\n'.join(lines)


def markdown_document(rows):
    machines = {(_device(r), r['machine']['torch'])
                for row in rows
                for r in (row['train'], row['deploy']) if r}
    machines = '; '.join(f'{device} (torch {torch})'
                         for device, torch in sorted(machines)) or '-'
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
        '--out-metrics` (metrics).', '', f'Measured on: {machines}.', '',
        markdown_table(rows), ''
    ])


def csv_text(rows):
    groups = [(prefix, sorted({k
                               for r in rows
                               for k in get(r)}), get)
              for prefix, get in (('measured', lambda r: r['measured']),
                                  ('published',
                                   lambda r: r['entry'].get('published', {})),
                                  ('reference',
                                   lambda r: r['entry'].get('reference', {})))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow([
        'config', 'family', 'backbone', 'dataset', 'input', 'params_train_M',
        'params_deploy_M', 'flops_train_G', 'flops_deploy_G',
        'latency_train_ms', 'latency_deploy_ms', 'device'
    ] + [f'{prefix}_{k}' for prefix, keys, _ in groups for k in keys])
    for row in rows:
        entry, train, deploy = row['entry'], row['train'], row['deploy']
        writer.writerow([
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
        ] + [get(row).get(k, '') for _, keys, get in groups for k in keys])
    return buffer.getvalue()


def model_index_entry(row, collection):
    entry, train, deploy = row['entry'], row['train'], row['deploy']
    metadata = {
        key: entry[field]
        for key, field in (('Backbone', 'backbone'), ('Pretrain', 'pretrain'),
                           ('Training Data', 'dataset')) if entry.get(field)
    }
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
    task, dataset = entry.get('task'), entry.get('dataset')
    published = {
        k: v
        for k, v in entry.get('published', {}).items() if k in MAIN_METRICS
    }
    results = [
        dict(Task=task, Dataset=dataset, Metrics=metrics, Source=source)
        for metrics, source in ((dict(row['measured']),
                                 'measured by mmreplk (tools/test.py)'),
                                (published,
                                 f"published: {entry.get('source')}; "
                                 'not reproduced by mmreplk')) if metrics
    ]
    model = {
        'Name': row['name'],
        'In Collection': collection,
        'Config': row['config'],
        'Metadata': metadata
    }
    if results:
        model['Results'] = results
    return model


def metafiles(rows, published):
    files = {}
    for family, info in published['families'].items():
        family_rows = [r for r in rows if r['family'] == family]
        if family_rows:
            files[family] = dict(
                Collections=[
                    dict(
                        Name=info['collection'],
                        Metadata=dict(
                            Architecture=list(info.get('architecture', []))),
                        Paper=dict(
                            Title=info['paper']['title'],
                            URL=info['paper']['url']),
                        README='configs/README.md',
                        Code=dict(URL=info['code']))
                ],
                Models=[
                    model_index_entry(r, info['collection'])
                    for r in family_rows
                ])
    return files


def replace_between_markers(path, table):
    if not osp.isfile(path):
        raise LeaderboardError(f'README {path!r} not found.')
    with open(path) as f:
        text = f.read()
    if README_START not in text or README_END not in text:
        raise LeaderboardError(
            f'{path} has no {README_START} ... {README_END} markers; add '
            'them where the model-zoo table belongs.')
    head, rest = text.split(README_START, 1)
    return f'{head}{README_START}\n{table}\n{README_END}' + rest.split(
        README_END, 1)[1]


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
    # Everything is computed (and every README checked) before writing.
    outputs = {
        path: replace_between_markers(path, markdown_table(rows))
        for path in args.update_readme
    }
    outputs[osp.join(args.out_dir, 'leaderboard.md')] = \
        markdown_document(rows)
    outputs[osp.join(args.out_dir, 'leaderboard.csv')] = csv_text(rows)
    imports = []
    for family, content in metafiles(rows, published).items():
        path = osp.join(args.metafile_dir, family, 'metafile.yml')
        outputs[path] = yaml.safe_dump(
            content, sort_keys=False, allow_unicode=True)
        imports.append(
            osp.relpath(path, osp.dirname(osp.abspath(args.model_index))))
    outputs[args.model_index] = yaml.safe_dump(
        dict(Import=imports), sort_keys=False)
    for path, text in outputs.items():
        atomic_write_bytes(text.encode(), path)
        print(f'wrote {path}')


if __name__ == '__main__':
    sys.exit(main())
