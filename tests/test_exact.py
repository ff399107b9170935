"""nnqft.kernel / nnqft.exact against independent formulas and the sampler (issue 3)."""

import time

import numpy as np
import pytest
from conftest import XSET_ERF, assert_z
from reference import exact_depth1, kernel_closed_form, layout

import nnqft

X2 = np.array([[0.3, -0.5], [1.0, 0.2], [-0.4, -0.9]])


def upper(kmat):
    return np.array([kmat[a, b] for a, b in layout(len(kmat), 2)])


@pytest.mark.parametrize("activation", ["erf", "relu", "gauss", "cos", "linear"])
@pytest.mark.parametrize("x", [XSET_ERF[:, None], X2], ids=["d1", "d2"])
def test_depth1_kernels_match_closed_forms(activation, x):
    arch = nnqft.Architecture(activation, d_in=x.shape[1], sigma_w=1.3, sigma_b=0.7)
    np.testing.assert_allclose(upper(nnqft.kernel(arch, x)),
                               kernel_closed_form(activation, x, 1.3, 0.7), rtol=1e-12)


def test_tanh_kernel_matches_brute_force_quadrature():
    from reference import moments_quadrature

    arch = nnqft.Architecture("tanh", sigma_w=1.5, sigma_b=0.4)
    c = moments_quadrature("tanh", XSET_ERF, 2, 1.5, 0.4, n_nodes=160)
    np.testing.assert_allclose(upper(nnqft.kernel(arch, XSET_ERF)), 0.16 + 2.25 * c, rtol=1e-9)


def test_cross_kernel_is_consistent():
    arch = nnqft.Architecture("erf", sigma_b=0.5)
    y = np.linspace(-3, 3, 50)
    full = nnqft.kernel(arch, np.concatenate([XSET_ERF, y]))
    np.testing.assert_allclose(nnqft.kernel(arch, XSET_ERF, y), full[:6, 6:], rtol=1e-13)


@pytest.mark.parametrize("activation,x,sw,sb", [
    ("erf", XSET_ERF[::2], 1.0, 1.0),
    ("relu", np.array([0.2, 0.7, 1.2]), 1.0, 0.0),
    ("relu", np.array([-0.8, 0.3, 1.0]), 1.3, 0.6),
    ("cos", np.array([0.0, 0.5, 1.5]), 1.0, 0.5),
    ("gauss", np.array([-0.5, 0.1, 0.6]), 1.0, 0.3),
    ("erf", X2, 1.2, 0.8),
    ("gauss", X2[:2], 0.8, 0.2),
])
@pytest.mark.parametrize("width", [2, 7])
def test_exact_matches_independent_implementation(activation, x, sw, sb, width):
    x = np.atleast_2d(x.T).T
    arch = nnqft.Architecture(activation, width=width, d_in=x.shape[1], sigma_w=sw, sigma_b=sb)
    ref = exact_depth1(activation, x, width, sw, sb)
    # the reference's Gauss-Hermite rule (erf) is good to ~1e-9; kappa_n is a difference
    for n in (2, 4, 6):
        np.testing.assert_allclose(nnqft.exact(arch, x, n), ref[f"G{n}"], rtol=1e-8, atol=1e-14)
    for n in (4, 6):
        np.testing.assert_allclose(nnqft.exact(arch, x, n, connected=True), ref[f"K{n}"],
                                   rtol=1e-6, atol=1e-12 * np.abs(ref[f"K{n}"]).max())


def test_relu_zero_bias_ratios():
    """physics.md §2.3: kappa4 / G4_GP = 5/N on every tuple; <DeltaG6/G6_GP> = 15/N + 44/N^2."""
    x = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    for width in (3, 20, 1000):
        arch = nnqft.Architecture("relu", width=width, sigma_b=0.0)
        k = nnqft.kernel(arch, x)
        np.testing.assert_allclose(nnqft.exact(arch, x, 4, connected=True) / nnqft.wick(k, 4),
                                   5 / width, rtol=1e-10)
        g6gp = nnqft.wick(k, 6)
        ratio = (nnqft.exact(arch, x, 6) - g6gp) / g6gp
        np.testing.assert_allclose(ratio, 15 / width + 44 / width**2, rtol=1e-10)


def test_cos_net_single_input_and_gauss_small_x_limits():
    for width in (2, 50):
        arch = nnqft.Architecture("cos", width=width, sigma_b=0.0)
        k2 = nnqft.kernel(arch, [[0.7]])[0, 0]
        assert nnqft.exact(arch, [[0.7]], 4, connected=True)[0] / k2**2 == pytest.approx(1.5 / width)
    for sb in (0.5, 1.0):
        arch = nnqft.Architecture("gauss", width=10, sigma_b=sb)
        k4 = nnqft.exact(arch, [[1e-6]], 4, connected=True)[0]
        assert 10 * k4 == pytest.approx(3 * np.exp(4 * sb**2) - 3, rel=1e-9)
    arch = nnqft.Architecture("gauss", width=10, sigma_b=1.0)
    k6 = nnqft.exact(arch, [[1e-6]], 6, connected=True)[0]
    assert 100 * k6 == pytest.approx(15 * np.exp(12) - 45 * np.exp(4) + 30, rel=1e-9)


def test_published_table_numbers():
    """physics.md §2.3: a4 = N <|kappa4 / G4_GP|> on the HMS sets at sigma_w = 1."""
    cases = [("relu", np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2]), 0.0, 5.0),
             ("gauss", 0.01 * XSET_ERF, 1.0, 13.39937),
             ("erf", XSET_ERF, 1.0, 0.056278)]
    for activation, x, sb, a4 in cases:
        arch = nnqft.Architecture(activation, width=1000, sigma_b=sb)
        ratio = nnqft.exact(arch, x, 4, connected=True) / nnqft.wick(nnqft.kernel(arch, x), 4)
        assert 1000 * np.abs(ratio).mean() == pytest.approx(a4, rel=2e-5)


