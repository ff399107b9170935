"""`sample`: draw an ensemble of networks in the C++ core and accumulate correlators."""

from __future__ import annotations

import contextlib
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._resources import physical_memory
from ._seeding import resolve_seed, resolve_threads, seed_metadata
from ._validation import as_inputs, as_int, check_arch
from .architecture import Architecture
from .correlators import Correlators, observable_size, stored_degrees
from .tuples import n_tuples

__all__ = ["sample", "sample_grid", "ESTIMATORS", "SAMPLERS", "DEFAULT_ORDERS",
           "DEFAULT_BLOCK_SIZE", "DEFAULT_N_BINS"]

ESTIMATORS = ("plain", "conditional")
#: Correlator orders accumulated unless told otherwise.
DEFAULT_ORDERS = (2, 4, 6)
#: How hidden layers after the first are drawn (see :func:`sample`).
SAMPLERS = ("auto", "gram", "weights")
#: Networks per block: the unit of work, of merging and of jackknife binning.
DEFAULT_BLOCK_SIZE = 32
#: Jackknife bins (block b feeds bin b mod n_bins).
DEFAULT_N_BINS = 64
#: Networks averaged for the conditional estimator's fixed shift (numerical centring).
PILOT_NETWORKS = 16
MAX_ORDER = 8
#: Largest block_size and n_bins accepted (the core stores them as 64- and 32-bit
#: integers; far larger than any useful value).
MAX_BLOCK_SIZE = 2**31
MAX_N_BINS = 2**20
#: Recorded in every result: how to read the numbers.
CONVENTIONS = (
    "order-n correlators on the sorted index tuples with repetition "
    "(itertools.combinations_with_replacement(range(k), n)); weights of a layer with fan-in "
    "n have variance sigma_w^2/n, biases sigma_b^2; connected = joint cumulant; errors = "
    "delete-one-bin jackknife over the fixed bins (block b -> bin b mod n_bins)"
)
_MEMORY_FRACTION = 0.25
_NETWORK_MEMORY_FRACTION = 0.8
_MAX_SECONDS = 30 * 24 * 3600.0


def _validate_orders(orders: Any) -> tuple[int, ...]:
    if np.ndim(orders) == 0 and not isinstance(orders, (str, bytes)):
        orders = (orders,)
    if isinstance(orders, (str, bytes)) or not hasattr(orders, "__iter__"):
        raise TypeError(f"orders must be an int or a sequence of ints, got {orders!r}")
    values = [as_int("orders", o) for o in orders]  # int() would turn 4.5 and "4" into 4
    if not values:
        raise ValueError("orders must not be empty")
    bad = [o for o in values if not 1 <= o <= MAX_ORDER]
    if bad:
        raise ValueError(f"orders must be >= 1 and <= {MAX_ORDER}, got {bad}")
    return tuple(sorted(set(values)))


def check_index_range(start: int, n_networks: int) -> None:
    """Network indices must stay below 2**62 (the core's counters keep headroom)."""
    if start + n_networks >= 2**62:
        raise ValueError(f"network indices must stay below 2**62, got start + n_networks = "
                         f"{start + n_networks}")


def _resolve_sampler(arch: Architecture, sampler: Any) -> str:
    """The sampler actually used: "gram" or "weights" (see :func:`sample`)."""
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    gaussian = arch.weight_dist == "gaussian"
    if sampler == "gram" and not gaussian:
        raise ValueError(
            f"sampler='gram' needs Gaussian weights, got weight_dist={arch.weight_dist!r}: "
            "the Gram chain draws each pre-activation row as N(0, G), which is exact only "
            "because W h is Gaussian given h; with uniform weights it is not Gaussian at "
            "finite width. Use sampler='weights' (or 'auto').")
    # At depth 1 there is no layer after the first: both samplers draw the same networks.
    return "gram" if sampler != "weights" and gaussian and arch.depth >= 2 else "weights"


def _flops_per_network(arch: Architecture, k: int, sampler: str) -> float:
    """Rough cost of one network (the feasibility check's model, not a benchmark)."""
    n, deep = arch.width, arch.depth - 1
    first = k * n * (arch.d_in + 25)  # explicit first layer: draws, affine, activation
    if sampler == "gram":  # per layer: h h^T, N k normals, A xi, activation, O(k^3) factor
        return first + deep * (k * n * (2 * k + 45) + 10 * k**3)
    return first + deep * (2 * k * n * n + 20 * n * n)


