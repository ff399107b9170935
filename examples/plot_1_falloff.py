"""
The 1/N fall-off against exact theory
=====================================

At infinite width a network ensemble is a free (Gaussian) field theory; at width N the
deviations of the 4- and 6-point functions from their Wick (free) values are of order
1/N. This is the headline plot of Halverson–Maiti–Stoner: the mean relative deviation::

    m_n = < | ΔG_n / G_n^GP | >  over the index tuples,  ΔG_n = G_n − G_n^GP,

measured with jackknife errors, against the exact finite-width theory
(:func:`nnqft.exact`, physics.md §2), for erf-, ReLU- and Gauss-nets on the HMS inputs.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

import nnqft
from nnqft.study import falloff

XSET = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
NETS = [  # (label, activation, sigma_b, inputs): the HMS input sets
    ("erf", "erf", 1.0, XSET),
    ("relu", "relu", 0.0, np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])),
    ("gauss", "gauss", 1.0, 0.01 * XSET),
]
WIDTHS = [2, 5, 10, 20, 50, 100, 1000]

results = {}
for label, activation, sigma_b, x in NETS:
    rows = []
    for width in WIDTHS:
        arch = nnqft.Architecture(activation, width=width, sigma_b=sigma_b)
        with warnings.catch_warnings():
            # Heavy tails (Gauss-net): recorded per row ("reliable") instead of warned about.
            warnings.simplefilter("ignore", nnqft.NNQFTWarning)
            corr = nnqft.sample(arch, x, n_networks=20_000, orders=(2, 4, 6),
                                estimator="conditional", seed=0)
            rows.append(falloff(corr, arch))
    results[label] = rows
    n, last = WIDTHS[-1], rows[-1]
    flag = "" if last["reliable"] else "  (heavy tails: error unreliable)"
    print(f"{label:>5}: N·m4 at N = {n}: {n * last['m4']:.4f} ± {n * last['m4_err']:.2g}, "
          f"exact {n * last['m4_exact']:.4f}{flag}")

# %%
# Sampled points with error bars, exact theory as lines. The Gauss-net's per-network
# kernel scale has a heavy tail at these widths (Hill tail index 2–4, below the order of
# the correlators), so the error bars of its deviations cannot be trusted: :meth:`nnqft.Correlators.reliable`
# says so, and those points are crossed out.
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
for ax, n in zip(axes, (4, 6), strict=True):
    for i, (label, rows) in enumerate(results.items()):
        w = np.array([r["width"] for r in rows])
        ax.errorbar(w, [r[f"m{n}"] for r in rows], yerr=[r[f"m{n}_err"] for r in rows],
                    fmt="o", ms=4, color=f"C{i}", capsize=2, label=f"{label} sampled")
        ax.plot(w, [r[f"m{n}_exact"] for r in rows], "-", color=f"C{i}", alpha=0.6,
                label=f"{label} exact")
        bad = [r for r in rows if not r["reliable"]]
        ax.plot([r["width"] for r in bad], [r[f"m{n}"] for r in bad], "x", color="k", ms=9,
                label="errors unreliable" if bad and i == 2 else None)
    ax.plot(w, 1 / w, ":", color="gray", label="1/N")
    ax.set(xscale="log", yscale="log", xlabel="width N", ylabel=f"m{n}",
           title=f"{n}-point deviation from the free theory")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
plt.show()
