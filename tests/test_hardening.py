"""Hardening regressions (issue 13): no crash, no silent wrong number, nothing lost."""

import numpy as np
import pytest

import nnqft
from nnqft import correlators, study


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
    monkeypatch.setattr(correlators, "physical_memory", lambda: 8.0 * 2**30)
    with pytest.raises(ValueError, match="covariance of 40920 tuples would need 12.5 GiB"):
        c.covariance(4)
    with pytest.raises(ValueError, match="connected order-4 covariance of 40920 tuples"):
        c.connected_covariance(4)


def test_gauss_net_at_large_x_is_flagged_although_its_tail_looks_light():
    # |x| = 6: Var z = 37, the networks that carry E[C] = 2 are ~6 sigma events; the
    # sample sees C = 1.0000 with tiny errors and a Hill index of ~1e11 (issue 13).
    arch = nnqft.Architecture("gauss", width=50, sigma_b=1.0)
    for est in ("plain", "conditional"):
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
