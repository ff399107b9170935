"""Next-to-leading (1/N^2) theory of deep networks: finite_width(order=2), physics-deep.md §5."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

import nnqft
from nnqft import _resources, gaussian
from nnqft import deep_theory as fw
from nnqft.tuples import matchings, moments_from_cumulants, pair_index, tuples

IntArray = NDArray[np.int64]


def arch(act: str, depth: int, sw: float | list[float] = 1.0, sb: float | list[float] = 0.0,
         d_in: int = 1, width: int = 100) -> nnqft.Architecture:
    return nnqft.Architecture(act, width=width, d_in=d_in, depth=depth, sigma_w=sw, sigma_b=sb)


X2 = np.array([[0.3, 1.1], [-0.7, 0.4], [1.2, -0.5], [0.2, 0.9]])
RAY = np.array([[0.3], [1.0], [2.5]])
SIGMAS = [1.3, 1.4, 0.9, 1.2, 1.1, 0.8]


# -- exact anchors --------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize(("act", "u1", "u2", "w2"), [("relu", 44, 75, 12.5), ("linear", 8, 12, 2)])
def test_ray_anchors(act, u1, u2, w2, depth):
    """On a ray with sigma_b = 0 the squared norm is multiplied per layer by an independent
    m with E m = 1, E m^2 = 1 + c/N, E m^3 = (1 + a/N)(1 + b/N) (relu c = 5, (a, b) = (4, 11);
    linear c = 2, (2, 4)), so U / (K K K) = u1 L + u2 L(L-1), W / (K K) = w2 L(L-1), K1 = K2 = 0,
    whatever the per-layer sigma_w."""
    th = nnqft.finite_width(arch(act, depth, SIGMAS[: depth + 1]), RAY, order=2)
    kern = th.kernel()[tuples(3, 2)[:, 0], tuples(3, 2)[:, 1]]
    kkk = kern[:, None, None] * kern[None, :, None] * kern[None, None, :]
    np.testing.assert_allclose(th.cubic_vertex() / kkk, u1 * depth + u2 * depth * (depth - 1),
                               rtol=1e-9)
    np.testing.assert_allclose(th.vertex_correction() / np.outer(kern, kern),
                               w2 * depth * (depth - 1), rtol=1e-8, atol=1e-9)
    scale = np.abs(th.kernel()).max()
    np.testing.assert_allclose(th.kernel_correction(), 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(th.kernel_correction2(), 0.0, atol=1e-10 * scale)


@pytest.mark.parametrize(("act", "rtol"), [("erf", 1e-7), ("relu", 1e-10), ("linear", 1e-12),
                                           ("gauss", 1e-12), ("cos", 1e-12), ("tanh", 1e-6)])
def test_depth_one_kappa6_equals_exact(act, rtol):
    """Depth 1: U = sigma_w^6 kappa3(phi phi) at the input kernel, W = K2 = 0, and the
    correlators up to order 6 are the exact finite-width ones."""
    a = arch(act, 1, [1.4, 0.8], [0.5, 0.3], d_in=2, width=37)
    th = nnqft.finite_width(a, X2, order=2)
    for n in (4, 6):
        exact = nnqft.exact(a, X2, n, connected=True)
        np.testing.assert_allclose(th.connected(n), exact, rtol=rtol, atol=rtol * np.abs(exact).max())
    exact6 = nnqft.exact(a, X2, 6)
    np.testing.assert_allclose(th.mean(6), exact6, rtol=rtol, atol=rtol * np.abs(exact6).max())
    assert np.all(th.kernel_correction2() == 0.0) and np.all(th.vertex_correction() == 0.0)


def test_erf_depth_one_in_general_position():
    """Six distinct inputs in d_in = 5 (a rank-6 kernel, beyond theory.exact's rank <= 3):
    the 2-D Plackett reduction against a Monte Carlo of the one-neuron kappa3."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 5))
    a = arch("erf", 1, [1.2, 1.0], [0.3, 0.0], d_in=5, width=10)
    u = nnqft.finite_width(a, x, order=2).cubic_vertex()
    cov = 0.09 + 1.44 * x @ x.T / 5
    z = rng.multivariate_normal(np.zeros(6), cov, size=400_000)
    from scipy import special
    phi = special.erf(z)
    p = pair_index(6)
    for (i, j), (k, m), (r, s) in [((0, 1), (2, 3), (4, 5)), ((0, 0), (1, 2), (3, 5)),
                                   ((1, 1), (1, 1), (2, 4))]:
        o = [phi[:, i] * phi[:, j], phi[:, k] * phi[:, m], phi[:, r] * phi[:, s]]
        c = [v - v.mean() for v in o]
        sample = c[0] * c[1] * c[2]
        assert abs(u[p[i, j], p[k, m], p[r, s]] - sample.mean()) < 5 * sample.std() / np.sqrt(len(z))


def test_relu_six_point_rank_six_against_monte_carlo():
    """Stein's reduction with orthant probabilities of up to six variables (full rank)."""
    rng = np.random.default_rng(7)
    m = rng.normal(size=(6, 6))
    cov = m @ m.T / 6 + 0.2 * np.eye(6)
    m6 = gaussian.product_moments("relu", cov, 6)
    z = np.maximum(rng.multivariate_normal(np.zeros(6), cov, size=1_000_000), 0.0)
    t6 = tuples(6, 6)
    for row in (0, 100, 300, len(t6) - 1):
        f = np.prod(z[:, t6[row]], axis=1)
        assert abs(m6[row] - f.mean()) < 5 * f.std() / np.sqrt(len(f)), row


def test_relu_rank_four_first_layer_against_monte_carlo():
    """Five inputs in d_in = 3 (a rank-4 first-layer kernel: neither Stein's reduction nor
    the spherical rule applies directly): the regularised, extrapolated Stein reduction
    against a Monte Carlo of the one-neuron kappa3, and tanh's eigenbasis tensor rule likewise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    u = nnqft.finite_width(arch("relu", 1, 1.3, 0.3, d_in=3), x, order=2).cubic_vertex()
    cov = 0.09 + 1.69 * x @ x.T / 3
    z = np.maximum(rng.multivariate_normal(np.zeros(5), cov, size=1_000_000), 0.0)
    p = pair_index(5)
    z_tanh = np.tanh(rng.multivariate_normal(np.zeros(5), cov, size=1_000_000))
    u_tanh = nnqft.finite_width(arch("tanh", 1, 1.3, 0.3, d_in=3), x, order=2).cubic_vertex()
    for vertex, samples in ((u, z), (u_tanh, z_tanh)):
        for (i, j), (k, m), (r, s) in [((0, 1), (2, 3), (4, 4)), ((1, 2), (3, 4), (0, 1))]:
            c = [v - v.mean() for v in (samples[:, i] * samples[:, j], samples[:, k] * samples[:, m],
                                        samples[:, r] * samples[:, s])]
            sample = c[0] * c[1] * c[2] * 1.3**6
            assert abs(vertex[p[i, j], p[k, m], p[r, s]] - sample.mean()) < 5 * sample.std() / 1000.0


def test_singular_relu_extrapolation_against_spherical_rule():
    """Where the spherical rule is exact (rank 3, five inputs), the regularised Stein
    reduction extrapolated to zero regularisation agrees with it to 1e-10."""
    rng = np.random.default_rng(3)
    loadings = rng.normal(size=(5, 3))
    cov = loadings @ loadings.T
    exact = gaussian.product_moments("relu", cov, 6)
    sets = [s for s in gaussian._input_sets(5, 6) if len(s[0]) == 5]
    var, rows, local, powers = sets[0]
    sub = cov[np.ix_(var, var)]
    eps = gaussian._RELU_REGULARISATION
    values = [np.array([gaussian.truncated_moment((sub + e * np.diag(np.diag(sub)))[None], p)[0]
                        for p in powers]) for e in (eps, 2 * eps)]
    np.testing.assert_allclose(2 * values[0] - values[1], exact[rows], rtol=1e-10)


@pytest.mark.parametrize(("act", "sb"), [("erf", 0.3), ("relu", 0.2), ("relu", 0.0)])
def test_repeated_input_is_the_same_input(act, sb):
    """A repeated input is the same random variable at every layer: every entry of K2, W
    and U that involves the copy equals the one with the original (the pair (a, a') goes
    through the three-variable jets on the collinear set, the pair (a, a) through the
    one-variable ones)."""
    x2 = np.array([[0.3, 1.1], [-0.7, 0.4]])
    x3 = np.array([[0.3, 1.1], [-0.7, 0.4], [0.3, 1.1]])
    a = arch(act, 3, [1.2, 1.4, 1.1, 0.9], sb, d_in=2)
    small, big = (nnqft.finite_width(a, x, order=2) for x in (x2, x3))
    same = np.array([0, 1, 0])  # input of x3 -> input of x2
    t3 = tuples(3, 2)
    m = pair_index(2)[same[t3[:, 0]], same[t3[:, 1]]]  # pair of x3 -> pair of x2
    scale = np.abs(small.cubic_vertex()).max()
    np.testing.assert_allclose(big.kernel_correction2(), small.kernel_correction2()[np.ix_(same, same)],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(big.vertex_correction(), small.vertex_correction()[np.ix_(m, m)],
                               rtol=1e-7, atol=1e-9 * np.abs(small.vertex_correction()).max())
    np.testing.assert_allclose(big.cubic_vertex(), small.cubic_vertex()[np.ix_(m, m, m)],
                               rtol=1e-8, atol=1e-10 * scale)


def test_erf_sanity_values():
    """physics-deep.md §5: erf, x = 0.8, sigma_w = 1.5, sigma_b = 0.3, L = 3 (finite
    differences there, so only rough: K2 ~ -0.098, W ~ 0.028, U ~ 0.0075)."""
    th = nnqft.finite_width(arch("erf", 3, 1.5, 0.3), [[0.8]], order=2)
    assert th.kernel_correction2()[0, 0] == pytest.approx(-0.098, abs=1e-3)
    assert th.vertex_correction()[0, 0] == pytest.approx(0.028, abs=1e-3)
    assert th.cubic_vertex()[0, 0, 0] == pytest.approx(0.0075, abs=1e-4)
    # the leading arrays are those of the order-1 theory, bit for bit
    lo = nnqft.finite_width(arch("erf", 3, 1.5, 0.3), [[0.8]])
    np.testing.assert_array_equal(th.vertex(), lo.vertex())
    np.testing.assert_array_equal(th.kernel_correction(), lo.kernel_correction())


def test_finite_difference_step_converged():
    """tau's derivatives by Richardson central differences: halving the relative step
    (0.01 -> 0.005 of the distance to a singular kernel) moves W and U by < 1e-7 relative."""
    a = arch("relu", 3, [1.2, 1.5, 1.3, 1.1], [0.2, 0.4, 0.1, 0.3], d_in=2)
    base = fw._recursion(a, X2[:3], order=2)
    old = fw._FD_ETA
    try:
        fw._FD_ETA = old / 2
        fine = fw._recursion(a, X2[:3], order=2)
    finally:
        fw._FD_ETA = old
    for b, f in zip(base[3:], fine[3:], strict=True):
        np.testing.assert_allclose(b, f, rtol=0, atol=1e-7 * np.abs(f).max())


def test_six_sign_moment_against_genz():
    """P(z > 0) of 6 variables (it contains the 6-sign moment, Plackett's 2-D reduction)
    against scipy's Genz integration."""
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6, 6))
    cov = m @ m.T / 6 + 0.05 * np.eye(6)  # smallest correlation eigenvalue ~0.04
    ref = stats.multivariate_normal(np.zeros(6), cov, abseps=1e-9, releps=0,
                                     maxpts=2 * 10**6).cdf(np.zeros(6))
    assert gaussian.orthant(cov[None])[0] == pytest.approx(ref, abs=2e-8)


def _powers(m: int, n: int) -> tuple[IntArray, tuple[tuple[int, ...], ...]]:
    """All sorted n-tuples of m inputs and each one's multiplicity of every input."""
    t = tuples(m, n)
    return t, tuple(tuple(int((row == j).sum()) for j in range(m)) for row in t)


def test_tanh_moments_against_independent_rules():
    """The eigenbasis tensor rule of tanh products against the spherical rule (rank 3: six
    inputs, every sorted 6-tuple) and the Kolmogorov mixture of 4-sign moments (full rank 4)."""
    rng = np.random.default_rng(3)
    load = rng.normal(size=(6, 3)) * 0.8
    t, powers = _powers(6, 6)
    some = rng.choice(len(t), 40, replace=False)
    spherical = nnqft.gaussian.loadings_measure("tanh", load).moment_on(t[some])
    np.testing.assert_allclose(gaussian.tanh_moments(load @ load.T, tuple(powers[i] for i in some)),
                               spherical, rtol=0, atol=5e-8)
    for _ in range(3):
        m = rng.normal(size=(4, 4))
        cov = 0.4 * m @ m.T + 0.5
        assert gaussian.tanh_moments(cov, ((1, 1, 1, 1),))[0] == pytest.approx(
            gaussian.tanh_four(cov[None])[0], abs=1e-8)


def test_tanh_six_inputs_converged(monkeypatch):
    """Six inputs of a deep tanh layer (full rank): the 6-tuples over all six and over five
    of them move by < 5e-8 when each axis gets the rule of a 1.3x wider integrand."""
    x = np.linspace(-1, 1, 6)[:, None]
    cov = nnqft.kernel(arch("tanh", 2, 1.5, 0.3), x)
    t, powers = _powers(6, 6)
    rows = [i for i, row in enumerate(t) if set(row.tolist()) in ({0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4})]
    base = gaussian.tanh_moments(cov, tuple(powers[i] for i in rows))
    coarse_rule = gaussian._tanh_axis_rule
    monkeypatch.setattr(gaussian, "_tanh_axis_rule", lambda scale: coarse_rule(1.3 * scale))
    fine = gaussian.tanh_moments(cov, tuple(powers[i] for i in rows))
    np.testing.assert_allclose(base, fine, rtol=0, atol=5e-8)


def test_tanh_refuses_unconverged_grids(monkeypatch):
    monkeypatch.setattr(gaussian, "_TANH_MAX_NODES", 1000)
    with pytest.raises(NotImplementedError, match="tensor rule"):
        gaussian.tanh_moments(np.eye(5) * 2.0, ((2, 1, 1, 1, 1),))


# -- the correlators and the result object ---------------------------------------------------
def test_correlators_layout_and_roundtrip(tmp_path):
    n = 30
    a = arch("erf", 2, 1.3, 0.2, d_in=2, width=n)
    th = nnqft.finite_width(a, X2[:3], order=2)
    assert th.order == 2
    k2, w, u = th.kernel_correction2(), th.vertex_correction(), th.cubic_vertex()
    assert k2.shape == (3, 3) and w.shape == (6, 6) and u.shape == (6, 6, 6)
    for axes in itertools.permutations(range(3)):
        np.testing.assert_allclose(u, u.transpose(axes), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w, w.T, rtol=1e-9, atol=1e-12)
    g2 = th.kernel() + th.kernel_correction() / n + k2 / n**2
    t2, t4, t6, p = tuples(3, 2), tuples(3, 4), tuples(3, 6), pair_index(3)
    np.testing.assert_allclose(th.mean(2), g2[t2[:, 0], t2[:, 1]], rtol=1e-14)
    v = th.vertex() + w / n
    a_, b_, c_, d_ = t4[7]
    expected = (v[p[a_, b_], p[c_, d_]] + v[p[a_, c_], p[b_, d_]] + v[p[a_, d_], p[b_, c_]]) / n
    assert th.connected(4)[7] == pytest.approx(expected, rel=1e-14)
    row = t6[17]
    expected6 = sum(u[p[row[i], row[j]], p[row[k], row[m]], p[row[r], row[s]]]
                    for (i, j), (k, m), (r, s) in matchings(6)) / n**2
    assert th.connected(6)[17] == pytest.approx(expected6, rel=1e-13)
    cumulants = {2: th.connected(2), 4: th.connected(4), 6: th.connected(6)}
    np.testing.assert_allclose(th.mean(6), moments_from_cumulants(cumulants, 3, 6), rtol=1e-14)
    assert np.all(th.connected(5) == 0.0)
    wide = th.at_width(4 * n)
    assert wide.order == 2
    np.testing.assert_allclose(wide.connected(6) * 16, th.connected(6), rtol=1e-13)
    back = nnqft.load(th.save(tmp_path / "nlo"))
    assert back.order == 2
    for name in ("kernel_correction2", "vertex_correction", "cubic_vertex", "vertex"):
        np.testing.assert_array_equal(getattr(back, name)(), getattr(th, name)())
    assert "U_aa,aa,aa" in str(th) and "order 2" in repr(th)
    assert th.to_dict()["cubic_vertex"] == u.tolist()


def test_order_one_refuses_sixth_order():
    th = nnqft.finite_width(arch("erf", 2, 1.3, 0.2), [[0.5], [0.9]])
    assert th.order == 1
    for call in (lambda: th.connected(6), lambda: th.mean(6), th.cubic_vertex,
                 th.vertex_correction, th.kernel_correction2):
        with pytest.raises(ValueError, match="order=2"):
            call()
    with pytest.raises(ValueError, match="order"):
        nnqft.finite_width(arch("erf", 2), [[0.5]], order=3)


def test_corrupt_order_two_file_refused(tmp_path):
    th = nnqft.finite_width(arch("relu", 2, 1.3, 0.2), [[0.5], [0.9]], order=2)
    meta, arrays = th._to_file()
    del arrays["cubic_vertex"]
    with pytest.raises(ValueError, match="cubic_vertex"):
        type(th)._from_file(meta, arrays)


def test_memory_checked_before_work(monkeypatch):
    monkeypatch.setattr(_resources, "physical_memory", lambda: 2.0**30)
    x = np.linspace(-1, 1, 40)
    with pytest.raises(ValueError, match="k = 40 inputs"):
        nnqft.finite_width(arch("erf", 3), x, order=2)


# -- Monte Carlo: the conditional estimator of sampled deep networks --------------------
def test_against_sampled_networks_with_the_one_over_n_trend():
    """erf, three inputs in general position (d_in = 2), sigma_w = 1, sigma_b = 0.2, L = 3:
    Gram chain, conditional estimator, N = 8, 16, 32.

    ``N^2 kappa6 = sum_15 U + O(1/N)`` and ``N^2 (kappa4 - sum_3 V/N) = sum_3 W + O(1/N)``:
    per tuple, a weighted fit of ``a + b/N`` must have its intercept within 5 standard
    errors of the theory (and the 1/N form must fit: chi^2 of one degree of freedom),
    while the theory stands many standard errors away from 0 -- the test tells the 1/N^2
    terms from nothing, and at N = 8 the O(1/N^3) remainder is far beyond the errors, so
    the 1/N trend has to be fitted, not ignored.  Measured: intercepts within 2.6 (U) and
    2.3 (W) standard errors of the theory over the 28 and 15 tuples."""
    x = X2[:3]
    a = arch("erf", 3, 1.0, 0.2, d_in=2)
    th = nnqft.finite_width(a, x, order=2).at_width(1)  # at N = 1: sum_15 U and sum_3 (V + W)
    lo = nnqft.finite_width(a, x).at_width(1)
    widths = np.array([8, 16, 32])
    ys: dict[int, list[np.ndarray]] = {4: [], 6: []}
    es: dict[int, list[np.ndarray]] = {4: [], 6: []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnqft.warnings.UnreliableErrorWarning)
        for n in widths:
            corr = nnqft.sample(a.replace(width=int(n)), x, 2**19, orders=(4, 6),
                                estimator="conditional", seed=21, threads=1)
            k4, e4 = corr.connected(4)
            k6, e6 = corr.connected(6)
            ys[6].append(n**2 * k6)
            es[6].append(n**2 * e6)
            ys[4].append(n**2 * (k4 - lo.connected(4) / n))
            es[4].append(n**2 * e4)
    theory = {6: th.connected(6), 4: th.connected(4) - lo.connected(4)}  # sum_15 U, sum_3 W
    for order in (4, 6):
        y, e = np.array(ys[order]), np.array(es[order])  # (widths, tuples)
        errs = np.empty(y.shape[1])
        for i in range(y.shape[1]):
            design = np.stack([np.ones(3), 1.0 / widths], axis=1) / e[:, i, None]
            coef, *_ = np.linalg.lstsq(design, y[:, i] / e[:, i], rcond=None)
            chi2 = float(np.sum((design @ coef - y[:, i] / e[:, i]) ** 2))
            err = errs[i] = float(np.sqrt(np.linalg.inv(design.T @ design)[0, 0]))
            assert chi2 < 25.0, (order, i, chi2)
            assert abs(coef[0] - theory[order][i]) < 5 * err, (order, i, coef, err, theory[order][i])
        # the signal: U is resolved ~60 standard errors from zero (median over the tuples), W ~6
        assert np.median(np.abs(theory[order]) / errs) > {4: 3, 6: 20}[order], (order, errs)
