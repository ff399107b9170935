"""Validation of the independent deep-network 1/N reference (tests/deep_reference.py).

Against the check values of physics-deep.md §3, nnqft's exact depth-1 theory, closed-form
kernels with an entry-by-entry derivative recursion, and one Monte Carlo run at depth 2.
"""

import itertools

import numpy as np
import pytest
from deep_reference import _four_point, _g, _node_scale, _pairs, _relu_moments, kappa4, reference_finite_width

import nnqft
from nnqft.tuples import tuples

X2 = np.array([[0.5, -0.2], [-0.3, 0.8], [0.6, 0.6], [0.1, 0.2]])


def outer(a, b):
    return np.einsum("ab,cd->abcd", a, b)


def on_tuples(dense, n):
    return np.array([dense[tuple(t)] for t in tuples(dense.shape[0], n)])


# -- physics-deep.md §3 ------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_linear_on_a_ray(depth):
    """Linear net, sigma_b = 0, d_in = 1: V_ab,cd / (K_ab K_cd) = 2L and K1 = 0."""
    x = np.array([[0.4], [-1.0], [2.0]])
    kern, k1, v = reference_finite_width("linear", [1.3] * (depth + 1), [0.0] * (depth + 1), x)
    np.testing.assert_allclose(v / outer(kern, kern), 2 * depth, rtol=1e-9)
    assert np.max(np.abs(k1)) < 1e-9 * np.max(np.abs(kern))


def test_linear_full_rank():
    """Linear, sigma_b = 0, full-rank kernel: V = L (K_ac K_bd + K_ad K_bc), K1 = 0."""
    x = np.array([[0.5, -0.2, 0.3], [-0.3, 0.8, 0.1], [0.6, 0.6, -0.5]])
    depth = 3
    kern, k1, v = reference_finite_width("linear", [0.9, 1.2, 1.1, 1.4], [0.0] * 4, x)
    wishart = outer(kern, kern).transpose(0, 2, 1, 3) + outer(kern, kern).transpose(0, 3, 2, 1)
    np.testing.assert_allclose(v, depth * wishart, rtol=1e-9, atol=1e-12 * np.max(np.abs(v)))
    assert np.max(np.abs(k1)) < 1e-9 * np.max(np.abs(kern))


def test_linear_four_inputs_full_rank():
    """Four inputs, rank-4 kernel: the 4-D tensor grid gives Isserlis, V = L (KK + KK)."""
    x = np.array([[0.5, -0.2, 0.3, 0.1], [-0.3, 0.8, 0.1, 0.4], [0.6, 0.6, -0.5, 0.2], [0.1, 0.2, 0.9, -0.7]])
    kern, k1, v = reference_finite_width("linear", [1.1, 1.3], [0.0, 0.0], x)
    wishart = outer(kern, kern).transpose(0, 2, 1, 3) + outer(kern, kern).transpose(0, 3, 2, 1)
    np.testing.assert_allclose(v, wishart, rtol=1e-10, atol=1e-13 * np.max(np.abs(v)))


def isserlis(sigma, idx):
    """E[z_i1 ... z_in] of a centred Gaussian: sum over perfect matchings."""
    if not idx:
        return 1.0
    first, rest = idx[0], idx[1:]
    return sum(sigma[first, rest[j]] * isserlis(sigma, rest[:j] + rest[j + 1 :]) for j in range(len(rest)))


@pytest.mark.parametrize("rank", [4, 3, 2, 1])
def test_relu_cones_sum_to_isserlis(rank):
    """relu(z)^p + (-1)^p relu(-z)^p = z^p: summing the cone moments over sign flips gives Isserlis.

    Each of the 16 sign patterns is a different cone; ranks below 4 give polygonal cones with
    more faces than dimensions.
    """
    rng = np.random.default_rng(rank)
    a = rng.normal(size=(4, rank))
    sigma = a @ a.T
    for powers in ([1, 1, 1, 1], [2, 1, 1], [1, 3], [2, 2]):
        m = len(powers)
        idx = [i for i, p in enumerate(powers) for _ in range(p)]
        total = 0.0
        for signs in itertools.product((1.0, -1.0), repeat=m):
            flip = np.diag(signs)
            moment = _relu_moments(flip @ sigma[:m, :m] @ flip, np.array([powers]), 1.0)[0]
            total += np.prod(np.array(signs) ** np.array(powers)) * moment
        assert abs(total - isserlis(sigma, idx)) < 1e-12 * np.max(np.abs(sigma)) ** (len(idx) / 2)


