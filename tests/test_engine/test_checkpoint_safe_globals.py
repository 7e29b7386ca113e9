"""The resume fix allow-lists only what mmengine needs, only where asked."""
import io
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmreplk.utils.checkpoint_safe_globals import (
    history_buffer_statistic, mmengine_checkpoint_safe_globals)


def test_message_hub_state_round_trips_with_weights_only():
    hub = MessageHub.get_instance('safe_globals_test')
    for v in (1.0, 2.0, 4.0):
        hub.update_scalar('train/loss', v)
    buf = io.BytesIO()
    torch.save({'message_hub': hub.state_dict()}, buf)
    buf.seek(0)
    with mmengine_checkpoint_safe_globals():
        state = torch.load(buf, weights_only=True)['message_hub']
    loss = state['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert loss.mean() == pytest.approx(7 / 3) and loss.max() == 4.0


def test_getattr_stand_in_refuses_everything_else():
    assert history_buffer_statistic(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    for owner, name in ((object, '__subclasses__'), (HistoryBuffer,
                                                     '__init__'),
                        (torch, 'load'), (HistoryBuffer, '__class__')):
        with pytest.raises(pickle.UnpicklingError, match='Refusing'):
            history_buffer_statistic(owner, name)


class Evil:

    def __reduce__(self):
        return (getattr, (object, '__subclasses__'))


def test_malicious_getattr_checkpoint_is_rejected():
    buf = io.BytesIO()
    torch.save({'x': Evil()}, buf)
    buf.seek(0)
    with mmengine_checkpoint_safe_globals(), \
            pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)


def _training_checkpoint(path, state_dict):
    """An mmengine-style training checkpoint: weights plus the message
    hub's HistoryBuffers, which the plain safe unpickler refuses."""
    hub = MessageHub.get_instance('safe_globals_runner_test')
    hub.update_scalar('train/loss', 1.0)
    torch.save({
        'state_dict': state_dict,
        'message_hub': hub.state_dict()
    }, path)


@pytest.mark.parametrize('load', ['pretrained_init_cfg', 'load_from'])
def test_safe_resume_runner_scopes_its_own_loads(tmp_path, load):
    """SafeResumeRunner loads an iter_N.pth through a Pretrained init_cfg
    and through load_from; outside the runner the same load is refused."""
    from mmengine.model import BaseModel

    from mmreplk.engine import SafeResumeRunner

    class Tiny(BaseModel):

        def __init__(self, init_cfg=None):
            super().__init__(init_cfg=init_cfg)
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.fc(inputs)

    source = Tiny()
    torch.nn.init.constant_(source.fc.weight, 0.5)
    ckpt = tmp_path / 'iter_4.pth'
    _training_checkpoint(ckpt, source.state_dict())
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)

    init_cfg = dict(type='Pretrained', checkpoint=str(ckpt)) \
        if load == 'pretrained_init_cfg' else None
    runner = SafeResumeRunner(
        model=Tiny(init_cfg=init_cfg),
        work_dir=str(tmp_path / 'work'),
        load_from=str(ckpt) if load == 'load_from' else None,
        experiment_name=f'safe_globals_{load}')
    if load == 'pretrained_init_cfg':
        runner._init_model_weights()
    else:
        runner.load_or_resume()
    assert torch.equal(runner.model.fc.weight, source.fc.weight)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)
