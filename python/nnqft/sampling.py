"""`sample`: draw an ensemble of networks in the C++ core and accumulate correlators.

The public functions here are thin: they build one :class:`~nnqft._plan.RunPlan` from
their arguments (every check, the feasibility verdict, the pilot shift, the C++
configuration) and :func:`run` it, in one pass or in chunks (:mod:`nnqft.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._engine import core_hook, progress_counter, sample_range
from ._plan import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_N_BINS,
    DEFAULT_ORDERS,
    SAMPLERS,
    RunPlan,
)
from ._validation import ESTIMATORS
from .architecture import Architecture, check_arch
from .correlators import Correlators
from .distributed import cluster_threads, run_chunked

__all__ = ["sample", "sample_grid", "run", "RunPlan", "ESTIMATORS", "SAMPLERS",
           "DEFAULT_ORDERS", "DEFAULT_BLOCK_SIZE", "DEFAULT_N_BINS"]


def run(plan: RunPlan, progress: bool | Callable[[int], None] = False,
        client: Any = None) -> list[Correlators]:
    """Execute ``plan``: one result per grid point (``client``: the chunks on Dask).

    A plan with a ``chunk_size`` (chunked, checkpointed or Dask runs) goes through
    :func:`nnqft.distributed.run_chunked`; otherwise the networks are sampled in one
    call of the core.  ``progress`` is a bool (a tqdm bar) or a callable receiving the
    number of networks done.
    """
    if plan.chunk_size is not None or client is not None:
        return run_chunked(plan, progress, client)
    with progress_counter(progress, plan.n_networks) as counter:
        return sample_range(plan, plan.start, plan.stop, core_hook(counter))


def build_plan(archs: Sequence[Architecture], x: Any, n_networks: Any, orders: Any,
               estimator: Any, seed: Any, threads: Any, client: Any,
               **options: Any) -> RunPlan:
    """The plan of a public call; on a cluster its threads count in the estimates."""
    return RunPlan.build(archs, x, n_networks, orders, estimator, seed, threads,
                         cluster_threads=cluster_threads(client), **options)


def sample(
    arch: Architecture,
    x: Any,
    n_networks: int = 100_000,
    orders: Sequence[int] | int = DEFAULT_ORDERS,
    estimator: str = "plain",
    seed: Any = 0,
    threads: int | None = None,
    progress: bool = False,
    *,
    start: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_bins: int = DEFAULT_N_BINS,
    sampler: str = "auto",
    checkpoint: Any = None,
    client: Any = None,
    chunk_size: int | None = None,
    allow_unresolved: bool = False,
) -> Correlators:
    """Sample networks and accumulate their n-point correlators.

    Parameters
    ----------
    arch : Architecture
        The ensemble.
    x : array_like, shape (k, d_in)
        Inputs (1-D means d_in = 1).
    n_networks : int
        Number of networks: indices ``[start, start + n_networks)``.
    orders : sequence of int
        Correlator orders to accumulate, each in 1..8 (default 2, 4, 6).
    estimator : {"plain", "conditional"}
        ``plain`` averages products of outputs; ``conditional`` averages moments of
        the empirical read-out kernel (exact given the last hidden layer because the
        read-out weights are Gaussian): far smaller variance, no read-out draws.
    seed : int, sequence of int, SeedSequence or None
        Turned into a Philox key by numpy's SeedSequence; network i is fully
        determined by ``(seed, i)``.  None draws fresh entropy (recorded in ``meta``).
    threads : int or None
        Worker threads (None: the CPUs this process may use).  Results are
        bit-identical for any value.
    progress : bool
        Show a tqdm progress bar.
    start : int
        First network index (a multiple of ``block_size``): runs over disjoint ranges
        merge with ``+`` into exactly the result of one run over their union.
    block_size, n_bins : int
        Networks per block and number of jackknife bins (a power of two).  Runs must
        share them to be merged.
    sampler : {"auto", "gram", "weights"}
        How hidden layers after the first are drawn.  ``weights`` draws every weight
        and bias (cost ~N^2 k per layer, any weight distribution).  ``gram`` draws the
        layer's pre-activations at the k inputs directly: given the previous layer
        they are N independent k-vectors with covariance the empirical kernel
        ``G = sigma_b^2 + sigma_w^2/N sum_j phi_j phi_j^T`` (cost ~N k^2 per layer; exact
        in distribution for Gaussian weights only, so uniform weights are refused).
        ``auto`` (default) picks ``gram`` for Gaussian weights at depth >= 2.  The two
        are different random streams, equal only in distribution: runs made with
        different samplers do not merge.  At depth 1 both draw the same networks and
        the result records ``weights``.  The sampler used is ``meta["sampler"]``.
    checkpoint : path or None
        Directory keeping every finished chunk (:mod:`nnqft.checkpoint`): rerunning
        the same call resumes where it stopped and ends bit-identical to an
        uninterrupted run.  Refused if it holds another configuration's chunks.
    client : dask.distributed.Client or None
        Run the chunks on this Dask cluster (:mod:`nnqft.distributed`); ``threads`` is
        then per task (default 1).
    chunk_size : int or None
        Networks per chunk, rounded up to whole blocks (default 131072); chunks are the
        unit of checkpointing and of Dask tasks.
    allow_unresolved : bool
        Sample even when ``n_networks`` cannot resolve the mean (a Gauss-net whose
        log-normal kernel scale carries its mean in networks too rare to be drawn, e.g.
        ``|x| = 6`` at ``sigma_b = 1``).  Without it such a call raises ``ValueError``
        before any work; with it the result records the verdict in
        ``meta["unresolved"]``, :meth:`~nnqft.Correlators.reliable` is False, the error
        calls warn and the repr says UNRESOLVED.

    Returns
    -------
    Correlators

    Raises
    ------
    ValueError, TypeError
        On invalid input, or a run that could not fit in memory, finish, or resolve
        its mean, before any work is done.
    KeyboardInterrupt
        On Ctrl-C (the workers stop within 2**16 neurons of work, well under
        a second at any width; unfinished blocks are dropped, never half-counted).
    """
    check_arch(arch)
    return sample_grid([arch], x, n_networks, orders, estimator, seed, threads, progress,
                       start=start, block_size=block_size, n_bins=n_bins, sampler=sampler,
                       checkpoint=checkpoint, client=client, chunk_size=chunk_size,
                       allow_unresolved=allow_unresolved)[0].with_theory_check()


def sample_grid(
    archs: Sequence[Architecture],
    x: Any,
    n_networks: int = 100_000,
    orders: Sequence[int] | int = DEFAULT_ORDERS,
    estimator: str = "plain",
    seed: Any = 0,
    threads: int | None = None,
    progress: bool | Callable[[int], None] = False,
    *,
    start: int = 0,
    block_size: int = DEFAULT_BLOCK_SIZE,
    n_bins: int = DEFAULT_N_BINS,
    sampler: str = "auto",
    checkpoint: Any = None,
    client: Any = None,
    chunk_size: int | None = None,
    allow_unresolved: bool = False,
) -> list[Correlators]:
    """:func:`sample` for several standard deviations of the same networks, in one pass.

    ``archs`` may differ only in ``sigma_w`` / ``sigma_b``.  Every network draws its
    parameters once and is evaluated at each grid point (common random numbers), so
    the random numbers are paid once; each result is bit-identical to ``sample(arch,
    ...)`` with the same seed and merges with it.  Arguments as for :func:`sample`;
    ``progress`` may also be a callable receiving the number of networks done.
    """
    plan = build_plan(archs, x, n_networks, orders, estimator, seed, threads, client,
                      start=start, block_size=block_size, n_bins=n_bins, sampler=sampler,
                      checkpoint=checkpoint, chunk_size=chunk_size,
                      allow_unresolved=allow_unresolved)
    return run(plan, progress, client)
