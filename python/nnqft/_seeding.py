"""Seeds and thread counts: the user seed goes through numpy's SeedSequence to a Philox key."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._validation import as_int, scalar

#: Most worker threads a run may ask for.
MAX_THREADS = 1024

__all__ = [
    "MAX_THREADS",
    "check_threads",
    "default_threads",
    "require_fixed_seed",
    "resolve_seed",
    "resolve_threads",
    "seed_from_metadata",
    "seed_metadata",
]


def resolve_seed(seed: Any) -> tuple[np.random.SeedSequence, np.ndarray]:
    """Return ``(SeedSequence, key)`` with ``key`` the first two uint64 words of its state.

    Stream versions 2 to 4 key Philox4x32-10 with the first 64 bits, ``key[0]`` (low 32-bit
    half first); both words are recorded so that results stay comparable.

    ``seed`` may be None (fresh entropy, recorded so the run can be repeated), a
    non-negative int, a sequence of non-negative ints, or a SeedSequence.
    """
    seed = scalar(seed)
    if isinstance(seed, np.random.SeedSequence):
        ss = seed
    elif seed is None:
        ss = np.random.SeedSequence()
    else:
        if isinstance(seed, (bool, np.bool_, float, np.floating, complex)):
            raise TypeError(f"seed must be an int, a sequence of ints or a SeedSequence, got {seed!r}")
        try:
            ss = np.random.SeedSequence(seed)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"invalid seed {seed!r}: {exc}") from None
    key = ss.generate_state(2, np.uint64)
    return ss, key


def seed_metadata(ss: np.random.SeedSequence) -> dict[str, Any]:
    """JSON-ready description of a SeedSequence (entropy may exceed 64 bits: stored as str)."""
    entropy = ss.entropy
    if isinstance(entropy, (list, tuple, np.ndarray)):
        ent: Any = [str(int(e)) for e in entropy]
    else:
        ent = str(int(entropy))  # type: ignore[arg-type]
    return {"entropy": ent, "spawn_key": [int(s) for s in ss.spawn_key]}


def seed_from_metadata(meta: dict[str, Any]) -> np.random.SeedSequence:
    """Inverse of :func:`seed_metadata`."""
    ent = meta["entropy"]
    entropy = [int(e) for e in ent] if isinstance(ent, list) else int(ent)
    return np.random.SeedSequence(entropy, spawn_key=tuple(meta.get("spawn_key", ())))


def default_threads() -> int:
    """Threads this process may use (affinity- and cgroup-aware where Python knows)."""
    if hasattr(os, "process_cpu_count"):
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, int(n or 1))


def resolve_threads(threads: Any) -> int:
    """Validate a ``threads`` argument (None means :func:`default_threads`)."""
    if threads is None:
        return default_threads()
    return check_threads(threads)


def check_threads(threads: Any, name: str = "threads") -> int:
    """Validate a thread count, 1 to :data:`MAX_THREADS` (``name`` for the messages)."""
    return as_int(name, threads, minimum=1, maximum=MAX_THREADS)


def require_fixed_seed(seed: Any, checkpoint: Any) -> None:
    """A checkpointed run must be repeatable: ``seed=None`` (fresh entropy) is refused."""
    if seed is None and checkpoint is not None:
        raise ValueError("seed=None draws fresh entropy, so a checkpointed run could never "
                         "resume: pass a fixed seed with checkpoint=")
