"""Every config file parses, carries the official settings and builds its
model; the detector runs forward + loss on a tiny image."""
import functools
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmreplk  # noqa: F401
from tests.helpers.tools import REPO

CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(p, REPO).split(osp.sep))
REQUIRED = [
    'upernet_replknet31b_ade20k.py', 'upernet_replknet31b_cityscapes.py',
    'cascade_mask_rcnn_replknet31b_coco.py', 'upernet_replknet31l_ade20k.py',
    'upernet_replknetxl_ade20k.py', 'cascade_mask_rcnn_replknetxl_coco.py',
    'upernet_orepa_resnet50_ade20k.py', 'upernet_orepa_resnet50_cityscapes.py',
    'cascade_mask_rcnn_orepa_resnet50_coco.py',
    'upernet_dbb_resnet50_ade20k.py', 'upernet_dbb_resnet50_cityscapes.py',
    'cascade_mask_rcnn_dbb_resnet50_coco.py',
    'upernet_shiftwise_tiny_ade20k.py', 'upernet_shiftwise_tiny_cityscapes.py',
    'cascade_mask_rcnn_shiftwise_tiny_coco.py', 'upernet_slak_tiny_ade20k.py',
    'upernet_slak_small_ade20k.py', 'upernet_slak_base_ade20k.py',
    'upernet_slak_tiny_ade20k_80k.py', 'cascade_mask_rcnn_slak_tiny_coco.py',
    'cascade_mask_rcnn_slak_tiny_120e_coco.py',
    'upernet_unireplknet_t_ade20k.py', 'upernet_unireplknet_s_ade20k.py',
    'upernet_unireplknet_s_in22k_ade20k.py',
    'upernet_unireplknet_s_in22k_640_ade20k.py',
    'upernet_unireplknet_b_in22k_640_ade20k.py',
    'upernet_unireplknet_l_in22k_640_ade20k.py',
    'upernet_unireplknet_xl_in22k_640_ade20k.py',
    'upernet_unireplknet_t_cityscapes.py',
    'cascade_mask_rcnn_unireplknet_t_coco.py',
    'cascade_mask_rcnn_unireplknet_s_coco.py',
    'cascade_mask_rcnn_unireplknet_s_in22k_coco.py',
    'cascade_mask_rcnn_unireplknet_b_in22k_coco.py',
    'cascade_mask_rcnn_unireplknet_l_in22k_coco.py',
    'cascade_mask_rcnn_unireplknet_xl_in22k_coco.py'
]
BACKBONES = {
    'RepLKNet', 'OREPAResNet', 'OREPARepVGG', 'ShiftWiseNet', 'SLaK',
    'UniRepLKNet'
}


@functools.lru_cache(maxsize=None)
def load(path):
    """Parse each config once per session (mmengine takes ~1-2 s a file
    here); callers must not modify the result."""
    return Config.fromfile(path)


def build(cfg):
    init_default_scope(cfg.default_scope)
    registry = __import__(
        f'{cfg.default_scope}.registry', fromlist=['MODELS']).MODELS
    return registry.build(cfg.model)


def test_required_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    assert set(REQUIRED) <= names


# Backbones whose configs are built on the meta device (every constructor
# runs, no weight is allocated or initialised: the large presets cost
# seconds each otherwise); their output channels are ``out_channels``,
# which their own tests check against a forward.
META_BUILT = {'UniRepLKNet'}


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_model(path):
    cfg = load(path)
    if cfg.model.backbone.type in META_BUILT:
        with torch.device('meta'):
            model = build(cfg)
        channels = model.backbone.out_channels
        assert all(p.is_meta for p in model.parameters())
    else:
        model = build(cfg)
    backbone = model.backbone
    assert type(backbone).__name__ in BACKBONES
    # The heads/neck take exactly the channels the backbone produces.
    if cfg.model.backbone.type not in META_BUILT:
        backbone.eval()
        with torch.no_grad():
            channels = [
                f.shape[1] for f in backbone(torch.randn(1, 3, 64, 64))
            ]
    if cfg.default_scope == 'mmseg':
        assert list(cfg.model.decode_head.in_channels) == channels
        assert cfg.model.auxiliary_head.in_channels == channels[2]
    else:
        assert list(cfg.model.neck.in_channels) == channels


