"""Throughput of the sampler against a plain-numpy implementation of the same job.

Workload (issue 2): erf-net, d_in = 1, N = 1000, inputs {-1, -0.6, -0.2, 0.2, 0.6, 1},
orders 2/4/6, plain estimator; nnqft at 1 and 2 threads and numpy, in one run, as ratios.
Also: peak resident memory of nnqft runs of growing size (must stay flat).

    python bench/bench_sampling.py            # the table
    python bench/bench_sampling.py --quick    # a smoke run (CI never times anything)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import nnqft  # noqa: E402
from numpy_reference import NumpySampler  # noqa: E402

X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])


def rate_numpy(width: int, n: int) -> float:
    s = NumpySampler("erf", width, X, orders=(2, 4, 6), seed=0)
    s.run(256)  # warm-up
    t0 = time.perf_counter()
    s.run(n)
    return n / (time.perf_counter() - t0)


def rate_nnqft(width: int, n: int, threads: int, estimator: str = "plain") -> float:
    arch = nnqft.Architecture("erf", width=width)
    nnqft.sample(arch, X, 512, threads=threads, estimator=estimator)  # warm-up
    t0 = time.perf_counter()
    nnqft.sample(arch, X, n, threads=threads, seed=1, estimator=estimator)
    return n / (time.perf_counter() - t0)


MEMORY_SCRIPT = """
import resource, sys, numpy as np, nnqft
n = int(sys.argv[1])
nnqft.sample(nnqft.Architecture("erf", width=int(sys.argv[2])),
             np.array([-1, -0.6, -0.2, 0.2, 0.6, 1.0]), n, threads=2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory_mib(n: int, width: int) -> float:
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n), str(width)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers")
    args = parser.parse_args()
    n_np, n_nn = (512, 2048) if args.quick else (4096, 100_000)
    print(f"nnqft {nnqft.__version__}, kernels: {nnqft._core.kernel_path()}, "
          f"erf-net N={args.width}, k=6, orders 2/4/6, plain estimator")
    base = rate_numpy(args.width, n_np)
    rows = [("numpy (vectorised, float64)", "default", base)]
    for threads in (1, 2):
        rows.append((f"nnqft plain", threads, rate_nnqft(args.width, n_nn, threads)))
    rows.append(("nnqft conditional", 2, rate_nnqft(args.width, n_nn, 2, "conditional")))
    print(f"\n| implementation | threads | networks/s | vs numpy |\n|---|---|---|---|")
    for name, threads, rate in rows:
        print(f"| {name} | {threads} | {rate:,.0f} | {rate / base:.1f}x |")
    scaling = rows[2][2] / rows[1][2]
    print(f"\n2-thread scaling of nnqft plain: {scaling:.2f}x")

    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000, 1_000_000)
    mem = [(n, peak_memory_mib(n, args.width)) for n in sizes]
    print("\n| n_networks | peak RSS (MiB) |\n|---|---|")
    for n, m in mem:
        print(f"| {n:,} | {m:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"rates": rows, "scaling": scaling, "memory": mem}))


if __name__ == "__main__":
    main()
