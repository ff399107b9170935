"""Layering of the package: no module uses another module's private names.

A name with a leading underscore belongs to its module; what modules share has a public
(internal) name in one home, e.g. the Gaussian-measure machinery in ``nnqft.gaussian``.
Tests may reach into privates; the package may not.
"""

import ast
from pathlib import Path

import nnqft

PACKAGE = Path(nnqft.__file__).parent

#: Known exceptions, each with its way out (none today).
ALLOWED: set[tuple[str, str]] = set()


def cross_module_private_uses(source: str, modules: set[str]) -> set[str]:
    """``module.name`` for every private name of a sibling module that ``source`` uses.

    Catches ``from .mod import _name`` (also ``from nnqft.mod import _name``) and
    ``mod._name`` where ``mod`` is bound to a sibling module (``from . import mod [as m]``,
    ``import nnqft.mod as m``), at any depth (function-level imports included).
    Private modules (``_core``, ``_result``, ...) are the package's own and may be
    imported; their private names may not.
    """
    tree = ast.parse(source)
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    aliases: dict[str, str] = {}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            package = node.level == 1 or (node.module or "").split(".")[0] == "nnqft"
            if not package:
                continue
            source_module = (node.module or "").split(".")[-1]
            for alias in node.names:
                if source_module in ("", "nnqft") and alias.name in modules:
                    aliases[alias.asname or alias.name] = alias.name
                elif private(alias.name) and alias.name not in modules:
                    found.add(f"{source_module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "nnqft" and len(parts) == 2 and alias.asname:
                    aliases[alias.asname] = parts[1]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and private(node.attr)):
            found.add(f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_the_scan_finds_each_form_of_private_use():
    source = """
from . import theory as _theory, gaussian
from .vertex import _rule, kernel
from nnqft.fit import _check
import nnqft.flow as flow_module
from ._result import Result

def f():
    from .spectral import _gl_rule
    return _theory._kolmogorov_rule(), gaussian.pair_map, flow_module._x, gaussian._y
"""
    assert cross_module_private_uses(source, {"theory", "gaussian", "vertex", "fit", "flow",
                                              "spectral", "_result"}) == {
        "vertex._rule", "fit._check", "spectral._gl_rule", "theory._kolmogorov_rule",
        "flow._x", "gaussian._y"}


def test_no_module_uses_another_modules_private_names():
    modules = {path.stem for path in PACKAGE.glob("*.py")} | {"_core"}
    uses = set()
    for path in sorted(PACKAGE.glob("*.py")):
        for name in cross_module_private_uses(path.read_text(encoding="utf-8"), modules):
            if name.split(".")[0] != path.stem:
                uses.add((path.stem, name))
    assert uses - ALLOWED == set(), "modules using another module's private names"
    assert ALLOWED <= uses, f"stale exceptions (remove them): {ALLOWED - uses}"
