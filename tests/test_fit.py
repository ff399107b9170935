"""Coupling fits: closed-form couplings from exact correlators, GLS on synthetic data."""

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest

from nnqft.architecture import Architecture
from nnqft.diagnostics import per_tuple_couplings, predict_g6, quartic_vertex
from nnqft.fit import (
    CONVENTION,
    CouplingFit,
    cutoff_scan,
    fit_couplings,
    fit_exact_like,
    hms_kappa,
    hms_lambda,
    u4_from_hms_lambda,
    u6_from_hms_kappa,
)
from nnqft.theory import exact, kernel
from nnqft.tuples import n_tuples, rank, tuples, wick
from nnqft.vertex import bilocal_integral, exchange_integral, moment_integral, vertex_integral

RELU_X = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
GAUSS_X = 0.01 * np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])  # HMS/ELS xset2
ERF_X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])


def relu(width=20, d_in=1):
    return Architecture("relu", width=width, d_in=d_in, sigma_w=1.0, sigma_b=0.0)


def gauss(width=20, sigma_b=1.0):
    return Architecture("gauss", width=width, sigma_w=1.0, sigma_b=sigma_b)


def connected(arch, x, orders=(4,)):
    return {n: exact(arch, x, n, connected=True) for n in orders}


# -- closed-form couplings from exact correlators (physics.md §3.6) ------------------
@pytest.mark.parametrize("cutoff", [7.0, 10.0, 50.0])
def test_relu_u4_every_tuple(cutoff):
    n = 20
    data = connected(relu(n), RELU_X, (4, 6))
    u4_t, err_t = per_tuple_couplings(data, relu(n), RELU_X, cutoff)
    np.testing.assert_allclose(u4_t * n * cutoff**5, -300.0, rtol=1e-8)
    assert np.all(err_t == 0)
    fit = fit_couplings(data, relu(n), RELU_X, cutoff, terms=("u4", "u6"))
    assert fit.values["u4"] * n * cutoff**5 == pytest.approx(-300.0, rel=1e-8)
    assert fit.values["u6"] * n**2 * cutoff**7 == pytest.approx(89040.0, rel=1e-8)
    assert fit.to_hms()["lambda"][0] * n * cutoff**5 == pytest.approx(-12.5, rel=1e-8)
    assert fit.valid and fit.errors == {"u4": 0.0, "u6": 0.0} and math.isnan(fit.pvalue)
    assert fit.ndof == n_tuples(6, 4) + n_tuples(6, 6) - 2
    assert fit.chi2 < 1e-25 * (data[6] @ data[6])


@pytest.mark.parametrize("sigma_b", [0.5, 1.0])
def test_gauss_small_x_limit(sigma_b):
    # u4 N -> -(3 exp(4 sigma_b^2) - 3) / sqrt(pi/2).  With |x| <= 1e-4 the relative
    # corrections are O(sum |x|^2) ~ 4e-8 (M4's exp(sum|x|^2) and I4's spread factor).
    n = 1000
    x = 1e-4 * np.array([-1.0, -0.3, 0.4, 1.0])
    data = connected(gauss(n, sigma_b), x)
    limit = -(3 * math.exp(4 * sigma_b**2) - 3) / math.sqrt(math.pi / 2)
    u4_t, _ = per_tuple_couplings(data, gauss(n, sigma_b), x)
    np.testing.assert_allclose(u4_t * n, limit, rtol=1e-6)
    fit = fit_couplings(data, gauss(n, sigma_b), x)
    assert fit.values["u4"] * n == pytest.approx(limit, rel=1e-6)


def test_gauss_xset2_numbers():
    # physics.md §3.6 / §4.2: tuple mean lambda N = -5.34568, u4 N = -128.2963
    n = 1000
    data = connected(gauss(n), GAUSS_X, (4, 6))
    u4_t, _ = per_tuple_couplings(data, gauss(n), GAUSS_X)
    assert hms_lambda(u4_t.mean()) * n == pytest.approx(-5.34568, abs=5e-6)
    assert u4_t.mean() * n == pytest.approx(-128.2963, abs=1e-4)
    assert np.std(hms_lambda(u4_t) * n) < 1e-3  # spread across tuples 6e-4
    fit = fit_couplings(data, gauss(n), GAUSS_X, terms=("u4", "u6"))
    assert fit.values["u4"] * n == pytest.approx(-128.296, abs=2e-3)
    # local projection of kappa6 at x -> 0: u6 N^2 ~ -2.1224e6 (O(x^2) off on xset2)
    assert fit.values["u6"] * n**2 == pytest.approx(-2.1224e6, rel=1e-3)


