"""Vertex integrals of the local effective action, on the sorted-tuple layout.

The tree-level relations between the couplings of the effective action (ELS convention,
design.md "Conventions") and the connected correlators are

``kappa4 = -u4 I4``  and  ``kappa6 = -u6 I6 + u4**2 E6``  (physics.md §3.3),

with the vertex integrals ``I_n(x_1..x_n) = int_{[-Λ, Λ]^d} prod_a K_EFT(x_a, y) d^d y``
and the exchange (two-vertex) diagram
``E6 = sum_10 int int prod_{a in A} K_EFT(x_a, y) K_EFT(y, z) prod_{b in B} K_EFT(x_b, z)``,
the sum running over the 10 splits of the six points into two triples ``A | B``.

Zero mode
---------
Every propagator that touches a vertex, external legs *and* the internal line of ``E6``,
is ``K_EFT = K - sigma_b1**2``.  Reason: the read-out bias is an independent Gaussian,
``f = b1 + g``, so all cumulants of order >= 3 of ``f`` are those of ``g``, whose
two-point function is exactly ``K_EFT``.  The interacting field is ``g``; the constant
mode ``b1`` couples to nothing.  The tree relation of design.md (``DeltaG4 = -u4 int
prod K_EFT``) is this statement for the four-point function, and the exact Legendre
identity ``W6 = -G^6 Gamma6 + sum_10 (G^3 Gamma4) G (Gamma4 G^3)`` for the field ``g``
puts ``G = K_EFT`` on the internal line too.  (Keeping ``sigma_b1**2`` anywhere would make
the ``Λ = inf`` integrals diverge for Gauss-net, and ELS's ``u6`` numbers of
physics.md §3.6, ``II = 2 pi / sqrt(15)``, use ``K_EFT`` throughout.)  The Wick
subtraction that defines the *connected* correlators uses the full ``K`` (physics.md §7
item 9); that is done where the correlators are made, not here.

Methods
-------
``"gaussian"``
    gauss and cos nets with Gaussian first-layer weights: ``K_EFT = A exp(-a |x - y|^2)``
    (``A = sigma_w1**2`` or ``sigma_w1**2 / 2``, ``a = sigma_w0**2 / (2 d_in)``).  Products
    of Gaussians: closed forms with ``erf`` for a finite box, at any ``d_in`` and ``Λ``
    (including ``inf``).  The exchange diagram on a finite box keeps one 1-D integral
    per dimension (Gauss x erf, smooth), done by Gauss-Legendre with a convergence check.
``"homogeneous"``
    relu or linear without hidden biases (``sigma_b`` of every layer but the read-out is 0),
    any depth: ``K_EFT(x, s y) = s K_EFT(x, y)`` for ``s > 0``.  The box is cut into the
    pyramids over its ``2 d`` faces, so ``int_box F = Λ^(p + d) / (p + d) sum_faces
    int_face F`` for ``F`` homogeneous of degree ``p``: the ``Λ`` dependence is exact
    (slope ``-(4 + d)`` of ``u4``) and the face integrals are exact two-point sums for
    ``d_in = 1`` and Gauss-Legendre on face cells split at the kinks (the rays through
    ``+-x_a``) for ``d_in = 2, 3``.
``"quadrature"``
    everything else (erf, tanh, relu with biases, deep nets, uniform weights): tensor
    Gauss-Legendre on box cells split at ``y = 0``, at the input coordinates (relu kinks)
    and geometrically at ``+-l 4^i`` (``l`` the kernel's length scale) so that large boxes
    are resolved, with the order doubled until two successive results agree to
    ``rtol``.  The kernel comes from :func:`nnqft.theory.kernel`.

Divergences are refused with a ``ValueError``: ``Λ = inf`` is possible only where
``K_EFT`` decays, i.e. for the Gaussian method.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ._validation import as_choice, as_inputs, as_int, as_real, checked
from .architecture import Architecture, check_arch
from .quadrature import composite, tensor, unit_rule
from .theory import kernel
from .tuples import pair_index, rank, tuples, wick
from .warnings import IntegrationWarning  # re-exported: it was defined here

__all__ = [
    "IntegrationWarning",
    "METHODS",
    "bilocal_integral",
    "check_cutoff",
    "eft_kernel",
    "exchange_integral",
    "integration_method",
    "moment_integral",
    "vertex_integral",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Integration methods, see the module docstring.
METHODS = ("gaussian", "homogeneous", "quadrature")

#: Largest number of quadrature nodes for a single-vertex integral.
_MAX_NODES = 3_000_000
#: Largest number of nodes for the two-vertex diagram (its cost grows as nodes**2).
_MAX_EXCHANGE_NODES = 8_000
#: Gauss-Legendre orders per cell tried in turn, by dimension of the integration domain;
#: the two-vertex diagram starts coarser because its cost is quadratic in the nodes.
_ORDERS = {0: (1,), 1: (16, 32, 64, 128), 2: (8, 16, 32, 64), 3: (4, 8, 16, 24)}
_EXCHANGE_ORDERS = {0: (1,), 1: (8, 16, 32, 64), 2: (3, 4, 6, 8, 12), 3: (2, 3, 4, 6)}
#: Half-width of the Gaussian window, in units of 1/sqrt(alpha): exp(-60) ~ 1e-26.
_WINDOW = math.sqrt(60.0)


# -- public ----------------------------------------------------------------------------
def eft_kernel(arch: Architecture, x: Any, y: Any = None) -> FloatArray:
    """Kernel without its zero mode, ``K_EFT(x_a, y_b) = K(x_a, y_b) - sigma_b1**2``.

    Parameters
    ----------
    arch : Architecture
        Network ensemble (any depth); ``sigma_b1`` is the read-out bias,
        ``arch.sigma_b_layers[-1]``.
    x : array_like, shape (k, d_in)
        Inputs.
    y : array_like, shape (m, d_in), optional
        Second set of points (default ``x``).

    Returns
    -------
    ndarray, shape (k, m)
    """
    return kernel(arch, x, y) - arch.sigma_b_layers[-1] ** 2


def integration_method(arch: Architecture) -> str:
    """Return the method :func:`vertex_integral` uses by default for ``arch`` (see METHODS)."""
    if _gaussian_parameters(arch) is not None:
        return "gaussian"
    if _is_homogeneous(arch):
        return "homogeneous"
    return "quadrature"


def vertex_integral(
    arch: Architecture,
    x: Any,
    order: int,
    cutoff: float = np.inf,
    *,
    method: str | None = None,
    rtol: float = 1e-9,
) -> FloatArray:
    """Local vertex integrals ``I_n = int_{[-Λ, Λ]^d} prod_a K_EFT(x_a, y) d^d y``.

    Parameters
    ----------
    arch : Architecture
        Network ensemble.
    x : array_like, shape (k, d_in)
        Inputs.
    order : int
        Number of legs ``n >= 1`` (4 for ``u4``, 6 for ``u6``).
    cutoff : float
        Half-width ``Λ`` of the box ``[-Λ, Λ]^d``; ``inf`` where the integral converges.
    method : str, optional
        Force one of :data:`METHODS` (default: :func:`integration_method`); used to
        cross-check closed forms against quadrature.
    rtol : float
        Relative accuracy of the quadrature methods.

    Returns
    -------
    ndarray, shape (C(k + n - 1, n),)
        On the order-``n`` tuple layout.

    Raises
    ------
    ValueError
        If the integral diverges (``cutoff = inf`` with a ``K_EFT`` that does not decay)
        or the forced method does not apply to ``arch``.
    """
    return _tuple_integral(arch, x, order, cutoff, method, checked("rtol", rtol), moment=False)


def moment_integral(
    arch: Architecture,
    x: Any,
    order: int = 4,
    cutoff: float = np.inf,
    *,
    method: str | None = None,
    rtol: float = 1e-9,
) -> FloatArray:
    """Second-moment integrals ``int_{[-Λ, Λ]^d} |y|^2 prod_a K_EFT(x_a, y) d^d y``.

    The template ``T2`` of HMS's locality study (physics.md §3.5), i.e. the tree-level
    response to a position-dependent quartic coupling ``u4 + d2 |y|^2``.  Parameters and
    return value as in :func:`vertex_integral`.
    """
    return _tuple_integral(arch, x, order, cutoff, method, checked("rtol", rtol), moment=True)


def _tuple_integral(arch: Architecture, x: Any, order: int, cutoff: float,
                    method: str | None, rtol: float, moment: bool) -> FloatArray:
    """``int prod_a K_EFT(x_a, y)`` (times ``|y|^2`` if ``moment``) on the tuple layout."""
    xs, lam, how = _prepare(arch, x, cutoff, method)
    order = as_int("order", order, minimum=1)
    if how == "gaussian":
        return _gaussian_products(arch, xs, tuples(len(xs), order), lam, moment=moment)
    return _rule_products(arch, xs, order, lam, how, rtol, moment)


def bilocal_integral(
    arch: Architecture,
    x: Any,
    cutoff: float = np.inf,
    *,
    method: str | None = None,
    rtol: float = 1e-9,
) -> FloatArray:
    """Bilocal quartic template ``sum_3 int int K(a,y) K(b,y) K(c,z) K(d,z)``, K = K_EFT.

    The ``y`` and ``z`` integrals factorise, so this is the Wick sum over the three
    pairings of the two-leg integrals ``I2``.  It is the tree-level four-point response to
    ``(v/8) int int phi(y)^2 phi(z)^2`` (``kappa4 = -v B4``; HMS: ``v = 8 l_NL``).
    Parameters as in :func:`vertex_integral`; returns values on the order-4 layout.
    """
    xs = as_inputs(x, arch.d_in)
    i2 = vertex_integral(arch, xs, 2, cutoff, method=method, rtol=rtol)
    return wick(i2[pair_index(len(xs))], 4)


def exchange_integral(
    arch: Architecture,
    x: Any,
    cutoff: float = np.inf,
    *,
    method: str | None = None,
    rtol: float = 1e-9,
) -> FloatArray:
    """Two-vertex (``u4**2``) six-point diagram ``E6`` on the order-6 layout.

    ``E6 = sum_10 int int prod_{a in A} K_EFT(x_a, y) K_EFT(y, z) prod_{b in B} K_EFT(x_b, z)``
    over both vertices in ``[-Λ, Λ]^d``, summed over the 10 splits of the tuple into two
    triples, so that ``kappa6 = -u6 I6 + u4**2 E6`` at tree level.  Every propagator is
    ``K_EFT`` (module docstring).  Parameters as in :func:`vertex_integral`.

    Notes
    -----
    Quadrature costs (number of nodes)**2 kernel evaluations; it is capped at
    ``_MAX_EXCHANGE_NODES`` nodes and warns (:class:`IntegrationWarning`) if that is not
    enough for ``rtol``, which can happen for ``d_in = 3`` without a closed form.
    """
    rtol = checked("rtol", rtol)
    xs, lam, how = _prepare(arch, x, cutoff, method)
    if how == "gaussian":
        pairs = _gaussian_exchange_pairs(arch, xs, tuples(len(xs), 3), lam, rtol)
    else:
        pairs = _rule_exchange_pairs(arch, xs, lam, how, rtol)
    return _sum_over_triple_splits(pairs, len(xs))


# -- validation and method choice ------------------------------------------------------
def _prepare(
    arch: Architecture, x: Any, cutoff: Any, method: str | None
) -> tuple[FloatArray, float, str]:
    check_arch(arch)
    xs = as_inputs(x, arch.d_in)
    lam = as_real("cutoff", cutoff, positive=True, allow_inf=True)
    how = integration_method(arch) if method is None else as_choice("method", method, METHODS)
    if how == "gaussian" and _gaussian_parameters(arch) is None:
        raise ValueError(
            "the gaussian closed form needs a gauss or cos net with gaussian first-layer "
            f"weights and sigma_w0 > 0, got {arch!r}"
        )
    if how == "homogeneous" and not _is_homogeneous(arch):
        raise ValueError(
            "the homogeneous method needs relu or linear with zero biases in every hidden "
            f"layer, got {arch!r}"
        )
    check_cutoff(arch, lam)
    return xs, lam, how


def check_cutoff(arch: Architecture, cutoff: Any) -> float:
    """``cutoff`` as a float, checked against ``arch`` before any work is done.

    Raises
    ------
    ValueError
        If ``cutoff`` is not a number > 0, or is infinite where the vertex integrals of
        ``arch`` diverge (every ``K_EFT`` but the Gaussian one of gauss and cos nets), or
        the box quadrature would be in more dimensions than it has rules for (d_in > 3).
    """
    lam = as_real("cutoff", cutoff, positive=True, allow_inf=True)
    if math.isinf(lam) and _gaussian_parameters(arch) is None:
        raise ValueError(_divergence_reason(arch))
    method = integration_method(arch)
    if method != "gaussian" and _rule_dimension(method, arch.d_in) not in _ORDERS:
        raise ValueError(
            f"the vertex integrals of {arch!r} need a {method} rule in "
            f"{_rule_dimension(method, arch.d_in)} dimensions of the box (d_in = "
            f"{arch.d_in}); they are implemented for d_in <= 3")
    return lam


def _divergence_reason(arch: Architecture) -> str:
    act = arch.activation
    if _is_homogeneous(arch):
        why = (
            f"K_EFT of a {act}-net without hidden biases grows linearly in |y|, so the "
            "vertex integrals grow as cutoff**(n + d_in)"
        )
    elif act in ("gauss", "cos"):
        why = (
            f"cutoff = inf is implemented for the {act}-net only with gaussian first-layer "
            "weights and sigma_w0 > 0 (closed form)"
        )
    else:
        why = (
            f"K_EFT(x, y) of a {act}-net does not decay as |y| -> inf (it tends to a "
            "direction-dependent constant or grows), so the vertex integrals diverge"
        )
    return f"cutoff = inf: {why}; pass a finite cutoff (HMS used 50 for ReLU, 1e5 for Erf)"


def _gaussian_parameters(arch: Architecture) -> tuple[float, float] | None:
    """Return ``(A, a)`` with ``K_EFT = A exp(-a |x - y|^2)``, or None if not Gaussian."""
    sw0 = arch.sigma_w_layers[0]
    if arch.activation not in ("gauss", "cos") or arch.weight_dist != "gaussian" or sw0 == 0:
        return None
    if arch.spectrum is not None:  # a spectral cos-net: its kernel is not Gaussian in general
        return None
    amp = arch.sigma_w_layers[-1] ** 2 * (0.5 if arch.activation == "cos" else 1.0)
    return amp, sw0**2 / (2.0 * arch.d_in)


def _is_homogeneous(arch: Architecture) -> bool:
    hidden_biases = arch.sigma_b_layers[:-1]
    return arch.activation in ("relu", "linear") and all(s == 0 for s in hidden_biases)


# -- gaussian closed forms -----------------------------------------------------------------
def _erf_difference(p: FloatArray, q: FloatArray) -> FloatArray:
    """``erf(q) - erf(p)`` for ``p <= q`` without cancellation in the tails."""
    right = special.erfc(np.maximum(p, 0)) - special.erfc(np.maximum(q, 0))
    left = special.erfc(np.maximum(-q, 0)) - special.erfc(np.maximum(-p, 0))
    middle = special.erf(q) - special.erf(p)
    return np.asarray(np.where(p >= 0, right, np.where(q <= 0, left, middle)), dtype=np.float64)


def _box_moments(b: FloatArray, m: FloatArray, lam: float) -> tuple[FloatArray, FloatArray]:
    """``int_{-Λ}^{Λ} y^j exp(-b (y - m)^2) dy`` for ``j = 0, 2`` (elementwise, b > 0)."""
    b, m = np.broadcast_arrays(np.asarray(b, float), np.asarray(m, float))
    if math.isinf(lam):
        m0 = np.sqrt(np.pi / b)
        return m0, (m**2 + 0.5 / b) * m0
    lo, hi = -lam - m, lam - m  # limits in u = y - m
    sb = np.sqrt(b)
    m0 = 0.5 * np.sqrt(np.pi / b) * _erf_difference(sb * lo, sb * hi)
    e_lo, e_hi = np.exp(-b * lo**2), np.exp(-b * hi**2)
    m1u = (e_lo - e_hi) / (2 * b)
    m2u = (lo * e_lo - hi * e_hi) / (2 * b) + m0 / (2 * b)
    return m0, m2u + 2 * m * m1u + m**2 * m0


def _gaussian_products(
    arch: Architecture, xs: FloatArray, idx: IntArray, lam: float, moment: bool
) -> FloatArray:
    """``int prod_a A exp(-a |x_a - y|^2) (|y|^2)`` over the box, per tuple."""
    amp, a = _gaussian_parameters(arch)  # type: ignore[misc]
    n = idx.shape[1]
    pts = xs[idx]  # (T, n, d)
    centre = pts.mean(axis=1)
    spread = ((pts - centre[:, None, :]) ** 2).sum(axis=(1, 2))
    m0, m2 = _box_moments(np.full(centre.shape, a * n), centre, lam)
    base = amp**n * np.exp(-a * spread)
    if not moment:
        return np.asarray(base * np.prod(m0, axis=1), dtype=np.float64)
    d = xs.shape[1]
    others = [np.prod(np.delete(m0, j, axis=1), axis=1) for j in range(d)]
    return np.asarray(base * sum(m2[:, j] * others[j] for j in range(d)), dtype=np.float64)


def _gaussian_exchange_pairs(
    arch: Architecture, xs: FloatArray, t3: IntArray, lam: float, rtol: float
) -> FloatArray:
    """Matrix ``int int A_s(y) K_EFT(y, z) A_s'(z)`` over pairs of sorted triples ``s, s'``.

    Per dimension the exponent is a quadratic form in ``(y, z)``; ``z`` is integrated in
    closed form (Gaussian times erf), ``y`` analytically for ``Λ = inf`` and otherwise by
    composite Gauss-Legendre over the Gaussian window intersected with the box.
    """
    amp, a = _gaussian_parameters(arch)  # type: ignore[misc]
    pts = xs[t3]  # (P, 3, d)
    s, q = pts.sum(axis=1), (pts**2).sum(axis=1)
    s1, q1, s2, q2 = s[:, None], q[:, None], s[None, :], q[None, :]
    alpha = a * (4.0 - 1.0 / 4.0)  # (3 legs + 1 line) at y, after integrating z out
    beta = a * (s1 + s2 / 4.0)
    const = beta**2 / alpha + a * (s2**2 / 4.0 - q1 - q2)
    mu = beta / alpha
    if math.isinf(lam):
        per_dim = np.pi / math.sqrt(alpha * 4.0 * a) * np.exp(const)
    else:
        per_dim = _converged(
            lambda panels: _exchange_y_integral(a, alpha, mu, const, s2, lam, panels),
            (1, 2, 4),
            rtol,
            "gaussian exchange diagram",
        )
    return np.asarray(amp**7 * np.prod(per_dim, axis=-1), dtype=np.float64)


def _exchange_y_integral(
    a: float,
    alpha: float,
    mu: FloatArray,
    const: FloatArray,
    s2: FloatArray,
    lam: float,
    panels: int,
) -> FloatArray:
    """``int_{-Λ}^{Λ} exp(-alpha (y - mu)^2 + const) M0(4a, (s2 + y)/4) dy``, elementwise."""
    width = _WINDOW / math.sqrt(alpha)
    lo = np.clip(mu - width, -lam, lam)
    hi = np.clip(mu + width, -lam, lam)
    u, w = unit_rule(32)
    cells = (np.arange(panels)[:, None] + u).ravel() / panels  # composite rule on [0, 1]
    wc = np.tile(w, panels) / panels
    length = (hi - lo)[..., None]
    y = lo[..., None] + length * cells
    inner, _ = _box_moments(np.full(y.shape, 4.0 * a), (s2[..., None] + y) / 4.0, lam)
    f = np.exp(-alpha * (y - mu[..., None]) ** 2 + const[..., None]) * inner
    return np.asarray((f * wc).sum(axis=-1) * length[..., 0], dtype=np.float64)


# -- quadrature rules of the box (building blocks: nnqft.quadrature) ------------------
def _length_scale(arch: Architecture) -> float:
    """Distance over which K(x, y) changes with y: the pre-activation scale of y."""
    sw0, sb0 = arch.sigma_w_layers[0], arch.sigma_b_layers[0]
    if sw0 == 0:
        return 1.0
    return math.sqrt(arch.d_in) * max(1.0, sb0) / sw0


def _axis_edges(arch: Architecture, xs: FloatArray, j: int, lam: float) -> FloatArray:
    """Cell edges along axis ``j``: 0, relu kinks at the inputs, geometric grading, +-Λ."""
    points = {0.0}
    if arch.activation == "relu":
        points.update(float(v) for v in xs[:, j])
    scale = _length_scale(arch) / 4.0
    while scale < lam:
        points.update((scale, -scale))
        scale *= 4.0
    inside = sorted(p for p in points if -lam < p < lam)
    return np.array([-lam] + inside + [lam])


def _face_edges(xs: FloatArray, j: int, i: int, side: float) -> FloatArray:
    """Cell edges along coordinate ``i`` of the face ``y_j = side`` of the unit cube.

    The homogeneous kernels are non-smooth on the line through 0 and ``x_a``, which
    crosses this face at ``y_i = side * x_ai / x_aj``.
    """
    points = {0.0}
    points.update(side * xa[i] / xa[j] for xa in xs if xa[j] != 0)
    inside = sorted(p for p in points if -1.0 < p < 1.0)
    return np.array([-1.0] + inside + [1.0])


def _rule(
    arch: Architecture, xs: FloatArray, lam: float, how: str, p: int
) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights: box cells (quadrature) or unit-cube faces (homogeneous)."""
    d = xs.shape[1]
    if how == "quadrature":
        return tensor([composite(_axis_edges(arch, xs, j, lam), p) for j in range(d)])
    nodes, weights = [], []
    for j, side in itertools.product(range(d), (-1.0, 1.0)):
        others = [i for i in range(d) if i != j]
        face, w = tensor([composite(_face_edges(xs, j, i, side), p) for i in others])
        full = np.empty((len(w), d))
        full[:, others] = face
        full[:, j] = side
        nodes.append(full)
        weights.append(w)
    return np.concatenate(nodes), np.concatenate(weights)


