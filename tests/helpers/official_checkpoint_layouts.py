"""Checkpoints laid out exactly as the official training scripts save them
(the dicts of RepLKNet-pytorch / shift-wiseConv ``utils.save_model`` and of
OREPA's ``train.py``), around a given model state dict."""
import argparse

import torch

from mmreplk.utils import build_model_from_config, load_config


def official_training_args():
    """The argparse.Namespace the ConvNeXt-style ``main.py`` of RepLKNet and
    ShiftWise passes to ``save_model`` (a few of its real options)."""
    return argparse.Namespace(
        model='SW_tiny',
        batch_size=64,
        epochs=300,
        drop_path=0.4,
        lr=4e-3,
        update_freq=1,
        model_ema=False,
        data_path='/data/imagenet',
        output_dir='./checkpoints',
        input_size=224,
        dist_url='env://',
        sparse=True,
        width_factor=1.0,
        kernel_size=[51, 49, 47, 13, 3],
        resume='',
        gpu=0,
        distributed=True)


def optimizer_state(state):
    """A real ``optimizer.state_dict()`` after one AdamW step."""
    params = [
        torch.nn.Parameter(t.float().clone()) for t in list(state.values())[:3]
    ]
    optimizer = torch.optim.AdamW(params, lr=4e-3, weight_decay=0.05)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    return optimizer.state_dict()


def save_model_layout(state):
    """Exactly the dict the official ``utils.save_model`` of RepLKNet and
    ShiftWise saves."""
    scaler = torch.amp.GradScaler('cpu', init_scale=65536.0)
    return {
        'model': state,
        'optimizer': optimizer_state(state),
        'epoch': 299,
        'scaler': scaler.state_dict(),
        'args': official_training_args()
    }


def orepa_train_layout(state):
    """The dict OREPA's ``train.py`` saves: epoch, arch, state_dict,
    best_acc1 (a tensor), optimizer and scheduler state."""
    return {
        'epoch': 200,
        'arch': 'ResNet-18',
        'state_dict': state,
        'best_acc1': torch.tensor(71.5),
        'optimizer': optimizer_state(state),
        'scheduler': {
            'T_cosine_max': 1000,
            'eta_min': 0,
            'last_epoch': 5,
            '_last_lr': [0.1]
        }
    }


def old_head_keys(config, seed=0):
    """Random head tensors named as an mmseg 0.x / mmdet 2.x checkpoint
    names them (the same names as the 1.x / 3.x modules of ``config``)."""
    model = build_model_from_config(load_config(config))
    gen = torch.Generator().manual_seed(seed)
    return {
        k:
        torch.randn(v.shape, generator=gen).to(v.dtype)
        if v.is_floating_point() else v
        for k, v in model.state_dict().items() if not k.startswith('backbone.')
    }
