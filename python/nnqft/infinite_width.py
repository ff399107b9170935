"""Infinite-width extrapolation, and how precisely G(r) can be measured at distance r.

:func:`extrapolate_width` combines estimates of one correlator at several widths N
(independent ensembles on the same inputs) into its ``N -> inf`` value and the
coefficient of ``1/N`` (of ``N^-power`` in general), tuple by tuple, by weighted least
squares with jackknife errors.  Exact finite-width facts fix the model
(physics.md §2.2): at depth 1 the full ``G4 = Wick(K) + kappa4`` and ``kappa4`` are
exactly linear in ``1/N`` (``kappa4 -> 0``), ``kappa6`` is pure ``1/N^2``, ``G6`` has
``1/N`` and ``1/N^2`` terms; deeper networks have higher orders, so use widths where the
leading term dominates and read the chi^2.

:func:`two_point_precision` states the signal-to-noise of the two-point function with
distance (physics.md §6.4).  The plain estimator averages ``f(x) f(y)``, whose per-network variance is
``G4(x, x, y, y) - K(x, y)^2`` (exact at depth 1; ``K(x,x) K(y,y) + K(x,y)^2`` at
infinite width).  This tends to ``K(x,x) K(y,y)`` when ``K(x, y)`` decays, so the
relative error of ``G(r)`` grows like ``1 / K(r)``: for the massive scalar in d = 1,
``e^{m r} / sqrt(n)`` — ``n ~ e^{2 m r} / eps^2`` networks for relative precision ``eps``.
The conditional estimator averages the empirical kernel ``C(x, y)``, whose variance is
``(sigma_a^4 / N) (E[h(x)^2 h(y)^2] - E[h(x) h(y)]^2)`` (Gaussian read-out): smaller by
``~1/N`` but with the same ``1 / K(r)`` growth of the relative error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import as_inputs, as_int
from .architecture import Architecture, check_arch
from .correlators import Correlators
from .statistics import jackknife_errors

__all__ = ["WidthExtrapolation", "extrapolate_width", "two_point_precision"]

FloatArray = NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class WidthExtrapolation:
    """A correlator extrapolated to infinite width, tuple by tuple.

    The model is ``value(N) = infinite + slope N^-power``.

    Attributes
    ----------
    order : int
    connected : bool
        Whether the joint cumulant (else the full moment) was extrapolated.
    power : float
    widths : ndarray
    tuples : ndarray, shape (T, order)
    infinite, infinite_errors : ndarray, shape (T,)
        The ``N -> inf`` value and its jackknife standard error.
    slope, slope_errors : ndarray, shape (T,)
        The coefficient of ``N^-power`` and its jackknife standard error.
    correlation : ndarray, shape (T,)
        Jackknife correlation between ``infinite`` and ``slope`` of each tuple.
    chi2 : ndarray, shape (T,)
        Weighted residual sum of squares, ``len(widths) - 2`` degrees of freedom
        (0 with two widths: the line goes through both).
    ndof : int
    """

    order: int
    connected: bool
    power: float
    widths: FloatArray
    tuples: NDArray[np.int64]
    infinite: FloatArray
    infinite_errors: FloatArray
    slope: FloatArray
    slope_errors: FloatArray
    correlation: FloatArray
    chi2: FloatArray
    ndof: int

    def summary(self, max_rows: int = 12) -> str:
        """Text table: tuple, N -> inf value, slope, chi^2."""
        what = "kappa" if self.connected else "G"
        head = (f"{what}{self.order} extrapolated to N = inf from N = "
                f"{', '.join(f'{w:g}' for w in self.widths)} (model a + b N^-{self.power:g})")
        lines = [head, "tuple | N -> inf | slope b | chi2/ndof"]
        for i in range(min(max_rows, len(self.infinite))):
            lines.append(f"{tuple(int(t) for t in self.tuples[i])} | {self.infinite[i]:.6g} ± "
                         f"{self.infinite_errors[i]:.2g} | {self.slope[i]:.6g} ± "
                         f"{self.slope_errors[i]:.2g} | {self.chi2[i]:.3g}/{self.ndof}")
        if len(self.infinite) > max_rows:
            lines.append(f"... {len(self.infinite) - max_rows} more tuples")
        return "\n".join(lines)


def _check_same_ensemble(results: Sequence[Correlators]) -> None:
    first = results[0]
    for c in results[1:]:
        if c.arch.replace(width=first.arch.width) != first.arch:
            raise ValueError(f"the results must differ only in width: {first.arch!r} vs "
                             f"{c.arch!r}")
        if c.x.shape != first.x.shape or not np.array_equal(c.x, first.x):
            raise ValueError("the results must share the inputs x")
    widths = [c.arch.width for c in results]
    if len(set(widths)) != len(widths):
        raise ValueError(f"each width must appear once (merge runs of one width first), got "
                         f"{widths}")


def extrapolate_width(results: Sequence[Correlators], order: int = 4,
                      connected: bool = True, power: float = 1.0) -> WidthExtrapolation:
    """Extrapolate a correlator measured at several widths to ``N -> inf``.

    Parameters
    ----------
    results : sequence of Correlators
        One result per width (>= 2 widths), independent ensembles of the same
        architecture otherwise (any depth, activation, spectrum) on the same inputs.
    order : int
        Correlator order (each result must hold it).
    connected : bool
        Extrapolate the joint cumulant (default) or the full moment.
    power : float
        The model's power: ``value = a + b N^-power`` (1: the leading finite-width
        correction; 2 for kappa6 at depth 1).

    Returns
    -------
    WidthExtrapolation

    Notes
    -----
    Per tuple, weighted least squares with weights ``1 / err_j^2`` (the jackknife
    errors of each width, held fixed).  The ensembles are independent, so the
    variance of ``(a, b)`` is the sum over widths of each ensemble's delete-one-bin
    jackknife variance (the other widths held at their full-sample values).
    """
    results = list(results)
    if len(results) < 2:
        raise ValueError(f"extrapolate_width needs results at >= 2 widths, got {len(results)}")
    for c in results:
        if not isinstance(c, Correlators):
            raise TypeError(f"results must be Correlators, got {type(c).__name__}")
    _check_same_ensemble(results)
    n = as_int("order", order, minimum=1, maximum=8)
    power = float(power)
    if not power > 0:
        raise ValueError(f"power must be > 0, got {power!r}")
    results.sort(key=lambda c: c.arch.width)
    widths = np.array([c.arch.width for c in results], dtype=np.float64)
    values = np.array([c.connected(n)[0] if connected else c.mean(n) for c in results])
    replicas = [c.replicas(n, connected=connected) for c in results]
    errors = np.array([jackknife_errors(r) for r in replicas])
    errors = np.where(errors > 0, errors, np.nan)
    design = np.stack([np.ones_like(widths), widths**-power], axis=1)  # (J, 2)
    w = 1.0 / errors**2  # (J, T)
    w = np.where(np.isfinite(w), w, np.nanmax(w, initial=1.0) * 1e6)  # exact points: pin

    def solve(v: FloatArray) -> FloatArray:
        """(a, b) per tuple, shape (2, T), of data v (J, T) with the fixed weights."""
        xtwx = np.einsum("jp,jt,jq->tpq", design, w, design)
        xtwy = np.einsum("jp,jt,jt->tp", design, w, v)
        return np.asarray(np.linalg.solve(xtwx, xtwy[..., None])[..., 0].T)

    fit = solve(values)
    cov = np.zeros((2, 2, values.shape[1]))
    for j, reps in enumerate(replicas):  # independent ensembles: variances add
        shifted = np.repeat(values[None], len(reps), axis=0)
        shifted[:, j] = reps
        ab = np.stack([solve(v) for v in shifted])  # (B, 2, T)
        dev = ab - ab.mean(axis=0)
        cov += (len(reps) - 1) / len(reps) * np.einsum("bpt,bqt->pqt", dev, dev)
    resid = values - (design @ fit)
    chi2 = np.nansum(w * resid**2, axis=0)
    err_a, err_b = np.sqrt(cov[0, 0]), np.sqrt(cov[1, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(err_a * err_b > 0, cov[0, 1] / (err_a * err_b), 0.0)
    return WidthExtrapolation(
        order=n, connected=bool(connected), power=power, widths=widths,
        tuples=results[0].tuples(n), infinite=fit[0], infinite_errors=err_a, slope=fit[1],
        slope_errors=err_b, correlation=corr, chi2=chi2, ndof=len(widths) - 2)


def two_point_precision(arch: Architecture, x: Any, y: Any,
                        estimator: str = "plain") -> FloatArray:
    """Relative standard error of ``G(x_a, y_a)`` per network (divide by ``sqrt(n)``).

    Parameters
    ----------
    arch : Architecture
        A depth-1 ensemble (exact finite-width moments).
    x, y : array_like, shape (k, d_in)
        Pairs of inputs (row a of x with row a of y).
    estimator : {"plain", "conditional"}
        ``plain``: ``sqrt(G4(x,x,y,y) - K(x,y)^2) / K(x,y)``.  ``conditional``:
        ``sqrt(Var C(x, y)) / K(x, y)``, ``Var C = (sigma_a^4 / N) (M4(x,x,y,y) - M2(x,y)^2)``
        (Gaussian read-out).

    Returns
    -------
    ndarray, shape (k,)
        The relative error of one network's estimate; the error of the mean of n
        networks is this over ``sqrt(n)``.  It grows like ``1 / K(r)`` with distance
        (module docstring).
    """
    from .theory import exact, kernel, neuron_moment

    check_arch(arch)
    if arch.depth != 1:
        raise ValueError("two_point_precision needs exact finite-width moments: depth 1")
    xs, ys = as_inputs(x, arch.d_in, "x"), as_inputs(y, arch.d_in, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must be pairs of the same shape, got {xs.shape} and {ys.shape}")
    out = np.empty(len(xs))
    for a, (p, q) in enumerate(zip(xs, ys, strict=True)):
        pair = np.stack([p, q])
        k_xy = kernel(arch, pair)[0, 1]
        if estimator == "plain":
            g4 = exact(arch, pair, 4)[2]  # tuple (0, 0, 1, 1)
            var = g4 - k_xy**2
        elif estimator == "conditional":
            if arch.weight_dist != "gaussian":
                raise ValueError("the conditional estimator needs Gaussian read-out weights")
            m4 = neuron_moment(arch, pair, 4)[2]
            m2 = neuron_moment(arch, pair, 2)[1]
            var = arch.sigma_w_layers[-1] ** 4 / arch.width * (m4 - m2**2)
        else:
            raise ValueError(f"estimator must be 'plain' or 'conditional', got {estimator!r}")
        out[a] = np.sqrt(max(var, 0.0)) / abs(k_xy)
    return out
