"""The machine's memory, for refusing work that could not fit before it starts."""

from __future__ import annotations

import math
import os

__all__ = ["MEMORY_FRACTION", "check_accumulator", "check_memory", "physical_memory"]

#: Share of physical memory one result's arrays may take: the rest belongs to the
#: user's other work (and to the copies numpy makes while computing).
MEMORY_FRACTION = 0.25


def physical_memory() -> float:
    """Physical memory in bytes (8 GiB when the platform cannot say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8.0 * 2**30


def check_memory(n_bytes: float, what: str, advice: str) -> None:
    """Refuse work whose arrays would take more than :data:`MEMORY_FRACTION` of memory.

    Raises ``ValueError("<what> would need about X GiB, more than 25% of this machine's
    M GiB: <advice>")`` before anything is allocated.
    """
    total = physical_memory()
    if n_bytes > MEMORY_FRACTION * total:
        raise ValueError(f"{what} would need about {n_bytes / 2**30:.1f} GiB, more than "
                         f"{MEMORY_FRACTION:.0%} of this machine's {total / 2**30:.0f} GiB: "
                         f"{advice}")


def check_accumulator(width: int, n_bins: int, n_blocks: int, threads: int = 1,
                      advice: str = "use fewer inputs, lower orders or fewer bins") -> float:
    """Refuse an accumulator that would not fit; its size in bytes.

    A run over ``n_blocks`` blocks on ``threads`` threads holds about ``2 log2(n_blocks)
    + 2 threads`` nodes of ``n_bins x width`` doubles (the block tree's dyadic nodes
    and each thread's partial ones).  The one check for sampling and for loading: a
    result this machine could not have sampled on one thread is not loaded either.
    """
    nodes = 2 * max(1, math.ceil(math.log2(n_blocks + 1))) + 2 * threads
    n_bytes = float(nodes) * n_bins * width * 8.0
    check_memory(n_bytes, f"the accumulator ({width} stored values per bin x {n_bins} bins "
                 f"x ~{nodes} nodes)", advice)
    return n_bytes