@pytest.mark.parametrize("d_in", [1, 2, 3])
def test_relu_cutoff_slopes(d_in):
    x = {1: RELU_X, 2: np.array([[0.5, 0.5], [0.5, 1.0], [1.0, 0.5], [1.0, 1.0]]),
         3: np.array([[0.2, 0.2, 0.2], [1, 1, 0.2], [0.2, 1, 1], [1, 0.2, 1]])}[d_in]
    arch = relu(20, d_in)
    scan = cutoff_scan(connected(arch, x), arch, x, [7, 10, 20, 50, 100])
    assert scan.slopes["u4"] == pytest.approx(-(4 + d_in), abs=1e-9)
    assert scan.slope_errors["u4"] == 0.0
    assert len(scan.fits) == 5 and np.all(scan.values("u4") < 0)


def test_erf_large_cutoff_slope():
    # K_EFT tends to a non-zero constant as |y| -> inf, so I4 ~ L and u4 ~ 1/L (§3.4)
    arch = Architecture("erf", width=5, sigma_w=1.0, sigma_b=1.0)
    scan = cutoff_scan(connected(arch, ERF_X), arch, ERF_X, [1e4, 3e4, 1e5])
    assert scan.slopes["u4"] == pytest.approx(-1.0, abs=2e-3)


def test_peer_bias_bug_guard():
    # physics.md §7 item 9: the connected part must subtract Wick(K) with the full kernel;
    # then N u4 is width independent (u4 -> 0 as 1/N).  Subtracting Wick(K - sigma_b^2)
    # instead leaves a width-independent u4 offset.
    x = ERF_X
    n_u4, buggy = [], []
    for n in (10, 100, 1000, 10000):
        arch = Architecture("erf", width=n, sigma_w=1.0, sigma_b=1.0)
        g4 = exact(arch, x, 4, connected=False)
        k = kernel(arch, x)
        kappa4 = g4 - wick(k, 4)
        np.testing.assert_allclose(kappa4, exact(arch, x, 4, connected=True), rtol=1e-9,
                                   atol=1e-13 * np.abs(g4).max())
        n_u4.append(n * fit_couplings({4: kappa4}, arch, x, 10.0).values["u4"])
        wrong = g4 - wick(k - arch.sigma_b_layers[-1] ** 2, 4)
        buggy.append(fit_couplings({4: wrong}, arch, x, 10.0).values["u4"])
    np.testing.assert_allclose(n_u4, n_u4[0], rtol=1e-9)
    assert abs(buggy[-1]) > 0.5 * abs(buggy[0]) > 0  # the bug: no 1/N decay


# -- a fake sampled correlator with a known covariance --------------------------------------
class FakeCorrelators:
    """Exact values plus Gaussian noise: B bin means drawn from N(mu, B C).

    Implements the sampled-correlator protocol: the grand mean has covariance C and the
    delete-one-bin replicas give its jackknife estimate.  Orders share bins.
    """

    def __init__(self, arch, x, means, cov, n_bins, seed):
        self.arch, self.x = arch, np.asarray(x, float).reshape(len(x), -1)
        self.k, self.orders, self.n_networks = len(self.x), tuple(sorted(means)), 10**6
        mu = np.concatenate([means[n] for n in self.orders])
        chol = np.linalg.cholesky(cov)
        rng = np.random.default_rng(seed)
        self._bins = mu + math.sqrt(n_bins) * (chol @ rng.normal(size=(len(mu), n_bins))).T
        edges = np.cumsum([0] + [len(means[n]) for n in self.orders])
        self._slices = {n: slice(a, b) for n, a, b in zip(self.orders, edges[:-1], edges[1:],
                                                           strict=True)}

    def replicas(self, n, connected=True):
        bins = self._bins[:, self._slices[n]]
        return (bins.sum(axis=0) - bins) / (len(bins) - 1)

    def connected_covariance(self, n):
        r = self.replicas(n)
        d = r - r.mean(axis=0)
        return (len(r) - 1) / len(r) * d.T @ d

    def connected(self, n):
        return self._bins[:, self._slices[n]].mean(axis=0), np.sqrt(
            np.diag(self.connected_covariance(n)))


