"""Time to a given precision: the figure of merit of design.md.

Job (issue 4): 10% relative standard error on the connected 4-point function at one
fixed tuple, for relu-net (sigma_b = 0) at N = 100 and erf-net at N = 1000. For each of
plain numpy, nnqft plain and nnqft conditional: measured throughput (networks/s on the
stated threads), measured variance per network of the kappa_4 estimate at that tuple,
and the time to reach the target, t = var / (0.1 kappa_4)^2 / rate (projected where a
direct run would be too long; the measured run sizes are printed).

    python bench/bench_precision.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from numpy_reference import NumpySampler  # noqa: E402

import nnqft  # noqa: E402

CASES = {
    "relu N=100": dict(activation="relu", width=100, sigma_b=0.0,
                       x=np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])),
    "erf N=1000": dict(activation="erf", width=1000, sigma_b=1.0,
                       x=np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])),
}
TUPLE = (0, 1, 4, 5)
TARGET = 0.10


def numpy_plain(case: dict, n: int, batches: int = 32) -> tuple[float, float, float]:
    """(rate, kappa4, variance per network): the numpy baseline, delete-one-batch jackknife
    over its running sums (the same error method nnqft uses)."""
    per = n // batches
    t0 = time.perf_counter()
    runs = [NumpySampler(case["activation"], case["width"], case["x"], sigma_b=case["sigma_b"],
                         orders=(2, 4), seed=b).run(per) for b in range(batches)]
    rate = per * batches / (time.perf_counter() - t0)
    t2, t4 = runs[0].tuples[2], runs[0].tuples[4]
    i4 = next(i for i, t in enumerate(t4) if tuple(t) == TUPLE)
    pair = {tuple(t): i for i, t in enumerate(t2)}
    a, b, c, d = TUPLE
    wick_pairs = [((a, b), (c, d)), ((a, c), (b, d)), ((a, d), (b, c))]
    s2 = np.array([r.sums[2] for r in runs])
    s4 = np.array([r.sums[4][i4] for r in runs])

    def kappa(sum2, sum4, count):
        g2 = sum2 / count
        return sum4 / count - sum(g2[pair[p]] * g2[pair[q]] for p, q in wick_pairs)

    total = kappa(s2.sum(0), s4.sum(), per * batches)
    loo = np.array([kappa(s2.sum(0) - s2[i], s4.sum() - s4[i], per * (batches - 1))
                    for i in range(batches)])
    var_estimate = (batches - 1) / batches * ((loo - loo.mean()) ** 2).sum()
    return rate, total, var_estimate * per * batches


def nnqft_run(case: dict, n: int, estimator: str, threads: int) -> tuple[float, float, float]:
    arch = nnqft.Architecture(case["activation"], width=case["width"], sigma_b=case["sigma_b"])
    nnqft.sample(arch, case["x"], 256, orders=(2, 4), estimator=estimator, threads=threads)
    t0 = time.perf_counter()
    corr = nnqft.sample(arch, case["x"], n, orders=(2, 4), estimator=estimator,
                        threads=threads, seed=3)
    rate = n / (time.perf_counter() - t0)
    value, err = corr.connected(4)
    i = corr.index(*TUPLE)
    return rate, value[i], err[i] ** 2 * n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 0.05 if args.quick else 1.0
    exact = {name: nnqft.exact(nnqft.Architecture(c["activation"], width=c["width"],
                                                  sigma_b=c["sigma_b"]),
                               c["x"], 4, connected=True)[
        nnqft.tuples.rank(np.array(TUPLE), len(c["x"]))] for name, c in CASES.items()}
    print(f"target: {TARGET:.0%} relative standard error on kappa_4{TUPLE}; "
          f"kernels: {nnqft._core.kernel_path()}")
    print("\n| case | implementation | networks run | networks/s | var/network | "
          "kappa_4 (exact) | time to target | vs numpy |\n|---|---|---|---|---|---|---|---|")
    for name, case in CASES.items():
        runs = [
            ("numpy plain (numpy default threads)",
             numpy_plain(case, int(20_000 * scale) // 32 * 32), 20_000),
            ("nnqft plain (2 threads)", nnqft_run(case, int(200_000 * scale), "plain", 2), 200_000),
            ("nnqft conditional (2 threads)",
             nnqft_run(case, int(50_000 * scale), "conditional", 2), 50_000),
        ]
        k4 = exact[name]
        base = None
        for label, (rate, value, var), n in runs:
            t = var / (TARGET * k4) ** 2 / rate
            base = base or t
            print(f"| {name} | {label} | {int(n * scale):,} | {rate:,.0f} | {var:.3g} | "
                  f"{value:.3g} ({k4:.3g}) | {fmt_time(t)} | {base / t:,.0f}x |")


def fmt_time(seconds: float) -> str:
    for unit, size in (("years", 3.156e7), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.2g} s"


if __name__ == "__main__":
    main()
