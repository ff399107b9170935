"""Diagnostics of the fitted effective action: is it local, and what does it predict.

* :func:`per_tuple_couplings` — the papers' tuple-by-tuple ``u4_t = -kappa4_t / I4_t``: a
  constant over the tuples where the quartic action is local;
* :func:`quartic_vertex` — the amputated four-point vertex, without assuming locality;
* :func:`predict_g6` — the six-point function the fitted ``u4`` (and ``u6``) predict,
  compared with the measurement with the joint jackknife covariance
  (:class:`G6Prediction`);
* :func:`theory_check` — a sample's two- and four-point functions at each input against
  the theory the library has (exact at depth 1, the leading 1/N theory deeper), within
  the error bar and the theory's own truncation (:class:`TheoryCheck`): what
  :meth:`nnqft.Correlators.reliable` consults, and what :func:`nnqft.sample` warns about.

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
from .statistics import check_dense_size, hotelling_chi2, jackknife_errors
from .theory import exact, kernel, kernel_diagonal
from .tuples import n_tuples, rank, tuples, wick
from .vertex import eft_kernel, exchange_integral, vertex_integral

__all__ = ["G6Prediction", "TheoryCheck", "per_tuple_couplings", "predict_g6", "quartic_vertex",
           "theory_check", "z_threshold"]

FloatArray = NDArray[np.float64]

#: A disagreement with theory beyond this many standard errors (Gaussian tail, before the
#: corrections of :func:`z_threshold`) makes a sample unreliable.  6, not the kernel
#: check's 5: the four-point estimates of small samples are skewed, so their z is
#: heavier-tailed than Student's t (one kappa4 at 6.07 among 120 calibrated ReLU runs of
#: 2048 networks at N = 5); dead or tail-starved samples sit at z ~ 1e2 to 1e9.
CHECK_Z = 6.0
#: Growth rate of the 1/N expansion with depth: the relative remainder of the leading
#: theory is taken as ``(exp(c r) - 1 - c r) / (c r)`` at ``r = L/N``, with ``c = 5`` the
#: rate of the critical ReLU vertex on a ray (``(1 + 5/N)^L``, physics-deep.md §3), the
#: fastest growth known; about ``c r / 2`` for ``r << 1``, and no check left for ``r >~ 3``.
EXPANSION_RATE = 5.0
#: Relative accuracy of the theory's numbers (tanh's four-point functions: ~1e-7).
THEORY_RTOL = 1e-6


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
    # the amputation runs on dense (replicas, k, k, k, k) arrays, a few copies at a time
    check_dense_size(3 * (data.n_bins + 1) * k**4,
                     f"the amputation of the four-point function on {k} inputs",
                     "use fewer inputs, or per_tuple_couplings() (no dense array)")
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
    k = len(xs)
    data = read_connected(corr, arch, xs, (4, 6))
    # replicas of prediction, measurement and their difference on the order-6 tuples
    check_dense_size(6 * (data.n_bins + 1) * n_tuples(k, 6),
                     f"the six-point prediction on {k} inputs ({n_tuples(k, 6)} tuples)",
                     "use fewer inputs")
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


# -- sample against theory ---------------------------------------------------------------------
def z_threshold(n_checks: int, n_bins: int, z: float = CHECK_Z) -> float:
    """Largest accepted ``|z|`` among ``n_checks`` comparisons with jackknife errors.

    ``z`` as a two-sided Gaussian tail probability, Bonferroni-corrected over
    ``n_checks`` and read off Student's t with ``n_bins - 1`` degrees of freedom (a
    jackknife error from few bins makes z heavy-tailed).
    """
    from scipy import stats  # deferred: scipy.stats alone doubles `import nnqft`

    tail = math.erfc(z / math.sqrt(2.0)) / (2 * max(n_checks, 1))
    return max(z, float(stats.t.isf(tail, max(n_bins - 1, 1))))


@dataclasses.dataclass(frozen=True, eq=False)
class TheoryCheck:
    """A sample's correlators at each input against the theory (:func:`theory_check`).

    Attributes
    ----------
    labels : tuple of str
        What was compared, e.g. ``"G2(x0,x0)"``, ``"κ4(x1,x1,x1,x1)"``.
    sampled, errors, theory, truncation, z : ndarray
        Sampled value, its jackknife error, the theory, the allowance for the theory's
        truncation (0 where it is exact) and ``|sampled - theory|`` in units of the
        combined tolerance (inf where a nonzero difference meets a zero tolerance).
    threshold : float
        Largest ``z`` accepted (:func:`z_threshold`).
    theory_name : str
        Which theory: ``"exact (depth 1)"`` or ``"leading 1/N theory"``.
    """

    labels: tuple[str, ...]
    sampled: FloatArray
    errors: FloatArray
    theory: FloatArray
    truncation: FloatArray
    z: FloatArray
    threshold: float
    theory_name: str

    @property
    def worst(self) -> int:
        """Index of the largest ``z``."""
        return int(np.argmax(self.z))

    @property
    def agrees(self) -> bool:
        """Whether every ``z`` is within the threshold."""
        return bool(self.z[self.worst] <= self.threshold)

    def reason(self) -> str | None:
        """None when the sample agrees with the theory, else a sentence saying how not."""
        if self.agrees:
            return None
        i = self.worst
        why = ("every jackknife bin gave the same value: nearly every network is dead "
               "(constant output), and an error bar of 0 is not a measurement"
               if self.errors[i] == 0 else
               "the events that carry the mean are rarer than the sample reaches (or "
               "the estimator's variance is dominated by them)")
        return (f"the sample contradicts the {self.theory_name}: {self.labels[i]} = "
                f"{self.sampled[i]:.6g} ± {self.errors[i]:.2g} against {self.theory[i]:.6g} "
                f"(truncation allowance ± {self.truncation[i]:.2g}), {self.z[i]:.3g} "
                f"tolerances off (threshold {self.threshold:.3g}); {why}")

    def __repr__(self) -> str:
        verdict = "agrees" if self.agrees else "DISAGREES"
        return (f"TheoryCheck({verdict} with the {self.theory_name}: largest |z| = "
                f"{self.z[self.worst]:.3g} at {self.labels[self.worst]}, threshold "
                f"{self.threshold:.3g}, {len(self.z)} values)")


def _expansion_remainder(depth: int, width: int) -> float:
    """Relative size of the leading 1/N theory's remainder (``EXPANSION_RATE``)."""
    if depth == 1:
        return 0.0  # exact at depth 1
    cr = EXPANSION_RATE * depth / width
    return math.expm1(cr) / cr - 1.0 if cr < 700 else math.inf


