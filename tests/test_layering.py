"""The modules of python/nnqft import each other without a loop, function-level imports
included: a dependency points from a module to the ones below it (docs/design.md)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "nnqft"


def _imports(path: Path) -> set[str]:
    """The nnqft modules that ``path`` imports anywhere (module, function or class level)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import y / from . import x
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnqft."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("nnqft."))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (the package itself, ``__init__``, and
    the compiled ``_core`` are left out: nothing in ``_core`` imports back)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    return {m: (_imports(PACKAGE / f"{m}.py") & modules) - {m} for m in sorted(modules)}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (loop := visit(nxt)):
                return loop
        path.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state and (loop := visit(start)):
            return loop
    return None


def test_no_module_imports_back_into_a_module_that_imports_it():
    loop = _cycle(import_graph())
    assert loop is None, "import loop: " + " -> ".join(loop or [])


def test_the_cycle_finder_finds_a_function_level_loop(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import y\n")
    graph = {m: _imports(tmp_path / f"{m}.py") for m in ("a", "b")}
    assert _cycle(graph) in (["a", "b", "a"], ["b", "a", "b"])
    assert _cycle({"a": {"b"}, "b": set()}) is None
