"""Diagnostics of the fitted effective action: is it local, and what does it predict.

* :func:`per_tuple_couplings` — the papers' tuple-by-tuple ``u4_t = -kappa4_t / I4_t``: a
  constant over the tuples where the quartic action is local;
* :func:`quartic_vertex` — the amputated four-point vertex, without assuming locality;
* :func:`predict_g6` — the six-point function the fitted ``u4`` (and ``u6``) predict,
  compared with the measurement with the joint jackknife covariance
  (:class:`G6Prediction`).

The fits themselves are :mod:`nnqft.fit`; the statistics :mod:`nnqft.statistics`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import as_choice, as_inputs, checked
from .architecture import Architecture
from .fit import CouplingFit, read_connected
from .statistics import hotelling_chi2, jackknife_errors
from .theory import kernel
from .tuples import rank, tuples, wick
from .vertex import eft_kernel, exchange_integral, vertex_integral

__all__ = ["G6Prediction", "per_tuple_couplings", "predict_g6", "quartic_vertex"]

FloatArray = NDArray[np.float64]


@dataclasses.dataclass(frozen=True, eq=False)
class G6Prediction:
    """Six-point function predicted from fitted couplings, compared with the measurement.

    Attributes
    ----------
    quantity : str
        ``"kappa6"``, ``"delta_g6"`` or ``"g6"``.
    predicted, measured, errors : ndarray
        On the order-6 layout; ``errors`` are the standard errors of the measurement.
    chi2, ndof, pvalue : float, int, float
        Goodness of the prediction, computed on ``measured - predicted`` with the joint
        jackknife covariance of measurement and prediction (the couplings come from the
        same bins), as in :class:`CouplingFit`.
    regularisation : str
        How chi2 was formed.
    """

    quantity: str
    predicted: FloatArray
    measured: FloatArray
    errors: FloatArray
    chi2: float
    ndof: int
    pvalue: float
    regularisation: str

    def __repr__(self) -> str:
        return (
            f"G6Prediction({self.quantity}: χ²/ndof = {self.chi2:.4g}/{self.ndof}, "
            f"p-value = {self.pvalue:.3g}; {self.regularisation})"
        )


# -- locality --------------------------------------------------------------------------------
def per_tuple_couplings(
    corr: Any, arch: Architecture, x: Any, cutoff: float = np.inf, *, rtol: float = 1e-9
) -> tuple[FloatArray, FloatArray]:
    """Tuple-by-tuple quartic coupling ``u4_t = -kappa4_t / I4_t`` (the papers' estimator).

    Parameters
    ----------
    corr, arch, x, cutoff
        As in :func:`fit_couplings` (only order 4 is used).
    rtol : float
        Relative accuracy of the vertex integrals.

    Returns
    -------
    u4, errors : ndarray
        On the order-4 layout; errors are the standard errors of ``kappa4_t`` divided by
        ``|I4_t|`` (zero for exact data).  NaN where ``I4_t = 0`` (e.g. ReLU tuples of
        mixed sign), where no local coupling can produce the correlator.
    """
    xs = as_inputs(x, arch.d_in)
    data = read_connected(corr, arch, xs, (4,))
    i4 = vertex_integral(arch, xs, 4, cutoff, rtol=rtol)
    err = np.zeros_like(i4)
    if data.replicas is not None:
        err = jackknife_errors(data.replicas[4])
    nonzero = i4 != 0
    safe = np.where(nonzero, i4, 1.0)
    u4 = np.where(nonzero, -data.values[4] / safe, np.nan)
    return u4, np.where(nonzero, err / np.abs(safe), np.nan)


def _symmetric_pinv(matrix: FloatArray, rcond: float) -> tuple[FloatArray, int]:
    """Pseudo-inverse of a symmetric PSD matrix keeping eigenvalues > rcond * largest."""
    ev, vec = np.linalg.eigh(matrix)
    keep = ev > rcond * ev[-1]
    return (vec[:, keep] / ev[keep]) @ vec[:, keep].T, int(keep.sum())


def quartic_vertex(
    corr_or_kappa4: Any,
    arch: Architecture,
    x: Any,
    rcond: float = 1e-10,
    *,
    subtract_zero_mode: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Exact O(1/N) quartic vertex on the input set: ``kappa4`` amputated by ``K^-1``.

    ``u4(y1..y4) = - sum_x prod_a Kinv(y_a, x_a) kappa4(x1..x4)`` (physics.md §3.7): the
    Legendre-transform identity ``Gamma4 = -(G^-1)^4 W4`` on the finite input set, in the
    ``u4/4!`` normalisation.  No locality is assumed.

    Parameters
    ----------
    corr_or_kappa4 : Correlators-like or array_like
        Sampled correlators (errors by jackknife) or exact kappa4 on the order-4 layout.
    arch : Architecture
        The ensemble.
    x : array_like, shape (k, d_in)
        Inputs.
    rcond : float
        Eigenvalues of ``K`` below ``rcond`` times the largest are dropped (pseudo-inverse):
        the published input sets make ``K`` nearly or exactly singular (physics.md §7).
    subtract_zero_mode : bool
        Amputate with ``K_EFT = K - sigma_b1**2``, the propagator of the bias-free field,
        instead of the full two-point function ``K`` of the measured field (default).

    Returns
    -------
    values, errors : ndarray
        The vertex on the order-4 layout and its jackknife standard errors (zeros for
        exact input).
    """
    xs = as_inputs(x, arch.d_in)
    k = len(xs)
    if callable(getattr(corr_or_kappa4, "connected", None)):
        data = read_connected(corr_or_kappa4, arch, xs, (4,))
    else:
        data = read_connected({4: corr_or_kappa4}, arch, xs, (4,))
    gram = eft_kernel(arch, xs) if subtract_zero_mode else kernel(arch, xs)
    inverse, _ = _symmetric_pinv(gram, rcond)
    dense_rank = rank(np.array(list(itertools.product(range(k), repeat=4))), k)
    t4 = tuples(k, 4)

    def amputate(kappa: FloatArray) -> FloatArray:
        dense = kappa[..., dense_rank].reshape(kappa.shape[:-1] + (k,) * 4)
        for axis in range(4):
            dense = np.moveaxis(np.tensordot(dense, inverse, axes=([dense.ndim - 4 + axis], [1])),
                                -1, dense.ndim - 4 + axis)
        return -dense[..., t4[:, 0], t4[:, 1], t4[:, 2], t4[:, 3]]

    values = amputate(data.values[4])
    if data.replicas is None:
        return values, np.zeros_like(values)
    return values, jackknife_errors(amputate(data.replicas[4]))


# -- six-point predictions -------------------------------------------------------------------
def _sum_kernel_times_kappa4(k2: FloatArray, kappa4: FloatArray, k: int) -> FloatArray:
    """``sum_15 K(x_e, x_f) kappa4(the other four)`` on the order-6 layout (broadcast)."""
    t6 = tuples(k, 6)
    out = np.zeros(kappa4.shape[:-1] + (len(t6),))
    for e, f in itertools.combinations(range(6), 2):
        rest = [c for c in range(6) if c not in (e, f)]
        out = out + k2[t6[:, e], t6[:, f]] * kappa4[..., rank(t6[:, rest], k)]
    return out


def predict_g6(
    fit: CouplingFit,
    corr: Any,
    arch: Architecture | None = None,
    x: Any = None,
    quantity: str = "delta_g6",
    *,
    rtol: float = 1e-9,
) -> G6Prediction:
    """Six-point function predicted from fitted local couplings, against the measurement.

    Prediction: ``kappa4 = -u4 I4`` and ``kappa6 = -u6 I6 + u4**2 E6`` (``u6 = 0`` if it
    was not fitted), at the fit's cutoff; ``DeltaG6 = sum_15 K kappa4 + kappa6`` and
    ``G6 = Wick(K) + DeltaG6`` with the exact kernel ``K`` (at depth 1 the two-point
    function is exactly ``K``).  The measurement is formed the same way from the measured
    ``kappa4`` and ``kappa6``.

    Parameters
    ----------
    fit : CouplingFit
        Result of :func:`fit_couplings` on the same ``corr`` (its replicas are used).
    corr : Correlators-like or dict
        Sampled correlators with orders 4 and 6, or exact ``{4: kappa4, 6: kappa6}``.
    arch, x : optional
        Default to ``corr.arch`` and ``corr.x``.
    quantity : str
        ``"kappa6"``, ``"delta_g6"`` (default) or ``"g6"``.
    rtol : float
        Relative accuracy of the vertex integrals.

    Returns
    -------
    G6Prediction
        ``chi2`` uses the jackknife covariance of measured minus predicted, which contains
        the measured covariance and the correlated uncertainty of the couplings.
    """
    quantity, rtol = as_choice("quantity", quantity, ("kappa6", "delta_g6", "g6")), checked("rtol", rtol)
    if set(fit.parameters) - {"u4", "u6"}:
        raise ValueError(f"G6 prediction needs local couplings (u4, u6), fit has {fit.parameters}")
    arch = arch if arch is not None else getattr(corr, "arch", None)
    x = x if x is not None else getattr(corr, "x", None)
    if arch is None or x is None:
        raise ValueError("pass arch and x (corr does not carry them)")
    xs = as_inputs(x, arch.d_in)
    data = read_connected(corr, arch, xs, (4, 6))
    k = len(xs)
    gram = kernel(arch, xs)
    k2 = gram

    def six_point(kappa4: FloatArray, kappa6: FloatArray) -> FloatArray:
        if quantity == "kappa6":
            return kappa6
        delta = _sum_kernel_times_kappa4(k2, kappa4, k) + kappa6
        return delta + wick(gram, 6) if quantity == "g6" else delta

    i4 = vertex_integral(arch, xs, 4, fit.cutoff, rtol=rtol)
    i6 = vertex_integral(arch, xs, 6, fit.cutoff, rtol=rtol)
    exchange = exchange_integral(arch, xs, fit.cutoff, rtol=rtol)
    index = {t: i for i, t in enumerate(fit.parameters)}

    def predicted(couplings: FloatArray) -> FloatArray:
        u4 = couplings[..., index["u4"], None]
        u6 = couplings[..., index["u6"], None] if "u6" in index else 0.0
        return six_point(-u4 * i4, -u6 * i6 + u4**2 * exchange)

    estimate = np.array([fit.values[t] for t in fit.parameters])
    pred = predicted(estimate)
    meas = six_point(data.values[4], data.values[6])
    if data.replicas is None or fit.replicas is None:
        r = meas - pred
        return G6Prediction(quantity, pred, meas, np.zeros_like(meas), float(r @ r), len(r),
                            math.nan, "exact correlators: residual sum of squares")
    if len(fit.replicas) != data.n_bins:
        raise ValueError("fit and corr have different jackknife bins: fit this corr first")
    meas_reps = six_point(data.replicas[4], data.replicas[6])
    diff_reps = meas_reps - predicted(fit.replicas)
    errors = jackknife_errors(meas_reps)
    active = errors > 0
    chi2, ndof, pvalue, note = hotelling_chi2(
        (meas - pred)[active], diff_reps[:, active], meas_reps[:, active]
    )
    return G6Prediction(quantity, pred, meas, errors, chi2, ndof, pvalue, note)
