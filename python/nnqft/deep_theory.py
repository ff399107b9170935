"""Finite-width theory of deep networks to order 1/N and 1/N^2.

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

At ``order=2`` the same expansion goes one order further (physics-deep.md §5):
``E delta = K1/N + K2/N^2``, ``Cov delta = V/N + W/N^2``, ``kappa3 delta = U/N^2``, with
K2, W, U recursed from the derivatives of the mean map ``F = sigma_b^2 + sigma_w^2 g``
up to the 4th order, of ``tau = sigma_w^4 T`` up to the 2nd, and the connected
six-point function ``sigma = sigma_w^6 kappa3(phi_a phi_b, phi_c phi_d, phi_e phi_f)``
(``_nlo_step``).  The output's ``kappa6`` is the sum of U over the 15 pairings.

Numerics
--------
* ``g`` and its derivatives: closed forms (erf arcsine, relu arc-cosine, linear)
  differentiated exactly by forward jets (truncated Taylor polynomials in the three
  local variables G_aa, G_ab, G_bb; degree 2 at order 1, degree 4 at order 2); tanh
  through the Kolmogorov scale mixture of erf (``nnqft.gaussian.pair_map``, 72 x 72
  nodes, ~1e-14), differentiated under the mixture: in closed form to 2nd order, to the
  4th by Taylor composition of ``arcsin(c A(a) B(b))`` per node pair
  (``_tanh_g_jet_any``; exact derivatives of the quadrature).  ReLU on the
  collinear set ``|rho| = 1`` drops the divergent rho-derivatives of order >= 2: the
  fluctuations never leave that set.
* Four- and six-point functions ``E[phi_a1 ... phi_an]`` (:mod:`nnqft.gaussian`):

  - erf: ``erf(z) = E sign(z - Y/sqrt 2)`` turns the product into the sign moment of a
    Gaussian with covariance ``Sigma + I/2`` (always full rank, repeated inputs
    included).  Four signs: ``16 P4 - 1 - (2/pi) sum asin rho`` with the orthant
    probability ``P4`` a smooth 1-D integral (Plackett's reduction: ``dP4/drho_ij`` is
    a bivariate density times a bivariate orthant probability, both closed form), by
    Gauss-Legendre panels graded towards the end where the covariance is closest to
    singular (~1e-12).  Six signs: the same reduction, whose conditional moment is a
    4-sign moment: a 2-D quadrature (8 nodes per graded panel), ~1e-10 absolute.
  - tanh: four-point functions as erf with ``tanh(z) = E sign(z - K Y)``, K Kolmogorov
    distributed, summed over an 8-node Gauss rule of the Kolmogorov law per factor
    (about 1e-7); the four scales are four batch axes, so terms of one pair of inputs
    cost 8 x 8 only.  Six-point functions: tuples of <= 3 distinct inputs (or a
    sub-kernel of rank <= 3) by the spherical rule of :mod:`nnqft.gaussian` (~1e-12);
    tuples of 4-6 distinct inputs by a tensor rule in the eigenbasis of their
    sub-kernel (:func:`nnqft.gaussian.tanh_moments`): per axis Gauss-Hermite or the
    trapezoid rule, picked and sized from the axis' distance to tanh's poles at
    ``i pi/2`` (<= 1e-8 absolute per axis; checked against the spherical rule, the
    Kolmogorov 4-point function and by refinement), one grid per set of inputs shared by
    all its tuples.  A set whose grid would exceed 1e8 nodes (large variance in many
    directions at once) is refused.
  - relu: Stein's lemma reduces ``E[prod z_i^m_i 1{z > 0}]`` to lower moments and
    orthant probabilities of conditional Gaussians (closed forms up to 3 variables,
    ``P4``, ``P5``, ``P6`` from the sign moments above), exact up to the quadratures;
    no kink is ever integrated over.  Singular sub-covariances (inputs on a ray,
    opposite inputs) use the spherical rule of :mod:`nnqft.gaussian`, split at the kinks
    and exact for ReLU (rank <= 3); rank 4 or 5 (more inputs than the first layer's
    d_in + 1) Stein's reduction at two small diagonal regularisations extrapolated to
    zero (~1e-11).
  - linear: Isserlis.
* The derivatives of ``tau`` (order 2) are only needed contracted with K1 and V: along
  K1 and along each eigenvector of V, central differences of T at steps h and h/2
  combined by one Richardson step, h = 0.01 of the distance to the nearest singular
  kernel along the direction (error ~1e-8 relative; exact for linear and on the ReLU
  ray, where T is a polynomial along the fluctuation).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import gaussian as _gaussian
from . import render
from . import theory as _theory
from . import tuples as _tuples
from ._resources import check_memory
from ._result import Result
from ._validation import as_inputs, as_int
from .architecture import Architecture, check_arch

__all__ = ["FiniteWidthTheory", "finite_width"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# -- forward jets: truncated Taylor polynomials in three variables ---------------------
@functools.lru_cache(maxsize=8)
def _monomials(order: int) -> tuple[tuple[int, int, int], ...]:
    return tuple((i, j, m) for i in range(order + 1) for j in range(order + 1 - i)
                 for m in range(order + 1 - i - j))


@functools.lru_cache(maxsize=8)
def _degree_mask(order: int) -> FloatArray:
    i, j, m = np.indices((order + 1,) * 3)
    return np.asarray(i + j + m <= order, dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _derivative_index(n: int) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """For every index tuple in {0,1,2}^n: its multi-index (exponents) and their factorials."""
    slots = np.array(list(itertools.product(range(3), repeat=n)), dtype=np.int64).reshape(-1, n)
    alpha = np.stack([(slots == s).sum(axis=1) for s in range(3)], axis=1)
    fac = np.prod([[math.factorial(int(a)) for a in row] for row in alpha], axis=1)
    return alpha[:, 0], alpha[:, 1], alpha[:, 2], np.asarray(fac, dtype=np.float64)


class _Jet:
    """A function of three variables as its Taylor polynomial to total degree ``order``.

    ``c[..., i, j, m]`` is ``d^(i+j+m) f / dx^i dy^j dz^m / (i! j! m!)`` at the point
    (exact forward-mode differentiation to that order; entries of higher total degree
    are kept at zero).  Leading axes are a batch.
    """

    __slots__ = ("c", "order")

    def __init__(self, c: FloatArray, order: int) -> None:
        self.c, self.order = c, order

    @classmethod
    def variable(cls, value: FloatArray, slot: int, order: int) -> _Jet:
        c = np.zeros(np.shape(value) + (order + 1,) * 3)
        c[..., 0, 0, 0] = value
        c[(Ellipsis,) + tuple(int(s == slot) for s in range(3))] = 1.0
        return cls(c, order)

    @property
    def v(self) -> FloatArray:
        return np.asarray(self.c[..., 0, 0, 0])

    def derivative(self, n: int) -> FloatArray:
        """The n-th derivative tensor, shape (..., 3, ..., 3) with n trailing axes."""
        i, j, m, fac = _derivative_index(n)
        return np.asarray((self.c[..., i, j, m] * fac).reshape(self.c.shape[:-3] + (3,) * n))

    def with_value(self, value: FloatArray) -> _Jet:
        c = self.c.copy()
        c[..., 0, 0, 0] = value
        return _Jet(c, self.order)

    def masked(self, keep: NDArray[np.bool_]) -> _Jet:
        """The jet where ``keep``, the zero function elsewhere."""
        return _Jet(np.where(keep[..., None, None, None], self.c, 0.0), self.order)

    def apply(self, derivs: list[FloatArray]) -> _Jet:
        """``F(self)`` given ``F, F', F'', ...`` (up to ``order``) at ``self.v`` (Taylor)."""
        delta = self.with_value(np.zeros(self.c.shape[:-3]))
        out = np.zeros_like(self.c)
        out[..., 0, 0, 0] = derivs[0]
        power = delta
        for n in range(1, self.order + 1):
            out += np.asarray(derivs[n])[..., None, None, None] / math.factorial(n) * power.c
            if n < self.order:
                power = power * delta
        return _Jet(out, self.order)

    def __add__(self, other: Any) -> _Jet:
        if isinstance(other, _Jet):
            return _Jet(self.c + other.c, self.order)
        return self.with_value(self.v + other)

    __radd__ = __add__

    def __mul__(self, other: Any) -> _Jet:
        if not isinstance(other, _Jet):
            return _Jet(self.c * np.asarray(other)[..., None, None, None], self.order)
        o = self.order
        a, b = np.broadcast_arrays(self.c, other.c)
        out = np.zeros(a.shape)
        for i, j, m in _monomials(o):
            tail = b[..., :o + 1 - i, :o + 1 - j, :o + 1 - m]
            out[..., i:, j:, m:] += a[..., i, j, m, None, None, None] * tail
        return _Jet(out * _degree_mask(o), o)

    __rmul__ = __mul__

    def reciprocal(self) -> _Jet:
        x = self.v
        return self.apply([(-1.0) ** n * math.factorial(n) / x ** (n + 1)
                           for n in range(self.order + 1)])

    def sqrt(self) -> _Jet:
        x, coef, derivs = self.v, 1.0, []
        for n in range(self.order + 1):
            derivs.append(coef * x ** (0.5 - n))
            coef *= 0.5 - n
        return self.apply(derivs)

    def arcsin(self) -> _Jet:
        return self.apply(_arcsin_derivatives(self.v, self.order))


