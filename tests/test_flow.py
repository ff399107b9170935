"""The sigma-driven flow (issue 6): exact agreement, exponents, common random numbers."""

import numpy as np
import pytest
from conftest import assert_z

import nnqft
from nnqft.fit import compare_with_theory, fit_couplings
from nnqft.flow import sigma_flow

X_SMALL = np.array([-0.01, -0.006, -0.002, 0.002, 0.006, 0.01])  # ELS Gauss-net set


@pytest.fixture(scope="module")
def gauss_flow():
    arch = nnqft.Architecture("gauss", width=50, sigma_b=0.5)
    return sigma_flow(arch, X_SMALL, [1.0, 2.0, 3.0, 5.0], n_networks=20_000, seed=5,
                      threads=2)


def test_active_flow_matches_exact_theory_gauss(gauss_flow):
    f = gauss_flow
    assert_z(f.couplings["u4"], f.errors["u4"], f.exact_couplings["u4"])
    assert np.all(f.errors["u4"] / np.abs(f.couplings["u4"]) < 0.05)  # resolved


def test_active_flow_matches_exact_theory_cos():
    # cos-net correlators at O(1) inputs are not local (chi2 >> ndof): the GLS fit of the
    # sampled flow is compared with the same fit applied to the exact correlators of the
    # same networks (an unweighted fit of the exact values is a different projection,
    # ~25% away here). Each grid point equals a separate run on its sigma, bit for bit.
    arch = nnqft.Architecture("cos", width=20, sigma_b=0.3)
    x = np.array([-0.4, -0.1, 0.2, 0.5])
    sigmas = [0.5, 1.0, 2.0]
    f = sigma_flow(arch, x, sigmas, n_networks=20_000, seed=2, threads=2)
    like = []
    for i, s in enumerate(sigmas):
        corr = nnqft.sample(arch.scaled("w", s), x, 20_000, orders=(2, 4),
                            estimator="conditional", seed=2, threads=2)
        fit = fit_couplings(corr, corr.arch, x)
        assert fit.values["u4"] == f.couplings["u4"][i] and fit.errors["u4"] == f.errors["u4"][i]
        like.append(compare_with_theory(corr).pulls["u4"])
    assert np.all(np.abs(like) < 5)
    assert np.all(f.chi2 > 5 * f.ndof)  # the local form is rejected: hence the like-for-like


@pytest.mark.parametrize("d_in,x", [
    (1, 0.1 * X_SMALL[:, None]),
    (2, 1e-3 * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])),
])
def test_gauss_net_exponent_is_d_minus_4(d_in, x):
    """u4 ∝ σ^(d_in - 4) up to O(σ²x²), negligible for these inputs."""
    arch = nnqft.Architecture("gauss", width=50, d_in=d_in, sigma_b=0.5)
    f = sigma_flow(arch, x, [1.0, 1.5, 2.0, 3.0, 4.0], n_networks=20_000, seed=1, threads=2)
    e, de = f.exponent("u4")
    assert abs(e - (d_in - 4)) < 5 * de
    assert de < 0.05
    e_exact = np.polyfit(np.log(f.sigmas), np.log(np.abs(f.exact_couplings["u4"])), 1)[0]
    assert e_exact == pytest.approx(d_in - 4, abs=1e-4)


def test_common_random_numbers_shrink_differences():
    arch = nnqft.Architecture("gauss", width=50, sigma_b=0.5)
    kw = dict(n_networks=10_000, seed=3, threads=2)
    crn = sigma_flow(arch, X_SMALL, [1.0, 1.2], **kw)
    ind = sigma_flow(arch, X_SMALL, [1.0, 1.2], common_random_numbers=False, **kw)

    def diff_error(flow, scale=(1.0, 1.0)):
        c = flow.covariance["u4"] * np.outer(scale, scale)
        return np.sqrt(c[0, 0] + c[1, 1] - 2 * c[0, 1])

    factor = diff_error(ind) / diff_error(crn)
    # log u4(1.0) - log u4(1.2): the flow exponent between the two points
    log_scale = (1 / crn.couplings["u4"][0], 1 / crn.couplings["u4"][1])
    log_factor = diff_error(ind, log_scale) / diff_error(crn, log_scale)
    print(f"common random numbers shrink the error of u4(1.0) - u4(1.2) by {factor:.1f}x "
          f"and of log u4(1.0) - log u4(1.2) by {log_factor:.0f}x")
    assert factor > 1.5
    assert log_factor > 10
    assert np.corrcoef(crn.replicas["u4"].T)[0, 1] > 0.9
    assert ind.replicas is None and ind.covariance["u4"][0, 1] == 0


