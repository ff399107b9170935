"""Gaussian expectations of products of activations: the measure machinery of the theory.

Two-point functions and one-neuron moments (used by :mod:`nnqft.theory`, and by the deep
theory at rank-deficient kernels):

* :func:`pair_map` -- ``E[phi(u) phi(v)]`` for a Gaussian pair: one layer of the kernel
  recursion (closed forms; tanh by the Kolmogorov scale mixture, :func:`kolmogorov_rule`).
* :func:`loadings_measure` -- a spherical-radial quadrature :class:`Measure` for
  ``z = L h``, h standard normal in R^r (r <= 3), split at the kinks of every ``l_a . h``;
  see the module docstring of :mod:`nnqft.theory` for the design.

Four- and six-point functions: the deep finite-width theory (:mod:`nnqft.deep_theory`)
needs, at a kernel ``cov`` of a hidden layer, the moments ``E[phi(z_a1) ... phi(z_an)]``
of ``z ~ N(0, cov)`` on the sorted n-tuples (n = 4, 6) and, for them, orthant
probabilities and sign moments of up to six Gaussian variables.

This module is the one home of the Gaussian-measure machinery; its public names are the
interface the theory modules use (not exported at the package level).

* :func:`sign_moment` -- ``E[sign z_1 ... sign z_n]`` (n <= 6): closed form for n = 2,
  a 1-D integral for n = 4 and a 2-D one for n = 6 (Plackett's reduction, below).
* :func:`orthant` -- ``P(z > 0)`` (n <= 6) from the sign moments of the even subsets.
* :func:`truncated_moment` -- ``E[prod z_i^m_i 1{z > 0}]`` by Stein's lemma (ReLU).
* :func:`condition_on_zero`, :func:`correlation` -- the Gaussian algebra they share.
* :func:`tanh_moments` -- ``E[prod tanh(z_i)^p_i]`` over up to six variables by a tensor
  rule in the eigenbasis (tanh's six-point functions beyond the spherical rule).
* :func:`product_moments` -- ``E[phi_a1 ... phi_an]`` on the sorted tuples (n = 4, 6)
  for erf, relu, linear and tanh.

Plackett's reduction
--------------------
Along ``R(t) = I + t (R - I)`` (R a correlation matrix, t from 0 to 1),
``d/dt E[prod sign] = sum_{i<j} r_ij 4 phi2(0, 0; t r_ij) E[prod_{others} sign | z_i = z_j = 0]``,
the conditional law Gaussian with the Schur complement as covariance, and the sign moment
vanishes at t = 0 (independent signs).  For n = 4 the conditional moment is an arcsine
(one 1-D integral); for n = 6 it is a 4-sign moment (a 1-D integral inside a 1-D
integral).  The integrands are analytic on [0, 1] with their nearest singularity about
``lambda_min(R)`` beyond t = 1, so Gauss-Legendre panels graded towards t = 1 down to
that size reach ~1e-12 on the 4-sign moment (12 nodes per panel) and ~1e-10 on the
6-sign moment (8 nodes per panel in both dimensions; checked against Genz's algorithm
in the tests).
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from . import quadrature as _quadrature
from . import tuples as _tuples

__all__ = ["correlation", "condition_on_zero", "sign_moment", "orthant", "truncated_moment",
           "erf_product", "tanh_four", "product_moments"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Radial cutoff in standard deviations; the Gaussian tail beyond it is < 1e-17.
RADIAL_CUTOFF = 9.0
#: The activations with Gaussian-measure quadratures (gauss and cos have closed forms).
ACTIVATION: dict[str, Callable[[FloatArray], FloatArray]] = {
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
    first = min(1.0, 1.0 / max(scale, 1e-300))
    rho, w = _quadrature.composite(_quadrature.graded_edges(RADIAL_CUTOFF, first))
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
    u, w = _quadrature.two_sided_unit_rule(levels)
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
def kolmogorov_rule() -> tuple[FloatArray, FloatArray]:
    """Quadrature for the Kolmogorov distribution: 72 nodes, exact to ~1e-15.

    The density vanishes like exp(-pi^2 / (8 k^2)) at 0 (an essential singularity), so
    the panels are graded towards 0; the mass outside [0.12, 5] is below 1e-20.
    """
    k, w = _quadrature.composite(np.array([0.12, 0.24, 0.48, 0.96, 1.92, 3.0, 5.0]), 12)
    return k, w * _kolmogorov_pdf(k)


def _tanh_pair(sxy: FloatArray, sxx: FloatArray, syy: FloatArray) -> FloatArray:
    """``E[tanh(u) tanh(v)]`` for zero-mean Gaussian (u, v) (flat arrays).

    The logistic distribution is a Gaussian scale mixture with a Kolmogorov-distributed
    scale K (Andrews & Mallows 1974), so ``tanh(z) = E_K erf(z / (K sqrt 2))``, and the
    erf arcsine law gives ``(2/pi) E_{K1,K2} arcsin(sxy / sqrt((K1^2+sxx)(K2^2+syy)))``:
    a smooth 2-D integral over a fixed measure, accurate to ~1e-14.
    """
    k, w = kolmogorov_rule()
    out = np.empty(len(sxy))
    step = max(1, 2_000_000 // len(k) ** 2)
    for s in range(0, len(sxy), step):
        inv_x = 1.0 / np.sqrt(k**2 + sxx[s : s + step, None])
        inv_y = 1.0 / np.sqrt(k**2 + syy[s : s + step, None])
        arg = sxy[s : s + step, None, None] * inv_x[:, :, None] * inv_y[:, None, :]
        out[s : s + step] = np.einsum("pij,i,j->p", np.arcsin(np.clip(arg, -1, 1)), w, w)
    return (2.0 / np.pi) * out


def pair_map(act: str, sxy: FloatArray, sxx: FloatArray, syy: FloatArray) -> FloatArray:
    """``E[phi(u) phi(v)]`` for (u, v) ~ N(0, [[sxx, sxy], [sxy, syy]]), broadcast.

    Closed forms for linear, erf (arcsine) and relu (arc-cosine); a Kolmogorov
    scale-mixture quadrature for tanh.  (gauss and cos exist at depth 1 only and are
    handled by the first layer of :mod:`nnqft.theory`.)
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
    u, w = _quadrature.two_sided_unit_rule(levels)
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


