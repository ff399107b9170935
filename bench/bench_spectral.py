"""Throughput of the spectral cos-nets against the plain cos-net (issue 23).

Networks per second on one thread for the plain cos-net and each radius law of
:mod:`nnqft.spectral` (Gaussian normals, exact Cauchy inverse CDF, quantile table),
and of a shell grid (one pass over several Λ) against one shell.  The cases run
interleaved, best of ``--repeat``, so that a loaded machine biases them alike.

    python bench/bench_spectral.py [--width 1000] [--k 6] [--networks 20000] [--repeat 5]
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
    p.add_argument("--k", type=int, default=6, help="inputs (d = 1)")
    p.add_argument("--networks", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    x = np.linspace(-1.0, 1.0, args.k)
    spectra = {
        "plain cos-net": None,
        "gaussian_spectrum": nnqft.gaussian_spectrum(1),
        "massive, exact Cauchy": nnqft.massive_spectrum(1.0, d=1),
        "massive, Cauchy + sharp cutoff": nnqft.massive_spectrum(1.0, d=1, cutoff=10.0),
        "massive, table (smooth cutoff)": nnqft.massive_spectrum(1.0, d=1, cutoff=10.0,
                                                                 regulator="smooth"),
    }
    cases = {}
    for name, sp in spectra.items():
        cases[name] = [nnqft.Architecture("cos", width=args.width, sigma_b=0.0, spectrum=sp)]
    shells = [0.5, 1, 2, 4, 8, math.inf]
    cases[f"shell grid, {len(shells)} shells"] = shell_architectures(
        cases["massive, exact Cauchy"][0], shells)
    best = dict.fromkeys(cases, math.inf)
    for estimator in ("conditional", "plain"):
        best = dict.fromkeys(cases, math.inf)
        for _ in range(args.repeat):
            for name, archs in cases.items():
                t0 = time.perf_counter()
                sample_grid(archs, x, args.networks, orders=(2, 4), estimator=estimator,
                            seed=0, threads=1)
                best[name] = min(best[name], time.perf_counter() - t0)
        print(f"\nestimator={estimator}, width {args.width}, k = {args.k}, one thread")
        base = args.networks / best["plain cos-net"]
        for name, seconds in best.items():
            rate = args.networks / seconds
            print(f"  {name:<34} {rate:9.0f} networks/s  ({rate / base:.2f} x plain)")


if __name__ == "__main__":
    main()