def _arcsin_derivatives(x: FloatArray, order: int) -> list[FloatArray]:
    """``arcsin`` and its derivatives up to ``order`` (<= 4) at x."""
    c = 1.0 - x**2
    derivs = [np.arcsin(x), c**-0.5, x * c**-1.5, (1.0 + 2.0 * x**2) * c**-2.5,
              (9.0 * x + 6.0 * x**3) * c**-3.5]
    return derivs[: order + 1]


# -- the two-point map g and its derivatives ------------------------------------------
def _relu_angle(rho: _Jet) -> _Jet:
    """``J(rho) = sin t + (pi - t) cos t``, ``cos t = rho``: J' = pi - t, J'' = 1/sin t, ...

    On the collinear set ``|rho| = 1`` the higher derivatives diverge but the fluctuations
    stay on that set (rho does not move), so their terms are dropped there.
    """
    r = np.clip(rho.v, -1.0, 1.0)
    t = np.arccos(r)
    s = np.sin(t)
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 1e-6)
    derivs = [s + (np.pi - t) * r, np.pi - t, inv, r * inv**3, (1.0 + 2.0 * r * r) * inv**5]
    return rho.apply(derivs[: rho.order + 1])


def _g_jet(act: str, sxx: FloatArray, sxy: FloatArray, syy: FloatArray, diag: bool,
           order: int = 2) -> _Jet:
    """``g(sxx, sxy, syy) = E phi(u) phi(v)`` as a jet; ``diag``: one variable u = v."""
    if diag:  # one variable: slot 0, g(s) = E phi(z)^2 with Var z = s
        s = _Jet.variable(sxx, 0, order)
        a = b = c = s
    else:
        a, c, b = (_Jet.variable(v, slot, order) for slot, v in enumerate((sxx, sxy, syy)))
    if act == "linear":
        return c
    if act == "relu":
        if diag:
            return a * 0.5
        with np.errstate(divide="ignore", invalid="ignore"):  # zero variance: masked below
            norm = a.sqrt() * b.sqrt()  # not (a b)^(1/2): a b overflows from ~1e154
            pos = norm.v > 0
            rho = c * norm.with_value(np.where(pos, norm.v, 1.0)).reciprocal()
            out = norm * _relu_angle(rho) * (1.0 / (2.0 * np.pi))
        # an input with zero variance has z = 0 at every width: g and its variation vanish
        return out.masked(pos)
    if act == "erf":
        ratio = c * 2.0 * ((a * 2.0 + 1.0) * (b * 2.0 + 1.0)).sqrt().reciprocal()
        return ratio.arcsin() * (2.0 / np.pi)
    if act == "tanh":
        if order > 2:
            return _tanh_g_jet_any(sxx, sxy, syy, diag, order)
        return _tanh_g_jet(sxx, sxy, syy, diag)
    raise ValueError(f"no Gaussian two-point map for activation {act!r}")