def network_bytes(arch: Architecture, k: int, sampler: str = "weights") -> float:
    """Scratch memory of one worker thread evaluating networks of ``arch`` on ``k`` inputs.

    Mirrors ``Evaluator`` (cpp/src/network.cpp): every (layer, weights/biases) stream
    keeps its Philox words and normals (16 bytes a value), plus the current layer's
    weights, biases, pre-activations and activations (8 bytes a value), and 10% for
    the matrix product's blocks (measured: 880 MB at width 10^7, depth 1, exact; 235
    MB at width 3000, depth 2, 4 inputs, 8% above the sum).  Width 10^9 at depth 1
    needs ~97 GB; with ``sampler="weights"`` depth >= 2 is quadratic in the width, the
    Gram chain draws only ``k`` normals per neuron and layer.
    """
    n, d, deep = float(arch.width), float(arch.d_in), arch.depth - 1
    per_layer = k * n if sampler == "gram" else n * n + n
    drawn = n * d + n + deep * per_layer + n + 1
    fan_in = n if deep and sampler != "gram" else d
    buffers = n * fan_in + 2 * n + 2 * k * n + 2 * k * k
    return 1.1 * (16.0 * drawn + 8.0 * buffers)


def _check_feasible(arch: Architecture, k: int, width: int, n_networks: int, threads: int,
                    n_bins: int, block_size: int, sampler: str = "weights",
                    grid_points: int = 1) -> None:
    """Refuse runs that could not fit in memory or finish, saying why.

    ``width`` counts the stored values of every grid point; each of the ``n_networks``
    networks is evaluated at ``grid_points`` points.
    """
    evaluations = n_networks * grid_points
    n_blocks = -(-evaluations // block_size)
    nodes = 2 * max(1, math.ceil(math.log2(n_blocks + 1))) + 2 * threads
    bytes_needed = nodes * n_bins * width * 8.0
    total = physical_memory()
    if bytes_needed > _MEMORY_FRACTION * total:
        raise ValueError(
            f"the accumulator would need about {bytes_needed / 2**30:.1f} GiB "
            f"({width} stored values per bin x {n_bins} bins x ~{nodes} nodes), more than "
            f"{_MEMORY_FRACTION:.0%} of this machine's {total / 2**30:.0f} GiB: use fewer "
            "inputs, lower orders or fewer bins"
        )
    per_net = _flops_per_network(arch, k, sampler) + width
    seconds = evaluations * per_net / (2e9 * threads)
    if seconds > _MAX_SECONDS:
        at = f" at {grid_points} grid points" if grid_points > 1 else ""
        raise ValueError(
            f"n_networks={n_networks}{at} would take roughly {seconds / 86400:.0f} days on "
            f"{threads} threads (~{per_net:.2g} flops per network); split the run "
            "(start=...) across machines or sample fewer networks"
        )
    networks = threads * network_bytes(arch, k, sampler)
    if networks + bytes_needed > _NETWORK_MEMORY_FRACTION * total:
        raise ValueError(
            f"evaluating networks of width {arch.width} (depth {arch.depth}, {k} inputs) "
            f"needs about {networks / 2**30:.1f} GiB on {threads} thread(s) "
            f"({networks / threads / 2**30:.2f} GiB each), more than "
            f"{_NETWORK_MEMORY_FRACTION:.0%} of this machine's {total / 2**30:.0f} GiB: use a "
            "smaller width, fewer threads or fewer inputs"
        )


def _config(arch: Architecture, x: np.ndarray, key: Any, estimator: str,
            orders: tuple[int, ...], shift: Any, block_size: int,
            n_bins: int, grid: Sequence[Any] = (), sampler: str = "weights") -> Any:
    return _core.SampleConfig(
        activation=arch.activation, width=arch.width, d_in=arch.d_in, depth=arch.depth,
        sigma_w=list(arch.sigma_w_layers), sigma_b=list(arch.sigma_b_layers),
        uniform_weights=arch.weight_dist == "uniform", x=x, key=[int(key[0]), int(key[1])],
        estimator=estimator, degrees=stored_degrees(orders, estimator), shift=list(shift),
        block_size=block_size, n_bins=n_bins, grid=list(grid), sampler=sampler,
    )


def _run_config(run: RunArguments, arch: Architecture, shift: Any,
                grid: Sequence[Any] = ()) -> Any:
    """:func:`_config` of ``run`` for ``arch`` (one grid point, or the grid)."""
    return _config(arch, run.x, run.key, run.estimator, run.orders, shift, run.block_size,
                   run.n_bins, grid, run.sampler)


def _same_structure(archs: Sequence[Architecture]) -> None:
    """A sigma grid rescales one set of networks: everything but the sigmas must agree."""
    if not archs:
        raise ValueError("archs must not be empty")
    for a in archs:
        check_arch(a, "archs[i]")
    fields = ("activation", "width", "d_in", "depth", "weight_dist")
    for a in archs[1:]:
        for f in fields:
            if getattr(a, f) != getattr(archs[0], f):
                raise ValueError(f"a sigma grid must share {f}: {getattr(archs[0], f)!r} vs "
                                 f"{getattr(a, f)!r} (only sigma_w and sigma_b may differ)")


class RunArguments(NamedTuple):
    """A sampling run's checked arguments (see :func:`check_arguments`)."""

    archs: list[Architecture]
    x: np.ndarray
    n_networks: int
    orders: tuple[int, ...]
    estimator: str
    seed: np.random.SeedSequence
    key: np.ndarray
    threads: int
    start: int
    block_size: int
    n_bins: int
    sampler: str  # resolved: "gram" or "weights"


def check_arguments(archs: Sequence[Architecture], x: Any, n_networks: Any,
                    orders: Any = DEFAULT_ORDERS, estimator: Any = "plain", seed: Any = 0,
                    threads: Any = None, *, start: Any = 0,
                    block_size: Any = DEFAULT_BLOCK_SIZE, n_bins: Any = DEFAULT_N_BINS,
                    sampler: Any = "auto") -> RunArguments:
    """Check every argument of a run over ``[start, start + n_networks)``, in one order.

    The one place these checks live: :func:`sample_grid` (so :func:`sample` and
    :func:`nnqft.sigma_flow`) and the chunked runs (:mod:`nnqft.distributed`) call it,
    so every entry point raises the same exception with the same message.  The seed is
    resolved here (``seed=None`` draws fresh entropy once).
    """
    archs = list(archs)
    _same_structure(archs)
    arch = archs[0]
    xs = as_inputs(x, arch.d_in)
    orders_t = _validate_orders(orders)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if estimator == "conditional" and arch.weight_dist != "gaussian":
        raise ValueError(
            "estimator='conditional' needs Gaussian read-out weights (the output given the "
            f"last hidden layer is then exactly Gaussian); got weight_dist={arch.weight_dist!r}. "
            "Use estimator='plain'."
        )
    n_networks = as_int("n_networks", n_networks, minimum=1)
    block_size = as_int("block_size", block_size, minimum=1, maximum=MAX_BLOCK_SIZE)
    n_bins = as_int("n_bins", n_bins, minimum=2, maximum=MAX_N_BINS)
    if n_bins & (n_bins - 1):
        raise ValueError(f"n_bins must be a power of two, got {n_bins}")
    start = as_int("start", start, minimum=0)
    if start % block_size:
        raise ValueError(
            f"start must be a multiple of block_size={block_size}, got {start} (e.g. "
            f"{start - start % block_size} or {start - start % block_size + block_size}); "
            "runs meant to be merged should also cover whole blocks")
    check_index_range(start, n_networks)
    sampler = _resolve_sampler(arch, sampler)
    n_threads = resolve_threads(threads)
    ss, key = resolve_seed(seed)
    return RunArguments(archs, xs, n_networks, orders_t, estimator, ss, key, n_threads, start,
                        block_size, n_bins, sampler)


def check_run_feasible(run: RunArguments, threads: int) -> None:
    """Refuse ``run`` on ``threads`` threads if it could not fit in memory or finish."""
    k = run.x.shape[0]
    r = observable_size(k, run.estimator)
    width = sum(n_tuples(r, d) for d in stored_degrees(run.orders, run.estimator))
    n_grid = len(run.archs)
    _check_feasible(run.archs[0], k, width * n_grid, run.n_networks, threads, run.n_bins,
                    run.block_size, run.sampler, n_grid)


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

    Returns
    -------
    Correlators

    Raises
    ------
    ValueError, TypeError
        On invalid input, before any work is done.
    KeyboardInterrupt
        On Ctrl-C (the workers stop within 2**16 neurons of work, well under
        a second at any width; unfinished blocks are dropped, never half-counted).
    """
    check_arch(arch)
    return sample_grid([arch], x, n_networks, orders, estimator, seed, threads, progress,
                       start=start, block_size=block_size, n_bins=n_bins, sampler=sampler,
                       checkpoint=checkpoint, client=client, chunk_size=chunk_size)[0].with_theory_check()


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
    _shifts: Sequence[Any] | None = None,
) -> list[Correlators]:
    """:func:`sample` for several standard deviations of the same networks, in one pass.

    ``archs`` may differ only in ``sigma_w`` / ``sigma_b``.  Every network draws its
    parameters once and is evaluated at each grid point (common random numbers), so
    the random numbers are paid once; each result is bit-identical to ``sample(arch,
    ...)`` with the same seed and merges with it.  Arguments as for :func:`sample`;
    ``progress`` may also be a callable receiving the number of networks done.
    (``_shifts`` is internal: the chunks of one run take the conditional estimator's
    pilot shift from the run, not from the kernel path of the machine they run on.)
    """
    if checkpoint is not None or client is not None or chunk_size is not None:
        from .distributed import sample_chunked

        return sample_chunked(archs, x, n_networks, orders=orders, estimator=estimator,
                              seed=seed, threads=threads, progress=progress, start=start,
                              block_size=block_size, n_bins=n_bins, sampler=sampler,
                              checkpoint=checkpoint, client=client, chunk_size=chunk_size)
    run = check_arguments(archs, x, n_networks, orders, estimator, seed, threads, start=start,
                          block_size=block_size, n_bins=n_bins, sampler=sampler)
    check_run_feasible(run, run.threads)
    archs, key = run.archs, run.key
    shifts = [np.zeros(0)] * len(archs)
    if _shifts is not None:
        shifts = [np.asarray(sh, dtype=np.float64) for sh in _shifts]
    elif run.estimator == "conditional":
        shifts = [_core.evaluate(_run_config(run, a, []), list(range(PILOT_NETWORKS))).mean(axis=0)
                  for a in archs]
    grid = [] if len(archs) == 1 else [
        (list(a.sigma_w_layers), list(a.sigma_b_layers), list(sh))
        for a, sh in zip(archs, shifts, strict=True)]
    config = _run_config(run, archs[0], shifts[0], grid)

    t0 = time.perf_counter()
    trees, completed = _run(config, run.start, run.n_networks, run.threads, progress)
    wall = time.perf_counter() - t0
    if not completed:  # defensive: the core raises (signal, hook error) before this
        raise KeyboardInterrupt("sampling stopped before completion")
    _check_finite(trees, archs, run.x)
    meta = {
        "seed": seed_metadata(run.seed),
        "key": [int(key[0]), int(key[1])],
        "block_size": run.block_size,
        "n_bins": run.n_bins,
        "sampler": run.sampler,
        "ranges": [[run.start, run.start + run.n_networks]],
        "wall_time": wall,
        "threads": run.threads,
        "kernel_path": _core.kernel_path(),
        "stream_version": _core.STREAM_VERSION,
        "conventions": CONVENTIONS,
        "nnqft_version": _core.__version__,
        "host": {"machine": platform.machine(), "system": platform.system(),
                 "python": platform.python_version()},
    }
    if len(archs) > 1:
        meta["grid_points"] = len(archs)
    return [Correlators(arch=a, x=run.x, orders=run.orders, estimator=run.estimator, tree=t,
                        shift=sh, meta=dict(meta))
            for a, t, sh in zip(archs, trees, shifts, strict=True)]


def _check_finite(trees: Sequence[Any], archs: Sequence[Architecture], xs: np.ndarray) -> None:
    """Refuse sums that overflowed: a NaN or inf would silently poison every estimate."""
    for tree, arch in zip(trees, archs, strict=True):
        if not np.isfinite(tree.totals()[1]).all():
            raise OverflowError(
                f"the sampled observables overflow float64 (inf/NaN in the accumulated "
                f"moments) for sigma_w {arch.sigma_w_layers}, sigma_b {arch.sigma_b_layers} "
                f"and |x| up to {np.abs(xs).max():.3g}: rescale the inputs or sigma_w, or "
                "lower the orders")


def _run(config: Any, start: int, n_networks: int, threads: int,
         progress: bool | Callable[[int], None]) -> Any:
    with progress_counter(progress, n_networks) as counter:
        return _core.sample(config, start, n_networks, threads, core_hook(counter))


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