def smooth_covariance(values, centres, rel, corr_length, nugget=1e-3):
    """Correlated errors of relative size ``rel``: smooth in the tuple centres + a nugget."""
    s = rel * np.abs(values)
    dist2 = (centres[:, None] - centres[None, :]) ** 2
    rho = (1 - nugget) * np.exp(-dist2 / (2 * corr_length**2)) + nugget * np.eye(len(values))
    return rho * np.outer(s, s)


def local_truth(arch, x, cutoff, u4, u6=None):
    """Correlators that a local theory with couplings u4 (u6) would produce exactly."""
    out = {4: -u4 * vertex_integral(arch, x, 4, cutoff)}
    if u6 is not None:
        out[6] = -u6 * vertex_integral(arch, x, 6, cutoff) + u4**2 * exchange_integral(
            arch, x, cutoff)
    return out


def fake_local(n_bins, seed, rel=(0.05, 0.05), cross=0.0, k=5):
    """Gauss-net vertex integrals with known couplings plus correlated noise."""
    arch = gauss(100)
    x = np.linspace(-0.8, 0.8, k)
    means = local_truth(arch, x, np.inf, -1.3, 25.0)
    c4 = smooth_covariance(means[4], x[tuples(k, 4)].mean(1), rel[0], 0.4)
    c6 = smooth_covariance(means[6], x[tuples(k, 6)].mean(1), rel[1], 0.4)
    c46 = np.zeros((len(c4), len(c6)))
    if cross:
        first4 = rank(tuples(k, 6)[:, :4], k)
        c46 = cross * c4[:, first4] / np.sqrt(np.diag(c4))[first4] * np.sqrt(np.diag(c6))
    cov = np.block([[c4, c46], [c46.T, c6]])
    ev, vec = np.linalg.eigh(cov)
    cov = (vec * np.maximum(ev, 1e-6 * ev.max())) @ vec.T
    return arch, x, means, cov, FakeCorrelators(arch, x, means, cov, n_bins, seed)


def test_gls_known_covariance_chi2_and_errors():
    arch, x, means, cov, corr = fake_local(1000, seed=3, k=4)
    fit = fit_couplings(corr, arch, x, terms=("u4", "u6"))
    assert fit.valid
    assert abs(fit.values["u4"] + 1.3) < 5 * fit.errors["u4"]
    assert abs(fit.values["u6"] - 25.0) < 5 * fit.errors["u6"]
    # all residual modes kept (q = T - p) and chi2 consistent with its Hotelling law
    assert fit.ndof == n_tuples(4, 4) + n_tuples(4, 6) - 2
    assert abs(fit.chi2 - fit.ndof) < 5 * math.sqrt(2 * fit.ndof) + 0.1 * fit.ndof
    assert fit.pvalue > 1e-4
    # the u4 error agrees with the GLS error for the true covariance
    x4 = -vertex_integral(arch, x, 4)[:, None]
    c4 = cov[: len(x4), : len(x4)]
    gls_err = math.sqrt(1 / (x4.T @ np.linalg.solve(c4, x4))[0, 0])
    assert fit.errors["u4"] == pytest.approx(gls_err, rel=0.15)


def test_gls_few_bins_shrinks_and_stays_honest():
    # B = 64 bins < T = 70 tuples: singular jackknife covariance, shrinkage mandatory
    arch, x, means, cov, corr = fake_local(64, seed=4)
    fit = fit_couplings(corr, arch, x)
    lam = float(fit.regularisation.split("λ4 = ")[1].split(" ")[0])
    assert 0 < lam < 1
    assert abs(fit.values["u4"] + 1.3) < 5 * fit.errors["u4"]
    assert fit.ndof == 15  # cap n // 2 with n = 32 - 1 odd bins
    assert fit.pvalue > 1e-4
    fixed = fit_couplings(corr, arch, x, shrinkage=0.5)
    assert "λ4 = 0.5" in fixed.regularisation
    with pytest.raises(ValueError, match="singular"):
        fit_couplings(corr, arch, x, shrinkage=0.0)


