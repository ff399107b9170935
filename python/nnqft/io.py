"""Result files: ``.npz`` arrays plus a JSON metadata record, written atomically.

Every file carries ``kind`` and ``format_version`` in its JSON record so that
:func:`load` can rebuild the right object and refuse files it does not understand.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load", "save_correlators", "write_npz", "read_npz", "register_loader"]

_LOADERS: dict[str, Callable[[dict[str, Any], dict[str, np.ndarray]], Any]] = {}


def register_loader(kind: str, loader: Callable[[dict[str, Any], dict[str, np.ndarray]], Any]) -> None:
    """Teach :func:`load` to rebuild files of ``kind`` (metadata, arrays) -> object."""
    _LOADERS[kind] = loader


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_npz(path: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays and JSON metadata atomically (temporary file, then rename).

    An interrupted write leaves either the previous file or nothing, never a
    truncated one.  A missing ``.npz`` suffix is added.
    """
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps(meta, default=_json_default, sort_keys=True)
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


_CORR_ARRAYS = ("x", "shift", "levels", "indices", "counts", "sums", "tail_lengths", "tails")


def save_correlators(corr: Any, path: Any) -> Path:
    """Save a :class:`~nnqft.Correlators` (lossless: it can be merged after loading)."""
    state = corr.state()
    arrays = {name: np.asarray(state.pop(name)) for name in _CORR_ARRAYS}
    meta = {"kind": "correlators", "format_version": state["version"], **state}
    return write_npz(path, meta, arrays)


def _load_correlators(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from .correlators import Correlators

    state = {k: v for k, v in meta.items() if k not in ("kind", "format_version")}
    state.update(arrays)
    return Correlators.from_state(state)


register_loader("correlators", _load_correlators)


def load(path: Any) -> Any:
    """Load any nnqft result file (correlators, fits, flows) written by ``save``."""
    meta, arrays = read_npz(path)
    kind = meta.get("kind")
    if kind not in _LOADERS:
        raise ValueError(f"{path}: unknown result kind {kind!r}; known: {sorted(_LOADERS)}")
    return _LOADERS[kind](meta, arrays)
