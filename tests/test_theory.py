"""Tests of nnqft.theory: every number is checked against an independent computation.

References used here, all written in this file: one- and two-dimensional scipy
quadratures, fine tensor Gauss-Hermite / Gauss-Legendre grids in the network parameters,
closed forms from physics.md, and exact combinatorial moments of simple ensembles.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from reference import exact_depth1
from scipy import integrate, special, stats

from nnqft._validation import as_inputs
from nnqft.architecture import Architecture
from nnqft.theory import exact, kernel, neuron_moment
from nnqft.tuples import n_tuples, tuples, wick

XSET1 = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
RELU_SET = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
PHI = {"erf": special.erf, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}
# scalar versions for scipy.integrate callbacks (numpy scalars are ~10x slower there)
SCALAR_PHI = {"erf": math.erf, "tanh": math.tanh, "relu": lambda z: max(z, 0.0)}
SQRT_2PI = math.sqrt(2 * math.pi)


def normal_pdf(z, scale=1.0):
    return math.exp(-0.5 * (z / scale) ** 2) / (scale * SQRT_2PI)


# -- independent references ------------------------------------------------------------
def gauss_hermite(n):
    """Probabilists' Gauss-Hermite nodes and weights normalised to the N(0, 1) density."""
    g, w = hermegauss(n)
    return g, w / math.sqrt(2 * math.pi)


def composite_gauss(lo, hi, panels, q=20):
    """Composite Gauss-Legendre nodes on [lo, hi] with the N(0, 1) density folded in."""
    g, w = leggauss(q)
    edges = np.linspace(lo, hi, panels + 1)
    half = np.diff(edges) / 2
    nodes = ((edges[1:] + edges[:-1]) / 2)[:, None] + half[:, None] * g
    weights = half[:, None] * w * np.exp(-0.5 * nodes**2) / math.sqrt(2 * math.pi)
    return nodes.ravel(), weights.ravel()


def pair_expectation_1d(act, sxx, sxy, syy):
    """E[phi(u) phi(v)] as a 1-D scipy integral over u, with E[phi(v) | u] in closed form."""
    a = math.sqrt(sxx)
    beta, tau = sxy / a, math.sqrt(max(syy - (sxy / a) ** 2, 0.0))

    def conditional(mu):  # E[phi(mu + tau g)]
        if tau < 1e-12:
            return PHI[act](mu)
        if act == "erf":
            return special.erf(mu / math.sqrt(1 + 2 * tau**2))
        return mu * stats.norm.cdf(mu / tau) + tau * stats.norm.pdf(mu / tau)  # relu

    def integrand(g):
        return PHI[act](a * g) * conditional(beta * g) * stats.norm.pdf(g)

    return sum(
        integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-13)[0] for lo, hi in [(-12, 0), (0, 12)]
    )


def pair_expectation_2d(act, sxx, sxy, syy, panels=120):
    """E[phi(u) phi(v)] on a fine tensor Gauss-Legendre grid over [-10, 10]^2."""
    g, w = composite_gauss(-10, 10, panels)
    a = math.sqrt(sxx)
    beta, tau = sxy / a, math.sqrt(max(syy - (sxy / a) ** 2, 0.0))
    u = PHI[act](a * g)
    v = PHI[act](beta * g[:, None] + tau * g[None, :])
    return float(w @ (u[:, None] * v) @ w)


def tensor_moments(act, x, sigma_w, sigma_b, n):
    """One-neuron moments for d_in = 1 on a fine tensor grid in (w, b).

    Panels on [-9, 9] shorter than the distance pi / (2 scale) of tanh's complex poles.
    """
    panels = math.ceil(12 * max(sigma_w * np.abs(x).max(), sigma_b, 1.0))
    g, w = composite_gauss(-9, 9, panels)
    f = PHI[act](sigma_w * g[:, None, None] * x + sigma_b * g[None, :, None])  # (w, b, k)
    return np.array([w @ np.prod(f[..., t], axis=-1) @ w for t in tuples(len(x), n)])


def erf_sigma(sxy, sxx, syy):
    return 2 / np.pi * np.arcsin(2 * sxy / np.sqrt((1 + 2 * sxx) * (1 + 2 * syy)))


# -- input validation --------------------------------------------------------------------
def test_as_inputs_shapes_and_dtype():
    out = as_inputs([1, 2, 3], 1)
    assert out.shape == (3, 1) and out.dtype == np.float64 and out.flags.c_contiguous
    src = np.asfortranarray(np.arange(6.0).reshape(3, 2))
    out = as_inputs(src, 2)
    assert out.flags.c_contiguous and np.array_equal(out, src)
    out[0, 0] = 99.0
    assert src[0, 0] == 0.0  # a copy, never a view of the caller's array


