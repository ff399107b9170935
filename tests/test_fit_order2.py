"""Couplings on the order-2 (1/N^2) theory at depth >= 2: u4 with W/N^2, u6 from U/N^2."""

import numpy as np
import pytest

import nnqft
from nnqft.fit import compare_with_theory, fit_exact_like, theory_connected, theory_order


def test_u6_of_a_deep_erf_net_against_the_order_two_theory():
    # depth 3, N = 10: kappa6 ~ 1/N^2 is resolved by the conditional estimator (u6 to
    # ~2 %); the pull of the sample against sum_15 U/N^2 under one fixed-weight fit is
    # a z-score (the O(1/N^3) remainder is below the noise here: pulls -0.3..0.7 over
    # seeds 0-2)
    arch = nnqft.Architecture("erf", width=10, depth=3, sigma_b=0.5)
    x = np.linspace(-1.0, 1.0, 5)
    corr = nnqft.sample(arch, x, 10_000, orders=(2, 4, 6), estimator="conditional", seed=1,
                        progress=False)
    cmp = compare_with_theory(corr, cutoff=1e5, terms=("u4", "u6"))
    assert "order 2" in cmp.theory_used and "order 2" in cmp.theory.regularisation
    for t in ("u4", "u6"):
        assert abs(cmp.pulls[t]) < 5
    # a test with power: u6 resolved to a few per cent, and far from zero
    assert cmp.sampled.errors["u6"] < 0.05 * abs(cmp.theory.values["u6"])
    # the theory's kappa6 is the order-2 finite_width's
    np.testing.assert_allclose(theory_connected(arch, x, 6),
                               nnqft.finite_width(arch, x, order=2).connected(6), rtol=1e-14)


@pytest.mark.parametrize(("depth", "width"), [(2, 10), (3, 20), (4, 50)])
def test_order_two_moves_u4_by_the_exact_relative_amount_on_the_relu_ray(depth, width):
    # ReLU, sigma_b = 0, positive inputs: V/K^2 = 5L and W/K^2 = 25 L(L-1)/2 on every
    # tuple (rank-1 kernel), so kappa4 and with it the fitted u4 grow by exactly
    # 1 + W/(N V) = 1 + 5(L-1)/(2N) from order 1 to order 2
    arch = nnqft.Architecture("relu", width=width, depth=depth, sigma_w=np.sqrt(2.0),
                              sigma_b=0.0)
    x = [0.3, 0.7, 1.1, 1.6]
    u = {order: fit_exact_like(None, arch, x, cutoff=50.0, order=order).values["u4"]
         for order in (1, 2)}
    assert u[2] / u[1] - 1 == pytest.approx(5 * (depth - 1) / (2 * width), rel=1e-8)


def test_order_two_correction_of_u4_is_one_over_n_relative():
    # the W/N^2 term moves u4 (itself ~1/N) by a relative amount exactly proportional
    # to 1/N: halving the width doubles it
    x = np.linspace(-1.0, 1.0, 5)

    def shift(width):
        arch = nnqft.Architecture("erf", width=width, depth=3, sigma_b=0.5)
        u1, u2 = (fit_exact_like(None, arch, x, cutoff=1e5, order=o).values["u4"] for o in (1, 2))
        return u2 / u1 - 1

    assert shift(10) == pytest.approx(2 * shift(20), rel=1e-8)
    assert 1e-3 < abs(shift(10)) < 0.1  # O(1/N) with an O(1) coefficient at N = 10


def test_default_order_is_the_highest_available():
    assert theory_order(nnqft.Architecture("erf", width=10)) is None  # exact at depth 1
    assert theory_order(nnqft.Architecture("relu", width=10, depth=2)) == 2
    assert theory_order(nnqft.Architecture("tanh", width=10, depth=2)) == 1
    tanh = nnqft.Architecture("tanh", width=10, depth=2)
    x = [0.3, 0.8]
    np.testing.assert_array_equal(theory_connected(tanh, x, 4),
                                  nnqft.finite_width(tanh, x).connected(4))
    with pytest.raises(ValueError, match="order 6 at depth 2 need the 1/N\\^2 theory"):
        theory_connected(tanh, x, 6)


def test_order_errors_are_clear():
    arch = nnqft.Architecture("erf", width=10, depth=2)
    x = [0.3, 0.8]
    with pytest.raises(ValueError, match="order=2"):
        fit_exact_like(None, arch, x, cutoff=1e5, terms=("u4", "u6"), order=1)
    for bad in (0, 3, True, 1.5):
        with pytest.raises(ValueError, match="order must be 1, 2 or None"):
            theory_connected(arch, x, 4, order=bad)
    # tanh's order-2 theory exists but is costly: used on request only
    tanh = nnqft.Architecture("tanh", width=10, depth=2)
    assert theory_order(tanh) == 1
    assert np.isfinite(theory_connected(tanh, [0.3], 6, order=2)).all()
