"""OREPA kernel generation: batched generation equals unit-by-unit
generation (outputs and gradients, fp64), the batched kernels reach their
units through the owner's forward pass only (nested, re-entrant and failing
passes included), the operation counter counts, and the operations of one
OREPA-ResNet-18 training step stay at their measured level."""
import copy
import json
import weakref

import pytest
import torch

from mmreplk.analysis import DispatchedOpCounter, relative_max_diff
from mmreplk.analysis.dispatch_count import training_step_ops
from mmreplk.models.backbones import OREPARepVGG, OREPAResNet
from mmreplk.models.layers import orepa_kernel_batching
from mmreplk.models.layers.orepa_kernel_batching import (batched_kernels,
                                                         collect_online_units,
                                                         kernel_consumers)
from tests.helpers.tools import load_tool, run_tool

GRAD_TOL = 1e-10  # relative, fp64

# Kernel operations of one training step (forward, backward, foreach SGD)
# of ResNet-18 backbones on CPU with recompute_kernel=True, measured with
# torch 2.13 (see benchmarks/train_cost/train_cost_cpu.md). A change that
# adds operations to the OREPA step must raise these on purpose.
RESNET18_OPS_MEASURED = dict(conv=162, orepa_eager=817, orepa_batched=479)


def randomise(model, seed=0):
    """Random parameters everywhere (zero-initialised branches included) and
    random BN statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * .3)
    return model


SMALL_ARCHS = {
    # Stem OREPAKernels (8->8) share a group with stage-1 OREPA units.
    'resnet_basic':
    lambda **kw: OREPAResNet(
        arch=dict(
            block='basic', stage_blocks=(2, 1, 1, 1), channels=(8, 16, 32, 64)
        ),
        **kw),
    # Grouped 3x3 units and OREPA_1x1 units in groups.
    'resnext_bottleneck':
    lambda **kw: OREPAResNet(
        arch=dict(
            block='bottleneck',
            stage_blocks=(2, 1, 1, 1),
            channels=(32, 64, 128, 256),
            groups=2,
            width_per_group=16),
        **kw),
    # RepVGGBlock_OREPA dense branches (5-row and 6-row vectors).
    'repvgg':
    lambda **kw: OREPARepVGG(
        arch=dict(stage_blocks=(3, 2, 1, 1), channels=(8, 16, 32, 64)), **kw),
}


@pytest.mark.parametrize('recompute', [True, False])
@pytest.mark.parametrize('arch', list(SMALL_ARCHS))
def test_batched_generation_equals_eager(arch, recompute):
    torch.manual_seed(0)
    eager = randomise(SMALL_ARCHS[arch](
        recompute_kernel=recompute, kernel_gen='eager')).double()
    batched = copy.deepcopy(eager)
    batched.kernel_gen = 'batched'
    generators, _ = collect_online_units(batched)
    shapes = {tuple(t.shape for t in g.kernel_inputs()) for g in generators}
    assert len(shapes) < len(generators), 'no group of two or more units'
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    outs = []
    for model in (eager, batched):
        out = model.train()(x)
        sum(o.pow(2).mean() for o in out).backward()
        outs.append(out)
    for a, b in zip(*outs):
        assert relative_max_diff(a, b) < GRAD_TOL
    for (name, a), b in zip(eager.named_parameters(), batched.parameters()):
        assert relative_max_diff(a.grad, b.grad) < GRAD_TOL, name


def test_batched_kernels_are_used_and_released():
    model = SMALL_ARCHS['resnet_basic'](kernel_gen='batched').train()
    generators, composers = collect_online_units(model)
    consumers = kernel_consumers(generators, composers)
    calls = []
    for unit in generators:
        unit.squeezed_kernel = lambda: calls.append(1)  # must not run
    with batched_kernels(model):
        assert all(u.batched_kernel is not None for u in consumers)
        model.stage1(model.stage0(torch.randn(1, 3, 32, 32)))
    assert not calls
    assert all(u.batched_kernel is None for u in consumers)


def test_no_module_level_kernel_store():
    """The kernels travel with the units, not through a module global."""
    stores = [
        name for name, value in vars(orepa_kernel_batching).items()
        if isinstance(value, (dict, list, set, weakref.WeakKeyDictionary,
                              weakref.WeakValueDictionary))
        and not name.startswith('__')
    ]
    assert not stores


def _kernels_seen(model):
    """Record, per consumer unit, the ``batched_kernel`` of each call."""
    consumers = kernel_consumers(*collect_online_units(model))
    seen = {unit: [] for unit in consumers}
    for unit in consumers:
        unit.register_forward_pre_hook(
            lambda m, args: seen[m].append(m.batched_kernel))
    return consumers, seen


@pytest.mark.parametrize('inner_grad', [True, False])
def test_nested_forward_keeps_each_pass_kernels(inner_grad):
    """A hook that runs the backbone again inside its own forward pass (a
    re-entrant call): the inner pass generates (or, without gradients,
    computes) its own kernels, and the outer pass gets its own back for
    the blocks after it; results and gradients equal an eager model's."""
    torch.manual_seed(0)
    eager = randomise(SMALL_ARCHS['resnet_basic'](kernel_gen='eager'))
    eager.double()
    model = copy.deepcopy(eager)
    model.kernel_gen = 'batched'
    model.train()
    consumers, seen = _kernels_seen(model)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    y = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    outer, nested = {}, []

    def snapshot(module, args):
        if not outer:
            outer.update({u: u.batched_kernel for u in consumers})

    def run_inner(module, args):
        if not nested:
            nested.append(None)
            with torch.set_grad_enabled(inner_grad):
                nested[0] = model(y)

    model.stage0.register_forward_pre_hook(snapshot)
    model.stage3.register_forward_pre_hook(run_inner)
    out = model(x)
    # Units of stage3 and stage4 run after the nested pass.
    late = {id(m) for s in (model.stage3, model.stage4) for m in s.modules()}
    assert all(k is not None for k in outer.values())
    assert any(id(u) in late for u in consumers)
    for unit in consumers:
        calls = seen[unit]
        assert len(calls) == 2
        own, inner = calls[::-1] if id(unit) in late else calls
        assert own is outer[unit]
        assert inner is not own
        assert (inner is not None) == inner_grad
    assert all(u.batched_kernel is None for u in consumers)
    ref = eager.train()(x)
    ref_nested = eager(y)
    for a, b in zip(out + nested[0], ref + ref_nested):
        assert relative_max_diff(b, a) < GRAD_TOL
    sum(o.pow(2).mean() for o in out).backward()
    sum(o.pow(2).mean() for o in ref).backward()
    for (name, a), b in zip(eager.named_parameters(), model.parameters()):
        assert relative_max_diff(a.grad, b.grad) < GRAD_TOL, name


