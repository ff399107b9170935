"""Gaussian expectations of products of activations: the measure machinery of the theory.

The deep finite-width theory (:mod:`nnqft.deep_theory`) needs, at a kernel ``cov`` of a
hidden layer, the moments ``E[phi(z_a1) ... phi(z_an)]`` of ``z ~ N(0, cov)`` on the
sorted n-tuples (n = 4, 6) and, for them, orthant probabilities and sign moments of up to
six Gaussian variables.  This module is their one home; its public names are the
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

from . import quadrature as _quadrature
from . import theory as _theory
from . import tuples as _tuples

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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
    """``E[sign z_1 ... sign z_n]`` for z ~ N(0, cov) (..., n, n), n <= 6.

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
    x, wt = _theory._kolmogorov_rule()
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
    """``E[erf z_1 ... erf z_n]`` (n = 4 or 6, any rank): ``erf(z) = E sign(z - Y / sqrt 2)``.

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
    spherical rule of :mod:`nnqft.theory` (split at the kinks, exact for relu).  relu
    of rank 4 or 5: Stein's reduction at ``sub + e D`` for ``e = eps, 2 eps`` (D the
    diagonal, eps = 1e-6), extrapolated linearly to e = 0 -- the moments are smooth in
    e, the error ~eps^2 (measured 6e-12 against the spherical rule at rank 2-3).  tanh
    of rank 4 or more (and full-rank sets of 4-6 inputs at n = 6): :func:`tanh_moments`.
    """
    lam, vec = np.linalg.eigh(sub)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1e-300)
    if keep.sum() <= 3:
        measure = _theory._loadings_measure(act, vec[:, keep] * np.sqrt(lam[keep]))
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
    """``E[phi(z_a1) ... phi(z_an)]`` at z ~ N(0, cov) on the sorted n-tuples (n = 4, 6).

    erf: :func:`erf_product` (any rank); linear: Isserlis; relu: Stein's reduction on
    full-rank sets of distinct inputs, the spherical rule of :mod:`nnqft.theory` on
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
