"""Leading 1/N theory of deep networks: NNGP kernel K, its correction K1 and the vertex V.

Its entry point is :func:`nnqft.finite_width`, which returns a
:class:`nnqft.FiniteWidthTheory`.

The empirical kernel of layer ``l`` is ``G^l = K^l + delta^l`` with
``E delta = K1 / N`` and ``Cov(delta_p, delta_q) = V_pq / N`` to leading order; the
first layer is deterministic and every further layer follows from a two-line recursion
(physics-deep.md §2)::

    V^(l+1)  = sigma_w^4 [ T(K^l) + J V^l J^T ]
    K1^(l+1) = sigma_w^2 [ J K1^l + 1/2 H : V^l ]

with ``g_ab(G) = E phi(z_a) phi(z_b)``, its Jacobian ``J`` and Hessian ``H`` in the
upper-triangle entries of G, and ``T_ab,cd = E[phi_a phi_b phi_c phi_d] - g_ab g_cd``,
all at ``z ~ N(0, K^l)``.  The network output then has ``G2 = K + K1/N`` and the
connected four-point function ``kappa4_abcd = (V_ab,cd + V_ac,bd + V_ad,bc) / N``.

Numerics
--------
* ``g`` and its first and second derivatives: closed forms (erf arcsine, relu
  arc-cosine, linear) differentiated exactly by second-order forward jets; tanh through
  the Kolmogorov scale mixture of erf (:func:`nnqft.theory._tanh_pair`), differentiated
  in closed form under the mixture.
* Four-point functions ``E[phi_a phi_b phi_c phi_d]`` (rank up to 4):

  - erf: ``erf(z) = E sign(z - Y/sqrt 2)`` turns the product into the sign moment of a
    Gaussian with covariance ``Sigma + I/2`` (always full rank), which is
    ``16 P4 - 1 - (2/pi) sum asin rho``; the orthant probability ``P4`` is a smooth
    1-D integral (Plackett's reduction: ``dP4/drho_ij`` is a bivariate density times
    a bivariate orthant probability, both closed form), done by Gauss-Legendre panels
    graded towards the end where the covariance is closest to singular.
  - tanh: the same with ``tanh(z) = E sign(z - K Y)``, K Kolmogorov distributed,
    summed over an 8-node Gauss rule of the Kolmogorov law per factor (about 1e-7); the
    four scales are four batch axes, so terms of one pair of inputs cost 8 x 8 only.
  - relu: Stein's lemma reduces ``E[prod z_i^m_i 1{z > 0}]`` to lower moments and
    orthant probabilities of conditional Gaussians (closed forms up to 3 variables,
    ``P4`` as above), exact up to the 1-D quadrature; no kink is ever integrated over.
    Singular sub-covariances (inputs on a ray, opposite inputs) use the spherical rule
    of :mod:`nnqft.theory`, split at the kinks and exact for ReLU.
  - linear: Isserlis.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import quadrature as _quadrature
from . import render
from . import theory as _theory
from . import tuples as _tuples
from ._result import Result
from ._validation import as_inputs, as_int, check_arch
from .architecture import Architecture

__all__ = ["FiniteWidthTheory", "finite_width"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# -- second-order forward jets --------------------------------------------------------
class _Jet:
    """A value with its gradient and Hessian in three variables (exact 2nd-order AD)."""

    __slots__ = ("v", "d", "h")

    def __init__(self, v: Any, d: Any, h: Any) -> None:
        self.v, self.d, self.h = np.asarray(v), np.asarray(d), np.asarray(h)

    @classmethod
    def variable(cls, value: FloatArray, slot: int) -> _Jet:
        d = np.zeros(value.shape + (3,))
        d[..., slot] = 1.0
        return cls(value, d, np.zeros(value.shape + (3, 3)))

    def apply(self, f: Any, f1: Any, f2: Any) -> _Jet:
        """``F(self)`` given ``F, F', F''`` at ``self.v`` (chain rule)."""
        f1, f2 = np.asarray(f1), np.asarray(f2)
        d = f1[..., None] * self.d
        h = f2[..., None, None] * self.d[..., :, None] * self.d[..., None, :]
        return _Jet(f, d, h + f1[..., None, None] * self.h)

    def __add__(self, other: Any) -> _Jet:
        if isinstance(other, _Jet):
            return _Jet(self.v + other.v, self.d + other.d, self.h + other.h)
        return _Jet(self.v + other, self.d, self.h)

    __radd__ = __add__

    def __mul__(self, other: Any) -> _Jet:
        if not isinstance(other, _Jet):
            c = np.asarray(other)
            return _Jet(self.v * c, self.d * c[..., None], self.h * c[..., None, None])
        d = self.d * other.v[..., None] + other.d * self.v[..., None]
        cross = self.d[..., :, None] * other.d[..., None, :]
        h = (self.h * other.v[..., None, None] + other.h * self.v[..., None, None]
             + cross + np.swapaxes(cross, -1, -2))
        return _Jet(self.v * other.v, d, h)

    __rmul__ = __mul__

    def reciprocal(self) -> _Jet:
        return self.apply(1.0 / self.v, -1.0 / self.v**2, 2.0 / self.v**3)

    def sqrt(self) -> _Jet:
        r = np.sqrt(self.v)
        return self.apply(r, 0.5 / r, -0.25 / (r * self.v))

    def arcsin(self) -> _Jet:
        c = 1.0 - self.v**2
        return self.apply(np.arcsin(self.v), c**-0.5, self.v * c**-1.5)

    def weighted_sum(self, w: FloatArray, axes: tuple[int, ...]) -> _Jet:
        """``sum w * self`` over trailing ``axes`` of the value (w broadcast on them)."""
        wv = w
        wd, wh = w[..., None], w[..., None, None]
        return _Jet((self.v * wv).sum(axes), (self.d * wd).sum(tuple(a - 1 for a in axes)),
                    (self.h * wh).sum(tuple(a - 2 for a in axes)))


