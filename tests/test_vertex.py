"""Vertex integrals: closed forms (physics.md §3.6) against independent quadrature."""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate

from nnqft import vertex
from nnqft.architecture import Architecture
from nnqft.theory import kernel
from nnqft.tuples import rank, tuples
from nnqft.vertex import (
    IntegrationWarning,
    bilocal_integral,
    eft_kernel,
    exchange_integral,
    integration_method,
    moment_integral,
    vertex_integral,
)

RELU_X = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])  # HMS ReLU set, physics.md §1.6
ERF_X = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
RELU_X2 = np.array([[0.5, 0.5], [0.5, 1.0], [1.0, 0.5], [1.0, 1.0]])
RELU_X3 = np.array([[0.2, 0.2, 0.2], [1, 1, 0.2], [0.2, 1, 1], [1, 0.2, 1]])


def relu(d_in=1, sigma_b=0.0, depth=1, sigma_w=1.0):
    return Architecture("relu", width=20, d_in=d_in, depth=depth, sigma_w=sigma_w,
                        sigma_b=sigma_b)


def prod_x(x, n):
    return np.prod(x[tuples(len(x), n)], axis=1)


# -- ReLU without biases: exact homogeneous closed forms (d_in = 1) -------------------
@pytest.mark.parametrize("cutoff", [7.0, 10.0, 100.0])
def test_relu_d1_closed_forms(cutoff):
    # K_EFT = x y / 2 for x, y > 0 (sigma_w = 1): int_0^L prod (x_a y / 2) dy
    arch = relu()
    assert integration_method(arch) == "homogeneous"
    np.testing.assert_allclose(vertex_integral(arch, RELU_X, 4, cutoff),
                               prod_x(RELU_X, 4) * cutoff**5 / 80, rtol=1e-14)
    np.testing.assert_allclose(vertex_integral(arch, RELU_X, 6, cutoff),
                               prod_x(RELU_X, 6) * cutoff**7 / 448, rtol=1e-14)
    np.testing.assert_allclose(moment_integral(arch, RELU_X, 4, cutoff),
                               prod_x(RELU_X, 4) * cutoff**7 / 112, rtol=1e-14)
    # two vertices: (L^5/5)^2 (1/2)^7 prod x per split, 10 splits
    np.testing.assert_allclose(exchange_integral(arch, RELU_X, cutoff),
                               prod_x(RELU_X, 6) * cutoff**10 / 320, rtol=1e-14)


def test_linear_d1_closed_form():
    # K_EFT = sigma_w1^2 sigma_w0^2 x y (no biases): int_{-L}^{L} prod (x_a y) dy = 2 L^5/5 prod x
    arch = Architecture("linear", width=20, sigma_w=1.5, sigma_b=(0.0, 0.8))
    assert integration_method(arch) == "homogeneous"
    np.testing.assert_allclose(vertex_integral(arch, ERF_X, 4, 3.0),
                               1.5**16 * prod_x(ERF_X, 4) * 2 * 3.0**5 / 5, rtol=1e-13)
    np.testing.assert_allclose(vertex_integral(arch, ERF_X, 3, 3.0), 0.0, atol=1e-12)


def test_relu_mixed_signs_vanish():
    # K_EFT(x, y) = 0 for x y < 0 when sigma_b = 0: a tuple with both signs has I4 = 0
    i4 = vertex_integral(relu(), ERF_X, 4, 3.0)
    t = tuples(6, 4)
    mixed = (ERF_X[t] > 0).any(axis=1) & (ERF_X[t] < 0).any(axis=1)
    assert np.all(np.abs(i4[mixed]) < 1e-15 * np.abs(i4).max())
    same = ~mixed
    np.testing.assert_allclose(i4[same], np.prod(np.abs(ERF_X[t[same]]), axis=1) * 3.0**5 / 80,
                               rtol=1e-14)


