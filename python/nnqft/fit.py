"""Couplings of the effective action, fitted to connected correlators with their covariance.

Convention (design.md): ``Gamma ⊃ int (u4/4!) phi^4 + (u6/6!) phi^6``; at tree level

* ``kappa4 = -u4 I4 - d2 J4 - v B4`` with the local vertex integral ``I4``, the
  second-moment template ``J4 = int |y|^2 prod K_EFT`` (coupling ``(u4 + d2 |y|^2)/4!``)
  and the bilocal template ``B4`` (term ``(v/8) int int phi(y)^2 phi(z)^2``), see
  :mod:`nnqft.vertex`.  ``d2`` is HMS's ``T2`` template of physics.md §3.5: a
  position-dependent quartic coupling, not a gradient term such as ``(d phi)^2 phi^2``;
  with ``v`` it probes how far the data are from a constant local coupling;
* ``kappa6 = -u6 I6 + u4**2 E6`` at O(1/N^2), ``E6`` the two-vertex exchange diagram.

Procedure
---------
The fit is sequential, mirroring the Legendre transform (``Gamma4`` is fixed by ``W4``
alone, ``Gamma6`` by ``W6`` given ``Gamma4``): the quartic terms are fitted to
``kappa4``; then ``u6`` to ``kappa6 - u4**2 E6``.  A joint fit would let the
O(1/N^2) six-point data, whose local description is the cruder one, pull ``u4``.  The
uncertainty of ``u4`` and its correlation with ``kappa6`` reach ``u6`` through the
jackknife: every replica repeats both steps on the same bins.

Sampled correlators (generalised least squares)
    * Weights: the jackknife covariance of the data is singular whenever the number of
      bins ``B`` does not exceed the number of tuples (``B = 64`` against 126 or 462), so
      it is shrunk toward its diagonal, ``C = (1 - lam) S + lam diag(S)``, with the
      intensity ``lam`` of Schäfer & Strimmer (2005, "target D"), estimated from the bins.
    * Errors: delete-one-bin jackknife in which every replica also re-estimates its
      weights (rank-one downdate of ``S``, ``lam`` and the diagonal held fixed).  With
      weights held fixed the jackknife ignores that the weights come from the same bins
      and under-covers (pull widths 1.1-1.2 in simulations at ``B = 64``, ``T = 126``);
      with re-estimated weights the pull width was 0.87-1.0 (0.98-0.99 for u4 and u6
      on the test-suite's synthetic data).
    * Goodness of fit: no covariance estimated from ``B`` bins can be inverted in more
      than ``B - 1`` directions, and choosing directions and their variances from the
      same bins biases chi2 (by factors ~2 either way, depending on the spectrum, in
      simulations).  So the residual vector (in units of the data's standard errors) is
      projected on the ``q`` leading modes of its covariance estimated from the even
      bins, and ``T^2`` is formed with the covariance of the odd bins along those modes:
      for Gaussian bins this is exactly Hotelling's ``T^2(q, n)``, ``n = B/2 - 1``.
      Modes below ``1e-10`` of the data's largest mode are numerically zero, and
      ``q <= n // 2``.  ``chi2`` is quoted as ``T^2 (n - q - 1) / n``, whose mean is
      ``ndof = q`` for a right model (``chi2/ndof ~ 1``, spread wider than ``chi2(q)``'s:
      +-0.55 rather than +-0.37 at ``q = 15``, ``n = 31``) and which grows in proportion
      to the misfit; the p-value is Hotelling's.  (The ``chi2(q)`` value of equal
      p-value grows only logarithmically in ``T^2``, the F law having a power tail with
      ``n`` this small: every bad fit read ~150-190.)  ``ndof = 0`` means the data
      carry no information beyond the fitted couplings (e.g. ReLU with ``sigma_b = 0`` at
      positive inputs: every network is linear and all tuples are one number times
      ``prod x``).  In simulations with ``B = 64`` and ``400`` bins the rate of
      ``p < 0.05`` was 2.5-7 %.
Exact correlators (a dict ``{4: kappa4, 6: kappa6}``)
    Ordinary least squares; errors are 0, ``chi2`` is the residual sum of squares and
    ``ndof = T - p``; the p-value is NaN.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import render
from ._result import Result
from ._validation import as_inputs, checked
from .architecture import Architecture, check_arch
from .io import json_record, prefixed
from .statistics import (
    FixedWeights,
    GLSWeights,
    check_gls_size,
    hotelling_chi2,
    jackknife_covariance,
)
from .theory import exact, kernel
from .tuples import n_tuples, tuples
from .vertex import (
    bilocal_integral,
    exchange_integral,
    moment_integral,
    vertex_integral,
)

__all__ = [
    "CONVENTION",
    "TERMS",
    "CouplingFit",
    "CutoffScan",
    "TheoryComparison",
    "compare_with_theory",
    "cutoff_scan",
    "fit_couplings",
    "fit_exact_like",
    "kernel_weights",
    "theory_connected",
    "theory_label",
    "theory_order",
    "hms_kappa",
    "hms_lambda",
    "u4_from_hms_lambda",
    "u6_from_hms_kappa",
]

FloatArray = NDArray[np.float64]

#: The normalisation every result carries.
CONVENTION = "ELS: Γ ⊃ u4/4! φ⁴ + u6/6! φ⁶; ΔG4 = −u4 ∫ΠK_EFT over [−Λ,Λ]^d"
#: Quartic terms (fitted to kappa4) and all fit terms.
QUARTIC_TERMS = ("u4", "d2", "bilocal")
TERMS = QUARTIC_TERMS + ("u6",)
#: How fits with ``weights="kernel"`` are weighted (their regularisation note).
_KERNEL_WEIGHTS_NOTE = ("fixed weights 1/∏ᵢ K(xᵢ, xᵢ) per tuple, the same for every sample and "
                        "for theory")
#: HMS names and factors: S ⊃ lambda phi^4 + kappa phi^6 + lambda_2 |y|^2 phi^4 + l_NL phi^2 phi^2.
_HMS = {"u4": ("lambda", 24.0), "u6": ("kappa", 720.0), "d2": ("lambda_2", 24.0),
        "bilocal": ("lambda_nl", 8.0)}


# -- conventions -------------------------------------------------------------------------
def hms_lambda(u4: Any) -> Any:
    """HMS quartic coupling ``lambda = u4 / 24`` (``S ⊃ lambda phi^4``)."""
    return u4 / 24.0


def hms_kappa(u6: Any) -> Any:
    """HMS sextic coupling ``kappa = u6 / 720`` (``S ⊃ kappa phi^6``)."""
    return u6 / 720.0


def u4_from_hms_lambda(lam: Any) -> Any:
    """Inverse of :func:`hms_lambda`: ``u4 = 24 lambda``."""
    return 24.0 * lam


def u6_from_hms_kappa(kappa: Any) -> Any:
    """Inverse of :func:`hms_kappa`: ``u6 = 720 kappa``."""
    return 720.0 * kappa


# -- result objects ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CouplingFit(Result, kind="coupling_fit"):
    """Couplings fitted to connected correlators.

    Attributes
    ----------
    values, errors : dict of str to float
        Fitted couplings and their standard errors, keyed by term name
        (``"u4"``, ``"d2"``, ``"bilocal"``, ``"u6"``).
    covariance : ndarray, shape (p, p)
        Jackknife covariance of the couplings, rows in the order of ``parameters``.
    parameters : tuple of str
        Term order of ``covariance``.
    chi2 : float
        Goodness of fit (module docstring); the residual sum of squares for exact data.
    ndof : int
        Degrees of freedom of ``chi2``.
    pvalue : float
        Probability of a larger ``chi2`` if the model is right; NaN without errors or
        without degrees of freedom.
    valid : bool
        Whether the normal equations were well conditioned and every number is finite.
    regularisation : str
        How the covariance was regularised and the errors and chi2 were obtained.
    convention : str
        Normalisation of the couplings (:data:`CONVENTION`).
    cutoff : float
        Half-width of the vertex box ``[-Λ, Λ]^d``.
    replicas : ndarray, shape (B, p), or None
        Delete-one-bin jackknife replicas of the couplings (columns as ``parameters``),
        for propagating them into derived quantities; None for exact data.
    """

    values: dict[str, float]
    errors: dict[str, float]
    covariance: FloatArray
    parameters: tuple[str, ...]
    chi2: float
    ndof: int
    pvalue: float
    valid: bool
    regularisation: str
    convention: str
    cutoff: float
    replicas: FloatArray | None = dataclasses.field(default=None, repr=False)

    @property
    def correlation(self) -> FloatArray:
        """Correlation matrix of the couplings (zeros where an error is 0)."""
        err = np.sqrt(np.diag(self.covariance))
        scale = np.outer(err, err)
        out = np.zeros_like(scale)
        np.divide(self.covariance, scale, out=out, where=scale > 0)
        return out

    def to_hms(self) -> dict[str, tuple[float, float]]:
        """Values and errors in the HMS normalisation, keyed by the HMS names.

        ``lambda = u4/24``, ``kappa = u6/720``, ``lambda_2 = d2/24`` and
        ``lambda_nl = v/8`` (HMS: ``S ⊃ lambda phi^4 + kappa phi^6 + ...``).
        """
        return {
            _HMS[t][0]: (self.values[t] / _HMS[t][1], self.errors[t] / _HMS[t][1])
            for t in self.parameters
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result (without the replicas; NaN/inf as None)."""
        return json_record({
            "values": dict(self.values),
            "errors": dict(self.errors),
            "covariance": self.covariance.tolist(),
            "parameters": list(self.parameters),
            "chi2": self.chi2,
            "ndof": self.ndof,
            "pvalue": self.pvalue,
            "valid": self.valid,
            "regularisation": self.regularisation,
            "convention": self.convention,
            "cutoff": self.cutoff,
        })

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        meta = {"parameters": list(self.parameters), "ndof": self.ndof, "valid": self.valid,
                "regularisation": self.regularisation, "convention": self.convention}
        # numbers that may be NaN or inf go in arrays (exact round trip)
        arrays = {"values": np.array([self.values[t] for t in self.parameters]),
                  "errors": np.array([self.errors[t] for t in self.parameters]),
                  "covariance": np.asarray(self.covariance),
                  "scalars": np.array([self.chi2, self.pvalue, self.cutoff])}
        if self.replicas is not None:
            arrays["replicas"] = np.asarray(self.replicas)
        return meta, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> CouplingFit:
        names = tuple(meta["parameters"])
        chi2, pvalue, cutoff = (float(v) for v in arrays["scalars"])
        return cls(values=dict(zip(names, map(float, arrays["values"]), strict=True)),
                   errors=dict(zip(names, map(float, arrays["errors"]), strict=True)),
                   covariance=arrays["covariance"], parameters=names, chi2=chi2,
                   ndof=int(meta["ndof"]), pvalue=pvalue, valid=bool(meta["valid"]),
                   regularisation=meta["regularisation"], convention=meta["convention"],
                   cutoff=cutoff, replicas=arrays.get("replicas"))

    def _header(self) -> list[str]:
        status = "valid" if self.valid else "INVALID"
        return [
            f"CouplingFit ({status}), cutoff Λ = {self.cutoff:g}",
            f"χ²/ndof = {self.chi2:.4g}/{self.ndof}, p-value = {self.pvalue:.3g}",
            self.convention,
            *textwrap.wrap(self.regularisation, 88),
        ]

    def __repr__(self) -> str:
        values = ", ".join(f"{t}={render.value_error(self.values[t], self.errors[t], 4)}"
                           for t in self.parameters)
        status = "" if self.valid else " INVALID"
        return (f"<CouplingFit{status} {values}; χ²/ndof={self.chi2:.3g}/{self.ndof}, "
                f"Λ={self.cutoff:g}>")

    def _tables(self) -> list[render.Table]:
        rows = [(t, f"{self.values[t]:.6e}", f"{self.errors[t]:.3e}") for t in self.parameters]
        return [render.Table(self._header(), ("term", "value", "error"), rows)]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CutoffScan(Result, kind="cutoff_scan"):
    """Couplings over a list of cutoffs and their log-log slopes.

    Attributes
    ----------
    cutoffs : ndarray
        The cutoffs ``Λ``.
    fits : tuple of CouplingFit
        One fit per cutoff.
    slopes, slope_errors : dict of str to float
        ``d log|c| / d log Λ`` of every coupling ``c`` (least-squares line through all
        cutoffs) and its jackknife error: the same bins enter every cutoff, so the
        replicas carry the correlations between cutoffs.
    intercepts : dict of str to float
        ``log10 |c|`` of the line at ``Λ = 1``.
    """

    cutoffs: FloatArray
    fits: tuple[CouplingFit, ...]
    slopes: dict[str, float]
    slope_errors: dict[str, float]
    intercepts: dict[str, float]

    def values(self, term: str) -> FloatArray:
        """Fitted values of ``term`` at every cutoff."""
        return np.array([f.values[term] for f in self.fits])

    def errors(self, term: str) -> FloatArray:
        """Errors of ``term`` at every cutoff."""
        return np.array([f.errors[term] for f in self.fits])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the per-cutoff fits as :meth:`CouplingFit.to_dict`)."""
        return json_record({
            "cutoffs": self.cutoffs,
            "fits": [f.to_dict() for f in self.fits],
            "slopes": dict(self.slopes),
            "slope_errors": dict(self.slope_errors),
            "intercepts": dict(self.intercepts),
        })

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        terms = list(self.slopes)
        arrays = {"cutoffs": np.asarray(self.cutoffs),
                  "slopes": np.array([[self.slopes[t], self.slope_errors[t], self.intercepts[t]]
                                      for t in terms])}
        fits = []
        for i, fit in enumerate(self.fits):
            meta, fit_arrays = fit._to_file()
            fits.append(meta)
            arrays.update({f"fit{i}:{name}": a for name, a in fit_arrays.items()})
        return {"terms": terms, "fits": fits}, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> CutoffScan:
        fits = tuple(CouplingFit._from_file(m, prefixed(arrays, f"fit{i}"))
                     for i, m in enumerate(meta["fits"]))
        slopes, errors, intercepts = ({t: float(row[j]) for t, row
                                       in zip(meta["terms"], arrays["slopes"], strict=True)}
                                      for j in range(3))
        return cls(cutoffs=arrays["cutoffs"], fits=fits, slopes=slopes, slope_errors=errors,
                   intercepts=intercepts)

    def _rows(self) -> list[tuple[str, ...]]:
        terms = self.fits[0].parameters
        return [
            (f"{lam:g}",) + tuple(f"{f.values[t]:.4e} ± {f.errors[t]:.2e}" for t in terms)
            + (f"{f.chi2:.3g}/{f.ndof}",)
            for lam, f in zip(self.cutoffs, self.fits, strict=True)
        ]

    def _header(self) -> list[str]:
        terms = self.fits[0].parameters
        slopes = ", ".join(f"{t}: {self.slopes[t]:.4f} ± {self.slope_errors[t]:.2g}" for t in terms)
        return [f"CutoffScan over {len(self.cutoffs)} cutoffs",
                f"slopes d log|c|/d log Λ: {slopes}"]

    def __repr__(self) -> str:
        slopes = ", ".join(f"{t}: {render.value_error(self.slopes[t], self.slope_errors[t], 4)}"
                           for t in self.slopes)
        return (f"<CutoffScan over {len(self.cutoffs)} cutoffs Λ in [{self.cutoffs.min():g}, "
                f"{self.cutoffs.max():g}]; slopes {slopes}>")

    def _tables(self) -> list[render.Table]:
        cols = ("Λ",) + self.fits[0].parameters + ("χ²/ndof",)
        return [render.Table(self._header(), cols, self._rows())]


# -- data access ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Data:
    """Connected correlators per order, with jackknife replicas (None for exact values)."""

    values: dict[int, FloatArray]
    replicas: dict[int, FloatArray] | None

    @property
    def n_bins(self) -> int:
        return 0 if self.replicas is None else len(next(iter(self.replicas.values())))


def read_connected(corr: Any, arch: Architecture, xs: FloatArray, orders: Sequence[int]) -> _Data:
    """Read the connected correlators of the requested orders from ``corr``.

    ``corr`` is a dict ``{order: exact values}`` or a sampled correlator object (values
    and jackknife replicas); used by the fits here and by :mod:`nnqft.diagnostics`.
    """
    k = len(xs)
    if isinstance(corr, Mapping):
        values = {}
        for n in orders:
            if n not in corr:
                raise ValueError(f"exact correlators need order {n}; got orders {sorted(corr)}")
            v = np.asarray(corr[n], dtype=np.float64)
            if v.shape != (n_tuples(k, n),):
                raise ValueError(
                    f"order-{n} values must have shape ({n_tuples(k, n)},) for k = {k} "
                    f"inputs, got {v.shape}"
                )
            values[n] = v
        return _Data(values, None)
    for name in ("connected", "replicas"):
        if not callable(getattr(corr, name, None)):
            raise TypeError(
                "corr must be a dict {order: connected values} or a sampled correlator "
                f"object with connected() and replicas(); got {type(corr).__name__}"
            )
    _check_same_setup(corr, arch, xs)
    values = {n: np.asarray(corr.connected(n)[0], dtype=np.float64) for n in orders}
    replicas = {n: np.asarray(corr.replicas(n, connected=True), dtype=np.float64) for n in orders}
    bins = {len(r) for r in replicas.values()}
    if len(bins) != 1 or min(bins) < 4:
        raise ValueError(f"need >= 4 jackknife bins shared by all orders, got {sorted(bins)}")
    return _Data(values, replicas)


def _check_same_setup(corr: Any, arch: Architecture, xs: FloatArray) -> None:
    other = getattr(corr, "arch", None)
    if other is not None and other != arch:
        raise ValueError(f"corr was sampled for {other!r}, not for {arch!r}")
    cx = getattr(corr, "x", None)
    if cx is not None:
        cx = np.asarray(cx, dtype=np.float64)
        if cx.size != xs.size or not np.allclose(cx.reshape(xs.shape), xs, rtol=1e-12, atol=0):
            raise ValueError("corr was sampled on different inputs than x")


# -- linear fits ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Step:
    """One linear fit: estimate, replicas, residuals (all on the active tuples)."""

    estimate: FloatArray
    refit: FloatArray | None  # (B, p) replicas with re-estimated weights
    fixed: FloatArray | None  # (B, p) replicas with fixed weights
    residual: FloatArray
    residual_replicas: FloatArray | None
    data_replicas: FloatArray | None
    condition: float


def _fit_step(
    design: FloatArray,
    y: FloatArray,
    weights: GLSWeights | FixedWeights | None,
    refit: FloatArray | None = None,
    fixed: FloatArray | None = None,
) -> _Step:
    if refit is None or fixed is None:  # exact data
        if weights is None:  # ordinary least squares
            estimate = np.linalg.lstsq(design, y, rcond=None)[0]
            cond = float(np.linalg.cond(design / np.linalg.norm(design, axis=0))) ** 2
        else:
            assert isinstance(weights, FixedWeights)  # GLS weights need replicas
            estimate, cond = weights.operator(design) @ y, weights.condition(design)
        residual = np.asarray(y - design @ estimate, dtype=np.float64)
        return _Step(np.asarray(estimate, dtype=np.float64), None, None, residual, None, None, cond)
    assert weights is not None
    estimate, refit_est, fixed_est = weights.fit(design, y, refit, fixed)
    a = weights.active
    residual = y[a] - design[a] @ estimate
    residual_replicas = fixed[:, a] - fixed_est @ design[a].T
    return _Step(estimate, refit_est, fixed_est, residual, residual_replicas, fixed[:, a],
                 weights.condition(design))


def _present(array: FloatArray | None) -> FloatArray:
    """Narrow an optional replica array that a sampled fit always has."""
    assert array is not None
    return array


# -- templates -------------------------------------------------------------------------------
def check_terms(terms: Any) -> tuple[str, ...]:
    """The fit's term names, checked and in canonical order (:data:`TERMS`).

    A single name may be given as a string.  Raises ValueError on unknown or repeated
    names, on no quartic term, and on u6 without u4 or with the non-local terms.
    """
    if isinstance(terms, str):
        terms = (terms,)
    terms = tuple(terms)
    unknown = [t for t in terms if t not in TERMS]
    if unknown or len(set(terms)) != len(terms) or not terms:
        raise ValueError(f"terms must be distinct names from {TERMS}, got {terms!r}")
    if not any(t in QUARTIC_TERMS for t in terms):
        raise ValueError(f"terms need at least one quartic term {QUARTIC_TERMS}, got {terms!r}")
    if "u6" in terms and "u4" not in terms:
        raise ValueError("u6 needs u4 (kappa6 = -u6 I6 + u4**2 E6)")
    if "u6" in terms and set(terms) & {"d2", "bilocal"}:
        raise ValueError(
            "u6 is fitted after subtracting the local u4**2 exchange diagram; the "
            "O(1/N^2) diagrams of the non-local quartic terms d2/bilocal are not "
            "implemented, so fit u6 together with u4 only"
        )
    return tuple(t for t in TERMS if t in terms)  # canonical order


def _quartic_design(
    arch: Architecture, xs: FloatArray, cutoff: float, terms: tuple[str, ...], rtol: float
) -> FloatArray:
    """Columns ``d kappa4 / d coupling`` for the quartic terms in ``terms``."""
    make = {
        "u4": lambda: vertex_integral(arch, xs, 4, cutoff, rtol=rtol),
        "d2": lambda: moment_integral(arch, xs, 4, cutoff, rtol=rtol),
        "bilocal": lambda: bilocal_integral(arch, xs, cutoff, rtol=rtol),
    }
    columns = [-make[t]() for t in terms if t in QUARTIC_TERMS]
    design = np.stack(columns, axis=1)
    _check_independent(design, [t for t in terms if t in QUARTIC_TERMS])
    return design


def _check_independent(design: FloatArray, names: Sequence[str]) -> None:
    norms = np.linalg.norm(design, axis=0)
    if np.any(norms == 0):
        raise ValueError(f"a template of {list(names)} vanishes on every tuple of these inputs")
    sv = np.linalg.svd(design / norms, compute_uv=False)
    if sv[-1] < 1e-9 * sv[0]:
        raise ValueError(
            f"the templates of {list(names)} are linearly dependent on these inputs "
            "(e.g. ReLU with sigma_b = 0 at positive d_in = 1 inputs: every template is "
            "proportional to prod x); drop a term"
        )


# -- the fit -----------------------------------------------------------------------------------
@dataclasses.dataclass
class _Prepared:
    """Data and weights shared by fits at several cutoffs."""

    arch: Architecture
    xs: FloatArray
    terms: tuple[str, ...]
    data: _Data
    weights: dict[int, GLSWeights] | dict[int, FixedWeights]


def check_fit_size(k: int, terms: Sequence[str]) -> None:
    """Refuse a GLS fit whose T x T weights would not fit in memory, before any work.

    A ValueError naming the size, for ``terms`` fitted on ``k`` inputs (checked by
    :func:`fit_couplings` and by :func:`nnqft.sigma_flow` before it samples).
    """
    for n in (4, 6) if "u6" in check_terms(terms) else (4,):
        check_gls_size(n_tuples(k, n))


def kernel_weights(arch: Architecture, xs: FloatArray, n: int) -> FloatArray:
    """Fixed weights ``1 / prod_i K(x_i, x_i)`` of the order-n tuples (0 where K vanishes).

    The natural scale of a connected correlator and of its noise is the product of the
    outputs' standard deviations at the tuple's inputs; these weights make every tuple
    count by its relative size, and depend on the ensemble and the inputs alone.
    """
    scale = np.prod(np.diag(kernel(arch, xs))[tuples(len(xs), n)], axis=1)
    out: FloatArray = np.zeros_like(scale)
    np.divide(1.0, scale, out=out, where=scale > 0)
    return out


def _prepare(
    corr: Any, arch: Architecture, x: Any, terms: Any, shrinkage: float | None,
    weighting: str = "gls",
) -> _Prepared:
    check_arch(arch)
    shrinkage = checked("shrinkage", shrinkage)
    if weighting not in ("gls", "kernel"):
        raise ValueError(f"weights must be 'gls' or 'kernel', got {weighting!r}")
    terms = check_terms(terms)
    xs = as_inputs(x, arch.d_in)
    orders = (4, 6) if "u6" in terms else (4,)
    if weighting == "gls" and not isinstance(corr, Mapping):  # exact: no T x T matrix
        check_fit_size(len(xs), terms)
    data = read_connected(corr, arch, xs, orders)
    weights: dict[int, GLSWeights] | dict[int, FixedWeights] = {}
    if weighting == "kernel":
        weights = {n: FixedWeights(kernel_weights(arch, xs, n),
                                   None if data.replicas is None else data.replicas[n])
                   for n in orders}
    elif data.replicas is not None:
        weights = {n: GLSWeights(data.replicas[n], shrinkage) for n in orders}
    return _Prepared(arch, xs, terms, data, weights)


def _fit(prep: _Prepared, cutoff: float, rtol: float) -> CouplingFit:
    terms, data = prep.terms, prep.data
    sampled = data.replicas is not None
    design4 = _quartic_design(prep.arch, prep.xs, cutoff, terms, rtol)
    r4 = data.replicas[4] if sampled else None  # type: ignore[index]
    step4 = _fit_step(design4, data.values[4], prep.weights.get(4), r4, r4)
    steps = [step4]
    if "u6" in terms:
        steps.append(_fit_u6(prep, cutoff, rtol, terms.index("u4"), step4))
    estimate = np.concatenate([s.estimate for s in steps])
    values = {t: float(v) for t, v in zip(terms, estimate, strict=True)}
    if not sampled:
        return _exact_result(prep, cutoff, values, steps)
    replicas = np.concatenate([_present(s.refit) for s in steps], axis=1)
    cov = jackknife_covariance(replicas)
    chi2, ndof, pvalue, note = hotelling_chi2(
        np.concatenate([s.residual for s in steps]),
        np.concatenate([_present(s.residual_replicas) for s in steps], axis=1),
        np.concatenate([_present(s.data_replicas) for s in steps], axis=1),
    )
    errors = {t: float(math.sqrt(cov[i, i])) for i, t in enumerate(terms)}
    valid = bool(np.isfinite(cov).all() and all(s.condition < 1e12 for s in steps))
    return CouplingFit(values, errors, cov, terms, chi2, ndof, pvalue, valid,
                       _shrinkage_note(prep, note), CONVENTION, float(cutoff), replicas)


def _fit_u6(prep: _Prepared, cutoff: float, rtol: float, i4: int, step4: _Step) -> _Step:
    """Fit u6 to ``kappa6 - u4**2 E6``, replica by replica with that replica's u4."""
    arch, xs = prep.arch, prep.xs
    exchange = exchange_integral(arch, xs, cutoff, rtol=rtol)
    design6 = -vertex_integral(arch, xs, 6, cutoff, rtol=rtol)[:, None]
    _check_independent(design6, ["u6"])
    u4 = step4.estimate[i4]
    y6 = prep.data.values[6] - u4**2 * exchange
    if prep.data.replicas is None:
        return _fit_step(design6, y6, prep.weights.get(6))
    r6 = prep.data.replicas[6]
    refit = r6 - step4.refit[:, i4, None] ** 2 * exchange  # type: ignore[index]
    fixed = r6 - step4.fixed[:, i4, None] ** 2 * exchange  # type: ignore[index]
    return _fit_step(design6, y6, prep.weights[6], refit, fixed)