# -- the two-point map g and its derivatives ------------------------------------------
def _pair_jets(sxx: FloatArray, sxy: FloatArray, syy: FloatArray) -> tuple[_Jet, _Jet, _Jet]:
    return _Jet.variable(sxx, 0), _Jet.variable(sxy, 1), _Jet.variable(syy, 2)


def _relu_angle(rho: _Jet) -> _Jet:
    """``J(rho) = sin t + (pi - t) cos t``, ``cos t = rho``: J' = pi - t, J'' = 1/sin t.

    On the collinear set ``|rho| = 1`` the second derivative diverges but the fluctuations
    stay on that set (rho does not move), so its term is dropped there.
    """
    r = np.clip(rho.v, -1.0, 1.0)
    t = np.arccos(r)
    s = np.sin(t)
    f2 = np.divide(1.0, s, out=np.zeros_like(s), where=s > 1e-6)
    return rho.apply(s + (np.pi - t) * r, np.pi - t, f2)


def _g_jet(act: str, sxx: FloatArray, sxy: FloatArray, syy: FloatArray, diag: bool) -> _Jet:
    """``g(sxx, sxy, syy) = E phi(u) phi(v)`` as a jet; ``diag``: one variable u = v."""
    if diag:  # one variable: slot 0, g(s) = E phi(z)^2 with Var z = s
        s = _Jet.variable(sxx, 0)
        a = b = c = s
    else:
        a, c, b = _pair_jets(sxx, sxy, syy)
    if act == "linear":
        return c
    if act == "relu":
        if diag:
            return a * 0.5
        with np.errstate(divide="ignore", invalid="ignore"):  # zero variance: masked below
            norm = a.sqrt() * b.sqrt()  # not (a b)^(1/2): a b overflows from ~1e154
            pos = norm.v > 0
            safe = _Jet(np.where(pos, norm.v, 1.0), norm.d, norm.h)
            rho = c * safe.reciprocal()
            out = norm * _relu_angle(rho) * (1.0 / (2.0 * np.pi))
        # an input with zero variance has z = 0 at every width: g and its variation vanish
        return _Jet(np.where(pos, out.v, 0.0), np.where(pos[..., None], out.d, 0.0),
                    np.where(pos[..., None, None], out.h, 0.0))
    if act == "erf":
        ratio = c * 2.0 * ((a * 2.0 + 1.0) * (b * 2.0 + 1.0)).sqrt().reciprocal()
        return ratio.arcsin() * (2.0 / np.pi)
    if act == "tanh":
        return _tanh_g_jet(sxx, sxy, syy, diag)
    raise ValueError(f"no Gaussian two-point map for activation {act!r}")


