"""Exact theory: NNGP kernels at any depth and exact finite-width correlators at depth 1.

Everything here is pure numpy/scipy and vectorised over inputs and tuples.

* :func:`kernel` — the infinite-width output two-point function ``K(x, y)`` (any depth).
* :func:`neuron_moment` — one-neuron moments ``M_n = E[phi(x_1) ... phi(x_n)]`` of the first
  hidden layer on the sorted-tuple layout.
* :func:`exact` — exact finite-``N`` correlators (full or connected) of one-hidden-layer
  networks (physics.md §2.2).

Conventions are those of design.md: a weight of a layer with fan-in ``n`` has variance
``sigma_w**2 / n``; the first-layer pre-activation covariance is
``Sigma(x, x') = sigma_b0**2 + sigma_w0**2 x.x' / d_in``.

Quadrature
----------
Where no closed form exists the expectations are Gaussian (or uniform x Gaussian)
integrals of piecewise analytic functions whose only non-smooth or steep places are known
in advance: every pre-activation is a zero-mean linear form ``l_a . h`` of the standard
normal parameters ``h``, so ReLU kinks and the steep part of erf/tanh sit on hyperplanes
through the origin.  The Gaussian integrals are therefore done in polar (spherical)
coordinates: the directions are split at the zeros of every ``l_a . u`` (exact piecewise
smoothness for ReLU, whose radial integral is closed form; the steep regions of erf/tanh
sit at the piece ends, where the panels are graded geometrically), and the radial
integral uses Gauss-Legendre panels graded towards the origin on ``[0, 9]`` (the
Gaussian mass beyond 9 standard deviations is below 1e-17).  Plain Gauss-Hermite is not
used: for erf/tanh with pre-activation scale above about 1 it converges far too slowly
(1e-3 relative error with 200 nodes at scale 3).  The tanh two-point map uses the
Gaussian scale-mixture form of the logistic function instead (:func:`_tanh_pair`).
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from . import tuples as _tuples
from ._resources import physical_memory
from ._validation import as_bool, as_inputs, as_int, check_arch
from .architecture import Architecture
from .quadrature import DEFAULT_NODES, composite, graded_edges, two_sided_unit_rule, unit_rule

__all__ = ["kernel", "neuron_moment", "exact"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Radial cutoff in standard deviations; the Gaussian tail beyond it is < 1e-17.
_R = 9.0
#: Gauss-Legendre nodes per smooth panel.
_Q = DEFAULT_NODES

_ACTIVATION: dict[str, Callable[[FloatArray], FloatArray]] = {
    "erf": special.erf,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


# -- quadrature rules of the measures (building blocks: nnqft.quadrature) -------------
def _radial_rule(rank: int, scale: float) -> tuple[FloatArray, FloatArray]:
    """Nodes/weights for ``int_0^inf g(rho) rho^(r-1) exp(-rho^2/2) / (2 pi)^(r/2) d rho``.

    Panels are graded towards 0 starting at ``1 / scale`` because an activation of a
    pre-activation of standard deviation ``scale`` changes over ``rho ~ 1 / scale``.
    """
    rho, w = composite(graded_edges(_R, min(1.0, 1.0 / max(scale, 1e-300))))
    w = w * rho ** (rank - 1) * np.exp(-0.5 * rho**2) / (2.0 * np.pi) ** (rank / 2.0)
    return rho, w


def _angular_levels(scale: float, smooth: bool) -> int:
    """Grading depth at the ends of the angular pieces.

    For erf/tanh a factor ``phi(rho c(t))`` changes over ``dt ~ 1 / (rho * scale)``
    next to the zero of ``c``, so the end panels shrink like ``1 / scale``
    (calibrated against fine tensor grids: 1e-15 relative for scales 1 to 10, one
    level coarser still gives 1e-13).  ReLU factors are trigonometric polynomials on
    each piece: one panel of 12 nodes is exact to rounding up to order 8.
    """
    if not smooth:
        return 0
    return max(0, math.ceil(math.log2(3.0 * max(scale, 1e-300))) - 1)


def _circle_rule(
    loadings: FloatArray, levels: int, period: float = 2 * np.pi
) -> tuple[FloatArray, FloatArray]:
    """Angular rule on ``[0, period)``, split at the zeros of every ``l_a . u(t)``.

    ``period = pi`` covers half the circle, enough when the integrand is even in the
    direction (products of an even number of odd activations); the caller doubles it.

    Parameters
    ----------
    loadings : array, shape (P, m, 2)
        ``P`` independent problems, each with ``m`` linear forms in the plane.
    levels : int
        Geometric grading depth towards both ends of every piece.
    period : float
        ``2 pi`` (full circle) or ``pi`` (half circle).

    Returns
    -------
    directions : array, shape (P, T, 2)
        Unit vectors ``u(t) = (cos t, sin t)``.
    weights : array, shape (P, T)
    """
    alpha = np.arctan2(loadings[..., 1], loadings[..., 0]) + np.pi / 2
    zeros = np.concatenate([alpha, alpha + np.pi], axis=-1) % period
    zeros.sort(axis=-1)
    edges = np.concatenate([zeros, zeros[:, :1] + period], axis=-1)
    lengths = np.diff(edges, axis=-1)
    u, w = two_sided_unit_rule(levels)
    t = (edges[:, :-1, None] + lengths[..., None] * u).reshape(len(edges), -1)
    weights = (lengths[..., None] * w).reshape(len(edges), -1)
    return np.stack([np.cos(t), np.sin(t)], axis=-1), weights


# -- Gaussian pair expectations (one layer of the kernel recursion) ----------------
def _kolmogorov_pdf(k: FloatArray) -> FloatArray:
    """Density of the Kolmogorov distribution (two series, each used where it converges)."""
    j = np.arange(1, 41)[:, None]
    large = 8 * k * np.sum((-1.0) ** (j - 1) * j**2 * np.exp(-2 * j**2 * k**2), axis=0)
    a = (2 * j - 1) ** 2 * np.pi**2 / 8
    kk = np.minimum(k, 1.0)  # the theta-transformed series, accurate for k <= 1
    small = math.sqrt(2 * np.pi) * np.sum(np.exp(-a / kk**2) * (2 * a / kk**4 - 1 / kk**2), 0)
    return np.asarray(np.where(k > 1, large, small), dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _kolmogorov_rule() -> tuple[FloatArray, FloatArray]:
    """Quadrature for the Kolmogorov distribution: 72 nodes, exact to ~1e-15.

    The density vanishes like exp(-pi^2 / (8 k^2)) at 0 (an essential singularity), so
    the panels are graded towards 0; the mass outside [0.12, 5] is below 1e-20.
    """
    k, w = composite(np.array([0.12, 0.24, 0.48, 0.96, 1.92, 3.0, 5.0]), 12)
    return k, w * _kolmogorov_pdf(k)


def _tanh_pair(sxy: FloatArray, sxx: FloatArray, syy: FloatArray) -> FloatArray:
    """``E[tanh(u) tanh(v)]`` for zero-mean Gaussian (u, v) (flat arrays).

    The logistic distribution is a Gaussian scale mixture with a Kolmogorov-distributed
    scale K (Andrews & Mallows 1974), so ``tanh(z) = E_K erf(z / (K sqrt 2))``, and the
    erf arcsine law gives ``(2/pi) E_{K1,K2} arcsin(sxy / sqrt((K1^2+sxx)(K2^2+syy)))``:
    a smooth 2-D integral over a fixed measure, accurate to ~1e-14.
    """
    k, w = _kolmogorov_rule()
    out = np.empty(len(sxy))
    step = max(1, 2_000_000 // len(k) ** 2)
    for s in range(0, len(sxy), step):
        inv_x = 1.0 / np.sqrt(k**2 + sxx[s : s + step, None])
        inv_y = 1.0 / np.sqrt(k**2 + syy[s : s + step, None])
        arg = sxy[s : s + step, None, None] * inv_x[:, :, None] * inv_y[:, None, :]
        out[s : s + step] = np.einsum("pij,i,j->p", np.arcsin(np.clip(arg, -1, 1)), w, w)
    return (2.0 / np.pi) * out


def _gaussian_pair_map(act: str, sxy: FloatArray, sxx: FloatArray, syy: FloatArray) -> FloatArray:
    """``E[phi(u) phi(v)]`` for (u, v) ~ N(0, [[sxx, sxy], [sxy, syy]]), broadcast.

    Closed forms for linear, erf (arcsine) and relu (arc-cosine); a Kolmogorov
    scale-mixture quadrature for tanh.  (gauss and cos exist at depth 1 only and are
    handled by :func:`_first_layer`.)
    """
    sxy, sxx, syy = np.broadcast_arrays(sxy, sxx, syy)
    if act == "linear":
        return np.array(sxy, dtype=np.float64)
    # square roots taken one at a time: the products overflow from variances ~1e154 on
    if act == "erf":
        ratio = 2.0 * sxy / np.sqrt(1.0 + 2.0 * sxx) / np.sqrt(1.0 + 2.0 * syy)
        return (2.0 / np.pi) * np.arcsin(np.clip(ratio, -1.0, 1.0))
    if act == "relu":
        root_x, root_y = np.sqrt(sxx), np.sqrt(syy)
        norm = root_x * root_y
        safe_x = np.where(root_x > 0, root_x, 1.0)
        safe_y = np.where(root_y > 0, root_y, 1.0)
        theta = np.arccos(np.clip(sxy / safe_x / safe_y, -1.0, 1.0))
        value = norm / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
        return np.where(norm > 0, value, 0.0)
    if act == "tanh":
        flat = _tanh_pair(sxy.ravel(), sxx.ravel(), syy.ravel())
        return flat.reshape(sxy.shape)
    raise ValueError(f"no Gaussian layer map for activation {act!r}")


# -- first layer ---------------------------------------------------------------------
def _gaussian_first_layer(arch: Architecture) -> bool:
    """Whether the first-layer pre-activations are Gaussian (also when sigma_w0 = 0)."""
    return arch.weight_dist == "gaussian" or arch.sigma_w_layers[0] == 0


def _uniform_half_width(arch: Architecture) -> float:
    """Half-width ``a`` of a uniform first-layer weight with variance sigma_w0^2 / d_in."""
    return math.sqrt(3.0) * arch.sigma_w_layers[0] / math.sqrt(arch.d_in)


def _weight_char(arch: Architecture, v: FloatArray) -> FloatArray:
    """Characteristic function ``E exp(i w.v)`` of the first-layer weights, v shape (..., d)."""
    if arch.weight_dist == "gaussian":
        out = np.exp(-0.5 * arch.sigma_w_layers[0] ** 2 * (v**2).sum(-1) / arch.d_in)
    else:
        a = _uniform_half_width(arch)
        out = np.prod(np.sinc(a * v / np.pi), axis=-1)  # sin(a v) / (a v) per component
    return np.asarray(out, dtype=np.float64)


def _weight_log_mgf(arch: Architecture, v: FloatArray) -> FloatArray:
    """Log of the moment generating function ``log E exp(w.v)`` of the first-layer weights.

    In log form so that the Gauss-net moments, a huge MGF times a tiny normaliser, stay
    finite wherever their product is (the MGF alone overflows once ``|v|`` passes ~37).
    """
    if arch.weight_dist == "gaussian":
        out = 0.5 * arch.sigma_w_layers[0] ** 2 * (v**2).sum(-1) / arch.d_in
    else:  # log(sinh(t) / t) = t + log((1 - e^{-2t}) / (2t)), t = |a v| (1 at t = 0)
        t = np.abs(_uniform_half_width(arch) * v)
        safe = np.where(t == 0, 1.0, t)
        out = np.where(t == 0, 0.0, safe + np.log(-np.expm1(-2.0 * safe) / (2.0 * safe))).sum(-1)
    return np.asarray(out, dtype=np.float64)


def _dot(x: FloatArray, y: FloatArray, paired: bool) -> FloatArray:
    """``x_a . y_b`` as a (k, m) matrix, or ``x_a . y_a`` as a (k,) vector when paired."""
    return (x * y).sum(axis=1) if paired else x @ y.T


def _outer(x: FloatArray, y: FloatArray, paired: bool, op: Callable[..., FloatArray]) -> FloatArray:
    """``op(x_a, y_b)`` per component, shape (k, m, d), or (k, d) when paired."""
    return op(x, y) if paired else op(x[:, None, :], y[None, :, :])


def _preactivation_var(arch: Architecture, x: FloatArray) -> FloatArray:
    """Variance of the first-layer pre-activation at each input."""
    sw0, sb0 = arch.sigma_w_layers[0], arch.sigma_b_layers[0]
    return np.asarray(sb0**2 + sw0**2 * (x**2).sum(axis=1) / arch.d_in, dtype=np.float64)


def _first_layer(arch: Architecture, x: FloatArray, y: FloatArray, paired: bool = False) -> FloatArray:
    """One-neuron correlation ``C(x_a, y_b) = E[phi(z(x_a)) phi(z(y_b))]``.

    Shape (k, m), or (k,) with ``C(x_a, y_a)`` when ``paired``.
    """
    act = arch.activation
    sw0, sb0, d = arch.sigma_w_layers[0], arch.sigma_b_layers[0], arch.d_in
    if act == "cos":  # the uniform phase leaves E cos(w.(x - y)) / 2
        return 0.5 * _weight_char(arch, _outer(x, y, paired, np.subtract))
    if act == "linear":  # only second moments enter, whatever the weight distribution
        return sb0**2 + sw0**2 * _dot(x, y, paired) / d
    vx, vy = _preactivation_var(arch, x), _preactivation_var(arch, y)
    if not paired:
        vx, vy = vx[:, None], vy[None, :]
    if act == "gauss":  # E exp(z_x + z_y) = mgf_w(x + y) exp(2 sigma_b0^2)
        log_mgf = _weight_log_mgf(arch, _outer(x, y, paired, np.add))
        return np.asarray(np.exp(log_mgf + 2.0 * sb0**2 - vx - vy), dtype=np.float64)
    if _gaussian_first_layer(arch):
        sxy = sb0**2 + sw0**2 * _dot(x, y, paired) / d
        return _gaussian_pair_map(act, sxy, vx, vy)
    # Uniform first-layer weights: w.x + b is not Gaussian, so the Gaussian maps above do
    # not apply (issue 3 says the kernels coincide; only second moments agree, which is
    # all that linear needs).  Integrate over the uniform weights instead.
    if act == "relu":
        return _uniform_relu_pairs(arch, x, y, paired)
    nodes, weights = _uniform_parameter_rule(arch, np.concatenate([x, y]))
    phi = _ACTIVATION[act]
    fx, fy = phi(nodes @ _augment(x).T), phi(nodes @ _augment(y).T)
    if paired:
        return weights @ (fx * fy)
    return (fx * weights[:, None]).T @ fy


def _augment(x: FloatArray) -> FloatArray:
    """Inputs with a trailing column of ones (the bias parameter's coefficient)."""
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def _uniform_parameter_rule(arch: Architecture, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Tensor rule over (w, b) for uniform weights: Legendre panels x Gaussian bias.

    Returns nodes of shape (M, d_in + 1) (the bias in its natural units) and weights
    summing to one, valid for integrands even under (w, b) -> -(w, b).  Panels are
    shorter than pi/4 in pre-activation units, well inside the distance pi/2 of tanh's
    complex poles (erf grows off the real axis on the same scale), so each panel
    converges geometrically.
    """
    d = arch.d_in
    if d > 2:
        raise NotImplementedError(
            "uniform first-layer weights with an erf/tanh activation are implemented "
            f"for d_in <= 2 (got d_in={d}); available at any d_in: gaussian weights, "
            "or the linear, gauss and cos activations"
        )
    a = _uniform_half_width(arch)
    sb0 = arch.sigma_b_layers[0]
    axes, axis_weights = [], []
    for j in range(d):
        reach = 2 * a * max(float(np.abs(x[:, j]).max()), 1e-300)
        w_nodes, w_w = composite(np.linspace(-a, a, max(1, math.ceil(reach / (np.pi / 4))) + 1))
        axes.append(w_nodes)
        axis_weights.append(w_w / (2 * a))
    if sb0 > 0:
        n = max(1, math.ceil(2 * _R * sb0 / (np.pi / 4)))
        b_nodes, b_w = composite(np.linspace(-_R, _R, n + 1))
        axes.append(b_nodes * sb0)
        axis_weights.append(b_w * np.exp(-0.5 * b_nodes**2) / math.sqrt(2 * np.pi))
    else:
        axes.append(np.zeros(1))
        axis_weights.append(np.ones(1))
    nodes = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    weights = np.prod([g.ravel() for g in np.meshgrid(*axis_weights, indexing="ij")], axis=0)
    # Every axis is symmetric about 0 with an even number of nodes, so flat index i and
    # M-1-i are opposite points; erf/tanh are odd and only even products are ever
    # integrated, so one half of the grid with doubled weights is the same rule.
    half = len(weights) // 2
    return nodes[:half], 2.0 * weights[:half]


def _uniform_relu_pairs(arch: Architecture, x: FloatArray, y: FloatArray, paired: bool) -> FloatArray:
    """ReLU ``C(x, y)`` for uniform first-layer weights, d_in = 1.

    For a fixed weight w the bias integral is closed form (truncated Gaussian moments:
    the integrand is (b + w x)(b + w y) for b > max(-w x, -w y)); it is analytic in w on
    each side of w = 0, so Gauss-Legendre on [-a, 0] and [0, a] converges to rounding.
    """
    if arch.d_in != 1:
        raise NotImplementedError(
            "ReLU with uniform first-layer weights is implemented for d_in = 1 only "
            f"(got d_in={arch.d_in}); available: gaussian weights at any d_in"
        )
    a = _uniform_half_width(arch)
    sb = arch.sigma_b_layers[0]
    w, ww = composite(np.array([-a, 0.0, a]), 2 * _Q)
    ww = ww / (2 * a)
    xv, yv = (x[:, 0], y[:, 0]) if paired else (x[:, 0, None], y[None, :, 0])
    alpha, beta = w.reshape((-1,) + (1,) * xv.ndim) * xv, w.reshape((-1,) + (1,) * yv.ndim) * yv
    if sb == 0:
        return np.tensordot(ww, np.maximum(alpha, 0) * np.maximum(beta, 0), axes=1)
    t = np.maximum(-alpha, -beta) / sb
    tail = 0.5 * special.erfc(t / math.sqrt(2))
    dens = np.exp(-0.5 * t**2) / math.sqrt(2 * np.pi)
    m0, m1, m2 = tail, sb * dens, sb**2 * (tail + t * dens)
    return np.tensordot(ww, m2 + (alpha + beta) * m1 + alpha * beta * m0, axes=1)


# -- direction rules for spherical-radial Gaussian quadrature -----------------------
def _sphere_pole(unit_rows: FloatArray) -> FloatArray:
    """A pole direction far from every plane ``l_a . u = 0`` (so ``l_a . pole != 0``)."""
    i = np.arange(200) + 0.5
    z = 1 - 2 * i / 200
    phi = np.pi * (1 + 5**0.5) * i
    cand = np.stack([np.sqrt(1 - z**2) * np.cos(phi), np.sqrt(1 - z**2) * np.sin(phi), z], 1)
    return np.asarray(cand[np.argmax(np.abs(cand @ unit_rows.T).min(axis=1))], dtype=np.float64)


def _sphere_rule(
    loadings: FloatArray, levels: int, n_azimuth: int = 0, half: bool = False
) -> tuple[FloatArray, FloatArray]:
    """Rule on the unit sphere S^2 adapted to the planes ``l_a . u = 0``.

    Spherical coordinates about a generic pole: for fixed azimuth the polar angle is
    split at the zeros ``theta_a(phi) = pi/2 + arctan(A_a(phi) / l_a3)`` of every form
    (analytic in phi because no ``l_a3`` vanishes).  With ``n_azimuth = 0`` (ReLU) the
    azimuth is also split where two zero curves cross, i.e. at the azimuths of
    ``+-(l_a x l_b)``, so that every piece is a polynomial integrand.  For smooth
    activations the theta-integral is an analytic periodic function of the azimuth,
    and the trapezoidal rule with ``n_azimuth`` points converges geometrically.
    ``half`` keeps the azimuths in [0, pi), one of each antipodal pair of directions
    (enough for integrands even under u -> -u), with doubled weights.
    """
    norms = np.linalg.norm(loadings, axis=1)
    rows = loadings[norms > 0]
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    pole = _sphere_pole(unit)
    e1 = np.cross(pole, np.eye(3)[np.argmin(np.abs(pole))])
    e1 /= np.linalg.norm(e1)
    frame = np.stack([e1, np.cross(pole, e1), pole])
    lf = rows @ frame.T
    u, w = two_sided_unit_rule(levels)
    if n_azimuth:
        n = n_azimuth // 2 if half else n_azimuth
        az = (np.pi if half else 2 * np.pi) * np.arange(n) / n
        w_az = np.full(n, 2 * np.pi / n)  # spacing pi/n doubled, or 2 pi/n
    else:
        crosses = [np.cross(lf[a], lf[b]) for a in range(len(lf)) for b in range(a)]
        crosses = [c for c in crosses if np.linalg.norm(c) > 1e-12 * np.abs(lf).max() ** 2]
        azimuths = np.array([np.arctan2(c[1], c[0]) for c in crosses] + [0.0])
        cuts = np.unique(np.concatenate([azimuths, azimuths + np.pi]) % (2 * np.pi))
        edges = np.concatenate([cuts, cuts[:1] + 2 * np.pi])
        lengths = np.diff(edges)
        az = (edges[:-1, None] + lengths[:, None] * u).ravel()
        w_az = (lengths[:, None] * w).ravel()
    a_phi = np.outer(np.cos(az), lf[:, 0]) + np.outer(np.sin(az), lf[:, 1])
    zeros = np.sort(np.pi / 2 + np.arctan(a_phi / lf[:, 2]), axis=1)
    t_edges = np.concatenate([np.zeros((len(az), 1)), zeros, np.full((len(az), 1), np.pi)], 1)
    t_len = np.diff(t_edges, axis=1)
    theta = (t_edges[:, :-1, None] + t_len[..., None] * u).reshape(len(az), -1)
    w_theta = (t_len[..., None] * w).reshape(len(az), -1) * np.sin(theta)
    local = np.stack(
        [np.sin(theta) * np.cos(az)[:, None], np.sin(theta) * np.sin(az)[:, None], np.cos(theta)],
        axis=-1,
    ).reshape(-1, 3)
    return local @ frame, (w_az[:, None] * w_theta).ravel()


_SPHERE_LEVELS = 1


def _sphere_azimuths(scale: float) -> int:
    """Trapezoid points in azimuth for smooth activations on S^2 (calibrated)."""
    return 8 * math.ceil(5 * max(scale, 1.0))


def _direction_rule(loadings: FloatArray, levels: int) -> tuple[FloatArray, FloatArray]:
    """Directions on S^(r-1) (r = 1, 2, 3) split at the zeros of every ``l_a . u`` (ReLU)."""
    r = loadings.shape[1]
    if r == 1:
        return np.array([[1.0], [-1.0]]), np.ones(2)
    if r == 2:
        dirs, w = _circle_rule(loadings[None], levels)
        return dirs[0], w[0]
    return _sphere_rule(loadings, levels)


# -- one-neuron moments ----------------------------------------------------------------
def _tuple_products(values: FloatArray, weights: FloatArray, n: int) -> FloatArray:
    """``sum_i weights_i prod_a values[i, t_a]`` for every sorted tuple t of order n.

    Meet in the middle: products over the sorted tuples of the first ``n // 2`` and the
    last ``n - n // 2`` positions, then one weighted matrix product; a sorted tuple
    splits into two sorted tuples, looked up by :func:`nnqft.tuples.rank`.
    """
    k = values.shape[1]
    n1 = n // 2
    t = _tuples.tuples(k, n)
    rows = _tuples.rank(t[:, :n1], k) if n1 else np.zeros(len(t), dtype=np.int64)
    cols = _tuples.rank(t[:, n1:], k)
    gram = np.zeros((_tuples.n_tuples(k, n1), _tuples.n_tuples(k, n - n1)))
    for s in range(0, len(values), 20_000):
        v = values[s : s + 20_000]
        gram += (_products(v, n1) * weights[s : s + 20_000, None]).T @ _products(v, n - n1)
    return gram[rows, cols]


def _products(values: FloatArray, n: int) -> FloatArray:
    """``prod_a values[:, t_a]`` for every sorted tuple t of order n, shape (M, C(k+n-1, n))."""
    k = values.shape[1]
    out = np.ones((len(values), 1))
    for m in range(1, n + 1):
        t = _tuples.tuples(k, m)
        prefix = _tuples.rank(t[:, :-1], k) if m > 1 else np.zeros(len(t), dtype=np.int64)
        out = out[:, prefix] * values[:, t[:, -1]]
    return out


def _relu_radial(n: int, r: int) -> float:
    """``int_0^inf rho^(n+r-1) exp(-rho^2/2) d rho / (2 pi)^(r/2)`` (ReLU homogeneity)."""
    return float(2.0 ** ((n + r) / 2 - 1) * math.gamma((n + r) / 2) / (2 * math.pi) ** (r / 2))


class _Measure:
    """A quadrature for one neuron: ``E F(z_1..z_k) ~ sum_i weights_i F(values_i)``.

    ``values`` already holds the activations at the nodes, shape (M, k).  For ReLU in
    spherical-radial form the nodes are unit directions and the radial integral is
    the closed-form factor ``radial(n)`` (the product of n ReLUs is homogeneous).
    ``odd_vanish``: odd activation of symmetric pre-activations, so odd moments are
    zero and the rule may cover only one of each antipodal pair of directions.
    """

    def __init__(
        self,
        values: FloatArray,
        weights: FloatArray,
        radial: Callable[[int], float] | None = None,
        odd_vanish: bool = False,
    ) -> None:
        self.values, self.weights, self.radial = values, weights, radial
        self.odd_vanish = odd_vanish

    def moment(self, n: int) -> FloatArray:
        """Moments of order n on the sorted-tuple layout."""
        if self.odd_vanish and n % 2:
            return np.zeros(_tuples.n_tuples(self.values.shape[1], n))
        out = _tuple_products(self.values, self.weights, n)
        return out * self.radial(n) if self.radial is not None else out

    def moment_on(self, tuples: IntArray) -> FloatArray:
        """Moments on the given tuples only, rows of ``tuples`` (T, n).

        Cheaper than :meth:`moment` when few of the sorted tuples are needed (the deep
        theory asks for those that contain every input of a set): the inputs common to
        all rows are multiplied into the weights once, then one matrix-vector product.
        """
        n = tuples.shape[1]
        if self.odd_vanish and n % 2:
            return np.zeros(len(tuples))
        common = sorted(set.intersection(*(set(row) for row in tuples.tolist())))
        rest = np.array([_drop_once(row, common) for row in tuples.tolist()], dtype=np.int64)
        rest = rest.reshape(len(tuples), n - len(common))
        out = np.zeros(len(tuples))
        for s in range(0, len(self.values), 50_000):
            v = self.values[s : s + 50_000].T.copy()  # rows per input: contiguous products
            scaled = self.weights[s : s + 50_000].copy()
            for c in common:
                scaled *= v[c]
            factors = np.ones((len(tuples), v.shape[1]))
            for col in rest.T:
                factors *= v[col]
            out += factors @ scaled
        return out * self.radial(n) if self.radial is not None else out


def _drop_once(row: list[int], drop: list[int]) -> list[int]:
    """``row`` without one occurrence of each entry of ``drop`` (all present in it)."""
    out = list(row)
    for c in drop:
        out.remove(c)
    return out


def _loadings(arch: Architecture, x: FloatArray) -> FloatArray:
    """Pre-activations as ``z = L h`` with h standard normal, L of full column rank.

    The raw loading matrix ``[sigma_w0 x / sqrt(d_in), sigma_b0]`` is reduced to its
    column space by an SVD: the rank is at most min(k, d_in + 1).
    """
    sw0, sb0, d = arch.sigma_w_layers[0], arch.sigma_b_layers[0], arch.d_in
    raw = np.concatenate([sw0 * x / math.sqrt(d), np.full((len(x), 1), sb0)], axis=1)
    u, s, _ = np.linalg.svd(raw, full_matrices=False)
    r = int((s > 1e-12 * s.max(initial=0.0)).sum()) if s.max(initial=0.0) > 0 else 0
    return np.asarray(u[:, :r] * s[:r], dtype=np.float64)


def _gaussian_measure(arch: Architecture, x: FloatArray) -> _Measure:
    """Spherical-radial quadrature over the Gaussian first-layer parameters."""
    return _loadings_measure(arch.activation, _loadings(arch, x))


def _loadings_measure(act: str, loadings: FloatArray) -> _Measure:
    """Spherical-radial quadrature for ``z = loadings @ h``, h standard normal in R^r.

    ``loadings`` has full column rank r <= 3 (any number of rows); used for the first
    layer here and for deeper layers' kernels by :mod:`nnqft.deep_theory`.
    """
    phi = _ACTIVATION[act]
    k, r = loadings.shape
    if r == 0:
        return _Measure(phi(np.zeros((1, k))), np.ones(1))
    if r > 3:
        raise NotImplementedError(
            f"one-neuron moments of {act!r} need a quadrature over the span of the "
            f"pre-activations, here {r}-dimensional; implemented up to 3 (d_in <= 2, or "
            "sigma_b0 = 0 and d_in <= 3, or at most 3 inputs). Available at any d_in: "
            "the gauss, cos and linear activations, and kernel() for the two-point function"
        )
    scale = float(np.linalg.norm(loadings, axis=1).max())
    if act == "relu":
        dirs, w_dir = _direction_rule(loadings, _angular_levels(scale, smooth=False))
        return _Measure(np.maximum(dirs @ loadings.T, 0.0), w_dir, lambda n: _relu_radial(n, r))
    # erf, tanh are odd: even products are even under u -> -u, so half the directions do
    if r == 1:
        dirs, w_dir = np.ones((1, 1)), np.full(1, 2.0)
    elif r == 2:
        dirs, w_dir = _circle_rule(loadings[None], _angular_levels(scale, smooth=True), period=np.pi)
        dirs, w_dir = dirs[0], 2.0 * w_dir[0]
    else:
        dirs, w_dir = _sphere_rule(loadings, _SPHERE_LEVELS, _sphere_azimuths(scale), half=True)
    rho, w_rho = _radial_rule(r, scale)
    z = (dirs @ loadings.T)[:, None, :] * rho[None, :, None]
    if isinstance(phi, np.ufunc):  # erf, tanh: in place, the array is large
        phi(z, out=z)
    else:
        z = phi(z)
    return _Measure(z.reshape(-1, k), np.outer(w_dir, w_rho).ravel(), odd_vanish=True)


def _uniform_relu_measure(arch: Architecture, x: FloatArray) -> _Measure:
    """ReLU with uniform first-layer weights, d_in = 1, as a piecewise-exact rule.

    For a fixed bias b every factor ``max(w x_a + b, 0)`` is piecewise linear in w with
    its kink at ``w = -b / x_a``: Gauss-Legendre (8 nodes, exact to degree 15) on the
    pieces is exact.  As a function of b the w-integral is analytic except where a
    kink leaves the weight interval (b = +-a x_a) or all kinks meet (b = 0), so the
    b-axis is split there into panels no longer than one standard deviation.
    """
    if arch.d_in != 1:
        raise NotImplementedError(
            "ReLU moments with uniform first-layer weights are implemented for d_in = 1 "
            f"(got d_in={arch.d_in}); available: gaussian weights with d_in <= 2"
        )
    a = _uniform_half_width(arch)
    sb = arch.sigma_b_layers[0]
    xs = x[:, 0]
    if sb == 0:
        w, ww = composite(np.array([-a, 0.0, a]))
        return _Measure(np.maximum(np.outer(w, xs), 0.0), ww / (2 * a))
    cuts = np.concatenate([[0.0, -_R * sb, _R * sb], a * xs, -a * xs])
    cuts = np.unique(np.clip(cuts, -_R * sb, _R * sb))
    edges = np.unique(np.concatenate([cuts, np.arange(-_R, _R + 0.5, 1.0) * sb]))
    b, wb = composite(edges)
    wb = wb * np.exp(-0.5 * (b / sb) ** 2) / (sb * math.sqrt(2 * np.pi))
    kinks = np.where(xs != 0, -b[:, None] / np.where(xs != 0, xs, 1.0), -a)
    w_edges = np.sort(
        np.concatenate([np.full((len(b), 1), -a), np.clip(kinks, -a, a), np.full((len(b), 1), a)], axis=1),
        axis=1,
    )
    u, wu = unit_rule(8)
    lengths = np.diff(w_edges, axis=1)
    w = (w_edges[:, :-1, None] + lengths[..., None] * u).reshape(len(b), -1)
    weights = (wb[:, None] * (lengths[..., None] * wu).reshape(len(b), -1) / (2 * a)).ravel()
    z = w.ravel()[:, None] * xs + np.repeat(b, w.shape[1])[:, None]
    return _Measure(np.maximum(z, 0.0), weights)


def _neuron_measure(arch: Architecture, x: FloatArray) -> _Measure:
    """Quadrature measure for the activations without a closed-form moment."""
    if _gaussian_first_layer(arch):
        return _gaussian_measure(arch, x)
    if arch.activation == "relu":
        return _uniform_relu_measure(arch, x)
    nodes, weights = _uniform_parameter_rule(arch, x)
    return _Measure(_ACTIVATION[arch.activation](nodes @ _augment(x).T), weights, odd_vanish=True)


def _cos_moment(arch: Architecture, x: FloatArray, n: int) -> FloatArray:
    """Cos-net moment: ``2^-n sum_{eps: sum eps = 0} E exp(i w . sum_a eps_a x_a)``.

    Expanding each cosine into exponentials, the uniform phase kills every sign
    pattern whose signs do not cancel; the weights enter via their characteristic
    function.  Patterns come in +- pairs, so only those with eps_1 = +1 are summed.
    """
    t = _tuples.tuples(len(x), n)
    out = np.zeros(len(t))
    if n % 2:
        return out
    for minus in itertools.combinations(range(1, n), n // 2):
        eps = np.ones(n)
        eps[list(minus)] = -1.0
        out += _weight_char(arch, np.einsum("a,tad->td", eps, x[t]))
    return 2.0 * out / 2.0**n


def _gauss_moment(arch: Architecture, x: FloatArray, n: int) -> FloatArray:
    """Gauss-net moment: ``E exp(sum_a z_a) exp(-sum_a Var z_a)`` via the weights' MGF."""
    t = _tuples.tuples(len(x), n)
    var = _preactivation_var(arch, x)[t].sum(axis=1)
    bias = 0.5 * n**2 * arch.sigma_b_layers[0] ** 2
    return np.asarray(np.exp(_weight_log_mgf(arch, x[t].sum(axis=1)) + bias - var), dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _bernoulli(m: int) -> Fraction:
    """Bernoulli number B_m, exact (scipy.special.bernoulli is off by ~1e-12)."""
    if m == 0:
        return Fraction(1)
    return -sum((math.comb(m + 1, j) * _bernoulli(j) for j in range(m)), Fraction(0)) / (m + 1)


def _linear_moment(arch: Architecture, x: FloatArray, n: int) -> FloatArray:
    """Linear-net moment from the cumulants of z = w.x + b.

    Gaussian weights: only the second cumulant.  Uniform weights on (-a, a) add the
    even cumulants ``kappa_m = B_m (2a)^m / m`` of each weight component.
    """
    k, d = x.shape
    sw0, sb0 = arch.sigma_w_layers[0], arch.sigma_b_layers[0]
    t2 = _tuples.tuples(k, 2)
    cumulants = {2: sb0**2 + sw0**2 * (x[t2[:, 0]] * x[t2[:, 1]]).sum(1) / d}
    if arch.weight_dist == "uniform":
        a = _uniform_half_width(arch)
        for m in range(4, n + 1, 2):
            kappa_w = float(_bernoulli(m)) * (2 * a) ** m / m
            cumulants[m] = kappa_w * np.prod(x[_tuples.tuples(k, m)], axis=1).sum(axis=1)
    return _tuples.moments_from_cumulants(cumulants, k, n)


def _neuron_moments(arch: Architecture, x: FloatArray, orders: Sequence[int]) -> dict[int, FloatArray]:
    """One-neuron moments for several orders, memoised on what they depend on.

    Only the first layer enters, so a width or read-out scan (or exact() called for
    several orders and both connected flags) reuses the quadrature.
    """
    key = (arch.activation, arch.d_in, arch.sigma_w_layers[0], arch.sigma_b_layers[0],
           arch.weight_dist, x.shape, x.tobytes())
    out = {n: _MOMENT_CACHE[(key, n)] for n in orders if (key, n) in _MOMENT_CACHE}
    missing = [n for n in orders if n not in out]
    if missing:
        out.update(_compute_neuron_moments(arch, x, missing))
    # the answer is assembled before any eviction: a full cache used to evict this
    # call's own hit while storing its miss (KeyError in `nnqft run`)
    for n in orders:
        out[n].setflags(write=False)
        _MOMENT_CACHE[(key, n)] = out[n]
        _MOMENT_CACHE.move_to_end((key, n))
    while len(_MOMENT_CACHE) > _MOMENT_CACHE_SIZE:
        _MOMENT_CACHE.popitem(last=False)
    return out


_MOMENT_CACHE: collections.OrderedDict[Any, FloatArray] = collections.OrderedDict()
_MOMENT_CACHE_SIZE = 64


def _compute_neuron_moments(arch: Architecture, x: FloatArray,
                            orders: Sequence[int]) -> dict[int, FloatArray]:
    """One-neuron moments for several orders, sharing one quadrature.

    Order 2 always comes from the kernel's closed forms, so it is available wherever
    :func:`kernel` is (any d_in for Gaussian weights).
    """
    closed = {"cos": _cos_moment, "gauss": _gauss_moment, "linear": _linear_moment}
    if arch.activation in closed:
        return {n: closed[arch.activation](arch, x, n) for n in orders}
    out = {}
    if 2 in orders:
        t = _tuples.tuples(len(x), 2)
        out[2] = _first_layer(arch, x[t[:, 0]], x[t[:, 1]], paired=True)
    rest = [n for n in orders if n != 2]
    if rest:
        measure = _neuron_measure(arch, x)
        out.update({n: measure.moment(n) for n in rest})
    return out


def neuron_moment(arch: Architecture, x: Any, n: int) -> FloatArray:
    """One-neuron moment ``M_n(x_a1..x_an) = E[phi(x_a1) … phi(x_an)]`` of the first layer.

    Parameters
    ----------
    arch : Architecture
        Only the first layer enters (activation, ``sigma_w[0]``, ``sigma_b[0]``,
        ``weight_dist``).
    x : array_like, shape (k, d_in)
        Inputs (a 1-D array means ``d_in = 1``).
    n : int
        Order, 1 <= n <= 8 (the quadratures are calibrated up to order 8).

    Returns
    -------
    ndarray, shape (C(k+n-1, n),)
        Values on the sorted tuples of :func:`nnqft.tuples.tuples`.

    Notes
    -----
    Closed forms: gauss (physics.md §1.5, through the weights' moment generating
    function), cos (sign patterns of the characteristic function) and linear
    (cumulants), for Gaussian and uniform weights at any ``d_in``.

    erf, tanh, relu with Gaussian weights: the pre-activations are ``z = L h`` with
    h standard normal in the r <= min(k, d_in + 1) dimensional span; r <= 3 is
    supported.  The integral is done in spherical-radial form with the directions
    split at the zeros of every ``l_a . u`` (ReLU is then a polynomial on each piece
    and its radial integral is closed form, so the result is exact to rounding; erf
    and tanh use graded panels, accurate to about 1e-12 relative).  Uniform
    weights: Gauss-Legendre over the weight cube x Gaussian bias for erf/tanh
    (d_in <= 2), and a kink-aware exact rule for relu (d_in = 1).
    """
    check_arch(arch)
    xs = as_inputs(x, arch.d_in, "x")
    order = as_int("n", n, minimum=1, maximum=8)
    return _neuron_moments(arch, xs, [order])[order].copy()


# -- public: exact finite-width correlators --------------------------------------------
def _readout_moment(arch: Architecture, m: int) -> float:
    """``E[w^m]`` of a unit-variance read-out weight (gaussian or uniform on +-sqrt 3)."""
    if m % 2:
        return 0.0
    if arch.weight_dist == "uniform":
        return float(3.0 ** (m / 2) / (m + 1))
    return float(special.factorial2(m - 1))


def exact(arch: Architecture, x: Any, order: int, connected: bool = False) -> FloatArray:
    """Exact finite-width correlators of a one-hidden-layer network (physics.md §2.2).

    Parameters
    ----------
    arch : Architecture
        Depth 1 (``f = b1 + sum_j W1_j phi(W0_j . x + b0_j)``), width ``N``.
    x : array_like, shape (k, d_in)
        Inputs (a 1-D array means ``d_in = 1``).
    order : int
        Correlator order n, 1 <= n <= 8.
    connected : bool, optional
        Return the connected correlator (joint cumulant ``kappa_n``) instead of the
        full moment ``G^(n) = E[f(x_1) ... f(x_n)]``.

    Returns
    -------
    ndarray, shape (C(k+n-1, n),)
        Values on the sorted tuples of :func:`nnqft.tuples.tuples`; zeros for odd n.

    Notes
    -----
    ``f - b1`` is a sum of N i.i.d. terms ``(sigma_w1 / sqrt N) w phi``, so its
    cumulants are ``kappa_n = N^(1-n/2) sigma_w1^n kappa_n(w phi)``; the moments of
    ``w phi`` are ``E[w^m] M_m`` (``M_m`` from :func:`neuron_moment`, ``E[w^m]`` of the
    read-out distribution: gaussian 3, 15, 105; uniform ``3^(m/2) / (m+1)``), turned into
    cumulants over set partitions.  The read-out bias enters only ``kappa_2 = K``.  The
    full moment is the sum over set partitions of products of these cumulants.

    Raises
    ------
    NotImplementedError
        For depth > 1: use :func:`kernel` (any depth) for the two-point function, and the
        sampler with ``estimator="conditional"`` for finite-width correlators.
    """
    check_arch(arch)
    if arch.depth != 1:
        raise NotImplementedError(
            f"exact finite-width correlators are implemented for depth 1 only (got "
            f"depth={arch.depth}); available: kernel() at any depth, and "
            "nnqft.sample(..., estimator='conditional') for finite-width correlators"
        )
    xs = as_inputs(x, arch.d_in, "x")
    n = as_int("order", order, minimum=1, maximum=8)
    connected = as_bool("connected", connected)
    k = len(xs)
    _check_exact_size(k, n)
    _check_exact_range(arch, xs, n)
    if n % 2:
        return np.zeros(_tuples.n_tuples(k, n))
    evens = list(range(2, n + 1, 2))
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite results refused below
        moments = _neuron_moments(arch, xs, evens)
        w_phi = {m: _readout_moment(arch, m) * moments[m] for m in evens}
        sw1, sb1, width = arch.sigma_w_layers[1], arch.sigma_b_layers[1], arch.width
        cumulants = {
            m: width ** (1 - m / 2) * sw1**m * _tuples.cumulants_from_moments(w_phi, k, m)
            for m in ([n] if connected else evens)
        }
        if 2 in cumulants:  # the read-out bias is Gaussian and independent: kappa_2 only
            cumulants[2] = cumulants[2] + sb1**2
        out = np.asarray(cumulants[n] if connected else
                         _tuples.moments_from_cumulants(cumulants, k, n), dtype=np.float64)
    if not np.isfinite(out).all():
        raise OverflowError(
            f"exact order-{n} correlators overflow float64 (inf/NaN): sigma_w "
            f"{arch.sigma_w_layers} and |x| up to {np.abs(xs).max():.3g} put the {n}-th "
            "moments beyond 1.8e308; rescale the inputs or sigma_w")
    return out


#: Peak working memory of exact() per output tuple, measured (tracemalloc): 760-1600
#: doubles (quadrature nodes x tuples of every order up to n) at k = 12..30.
_EXACT_BYTES_PER_TUPLE = 8 * 2000


#: Largest first-layer variance exact() integrates over (the quadrature is sized by it).
_EXACT_MAX_VARIANCE = 1e100


def _check_exact_range(arch: Architecture, xs: FloatArray, n: int) -> None:
    """Refuse before any work when the order-n moments cannot be held in float64."""
    _check_sigma_range(arch)
    sw0, sb0, sw1 = arch.sigma_w_layers[0], arch.sigma_b_layers[0], arch.sigma_w_layers[1]
    with np.errstate(over="ignore"):
        var0 = float(np.float64(sb0)**2 + np.float64(sw0)**2 * (xs**2).sum(axis=1).max()
                     / arch.d_in)
    unbounded = arch.activation in ("relu", "linear")
    # log10 of the read-out factor sigma_w1^n and, for unbounded activations, var0^(n/2)
    log_scale = n * math.log10(max(sw1, 1e-300))
    if unbounded and var0 > 0:
        log_scale += n / 2 * math.log10(min(var0, 1e308))
    if not var0 <= _EXACT_MAX_VARIANCE or log_scale > 300:
        raise OverflowError(
            f"exact order-{n} correlators are out of float64 range: the first-layer variance "
            f"is {var0:.3g} (sigma_w0 = {sw0:.3g}, |x| up to {np.abs(xs).max():.3g}) and the "
            f"read-out sigma_w = {sw1:.3g}, moments ~1e{log_scale:.0f}; rescale the inputs "
            "or sigma_w")


def _check_sigma_range(arch: Architecture) -> None:
    """Variances sigma^2 must be finite doubles (Python's float ** raises OverflowError)."""
    big = [s for s in arch.sigma_w_layers + arch.sigma_b_layers if s > 1e150]
    if big:
        raise OverflowError(f"sigma = {big[0]:.3g} is out of range: its square overflows "
                            "float64 (the largest usable standard deviation is ~1e150)")


def _check_exact_size(k: int, n: int) -> None:
    """Refuse exact() runs that would not fit in a quarter of the memory, before work."""
    t = _tuples.n_tuples(k, n)
    need = float(t) * _EXACT_BYTES_PER_TUPLE
    if need > 0.25 * physical_memory():
        raise ValueError(
            f"exact order {n} on k = {k} inputs has {t} tuples and would need about "
            f"{need / 2**30:.3g} GiB, more than a quarter of this machine's memory: use "
            "fewer inputs or a lower order")


# -- public: kernel ------------------------------------------------------------------
def kernel(arch: Architecture, x: Any, y: Any = None) -> FloatArray:
    """Infinite-width NNGP kernel ``K(x_a, y_b)`` (the output two-point function).

    Parameters
    ----------
    arch : Architecture
        Network ensemble; any depth.  ``arch.width`` does not enter.
    x : array_like, shape (k, d_in)
        Inputs (a 1-D array means ``d_in = 1``).
    y : array_like, shape (m, d_in), optional
        Second set of inputs; ``None`` means ``y = x``.  Many ``y`` points are cheap for
        the closed-form activations (one vectorised expression per layer).

    Returns
    -------
    ndarray, shape (k, m)
        ``K = sigma_b,L^2 + sigma_w,L^2 E[phi(z_L(x)) phi(z_L(y))]`` with the read-out
        values ``L = depth``.

    Notes
    -----
    Depth 1 closed forms: erf (arcsine), relu (arc-cosine), linear,
    gauss ``exp(-sigma_w0^2 |x-y|^2 / (2 d_in))`` and cos
    ``exp(-sigma_w0^2 |x-y|^2 / (2 d_in)) / 2``; tanh by a fixed 72 x 72 quadrature
    over a Gaussian scale mixture (about 1e-14 relative, ~30 microseconds per pair).
    Deeper layers use the infinite-width recursion
    ``Sigma^(l+1) = sigma_b,l^2 + sigma_w,l^2 E[phi(u) phi(v)]``, (u, v) Gaussian with
    covariance ``Sigma^(l)`` restricted to the two inputs (the diagonals are propagated
    along).

    **Uniform weights.**  Issue 3 states that uniform weights share the kernel of
    Gaussian ones.  That holds only where just second moments of the first-layer
    weights enter: the linear activation (and ReLU with ``sigma_b0 = 0``, which is
    homogeneous).  For a nonlinear activation the first-layer pre-activation
    ``w.x + b`` is not Gaussian when ``w`` is uniform, so ``E[phi phi]`` differs (for
    erf at sigma_w = sigma_b = 1 and x = 1, K is 1% larger).  The kernel here
    integrates over the uniform weights exactly: closed forms for gauss (``sinh(a v)/(a v)`` moment
    generating function) and cos (``sin(a v)/(a v)`` characteristic function) at any
    ``d_in``, Gauss-Legendre x Gaussian-bias quadrature for erf/tanh (``d_in <= 2``)
    and a closed-form bias integral for relu (``d_in = 1``).  Deeper layers are sums of
    ``N -> inf`` terms and use the Gaussian recursion; the read-out weight
    distribution never enters the kernel.
    """
    check_arch(arch)
    xs = as_inputs(x, arch.d_in, "x")
    ys = xs if y is None else as_inputs(y, arch.d_in, "y")
    _check_sigma_range(arch)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # refused below
        c_xy = _first_layer(arch, xs, ys)
        c_xx = _first_layer(arch, xs, xs, paired=True)
        c_yy = c_xx if y is None else _first_layer(arch, ys, ys, paired=True)
    _check_range(c_xy, c_xy, 0)
    # Which variances are positive in exact arithmetic: a pre-activation variance that
    # underflows carries the whole kernel's scale away (a post-activation moment that
    # underflows is harmless when the next layer adds sigma_b^2 > 0).
    alive = [_check_first_layer(arch, v) for v in (xs, ys)]
    for layer in range(1, arch.depth + 1):
        sw, sb = arch.sigma_w_layers[layer], arch.sigma_b_layers[layer]
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # refused below
            s_xy, s_xx, s_yy = (sb**2 + sw**2 * c for c in (c_xy, c_xx, c_yy))
        alive = [(sb > 0) | (a & (sw > 0)) for a in alive]
        _check_range(s_xy, s_xy, layer)
        _check_underflow((s_xx, s_yy), alive, layer)
        if layer == arch.depth:  # the read-out: the output two-point function
            return s_xy
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # refused below
            c_xy = _gaussian_pair_map(arch.activation, s_xy, s_xx[:, None], s_yy[None, :])
            c_xx = _gaussian_pair_map(arch.activation, s_xx, s_xx, s_xx)
            c_yy = _gaussian_pair_map(arch.activation, s_yy, s_yy, s_yy)
        _check_range(c_xx, c_yy, layer)
        alive = [a | _scale_free(arch) for a in alive]
    raise AssertionError("unreachable: the loop returns at the read-out layer")


def _scale_free(arch: Architecture) -> bool:
    """Whether ``E[phi(z)^2]`` stays O(1) however small the variance of z (gauss, cos)."""
    return arch.activation in ("gauss", "cos")


def _check_first_layer(arch: Architecture, x: FloatArray) -> NDArray[np.bool_]:
    """Refuse first-layer variances that underflowed; return which inputs are alive.

    Alive: ``E[phi(z)^2] > 0`` in exact arithmetic, i.e. the pre-activation variance is
    positive, or the activation does not scale with it.
    """
    sb0, sw0 = arch.sigma_b_layers[0], arch.sigma_w_layers[0]
    positive = (sb0 > 0) | (np.any(x != 0, axis=1) & (sw0 > 0))
    if _scale_free(arch):
        return np.ones(len(x), dtype=bool)
    with np.errstate(under="ignore"):
        _check_underflow((_preactivation_var(arch, x),), [positive], 0)
    return np.asarray(positive)


def _check_underflow(variances: tuple[FloatArray, ...], alive: list[NDArray[np.bool_]],
                     layer: int) -> None:
    """Refuse positive variances that fell below float64's normal range (0 or subnormal).

    The mirror of :func:`_check_range`: a variance of 0 read as a kernel is as wrong as an
    infinite one (ReLU at sigma_w = 1, sigma_b = 0 halves it per layer: 2**-1022 by depth
    ~1020, then exactly 0), and subnormal values have lost their relative precision.
    """
    tiny = np.finfo(np.float64).tiny
    if any(np.any(a & (v < tiny)) for v, a in zip(variances, alive, strict=True)):
        raise FloatingPointError(
            f"the kernel underflows float64 (a variance below {tiny:.3g}) at layer {layer}: "
            "the per-layer gain sigma_w^2 E[phi'^2] < 1 shrinks it geometrically over the "
            "depth (or the inputs and sigmas are that small); use fewer layers, a larger "
            "sigma_w or sigma_b > 0, or rescale the inputs")


def _check_range(c_xx: FloatArray, c_yy: FloatArray, layer: int) -> None:
    """Refuse variances that left the float64 range (inf or NaN), naming the layer."""
    if not (np.isfinite(c_xx).all() and np.isfinite(c_yy).all()):
        raise OverflowError(
            f"the kernel overflows float64 (variance beyond 1.8e308) at layer {layer}: the "
            "per-layer gain sigma_w^2 E[phi'^2] compounds over the depth; use fewer layers "
            "or a smaller sigma_w (the sampled networks overflow there too)")