@pytest.mark.parametrize(
    ("x", "d_in", "error", "match"),
    [
        ([1.0, 2.0], 2, ValueError, "d_in=2"),
        (np.zeros((3, 2)), 1, ValueError, r"shape \(k, d_in=1\)"),
        (np.zeros((0, 1)), 1, ValueError, "at least one"),
        ([1.0, np.nan], 1, ValueError, "finite"),
        ([1.0, np.inf], 1, ValueError, "finite"),
        ([1 + 1j], 1, TypeError, "real numeric"),
        (["a"], 1, TypeError, "real numeric"),
        ([True, False], 1, TypeError, "real numeric"),
        (3.0, 1, ValueError, "shape"),
    ],
)
def test_as_inputs_rejects(x, d_in, error, match):
    with pytest.raises(error, match=match):
        as_inputs(x, d_in)


def test_public_functions_validate_arguments():
    arch = Architecture(activation="erf", width=5)
    with pytest.raises(TypeError, match="arch"):
        kernel({"activation": "erf"}, XSET1)
    with pytest.raises(ValueError, match="y must have shape"):
        kernel(arch, XSET1, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x must be finite"):
        exact(arch, [0.0, np.nan], 4)
    for bad in (2.0, True, "4", None):
        with pytest.raises(TypeError, match="order"):
            exact(arch, XSET1, bad)
    for bad in (0, -2, 9):
        with pytest.raises(ValueError, match="order"):
            exact(arch, XSET1, bad)
    with pytest.raises(TypeError, match="connected"):
        exact(arch, XSET1, 4, connected="yes")
    with pytest.raises(ValueError, match="n must be"):
        neuron_moment(arch, XSET1, 0)


def test_refusals_name_the_alternatives():
    with pytest.raises(NotImplementedError, match=r"depth 1 only.*kernel\(\).*conditional"):
        exact(Architecture(activation="erf", depth=2), XSET1, 4)
    with pytest.raises(NotImplementedError, match="d_in = 1"):
        exact(Architecture(activation="relu", d_in=2, weight_dist="uniform"), np.eye(2), 4)
    with pytest.raises(NotImplementedError, match="d_in <= 2"):
        kernel(Architecture(activation="tanh", d_in=3, weight_dist="uniform"), np.eye(3))
    x4 = np.eye(4)
    with pytest.raises(NotImplementedError, match="4-dimensional.*gauss, cos and linear"):
        exact(Architecture(activation="erf", d_in=4), x4, 4)
    # the closed-form activations work at any d_in, and so does the two-point function
    gauss4 = Architecture(activation="gauss", d_in=4, width=3, sigma_w=0.8, sigma_b=0.6)
    np.testing.assert_allclose(exact(gauss4, x4, 4), exact_depth1("gauss", x4, 3, 0.8, 0.6)["G4"],
                               rtol=1e-12)
    erf4 = Architecture(activation="erf", d_in=4)
    t = tuples(4, 2)
    np.testing.assert_allclose(exact(erf4, x4, 2), kernel(erf4, x4)[t[:, 0], t[:, 1]], rtol=1e-15)


# -- kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["erf", "relu"])
def test_kernel_closed_forms_match_1d_integrals(act):
    arch = Architecture(activation=act, d_in=2, sigma_w=(1.3, 0.7), sigma_b=(0.4, 0.9))
    x = np.array([[0.5, -1.0], [1.2, 0.3], [-0.2, 0.8]])
    cov = 0.4**2 + 1.3**2 * x @ x.T / 2
    ref = np.array(
        [
            [0.81 + 0.49 * pair_expectation_1d(act, cov[a, a], cov[a, b], cov[b, b]) for b in range(3)]
            for a in range(3)
        ]
    )
    np.testing.assert_allclose(kernel(arch, x), ref, rtol=1e-12)


@pytest.mark.parametrize(
    ("sxx", "sxy", "syy"), [(1.0, 0.5, 2.0), (4.0, -1.5, 1.0), (9.0, 8.9, 9.0), (0.3, 0.0, 0.2)]
)
def test_tanh_layer_map_matches_2d_grid(sxx, sxy, syy):
    # read the map off a depth-1 kernel with d_in = 2, sigma_b = 0: Sigma = x.y
    x = np.array([[math.sqrt(sxx), 0.0]])
    y = np.array([[sxy / math.sqrt(sxx), math.sqrt(syy - sxy**2 / sxx)]])
    arch = Architecture(activation="tanh", d_in=2, sigma_w=(math.sqrt(2), 1.0), sigma_b=0.0)
    ref = pair_expectation_2d("tanh", sxx, sxy, syy)
    assert kernel(arch, x, y)[0, 0] == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_gauss_and_cos_kernels_match_parameter_quadrature():
    x = np.array([-0.7, 0.1, 0.9])
    g, wg = gauss_hermite(60)
    sw, sb = 1.2, 0.6
    # gauss-net: phi = exp(w x + b - Var z), Var z = sb^2 + sw^2 x^2
    z = sw * g[:, None, None] * x + sb * g[None, :, None] - (sb**2 + sw**2 * x**2)
    f = np.exp(z)
    ref = np.einsum("i,j,ija,ijb->ab", wg, wg, f, f)
    arch = Architecture(activation="gauss", sigma_w=sw, sigma_b=sb)
    np.testing.assert_allclose(kernel(arch, x), sb**2 + sw**2 * ref, rtol=1e-12)
    # cos-net: phase uniform on (-pi, pi)
    p, wp = leggauss(80)
    phase, wphase = np.pi * p, wp / 2
    f = np.cos(sw * g[:, None, None] * x + phase[None, :, None])
    ref = np.einsum("i,j,ija,ijb->ab", wg, wphase, f, f)
    arch = Architecture(activation="cos", sigma_w=sw, sigma_b=0.0)
    np.testing.assert_allclose(kernel(arch, x), sw**2 * ref, rtol=1e-12, atol=1e-15)


def test_gauss_kernel_and_moments_finite_at_large_inputs():
    # The weights' MGF alone overflows once |sum of inputs| passes ~38; the kernel and the
    # moments (MGF times a tiny normaliser) must stay finite wherever they are.
    sw, sb = 1.0, 0.5
    arch = Architecture(activation="gauss", sigma_w=sw, sigma_b=sb, width=4)
    x = np.array([30.0, 45.0, 60.0])
    expected = sb**2 + sw**2 * np.exp(-0.5 * sw**2 * np.subtract.outer(x, x) ** 2)
    np.testing.assert_allclose(kernel(arch, x), expected, rtol=1e-12)
    # kappa4 at the tuple (0, 0, 1, 1) against physics.md 1.5's M4 closed form:
    # M4 = exp(4 sb^2) exp{sw^2 [sum_a x_a^2 - sum_{a<b} (x_a - x_b)^2 / 2]}
    xs = np.array([10.0, 10.5])
    m4 = math.exp(4 * sb**2 + sw**2 * (2 * 10.0**2 + 2 * 10.5**2 - 0.5 * 4 * 0.5**2))
    c = (kernel(arch, xs) - sb**2) / sw**2
    expected_kappa = (sw**4 / 4) * (3 * m4 - c[0, 0] * c[1, 1] - 2 * c[0, 1] ** 2)
    kappa = exact(arch, xs, 4, connected=True)[2]  # tuples 0000, 0001, 0011, ...
    assert kappa == pytest.approx(expected_kappa, rel=1e-10)
    # uniform weights: sinh(a |x + y|) / (a |x + y|) alone overflows here (inf times a
    # zero normaliser was NaN); the product underflows to 0, leaving sigma_b1^2
    xu = np.array([300.0, 310.0])
    np.testing.assert_array_equal(kernel(arch.replace(weight_dist="uniform"), xu), sb**2)


def test_kernel_cross_block_and_linear():
    arch = Architecture(activation="linear", d_in=2, sigma_w=(0.9, 1.1), sigma_b=(0.3, 0.2))
    x, y = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[0.0, 1.0], [2.0, 2.0], [-1.0, 0.0]])
    expected = 0.2**2 + 1.1**2 * (0.3**2 + 0.9**2 * x @ y.T / 2)
    np.testing.assert_allclose(kernel(arch, x, y), expected, rtol=1e-14)
    for act in ("erf", "tanh", "relu", "gauss", "cos"):
        a = arch.replace(activation=act, sigma_b=0.0 if act == "cos" else 0.4)
        full = kernel(a, np.concatenate([x, y]))
        cross = kernel(a, x, y)
        assert cross.shape == (2, 3)
        np.testing.assert_allclose(cross, full[:2, 2:], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("act", ["erf", "relu", "tanh", "linear"])
def test_depth_recursion_matches_direct_double_integral(act):
    sw, sb = (0.8, 1.4, 1.1, 0.9), (0.3, 0.5, 0.2, 0.7)
    x = np.array([-0.9, 0.4, 1.3])
    arch = Architecture(activation=act, depth=3, sigma_w=sw, sigma_b=sb)
    # layer by layer, each expectation by a fine 2-D grid in the pair's Gaussian
    cov = sb[0] ** 2 + sw[0] ** 2 * np.outer(x, x)
    for layer in (1, 2, 3):
        if act == "linear":
            c = cov
        else:
            pair = pair_expectation_2d if act == "tanh" else pair_expectation_1d
            c = np.array([[pair(act, cov[a, a], cov[a, b], cov[b, b]) for b in range(3)] for a in range(3)])
        cov = sb[layer] ** 2 + sw[layer] ** 2 * c
    np.testing.assert_allclose(kernel(arch, x), cov, rtol=1e-11)


def test_deep_relu_zero_bias_single_input():
    # relu, sigma_b = 0: each layer maps Sigma -> sigma_w^2 Sigma / 2 (the 1/2 of ReLU)
    arch = Architecture(activation="relu", depth=4, sigma_w=(1.5, 1.2, 0.7, 2.0, 1.1), sigma_b=0.0)
    expected = 1.5**2 * 0.8**2 * (1.2**2 / 2) * (0.7**2 / 2) * (2.0**2 / 2) * (1.1**2 / 2)
    assert kernel(arch, [0.8])[0, 0] == pytest.approx(expected, rel=1e-14)


# -- uniform weights --------------------------------------------------------------------
def uniform_kernel_reference(act, x, y, sigma_w, sigma_b):
    """C(x, y) by scipy over the uniform weight and the Gaussian bias (d_in = 1)."""
    a = math.sqrt(3) * sigma_w

    def inner(w):
        def integrand(b):
            return SCALAR_PHI[act](w * x + b) * SCALAR_PHI[act](w * y + b) * normal_pdf(b, sigma_b)

        kinks = sorted({-w * x, -w * y})
        pieces = [-12 * sigma_b, *kinks, 12 * sigma_b]
        return sum(
            integrate.quad(integrand, lo, hi, epsabs=1e-15, epsrel=1e-13)[0]
            for lo, hi in itertools.pairwise(pieces)
        )

    return sum(
        integrate.quad(inner, lo, hi, epsabs=1e-15, epsrel=1e-13)[0] for lo, hi in [(-a, 0), (0, a)]
    ) / (2 * a)


@pytest.mark.parametrize("act", ["erf", "tanh", "relu"])
def test_uniform_kernel_matches_scipy(act):
    sw, sb = 1.3, 0.7
    x = np.array([-1.0, 1.2])
    arch = Architecture(activation=act, sigma_w=sw, sigma_b=sb, weight_dist="uniform")
    c01 = uniform_kernel_reference(act, x[0], x[1], sw, sb)
    c = [
        [uniform_kernel_reference(act, x[0], x[0], sw, sb), c01],
        [c01, uniform_kernel_reference(act, x[1], x[1], sw, sb)],
    ]
    ref = sb**2 + sw**2 * np.array(c)
    np.testing.assert_allclose(kernel(arch, x), ref, rtol=1e-11)
    # contrary to the issue text, the kernel differs from the gaussian-weight one
    gaussian = kernel(arch.replace(weight_dist="gaussian"), x)
    assert np.abs(kernel(arch, x) - gaussian).max() > 1e-2


def test_uniform_kernel_equal_to_gaussian_where_only_second_moments_enter():
    x = np.array([0.3, 0.8, 1.5])
    cases = [("linear", 1.7, 0.6), ("relu", 1.7, 0.0), ("erf", 0.0, 0.6), ("relu", 0.0, 0.6)]
    for act, sw0, sb in cases:  # sigma_w0 = 0: the first-layer weights vanish either way
        arch = Architecture(activation=act, sigma_w=(sw0, 1.7), sigma_b=sb, weight_dist="uniform")
        gaussian = arch.replace(weight_dist="gaussian")
        np.testing.assert_allclose(kernel(arch, x), kernel(gaussian, x), rtol=1e-13)
    # the uniform read-out changes the finite-width correlators, not the kernel
    arch = Architecture(activation="erf", width=3, sigma_w=(0.0, 1.7), weight_dist="uniform")
    np.testing.assert_allclose(
        exact(arch, x, 2), exact(arch.replace(weight_dist="gaussian"), x, 2), rtol=1e-14
    )


def test_uniform_gauss_and_cos_kernels_d2():
    x = np.array([[0.4, -0.3], [1.0, 0.5]])
    sw, sb = 1.1, 0.5
    a = math.sqrt(3) * sw / math.sqrt(2)
    p, wp = leggauss(40)
    w1, w2 = np.meshgrid(a * p, a * p, indexing="ij")
    ww = np.outer(wp, wp).ravel() / 4
    z = np.stack([w1.ravel(), w2.ravel()], 1) @ x.T  # (nodes, k) without bias
    var = sb**2 + sw**2 * (x**2).sum(1) / 2
    gauss = np.exp(z - var) * math.exp(sb**2)  # E exp(b) over the bias, per factor pair below
    ref_gauss = (gauss * ww[:, None]).T @ gauss  # E exp(2b) = exp(2 sb^2) = exp(sb^2)^2
    arch = Architecture(activation="gauss", d_in=2, sigma_w=sw, sigma_b=sb, weight_dist="uniform")
    np.testing.assert_allclose(kernel(arch, x), sb**2 + sw**2 * ref_gauss, rtol=1e-12)
    ref_cos = 0.5 * (np.cos(z[:, :, None] - z[:, None, :]) * ww[:, None, None]).sum(0)
    arch = Architecture(activation="cos", d_in=2, sigma_w=sw, sigma_b=(0.0, sb), weight_dist="uniform")
    np.testing.assert_allclose(kernel(arch, x), sb**2 + sw**2 * ref_cos, rtol=1e-12)


# -- one-neuron moments -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("act", "sw", "sb"), [("erf", 1.0, 1.0), ("tanh", 1.0, 1.0), ("erf", 3.0, 0.5), ("tanh", 4.0, 1.5)]
)
def test_smooth_moments_match_tensor_grid(act, sw, sb):
    x = np.array([-1.0, 0.3, 1.1])
    arch = Architecture(activation=act, sigma_w=sw, sigma_b=sb)
    for n in (4, 6):
        ref = tensor_moments(act, x, sw, sb, n)
        got = neuron_moment(arch, x, n)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def relu_moment_dblquad(x_tuple, sw, sb):
    """ReLU moment by scipy dblquad over (w, b): w split at 0, b from the last kink up."""
    x_tuple = np.asarray(x_tuple)

    coef = [sw * float(v) for v in x_tuple]

    def integrand(b, w):
        return math.prod(w * c + b * sb for c in coef) * normal_pdf(w) * normal_pdf(b)

    def lower(w):
        return max(-w * c / sb for c in coef)

    return sum(
        integrate.dblquad(integrand, lo, hi, lower, lambda w: 12.0, epsabs=1e-14, epsrel=1e-12)[0]
        for lo, hi in [(-12, 0), (0, 12)]
    )