def _diagonal_theory(arch: Architecture, xs: FloatArray,
                     four: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
    """G2, its 1/N term, and kappa4 (itself a 1/N term) at each input alone.

    Inputs one at a time: the one-input theory is cheap (rank 1) and cached, where the
    theory on all k inputs at once costs O(k^4).
    """
    k = len(xs)
    g2_term, k4 = np.zeros(k), np.zeros(k)
    if arch.depth == 1:
        if four:
            k4 = np.array([exact(arch, xs[a:a + 1], 4, connected=True)[0] for a in range(k)])
        return kernel_diagonal(arch, xs), g2_term, k4
    from .deep_theory import finite_width

    g2 = np.zeros(k)
    for a in range(k):
        th = finite_width(arch, xs[a:a + 1])  # carries the kernel: no separate kernel()
        g2_term[a] = th.kernel_correction()[0, 0] / arch.width
        g2[a] = th.kernel()[0, 0] + g2_term[a]
        if four:
            k4[a] = th.connected(4)[0]
    return g2, g2_term, k4


def theory_check(corr: Any) -> TheoryCheck | None:
    """Compare a sample's ``G2(x_a, x_a)`` and ``kappa4(x_a, x_a, x_a, x_a)`` with theory.

    The theory is :func:`nnqft.kernel` and :func:`nnqft.exact` at depth 1 (exact at every
    width), and the leading 1/N theory :func:`nnqft.finite_width` (``G2 = K + K1/N``,
    ``kappa4``) deeper, whose remainder is allowed for as the size of its 1/N term times
    ``(exp(c L/N) - 1 - c L/N) / (c L/N)`` (:data:`EXPANSION_RATE`): where the 1/N term
    vanishes identically (ReLU with sigma_b = 0, linear: ``G2 = K`` at every width), no
    remainder is allowed.  A value many tolerances off (:func:`z_threshold`) means the
    sample missed what carries the mean: e.g. a width-1 ReLU net 20 layers deep is dead
    in all but ~2^-20 of its draws, and 65536 networks read ``G2 = 0 ± 0`` against 0.5.

    Parameters
    ----------
    corr : Correlators
        A sampled run with order 2 (or the conditional estimator), optionally order 4.

    Returns
    -------
    TheoryCheck or None
        None when there is nothing to compare with: fewer than 2 bins, no two-point
        function, or no theory for this ensemble (uniform weights at depth >= 2, or a
        theory that cannot be evaluated there).  Never raises for a valid run.
    """
    n_bins = corr.n_bins
    diagonal = corr.diagonal() if n_bins >= 2 else {}
    if "G2" not in diagonal:
        return None
    four = "K4" in diagonal
    arch, xs, k = corr.arch, corr.x, corr.k
    if arch.depth > 1 and arch.weight_dist != "gaussian":
        return None
    try:
        g2, g2_term, k4 = _diagonal_theory(arch, xs, four)
    except (ValueError, NotImplementedError, ArithmeticError, MemoryError):
        return None  # no theory here (e.g. out of float range): nothing to compare
    remainder = _expansion_remainder(arch.depth, arch.width)
    parts = [("G2", g2, g2_term, [f"G2(x{a},x{a})" for a in range(k)])]
    if four:
        parts.append(("K4", k4, k4, [f"κ4(x{a},x{a},x{a},x{a})" for a in range(k)]))
    sampled = np.concatenate([diagonal[p[0]][0] for p in parts])
    errors = np.concatenate([jackknife_errors(diagonal[p[0]][1]) for p in parts])
    theory = np.concatenate([p[1] for p in parts])
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 where the term vanishes
        terms = np.concatenate([p[2] for p in parts])
        truncation = np.where(terms == 0, 0.0, remainder * np.abs(terms))
    tolerance = np.sqrt(errors**2 + truncation**2 + (THEORY_RTOL * theory) ** 2)
    diff = np.abs(sampled - theory)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(tolerance > 0, diff / np.where(tolerance > 0, tolerance, 1.0),
                     np.where(diff > 0, np.inf, 0.0))
    z = np.where(np.isnan(z), np.inf, z)  # a NaN sample is no agreement
    name = "exact theory (depth 1)" if arch.depth == 1 else "leading 1/N theory"
    return TheoryCheck(tuple(lab for p in parts for lab in p[3]), sampled, errors, theory,
                       truncation, z, z_threshold(len(z), n_bins), name)
