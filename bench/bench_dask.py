"""Overhead of the Dask path against the local run, and what a chunk costs the cluster.

The same networks are sampled twice on this machine: ``nnqft.sample`` with T threads
in one process, and ``nnqft.distributed.sample_dask`` on a LocalCluster of T worker
processes of one thread each (tasks, scheduling, state pickling, the tree reduction on
the workers, one state back to the client).  The overhead is (t_dask - t_local) /
t_local, the best of a few interleaved repetitions, at chunk sizes 1e4, 1e5 and 1e6
networks with the total fixed, in wall time and in CPU time (all processes of the
cluster, nannies included): on a shared machine the wall times swing with the other
jobs' load, while the CPU seconds measure the work each path does.  Also measured: the bytes a
chunk ships (its pickled state, and the task's arguments), the scheduler's cost per
task (a burst of no-op tasks) and the chunk time, which together give the scaling
model of the README ("Scaling out").

The workload is deliberately cheap (tanh, width 8, six inputs, orders 2/4, conditional
estimator: ~1e5-1e6 networks/s per core) so that 1e6-network chunks fit in seconds on a
2-core machine; a real workload (width 1000) makes each chunk ~100x longer and the
overhead ~100x smaller at the same chunk size.

    python bench/bench_dask.py            # the table
    python bench/bench_dask.py --quick    # a smoke run (CI never times anything)
"""

from __future__ import annotations

import argparse
import pickle
import time

import numpy as np

import nnqft
from nnqft.distributed import sample_dask

X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
ARCH = nnqft.Architecture("tanh", width=8)
KW = dict(orders=(2, 4), estimator="conditional", seed=1)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def cluster_cpu(client) -> float:
    """CPU seconds used so far by this process (client and LocalCluster scheduler), the
    workers and their nannies: the cost of the Dask path whatever else runs on the machine."""
    workers = client.run(time.process_time)
    nannies = client.run(time.process_time, nanny=True)
    return time.process_time() + sum(workers.values()) + sum(nannies.values())


def overhead_rows(client, workers: int, total: int, chunks: list[int], reps: int) -> list[str]:
    rows = ["| networks per chunk | chunks | local wall (s) | Dask wall (s) | wall overhead | "
            "local CPU (s) | Dask CPU (s) | CPU overhead | state shipped per chunk (bytes) | "
            "task arguments (bytes) |", "|---" * 10 + "|"]
    sample_dask(client, ARCH, X, 2 * chunks[0], chunk_size=chunks[0], **KW)  # warm-up
    for chunk in chunks:
        wall, cpu = {"local": [], "dask": []}, {"local": [], "dask": []}
        for _ in range(reps):  # interleaved, so a busy moment hits both
            c0 = time.process_time()
            t, ref = timed(nnqft.sample, ARCH, X, total, threads=workers, **KW)
            wall["local"].append(t)
            cpu["local"].append(time.process_time() - c0)
            c0 = cluster_cpu(client)
            t, out = timed(sample_dask, client, ARCH, X, total, chunk_size=chunk, **KW)
            wall["dask"].append(t)
            cpu["dask"].append(cluster_cpu(client) - c0)
            assert out == ref, "the Dask run must equal the local run bit for bit"
        one = nnqft.sample(ARCH, X, chunk, threads=1, **KW)
        state = len(pickle.dumps([one.state()], protocol=5))
        spec = len(pickle.dumps(({"archs": [ARCH.to_dict()], "x": one.x, "threads": 1,
                                  "common": KW, "store": None}, 0, chunk), protocol=5))
        (wl, wd), (cl, cd) = [(min(d["local"]), min(d["dask"])) for d in (wall, cpu)]
        rows.append(f"| {chunk:.0e} | {-(-total // chunk)} | {wl:.2f} | {wd:.2f} | "
                    f"{(wd - wl) / wl:+.1%} | {cl:.2f} | {cd:.2f} | {(cd - cl) / cl:+.1%} | "
                    f"{state:,} | {spec:,} |")
    return rows


def scheduler_cost(client, n_tasks: int) -> float:
    """Seconds of scheduling per task: a burst of no-op tasks, submitted and gathered."""
    def noop(i: int) -> int:
        return i

    client.gather(client.map(noop, range(50), pure=False))  # warm-up
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(n_tasks), pure=False))
    return (time.perf_counter() - t0) / n_tasks


def chunk_rate() -> float:
    """Networks per second of one core on this workload (the chunk time is n / rate)."""
    nnqft.sample(ARCH, X, 10_000, threads=1, **KW)
    c0 = time.process_time()  # CPU time: the rate of a core this process had to itself
    nnqft.sample(ARCH, X, 400_000, threads=1, **KW)
    return 400_000 / (time.process_time() - c0)


def checkpoint_cost(tmp: str, chunk: int) -> tuple[float, float, int]:
    """Seconds to write one chunk's checkpoint file (checksum, fsync) and to read and
    verify it, and its size in bytes."""
    from pathlib import Path

    from nnqft.checkpoint import Checkpoint

    states = [nnqft.sample(ARCH, X, chunk, threads=1, **KW).state()]
    store = Checkpoint(tmp, "0" * 32)
    write = min(timed(store.save, 0, chunk, states)[0] for _ in range(3))
    read = min(timed(store.load, 0, chunk)[0] for _ in range(3))
    return write, read, Path(store.path(0, chunk)).stat().st_size


def idle_cpu(client, seconds: float = 3.0) -> float:
    """CPU seconds per second the cluster's processes burn with no work (heartbeats)."""
    c0 = cluster_cpu(client)
    time.sleep(seconds)
    return (cluster_cpu(client) - c0) / seconds


def main() -> None:
    import tempfile

    import distributed

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds, no meaningful timings")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    total, chunks, reps = (40_000, [10_000, 20_000], 1) if args.quick else \
        (4_000_000, [10_000, 100_000, 1_000_000], 2)
    print(f"nnqft {nnqft.__version__}, kernels {nnqft._core.kernel_path()}, dask "
          f"{distributed.__version__}; {ARCH!r}, {len(X)} inputs, orders {KW['orders']}, "
          f"{KW['estimator']}; {total:,} networks; local: {args.workers} threads, Dask: "
          f"LocalCluster of {args.workers} processes x 1 thread\n")
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        print("\n".join(overhead_rows(client, args.workers, total, chunks, reps)))
        h = scheduler_cost(client, 200 if args.quick else 2000)
        idle = idle_cpu(client, 1.0 if args.quick else 5.0)
    rate = chunk_rate()
    with tempfile.TemporaryDirectory() as tmp:
        write, read, size = checkpoint_cost(tmp, 131_072)
    print(f"\nscheduler cost per task h = {h * 1e3:.2f} ms (no-op burst); one core samples "
          f"{rate:,.0f} networks/s here, so a 1e5-network chunk takes {1e5 / rate:.2f} s")
    print(f"idle cluster (scheduler, {args.workers} workers and nannies, no tasks): "
          f"{idle:.3f} CPU s per second of wall time, counted in the Dask CPU column")
    print(f"checkpoint writes: {write * 1e3:.1f} ms to write a 2**17-network chunk "
          f"({size:,} bytes, checksum + fsync), {read * 1e3:.1f} ms to read and verify it; "
          f"sampling it takes {131_072 / rate:.2f} s on one core")


if __name__ == "__main__":
    main()
