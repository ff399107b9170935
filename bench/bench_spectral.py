"""Throughput of the spectral cos-nets against the plain cos-net (issue 23).

Networks per second on one thread for the plain cos-net and each radius law of
:mod:`nnqft.spectral` (Gaussian normals, exact Cauchy inverse CDF, quantile table),
and of a shell grid (one pass over several Λ) against one shell.  The cases run
interleaved, best of ``--repeat``, so that a loaded machine biases them alike.

    python bench/bench_spectral.py [--width 1000] [--k 6] [--d 1] [--networks 20000] [--repeat 5]

At ``--d`` > 1 the inputs are k points on a line through the origin, and the Cauchy
law (d = 1 only) gives way to the power (d + 1) / 2 without cutoff.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import nnqft
from nnqft.sampling import sample_grid
from nnqft.shells import shell_architectures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=1000)
    p.add_argument("--k", type=int, default=6, help="inputs")
    p.add_argument("--d", type=int, default=1, choices=(1, 2, 3, 4), help="dimension")
    p.add_argument("--networks", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    d = args.d
    x = np.outer(np.linspace(-1.0, 1.0, args.k), np.ones(d) / math.sqrt(d))
    law = "exact Cauchy" if d == 1 else f"power {(d + 1) / 2:g}"
    power = 1.0 if d == 1 else (d + 1) / 2
    spectra = {
        "plain cos-net": None,
        "gaussian_spectrum": nnqft.gaussian_spectrum(d),
        f"massive, {law}": nnqft.massive_spectrum(1.0, d=d, power=power),
        f"massive, {law} + sharp cutoff": nnqft.massive_spectrum(1.0, d=d, power=power,
                                                                  cutoff=10.0),
        "massive, table (smooth cutoff)": nnqft.massive_spectrum(1.0, d=d, cutoff=10.0,
                                                                 regulator="smooth"),
    }
    cases = {}
    for name, sp in spectra.items():
        cases[name] = [nnqft.Architecture("cos", width=args.width, d_in=d, sigma_b=0.0,
                                          spectrum=sp)]
    shells = [0.5, 1, 2, 4, 8, math.inf]
    cases[f"shell grid, {len(shells)} shells"] = shell_architectures(
        cases[f"massive, {law}"][0], shells)
    best = dict.fromkeys(cases, math.inf)
    for estimator in ("conditional", "plain"):
        best = dict.fromkeys(cases, math.inf)
        for _ in range(args.repeat):
            for name, archs in cases.items():
                t0 = time.perf_counter()
                sample_grid(archs, x, args.networks, orders=(2, 4), estimator=estimator,
                            seed=0, threads=1)
                best[name] = min(best[name], time.perf_counter() - t0)
        print(f"\nestimator={estimator}, width {args.width}, k = {args.k}, d = {d}, one thread, "
              f"kernels: {nnqft._core.kernel_path()}")
        base = args.networks / best["plain cos-net"]
        for name, seconds in best.items():
            rate = args.networks / seconds
            print(f"  {name:<34} {rate:9.0f} networks/s  ({rate / base:.2f} x plain)")


if __name__ == "__main__":
    main()
