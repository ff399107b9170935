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
Gaussian scale-mixture form of the logistic function instead (``nnqft.gaussian.pair_map``).
These Gaussian measures live in :mod:`nnqft.gaussian`, shared with the deep theory; this
module adds the non-Gaussian first layers (uniform weights, gauss and cos nets).
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
from ._validation import as_bool, as_inputs, as_int
from .architecture import Architecture, check_arch
from .gaussian import ACTIVATION, RADIAL_CUTOFF, Measure, loadings_measure, pair_map
from .quadrature import DEFAULT_NODES, composite, unit_rule

__all__ = ["kernel", "neuron_moment", "exact"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Gauss-Legendre nodes per smooth panel.
_Q = DEFAULT_NODES


# -- first layer ---------------------------------------------------------------------
def _gaussian_first_layer(arch: Architecture) -> bool:
    """Whether the first-layer pre-activations are Gaussian (also when sigma_w0 = 0)."""
    return arch.weight_dist == "gaussian" or arch.sigma_w_layers[0] == 0


def _uniform_half_width(arch: Architecture) -> float:
    """Half-width ``a`` of a uniform first-layer weight with variance sigma_w0^2 / d_in."""
    return math.sqrt(3.0) * arch.sigma_w_layers[0] / math.sqrt(arch.d_in)


def _weight_char(arch: Architecture, v: FloatArray) -> FloatArray:
    """Characteristic function ``E exp(i w.v)`` of the first-layer weights, v shape (..., d).

    For a spectral cos-net the frequencies ``sigma_w0 q`` of :mod:`nnqft.spectral` (with
    its shell: neurons switched off contribute zero, so the function is unnormalised).
    """
    if arch.spectrum is not None:
        r = arch.sigma_w_layers[0] * np.sqrt((v**2).sum(-1))
        return np.asarray(arch.spectrum.characteristic(r), dtype=np.float64)
    if arch.weight_dist == "sign":  # +-a per component: prod cos(a v)
        a = arch.sigma_w_layers[0] / math.sqrt(arch.d_in)
        return np.asarray(np.prod(np.cos(a * v), axis=-1), dtype=np.float64)
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
        return pair_map(act, sxy, vx, vy)
    # Uniform first-layer weights: w.x + b is not Gaussian, so the Gaussian maps above do
    # not apply (issue 3 says the kernels coincide; only second moments agree, which is
    # all that linear needs).  Integrate over the uniform weights instead.
    if act == "relu":
        return _uniform_relu_pairs(arch, x, y, paired)
    nodes, weights = _uniform_parameter_rule(arch, np.concatenate([x, y]))
    phi = ACTIVATION[act]
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
        n = max(1, math.ceil(2 * RADIAL_CUTOFF * sb0 / (np.pi / 4)))
        b_nodes, b_w = composite(np.linspace(-RADIAL_CUTOFF, RADIAL_CUTOFF, n + 1))
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


def _gaussian_measure(arch: Architecture, x: FloatArray) -> Measure:
    """Spherical-radial quadrature over the Gaussian first-layer parameters."""
    return loadings_measure(arch.activation, _loadings(arch, x))


def _uniform_relu_measure(arch: Architecture, x: FloatArray) -> Measure:
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
        return Measure(np.maximum(np.outer(w, xs), 0.0), ww / (2 * a))
    cuts = np.concatenate([[0.0, -RADIAL_CUTOFF * sb, RADIAL_CUTOFF * sb], a * xs, -a * xs])
    cuts = np.unique(np.clip(cuts, -RADIAL_CUTOFF * sb, RADIAL_CUTOFF * sb))
    edges = np.unique(np.concatenate([cuts, np.arange(-RADIAL_CUTOFF, RADIAL_CUTOFF + 0.5, 1.0) * sb]))
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
    return Measure(np.maximum(z, 0.0), weights)


def _neuron_measure(arch: Architecture, x: FloatArray) -> Measure:
    """Quadrature measure for the activations without a closed-form moment."""
    if _gaussian_first_layer(arch):
        return _gaussian_measure(arch, x)
    if arch.activation == "relu":
        return _uniform_relu_measure(arch, x)
    nodes, weights = _uniform_parameter_rule(arch, x)
    return Measure(ACTIVATION[arch.activation](nodes @ _augment(x).T), weights, odd_vanish=True)


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


def neuron_moments(arch: Architecture, x: FloatArray, orders: Sequence[int]) -> dict[int, FloatArray]:
    """One-neuron moments for several orders, memoised on what they depend on.

    The unchecked internal form of :func:`neuron_moment` (``x`` already an input array,
    any orders the quadratures support), shared with :mod:`nnqft.deep_theory`; the
    arrays returned are read-only.  Only the first layer enters, so a width or read-out
    scan (or exact() called for several orders and both connected flags) reuses the
    quadrature.
    """
    key = (arch.activation, arch.d_in, arch.sigma_w_layers[0], arch.sigma_b_layers[0],
           arch.weight_dist, arch.spectrum, x.shape, x.tobytes())
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
    return neuron_moments(arch, xs, [order])[order].copy()


# -- public: exact finite-width correlators --------------------------------------------
def _readout_moment(arch: Architecture, m: int) -> float:
    """``E[w^m]`` of a unit-variance read-out weight (gaussian, uniform, sign)."""
    if m % 2:
        return 0.0
    if arch.weight_dist == "sign":
        return 1.0
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
        moments = neuron_moments(arch, xs, evens)
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
    check_sigma_range(arch)
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


def check_sigma_range(arch: Architecture) -> None:
    """Refuse any sigma whose square overflows float64 (raises OverflowError).

    Shared by the theory modules: the variances sigma^2 must be finite doubles.
    """
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
def kernel_diagonal(arch: Architecture, x: Any) -> FloatArray:
    """``K(x_a, x_a)`` at each input, one input at a time (the k x k kernel is not formed).

    What the theory checks of sampled results compare with: O(k) where :func:`kernel`
    on all inputs costs O(k^2) pairs.
    """
    xs = as_inputs(x, arch.d_in, "x")
    return np.array([kernel(arch, xs[a:a + 1])[0, 0] for a in range(len(xs))])


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
    ``exp(-sigma_w0^2 |x-y|^2 / (2 d_in)) / 2`` (a spectral cos-net: ``c(sigma_w0 |x-y|) / 2``
    with the spectrum's characteristic function, :meth:`nnqft.Spectrum.characteristic`);
    tanh by a fixed 72 x 72 quadrature over a Gaussian scale mixture (about 1e-14
    relative, ~30 microseconds per pair).
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
    check_sigma_range(arch)
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
            c_xy = pair_map(arch.activation, s_xy, s_xx[:, None], s_yy[None, :])
            c_xx = pair_map(arch.activation, s_xx, s_xx, s_xx)
            c_yy = pair_map(arch.activation, s_yy, s_yy, s_yy)
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
