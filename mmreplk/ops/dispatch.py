"""Back-end dispatch shared by mmreplk's custom ops.

Every op (``depthwise_conv2d``, ``add_shift``) declares its back ends once as
:class:`Backend` entries of an :class:`OpDispatcher`: a name, a function
that says why the back end cannot run an input (or ``None``), and the
device types on which ``impl='auto'`` may consider it. The dispatcher gives
every op the same semantics:

* ``impl='<name>'`` forces a back end; forcing one that cannot run the
  input raises ``ValueError`` naming the reason and the fix.
* ``impl='auto'`` picks among the candidates that can run the input on its
  device by *measurement* (:class:`Autotuner`, like ``cudnn.benchmark``):
  per key (op, direction, device, dtypes, shapes, padding) it times every
  candidate on the real tensors, keeps the fastest in a per-process cache,
  logs the choice once, and moves on to the next candidate when one raises.
  Back ends left out because they cannot run an input are logged once.

The choice is made inside the ops at run time, so ``torch.compile`` traces
one opaque call whatever is picked (no graph break, no recompile).

Choices can be persisted: ``MMREPLK_DISPATCH_CACHE=<file.json>`` makes the
process read earlier choices from that file and add its new ones to it
(atomic writes; a corrupt file is ignored with a warning and rewritten).
Training runs also store the choices in the checkpoint
(:class:`~mmreplk.engine.hooks.DispatchChoicesHook`) and reuse them on
``--resume``, since back ends differ in the last bits and a choice that
changed between runs would break bit-exact resumption.
"""
import contextlib
import functools
import json
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from mmengine.logging import print_log

from mmreplk.utils.atomic_write import atomic_write_bytes

CACHE_ENV = 'MMREPLK_DISPATCH_CACHE'
CACHE_VERSION = 1

_logged = set()


def log_once(key, msg):
    """``print_log(msg)`` the first time ``key`` is seen in this process."""
    if key not in _logged:
        _logged.add(key)
        print_log(msg, logger='current')


@functools.lru_cache(None)
def triton_import_error():
    """None when Triton imports, else the reason it does not."""
    try:
        import triton  # noqa: F401
    except Exception as err:  # ImportError, or a broken install
        return f'triton is not importable ({type(err).__name__}: {err})'
    return None


def triton_interpreter_on():
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def triton_device_reason(x):
    """Why Triton kernels cannot run on ``x``'s device, or None."""
    reason = triton_import_error()
    if reason:
        return reason
    if x.device.type == 'cuda' or (x.device.type == 'cpu'
                                   and triton_interpreter_on()):
        return None
    return (f'input is on {x.device.type}, not CUDA (CPU tensors need '
            'TRITON_INTERPRET=1)')


