"""Leading 1/N theory of deep networks (nnqft.finite_width in nnqft.deep_theory, physics-deep.md §2-3)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

import nnqft
from nnqft import deep_theory as fw
from nnqft import gaussian
from nnqft.tuples import pair_index, tuples, wick


def arch(act: str, depth: int, sw: float | list[float] = 1.0, sb: float | list[float] = 0.0,
         d_in: int = 1, width: int = 100) -> nnqft.Architecture:
    return nnqft.Architecture(act, width=width, d_in=d_in, depth=depth, sigma_w=sw, sigma_b=sb)


def test_erf_single_input_check_values():
    """physics-deep.md §3: erf, x = 0.8, sigma_w = 1.5, sigma_b = 0.3, L = 3."""
    th = nnqft.finite_width(arch("erf", 3, 1.5, 0.3), [[0.8]])
    assert th.kernel()[0, 0] == pytest.approx(1.22962, abs=6e-6)
    assert th.kernel_correction()[0, 0] == pytest.approx(-0.1388, abs=6e-5)
    assert th.vertex()[0, 0] == pytest.approx(0.7241, abs=6e-5)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize(("act", "slope"), [("relu", 5.0), ("linear", 2.0)])
def test_ray_vertex_grows_linearly(act, slope, depth):
    """On a ray with sigma_b = 0 every network is linear: V/(K K) = 5L (relu), 2L (linear)."""
    x = np.array([[0.3], [1.0], [2.5]])
    th = nnqft.finite_width(arch(act, depth, sw=[1.3, 1.4, 0.9, 1.2, 1.1, 0.8][: depth + 1]), x)
    k, v, p = th.kernel(), th.vertex(), pair_index(3)
    for a, b, c, d in [(0, 1, 1, 2), (0, 0, 2, 2), (1, 1, 1, 1), (0, 2, 0, 1)]:
        assert v[p[a, b], p[c, d]] / (k[a, b] * k[c, d]) == pytest.approx(slope * depth, rel=1e-10)
    np.testing.assert_allclose(th.kernel_correction(), 0.0, atol=1e-12 * np.abs(k).max())


X2 = np.array([[0.3, 1.1], [-0.7, 0.4], [1.2, -0.5], [0.2, 0.9]])


@pytest.mark.parametrize(("act", "rtol"), [("erf", 1e-9), ("relu", 1e-10), ("linear", 1e-12),
                                           ("gauss", 1e-12), ("cos", 1e-12), ("tanh", 1e-6)])
def test_depth_one_equals_exact(act, rtol):
    a = arch(act, 1, [1.4, 0.8], [0.5, 0.3], d_in=2, width=37)
    th = nnqft.finite_width(a, X2)
    exact = nnqft.exact(a, X2, 4, connected=True)
    np.testing.assert_allclose(th.connected(4), exact, rtol=rtol, atol=rtol * np.abs(exact).max())
    np.testing.assert_allclose(th.kernel(), nnqft.kernel(a, X2), rtol=1e-12)
    assert np.all(th.kernel_correction() == 0.0)
    np.testing.assert_allclose(th.mean(4), nnqft.exact(a, X2, 4), rtol=rtol,
                               atol=rtol * np.abs(exact).max())


@pytest.mark.parametrize("act", ["erf", "relu", "tanh"])
def test_kernel_matches_nngp_recursion(act):
    a = arch(act, 3, [1.2, 1.5, 0.7, 1.1], [0.2, 0.4, 0.1, 0.3], d_in=2)
    np.testing.assert_allclose(nnqft.finite_width(a, X2).kernel(), nnqft.kernel(a, X2), rtol=1e-12)


def test_orthant_probability_against_genz():
    """Plackett's 1-D reduction against scipy's (Genz) multivariate normal CDF."""
    rng = np.random.default_rng(3)
    for _ in range(2):
        m = rng.normal(size=(4, 4))
        cov = m @ m.T + 0.2 * np.eye(4)
        ref = stats.multivariate_normal(np.zeros(4), cov, abseps=1e-9, releps=0,
                                         maxpts=10**6).cdf(np.zeros(4))
        assert gaussian.orthant(cov[None])[0] == pytest.approx(ref, abs=1e-7)


def test_relu_four_point_rank_four_against_monte_carlo():
    """Stein's reduction at rank 4 (no spherical rule exists there) against sampling."""
    rng = np.random.default_rng(5)
    m = rng.normal(size=(4, 4))
    cov = m @ m.T + 0.3 * np.eye(4)
    z = rng.multivariate_normal(np.zeros(4), cov, size=1_000_000)
    f = np.prod(np.maximum(z, 0.0), axis=1)
    value = gaussian.truncated_moment(cov[None], (1, 1, 1, 1))[0]
    assert abs(value - f.mean()) < 5 * f.std() / np.sqrt(len(f))
    # the erf and tanh sign moments at rank 4 likewise
    from scipy import special
    for phi, four in ((special.erf, gaussian.erf_product), (np.tanh, gaussian.tanh_four)):
        g = np.prod(phi(z), axis=1)
        assert abs(four(cov[None])[0] - g.mean()) < 5 * g.std() / np.sqrt(len(g))


