"""Result files and JSON: ``.npz`` arrays plus a JSON metadata record, written atomically.

Every file carries ``kind`` and ``format_version`` in its JSON record.  Each result class
registers the loader of its own kind (:func:`register_loader`), so that :func:`load` can
rebuild any result while this module imports no result class: dependencies point from
the results to io, never back.

JSON has one encoder here (:func:`jsonable`, :func:`dumps`): numpy scalars and arrays
become numbers and lists, NaN and infinities become ``null`` (JSON has neither), and the
output is always valid JSON.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_version", "dumps", "json_record", "jsonable", "load", "prefixed", "read_npz",
           "register_loader", "write_npz"]

Loader = Callable[[dict[str, Any], dict[str, np.ndarray]], Any]
_LOADERS: dict[str, Loader] = {}


def register_loader(kind: str, loader: Loader) -> None:
    """Teach :func:`load` to rebuild files of ``kind``.

    Parameters
    ----------
    kind : str
        The ``kind`` entry of the file's JSON record.
    loader : callable
        ``loader(metadata, arrays) -> result``; it checks ``format_version`` itself.
    """
    _LOADERS[kind] = loader


def jsonable(value: Any) -> Any:
    """Convert ``value`` to JSON types: NaN and infinities become None.

    Dicts (keys as str), lists, tuples, numpy scalars and arrays are converted
    recursively; complex numbers split into ``{"real": ..., "imag": ...}``; paths become
    strings and objects with a ``to_dict`` method their dictionary.

    Raises
    ------
    TypeError
        For any other type.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if np.iscomplexobj(arr):
            return {"real": jsonable(arr.real), "imag": jsonable(arr.imag)}
        if arr.dtype.kind in "iub":
            return arr.tolist()
        if arr.dtype.kind == "f":
            return jsonable(arr.tolist())
        if arr.dtype.kind == "U":
            return arr.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__} {value!r}")


def json_record(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`jsonable` of a mapping, typed as a dict (what ``to_dict`` methods return)."""
    return {str(key): jsonable(value) for key, value in mapping.items()}


def dumps(value: Any, **kwargs: Any) -> str:
    """Serialise ``value`` with :func:`jsonable`; always valid JSON (no NaN, no Infinity).

    Keyword arguments go to :func:`json.dumps` (``indent``, ``sort_keys``).
    """
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def write_npz(path: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays and JSON metadata atomically (temporary file, then rename).

    An interrupted write leaves either the previous file or nothing, never a
    truncated one.  A missing ``.npz`` suffix is added.  Numbers that must round-trip
    exactly, including NaN and infinities, belong in ``arrays``: in ``meta`` they
    become null.
    """
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    record = dumps(meta, sort_keys=True)
    # Created like any ordinary file (mode 0666 less the umask; mkstemp would make it
    # 0600), under a name no other writer uses.
    tmp = str(target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __meta__=np.array(record), **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def read_npz(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`write_npz`: ``(metadata, arrays)``."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:  # numpy's "pickled (object) data" for anything not .npy/.npz
        raise ValueError(f"{path} is not an nnqft result file (.npz written by nnqft): "
                         f"{err.__class__.__name__} reading it") from err
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not an nnqft result file (a bare .npy array)")
    with data:
        if "__meta__" not in data.files:
            raise ValueError(f"{path} is not an nnqft result file (no metadata record)")
        meta = json.loads(str(data["__meta__"]))
        arrays = {name: data[name] for name in data.files if name != "__meta__"}
    return meta, arrays


def prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays stored as ``"<prefix>:<name>"``, keyed by ``name``."""
    head = prefix + ":"
    return {key[len(head):]: value for key, value in arrays.items() if key.startswith(head)}


def check_version(kind: str, meta: Mapping[str, Any], supported: int) -> None:
    """Refuse a file whose ``format_version`` this nnqft does not read."""
    version = meta.get("format_version")
    if version != supported:
        raise ValueError(f"unsupported {kind} format version {version!r} "
                         f"(this nnqft reads version {supported})")


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
    meta, arrays = read_npz(path)
    kind = meta.get("kind")
    if kind not in _LOADERS:
        raise ValueError(f"{path}: unknown result kind {kind!r}; known: {sorted(_LOADERS)}")
    return _LOADERS[kind](meta, arrays)