def _shrinkage_note(prep: _Prepared, chi2_note: str) -> str:
    b = prep.data.n_bins
    if any(isinstance(w, FixedWeights) for w in prep.weights.values()):
        return (f"{_KERNEL_WEIGHTS_NOTE}; errors: jackknife over B = {b} bins; {chi2_note}")
    shrink = ", ".join(
        f"λ{n} = {w.lam:.3g} ({int(w.active.sum())} tuples)" for n, w in prep.weights.items()
    )
    return (
        f"covariance: jackknife over B = {b} bins, Schäfer–Strimmer shrinkage toward the "
        f"diagonal ({shrink}); errors: jackknife with re-estimated weights; {chi2_note}"
    )


def _exact_result(
    prep: _Prepared, cutoff: float, values: dict[str, float], steps: list[_Step]
) -> CouplingFit:
    p = len(prep.terms)
    residual = np.concatenate([s.residual for s in steps])
    n_data = sum(len(s.residual) for s in steps)
    valid = bool(all(np.isfinite(v) for v in values.values())
                 and all(s.condition < 1e12 for s in steps))
    how = _KERNEL_WEIGHTS_NOTE if prep.weights else "ordinary least squares"
    return CouplingFit(
        values, {t: 0.0 for t in prep.terms}, np.zeros((p, p)), prep.terms,
        float(residual @ residual), n_data - p, math.nan, valid,
        f"exact correlators: {how}, no errors (χ² = residual sum of squares)",
        CONVENTION, float(cutoff), None,
    )