def test_results_layout_and_roundtrip(tmp_path):
    a = arch("erf", 2, 1.3, 0.2, d_in=2, width=50)
    th = nnqft.finite_width(a, X2[:3])
    t4 = tuples(3, 4)
    g2 = th.kernel() + th.kernel_correction() / 50
    np.testing.assert_allclose(th.mean(2), g2[tuples(3, 2)[:, 0], tuples(3, 2)[:, 1]])
    np.testing.assert_allclose(th.mean(4), wick(g2, 4) + th.connected(4))
    v, p = th.vertex(), pair_index(3)
    a_, b_, c_, d_ = t4[7]
    expected = (v[p[a_, b_], p[c_, d_]] + v[p[a_, c_], p[b_, d_]] + v[p[a_, d_], p[b_, c_]]) / 50
    assert th.connected(4)[7] == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(v, v.T, rtol=1e-12)
    assert np.all(th.at_width(500).connected(4) * 500 == pytest.approx(th.connected(4) * 50))
    back = nnqft.load(th.save(tmp_path / "fw"))
    np.testing.assert_array_equal(back.vertex(), th.vertex())
    np.testing.assert_array_equal(back.kernel_correction(), th.kernel_correction())
    assert back.arch == a
    assert "FiniteWidthTheory" in repr(th) and "K1_aa" in str(th)
    assert th.to_dict()["kernel"] == th.kernel().tolist()


def test_refuses_uniform_weights():
    a = nnqft.Architecture("erf", width=10, d_in=1, depth=2, weight_dist="uniform")
    with pytest.raises(ValueError, match="gaussian weights"):
        nnqft.finite_width(a, [[0.5]])


# -- Monte Carlo: the conditional estimator of sampled deep networks --------------------
# The Gram chain (sampler="auto" at depth >= 2) costs ~N k^2 per layer.  The allowance for
# the O(1/N) remainder of the leading theory is 5 L / N relative (the ReLU ray's exact
# (1 + 5/N)^L - 1 against 5L/N is well inside it).
MC_CASES = [("erf", 2, 4, 1.5, 0.3), ("tanh", 3, 3, 1.4, 0.3), ("relu", 4, 6, 1.3, 0.4)]


@pytest.mark.parametrize(("act", "depth", "k", "sw", "sb"), MC_CASES)
def test_kappa4_against_sampled_deep_networks(act, depth, k, sw, sb):
    width = 1000
    a = arch(act, depth, sw, sb, width=width)
    x = np.linspace(-1.0, 1.2, k)
    corr = nnqft.sample(a, x, 20_000, orders=(2, 4), estimator="conditional", seed=11,
                        threads=2, progress=False, sampler="gram")
    sampled, err = corr.connected(4)
    theory = nnqft.finite_width(a, x).connected(4)
    allowance = 5 * err + 5 * depth / width * np.abs(theory)
    assert np.all(np.abs(sampled - theory) < allowance), np.max(np.abs(sampled - theory) / allowance)
    assert np.median(np.abs(sampled - theory) / err) < 2.5  # not merely inside a wide band


@pytest.mark.parametrize(("act", "depth", "k", "sw", "sb"), MC_CASES)
def test_kernel_correction_against_sampled_deep_networks(act, depth, k, sw, sb):
    """N (G2 - K) = K1 + O(1/N) at N = 100 (relu, tanh: K alone is excluded)."""
    width = 100
    a = arch(act, depth, sw, sb, width=width)
    x = np.linspace(-1.0, 1.2, k)
    corr = nnqft.sample(a, x, 100_000, orders=(2,), estimator="conditional", seed=12,
                        threads=2, progress=False, sampler="gram")
    th = nnqft.finite_width(a, x)
    t2 = tuples(k, 2)
    kern = th.kernel()[t2[:, 0], t2[:, 1]]
    k1 = th.kernel_correction()[t2[:, 0], t2[:, 1]]
    g2, err = corr.mean(2), corr.stderr(2)
    allowance = 5 * err + 5 * depth / width * np.abs(k1) / width
    assert np.all(np.abs(g2 - kern - k1 / width) < allowance)
    if np.max(np.abs(k1) / width / err) > 5:  # where the correction is resolvable, it is seen
        assert np.max(np.abs(g2 - kern) / err) > 3


