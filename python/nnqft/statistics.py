"""Jackknife and generalised-least-squares statistics shared by the fit, the flow and the study.

Every estimate in nnqft comes with delete-one-bin jackknife replicas over fixed bins
(:class:`nnqft.Correlators`); this module turns replicas into covariances and errors,
weights for generalised least squares (the bin covariance shrunk toward its diagonal
with the Schäfer-Strimmer intensity, re-estimated in every replica), and the split-half
Hotelling test of residuals.  The reasoning behind each choice, with the simulations
that chose it, is in the docstring of :mod:`nnqft.fit`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from ._resources import physical_memory

__all__ = [
    "FixedWeights",
    "GLSWeights",
    "GLS_MATRICES",
    "MODE_RCOND",
    "bin_deviations",
    "check_dense_size",
    "check_gls_size",
    "hotelling_chi2",
    "jackknife_covariance",
    "jackknife_errors",
    "leading_modes",
    "shrink",
    "shrinkage_intensity",
]

FloatArray = NDArray[np.float64]

#: Residual modes below this fraction of the data's largest mode are numerically zero.
MODE_RCOND = 1e-10
#: T x T matrices :class:`GLSWeights` holds at its peak (sample covariance, two factors).
GLS_MATRICES = 3


def check_dense_size(n_values: float, what: str, remedy: str) -> None:
    """Refuse a dense float64 array of ``n_values`` entries that would not fit in memory.

    The limit is a quarter of the physical memory, checked before the work: a 30-input
    order-4 fit formed several 40920 x 40920 matrices and crashed inside OpenBLAS.
    ``what`` names the array (``"the covariance of 40920 tuples"``); ``remedy`` says what
    the caller can do instead.
    """
    need = 8.0 * float(n_values)
    memory = physical_memory()
    if need > 0.25 * memory:
        raise ValueError(
            f"{what} would need {need / 2**30:.3g} GiB, more than a quarter of this "
            f"machine's {memory / 2**30:.3g} GiB; {remedy}")


def jackknife_covariance(replicas: FloatArray) -> FloatArray:
    """Covariance of an estimate from its delete-one-bin replicas, shape ``(B, T)``.

    ``(B - 1) / B * sum_b (theta_b - mean)(theta_b - mean)^T``.
    """
    r = np.asarray(replicas, dtype=np.float64)
    b, t = r.shape
    check_dense_size(t * t, f"the covariance of {t} values",
                     "use jackknife_errors() for standard errors without the matrix")
    d = r - r.mean(axis=0)
    cov: FloatArray = (b - 1) / b * (d.T @ d)
    return cov


def jackknife_errors(replicas: FloatArray) -> FloatArray:
    """Return the standard errors of replicas (diagonal of the jackknife covariance)."""
    b = len(replicas)
    spread = ((replicas - replicas.mean(axis=0)) ** 2).sum(axis=0)
    return np.asarray(np.sqrt((b - 1) / b * spread), dtype=np.float64)


def leading_modes(deviations: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (descending, of the covariance of the mean) and eigenvectors (rows).

    With fewer bins than tuples the (B, B) Gram matrix of the centred bin deviations is
    decomposed instead of the rank-deficient T x T covariance (LAPACK is slow on such
    clustered spectra, and the SVD with vectors is slow under thread contention);
    squaring costs accuracy only below ~1e-16 of the largest mode, far under the cut.
    """
    b, t = deviations.shape
    centred = deviations - deviations.mean(axis=0)
    if b > t:
        ev, vec = np.linalg.eigh(centred.T @ centred)
        return np.maximum(ev[::-1], 0.0) / ((b - 1) * b), vec[:, ::-1].T
    gram_ev, gram_vec = np.linalg.eigh(centred @ centred.T)
    gram_ev, gram_vec = gram_ev[::-1], gram_vec[:, ::-1]
    positive = gram_ev > 0
    vectors = (centred.T @ gram_vec[:, positive] / np.sqrt(gram_ev[positive])).T
    return gram_ev[positive] / ((b - 1) * b), vectors


