"""The interface every result object shares: display, dictionary, file, registry.

A result class derives from :class:`Result` with a ``kind`` and implements

* ``__repr__`` — one short line;
* ``_tables()`` — its display as :class:`nnqft.render.Table` blocks, from which
  ``__str__`` (text) and ``_repr_html_`` (notebooks) are made;
* ``to_dict()`` — a JSON-ready dictionary;
* ``_to_file()`` / ``_from_file()`` — ``(metadata, arrays)`` for ``.npz`` files.

Deriving registers the class's loader with :func:`nnqft.io.register_loader`, so
:func:`nnqft.load` rebuilds it while :mod:`nnqft.io` imports no result class.  The
modules that define result classes are listed in :data:`RESULT_MODULES`, so that
:func:`result_classes` (and a ``load`` of a kind not yet registered) can import them.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import render
from .io import check_version, register_loader, write_npz

__all__ = ["RESULT_MODULES", "Result", "result_classes"]

#: The modules of nnqft that define result classes (a test checks that none is missing).
RESULT_MODULES = ("correlators", "deep_theory", "fit", "flow", "frg", "shells")


class Result(abc.ABC):
    """Base class of nnqft's result objects (see the module docstring)."""

    _kind: ClassVar[str]
    _format_version: ClassVar[int] = 1

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls._kind = kind
            _CLASSES[kind] = cls
            register_loader(kind, cls._load)

    @classmethod
    def _load(cls, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        check_version(cls._kind, meta, cls._format_version)
        return cls._from_file(meta, arrays)

    # -- to be implemented by each result --------------------------------------------
    @abc.abstractmethod
    def _tables(self) -> list[render.Table]:
        raise NotImplementedError

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result."""
        raise NotImplementedError

    @abc.abstractmethod
    def _to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    @classmethod
    @abc.abstractmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    def __str__(self) -> str:
        return render.text(self._tables())

    def _repr_html_(self) -> str:
        return render.html(self._tables())

    def save(self, path: Any) -> Path:
        """Write the result as ``.npz`` arrays plus JSON metadata, atomically.

        :func:`nnqft.load` reads it back.  A missing ``.npz`` suffix is added.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        meta, arrays = self._to_file()
        record = {"kind": self._kind, "format_version": self._format_version, **meta}
        return write_npz(path, record, arrays)


_CLASSES: dict[str, type[Result]] = {}


def result_classes() -> dict[str, type[Result]]:
    """Every result class by its ``kind``, after importing :data:`RESULT_MODULES`."""
    for name in RESULT_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    return dict(_CLASSES)
