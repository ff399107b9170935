"""Write the minimal intersphinx inventories numpy.inv and matplotlib.inv.

Neither project's ``objects.inv`` is packaged for this machine (no Debian doc package,
no PyPI package ships it) and the build must not use the network, so these two list only
the names the nnqft docs link to, with the URLs of the projects' stable docs. Add a line
below when a docstring starts to link a new numpy or matplotlib name, then run
``python docs/_intersphinx/make_minimal.py`` (needs ``sphobjinv``, in the docs extra).
"""

from __future__ import annotations

from pathlib import Path

import sphobjinv as soi

HERE = Path(__file__).resolve().parent

# (name, domain, role, uri relative to the project's docs root; '$' stands for the name)
NUMPY = [
    ("numpy", "py", "module", "reference/index.html#module-numpy"),
    ("numpy.ndarray", "py", "class", "reference/generated/numpy.ndarray.html#$"),
    ("numpy.dtype", "py", "class", "reference/generated/numpy.dtype.html#$"),
    ("numpy.float64", "py", "attribute", "reference/arrays.scalars.html#$"),
    ("numpy.random.Generator", "py", "class", "reference/random/generator.html#$"),
    ("numpy.random.default_rng", "py", "function", "reference/random/generator.html#$"),
    ("numpy.random.RandomState", "py", "class", "reference/random/legacy.html#$"),
    ("numpy.random.SeedSequence", "py", "class",
     "reference/random/bit_generators/generated/numpy.random.SeedSequence.html#$"),
    ("numpy.typing.ArrayLike", "py", "data", "reference/typing.html#$"),
    ("numpy.typing.NDArray", "py", "data", "reference/typing.html#$"),
    ("numpy.savez", "py", "function", "reference/generated/numpy.savez.html#$"),
    ("numpy.load", "py", "function", "reference/generated/numpy.load.html#$"),
    ("numpy.polyfit", "py", "function", "reference/generated/numpy.polyfit.html#$"),
    ("numpy.inf", "py", "data", "reference/constants.html#$"),
    ("numpy.nan", "py", "data", "reference/constants.html#$"),
    *[(f"numpy.{f}", "py", "function", f"reference/generated/numpy.{f}.html#$")
      for f in ("array", "arange", "linspace", "median", "mean", "sqrt", "exp", "max",
                "array_equal")],
    ("array_like", "std", "term", "glossary.html#term-array_like"),
    ("arrays.scalars", "std", "label", "reference/arrays.scalars.html#arrays-scalars"),
]

MATPLOTLIB = [
    ("matplotlib.figure.Figure", "py", "class", "api/_as_gen/matplotlib.figure.Figure.html#$"),
    ("matplotlib.axes.Axes", "py", "class", "api/_as_gen/matplotlib.axes.Axes.html#$"),
    *[(f"matplotlib.pyplot.{f}", "py", "function", f"api/_as_gen/matplotlib.pyplot.{f}.html#$")
      for f in ("subplots", "show")],
    *[(f"matplotlib.axes.Axes.{m}", "py", "method", f"api/_as_gen/matplotlib.axes.Axes.{m}.html#$")
      for m in ("plot", "errorbar", "set", "legend", "axhline", "axhspan")],
]


def write(path: Path, project: str, version: str, entries: list[tuple[str, str, str, str]]) -> None:
    """Write one compressed Sphinx inventory (version 2)."""
    inv = soi.Inventory()
    inv.project, inv.version = project, version
    for name, domain, role, uri in entries:
        disp = "Scalars" if role == "label" else "-"
        inv.objects.append(soi.DataObjStr(name=name, domain=domain, role=role, priority="1",
                                          uri=uri, dispname=disp))
    soi.writebytes(str(path), soi.compress(inv.data_file(contract=True)))


if __name__ == "__main__":
    write(HERE / "numpy.inv", "NumPy", "2.4", NUMPY)
    write(HERE / "matplotlib.inv", "Matplotlib", "3.11", MATPLOTLIB)