def fit_couplings(
    corr: Any,
    arch: Architecture,
    x: Any,
    cutoff: float = np.inf,
    terms: Sequence[str] = ("u4",),
    *,
    shrinkage: float | None = None,
    rtol: float = 1e-9,
    weights: str = "gls",
) -> CouplingFit:
    """Fit effective-action couplings to connected correlators.

    Parameters
    ----------
    corr : Correlators-like or dict
        Either a sampled correlator object (``connected(n)``, ``replicas(n,
        connected=True)``, ``arch``, ``x``; e.g. :class:`nnqft.Correlators`) or exact
        connected correlators ``{4: kappa4, 6: kappa6}`` on the tuple layout (e.g. from
        ``nnqft.theory.exact(..., connected=True)``), fitted without errors.
    arch : Architecture
        The ensemble (its kernel gives the vertex integrals).
    x : array_like, shape (k, d_in)
        The inputs the correlators were measured on.
    cutoff : float
        Half-width ``Λ`` of the vertex box ``[-Λ, Λ]^d``; ``inf`` where it converges.
    terms : sequence of str
        Any of ``"u4"``, ``"d2"`` (``|y|^2 phi^4``), ``"bilocal"`` (fitted to kappa4),
        and ``"u6"`` (with ``"u4"`` only; fitted to ``kappa6 - u4**2 E6``).
    shrinkage : float, optional
        Fixed shrinkage intensity in [0, 1] instead of the Schäfer-Strimmer estimate.
    rtol : float
        Relative accuracy of quadratures in the vertex integrals.
    weights : str
        ``"gls"`` (default): sampled data by generalised least squares with the shrunk
        jackknife covariance, exact data by ordinary least squares.  ``"kernel"``: fixed
        weights ``1/prod_i K(x_i, x_i)`` (:func:`kernel_weights`) for sampled and exact
        data alike, so both estimate the same functional of the correlators (less
        efficient than GLS; what :func:`compare_with_theory` uses).

    Returns
    -------
    CouplingFit

    Notes
    -----
    The procedure (sequential u4 then u6, shrinkage, jackknife errors, the chi2) is
    described in the module docstring.  Convention: :data:`CONVENTION`.
    """
    cutoff, rtol = checked("cutoff", cutoff), checked("rtol", rtol)
    prep = _prepare(corr, arch, x, terms, shrinkage, weights)
    return _fit(prep, cutoff, rtol)