@pytest.mark.parametrize("depth, sigma_w", [(1, 1.0), (2, 2**0.5), (3, 1.7)])
def test_relu_on_a_ray(depth, sigma_w):
    """ReLU, sigma_b = 0, inputs on a ray: V_ab,cd / (K_ab K_cd) = 5L and K1 = 0."""
    x = np.array([[0.3], [1.0], [2.5]])
    kern, k1, v = reference_finite_width("relu", [sigma_w] * (depth + 1), [0.0] * (depth + 1), x)
    np.testing.assert_allclose(v / outer(kern, kern), 5 * depth, rtol=1e-9)
    assert np.max(np.abs(k1)) < 1e-9 * np.max(np.abs(kern))


def test_erf_check_values():
    """erf, x = 0.8, sigma_w = 1.5, sigma_b = 0.3 everywhere, L = 3 (to the digits given)."""
    kern, k1, v = reference_finite_width("erf", [1.5] * 4, [0.3] * 4, [0.8])
    assert round(kern[0, 0], 5) == 1.22962
    assert round(k1[0, 0], 4) == -0.1388
    assert round(v[0, 0, 0, 0], 4) == 0.7241


@pytest.mark.parametrize(
    "activation, sigma_b0, x",
    [
        ("erf", 0.4, X2),
        ("tanh", 0.4, X2),
        ("linear", 0.4, X2),
        ("relu", 0.4, X2),  # rank-3 kernel of 4 inputs: full-rank 3-input cones
        ("relu", 0.0, X2),  # rank 2: polygonal cones with more faces than dimensions
        ("relu", 0.0, X2[:, :1]),  # rank 1, inputs of both signs
        ("erf", 0.0, X2[:, :1]),  # rank-1 kernel for the smooth quadrature
    ],
)
def test_depth1_matches_exact(activation, sigma_b0, x):
    """Depth 1: K1 = 0 and kappa4 = (sigma_w1^4 / N) sum_3 T(K^1), nnqft's exact value."""
    width, sw, sb = 7, [1.3, 1.7], [sigma_b0, 0.2]
    kern, k1, v = reference_finite_width(activation, sw, sb, x)
    arch = nnqft.Architecture(
        activation=activation, width=width, d_in=x.shape[1], depth=1, sigma_w=sw, sigma_b=sb
    )
    exact4 = nnqft.exact(arch, x, order=4, connected=True)
    np.testing.assert_allclose(
        on_tuples(kappa4(v, width), 4), exact4, rtol=0, atol=1e-9 * np.max(np.abs(exact4))
    )
    np.testing.assert_allclose(on_tuples(kern, 2), nnqft.exact(arch, x, order=2), rtol=1e-11)
    assert np.all(k1 == 0)


# -- closed forms and an entry-by-entry recursion --------------------------------------------
def g_closed(activation, kern):
    """NNGP maps of erf (arcsin) and ReLU (arc-cosine), on the pairs a <= b."""
    out = []
    for a, b in _pairs(len(kern)):
        gaa, gbb, gab = kern[a, a], kern[b, b], kern[a, b]
        if activation == "erf":
            out.append(2 / np.pi * np.arcsin(2 * gab / np.sqrt((1 + 2 * gaa) * (1 + 2 * gbb))))
        else:
            norm = np.sqrt(gaa * gbb)
            theta = np.arccos(np.clip(gab / norm, -1, 1))
            out.append(norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi))
    return np.array(out)


@pytest.mark.parametrize("activation", ["erf", "relu"])
def test_g_quadrature_matches_closed_form(activation):
    rng = np.random.default_rng(3)
    for _ in range(3):
        a = rng.normal(size=(4, 4))
        kern = a @ a.T / 2 + 0.05 * np.eye(4)
        res = _node_scale(activation, kern)
        np.testing.assert_allclose(
            _g(activation, kern, res), g_closed(activation, kern), rtol=1e-12, atol=1e-14
        )


def _bump(kern, p, h):
    """Move the upper-triangle parameter p of a symmetric matrix: both (e, f) and (f, e)."""
    e, f = _pairs(len(kern))[p]
    out = kern.copy()
    out[e, f] += h
    if e != f:
        out[f, e] += h
    return out


def _richardson(values):
    table = list(values)
    for i in range(1, len(values)):
        table = [table[j + 1] + (table[j + 1] - table[j]) / (4**i - 1) for j in range(len(table) - 1)]
    return table[0]