@pytest.mark.parametrize("d_in, x", [(2, RELU_X2), (3, RELU_X3)])
def test_relu_homogeneity_exact(d_in, x):
    arch = relu(d_in)
    for order in (4, 6):
        ratio = vertex_integral(arch, x, order, 7.0) / vertex_integral(arch, x, order, 1.0)
        np.testing.assert_allclose(ratio, 7.0 ** (order + d_in), rtol=1e-13)


@pytest.mark.parametrize("d_in, x", [(2, RELU_X2), (3, RELU_X3)])
def test_relu_faces_against_box_quadrature(d_in, x):
    arch = relu(d_in)
    face = vertex_integral(arch, x, 4, 2.0)
    box = vertex_integral(arch, x, 4, 2.0, method="quadrature", rtol=1e-7)
    np.testing.assert_allclose(box, face, rtol=1e-6)
    face_m = moment_integral(arch, x, 4, 2.0)
    box_m = moment_integral(arch, x, 4, 2.0, method="quadrature", rtol=1e-7)
    np.testing.assert_allclose(box_m, face_m, rtol=1e-6)


def relu_keft_2d(x, y):
    """Arc-cosine K - sigma_b1^2 for sigma_w = 1, sigma_b = 0, d_in = 2 (physics.md §1.3)."""
    s_xy, s_xx, s_yy = np.dot(x, y) / 2, np.dot(x, x) / 2, np.dot(y, y) / 2
    norm = math.sqrt(s_xx * s_yy)
    if norm == 0:
        return 0.0
    theta = math.acos(min(1.0, max(-1.0, s_xy / norm)))
    return norm / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))


def test_relu_d2_against_scipy_dblquad():
    arch = relu(2)
    t = (0, 1, 2, 3)
    y0 = np.array([0.3, -1.1])
    assert eft_kernel(arch, RELU_X2[:1], y0[None])[0, 0] == pytest.approx(
        relu_keft_2d(RELU_X2[0], y0), rel=1e-14)

    def integrand(y2, y1):
        return math.prod(relu_keft_2d(RELU_X2[a], np.array([y1, y2])) for a in t)

    # split at the kink through the origin so that dblquad sees smooth pieces
    ref = sum(integrate.dblquad(integrand, a, b, c, e, epsabs=0, epsrel=1e-10)[0]
              for (a, b), (c, e) in itertools.product([(-1.5, 0), (0, 1.5)], repeat=2))
    ours = vertex_integral(arch, RELU_X2, 4, 1.5)[rank(np.array(t), 4)]
    assert ours == pytest.approx(ref, rel=1e-8)


def test_relu_exchange_d2_faces_against_box():
    arch = relu(2)
    face = exchange_integral(arch, RELU_X2, 1.0, rtol=1e-6)
    box = exchange_integral(arch, RELU_X2, 1.0, method="quadrature", rtol=1e-4)
    np.testing.assert_allclose(box, face, rtol=1e-4)


def test_deep_relu_is_homogeneous():
    arch = relu(depth=2)
    assert integration_method(arch) == "homogeneous"
    ratio = vertex_integral(arch, ERF_X, 4, 5.0) / vertex_integral(arch, ERF_X, 4, 1.0)
    nonzero = np.abs(vertex_integral(arch, ERF_X, 4, 1.0)) > 1e-12
    np.testing.assert_allclose(ratio[nonzero], 5.0**5, rtol=1e-12)


# -- Gaussian kernels (gauss and cos nets) ----------------------------------------------
def gauss(d_in=1, sigma_w=1.0, sigma_b=1.0):
    return Architecture("gauss", width=20, d_in=d_in, sigma_w=sigma_w, sigma_b=sigma_b)


def cos(d_in=1, sigma_w=1.0):
    return Architecture("cos", width=20, d_in=d_in, sigma_w=sigma_w, sigma_b=(0.0, 0.7))