# -- exact theory in the sampled fit's terms ---------------------------------------------
def theory_order(arch: Architecture) -> int | None:
    """Order of :func:`nnqft.finite_width` that :func:`theory_connected` uses by default.

    None at depth 1 (the exact theory, :func:`nnqft.exact`); at depth >= 2 the highest
    order the library computes for the ensemble: 2 (the 1/N^2 theory: kappa4 with its
    W/N^2 term, kappa6 = sum_15 U/N^2) for erf, relu and linear; 1 (kappa4 only) for tanh,
    whose order-2 theory costs ~20 s of CPU per layer at k = 6 inputs (its six-point
    functions are tensor quadratures): pass ``order=2`` to use it.
    """
    check_arch(arch)
    if arch.depth == 1:
        return None
    return 1 if arch.activation == "tanh" else 2


def _theory_order(arch: Architecture, order: int | None) -> int | None:
    """The order to use: ``order`` checked, or :func:`theory_order`'s default."""
    if order is not None and (isinstance(order, bool) or order not in (1, 2)):
        raise ValueError(f"order must be 1, 2 or None (the highest available), got {order!r}")
    if order is None or arch.depth == 1:
        return theory_order(arch)
    return int(order)


def theory_label(arch: Architecture, order: int | None = None) -> str:
    """Which theory :func:`theory_connected` uses for ``arch`` at ``order``, in words."""
    used = _theory_order(arch, order)
    if used is None:
        return "exact finite-width theory (depth 1)"
    return f"finite_width order {used} (κ4 to 1/N{'²' if used == 2 else ''}" + (
        ", κ6 = Σ₁₅ U/N²)" if used == 2 else ")")