def entrywise_derivatives(activation, kern):
    """Jacobian and Hessian of the closed-form g in the upper-triangle parameters."""
    n_p = len(_pairs(len(kern)))
    h0 = 0.1 * np.min(np.linalg.eigvalsh(kern))  # 0.02 was rounding-limited at ~1e-7
    steps = [h0 / 2**j for j in range(4)]
    jac = np.zeros((n_p, n_p))
    hess = np.zeros((n_p, n_p, n_p))
    for q in range(n_p):
        jac[:, q] = _richardson(
            [
                (g_closed(activation, _bump(kern, q, h)) - g_closed(activation, _bump(kern, q, -h))) / (2 * h)
                for h in steps
            ]
        )
    for q, r in itertools.product(range(n_p), repeat=2):

        def mixed(h, q=q, r=r):
            s = [
                g_closed(activation, _bump(_bump(kern, q, sq * h), r, sr * h))
                for sq in (1, -1)
                for sr in (1, -1)
            ]
            return (s[0] - s[1] - s[2] + s[3]) / (4 * h * h)

        hess[:, q, r] = _richardson([mixed(h) for h in steps])
    return jac, hess


@pytest.mark.parametrize(
    "activation, sigma_w, sigma_b, x",
    [
        ("erf", [1.5] * 3, [0.3] * 3, np.array([[-0.5], [0.3], [0.9]])),
        ("relu", [1.2, 1.3, 1.1], [0.2, 0.4, 0.1], X2[:3]),
    ],
)
def test_recursion_matches_entrywise_derivatives(activation, sigma_w, sigma_b, x):
    """Directional derivatives along V's eigenvectors == entry-by-entry Jacobian and Hessian.

    The second recursion uses the closed-form g, derivatives in the upper-triangle entries
    (an off-diagonal one moves both (e, f) and (f, e)), and V as a matrix over pairs.
    """
    kern, k1_ref, v_ref = reference_finite_width(activation, sigma_w, sigma_b, x)
    pairs = _pairs(len(x))
    k = x @ x.T / x.shape[1] * sigma_w[0] ** 2 + sigma_b[0] ** 2
    k1 = np.zeros(len(pairs))
    v = np.zeros((len(pairs), len(pairs)))
    for sw, sb in zip(sigma_w[1:], sigma_b[1:], strict=True):
        g = g_closed(activation, k)
        m4 = _four_point(activation, k, _node_scale(activation, k))
        t = np.array([[m4[a, b, c, d] for c, d in pairs] for a, b in pairs]) - np.outer(g, g)
        jac, hess = entrywise_derivatives(activation, k)
        k1 = sw**2 * (jac @ k1 + 0.5 * np.einsum("pqr,qr->p", hess, v))
        v = sw**4 * (t + jac @ v @ jac.T)
        k = sb**2 + sw**2 * np.array(
            [[g[pairs.index((min(a, b), max(a, b)))] for b in range(len(x))] for a in range(len(x))]
        )
    np.testing.assert_allclose(kern, k, rtol=1e-12)
    np.testing.assert_allclose(on_tuples(k1_ref, 2), k1, rtol=0, atol=1e-8 * np.max(np.abs(k1)))
    v_pairs = np.array([[v_ref[a, b, c, d] for c, d in pairs] for a, b in pairs])
    np.testing.assert_allclose(v_pairs, v, rtol=0, atol=1e-8 * np.max(np.abs(v)))


def test_converged_and_symmetric():
    """Finer quadrature and smaller steps change nothing at 1e-8; V has its symmetries."""
    case = ("tanh", [1.6] * 3, [0.2] * 3, X2[:3])
    base = reference_finite_width(*case)
    for kwargs in ({"resolution": 1.3}, {"rel_step": 0.05}):
        for ref, other in zip(base, reference_finite_width(*case, **kwargs), strict=True):
            np.testing.assert_allclose(other, ref, rtol=0, atol=1e-8 * np.max(np.abs(ref)))
    v = base[2]
    for perm in [(1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)]:
        assert np.array_equal(v, v.transpose(perm))
    assert np.array_equal(base[1], base[1].T)


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        reference_finite_width("gauss", [1.0, 1.0], [0.0, 0.0], [0.5])
    with pytest.raises(ValueError, match="sigma_w and sigma_b"):
        reference_finite_width("erf", [1.0, 1.0], [0.0], [0.5])


