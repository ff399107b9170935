"""The interface every result object shares: display, dictionary, file, registry.

A result class derives from :class:`Result` with a ``kind`` and implements

* ``__repr__`` — one short line;
* ``_tables()`` — its display as :class:`nnqft.render.Table` blocks, from which
  ``__str__`` (text) and ``_repr_html_`` (notebooks) are made;
* ``to_dict()`` — a JSON-ready dictionary;
* ``_to_file()`` / ``_from_file()`` — ``(metadata, arrays)`` for ``.npz`` files.

Deriving registers the class under its ``kind`` (:func:`registered`), so that
:func:`nnqft.load` (:mod:`nnqft._load`, above every result module) rebuilds it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import render
from .io import check_version, write_npz

__all__ = ["Result", "registered"]


class Result(abc.ABC):
    """Base class of nnqft's result objects (see the module docstring)."""

    _kind: ClassVar[str]
    _format_version: ClassVar[int] = 1

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls._kind = kind
            _CLASSES[kind] = cls

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


def registered() -> dict[str, type[Result]]:
    """The result classes defined so far (by the modules imported), by ``kind``."""
    return dict(_CLASSES)
