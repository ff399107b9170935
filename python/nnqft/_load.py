"""`load`: rebuild any nnqft result from its file, whatever its kind.

It sits above every module that defines a result class (:data:`RESULT_MODULES`) and
imports the ones not imported yet (``nnqft.frg`` is not imported by ``import nnqft``),
so that nothing below imports upwards: the result classes register themselves with
:mod:`nnqft._result` when they are defined.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._result import Result, registered
from .io import open_npz

__all__ = ["RESULT_MODULES", "load", "result_classes"]

#: The modules of nnqft that define result classes (a test checks that none is missing).
RESULT_MODULES = ("correlators", "deep_theory", "fit", "flow", "frg", "shells")


def result_classes() -> dict[str, type[Result]]:
    """Every result class by its ``kind``, after importing :data:`RESULT_MODULES`."""
    for name in RESULT_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    return registered()


def load(path: Any) -> Any:
    """Load any nnqft result file written by a result's ``save`` method.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file (the suffix may be omitted).

    Returns
    -------
    Correlators, CouplingFit, CutoffScan, Flow, FRGFlow, ...
        The object of the file's ``kind``.

    Raises
    ------
    ValueError
        If the file is not an nnqft result file or its kind or version is unknown.
    """
    with open_npz(path) as (meta, arrays):
        kind = meta.get("kind")
        classes = registered()
        if isinstance(kind, str) and kind not in classes:  # its module is not imported yet
            classes = result_classes()
        if not isinstance(kind, str) or kind not in classes:
            raise ValueError(f"{path}: unknown result kind {kind!r}; known: {sorted(classes)}")
        try:  # the kind is known before any array is decompressed
            return classes[kind]._load(meta, arrays)  # members are read as the loader asks
        except KeyError as err:
            raise ValueError(f"{path}: corrupt {kind} file, {err.args[0]!r} is missing") from None
        except (TypeError, IndexError) as err:  # metadata of the wrong type or length
            raise ValueError(f"{path}: corrupt {kind} file ({type(err).__name__}: {err})") from None