def _radial_factor(how: str, lam: float, d: int) -> Callable[[int], float]:
    """``int_0^Λ s^(p + d - 1) ds`` for a face rule (homogeneous degree ``p``), else 1."""
    if how == "homogeneous":
        return lambda p: lam ** (p + d) / (p + d)
    return lambda p: 1.0


def _rule_dimension(how: str, d: int) -> int:
    """Dimensions of the box rule of method ``how`` (homogeneous: the faces, d - 1)."""
    return d - 1 if how == "homogeneous" else d


def _orders(how: str, d: int, exchange: bool) -> tuple[int, ...]:
    table = _EXCHANGE_ORDERS if exchange else _ORDERS
    return table[_rule_dimension(how, d)]


# -- quadrature evaluation ---------------------------------------------------------------
def _tuple_sums(values: FloatArray, weights: FloatArray, idx: IntArray) -> FloatArray:
    """``sum_m w_m prod_a values[idx[t, a], m]`` for every tuple ``t`` (chunked over m)."""
    out = np.zeros(len(idx))
    step = max(1, 2_000_000 // max(len(idx), 1))
    for start in range(0, values.shape[1], step):
        block = values[:, start : start + step]
        prod = block[idx[:, 0]]
        for a in range(1, idx.shape[1]):
            prod = prod * block[idx[:, a]]
        out += prod @ weights[start : start + step]
    return out


def _converged(
    compute: Callable[[int], FloatArray],
    levels: tuple[int, ...],
    rtol: float,
    what: str,
    exact: bool = False,
) -> FloatArray:
    """Evaluate at increasing refinement until two successive results agree to ``rtol``.

    Per element the tolerance is ``rtol * (|value| + 1e-6 max |value|)`` so that exact
    zeros (e.g. relu tuples of mixed sign) do not stall the check.  ``exact`` marks a
    single-level rule that is exact (no check needed); any other single level warns.
    """
    current = compute(levels[0])
    if len(levels) == 1:
        if not exact:
            _warn_budget(f"{what}: only one refinement fits the node budget, accuracy unchecked")
        return current
    for level in levels[1:]:
        previous, current = current, compute(level)
        if _relative_change(current, previous) <= rtol:
            return current
    _warn_budget(
        f"{what}: quadrature stopped at its node budget with relative change "
        f"{_relative_change(current, previous):.1e} > rtol = {rtol:.1e} between the last "
        "two refinements"
    )
    return current


def _warn_budget(message: str) -> None:
    _warn_at_caller(IntegrationWarning(message))


def _warn_at_caller(warning: Warning) -> None:
    """Warn at the first frame outside nnqft: the user's line, however deep the call."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("nnqft"):
        frame, level = frame.f_back, level + 1
    warnings.warn(warning, stacklevel=level)


def _relative_change(current: FloatArray, previous: FloatArray) -> float:
    scale = np.abs(current) + 1e-6 * np.max(np.abs(current), initial=0.0)
    diff = np.abs(current - previous)
    return float(np.max(np.where(diff > 0, diff / np.where(scale > 0, scale, 1.0), 0.0)))


def _rule_size(arch: Architecture, xs: FloatArray, lam: float, how: str, p: int) -> int:
    """Count the nodes of ``_rule(arch, xs, lam, how, p)`` without building it."""
    d = xs.shape[1]
    if how == "quadrature":
        return math.prod((len(_axis_edges(arch, xs, j, lam)) - 1) * p for j in range(d))
    return sum(
        math.prod((len(_face_edges(xs, j, i, side)) - 1) * p for i in range(d) if i != j)
        for j, side in itertools.product(range(d), (-1.0, 1.0))
    )


def _affordable(
    arch: Architecture, xs: FloatArray, lam: float, how: str, exchange: bool
) -> tuple[int, ...]:
    """Return the refinement levels whose rule fits the node budget (at least one)."""
    levels = _orders(how, xs.shape[1], exchange)
    budget = _MAX_EXCHANGE_NODES if exchange else _MAX_NODES
    fits = [p for p in levels if _rule_size(arch, xs, lam, how, p) <= budget]
    return tuple(fits) if fits else levels[:1]


def _memoised(
    compute: Callable[..., FloatArray],
) -> Callable[..., FloatArray]:
    """``compute(arch, xs, *args)`` cached by value, returning copies.

    A quadrature is seconds to minutes (d_in = 3), and fits ask twice for the same one:
    :func:`nnqft.fit_couplings` for the sample and :func:`nnqft.fit_exact_like` for the
    theory at the same ensemble, inputs and cutoff (the shell flow, compare_with_theory).
    The node budgets are part of the key, and the warnings of the computation are kept
    with its value and given again on every hit.
    """
    @functools.lru_cache(maxsize=32)
    def cached(arch: Architecture, x_bytes: bytes, shape: tuple[int, ...],
               budgets: tuple[int, int], *args: Any) -> tuple[FloatArray, list[Warning]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = compute(arch, np.frombuffer(x_bytes).reshape(shape), *args)
        return value, [w.message for w in caught]  # type: ignore[misc]

    @functools.wraps(compute)
    def wrapper(arch: Architecture, xs: FloatArray, *args: Any) -> FloatArray:
        value, caught = cached(arch, np.ascontiguousarray(xs, dtype=np.float64).tobytes(),
                               xs.shape, (_MAX_NODES, _MAX_EXCHANGE_NODES), *args)
        for warning in caught:
            _warn_at_caller(warning)
        return value.copy()

    wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return wrapper


@_memoised
def _rule_products(
    arch: Architecture, xs: FloatArray, order: int, lam: float, how: str, rtol: float,
    moment: bool,
) -> FloatArray:
    idx = tuples(len(xs), order)
    d, n = xs.shape[1], order
    degree = n + 2 if moment else n  # homogeneous degree of the integrand
    radial = _radial_factor(how, lam, d)

    def compute(p: int) -> FloatArray:
        nodes, weights = _rule(arch, xs, lam, how, p)
        if moment:
            weights = weights * (nodes**2).sum(axis=1)
        return radial(degree) * _tuple_sums(eft_kernel(arch, xs, nodes), weights, idx)

    levels = _affordable(arch, xs, lam, how, exchange=False)
    exact = how == "homogeneous" and d == 1  # two face points, no quadrature error
    return _converged(compute, levels, rtol, f"{n}-leg vertex integral ({how})", exact)


@_memoised
def _rule_exchange_pairs(
    arch: Architecture, xs: FloatArray, lam: float, how: str, rtol: float
) -> FloatArray:
    t3 = tuples(len(xs), 3)
    d = xs.shape[1]
    radial = _radial_factor(how, lam, d)

    def compute(p: int) -> FloatArray:
        nodes, weights = _rule(arch, xs, lam, how, p)
        legs = eft_kernel(arch, xs, nodes)
        a3 = legs[t3[:, 0]] * legs[t3[:, 1]] * legs[t3[:, 2]] * weights  # (P, m)
        pairs = np.zeros((len(t3), len(t3)))
        step = max(1, 2_000_000 // len(nodes))
        for start in range(0, len(nodes), step):
            line = eft_kernel(arch, nodes[start : start + step], nodes)  # (step, m)
            pairs += a3[:, start : start + step] @ line @ a3.T
        return radial(4) ** 2 * pairs  # each vertex: 3 legs + the line, degree 4

    levels = _affordable(arch, xs, lam, how, exchange=True)
    exact = how == "homogeneous" and d == 1
    return _converged(compute, levels, rtol, f"exchange diagram ({how})", exact)


@functools.lru_cache(maxsize=8)
def _triple_splits(k: int) -> tuple[tuple[IntArray, IntArray], ...]:
    """Ranks of the two triples of each of the 10 splits, for every order-6 tuple."""
    t6 = tuples(k, 6)
    out = []
    for i, j in itertools.combinations(range(1, 6), 2):
        first = [0, i, j]
        second = [c for c in range(6) if c not in first]
        out.append((rank(t6[:, first], k), rank(t6[:, second], k)))
    return tuple(out)


def _sum_over_triple_splits(pairs: FloatArray, k: int) -> FloatArray:
    return sum(pairs[r1, r2] for r1, r2 in _triple_splits(k))  # type: ignore[return-value]
