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
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import gaussian as _gaussian
from . import render
from . import theory as _theory
from . import tuples as _tuples
from ._result import Result
from ._validation import as_inputs, as_int, check_arch
from .architecture import Architecture

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
        x = self.v
        c = 1.0 - x**2
        derivs = [np.arcsin(x), c**-0.5, x * c**-1.5, (1.0 + 2.0 * x**2) * c**-2.5,
                  (9.0 * x + 6.0 * x**3) * c**-3.5]
        return self.apply(derivs[: self.order + 1])


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
            raise NotImplementedError("tanh derivatives of g beyond the second: see _tanh_g_jet")
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
                self.g[mask] = jet.v
                self.grad[mask], self.hess[mask] = jet.derivative(1), jet.derivative(2)
        self.t = self._connected_four(act, cov, pairs)
        self.jacobian = np.zeros((n_pairs, n_pairs))
        if need_derivatives:
            rows = np.repeat(np.arange(n_pairs), 3)
            np.add.at(self.jacobian, (rows, self.deps.ravel()), self.grad.ravel())

    def _connected_four(self, act: str, cov: FloatArray, pairs: IntArray) -> FloatArray:
        k, n = len(cov), len(pairs)
        m4 = _gaussian.product_moments(act, cov, 4)
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