def test_u6_error_carries_the_u4_uncertainty():
    # one input: u6 = (u4^2 E6 - kappa6) / I6 exactly, and with an almost noiseless kappa6
    # the u6 error is the propagated u4 error, |2 u4 E6 / I6| du4
    arch = gauss(100)
    x = np.array([0.3])
    means = local_truth(arch, x, np.inf, -1.3, 25.0)
    cov = np.diag([(0.05 * means[4][0]) ** 2, (1e-7 * means[6][0]) ** 2])
    fit = fit_couplings(FakeCorrelators(arch, x, means, cov, 400, seed=5), arch, x,
                        terms=("u4", "u6"))
    i6, e6 = vertex_integral(arch, x, 6)[0], exchange_integral(arch, x)[0]
    propagated = abs(2 * fit.values["u4"] * e6 / i6) * fit.errors["u4"]
    assert fit.errors["u6"] == pytest.approx(propagated, rel=0.02)
    assert abs(fit.correlation[0, 1]) > 0.99
    assert abs(fit.values["u6"] - 25.0) < 5 * fit.errors["u6"]


def test_goodness_of_fit_detects_non_locality():
    # Gauss-net correlators at O(1) inputs are not local; 0.5% errors reveal it
    arch = gauss(100, sigma_b=0.5)
    x = np.linspace(-1.0, 1.0, 5)
    means = connected(arch, x)
    cov = smooth_covariance(means[4], x[tuples(5, 4)].mean(1), 0.005, 0.4)
    corr = FakeCorrelators(arch, x, means, cov, 64, seed=6)
    fit = fit_couplings(corr, arch, x)
    assert fit.pvalue < 1e-6 and fit.chi2 > 10 * fit.ndof


def test_cutoff_scan_slope_error_from_replicas():
    arch, x, means, cov, corr = fake_local(200, seed=7, k=4)
    scan = cutoff_scan(corr, arch, x, [1.0, 1.5, 2.0, 3.0])
    assert np.isfinite(scan.slope_errors["u4"]) and scan.slope_errors["u4"] > 0
    # slope of log|u4| is the data-independent -dlog I4/dlog L up to the noise in the shape
    exact_scan = cutoff_scan(means, arch, x, [1.0, 1.5, 2.0, 3.0])
    assert abs(scan.slopes["u4"] - exact_scan.slopes["u4"]) < 5 * scan.slope_errors["u4"]
    assert "CutoffScan over 4 cutoffs" in repr(scan) and "CutoffScan over 4 cutoffs" in str(scan)
    json.dumps(scan.to_dict())


# -- predictions of G6 ---------------------------------------------------------------
def test_predict_g6_exact_relu():
    n = 20
    arch = relu(n)
    data = connected(arch, RELU_X, (4, 6))
    fit = fit_couplings(data, arch, RELU_X, 10.0, terms=("u4", "u6"))
    pred = predict_g6(fit, data, arch, RELU_X, quantity="g6")
    np.testing.assert_allclose(pred.predicted, exact(arch, RELU_X, 6), rtol=1e-10)
    np.testing.assert_allclose(pred.measured, exact(arch, RELU_X, 6), rtol=1e-12)
    only_u4 = fit_couplings(data, arch, RELU_X, 10.0)
    kappa6 = predict_g6(only_u4, data, arch, RELU_X, quantity="kappa6").predicted
    np.testing.assert_allclose(kappa6, only_u4.values["u4"] ** 2 * exchange_integral(
        arch, RELU_X, 10.0), rtol=1e-12)


def test_predict_g6_sampled_consistent():
    arch, x, means, cov, corr = fake_local(200, seed=8, cross=0.3, k=4)
    fit = fit_couplings(corr, arch, x, terms=("u4", "u6"))
    pred = predict_g6(fit, corr)
    assert pred.ndof > 0 and pred.pvalue > 1e-4
    assert pred.predicted.shape == (n_tuples(4, 6),)
    # a wrong u4 is detected
    wrong = dataclasses.replace(fit, values={"u4": 1.5 * fit.values["u4"], "u6": fit.values["u6"]},
                                replicas=fit.replicas * np.array([1.5, 1.0]))
    assert predict_g6(wrong, corr).pvalue < 1e-6