def test_flow_is_reproducible_and_round_trips(gauss_flow, tmp_path):
    again = sigma_flow(gauss_flow.arch, X_SMALL, gauss_flow.sigmas, n_networks=20_000,
                       seed=5, threads=1)
    np.testing.assert_array_equal(again.couplings["u4"], gauss_flow.couplings["u4"])
    gauss_flow.save(tmp_path / "flow.npz")
    back = nnqft.load(tmp_path / "flow.npz")
    np.testing.assert_array_equal(back.couplings["u4"], gauss_flow.couplings["u4"])
    np.testing.assert_array_equal(back.covariance["u4"], gauss_flow.covariance["u4"])
    assert back.exponent() == gauss_flow.exponent()
    assert back.arch == gauss_flow.arch


def test_dimensionless_coupling_is_sigma_independent(gauss_flow):
    """The renormalised coupling at k = m is constant along the exact flow (physics.md §4.2)."""
    exact_flow = type(gauss_flow)(**{**gauss_flow.__dict__,
                                     "couplings": gauss_flow.exact_couplings})
    u = exact_flow.dimensionless("u4")
    np.testing.assert_allclose(u, u[0], rtol=2e-3)
    with pytest.raises(ValueError, match="Gaussian kernel"):
        type(gauss_flow)(**{**gauss_flow.__dict__,
                            "arch": nnqft.Architecture("erf")}).dimensionless()


def test_frg_from_measured_ir_and_plot(gauss_flow):
    frg = gauss_flow.frg(scale_max=10.0)
    assert frg.couplings["u4"][0] == pytest.approx(gauss_flow.couplings["u4"][0])
    assert frg.errors["u4"][0] == pytest.approx(gauss_flow.errors["u4"][0], rel=1e-6)
    fig = gauss_flow.plot(frg=frg)
    assert len(fig.axes[0].lines) >= 3


def test_bad_flow_input():
    arch = nnqft.Architecture("gauss", width=5)
    with pytest.raises(ValueError, match="increasing"):
        sigma_flow(arch, X_SMALL, [2.0, 1.0], n_networks=100)
    with pytest.raises(ValueError, match="> 0"):
        sigma_flow(arch, X_SMALL, [0.0, 1.0], n_networks=100)
    with pytest.raises(ValueError, match="vary"):
        sigma_flow(arch, X_SMALL, [1.0, 2.0], n_networks=100, vary="q")


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_one_pass_grid_equals_separate_runs(estimator):
    """sample_grid draws each network once and rescales it: bit-identical to separate runs."""
    from nnqft.sampling import sample_grid

    base = nnqft.Architecture("tanh", width=6, depth=2, sigma_b=0.3)
    archs = [base.scaled("w", s) for s in (0.8, 1.0, 2.5)] + [base.scaled("b", 0.9)]
    grid = sample_grid(archs, X_SMALL * 50, 3_000, orders=(2, 4), estimator=estimator, seed=8,
                       threads=2)
    for a, corr in zip(archs, grid, strict=True):
        alone = nnqft.sample(a, X_SMALL * 50, 3_000, orders=(2, 4), estimator=estimator, seed=8)
        assert corr == alone
        np.testing.assert_array_equal(corr.connected(4)[0], alone.connected(4)[0])
    with pytest.raises(ValueError, match="share width"):
        sample_grid([base, base.replace(width=7)], X_SMALL, 100)