def test_relu_moments_with_bias_match_dblquad():
    x = np.array([-0.8, 0.3, 1.2])
    sw, sb = 1.2, 0.9
    arch = Architecture(activation="relu", sigma_w=sw, sigma_b=sb)
    t = tuples(3, 4)
    got = neuron_moment(arch, x, 4)
    for i in (0, 9, 13):
        assert got[i] == pytest.approx(relu_moment_dblquad(x[t[i]], sw, sb), rel=1e-10)
    six = neuron_moment(arch, x, 6)
    i = 13
    assert six[i] == pytest.approx(relu_moment_dblquad(x[tuples(3, 6)[i]], sw, sb), rel=1e-10)


def test_relu_zero_bias_collinear_closed_form():
    # sigma_b = 0, inputs of one sign: M_n = sigma_w^n prod x E[ReLU(g)^n]
    arch = Architecture(activation="relu", sigma_w=1.4, sigma_b=0.0)
    x = np.array([0.3, 0.9, 1.7])
    for n, e_relu in ((2, 0.5), (4, 1.5), (6, 7.5)):
        expected = 1.4**n * np.prod(x[tuples(3, n)], axis=1) * e_relu
        np.testing.assert_allclose(neuron_moment(arch, x, n), expected, rtol=1e-14)
    mixed = neuron_moment(arch, np.array([-0.5, 0.5]), 2)
    assert mixed[1] == pytest.approx(0.0, abs=1e-16)


