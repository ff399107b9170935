"""Result files and JSON: ``.npz`` arrays plus a JSON metadata record, written atomically.

Every file carries ``kind`` and ``format_version`` in its JSON record; :func:`nnqft.load`
(above every result class) rebuilds the result of the file's kind.  This module imports
no other nnqft module but :mod:`nnqft.warnings`: dependencies point from the results to
io, never back.

JSON has one encoder here (:func:`jsonable`, :func:`dumps`): numpy scalars and arrays
become numbers and lists, NaN and infinities become ``null`` (JSON has neither), and the
output is always valid JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_version", "dumps", "json_record", "jsonable", "open_npz", "prefixed",
           "read_npz", "write_npz", "write_text"]

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


def write_text(path: Any, text: str) -> Path:
    """Write ``text`` atomically: a temporary file next to ``path``, then a rename.

    An interrupted write (Ctrl-C, SIGTERM, a full disk) leaves the previous file or
    none, never a truncated one.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


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


#: A member may declare at most this many times its stored size (+1 MiB): nnqft writes
#: uncompressed members (ratio 1), so only a crafted file comes near it ("zip bomb").
MAX_EXPANSION = 16
#: The JSON record is small; a larger one is not an nnqft file.
MAX_RECORD_BYTES = 16 * 2**20
#: Bit 0 of a zip member's general-purpose flags: the member is encrypted.
_ENCRYPTED = 0x1
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """One ``.npy`` member, its sizes checked before anything is decompressed."""
    if info.flag_bits & _ENCRYPTED:  # zipfile would ask for a password (RuntimeError)
        raise ValueError(f"{where}: member {info.filename} is encrypted (nnqft writes plain "
                         "zip files; decrypt it, e.g. unzip and zip again, to load it)")
    if info.file_size > MAX_EXPANSION * info.compress_size + 2**20:
        raise ValueError(f"{where}: member {info.filename} declares {info.file_size} bytes "
                         f"from {info.compress_size} stored (a decompression bomb?)")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in _NPY_HEADERS:
            raise ValueError(f"{where}: member {info.filename} has .npy version {version}")
        shape, fortran, dtype = _NPY_HEADERS[version](fh)
        if dtype.hasobject:
            raise ValueError(f"{where}: member {info.filename} holds Python objects")
        n_bytes = math.prod(shape) * dtype.itemsize
        if n_bytes > info.file_size:  # checked before the array is allocated
            raise ValueError(f"{where}: member {info.filename} declares shape {shape} "
                             f"({n_bytes} bytes) in a {info.file_size}-byte member")
        data = fh.read(n_bytes)
    if len(data) != n_bytes:
        raise ValueError(f"{where}: member {info.filename} is truncated")
    flat = np.frombuffer(bytearray(data), dtype=dtype)
    return flat.reshape(shape, order="F" if fortran else "C")


class _Members(Mapping[str, np.ndarray]):
    """The arrays of an open result file, each read (and checked) when first asked for."""

    def __init__(self, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], where: str):
        self._zf, self._infos, self._where = zf, infos, where
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = _read_member(self._zf, self._infos[name], self._where)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)


@contextlib.contextmanager
def open_npz(path: Any) -> Iterator[tuple[dict[str, Any], Mapping[str, np.ndarray]]]:
    """Open a result file: its JSON record and its arrays, each read when asked for."""
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    where = str(path)
    with open(path, "rb") as fh:  # a missing or unreadable file stays an OSError
        with _as_format_errors(where), zipfile.ZipFile(fh) as zf:
            infos = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
            if "__meta__" not in infos:
                raise ValueError(f"{where} is not an nnqft result file (no metadata record)")
            if infos["__meta__"].file_size > MAX_RECORD_BYTES:
                raise ValueError(f"{where}: the metadata record is too large")
            record = _read_member(zf, infos.pop("__meta__"), where)
            if record.shape != () or record.dtype.kind != "U":
                raise ValueError(f"{where}: the metadata record is not a string")
            meta = json.loads(str(record[()]))
            if not isinstance(meta, dict):
                raise ValueError(f"{where}: the metadata record is not a JSON object")
            yield meta, _Members(zf, infos, where)


@contextlib.contextmanager
def _as_format_errors(where: str) -> Iterator[None]:
    """Whatever a malformed file makes zipfile, zlib, numpy or json raise -> ValueError."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RecursionError,
            UnicodeDecodeError, json.JSONDecodeError, OSError, OverflowError) as err:
        raise ValueError(f"{where} is not an nnqft result file "
                         f"({type(err).__name__}: {err})") from None


def read_npz(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`write_npz`: ``(metadata, arrays)``.

    Nothing in the file is trusted: it must be a zip of ``.npy`` members with a JSON
    record, every member's declared size is bounded before it is decompressed and its
    array shape checked against that size before it is allocated; anything else is a
    ValueError naming the file.  (:func:`load` decompresses no array before the
    file's kind is known.)
    """
    with open_npz(path) as (meta, members):
        return meta, dict(members)


def prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays stored as ``"<prefix>:<name>"``, keyed by ``name``."""
    head = prefix + ":"
    # by key, so that a lazy mapping of file members reads only the prefixed ones
    return {key[len(head):]: arrays[key] for key in arrays if key.startswith(head)}


def check_version(kind: str, meta: Mapping[str, Any], supported: int) -> None:
    """Refuse a file whose ``format_version`` this nnqft does not read."""
    version = meta.get("format_version")
    if version != supported:
        raise ValueError(f"unsupported {kind} format version {version!r} "
                         f"(this nnqft reads version {supported})")