# The kernel scale of a narrow deep ReLU net has a stretched-exponential tail (every
# moment finite) whose Hill estimate sits near 4 (3.8 for depth 3, width 8, seed 7 on
# stream version 2), so the heavy-tail warning is seed-dependent here; the z-tests
# against the exact moments are what this test checks.
@pytest.mark.filterwarnings("ignore::nnqft.warnings.UnreliableErrorWarning")
@pytest.mark.parametrize("activation,ratio", [("relu", 5), ("linear", 2)])
@pytest.mark.parametrize("depth", [2, 3])
def test_deep_zero_bias_single_input_against_sampler(activation, ratio, depth):
    """<z^4> / (3 <z^2>^2) = (1 + c/N)^L with c = 5 (ReLU) and 2 (linear), physics.md §5."""
    width = 8
    arch = nnqft.Architecture(activation, width=width, depth=depth, sigma_b=0.0,
                              sigma_w=np.sqrt(2.0) if activation == "relu" else 1.0)
    corr = nnqft.sample(arch, [[1.0]], 100_000, orders=(2, 4), estimator="conditional",
                        seed=7, threads=2)
    k = nnqft.kernel(arch, [[1.0]])[0, 0]
    assert_z(corr.mean(2), corr.stderr(2), [k])
    assert_z(corr.mean(4), corr.stderr(4), [3 * k**2 * (1 + ratio / width) ** depth])


def test_deep_kernel_recursion_against_sampler():
    arch = nnqft.Architecture("tanh", width=400, depth=3, sigma_w=1.5, sigma_b=0.3)
    corr = nnqft.sample(arch, XSET_ERF[::2], 20_000, orders=(2,), estimator="conditional",
                        seed=1, threads=2)
    # the finite-width correction to G2 at depth > 1 is O(1/N): 5 sigma or 1/N
    k = upper(nnqft.kernel(arch, XSET_ERF[::2]))
    tol = np.maximum(5 * corr.stderr(2), 2.0 / arch.width * np.abs(k))
    assert np.all(np.abs(corr.mean(2) - k) < tol)


def test_exact_refuses_depth_and_bad_orders():
    with pytest.raises(NotImplementedError, match="kernel"):
        nnqft.exact(nnqft.Architecture("erf", depth=2), XSET_ERF, 4)
    with pytest.raises(ValueError, match="order"):
        nnqft.exact(nnqft.Architecture("erf"), XSET_ERF, 0)
    with pytest.raises(ValueError, match="shape"):
        nnqft.exact(nnqft.Architecture("erf", d_in=2), XSET_ERF, 4)
    assert np.all(nnqft.exact(nnqft.Architecture("erf"), XSET_ERF, 3) == 0)


def test_exact_order_six_speed_report(capsys):
    """Issue 3 asks for < 1 s; timed here for the record only (never asserted: shared CPU)."""
    lines = []
    for activation in ("erf", "tanh", "relu", "gauss", "cos", "linear"):
        arch = nnqft.Architecture(activation, width=10, sigma_b=0.5)
        t0 = time.perf_counter()
        values = nnqft.exact(arch, XSET_ERF, 6)
        lines.append(f"{activation}: {time.perf_counter() - t0:.2f} s")
        ref = exact_depth1(activation, XSET_ERF, 10, 1.0, 0.5)["G6"]  # independent (tests/)
        np.testing.assert_allclose(values, ref, rtol=1e-8)
    print("exact(order=6), k=6:", ", ".join(lines))


@pytest.mark.parametrize("activation,sb,x", [("erf", 1.0, XSET_ERF[::2]),
                                             ("relu", 0.4, np.array([-0.5, 0.3, 1.1])),
                                             ("tanh", 0.5, XSET_ERF[1::2])])
@pytest.mark.parametrize("width", [2, 10])
def test_exact_against_the_sampler(activation, sb, x, width):
    arch = nnqft.Architecture(activation, width=width, sigma_b=sb, sigma_w=1.2)
    corr = nnqft.sample(arch, x, 40_000, orders=(2, 4, 6), estimator="conditional", seed=9,
                        threads=2)
    for n in (2, 4, 6):
        assert_z(corr.mean(n), corr.stderr(n), nnqft.exact(arch, x, n))
    for n in (4, 6):
        value, err = corr.connected(n)
        assert_z(value, err, nnqft.exact(arch, x, n, connected=True))


@pytest.mark.parametrize("activation", ["erf", "relu", "tanh"])
def test_uniform_weight_kernel_against_the_sampler(activation):
    """Uniform first-layer weights change the kernel of a nonlinear net (not only its
    variance): G2 is exactly K at every width for depth 1, so the sampler decides."""
    arch = nnqft.Architecture(activation, width=3, sigma_w=1.5, sigma_b=0.3,
                              weight_dist="uniform")
    x = XSET_ERF[::2]
    # 8e5 networks: for relu the two kernels differ by 4.5 standard errors at 2e5, so a
    # 5-sigma check at that size passed or failed with the seed (same on both streams).
    corr = nnqft.sample(arch, x, 800_000, orders=(2,), seed=4, threads=2)
    k = upper(nnqft.kernel(arch, x))
    assert_z(corr.mean(2), corr.stderr(2), k)
    gaussian = upper(nnqft.kernel(arch.replace(weight_dist="gaussian"), x))
    assert np.max(np.abs(corr.mean(2) - gaussian) / corr.stderr(2)) > 5  # and it differs