# -- measures of a neuron: moments on the sorted-tuple layout ------------------------
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


class Measure:
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


def loadings_measure(act: str, loadings: FloatArray) -> Measure:
    """Spherical-radial quadrature for ``z = loadings @ h``, h standard normal in R^r.

    ``loadings`` has full column rank r <= 3 (any number of rows); used for the first
    layer by :mod:`nnqft.theory` and for deeper layers' kernels of rank <= 3.
    """
    phi = ACTIVATION[act]
    k, r = loadings.shape
    if r == 0:
        return Measure(phi(np.zeros((1, k))), np.ones(1))
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
        return Measure(np.maximum(dirs @ loadings.T, 0.0), w_dir, lambda n: _relu_radial(n, r))
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
    return Measure(z.reshape(-1, k), np.outer(w_dir, w_rho).ravel(), odd_vanish=True)


# -- four-point functions ---------------------------------------------------------------
_PAIRINGS = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1))
_GL_Q = 12


@functools.lru_cache(maxsize=64)
def _graded_to_one(levels: int, nodes: int = _GL_Q) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre panels on [0, 1] with edges 1/2, 3/4, ..., 1 - 2^-levels."""
    edges = np.array([0.0] + [1.0 - 0.5**j for j in range(1, levels + 1)] + [1.0])
    return _quadrature.composite(edges, nodes)


def correlation(cov: FloatArray) -> FloatArray:
    """The correlation matrices of covariances (..., n, n) with positive diagonals."""
    sd = np.sqrt(np.einsum("...ii->...i", cov))
    return np.asarray(cov / sd[..., :, None] / sd[..., None, :], dtype=np.float64)


_Entry = Callable[[FloatArray, int, int], FloatArray]
#: A quadrature rule on [0, 1] for a batch of correlation matrices (None: the default).
_Rule = Callable[[FloatArray], tuple[FloatArray, FloatArray]] | None


def _entry(r: FloatArray, p: int, q: int) -> FloatArray:
    return np.asarray(r[..., p, q])


def _panel_levels(r: FloatArray) -> int:
    """``ceil(log2(1 / lam))`` in [1, 48], lam the least eigenvalue of all r (B, n, n).

    The integrand's nearest singularity lies ~lam beyond t = 1, so the panels go down to
    that size.  ``lam >= 2^-L`` is tested by the LDL pivots of ``r - 2^-L I`` (all
    positive), vectorised over the batch: far cheaper than B small eigenproblems.
    """
    n = r.shape[-1]
    for level in range(1, 48):
        a = r - 2.0**-level * np.eye(n)
        ok = np.ones(len(a), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):  # failed rows stay failed
            for j in range(n):
                ok &= a[:, j, j] > 0
                col = a[:, j + 1:, j] / a[:, j, j, None]
                a[:, j + 1:, j + 1:] -= col[:, :, None] * a[:, j, None, j + 1:]
        if ok.all():
            return level
    return 48


def _orthant4(r: FloatArray, entry: _Entry = _entry, rule: _Rule = None) -> FloatArray:
    """``P(z > 0)`` for 4-variate z with correlation matrices r (..., 4, 4), full rank.

    Along ``R(t) = I + t (R - I)``, ``dP/dt = sum_{i<j} r_ij phi2(0, 0; t r_ij)
    P2(k, l | z_i = z_j = 0)`` (Plackett 1954); P(0) = 1/16.  ``entry(r, p, q)`` gives
    ``r_pq`` broadcastable to ``r.shape[:-2]``: entries constant along batch axes may
    come reduced to length 1 there, and the work on them shrinks accordingly.
    """
    t, w = _graded_to_one(_panel_levels(r.reshape(-1, 4, 4))) if rule is None else rule(r)
    shape = (len(t),) + (1,) * (r.ndim - 2)
    t, w = t.reshape(shape), w.reshape(shape)
    t2 = t * t
    out = np.full(r.shape[:-2], 1.0 / 16.0)
    for i, j, k, m in _PAIRINGS:
        rij, rkm, rki, rkj, rmi, rmj = (entry(r, p, q) for p, q in
                                        ((i, j), (k, m), (k, i), (k, j), (m, i), (m, j)))
        # the Schur complement of (i, j) at R(t), as polynomials in t over det = 1 - t^2 rij^2;
        # the full (t, batch) array is only built for ckm, in place (temporaries cost most)
        det = 1.0 - t2 * (rij * rij)
        q = t2 / det
        inv_k = 1.0 / np.sqrt(1.0 - q * ((rki * rki + rkj * rkj) - t * (2.0 * rij * rki * rkj)))
        inv_m = 1.0 / np.sqrt(1.0 - q * ((rmi * rmi + rmj * rmj) - t * (2.0 * rij * rmi * rmj)))
        partial = t * (rij * (rki * rmj + rkj * rmi))
        np.subtract(rki * rmi + rkj * rmj, partial, out=partial)
        partial *= q
        np.subtract(t * rkm, partial, out=partial)  # ckm
        partial *= inv_k
        partial *= inv_m
        np.clip(partial, -1.0, 1.0, out=partial)
        # sum_t w rij / (2 pi sqrt det) (1/4 + asin(partial) / (2 pi))
        wd = w / np.sqrt(det)
        np.arcsin(partial, out=partial)
        partial *= wd
        inner = partial.sum(axis=0)
        out = out + rij / (2 * np.pi) * (0.25 * wd.sum(axis=0) + inner / (2 * np.pi))
    return out


def orthant(cov: FloatArray) -> FloatArray:
    """Orthant probability ``P(z > 0)`` of zero-mean z ~ N(0, cov) (..., n, n), n <= 6.

    Closed forms up to n = 3, Plackett's 1-D integral at n = 4; for n = 5, 6 the sum
    ``2^-n sum_S E[prod_{i in S} sign z_i]`` over the even subsets S (odd ones vanish).
    Covariances of 4 or more variables must be of full rank.
    """
    n = cov.shape[-1]
    if n > 4:
        return np.asarray(sum(sign_moment(cov[..., list(s), :][..., :, list(s)])
                              for m in range(0, n + 1, 2)
                              for s in itertools.combinations(range(n), m)) / 2.0**n)
    if n == 0:
        return np.ones(cov.shape[:-2])
    if n == 1:
        return np.full(cov.shape[:-2], 0.5)
    r = correlation(cov)
    asin = {(i, j): np.arcsin(np.clip(r[..., i, j], -1, 1)) for i, j in itertools.combinations(range(n), 2)}
    if n == 2:
        return np.asarray(0.25 + asin[0, 1] / (2 * np.pi))
    if n == 3:
        return np.asarray(0.125 + sum(asin.values()) / (4 * np.pi))
    return _orthant4(r)


def sign_moment(cov: FloatArray) -> FloatArray:
    """``E[sign z_1 … sign z_n]`` for z ~ N(0, cov) (..., n, n), n <= 6.

    Zero for odd n, ``(2/pi) asin r`` for n = 2; n = 4 and n = 6 need full-rank
    covariances (Plackett's reduction, a 1-D and a 2-D integral: module docstring).
    """
    n = cov.shape[-1]
    if n % 2:
        return np.zeros(cov.shape[:-2])
    if n == 0:
        return np.ones(cov.shape[:-2])
    if n == 2:
        return np.asarray((2.0 / np.pi) * np.arcsin(np.clip(correlation(cov)[..., 0, 1], -1, 1)))
    if n == 4:
        return _sign4(cov)
    if n == 6:
        return _sign6(cov)
    raise ValueError(f"sign moments are implemented for up to 6 variables, got {n}")


#: Largest number of (outer node, matrix) conditional 4 x 4 problems done at once.
_SIGN6_BATCH = 40_000


#: The nested rule of the 6-sign moment: nodes per panel, and grading levels fewer than the
#: 4-sign default (measured: ~1e-10 absolute against a 20-node rule, at a tenth of its cost).
_SIX_NODES, _SIX_COARSER = 8, 1


def _six_rule(r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre panels on [0, 1] graded to the least eigenvalue of the batch r."""
    levels = max(0, _panel_levels(r.reshape((-1,) + r.shape[-2:])) - _SIX_COARSER)
    return _graded_to_one(levels, _SIX_NODES)


def _sign6(cov: FloatArray) -> FloatArray:
    """``E[sign z_1 ... sign z_6]``, full-rank cov (..., 6, 6): Plackett's 2-D reduction.

    ``dS6/dt = sum_{i<j} r_ij (2 / (pi sqrt(1 - t^2 r_ij^2))) S4(C_ij(t))`` with
    ``C_ij(t)`` the covariance of the other four given ``z_i = z_j = 0`` at
    ``R(t) = I + t (R - I)``; S4 is itself a 1-D integral.
    """
    r = correlation(cov).reshape(-1, 6, 6)
    out = np.zeros(len(r))
    if not len(r):
        return out.reshape(cov.shape[:-2])
    t, w = _six_rule(r)
    step = max(1, _SIGN6_BATCH // len(t))
    for start in range(0, len(r), step):
        out[start:start + step] = _sign6_batch(r[start:start + step], t, w)
    return out.reshape(cov.shape[:-2])


def _sign6_batch(r: FloatArray, t: FloatArray, w: FloatArray) -> FloatArray:
    eye = np.eye(4)
    tt = t[:, None, None, None]
    out = np.zeros(len(r))
    for i, j in itertools.combinations(range(6), 2):
        o = [m for m in range(6) if m not in (i, j)]
        rij = r[:, i, j]
        bi, bj = r[:, o, i], r[:, o, j]
        det = 1.0 - t[:, None] ** 2 * rij**2  # (T, B)
        outer = bi[:, :, None] * bi[:, None, :] + bj[:, :, None] * bj[:, None, :]
        cross = rij[:, None, None] * (bi[:, :, None] * bj[:, None, :] + bj[:, :, None] * bi[:, None, :])
        roo = r[:, o][:, :, o]
        cond = eye + tt * (roo - eye) - (t[:, None] ** 2 / det)[..., None, None] * (outer - tt * cross)
        s4 = _sign4(cond, rule=_six_rule)
        out += rij * np.einsum("t,tb->b", w, (2.0 / np.pi) / np.sqrt(det) * s4)
    return out


def _sign4(cov: FloatArray, entry: _Entry = _entry, rule: _Rule = None) -> FloatArray:
    """``E[sign z_1 ... sign z_4]`` for full-rank covariances (..., 4, 4) (entry: _orthant4)."""
    r = correlation(cov)
    s = sum(np.arcsin(entry(r, i, j)) for i, j in itertools.combinations(range(4), 2))
    return np.asarray(16.0 * _orthant4(r, entry, rule) - 1.0 - (2.0 / np.pi) * s)


def condition_on_zero(cov: FloatArray, j: int) -> FloatArray:
    """Covariance of the other variables given ``z_j = 0`` (Schur complement)."""
    keep = [i for i in range(cov.shape[-1]) if i != j]
    b = cov[..., keep, j]
    sub = cov[..., keep, :][..., :, keep]
    return np.asarray(sub - b[..., :, None] * b[..., None, :] / cov[..., j, j][..., None, None])


def truncated_moment(cov: FloatArray, powers: tuple[int, ...],
                      memo: dict[Any, FloatArray] | None = None,
                      gone: frozenset[int] = frozenset()) -> FloatArray:
    """``E[prod_i z_i^m_i 1{z > 0}]`` for full-rank cov (..., n, n), by Stein's lemma.

    ``E[z_i G] = sum_j cov_ij E[d_j G]``; differentiating the indicator of ``z_j > 0``
    leaves the density at ``z_j = 0`` times a moment of the conditional law, which only
    survives when ``z_j`` does not appear in the polynomial.  ``memo`` shares the terms
    that recur (keyed by the set of variables conditioned on, ``gone``, and the powers).
    """
    memo = {} if memo is None else memo
    key = (gone, powers)
    if key in memo:
        return memo[key]
    if not any(powers):
        memo[key] = orthant(cov)
        return memo[key]
    names = [a for a in range(len(powers) + len(gone)) if a not in gone]
    i = next(a for a, p in enumerate(powers) if p)
    rest = list(powers)
    rest[i] -= 1
    out = np.zeros(cov.shape[:-2])
    for j, p in enumerate(rest):
        if p:
            lower = tuple(q - (a == j) for a, q in enumerate(rest))
            out = out + cov[..., i, j] * p * truncated_moment(cov, lower, memo, gone)
        else:
            density = 1.0 / np.sqrt(2 * np.pi * cov[..., j, j])
            cond = condition_on_zero(cov, j)
            inner = truncated_moment(cond, tuple(rest[:j] + rest[j + 1:]), memo,
                                      gone | {names[j]})
            out = out + cov[..., i, j] * density * inner
    memo[key] = out
    return out


@functools.lru_cache(maxsize=1)
def _kolmogorov_gauss(n: int = 8) -> tuple[FloatArray, FloatArray]:
    """n-point Gauss rule of the Kolmogorov law (Stieltjes on the 72-node rule)."""
    x, wt = kolmogorov_rule()
    p_prev, p = np.zeros_like(x), np.ones_like(x) / math.sqrt(wt.sum())
    alpha, beta, b = [], [], 0.0
    for _ in range(n):
        a = float(np.sum(wt * x * p * p))
        q = (x - a) * p - b * p_prev
        b = float(math.sqrt(np.sum(wt * q * q)))
        alpha.append(a)
        beta.append(b)
        p_prev, p = p, q / b
    jac = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    nodes, vec = np.linalg.eigh(jac)
    return nodes, vec[0] ** 2 * wt.sum()


def erf_product(cov: FloatArray) -> FloatArray:
    """``E[erf z_1 … erf z_n]`` (n = 4 or 6, any rank): ``erf(z) = E sign(z - Y / sqrt 2)``.

    So the product is the sign moment of ``N(0, cov + I/2)``, always of full rank;
    repeated inputs need no special case (each factor has its own Y).
    """
    return sign_moment(cov + 0.5 * np.eye(cov.shape[-1]))


def _scale_axes_entry(r: FloatArray, p: int, q: int) -> FloatArray:
    """``r_pq`` of correlations (S, n, n, n, n, 4, 4) with one Kolmogorov-scale axis per variable.

    It depends on the scales of p and q only, so the other two axes are cut to length 1.
    """
    cut = tuple(slice(None) if a in (p, q) else slice(0, 1) for a in range(4))
    return np.asarray(r[(slice(None),) + cut + (p, q)])


def tanh_four(cov: FloatArray) -> FloatArray:
    """``E prod tanh z_a`` (full rank): the sign moment averaged over Kolmogorov scales.

    The scales of the four variables are four axes of the batch (one set at a time, so
    each set keeps its own quadrature in t): pair terms then cost one axis pair only.
    """
    k, w = _kolmogorov_gauss()
    n = len(k)
    grid = np.stack(np.meshgrid(k**2, k**2, k**2, k**2, indexing="ij"), axis=-1)
    shift = grid[..., :, None] * np.eye(4)  # (n, n, n, n, 4, 4): the scales on the diagonal
    out = np.empty(len(cov))
    for s in range(len(cov)):
        sign = _sign4((cov[s] + shift)[None], _scale_axes_entry)
        out[s] = np.einsum("abcd,a,b,c,d->", sign.reshape(n, n, n, n), w, w, w, w)
    return out


# -- tanh products over many inputs: a tensor rule in the eigenbasis ---------------------
#: Per-axis rule of :func:`_tanh_axis_rule`: Gauss-Hermite (3 + 40 s nodes) below this
#: scale s, else the trapezoid; calibrated on E prod_i^6 tanh(s a_i y + b_i)^p_i, |a_i| <= 1,
#: real offsets |b_i| <= 4 (the other axes), p_i <= 3, s in [1e-3, 5]: worst 9e-9 absolute.
_TANH_GH_SCALE, _TANH_GH_NODES_PER_SCALE = 0.35, 40.0
#: Trapezoid: step times scale, the largest step, the truncation (Gaussian mass beyond: 6e-10).
_TANH_TRAPEZOID_STEP, _TANH_TRAPEZOID_MAX_STEP, _TANH_TRAPEZOID_CUT = 0.3, 0.65, 6.2
#: Largest number of nodes of one tensor rule (about 1 s per 1e7 at six inputs).
_TANH_MAX_NODES = 10**8
#: Grid points evaluated at once (bounds the memory of one set to ~100 MB).
_TANH_CHUNK = 200_000


def _tanh_axis_rule(scale: float) -> tuple[FloatArray, FloatArray]:
    """Symmetric 1-D rule for ``E f(y)``, y standard normal, f = prod tanh(scale a y + b).

    tanh is analytic in the strip ``|Im z| < pi/2``, so f in ``|Im y| < pi / (2 scale)``:
    the trapezoid rule converges like ``exp(-pi^2 / (scale h))``, Gauss-Hermite only like
    ``exp(-c sqrt(n) / scale)`` but with far fewer nodes where f is nearly a polynomial
    (small scale).  Node counts calibrated to <= 1e-8 absolute (module constants).
    """
    if scale < _TANH_GH_SCALE:
        nodes, weights = np.polynomial.hermite_e.hermegauss(
            math.ceil(3.0 + _TANH_GH_NODES_PER_SCALE * scale))
        return (np.asarray(nodes, dtype=np.float64),
                np.asarray(weights, dtype=np.float64) / math.sqrt(2.0 * math.pi))
    h = min(_TANH_TRAPEZOID_STEP / scale, _TANH_TRAPEZOID_MAX_STEP)
    half = math.ceil(_TANH_TRAPEZOID_CUT / h)
    y = np.asarray(h * np.arange(-half, half + 1), dtype=np.float64)
    return y, h * np.exp(-0.5 * y * y) / math.sqrt(2.0 * math.pi)


def tanh_moments(cov: FloatArray, powers: tuple[tuple[int, ...], ...]) -> FloatArray:
    """``E prod_i tanh(z_i)^p_i`` for z ~ N(0, cov) (m x m, any rank) and each p in powers.

    A tensor-product rule in the eigenbasis of cov (``z = L y``, y standard normal in
    the r = rank directions; null directions dropped): along axis j the integrand is a
    product of ``tanh(L_ij y_j + ...)``, analytic within ``pi / (2 max_i |L_ij|)`` of the
    real axis, which sets the axis' rule (:func:`_tanh_axis_rule`, ~1e-8 each).  The
    integrand is even (an even total power of odd factors), so the widest axis keeps its
    non-negative nodes only.  The nodes are shared by all the powers: one tensor grid per
    set of inputs.  Refuses grids beyond ``_TANH_MAX_NODES`` (kernels of large variance
    in many directions) instead of returning an unconverged value.
    """
    lam, vec = np.linalg.eigh(cov)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1e-300)
    loadings = vec[:, keep] * np.sqrt(lam[keep])  # (m, r)
    scales = np.abs(loadings).max(axis=0)
    order = np.argsort(-scales)
    loadings, scales = loadings[:, order], scales[order]
    rules = [_tanh_axis_rule(float(sc)) for sc in scales]
    if rules:  # even integrand: the widest axis on y >= 0, its positive nodes doubled
        y, w = rules[0]
        w = np.where(y > 0, 2.0 * w, w)[y >= 0]
        rules[0] = (y[y >= 0], w)
    size = math.prod(len(y) for y, _ in rules)
    if size > _TANH_MAX_NODES:
        raise NotImplementedError(
            f"E[tanh(z_1) ... tanh(z_6)] over {len(cov)} inputs whose kernel has {len(rules)} "
            f"directions of scale {', '.join(f'{sc:.2g}' for sc in scales)} would need a "
            f"{size:.2g}-node tensor rule (limit {_TANH_MAX_NODES:.0e}); use fewer inputs, or "
            "inputs more strongly correlated at this layer (smaller sigma_w or depth)")
    exps = np.array(powers, dtype=np.int64)  # (T, m)
    out = np.zeros(len(exps))
    # the outer axes are looped over, the inner ones form one grid of <= _TANH_CHUNK points
    split = len(rules)
    while split > 0 and math.prod(len(y) for y, _ in rules[split - 1:]) <= _TANH_CHUNK:
        split -= 1
    inner_y, inner_w = _quadrature.tensor(rules[split:])
    inner_z = inner_y @ loadings[:, split:].T  # (M, m)
    outer_y, outer_w = _quadrature.tensor(rules[:split])
    for y_out, w_out in zip(outer_y, outer_w, strict=True):
        t = np.tanh(inner_z + loadings[:, :split] @ y_out)
        values = np.ones((len(t), len(exps)))
        for i in range(len(cov)):
            for q in np.unique(exps[:, i]):
                if q:
                    values[:, exps[:, i] == q] *= (t[:, i] ** q)[:, None]
        out += w_out * (inner_w @ values)
    return out


_InputSet = tuple[tuple[int, ...], IntArray, IntArray, tuple[tuple[int, ...], ...]]


#: Relative eigenvalue below which an input set's covariance is treated as singular, by
#: both :func:`_full_rank` (on the correlation matrix) and :func:`_singular_moments` (on
#: the covariance): one threshold, so a set judged singular always loses a direction
#: (min eig cov / max eig cov <= min eig of the correlation) and never reaches the
#: spherical rule with all its directions (tanh at depth >~ 20 with d_in = 1 did).
_RANK_RTOL = 1e-9


def _full_rank(subs: FloatArray) -> NDArray[np.bool_]:
    """Which covariances (..., n, n) are numerically non-singular relative to their diagonal."""
    diag = np.einsum("...ii->...i", subs)
    ok = np.all(diag > 0, axis=-1)
    safe = np.where(ok[..., None, None], subs, np.eye(subs.shape[-1]))
    return np.asarray(ok & (np.linalg.eigvalsh(correlation(safe)).min(axis=-1) > _RANK_RTOL))


def _full_rank_sets(cov: FloatArray, sets: tuple[_InputSet, ...]) -> NDArray[np.bool_]:
    """``_full_rank`` of every input set's sub-covariance, batched by set size."""
    full = np.zeros(len(sets), dtype=bool)
    for n in range(1, max((len(s[0]) for s in sets), default=0) + 1):
        ids = [i for i, s in enumerate(sets) if len(s[0]) == n]
        if ids:
            var = np.array([sets[i][0] for i in ids])
            full[ids] = _full_rank(cov[var[:, :, None], var[:, None, :]])
    return full


#: Relative regularisation of a singular ReLU set of rank > 3 (two values, extrapolated).
_RELU_REGULARISATION = 1e-6


def _singular_moments(act: str, sub: FloatArray, local: IntArray, n: int,
                      powers: tuple[tuple[int, ...], ...]) -> FloatArray:
    """Order-n moments of a singular set's variables on its tuples ``local``.

    ``powers`` are the tuples' multiplicities of each variable.  Rank <= 3: the
    spherical rule (:func:`loadings_measure`, split at the kinks, exact for relu).  relu
    of rank 4 or 5: Stein's reduction at ``sub + e D`` for ``e = eps, 2 eps`` (D the
    diagonal, eps = 1e-6), extrapolated linearly to e = 0 -- the moments are smooth in
    e, the error ~eps^2 (measured 6e-12 against the spherical rule at rank 2-3).  tanh
    of rank 4 or more (and full-rank sets of 4-6 inputs at n = 6): :func:`tanh_moments`.
    """
    lam, vec = np.linalg.eigh(sub)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1e-300)
    if keep.sum() <= 3:
        measure = loadings_measure(act, vec[:, keep] * np.sqrt(lam[keep]))
        return measure.moment_on(_tuples.tuples(len(sub), n)[local])
    if act == "relu":
        values = []
        for e in (_RELU_REGULARISATION, 2 * _RELU_REGULARISATION):
            reg = (sub + e * np.diag(np.diag(sub)))[None]
            values.append(np.array([truncated_moment(reg, p)[0] for p in powers]))
        return np.asarray(2.0 * values[0] - values[1])
    if act == "tanh":
        return tanh_moments(sub, powers)
    raise NotImplementedError(
        f"E[{act}(z_1) ... {act}(z_{n})] over {len(sub)} distinct inputs whose kernel has "
        f"rank {int(keep.sum())} (singular, rank > 3) is not implemented: the inputs span "
        "a subspace where neither the sign-moment reduction (full rank) nor the spherical "
        "rule (rank <= 3) applies; use fewer inputs or inputs in general position")