def _tanh_g_jet(sxx: FloatArray, sxy: FloatArray, syy: FloatArray, diag: bool) -> _Jet:
    """The tanh ``g = (2/pi) E_{K1,K2} arcsin(u)``, ``u = c A B``, ``A, B = (K^2 + a, b)^-1/2``.

    The derivatives of u in (a, c, b) are closed monomials in u, A, B, so the jet is
    summed over the 72 x 72 Kolmogorov nodes without carrying (3, 3) blocks per node;
    ``diag`` (a = b = c) contracts them onto slot 0 as the one-variable jet does.
    """
    k, w = _theory._kolmogorov_rule()
    a2 = 1.0 / (sxx[:, None, None] + (k**2)[:, None])  # A^2
    b2 = 1.0 / (syy[:, None, None] + (k**2)[None, :])  # B^2
    ab = np.sqrt(a2 * b2)
    u = sxy[:, None, None] * ab
    du = np.stack([-0.5 * u * a2, ab, -0.5 * u * b2], axis=-1)
    zero = np.zeros_like(u)
    ddu = np.stack([np.stack([0.75 * u * a2 * a2, -0.5 * ab * a2, 0.25 * u * a2 * b2], -1),
                    np.stack([-0.5 * ab * a2, zero, -0.5 * ab * b2], -1),
                    np.stack([0.25 * u * a2 * b2, -0.5 * ab * b2, 0.75 * u * b2 * b2], -1)], -2)
    s1 = 1.0 / np.sqrt(1.0 - u * u)  # arcsin'
    s2 = u * s1**3  # arcsin''
    ww = np.outer(w, w) * (2.0 / np.pi)
    v = np.einsum("pij,ij->p", np.arcsin(u), ww)
    d = np.einsum("pij,pijx,ij->px", s1, du, ww)
    h = (np.einsum("pij,pijxy,ij->pxy", s1, ddu, ww)
         + np.einsum("pij,pijx,pijy,ij->pxy", s2, du, du, ww))
    if not diag:
        return _Jet(v, d, h)
    d1, h1 = np.zeros_like(d), np.zeros_like(h)
    d1[:, 0], h1[:, 0, 0] = d.sum(axis=1), h.sum(axis=(1, 2))
    return _Jet(v, d1, h1)


# -- four-point functions ---------------------------------------------------------------
_PAIRINGS = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1))
_GL_Q = 12


