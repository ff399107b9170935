"""
Getting started
===============

An ensemble of random neural networks is a statistical field theory: the network output
f(x) is the field, the inputs x are the points of "spacetime", and the n-point functions
G_n(x_1, ..., x_n) = E[f(x_1) ... f(x_n)] over the random weights are its correlators.
At infinite width the theory is free (Gaussian, with the NNGP kernel as propagator);
at finite width N the connected correlators are nonzero and fall off like 1/N.

This tutorial samples such an ensemble, reads off the correlators with their error bars,
checks them against the exact finite-width theory, fits the quartic coupling, and saves
and merges runs. Every number and plot on this page was computed when the documentation
was built.
"""

# %%
# An architecture and a set of inputs
# -----------------------------------
# :class:`nnqft.Architecture` describes the networks: activation, hidden width N, input
# dimension, depth and the weight and bias standard deviations (a weight of a layer with
# fan-in n has variance σ_w²/n). The inputs are the six points HMS used for the erf-net.
import matplotlib.pyplot as plt
import numpy as np

import nnqft

arch = nnqft.Architecture(activation="erf", width=100, d_in=1, sigma_w=1.0, sigma_b=1.0)
x = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
print(arch)

# %%
# Sampling the ensemble
# ---------------------
# :func:`nnqft.sample` draws ``n_networks`` independent networks in the C++ core and
# accumulates the correlators of the requested orders. The ``conditional`` estimator uses
# that, given the last hidden layer, the output is exactly Gaussian: it averages moments
# of the read-out kernel instead of products of outputs, which removes most of the noise
# from the connected correlators. The ``seed`` fixes every parameter of every network, so
# the run is reproducible bit for bit, whatever the thread count.
corr = nnqft.sample(arch, x, n_networks=20_000, orders=(2, 4, 6),
                    estimator="conditional", seed=0)
print(corr)

# %%
# Correlators of order n live on the sorted index tuples of the inputs (with repetition):
# for six inputs there are 21 two-point, 126 four-point and 462 six-point values.
print(corr.tuples(4)[:5], "...", len(corr.tuples(4)), "tuples")

# %%
# The free part: the two-point function is the NNGP kernel
# --------------------------------------------------------
# :func:`nnqft.kernel` is the exact infinite-width kernel K(x, x'). At one hidden layer
# the two-point function has no 1/N correction, so the sampled G_2 agrees with it within
# the jackknife errors.
g2, g2_err = corr.mean(2), corr.stderr(2)
i, j = corr.tuples(2).T
k_exact = nnqft.kernel(arch, x)[i, j]
print("largest pull |G2 - K| / err:", np.max(np.abs(g2 - k_exact) / g2_err).round(2))

# %%
# The interaction: the connected four-point function
# --------------------------------------------------
# The connected four-point function κ4 = G_4 − (Wick contractions of G_2) vanishes in
# the free theory. At N = 100 it is small but resolved, and :func:`nnqft.exact` knows
# its exact value at finite width.
kappa4, kappa4_err = corr.connected(4)
kappa4_exact = nnqft.exact(arch, x, order=4, connected=True)
pulls = (kappa4 - kappa4_exact) / kappa4_err
print(f"pulls over {pulls.size} tuples: largest |pull| {np.max(np.abs(pulls)):.2f}, "
      f"mean square {np.mean(pulls**2):.2f}")

# %%
# Each pull is a standard normal variable, but the tuples share the same networks, so
# the pulls are strongly correlated: neighbouring tuples move together, and their mean
# square scatters far more around 1 than it would for 126 independent numbers.

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
t = np.arange(pulls.size)
ax0.errorbar(t, kappa4, yerr=kappa4_err, fmt=".", ms=4, label="sampled (20 000 networks)")
ax0.plot(t, kappa4_exact, "_", ms=7, label="exact, N = 100")
ax0.set(xlabel="index tuple (sorted)", ylabel="κ4", title="connected 4-point function")
ax0.legend()
ax1.plot(t, pulls, ".", ms=4)
ax1.axhspan(-2, 2, color="gray", alpha=0.2, label="±2 errors")
ax1.set(xlabel="index tuple (sorted)", ylabel="(sampled − exact) / error", title="pulls",
        ylim=(-5, 5))
ax1.legend()
plt.show()

# %%
# Why the conditional estimator
# -----------------------------
# The ``plain`` estimator averages products of outputs, as the papers do. Its κ4 is a
# small difference of large numbers: the error stays put as N grows while κ4 falls like
# 1/N. With the same networks it is three orders of magnitude larger here.
plain = nnqft.sample(arch, x, n_networks=20_000, orders=(2, 4), estimator="plain", seed=0)
ratio = np.median(plain.connected(4)[1] / kappa4_err)
print(f"median error ratio plain / conditional on κ4: {ratio:.0f}")

# %%
# An effective coupling
# ---------------------
# :func:`nnqft.fit_couplings` fits the couplings of a local effective action to the
# connected correlators, with the full jackknife covariance. In the ELS normalisation the
# quartic coupling u4 gives ΔG4 = −u4 ∫ Π K_EFT over the box [−Λ, Λ]. The χ² tests the
# local form; for the erf-net it is large because precise data resolve the non-local
# structure of its four-point function (see the coupling-fit example for a ReLU-net,
# where the local form is exact).
fit = nnqft.fit_couplings(corr, arch, x, cutoff=1e5, terms=("u4",))
print(fit)

# %%
# Saving, loading and merging runs
# --------------------------------
# Results are ``.npz`` files with JSON metadata. Runs of the same configuration over
# disjoint network ranges merge losslessly: ``start`` picks the range (a multiple of
# the block size, 32), and the sum is bit-identical to one run over the union.
import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp())
corr.save(folder / "erf100.npz")
same = nnqft.load(folder / "erf100.npz")
more = nnqft.sample(arch, x, 20_000, orders=(2, 4, 6), estimator="conditional", seed=0,
                    start=20_000)
total = same + more
one_run = nnqft.sample(arch, x, 40_000, orders=(2, 4, 6), estimator="conditional", seed=0)
print(total.n_networks, "networks; identical to one run:",
      np.array_equal(total.connected(4)[0], one_run.connected(4)[0]))

# %%
# Where next: the :doc:`examples gallery <../auto_examples/index>` (among them deep
# networks against the 1/N theory, and :doc:`a free massive scalar built from a spectral
# cos-net <../auto_examples/plot_6_massive_scalar>` with its momentum-shell flow), the
# :doc:`API reference <../api/index>`, the :doc:`physics reference <../physics>` behind
# every formula (its §6: spectral ensembles and the momentum-shell flow), and
# :doc:`deep networks at finite width <../physics-deep>` (the 1/N and 1/N² theory).