def test_deep_coupling_fit_against_theory_fit():
    """fit_couplings on a deep ensemble beside the same fit of the 1/N theory's kappa4."""
    a = arch("erf", 2, 1.2, 0.5, width=200)
    x = np.linspace(-1.0, 1.0, 5)
    corr = nnqft.sample(a, x, 8_000, orders=(2, 4), estimator="conditional", seed=3,
                        threads=2, progress=False)
    cmp = nnqft.fit.compare_with_theory(corr, a, x, cutoff=1e5)
    theory = nnqft.fit.fit_exact_like(corr, a, x, cutoff=1e5)
    assert cmp.theory.values == theory.values
    np.testing.assert_allclose(nnqft.fit.theory_connected(a, x, 4),
                               nnqft.finite_width(a, x, order=2).connected(4), rtol=1e-14)
    # sample and theory under the same fixed-weight fit: their difference is the data
    # noise plus the O(1/N^3) remainder of the order-2 theory
    assert abs(cmp.pulls["u4"]) < 5
    assert cmp.sampled.errors["u4"] < 0.5 * abs(theory.values["u4"])  # a test with power
    with pytest.raises(ValueError, match="order 6"):
        nnqft.fit.fit_exact_like(corr, a, x, cutoff=1e5, terms=("u4", "u6"), order=1)


@pytest.mark.parametrize("act", ["erf", "relu", "tanh", "linear"])
def test_input_with_zero_variance(act):
    """x = 0 with sigma_b = 0: z = 0 at every layer and width; everything stays finite."""
    x = np.array([[0.0], [0.5], [-1.0]])
    th = nnqft.finite_width(arch(act, 3, 1.3, 0.0), x)
    assert np.all(np.isfinite(th.vertex())) and np.all(np.isfinite(th.kernel_correction()))
    a1 = arch(act, 1, 1.3, 0.0)
    np.testing.assert_allclose(nnqft.finite_width(a1, x).connected(4),
                               nnqft.exact(a1, x, 4, connected=True), atol=1e-12)


# -- cross-check against the independent reference (tests/deep_reference.py) ------------
REFERENCE_CASES = [
    ("erf", [1.3, 1.5, 0.9], [0.3, 0.2, 0.4], 3, 2),
    ("tanh", [1.2, 1.1, 1.3, 0.8], [0.2, 0.3, 0.1, 0.5], 3, 1),
    ("relu", [1.4, 1.2, 1.3], [0.3, 0.5, 0.2], 4, 2),
    ("relu", [1.2, 1.4, 1.1, 0.9], [0.0, 0.0, 0.0, 0.0], 3, 1),  # rank-deficient kernels
    ("erf", [1.1, 1.4, 1.2], [0.5, 0.1, 0.3], 4, 3),  # rank 4: four inputs, d_in = 3
]


@pytest.mark.parametrize(("act", "sw", "sb", "k", "d_in"), REFERENCE_CASES)
def test_against_independent_reference(act, sw, sb, k, d_in):
    from deep_reference import reference_finite_width

    x = np.random.default_rng(k * 7 + d_in).uniform(-1.2, 1.2, size=(k, d_in))
    if act == "relu" and sb[0] == 0:
        x = np.array([[-1.0], [0.4], [1.1]])  # both signs: kernels of rank 2
    a = nnqft.Architecture(act, width=10, d_in=x.shape[1], depth=len(sw) - 1, sigma_w=sw,
                           sigma_b=sb)
    kern, k1, v = reference_finite_width(act, sw, sb, x)
    th = nnqft.finite_width(a, x)
    t2, p = tuples(len(x), 2), pair_index(len(x))
    dense_v = th.vertex()[p[:, :, None, None], p[None, None, :, :]]
    rtol = 1e-6 if act == "tanh" else 1e-8
    np.testing.assert_allclose(th.kernel(), kern, rtol=1e-12)
    # The reference differentiates g by Richardson-extrapolated finite differences: good to
    # ~1e-6 of K1's scale (in the relu case above its K1_01 is off by 1.4e-6 relative,
    # while mpmath's 40-digit derivative of the arc-cosine kernel agrees with ours to 1e-13).
    np.testing.assert_allclose(th.kernel_correction(), k1, rtol=0, atol=1e-6 * np.abs(k1).max())
    np.testing.assert_allclose(dense_v, v, rtol=rtol, atol=rtol * np.abs(v).max())
    assert len(t2) == len(th.mean(2))


