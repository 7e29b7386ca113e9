"""The shared back-end dispatch (mmreplk.ops.dispatch) with injected
timings: 'auto' picks the fastest back end per direction, caches it, keeps
a forced back end, survives a back end that raises, bounds the timing cost,
persists its choices atomically (ignoring a corrupt file with a warning), and
a resumed training run reuses the choices of the checkpoint (bit-exact)."""
import importlib
import json
import os

import pytest
import torch
import torch.nn.functional as F

from mmreplk.ops import add_shift, depthwise_conv2d, dispatch
from mmreplk.ops.depthwise_conv import api as dw_front
from mmreplk.ops.dispatch import AUTOTUNER, CACHE_ENV, Autotuner
from mmreplk.utils import mmengine_checkpoint_safe_globals

DIRECTIONS = ('forward', 'grad_input', 'grad_weight')


def direction_of(key):
    return key.split('|')[1]


class FakeTimer:
    """Injected timer: seconds from ``table[direction][backend]`` (a
    missing entry is slow); counts calls per (direction, backend)."""

    def __init__(self, table):
        self.table = table
        self.calls = {}

    def __call__(self, key, name, fn, device):
        d = direction_of(key)
        self.calls[(d, name)] = self.calls.get((d, name), 0) + 1
        return fn(), self.table.get(d, {}).get(name, 1.0)


@pytest.fixture
def tuner(monkeypatch, tmp_path):
    """The process-wide autotuner, emptied, with a private cache file and
    the log captured; restored afterwards."""
    monkeypatch.setattr(AUTOTUNER, 'choices', {})
    monkeypatch.setattr(AUTOTUNER, 'pinned', set())
    monkeypatch.setattr(AUTOTUNER, '_file_loaded', None)
    monkeypatch.setattr(AUTOTUNER, 'timer', FakeTimer({}))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / 'choices.json'))
    logged = []
    monkeypatch.setattr(dispatch, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    monkeypatch.setattr(AUTOTUNER, 'logged', logged, raising=False)
    yield AUTOTUNER


def spy_backends(monkeypatch):
    """Record which back-end function runs (module attributes are looked
    up at call time by the op)."""
    from mmreplk.ops.depthwise_conv import cpu_impl as depthwise_conv_cpu
    from mmreplk.ops.depthwise_conv import fft_impl as depthwise_conv_fft
    from mmreplk.ops.depthwise_conv import torch_impl as depthwise_conv_torch
    calls = []
    for name, module in (('cpu', depthwise_conv_cpu),
                         ('fft', depthwise_conv_fft), ('torch',
                                                       depthwise_conv_torch)):
        for fn in ('conv_forward', 'conv_backward_input',
                   'conv_backward_weight'):
            orig = getattr(module, fn)

            def wrapped(*a, _orig=orig, _tag=(name, fn), **k):
                calls.append(_tag)
                return _orig(*a, **k)

            monkeypatch.setattr(module, fn, wrapped)
    return calls


def run_op(x, w, b, impl='auto'):
    x = x.detach().requires_grad_()
    w = w.detach().requires_grad_()
    b = b.detach().requires_grad_()
    y = depthwise_conv2d(x, w, b, impl=impl)
    go = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    y.backward(go)
    return y, x.grad, w.grad, b.grad


def reference(x, w, b):
    x, w, b = (t.detach().double().requires_grad_() for t in (x, w, b))
    y = F.conv2d(
        x, w, b, padding=(w.shape[2] // 2, w.shape[3] // 2), groups=x.shape[1])
    y.backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape).double())
    return y, x.grad, w.grad, b.grad


def inputs(seed=0, shape=(2, 3, 14, 13), kernel=(7, 9)):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=gen),
            torch.randn(shape[1], 1, *kernel,
                        generator=gen), torch.randn(shape[1], generator=gen))


def assert_matches_reference(got, ref):
    for g, r in zip(got, ref):
        torch.testing.assert_close(g.double(), r, rtol=1e-5, atol=1e-5)