def hotelling_chi2(
    residual: FloatArray, residual_replicas: FloatArray, data_replicas: FloatArray
) -> tuple[float, int, float, str]:
    """Split-half Hotelling test of a residual vector (see :mod:`nnqft.fit`).

    The directions are the leading modes of the residual covariance estimated from the
    even bins; the covariance along them comes from the odd bins, independent of the
    directions, so ``T^2`` follows Hotelling's law exactly for Gaussian bins (choosing
    the directions and their variances from the same bins makes chi2 depend on the
    eigenvalue spectrum: too small or too large by factors of 2 in simulations).

    Returns
    -------
    chi2, ndof, pvalue, note : float, int, float, str
        ``T^2 (n - q - 1) / n`` (mean ``q`` for a right model, ``n + 1`` odd bins),
        ``q``, the p-value of ``T^2`` under Hotelling's law, and how it was formed.
    """
    n_bins = len(residual_replicas)
    scale = jackknife_errors(data_replicas)
    data_top = float(leading_modes(bin_deviations(data_replicas) / scale)[0][0])
    deviations = bin_deviations(residual_replicas) / scale
    even, odd = deviations[0::2], deviations[1::2]
    ev, directions = leading_modes(even)
    n = len(odd) - 1  # degrees of freedom of the odd-bin covariance
    cap = n // 2
    above = int(np.count_nonzero(ev > MODE_RCOND * data_top))
    q = min(above, cap)
    if q == 0:
        return 0.0, 0, math.nan, f"no residual mode above {MODE_RCOND:g}: chi2 = 0, ndof = 0"
    projected = (odd - odd.mean(axis=0)) @ directions[:q].T
    cov = projected.T @ projected / (n * n_bins)  # covariance of the mean along the modes
    z = directions[:q] @ (residual / scale)
    from scipy import stats  # deferred: scipy.stats alone doubles `import nnqft`

    t2 = float(z @ np.linalg.solve(cov, z))
    pvalue = float(stats.f.sf(t2 * (n - q + 1) / (n * q), q, n - q + 1))
    # T^2 (n - q - 1) / n has mean q for a right model, like chi2(q), and grows in
    # proportion to the misfit. (The chi2(q) value of equal p-value, quoted before, grows
    # only like (n - q + 1) ln T^2, the F law's tail being a power: T^2 = 4e4 read ~150.)
    chi2 = t2 * (n - q - 1) / n
    note = (
        f"χ²: Hotelling T² = {t2:.4g} of the residuals in q = {q} leading modes (even "
        f"bins; {above} above {MODE_RCOND:g}, cap {cap}) with the odd-bin covariance "
        f"(n = {n}), quoted as T²·(n − q − 1)/n (mean q for a right model); p-value "
        "from Hotelling's law"
    )
    return chi2, q, pvalue, note


def bin_deviations(replicas: FloatArray) -> FloatArray:
    """Per-bin deviations ``m_b - mean`` recovered from delete-one-bin replicas."""
    return np.asarray(-(len(replicas) - 1) * (replicas - replicas.mean(axis=0)), dtype=np.float64)


def shrinkage_intensity(dev: FloatArray) -> float:
    """Schäfer-Strimmer intensity for shrinking correlations to zero (target D)."""
    n = len(dev)
    z = dev / dev.std(axis=0, ddof=1)
    r = z.T @ z / (n - 1)
    w2 = (z**2).T @ (z**2)
    var_r = n / (n - 1) ** 3 * (w2 - n * (r * (n - 1) / n) ** 2)
    off = ~np.eye(len(r), dtype=bool)
    denominator = float((r[off] ** 2).sum())
    if denominator == 0:
        return 1.0
    return float(np.clip(var_r[off].sum() / denominator, 0.0, 1.0))


def shrink(cov: FloatArray, intensity: float) -> FloatArray:
    """``(1 - intensity) cov + intensity diag(cov)``: correlations shrunk toward zero."""
    out: FloatArray = (1 - intensity) * cov + intensity * np.diag(np.diag(cov))
    return out


def check_gls_size(t: int) -> None:
    """Refuse GLS weights of ``t`` tuples that would not fit in memory (before any work)."""
    check_dense_size(GLS_MATRICES * t * t,
                     f"GLS weights of {t} tuples ({GLS_MATRICES} {t} x {t} matrices)",
                     "fit fewer inputs (order-n tuples grow as k^n / n!: 126 for order 4 on "
                     "6 inputs, 40920 on 30), or fit with weights='kernel' (fixed weights, "
                     "no T x T matrix), or use nnqft.diagnostics.per_tuple_couplings()")