def theory_connected(arch: Architecture, x: Any, n: int, order: int | None = None) -> FloatArray:
    """Connected correlator of order n from theory: exact at depth 1, 1/N theory deeper.

    Depth 1: :func:`nnqft.exact` (any order; ``order`` is ignored).  Depth >= 2:
    :func:`nnqft.finite_width` at ``order`` (Gaussian weights): order 2 gives
    ``kappa4 = sum_3 (V + W/N)/N`` and ``kappa6 = sum_15 U/N^2``, order 1 ``kappa4 =
    sum_3 V/N`` only.  ``order=None`` (default) is the highest order available
    (:func:`theory_order`: 2, or 1 for tanh).

    Raises
    ------
    ValueError
        For n = 6 at depth >= 2 with order 1 (kappa6 is O(1/N^2)), for an order other
        than 1, 2 or None.
    """
    used = _theory_order(arch, order)
    if used is None:
        return exact(arch, x, n, connected=True)
    if n == 6 and used == 1:
        hint = ("; the order-2 theory gives it: order=2 (~20 s per layer at k = 6 for tanh)"
                if arch.activation == "tanh" else "; the order-2 theory gives it: order=2 (or None)")
        raise ValueError(
            f"theory correlators of order 6 at depth {arch.depth} need the 1/N^2 theory, "
            f"and this one is of order 1{hint}; at order 1 use terms=('u4',)")
    from .deep_theory import finite_width

    return finite_width(arch, x, order=used).connected(n)