def _tanh_g_jet(sxx: FloatArray, sxy: FloatArray, syy: FloatArray, diag: bool) -> _Jet:
    """The tanh ``g = (2/pi) E_{K1,K2} arcsin(u)``, ``u = c A B``, ``A, B = (K^2 + a, b)^-1/2``.

    The derivatives of u in (a, c, b) are closed monomials in u, A, B, so the jet is
    summed over the 72 x 72 Kolmogorov nodes without carrying (3, 3) blocks per node;
    ``diag`` (a = b = c) contracts them onto slot 0 as the one-variable jet does.
    """
    k, w = _gaussian.kolmogorov_rule()
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
    if diag:
        d1, h1 = np.zeros_like(d), np.zeros_like(h)
        d1[:, 0], h1[:, 0, 0] = d.sum(axis=1), h.sum(axis=(1, 2))
        d, h = d1, h1
    c = np.zeros(v.shape + (3, 3, 3))
    c[:, 0, 0, 0] = v
    for slot, e in enumerate(np.eye(3, dtype=np.int64)):
        c[(slice(None),) + tuple(e)] = d[:, slot]
    for x, y in itertools.combinations_with_replacement(range(3), 2):
        c[(slice(None),) + tuple(np.eye(3, dtype=np.int64)[x] + np.eye(3, dtype=np.int64)[y])] = (
            h[:, x, y] if x != y else 0.5 * h[:, x, x])
    return _Jet(c * _degree_mask(2), 2)


#: Kolmogorov node pairs (72 x 72 per input pair) composed at once (bounds the memory).
_TANH_JET_BATCH = 100_000