def autocast_dtype(device_type):
    """The dtype autocast gives ``F.conv2d``'s tensors on ``device_type``,
    or None when autocast is off there."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


def cast_for_autocast(tensors, dtype):
    """Autocast's cast of an op on its lower-precision list: floating-point
    tensors other than fp64 to ``dtype``; None and the rest unchanged."""
    return tuple(
        t.to(dtype) if t is not None and t.is_floating_point()
        and t.dtype != torch.float64 else t for t in tensors)


@contextlib.contextmanager
def use_impl(impl):
    """Run every mmreplk op with back end ``impl`` inside the block,
    whatever the layers' own ``impl`` options say.

    For example ``'torch'``, plain ``F.conv2d`` and PyTorch gathers, for an
    ONNX export or a comparison with the reference. ``impl`` must be a back
    end of every op (``'auto'``, ``'torch'`` or ``'triton'``).
    """
    check_impl_for_ops(impl, OpDispatcher.instances, 'use_impl')
    outer = OpDispatcher.forced_impl
    OpDispatcher.forced_impl = impl
    try:
        yield
    finally:
        OpDispatcher.forced_impl = outer


@dataclass(frozen=True)
class Backend:
    """One back end of an op.

    Args:
        name (str): The ``impl`` value that forces it.
        unsupported_reason (callable): ``(x, **op_args) -> str | None``.
        auto_devices (tuple[str] | None): Device types on which ``'auto'``
            measures it; None means every device, ``()`` none (it can only
            be forced).
    """
    name: str
    unsupported_reason: Callable
    auto_devices: Optional[Tuple[str, ...]] = None


class OpDispatcher:
    """The back ends of one op and how ``impl`` resolves to them.

    Args:
        op (str): Op name, used in messages and cache keys.
        backends (list[Backend]): In the order ``'auto'`` measures them
            (put the usually fastest first: later ones are cut short once
            they are clearly slower).
        reference (str): The back end that runs everything.
    """

    #: Every op's dispatcher, in the order the ops were defined.
    instances = []
    #: The back end :func:`use_impl` forces inside its block (a plain class
    #: attribute: ``torch.compile`` guards on it).
    forced_impl = None

    def __init__(self, op, backends, reference):
        self.op = op
        self.backends = {b.name: b for b in backends}
        self.reference = reference
        self.impls = ('auto', ) + tuple(self.backends)
        OpDispatcher.instances.append(self)

    def check_impl(self, impl):
        if impl not in self.impls:
            raise ValueError(f'Unknown impl {impl!r} for {self.op}; choose '
                             f'one of {self.impls}.')

    def check_forced(self, impl, x, **args):
        """Raise ValueError if the forced back end cannot run the input."""
        self.check_impl(impl)
        reason = self.backends[impl].unsupported_reason(x, **args)
        if reason:
            raise ValueError(
                f"{self.op}(impl='{impl}') cannot run this input: {reason}. "
                f"Use impl='auto' or '{self.reference}'.")

    def auto_candidates(self, x, **args):
        """Back ends ``'auto'`` measures for this input, in order; those that
        cannot run it are left out with a log line (once per reason)."""
        names = []
        for backend in self.backends.values():
            if backend.auto_devices is not None and \
                    x.device.type not in backend.auto_devices:
                continue
            reason = backend.unsupported_reason(x, **args)
            if reason:
                log_once((self.op, backend.name, reason),
                         f'mmreplk {self.op}: the {backend.name} back end '
                         f'cannot run this input ({reason}); auto leaves '
                         'it out.')
                continue
            names.append(backend.name)
        if self.reference not in names:
            names.append(self.reference)
        return names

    def resolve(self, impl, x, **args):
        """The back end to run, or ``'auto'`` when several candidates are
        left to be measured at run time; :func:`use_impl` overrides
        ``impl``."""
        impl = OpDispatcher.forced_impl or impl
        self.check_impl(impl)
        if impl != 'auto':
            self.check_forced(impl, x, **args)
            return impl
        names = self.auto_candidates(x, **args)
        return names[0] if len(names) == 1 else 'auto'


def check_impl_for_ops(impl, dispatchers, owner):
    """Check, when ``owner`` is built, that its one ``impl`` option names a
    back end of every op it feeds.

    A back-end name means the same on every op (``'auto'``: measured per
    input; ``'torch'``: the PyTorch reference; ``'triton'``: the Triton
    kernel), but not every op has every back end.

    Args:
        impl (str): The option's value.
        dispatchers (Sequence[OpDispatcher]): The ops ``impl`` feeds.
        owner (str): Layer or backbone name, for the message.

    Raises:
        ValueError: An op lacks ``impl``; the message names the op and the
            values every op accepts.
    """
    shared = tuple(v for v in dispatchers[0].impls
                   if all(v in d.impls for d in dispatchers))
    ops = ' and '.join(d.op for d in dispatchers)
    for d in dispatchers:
        if impl not in d.impls:
            raise ValueError(
                f'Unknown impl {impl!r} for {owner}: its impl feeds {ops}, '
                f'and {d.op} has no {impl!r} back end (it accepts '
                f'{d.impls}); use one of {shared}.')


def check_impl(impl, owner, ops):
    """Check, when ``owner`` is built, that its ``impl`` option names a back
    end of every op in ``ops`` (op names, e.g. ``('depthwise_conv2d',
    'add_shift')``); see :func:`check_impl_for_ops`."""
    by_name = {d.op: d for d in OpDispatcher.instances}
    unknown = [op for op in ops if op not in by_name]
    if unknown:
        raise ValueError(f'{owner}: no mmreplk op named {unknown}; the ops '
                         f'are {sorted(by_name)}.')
    check_impl_for_ops(impl, [by_name[op] for op in ops], owner)


def measure_call(key, name, fn, device):
    """Default timer of the :class:`Autotuner`: ``(output, seconds)`` of one
    call of ``fn``: CUDA events on the current stream on CUDA, wall clock
    elsewhere (``key`` and ``name`` are for injected timers)."""
    if device.type == 'cuda':
        with torch.cuda.device(device):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
        return out, start.elapsed_time(end) / 1e3
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def capturing_cuda_graph(device):
    """Whether the current CUDA stream is being captured into a graph (no
    measurement may run then: it would synchronise)."""
    return device.type == 'cuda' and torch.cuda.is_current_stream_capturing()


def device_name(device):
    """``cpu``, or ``cuda:<GPU model>`` (choices do not carry over between
    GPU models)."""
    if device.type == 'cuda':
        return _cuda_name(device.index if device.index is not None else torch.
                          cuda.current_device())
    return device.type


@functools.lru_cache(None)
def _cuda_name(index):
    return f'cuda:{torch.cuda.get_device_name(index)}'


def _describe(value):
    if isinstance(value, torch.dtype):
        return str(value).replace('torch.', '')
    if isinstance(value, (tuple, list)):
        return 'x'.join(str(v) for v in value)
    return str(value)


class Autotuner:
    """Measured back-end choice per (op, direction, key), cached.

    Args:
        timer (callable, optional): ``(key, name, fn, device) -> (output,
            seconds)``; defaults to :func:`measure_call`. Tests inject
            timings through it.
        repeats (int): Timed calls per candidate after one warm-up call on
            CPU.
        cuda_repeats (int): The same on CUDA (CUDA events: cheap).
        give_up_ratio (float): A candidate whose first timed call is this
            many times slower than the best so far is not timed again.
        cpu_skip_ratio (float): On CPU (no compilation on the first call), a
            candidate whose warm-up call is this many times slower than the
            best so far is not timed at all.
        margin (float): A later candidate must be this fraction faster than
            the best so far to replace it, so near-ties keep the earlier
            (usual) back end instead of following timing noise.
    """

    def __init__(self,
                 timer=None,
                 repeats=2,
                 cuda_repeats=5,
                 give_up_ratio=3.0,
                 cpu_skip_ratio=10.0,
                 margin=0.05):
        self.timer = timer or measure_call
        self.repeats = repeats
        self.cuda_repeats = cuda_repeats
        self.give_up_ratio = give_up_ratio
        self.cpu_skip_ratio = cpu_skip_ratio
        self.margin = margin
        self.choices = {}
        self.pinned = set()
        self._file_loaded = None

    # ----------------------------------------------------------- keys
    @staticmethod
    def make_key(op, direction, device, fields):
        """``op|direction|device|k=v|...`` (a JSON-friendly string)."""
        parts = [op, direction, device_name(device)]
        parts += [f'{k}={_describe(v)}' for k, v in fields.items()]
        return '|'.join(parts)

    # ---------------------------------------------------- persistence
    def cache_path(self):
        return os.environ.get(CACHE_ENV) or None

    def _read_file(self, path):
        """Choices stored in ``path`` ({} if missing or corrupt)."""
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as f:
                data = json.load(f)
            if not isinstance(data, dict) or \
                    data.get('version') != CACHE_VERSION or \
                    not isinstance(data.get('choices'), dict) or \
                    not all(isinstance(k, str) and isinstance(v, str)
                            for k, v in data['choices'].items()):
                raise ValueError('not a version-1 mmreplk dispatch cache')
            return data['choices']
        except (OSError, ValueError) as err:
            msg = (f'mmreplk dispatch: ignoring the corrupt back-end cache '
                   f'{path} ({type(err).__name__}: {err}); back ends will '
                   'be measured again and the file rewritten.')
            warnings.warn(msg)
            print_log(msg, logger='current', level=30)
            return {}

    def _load_file(self):
        path = self.cache_path()
        if path is None or self._file_loaded == path:
            return
        self._file_loaded = path
        for key, name in self._read_file(path).items():
            if key not in self.pinned:
                self.choices.setdefault(key, name)

    def _save_file(self, key, name):
        path = self.cache_path()
        if path is None:
            return
        stored = self._read_file(path)
        stored[key] = name
        data = dict(
            version=CACHE_VERSION, choices=dict(sorted(stored.items())))
        try:
            atomic_write_bytes((json.dumps(data, indent=1) + '\n').encode(),
                               path)
        except OSError as err:
            log_once(('cache-write', path),
                     f'mmreplk dispatch: cannot write the back-end cache '
                     f'{path} ({err}); choices stay in this process only.')

    # ------------------------------------------------ run-wide state
    def export(self):
        """All choices of this process (``{key: back end}``)."""
        return dict(self.choices)

    def pin(self, choices):
        """Use ``choices`` (e.g. a resumed checkpoint's) over measurements
        and over the persisted cache."""
        self._load_file()
        self.choices.update(choices)
        self.pinned.update(choices)

    def known_choice(self, key):
        """The back end chosen (measured, cached or pinned) for ``key``, or
        None; measures nothing."""
        self._load_file()
        return self.choices.get(key)

    def clear(self):
        """Forget every choice (a fresh process)."""
        self.choices.clear()
        self.pinned.clear()
        self._file_loaded = None

    # ----------------------------------------------------------- run
    def run(self, key, candidates, device, probes=None, reference=None):
        """Run the chosen candidate for ``key`` (measuring them first if no
        choice is known) and return its output.

        While a CUDA graph is being captured nothing is measured: the known
        choice runs, or ``reference`` when there is none yet (logged once,
        not stored).

        Args:
            key (str): From :meth:`make_key`.
            candidates (dict[str, callable]): Back end -> zero-argument
                call, in measuring order.
            device (torch.device): Where the calls run.
            probes (dict[str, callable], optional): The same calls on a
                slice of the batch. On CPU, candidates whose probe is more
                than ``cpu_skip_ratio`` times slower than the fastest probe
                are dropped before any full-size call (the reference can
                take tens of seconds on a large CPU batch).
            reference (str, optional): The candidate to run unmeasured
                during a CUDA graph capture; defaults to the last one.
        """
        self._load_file()
        name = self.choices.get(key)
        if name not in candidates and capturing_cuda_graph(device):
            name = reference if reference in candidates else list(
                candidates)[-1]
            log_once(('capture', key),
                     f'mmreplk dispatch: {key} first met while a CUDA graph '
                     f'is captured: running {name} unmeasured (warm up '
                     'before capturing to measure it).')
            return candidates[name]()
        if name in candidates:
            try:
                return candidates[name]()
            except Exception as err:  # e.g. out of memory, compile error
                print_log(
                    f'mmreplk dispatch: {name} failed on {key} '
                    f'({type(err).__name__}: {err}); measuring the '
                    'other back ends.',
                    logger='current',
                    level=30)
                candidates = {k: v for k, v in candidates.items() if k != name}
                self.pinned.discard(key)
                if not candidates:
                    raise
        return self._measure(key, candidates, device, probes)

    def _probe(self, key, candidates, probes, device):
        """Candidates left after the sub-batch probes (CPU), and notes on
        those dropped."""
        probe_times, notes = {}, {}
        for name in candidates:
            try:
                probe_times[name] = self.timer(key, name, probes[name],
                                               device)[1]
            except Exception as err:
                notes[name] = f'failed on a sub-batch ({err})'
                print_log(
                    f'mmreplk dispatch: {name} failed on {key} '
                    f'({type(err).__name__}: {err}); trying the next '
                    'back end.',
                    logger='current',
                    level=30)
        if not probe_times:
            return candidates, notes
        fastest = min(probe_times.values())
        kept = {}
        for name, fn in candidates.items():
            if name not in probe_times:
                continue
            if probe_times[name] > self.cpu_skip_ratio * fastest:
                notes[name] = (f'{probe_times[name] / fastest:.0f}x the '
                               'fastest on a sub-batch')
            else:
                kept[name] = fn
        return kept, notes

    def _measure(self, key, candidates, device, probes=None):
        best_name, best_time, best_out, last_err = None, None, None, None
        times = {}
        notes = {}
        if probes is not None and device.type == 'cpu':
            candidates, notes = self._probe(key, candidates, probes, device)
        for name, fn in candidates.items():
            try:
                out, warm = self.timer(key, name, fn, device)
                if device.type == 'cpu' and best_time is not None and \
                        warm > self.cpu_skip_ratio * best_time:
                    times[name] = warm
                    continue
                timed = []
                repeats = self.cuda_repeats if device.type == 'cuda' \
                    else self.repeats
                for _ in range(repeats):
                    timed.append(self.timer(key, name, fn, device)[1])
                    if best_time is not None and \
                            timed[-1] > self.give_up_ratio * best_time:
                        break
            except Exception as err:
                last_err = err
                print_log(
                    f'mmreplk dispatch: {name} failed on {key} '
                    f'({type(err).__name__}: {err}); trying the next '
                    'back end.',
                    logger='current',
                    level=30)
                continue
            times[name] = min(timed)
            if best_time is None or \
                    times[name] < (1 - self.margin) * best_time:
                best_name, best_time, best_out = name, times[name], out
            del out
        if best_name is None:
            raise last_err or RuntimeError(f'No back end could run {key}.')
        self.choices[key] = best_name
        print_log(
            f'mmreplk dispatch: {key} -> {best_name} (' +
            ', '.join([f'{n} {t * 1e3:.3g} ms' for n, t in times.items()] +
                      [f'{n}: {note}' for n, note in notes.items()]) + ')',
            logger='current')
        self._save_file(key, best_name)
        return best_out


AUTOTUNER = Autotuner()