def test_official_hyper_parameters():
    ade = load(osp.join(REPO, 'configs/upernet_replknet31b_ade20k.py'))
    opt = ade.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 2e-4
    assert opt.optimizer.weight_decay == 0.05
    assert opt.paramwise_cfg.norm_decay_mult == 0
    assert ade.model.backbone.drop_path_rate == 0.5
    assert ade.train_cfg.max_iters == 160000
    assert ade.crop_size == (512, 512)
    city = load(osp.join(REPO, 'configs/upernet_replknet31b_cityscapes.py'))
    assert city.train_cfg.max_iters == 80000 and city.crop_size == (769, 769)
    assert city.model.decode_head.num_classes == 19
    xl = load(osp.join(REPO, 'configs/upernet_replknetxl_ade20k.py'))
    assert xl.model.data_preprocessor.mean == [127.5] * 3
    assert xl.model.backbone.arch == 'XL' and xl.crop_size == (640, 640)
    det = load(osp.join(REPO, 'configs/cascade_mask_rcnn_replknet31b_coco.py'))
    assert det.train_cfg.max_epochs == 36
    assert det.optim_wrapper.optimizer.lr == 4e-4
    assert det.model.backbone.drop_path_rate == 0.6
    scales = det.train_pipeline[3]['transforms'][0][0]['scales']
    assert scales[0] == (480, 1333) and scales[-1] == (800, 1333)


@pytest.mark.slow
def test_cascade_mask_rcnn_forward_and_loss():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    cfg = load(osp.join(REPO, 'configs/cascade_mask_rcnn_replknet31b_coco.py'))
    cfg.model.backbone.with_cp = False
    model = build(cfg)
    model.train()
    h = w = 128
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=(h, w),
            pad_shape=(h, w),
            batch_input_shape=(h, w),
            scale_factor=(1.0, 1.0)))
    from mmdet.structures.mask import BitmapMasks
    masks = torch.zeros(2, h, w, dtype=torch.uint8)
    masks[0, 10:60, 20:90] = 1
    masks[1, 70:120, 5:50] = 1
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20., 10., 90., 60.], [5., 70., 50., 120.]]),
        labels=torch.tensor([0, 2]),
        masks=BitmapMasks(masks.numpy(), h, w))
    losses = model.loss(torch.randn(1, 3, h, w), [sample])
    total = sum(v.sum() if torch.is_tensor(v) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    assert {'s0.loss_bbox', 's2.loss_mask', 'loss_rpn_cls'} <= set(losses)
    total.backward()
    grad = model.backbone.stages[2].blocks[0].large_kernel.large_conv.conv
    assert grad.weight.grad is not None


def test_orepa_recipes():
    from mmengine.optim import build_optim_wrapper
    cfg = load(osp.join(REPO, 'configs/upernet_orepa_resnet50_ade20k.py'))
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_iters == 160000
    model = build(cfg)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    stem = {id(p) for p in model.backbone.stage0.parameters()}
    lrs = [
        g['lr'] for g in optim.param_groups if any(
            id(p) in stem for p in g['params'])
    ]
    # The deep linear stem: lr x 0.1.
    assert lrs and all(lr == pytest.approx(0.001) for lr in lrs)
    dbb = load(osp.join(REPO, 'configs/upernet_dbb_resnet50_ade20k.py'))
    assert dbb.model.backbone.block_type == 'DBB'
    assert 'custom_keys' not in dbb.optim_wrapper.paramwise_cfg
    det = load(
        osp.join(REPO, 'configs/cascade_mask_rcnn_orepa_resnet50_coco.py'))
    assert det.model.backbone.frozen_stages == 1
    assert det.model.backbone.norm_eval and det.train_cfg.max_epochs == 12


def test_shiftwise_recipes():
    from mmengine.optim import build_optim_wrapper
    cfg = load(osp.join(REPO, 'configs/upernet_shiftwise_tiny_ade20k.py'))
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 1e-4
    assert opt.paramwise_cfg == dict(decay_rate=1.0, num_layers=9)
    assert cfg.param_scheduler[0].end == 1500
    assert cfg.model.test_cfg.mode == 'slide'
    assert cfg.model.backbone.drop_path_rate == 0.4
    model = build(cfg)
    optim = build_optim_wrapper(model, opt)
    # decay_rate 1: one lr everywhere, no weight decay on 1-D parameters.
    assert {g['lr'] for g in optim.param_groups} == {1e-4}
    gamma = model.backbone.stages[0][0].gamma
    assert [
        g['weight_decay'] for g in optim.param_groups
        if any(p is gamma for p in g['params'])
    ] == [0.0]
    det = load(
        osp.join(REPO, 'configs/cascade_mask_rcnn_shiftwise_tiny_coco.py'))
    assert det.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.8, num_layers=12)
    assert det.train_cfg.max_epochs == 36
    assert det.param_scheduler[1].milestones == [27, 33]