class GLSWeights:
    """Shrunk inverse covariance of one data vector, for the full sample and each replica.

    Replica ``b`` leaves bin ``b`` out: its sample covariance is a rank-one downdate of
    the full one, ``S_b = ((B-1) S - B/(B-1) v_b v_b^T)/(B-2)``, so with the intensity and
    the diagonal held at their full-sample values ``C_b = C' - c v_b v_b^T`` with one
    common ``C'`` and Sherman-Morrison gives every ``C_b^{-1}`` from one factorisation.

    Parameters
    ----------
    replicas : ndarray, shape (B, T)
        Delete-one-bin replicas of the data vector.
    shrinkage : float or None
        Shrinkage intensity; None estimates it (:func:`shrinkage_intensity`).
    """

    def __init__(self, replicas: FloatArray, shrinkage: float | None) -> None:
        b, t = replicas.shape
        check_gls_size(t)
        dev = bin_deviations(replicas)
        sd = dev.std(axis=0, ddof=1)
        self.active = sd > 0  # a tuple known exactly in every bin carries no weight
        if not self.active.any():
            raise ValueError("no tuple has a non-zero jackknife variance: nothing to weight")
        dev = dev[:, self.active]
        self.lam = shrinkage_intensity(dev) if shrinkage is None else float(shrinkage)
        s = dev.T @ dev / (b - 1)
        diag = self.lam * np.diag(s)
        full, common = (1 - self.lam) * s, (1 - self.lam) * (b - 1) / (b - 2) * s
        del s  # GLS_MATRICES T x T matrices at the peak: s, full, common
        for matrix in (full, common):
            matrix[np.diag_indices_from(matrix)] += diag
        try:
            self._full = linalg.cho_factor(full, overwrite_a=True)
            self._common = linalg.cho_factor(common, overwrite_a=True)
        except linalg.LinAlgError:
            raise ValueError(
                f"the jackknife covariance of {dev.shape[1]} tuples from {b} bins is "
                f"singular with shrinkage {self.lam:g}: use shrinkage=None (estimated) or > 0"
            ) from None
        self._c = (1 - self.lam) * b / ((b - 1) * (b - 2))
        self._dev = dev
        self._u = linalg.cho_solve(self._common, dev.T).T  # C'^{-1} v_b, shape (B, T)
        self._denominator = 1.0 - self._c * (dev * self._u).sum(axis=1)

    def fit(
        self, design: FloatArray, y: FloatArray, refit: FloatArray, fixed: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """GLS estimate, replicas with re-estimated weights, replicas with fixed weights.

        ``refit`` and ``fixed`` are (B, T) data replicas (they differ only when the data
        depend on an earlier fitted coupling, as for kappa6 - u4^2 E6).
        """
        a = self.active
        x, y, refit, fixed = design[a], y[a], refit[:, a], fixed[:, a]
        z = linalg.cho_solve(self._full, x)
        normal = x.T @ z
        operator = np.linalg.solve(normal, z.T)  # (p, T): estimate = operator @ data
        zc = linalg.cho_solve(self._common, x)
        vz = self._dev @ zc  # (B, p) = v_b^T C'^{-1} X
        gain = self._c / self._denominator
        normals = x.T @ zc + gain[:, None, None] * vz[:, :, None] * vz[:, None, :]
        uy = (self._u * refit).sum(axis=1)
        rhs = refit @ zc + (gain * uy)[:, None] * vz
        refit_estimates = np.linalg.solve(normals, rhs[..., None])[..., 0]
        return operator @ y, refit_estimates, fixed @ operator.T

    def condition(self, design: FloatArray) -> float:
        """Condition number of the normal equations of ``design`` (columns normalised)."""
        x = design[self.active]
        normal = x.T @ linalg.cho_solve(self._full, x)
        scale = np.sqrt(np.diag(normal))
        return float(np.linalg.cond(normal / np.outer(scale, scale)))


class FixedWeights:
    """Fixed diagonal least-squares weights, the same for every sample and for theory.

    The estimate is one fixed linear map of the data, so a sampled fit and the fit of
    exact correlators estimate the same functional, and the jackknife error of the sampled
    one is the error of their difference: ``(sampled - theory) / error`` is a z-score
    whether or not the fitted model describes the data (with GLS weights estimated from
    the sample it is not; see :func:`nnqft.fit.compare_with_theory`).

    Parameters
    ----------
    weights : ndarray, shape (T,)
        Non-negative weight of each tuple.
    replicas : ndarray, shape (B, T), or None
        Jackknife replicas of sampled data (they set which tuples enter the chi2 test);
        None for exact data.
    """

    lam = math.nan  # no shrinkage (the attribute GLSWeights reports)

    def __init__(self, weights: FloatArray, replicas: FloatArray | None) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        if replicas is None:
            self.active = self.weights > 0
        else:  # chi2 needs a non-zero error; tuples known exactly still enter the estimate
            self.active = jackknife_errors(replicas) > 0

    def operator(self, design: FloatArray) -> FloatArray:
        """The (p, T) map from data to estimate: ``(X^T W X)^-1 X^T W``."""
        weighted = design * self.weights[:, None]
        return np.asarray(np.linalg.solve(design.T @ weighted, weighted.T), dtype=np.float64)

    def fit(
        self, design: FloatArray, y: FloatArray, refit: FloatArray, fixed: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Estimate and the two kinds of replicas (:meth:`GLSWeights.fit`'s interface)."""
        operator = self.operator(design)
        return operator @ y, refit @ operator.T, fixed @ operator.T

    def condition(self, design: FloatArray) -> float:
        """Condition number of the normal equations of ``design`` (columns normalised)."""
        normal = design.T @ (design * self.weights[:, None])
        scale = np.sqrt(np.diag(normal))
        return float(np.linalg.cond(normal / np.outer(scale, scale)))
