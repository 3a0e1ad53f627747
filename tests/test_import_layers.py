"""Import layers (issue 27): the world sits below evaluation and the discriminator, and ``mcm`` has no import circle
even counting type-only imports.

* ``mcm.eval`` may import ``mcm.world``; nothing in ``mcm/world`` imports ``mcm.eval`` (the Fréchet distance both
  need is ``mcm.utils.frechet``);
* nothing in ``mcm/world`` imports ``mcm.discriminator`` (the backbone's input convention and architecture fields
  are ``mcm.backbone``);
* no import circle in ``mcm``, counting imports under ``if TYPE_CHECKING:`` (a type-only import still ties two
  modules together: the circle mcm.distill.draws -> mcm.trajectories.mixed -> mcm.distill.step -> draws was one);
* ``mcm.world.evalnets`` stays a package of small modules.

Every import counts: module level, inside functions (lazy), under ``TYPE_CHECKING``, and ``importlib.import_module``
/ ``__import__`` calls with a literal module name. Only the source is read (``ast``); nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Tarjan's components, reachability and the package-local circle filter are test_imports.py's (issue 8); this
# module builds a stricter graph (type-only, relative and importlib imports count) and reuses them on it.
from test_imports import cycles, reachable
from test_imports import harmful as leaving_package

PACKAGE = Path(__file__).resolve().parents[1] / "mcm"
#: Largest module of the evalnets package, in lines (the single file it replaced had 1,028).
EVALNETS_MAX_LINES = 400


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_paths(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in package.rglob("*.py")}


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """The absolute module of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_names(path: Path, name: str) -> set[str]:
    """Every dotted name a module imports: ``import a.b`` -> a.b; ``from a import b`` -> a and a.b (b may be a
    submodule); relative imports made absolute; literal ``importlib.import_module`` / ``__import__`` calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, name, path.name == "__init__.py")
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__"):
                out.add(node.args[0].value)
    return {n for n in out if n}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (any import, see the module docstring), plus its parent
    packages (importing a.b.c first runs a and a.b)."""
    modules = module_paths(package)
    graph = {}
    for name, path in modules.items():
        edges = {t for t in imported_names(path, name) if t in modules and t != name}
        parts = name.split(".")
        edges.update(p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in modules)
        graph[name] = edges
    return graph


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("below", ["mcm.eval", "mcm.discriminator"])
def test_the_world_imports_neither_evaluation_nor_the_discriminator(below):
    paths, graph = module_paths(), import_graph()
    world = sorted(m for m in paths if _inside(m, "mcm.world"))
    assert "mcm.world.backbone_ssl" in world and "mcm.world.render" in world
    direct = {m: sorted(t for t in imported_names(paths[m], m) if _inside(t, below)) for m in world}
    assert not {m: t for m, t in direct.items() if t}, f"mcm/world imports {below}"
    # Nor through another module of mcm.
    through = {m: sorted(t for t in reachable(graph, m) if _inside(t, below)) for m in world}
    assert not {m: t for m, t in through.items() if t}, f"mcm/world reaches {below} through other modules"


def test_no_import_circle_in_mcm_counting_type_only_imports():
    assert leaving_package(cycles(import_graph())) == []


def test_the_mixed_trajectories_do_not_import_the_distillation_step():
    """The circle of issue 27: mixed.py typed its argument with the step's class; it now uses a Protocol."""
    graph = import_graph()
    assert not any(_inside(t, "mcm.distill") for t in graph["mcm.trajectories.mixed"])
    loop = {"mcm.distill.draws", "mcm.trajectories.mixed", "mcm.distill.step"}
    assert not any(loop <= set(c) for c in cycles(graph))


def test_the_detector_sees_type_only_lazy_and_relative_imports(tmp_path):
    """A circle closed by a TYPE_CHECKING import, a function-level import or a relative import is found."""
    pkg = tmp_path / "mcm"
    files = {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mcm.b.y import Y\n",
        "b/__init__.py": "",
        "b/y.py": "def f():\n    from ..c import z\n",
        "c/__init__.py": "",
        "c/z.py": "import importlib\nimportlib.import_module('mcm.a.x')\n",
        "d/__init__.py": "from mcm.d.inner import W\n",
        "d/inner.py": "from mcm.d import other\n",
        "d/other.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = cycles(import_graph(pkg))
    assert ["mcm.a.x", "mcm.b.y", "mcm.c.z"] in found
    assert leaving_package(found) == [["mcm.a.x", "mcm.b.y", "mcm.c.z"]]  # mcm.d's circle stays inside mcm.d


def test_evalnets_is_a_package_of_small_modules():
    folder = PACKAGE / "world" / "evalnets"
    assert not (PACKAGE / "world" / "evalnets.py").exists()
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert {"__init__.py", "networks.py", "training.py", "report.py"} <= set(sizes)
    too_long = {name: n for name, n in sizes.items() if n > EVALNETS_MAX_LINES}
    assert not too_long, f"mcm/world/evalnets modules over {EVALNETS_MAX_LINES} lines: {too_long}"
