"""Exact resume does not depend on the user's ``custom_hooks``: the
sparse-training snippet of docs/shiftwise.md replaces the base hook list
(dropping ``RNGStateHook``), and tools/train.py puts the exact-resume hooks
back."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from mmreplk.engine.hooks import EXACT_RESUME_HOOKS
from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.tools import REPO, load_tool, seg_options

BASE = 'tests/configs/upernet_shiftwise-mini_ade20k-synthetic.py'


def readme_snippet():
    """The ``custom_hooks=[...]`` line exactly as docs/shiftwise.md prints
    it."""
    with open(osp.join(REPO, 'docs', 'shiftwise.md')) as f:
        text = f.read()
    match = re.search(r"`(custom_hooks=\[dict\(type='SparseGroupHook'.*?)`",
                      text, re.S)
    assert match, 'docs/shiftwise.md no longer shows the snippet'
    return match.group(1)


def snippet_config(tmp_path):
    path = tmp_path / 'sparse_from_readme.py'
    path.write_text(f"_base_ = ['{osp.join(REPO, BASE)}']\n"
                    f'{readme_snippet()}\n')
    return str(path)


def test_readme_snippet_drops_the_hook_and_train_adds_it(tmp_path):
    config = snippet_config(tmp_path)
    hooks = Config.fromfile(config).custom_hooks
    assert [h['type'] for h in hooks] == ['SparseGroupHook']  # the trap
    train = load_tool('tools/train.py')
    cfg = train.build_cfg(
        train.parse_args([config, '--work-dir',
                          str(tmp_path / 'w')]))
    assert [h['type'] for h in cfg.custom_hooks
            ] == ['SparseGroupHook', *EXACT_RESUME_HOOKS]
    # A config that has them already is left as it is.
    base = osp.join(REPO, BASE)
    cfg = train.build_cfg(
        train.parse_args([base, '--work-dir',
                          str(tmp_path / 'w')]))
    assert cfg.custom_hooks == Config.fromfile(base).custom_hooks


@pytest.mark.slow
def test_readme_snippet_resumes_bit_exactly(synthetic_data, tmp_path,
                                            monkeypatch):
    """2 iterations straight == resume from the straight run's iteration-1
    checkpoint in a fresh work dir, then 1 iteration, with the doc's
    custom_hooks as printed (drop path 0.4 draws random numbers in every
    iteration, so the RNG state must travel in the checkpoint)."""
    monkeypatch.chdir(REPO)
    config = snippet_config(tmp_path)
    opts = seg_options(synthetic_data['ade20k'], 2, [
        'default_hooks.checkpoint.interval=1',
        'train_dataloader.num_workers=1',
        'train_dataloader.persistent_workers=True', 'train_cfg.val_begin=3'
    ])  # no validation: not what is tested
    train = load_tool('tools/train.py')
    straight = tmp_path / 'straight'
    assert train.main([config, '--work-dir', str(straight)] + opts) == 0
    resumed = tmp_path / 'resumed'
    assert train.main([
        config, '--work-dir',
        str(resumed), '--resume',
        str(straight / 'iter_1.pth')
    ] + opts) == 0
    with mmengine_checkpoint_safe_globals():
        a = torch.load(straight / 'iter_2.pth', weights_only=True)
        b = torch.load(resumed / 'iter_2.pth', weights_only=True)
    assert b['meta']['iter'] == 2
    assert not (resumed / 'iter_1.pth').exists()  # it did resume
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(
            b['state_dict'][key], value, rtol=0, atol=0, msg=key)
    assert b['meta']['mmreplk_rng_state']['world_size'] == 1