@functools.lru_cache(maxsize=64)
def _graded_to_one(levels: int) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre panels on [0, 1] with edges 1/2, 3/4, ..., 1 - 2^-levels."""
    edges = np.array([0.0] + [1.0 - 0.5**j for j in range(1, levels + 1)] + [1.0])
    return _quadrature.composite(edges, _GL_Q)


def _correlation(cov: FloatArray) -> FloatArray:
    sd = np.sqrt(np.einsum("...ii->...i", cov))
    return np.asarray(cov / sd[..., :, None] / sd[..., None, :], dtype=np.float64)


_Entry = Callable[[FloatArray, int, int], FloatArray]


def _entry(r: FloatArray, p: int, q: int) -> FloatArray:
    return np.asarray(r[..., p, q])


def _panel_levels(r: FloatArray) -> int:
    """``ceil(log2(1 / lam))`` in [1, 48], lam the least eigenvalue of all r (B, 4, 4).

    The integrand's nearest singularity lies ~lam beyond t = 1, so the panels go down to
    that size.  ``lam >= 2^-L`` is tested by the LDL pivots of ``r - 2^-L I`` (all
    positive), vectorised over the batch: far cheaper than B small eigenproblems.
    """
    for level in range(1, 48):
        a = r - 2.0**-level * np.eye(4)
        ok = np.ones(len(a), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):  # failed rows stay failed
            for j in range(4):
                ok &= a[:, j, j] > 0
                col = a[:, j + 1:, j] / a[:, j, j, None]
                a[:, j + 1:, j + 1:] -= col[:, :, None] * a[:, j, None, j + 1:]
        if ok.all():
            return level
    return 48


def _orthant4(r: FloatArray, entry: _Entry = _entry) -> FloatArray:
    """``P(z > 0)`` for 4-variate z with correlation matrices r (..., 4, 4), full rank.

    Along ``R(t) = I + t (R - I)``, ``dP/dt = sum_{i<j} r_ij phi2(0, 0; t r_ij)
    P2(k, l | z_i = z_j = 0)`` (Plackett 1954); P(0) = 1/16.  ``entry(r, p, q)`` gives
    ``r_pq`` broadcastable to ``r.shape[:-2]``: entries constant along batch axes may
    come reduced to length 1 there, and the work on them shrinks accordingly.
    """
    t, w = _graded_to_one(_panel_levels(r.reshape(-1, 4, 4)))
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


def _orthant(cov: FloatArray) -> FloatArray:
    """Orthant probability ``P(z > 0)`` of zero-mean z ~ N(0, cov), up to 4 variables."""
    n = cov.shape[-1]
    if n == 0:
        return np.ones(cov.shape[:-2])
    if n == 1:
        return np.full(cov.shape[:-2], 0.5)
    r = _correlation(cov)
    asin = {(i, j): np.arcsin(np.clip(r[..., i, j], -1, 1)) for i, j in itertools.combinations(range(n), 2)}
    if n == 2:
        return np.asarray(0.25 + asin[0, 1] / (2 * np.pi))
    if n == 3:
        return np.asarray(0.125 + sum(asin.values()) / (4 * np.pi))
    return _orthant4(r)


def _sign4(cov: FloatArray, entry: _Entry = _entry) -> FloatArray:
    """``E[sign z_1 ... sign z_4]`` for full-rank covariances (..., 4, 4) (entry: _orthant4)."""
    r = _correlation(cov)
    s = sum(np.arcsin(entry(r, i, j)) for i, j in itertools.combinations(range(4), 2))
    return np.asarray(16.0 * _orthant4(r, entry) - 1.0 - (2.0 / np.pi) * s)


def _condition_on_zero(cov: FloatArray, j: int) -> FloatArray:
    """Covariance of the other variables given ``z_j = 0`` (Schur complement)."""
    keep = [i for i in range(cov.shape[-1]) if i != j]
    b = cov[..., keep, j]
    sub = cov[..., keep, :][..., :, keep]
    return np.asarray(sub - b[..., :, None] * b[..., None, :] / cov[..., j, j][..., None, None])


def _truncated_moment(cov: FloatArray, powers: tuple[int, ...],
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
        memo[key] = _orthant(cov)
        return memo[key]
    names = [a for a in range(len(powers) + len(gone)) if a not in gone]
    i = next(a for a, p in enumerate(powers) if p)
    rest = list(powers)
    rest[i] -= 1
    out = np.zeros(cov.shape[:-2])
    for j, p in enumerate(rest):
        if p:
            lower = tuple(q - (a == j) for a, q in enumerate(rest))
            out = out + cov[..., i, j] * p * _truncated_moment(cov, lower, memo, gone)
        else:
            density = 1.0 / np.sqrt(2 * np.pi * cov[..., j, j])
            cond = _condition_on_zero(cov, j)
            inner = _truncated_moment(cond, tuple(rest[:j] + rest[j + 1:]), memo,
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


def _erf_four(cov: FloatArray) -> FloatArray:
    return _sign4(cov + 0.5 * np.eye(4))


def _scale_axes_entry(r: FloatArray, p: int, q: int) -> FloatArray:
    """``r_pq`` of correlations (S, n, n, n, n, 4, 4) with one Kolmogorov-scale axis per variable.

    It depends on the scales of p and q only, so the other two axes are cut to length 1.
    """
    cut = tuple(slice(None) if a in (p, q) else slice(0, 1) for a in range(4))
    return np.asarray(r[(slice(None),) + cut + (p, q)])


def _tanh_four(cov: FloatArray) -> FloatArray:
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


_InputSet = tuple[tuple[int, ...], IntArray, IntArray, tuple[tuple[int, ...], ...]]


#: Relative eigenvalue below which an input set's covariance is treated as singular, by
#: both :func:`_full_rank` (on the correlation matrix) and :func:`_spherical_moments` (on
#: the covariance): one threshold, so a set judged singular always loses a direction
#: (min eig cov / max eig cov <= min eig of the correlation) and never reaches the
#: spherical rule with all four directions (tanh at depth >~ 20 with d_in = 1 did).
_RANK_RTOL = 1e-9


def _full_rank(subs: FloatArray) -> NDArray[np.bool_]:
    """Which covariances (..., n, n) are numerically non-singular relative to their diagonal."""
    diag = np.einsum("...ii->...i", subs)
    ok = np.all(diag > 0, axis=-1)
    safe = np.where(ok[..., None, None], subs, np.eye(subs.shape[-1]))
    return np.asarray(ok & (np.linalg.eigvalsh(_correlation(safe)).min(axis=-1) > _RANK_RTOL))


def _full_rank_sets(cov: FloatArray, sets: tuple[_InputSet, ...]) -> NDArray[np.bool_]:
    """``_full_rank`` of every input set's sub-covariance, batched by set size."""
    full = np.zeros(len(sets), dtype=bool)
    for n in range(1, 5):
        ids = [i for i, s in enumerate(sets) if len(s[0]) == n]
        if ids:
            var = np.array([sets[i][0] for i in ids])
            full[ids] = _full_rank(cov[var[:, :, None], var[:, None, :]])
    return full