def test_forward_that_raises_leaves_no_kernel_behind():
    model = SMALL_ARCHS['resnet_basic'](kernel_gen='batched').train()
    consumers = kernel_consumers(*collect_online_units(model))

    def fail(module, args):
        assert all(u.batched_kernel is not None for u in consumers)
        raise RuntimeError('failing block')

    handle = model.stage2.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match='failing block'):
        model(torch.randn(2, 3, 32, 32))
    assert all(u.batched_kernel is None for u in consumers)
    handle.remove()
    # The next pass generates fresh kernels and releases them again.
    model(torch.randn(2, 3, 32, 32))
    assert all(u.batched_kernel is None for u in consumers)


def test_kernel_gen_option_from_config_and_errors():
    from mmreplk.registry import MODELS
    cfg = dict(type='OREPARepVGG', arch='A0', kernel_gen='eager')
    assert MODELS.build(cfg).kernel_gen == 'eager'
    assert OREPAResNet(depth=18).kernel_gen == 'batched'
    with pytest.raises(ValueError, match='kernel_gen must be one of'):
        OREPAResNet(depth=18, kernel_gen='fused')
    with pytest.raises(ValueError, match='with_cp=True'):
        OREPARepVGG(arch='A0', kernel_gen='batched', with_cp=True)


def test_op_counter_counts_work_not_views():
    x = torch.randn(3, 4)
    with DispatchedOpCounter() as ops:
        (x.t() * 2).sum()
    assert dict(ops.kernel_ops) == {
        'aten.mul.Tensor': 1,
        'aten.sum.default': 1
    }
    assert ops.other_ops['aten.t.default'] == 1


