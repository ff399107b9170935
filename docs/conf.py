"""Sphinx configuration of the nnqft documentation.

Build (from the repository root, after ``python -m pip install ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages and the command-line page are generated here from the package itself
(``nnqft.__all__``, each public submodule's ``__all__`` and ``nnqft.cli.build_parser``),
so a renamed or added public name needs no edit in docs/. The build needs no network:
intersphinx reads the inventories shipped in ``docs/_intersphinx``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import warnings
from pathlib import Path
from typing import Any

import nnqft
from nnqft.warnings import NNQFTWarning

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "nnqft"
author = "nnqft developers"
copyright = "nnqft developers, BSD-3-Clause"  # noqa: A001 - Sphinx's name
release = nnqft.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_intersphinx", "tutorial"]
templates_path = ["_templates"]
html_theme = "furo"
html_title = f"nnqft {release}"
html_static_path = ["_static"]
html_css_files = ["nnqft.css"]  # wide tables and equations scroll instead of being cut

# -- MyST: CommonMark + tables, $...$ and $$...$$ math (MathJax), amsmath environments ----
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "amsmath"]
# MathJax is loaded by the reader's browser (the build needs no network); a local copy may
# be named for offline reading, e.g. NNQFT_MATHJAX=file:///usr/share/javascript/mathjax/...
if os.environ.get("NNQFT_MATHJAX"):
    mathjax_path = os.environ["NNQFT_MATHJAX"]
    myst_update_mathjax = False  # MyST's settings are MathJax 3's; a local copy may be 2

# -- autodoc / autosummary / numpydoc -----------------------------------------------------
autosummary_generate: list[str] = []  # the API pages, written at the end of this file
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"  # link only the names below (and numpydoc's defaults)
numpydoc_xref_aliases = {
    "Architecture": "nnqft.Architecture",
    "Correlators": "nnqft.Correlators",
    "CouplingFit": "nnqft.CouplingFit",
    "Flow": "nnqft.Flow",
    "FRGFlow": "nnqft.frg.FRGFlow",
    "Generator": "numpy.random.Generator",
    "SeedSequence": "numpy.random.SeedSequence",
    "Path": "pathlib.Path",
    "path-like": ":term:`python:path-like object`",
    "Client": "distributed.Client",
    "dask.distributed.Client": "distributed.Client",
    "Figure": "matplotlib.figure.Figure",
    "Axes": "matplotlib.axes.Axes",
}

# -- intersphinx: local inventories, no network at build time -----------------------------
_INV = DOCS / "_intersphinx"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(_INV / "python.inv")),
    "numpy": ("https://numpy.org/doc/stable", str(_INV / "numpy.inv")),
    "scipy": ("https://docs.scipy.org/doc/scipy", str(_INV / "scipy.inv")),
    "dask": ("https://docs.dask.org/en/stable", str(_INV / "dask.inv")),
    "distributed": ("https://distributed.dask.org/en/stable", str(_INV / "distributed.inv")),
    "matplotlib": ("https://matplotlib.org/stable", str(_INV / "matplotlib.inv")),
}

# -- the gallery and the tutorial: executed at build time ---------------------------------
# An nnqft warning that an example does not handle (a deprecated name, unreliable error
# bars) fails the build instead of landing in the page's output.
warnings.filterwarnings("error", category=NNQFTWarning)
sphinx_gallery_conf = {
    "examples_dirs": [str(DOCS / "tutorial"), str(ROOT / "examples")],
    "gallery_dirs": ["auto_tutorial", "auto_examples"],
    "filename_pattern": r"[\\/]",  # execute every script
    "within_subsection_order": "FileNameSortKey",  # plot_1_..., plot_2_..., in reading order
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "doc_module": ("nnqft",),
    "reference_url": {"nnqft": None},
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    "write_computation_times": False,
}


# -- API pages generated from the package -------------------------------------------------

def public_modules() -> list[str]:
    """The public submodules of nnqft (every module not starting with an underscore)."""
    return sorted(m.name for m in pkgutil.iter_modules(nnqft.__path__) if not m.name.startswith("_"))


def reexports() -> dict[str, str]:
    """Map submodule paths of names re-exported by ``nnqft`` to their documented name.

    ``nnqft.theory.kernel`` and ``nnqft.correlators.Correlators`` are documented once, as
    ``nnqft.kernel`` and ``nnqft.Correlators``; references to the long names (and the
    short names used inside a submodule's docstrings) resolve to those pages.
    """
    out = {}
    for modname in public_modules():
        mod = importlib.import_module(f"nnqft.{modname}")
        for name in getattr(mod, "__all__", []):
            if name in nnqft.__all__ and getattr(nnqft, name) is getattr(mod, name):
                out[f"nnqft.{modname}.{name}"] = f"nnqft.{name}"
    return out


def _rst_title(text: str, char: str = "=") -> list[str]:
    return [text, char * len(text), ""]


def _is_data(obj: Any) -> bool:
    return not callable(obj) and not isinstance(obj, type)


def _split_names(modname: str, aliases: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """A submodule's ``__all__``: (own functions and classes, re-exported names, data)."""
    full = f"nnqft.{modname}"
    mod = importlib.import_module(full)
    names = list(getattr(mod, "__all__", []))
    shared = [n for n in names if f"{full}.{n}" in aliases]
    own = [n for n in names if n not in shared and not _is_data(getattr(mod, n))]
    data = [n for n in names if n not in shared and _is_data(getattr(mod, n))]
    return own, shared, data


def _module_page(modname: str, aliases: dict[str, str]) -> str:
    """One submodule: its docstring, its own names, and links to the re-exported ones."""
    full = f"nnqft.{modname}"
    mod = importlib.import_module(full)
    own, shared, data = _split_names(modname, aliases)
    lines = _rst_title(f"``{full}``")
    lines += [f".. automodule:: {full}", "   :no-members:", "", f".. currentmodule:: {full}", ""]
    if own:
        lines += [".. autosummary::", "   :toctree: ../generated", ""]
        lines += [f"   {n}" for n in own] + [""]
    if shared:
        refs = ", ".join(f":py:obj:`nnqft.{n}`" for n in shared)
        lines += [f"Also defined here and documented at the top level: {refs}.", ""]
    if data:
        lines += _rst_title("Constants", "-")
        for n in data:
            lines += [f".. autodata:: {n}", "   :no-value:" if _long_repr(getattr(mod, n)) else "", ""]
    return "\n".join(lines) + "\n"


def _long_repr(value: Any) -> bool:
    return len(repr(value)) > 200


def _api_index(modules: list[str]) -> str:
    lines = _rst_title("API reference")
    lines += ["Every public name of nnqft. The top-level names cover the usual work; the",
              "submodules hold the rest. Types in the parameter lists link to the Python,",
              "NumPy, SciPy and Dask documentation.", ""]
    lines += _rst_title("Top level: ``nnqft``", "-")
    lines += [".. currentmodule:: nnqft", "", ".. autosummary::", "   :toctree: ../generated", ""]
    lines += [f"   {n}" for n in sorted(nnqft.__all__, key=str.lower)] + [""]
    lines += _rst_title("Submodules", "-")
    lines += [".. toctree::", "   :maxdepth: 1", ""] + [f"   {m}" for m in modules] + [""]
    return "\n".join(lines)


def _cli_page() -> str:
    """The command line: the README's section, ``--config``, and every command's help."""
    import argparse

    from nnqft.cli import build_parser

    with _columns(88):
        parser = build_parser()
        lines = ["# Command line", ""]
        lines += _readme_section("cli")
        lines += ["## Reshaping the study: `nnqft run --config`", "",
                  "`--config FILE.toml` overrides any field of",
                  "{py:class}`nnqft.study.StudyConfig` by name; fields it does not name keep their",
                  "defaults, unknown names are refused. For example, a study of the erf-net alone",
                  "at more widths with fewer networks:", "",
                  "```toml", *_TOML_EXAMPLE.strip().splitlines(), "```", "",
                  "The defaults, as a complete file (generated from the installed version):", "",
                  "```toml", *_toml(_study_defaults()).splitlines(), "```", "",
                  "## Every command's options", "",
                  "Generated from the parser, so it always matches the installed version.", ""]
        lines += ["```text", *parser.format_help().splitlines(), "```", ""]
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, sub in subs.choices.items():
            lines += [f"### `nnqft {name}`", "", "```text", *sub.format_help().splitlines(),
                      "```", ""]
    return "\n".join(lines)


_TOML_EXAMPLE = """
widths = [2, 4, 8, 16, 32, 64, 128]
n_networks = 200000
fit_width = 64

[[nets]]
label = "erf"
activation = "erf"
sigma_b = 1.0
x = [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]
cutoff = 1e5
"""


def _readme_section(name: str) -> list[str]:
    """A MyST include of the README between its ``<!-- docs:NAME start/end -->`` markers."""
    return ["```{include} ../README.md", f":start-after: <!-- docs:{name} start -->",
            f":end-before: <!-- docs:{name} end -->", "```", ""]


def _study_defaults() -> dict[str, Any]:
    """StudyConfig's defaults, checked to survive a round trip through its TOML reader."""
    import dataclasses
    import tempfile

    from nnqft.study import StudyConfig

    defaults = {f.name: getattr(StudyConfig(), f.name) for f in dataclasses.fields(StudyConfig)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "defaults.toml"
        path.write_text(_toml(defaults))
        if StudyConfig.from_toml(path, StudyConfig.quick()) != StudyConfig():
            raise RuntimeError("the generated TOML of StudyConfig's defaults does not read back")
        example = Path(tmp) / "example.toml"
        example.write_text(_TOML_EXAMPLE)
        StudyConfig.from_toml(example, StudyConfig())  # the example is valid
    return defaults


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "inf" if value == float("inf") else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    items = [_toml_value(v) for v in value]
    if isinstance(value[0], dict):
        return "[\n" + "".join(f"  {i},\n" for i in items) + "]"
    return "[" + ", ".join(items) + "]"


def _toml(fields: dict[str, Any]) -> str:
    """A TOML document of plain values (numbers, strings, lists, inline tables)."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items())


@contextlib.contextmanager
def _columns(width: int) -> Any:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _indent(text: str) -> list[str]:
    return ["   " + line if line.strip() else "" for line in text.splitlines()]


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite only on change, so Sphinx's incremental build keeps the other pages."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_generated_pages() -> list[str]:
    """Write docs/api/*.rst and docs/cli.md (git-ignored) from the package; the API pages."""
    modules = public_modules()
    aliases = reexports()
    _write_if_changed(DOCS / "api" / "index.rst", _api_index(modules))
    for m in modules:
        _write_if_changed(DOCS / "api" / f"{m}.rst", _module_page(m, aliases))
    _write_if_changed(DOCS / "cli.md", _cli_page())
    # autosummary never deletes a stub; one left by a moved or renamed name would be read.
    documented = {f"nnqft.{n}" for n in nnqft.__all__}
    documented |= {f"nnqft.{m}.{n}" for m in modules for n in _split_names(m, aliases)[0]}
    for stub in (DOCS / "generated").glob("nnqft.*.rst"):
        if stub.stem not in documented:
            stub.unlink()
    for page in (DOCS / "api").glob("*.rst"):
        if page.stem not in modules and page.stem != "index":
            page.unlink()
    return ["api/index.rst"] + [f"api/{m}.rst" for m in modules]


def _resolve_reexport(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``nnqft.sub.name`` (or a bare ``name`` inside ``nnqft.sub``) to ``nnqft.name``."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    context = node.get("py:module")
    candidates = [target] + ([f"{context}.{target}"] if context else [])
    # A top-level page (generated/nnqft.X) also sees the names of X's own module, as the
    # docstring's author did: :data:`CONVENTION` in nnqft.CouplingFit is nnqft.fit's.
    page = node["refdoc"].rpartition("/")[2]
    if page.startswith("nnqft.") and page.count(".") == 1 and page[6:] in nnqft.__all__:
        home = getattr(getattr(nnqft, page[6:]), "__module__", None)
        if home:
            candidates.append(f"{home}.{target}")
    domain = env.get_domain("py")
    for cand in candidates:
        new = next((short + cand[len(long):] for long, short in _ALIASES.items()
                    if cand == long or cand.startswith(long + ".")), cand)
        if new != target:
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], new,
                                        node, contnode)
            if found is not None:
                return found
    return None


def _alias_ids(app: Any, doctree: Any, docname: str) -> None:
    """Give each nnqft object's anchor both spellings, ``nnqft.X`` and ``nnqft.sub.X``.

    viewcode's "[docs]" links from a source page use one module prefix for the whole
    module, whichever page documented one of its objects first; with names documented at
    the top level and in submodules, half of those links would miss their anchor.
    """
    from sphinx import addnodes

    seen = {i for node in doctree.findall() if hasattr(node, "get") for i in node.get("ids", [])}
    for sig in doctree.findall(addnodes.desc_signature):
        module, full = sig.get("module") or "", sig.get("fullname") or ""
        if not module.startswith("nnqft") or not full:
            continue
        owner = getattr(importlib.import_module(module), full.split(".")[0], None)
        for prefix in ("nnqft", getattr(owner, "__module__", module)):
            anchor = f"{prefix}.{full}"
            if anchor not in seen:
                sig["ids"].append(anchor)
                seen.add(anchor)


def _public_bases(app: Any, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Show no private base class (``nnqft._result.Result``): its methods are listed anyway."""
    bases[:] = [b for b in bases if not getattr(b, "__module__", "").startswith("nnqft._")]


_ALIASES: dict[str, str] = {}


def setup(app: Any) -> None:
    """Resolve references to re-exported names; tidy anchors and base classes."""
    _ALIASES.update(reexports())
    app.connect("missing-reference", _resolve_reexport)
    app.connect("doctree-resolved", _alias_ids)
    app.connect("autodoc-process-bases", _public_bases)


# Written when the configuration is read, before Sphinx looks for source files, so that an
# incremental build also sees a new submodule's page and autosummary makes its stubs.
autosummary_generate = write_generated_pages()