def test_gauss_small_x_limits():
    # x -> 0, sigma = 1, d = 1: I4 = sqrt(pi/2), I6 = sqrt(pi/3), one exchange = 2 pi/sqrt(15)
    arch = gauss()
    zero = np.zeros(1)
    assert vertex_integral(arch, zero, 4)[0] == pytest.approx(math.sqrt(math.pi / 2), rel=1e-15)
    assert vertex_integral(arch, zero, 6)[0] == pytest.approx(math.sqrt(math.pi / 3), rel=1e-15)
    assert exchange_integral(arch, zero)[0] == pytest.approx(10 * 2 * math.pi / math.sqrt(15),
                                                             rel=1e-14)
    # second moment: int y^2 e^{-2 y^2} = sqrt(pi/2) / 4
    assert moment_integral(arch, zero, 4)[0] == pytest.approx(math.sqrt(math.pi / 2) / 4,
                                                              rel=1e-15)


@pytest.mark.parametrize("d_in", [1, 2, 3])
def test_gauss_infinite_box_formula(d_in):
    # physics.md §3.6: I4 = sigma_w1^8 (pi d / (2 sigma_w0^2))^{d/2}
    #                      * exp(-(sigma_w0^2 / 2d) sum |x - xbar|^2)
    sw = 1.3
    arch = gauss(d_in, sigma_w=sw)
    x = np.random.default_rng(d_in).uniform(-0.5, 0.5, (3, d_in))
    pts = x[tuples(3, 4)]
    spread = ((pts - pts.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2))
    expect = sw**8 * (math.pi * d_in / (2 * sw**2)) ** (d_in / 2) * np.exp(
        -(sw**2 / (2 * d_in)) * spread)
    np.testing.assert_allclose(vertex_integral(arch, x, 4), expect, rtol=1e-14)


@pytest.mark.parametrize("make", [gauss, cos], ids=["gauss", "cos"])
@pytest.mark.parametrize("d_in", [1, 2])
def test_gaussian_closed_forms_against_quadrature(make, d_in):
    arch = make(d_in, sigma_w=1.4)
    assert integration_method(arch) == "gaussian"
    x = np.random.default_rng(7).uniform(-1, 1, (3, d_in))
    for cutoff in (0.7, 2.5):
        for fn, args in ((vertex_integral, (4, cutoff)), (vertex_integral, (6, cutoff)),
                         (moment_integral, (4, cutoff)), (bilocal_integral, (cutoff,))):
            np.testing.assert_allclose(fn(arch, x, *args, method="quadrature", rtol=1e-12),
                                       fn(arch, x, *args), rtol=1e-11)


@pytest.mark.parametrize("make", [gauss, cos], ids=["gauss", "cos"])
def test_gaussian_exchange_against_quadrature(make):
    arch = make(1, sigma_w=0.9)
    x = np.array([-0.8, 0.1, 0.9])
    for cutoff in (0.6, 3.0):
        closed = exchange_integral(arch, x, cutoff)
        quad = exchange_integral(arch, x, cutoff, method="quadrature", rtol=1e-11)
        np.testing.assert_allclose(quad, closed, rtol=1e-10)


def test_gaussian_exchange_d2_against_quadrature():
    arch = gauss(2)
    x = np.array([[0.3, -0.2], [-0.4, 0.5]])
    closed = exchange_integral(arch, x, 1.0)
    quad = exchange_integral(arch, x, 1.0, method="quadrature", rtol=1e-8)
    np.testing.assert_allclose(quad, closed, rtol=1e-7)


def test_gauss_infinite_box_is_the_limit_of_finite_boxes():
    arch = gauss(2, sigma_w=1.2)
    x = np.array([[0.3, -0.2], [-0.4, 0.5], [1.0, 0.0]])
    for fn in (lambda c: vertex_integral(arch, x, 4, c), lambda c: moment_integral(arch, x, 4, c),
               lambda c: exchange_integral(arch, x, c), lambda c: bilocal_integral(arch, x, c)):
        np.testing.assert_allclose(fn(30.0), fn(np.inf), rtol=1e-13)
        assert np.all(fn(1.0) < fn(np.inf))