def test_relu_rank3_moments_match_polar_reference():
    # d_in = 2 with a bias: the pre-activations span 3 dimensions
    x = np.array([[0.3, -1.0], [1.0, 0.5], [-0.7, 0.2], [0.1, 0.9]])
    sw, sb = 1.3, 0.8
    arch = Architecture(activation="relu", d_in=2, sigma_w=sw, sigma_b=sb)
    got = neuron_moment(arch, x, 4)
    xs = x * sw / math.sqrt(2)

    def bias_integral(c):  # E_b prod (c_a + sb b)_+ in closed form (truncated moments)
        b0 = max(-ci / sb for ci in c)
        poly = [1.0]  # coefficients in b, lowest first
        for ci in c:  # multiply by (ci + sb b)
            poly = [ci * p + sb * q for p, q in zip([*poly, 0.0], [0.0, *poly], strict=True)]
        dens = normal_pdf(b0)
        trunc = [0.5 * math.erfc(b0 / math.sqrt(2)), dens]
        for j in range(2, len(c) + 1):
            trunc.append(b0 ** (j - 1) * dens + (j - 1) * trunc[j - 2])
        return sum(p * tj for p, tj in zip(poly, trunc, strict=True))

    t = tuples(4, 4)
    for i in (5, 17):
        rows = xs[t[i]]
        kinks = {
            (math.atan2(*(rows[a] - rows[b])[::-1]) + np.pi / 2) % np.pi for a in range(4) for b in range(a)
        }
        kinks = sorted(kinks | {k + np.pi for k in kinks})

        def radial(theta, rows=rows):
            u = np.array([np.cos(theta), np.sin(theta)])
            return integrate.quad(
                lambda r: r * np.exp(-r * r / 2) / (2 * np.pi) * bias_integral(r * rows @ u),
                0,
                12,
                epsabs=1e-15,
            )[0]

        ref = integrate.quad(radial, 0, 2 * np.pi, points=kinks, limit=200, epsabs=1e-15, epsrel=1e-12)[0]
        assert got[i] == pytest.approx(ref, rel=1e-10)