def test_candidates_and_forcing():
    x = torch.randn(1, 2, 8, 8)
    args = dict(kernel=(31, 31), padding=(15, 15), stride=(1, 1))
    # The Triton interpreter (on in the tests) is never an 'auto' candidate.
    assert os.environ.get('TRITON_INTERPRET') == '1'
    assert dw_front.DISPATCHER.auto_candidates(x, **args) == \
        ['cpu', 'torch', 'fft']
    assert dw_front.select_impl(x, (31, 31), (15, 15), (1, 1)) == 'auto'
    assert dw_front.select_impl(x, (31, 31), (15, 15), (1, 1), 'fft') == \
        'fft'
    # Only the reference can run stride 2: no measuring, F.conv2d directly.
    assert dw_front.select_impl(x, (3, 3), (1, 1), (2, 2)) == 'torch'
    with pytest.raises(ValueError, match=r"padding.*Use impl='auto'"):
        dw_front.select_impl(x, (3, 3), (3, 3), (1, 1), 'cpu')
    with pytest.raises(ValueError, match='Unknown impl'):
        dw_front.select_impl(x, (3, 3), (1, 1), (1, 1), 'cudnn')
    shift_front = importlib.import_module('mmreplk.ops.add_shift.api')
    assert shift_front.select_impl(x, 'auto') == 'torch'  # CPU tensors


def test_auto_picks_fastest_per_direction_and_caches(tuner, monkeypatch):
    tuner.timer = FakeTimer(
        dict(
            forward=dict(cpu=3e-3, fft=1e-3, torch=9e-3),
            grad_input=dict(cpu=2e-3, fft=4e-3, torch=1e-3),
            grad_weight=dict(cpu=1e-3, fft=2e-3, torch=5e-3)))
    x, w, b = inputs()
    got = run_op(x, w, b)
    assert_matches_reference(got, reference(x, w, b))
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    picked = {direction_of(k): v for k, v in tuner.choices.items()}
    assert picked == dict(forward='fft', grad_input='torch', grad_weight='cpu')
    assert len([m for m in tuner.logged if '->' in m]) == 3
    # Cached: no more timing, and only the chosen back ends run.
    n_timed = sum(tuner.timer.calls.values())
    calls = spy_backends(monkeypatch)
    again = run_op(x, w, b)
    assert sum(tuner.timer.calls.values()) == n_timed
    # (the CPU path's grad weight is the FFT module's correlation)
    assert sorted(calls) == [('cpu', 'conv_backward_weight'),
                             ('fft', 'conv_backward_weight'),
                             ('fft', 'conv_forward'),
                             ('torch', 'conv_backward_input')]
    for a, g in zip(again, got):
        assert torch.equal(a, g)
    # A new shape is a new key.
    run_op(*inputs(1, (1, 3, 9, 9)))
    assert len(tuner.choices) == 6


def test_timing_cost_is_bounded(tuner):
    tuner.timer = FakeTimer(
        dict(
            forward=dict(cpu=1e-3, fft=2e-3, torch=0.5),
            grad_input=dict(cpu=1e-3, fft=5e-3, torch=1.5e-3),
            grad_weight=dict(cpu=1e-3, fft=1e-3, torch=1e-3)))
    run_op(*inputs())
    calls = tuner.timer.calls
    # warm-up + 2 timed calls; a candidate > 3x the best after its first
    # timed call is not timed again; on CPU one > 10x after the warm-up is
    # not timed at all.
    assert calls[('forward', 'cpu')] == 3
    assert calls[('forward', 'fft')] == 3
    assert calls[('forward', 'torch')] == 1
    assert calls[('grad_input', 'fft')] == 2
    # Ties keep the first candidate in measuring order.
    assert tuner.choices[[
        k for k in tuner.choices if direction_of(k) == 'grad_weight'
    ][0]] == 'cpu'
    # So do near-ties: a later candidate must be > 5 % faster.
    fns = dict(cpu=lambda: 'cpu', fft=lambda: 'fft')
    tuner.timer = FakeTimer(dict(d=dict(cpu=1.0, fft=0.96)))
    assert tuner.run('op|d|cpu|near', fns, torch.device('cpu')) == 'cpu'
    tuner.timer = FakeTimer(dict(d=dict(cpu=1.0, fft=0.94)))
    assert tuner.run('op|d|cpu|clear', fns, torch.device('cpu')) == 'fft'


def test_cpu_probe_on_one_sample_drops_slow_candidates(tuner):
    # Batch >= 4 on CPU: every candidate first runs on one sample; one more
    # than 10x slower there never runs at full size.
    tuner.timer = FakeTimer({d: dict(cpu=1e-3, fft=2e-3) for d in DIRECTIONS})
    x, w, b = inputs(shape=(4, 3, 14, 13))
    assert_matches_reference(run_op(x, w, b), reference(x, w, b))
    for d in DIRECTIONS:
        assert tuner.timer.calls[(d, 'torch')] == 1, d
        assert tuner.timer.calls[(d, 'cpu')] == 4, d  # probe, warm-up, 2
    assert sum('torch: 1000x the fastest on a sub-batch' in m
               for m in tuner.logged) == 3


