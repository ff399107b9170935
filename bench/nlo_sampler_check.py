"""The 1/N^2 theory against the Gram-chain sampler at small widths (issue 20).

For each case and width N, the conditional estimator measures E C, sum_3 Cov C and sum_15
kappa3 C exactly in distribution; with the leading theory (K, K1, V) of the independent
reference (tests/nlo_reference.py) subtracted and the rest multiplied by N^2 they must tend
to K2, sum_3 W and sum_15 U.  The remainder's 1/N trend is fitted, y(N) = A + B/N (and, as a
check of the truncation, A + B/N + C/N^2), with the sampler's jackknife errors.

    PYTHONPATH=python python bench/nlo_sampler_check.py --networks 40000000 --cases erf-k1-L3
    PYTHONPATH=python python bench/nlo_sampler_check.py --networks 10000000 --cases tanh-k2-L2 \
        tanh-k2-L3 tanh-k2-L4 relu-k2-L3

(about 10 and 25 minutes on one core).  What it showed (2026-12): every 1/N^2 quantity of
the reference is what the samples tend to; the two-term fit is rejected where the 1/N^3
terms are large (erf kappa3: B ~ 25 U; tanh at L = 4 and ReLU kappa6: the expansion is in
L/N), the three-term fit is not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from nlo_reference import fit_inverse_width, nlo_targets, reference_nlo, sampled_remainders  # noqa: E402

import nnqft  # noqa: E402

#: name -> (activation, sigma_w, sigma_b, depth, x)
CASES = {
    "erf-k1-L3": ("erf", 1.5, 0.3, 3, [[0.8]]),
    "tanh-k2-L2": ("tanh", 1.4, 0.3, 2, [[0.5], [-0.9]]),
    "tanh-k2-L3": ("tanh", 1.4, 0.3, 3, [[0.5], [-0.9]]),
    "tanh-k2-L4": ("tanh", 1.4, 0.3, 4, [[0.5], [-0.9]]),
    "relu-k2-L3": ("relu", 1.4, 0.3, 3, [[0.5, -0.2], [-0.3, 0.8]]),
}
WIDTHS = (4, 6, 8, 12, 16, 24, 32)


def run_case(name, n_networks, threads, widths, seed):
    act, sw, sb, depth, x = CASES[name]
    x = np.asarray(x, dtype=float)
    ref = reference_nlo(act, [sw] * (depth + 1), [sb] * (depth + 1), x)
    target = nlo_targets(ref)
    rows = {q: ([], []) for q in target}
    print(f"## {name}: {act}, sigma_w = {sw}, sigma_b = {sb}, L = {depth}, x = {x.ravel().tolist()}, "
          f"{n_networks:.3g} networks per width")
    print("reference: " + ", ".join(f"{q} = {np.array2string(ref[q].ravel()[:1], precision=8)}"
                                   for q in ("K", "K1", "V", "K2", "W", "U")) + " (first entries)")
    for width in widths:
        arch = nnqft.Architecture(act, width=width, d_in=x.shape[1], depth=depth, sigma_w=sw, sigma_b=sb)
        t0 = time.perf_counter()
        corr = nnqft.sample(arch, x, n_networks, orders=(2, 4, 6), estimator="conditional",
                            seed=[seed, width], threads=threads, sampler="gram")
        rem = sampled_remainders(corr, ref)
        parts = []
        for q, (val, err) in rem.items():
            rows[q][0].append(val)
            rows[q][1].append(err)
            parts.append(f"{q}: " + " ".join(f"{v:+.5f}({e:.5f})" for v, e in zip(val, err, strict=True)))
        print(f"N = {width:3d} [{time.perf_counter() - t0:5.1f} s]  " + "  ".join(parts))
    for q in target:
        vals, errs = np.array(rows[q][0]), np.array(rows[q][1])
        for min_width in sorted({widths[0], 8}):
            use = np.asarray(widths) >= min_width
            for terms in (2, 3):
                if use.sum() <= terms:
                    continue
                coef, cerr, chi2 = fit_inverse_width(np.asarray(widths)[use], vals[use], errs[use], terms)
                z = (coef[0] - target[q]) / cerr[0]
                model = "A + B/N" + (" + C/N^2" if terms == 3 else "")
                print(f"  {q} fit {model}, N >= {min_width}: " + "; ".join(
                    f"A = {a:+.5f} ± {ea:.5f} (theory {t:+.5f}, z = {zz:+.2f}), B = {b:+.4f} ± {eb:.4f}, "
                    f"chi2/dof = {c:.1f}/{use.sum() - terms}"
                    for a, ea, t, zz, b, eb, c in zip(coef[0], cerr[0], target[q], z, coef[1], cerr[1], chi2,
                                                      strict=True)))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=2_000_000, help="networks per width")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--widths", type=int, nargs="*", default=list(WIDTHS))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: erf case, 2e5 networks, N = 4, 8, 16")
    args = parser.parse_args()
    if args.quick:
        args.networks, args.cases, args.widths = 200_000, ["erf-k1-L3"], [4, 8, 16]
    for name in args.cases:
        run_case(name, args.networks, args.threads, args.widths, args.seed)


if __name__ == "__main__":
    main()
