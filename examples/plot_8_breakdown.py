"""
Where the 1/N expansion breaks down
===================================

The finite-width theory is a series in 1/N, but each layer adds to the interaction, and
for a deep network the expansion parameter is L/N (depth over width). A ReLU-net at
criticality (σ_w² = 2, σ_b = 0) on one input shows this exactly: the squared norm of each
hidden layer is the previous one times an independent factor m with E m² = 1 + 5/N and
E m³ = (1 + 4/N)(1 + 11/N), so the normalised connected four- and six-point functions of
the output are known in closed form at every N and L (physics-deep.md §5)::

    r4 = κ4 / (3 G2²) = (1 + 5/N)^L − 1,
    r6 = κ6 / (15 G2³) = [(1 + 4/N)(1 + 11/N)]^L − 3 (1 + 5/N)^L + 2.

Their 1/N series, from :func:`nnqft.finite_width`, are r4 = 5L/N (leading order, LO)
plus 25 L(L − 1)/(2N²) (next-to-leading, NLO), and r6 = (44 L + 75 L(L − 1))/N² at its
leading order, which is 1/N². This example samples such nets at N = 10 with depths up to
L = N and sets the samples beside the series and the exact curves.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

import nnqft

WIDTH, DEPTHS, X = 10, [1, 2, 3, 4, 6, 8, 10], [1.0]
WICK = {4: 3, 6: 15}  # normalisation of kappa_n at one input: the Wick count


def ratios(kappa, g2, n):
    return kappa / (WICK[n] * g2 ** (n // 2))


def sampled_ratio(corr, n):
    """r_n at the input, with its jackknife error (G2 and κ_n from the same replicas)."""
    point = ratios(corr.connected(n)[0][0], corr.mean(2)[0], n)
    replicas = ratios(corr.replicas(n, connected=True)[:, 0], corr.replicas(2)[:, 0], n)
    return point, np.sqrt(nnqft.jackknife_covariance(replicas[:, None])[0, 0])


rows = []
for depth in DEPTHS:
    arch = nnqft.Architecture("relu", width=WIDTH, depth=depth, sigma_w=np.sqrt(2.0),
                              sigma_b=0.0)
    corr = nnqft.sample(arch, X, n_networks=20_000, orders=(2, 4, 6),
                        estimator="conditional", seed=0)
    with warnings.catch_warnings():
        # Deep ReLU at N = 10 grows heavy tails: shown as hollow points, not warned.
        warnings.simplefilter("ignore", nnqft.NNQFTWarning)
        r4, r6 = sampled_ratio(corr, 4), sampled_ratio(corr, 6)
        reliable = corr.reliable(6)
    lo, nlo = nnqft.finite_width(arch, X), nnqft.finite_width(arch, X, order=2)
    series = {name: {n: ratios(th.connected(n)[0], th.mean(2)[0], n) for n in orders}
              for name, th, orders in (("LO", lo, (4,)), ("NLO", nlo, (4, 6)))}
    a, b = (1 + 5 / WIDTH) ** depth, ((1 + 4 / WIDTH) * (1 + 11 / WIDTH)) ** depth
    rows.append({"L": depth, "r4": r4, "r6": r6, "reliable": reliable,
                 "r4 LO": series["LO"][4], "r4 NLO": series["NLO"][4],
                 "r6 leading": series["NLO"][6], "r4 exact": a - 1, "r6 exact": b - 3 * a + 2})
    print(f"L = {depth:2d}: r4 = {r4[0]:7.3f} ± {r4[1]:.2g} (LO {series['LO'][4]:6.2f}, "
          f"NLO {series['NLO'][4]:6.2f}, exact {a - 1:6.2f});  r6 = {r6[0]:8.3g} ± "
          f"{r6[1]:.2g} (1/N² {series['NLO'][6]:6.3g}, exact {b - 3 * a + 2:8.3g})"
          + ("" if reliable else "  [heavy tails]"))

# %%
# Samples (hollow where the tail diagnostics cannot vouch for the error bars) beside the
# series and the exact curves, against L/N on a logarithmic vertical axis. The NLO term
# carries r4 a long way beyond LO; r6, whose series starts one order later, leaves its
# leading term already at small L/N.
L_over_N = np.array([r["L"] for r in rows]) / WIDTH
ok = np.array([r["reliable"] for r in rows])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
styles = {"r4 LO": ("--", "C0"), "r4 NLO": ("-", "C1"), "r6 leading": ("-", "C1")}
for ax, n, curves in ((axes[0], 4, ("r4 LO", "r4 NLO")), (axes[1], 6, ("r6 leading",))):
    value, error = np.array([r[f"r{n}"] for r in rows]).T
    ax.errorbar(L_over_N[ok], value[ok], yerr=error[ok], fmt="o", color="C2", capsize=2,
                label="sampled")
    if (~ok).any():
        ax.errorbar(L_over_N[~ok], value[~ok], yerr=error[~ok], fmt="o", mfc="none",
                    color="C2", capsize=2, label="sampled, heavy tails")
    for key in curves:
        style, color = styles[key]
        ax.plot(L_over_N, [r[key] for r in rows], style, color=color,
                label=key.split(" ", 1)[1] + (" (1/N²)" if n == 6 else ""))
    ax.plot(L_over_N, [r[f"r{n} exact"] for r in rows], ":", color="k", lw=2,
            label="exact")
    ax.set(yscale="log", xlabel=f"L / N  (N = {WIDTH})",
           ylabel=f"r{n} = κ{n} / ({WICK[n]} G2{'²' if n == 4 else '³'})",
           title=f"critical ReLU on a ray: r{n}")
    ax.legend(fontsize=8)
plt.show()

# %%
# The exact curves are exponentials in L and the series their Taylor polynomials in 1/N
# at fixed L, so at fixed L/N each series misses terms of order (L/N)^k that no longer
# shrink with N: the theory is reliable where L/N is small, and the size of the next term
# (the NLO correction to r4, 25L(L − 1)/(2N²) against 5L/N) tells a user how small. The
# deepest samples fall below the exact curves: there the distribution of the read-out
# kernel has a heavy tail, and 20 000 networks rarely reach the rare large values that
# carry the mean (hollow points: the diagnostics say so). ``nnqft
# run`` makes this plot at N = 20 for ReLU and for a critical erf-net, and reads off from
# which L/N each series departs from the samples.
