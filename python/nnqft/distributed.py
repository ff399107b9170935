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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._engine import core_hook, progress_counter, sample_range
from ._plan import DEFAULT_CHUNK_SIZE, MAX_TASKS, RunPlan
from ._seeding import check_threads
from ._validation import as_int
from .architecture import Architecture, check_arch
from .checkpoint import Checkpoint
from .correlators import Correlators

__all__ = ["sample_dask", "run_chunked", "connect", "cluster_threads", "DEFAULT_CHUNK_SIZE",
           "MAX_TASKS"]

Grid = list[Correlators]
States = list[dict[str, Any]]


def cluster_threads(client: Any) -> int | None:
    """Worker threads of a Dask client (at least 1); None without one."""
    return None if client is None else max(1, sum(client.nthreads().values()))


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
        sampler, allow_unresolved).

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
    plan = RunPlan.build([arch], x, n_networks, threads=threads_per_task, checkpoint=checkpoint,
                         chunk_size=chunk_size, cluster_threads=cluster_threads(client),
                         **kwargs)
    return run_chunked(plan, progress, client)[0]


def run_chunked(plan: RunPlan, progress: bool | Callable[[int], None] = False,
                client: Any = None) -> Grid:
    """Execute a chunked ``plan``: checkpointed and/or on Dask, merged exactly.

    The chunks of ``plan.chunk_size`` networks run one after the other here, or as Dask
    tasks on ``client``; with ``plan.checkpoint`` the finished chunks are kept and a
    rerun resumes.  The result is bit-identical to the unchunked run.
    """
    chunk = plan.chunk_size if plan.chunk_size is not None else DEFAULT_CHUNK_SIZE
    store = None
    if plan.checkpoint is not None:
        store = Checkpoint.open(plan.checkpoint, plan.to_dict())
        # the recorded pilot shift is the run's (recomputed elsewhere it may differ by
        # rounding, and states of different shifts do not merge)
        plan = plan.with_shifts(store.shift)
    t0 = time.perf_counter()
    resumed, covered = _resume(store, plan.start, plan.stop, plan.block_size)
    done = sum(b - a for a, b in covered)
    n_todo, todo = _chunks_to_do(_gaps(covered, plan.start, plan.stop), chunk)
    where = None if store is None else (str(store.directory.resolve()), store.digest)
    with progress_counter(progress, plan.n_networks, done) as counter:
        if client is None or not n_todo:
            computed = _run_local(plan, where, todo, counter)
        else:
            computed = _run_dask(client, plan, where, todo, counter)
    result = _merge(resumed, computed)
    assert result is not None  # todo is empty only when the checkpoint covers the run
    for corr in result:
        corr.meta.update(wall_time=time.perf_counter() - t0, threads=plan.threads, chunks={
            "chunk_size": chunk, "computed": n_todo, "resumed_networks": done,
            "scheduler": None if client is None else str(client.scheduler.address)})
    return result


def _resume(store: Checkpoint | None, start: int, stop: int,
            block: int) -> tuple[Grid | None, list[tuple[int, int]]]:
    """Merge the usable chunks of the checkpoint; return them and the ranges they cover.

    A chunk is usable if it lies inside ``[start, stop)``, does not overlap a chunk
    already taken, starts on a block and ends on one (or at ``stop``), and passes its
    checks (:meth:`Checkpoint.load`).  Chunks outside this run's range are left alone
    (another run over other networks may use them).
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


def _chunk(plan: RunPlan, where: tuple[str, str] | None, a: int, b: int,
           progress: Callable[[int], None] | None = None) -> States:
    """Sample networks ``[a, b)`` of ``plan`` (or reload them from the checkpoint)."""
    store = None if where is None else Checkpoint(*where)
    if store is not None:
        states = store.load(a, b)
        if states is not None:  # a task redone after its worker died: the file is there
            return states
    states = [c.state() for c in sample_range(plan, a, b, progress)]
    if store is not None:
        store.save(a, b, states)
    return states


def _run_local(plan: RunPlan, where: tuple[str, str] | None, todo: Iterable[tuple[int, int]],
               counter: Any) -> Grid | None:
    total: Grid | None = None
    for a, b in todo:
        states = _chunk(plan, where, a, b, core_hook(counter))
        total = _merge(total, [Correlators.from_state(s) for s in states])
    return total


def _merge_states(left: States, right: States) -> States:
    """Task: merge two lists of states (one per grid point), left then right."""
    return [(Correlators.from_state(a) + Correlators.from_state(b)).state()
            for a, b in zip(left, right, strict=True)]


def _run_dask(client: Any, plan: RunPlan, where: tuple[str, str] | None,
              todo: Iterable[tuple[int, int]], counter: Any) -> Grid:
    """Submit the chunks through a bounded window and reduce them on the workers.

    The reduction is a binary counter over the chunk index: chunk i is pushed at level
    0 and two equal levels on top merge, as in the block tree, so the tree's shape (and
    the merge order) is fixed by the chunk list, whatever finishes first.
    """
    as_completed = _dask().as_completed
    window = max(4, 2 * (cluster_threads(client) or 1) // plan.threads)
    stack: list[tuple[int, Any]] = []
    sizes: dict[str, int] = {}
    running = as_completed()
    try:
        for a, b in todo:
            while running.count() >= window:
                _finished(next(running), sizes, counter)
            fut = client.submit(_chunk, plan, where, a, b, pure=False)
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