# -- the amputated vertex ------------------------------------------------------------------
def test_quartic_vertex_reattaching_legs_gives_kappa4():
    # well separated inputs keep K well conditioned (the amputation multiplies by K^-1
    # four times, so re-attaching the legs loses ~ cond(K)^4 eps otherwise)
    arch = Architecture("erf", width=10, sigma_w=1.0, sigma_b=0.5)
    x = np.array([-2.0, 0.0, 1.5])
    kappa4 = exact(arch, x, 4, connected=True)
    vert, err = quartic_vertex(kappa4, arch, x)
    assert np.all(err == 0)
    k = kernel(arch, x)
    assert np.linalg.cond(k) < 100
    dense = vert[_dense_rank(3)].reshape((3,) * 4)
    back = -np.einsum("ia,jb,kc,ld,abcd->ijkl", k, k, k, k, dense)
    t = tuples(3, 4)
    np.testing.assert_allclose(back[t[:, 0], t[:, 1], t[:, 2], t[:, 3]], kappa4, rtol=1e-10,
                               atol=1e-13 * np.abs(kappa4).max())
    inv = np.linalg.inv(k)
    direct = -np.einsum("ia,jb,kc,ld,abcd->ijkl", inv, inv, inv, inv,
                        kappa4[_dense_rank(3)].reshape((3,) * 4))
    np.testing.assert_allclose(vert, direct[t[:, 0], t[:, 1], t[:, 2], t[:, 3]], rtol=1e-10)
    eft, _ = quartic_vertex(kappa4, arch, x, subtract_zero_mode=True)
    assert not np.allclose(eft, vert)


def _dense_rank(k):
    return rank(np.array(list(itertools.product(range(k), repeat=4))), k)


def test_quartic_vertex_rank_one_relu():
    # K = x x^T / 2 has rank one, K^+ = 2 x x^T / |x|^4; kappa4 = c prod x gives
    # V = -c prod_i (K^+ x)_i = -16 c prod x / |x|^8
    arch = relu(20)
    kappa4 = exact(arch, RELU_X, 4, connected=True)
    vert, _ = quartic_vertex(kappa4, arch, RELU_X)
    c = 15 / (4 * 20)
    np.testing.assert_allclose(kappa4, c * np.prod(RELU_X[tuples(6, 4)], axis=1), rtol=1e-12)
    expect = -16 * c * np.prod(RELU_X[tuples(6, 4)], axis=1) / (RELU_X @ RELU_X) ** 4
    np.testing.assert_allclose(vert, expect, rtol=1e-9)


def test_quartic_vertex_errors_are_linear_propagation():
    arch, x, means, cov, corr = fake_local(200, seed=9, k=4)
    vert, err = quartic_vertex(corr, arch, x)
    k = kernel(arch, x)
    inv = np.linalg.pinv(k, rcond=1e-10, hermitian=True)
    dense = _dense_rank(len(x))
    t = tuples(len(x), 4)
    # the linear map kappa4 -> vertex, column by column
    cols = []
    for j in range(len(t)):
        e = np.zeros(len(t))
        e[j] = 1.0
        d = e[dense].reshape((len(x),) * 4)
        v = -np.einsum("ia,jb,kc,ld,abcd->ijkl", inv, inv, inv, inv, d)
        cols.append(v[t[:, 0], t[:, 1], t[:, 2], t[:, 3]])
    m = np.array(cols).T
    cov4 = corr.connected_covariance(4)
    np.testing.assert_allclose(err, np.sqrt(np.diag(m @ cov4 @ m.T)), rtol=1e-8)
    np.testing.assert_allclose(vert, m @ corr.connected(4)[0], rtol=1e-8)


