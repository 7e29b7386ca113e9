"""Fail early, and readably, when a config points at a dataset that is not
on disk (instead of a traceback from deep inside mmengine's dataset build).
"""
import os.path as osp

from .tool_entry import ToolInputError

# Dataset type -> (make_synthetic.py name, where the real data comes from).
_DATASET_HINTS = {
    'ADE20KDataset': ('ade20k', 'ADEChallengeData2016 from '
                      'http://sceneparsing.csail.mit.edu/'),
    'CityscapesDataset': ('cityscapes', 'leftImg8bit/ and gtFine/ from '
                          'https://www.cityscapes-dataset.com/, then '
                          "mmseg's tools/dataset_converters/cityscapes.py to "
                          'write *_labelTrainIds.png'),
    'CocoDataset': ('coco', 'train2017/, val2017/ and annotations/ from '
                    'https://cocodataset.org/'),
}


def _iter_datasets(dataset_cfg):
    """Yield leaf dataset configs (unwrapping RepeatDataset & co.)."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from _iter_datasets(sub)
    elif 'dataset' in dataset_cfg:
        yield from _iter_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def missing_data_roots(cfg, dataloader_keys):
    """Return ``[(loader_key, dataset_type, data_root)]`` that do not exist.
    """
    missing = []
    for key in dataloader_keys:
        loader = cfg.get(key)
        if not loader:
            continue
        for ds in _iter_datasets(loader.get('dataset')):
            root = ds.get('data_root')
            if root and not osp.isdir(root):
                missing.append((key, ds.get('type', '?'), root))
    return missing


def check_data_roots(cfg, dataloader_keys):
    """Raise :class:`ToolInputError` naming each missing ``data_root`` and how
    to provide it (synthetic data for a smoke test, or the real dataset)."""
    missing = missing_data_roots(cfg, dataloader_keys)
    if not missing:
        return
    lines = ['Dataset not found:']
    for key, ds_type, root in missing:
        lines.append(f'  {key}: {ds_type} data_root {root!r} does not exist.')
        synth, real = _DATASET_HINTS.get(ds_type, (None, None))
        if real:
            lines.append(f'    Real data: put {real} at {root!r}.')
        if synth:
            lines.append(
                '    Synthetic data (smoke tests): python '
                f'tools/dataset_converters/make_synthetic.py {synth} {root}')
    lines.append('  Or point the config elsewhere: --cfg-options '
                 'train_dataloader.dataset.data_root=PATH '
                 'val_dataloader.dataset.data_root=PATH ...')
    raise ToolInputError('\n'.join(dict.fromkeys(lines)))
