"""SLaK end to end through the tools, on synthetic data: a converted sparse
official checkpoint fine-tuned by the tiny UperNet config keeps its zero
pattern through 3 iterations and a resume (bit for bit), and evaluates to
the same metrics in both deploy forms; the tiny Cascade Mask R-CNN config
trains, evaluates, re-parameterises and evaluates to the same metrics; the
UperNet config trains under --amp (bf16 on CPU) with the family's real
kernel sizes. The tools run in-process (``main(argv)``)."""
import json
import os.path as osp

import pytest
import torch

from mmreplk.utils import mmengine_checkpoint_safe_globals
from tests.helpers.official_slak_state import TINY_ARCH, official_state_dict
from tests.helpers.tools import REPO, load_tool, seg_options

pytestmark = pytest.mark.slow

SEG = 'tests/configs/upernet_slak-tiny_ade20k-synthetic.py'
DET = 'tests/configs/cascade_mask_rcnn_slak-tiny_coco-synthetic.py'


def load(path):
    with mmengine_checkpoint_safe_globals():
        return torch.load(path, weights_only=True)


def evaluate(config, checkpoint, out, options=()):
    """``tools/test.py CONFIG CHECKPOINT --out-metrics OUT``: the metrics."""
    assert load_tool('tools/test.py').main(
        [str(config), str(checkpoint), '--out-metrics',
         str(out)] + list(options)) == 0
    return json.loads(out.read_text())


def sparse_config(tmp_path):
    """The tiny UperNet config initialised from a converted sparse official
    checkpoint (40% exact zeros in every Linear/conv weight), at a constant
    learning rate high enough for the 3 iterations to move the weights and
    the predictions."""
    official = tmp_path / 'official.pth'
    torch.save(dict(model=official_state_dict(TINY_ARCH, seed=5)), official)
    converted = tmp_path / 'slak_tiny_in1k.pth'
    assert load_tool('tools/model_converters/slak_official.py').main(
        [str(official), str(converted)]) == 0
    config = tmp_path / 'sparse_upernet.py'
    config.write_text(
        f"_base_ = ['{osp.join(REPO, SEG)}']\n"
        'model = dict(backbone=dict(init_cfg=dict(_delete_=True, '
        'type="Pretrained", '
        f'checkpoint="{converted}")))\n'
        'optim_wrapper = dict(optimizer=dict(lr=2e-3))\n'
        'param_scheduler = None\n')
    return str(config), load(converted)['state_dict']


