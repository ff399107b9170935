"""The shared jackknife/GLS statistics against independent, direct computations."""

import numpy as np
import pytest

import nnqft
from nnqft.statistics import (
    GLSWeights,
    bin_deviations,
    jackknife_covariance,
    jackknife_errors,
    shrink,
    shrinkage_intensity,
)


def bins_and_replicas(n_bins=40, t=6, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(t, t))
    bins = rng.normal(size=(n_bins, t)) @ mix + np.arange(t)
    total = bins.sum(axis=0)
    replicas = (total - bins) / (n_bins - 1)  # delete-one-bin means
    return bins, replicas


def test_jackknife_of_the_mean_is_the_covariance_of_the_mean():
    bins, replicas = bins_and_replicas()
    expected = np.cov(bins, rowvar=False) / len(bins)
    np.testing.assert_allclose(jackknife_covariance(replicas), expected, rtol=1e-12)
    np.testing.assert_allclose(jackknife_errors(replicas), np.sqrt(np.diag(expected)), rtol=1e-12)
    np.testing.assert_allclose(bin_deviations(replicas), bins - bins.mean(axis=0), atol=1e-12)


def test_public_name_is_the_shared_one():
    assert nnqft.jackknife_covariance is jackknife_covariance


def test_shrink_and_intensity():
    cov = np.array([[4.0, 1.0], [1.0, 9.0]])
    np.testing.assert_array_equal(shrink(cov, 0.25), [[4.0, 0.75], [0.75, 9.0]])
    bins, _ = bins_and_replicas(n_bins=2000, t=4, seed=1)
    lam = shrinkage_intensity(bins - bins.mean(axis=0))
    assert 0.0 <= lam < 0.01  # strong, well-measured correlations: little shrinkage
    independent = np.random.default_rng(2).normal(size=(30, 20))
    assert shrinkage_intensity(independent - independent.mean(axis=0)) > 0.5


@pytest.mark.parametrize("shrinkage", [0.3, None])
def test_gls_replicas_equal_a_direct_refit_per_replica(shrinkage):
    """Sherman-Morrison downdates against building and inverting each C_b directly."""
    bins, replicas = bins_and_replicas(n_bins=24, t=5, seed=3)
    design = np.stack([np.ones(5), np.linspace(-1, 1, 5)], axis=1)
    y = replicas.mean(axis=0)
    weights = GLSWeights(replicas, shrinkage)
    lam = weights.lam
    estimate, refit, fixed = weights.fit(design, y, replicas, replicas)

    b = len(bins)
    dev = bins - bins.mean(axis=0)
    s = dev.T @ dev / (b - 1)
    full = shrink(s, lam)
    w = np.linalg.inv(full)
    direct = np.linalg.solve(design.T @ w @ design, design.T @ w @ y)
    np.testing.assert_allclose(estimate, direct, rtol=1e-10)
    for k in range(b):
        rest = np.delete(bins, k, axis=0)
        d = rest - rest.mean(axis=0)
        s_k = d.T @ d / (b - 2)
        c_k = (1 - lam) * s_k + lam * np.diag(np.diag(s))  # diagonal held at the full sample
        w_k = np.linalg.inv(c_k)
        want = np.linalg.solve(design.T @ w_k @ design, design.T @ w_k @ replicas[k])
        np.testing.assert_allclose(refit[k], want, rtol=1e-9)
        fixed_k = np.linalg.solve(design.T @ w @ design, design.T @ w @ replicas[k])
        np.testing.assert_allclose(fixed[k], fixed_k, rtol=1e-10)


def _gaussian_bins(rng, n_bins, t, mix):
    bins = rng.normal(size=(n_bins, t)) @ mix
    return bins, (bins.sum(axis=0) - bins) / (n_bins - 1)


@pytest.mark.parametrize("target", [300.0, 3000.0, 3e5])
def test_hotelling_chi2_of_a_bad_fit_is_the_scaled_t2(target):
    # q = t = 6 modes (all of them): T^2 does not depend on the directions and equals the
    # residual's quadratic form in the odd bins' covariance of the mean, computed directly
    from scipy import special

    from nnqft.statistics import hotelling_chi2

    rng = np.random.default_rng(7)
    t, n_bins = 6, 64
    bins, replicas = _gaussian_bins(rng, n_bins, t, rng.normal(size=(t, t)))
    odd_cov = np.cov(bins[1::2], rowvar=False) / n_bins
    direction = rng.normal(size=t)
    unit_t2 = direction @ np.linalg.solve(odd_cov, direction)
    n, q = n_bins // 2 - 1, t
    residual = direction * np.sqrt(target / (unit_t2 * (n - q - 1) / n))
    t2 = residual @ np.linalg.solve(odd_cov, residual)
    chi2, ndof, pvalue, note = hotelling_chi2(residual, replicas, replicas)
    assert ndof == q and chi2 == pytest.approx(t2 * (n - q - 1) / n, rel=1e-9)
    assert chi2 == pytest.approx(target, rel=1e-9)  # not squeezed: linear in the misfit
    # Hotelling: T^2 (n - q + 1) / (n q) ~ F(q, n - q + 1); its tail by the incomplete beta
    f, d1, d2 = t2 * (n - q + 1) / (n * q), q, n - q + 1
    assert pvalue == pytest.approx(special.betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * f)), rel=1e-8)
    assert f"T² = {t2:.4g}" in note


def test_hotelling_chi2_of_a_right_model_has_mean_ndof_and_uniform_p():
    from nnqft.statistics import hotelling_chi2

    rng = np.random.default_rng(11)
    t, n_bins, runs = 6, 64, 400
    mix = rng.normal(size=(t, t))
    out = np.array([hotelling_chi2(b.mean(axis=0), r, r)[:3:2] for b, r in
                    (_gaussian_bins(rng, n_bins, t, mix) for _ in range(runs))])
    chi2, p = out[:, 0], out[:, 1]
    # chi2 = q (d2 - 2) / d2 F(q, d2), d2 = n - q + 1: sd q sqrt(2 (q + d2 - 2) / (q (d2 - 4)))
    n, q = n_bins // 2 - 1, t
    d2 = n - q + 1
    sd = q * np.sqrt(2 * (q + d2 - 2) / (q * (d2 - 4)))
    assert abs(chi2.mean() - q) < 5 * sd / np.sqrt(runs)
    assert abs(p.mean() - 0.5) < 5 * np.sqrt(1 / 12 / runs)