def fit_exact_like(
    corr: Any,
    arch: Architecture | None = None,
    x: Any = None,
    cutoff: float = math.inf,
    terms: Sequence[str] = ("u4",),
    order: int | None = None,
) -> CouplingFit:
    """The theory's couplings, fitted as :func:`compare_with_theory` fits the sample.

    The theory's connected correlators (:func:`theory_connected`: exact at depth 1; at
    depth >= 2 :func:`nnqft.finite_width` at ``order``, by default the 1/N^2 theory
    where it exists, so that u4 comes from kappa4 with its W/N^2 term and u6 from
    ``kappa6 = sum_15 U/N^2``) fitted with the fixed weights ``1/prod_i K(x_i, x_i)``
    (``fit_couplings(..., weights="kernel")``): the result depends on the ensemble, the
    inputs and the cutoff, never on the sample.  (It used the sample's own GLS weights;
    where the local model does not describe the correlators exactly, the coupling then
    moved with the seed, by a factor 2.5 for erf at N = 100.)

    Parameters
    ----------
    corr : Correlators or None
        Supplies ``arch`` and ``x`` when they are not given; its data are not used.
    arch, x, cutoff, terms :
        As for :func:`fit_couplings`; ``"u6"`` at depth >= 2 needs order 2.
    order : {None, 1, 2}
        Order of the 1/N theory at depth >= 2 (:func:`theory_connected`); None: the
        highest available (:func:`theory_order`).  Ignored at depth 1.

    Returns
    -------
    CouplingFit
        Errors 0; ``chi2`` is the weighted fit's residual sum of squares; its
        ``regularisation`` names the theory used.
    """
    arch = corr.arch if arch is None else arch
    x = corr.x if x is None else x
    xs = as_inputs(x, arch.d_in)
    orders = (4, 6) if "u6" in check_terms(terms) else (4,)
    values = {n: theory_connected(arch, xs, n, order) for n in orders}
    fit = fit_couplings(values, arch, xs, cutoff=cutoff, terms=terms, weights="kernel")
    return dataclasses.replace(
        fit, regularisation=f"{theory_label(arch, order)}; {fit.regularisation}")


