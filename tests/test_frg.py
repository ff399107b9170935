"""Tests of nnqft.frg: LPA/Litim β-functions, flows with errors, fixed points, passive curves."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import root
from scipy.special import gamma

import nnqft
from nnqft import frg

# physics.md §4.3: d = 1, N = 3, (u2, u4, u6) = (2, -42.7651, 50) at k0 = 1e-10
N3_IR = {"u4": -42.7651, "u6": 50.0}
N3_TABLE = {
    1.0: (2.430501, -26.52288, 812.2020),
    10.0: (4.552735, -20.73375, 82.55886),
    100.0: (5.152289, -22.66634, 78.03420),
}


# --------------------------------------------------------------------------------------------
# An independent reference: the flow of the Taylor coefficients of U obtained by generic
# power-series arithmetic on dU/dt = V_d k^{d+2} / (k^2 + U''), integrated by fixed-step RK4.
# It shares no code (and no hand-derived combinatorial factor) with nnqft.frg.
# --------------------------------------------------------------------------------------------


def reference_vd(d):
    unit_ball = math.pi ** (d / 2) / gamma(d / 2 + 1)
    return unit_ball / (2 * math.pi) ** d


def series_rhs(k, u, d):
    """du_{2n}/dt for U = sum_n u_{2n} phi^{2n}/(2n)!, n = 1..len(u), by series inversion."""
    n = len(u)
    # U'' = sum_n u_{2n} phi^{2n-2}/(2n-2)! as a series in x = phi^2 (higher terms truncated)
    denominator = [u[j] / math.factorial(2 * j) for j in range(n)] + [0.0]
    denominator[0] += k * k
    inverse = [1.0 / denominator[0]]  # coefficients of x^m in 1/(k^2 + U'')
    for order in range(1, n + 1):
        acc = sum(denominator[j] * inverse[order - j] for j in range(1, order + 1))
        inverse.append(-acc / denominator[0])
    prefactor = reference_vd(d) * k ** (d + 2)
    # x^m = phi^{2m} multiplies u_{2m}/(2m)! on the left-hand side
    return np.array([math.factorial(2 * m) * prefactor * inverse[m] for m in range(1, n + 1)])


def rk4_flow(u0, d, k0, k_targets, steps_per_decade=400):
    """Fixed-step RK4 in t = ln k; returns the couplings at each target (on the step grid)."""
    h = math.log(10.0) / steps_per_decade
    t, u = math.log(k0), np.array(u0, dtype=float)
    out = []
    for target in k_targets:
        n_steps = round((math.log(target) - t) / h)
        for _ in range(n_steps):
            f = lambda tt, uu: series_rhs(math.exp(tt), uu, d)  # noqa: E731
            a = f(t, u)
            b = f(t + h / 2, u + h / 2 * a)
            c = f(t + h / 2, u + h / 2 * b)
            e = f(t + h, u + h * c)
            u = u + h / 6 * (a + 2 * b + 2 * c + e)
            t += h
        out.append(u.copy())
    return np.array(out)


def series_beta(ubar, d):
    """Dimensionless beta at k = 1, where ubar = u: s ubar + k du/dk."""
    s = np.array([-2.0, d - 4.0, 2.0 * d - 6.0])[: len(ubar)]
    return s * np.asarray(ubar) + series_rhs(1.0, np.asarray(ubar), d)


@pytest.fixture(scope="module")
def n3_flow():
    return frg.integrate_flow(
        N3_IR["u4"], N3_IR["u6"], d=1, sigma=1.0, scales=[1.0, 10.0, 100.0], u4_err=0.5, u6_err=5.0
    )


# --------------------------------------------------------------------------------------------
# β-functions
# --------------------------------------------------------------------------------------------


def test_volume_factor_values():
    assert frg.volume_factor(1) == pytest.approx(1 / math.pi, rel=1e-15)
    assert frg.volume_factor(2) == pytest.approx(1 / (4 * math.pi), rel=1e-15)
    assert frg.volume_factor(3) == pytest.approx(1 / (6 * math.pi**2), rel=1e-15)
    assert frg.volume_factor(2.5) == pytest.approx(reference_vd(2.5), rel=1e-14)


@pytest.mark.parametrize("d", [1.0, 2.0, 2.5, 3.0])
def test_dimensionful_beta_matches_series_expansion(d):
    rng = np.random.default_rng(1)
    for _ in range(20):
        k = 10 ** rng.uniform(-2, 1)
        u = np.array([rng.uniform(0.1, 5), rng.normal(0, 30), rng.normal(0, 300)])
        assert_allclose(frg.beta_dimensionful(k, u, d), series_rhs(k, u, d), rtol=1e-12)
        assert_allclose(
            frg.beta_dimensionful(k, u[:2], d, "phi4"), series_rhs(k, u[:2], d), rtol=1e-12
        )


@pytest.mark.parametrize("d", [1.0, 2.5, 3.0])
def test_dimensionless_beta_is_the_rescaled_dimensionful_flow(d):
    rng = np.random.default_rng(2)
    s = np.array([-2.0, d - 4.0, 2.0 * d - 6.0])
    for _ in range(10):
        k = 10 ** rng.uniform(-1, 1)
        ubar = np.array([rng.uniform(-0.5, 3), rng.normal(0, 3), rng.normal(0, 30)])
        u = frg.to_dimensionful(k, ubar, d)
        expected = s * ubar + k**s * frg.beta_dimensionful(k, u, d)
        assert_allclose(frg.beta_dimensionless(ubar, d), expected, rtol=1e-11, atol=1e-12)
        assert_allclose(frg.to_dimensionless(k, u, d), ubar, rtol=1e-14)
    assert_allclose(frg.beta_dimensionless(ubar, d), series_beta(ubar, d), rtol=1e-12)


def test_beta_broadcasts_over_points():
    ubar = np.array([[0.1, 0.5], [1.0, -2.0], [3.0, 4.0]])
    field = frg.beta_dimensionless(ubar, 3.0)
    for j in range(2):
        assert_allclose(field[:, j], frg.beta_dimensionless(ubar[:, j], 3.0), rtol=1e-15)


def fd_jacobian(func, x, rel=1e-6):
    cols = []
    for j in range(x.size):
        h = rel * (1.0 + abs(x[j]))
        step = np.zeros_like(x)
        step[j] = h
        cols.append((func(x + step) - func(x - step)) / (2 * h))
    return np.array(cols).T


@pytest.mark.parametrize("truncation", ["phi4", "phi6"])
@pytest.mark.parametrize("d", [1.0, 2.0, 2.5, 3.0])
def test_analytic_jacobians_match_finite_differences(truncation, d):
    rng = np.random.default_rng(3)
    n = 2 if truncation == "phi4" else 3
    for _ in range(5):
        ubar = np.array([rng.uniform(-0.6, 2), rng.normal(0, 3), rng.normal(0, 20)])[:n]
        analytic = frg.stability_matrix(ubar, d, truncation)
        numeric = fd_jacobian(lambda x: frg.beta_dimensionless(x, d, truncation), ubar)
        assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-7 * np.abs(analytic).max())
        k = 10 ** rng.uniform(-1, 1)
        u = np.array([rng.uniform(0.5, 3), rng.normal(0, 20), rng.normal(0, 100)])[:n]
        analytic = frg.beta_dimensionful_jacobian(k, u, d, truncation)
        numeric = fd_jacobian(lambda x, k=k: frg.beta_dimensionful(k, x, d, truncation), u)
        assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-7 * np.abs(analytic).max())


# --------------------------------------------------------------------------------------------
# Fixed points
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1.0, 2.0, 2.5, 3.0])
def test_gaussian_fixed_point_eigenvalues(d):
    phi6, phi4 = frg.fixed_points(d, "phi6")[0], frg.fixed_points(d, "phi4")[0]
    assert phi6.gaussian and phi4.gaussian
    assert_allclose(phi6.couplings, 0.0)
    assert_allclose(phi6.eigenvalues, sorted([-2.0, d - 4.0, 2 * d - 6.0]), atol=1e-14)
    assert_allclose(phi4.eigenvalues, sorted([-2.0, d - 4.0]), atol=1e-14)


def _nontrivial(d, truncation="phi6"):
    return [fp for fp in frg.fixed_points(d, truncation) if not fp.gaussian]


def test_fixed_points_d1_match_physics_md():
    found = _nontrivial(1.0)
    assert len(found) == 2
    expected = [(-0.365242, 0.924649, 4.570316), (-0.054758, 0.307408, -1.988798)]
    for fp, ref in zip(found, expected, strict=True):
        assert_allclose(fp.couplings, ref, atol=1e-6)
        assert_allclose(series_beta(fp.couplings, 1.0), 0.0, atol=1e-12)
    assert found[0].n_relevant == 1 and found[0].nu == pytest.approx(1 / 1.8314262, rel=1e-6)
    assert found[1].n_relevant == 2 and found[1].nu is None


def test_fixed_point_d3_matches_physics_md():
    (fp,) = _nontrivial(3.0)
    assert_allclose(fp.couplings, (-0.142857, 12.430522, 540.812584), rtol=2e-7, atol=1e-6)
    assert fp.couplings[0] == pytest.approx(-1 / 7, rel=1e-13)  # exact root of the elimination
    assert_allclose(fp.eigenvalues, (-1.686, 1.133, 12.22), atol=1e-3)
    assert fp.nu == pytest.approx(0.593, abs=5e-4)
    assert_allclose(series_beta(fp.couplings, 3.0), 0.0, atol=1e-9)
    # eigenvectors belong to the eigenvalues
    for lam, vec in zip(fp.eigenvalues, fp.eigenvectors.T, strict=True):
        assert_allclose(fp.stability_matrix @ vec, lam * vec, atol=1e-9 * abs(fp.eigenvalues).max())


def test_phi4_fixed_point_d3_closed_form():
    (fp,) = _nontrivial(3.0, "phi4")
    # r = (d-4)/(16-d) = -1/13; eigenvalues (-2/3 -+ sqrt(82/9))/2; nu = 6/(2 + sqrt 82)
    assert fp.couplings[0] == pytest.approx(-1 / 13, rel=1e-14)
    assert fp.couplings[1] * frg.volume_factor(3) == pytest.approx(
        2 / 13 * (12 / 13) ** 2, rel=1e-13
    )
    root82 = math.sqrt(82 / 9)
    assert_allclose(fp.eigenvalues, [(-2 / 3 - root82) / 2, (-2 / 3 + root82) / 2], rtol=1e-12)
    assert fp.nu == pytest.approx(6 / (2 + math.sqrt(82)), rel=1e-12)


@pytest.mark.parametrize("d", [1.0, 2.5, 3.0])
def test_fixed_points_are_complete(d):
    """Every root found by multistart Newton on the independent beta is in the list."""
    vd = reference_vd(d)
    listed = [fp.couplings for fp in frg.fixed_points(d, "phi6")]
    grid = np.linspace(-0.8, 0.6, 5)
    for r in grid:
        for a in np.linspace(-2, 2, 4):
            for b in np.linspace(-6, 6, 4):
                sol = root(lambda x: series_beta(x, d), [r, a / vd, b / vd**2], tol=1e-13)
                residual = np.abs(series_beta(sol.x, d)).max()
                if not sol.success or residual > 1e-9 * (1 + np.abs(sol.x).max()):
                    continue
                if 1 + sol.x[0] <= 0:
                    continue  # beyond the propagator pole: omitted by design
                assert any(np.allclose(sol.x, c, rtol=1e-6, atol=1e-8) for c in listed), sol.x


def test_fixed_point_repr_and_dict():
    fp = _nontrivial(3.0)[0]
    text = repr(fp)
    assert "non-Gaussian" in text and "nu=0.593218" in text and "u4bar=12.43052" in text
    data = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    assert data["nu"] == pytest.approx(fp.nu)
    assert_allclose(data["eigenvalues"]["real"], fp.eigenvalues)
    assert_allclose(data["eigenvalues"]["imag"], 0.0)
    assert data["names"] == ["u2", "u4", "u6"] and data["n_relevant"] == 1


# --------------------------------------------------------------------------------------------
# Flow integration
# --------------------------------------------------------------------------------------------


def test_flow_regression_table_n3(n3_flow):
    for i, k in enumerate((1.0, 10.0, 100.0)):
        got = [n3_flow.couplings[name][i] for name in ("u2", "u4", "u6")]
        assert_allclose(got, N3_TABLE[k], rtol=1e-5)
    assert n3_flow.sigma[-1] == pytest.approx(1.605037, rel=1e-6)
    assert n3_flow.initial == {"u2": 2.0, "u4": -42.7651, "u6": 50.0}


def test_flow_regression_n1000():
    flow = frg.integrate_flow(-0.128295, 50.0, d=1, sigma=1.0)
    assert flow.scale.size == 241 and flow.scale[0] == 1e-10 and flow.scale[-1] == 100.0
    got = [flow.couplings[name][-1] for name in ("u2", "u4", "u6")]
    assert_allclose(got, (2.463581, -4.456388, 18.92871), rtol=1e-5)
    assert flow.sigma[0] == 1.0
    assert flow.errors is None and flow.covariance is None


@pytest.mark.parametrize("truncation", ["phi4", "phi6"])
@pytest.mark.parametrize("d", [1.0, 2.0])
def test_flow_matches_independent_rk4(truncation, d):
    u0 = [2.0 / d, -42.7651, 50.0] if truncation == "phi6" else [2.0 / d, -42.7651]
    targets = [1e-5, 1e-2, 1.0, 10.0, 100.0]
    reference = rk4_flow(u0, d, 1e-10, targets)
    flow = frg.integrate_flow(*u0[1:], d=d, sigma=1.0, scales=targets, truncation=truncation)
    names = frg.TRUNCATIONS[truncation]
    got = np.array([flow.couplings[name] for name in names]).T
    assert_allclose(got, reference, rtol=1e-8)


def test_radau_agrees_with_lsoda():
    lsoda = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=[1.0, 100.0])
    radau = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=[1.0, 100.0], method="Radau")
    for name in ("u2", "u4", "u6"):
        assert_allclose(radau.couplings[name], lsoda.couplings[name], rtol=1e-8)
    assert_allclose(radau.sensitivity, lsoda.sensitivity, rtol=1e-6, atol=1e-9)
    assert radau.solver["method"] == "Radau" and radau.solver["nfev"] > 0


def test_default_grid_agrees_with_explicit_grid(n3_flow):
    dense = frg.integrate_flow(**N3_IR, d=1, sigma=1.0)
    for i, k in enumerate(n3_flow.scale):
        j = int(np.argmin(np.abs(dense.scale - k)))
        assert dense.scale[j] == pytest.approx(k, rel=1e-12)
        assert_allclose(dense.couplings["u6"][j], n3_flow.couplings["u6"][i], rtol=1e-8)


def test_phi4_truncation_keeps_u6_zero():
    flow = frg.integrate_flow(-42.7651, d=1, sigma=1.0, u4_err=0.5, scale_max=10.0, num=50)
    assert flow.truncation == "phi4" and flow.names == ("u2", "u4")
    assert np.all(flow.couplings["u6"] == 0.0) and np.all(flow.errors["u6"] == 0.0)
    assert flow.sensitivity.shape == (50, 2, 2) and flow.covariance.shape == (50, 2, 2)
    assert flow.initial["u6"] == 0.0
    phi6 = frg.integrate_flow(-42.7651, 0.0, d=1, sigma=1.0, scale_max=10.0, num=50)
    assert np.any(phi6.couplings["u6"] != 0.0)  # φ⁶ generates u6 from u4 even if it starts at 0
    assert not np.allclose(phi6.couplings["u4"], flow.couplings["u4"], rtol=1e-6)


def test_sensitivity_matches_finite_differences(n3_flow):
    base = {"u2": 2.0, **N3_IR}
    fd = np.empty((3, 3, 3))
    for j, name in enumerate(("u2", "u4", "u6")):
        h = 1e-4 * abs(base[name])
        shifted = []
        for sign in (+1, -1):
            args = dict(base)
            args[name] += sign * h
            flow = frg.integrate_flow(d=1, scales=n3_flow.scale, rtol=1e-12, **args)
            shifted.append(np.array([flow.couplings[c] for c in ("u2", "u4", "u6")]).T)
        fd[:, :, j] = (shifted[0] - shifted[1]) / (2 * h)
    # each entry relative to its largest magnitude along the flow (entries span 1e-5 ... 1e2)
    deviation = np.abs(n3_flow.sensitivity - fd) / np.abs(fd).max(axis=0)
    assert deviation.max() < 2e-6, deviation.max()


def test_covariance_is_propagated_through_the_sensitivity(n3_flow):
    cov = np.array([[0.25, 1.2], [1.2, 25.0]])  # correlated (u4, u6)
    flow = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=n3_flow.scale, covariance=cov)
    full = np.zeros((3, 3))
    full[1:, 1:] = cov
    for i in range(flow.scale.size):
        s = flow.sensitivity[i]
        assert_allclose(flow.covariance[i], s @ full @ s.T, rtol=1e-12)
    assert_allclose(flow.errors["u4"], np.sqrt(flow.covariance[:, 1, 1]), rtol=1e-14)
    # dσ = d/(4σ) du2
    assert_allclose(flow.sigma_errors, flow.errors["u2"] / (4 * flow.sigma), rtol=1e-14)
    # uncorrelated errors are the diagonal covariance; the state-sized form agrees too
    diag = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=n3_flow.scale, covariance=np.diag([0.25, 25]))
    assert_allclose(diag.covariance, n3_flow.covariance, rtol=1e-12)
    state = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=n3_flow.scale, covariance=full)
    assert_allclose(state.covariance, flow.covariance, rtol=1e-12)
    # the correlation matters: it changes the UV error of u4
    assert abs(flow.errors["u4"][-1] / n3_flow.errors["u4"][-1] - 1) > 1e-3


def test_linear_error_propagation_matches_sampling():
    """Spread of flows from sampled IR points vs S C S^T (small errors: linear regime)."""
    rng = np.random.default_rng(7)
    cov = np.array([[0.04, 0.05], [0.05, 0.25]])
    flow = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, scales=[100.0], covariance=cov)
    draws = rng.multivariate_normal([N3_IR["u4"], N3_IR["u6"]], cov, size=150)
    finals = []
    for u4, u6 in draws:
        one = frg.integrate_flow(u4, u6, d=1, sigma=1.0, scales=[100.0], rtol=1e-8)
        finals.append([one.couplings[name][0] for name in ("u2", "u4", "u6")])
    sampled = np.cov(np.array(finals).T)
    # the relative standard error of a standard deviation from 150 draws is
    # 1/sqrt(2 * 149) = 5.8%: rtol 0.3 is ~5 of them (a factor-2 error still fails)
    assert_allclose(np.sqrt(np.diag(sampled)), np.sqrt(np.diag(flow.covariance[0])), rtol=0.3)


def test_flow_result_is_immutable_and_serialisable(n3_flow):
    with pytest.raises(dataclasses.FrozenInstanceError):
        n3_flow.d = 2.0
    with pytest.raises(ValueError):
        n3_flow.couplings["u4"][0] = 0.0
    data = json.loads(json.dumps(n3_flow.to_dict(), allow_nan=False))
    assert data["truncation"] == "phi6" and data["names"] == ["u2", "u4", "u6"]
    assert_allclose(data["couplings"]["u4"], n3_flow.couplings["u4"])
    assert_allclose(data["covariance"], n3_flow.covariance)
    assert data["solver"]["method"] == "LSODA"
    again = pickle.loads(pickle.dumps(n3_flow))
    assert_allclose(again.sensitivity, n3_flow.sensitivity)


def test_flow_repr(n3_flow):
    text = repr(n3_flow)
    assert "truncation='phi6'" in text and "3 scales" in text and "\n" not in text
    text = str(n3_flow)
    assert " 5.152288 ± " in text and " 1.605037 ± " in text


def test_dimensionless_accessor(n3_flow):
    ubar = n3_flow.dimensionless()
    assert_allclose(ubar["u2"], n3_flow.couplings["u2"] / n3_flow.scale**2, rtol=1e-15)
    assert_allclose(ubar["u6"], n3_flow.couplings["u6"] * n3_flow.scale**-4.0, rtol=1e-15)


def test_sigma_map():
    assert_allclose(frg.u2_from_sigma([1.0, 2.0], 2), [1.0, 4.0])
    assert_allclose(frg.sigma_from_u2(frg.u2_from_sigma(1.7, 3), 3), 1.7, rtol=1e-15)
    assert np.isnan(frg.sigma_from_u2(-1.0, 1))
    with pytest.raises(ValueError, match="sigma"):
        frg.u2_from_sigma(-1.0, 1)


def test_plot_returns_figure(monkeypatch, n3_flow):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    fig = n3_flow.plot()
    assert len(fig.axes) == 3 and fig.axes[1].get_xscale() == "log"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"
    from matplotlib.figure import Figure

    own = Figure()
    ax = own.subplots()
    assert n3_flow.plot(ax=ax, quantities=["sigma"]) is own
    with pytest.raises(ValueError, match="quantities"):
        n3_flow.plot(quantities=["u8"])


# --------------------------------------------------------------------------------------------
# Singularities and input validation
# --------------------------------------------------------------------------------------------


def test_divergence_is_reported_with_its_scale():
    with pytest.raises(frg.FlowSingularityError, match="diverges") as info:
        frg.integrate_flow(10.0, d=1, u2=0.01)
    assert info.value.kind == "divergence"
    # the integration stops where the loop strength reaches 1e6, just below the blow-up
    assert info.value.scale == pytest.approx(0.0047200, rel=1e-4) and info.value.scale < 0.00472006
    assert info.value.couplings["u4"] > 1e3  # from u4 = 10 at k0
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.scale == info.value.scale and copy.kind == "divergence"


def test_pole_is_reported_with_its_scale():
    with pytest.raises(frg.FlowSingularityError, match="pole") as info:
        frg.integrate_flow(1e-4, d=1, u2=-0.998, scale0=1.0)
    assert info.value.kind == "pole"
    assert info.value.scale == pytest.approx(1.00002918, rel=1e-7)
    assert 1 + info.value.couplings["u2"] / info.value.scale**2 == pytest.approx(1e-3, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"d": 0.0}, "d"),
        ({"d": float("nan")}, "d"),
        ({"scale0": -1.0}, "scale0"),
        ({"scale_max": 1e-11}, "scale_max"),
        ({"scales": [1.0, 0.5]}, "scales"),
        ({"scales": [1e-12, 1.0]}, "scales"),
        ({"scales": [1.0], "scale_max": 10.0}, "scale_max"),
        ({"num": 1}, "num"),
        ({"truncation": "phi8"}, "truncation"),
        ({"u6": None, "truncation": "phi6"}, "u6"),
        ({"truncation": "phi4"}, "u6"),
        ({"u4": float("inf")}, "u4"),
        ({"sigma": None}, "sigma"),
        ({"u2": 1.0}, "sigma"),
        ({"sigma": None, "u2": -1.0}, "pole"),
        ({"sigma": -1.0}, "sigma"),
        ({"covariance": [[1.0, 2.0], [2.0, 1.0]]}, "covariance"),
        ({"covariance": [[1.0, 0.1], [0.0, 1.0]]}, "covariance"),
        ({"covariance": np.eye(4)}, "covariance"),
        ({"covariance": np.eye(2), "u4_err": 1.0}, "covariance"),
        ({"u4_err": -1.0}, "u4_err"),
        ({"method": "RK45"}, "method"),
        ({"rtol": 1e-20}, "rtol"),
        ({"atol": 0.0}, "atol"),
    ],
)
def test_invalid_input_raises_value_error_naming_the_argument(kwargs, name):
    args = {"u4": -42.7651, "u6": 50.0, "d": 1.0, "sigma": 1.0, "scale_max": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        frg.integrate_flow(**args)


def test_invalid_beta_arguments():
    with pytest.raises(ValueError, match="ubar"):
        frg.beta_dimensionless([0.1, 0.2], 3.0, "phi6")
    with pytest.raises(ValueError, match="truncation"):
        frg.stability_matrix([0.1, 0.2], 3.0, "phi5")
    with pytest.raises(ValueError, match="d"):
        frg.fixed_points(-1.0)
    with pytest.raises(ValueError, match="scale"):
        frg.beta_dimensionful(0.0, [1.0, 1.0, 1.0], 1.0)


# --------------------------------------------------------------------------------------------
# Passive flow against active points
# --------------------------------------------------------------------------------------------


def test_passive_comparison_arrays():
    flow = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, u4_err=0.5, u6_err=5.0)
    sigma_10 = math.sqrt(N3_TABLE[10.0][0] / 2)  # σ(k = 10)
    measured_sigma = np.array([1.0, 1.3, sigma_10, 2.0, 5.0])
    measured = N3_IR["u4"] * measured_sigma**-3.0
    errors = np.full(5, 0.5)
    cmp = frg.passive_comparison(flow, measured_sigma, measured, errors)
    # the flow only reaches σ ≈ 1.605: the curve covers [1, 1.605], later points are NaN
    assert cmp.sigma.min() == pytest.approx(1.0)
    assert cmp.sigma.max() == pytest.approx(1.605037, rel=1e-6)
    assert_allclose(cmp.flow_values, flow.couplings["u4"][np.isin(flow.scale, cmp.scale)])
    assert cmp.flow_at_measured[0] == pytest.approx(N3_IR["u4"], rel=1e-9)
    assert cmp.flow_at_measured[2] == pytest.approx(N3_TABLE[10.0][1], rel=1e-4)
    assert np.all(np.isnan(cmp.flow_at_measured[3:]))
    expected_pull = (measured[2] - cmp.flow_at_measured[2]) / math.hypot(
        0.5, cmp.flow_errors_at_measured[2]
    )
    assert cmp.pulls[2] == pytest.approx(expected_pull, rel=1e-12)
    data = json.loads(json.dumps(cmp.to_dict(), allow_nan=False))
    assert data["flow_at_measured"][3] is None
    assert "5 measured points, 3 inside" in repr(cmp)


def test_passive_comparison_validation():
    flow = frg.integrate_flow(-42.7651, d=1, sigma=1.0, scale_max=10.0, num=20)
    with pytest.raises(ValueError, match="coupling"):
        frg.passive_comparison(flow, [1.0], [1.0], coupling="u6")
    with pytest.raises(ValueError, match="values"):
        frg.passive_comparison(flow, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="errors"):
        frg.passive_comparison(flow, [1.0], [1.0], [-1.0])
    cmp = frg.passive_comparison(flow, [1.0, 1.5], [-42.0, -30.0])
    assert cmp.pulls is None and cmp.flow_errors is None


def test_old_scale_names_still_work_with_a_deprecation_warning(n3_flow):
    """The RG scale was called k, which in nnqft is the number of inputs (issue 14)."""
    with pytest.warns(nnqft.warnings.NNQFTDeprecationWarning,
                      match=r"\(k\d?=...\) is deprecated, use scale") as record:
        old = frg.integrate_flow(**N3_IR, d=1, sigma=1.0, k=[1.0, 10.0, 100.0], k0=1e-10,
                                 u4_err=0.5, u6_err=5.0)
    assert len(record) == 2
    assert_allclose(old.scale, n3_flow.scale, rtol=0)
    assert_allclose(old.couplings["u4"], n3_flow.couplings["u4"], rtol=0)
    with pytest.warns(DeprecationWarning, match="FRGFlow.k is deprecated, use scale"):
        assert old.k is old.scale
    with pytest.warns(DeprecationWarning, match="use scale0"):
        assert old.k0 == old.scale0 == 1e-10
    with pytest.raises(TypeError, match="unexpected keyword argument 'kmax'"):
        frg.integrate_flow(**N3_IR, d=1, sigma=1.0, kmax=10.0)