def test_training_step_ops_of_a_conv_bn_unit():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    before = copy.deepcopy(model.state_dict())
    ops = training_step_ops(model.train(), torch.randn(1, 3, 8, 8))
    for op in ('aten.convolution.default', 'aten.convolution_backward.default',
               'aten.native_batch_norm_backward.default'):
        assert ops.kernel_ops[op] == 1, op
    # The multi-tensor SGD step: a constant number of operations.
    assert sum(n for op, n in ops.kernel_ops.items()
               if op.startswith('aten._foreach')) <= 4
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_resnet18_step_ops_at_measured_level():
    # The count depends on the structure only, not on widths or input size:
    # a ResNet-18 at 1/8 width gives the full network's counts (checked
    # against benchmarks/train_cost/train_cost_cpu.md when measured).
    arch = dict(
        block='basic', stage_blocks=(2, 2, 2, 2), channels=(8, 16, 32, 64))
    x = torch.randn(2, 3, 32, 32)
    counts = {}
    for name, kwargs in (('conv', dict(block_type='Conv')),
                         ('orepa_eager',
                          dict(kernel_gen='eager', recompute_kernel=True)),
                         ('orepa_batched',
                          dict(kernel_gen='batched', recompute_kernel=True))):
        torch.manual_seed(0)
        model = OREPAResNet(arch=arch, out_indices=(3, ), **kwargs).train()
        counts[name] = training_step_ops(model, x).total_kernel_ops
    # Plain Conv-BN checks the counter itself (exact).
    assert counts['conv'] == RESNET18_OPS_MEASURED['conv'], counts
    for name in ('orepa_eager', 'orepa_batched'):
        assert counts[name] <= RESNET18_OPS_MEASURED[name], counts
    assert counts['orepa_batched'] < 0.6 * counts['orepa_eager'], counts


@pytest.mark.slow
def test_benchmark_train_cost_quick(tmp_path):
    out = tmp_path / 'out'
    run_tool([
        '.dev_scripts/benchmark_train_cost.py', '--quick', '--device', 'cpu',
        '--out-dir',
        str(out)
    ],
             timeout=300)
    report = json.loads((out / 'train_cost_cpu.json').read_text())
    units = {r['variant'] for r in report['results']}
    assert {'conv_bn', 'dbb', 'orepa', 'orepa_batched'} <= units
    for r in report['results']:
        t = r['step_s']
        assert 0 < t['min'] <= t['median'] <= t['max']
        parts = (
            r['params_mb'] + r['grads_mb'] + r['optimizer_state_mb'] +
            r['saved_activation_mb'])
        assert r['total_mb'] == pytest.approx(parts)
        assert r['kernel_ops'] > 0
    assert (out / 'train_cost_cpu.md').read_text().startswith('# Training')


def test_benchmark_train_cost_refuses_to_overwrite(tmp_path, capsys):
    tool = _load_train_cost_tool()
    (tmp_path / 'train_cost_cpu.md').write_text('committed')
    assert tool.main(
        ['--quick', '--device', 'cpu', '--out-dir',
         str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error:') and '--force' in err
    assert (tmp_path / 'train_cost_cpu.md').read_text() == 'committed'


def _load_train_cost_tool():
    return load_tool('.dev_scripts/benchmark_train_cost.py')


def test_train_cost_flags_impossible_results():
    tool = _load_train_cost_tool()

    def row(unit, median):
        return dict(
            model='block',
            unit=unit,
            step_s=dict(min=median, median=median, max=median))

    flags = tool.impossible_results(
        [row('Conv', 0.087),
         row('DBB', 0.2),
         row('OREPA', 0.066)])
    assert len(flags) == 1 and 'OREPA' in flags[0] and 'noise' in flags[0]
    assert not tool.impossible_results([row('Conv', 0.05), row('OREPA', 0.06)])


def test_recompute_kernel_is_an_explicit_bool():
    model = SMALL_ARCHS['resnet_basic']()
    assert model.recompute_kernel is False
    units = [m for m in model.modules() if hasattr(m, 'recompute_kernel')]
    assert len(units) > 1 and not any(m.recompute_kernel for m in units)
    with pytest.raises(TypeError, match='recompute_kernel must be True or'):
        SMALL_ARCHS['resnet_basic'](recompute_kernel=None)
    from mmreplk.models.layers import OREPA
    with pytest.raises(TypeError, match='OREPA: recompute_kernel'):
        OREPA(4, 4, 3, recompute_kernel='yes')
