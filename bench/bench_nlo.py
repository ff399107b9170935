"""Cost of the finite-width theory at order 1 and order 2 (nnqft.finite_width, issue 20).

Workload: k = 6 inputs in general position (d_in = 5, standard normal, seed 0),
sigma_b = 0.3, erf (sigma_w = 1.5) and relu (sigma_w = sqrt 2, critical), depths 1, 3, 10.
One core: BLAS threads are pinned to 1 before numpy is imported. Each figure is the
best of three process-CPU times with the memo cleared (the theory is memoised on
everything but the width, so a repeated call would cost nothing).

    python bench/bench_nlo.py            # the table
    python bench/bench_nlo.py --quick    # a smoke run (CI never times anything)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_sampling import cpu_model  # noqa: E402

import nnqft  # noqa: E402
from nnqft import deep_theory  # noqa: E402

SIGMA_W = {"erf": 1.5, "relu": 2.0**0.5, "linear": 1.0}


def cpu_seconds(act: str, depth: int, k: int, order: int, repeats: int) -> float:
    """Best process-CPU time of ``finite_width`` over ``repeats`` fresh runs."""
    x = np.random.default_rng(0).normal(size=(k, 5))
    arch = nnqft.Architecture(act, width=100, d_in=5, depth=depth, sigma_w=SIGMA_W[act],
                              sigma_b=0.3)
    best = np.inf
    for _ in range(repeats):
        deep_theory._CACHE.clear()
        c0 = time.process_time()
        nnqft.finite_width(arch, x, order=order)
        best = min(best, time.process_time() - c0)
    return float(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    quick = parser.parse_args().quick
    k, depths, repeats = (3, (1, 2), 1) if quick else (6, (1, 3, 10), 3)
    print(f"CPU: {cpu_model()}; one core; k = {k} inputs in general position (d_in = 5)")
    print("\n| activation | depth | order 1 CPU (s) | order 2 CPU (s) |")
    print("|---|---|---|---|")
    for act in ("erf", "relu", "linear"):
        for depth in depths:
            lo = cpu_seconds(act, depth, k, 1, repeats)
            nlo = cpu_seconds(act, depth, k, 2, repeats)
            print(f"| {act} | {depth} | {lo:.3f} | {nlo:.2f} |")


if __name__ == "__main__":
    main()