def test_forced_backend_is_not_measured(tuner, monkeypatch):
    tuner.timer = FakeTimer({d: dict(fft=1e-6) for d in DIRECTIONS})
    calls = spy_backends(monkeypatch)
    x, w, b = inputs()
    assert_matches_reference(run_op(x, w, b, impl='cpu'), reference(x, w, b))
    assert not tuner.timer.calls and not tuner.choices
    assert sorted(calls) == [('cpu', 'conv_backward_input'),
                             ('cpu', 'conv_backward_weight'),
                             ('cpu', 'conv_forward'),
                             ('fft', 'conv_backward_weight')]  # via cpu


def test_backend_that_raises_is_skipped_and_logged(tuner, monkeypatch):
    from mmreplk.ops.depthwise_conv import fft_impl as depthwise_conv_fft
    tuner.timer = FakeTimer(
        {d: dict(fft=1e-4, cpu=2e-3, torch=3e-3)
         for d in DIRECTIONS})

    def broken(*args, **kwargs):
        raise RuntimeError('simulated out of memory')

    monkeypatch.setattr(depthwise_conv_fft, 'conv_forward', broken)
    x, w, b = inputs()
    assert_matches_reference(run_op(x, w, b), reference(x, w, b))
    picked = {direction_of(k): v for k, v in tuner.choices.items()}
    assert picked == dict(forward='cpu', grad_input='fft', grad_weight='fft')
    assert any('fft failed' in m and 'simulated out of memory' in m
               for m in tuner.logged)
    # A cached choice that starts failing is dropped and re-measured.
    monkeypatch.setattr(depthwise_conv_fft, 'conv_backward_input', broken)
    monkeypatch.setattr(depthwise_conv_fft, 'conv_backward', broken)
    assert_matches_reference(run_op(x, w, b), reference(x, w, b))
    picked = {direction_of(k): v for k, v in tuner.choices.items()}
    assert picked == dict(forward='cpu', grad_input='cpu', grad_weight='fft')
    assert any('fft failed' in m and 'measuring the other' in m
               for m in tuner.logged)
    # Every candidate failing raises the error.
    tuner.choices.clear()
    with pytest.raises(RuntimeError, match='simulated'):
        tuner.run('op|d|cpu', dict(a=broken, b=broken), torch.device('cpu'))


def test_persisted_cache_atomic_and_corrupt_file(tuner, monkeypatch, tmp_path):
    path = tmp_path / 'choices.json'
    writes = []
    real_write = dispatch.atomic_write_bytes

    def spy_write(data, filepath):
        writes.append(filepath)
        return real_write(data, filepath)

    monkeypatch.setattr(dispatch, 'atomic_write_bytes', spy_write)
    tuner.timer = FakeTimer({d: dict(torch=1e-4) for d in DIRECTIONS})
    x, w, b = inputs()
    run_op(x, w, b)
    stored = json.loads(path.read_text())
    assert stored['version'] == 1
    assert set(stored['choices'].values()) == {'torch'}
    assert stored['choices'] == tuner.choices and writes == [str(path)] * 3
    assert sorted(os.listdir(tmp_path)) == ['choices.json']  # no temp files
    # A new process reads the file and measures nothing.
    fresh = Autotuner(timer=FakeTimer({}))
    out = fresh.run(
        next(iter(stored['choices'])),
        dict(cpu=lambda: 'cpu', torch=lambda: 'torch'), torch.device('cpu'))
    assert out == 'torch' and not fresh.timer.calls
    # A corrupt file: warning, measured again, file rewritten.
    for bad in ('{"version": 1, "choices": [', '{"version": 7}',
                '{"version": 1, "choices": {"k": 3}}'):
        path.write_text(bad)
        fresh = Autotuner(timer=FakeTimer({'d': dict(cpu=1e-3)}))
        with pytest.warns(UserWarning, match='corrupt'):
            out = fresh.run('op|d|cpu',
                            dict(cpu=lambda: 'cpu', torch=lambda: 'torch'),
                            torch.device('cpu'))
        assert out == 'cpu' and fresh.timer.calls
        assert json.loads(path.read_text())['choices'] == {'op|d|cpu': 'cpu'}