@dataclasses.dataclass(frozen=True, eq=False)
class TheoryComparison:
    """Sampled and theory couplings under one fixed fit, with calibrated pulls.

    Attributes
    ----------
    theory : CouplingFit
        :func:`fit_exact_like`: the theory's correlators, fixed weights.
    sampled : CouplingFit
        The sample under the same fixed weights, with jackknife errors.
    pulls : dict of str to float
        ``(sampled - theory) / error`` per coupling: a z-score (t-distributed with
        B - 1 degrees of freedom) when the theory is exact, whether or not the local
        model fits, because both fits apply one fixed linear map to the correlators; at
        depth >= 2 it also contains the remainder of the 1/N theory (kappa4 and kappa6
        to O(1/N^3) at order 2, kappa4 to O(1/N^2) at order 1).
    theory_used : str
        Which theory gave ``theory`` (:func:`theory_label`): the exact one at depth 1,
        :func:`nnqft.finite_width` of a stated order deeper.
    """

    theory: CouplingFit
    sampled: CouplingFit
    pulls: dict[str, float]
    theory_used: str = ""

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{t}: {render.value_error(self.sampled.values[t], self.sampled.errors[t], 3)} "
            f"vs {self.theory.values[t]:.4g} (pull {self.pulls[t]:+.2f})"
            for t in self.theory.parameters)
        return f"<TheoryComparison {rows}; theory: {self.theory_used}>"


