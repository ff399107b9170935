"""The machine's memory, for refusing work that could not fit before it starts."""

from __future__ import annotations

import os

__all__ = ["physical_memory"]


def physical_memory() -> float:
    """Physical memory in bytes (8 GiB when the platform cannot say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8.0 * 2**30
