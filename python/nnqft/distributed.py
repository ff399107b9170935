"""Scale-out on Dask: network blocks run on workers, their accumulators merge exactly.

Because network i is fully determined by ``(seed, i)`` and accumulators merge
bit-identically over any split of the blocks, a run cut into chunks on a Dask cluster
gives exactly the result of one local run with the same seed.
"""

from __future__ import annotations

from typing import Any

from ._validation import as_int
from .architecture import Architecture
from .correlators import Correlators
from .sampling import DEFAULT_BLOCK_SIZE, sample

__all__ = ["sample_dask", "MAX_TASKS"]

#: Most tasks one call submits: chunk_size=32 for 10^6 networks made 31,250 tasks that
#: took 213 s of scheduling against under a second of local work.
MAX_TASKS = 10_000


def _sample_chunk(arch_dict: dict[str, Any], x: Any, start: int, count: int,
                  kwargs: dict[str, Any]) -> dict[str, Any]:
    corr = sample(Architecture.from_dict(arch_dict), x, count, start=start, **kwargs)
    return corr.state()


def sample_dask(
    client: Any,
    arch: Architecture,
    x: Any,
    n_networks: int,
    *,
    chunk_size: int = 100_000,
    threads_per_task: int = 1,
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
    **kwargs :
        Passed to :func:`nnqft.sample` (orders, estimator, seed, start, block_size, n_bins,
        sampler).

    Returns
    -------
    Correlators
        Bit-identical to ``nnqft.sample(arch, x, n_networks, **kwargs)``.
    """
    if "threads" in kwargs or "progress" in kwargs:
        raise ValueError("threads/progress are per task here: use threads_per_task")
    n_networks = as_int("n_networks", n_networks, minimum=1)
    chunk_size = as_int("chunk_size", chunk_size, minimum=1)
    threads_per_task = as_int("threads_per_task", threads_per_task, minimum=1)
    start = kwargs.pop("start", 0)
    task_kwargs = dict(kwargs, threads=threads_per_task)
    # validate everything locally (cheap) before shipping work
    sample(arch, x, 1, start=start, **dict(task_kwargs, threads=1))
    block = as_int("block_size", kwargs.get("block_size", DEFAULT_BLOCK_SIZE), minimum=1)
    chunk = -(-chunk_size // block) * block
    n_tasks = -(-n_networks // chunk)
    if n_tasks > MAX_TASKS:  # scheduler overhead (~7 ms a task) would dominate
        raise ValueError(
            f"chunk_size={chunk_size} cuts {n_networks} networks into {n_tasks} tasks (more "
            f"than {MAX_TASKS}); use chunk_size >= {-(-n_networks // MAX_TASKS)}")
    bounds = [(s, min(chunk, start + n_networks - s))
              for s in range(start, start + n_networks, chunk)]
    futures = [client.submit(_sample_chunk, arch.to_dict(), x, s, c, task_kwargs, pure=False)
               for s, c in bounds]
    states = client.gather(futures)
    total = Correlators.from_state(states[0])
    for state in states[1:]:
        total = total + Correlators.from_state(state)
    return total
