"""Hardening regressions (issue 13): no crash, no silent wrong number, nothing lost."""

import numpy as np
import pytest

import nnqft
from nnqft import correlators


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