def test_slak_recipes():
    """The official SLaK optimiser groups: stage-wise decay 0.9 over 6
    (T) / 12 (S, B) layers for the 160k UperNets, layer-wise decay 0.7 over
    6 for Cascade Mask R-CNN, and for the 80k UperNet mmseg's default
    constructor with no weight decay on BatchNorms only (the official
    LayerNorm is no torch norm class)."""
    from mmengine.optim import build_optim_wrapper
    tiny = load(osp.join(REPO, 'configs/upernet_slak_tiny_ade20k.py'))
    assert tiny.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.9, decay_type='stage_wise', num_layers=6)
    assert tiny.model.backbone.drop_path_rate == 0.4
    assert tiny.model.backbone.layer_scale_init_value == 1.0
    assert tiny.model.test_cfg == dict(
        mode='slide', crop_size=(512, 512), stride=(341, 341))
    assert dict(type='SparseWeightHook', init='checkpoint') in \
        tiny.custom_hooks
    assert tiny.param_scheduler[0].end == 1500
    for name, arch, drop in (('small', 'S', 0.3), ('base', 'B', 0.4)):
        cfg = load(osp.join(REPO, f'configs/upernet_slak_{name}_ade20k.py'))
        assert cfg.model.backbone.arch == arch
        assert cfg.model.backbone.drop_path_rate == drop
        assert cfg.optim_wrapper.paramwise_cfg.num_layers == 12
    dense = load(osp.join(REPO, 'configs/upernet_slak_tiny_ade20k_80k.py'))
    assert dense.model.backbone.drop_path_rate == 0.1
    assert not any(h['type'] == 'SparseWeightHook' for h in dense.custom_hooks)
    model = build(dense)
    named = dict(model.named_parameters())
    bns = {
        f'{m_name}.{p_name}'
        for m_name, m in model.named_modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for p_name, _ in m.named_parameters(recurse=False)
    }

    def groups(optim_cfg):
        optim = build_optim_wrapper(model, optim_cfg)
        return {
            name: (g['lr'], g['weight_decay'])
            for g in optim.param_groups
            for p in g['params']
            for name, q in named.items() if p is q
        }

    got = groups(dense.optim_wrapper)
    assert got.keys() == named.keys()
    for name, (lr, wd) in got.items():
        assert lr == 2e-4, name
        assert wd == (0.0 if name in bns else 0.05), name
    got = groups(tiny.optim_wrapper)
    for name, lr in (('backbone.downsample_layers.0.0.weight', 0.9**7),
                     ('backbone.downsample_layers.3.1.weight',
                      0.9**7), ('backbone.stages.0.0.pwconv1.weight', 0.9**6),
                     ('backbone.stages.2.8.large_kernel.vertical_strip.conv.'
                      'weight', 0.9**4), ('backbone.stages.3.2.gamma', 0.9**3),
                     ('backbone.norm3.weight',
                      1.0), ('decode_head.conv_seg.weight', 1.0)):
        assert got[name][0] == pytest.approx(1e-4 * lr), name
    assert got['backbone.stages.3.2.gamma'][1] == 0.0
    assert got['backbone.stages.0.0.pwconv1.weight'][1] == 0.05
    det = load(osp.join(REPO, 'configs/cascade_mask_rcnn_slak_tiny_coco.py'))
    assert det.optim_wrapper.optimizer.lr == 2e-4
    assert det.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.7, decay_type='layer_wise', num_layers=6)
    assert det.model.backbone.drop_path_rate == 0.4
    assert det.param_scheduler[1].milestones == [27, 33]
    assert det.auto_scale_lr == dict(enable=True, base_batch_size=16)
    short = load(
        osp.join(REPO, 'configs/cascade_mask_rcnn_slak_tiny_120e_coco.py'))
    assert short.param_scheduler[1].milestones == [8, 11]
    assert short.train_cfg.max_epochs == 12