# -- result objects, conventions, validation ---------------------------------------------------
GOLDEN_REPR = """\
CouplingFit (valid), cutoff Λ = 10
χ²/ndof = 12.35/15, p-value = 0.654
ELS: Γ ⊃ u4/4! φ⁴ + u6/6! φ⁶; ΔG4 = −u4 ∫ΠK_EFT over [−Λ,Λ]^d
note: fixed numbers
┌──────┬───────────────┬───────────┐
│ term │         value │     error │
├──────┼───────────────┼───────────┤
│ u4   │ -1.282960e-01 │ 2.500e-03 │
│ u6   │  1.234500e+03 │ 6.780e+01 │
└──────┴───────────────┴───────────┘"""


def golden_fit():
    return CouplingFit(
        values={"u4": -0.128296, "u6": 1234.5}, errors={"u4": 2.5e-3, "u6": 67.8},
        covariance=np.array([[6.25e-6, 0.05], [0.05, 4596.84]]), parameters=("u4", "u6"),
        chi2=12.3456, ndof=15, pvalue=0.6543, valid=True, regularisation="note: fixed numbers",
        convention=CONVENTION, cutoff=10.0,
    )


def test_repr_golden():
    assert str(golden_fit()) == GOLDEN_REPR
    assert repr(golden_fit()) == ("<CouplingFit u4=-0.1283 ± 0.0025, u6=1234 ± 68; "
                                  "χ²/ndof=12.3/15, Λ=10>")
    html = golden_fit()._repr_html_()
    assert "<table>" in html and "-1.282960e-01" in html and "&lt;" not in GOLDEN_REPR


def test_to_dict_and_conventions():
    fit = golden_fit()
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["values"] == {"u4": -0.128296, "u6": 1234.5} and d["convention"] == CONVENTION
    assert d["parameters"] == ["u4", "u6"] and d["ndof"] == 15
    hms = fit.to_hms()
    assert hms["lambda"] == pytest.approx((-0.128296 / 24, 2.5e-3 / 24))
    assert hms["kappa"] == pytest.approx((1234.5 / 720, 67.8 / 720))
    assert u4_from_hms_lambda(hms_lambda(-3.0)) == -3.0
    assert u6_from_hms_kappa(hms_kappa(7.0)) == pytest.approx(7.0)
    assert hms_lambda(24.0) == 1.0 and hms_kappa(720.0) == 1.0
    assert fit.correlation[0, 1] == pytest.approx(0.05 / (2.5e-3 * 67.8))


def test_nonlocal_templates():
    # a correlator built from known u4, d2 and bilocal couplings is recovered exactly
    arch = gauss(100)
    x = np.linspace(-1.0, 1.0, 5)
    kappa4 = (1.1 * vertex_integral(arch, x, 4) - 0.4 * moment_integral(arch, x, 4)
              + 0.25 * bilocal_integral(arch, x))
    fit = fit_couplings({4: kappa4}, arch, x, terms=("bilocal", "u4", "d2"))
    assert fit.parameters == ("u4", "d2", "bilocal")
    for t, v in (("u4", -1.1), ("d2", 0.4), ("bilocal", -0.25)):
        assert fit.values[t] == pytest.approx(v, rel=1e-9)
    assert set(fit.to_hms()) == {"lambda", "lambda_2", "lambda_nl"}


def test_argument_errors():
    arch = relu()
    data = connected(arch, RELU_X, (4,))
    with pytest.raises(ValueError, match="terms"):
        fit_couplings(data, arch, RELU_X, 10.0, terms=("u8",))
    with pytest.raises(ValueError, match="needs u4"):
        fit_couplings(data, arch, RELU_X, 10.0, terms=("d2", "u6"))
    with pytest.raises(ValueError, match="non-local"):
        fit_couplings(data, arch, RELU_X, 10.0, terms=("u4", "d2", "u6"))
    with pytest.raises(ValueError, match="linearly dependent"):
        fit_couplings(data, arch, RELU_X, 10.0, terms=("u4", "d2"))
    with pytest.raises(ValueError, match="order 6"):
        fit_couplings(data, arch, RELU_X, 10.0, terms=("u4", "u6"))
    with pytest.raises(ValueError, match="shape"):
        fit_couplings({4: data[4][:-1]}, arch, RELU_X, 10.0)
    with pytest.raises(ValueError, match="cutoff = inf"):
        fit_couplings(data, arch, RELU_X)
    with pytest.raises(ValueError, match="cutoffs"):
        cutoff_scan(data, arch, RELU_X, [10.0])
    with pytest.raises(TypeError, match="dict"):
        fit_couplings([1, 2, 3], arch, RELU_X, 10.0)
    garch, x, _, _, corr = fake_local(16, seed=0)
    with pytest.raises(ValueError, match="sampled for"):
        fit_couplings(corr, gauss(30), x)
    with pytest.raises(ValueError, match="different inputs"):
        fit_couplings(corr, garch, x + 0.1)


