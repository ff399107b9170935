"""Deep networks: the Gram-chain sampler against the explicit-weights path (issue 11).

Workload: erf-net, d_in = 1, six inputs {-1, -0.6, -0.2, 0.2, 0.6, 1}, sigma_w = sigma_b = 1,
orders 2/4/6, conditional estimator, 2 threads. Three tables from one run:

1. depth 3, N = 1000: Gram chain vs explicit weights vs the depth-1 network (ratios);
2. a depth scan L = 1..8 at N = 1000 and 3. a width scan N = 100..10^4 at L = 3 (Gram),
   with the cost per network and per neuron-layer N L, which the Gram chain keeps flat.

Each configuration is the best of three runs. Networks/s is wall-clock; CPU us/net is the
process CPU time per network (all threads), which is what matters on a shared machine.

    python bench/bench_depth.py            # the tables
    python bench/bench_depth.py --quick    # a smoke run (CI never times anything)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_sampling import cpu_model  # noqa: E402

import nnqft  # noqa: E402

X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
THREADS = 2


def measure(depth: int, width: int, sampler: str, n: int) -> tuple[float, float]:
    """(networks/s, CPU microseconds per network), best of three runs."""
    arch = nnqft.Architecture("erf", width=width, depth=depth)
    kw = dict(orders=(2, 4, 6), estimator="conditional", threads=THREADS, sampler=sampler)
    nnqft.sample(arch, X, 64, **kw)  # warm-up
    rate, cpu = 0.0, np.inf
    for rep in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        nnqft.sample(arch, X, n, seed=rep + 1, **kw)
        wall, used = time.perf_counter() - w0, time.process_time() - c0
        rate, cpu = max(rate, n / wall), min(cpu, used / n * 1e6)
    return rate, cpu


def comparison(width: int, n_gram: int, n_weights: int) -> list[tuple[str, float, float]]:
    rows = [("depth 1", *measure(1, width, "weights", n_gram)),
            ("depth 3, gram", *measure(3, width, "gram", n_gram)),
            ("depth 3, weights", *measure(3, width, "weights", n_weights))]
    base, gram = rows[0][1], rows[1][1]
    print(f"\n| network (N={width}) | networks/s | CPU us/net | vs depth 1 | gram vs weights |")
    print("|---|---|---|---|---|")
    for name, rate, cpu in rows:
        vs_w = f"{gram / rate:.0f}x" if "weights" in name and "depth 3" in name else ""
        print(f"| {name} | {rate:,.0f} | {cpu:,.1f} | {rate / base:.3g}x | {vs_w} |")
    return rows


def scan(label: str, configs: list[tuple[int, int]], n_for) -> list[tuple[int, int, float, float]]:
    rows = [(depth, width, *measure(depth, width, "gram", n_for(depth, width)))
            for depth, width in configs]
    print(f"\n{label}\n\n| L | N | networks/s | CPU us/net | CPU ns per N L |\n|---|---|---|---|---|")
    for depth, width, rate, cpu in rows:
        print(f"| {depth} | {width:,} | {rate:,.0f} | {cpu:,.1f} | {cpu * 1e3 / (width * depth):.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers")
    args = parser.parse_args()
    print(f"nnqft {nnqft.__version__}, CPU: {cpu_model()}, kernels: {nnqft._core.kernel_path()}, "
          f"erf-net, k=6, orders 2/4/6, conditional estimator, {THREADS} threads")
    if args.quick:
        width, depths, widths, budget = 100, (1, 2, 3), (100, 300), 2e6
        table = comparison(width, 2_000, 64)
    else:
        width, depths, widths, budget = 1000, range(1, 9), (100, 300, 1000, 3000, 10_000), 1e9
        table = comparison(width, 20_000, 128)

    def n_for(depth: int, n: int) -> int:  # about a second of work each at full size
        return max(256, int(budget / (n * depth * 40)) // 32 * 32)

    depth_scan = scan(f"Depth scan (gram, N={width})", [(d, width) for d in depths], n_for)
    width_scan = scan("Width scan (gram, L=3)", [(3, n) for n in widths], n_for)
    if args.json:
        args.json.write_text(json.dumps({"comparison": table, "depth_scan": depth_scan,
                                         "width_scan": width_scan}))


if __name__ == "__main__":
    main()