def test_sparse_finetuning_resumes_exactly_and_deploys(synthetic_data,
                                                       tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config, source = sparse_config(tmp_path)
    root = synthetic_data['ade20k']
    opts = seg_options(
        root, 3,
        ['default_hooks.checkpoint.interval=1', 'train_cfg.val_begin=4'
         ])  # evaluated below, by tools/test.py
    train = load_tool('tools/train.py')
    straight = tmp_path / 'straight'
    assert train.main([config, '--work-dir', str(straight)] + opts) == 0
    final = load(straight / 'iter_3.pth')
    state, masks = final['state_dict'], final['sparse_weight_masks']
    sparse = [k for k, v in source.items() if v.dim() in (2, 4)]
    assert len(sparse) == 29 and set(masks) == {
        'backbone.' + k
        for k in sparse
    }
    for key in sparse:
        kept = source[key] != 0
        assert torch.equal(masks['backbone.' + key], kept), key
        assert torch.equal(state['backbone.' + key] != 0, kept), key
        # Trained: the kept weights moved.
        assert (state['backbone.' + key] != source[key]).any(), key
    # Resumed from iteration 2 in a fresh work dir: the same iteration 3.
    resumed = tmp_path / 'resumed'
    assert train.main([
        config, '--work-dir',
        str(resumed), '--resume',
        str(straight / 'iter_2.pth')
    ] + opts) == 0
    again = load(resumed / 'iter_3.pth')
    assert not (resumed / 'iter_2.pth').exists()
    for key, value in state.items():
        torch.testing.assert_close(
            again['state_dict'][key], value, rtol=0, atol=0, msg=key)
    assert all(
        torch.equal(again['sparse_weight_masks'][k], m)
        for k, m in masks.items())
    # The metrics of the training form again from both deploy forms, each
    # verified against the training form.
    data = opts[:opts.index('train_dataloader.batch_size=2')]
    ckpt = straight / 'iter_3.pth'
    expected = evaluate(config, ckpt, tmp_path / 'train.json', data)
    assert expected['aAcc'] > 0 and expected['mIoU'] > 0
    reparam = load_tool('tools/deploy/reparameterize.py')
    for form, key in (('decomposed', 'reparam_vertical'), ('large_kernel',
                                                           'reparam_conv')):
        deploy = tmp_path / f'{form}.pth'
        assert reparam.main([
            config,
            str(ckpt),
            str(deploy), '--verify', '--shape', '64', '64'
        ] + data + [f'model.backbone.deploy_form={form}']) == 0
        assert any(f'.large_kernel.{key}.' in k
                   for k in load(deploy)['state_dict'])
        got = evaluate(
            deploy.with_suffix('.py'), deploy, tmp_path / f'{form}.json')
        assert got == expected, form


def det_options(root):
    root = root.rstrip('/') + '/'
    ann = f'{root}annotations/instances_val2017.json'
    return ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ] + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']


def test_cascade_trains_evaluates_and_deploys(synthetic_data, tmp_path,
                                              monkeypatch):
    monkeypatch.chdir(REPO)
    opts = det_options(synthetic_data['coco'])
    work = tmp_path / 'work'
    assert load_tool('tools/train.py').main(
        [DET, '--work-dir', str(work)] + opts +
        ['train_cfg.val_begin=2']) == 0  # evaluated below
    ckpt = work / 'epoch_1.pth'
    expected = evaluate(DET, ckpt, tmp_path / 'train.json', opts)
    assert {'coco/segm_mAP', 'coco/bbox_mAP'} <= set(expected)
    deploy = tmp_path / 'deploy.pth'
    assert load_tool('tools/deploy/reparameterize.py').main(
        [DET, str(ckpt),
         str(deploy), '--verify', '--shape', '96', '128'] + opts +
        ['model.backbone.deploy_form=large_kernel']) == 0
    got = evaluate(deploy.with_suffix('.py'), deploy, tmp_path / 'deploy.json')
    assert got == expected


def test_amp_bf16_trains_with_the_real_kernel_sizes(synthetic_data, tmp_path,
                                                    monkeypatch):
    if torch.cuda.is_available():
        pytest.skip('with a GPU --amp uses mmengine AmpOptimWrapper')
    monkeypatch.chdir(REPO)
    work = tmp_path / 'amp'
    opts = seg_options(
        synthetic_data['ade20k'], 2,
        ['train_cfg.val_begin=3', 'default_hooks.checkpoint.interval=1'
         ])  # no validation
    assert load_tool('tools/train.py').main(
        [SEG, '--amp', '--work-dir', str(work)] + opts) == 0
    first, second = load(work / 'iter_1.pth'), load(work / 'iter_2.pth')
    assert 'CPUAutocastOptimWrapper' in second['meta']['cfg']
    state = second['state_dict']
    kernels = {
        tuple(v.shape[2:])
        for k, v in state.items() if k.endswith('strip.conv.weight')
    }
    assert kernels == {(51, 5), (5, 51), (49, 5), (5, 49), (47, 5), (5, 47),
                       (13, 5), (5, 13)}
    # It trained: every strip moved in the second step, and nothing
    # overflowed.
    for key, value in state.items():
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
        if key.endswith('strip.conv.weight'):
            assert (value != first['state_dict'][key]).any(), key