def test_sigma_flow_of_a_deep_ensemble_carries_theory_couplings():
    """At depth >= 2 the flow's theory couplings are the fit of the 1/N² theory's kappa4."""
    a = arch("erf", 2, 1.0, 1.0, width=40)
    x = np.linspace(-1.0, 1.0, 4)
    flow = nnqft.sigma_flow(a, x, [1.0, 2.0], n_networks=2_000, seed=0, cutoff=1e5,
                            progress=False, threads=2)
    a2 = a.scaled("w", 2.0)
    direct = nnqft.fit_couplings({4: nnqft.finite_width(a2, x, order=2).connected(4)}, a2, x,
                                 cutoff=1e5)
    assert flow.exact_couplings["u4"][1] == pytest.approx(direct.values["u4"], rel=1e-12)


def test_memo_tells_architectures_apart():
    """The recursion is memoised on everything but the width: architectures that differ in
    one sigma of one layer, or in the activation, get their own entries (each equal to a
    fresh computation), and the width only rescales the correlators."""
    x = X2[:3]
    base = arch("erf", 2, [1.2, 1.5, 0.7], [0.2, 0.4, 0.1], d_in=2, width=40)
    variants = [base, base.replace(sigma_b=[0.2, 0.4, 0.3]), base.replace(sigma_b=[0.5, 0.4, 0.1]),
                base.replace(sigma_w=[1.2, 1.5, 0.9]), base.replace(sigma_w=[1.2, 1.1, 0.7]),
                base.replace(activation="relu")]
    memoised = [nnqft.finite_width(a, x) for a in variants]
    fw._CACHE.clear()
    for a, th in zip(variants, memoised, strict=True):
        fresh = nnqft.finite_width(a, x)
        np.testing.assert_array_equal(th.kernel(), fresh.kernel())
        np.testing.assert_array_equal(th.kernel_correction(), fresh.kernel_correction())
        np.testing.assert_array_equal(th.vertex(), fresh.vertex())
    # every variant changes the answer (the read-out bias moves K only)
    answers = [np.concatenate([th.kernel().ravel(), th.vertex().ravel()]) for th in memoised]
    assert all(not np.allclose(u, w) for u, w in itertools.combinations(answers, 2))
    wide = nnqft.finite_width(base.replace(width=400), x)
    np.testing.assert_array_equal(wide.vertex(), memoised[0].vertex())
    np.testing.assert_allclose(wide.connected(4) * 10, memoised[0].connected(4), rtol=1e-14)


def test_overflow_is_refused_naming_the_layer():
    # relu with sigma_w^2 = 9 multiplies K by 4.5 per layer (V by ~20): float64 runs out
    # near layer 233; the answer must be an error naming the layer, never inf/NaN.
    deep = nnqft.Architecture("relu", width=10, depth=300, sigma_w=3.0, sigma_b=0.0)
    with pytest.raises(OverflowError, match="layer 2[0-9][0-9]"):
        nnqft.finite_width(deep, [[0.5], [1.0]])
    shallower = nnqft.finite_width(
        nnqft.Architecture("relu", width=10, depth=100, sigma_w=3.0, sigma_b=0.0), [[0.5], [1.0]])
    kernel = shallower.kernel()
    assert np.isfinite(shallower.vertex()).all()
    np.testing.assert_allclose(kernel[0, 0], 9 * 0.5**2 * 4.5**100, rtol=1e-10)  # K^1 4.5^L
    with pytest.raises(OverflowError, match="sigma"):
        nnqft.finite_width(nnqft.Architecture("erf", width=10, depth=2, sigma_w=1e200), [0.1, 0.2])


def test_loader_checks_the_arrays_against_the_inputs(tmp_path):
    from nnqft import io

    theory = nnqft.finite_width(nnqft.Architecture("erf", width=10, depth=2), [0.1, 0.5, 0.9])
    meta, arrays = io.read_npz(theory.save(tmp_path / "t.npz"))
    for name, bad in [("vertex", arrays["vertex"][:1, :1]),
                      ("kernel", np.full(6, np.nan)),
                      ("kernel_correction", arrays["kernel_correction"].astype(np.float32))]:
        io.write_npz(tmp_path / "bad.npz", meta, {**arrays, name: bad})
        with pytest.raises(ValueError, match=f"corrupt finite_width file: {name}"):
            nnqft.load(tmp_path / "bad.npz")
