"""The import statements of a Python package, read with ``ast`` (nothing is
imported): what each module imports, at module level or inside a function,
with relative imports resolved to absolute module names."""
import ast
import os.path as osp
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.tools import REPO

PACKAGE = 'mmreplk'


@dataclass(frozen=True)
class Import:
    """One imported name.

    Attributes:
        importer (str): Module that imports.
        target (str): Imported module: for a module of the package, the
            deepest one the statement names (``from .layers import X`` is
            the package ``layers`` unless ``X`` is a submodule of it); for
            anything else the dotted name as written.
        line (int): Line of the statement.
        in_function (bool): The statement is inside a function body, so it
            runs when the function is called, not at import time.
    """
    importer: str
    target: str
    line: int
    in_function: bool

    @property
    def internal(self):
        return self.target == PACKAGE or self.target.startswith(PACKAGE + '.')

    @property
    def top_level(self):
        """The top-level package of the target (``torch`` for
        ``torch.nn.functional``)."""
        return self.target.split('.')[0]

    def where(self):
        kind = 'function-level' if self.in_function else 'module-level'
        return f'{self.importer}:{self.line} ({kind}) imports {self.target}'


def package_modules(root=None, package=PACKAGE):
    """``{module name: path}`` of every ``.py`` file of the package."""
    root = Path(root or osp.join(REPO, package))
    modules = {}
    for path in sorted(root.rglob('*.py')):
        parts = [package] + list(path.relative_to(root).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


def _import_nodes(tree):
    """``(node, in_function)`` for every import statement of ``tree``."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function))
            visit(
                child, in_function or isinstance(
                    child,
                    (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def _deepest_module(name, modules):
    while name not in modules and '.' in name:
        name = name.rsplit('.', 1)[0]
    return name


def module_imports(name, path, modules):
    """Every :class:`Import` of module ``name`` (file ``path``)."""
    is_package = Path(path).name == '__init__.py'
    package = name if is_package else name.rpartition('.')[0]
    imports = []
    for node, in_function in _import_nodes(ast.parse(Path(path).read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split('.')
                if node.level - 1 > len(base) - 1:
                    raise ValueError(f'{name}:{node.lineno}: relative import '
                                     'beyond the top-level package')
                base = base[:len(base) - (node.level - 1)]
                source = '.'.join(base +
                                  ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                sub = f'{source}.{alias.name}'
                targets.append(sub if sub in modules else source)
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + '.'):
                target = _deepest_module(target, modules)
            imports.append(Import(name, target, node.lineno, in_function))
    return imports


def package_imports(root=None, package=PACKAGE):
    """``(modules, imports)``: :func:`package_modules` and the
    :class:`Import` s of all of them."""
    modules = package_modules(root, package)
    imports = []
    for name, path in modules.items():
        imports += module_imports(name, path, modules)
    return modules, imports


def find_cycle(modules, imports):
    """One import cycle among ``modules`` as a list of module names (first
    repeated at the end), or None. Imports of a module by itself and of
    modules outside ``modules`` are ignored."""
    graph = {name: set() for name in modules}
    for imp in imports:
        if imp.internal and imp.target in graph and \
                imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None