def test_gaussian_far_outside_box_is_tiny_not_nan():
    # inputs far outside the box: the erf differences must not cancel to 0 or NaN
    arch = gauss()
    x = np.array([9.0])
    value = vertex_integral(arch, x, 4, 1.0)[0]
    # int_{-1}^{1} exp(-2 (y - 9)^2) dy = sqrt(pi/8) (erf(20 sqrt 2/... )) ~ e^{-128} scale
    ref = integrate.quad(lambda y: math.exp(-2 * (y - 9) ** 2), -1, 1, epsabs=0, epsrel=1e-12)[0]
    assert value == pytest.approx(ref, rel=1e-10)
    assert value > 0


# -- quadrature against scipy -----------------------------------------------------------------
@pytest.mark.parametrize("arch, cutoff", [
    (Architecture("erf", width=20, sigma_w=1.0, sigma_b=1.0), 20.0),
    (Architecture("erf", width=20, sigma_w=1.0, sigma_b=1.0), 1e4),
    (relu(sigma_b=0.7), 20.0),
    (Architecture("tanh", width=20, sigma_w=1.5, sigma_b=0.5), 6.0),
    (Architecture("erf", width=20, depth=2, sigma_w=1.2, sigma_b=0.3), 8.0),
], ids=["erf", "erf-large-box", "relu-bias", "tanh", "erf-depth2"])
def test_quadrature_against_scipy_quad(arch, cutoff):
    assert integration_method(arch) == "quadrature"
    ours = vertex_integral(arch, ERF_X, 4, cutoff)
    breaks = sorted({0.0, *ERF_X, *(s * 10.0**j for j in range(5) for s in (-1, 1)
                                    if 10.0**j < cutoff)})
    for idx in (0, 17, 70, 125):
        t = tuples(6, 4)[idx]

        def f(y, t=t):
            return np.prod(eft_kernel(arch, ERF_X[t], np.array([[y]]))[:, 0])

        ref = integrate.quad(f, -cutoff, cutoff, points=breaks, limit=500, epsabs=0,
                             epsrel=1e-12)[0]
        assert ours[idx] == pytest.approx(ref, rel=1e-10, abs=1e-14 * abs(ours).max())


def erf_keft(x, y):
    """Erf-net K - sigma_b1^2 at sigma_w = sigma_b = 1, d_in = 1 (physics.md §1.2)."""
    s_xy, s_xx, s_yy = 1 + x * y, 1 + x * x, 1 + y * y
    return 2 / math.pi * math.asin(2 * s_xy / math.sqrt((1 + 2 * s_xx) * (1 + 2 * s_yy)))


def test_erf_exchange_against_nested_quad():
    arch = Architecture("erf", width=20, sigma_w=1.0, sigma_b=1.0)
    x = np.array([-0.5, 0.8])
    cutoff = 3.0
    assert eft_kernel(arch, x[:1], x[1:])[0, 0] == pytest.approx(erf_keft(x[0], x[1]), rel=1e-14)
    ours = exchange_integral(arch, x, cutoff)

    def legs(triple, y):
        return math.prod(erf_keft(x[a], y) for a in triple)

    def pair(a, b):
        def inner(z, y):
            return legs(a, y) * erf_keft(y, z) * legs(b, z)
        return integrate.dblquad(inner, -cutoff, cutoff, -cutoff, cutoff, epsabs=0,
                                 epsrel=1e-11)[0]

    # the 10 splits of (0,0,0,1,1,1) into two triples: 1 x (000|111), 9 x (001|011)
    expect = pair((0, 0, 0), (1, 1, 1)) + 9 * pair((0, 0, 1), (0, 1, 1))
    assert ours[rank(np.array([0, 0, 0, 1, 1, 1]), 2)] == pytest.approx(expect, rel=1e-9)


