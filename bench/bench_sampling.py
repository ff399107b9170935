"""Throughput of the sampler against a plain-numpy implementation of the same job.

Workload (issue 2): erf-net, d_in = 1, N = 1000, inputs {-1, -0.6, -0.2, 0.2, 0.6, 1},
orders 2/4/6, plain estimator; nnqft at 1 and 2 threads and numpy, in one run, as ratios.
Also: peak resident memory of nnqft runs of growing size (must stay flat), and where
the time of one network goes in each implementation (normal draws, activations, the
rest), with the ceiling those per-element costs put on the ratio: the ratio depends on
the CPU, because nnqft's vectorised kernels gain with wider SIMD units and numpy's
per-element library calls much less.

    python bench/bench_sampling.py            # the table
    python bench/bench_sampling.py --quick    # a smoke run (CI never times anything)
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from numpy_reference import NumpySampler  # noqa: E402
from scipy import special  # noqa: E402

import nnqft  # noqa: E402

X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])


def cpu_model() -> str:
    """The CPU's model name (Linux), for the record: the ratios depend on it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


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


def per_element_ns(fn, n_elements: int, repeats: int) -> float:
    """Fastest of `repeats` calls, in ns per element."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / n_elements * 1e9


def stage_costs(width: int, quick: bool) -> dict[str, dict[str, float]]:
    """ns per normal draw and per erf value of both implementations (one thread).

    nnqft's kernels run on cache-resident arrays as in the sampler (Philox blocks turned
    into normals in registers); numpy draws and evaluates the arrays of one batch of 256
    networks, as its sampler does.
    """
    m, reps = 4096, (20 if quick else 400)  # a few rows of a network: L1-resident
    reps_np = max(3, reps // 40)
    rng = np.random.default_rng(0)
    # Fresh erf inputs per call (32 arrays, L2-resident): re-running one array lets the
    # branch predictor learn where its slow-path elements are, as the sampler never can.
    z_pool = itertools.cycle(rng.standard_normal((32, m)) * np.sqrt(1.5))
    batch = rng.standard_normal((256, 6, width))

    return {
        "numpy": {
            "normal": per_element_ns(lambda: rng.standard_normal((256, width)), 256 * width,
                                     reps_np),
            "erf": per_element_ns(lambda: special.erf(batch), batch.size, reps_np),
        },
        "nnqft": {
            "normal": per_element_ns(
                lambda: nnqft._core.philox_normals([0, 1, 2, 0], [3, 4], m // 4), m, reps),
            "erf": per_element_ns(lambda: nnqft._core.apply_function("erf", next(z_pool)), m,
                                  reps),
        },
    }


def print_breakdown(width: int, rates: dict[str, float], costs: dict[str, dict[str, float]]) -> None:
    """Where one network's time goes, and the ratio the per-element costs allow."""
    n_normal, n_erf = 3 * width + 1, 6 * width  # W0, b0, W1, b1; k = 6 inputs
    print(f"\nOne network (N={width}): {n_normal} normal draws, {n_erf} erf values; "
          "one thread, microseconds")
    print("\n| stage | numpy | nnqft | ratio |\n|---|---|---|---|")
    parts = {}
    for impl in ("numpy", "nnqft"):
        total = 1e6 / rates[impl]
        draws = n_normal * costs[impl]["normal"] * 1e-3
        erf = n_erf * costs[impl]["erf"] * 1e-3
        parts[impl] = (draws, erf, total - draws - erf, total)
    for i, stage in enumerate(("normal draws", "erf", "the rest", "whole network")):
        a, b = parts["numpy"][i], parts["nnqft"][i]
        print(f"| {stage} | {a:.1f} | {b:.1f} | {a / b:.1f}x |")
    floor = parts["nnqft"][0] + parts["nnqft"][1]
    print(f"\nCeiling at these kernel costs (the rest free, perfect 2-thread scaling): "
          f"{2 * parts['numpy'][3] / floor:.1f}x numpy with 2 threads")


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
    print(f"nnqft {nnqft.__version__}, CPU: {cpu_model()}, kernels: {nnqft._core.kernel_path()}, "
          f"erf-net N={args.width}, k=6, orders 2/4/6, plain estimator")
    base = rate_numpy(args.width, n_np)
    rows = [("numpy (vectorised, float64)", "default", base)]
    for threads in (1, 2):
        rows.append(("nnqft plain", threads, rate_nnqft(args.width, n_nn, threads)))
    rows.append(("nnqft conditional", 2, rate_nnqft(args.width, n_nn, 2, "conditional")))
    print("\n| implementation | threads | networks/s | vs numpy |\n|---|---|---|---|")
    for name, threads, rate in rows:
        print(f"| {name} | {threads} | {rate:,.0f} | {rate / base:.1f}x |")
    scaling = rows[2][2] / rows[1][2]
    print(f"\n2-thread scaling of nnqft plain: {scaling:.2f}x")
    costs = stage_costs(args.width, args.quick)
    print_breakdown(args.width, {"numpy": base, "nnqft": rows[1][2]}, costs)

    sizes = (2_000, 20_000) if args.quick else (10_000, 100_000, 1_000_000)
    mem = [(n, peak_memory_mib(n, args.width)) for n in sizes]
    print("\n| n_networks | peak RSS (MiB) |\n|---|---|")
    for n, m in mem:
        print(f"| {n:,} | {m:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"rates": rows, "scaling": scaling, "memory": mem,
                                               "ns_per_element": costs}))


if __name__ == "__main__":
    main()
