"""Chunked runs: checkpointed locally or spread over a Dask cluster, merged exactly.

Network i is fully determined by ``(seed, i)`` and accumulators merge bit-identically
over any block-aligned split of the networks, in any order.  A run is therefore cut into
chunks that are pure functions of their network range:

* locally, the chunks run one after the other in this process;
* on Dask, each chunk is a task; the states are merged *on the workers* by a tree
  reduction whose shape depends only on the chunk index (a binary counter over the
  chunks in order), so the client holds O(window + log #chunks) futures and receives
  one state at the end.  A lost worker costs the work Dask must redo: its running
  chunks, and (without a checkpoint) the finished states it held in memory;
* with a checkpoint (:mod:`nnqft.checkpoint`) each finished chunk is written to disk
  by whoever computed it, so a rerun resumes and a recomputed task reloads its file.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ._seeding import check_threads, require_fixed_seed
from ._validation import as_int, check_arch
from .architecture import Architecture
from .checkpoint import Checkpoint, run_config
from .correlators import Correlators
from .sampling import (
    check_arguments,
    check_run_feasible,
    core_hook,
    progress_counter,
    sample_grid,
)

__all__ = ["sample_dask", "sample_chunked", "connect", "DEFAULT_CHUNK_SIZE", "MAX_TASKS"]

#: Most chunks a call may cut when its chunk size is below the default: chunk_size=32 for
#: 10^6 networks made 31,250 tasks that took 213 s of scheduling against under a second
#: of local work.  (At the default size any number of chunks is fine: they are submitted
#: through a bounded window.)
MAX_TASKS = 10_000

#: Networks per chunk (per Dask task) unless told otherwise: 2**17 = 4096 blocks of 32, so
#: each chunk is one node of the block tree and its state the smallest possible (one
#: slot per jackknife bin; a chunk of 100000 networks ships ~3x more).
DEFAULT_CHUNK_SIZE = 131_072

Grid = list[Correlators]
States = list[dict[str, Any]]


def sample_dask(
    client: Any,
    arch: Architecture,
    x: Any,
    n_networks: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    threads_per_task: int = 1,
    checkpoint: Any = None,
    progress: bool = False,
    **kwargs: Any,
) -> Correlators:
    """:func:`nnqft.sample` spread over a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
        A connected client (a ``LocalCluster`` or a real cluster).
    arch, x, n_networks :
        As for :func:`nnqft.sample`; networks ``[start, start + n_networks)``.
    chunk_size : int
        Networks per task (rounded up to a multiple of ``block_size``).
    threads_per_task : int
        Threads each task uses inside its worker.
    checkpoint : path or None
        Checkpoint directory, on a filesystem the workers share (they write the chunks).
    progress : bool
        Show a progress bar of the networks finished on the cluster.
    **kwargs :
        Passed to :func:`nnqft.sample` (orders, estimator, seed, start, block_size, n_bins,
        sampler).

    Returns
    -------
    Correlators
        Bit-identical to ``nnqft.sample(arch, x, n_networks, **kwargs)``.
    """
    if "threads" in kwargs:
        raise ValueError("threads are per task here: use threads_per_task")
    threads_per_task = check_threads(threads_per_task, "threads_per_task")
    chunk_size = as_int("chunk_size", chunk_size, minimum=1)  # None is refused here
    check_arch(arch)
    return sample_chunked([arch], x, n_networks, threads=threads_per_task, progress=progress,
                          checkpoint=checkpoint, client=client, chunk_size=chunk_size,
                          **kwargs)[0]


def sample_chunked(
    archs: Sequence[Architecture],
    x: Any,
    n_networks: int,
    *,
    threads: int | None = None,
    progress: bool | Callable[[int], None] = False,
    checkpoint: Any = None,
    client: Any = None,
    chunk_size: int | None = None,
    **options: Any,
) -> Grid:
    """:func:`nnqft.sampling.sample_grid` in chunks, checkpointed and/or on Dask.

    Arguments as for :func:`nnqft.sample` (``options``: orders, estimator, seed, start,
    block_size, n_bins); ``sample(..., checkpoint=, client=, chunk_size=)`` calls this.
    The result is bit-identical to the unchunked run.
    """
    seed, start = options.pop("seed", 0), options.pop("start", 0)  # each chunk has its own
    require_fixed_seed(seed, checkpoint)  # before the seed becomes a fresh SeedSequence
    run = check_arguments(archs, x, n_networks, seed=seed, start=start, threads=1 if client
                          is not None and threads is None else threads, **options)
    check_run_feasible(run, run.threads if client is None else  # the cluster's threads
                       max(run.threads, sum(client.nthreads().values())))
    start, n_networks, threads = run.start, run.n_networks, run.threads
    chunk = _chunk_size(chunk_size, n_networks, run.block_size)
    # every chunk's sample_grid call: the seed resolved once (every chunk needs its key)
    common = dict(options, seed=run.seed, block_size=run.block_size)
    # the run's configuration (pilot shifts, the checkpoint's identity), in milliseconds
    probe = sample_grid(run.archs, run.x, min(run.block_size, n_networks), threads=1,
                        start=start, **common)
    store = None
    if checkpoint is not None:
        store = Checkpoint.open(checkpoint, run_config([c.state() for c in probe]))
    stop = start + n_networks
    t0 = time.perf_counter()
    resumed, covered = _resume(store, start, stop, common["block_size"])
    done = sum(b - a for a, b in covered)
    n_todo, todo = _chunks_to_do(_gaps(covered, start, stop), chunk)
    spec = {"archs": [a.to_dict() for a in run.archs], "x": run.x, "threads": threads,
            # the probe's pilot shift for every chunk: recomputed on a machine with another
            # kernel path it may differ in the last bit, and such states refuse to merge
            "shifts": [c.state()["shift"] for c in probe] if store is None else store.shift,
            "common": common, "store": None if store is None else  # absolute: workers' cwd
            (str(store.directory.resolve()), store.digest)}
    with progress_counter(progress, n_networks, done) as counter:
        if client is None or not n_todo:
            computed = _run_local(spec, todo, counter)
        else:
            computed = _run_dask(client, spec, todo, counter)
    result = _merge(resumed, computed)
    assert result is not None  # todo is empty only when the checkpoint covers the run
    for corr in result:
        corr.meta.update(wall_time=time.perf_counter() - t0, threads=threads, chunks={
            "chunk_size": chunk, "computed": n_todo, "resumed_networks": done,
            "scheduler": None if client is None else str(client.scheduler.address)})
    return result


def _chunk_size(chunk_size: Any, n_networks: int, block: int) -> int:
    """The checked chunk size, rounded up to whole blocks."""
    chunk = as_int("chunk_size", DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                   minimum=1)
    n_tasks = -(-n_networks // chunk)
    if n_tasks > MAX_TASKS and chunk < DEFAULT_CHUNK_SIZE:  # scheduling would dominate
        raise ValueError(
            f"chunk_size={chunk} cuts {n_networks} networks into {n_tasks} tasks (more "
            f"than {MAX_TASKS}); use chunk_size >= {-(-n_networks // MAX_TASKS)}")
    return -(-chunk // block) * block


def _resume(store: Checkpoint | None, start: int, stop: int,
            block: int) -> tuple[Grid | None, list[tuple[int, int]]]:
    """Merge the usable chunks of the checkpoint; return them and the ranges they cover.

    A chunk is usable if it lies inside ``[start, stop)``, does not overlap a chunk
    already taken, starts on a block and ends on one (or at ``stop``), and passes its
    checksum.
    """
    total: Grid | None = None
    covered: list[tuple[int, int]] = []
    for a, b in store.ranges() if store is not None else []:
        end = covered[-1][1] if covered else start
        if a < end or b > stop or a % block or (b % block and b != stop):
            continue
        states = store.load(a, b)  # type: ignore[union-attr]
        if states is not None:
            total = _merge(total, [Correlators.from_state(s) for s in states])
            covered.append((a, b))
    return total, covered


def _gaps(covered: list[tuple[int, int]], start: int, stop: int) -> list[tuple[int, int]]:
    """The parts of ``[start, stop)`` outside the sorted, disjoint ``covered`` ranges."""
    out, cursor = [], start
    for a, b in covered + [(stop, stop)]:
        if a > cursor:
            out.append((cursor, a))
        cursor = b
    return out


def _chunks_to_do(gaps: list[tuple[int, int]],
                  chunk: int) -> tuple[int, Iterator[tuple[int, int]]]:
    """How many chunks cover the gaps, and the chunks themselves.

    The chunks are generated lazily: the client's memory does not grow with their number.
    """
    count = sum(-(-(b - a) // chunk) for a, b in gaps)
    return count, ((s, min(s + chunk, b)) for a, b in gaps for s in range(a, b, chunk))


def _merge(total: Grid | None, part: Grid | None) -> Grid | None:
    if total is None or part is None:
        return part if total is None else total
    return [t + p for t, p in zip(total, part, strict=True)]


def _chunk(spec: dict[str, Any], a: int, b: int,
           progress: Callable[[int], None] | None = None) -> States:
    """Sample networks ``[a, b)`` (or reload them from the checkpoint); their states."""
    store = None if spec["store"] is None else Checkpoint(*spec["store"])
    if store is not None:
        states = store.load(a, b)
        if states is not None:  # a task redone after its worker died: the file is there
            return states
    archs = [Architecture.from_dict(d) for d in spec["archs"]]
    corrs = sample_grid(archs, spec["x"], b - a, threads=spec["threads"],
                        progress=progress or False, start=a, _shifts=spec["shifts"], **spec["common"])
    states = [c.state() for c in corrs]
    if store is not None:
        store.save(a, b, states)
    return states


def _run_local(spec: dict[str, Any], todo: Iterable[tuple[int, int]],
               counter: Any) -> Grid | None:
    total: Grid | None = None
    for a, b in todo:
        states = _chunk(spec, a, b, core_hook(counter))
        total = _merge(total, [Correlators.from_state(s) for s in states])
    return total


def _merge_states(left: States, right: States) -> States:
    """Task: merge two lists of states (one per grid point), left then right."""
    return [(Correlators.from_state(a) + Correlators.from_state(b)).state()
            for a, b in zip(left, right, strict=True)]


def _run_dask(client: Any, spec: dict[str, Any], todo: Iterable[tuple[int, int]],
              counter: Any) -> Grid:
    """Submit the chunks through a bounded window and reduce them on the workers.

    The reduction is a binary counter over the chunk index: chunk i is pushed at level
    0 and two equal levels on top merge, as in the block tree, so the tree's shape (and
    the merge order) is fixed by the chunk list, whatever finishes first.
    """
    as_completed = _dask().as_completed
    threads = max(1, sum(client.nthreads().values()))
    window = max(4, 2 * threads // max(1, spec["threads"]))
    stack: list[tuple[int, Any]] = []
    sizes: dict[str, int] = {}
    running = as_completed()
    try:
        for a, b in todo:
            while running.count() >= window:
                _finished(next(running), sizes, counter)
            fut = client.submit(_chunk, spec, a, b, pure=False)
            sizes[fut.key] = b - a
            running.add(fut)
            stack.append((0, fut))
            while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
                (level, right), (_, left) = stack.pop(), stack.pop()
                stack.append((level + 1, client.submit(_merge_states, left, right, pure=False)))
        for fut in running:
            _finished(fut, sizes, counter)
        while len(stack) > 1:
            (_, right), (level, left) = stack.pop(), stack.pop()
            stack.append((level, client.submit(_merge_states, left, right, pure=False)))
        states = stack[0][1].result()
    except BaseException:  # Ctrl-C included: the finished chunks are on disk already
        client.cancel([f for _, f in stack] + list(running.futures), force=True)
        raise
    return [Correlators.from_state(s) for s in states]


def _finished(fut: Any, sizes: dict[str, int], counter: Any) -> None:
    if fut.status == "error":
        fut.result()  # raises the task's exception here
    size = sizes.pop(fut.key)
    if counter is not None:
        counter.update(size)


def _dask() -> Any:
    """``dask.distributed``, or a clear error when it is not installed."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ValueError("running on Dask needs dask.distributed: "
                         "pip install 'dask[distributed]'") from None


@contextlib.contextmanager
def connect(scheduler: str | None) -> Iterator[Any]:
    """A Dask client for ``scheduler``, shut down on exit with any cluster it started.

    ``"local:N"`` starts a LocalCluster of N worker processes (one thread each); any
    other string is a scheduler address such as ``"tcp://host:8786"``; None yields None.
    """
    if scheduler is None:
        yield None
        return
    dask = _dask()
    Client, LocalCluster = dask.Client, dask.LocalCluster  # noqa: N806
    if scheduler.startswith("local:"):
        n = scheduler.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"scheduler 'local:N' needs N >= 1 worker processes, got {scheduler!r}")
        with LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach the Dask scheduler {scheduler!r}: {err}") from None
    with client:
        yield client