def _spherical_moments(act: str, sub: FloatArray, local: IntArray) -> FloatArray:
    """Order-4 moments of sub's variables (rank <= 3, theory's rule) on its tuples ``local``.

    ``local`` ranks the wanted tuples among sub's sorted 4-tuples; only those are summed.
    """
    lam, vec = np.linalg.eigh(sub)
    keep = lam > _RANK_RTOL * max(float(lam.max()), 1e-300)
    measure = _theory._loadings_measure(act, vec[:, keep] * np.sqrt(lam[keep]))
    return measure.moment_on(_tuples.tuples(len(sub), 4)[local])


@functools.lru_cache(maxsize=16)
def _input_sets(k: int) -> tuple[_InputSet, ...]:
    """The sorted 4-tuples grouped by their set of distinct inputs.

    One entry per set: (inputs, tuple rows, the rows' ranks among the set's own sorted
    4-tuples, the rows' multiplicities of each input).
    """
    t4 = _tuples.tuples(k, 4)
    rows: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for row, tup in enumerate(t4):
        rows[tuple(sorted({int(i) for i in tup}))].append(row)
    out = []
    for var, members in rows.items():
        idx = np.array(members)
        local = np.searchsorted(np.array(var), t4[idx])
        powers = tuple(tuple(int((t == j).sum()) for j in range(len(var))) for t in local)
        out.append((var, idx, _tuples.rank(local, len(var)), powers))
    return tuple(out)


def _four_by_sets(act: str, cov: FloatArray) -> FloatArray:
    """``E[phi_a phi_b phi_c phi_d]`` grouped by the set of distinct inputs (relu, tanh).

    Full-rank sets: Stein's reduction (relu) or the Kolmogorov mixture of sign moments
    (tanh, 4 distinct inputs); otherwise the spherical rule of rank <= 3, split at the
    kinks (exact for relu, ~1e-12 for tanh).
    """
    sets = _input_sets(len(cov))
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
        elif act == "tanh" and full and len(var) == 4:
            four.extend((int(row), var) for row in rows)
        else:
            out[rows] = _spherical_moments(act, sub, local)
    for p, members in stein.items():
        idx = np.array([v for _, v in members])
        out[[r for r, _ in members]] = _truncated_moment(cov[idx[:, :, None], idx[:, None, :]], p)
    if four:
        idx = np.array([v for _, v in four])
        out[[r for r, _ in four]] = _tanh_four(cov[idx[:, :, None], idx[:, None, :]])
    return out


def _four_point(act: str, cov: FloatArray) -> FloatArray:
    """``E[phi_a phi_b phi_c phi_d]`` at z ~ N(0, cov) on the sorted 4-tuples."""
    t4 = _tuples.tuples(len(cov), 4)
    if act == "linear":
        return np.asarray(_tuples.wick(cov, 4))
    if act == "erf":
        return _erf_four(cov[t4[:, :, None], t4[:, None, :]])
    if act in ("relu", "tanh"):
        return _four_by_sets(act, cov)
    raise ValueError(f"no Gaussian four-point function for activation {act!r}")


