"""The import graph of ``mmreplk/``, read with ``ast`` from every module
(module-level and function-level imports, relative imports resolved): no
cycle, every import follows the import layers of docs/architecture.md, and
function-level imports are only for the optional dependencies listed
there."""
import os.path as osp
import re

import pytest

from tests.helpers.package_imports import (PACKAGE, Import, find_cycle,
                                           package_imports)
from tests.helpers.tools import REPO

DOC = osp.join(REPO, 'docs', 'architecture.md')


def _section(text, title):
    match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)', text,
                      re.M | re.S)
    if match is None:
        raise AssertionError(f'docs/architecture.md has no "## {title}"')
    return match.group(1)


def documented_layers(text):
    """The layers of the "Import layers" block, bottom first: a list of
    lists of module names (several on one line share a layer)."""
    block = re.search(r'```text\n(.*?)```', _section(text, 'Import layers'),
                      re.S)
    layers = []
    for line in block.group(1).splitlines():
        names = []
        for token in line.split():
            if not re.fullmatch(rf'{PACKAGE}(\.\w+)*', token):
                break
            names.append(token)
        if names:
            layers.append(names)
    return layers[::-1]


def documented_optional_dependencies(text):
    paragraph = re.search(r'^Optional dependencies:(.*?)\.\s',
                          _section(text, 'Import layers'), re.M | re.S)
    return set(re.findall(r'`([\w.]+)`', paragraph.group(1)))


class Layering:
    """Which documented entry (and layer) each module belongs to."""

    def __init__(self, layers):
        self.rank = {
            entry: index
            for index, names in enumerate(layers)
            for entry in names
        }

    def entry(self, module):
        """The longest documented name that is ``module`` or a package
        above it; the package itself (``mmreplk``) only matches its
        ``__init__``."""
        candidates = [
            e for e in self.rank
            if module == e or (e != PACKAGE and module.startswith(e + '.'))
        ]
        return max(candidates, key=len) if candidates else None

    def allowed(self, importer, target):
        a, b = self.entry(importer), self.entry(target)
        return a == b or self.rank[b] < self.rank[a]


def optional_modules(imports, optional):
    """mmreplk modules that import an optional dependency at module level."""
    return {
        imp.importer
        for imp in imports if not imp.in_function and not imp.internal
        and imp.top_level in optional
    }


def layering_violations(modules, imports, layers, optional):
    """Human-readable list of everything that breaks the documented rules."""
    layering = Layering(layers)
    problems = [
        f'{m} is in no documented layer' for m in sorted(modules)
        if layering.entry(m) is None
    ]
    if problems:
        return problems
    cycle = find_cycle(modules, imports)
    if cycle:
        problems.append('import cycle: ' + ' -> '.join(cycle))
    optional_internal = optional_modules(imports, optional)
    for imp in imports:
        if imp.internal and imp.target not in modules:
            problems.append(f'{imp.where()}: no such module')
            continue
        if imp.internal and not layering.allowed(imp.importer, imp.target):
            problems.append(
                f'{imp.where()}: {layering.entry(imp.target)} is above '
                f'{layering.entry(imp.importer)}')
        if imp.in_function:
            if imp.internal and imp.target not in optional_internal:
                problems.append(
                    f'{imp.where()}: a function-level import of an mmreplk '
                    'module that needs no optional dependency')
            elif not imp.internal and imp.top_level not in optional:
                problems.append(
                    f'{imp.where()}: only optional dependencies '
                    f'({sorted(optional)}) are imported inside functions')
        elif imp.internal and imp.target in optional_internal and \
                imp.importer not in optional_internal:
            problems.append(
                f'{imp.where()}: it needs an optional dependency, so it is '
                'imported inside the function that uses it')
    return problems


@pytest.fixture(scope='module')
def doc_text():
    with open(DOC) as f:
        return f.read()


@pytest.fixture(scope='module')
def graph():
    return package_imports()


def test_documented_layers_cover_the_package(doc_text, graph):
    layers = documented_layers(doc_text)
    names = [n for layer in layers for n in layer]
    assert len(names) == len(set(names))
    modules, _ = graph
    assert set(names) <= set(modules), 'a documented layer does not exist'
    assert names[-1] == PACKAGE  # the top
    assert 'triton' in documented_optional_dependencies(doc_text)


def test_imports_follow_the_documented_layers(doc_text, graph):
    modules, imports = graph
    assert len(modules) > 40 and any(i.in_function for i in imports)
    problems = layering_violations(modules, imports,
                                   documented_layers(doc_text),
                                   documented_optional_dependencies(doc_text))
    assert not problems, '\n'.join(problems)


# What the rules catch, on imports added to the real graph.
BREAKAGES = {
    'cycle and back-import (models.layers -> models)':
    Import('mmreplk.models.layers.reparam_base', 'mmreplk.models.reparam', 1,
           False),
    'back-import hidden in a function (utils -> models)':
    Import('mmreplk.utils.model_from_config', 'mmreplk.models.backbones', 1,
           True),
    'back-import hidden in a function (engine hook imports analysis)':
    Import('mmreplk.engine.hooks.sparse_group_hook',
           'mmreplk.analysis.benchmarking', 1, True),
    'required dependency imported in a function':
    Import('mmreplk.models.layers.common', 'mmengine.model', 1, True),
    'optional back end imported at module level':
    Import('mmreplk.ops.depthwise_conv.custom_op',
           'mmreplk.ops.depthwise_conv.triton_impl', 1, False),
    'ops importing model code':
    Import('mmreplk.ops.dispatch', 'mmreplk.models.layers', 1, False),
}


@pytest.mark.parametrize('name', sorted(BREAKAGES))
def test_an_added_bad_import_is_reported(doc_text, graph, name):
    modules, imports = graph
    problems = layering_violations(modules, imports + [BREAKAGES[name]],
                                   documented_layers(doc_text),
                                   documented_optional_dependencies(doc_text))
    assert problems, name


def test_a_cycle_inside_one_layer_is_reported(doc_text, graph):
    """Layering allows any import within one part; cycles are still
    errors."""
    modules, imports = graph
    extra = Import('mmreplk.models.layers.kernel_transforms',
                   'mmreplk.models.layers.orepa', 1, True)
    cycle = find_cycle(modules, imports + [extra])
    assert cycle and cycle[0] == cycle[-1]
    assert {
        'mmreplk.models.layers.kernel_transforms',
        'mmreplk.models.layers.orepa'
    } <= set(cycle)
    problems = layering_violations(modules, imports + [extra],
                                   documented_layers(doc_text),
                                   documented_optional_dependencies(doc_text))
    assert any(p.startswith('import cycle') for p in problems)
