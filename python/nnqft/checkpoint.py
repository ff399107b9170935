"""Checkpoints: every finished chunk of a run is kept on disk, so a rerun resumes.

A checkpoint directory holds ``config.json`` (what the run computes: everything that
fixes the bits of its result) and one ``chunk-<start>-<stop>.npz`` per finished chunk of
networks ``[start, stop)``, written atomically with a SHA-256 checksum of its content.
Because network i is a pure function of ``(seed, i)`` and accumulators merge
bit-identically over any block-aligned split, the chunks on disk plus the chunks still
to do give exactly the result of one uninterrupted run.

``config.json`` is the run plan's identity (:meth:`nnqft._plan.RunPlan.to_dict`).  A
directory written by another configuration, or whose ``config.json`` was edited or is not
one, is refused with the differences named; a chunk file that cannot be read, fails its
checksum or holds other networks than its name says is reported
(:class:`~nnqft.warnings.CheckpointWarning`), moved aside and recomputed, never merged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .correlators import STATE_ARRAYS, Correlators
from .io import dumps, read_npz, write_npz, write_text
from .warnings import CheckpointWarning

__all__ = ["Checkpoint"]

CONFIG_FILE = "config.json"
CHUNK_KIND = "checkpoint-chunk"
_CHUNK_NAME = re.compile(r"^chunk-(\d+)-(\d+)\.npz$")
#: Chunk files already reported as unusable but not moved aside (warned once a process).
_REPORTED: set[Path] = set()


def _normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, numpy -> Python)."""
    return json.loads(dumps(value, sort_keys=True))


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    def short(value: Any) -> str:
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 80 else text[:77] + "..."

    out = []
    for name in sorted(set(stored) | set(current)):
        if stored.get(name) != current.get(name):
            out.append(f"{name} (checkpoint: {short(stored.get(name, 'absent'))}, "
                       f"this run: {short(current.get(name, 'absent'))})")
    return out