def test_unireplknet_recipes():
    """The official UniRepLKNet settings per config: layer decay, drop
    path, activation checkpointing, crop, test mode and pipeline, EMA."""
    from mmengine.optim import build_optim_wrapper
    seg = {
        't': ('T', 0.2, False, (1.0, 9), 512),
        's': ('S', 0.3, True, (0.9, 12), 512),
        's_in22k': ('S', 0.3, True, (0.9, 12), 512),
        's_in22k_640': ('S', 0.3, True, (0.9, 12), 640),
        'b_in22k_640': ('B', 0.3, True, (0.9, 12), 640),
        'l_in22k_640': ('L', 0.4, True, (0.85, 12), 640),
        'xl_in22k_640': ('XL', 0.4, True, (0.85, 12), 640),
    }
    for name, (arch, dpr, with_cp, decay, crop) in seg.items():
        cfg = load(
            osp.join(REPO, f'configs/upernet_unireplknet_{name}_ade20k.py'))
        backbone = cfg.model.backbone
        assert (backbone.arch, backbone.drop_path_rate, backbone.with_cp) \
            == (arch, dpr, with_cp), name
        assert backbone.norm_cfg.type == 'SyncBN'
        opt = cfg.optim_wrapper
        assert opt.type == 'OptimWrapper'  # no AMP
        assert opt.constructor == 'LayerDecayOptimWrapperConstructor'
        assert (opt.paramwise_cfg.decay_rate,
                opt.paramwise_cfg.num_layers) == decay, name
        assert opt.optimizer.lr == 1e-4 and opt.optimizer.weight_decay == 0.05
        assert cfg.param_scheduler[0].end == 1500
        assert cfg.crop_size == (crop, crop)
        assert cfg.train_dataloader.batch_size == 2
        assert cfg.model.test_cfg.mode == 'whole'
        test = cfg.test_dataloader.dataset.pipeline
        assert test[1].scale == (4 * crop, crop)
        assert test[2] == dict(type='ResizeToMultiple', size_divisor=32)
    det = {
        't': ('T', 0.3, 0.8, False),
        's': ('S', 0.5, 0.8, False),
        's_in22k': ('S', 0.5, 0.8, True),
        'b_in22k': ('B', 0.6, 0.8, True),
        'l_in22k': ('L', 0.7, 0.7, True),
        'xl_in22k': ('XL', 0.7, 0.7, True),
    }
    for name, (arch, dpr, decay, ema) in det.items():
        cfg = load(
            osp.join(REPO,
                     f'configs/cascade_mask_rcnn_unireplknet_{name}_coco.py'))
        backbone = cfg.model.backbone
        assert (backbone.arch, backbone.drop_path_rate, backbone.with_cp) \
            == (arch, dpr, True), name
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            decay_rate=decay, num_layers=12)
        assert cfg.optim_wrapper.optimizer.lr == 1e-4
        assert cfg.param_scheduler[1].milestones == [27, 33]
        hooks = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
        assert bool(hooks) == ema, name
        if ema:
            assert hooks[0].ema_type == 'ExpMomentumEMA'
            assert hooks[0].momentum == 1e-4 and hooks[0].priority == 49
    # The official T recipe: decay rate 1 over 9 layers, i.e. one lr.
    cfg = load(osp.join(REPO, 'configs/upernet_unireplknet_t_ade20k.py'))
    with torch.device('meta'):
        model = build(cfg)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert {g['lr'] for g in optim.param_groups} == {1e-4}