def test_add_shift_measured_auto(tuner, monkeypatch):
    """add_shift shares the dispatch: with Triton let into 'auto' on CPU
    (interpreter), the forward and the input gradient (the same op on the
    inverted tables) are measured per shape."""
    shift_front = importlib.import_module('mmreplk.ops.add_shift.api')
    from mmreplk.ops.add_shift.torch_impl import add_shift_reference
    triton = shift_front.DISPATCHER.backends['triton']
    monkeypatch.setitem(
        shift_front.DISPATCHER.backends, 'triton',
        dispatch.Backend(
            'triton', triton.unsupported_reason, auto_devices=('cpu', 'cuda')))
    tuner.timer = FakeTimer(dict(forward=dict(triton=1e-3, torch=2e-3)))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 7, generator=gen, requires_grad=True)
    src = torch.randint(-1, 3, (4, 2), generator=gen)
    dh = torch.randint(-3, 4, (4, 2), generator=gen)
    dw = torch.randint(-3, 4, (4, 2), generator=gen)
    y = add_shift(x, src, dh, dw, (5, 8))
    y.backward(torch.ones_like(y))
    xr = x.detach().requires_grad_()
    yr = add_shift_reference(xr, src, dh, dw, (5, 8))
    yr.backward(torch.ones_like(yr))
    torch.testing.assert_close(y, yr)
    torch.testing.assert_close(x.grad, xr.grad)
    assert sorted(tuner.choices.values()) == ['triton', 'triton']
    assert len({k.split('|', 3)[3] for k in tuner.choices}) == 2


# ------------------------------------------------------------ resume
class TinyLargeKernelNet(torch.nn.Module):
    """Two large-kernel depthwise layers ('auto') between 1x1 convs."""

    def __init__(self):
        super().__init__()
        from mmreplk.models.layers import DepthwiseConv2d
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 1), DepthwiseConv2d(8, 8, 13, padding=6),
            torch.nn.GELU(), DepthwiseConv2d(8, 8, 9, padding=4),
            torch.nn.Conv2d(8, 2, 1))

    def forward(self, x):
        return self.layers(x)


def train_run(work_dir, max_iters, timer, resume=False):
    """A fresh 'process' (empty autotuner with ``timer``) training the tiny
    net with mmreplk's SafeResumeRunner (mmengine's Runner, resuming under
    the scoped checkpoint allow-list) and a checkpoint every 2
    iterations."""
    from mmengine.model import BaseModel

    from mmreplk.engine import SafeResumeRunner

    class Model(BaseModel):

        def __init__(self):
            super().__init__()
            self.net = TinyLargeKernelNet()

        def forward(self, inputs, target, mode='loss'):
            return dict(loss=(self.net(inputs) - target).square().mean())

    gen = torch.Generator().manual_seed(1)
    data = [
        dict(
            inputs=torch.randn(3, 20, 18, generator=gen),
            target=torch.randn(2, 20, 18, generator=gen)) for _ in range(8)
    ]
    AUTOTUNER.clear()
    AUTOTUNER.timer = timer
    runner = SafeResumeRunner(
        model=Model(),
        work_dir=str(work_dir),
        experiment_name=f'{work_dir.name}_{max_iters}_{resume}',
        train_dataloader=dict(
            dataset=data,
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[dict(type='DispatchChoicesHook')],
        resume=resume,
        log_level='WARNING')
    runner.train()
    with mmengine_checkpoint_safe_globals():
        return torch.load(
            work_dir / f'iter_{max_iters}.pth', weights_only=True)


def test_resumed_run_reuses_checkpointed_choices_bit_exact(
        tuner, tmp_path, monkeypatch):
    """4 iterations straight == 2, stop, resume to 4, although the resumed
    process would measure different winners: it must reuse the
    checkpoint's."""
    monkeypatch.delenv(CACHE_ENV)
    favour_fft = FakeTimer({d: dict(fft=1e-4) for d in DIRECTIONS})
    favour_other = FakeTimer(
        {d: dict(cpu=1e-4, torch=1e-4)
         for d in DIRECTIONS})
    straight = train_run(tmp_path / 'straight', 4, favour_fft)
    first = train_run(tmp_path / 'resumed', 2, favour_fft)
    stored = first['meta']['mmreplk_dispatch_choices']
    assert stored['world_size'] == 1
    choices, = stored['ranks']
    assert set(choices.values()) == {'fft'} and len(choices) == 6
    resumed = train_run(tmp_path / 'resumed', 4, favour_other, resume=True)
    assert resumed['meta']['iter'] == 4
    assert resumed['meta']['mmreplk_dispatch_choices']['ranks'] == [choices]
    for key, value in straight['state_dict'].items():
        torch.testing.assert_close(
            resumed['state_dict'][key], value, rtol=0, atol=0, msg=key)