def test_smooth_rank3_moments_match_hermite_grid():
    # d_in = 2 with a bias; scale < 1, where a 3-D Gauss-Hermite grid is itself exact to ~1e-13
    x = np.array([[0.6, -0.9], [1.0, 0.4], [-0.7, -0.2]])
    sw, sb = 0.6, 0.4
    g, w = gauss_hermite(90)
    z = (sw / math.sqrt(2)) * (g[:, None, None, None] * x[:, 0] + g[None, :, None, None] * x[:, 1]) + sb * g[
        None, None, :, None
    ]
    weights = np.einsum("i,j,k->ijk", w, w, w)
    for act in ("erf", "tanh"):
        f = PHI[act](z)
        arch = Architecture(activation=act, d_in=2, sigma_w=sw, sigma_b=sb)
        for n in (2, 4):
            ref = np.array([np.vdot(weights, np.prod(f[..., t], axis=-1)) for t in tuples(3, n)])
            np.testing.assert_allclose(neuron_moment(arch, x, n), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_gauss_moments_physics_formula():
    # physics.md §1.5 (gaussian weights), d_in = 2
    x = np.array([[0.2, -0.1], [0.5, 0.3], [-0.4, 0.6]])
    sw, sb, d = 0.9, 0.7, 2
    arch = Architecture(activation="gauss", d_in=d, sigma_w=sw, sigma_b=sb)
    for n in (2, 4, 6):
        t = tuples(3, n)
        xs = x[t]
        sq = (xs**2).sum(-1).sum(-1)
        pair = sum(((xs[:, a] - xs[:, b]) ** 2).sum(-1) for a in range(n) for b in range(a))
        expected = np.exp((n**2 / 2 - n) * sb**2) * np.exp(sw**2 / d * ((n - 2) / 2 * sq - 0.5 * pair))
        np.testing.assert_allclose(neuron_moment(arch, x, n), expected, rtol=1e-13)


def test_cos_moments_physics_formula_and_quadrature():
    x = np.array([-0.5, 0.2, 0.9])
    sw = 1.3
    arch = Architecture(activation="cos", sigma_w=sw, sigma_b=0.0)

    def c(v):
        return np.exp(-(sw**2) * v**2 / 2)

    t = tuples(3, 4)
    x1, x2, x3, x4 = x[t].T
    expected = (c(x1 + x2 - x3 - x4) + c(x1 - x2 + x3 - x4) + c(x1 - x2 - x3 + x4)) / 8
    np.testing.assert_allclose(neuron_moment(arch, x, 4), expected, rtol=1e-14)
    # order 6 by quadrature over (w, phase): both factors are entire, the grids converge
    g, wg = gauss_hermite(80)
    p, wp = leggauss(60)
    f = np.cos(sw * g[:, None, None] * x + np.pi * p[None, :, None])
    t6 = tuples(3, 6)
    ref = np.einsum("i,j,ijt->t", wg, wp / 2, np.prod(f[..., t6], axis=-1))
    np.testing.assert_allclose(neuron_moment(arch, x, 6), ref, rtol=0, atol=1e-14)
    assert not neuron_moment(arch, x, 3).any()


def test_uniform_moments_match_scipy_and_closed_forms():
    x = np.array([-0.9, 0.4, 1.1])
    sw, sb = 1.2, 0.6
    a = math.sqrt(3) * sw
    t = tuples(3, 4)
    for act in ("erf", "relu"):
        arch = Architecture(activation=act, sigma_w=sw, sigma_b=sb, weight_dist="uniform")
        got = neuron_moment(arch, x, 4)
        for i in (0, 7, 14):
            xs = x[t[i]]

            def inner(w, xs=xs, act=act):
                pieces = [-10 * sb, *sorted(-w * xs), 10 * sb]
                return sum(
                    integrate.quad(
                        lambda b: np.prod(PHI[act](w * xs + b)) * stats.norm.pdf(b, scale=sb),
                        lo,
                        hi,
                        epsabs=1e-15,
                    )[0]
                    for lo, hi in itertools.pairwise(pieces)
                )

            ref = sum(
                integrate.quad(inner, lo, hi, epsabs=1e-15, epsrel=1e-12)[0] for lo, hi in [(-a, 0), (0, a)]
            )
            assert got[i] == pytest.approx(ref / (2 * a), rel=1e-10)
    # linear: z = w x + b with w uniform; E z^4 = E w^4 x^4 + 6 E w^2 x^2 sb^2 + 3 sb^4
    arch = Architecture(activation="linear", sigma_w=sw, sigma_b=sb, weight_dist="uniform")
    ew2, ew4 = sw**2, 9 / 5 * sw**4
    expected = ew4 * x**4 + 6 * ew2 * x**2 * sb**2 + 3 * sb**4
    diag = [int(np.flatnonzero((t == i).all(axis=1))[0]) for i in range(3)]
    np.testing.assert_allclose(neuron_moment(arch, x, 4)[diag], expected, rtol=1e-14)


# -- exact finite-width correlators -------------------------------------------------------------
def tuple_mean_ratio(arch, x):
    k6 = exact(arch, x, 6)
    gp = wick(kernel(arch, x), 6)
    return np.mean((k6 - gp) / gp)


def test_relu_zero_bias_exact_limits():
    width = 7
    arch = Architecture(activation="relu", width=width, sigma_b=0.0)
    x = RELU_SET
    k = kernel(arch, x)
    np.testing.assert_allclose(exact(arch, x, 4, connected=True) / wick(k, 4), 5 / width, rtol=1e-12)
    prod4 = np.prod(x[tuples(6, 4)], axis=1)
    prod6 = np.prod(x[tuples(6, 6)], axis=1)
    np.testing.assert_allclose(exact(arch, x, 4), 0.75 * prod4 * (1 + 5 / width), rtol=1e-12)
    np.testing.assert_allclose(
        exact(arch, x, 6), 15 / 8 * prod6 * (1 + 4 / width) * (1 + 11 / width), rtol=1e-12
    )
    assert tuple_mean_ratio(arch, x) == pytest.approx(15 / width + 44 / width**2, rel=1e-12)


def binomial_mean(width, f):
    m = np.arange(width + 1)
    return float((stats.binom.pmf(m, width, 0.5) * f(m)).sum())


def test_order8_against_conditional_gaussian_counting():
    # ReLU, sigma_b = 0, one positive input: given the hidden layer f is Gaussian with
    # variance (x^2/N) S, S = sum_j relu(g_j)^2 ~ chi^2_M, M ~ Binomial(N, 1/2).
    width, x = 5, 0.7
    arch = Architecture(activation="relu", width=width, sigma_b=0.0)
    for n in (4, 6, 8):
        chi_moment = binomial_mean(width, lambda m, n=n: np.prod([m + 2 * j for j in range(n // 2)], axis=0))
        expected = special.factorial2(n - 1) * (x**2 / width) ** (n // 2) * chi_moment
        assert exact(arch, [x], n)[0] == pytest.approx(expected, rel=1e-12)
    # linear, sigma_b = 0: S ~ chi^2_N, so E f^8 = 105 (x^2/N)^4 N(N+2)(N+4)(N+6)
    arch = Architecture(activation="linear", width=width, sigma_b=0.0)
    expected = 105 * (x**2 / width) ** 4 * width * (width + 2) * (width + 4) * (width + 6)
    assert exact(arch, [x], 8)[0] == pytest.approx(expected, rel=1e-12)


def test_uniform_readout_moments():
    # linear net, sigma_b = 0, uniform weights in both layers, one input: f = sum_i a_i,
    # a_i = W1_i W0_i x i.i.d., so G4, G6 follow from the moments of a product of uniforms
    width, sw, x = 4, 1.3, 0.8
    arch = Architecture(activation="linear", width=width, sigma_w=sw, sigma_b=0.0, weight_dist="uniform")
    e2, e4, e6 = 1.0, 9 / 5, 27 / 7  # unit-variance uniform
    a2 = (sw**2 / width) * e2 * sw**2 * e2 * x**2
    a4 = (sw**4 / width**2) * e4 * sw**4 * e4 * x**4
    a6 = (sw**6 / width**3) * e6 * sw**6 * e6 * x**6
    n = width
    g4 = n * a4 + 3 * n * (n - 1) * a2**2
    g6 = n * a6 + 15 * n * (n - 1) * a4 * a2 + 15 * n * (n - 1) * (n - 2) * a2**3
    assert exact(arch, [x], 4)[0] == pytest.approx(g4, rel=1e-13)
    assert exact(arch, [x], 6)[0] == pytest.approx(g6, rel=1e-13)


def test_cos_and_gauss_single_input_limits():
    width = 9
    arch = Architecture(activation="cos", width=width, sigma_b=0.0)
    k4 = exact(arch, [0.37], 4, connected=True)[0]
    assert k4 / kernel(arch, [0.37])[0, 0] ** 2 == pytest.approx(1.5 / width, rel=1e-13)
    for sb in (0.5, 1.0):
        arch = Architecture(activation="gauss", width=width, sigma_b=sb)
        assert width * exact(arch, [0.0], 4, connected=True)[0] == pytest.approx(
            3 * math.exp(4 * sb**2) - 3, rel=1e-13
        )
    kappa6 = width**2 * exact(arch, [0.0], 6, connected=True)[0]
    assert kappa6 == pytest.approx(15 * math.exp(12) - 45 * math.exp(4) + 30, rel=1e-13)


@pytest.mark.parametrize(
    ("act", "x", "sb", "a4", "a6", "b6", "digits"),
    [
        ("erf", XSET1, 1.0, 0.056278, 0.169008, 0.006707, (6, 6, 6)),
        ("gauss", 0.01 * XSET1, 1.0, 13.39937, 40.19810, 20324.53, (5, 5, 2)),
        ("relu", RELU_SET, 0.0, 5.0, 15.0, 44.0, (9, 9, 7)),
    ],
)
def test_published_input_sets_table(act, x, sb, a4, a6, b6, digits):
    # physics.md §2.3: a4 = N <|kappa4 / G4_GP|>, <Delta G6 / G6_GP> = a6/N + b6/N^2
    ratios = {}
    for width in (1000, 4000):
        arch = Architecture(activation=act, width=width, sigma_b=sb)
        gp4 = wick(kernel(arch, x), 4)
        measured_a4 = width * np.mean(np.abs(exact(arch, x, 4, connected=True) / gp4))
        assert round(measured_a4, digits[0]) == pytest.approx(a4, abs=1e-12)
        ratios[width] = tuple_mean_ratio(arch, x)
    lhs = np.array([[1e-3, 1e-6], [2.5e-4, 1 / 4000**2]])
    fit_a6, fit_b6 = np.linalg.solve(lhs, [ratios[1000], ratios[4000]])
    assert round(fit_a6, digits[1]) == pytest.approx(a6, abs=1e-12)
    assert round(fit_b6, digits[2]) == pytest.approx(b6, abs=1e-9)


@pytest.mark.parametrize("act", ["erf", "tanh", "relu", "gauss", "cos", "linear"])
def test_exact_structure(act):
    arch = Architecture(activation=act, width=6, sigma_b=0.0 if act == "cos" else 0.8)
    x = XSET1[:4]
    k = kernel(arch, x)
    t2 = tuples(4, 2)
    np.testing.assert_allclose(exact(arch, x, 2), k[t2[:, 0], t2[:, 1]], rtol=1e-13)
    np.testing.assert_allclose(exact(arch, x, 2, connected=True), exact(arch, x, 2), rtol=1e-15)
    np.testing.assert_allclose(
        exact(arch, x, 4) - wick(k, 4), exact(arch, x, 4, connected=True), rtol=1e-9, atol=1e-12
    )
    for odd in (1, 3, 5):
        out = exact(arch, x, odd)
        assert out.shape == (n_tuples(4, odd),) and not out.any()
    assert exact(arch, x, 8).shape == (n_tuples(4, 8),)


def test_kappa4_one_over_width_and_kappa6_one_over_width_squared():
    x = XSET1[:3]
    narrow, wide = (Architecture(activation="tanh", width=w, sigma_w=1.5, sigma_b=0.4) for w in (3, 30))
    np.testing.assert_allclose(
        exact(narrow, x, 4, connected=True), 10 * exact(wide, x, 4, connected=True), rtol=1e-12
    )
    np.testing.assert_allclose(
        exact(narrow, x, 6, connected=True), 100 * exact(wide, x, 6, connected=True), rtol=1e-12
    )
    # the read-out variance enters as sigma_w1^n, the read-out bias not at all
    scaled = narrow.replace(sigma_w=(1.5, 3.0), sigma_b=(0.4, 2.0))
    np.testing.assert_allclose(
        exact(scaled, x, 4, connected=True), 16 * exact(narrow, x, 4, connected=True), rtol=1e-12
    )