@functools.lru_cache(maxsize=16)
def _input_sets(k: int, n: int) -> tuple[_InputSet, ...]:
    """The sorted n-tuples grouped by their set of distinct inputs.

    One entry per set: (inputs, tuple rows, the rows' ranks among the set's own sorted
    n-tuples, the rows' multiplicities of each input).
    """
    tn = _tuples.tuples(k, n)
    rows: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for row, tup in enumerate(tn):
        rows[tuple(sorted({int(i) for i in tup}))].append(row)
    out = []
    for var, members in rows.items():
        idx = np.array(members)
        local = np.searchsorted(np.array(var), tn[idx])
        powers = tuple(tuple(int((t == j).sum()) for j in range(len(var))) for t in local)
        out.append((var, idx, _tuples.rank(local, len(var)), powers))
    return tuple(out)


def _moments_by_sets(act: str, cov: FloatArray, n: int) -> FloatArray:
    """``E[phi_a1 ... phi_an]`` grouped by the set of distinct inputs (relu, tanh).

    Full-rank sets: Stein's reduction (relu) or the Kolmogorov mixture of sign moments
    (tanh, n = 4 with 4 distinct inputs); singular ones: :func:`_singular_moments`.
    """
    sets = _input_sets(len(cov), n)
    out = np.zeros(sum(len(rows) for _, rows, _, _ in sets))
    stein: dict[tuple[int, ...], list[tuple[int, tuple[int, ...]]]] = collections.defaultdict(list)
    four: list[tuple[int, tuple[int, ...]]] = []
    for (var, rows, local, powers), full in zip(sets, _full_rank_sets(cov, sets), strict=True):
        sub = cov[np.ix_(var, var)]
        if act == "relu" and np.any(np.diag(sub) <= 0):
            continue  # an input with z = 0 identically: relu(0) = 0
        if act == "relu" and full:
            for row, p in zip(rows, powers, strict=True):
                stein[p].append((int(row), var))
        elif act == "tanh" and full and len(var) == 4 and n == 4:
            four.extend((int(row), var) for row in rows)
        else:
            out[rows] = _singular_moments(act, sub, local, n, powers)
    for p, members in stein.items():
        idx = np.array([v for _, v in members])
        out[[r for r, _ in members]] = truncated_moment(cov[idx[:, :, None], idx[:, None, :]], p)
    if four:
        idx = np.array([v for _, v in four])
        out[[r for r, _ in four]] = tanh_four(cov[idx[:, :, None], idx[:, None, :]])
    return out


def product_moments(act: str, cov: FloatArray, n: int) -> FloatArray:
    """``E[phi(z_a1) … phi(z_an)]`` at z ~ N(0, cov) on the sorted n-tuples (n = 4, 6).

    erf: :func:`erf_product` (any rank); linear: Isserlis; relu: Stein's reduction on
    full-rank sets of distinct inputs, the spherical rule (:func:`loadings_measure`) on
    singular sets of rank <= 3; tanh: as relu for rank <= 3, the Kolmogorov mixture of
    sign moments for 4 distinct inputs at n = 4, :func:`tanh_moments` for sets of rank
    4 to 6 at n = 6.
    """
    tn = _tuples.tuples(len(cov), n)
    if act == "linear":
        return np.asarray(_tuples.wick(cov, n))
    if act == "erf":
        return erf_product(cov[tn[:, :, None], tn[:, None, :]])
    if act in ("relu", "tanh"):
        return _moments_by_sets(act, cov, n)
    raise ValueError(f"no Gaussian {n}-point function for activation {act!r}")
