"""The layout (issue 8): no import circle inside ``mcm/``, and sampling / evaluation never import the trainer.

Every import counts, module-level or inside a function (a lazy import is still a dependency); only imports
under ``if TYPE_CHECKING:`` are left out, as they never run."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcm"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skipped, edges = _type_checking_nodes(tree), set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.add(target)
        # Importing a.b.c first runs the packages a and a.b: a package's __init__ is a dependency too.
        parts = name.split(".")
        edges.update(p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in modules)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def harmful(components: list[list[str]]) -> list[list[str]]:
    """Circles that leave a package: a package whose __init__ re-exports its own submodules closes a
    circle (submodule -> package -> submodule) that Python resolves, as long as it stays inside."""
    return [c for c in components if not any(all(m == p or m.startswith(p + ".") for m in c) for p in c)]


def test_no_import_circle_inside_mcm():
    assert harmful(cycles(import_graph())) == []


def test_a_package_init_counts_as_an_import_of_its_submodules(tmp_path, monkeypatch):
    """The circle of 2026-12: mcm.teachers.config -> mcm.config (package, re-exporting the schema) ->
    mcm.config.schema -> mcm.teachers.config; only the package edge closes it."""
    pkg = tmp_path / "mcm"
    for rel, text in {"__init__.py": "", "config/__init__.py": "from mcm.config.schema import X\n",
                      "config/base.py": "", "config/schema.py": "from mcm.teachers.config import Y\n",
                      "teachers/__init__.py": "", "teachers/config.py": "from mcm.config.base import Z\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert harmful(cycles(import_graph())) == [
        ["mcm.config", "mcm.config.base", "mcm.config.schema", "mcm.teachers.config"]
    ]


def test_the_circle_detector_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", ["mcm.sampler", "mcm.eval"])
def test_sampling_and_evaluation_do_not_import_the_trainer(package):
    graph = import_graph()
    for module in [m for m in graph if m == package or m.startswith(package + ".")]:
        reached = sorted(m for m in reachable(graph, module) if m.startswith("mcm.trainer"))
        assert not reached, f"{module} imports {reached}"