def compare_with_theory(
    corr: Any,
    arch: Architecture | None = None,
    x: Any = None,
    cutoff: float = math.inf,
    terms: Sequence[str] = ("u4",),
    order: int | None = None,
) -> TheoryComparison:
    """Compare a sample's couplings with the theory's, as a z-score per coupling.

    The sample's headline couplings are :func:`fit_couplings`' GLS fit, whose weights
    come from the sample: where the local model does not describe the correlators
    exactly (erf and Gauss nets at O(1) inputs, precise data) the GLS coupling is a
    projection that depends on those weights, and no theory number is its expectation.
    So both sides are fitted here with the same fixed weights (``weights="kernel"``):
    the two couplings are one linear functional of the sampled and of the theory's
    correlators, and the jackknife error of the sampled one is the error of their
    difference.

    The theory is exact at depth 1; at depth >= 2 it is :func:`nnqft.finite_width` at
    ``order``, by default the 1/N^2 theory (erf, relu, linear), so u4 is compared with
    kappa4 to 1/N^2 and u6 (``terms=("u4", "u6")``) with ``kappa6 = sum_15 U/N^2``;
    for tanh at depth >= 2 the leading theory by default (``order=2`` on request;
    :func:`theory_order`).

    Parameters
    ----------
    corr : Correlators
        The sampled run (orders 4, and 6 for u6).
    arch, x, cutoff, terms, order :
        As for :func:`fit_exact_like`.

    Returns
    -------
    TheoryComparison
    """
    arch = corr.arch if arch is None else arch
    x = corr.x if x is None else x
    theory = fit_exact_like(corr, arch, x, cutoff=cutoff, terms=terms, order=order)
    sampled = fit_couplings(corr, arch, x, cutoff=cutoff, terms=terms, weights="kernel")
    pulls = {t: (sampled.values[t] - theory.values[t]) / sampled.errors[t]
             if sampled.errors[t] > 0 else math.nan for t in theory.parameters}
    return TheoryComparison(theory, sampled, pulls, theory_label(arch, order))


# -- cutoff scans --------------------------------------------------------------------------
def cutoff_scan(
    corr: Any,
    arch: Architecture,
    x: Any,
    cutoffs: Sequence[float],
    terms: Sequence[str] = ("u4",),
    *,
    shrinkage: float | None = None,
    rtol: float = 1e-9,
) -> CutoffScan:
    """Fit the couplings at every cutoff and the log-log slopes ``d log|c| / d log Λ``.

    Parameters
    ----------
    corr, arch, x, terms, shrinkage, rtol
        As in :func:`fit_couplings`.
    cutoffs : sequence of float
        At least two distinct finite cutoffs ``Λ > 0``.

    Returns
    -------
    CutoffScan

    Notes
    -----
    For ReLU with ``sigma_b = 0`` the slope is exactly ``-(4 + d_in)`` for ``u4`` whatever
    the data (physics.md §3.6, §7 item 12): it tests the vertex integral, not the
    network statistics.  The per-cutoff chi2 tests the constant-coupling hypothesis.
    """
    lams, rtol = np.array(checked("cutoffs", cutoffs)), checked("rtol", rtol)
    if len(lams) < 2 or len(np.unique(lams)) != len(lams) or not np.all(np.isfinite(lams)) \
            or np.any(lams <= 0):
        raise ValueError(f"cutoffs must be >= 2 distinct finite values > 0, got {cutoffs!r}")
    prep = _prepare(corr, arch, x, terms, shrinkage)
    fits = tuple(_fit(prep, lam, rtol) for lam in lams)
    slopes, errors, intercepts = {}, {}, {}
    log_lam = np.log10(lams)
    for i, t in enumerate(prep.terms):
        logs = np.log10(np.abs([f.values[t] for f in fits]))
        slopes[t], intercepts[t] = (float(v) for v in np.polyfit(log_lam, logs, 1))
        errors[t] = 0.0
        if fits[0].replicas is not None:
            reps = np.log10(np.abs(np.stack([f.replicas[:, i] for f in fits], axis=1)))  # type: ignore[index]
            rep_slopes = np.polyfit(log_lam, reps.T, 1)[0]
            errors[t] = float(math.sqrt(jackknife_covariance(rep_slopes[:, None])[0, 0]))
    return CutoffScan(lams, fits, slopes, errors, intercepts)
