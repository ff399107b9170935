"""Hardening regressions (issue 13): no crash, no silent wrong number, nothing lost."""

import warnings

import numpy as np
import pytest

import nnqft
from nnqft import statistics, study


def test_errors_without_the_covariance_matrix_agree_with_its_diagonal():
    arch = nnqft.Architecture("erf", width=6)
    for est in ("plain", "conditional"):
        c = nnqft.sample(arch, [0.2, -0.7, 1.1], 2048, orders=(2, 4), estimator=est, seed=5)
        np.testing.assert_allclose(c.stderr(4), np.sqrt(np.diag(c.covariance(4))), rtol=1e-12)
        value, err = c.connected(4)
        np.testing.assert_allclose(err, np.sqrt(np.diag(c.connected_covariance(4))),
                                   rtol=1e-12)


def test_many_inputs_errors_need_no_covariance(monkeypatch):
    # k = 30, conditional, orders (2, 4): the order-4 covariance is 40920^2 doubles
    # (13 GB; stderr(4) used to build it and crashed inside OpenBLAS).
    arch = nnqft.Architecture("erf", width=5)
    c = nnqft.sample(arch, np.linspace(-1, 1, 30), 1024, orders=(2, 4),
                     estimator="conditional", seed=0)
    err = c.stderr(4)
    assert err.shape == (40920,) and np.isfinite(err).all() and (err > 0).all()
    assert np.isfinite(c.connected(4)[1]).all()
    monkeypatch.setattr(statistics, "physical_memory", lambda: 8.0 * 2**30)
    with pytest.raises(ValueError, match="covariance of 40920 tuples would need 12.5 GiB"):
        c.covariance(4)
    with pytest.raises(ValueError, match="connected order-4 covariance of 40920 tuples"):
        c.connected_covariance(4)


def test_gauss_net_at_large_x_is_flagged_although_its_tail_looks_light():
    # |x| = 6: Var z = 37, the networks that carry E[C] = 2 are ~6 sigma events; the
    # sample sees C = 1.0000 with tiny errors and a Hill index of ~1e11 (issue 13).
    arch = nnqft.Architecture("gauss", width=50, sigma_b=1.0)
    for est in ("plain", "conditional"):
        with pytest.warns(nnqft.warnings.UnreliableErrorWarning,
                          match="contradicts the exact theory"):  # sample() checks it
            c = nnqft.sample(arch, [6.0], 4096, orders=(2, 4, 6), estimator=est, seed=0)
        assert c.tail_index() > 1e6  # the Hill estimate cannot see it
        assert c.kernel_check() > 40
        assert not c.reliable(2) and not c.reliable(6)
        with pytest.warns(nnqft.warnings.UnreliableErrorWarning,
                          match="standard errors from the exact kernel"):
            c.stderr(2)
        with pytest.warns(nnqft.warnings.UnreliableErrorWarning):
            row = study.falloff(c, arch)
        assert row["reliable"] is False  # shown as ⚠ in the study's table
        assert "⚠" in study._falloff_table({"gauss": [dict(row, seconds=0.0)]})


def test_kernel_check_passes_for_light_tails_and_is_skipped_without_exact_g2():
    arch = nnqft.Architecture("erf", width=5)
    x = np.linspace(-1, 1, 4)
    for est in ("plain", "conditional"):
        c = nnqft.sample(arch, x, 4096, orders=(2, 4), estimator=est, seed=2)
        assert c.kernel_check() < 5 and c.reliable(4)
    deep = nnqft.sample(nnqft.Architecture("erf", width=5, depth=2), x, 256, orders=(2,), seed=0)
    assert deep.kernel_check() is None
    assert nnqft.sample(arch, x, 256, orders=(4,), seed=0).kernel_check() is None


@pytest.mark.parametrize("sigma_b", [0.0, 1.0])
def test_deep_relu_kernel_is_range_safe(sigma_b):
    # sigma_w = 3: the variance grows by 4.5 per layer. The products of variances used to
    # overflow from 1e154 on: 3e154 at depth 236, NaN at 238, 0 from 240, and 9e39
    # instead of ~1e196 at depth 300 with sigma_b = 1.
    x = [1.0]
    for depth in (236, 238, 240, 300, 470):
        arch = nnqft.Architecture("relu", width=10, depth=depth, sigma_w=3.0, sigma_b=sigma_b)
        k = nnqft.kernel(arch, x)[0, 0]
        assert np.isfinite(k)
        if sigma_b == 0.0:  # exactly (sigma_w^2 / 2)^depth * sigma_w^2 x^2 / ... : ratio 4.5
            shallower = nnqft.Architecture("relu", width=10, depth=depth - 1, sigma_w=3.0,
                                           sigma_b=0.0)
            assert k / nnqft.kernel(shallower, x)[0, 0] == pytest.approx(4.5, rel=1e-12)
    deep = nnqft.Architecture("relu", width=10, depth=480, sigma_w=3.0, sigma_b=sigma_b)
    with pytest.raises(OverflowError, match="overflows float64.*at layer 471"):
        nnqft.kernel(deep, x)


@pytest.mark.parametrize("arch,x,order,match", [
    (nnqft.Architecture("erf", width=10, sigma_w=1e300), [1.0], 4, "sigma = 1e\\+300"),
    (nnqft.Architecture("erf", width=10), [1e200], 4, "first-layer variance is inf"),
    (nnqft.Architecture("relu", width=10, sigma_w=1e40), [1.0], 4, "moments ~1e320"),
    (nnqft.Architecture("gauss", width=50), [6.0], 8, "8-th moments beyond 1.8e308"),
])
def test_exact_refuses_what_float64_cannot_hold(arch, x, order, match):
    with pytest.raises(OverflowError, match=match):
        nnqft.exact(arch, x, order)


def test_exact_memory_is_checked_before_work():
    arch = nnqft.Architecture("erf", width=10)
    with pytest.raises(ValueError, match="72907890277275 tuples .*GiB"):
        nnqft.exact(arch, np.linspace(-1, 1, 200), 8)  # 16 s then MemoryError before


def test_sampled_overflow_is_an_error_not_nan():
    arch = nnqft.Architecture("erf", width=4, sigma_w=1e300)
    with pytest.raises(OverflowError, match="overflow float64"):
        nnqft.sample(arch, [0.5], 64, orders=(2, 4), seed=0, threads=1)
    with pytest.raises(OverflowError, match="overflow float64"):
        nnqft.sample(nnqft.Architecture("linear", width=4), [1e200], 64, orders=(2,), seed=0)


def test_kernel_check_allows_for_few_bins():
    # With 4 jackknife bins z is Student-t with 3 degrees of freedom: at |z| > 5 about
    # 13% of honest erf runs (k = 12) were flagged unreliable. The threshold now follows
    # the bin count; no honest run of 100 is flagged, and with 64 bins it is 5 or a bit
    # more (the Bonferroni correction over the k diagonal entries).
    arch = nnqft.Architecture("erf", width=10)
    x = np.linspace(-1, 1, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnqft.warnings.FewBinsWarning)
        runs = [nnqft.sample(arch, x, 128, orders=(2,), seed=s, n_bins=4, threads=1)
                for s in range(100)]
    assert max(r.kernel_check() for r in runs) > 5  # the old rule would have flagged these
    assert all(r.reliable(2) for r in runs)
    many = nnqft.sample(arch, x, 2048, orders=(2,), seed=0, threads=1)
    assert 5 <= many._kernel_check_threshold() < 7