def test_budget_warning(monkeypatch):
    monkeypatch.setattr(vertex, "_MAX_EXCHANGE_NODES", 200)
    arch = Architecture("erf", width=20, d_in=2, sigma_w=1.0, sigma_b=1.0)
    for _ in range(2):  # computed, then the cache's (the budget is in its key): it warns
        with pytest.warns(IntegrationWarning, match="budget") as record:  # both times, here
            exchange_integral(arch, RELU_X2[:2], 2.0)
        assert [w.filename for w in record] == [__file__]


# -- kernels, validation, divergences ---------------------------------------------------
def test_eft_kernel_removes_readout_bias():
    arch = Architecture("erf", width=20, depth=2, sigma_w=1.0, sigma_b=(0.4, 0.2, 0.9))
    np.testing.assert_allclose(eft_kernel(arch, ERF_X), kernel(arch, ERF_X) - 0.81, rtol=0,
                               atol=1e-15)


@pytest.mark.parametrize("arch", [
    Architecture("erf", width=20, sigma_b=1.0),
    Architecture("erf", width=20, sigma_b=0.0),
    Architecture("tanh", width=20, sigma_b=1.0),
    relu(),
    relu(sigma_b=1.0),
    Architecture("linear", width=20, sigma_b=0.0),
    Architecture("gauss", width=20, weight_dist="uniform"),
])
def test_infinite_cutoff_refused_where_it_diverges(arch):
    with pytest.raises(ValueError, match="cutoff = inf"):
        vertex_integral(arch, ERF_X, 4)
    with pytest.raises(ValueError, match="cutoff = inf"):
        exchange_integral(arch, ERF_X, np.inf)


def test_argument_checks():
    arch = gauss()
    with pytest.raises(ValueError, match="cutoff"):
        vertex_integral(arch, ERF_X, 4, -1.0)
    with pytest.raises(ValueError, match="cutoff"):
        vertex_integral(arch, ERF_X, 4, float("nan"))
    with pytest.raises(ValueError, match="order"):
        vertex_integral(arch, ERF_X, 0)
    with pytest.raises(ValueError, match="method"):
        vertex_integral(arch, ERF_X, 4, method="simpson")
    with pytest.raises(ValueError, match="gaussian closed form"):
        vertex_integral(relu(), RELU_X, 4, 2.0, method="gaussian")
    with pytest.raises(ValueError, match="homogeneous"):
        vertex_integral(relu(sigma_b=0.5), RELU_X, 4, 2.0, method="homogeneous")
    with pytest.raises(ValueError, match="shape"):
        vertex_integral(Architecture("gauss", width=20, d_in=2), ERF_X, 4)
    with pytest.raises(TypeError, match="Architecture"):
        vertex_integral("gauss", ERF_X, 4)


def test_quadratures_are_memoised_by_value_and_return_copies():
    """fit_couplings and fit_exact_like ask for the same quadrature: the second call is
    the cache's, for equal (not identical) inputs, and mutating a result changes nothing."""
    arch = relu(2)
    first = vertex_integral(arch, RELU_X2, 4, 1.5)
    kept = first.copy()
    first[:] = 0.0
    hits = vertex._rule_products.cache_info().hits
    again = vertex_integral(relu(2), RELU_X2.copy(), 4, 1.5)
    assert vertex._rule_products.cache_info().hits == hits + 1
    np.testing.assert_array_equal(again, kept)
    pairs = exchange_integral(arch, RELU_X2, 1.5)
    pairs[:] = 0.0
    assert np.all(exchange_integral(arch, RELU_X2, 1.5) != 0.0)
    # a different box is a different integral
    assert not np.allclose(vertex_integral(arch, RELU_X2, 4, 1.4), kept)