# -- one layer of the recursion ---------------------------------------------------------
class _Layer:
    """``g``, its Jacobian and Hessian, and ``T`` at one kernel, on the sorted pairs."""

    def __init__(self, act: str, cov: FloatArray, need_derivatives: bool) -> None:
        k = len(cov)
        pairs = _tuples.tuples(k, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        pidx = _tuples.pair_index(k)
        self.deps = np.stack([pidx[a, a], pidx[a, b], pidx[b, b]], axis=1)
        diag = a == b
        n_pairs = len(pairs)
        self.g = np.empty(n_pairs)
        self.grad = np.zeros((n_pairs, 3))
        self.hess = np.zeros((n_pairs, 3, 3))
        for mask, is_diag in ((diag, True), (~diag, False)):
            if mask.any():
                jet = _g_jet(act, cov[a[mask], a[mask]], cov[a[mask], b[mask]],
                             cov[b[mask], b[mask]], is_diag)
                self.g[mask], self.grad[mask], self.hess[mask] = jet.v, jet.d, jet.h
        self.t = self._connected_four(act, cov, pairs)
        self.jacobian = np.zeros((n_pairs, n_pairs))
        if need_derivatives:
            rows = np.repeat(np.arange(n_pairs), 3)
            np.add.at(self.jacobian, (rows, self.deps.ravel()), self.grad.ravel())

    def _connected_four(self, act: str, cov: FloatArray, pairs: IntArray) -> FloatArray:
        k, n = len(cov), len(pairs)
        m4 = _four_point(act, cov)
        p, q = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        quads = np.sort(np.concatenate([pairs[p.ravel()], pairs[q.ravel()]], axis=1), axis=1)
        return np.asarray(m4[_tuples.rank(quads, k)].reshape(n, n) - np.outer(self.g, self.g))

    def second_order(self, v: FloatArray) -> FloatArray:
        """``sum_{q,r} d2 g_p / dG_q dG_r  V_qr`` for every pair p."""
        dv = v[self.deps[:, :, None], self.deps[:, None, :]]
        return np.asarray(np.einsum("puv,puv->p", self.hess, dv))


def _first_layer_moments(arch: Architecture, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(g, T) of the first hidden layer from the one-neuron moments (gauss, cos nets)."""
    k = len(x)
    moments = _theory._neuron_moments(arch, x, [2, 4])
    pairs = _tuples.tuples(k, 2)
    n = len(pairs)
    p, q = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    quads = np.sort(np.concatenate([pairs[p.ravel()], pairs[q.ravel()]], axis=1), axis=1)
    m4 = moments[4][_tuples.rank(quads, k)].reshape(n, n)
    return moments[2], m4 - np.outer(moments[2], moments[2])


def _pairs_to_matrix(values: FloatArray, k: int) -> FloatArray:
    return np.asarray(values[_tuples.pair_index(k)], dtype=np.float64)


def _check_finite(layer: int, cov: FloatArray, k1: FloatArray, v: FloatArray) -> None:
    """Refuse to go on once K, K1 or V has left float64 (inf/NaN), naming the layer."""
    if not (np.isfinite(cov).all() and np.isfinite(k1).all() and np.isfinite(v).all()):
        if np.isfinite(cov).all() and np.abs(cov).max() < 1e150:
            raise ValueError(
                f"the 1/N recursion breaks down at layer {layer}: the kernel is finite (up to "
                f"{np.abs(cov).max():.3g}) but numerically singular or saturated (inputs "
                "perfectly correlated at this precision, e.g. a saturated erf first layer), "
                "where the derivatives of g diverge; use smaller sigma_w or distinct inputs")
        raise OverflowError(
            f"the 1/N recursion overflows float64 at layer {layer}: K up to "
            f"{np.nanmax(np.abs(cov)):.3g}, V up to {np.nanmax(np.abs(v)):.3g}; the kernel grows "
            "by sigma_w^2 per layer (e.g. relu with sigma_w^2 > 2): reduce the depth or sigma_w")


def _recursion(arch: Architecture, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(K, K1, V) of the output on the sorted pairs (physics-deep.md §2)."""
    k = len(x)
    _theory._check_sigma_range(arch)
    big = [s for s in arch.sigma_w_layers if s > 1e75]
    if big:  # V carries sigma_w^4
        raise OverflowError(f"sigma_w = {big[0]:.3g} is out of range for the 1/N theory: V "
                            "carries sigma_w^4, which overflows float64 beyond ~1e75")
    sw, sb = arch.sigma_w_layers, arch.sigma_b_layers
    cov = sb[0] ** 2 + sw[0] ** 2 * (x @ x.T) / arch.d_in
    n_pairs = _tuples.n_tuples(k, 2)
    k1, v = np.zeros(n_pairs), np.zeros((n_pairs, n_pairs))
    for layer in range(1, arch.depth + 1):
        w2 = sw[layer] ** 2
        # overflow is reported below, naming the layer, instead of numpy's raw warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if layer == 1:  # deterministic input kernel: V^1 = K1^1 = 0
                if arch.activation in ("gauss", "cos"):
                    g, t = _first_layer_moments(arch, x)
                else:
                    first = _Layer(arch.activation, cov, need_derivatives=False)
                    g, t = first.g, first.t
                v = w2**2 * t
            else:
                lay = _Layer(arch.activation, cov, need_derivatives=True)
                g = lay.g
                k1 = w2 * (lay.jacobian @ k1 + 0.5 * lay.second_order(v))
                v = w2**2 * (lay.t + lay.jacobian @ v @ lay.jacobian.T)
            cov = _pairs_to_matrix(sb[layer] ** 2 + w2 * g, k)
        _check_finite(layer, cov, k1, v)
    pairs = _tuples.tuples(k, 2)
    return cov[pairs[:, 0], pairs[:, 1]], k1, v


_CACHE: collections.OrderedDict[Any, tuple[FloatArray, FloatArray, FloatArray]] = collections.OrderedDict()
_CACHE_SIZE = 64


def _cached_recursion(arch: Architecture, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The recursion memoised on everything it depends on (not the width)."""
    key = (arch.activation, arch.depth, arch.d_in, arch.sigma_w_layers, arch.sigma_b_layers,
           x.shape, x.tobytes())
    if key not in _CACHE:
        out = _recursion(arch, x)
        for a in out:
            a.setflags(write=False)
        _CACHE[key] = out
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return _CACHE[key]


# -- public ---------------------------------------------------------------------------------
class FiniteWidthTheory(Result, kind="finite_width"):
    """Leading finite-width (1/N) theory of a network ensemble at k inputs.

    Returned by :func:`finite_width`.  ``K``, ``K1`` and ``V`` do not depend on the
    width; the correlators (:meth:`mean`, :meth:`connected`) use ``arch.width``.

    Attributes
    ----------
    arch : Architecture
    x : ndarray, shape (k, d_in)
    """

    def __init__(self, arch: Architecture, x: FloatArray, kernel_pairs: FloatArray,
                 correction_pairs: FloatArray, vertex: FloatArray) -> None:
        self.arch, self.x = arch, x
        self._k, self._k1, self._v = kernel_pairs, correction_pairs, vertex

    @property
    def k(self) -> int:
        """Number of inputs."""
        return len(self.x)

    @property
    def width(self) -> int:
        """Width N used by the correlators."""
        return self.arch.width

    def kernel(self) -> FloatArray:
        """NNGP kernel ``K`` of the output, shape (k, k)."""
        return _pairs_to_matrix(self._k, self.k)

    def kernel_correction(self) -> FloatArray:
        """``K1``: ``E G2 = K + K1 / N + O(1/N^2)``, shape (k, k)."""
        return _pairs_to_matrix(self._k1, self.k)

    def vertex(self) -> FloatArray:
        """``V_pq``: ``N Cov(C_p, C_q)`` of the read-out kernel, on pairs of sorted pairs.

        Rows and columns follow :func:`nnqft.tuples.tuples` ``(k, 2)``; ``V[a, b, c, d]``
        densely is ``vertex()[pair_index[a, b], pair_index[c, d]]``.
        """
        return self._v.copy()

    def mean(self, n: int) -> FloatArray:
        """``G^(n)`` on the sorted tuples to order 1/N (n = 1..4; zeros for odd n).

        ``G2 = K + K1/N``; ``G4 = Wick(G2) + kappa4``.
        """
        n = as_int("n", n, minimum=1, maximum=4)
        g2 = self.kernel() + self.kernel_correction() / self.width
        if n == 4:
            return np.asarray(_tuples.wick(g2, 4) + self.connected(4))
        if n == 2:
            return np.asarray(g2[_tuples.tuples(self.k, 2)[:, 0], _tuples.tuples(self.k, 2)[:, 1]])
        return np.zeros(_tuples.n_tuples(self.k, n))

    def connected(self, n: int) -> FloatArray:
        """Connected correlator ``kappa_n`` on the sorted tuples (n = 1..4).

        ``kappa4_abcd = (V_ab,cd + V_ac,bd + V_ad,bc) / N``; ``kappa2 = G2``.
        """
        n = as_int("n", n, minimum=1, maximum=4)
        if n == 2:
            return self.mean(2)
        if n != 4:
            return np.zeros(_tuples.n_tuples(self.k, n))
        t = _tuples.tuples(self.k, 4)
        pidx = _tuples.pair_index(self.k)
        total = np.zeros(len(t))
        for (a, b), (c, d) in _tuples.matchings(4):
            total += self._v[pidx[t[:, a], t[:, b]], pidx[t[:, c], t[:, d]]]
        return total / self.width

    def at_width(self, width: int) -> FiniteWidthTheory:
        """The same theory with the correlators evaluated at another width."""
        arch = dataclasses.replace(self.arch, width=width)
        return FiniteWidthTheory(arch, self.x, self._k, self._k1, self._v)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists; the vertex on pairs of sorted pairs)."""
        return {"arch": self.arch.to_dict(), "x": self.x.tolist(),
                "kernel": self.kernel().tolist(),
                "kernel_correction": self.kernel_correction().tolist(),
                "vertex": self._v.tolist()}

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        return {"arch": self.arch.to_dict()}, {"x": self.x, "kernel": self._k,
                                                "kernel_correction": self._k1, "vertex": self._v}

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> FiniteWidthTheory:
        arch = Architecture.from_dict(meta["arch"])
        x = as_inputs(arrays["x"], arch.d_in)
        n = _tuples.n_tuples(len(x), 2)
        shapes = {"kernel": (n,), "kernel_correction": (n,), "vertex": (n, n)}
        for name, shape in shapes.items():  # checked before anything indexes them
            a = arrays[name]
            if a.shape != shape or a.dtype != np.float64 or not np.isfinite(a).all():
                raise ValueError(f"corrupt finite_width file: {name} must be finite float64 of "
                                 f"shape {shape} for {len(x)} inputs, got {a.dtype} {a.shape}")
        return cls(arch, x, arrays["kernel"], arrays["kernel_correction"], arrays["vertex"])

    def __repr__(self) -> str:
        return (f"<FiniteWidthTheory {self.arch.activation}-net depth={self.arch.depth} "
                f"width={self.arch.width}, k={self.k} inputs>")

    def _tables(self) -> list[render.Table]:
        p = _tuples.pair_index(self.k)
        kern, corr = self.kernel(), self.kernel_correction()
        rows = [(str(a), f"{kern[a, a]:.6g}", f"{corr[a, a]:.6g}",
                 f"{self._v[p[a, a], p[a, a]]:.6g}") for a in range(self.k)]
        notes = [f"Leading 1/N theory of {self.arch!r}",
                 "G2 = K + K1/N, κ4_abcd = (V_ab,cd + V_ac,bd + V_ad,bc)/N"]
        return [render.Table(notes, ("input a", "K_aa", "K1_aa", "V_aa,aa"), rows)]


def finite_width(arch: Architecture, x: Any) -> FiniteWidthTheory:
    """Leading 1/N theory of ``arch`` at the inputs ``x`` (any depth).

    Parameters
    ----------
    arch : Architecture
        Gaussian weights; any depth, activation, per-layer sigmas and ``d_in``
        (``gauss`` and ``cos`` exist at depth 1 only).
    x : array_like, shape (k, d_in)
        Inputs (a 1-D array means ``d_in = 1``).

    Returns
    -------
    FiniteWidthTheory
        ``.kernel()``, ``.kernel_correction()``, ``.vertex()``, and the correlators
        ``.mean(2)``, ``.mean(4)``, ``.connected(4)`` on the sorted-tuple layout of
        :class:`nnqft.Correlators`.

    Raises
    ------
    ValueError
        For uniform weights: the recursion needs Gaussian pre-activations at every
        layer given the previous one.

    Notes
    -----
    The recursion and its derivation are in physics-deep.md §2 and the docstring of
    :mod:`nnqft.deep_theory`.  At depth 1, ``K1 = 0`` and ``connected(4)`` equals
    ``exact(arch, x, 4, connected=True)``.  Closed forms make erf, relu and linear
    accurate to about 1e-10 relative; tanh's four-point functions carry a ~1e-7 error.
    Results are memoised on everything but the width.

    Examples
    --------
    >>> arch = nnqft.Architecture("erf", width=100, d_in=1, depth=3, sigma_w=1.5, sigma_b=0.3)
    >>> th = nnqft.finite_width(arch, [[0.8]])
    >>> th.kernel(), th.kernel_correction(), th.vertex()     # 1.22962, -0.1388, 0.7241
    """
    check_arch(arch)
    if arch.weight_dist != "gaussian":
        raise ValueError(
            f"finite_width needs gaussian weights (got weight_dist={arch.weight_dist!r}): "
            "the layer-to-layer recursion assumes Gaussian pre-activations given the "
            "previous layer; sample uniform-weight networks with sampler='weights'"
        )
    xs = as_inputs(x, arch.d_in, "x")
    k_pairs, k1_pairs, v = _cached_recursion(arch, xs)
    return FiniteWidthTheory(arch, xs, k_pairs, k1_pairs, v)