# -- Monte Carlo at depth 2 ------------------------------------------------------------------
def test_monte_carlo_depth2():
    """Gram-chain samples at N = 16 against K + K1/N and sum_3 V / N.

    Tolerance: 5 standard errors plus the O(1/N^2) remainder.  Measured with 4e5 networks
    at N = 16, 32, 64 (seed 1): N kappa4 - sum_3 V falls like 1/N and is at most 1.5% of
    max |sum_3 V| at N = 16; N (G2 - K) - K1 stays within 2 standard errors.  The bounds
    below allow 5% and 10% of the scale at N = 16.
    """
    width, x = 16, np.array([[-0.5], [0.3], [0.9]])
    kern, k1, v = reference_finite_width("erf", [1.5] * 3, [0.3] * 3, x)
    arch = nnqft.Architecture(activation="erf", width=width, d_in=1, depth=2, sigma_w=1.5, sigma_b=0.3)
    corr = nnqft.sample(arch, x, 200_000, orders=(2, 4), estimator="conditional", seed=7, threads=1)
    theory4 = on_tuples(kappa4(v, width), 4)
    values4, errors4 = corr.connected(4)
    assert_within(values4, theory4, errors4, 0.05 * np.max(np.abs(theory4)))
    theory2 = on_tuples(kern + k1 / width, 2)
    assert_within(corr.mean(2), theory2, corr.stderr(2), 0.1 * np.max(np.abs(k1)) / width)
    # the 1/N correction is resolved: without K1 the two-point function is off
    assert np.max(np.abs(corr.mean(2) - on_tuples(kern, 2)) / corr.stderr(2)) > 5


def assert_within(estimate, theory, errors, remainder):
    """|estimate - theory| <= 5 standard errors + the O(1/N^2) remainder bound."""
    excess = np.abs(estimate - theory) - (5 * errors + remainder)
    assert np.all(excess <= 0), f"worst excess {np.max(excess):.3g} (remainder bound {remainder:.3g})"


# -- the package's implementation ------------------------------------------------------------
@pytest.mark.parametrize(
    "activation, sigma_w, sigma_b, x, v_tol",
    [
        ("erf", [1.5] * 4, [0.3] * 4, np.array([[-0.5], [0.3], [0.9]]), 1e-9),
        ("tanh", [1.5] * 3, [0.3] * 3, np.array([[-0.5], [0.3], [0.9]]), 1e-7),  # its tanh T: ~1e-7
        ("relu", [1.2, 1.3, 1.1], [0.2, 0.4, 0.1], X2[:3], 1e-9),
        # rank-1 first layer, a nearly singular pair (0.5, 0.6) downstream
        ("relu", [1.4] * 4, [0.0, 0.2, 0.3, 0.1], np.array([[0.5], [-0.3], [0.6], [0.1]]), 1e-9),
        ("linear", [1.2, 1.1, 0.9], [0.3, 0.2, 0.1], X2, 1e-9),
    ],
)
def test_matches_nnqft_finite_width(activation, sigma_w, sigma_b, x, v_tol):
    """nnqft.finite_width (written separately, not read here) agrees with this reference."""
    kern, k1, v = reference_finite_width(activation, sigma_w, sigma_b, x)
    depth, width = len(sigma_w) - 1, 10
    arch = nnqft.Architecture(
        activation=activation, width=width, d_in=x.shape[1], depth=depth, sigma_w=sigma_w, sigma_b=sigma_b
    )
    theory = nnqft.finite_width(arch, x)
    pairs = _pairs(len(x))
    np.testing.assert_allclose(theory.kernel(), kern, rtol=1e-11)
    k1_scale = max(np.max(np.abs(k1)), 1e-3 * np.max(np.abs(kern)))  # K1 = 0 for linear nets
    np.testing.assert_allclose(theory.kernel_correction(), k1, rtol=0, atol=1e-8 * k1_scale)
    v_pairs = np.array([[v[a, b, c, d] for c, d in pairs] for a, b in pairs])
    np.testing.assert_allclose(theory.vertex(), v_pairs, rtol=0, atol=v_tol * np.max(np.abs(v_pairs)))
    kappa = on_tuples(kappa4(v, width), 4)
    np.testing.assert_allclose(theory.connected(4), kappa, rtol=0, atol=2 * v_tol * np.max(np.abs(kappa)))
    np.testing.assert_allclose(theory.mean(2), on_tuples(kern + k1 / width, 2), rtol=1e-8)


def test_tanh_four_distinct_inputs_against_tensor_quadrature():
    """tanh's rank-4 four-point function (the Kolmogorov mixture of sign moments; the
    depth-1 and 3-input comparisons never reach it, a Monte Carlo test only to ~1e-3)
    against the 48^4-node tensor
    rule (itself good to ~1e-11): 1e-8 absolute, on values of 4e-2 and 5e-4. Measured
    errors: 4e-10 with the 8-node Kolmogorov rule, 4e-7 with 4 nodes, 3e-6 with 3."""
    from nnqft import gaussian as fw

    rng = np.random.default_rng(5)
    for shrink in (0.3, 0.05):  # smallest eigenvalues 0.30 and 0.17
        m = rng.normal(size=(4, 4))
        cov = m @ m.T / 4 + shrink * np.eye(4)
        ref = _four_point("tanh", cov, _node_scale("tanh", cov))[0, 1, 2, 3]
        assert fw.tanh_four(cov[None])[0] == pytest.approx(ref, rel=0, abs=1e-8)
