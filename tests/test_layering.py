"""The package's layering, read from the source with ``ast`` (no module is imported).

``neuron_as_deep_net/core`` imports nothing of ours outside ``core``; every other subpackage is one experiment
and imports only ``core`` and itself; no import circle anywhere (imports inside functions count too); no
module over 500 lines. Subpackages and modules are found by walking the package, so a new one is checked
without editing this file.
"""

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "neuron_as_deep_net"
PACKAGE = PACKAGE_DIR.name
CORE = "core"
MAX_LINES = 500


def module_name(path):
    parts = (PACKAGE,) + path.relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def resolve_relative(module, is_package, level, target):
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imported_modules(module, path):
    """Every module of the package that ``module`` imports, at any depth of its code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = (resolve_relative(module, is_package, node.level, node.module) if node.level
                      else node.module)
            # 'from x import y' imports module x.y when y is a module, else a name of x
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            # the module itself, or the deepest package of ours that contains the name
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {module: imported_modules(module, path) for module, path in MODULES.items()}


def layer_of(module):
    """'core', an experiment subpackage's name, or None for the package's own __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_package_has_a_core_and_experiments():
    layers = {layer_of(module) for module in MODULES} - {None}
    assert CORE in layers
    assert len(layers - {CORE}) >= 3, f"expected at least three experiment subpackages, found {sorted(layers)}"


def test_core_imports_nothing_outside_core():
    bad = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() if layer_of(module) == CORE
                 for target in targets if layer_of(target) not in (CORE, None))
    assert not bad, "core imports an experiment:\n" + "\n".join(bad)


def test_experiments_import_only_core_and_themselves():
    bad = sorted(f"{module} -> {target}" for module, targets in GRAPH.items()
                 if layer_of(module) not in (CORE, None)
                 for target in targets if layer_of(target) not in (CORE, layer_of(module), None))
    assert not bad, "an experiment imports another experiment:\n" + "\n".join(bad)


def find_cycle(graph):
    """One import circle as a list of modules (first == last), or None."""
    state = {}  # module -> 'open' while on the DFS stack, 'done' after
    stack = []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_no_import_circle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_are_resolved():
    assert resolve_relative(f"{PACKAGE}.l5pc.evaluation", False, 2, "core.metrics") == f"{PACKAGE}.core.metrics"
    assert resolve_relative(f"{PACKAGE}.l5pc.evaluation", False, 1, None) == f"{PACKAGE}.l5pc"
    assert resolve_relative(f"{PACKAGE}.core", True, 1, "files") == f"{PACKAGE}.core.files"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    num_lines = len(MODULES[module].read_text().splitlines())
    assert num_lines <= MAX_LINES, f"{module} has {num_lines} lines (at most {MAX_LINES})"
