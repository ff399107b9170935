"""A sampling run as a value: :class:`RunPlan`, built and checked once from the arguments.

Every sampling entry point (:func:`nnqft.sample`, :func:`nnqft.sampling.sample_grid`,
:func:`nnqft.sigma_flow`, the chunked, checkpointed and Dask runs of
:mod:`nnqft.distributed`) turns its arguments into one :class:`RunPlan` with
:meth:`RunPlan.build` and hands the plan on: the arguments are checked in one place and
in one order, the run's feasibility (memory, time, and whether ``n_networks`` can
resolve the mean at all) is decided before any network is drawn, the conditional
estimator's pilot shift is computed once, and the C++ configuration is built once.
:meth:`RunPlan.to_dict` is the identity of what the run computes (a checkpoint's key).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._resources import check_accumulator, physical_memory
from ._seeding import require_fixed_seed, resolve_seed, resolve_threads, seed_metadata
from ._validation import ESTIMATORS, as_bool, as_choice, as_inputs, as_int, as_orders
from .architecture import Architecture, check_arch
from .correlators import STATE_VERSION, observable_size, stored_degrees
from .spectral import check_shell_grid, grid_shells, spectral_config
from .tuples import n_tuples

__all__ = ["RunPlan", "network_bytes", "check_feasible", "core_config", "DEFAULT_ORDERS",
           "SAMPLERS", "DEFAULT_BLOCK_SIZE", "DEFAULT_N_BINS", "DEFAULT_CHUNK_SIZE"]

#: Correlator orders accumulated unless told otherwise.
DEFAULT_ORDERS = (2, 4, 6)
#: How hidden layers after the first are drawn (see :func:`nnqft.sample`).
SAMPLERS = ("auto", "gram", "weights")
#: Networks per block: the unit of work, of merging and of jackknife binning.
DEFAULT_BLOCK_SIZE = 32
#: Jackknife bins (block b feeds bin b mod n_bins).
DEFAULT_N_BINS = 64
#: Networks per chunk (per Dask task) unless told otherwise: 2**17 = 4096 blocks of 32, so
#: each chunk is one node of the block tree and its state the smallest possible (one
#: slot per jackknife bin; a chunk of 100000 networks ships ~3x more).
DEFAULT_CHUNK_SIZE = 131_072
#: Most chunks a call may cut when its chunk size is below the default: chunk_size=32 for
#: 10^6 networks made 31,250 tasks that took 213 s of scheduling against under a second
#: of local work.  (At the default size any number of chunks is fine: they are submitted
#: through a bounded window.)
MAX_TASKS = 10_000
#: Networks averaged for the conditional estimator's fixed shift (numerical centring).
PILOT_NETWORKS = 16
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
#: A checkpoint's recorded pilot shift may differ from this machine's by rounding (another
#: kernel path); beyond this relative difference it is not the run's shift.
SHIFT_RTOL = 1e-6
_NETWORK_MEMORY_FRACTION = 0.8
_MAX_SECONDS = 30 * 24 * 3600.0

FloatArray = NDArray[np.float64]


# -- checks of single arguments ---------------------------------------------------------

def check_index_range(start: int, n_networks: int) -> None:
    """Network indices must stay below 2**62 (the core's counters keep headroom)."""
    if start + n_networks >= 2**62:
        raise ValueError(f"network indices must stay below 2**62, got start + n_networks = "
                         f"{start + n_networks}")


def _resolve_sampler(arch: Architecture, sampler: Any) -> str:
    """The sampler actually used: "gram" or "weights" (see :func:`nnqft.sample`)."""
    sampler = as_choice("sampler", sampler, SAMPLERS)
    gaussian = arch.weight_dist == "gaussian"
    if sampler == "gram" and not gaussian:
        raise ValueError(
            f"sampler='gram' needs Gaussian weights, got weight_dist={arch.weight_dist!r}: "
            "the Gram chain draws each pre-activation row as N(0, G), which is exact only "
            "because W h is Gaussian given h; with uniform weights it is not Gaussian at "
            "finite width. Use sampler='weights' (or 'auto').")
    # At depth 1 there is no layer after the first: both samplers draw the same networks.
    return "gram" if sampler != "weights" and gaussian and arch.depth >= 2 else "weights"


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
    check_shell_grid(archs)


def chunk_size_for(chunk_size: Any, n_networks: int, block: int) -> int:
    """The checked chunk size, rounded up to whole blocks."""
    chunk = as_int("chunk_size", DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                   minimum=1)
    n_tasks = -(-n_networks // chunk)
    if n_tasks > MAX_TASKS and chunk < DEFAULT_CHUNK_SIZE:  # scheduling would dominate
        raise ValueError(
            f"chunk_size={chunk} cuts {n_networks} networks into {n_tasks} tasks (more "
            f"than {MAX_TASKS}); use chunk_size >= {-(-n_networks // MAX_TASKS)}")
    return -(-chunk // block) * block


def _checkpoint_path(checkpoint: Any) -> Path | None:
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, Path)) or not str(checkpoint):
        raise ValueError(f"checkpoint must be a non-empty path or None, got {checkpoint!r} "
                         "(an empty string would put the chunks in the working directory)")
    return Path(checkpoint)


# -- feasibility ------------------------------------------------------------------------

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


def check_feasible(arch: Architecture, k: int, width: int, n_networks: int, threads: int,
                   n_bins: int, block_size: int, sampler: str = "weights",
                   grid_points: int = 1) -> tuple[float, float]:
    """Refuse runs that could not fit in memory or finish, saying why.

    ``width`` counts the stored values of every grid point; each of the ``n_networks``
    networks is evaluated at ``grid_points`` points.  Returns the estimated peak memory
    (bytes) and wall time (seconds on ``threads`` threads).
    """
    evaluations = n_networks * grid_points
    n_blocks = -(-evaluations // block_size)
    bytes_needed = check_accumulator(width, n_bins, n_blocks, threads)
    total = physical_memory()
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
    return networks + bytes_needed, seconds


def _log_upper_tail(t: float) -> float:
    """``log P(Z > t)`` for a standard normal Z, without underflow at large ``t``."""
    if t < 30.0:
        return math.log(0.5 * math.erfc(t / math.sqrt(2.0)))
    return -0.5 * t * t - math.log(t * math.sqrt(2.0 * math.pi))  # relative error < 1/t^2


def log10_networks_needed(arch: Architecture, x: FloatArray) -> float | None:
    """log10 of the networks a Gauss-net ensemble needs before its sample sees the mean.

    A Gauss-net neuron contributes ``T = exp(2 z - 2 Var z)`` to the read-out kernel
    ``C_aa``, with ``z ~ N(0, s^2)``, ``s^2 = sigma_b0^2 + sigma_w0^2 |x_a|^2 / d_in``:
    log-normal with mean 1 and log-variance ``4 s^2``.  Its mean is carried by draws
    near ``z = 2 s^2``, i.e. ``2 s`` standard deviations out; a sample of ``M`` neurons
    whose largest draw stays below that sees typically less than half the mean, with
    error bars as small as for a light-tailed run (|x| = 6, sigma_b = 1: ``1.0000 +-
    1e-10`` against 2.0).  Returns ``log10(1 / (width * P(Z > 2 s)))`` for the largest
    ``s`` over the inputs; None for other activations or non-Gaussian weights (no such
    closed form; the results' tail and kernel checks still apply).
    """
    if arch.activation != "gauss" or arch.weight_dist != "gaussian":
        return None
    s = math.sqrt(_log_variance(arch, x) / 4.0)
    return -(_log_upper_tail(2.0 * s) + math.log(arch.width)) / math.log(10.0)


def _log_variance(arch: Architecture, x: FloatArray) -> float:
    """Log-variance of a Gauss-net neuron's kernel term at the largest input."""
    sw, sb = arch.sigma_w_layers[0], arch.sigma_b_layers[0]
    return 4.0 * (sb * sb + sw * sw * float(np.max(np.sum(x * x, axis=1))) / arch.d_in)


def _resolution(arch: Architecture, x: FloatArray, n_networks: int) -> dict[str, Any] | None:
    """The verdict recorded when ``n_networks`` cannot resolve the mean kernel, or None."""
    needed = log10_networks_needed(arch, x)
    if needed is None or math.log10(n_networks) >= needed:
        return None
    reason = (f"the Gauss-net kernel scale at |x| up to "
              f"{float(np.sqrt(np.max(np.sum(x * x, axis=1)))):.3g} is log-normal with "
              f"log-variance {_log_variance(arch, x):.3g}; the networks that carry its mean "
              f"are so rare that about 1e{needed:.1f} networks are needed to draw one, and "
              "below that the sample mean is typically far under the truth with error bars "
              "that look small")
    return {"reason": reason, "log10_networks_needed": needed}


# -- the C++ configuration --------------------------------------------------------------

def core_config(arch: Architecture, x: FloatArray, key: Any, estimator: str,
                orders: tuple[int, ...], shift: Any, block_size: int,
                n_bins: int, grid: Sequence[Any] = (), sampler: str = "weights",
                shells: Sequence[float] = ()) -> Any:
    """The core's ``SampleConfig`` of one architecture (and an optional sigma or shell grid)."""
    return _core.SampleConfig(
        activation=arch.activation, width=arch.width, d_in=arch.d_in, depth=arch.depth,
        sigma_w=list(arch.sigma_w_layers), sigma_b=list(arch.sigma_b_layers),
        uniform_weights=arch.weight_dist == "uniform", x=x, key=[int(key[0]), int(key[1])],
        estimator=estimator, degrees=stored_degrees(orders, estimator), shift=list(shift),
        block_size=block_size, n_bins=n_bins, grid=list(grid), sampler=sampler,
        **spectral_config(arch, shells),
    )


# -- the plan ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class RunPlan:
    """One sampling run, checked: what it computes and how it is executed.

    Build it with :meth:`build` (never directly): that is where every argument is
    checked, the run's feasibility decided and the pilot shift computed.  The plan is
    immutable and picklable (Dask workers receive it); :attr:`config` is the one C++
    configuration every chunk of the run uses.

    Attributes
    ----------
    archs : tuple of Architecture
        The grid points (one for :func:`nnqft.sample`); they differ only in the sigmas.
    x : ndarray, shape (k, d_in)
        The inputs (read-only).
    n_networks, start : int
        Networks ``[start, start + n_networks)``.
    orders : tuple of int
    estimator : str
    sampler : str
        The sampler used: ``"gram"`` or ``"weights"`` (``"auto"`` resolved).
    seed : numpy.random.SeedSequence
    key : tuple of int
        The Philox key (two 64-bit words).
    block_size, n_bins : int
    threads : int
        Threads per core call (per Dask task on a cluster).
    shifts : tuple of ndarray
        The conditional estimator's pilot shift per grid point (empty for plain).
    chunk_size : int or None
        Networks per chunk, whole blocks; None for one pass.
    checkpoint : pathlib.Path or None
    unresolved : tuple of (dict or None)
        Per grid point, why ``n_networks`` cannot resolve the mean (non-None only with
        ``allow_unresolved=True``; recorded in the result's ``meta["unresolved"]``).
    memory, seconds : float
        Estimated peak memory (bytes) and wall time of the run.
    """

    archs: tuple[Architecture, ...]
    x: FloatArray
    n_networks: int
    start: int
    orders: tuple[int, ...]
    estimator: str
    sampler: str
    seed: np.random.SeedSequence
    key: tuple[int, int]
    block_size: int
    n_bins: int
    threads: int
    shifts: tuple[FloatArray, ...]
    chunk_size: int | None
    checkpoint: Path | None
    unresolved: tuple[dict[str, Any] | None, ...]
    memory: float
    seconds: float
    config: Any = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", self._core_config())

    def _core_config(self) -> Any:
        grid = [] if len(self.archs) == 1 else [
            (list(a.sigma_w_layers), list(a.sigma_b_layers), list(sh))
            for a, sh in zip(self.archs, self.shifts, strict=True)]
        return core_config(self.archs[0], self.x, self.key, self.estimator, self.orders,
                           self.shifts[0], self.block_size, self.n_bins, grid, self.sampler,
                           grid_shells(self.archs))

    # the C++ configuration is rebuilt from the fields, not pickled
    def __getstate__(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    @classmethod
    def build(
        cls,
        archs: Sequence[Architecture],
        x: Any,
        n_networks: Any,
        orders: Any = DEFAULT_ORDERS,
        estimator: Any = "plain",
        seed: Any = 0,
        threads: Any = None,
        *,
        start: Any = 0,
        block_size: Any = DEFAULT_BLOCK_SIZE,
        n_bins: Any = DEFAULT_N_BINS,
        sampler: Any = "auto",
        checkpoint: Any = None,
        chunk_size: Any = None,
        allow_unresolved: Any = False,
        cluster_threads: int | None = None,
    ) -> RunPlan:
        """Check every argument of a run, in one order, and decide whether it can run.

        Arguments as for :func:`nnqft.sample` (``archs`` a grid of sigmas).  A chunked
        run (``chunk_size``, ``checkpoint`` or a cluster) sets ``chunk_size``;
        ``cluster_threads`` is the cluster's thread count, used by the time and memory
        estimates.  The seed is resolved here (``seed=None`` draws fresh entropy once).

        Raises
        ------
        ValueError, TypeError
            On invalid input, or when the run could not fit in memory, finish, or
            resolve the mean it samples (see :func:`log10_networks_needed`; pass
            ``allow_unresolved=True`` to sample anyway, flagged).
        """
        archs = tuple(archs)
        _same_structure(archs)
        arch = archs[0]
        xs = as_inputs(x, arch.d_in)
        xs.setflags(write=False)
        orders_t = as_orders("orders", orders)
        estimator = as_choice("estimator", estimator, ESTIMATORS)
        if estimator == "conditional" and arch.weight_dist != "gaussian":
            raise ValueError(
                "estimator='conditional' needs Gaussian read-out weights (the output given "
                f"the last hidden layer is then exactly Gaussian); got weight_dist="
                f"{arch.weight_dist!r}. Use estimator='plain'."
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
        # on a cluster, threads are per task (default 1)
        n_threads = resolve_threads(1 if threads is None and cluster_threads else threads)
        path = _checkpoint_path(checkpoint)
        require_fixed_seed(seed, path)  # before the seed becomes a fresh SeedSequence
        ss, key = resolve_seed(seed)
        allow = as_bool("allow_unresolved", allow_unresolved)
        unresolved = tuple(_resolution(a, xs, n_networks) for a in archs)
        reasons = [u["reason"] for u in unresolved if u is not None]
        if reasons and not allow:
            raise ValueError(
                f"n_networks={n_networks} cannot resolve the mean: {reasons[0]}. Sample at a "
                "smaller sigma_b or |x| (the count needed grows like exp(2 v) with the "
                "log-variance v), or pass allow_unresolved=True to sample anyway (every "
                "result then records the verdict and reliable() is False)")
        k = xs.shape[0]
        width = sum(n_tuples(observable_size(k, estimator), d)
                    for d in stored_degrees(orders_t, estimator))
        memory, seconds = check_feasible(
            arch, k, width * len(archs), n_networks,
            max(n_threads, cluster_threads or 0), n_bins, block_size, sampler, len(archs))
        chunked = chunk_size is not None or path is not None or cluster_threads is not None
        chunk = chunk_size_for(chunk_size, n_networks, block_size) if chunked else None
        key_t = (int(key[0]), int(key[1]))
        shifts = tuple(_pilot_shift(a, xs, key_t, estimator, orders_t, block_size, n_bins,
                                    sampler, n_threads) for a in archs)
        return cls(archs=archs, x=xs, n_networks=n_networks, start=start, orders=orders_t,
                   estimator=estimator, sampler=sampler, seed=ss, key=key_t,
                   block_size=block_size, n_bins=n_bins, threads=n_threads, shifts=shifts,
                   chunk_size=chunk, checkpoint=path, unresolved=unresolved, memory=memory,
                   seconds=seconds)

    @property
    def stop(self) -> int:
        """One past the last network index."""
        return self.start + self.n_networks

    def with_shifts(self, shifts: Sequence[Any]) -> RunPlan:
        """The plan with the pilot shifts a checkpoint recorded (the run's own).

        On a machine with another kernel path the recomputed shift may differ from the
        recorded one by rounding; a larger difference means the record was edited.
        """
        try:
            new = tuple(np.asarray(s, dtype=np.float64) for s in shifts)
        except (TypeError, ValueError):
            new = ()
        if len(new) != len(self.shifts):
            raise ValueError(f"the checkpoint records {len(new)} pilot shifts for a run of "
                             f"{len(self.shifts)} grid points: its config.json was edited")
        if all(np.array_equal(a, b) for a, b in zip(self.shifts, new, strict=True)):
            return self  # the usual case: the same machine, the same bits
        for mine, theirs in zip(self.shifts, new, strict=True):
            scale = float(np.max(np.abs(mine), initial=0.0))
            if theirs.shape != mine.shape or not np.allclose(theirs, mine, rtol=0.0,
                                                             atol=SHIFT_RTOL * scale):
                raise ValueError(
                    "the checkpoint records a pilot shift that is not this run's (it differs "
                    f"from the one recomputed here by more than {SHIFT_RTOL:g} relative, "
                    "beyond rounding): its config.json was edited or belongs to another run; "
                    "use another directory, or delete this one to start over")
        return dataclasses.replace(self, shifts=new)

    def meta(self) -> dict[str, Any]:
        """The result metadata that the plan fixes (the rest records how the run went)."""
        meta: dict[str, Any] = {
            "seed": seed_metadata(self.seed),
            "key": list(self.key),
            "block_size": self.block_size,
            "n_bins": self.n_bins,
            "sampler": self.sampler,
            "stream_version": _core.STREAM_VERSION,
            "conventions": CONVENTIONS,
            "nnqft_version": _core.__version__,
        }
        if len(self.archs) > 1:
            meta["grid_points"] = len(self.archs)
        return meta

    def to_dict(self) -> dict[str, Any]:
        """What the run computes, JSON-ready: the identity of a checkpoint.

        Everything that fixes the bits of the result and nothing that records how or
        where it ran (threads, chunking, the network range, wall time).
        """
        identity = {
            "state_version": STATE_VERSION,
            "arch": [a.to_dict() for a in self.archs],
            "x": self.x.tolist(),
            "orders": list(self.orders),
            "estimator": self.estimator,
            "shift": [s.tolist() for s in self.shifts],
        }
        identity.update(self.meta())
        return identity


def _pilot_shift(arch: Architecture, x: FloatArray, key: tuple[int, int], estimator: str,
                 orders: tuple[int, ...], block_size: int, n_bins: int,
                 sampler: str, threads: int) -> FloatArray:
    """The conditional estimator's fixed shift: the mean observable of a few networks."""
    if estimator != "conditional":
        return np.zeros(0)
    config = core_config(arch, x, key, estimator, orders, [], block_size, n_bins, [], sampler)
    shift: FloatArray = _core.evaluate(config, list(range(PILOT_NETWORKS)), threads).mean(axis=0)
    return shift