def _checksum(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


class Checkpoint:
    """The chunk files of one run configuration in one directory.

    Use :meth:`open` on the client (it checks or records the configuration); workers
    rebuild the object from ``(directory, digest)``, which is cheap and picklable.

    Parameters
    ----------
    directory : path
        The checkpoint directory (it must be visible to every worker that writes).
    digest : str
        Hash of the run configuration; chunk files of another digest are not merged.
    """

    def __init__(self, directory: Any, digest: str, shift: Any = None) -> None:
        self.directory = Path(directory)
        self.digest = str(digest)
        #: The run's pilot shifts as recorded (None on workers, which are handed them).
        self.shift = shift

    @classmethod
    def open(cls, directory: Any, config: dict[str, Any]) -> Checkpoint:
        """Open ``directory`` for a run of ``config``, creating it if needed.

        Raises
        ------
        ValueError
            If the directory holds a checkpoint of another configuration (the message
            names every difference) or is not a checkpoint directory.
        """
        path = Path(directory)
        if path.exists() and not path.is_dir():
            raise ValueError(f"checkpoint {str(path)!r} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        config = _normalised(config)
        record = path / CONFIG_FILE
        if record.exists():
            stored = _read_config(path, record)
            # The pilot shift is derived from the rest, but on a machine with another
            # kernel path it may differ in the last bit: the recorded one is the run's
            # (the run plan checks that it differs from its own by rounding only).
            diff = _differences({**stored, "shift": None}, {**config, "shift": None})
            if diff:
                raise ValueError(
                    f"checkpoint {str(path)!r} belongs to another run; it differs in "
                    + "; ".join(diff) + ". Use another --checkpoint directory, or delete "
                    "this one to start over")
            config = stored
        else:
            write_text(record, json.dumps(config, indent=1, sort_keys=True))
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:32]
        return cls(path, digest, config["shift"])

    def path(self, start: int, stop: int) -> Path:
        """File of the chunk of networks ``[start, stop)``."""
        return self.directory / f"chunk-{start:019d}-{stop:019d}.npz"

    def ranges(self) -> list[tuple[int, int]]:
        """Network ranges of the chunk files present (unverified), sorted."""
        found = []
        for entry in os.listdir(self.directory):
            m = _CHUNK_NAME.match(entry)
            if m:
                found.append((int(m.group(1)), int(m.group(2))))
        return sorted(found)

    def save(self, start: int, stop: int, states: Sequence[dict[str, Any]]) -> Path:
        """Write one finished chunk (the states of its grid points) atomically."""
        meta: dict[str, Any] = {"kind": CHUNK_KIND, "config": self.digest, "start": start,
                                "stop": stop, "states": []}
        arrays: dict[str, np.ndarray] = {}
        for i, state in enumerate(states):
            meta["states"].append({k: v for k, v in state.items() if k not in STATE_ARRAYS})
            arrays.update({f"{i}:{k}": np.asarray(state[k]) for k in STATE_ARRAYS})
        meta = _normalised(meta)
        meta["checksum"] = _checksum(meta, arrays)
        return write_npz(self.path(start, stop), meta, arrays)

    def load(self, start: int, stop: int) -> list[dict[str, Any]] | None:
        """States of the chunk ``[start, stop)``, or None if it is absent or corrupt.

        A corrupt chunk (unreadable, truncated, wrong checksum, another run's) is
        reported with a :class:`~nnqft.warnings.CheckpointWarning` and renamed to
        ``*.corrupt``, so it is recomputed and never merged.
        """
        path = self.path(start, stop)
        if not path.exists():
            return None
        try:
            meta, arrays = read_npz(path)
            problem = self._problem(meta, arrays, start, stop)
        except Exception as err:  # any failure to read is corruption  # noqa: BLE001
            problem = f"unreadable ({type(err).__name__}: {err})"
        if problem is None:
            return [dict(s, **{k: arrays[f"{i}:{k}"] for k in STATE_ARRAYS})
                    for i, s in enumerate(meta["states"])]
        _move_aside(path, problem)
        return None

    def _problem(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], start: int,
                 stop: int) -> str | None:
        checksum = meta.pop("checksum", None)
        if meta.get("kind") != CHUNK_KIND or meta.get("config") != self.digest:
            return "written by another run configuration"
        if (meta.get("start"), meta.get("stop")) != (start, stop):
            return f"holds networks {meta.get('start')}..{meta.get('stop')}, not its name's"
        if checksum != _checksum(meta, arrays):
            return "checksum mismatch"
        states = meta.get("states")
        if not isinstance(states, list) or not states:
            return "holds no results"
        for i, state in enumerate(states):  # what the states say they hold, and can they load
            ranges = state.get("meta", {}).get("ranges") if isinstance(state, dict) else None
            if ranges != [[start, stop]]:
                return f"its contents cover networks {ranges!r}, not [{start}, {stop})"
            Correlators.from_state(dict(state, **{k: arrays[f"{i}:{k}"] for k in STATE_ARRAYS}))
        return None


def _move_aside(path: Path, problem: str) -> None:
    """Rename an unusable chunk to ``*.corrupt`` and say so (once, if it cannot be moved)."""
    aside = path.with_name(f"{path.name}.{secrets.token_hex(3)}.corrupt")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process moved it first
        return
    except OSError as err:
        if path not in _REPORTED:
            _REPORTED.add(path)
            warnings.warn(f"checkpoint chunk {path} is unusable ({problem}) and could not be "
                          f"moved aside ({err}); it is ignored and its networks recomputed: "
                          "delete it", CheckpointWarning, stacklevel=3)
        return
    warnings.warn(f"checkpoint chunk {path} is unusable ({problem}); moved to {aside.name} "
                  "and recomputed", CheckpointWarning, stacklevel=3)


def _read_config(directory: Path, record: Path) -> dict[str, Any]:
    """The recorded run configuration, or a ``ValueError`` saying what is wrong with it."""
    where = f"checkpoint {str(directory)!r}: {CONFIG_FILE}"
    try:
        stored = json.loads(record.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{where} cannot be read ({err}); use another directory") from None
    if not isinstance(stored, dict):
        raise ValueError(f"{where} holds a JSON {type(stored).__name__}, not the run "
                         "configuration object nnqft writes: it was edited or is not a "
                         "checkpoint; use another directory")
    shift = stored.get("shift")
    if not isinstance(shift, list) or not all(
            isinstance(s, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                        for v in s) for s in shift):
        raise ValueError(f"{where} has no valid pilot shift (\"shift\" must be a list of "
                         f"lists of numbers, got {shift!r:.80}): it was edited; use another "
                         "directory")
    return stored


