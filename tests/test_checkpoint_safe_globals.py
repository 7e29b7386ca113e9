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