@functools.lru_cache(maxsize=8)
def _monomial_pairs(order: int) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """Pairs of monomials whose product has total degree <= order, as (alpha, beta, sum)."""
    return tuple((a, b, (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
                 for a in _monomials(order) for b in _monomials(order - sum(a)))


def _lead_product(a: FloatArray, b: FloatArray, order: int) -> FloatArray:
    """Product of truncated Taylor polynomials stored coefficients-first, (o+1, o+1, o+1, B).

    The layout of :class:`_Jet` transposed, term by term over pairs of monomials, so
    that every operation is contiguous over the batch (the Kolmogorov grid makes it
    ~1e5 long) and no term beyond the total degree is formed.
    """
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for alpha, beta, total in _monomial_pairs(order):
        out[total] += a[alpha] * b[beta]
    return out


def _inverse_root_series(q: FloatArray, order: int) -> FloatArray:
    """Taylor coefficients of ``(q + t)^(-1/2)`` in t at 0, shape (order + 1,) + q.shape."""
    return np.stack([math.comb(2 * i, i) * (-0.25) ** i * q ** (-0.5 - i)
                     for i in range(order + 1)])


def _tanh_g_jet_any(sxx: FloatArray, sxy: FloatArray, syy: FloatArray, diag: bool,
                    order: int) -> _Jet:
    """The tanh ``g`` of :func:`_tanh_g_jet` to any order (order 2 needs the 4th).

    Per Kolmogorov node pair ``u = c A(a) B(b)`` is a polynomial in the local variables
    with closed-form coefficients (``A = (K1^2 + a)^-1/2`` a binomial series, u linear in
    c), ``arcsin(u)`` its Taylor composition; the sum with the 72 x 72 rule's weights
    gives the exact derivatives of the quadrature (~1e-14 on g).  ``diag``: a = b = c,
    one variable in slot 0.
    """
    k, w = _gaussian.kolmogorov_rule()
    k2, ww = k**2, (np.outer(w, w) * (2.0 / np.pi)).ravel()
    o, n_k = order, len(k)
    out = np.zeros((o + 1,) * 3 + (len(sxx),))
    step = max(1, _TANH_JET_BATCH // n_k**2)
    for s in range(0, len(sxx), step):
        cut = slice(s, s + step)
        rows = len(sxx[cut])
        ser_a = _inverse_root_series(sxx[cut, None, None] + k2[:, None], o)  # (o+1, p, K, 1)
        ser_b = _inverse_root_series(syy[cut, None, None] + k2[None, :], o)  # (o+1, p, 1, K)
        c0 = np.broadcast_to(sxy[cut, None, None], (rows, n_k, n_k))
        u = np.zeros((o + 1,) * 3 + (rows, n_k, n_k))
        if diag:  # u(s) = s A(s) B(s): a 1-D Cauchy product in slot 0
            for i in range(o + 1):
                for m in range(o + 1 - i):
                    ab = ser_a[i] * ser_b[m]
                    u[i + m, 0, 0] += c0 * ab
                    if i + m < o:
                        u[i + m + 1, 0, 0] += ab
        else:
            for i in range(o + 1):
                for m in range(o + 1 - i):
                    ab = ser_a[i] * ser_b[m]
                    u[i, 0, m] = c0 * ab
                    if i + m < o:
                        u[i, 1, m] = ab
        u = u.reshape((o + 1,) * 3 + (-1,))
        x = u[0, 0, 0].copy()
        u[0, 0, 0] = 0.0  # the increment Delta of u; arcsin(u0 + Delta) by Taylor
        derivs = _arcsin_derivatives(x, o)
        total = np.zeros_like(u)
        total[0, 0, 0] = derivs[0]
        power = u
        for n in range(1, o + 1):
            total += derivs[n] / math.factorial(n) * power
            if n < o:
                power = _lead_product(power, u, o)
        out[..., cut] = (total.reshape((o + 1,) * 3 + (rows, n_k * n_k)) @ ww)
    return _Jet(np.moveaxis(out, -1, 0).copy(), order)


# -- one layer of the recursion ---------------------------------------------------------
class _Layer:
    """``g``, its Jacobian and Hessian, and ``T`` at one kernel, on the sorted pairs."""

    def __init__(self, act: str, cov: FloatArray, need_derivatives: bool, order: int = 2) -> None:
        k = len(cov)
        pairs = _tuples.tuples(k, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        pidx = _tuples.pair_index(k)
        self.deps = np.stack([pidx[a, a], pidx[a, b], pidx[b, b]], axis=1)
        diag = a == b
        n_pairs = len(pairs)
        self.g = np.empty(n_pairs)
        #: derivatives of g of orders 1..order in the local variables (G_aa, G_ab, G_bb)
        self.local: list[FloatArray] = [np.zeros((n_pairs,) + (3,) * n) for n in range(order + 1)]
        for mask, is_diag in ((diag, True), (~diag, False)):
            if mask.any():
                jet = _g_jet(act, cov[a[mask], a[mask]], cov[a[mask], b[mask]],
                             cov[b[mask], b[mask]], is_diag, order)
                self.g[mask] = jet.v
                for n in range(1, order + 1):
                    self.local[n][mask] = jet.derivative(n)
        self.grad, self.hess = self.local[1], self.local[2]
        self.t = self._connected_four(act, cov)
        self.jacobian = np.zeros((n_pairs, n_pairs))
        if need_derivatives:
            rows = np.repeat(np.arange(n_pairs), 3)
            np.add.at(self.jacobian, (rows, self.deps.ravel()), self.grad.ravel())

    def _connected_four(self, act: str, cov: FloatArray) -> FloatArray:
        m4 = self.m4 = _gaussian.product_moments(act, cov, 4)
        return np.asarray(m4[_pair_quads(len(cov))] - np.outer(self.g, self.g))

    def second_order(self, v: FloatArray) -> FloatArray:
        """``sum_{q,r} d2 g_p / dG_q dG_r  V_qr`` for every pair p."""
        dv = v[self.deps[:, :, None], self.deps[:, None, :]]
        return np.asarray(np.einsum("puv,puv->p", self.hess, dv))


def _first_layer_moments(arch: Architecture, x: FloatArray,
                         order: int) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """(g, E[phi^4], E[phi^6] or None) of the first hidden layer on the sorted tuples.

    gauss and cos from the one-neuron moments of :mod:`nnqft.theory` (closed forms),
    the others from :mod:`nnqft.gaussian` at the input kernel.
    """
    if arch.activation in ("gauss", "cos"):
        moments = _theory.neuron_moments(arch, x, [2, 4, 6] if order == 2 else [2, 4])
        return moments[2], moments[4], moments.get(6)
    cov = arch.sigma_b_layers[0] ** 2 + arch.sigma_w_layers[0] ** 2 * (x @ x.T) / arch.d_in
    first = _Layer(arch.activation, cov, need_derivatives=False)
    m6 = _gaussian.product_moments(arch.activation, cov, 6) if order == 2 else None
    return first.g, first.m4, m6


# -- next-to-leading order (physics-deep.md §5) ----------------------------------------
@functools.lru_cache(maxsize=8)
def _pair_quads(k: int) -> IntArray:
    """Ranks of the 4-tuples (p, q) of two sorted pairs among the sorted 4-tuples, (P, P)."""
    pairs = _tuples.tuples(k, 2)
    return _tuples.rank(np.concatenate(np.broadcast_arrays(pairs[:, None, :], pairs[None, :, :]),
                                       axis=-1), k)


@functools.lru_cache(maxsize=2)
def _pair_sextets(k: int) -> IntArray:
    """Ranks of the 6-tuples (p, q, r) of three sorted pairs, (P, P, P)."""
    pairs = _tuples.tuples(k, 2)
    return _tuples.rank(np.concatenate(np.broadcast_arrays(
        pairs[:, None, None, :], pairs[None, :, None, :], pairs[None, None, :, :]), axis=-1), k)


def _connected_six(m6: FloatArray, m4: FloatArray, g: FloatArray, k: int) -> FloatArray:
    """``kappa3(O_p, O_q, O_r)`` of ``O_p = phi_a phi_b`` from the moments of orders 2, 4, 6."""
    m4 = m4[_pair_quads(k)]
    return np.asarray(m6[_pair_sextets(k)] - m4[:, :, None] * g[None, None, :]
                      - m4[:, None, :] * g[None, :, None] - m4[None, :, :] * g[:, None, None]
                      + 2.0 * g[:, None, None] * g[None, :, None] * g[None, None, :])


#: Relative finite-difference step of the derivatives of tau: a fraction of the distance to
#: the nearest singular kernel along the direction (errors ~eta^4 after one Richardson step).
_FD_ETA = 0.01


def _connected_four_at(act: str, cov: FloatArray) -> FloatArray:
    """``T = E[O_p O_q] - g_p g_q`` (not yet times sigma_w^4) at the kernel ``cov``."""
    return _Layer(act, cov, need_derivatives=False).t


def _fd_step(act: str, cov: FloatArray, direction: FloatArray) -> float:
    """``eta`` times the distance from ``cov`` to the nearest singular kernel along ``direction``.

    The Gaussian integrals are analytic in the kernel away from singular ones (for erf
    away from singular ``cov + I/2``, as ``erf`` is a smoothed sign): the distance is
    ``1 / max |eig(A^-1/2 D A^-1/2)|`` on the range of A.  A direction with no component
    in the range of a singular kernel gets a step of eta times the kernel's scale instead
    (such directions carry no fluctuation: V, K1 stay in the range).
    """
    a = cov + 0.5 * np.eye(len(cov)) if act == "erf" else cov
    lam, vec = np.linalg.eigh(a)
    keep = lam > 1e-12 * max(float(lam.max()), 1e-300)
    root = vec[:, keep] / np.sqrt(lam[keep])
    m = root.T @ direction @ root
    spread = float(np.abs(np.linalg.eigvalsh(m)).max()) if m.size else 0.0
    if spread == 0.0:
        return float(_FD_ETA * np.abs(a).max() / max(float(np.abs(direction).max()), 1e-300))
    return _FD_ETA / spread


def _directional(act: str, cov: FloatArray, direction: FloatArray,
                 centre: FloatArray) -> tuple[FloatArray, FloatArray]:
    """First and second derivatives of ``T(cov + h direction)`` at h = 0.

    Central differences at h and h/2 combined by one Richardson step (error ~(h/dist)^4).
    """
    h = _fd_step(act, cov, direction)
    f = {s: _connected_four_at(act, cov + s * h * direction) for s in (-1.0, -0.5, 0.5, 1.0)}
    d1 = (4.0 * (f[0.5] - f[-0.5]) / h - (f[1.0] - f[-1.0]) / (2.0 * h)) / 3.0
    d2 = (16.0 * (f[0.5] - 2.0 * centre + f[-0.5]) - (f[1.0] - 2.0 * centre + f[-1.0])) / (3.0 * h * h)
    return d1, d2


def _tau_terms(act: str, cov: FloatArray, tau: FloatArray, k1: FloatArray,
               v: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Contractions of the derivatives of ``T`` (unscaled by sigma_w^4) with K1 and V.

    Returns ``T_pq,s K1_s + 1/2 T_pq,st V_st`` (P, P) and ``sum_t V_st T_qr,t`` (P, P, P).
    V is diagonalised, ``V = sum_i lam_i e_i e_i^T``: the Hessian term is
    ``sum_i lam_i D^2 T[e_i]`` and the gradient term ``sum_i lam_i e_i D T[e_i]``, so
    the work is two directional derivatives per direction that carries fluctuation.
    """
    k = len(cov)
    pidx = _tuples.pair_index(k)
    lam, vec = np.linalg.eigh(v)
    keep = lam > 1e-13 * max(float(lam.max()), 0.0)
    n = len(v)
    mean: FloatArray = np.zeros((n, n))
    if np.any(k1 != 0):
        mean = _directional(act, cov, k1[pidx], tau)[0]
    grad: FloatArray = np.zeros((n, n, n))
    for lam_i, e in zip(lam[keep], vec[:, keep].T, strict=True):
        d1, d2 = _directional(act, cov, e[pidx], tau)
        mean += 0.5 * lam_i * d2
        grad += (lam_i * e)[:, None, None] * d1[None, :, :]
    return mean, grad


def _nlo_step(lay: _Layer, w2: float, sigma3: FloatArray, tau_mean: FloatArray,
              tau_grad: FloatArray,
              state: tuple[FloatArray, ...]) -> tuple[FloatArray, ...]:
    """One layer of the 1/N^2 recursion (physics-deep.md §5): (K1, V, K2, W, U) -> next.

    ``sigma3``, ``tau_mean``, ``tau_grad`` (:func:`_tau_terms`) carry their sigma_w powers.
    """
    k1, v, k2, w, u = state
    d = lay.deps
    f2, f3, f4 = (w2 * lay.local[n] for n in range(2, 5))
    jac = w2 * lay.jacobian
    k1_loc = k1[d]
    v_loc = v[d[:, :, None], d[:, None, :]]
    v_col = v[:, d]  # V[s, dep_q,t]: (P_s, P_q, 3)
    # K2' (the mean of the next kernel to 1/N^2)
    k2_next = (jac @ k2
               + 0.5 * np.einsum("pst,pst->p", f2, w[d[:, :, None], d[:, None, :]]
                                 + k1_loc[:, :, None] * k1_loc[:, None, :])
               + np.einsum("pstu,pstu->p", f3, u[d[:, :, None, None], d[:, None, :, None],
                                                 d[:, None, None, :]]) / 6.0
               + 0.5 * np.einsum("pstu,pst,pu->p", f3, v_loc, k1_loc)
               + np.einsum("pstuv,pst,puv->p", f4, v_loc, v_loc) / 8.0)
    # W' (the covariance to 1/N^2)
    u_pair = u[:, d[:, :, None], d[:, None, :]]  # U[s, dep_q,t, dep_q,u]: (P_s, P_q, 3, 3)
    m = np.einsum("qtu,sqtu->qs", f2, u_pair)
    nk = np.einsum("qtu,sqt,qu->qs", f2, v_col, k1_loc)
    r = np.einsum("qtuv,sqt,quv->qs", f3, v_col, v_loc)
    v_pq = v[d[:, None, :, None], d[None, :, None, :]]
    cross = jac @ (0.5 * m + nk + 0.5 * r).T
    w_next = (tau_mean + jac @ w @ jac.T + cross + cross.T
              + 0.5 * np.einsum("pst,quv,pqsu,pqtv->pq", f2, f2, v_pq, v_pq, optimize=True))
    # U' (the third cumulant)
    b = np.tensordot(jac, tau_grad, axes=(1, 0))
    bm = np.einsum("ruv,sru,trv->rst", f2, v_col, v_col)
    c = np.einsum("ps,qt,rst->pqr", jac, jac, bm, optimize=True)
    juuu = np.einsum("ps,stu->ptu", jac, u)
    juuu = np.einsum("qt,ptu->pqu", jac, juuu)
    juuu = np.einsum("ru,pqu->pqr", jac, juuu)
    u_next = (sigma3 + juuu + b + np.einsum("qpr->pqr", b) + np.einsum("rpq->pqr", b)
              + c + np.einsum("qrp->pqr", c) + np.einsum("prq->pqr", c))
    return k2_next, w_next, u_next


def _pairs_to_matrix(values: FloatArray, k: int) -> FloatArray:
    return np.asarray(values[_tuples.pair_index(k)], dtype=np.float64)


def _check_finite(layer: int, cov: FloatArray, k1: FloatArray, v: FloatArray,
                  *higher: FloatArray) -> None:
    """Refuse to go on once K, K1, V (or K2, W, U) left float64 (inf/NaN), naming the layer."""
    if not all(np.isfinite(a).all() for a in (cov, k1, v) + higher):
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


def _recursion(arch: Architecture, x: FloatArray, order: int = 1) -> tuple[FloatArray, ...]:
    """(K, K1, V) of the output on the sorted pairs (§2 of physics-deep.md), then (K2, W, U).

    The last three (§5) only at order 2.
    """
    k = len(x)
    _theory.check_sigma_range(arch)
    big = [s for s in arch.sigma_w_layers if s > 1e75 ** (2 / (2 + order))]
    if big:  # V carries sigma_w^4, U sigma_w^6
        raise OverflowError(f"sigma_w = {big[0]:.3g} is out of range for the order-{order} "
                            "theory: V carries sigma_w^4 (U sigma_w^6), which overflows float64")
    act = arch.activation
    sw, sb = arch.sigma_w_layers, arch.sigma_b_layers
    cov = sb[0] ** 2 + sw[0] ** 2 * (x @ x.T) / arch.d_in
    n_pairs = _tuples.n_tuples(k, 2)
    k1, v = np.zeros(n_pairs), np.zeros((n_pairs, n_pairs))
    k2, w, u = np.zeros(n_pairs), np.zeros((n_pairs, n_pairs)), np.zeros((n_pairs,) * 3)
    for layer in range(1, arch.depth + 1):
        w2 = sw[layer] ** 2
        # overflow is reported below, naming the layer, instead of numpy's raw warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if layer == 1:  # deterministic input kernel: V^1 = K1^1 = 0 (and K2, W, U)
                g, m4, m6 = _first_layer_moments(arch, x, order)
                v = w2**2 * (m4[_pair_quads(k)] - np.outer(g, g))
                if m6 is not None:
                    u = w2**3 * _connected_six(m6, m4, g, k)
            else:
                lay = _Layer(act, cov, need_derivatives=True, order=2 * order)
                g = lay.g
                if order == 2:
                    tau_mean, tau_grad = _tau_terms(act, cov, lay.t, k1, v)
                    sigma3 = _connected_six(_gaussian.product_moments(act, cov, 6), lay.m4, g, k)
                    k2, w, u = _nlo_step(lay, w2, w2**3 * sigma3, w2**2 * tau_mean,
                                         w2**2 * tau_grad, (k1, v, k2, w, u))
                k1 = w2 * (lay.jacobian @ k1 + 0.5 * lay.second_order(v))
                v = w2**2 * (lay.t + lay.jacobian @ v @ lay.jacobian.T)
            cov = _pairs_to_matrix(sb[layer] ** 2 + w2 * g, k)
        _check_finite(layer, cov, k1, v, k2, w, u)
    pairs = _tuples.tuples(k, 2)
    out = (cov[pairs[:, 0], pairs[:, 1]], k1, v)
    return out + (k2, w, u) if order == 2 else out


_CACHE: collections.OrderedDict[Any, tuple[FloatArray, ...]] = collections.OrderedDict()
_CACHE_SIZE = 64
#: Results larger than this are not memoised (order 2 at many inputs holds P^3 doubles).
_CACHE_MAX_BYTES = 32 * 2**20


def _cached_recursion(arch: Architecture, x: FloatArray, order: int = 1) -> tuple[FloatArray, ...]:
    """The recursion memoised on everything it depends on (not the width)."""
    key = (arch.activation, arch.depth, arch.d_in, arch.sigma_w_layers, arch.sigma_b_layers,
           x.shape, x.tobytes(), order)
    if key in _CACHE:
        return _CACHE[key]
    out = _recursion(arch, x, order)
    for a in out:
        a.setflags(write=False)
    if sum(a.nbytes for a in out) <= _CACHE_MAX_BYTES:
        _CACHE[key] = out
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


#: Peak bytes of the leading-order recursion per element of a P x P matrix, P = k (k + 1)
#: / 2 pairs: V, J, T and the quadruple indices that gather T from the sorted 4-tuples
#: are P x P, the four-point functions ~P^2 / 6 tuples with their 4 x 4 covariances.
#: Measured peaks (tracemalloc, depth 2, k = 16..32): linear 26, erf 86..96, relu 196..253
#: x 8 P^2 bytes; tanh 822 at k = 16 (its Kolmogorov grids, a share that falls with k).
_LO_BYTES_PER_PAIR_PAIR = 300 * 8

#: Peak working memory of the order-2 recursion per P^3: the cubic arrays (U, its update
#: terms, the ranks of the pair triples); measured 251 bytes (tracemalloc, k = 10).
_NLO_BYTES_PER_CUBE = 320


def _check_memory(k: int, order: int = 1) -> None:
    """Refuse ``k`` inputs whose arrays would not fit, before any work.

    Order 1 holds P x P arrays (k = 200: ~900 GiB), order 2 also P x P x P ones.
    """
    p = k * (k + 1) // 2
    need = _LO_BYTES_PER_PAIR_PAIR * float(p) ** 2
    what = f"the 1/N theory on {k} inputs ({p} x {p} pair matrices)"
    if order == 2:
        need += _NLO_BYTES_PER_CUBE * float(p) ** 3
        what = f"the order-2 theory on k = {k} inputs (arrays over {p}^3 triples of input pairs)"
    check_memory(need, what, "use fewer inputs (order=1 needs only pairs of pairs; its arrays "
                 "grow like k^4, order 2's like k^6)")


# -- public ---------------------------------------------------------------------------------
class FiniteWidthTheory(Result, kind="finite_width"):
    """Finite-width theory of a network ensemble at k inputs, to order 1/N or 1/N^2.

    Returned by :func:`finite_width`.  Every array is a property of the ensemble at
    infinite width and its corrections; none depends on the width, which only enters
    the correlators (:meth:`mean`, :meth:`connected`, through ``arch.width``).

    Writing ``C`` for the read-out kernel (the empirical kernel of the last hidden
    layer, ``f | C ~ N(0, C)``) and P = k(k+1)/2 for the number of sorted input pairs
    (the layout of :func:`nnqft.tuples.tuples` ``(k, 2)``):

    ======================================  ==========  ================================
    accessor                                shape       formula
    ======================================  ==========  ================================
    :meth:`kernel`                          (k, k)      ``K``: infinite-width ``E C``
    :meth:`kernel_correction`               (k, k)      ``E C = K + K1/N + K2/N^2``
    :meth:`vertex`                          (P, P)      ``Cov C = V/N + W/N^2``
    :meth:`kernel_correction2` (order 2)    (k, k)      ``K2``
    :meth:`vertex_correction` (order 2)     (P, P)      ``W``
    :meth:`cubic_vertex` (order 2)          (P, P, P)   ``kappa3 C = U/N^2``
    ======================================  ==========  ================================

    Attributes
    ----------
    arch : Architecture
    x : ndarray, shape (k, d_in)
    order : int
        1 (leading, 1/N) or 2 (next-to-leading, 1/N^2).
    """

    def __init__(self, arch: Architecture, x: FloatArray, kernel_pairs: FloatArray,
                 correction_pairs: FloatArray, vertex: FloatArray,
                 nlo: tuple[FloatArray, FloatArray, FloatArray] | None = None) -> None:
        self.arch, self.x = arch, x
        self._k, self._k1, self._v = kernel_pairs, correction_pairs, vertex
        self._nlo = nlo
        self.order = 1 if nlo is None else 2

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

    def _order_two(self, what: str) -> tuple[FloatArray, FloatArray, FloatArray]:
        if self._nlo is None:
            raise ValueError(f"{what} is a 1/N^2 quantity, not computed at order 1: use "
                             "nnqft.finite_width(arch, x, order=2)")
        return self._nlo

    def kernel_correction2(self) -> FloatArray:
        """``K2``: ``E G2 = K + K1/N + K2/N^2 + O(1/N^3)``, shape (k, k) (order 2 only)."""
        return _pairs_to_matrix(self._order_two("kernel_correction2 (K2)")[0], self.k)

    def vertex_correction(self) -> FloatArray:
        """``W_pq``: ``Cov(C_p, C_q) = V_pq/N + W_pq/N^2 + O(1/N^3)``, shape (P, P).

        Same layout as :meth:`vertex` (order 2 only).
        """
        return self._order_two("vertex_correction (W)")[1].copy()

    def cubic_vertex(self) -> FloatArray:
        """``U_pqr``: ``kappa3(C_p, C_q, C_r) = U_pqr/N^2 + O(1/N^3)``, shape (P, P, P).

        Indices as in :meth:`vertex`; symmetric in (p, q, r).  The connected six-point
        function of the output is the sum of U over the 15 ways of pairing the six
        inputs into three pairs, over N^2 (exact for kappa3 C at any N).  Order 2 only.
        """
        return self._order_two("cubic_vertex (U)")[2].copy()

    def _g2(self) -> FloatArray:
        n = self.width
        g2 = self.kernel() + self.kernel_correction() / n
        if self._nlo is not None:
            g2 = g2 + self.kernel_correction2() / n**2
        return np.asarray(g2)

    def mean(self, n: int) -> FloatArray:
        """``G^(n) = E[f(x_a1) ... f(x_an)]`` on the sorted tuples (n = 1..6; 0 for odd n).

        From the cumulants of :meth:`connected` by the moment-cumulant relation
        (``G4 = Wick(G2) + kappa4``, ``G6 = Wick(G2) + sum_15 kappa4 G2 + kappa6``), the
        cumulants being correct to the theory's order (an error of the next order).
        n = 6 needs order 2 (kappa6 is O(1/N^2)).
        """
        n = as_int("n", n, minimum=1, maximum=6)
        if n % 2:
            return np.zeros(_tuples.n_tuples(self.k, n))
        cumulants = {m: self.connected(m) for m in range(2, n + 1, 2)}
        return np.asarray(_tuples.moments_from_cumulants(cumulants, self.k, n))

    def connected(self, n: int) -> FloatArray:
        """Connected correlator ``kappa_n`` on the sorted tuples (n = 1..6; 0 for odd n).

        ``kappa2 = G2 = K + K1/N (+ K2/N^2)``;
        ``kappa4_abcd = sum_3 (V + W/N)_(ab)(cd) / N`` (W at order 2);
        ``kappa6 = sum_15 U_(ab)(cd)(ef) / N^2`` (order 2 only: at order 1 asking for it
        is an error, as kappa6 is O(1/N^2) and not computed).
        """
        n = as_int("n", n, minimum=1, maximum=6)
        if n % 2:
            return np.zeros(_tuples.n_tuples(self.k, n))
        if n == 2:
            t = _tuples.tuples(self.k, 2)
            return np.asarray(self._g2()[t[:, 0], t[:, 1]])
        if n == 4:
            v = self._v if self._nlo is None else self._v + self._nlo[1] / self.width
            return self._sum_over_pairings(v, 4) / self.width
        return self._sum_over_pairings(self._order_two("kappa6 (and G6)")[2], 6) / self.width**2

    def _sum_over_pairings(self, values: FloatArray, n: int) -> FloatArray:
        """``sum over perfect matchings of values[pair, pair, ...]`` on the sorted n-tuples."""
        t = _tuples.tuples(self.k, n)
        pidx = _tuples.pair_index(self.k)
        total = np.zeros(len(t))
        for matching in _tuples.matchings(n):
            total += values[tuple(pidx[t[:, a], t[:, b]] for a, b in matching)]
        return total

    def at_width(self, width: int) -> FiniteWidthTheory:
        """The same theory with the correlators evaluated at another width."""
        arch = dataclasses.replace(self.arch, width=width)
        return FiniteWidthTheory(arch, self.x, self._k, self._k1, self._v, self._nlo)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists; the vertices on pairs of sorted pairs)."""
        out = {"arch": self.arch.to_dict(), "x": self.x.tolist(), "order": self.order,
               "kernel": self.kernel().tolist(),
               "kernel_correction": self.kernel_correction().tolist(),
               "vertex": self._v.tolist()}
        if self._nlo is not None:
            out.update({"kernel_correction2": self.kernel_correction2().tolist(),
                        "vertex_correction": self._nlo[1].tolist(),
                        "cubic_vertex": self._nlo[2].tolist()})
        return out

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        arrays = {"x": self.x, "kernel": self._k, "kernel_correction": self._k1,
                  "vertex": self._v}
        if self._nlo is not None:
            arrays.update(zip(_NLO_NAMES, self._nlo, strict=True))
        return {"arch": self.arch.to_dict(), "order": self.order}, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> FiniteWidthTheory:
        arch = Architecture.from_dict(meta["arch"])
        x = as_inputs(arrays["x"], arch.d_in)
        order = meta.get("order", 1)
        if order not in (1, 2):
            raise ValueError(f"corrupt finite_width file: order must be 1 or 2, got {order!r}")
        n = _tuples.n_tuples(len(x), 2)
        shapes = {"kernel": (n,), "kernel_correction": (n,), "vertex": (n, n)}
        if order == 2:
            shapes.update(zip(_NLO_NAMES, ((n,), (n, n), (n, n, n)), strict=True))
        for name, shape in shapes.items():  # checked before anything indexes them
            a = arrays.get(name)
            if a is None or a.shape != shape or a.dtype != np.float64 or not np.isfinite(a).all():
                got = "missing" if a is None else f"{a.dtype} {a.shape}"
                raise ValueError(f"corrupt finite_width file: {name} must be finite float64 of "
                                 f"shape {shape} for {len(x)} inputs, got {got}")
        nlo = tuple(arrays[name] for name in _NLO_NAMES) if order == 2 else None
        return cls(arch, x, arrays["kernel"], arrays["kernel_correction"], arrays["vertex"],
                   nlo)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (f"<FiniteWidthTheory {self.arch.activation}-net depth={self.arch.depth} "
                f"width={self.arch.width}, k={self.k} inputs, order {self.order}>")

    def _tables(self) -> list[render.Table]:
        p = _tuples.pair_index(self.k)
        kern, corr = self.kernel(), self.kernel_correction()
        rows: list[tuple[str, ...]] = [
            (str(a), f"{kern[a, a]:.6g}", f"{corr[a, a]:.6g}", f"{self._v[p[a, a], p[a, a]]:.6g}")
            for a in range(self.k)]
        head: tuple[str, ...] = ("input a", "K_aa", "K1_aa", "V_aa,aa")
        notes = [f"{'Leading' if self._nlo is None else 'Next-to-leading'} 1/N theory of "
                 f"{self.arch!r}", "G2 = K + K1/N, κ4_abcd = (V_ab,cd + V_ac,bd + V_ad,bc)/N"]
        if self._nlo is not None:
            k2, w, u = self._nlo
            rows = [row + (f"{k2[p[a, a]]:.6g}", f"{w[p[a, a], p[a, a]]:.6g}",
                           f"{u[p[a, a], p[a, a], p[a, a]]:.6g}")
                    for a, row in enumerate(rows)]
            head = head + ("K2_aa", "W_aa,aa", "U_aa,aa,aa")
            notes[1] = ("G2 = K + K1/N + K2/N², Cov C = V/N + W/N², κ3 C = U/N², "
                        "κ6 = Σ_15 U/N²")
        return [render.Table(notes, head, rows)]


_NLO_NAMES = ("kernel_correction2", "vertex_correction", "cubic_vertex")


def finite_width(arch: Architecture, x: Any, order: int = 1) -> FiniteWidthTheory:
    """Finite-width theory of ``arch`` at the inputs ``x`` (any depth), to 1/N or 1/N^2.

    Parameters
    ----------
    arch : Architecture
        Gaussian weights; any depth, activation, per-layer sigmas and ``d_in``
        (``gauss`` and ``cos`` exist at depth 1 only).
    x : array_like, shape (k, d_in)
        Inputs (a 1-D array means ``d_in = 1``).
    order : {1, 2}
        1: the leading theory (K, K1, V; physics-deep.md §2).  2: also the next order
        (K2, W, U; §5), which gives kappa6 and the 1/N^2 terms of G2 and kappa4.

    Returns
    -------
    FiniteWidthTheory
        ``.kernel()``, ``.kernel_correction()``, ``.vertex()`` (and at order 2
        ``.kernel_correction2()``, ``.vertex_correction()``, ``.cubic_vertex()``), and
        the correlators ``.mean(n)``, ``.connected(n)`` (n <= 4, at order 2 n <= 6) on
        the sorted-tuple layout of :class:`nnqft.Correlators`.

    Raises
    ------
    ValueError
        For uniform weights (the recursion needs Gaussian pre-activations at every
        layer given the previous one), and for an order-2 theory on too many inputs
        for the memory (it holds P^3 numbers, P = k(k+1)/2).
    NotImplementedError
        At order 2 for tanh when the six-point integral over some 4-6 inputs would
        need a tensor rule of more than 1e8 nodes (weakly correlated inputs of large
        variance at some layer).

    Notes
    -----
    The recursions and their derivation are in physics-deep.md §2 and §5 and the
    docstring of :mod:`nnqft.deep_theory`.  At depth 1, ``K1 = K2 = W = 0`` and
    ``connected(4)``, ``connected(6)`` equal ``exact(arch, x, n, connected=True)``.
    Accuracy: order 1 about 1e-10 relative for erf, relu, linear (closed forms), tanh's
    four-point functions carry ~1e-7; order 2 (K2, W, U) about 1e-7 relative for erf
    and relu (finite differences of the four-point functions, 6-sign moments to
    ~1e-10) and to rounding for linear; tanh within 1e-8 relative of the independent
    Gauss-Hermite reference at k = 2, 3 (K2, W, U); from 4 inputs on its four-point
    functions (~1e-7) set the accuracy (no independent deep reference there).  Cost at
    order 2, k = 6 inputs, depth 10: about 4 s for erf or relu (README); tanh is
    slower (its four-point functions in the finite differences of tau and the tensor
    rules of the six-point functions): depth 3, 0.8 s at k = 3 and ~47 s at k = 6 (CPU
    time, ~90% in tau's finite differences of the four-point functions; the six-point
    tensor rules ~1.4 s per layer at k = 6).  Results are memoised on everything but the
    width.

    Examples
    --------
    >>> arch = nnqft.Architecture("erf", width=100, d_in=1, depth=3, sigma_w=1.5, sigma_b=0.3)
    >>> th = nnqft.finite_width(arch, [[0.8]], order=2)
    >>> th.kernel(), th.kernel_correction(), th.vertex()     # 1.22962, -0.1388, 0.7241
    >>> th.kernel_correction2(), th.vertex_correction(), th.cubic_vertex()  # -0.0984, 0.0279, 0.00748
    >>> th.connected(6)                                      # 15 U / N^2 at one input
    """
    check_arch(arch)
    if arch.weight_dist != "gaussian":
        raise ValueError(
            f"finite_width needs gaussian weights (got weight_dist={arch.weight_dist!r}): "
            "the layer-to-layer recursion assumes Gaussian pre-activations given the "
            "previous layer; sample uniform-weight networks with sampler='weights'"
        )
    xs = as_inputs(x, arch.d_in, "x")
    order = as_int("order", order, minimum=1, maximum=2)
    _check_memory(len(xs), order)
    out = _cached_recursion(arch, xs, order)
    nlo = (out[3], out[4], out[5]) if order == 2 else None
    return FiniteWidthTheory(arch, xs, out[0], out[1], out[2], nlo)