# Training samples of the official recipes, from the official files (read
# on GitHub; numbers only). Iteration-based: iterations x images per GPU x
# GPUs; the official ADE20K runs of RepLKNet used more GPUs for fewer
# iterations and say so, with the same sample count. Epoch-based: the
# number of epochs (samples = epochs x dataset size, whatever the batch).
RL_SEG = 'DingXiaoH/RepLKNet-pytorch segmentation/configs/'
RL_DET = 'DingXiaoH/RepLKNet-pytorch detection/configs/'
SW = 'lidc54/shift-wiseConv downstream/'
SLAK_SEG = 'VITA-Group/SLaK segmentation/configs/'
SLAK_DET = 'VITA-Group/SLaK detection/configs/'
URL_SEG = 'AILab-CVC/UniRepLKNet segmentation/configs/ade20k/'
URL_DET = 'AILab-CVC/UniRepLKNet detection/configs/coco/'
# Our config name -> the official file's size/pre-training part.
UNIREPLKNET_SEG_FILES = [
    ('t', 't_512'),
    ('s', 's_512'),
    ('s_in22k', 's_in22k_512'),
    ('s_in22k_640', 's_in22k_640'),
    ('b_in22k_640', 'b_in22k_640'),
    ('l_in22k_640', 'l_in22k_640'),
]
UNIREPLKNET_DET_FILES = [
    ('t', 't_in1k'),
    ('s', 's_in1k'),
    ('s_in22k', 's_in22k'),
    ('b_in22k', 'b_in22k'),
    ('l_in22k', 'l_in22k'),
    ('xl_in22k', 'xl_in22k'),
]
# The official UniRepLKNet recipes: 8 GPUs x 2 images (config comments and
# the READMEs), 160k iterations (ADE20K) or 36 epochs (COCO).
UNIREPLKNET_RECIPES = {
    **{
        f'upernet_unireplknet_{name}_ade20k.py':
        dict(
            source=URL_SEG + f'upernet_unireplknet_{official}_160k_ade20k.py',
            iters=160000,
            images_per_gpu=2,
            gpus=8)
        for name, official in UNIREPLKNET_SEG_FILES
    },
    'upernet_unireplknet_xl_in22k_640_ade20k.py':
    dict(
        source=URL_SEG + 'upernet_unireplknet_l_in22k_640_160k_ade20k.py '
        '(the L-22K recipe; no official XL config)',
        iters=160000,
        images_per_gpu=2,
        gpus=8),
    'upernet_unireplknet_t_cityscapes.py':
    dict(
        source='mmseg upernet_r50_4xb2-80k_cityscapes-512x1024 (no official '
        'UniRepLKNet Cityscapes recipe)',
        iters=80000,
        images_per_gpu=2,
        gpus=4),
    **{
        f'cascade_mask_rcnn_unireplknet_{name}_coco.py':
        dict(
            source=f'{URL_DET}casc_mask_rcnn_unireplknet_{official}_fpn_3x_'
            'coco.py',
            epochs=36,
            images_per_gpu=2,
            gpus=8)
        for name, official in UNIREPLKNET_DET_FILES
    },
}
OFFICIAL_RECIPES = {
    'upernet_replknet31b_ade20k.py':
    dict(
        source=RL_SEG + 'RepLKNet-31B_1Kpretrain_upernet_160k_ade20k_512.py '
        '(run: 40k iters x 2 x 64 GPUs; comment: 160k x 4 x 8)',
        iters=40000,
        images_per_gpu=2,
        gpus=64),
    'upernet_replknet31b_cityscapes.py':
    dict(
        source=RL_SEG + 'RepLKNet-31B_1Kpretrain_upernet_80k_cityscapes_769'
        '.py (run: 20k iters x 32 GPUs, 2 per GPU from the mmseg base; '
        'comment: 8 GPUs, 80k)',
        iters=20000,
        images_per_gpu=2,
        gpus=32),
    'upernet_replknet31l_ade20k.py':
    dict(
        source=RL_SEG + 'RepLKNet-31L_22Kpretrain_upernet_160k_ade20k_640.py '
        '(run: 80k iters x 1 x 64 GPUs)',
        iters=80000,
        images_per_gpu=1,
        gpus=64),
    'upernet_replknetxl_ade20k.py':
    dict(
        source=RL_SEG + 'RepLKNet-XL_MegData73M_upernet_160k_ade20k_640.py '
        '(run: 160k iters x 2 x 16 GPUs)',
        iters=160000,
        images_per_gpu=2,
        gpus=16),
    'cascade_mask_rcnn_replknet31b_coco.py':
    dict(
        source=RL_DET + 'RepLKNet-31B_1Kpretrain_cascade_mask_rcnn_3x_coco.py'
        ' (1 image per GPU, GPU count not stated)',
        epochs=36),
    'cascade_mask_rcnn_replknetxl_coco.py':
    dict(
        source=RL_DET + 'RepLKNet-XL_MegData73Mpretrain_cascade_mask_rcnn_3x'
        '_coco.py (4 images per GPU, GPU count not stated)',
        epochs=36),
    'upernet_shiftwise_tiny_ade20k.py':
    dict(
        source=SW + 'segmentation/configs/upernet_sw_tiny_512_160k_ade20k_ss'
        '.py (160k iters x 4 x 4 GPUs)',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'cascade_mask_rcnn_shiftwise_tiny_coco.py':
    dict(
        source=SW + 'detection/configs/cascade_mask_rcnn_sw_tiny_mstrain_'
        '480-800_adamw_3x_coco_in1k.py (2 x 8 GPUs)',
        epochs=36,
        images_per_gpu=2,
        gpus=8),
    'upernet_slak_tiny_ade20k.py':
    dict(
        source=SLAK_SEG +
        'upernet_slak_tiny_512_160k_ade20k_ss.py (160k iters '
        'x 4 x 4 GPUs)',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'upernet_slak_small_ade20k.py':
    dict(
        source=SLAK_SEG + 'upernet_slak_small_512_160k_ade20k_ss.py (160k '
        'iters x 4 x 4 GPUs)',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'upernet_slak_base_ade20k.py':
    dict(
        source=SLAK_SEG +
        'upernet_slak_base_512_160k_ade20k_ss.py (160k iters '
        'x 4 x 4 GPUs)',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'upernet_slak_tiny_ade20k_80k.py':
    dict(
        source=SLAK_SEG +
        'upernet_slak_tiny_512_80k_ade20k_ss.py (80k iters x '
        '4 x 4 GPUs; its comment says 8 per GPU, its setting 4)',
        iters=80000,
        images_per_gpu=4,
        gpus=4),
    'cascade_mask_rcnn_slak_tiny_coco.py':
    dict(
        source=SLAK_DET + 'cascade_mask_rcnn_slak_tiny_patch4_window7_mstrain_'
        '480-800_giou_4conv1f_adamw_3x_coco_in1k.py (2 images per GPU, '
        'auto_scale_lr base 16)',
        epochs=36,
        images_per_gpu=2,
        gpus=8),
    'cascade_mask_rcnn_slak_tiny_120e_coco.py':
    dict(
        source=SLAK_DET + 'cascade_mask_rcnn_slak_tiny_120_patch4_window7_'
        'mstrain_480-800_giou_4conv1f_adamw_3x_coco_in1k.py (12 epochs, 2 '
        'images per GPU, auto_scale_lr base 16)',
        epochs=12,
        images_per_gpu=2,
        gpus=8),
    # No official downstream recipe: mmseg's / mmdet's standard ResNet-50
    # recipes, which the configs name.
    'upernet_orepa_resnet50_ade20k.py':
    dict(
        source='mmseg upernet_r50_4xb4-160k_ade20k-512x512',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'upernet_dbb_resnet50_ade20k.py':
    dict(
        source='mmseg upernet_r50_4xb4-160k_ade20k-512x512',
        iters=160000,
        images_per_gpu=4,
        gpus=4),
    'upernet_orepa_resnet50_cityscapes.py':
    dict(
        source='mmseg upernet_r50_4xb2-80k_cityscapes-512x1024',
        iters=80000,
        images_per_gpu=2,
        gpus=4),
    'upernet_dbb_resnet50_cityscapes.py':
    dict(
        source='mmseg upernet_r50_4xb2-80k_cityscapes-512x1024',
        iters=80000,
        images_per_gpu=2,
        gpus=4),
    'upernet_shiftwise_tiny_cityscapes.py':
    dict(
        source='mmseg upernet_r50_4xb2-80k_cityscapes-512x1024 (no official '
        'SW Cityscapes recipe)',
        iters=80000,
        images_per_gpu=2,
        gpus=4),
    'cascade_mask_rcnn_orepa_resnet50_coco.py':
    dict(
        source='mmdet cascade-mask-rcnn_r50_fpn_1x_coco',
        epochs=12,
        images_per_gpu=2,
        gpus=8),
    'cascade_mask_rcnn_dbb_resnet50_coco.py':
    dict(
        source='mmdet cascade-mask-rcnn_r50_fpn_1x_coco',
        epochs=12,
        images_per_gpu=2,
        gpus=8),
    **UNIREPLKNET_RECIPES,
}
TOP_LEVEL = sorted(
    p for p in CONFIGS if osp.dirname(p) == osp.join(REPO, 'configs'))


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_checkpoints_atomically_and_resumes_exactly(path):
    cfg = load(path)
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.default_hooks.checkpoint.get('backend_args') is None
    assert dict(type='RNGStateHook') in cfg.custom_hooks
    # Set once, in the runtime bases: the plugin import and the runner that
    # loads load_from/resume checkpoints under the scoped allow-list.
    assert cfg.custom_imports == dict(
        imports=['mmreplk'], allow_failed_imports=False)
    assert cfg.runner_type == 'SafeResumeRunner'


def test_every_top_level_config_has_an_official_recipe():
    assert sorted(map(osp.basename, TOP_LEVEL)) == sorted(OFFICIAL_RECIPES)


@pytest.mark.parametrize('path', TOP_LEVEL, ids=osp.basename)
def test_config_trains_the_official_number_of_samples(path):
    """Samples = iterations x total batch (``auto_scale_lr.base_batch_size``,
    the batch the recipe was tuned for = images per GPU x GPUs), or the
    number of epochs; the lr schedule spans the whole run."""
    official = OFFICIAL_RECIPES[osp.basename(path)]
    cfg = load(path)
    total_batch = cfg.auto_scale_lr.base_batch_size
    per_gpu = cfg.train_dataloader.batch_size
    assert total_batch % per_gpu == 0, 'GPU count must be whole'
    if 'iters' in official:
        samples = cfg.train_cfg.max_iters * total_batch
        expected = official['iters'] * official['images_per_gpu'] * \
            official['gpus']
        assert samples == expected, (
            f'{cfg.train_cfg.max_iters} iters x {total_batch} = {samples} '
            f'samples; official {expected} ({official["source"]})')
        poly = [s for s in cfg.param_scheduler if s.type == 'PolyLR']
        assert poly and poly[-1].end == cfg.train_cfg.max_iters
    else:
        assert cfg.train_cfg.max_epochs == official['epochs'], \
            official['source']
        assert cfg.param_scheduler[-1].end == official['epochs']
        if 'gpus' in official:
            assert total_batch == official['images_per_gpu'] * \
                official['gpus'], official['source']


def test_published_results_belong_to_checked_recipes():
    """Every config that carries a published number is one whose samples
    are checked above, and every published entry names an existing
    config."""
    import yaml
    with open(osp.join(REPO, 'configs', 'published_results.yml')) as f:
        models = yaml.safe_load(f)['models']
    assert {f'{name}.py' for name in models} == set(OFFICIAL_RECIPES)
    for name, entry in models.items():
        metrics = {
            k: v
            for k, v in (entry.get('published') or {}).items()
            if 'AP' in k or 'mIoU' in k
        }
        if not metrics:
            continue
        # A published number comes with the official recipe it was
        # trained with, and the config's header names that official file;
        # the numbers themselves live in published_results.yml only.
        source = OFFICIAL_RECIPES[f'{name}.py']['source']
        assert source.startswith(('DingXiaoH/', 'lidc54/', 'VITA-Group/',
                                  'AILab-CVC/')), \
            name
        with open(osp.join(REPO, 'configs', f'{name}.py')) as f:
            header = re.split(r'^_base_ =', f.read(), flags=re.M)[0]
        # Only a pointer to that file, no number.
        assert header.count('Published') == header.count(
            'Published numbers: configs/published_results.yml.'), name
        official_file = source.split()[1].rsplit('/', 1)[-1]
        flat = ''.join(header.replace('#', ' ').split()).lower()
        assert official_file.lower() in flat, (name, official_file)