# -- the real sampler --------------------------------------------------------------------------
def test_sampled_relu_matches_exact_coupling():
    nnqft = pytest.importorskip("nnqft")
    if not hasattr(nnqft, "sample"):
        pytest.skip("nnqft.sample is not available")
    n, cutoff = 20, 10.0
    arch = relu(n)
    corr = nnqft.sample(arch, RELU_X, n_networks=200_000, orders=(2, 4, 6),
                        estimator="conditional", seed=11)
    fit = fit_couplings(corr, arch, RELU_X, cutoff, terms=("u4", "u6"))
    assert fit.valid
    assert abs(fit.values["u4"] * n * cutoff**5 + 300) < 5 * fit.errors["u4"] * n * cutoff**5
    assert abs(fit.values["u6"] * n**2 * cutoff**7 - 89040) < (
        5 * fit.errors["u6"] * n**2 * cutoff**7)
    # every network is linear on positive inputs, f = A x: the 126 (462) tuples carry one
    # number each, the local form is exact and no residual mode is left (chi2 = 0, ndof = 0)
    assert fit.ndof == 0 and fit.chi2 == 0.0 and math.isnan(fit.pvalue)


def test_sampled_erf_goodness_of_fit_against_exact():
    # the chi2 machinery on real sampler output: measured minus exact kappa4 (no fitted
    # parameter) must look like noise, chi2/ndof ~ 1 (a local fit of the same data is
    # rejected: Erf-net correlators are not local)
    nnqft = pytest.importorskip("nnqft")
    if not hasattr(nnqft, "sample"):
        pytest.skip("nnqft.sample is not available")
    from nnqft.statistics import hotelling_chi2

    arch = Architecture("erf", width=5, sigma_w=1.0, sigma_b=1.0)
    corr = nnqft.sample(arch, ERF_X, n_networks=100_000, orders=(2, 4),
                        estimator="conditional", seed=12)
    reps = corr.replicas(4, connected=True)
    kappa4 = exact(arch, ERF_X, 4, connected=True)
    chi2, ndof, pvalue, _ = hotelling_chi2(corr.connected(4)[0] - kappa4, reps, reps)
    assert ndof == 15 and pvalue > 1e-3
    fit = fit_couplings(corr, arch, ERF_X, 100.0)
    assert fit.pvalue < 1e-6


def test_fit_exact_like_does_not_depend_on_the_sample():
    # a non-local erf-net: the GLS fit of the sampled data and any fit of the exact values
    # estimate different projections. fit_exact_like fits the theory with fixed weights
    # (it used the sample's GLS weights, and moved with the seed); compare_with_theory
    # fits the sample with the same weights, so the two agree within the sampled error
    nnqft = pytest.importorskip("nnqft")
    from nnqft.fit import compare_with_theory

    arch = Architecture("erf", width=5, sigma_w=1.0, sigma_b=1.0)
    corr = nnqft.sample(arch, ERF_X, n_networks=50_000, orders=(2, 4),
                        estimator="conditional", seed=13)
    like = fit_exact_like(corr, cutoff=100.0)
    assert like.values == fit_exact_like(None, arch, ERF_X, cutoff=100.0).values
    assert like.values == fit_couplings({4: exact(arch, ERF_X, 4, connected=True)}, arch, ERF_X,
                                         100.0, weights="kernel").values
    assert like.chi2 > 0 and like.errors["u4"] == 0.0
    cmp = compare_with_theory(corr, cutoff=100.0)
    assert cmp.theory.values == like.values
    assert abs(cmp.pulls["u4"]) < 5
    assert cmp.sampled.errors["u4"] > 0 and cmp.sampled.regularisation.startswith("fixed")
    assert fit_couplings(corr, arch, ERF_X, 100.0).pvalue < 1e-6  # GLS: local form rejected
