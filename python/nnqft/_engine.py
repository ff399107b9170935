"""Run a :class:`~nnqft._plan.RunPlan`'s networks in the C++ core, with progress reports.

:func:`sample_range` is the one call into ``_core.sample``: a whole run
(:func:`nnqft.sample`) or one chunk of it (:mod:`nnqft.distributed`) evaluates the
plan's networks ``[start, stop)`` with the plan's configuration, never re-checking it.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import _core
from ._plan import RunPlan
from .architecture import Architecture
from .correlators import Correlators

__all__ = ["sample_range", "progress_counter", "core_hook", "progress_bar"]


def sample_range(plan: RunPlan, start: int, stop: int,
                 hook: Callable[[int], None] | None = None) -> list[Correlators]:
    """Sample the plan's networks ``[start, stop)``: one result per grid point.

    ``hook`` receives the number of networks done in this call.

    Raises
    ------
    OverflowError
        If the accumulated sums overflowed float64.
    KeyboardInterrupt
        On Ctrl-C (unfinished blocks are dropped, never half-counted).
    """
    t0 = time.perf_counter()
    trees, completed = _core.sample(plan.config, start, stop - start, plan.threads, hook)
    wall = time.perf_counter() - t0
    if not completed:  # defensive: the core raises (signal, hook error) before this
        raise KeyboardInterrupt("sampling stopped before completion")
    _check_finite(trees, plan.archs, plan.x)
    meta = {**plan.meta(), "ranges": [[start, stop]], "wall_time": wall,
            "threads": plan.threads, "kernel_path": _core.kernel_path(),
            "host": {"machine": platform.machine(), "system": platform.system(),
                     "python": platform.python_version()}}
    return [Correlators(arch=a, x=plan.x, orders=plan.orders, estimator=plan.estimator,
                        tree=t, shift=sh,
                        meta=dict(meta) if verdict is None else dict(meta, unresolved=verdict))
            for a, t, sh, verdict in zip(plan.archs, trees, plan.shifts, plan.unresolved,
                                         strict=True)]


def _check_finite(trees: Sequence[Any], archs: Sequence[Architecture], xs: np.ndarray) -> None:
    """Refuse sums that overflowed: a NaN or inf would silently poison every estimate."""
    for tree, arch in zip(trees, archs, strict=True):
        if not np.isfinite(tree.totals()[1]).all():
            raise OverflowError(
                f"the sampled observables overflow float64 (inf/NaN in the accumulated "
                f"moments) for sigma_w {arch.sigma_w_layers}, sigma_b {arch.sigma_b_layers} "
                f"and |x| up to {np.abs(xs).max():.3g}: rescale the inputs or sigma_w, or "
                "lower the orders")


@contextlib.contextmanager
def progress_counter(progress: bool | Callable[[int], None], total: int,
                     initial: int = 0) -> Iterator[Any]:
    """Count a run's networks for ``progress``: a tqdm bar, the caller's callable, or None.

    ``progress`` is True (a bar of ``total`` networks), False (None is yielded) or a
    callable receiving the number of networks done.  What is yielded has the two members
    of tqdm's interface the runs use, ``n`` and ``update(delta)``; ``initial`` networks
    are done already (a resumed run).
    """
    if callable(progress):
        yield _CallbackCounter(progress, initial)
    elif progress:
        with progress_bar(total, initial) as bar:
            yield bar
    else:
        yield None


def core_hook(counter: Any) -> Callable[[int], None] | None:
    """The progress hook of one ``_core.sample`` call, or None without a counter.

    The core reports the networks done in that call; ``counter`` moves on from where it
    stood when the call began (the chunks of a run share one counter).
    """
    if counter is None:
        return None
    base = counter.n

    def hook(done: int) -> None:
        counter.update(base + done - counter.n)

    return hook


class _CallbackCounter:
    """A progress callable behind the two members of tqdm's interface the runs use."""

    def __init__(self, report: Callable[[int], Any], initial: int) -> None:
        self.report, self.n = report, initial

    def update(self, delta: int) -> None:
        self.n += delta
        self.report(self.n)


def progress_bar(total: int, initial: int = 0) -> Any:
    """The tqdm bar of a sampling run, counting networks (``initial`` already done)."""
    from tqdm.auto import tqdm

    # A terminal or a notebook widget redraws in place; a log file or CI capture gets a
    # line every 10 s instead of ten a second.
    live = getattr(sys.stderr, "isatty", lambda: False)() or "ipykernel" in sys.modules
    interval = 0.1 if live else 10.0
    return tqdm(total=total, initial=initial, unit="net", unit_scale=True, desc="sampling",
                mininterval=interval)
