"""The tables from which the C++ core draws the radii of spectral cos-nets.

A radial density ``rho(p)`` is integrated once in the compactified radius
``t = p / (p + s)`` (:class:`RadialCdf`).  From its CDF ``F`` come

* at d = 1, the quantile table (:func:`quantile_table`): ``t_j = F^-1(j / M)``, ``t``
  linear in a uniform ``u`` between them, ``|q| = s t / (1 - t)``;
* at d >= 2, the chi table (:func:`chi_table`): the radius as a function of the squared
  length ``Q = |g|^2`` of the frequency's own direction normals ``g``.  ``Q ~ chi^2_d`` is
  independent of ``g / |g|``, so ``R(Q) = F^-1(F_chi2(Q))`` has the radius law exactly.
  The core interpolates ``H = R / sqrt(Q)`` linearly in ``Q`` between nodes of equal width
  within each octave of ``Q`` and sets ``p = H(Q) g`` (``kernels::chi_frequencies``):
  no random word, no root, no division.

Each comes with its Kolmogorov distance to the exact law, measured at the cell midpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import special

from . import _core
from .quadrature import composite, unit_rule

FloatArray = NDArray[np.float64]

#: Panels uniform in the compactified radius over which the CDF is integrated.
_CDF_PANELS = 4096
#: Gauss-Legendre nodes per panel (here and in the spectral quadratures).
NODES = 16
#: The largest double below 1: the compactified radius t = 1 is p = inf.
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
#: Floor of t in the density: t = 0 is p = 0, where a massless density's p^(d-1) rho(p)
#: is 0 * inf (far below any quadrature node, above underflow of p^(2 power)).
_T_MIN = 1e-60


class RadialCdf:
    """The CDF of the radius of an unnormalised radial density, by panels in ``t``.

    ``radial(p)`` is ``p^(d-1) density(p)``; ``scale`` is ``s`` of ``t = p / (p + s)``;
    the density vanishes beyond ``end`` (``inf``: a tail to ``p = inf``).  The panels are
    uniform in ``t`` and, besides, have edges at ``landmarks`` (momenta where the density
    has kinks or scales of its own: a cutoff far above ``s`` puts most of the mass in the
    last few uniform panels).
    """

    def __init__(self, radial: Callable[[FloatArray], FloatArray], scale: float,
                 end: float, landmarks: FloatArray) -> None:
        self._radial = radial
        self.scale = scale
        self.t_end = min(1.0 if math.isinf(end) else end / (end + scale), _BELOW_ONE)
        marks = self.compact(landmarks)
        self.marks = marks[(marks > 0) & (marks < self.t_end)]
        self.edges = np.unique(np.concatenate([np.linspace(0.0, self.t_end, _CDF_PANELS + 1),
                                               self.marks]))
        self._last = len(self.edges) - 2
        nodes, weights = composite(self.edges, NODES)
        self.panel = (weights * self.density(nodes)).reshape(-1, NODES).sum(axis=1)
        self.cumulative = np.concatenate([[0.0], np.cumsum(self.panel)])
        self.total = float(self.cumulative[-1])

    def density(self, t: FloatArray) -> FloatArray:
        """Unnormalised density of ``t``."""
        tt = np.clip(t, _T_MIN, _BELOW_ONE)
        s = self.scale
        return np.asarray(self._radial(s * tt / (1 - tt)) * s / (1 - tt) ** 2)

    def radius(self, t: FloatArray) -> FloatArray:
        """``p`` of ``t``."""
        return np.asarray(self.scale * t / (1.0 - t))

    def compact(self, p: FloatArray) -> FloatArray:
        """``t`` of ``p`` (at most ``t_end``: F = 1 beyond the support)."""
        return np.asarray(np.minimum(p / (p + self.scale), self.t_end))

    def cdf(self, t: FloatArray) -> FloatArray:
        """``F(t)``, normalised."""
        i = np.clip(np.searchsorted(self.edges, t, side="right") - 1, 0, self._last)
        return self._unnormalised(i, t) / self.total

    def quantiles(self, u: FloatArray) -> FloatArray:
        """Non-decreasing ``t`` with ``F(t) = u``: safeguarded Newton inside each panel."""
        targets = u * self.total
        i = np.clip(np.searchsorted(self.cumulative, targets, side="right") - 1, 0,
                    self._last)
        lo, hi = self.edges[i], self.edges[i + 1]
        frac = (targets - self.cumulative[i]) / np.where(self.panel[i] > 0, self.panel[i], 1.0)
        t = lo + np.clip(frac, 0, 1) * (hi - lo)
        for _ in range(8):
            step = (self._unnormalised(i, t) - targets) / np.maximum(self.density(t), 1e-300)
            t = np.clip(t - step, lo, hi)
        return np.maximum.accumulate(t)

    def _unnormalised(self, i: NDArray[np.int64], t: FloatArray) -> FloatArray:
        """``total * F(t)`` for ``t`` in panel ``i``."""
        lo = self.edges[i]
        u, w = unit_rule(NODES)
        width = (t - lo)[:, None]
        x = lo[:, None] + width * u
        return np.asarray(self.cumulative[i] + (width * w * self.density(x)).sum(axis=1))


def quantile_table(cdf: RadialCdf, size: int) -> tuple[FloatArray, float]:
    """The d = 1 quantile table ``t_j = F^-1(j / size)``, j = 0..size.

    Returns it with the Kolmogorov distance of the law of ``t`` linear in a uniform ``u``
    between the quantiles, at the cell midpoints and where ``t`` crosses a landmark (a
    kink or the edge of a gap in the density, where the midpoints miss the worst point).
    ``t_0`` is where the density starts (0, or the end of a gap [0, p0)).
    """
    t = cdf.quantiles(np.arange(size + 1) / size)
    t[-1] = cdf.t_end
    t = np.maximum.accumulate(t)
    j, marks = _cells_crossed(t, cdf.marks)
    points = np.concatenate([0.5 * (t[:-1] + t[1:]), marks])  # t at the check points
    u = np.concatenate([np.arange(size) + 0.5, j + (marks - t[j]) / (t[j + 1] - t[j])]) / size
    return t, float(np.max(np.abs(cdf.cdf(points) - u)))


def _cells_crossed(nodes: FloatArray,
                   values: FloatArray) -> tuple[NDArray[np.int64], FloatArray]:
    """Cells ``j`` of the non-decreasing ``nodes`` that ``values`` fall strictly inside.

    Returns ``j`` and the values ``v`` with ``nodes[j] < v < nodes[j + 1]``.
    """
    j = np.searchsorted(nodes, values, side="right") - 1
    inside = (j >= 0) & (j < len(nodes) - 1)
    j, values = j[inside], values[inside]
    strict = nodes[j] < values
    return j[strict], values[strict]


def chi_per_octave(size: int) -> int:
    """Cells per octave of the chi table for a requested ``size``: a power of two."""
    return 1 << max(0, math.ceil(math.log2(size / _core.CHI_OCTAVES)))


def chi_nodes(per_octave: int) -> FloatArray:
    """The nodes ``Q_j`` of ``kernels::chi_frequencies``, equal width within each octave."""
    j = np.arange(_core.CHI_OCTAVES * per_octave + 1)
    octave, step = np.divmod(j, per_octave)
    return np.asarray(np.ldexp(1.0 + step / per_octave, _core.CHI_LOWEST_OCTAVE + octave),
                      dtype=np.float64)


#: A chi table whose error exceeds 1 / (_REFINE size) is rebuilt with twice the cells
#: per octave, up to _MAX_REFINE times as many: H ~ R / sqrt(Q) is not linear in Q, and
#: a narrow density (a bump: |q| f(|q|) ~ 300) amplifies the curvature error ~(dQ / Q)^2.
_REFINE = 8
_MAX_REFINE = 16


def chi_table(cdf: RadialCdf, d: int, size: int) -> tuple[FloatArray, float]:
    """The d >= 2 chi table ``H(Q_j) = F^-1(F_chi2_d(Q_j)) / sqrt(Q_j)``.

    Returns it with the Kolmogorov distance of the law of ``sqrt(Q) H(Q)``, ``H`` linear
    in ``Q ~ chi^2_d`` between the nodes (at the cell midpoints, and below ``Q_0``, where
    the core holds ``H(Q_0)``).  ``chi_per_octave(size)`` cells per octave, or up to
    ``_MAX_REFINE`` times as many where that is not accurate to ``1 / (_REFINE size)``.
    """
    per_octave = chi_per_octave(size)
    finest = _MAX_REFINE * per_octave
    while True:
        h, error = _chi_table(cdf, d, per_octave)
        if error < 1 / (_REFINE * size) or per_octave >= finest:
            return h, error
        per_octave *= 2


def _chi_table(cdf: RadialCdf, d: int, per_octave: int) -> tuple[FloatArray, float]:
    q = chi_nodes(per_octave)
    t = np.minimum(cdf.quantiles(special.gammainc(d / 2, q / 2)), cdf.t_end)
    h = cdf.radius(t) / np.sqrt(q)
    mid_q = 0.5 * (q[:-1] + q[1:])
    cross_q, cross_r = _chi_crossings(cdf, q, h)
    points = np.concatenate([mid_q, cross_q])  # Q at the check points, and R there
    radii = np.concatenate([0.5 * (h[:-1] + h[1:]) * np.sqrt(mid_q), cross_r])
    error = np.abs(cdf.cdf(cdf.compact(radii)) - special.gammainc(d / 2, points / 2))
    return h, float(max(np.max(error), special.gammainc(d / 2, q[0] / 2)))


def _chi_crossings(cdf: RadialCdf, q: FloatArray,
                   h: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Where the tabulated radius crosses a landmark: ``Q`` and the landmark's radius.

    At kinks and gap edges the midpoints miss the worst point; ``Q`` is found by
    bisection in its cell.
    """
    j, p = _cells_crossed(h * np.sqrt(q), cdf.radius(cdf.marks))
    lo, hi = q[j], q[j + 1]
    slope = (h[j + 1] - h[j]) / (hi - lo)
    a, b = lo.copy(), hi.copy()
    for _ in range(60):  # the radius sqrt(Q) H(Q) rises from below p to above it
        mid = 0.5 * (a + b)
        below = np.sqrt(mid) * (h[j] + (mid - lo) * slope) < p
        a, b = np.where(below, mid, a), np.where(below, b, mid)
    return 0.5 * (a + b), p
