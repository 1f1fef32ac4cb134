"""The house in layers (DESIGN §2): imports run one way, from the face down to the records, with no cycles,
and no product module grows past ~400 lines. Read from the code's own imports (ast), nothing is run.

There are no exceptions: an upward import, a cycle between modules, a module in no layer, or a product
module over the limit fails this test. ``LAYERS`` is the rule of docs/architecture.md §2, in code.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("factory", "agents", "memory_pool", "flows")

LAYERS = [  # lowest first; a module may import its own layer and the layers below it
    ("records", ("factory", "factory.core", "factory.store")),
    ("engines", ("factory.mining", "factory.docker")),
    ("judging", ("factory.grading", "factory.harness")),
    ("memory", ("memory_pool",)),
    ("agents", ("agents",)),
    ("stages", ("factory.pipeline", "factory.report")),
    ("shells", ("flows",)),
    ("face", ("factory.cli",)),
]

MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules ``name`` imports (a name imported from a package counts as its module if any)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            wanted.add(base)
            wanted.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in wanted:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def _layer(name: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{name} is in no layer: add it to LAYERS"
    return rank


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_run_one_way_and_in_no_circle() -> None:
    graph = _graph()
    found = upward(graph)
    assert found == set(), "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in sorted(found))
    assert cycles(graph) == []


def test_the_check_sees_an_upward_import_and_a_circle() -> None:
    graph = {name: set(targets) for name, targets in _graph().items()}
    graph["factory.core.models"].add("flows.build")  # records importing a Prefect shell
    assert ("factory.core.models", "flows.build") in upward(graph)
    graph["factory.core.models"].add("factory.store.store")  # the store imports the models: now they import each other
    assert any({"factory.core.models", "factory.store.store"} <= set(c) for c in cycles(graph))


def test_no_product_module_grows_past_the_limit() -> None:
    large = {name for name, path in _modules().items()
             if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES}
    assert large == set(), f"over {MAX_LINES} lines: {sorted(large)}"


def test_every_product_module_says_what_it_is_for() -> None:
    """A newcomer reads a module's first lines to know its job: every module, package faces included."""
    silent = sorted(name for name, path in _modules().items()
                    if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))))
    assert silent == [], f"modules without a docstring: {silent}"
