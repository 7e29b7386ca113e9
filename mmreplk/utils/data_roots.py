"""Fail early, and readably, when a config's dataset is not on disk."""
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


def _leaf_datasets(dataset_cfg):
    """The dataset configs inside RepeatDataset, ConcatDataset & co."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from _leaf_datasets(sub)
    elif 'dataset' in dataset_cfg:
        yield from _leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def check_data_roots(cfg, dataloader_keys):
    """Raise :class:`ToolInputError` naming each missing ``data_root`` of the
    given data loaders and how to provide it (real or synthetic data)."""
    lines = []
    for key in dataloader_keys:
        for ds in _leaf_datasets((cfg.get(key) or {}).get('dataset')):
            root, ds_type = ds.get('data_root'), ds.get('type', '?')
            if not root or osp.isdir(root):
                continue
            lines.append(
                f'  {key}: {ds_type} data_root {root!r} does not exist.')
            synth, real = _DATASET_HINTS.get(ds_type, (None, None))
            if real:
                lines.append(f'    Real data: put {real} at {root!r}.')
            if synth:
                lines.append(
                    '    Synthetic data (smoke tests): python tools/'
                    f'dataset_converters/make_synthetic.py {synth} {root}')
    if lines:
        lines = ['Dataset not found:'] + lines + [
            '  Or point the config elsewhere: --cfg-options '
            'train_dataloader.dataset.data_root=PATH '
            'val_dataloader.dataset.data_root=PATH ...'
        ]
        raise ToolInputError('\n'.join(dict.fromkeys(lines)))
