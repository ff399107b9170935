"""Functional renormalisation group: the LPA Wetterich flow with the Litim regulator.

This is the "passive" side of the σ-driven flow (physics.md §4.3): the couplings measured on
an ensemble at one weight scale σ are used as infrared (IR) initial conditions of the local
potential approximation (LPA) and integrated towards the ultraviolet (UV).

Flow equation and truncation
----------------------------
With t = ln k, Z = 1, η = 0 and the Litim regulator R_k(p) = (k² − p²) θ(k² − p²), the
Wetterich equation for the effective potential becomes

    ∂_t U_k(φ) = V_d k^{d+2} / (k² + U_k''(φ)),     V_d = 1 / (2^d π^{d/2} Γ(d/2 + 1)),

(½ ∫ d^dp/(2π)^d ∂_t R_k/(k² + U'') with ∂_t R_k = 2k² θ(k² − p²); V_d is the unit d-ball
volume over (2π)^d).  The potential is truncated as (ELS normalisation)

    U_k(φ) = u2 φ²/2 + u4 φ⁴/4! + u6 φ⁶/6!     (u6 ≡ 0 in the φ⁴ truncation).

Derivation of the β-functions: write U'' = u2 + x with x = u4 φ²/2 + u6 φ⁴/24 and
m = k² + u2, and expand 1/(m + x) = 1/m − x/m² + x²/m³ − x³/m⁴ + … to order φ⁶:

    φ²:  −(u4/2)/m²
    φ⁴:  −(u6/24)/m² + (u4/2)²/m³
    φ⁶:  2 (u4/2)(u6/24)/m³ − (u4/2)³/m⁴.

Matching with ∂_t U = ∂_t u2 φ²/2 + ∂_t u4 φ⁴/24 + ∂_t u6 φ⁶/720 (multiply by 2!, 4!, 6!):

    ∂_t u2 = V_d k^{d+2} [ −u4/m² ]
    ∂_t u4 = V_d k^{d+2} [ −u6/m² + 6 u4²/m³ ]
    ∂_t u6 = V_d k^{d+2} [ 30 u4 u6/m³ − 90 u4³/m⁴ ]      (u8 is truncated away).

With the dimensionless couplings ū_i = u_i k^{s_i}, s = (−2, d − 4, 2d − 6), so that
m = k² (1 + ū2), the same bracket appears with m → 1 + ū2, and

    β_i(ū) = ∂_t ū_i = s_i ū_i + V_d P_i(1 + ū2, ū4, ū6),
    P(m, u4, u6) = ( −u4/m²,  −u6/m² + 6 u4²/m³,  30 u4 u6/m³ − 90 u4³/m⁴ ).

These agree term by term with physics.md §4.3 ("eqs. (62)–(66)" of ELS's code).

Sign conventions
----------------
t = ln k grows towards the UV.  Near a fixed point δū ∝ e^{λ t} = k^{λ}: a direction with
λ < 0 grows towards the IR, i.e. it is *relevant*.  The Gaussian fixed point has λ = s =
(−2, d − 4, 2d − 6).  Critical exponents are θ = −λ (positive = relevant) and, where exactly
one direction is relevant, ν = 1/θ of that direction.

Names
-----
The formulas use the FRG literature's k for the RG scale; in the API it is ``scale``
(``scale0`` = k0, ``scale_max``, ``FRGFlow.scale``), because everywhere else in nnqft k is
the number of inputs.  The old keywords ``k0``, ``k_max``, ``k`` still work with an
:class:`~nnqft.warnings.NNQFTDeprecationWarning`.

Numerics
--------
The flow is integrated in t for the *dimensionful* couplings.  Their right-hand side carries
k^{d+2}, so from k0 = 1e-10 they are constant to O(k^{d+2}) and the solver crosses the IR in a
few steps, whereas the dimensionless couplings span ~40 decades there (e.g. ū6 = u6 k^{-4} in
d = 1) and cost 3–8× more evaluations for the same accuracy.  The dimensionless β-functions
are used for fixed points, their stability matrices and the singularity detection.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from . import render
from ._result import Result
from ._validation import as_choice, as_int, as_real
from .io import json_record, prefixed
from .warnings import NNQFTDeprecationWarning

__all__ = [
    "TRUNCATIONS",
    "FRGFlow",
    "FixedPoint",
    "FlowSingularityError",
    "PassiveComparison",
    "beta_dimensionful",
    "beta_dimensionful_jacobian",
    "beta_dimensionless",
    "fixed_points",
    "integrate_flow",
    "passive_comparison",
    "sigma_from_u2",
    "stability_matrix",
    "to_dimensionful",
    "to_dimensionless",
    "u2_from_sigma",
    "volume_factor",
]

FloatArray = NDArray[np.float64]

#: Supported truncations of the potential and the couplings each one evolves.
TRUNCATIONS: dict[str, tuple[str, ...]] = {"phi4": ("u2", "u4"), "phi6": ("u2", "u4", "u6")}

#: Integration methods of ``scipy.integrate.solve_ivp`` that are safe for stiff problems.
_STIFF_METHODS = ("LSODA", "Radau")

# The flow is declared singular when 1 + ū2 drops below this gap (the propagator pole) ...
_POLE_GAP = 1e-3
# ... or when the one-loop strength V_d |ū4|/(1 + ū2)² exceeds this (a finite-k divergence of
# the truncated flow, Landau-pole-like; see _flow_events).
_MAX_STRENGTH = 1e6
# Eigenvalues with |Re λ| below this are marginal (neither relevant nor irrelevant).
_MARGINAL = 1e-8


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


_RENAMED_SCALES = {"k0": "scale0", "k_max": "scale_max", "k": "scales"}


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated, use {new} (k is the number of inputs in nnqft; the "
                  "RG scale is called scale)", NNQFTDeprecationWarning, stacklevel=3)


def _renamed_scales(renamed: dict[str, Any], scale0: Any, scale_max: Any,
                    scales: Any) -> tuple[Any, Any, Any]:
    """Map the deprecated keywords k0, k_max, k of integrate_flow to their new names."""
    new = {"scale0": scale0, "scale_max": scale_max, "scales": scales}
    for old, value in renamed.items():
        if old not in _RENAMED_SCALES:
            raise TypeError(f"integrate_flow() got an unexpected keyword argument {old!r}")
        _deprecated(f"integrate_flow({old}=...)", f"{_RENAMED_SCALES[old]}=...")
        new[_RENAMED_SCALES[old]] = value
    return new["scale0"], new["scale_max"], new["scales"]


def _check_truncation(truncation: Any) -> str:
    return as_choice("truncation", truncation, tuple(TRUNCATIONS))


def _couplings_vector(name: str, value: npt.ArrayLike, truncation: str) -> FloatArray:
    """Return a finite coupling vector (u2, u4[, u6]) of the length the truncation evolves."""
    n = len(TRUNCATIONS[truncation])
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[0] != n:
        raise ValueError(
            f"{name} must have {n} components {TRUNCATIONS[truncation]} for truncation "
            f"{truncation!r}, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr!r}")
    return arr


def _scaling_dimensions(d: float, n: int) -> FloatArray:
    """Exponents s with ū_i = u_i k^{s_i}; they are also the Gaussian stability eigenvalues."""
    return np.array([-2.0, d - 4.0, 2.0 * d - 6.0])[:n]


# --------------------------------------------------------------------------------------------
# β-functions
# --------------------------------------------------------------------------------------------


def volume_factor(d: float) -> float:
    """Loop factor ``V_d = 1 / (2^d π^{d/2} Γ(d/2 + 1))`` of the Litim-regulated LPA flow.

    Parameters
    ----------
    d : float
        Dimension (real, > 0).

    Returns
    -------
    float
        The volume of the unit d-ball divided by (2π)^d: 1/π, 1/(4π), 1/(6π²) for d = 1, 2, 3.
    """
    d = as_real("d", d, positive=True)
    return 1.0 / (math.pow(2.0, d) * math.pow(math.pi, d / 2.0) * math.gamma(d / 2.0 + 1.0))


def _loop(m: Any, u4: Any, u6: Any, n: int) -> list[Any]:
    """Evaluate the loop brackets P(m, u4, u6) of the module docstring (first ``n`` terms)."""
    p = [-u4 / m**2, -u6 / m**2 + 6.0 * u4**2 / m**3, 30.0 * u4 * u6 / m**3 - 90.0 * u4**3 / m**4]
    return p[:n]


def _loop_jacobian(m: float, u4: float, u6: float, n: int) -> FloatArray:
    """∂P_i/∂(m, u4, u6); since m = k² + u2 (or 1 + ū2), ∂/∂m is ∂/∂u2."""
    jac = np.array(
        [
            [2.0 * u4 / m**3, -1.0 / m**2, 0.0],
            [2.0 * u6 / m**3 - 18.0 * u4**2 / m**4, 12.0 * u4 / m**3, -1.0 / m**2],
            [
                -90.0 * u4 * u6 / m**4 + 360.0 * u4**3 / m**5,
                30.0 * u6 / m**3 - 270.0 * u4**2 / m**4,
                30.0 * u4 / m**3,
            ],
        ]
    )
    return jac[:n, :n]


def _split(u: Any, n: int) -> tuple[Any, Any, Any]:
    """(u2, u4, u6) from a state vector; u6 ≡ 0 in the φ⁴ truncation."""
    return u[0], u[1], (u[2] if n == 3 else 0.0)


def beta_dimensionless(ubar: npt.ArrayLike, d: float, truncation: str = "phi6") -> FloatArray:
    """β-functions ``∂_t ū`` of the dimensionless couplings, t = ln k.

    Parameters
    ----------
    ubar : array_like, shape (n, ...)
        Dimensionless couplings (ū2, ū4) for ``"phi4"`` or (ū2, ū4, ū6) for ``"phi6"``;
        trailing axes are broadcast (a field of points).
    d : float
        Dimension (real, > 0).
    truncation : {"phi6", "phi4"}
        Truncation of the potential; in ``"phi4"`` u6 ≡ 0 and is not evolved.

    Returns
    -------
    numpy.ndarray, shape (n, ...)
        ``β_i = s_i ū_i + V_d P_i(1 + ū2, ū4, ū6)`` with s = (−2, d − 4, 2d − 6).
    """
    d = as_real("d", d, positive=True)
    truncation = _check_truncation(truncation)
    n = len(TRUNCATIONS[truncation])
    ub = _couplings_vector("ubar", ubar, truncation)
    scaling = _scaling_dimensions(d, n).reshape((n,) + (1,) * (ub.ndim - 1))
    u2, u4, u6 = _split(ub, n)
    loop = np.array(_loop(1.0 + u2, u4, u6, n))
    return np.asarray(scaling * ub + volume_factor(d) * loop, dtype=np.float64)


def stability_matrix(ubar: npt.ArrayLike, d: float, truncation: str = "phi6") -> FloatArray:
    """Analytic Jacobian ``∂β_i/∂ū_j`` of the dimensionless β-functions.

    Parameters
    ----------
    ubar : array_like, shape (n,)
        Dimensionless couplings, see :func:`beta_dimensionless`.
    d : float
        Dimension (real, > 0).
    truncation : {"phi6", "phi4"}
        Truncation of the potential.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        At a fixed point its eigenvalues λ are the stability exponents; λ < 0 is relevant.
    """
    d = as_real("d", d, positive=True)
    truncation = _check_truncation(truncation)
    n = len(TRUNCATIONS[truncation])
    ub = _couplings_vector("ubar", ubar, truncation)
    if ub.ndim != 1:
        raise ValueError(f"ubar must be a single point of shape ({n},), got shape {ub.shape}")
    u2, u4, u6 = _split(ub, n)
    loop_jac = _loop_jacobian(1.0 + u2, u4, u6, n)
    return np.diag(_scaling_dimensions(d, n)) + volume_factor(d) * loop_jac


def beta_dimensionful(scale: float, u: npt.ArrayLike, d: float, truncation: str = "phi6") -> FloatArray:
    """Flow ``k du/dk`` of the dimensionful couplings (u2, u4[, u6]) at scale k.

    Parameters
    ----------
    scale : float
        RG scale k (> 0).
    u : array_like, shape (n, ...)
        Couplings (u2, u4) for ``"phi4"`` or (u2, u4, u6) for ``"phi6"``.
    d : float
        Dimension (real, > 0).
    truncation : {"phi6", "phi4"}
        Truncation of the potential.

    Returns
    -------
    numpy.ndarray, shape (n, ...)
        ``V_d k^{d+2} P_i(k² + u2, u4, u6)``; see the module docstring.
    """
    d = as_real("d", d, positive=True)
    truncation = _check_truncation(truncation)
    n = len(TRUNCATIONS[truncation])
    k = as_real("scale", scale, positive=True)
    uu = _couplings_vector("u", u, truncation)
    u2, u4, u6 = _split(uu, n)
    loop = np.array(_loop(k * k + u2, u4, u6, n))
    return np.asarray(volume_factor(d) * k ** (d + 2.0) * loop, dtype=np.float64)


def beta_dimensionful_jacobian(
    scale: float, u: npt.ArrayLike, d: float, truncation: str = "phi6"
) -> FloatArray:
    """Analytic Jacobian ``∂(k du_i/dk)/∂u_j`` of :func:`beta_dimensionful`.

    Parameters
    ----------
    scale : float
        RG scale k (> 0).
    u : array_like, shape (n,)
        Dimensionful couplings.
    d : float
        Dimension (real, > 0).
    truncation : {"phi6", "phi4"}
        Truncation of the potential.

    Returns
    -------
    numpy.ndarray, shape (n, n)
        The matrix of the variational equations that propagate the IR uncertainties.
    """
    d = as_real("d", d, positive=True)
    truncation = _check_truncation(truncation)
    n = len(TRUNCATIONS[truncation])
    k = as_real("scale", scale, positive=True)
    uu = _couplings_vector("u", u, truncation)
    u2, u4, u6 = _split(uu, n)
    weight = volume_factor(d) * math.pow(k, d + 2.0)
    return weight * _loop_jacobian(float(k * k + u2), float(u4), float(u6), n)


def to_dimensionless(scale: npt.ArrayLike, u: npt.ArrayLike, d: float) -> FloatArray:
    """Dimensionless couplings ``ū_i = u_i k^{s_i}``, s = (−2, d − 4, 2d − 6).

    Parameters
    ----------
    scale : array_like
        RG scales k (> 0), broadcast against the trailing axes of ``u``.
    u : array_like, shape (n, ...)
        Dimensionful couplings (u2, u4[, u6]), n = 2 or 3.
    d : float
        Dimension (real, > 0).

    Returns
    -------
    numpy.ndarray, shape (n, ...)
    """
    return _rescale(scale, u, d, +1.0)


def to_dimensionful(scale: npt.ArrayLike, ubar: npt.ArrayLike, d: float) -> FloatArray:
    """Dimensionful couplings ``u_i = ū_i k^{−s_i}``; inverse of :func:`to_dimensionless`.

    Parameters
    ----------
    scale : array_like
        RG scales k (> 0), broadcast against the trailing axes of ``ubar``.
    ubar : array_like, shape (n, ...)
        Dimensionless couplings (ū2, ū4[, ū6]), n = 2 or 3.
    d : float
        Dimension (real, > 0).

    Returns
    -------
    numpy.ndarray, shape (n, ...)
    """
    return _rescale(scale, ubar, d, -1.0)


def _rescale(scale: npt.ArrayLike, u: npt.ArrayLike, d: float, sign: float) -> FloatArray:
    d = as_real("d", d, positive=True)
    kk = np.asarray(scale, dtype=np.float64)
    if not np.all(np.isfinite(kk) & (kk > 0)):
        raise ValueError("scale must be finite and > 0")
    uu = np.asarray(u, dtype=np.float64)
    if uu.ndim < 1 or uu.shape[0] not in (2, 3):
        raise ValueError(f"the couplings need 2 or 3 components (u2, u4[, u6]), got {uu.shape}")
    scaling = _scaling_dimensions(d, uu.shape[0]).reshape((-1,) + (1,) * kk.ndim)
    return np.asarray(uu * kk ** (sign * scaling), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# The σ ↔ mass map (physics.md §3.1)
# --------------------------------------------------------------------------------------------


def u2_from_sigma(sigma: npt.ArrayLike, d: float) -> FloatArray:
    """Gauss-net mass ``u2 = m² = 2σ²/d`` of the weight scale σ (physics.md §3.1).

    Parameters
    ----------
    sigma : array_like
        Weight standard deviation(s) σ_W (> 0).
    d : float
        Input dimension d_in, which is the dimension of the field theory.

    Returns
    -------
    numpy.ndarray
    """
    d = as_real("d", d, positive=True)
    s = np.asarray(sigma, dtype=np.float64)
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    return np.asarray(2.0 * s**2 / d, dtype=np.float64)


def sigma_from_u2(u2: npt.ArrayLike, d: float) -> FloatArray:
    """Weight scale ``σ = sqrt(d u2 / 2)`` of a mass u2; inverse of :func:`u2_from_sigma`.

    Parameters
    ----------
    u2 : array_like
        Mass term(s) u2.  A negative u2 has no real σ and maps to NaN.
    d : float
        Input dimension d_in.

    Returns
    -------
    numpy.ndarray
    """
    d = as_real("d", d, positive=True)
    m2 = np.asarray(u2, dtype=np.float64)
    return np.asarray(np.sqrt(np.where(m2 >= 0, d * m2 / 2.0, np.nan)), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Helpers shared by the result objects
# --------------------------------------------------------------------------------------------


def _frozen(arr: npt.ArrayLike) -> FloatArray:
    """Return a read-only float copy, so that frozen result objects stay immutable."""
    out = np.array(arr, dtype=np.float64)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------------------------
# Flow integration
# --------------------------------------------------------------------------------------------


class FlowSingularityError(RuntimeError):
    """The truncated flow becomes singular before reaching the requested UV scale.

    Attributes
    ----------
    scale : float
        RG scale at which the integration stopped (the singularity lies just above it).
    kind : str
        ``"pole"`` (1 + ū2 → 0, the regularised propagator k² + U'' vanishes),
        ``"divergence"`` (a coupling blows up at finite k) or ``"solver"`` (the ODE solver
        gave up without either criterion firing).
    couplings : dict of str to float
        Dimensionful couplings at ``scale``.
    """

    def __init__(self, message: str, scale: float, kind: str, couplings: dict[str, float]):
        super().__init__(message)
        self.scale = scale
        self.kind = kind
        self.couplings = couplings

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.scale, self.kind, self.couplings))

    @property
    def k(self) -> float:
        """Deprecated name of :attr:`scale`."""
        _deprecated("FlowSingularityError.k", "scale")
        return self.scale


@dataclasses.dataclass(frozen=True, repr=False)
class FRGFlow(Result, kind="frg_flow"):
    """Result of :func:`integrate_flow`: the LPA couplings along the RG scale.

    Attributes
    ----------
    scale : numpy.ndarray, shape (n_scales,)
        Output RG scales k of the Wetterich flow (increasing, from the IR towards the UV).
    couplings : dict of str to numpy.ndarray
        ``"u2"``, ``"u4"``, ``"u6"`` along ``scale`` (u6 ≡ 0 for the φ⁴ truncation).
    errors : dict of str to numpy.ndarray or None
        Standard errors propagated from the IR covariance; None if none was given.
    covariance : numpy.ndarray, shape (n_k, n, n), or None
        Covariance of the evolved couplings ``names`` at each k.
    sensitivity : numpy.ndarray, shape (n_k, n, n)
        ``∂u_i(k)/∂u_j(k0)`` from the variational equations (the linear error propagator).
    sigma : numpy.ndarray, shape (n_k,)
        ``σ(k) = sqrt(d u2(k)/2)``; NaN where u2(k) < 0.
    sigma_errors : numpy.ndarray or None
        Propagated standard error of σ(k).
    d : float
        Dimension.
    truncation : str
        ``"phi4"`` or ``"phi6"``.
    scale0 : float
        IR scale k0 of the initial conditions.
    initial : dict of str to float
        Initial couplings u2, u4, u6 at k0.
    initial_covariance : numpy.ndarray, shape (n, n), or None
        Covariance of the initial couplings ``names`` (zero rows for exact ones).
    solver : dict
        Method, tolerances, evaluation counts and the solver's message.
    """

    scale: FloatArray
    couplings: dict[str, FloatArray]
    errors: dict[str, FloatArray] | None
    covariance: FloatArray | None
    sensitivity: FloatArray
    sigma: FloatArray
    sigma_errors: FloatArray | None
    d: float
    truncation: str
    scale0: float
    initial: dict[str, float]
    initial_covariance: FloatArray | None
    solver: dict[str, Any]

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the evolved couplings, in the order of the covariance axes."""
        return TRUNCATIONS[self.truncation]

    @property
    def k(self) -> FloatArray:
        """Deprecated name of :attr:`scale` (``k`` is the number of inputs in nnqft)."""
        _deprecated("FRGFlow.k", "scale")
        return self.scale

    @property
    def k0(self) -> float:
        """Deprecated name of :attr:`scale0`."""
        _deprecated("FRGFlow.k0", "scale0")
        return self.scale0

    def dimensionless(self) -> dict[str, FloatArray]:
        """Dimensionless couplings ``ū_i(k) = u_i(k) k^{s_i}`` keyed ``"u2"``, ``"u4"``, ``"u6"``.

        Returns
        -------
        dict of str to numpy.ndarray
        """
        stacked = np.array([self.couplings[name] for name in ("u2", "u4", "u6")])
        ubar = to_dimensionless(self.scale, stacked, self.d)
        return {name: ubar[i] for i, name in enumerate(("u2", "u4", "u6"))}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (lists, floats, None).

        Returns
        -------
        dict
        """
        return json_record(
            {
                "kind": "FRGFlow",
                "d": self.d,
                "truncation": self.truncation,
                "names": list(self.names),
                "scale0": self.scale0,
                "initial": self.initial,
                "initial_covariance": self.initial_covariance,
                "scale": self.scale,
                "couplings": self.couplings,
                "errors": self.errors,
                "covariance": self.covariance,
                "sensitivity": self.sensitivity,
                "sigma": self.sigma,
                "sigma_errors": self.sigma_errors,
                "solver": self.solver,
            }
        )

    def __repr__(self) -> str:
        return (
            f"FRGFlow(d={self.d:g}, truncation={self.truncation!r}, {self.scale.size} scales "
            f"in [{self.scale[0]:.3g}, {self.scale[-1]:.3g}], method={self.solver['method']!r})"
        )

    def _tables(self) -> list[render.Table]:
        columns = ["scale", *self.names, "sigma"]
        rows = []
        for i in sorted({0, self.scale.size // 2, self.scale.size - 1}):
            errs = self.errors or {}
            cells = [render.value_error(float(self.couplings[n][i]),
                                        float(errs[n][i]) if n in errs else None, 7)
                     for n in self.names]
            sig_err = None if self.sigma_errors is None else float(self.sigma_errors[i])
            rows.append([f"{self.scale[i]:.4g}", *cells,
                         render.value_error(float(self.sigma[i]), sig_err, 7)])
        notes = [repr(self), "LPA with the Litim regulator; couplings are dimensionful"]
        return [render.Table(notes, columns, rows)]

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        arrays = {"scale": self.scale, "sensitivity": self.sensitivity, "sigma": self.sigma,
                  "initial": np.array([self.initial[n] for n in ("u2", "u4", "u6")])}
        optional = {"covariance": self.covariance, "sigma_errors": self.sigma_errors,
                    "initial_covariance": self.initial_covariance}
        arrays.update({name: a for name, a in optional.items() if a is not None})
        arrays.update({f"value:{n}": v for n, v in self.couplings.items()})
        arrays.update({f"error:{n}": v for n, v in (self.errors or {}).items()})
        meta = {"d": self.d, "truncation": self.truncation, "scale0": self.scale0,
                "solver": self.solver, "has_errors": self.errors is not None}
        return meta, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> FRGFlow:
        def optional(name: str) -> FloatArray | None:
            return _frozen(arrays[name]) if name in arrays else None

        errors = prefixed(arrays, "error")
        return cls(
            scale=_frozen(arrays["scale"]),
            couplings={n: _frozen(v) for n, v in prefixed(arrays, "value").items()},
            errors={n: _frozen(v) for n, v in errors.items()} if meta["has_errors"] else None,
            covariance=optional("covariance"), sensitivity=_frozen(arrays["sensitivity"]),
            sigma=_frozen(arrays["sigma"]), sigma_errors=optional("sigma_errors"),
            d=float(meta["d"]), truncation=meta["truncation"], scale0=float(meta["scale0"]),
            initial=dict(zip(("u2", "u4", "u6"), map(float, arrays["initial"]), strict=True)),
            initial_covariance=optional("initial_covariance"), solver=dict(meta["solver"]),
        )

    def plot(self, ax: Any = None, quantities: Sequence[str] | None = None) -> Any:
        """Plot the couplings (with 1σ bands if errors are known) against the scale (log axis).

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, optional
            One Axes per quantity; a new Figure with one row of panels is made if None.
        quantities : sequence of str, optional
            Any of ``"u2"``, ``"u4"``, ``"u6"``, ``"sigma"``; default: the evolved couplings.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        names = tuple(self.names if quantities is None else quantities)
        unknown = [q for q in names if q not in ("u2", "u4", "u6", "sigma")]
        if unknown or not names:
            raise ValueError(f"quantities must be among u2, u4, u6, sigma, got {names!r}")
        if ax is None:
            fig = Figure(figsize=(4.0 * len(names), 3.4), layout="constrained")
            axes = list(np.atleast_1d(fig.subplots(1, len(names))))
        else:
            axes = list(np.atleast_1d(np.asarray(ax, dtype=object)))
            if len(axes) != len(names):
                raise ValueError(f"ax needs {len(names)} Axes, got {len(axes)}")
            fig = axes[0].figure
        for axis, name in zip(axes, names, strict=True):
            self._plot_one(axis, name)
        return fig

    def _plot_one(self, axis: Any, name: str) -> None:
        values = self.sigma if name == "sigma" else self.couplings[name]
        errors = self.sigma_errors if name == "sigma" else (self.errors or {}).get(name)
        axis.plot(self.scale, values, color="C0", label=f"{self.truncation} flow")
        if errors is not None:
            axis.fill_between(self.scale, values - errors, values + errors, color="C0", alpha=0.3)
        axis.set_xscale("log")
        axis.set_xlabel("RG scale k")
        axis.set_ylabel("sigma(k)" if name == "sigma" else f"{name}(k)")
        axis.set_title(f"LPA/Litim, d = {self.d:g}")


def _initial_state(
    u4: Any, u6: Any, sigma: Any, u2: Any, d: float, k0: float, truncation: str
) -> FloatArray:
    """Validate and assemble the IR couplings (u2, u4[, u6]) at k0."""
    if (sigma is None) == (u2 is None):
        raise ValueError("give exactly one of sigma (then u2 = 2 sigma^2/d) or u2")
    if u2 is None:
        mass = float(u2_from_sigma(as_real("sigma", sigma, positive=True), d))
    else:
        mass = as_real("u2", u2)
    if 1.0 + mass / k0**2 <= _POLE_GAP:
        raise ValueError(
            f"u2 = {mass:g} puts the initial point at or beyond the pole 1 + u2/k0^2 = 0 "
            f"(k0 = {k0:g}); the flow cannot start there"
        )
    values = [mass, as_real("u4", u4)]
    if truncation == "phi6":
        if u6 is None:
            raise ValueError("u6 is required for truncation 'phi6' (pass the measured value)")
        values.append(as_real("u6", u6))
    elif u6 is not None:
        raise ValueError("u6 must be None for truncation 'phi4' (u6 is set to 0, not evolved)")
    return np.array(values)


def _initial_covariance(
    covariance: Any, u4_err: Any, u6_err: Any, truncation: str
) -> FloatArray | None:
    """IR covariance of the state (u2, u4[, u6]) from a matrix or from standard errors.

    ``covariance`` may cover the measured couplings only, (u4,) or (u4, u6), with u2 exact,
    or the whole state (u2, u4[, u6]).
    """
    n = len(TRUNCATIONS[truncation])
    if covariance is not None and (u4_err is not None or u6_err is not None):
        raise ValueError("give either covariance or u4_err/u6_err, not both")
    if u6_err is not None and truncation == "phi4":
        raise ValueError("u6_err must be None for truncation 'phi4'")
    if covariance is None and u4_err is None and u6_err is None:
        return None
    if covariance is None:
        errs = [as_real("u4_err", u4_err if u4_err is not None else 0.0, minimum=0.0)]
        if truncation == "phi6":
            errs.append(as_real("u6_err", u6_err if u6_err is not None else 0.0, minimum=0.0))
        covariance = np.diag(np.square(errs))
    cov = np.atleast_2d(np.asarray(covariance, dtype=np.float64))
    if cov.shape not in ((n - 1, n - 1), (n, n)):
        raise ValueError(
            f"covariance must have shape {(n - 1, n - 1)} for {TRUNCATIONS[truncation][1:]} "
            f"or {(n, n)} for {TRUNCATIONS[truncation]}, got {cov.shape}"
        )
    _check_covariance(cov)
    full = np.zeros((n, n))
    full[n - cov.shape[0] :, n - cov.shape[0] :] = cov
    return full


def _check_covariance(cov: FloatArray) -> None:
    if not np.all(np.isfinite(cov)):
        raise ValueError("covariance must be finite")
    scale = max(float(np.max(np.abs(cov))), np.finfo(float).tiny)
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * scale):
        raise ValueError("covariance must be symmetric")
    if np.min(np.linalg.eigvalsh(cov)) < -1e-10 * scale:
        raise ValueError("covariance must be positive semi-definite")


def _output_grid(scales: Any, scale_max: Any, k0: float, num: Any) -> FloatArray:
    """Return the increasing output scales: user-given, or log-spaced from k0 to scale_max."""
    if scales is not None:
        if scale_max is not None:
            raise ValueError("give either scales (the output grid) or scale_max, not both")
        grid = np.asarray(scales, dtype=np.float64)
        if grid.ndim != 1 or grid.size < 1 or not np.all(np.isfinite(grid)):
            raise ValueError("scales must be a non-empty 1-D array of finite scales")
        if np.any(np.diff(grid) <= 0):
            raise ValueError("scales must be strictly increasing")
        if grid[0] < k0:
            raise ValueError(f"scales must start at or above scale0 = {k0:g}, "
                             f"got scales[0] = {grid[0]:g}")
        return grid
    upper = 100.0 if scale_max is None else as_real("scale_max", scale_max, positive=True)
    if upper <= k0:
        raise ValueError(f"scale_max = {upper:g} must exceed scale0 = {k0:g}")
    grid = np.geomspace(k0, upper, as_int("num", num, minimum=2))
    grid[0], grid[-1] = k0, upper  # exact end points despite rounding
    return grid


def _flow_rhs(d: float, n: int) -> Any:
    """Right-hand side in t = ln k of the couplings and of the sensitivity matrix S.

    dS/dt = J S with J = ∂(du/dt)/∂u, S(t0) = 1, so S(t) = ∂u(t)/∂u(t0) exactly.
    """
    vd = volume_factor(d)

    def rhs(t: float, y: FloatArray) -> FloatArray:
        k = math.exp(t)
        u2, u4, u6 = _split(y, n)
        m = k * k + u2
        weight = vd * k ** (d + 2.0)
        du = weight * np.array(_loop(m, u4, u6, n))
        jac = weight * _loop_jacobian(m, u4, u6, n)
        ds = jac @ y[n:].reshape(n, n)
        return np.concatenate([du, ds.ravel()])

    return rhs


def _flow_events(d: float, n: int) -> list[Any]:
    """Terminal events: the propagator pole and a finite-k divergence of the couplings.

    The divergence test watches the one-loop strength g = V_d |ū4|/(1 + ū2)², the rate at
    which the loop moves ū2 (−2ū2*, 0.3–0.7, at the non-Gaussian fixed points; tiny in the IR):
    every finite-k blow-up of the truncated flow drives it to infinity (u6 alone grows at most
    exponentially, and it feeds u4).  Computed as V_d |u4| k^d/(k² + u2)², since the ū of the
    deep IR are huge.
    """
    vd = volume_factor(d)

    def pole(t: float, y: FloatArray) -> float:
        gap = 1.0 + y[0] * math.exp(-2.0 * t)
        return gap - _POLE_GAP if math.isfinite(gap) else -1.0

    def divergence(t: float, y: FloatArray) -> float:
        k = math.exp(t)
        strength = vd * abs(y[1]) * k**d / (k * k + y[0]) ** 2
        return _MAX_STRENGTH - strength if math.isfinite(strength) else -1.0

    for event in (pole, divergence):
        event.terminal = True  # type: ignore[attr-defined]
    pole.direction = -1  # type: ignore[attr-defined]
    return [pole, divergence]


def _singularity(sol: Any, d: float, truncation: str) -> FlowSingularityError:
    """Describe where and why the integration stopped early."""
    names = TRUNCATIONS[truncation]
    hits = [
        (float(times[0]), states[0], kind)
        for times, states, kind in zip(
            sol.t_events, sol.y_events, ("pole", "divergence"), strict=True
        )
        if times.size
    ]
    if hits:
        t_end, y_end, kind = min(hits, key=lambda hit: hit[0])
    else:  # no terminal event: the solver itself gave up at its last step
        t_end, y_end, kind = float(sol.t[-1]), sol.y[:, -1], "solver"
    k_end = math.exp(t_end)
    couplings = {name: float(value) for name, value in zip(names, y_end[: len(names)], strict=True)}
    gap = 1.0 + couplings["u2"] / k_end**2
    values = ", ".join(f"{name} = {value:.6g}" for name, value in couplings.items())
    what = {
        "pole": "hits the pole 1 + u2/k^2 = 0 of the regularised propagator",
        "divergence": "diverges (a coupling blows up at finite k)",
        "solver": f"could not be integrated further ({sol.message})",
    }[kind]
    message = (
        f"the {truncation} LPA flow in d = {d:g} {what} at k = {k_end:.8g} "
        f"(1 + u2/k^2 = {gap:.3g}; {values}); lower scale_max or check the initial couplings"
    )
    return FlowSingularityError(message, k_end, kind, couplings)


def _atol_vector(u0: FloatArray, atol: float) -> FloatArray:
    """Absolute tolerances in units of each initial coupling, for u and for S_ij ∝ c_i/c_j."""
    scale = np.where(u0 != 0, np.abs(u0), 1.0)
    return np.concatenate([atol * scale, (atol * np.outer(scale, 1.0 / scale)).ravel()])


def integrate_flow(
    u4: float,
    u6: float | None = None,
    *,
    d: float,
    sigma: float | None = None,
    u2: float | None = None,
    covariance: npt.ArrayLike | None = None,
    u4_err: float | None = None,
    u6_err: float | None = None,
    truncation: str | None = None,
    scale0: float = 1e-10,
    scale_max: float | None = None,
    scales: npt.ArrayLike | None = None,
    num: int = 241,
    method: str = "LSODA",
    rtol: float = 1e-10,
    atol: float = 1e-13,
    **renamed: Any,
) -> FRGFlow:
    """Integrate the LPA/Litim flow from measured IR couplings towards the UV.

    Parameters
    ----------
    u4, u6 : float
        Couplings measured on the ensemble at weight scale ``sigma`` (ELS normalisation
        Γ ⊃ u4/4! φ⁴ + u6/6! φ⁶).  ``u6`` is required for ``"phi6"`` and must be None for
        ``"phi4"``; there is no default value for it.
    d : float
        Dimension (= the input dimension d_in of the networks), real and > 0.
    sigma : float, optional
        Weight scale at which u4, u6 were measured; sets u2 = 2σ²/d (physics.md §3.1).
    u2 : float, optional
        The initial mass directly, instead of ``sigma`` (give exactly one of the two).
    covariance : array_like, optional
        Covariance of (u4,) / (u4, u6) (u2 exact), or of the whole state (u2, u4[, u6]).
    u4_err, u6_err : float, optional
        Standard errors of uncorrelated u4, u6 (alternative to ``covariance``).
    truncation : {"phi6", "phi4"}, optional
        Default: ``"phi6"`` if ``u6`` is given, else ``"phi4"``.
    scale0 : float
        IR scale k0 of the initial conditions (default 1e-10, as ELS).
    scale_max : float, optional
        UV end of the default log-spaced grid (default 100).  Not with ``scales``.
    scales : array_like, optional
        Strictly increasing output scales ≥ scale0; the flow is integrated up to
        ``scales[-1]``.
    num : int
        Number of log-spaced output scales from scale0 to scale_max (default 241, 20 per
        decade).
    method : {"LSODA", "Radau"}
        Stiff-safe :func:`scipy.integrate.solve_ivp` method: LSODA (default; switches between
        Adams and BDF, ~15× fewer evaluations here) or Radau (implicit Runge–Kutta, as ELS).
    rtol : float
        Relative tolerance (default 1e-10).
    atol : float
        Absolute tolerance in units of each coupling's initial magnitude ``|u_i(k0)|`` (1 where
        that is zero); the sensitivities get the matching ratios.
    **renamed
        The former names ``k0``, ``k_max`` and ``k`` of ``scale0``, ``scale_max`` and
        ``scales`` (deprecated: ``k`` is the number of inputs elsewhere in nnqft).

    Returns
    -------
    FRGFlow

    Raises
    ------
    ValueError
        On invalid input; the message names the argument.
    FlowSingularityError
        If the flow reaches the pole 1 + u2/k² = 0 or a coupling diverges below the UV end.

    Notes
    -----
    The state is integrated in t = ln k for the dimensionful couplings (see the module
    docstring) together with the variational equations dS/dt = J S, S(k0) = 1, so
    S(k) = ∂u(k)/∂u(k0) to the solver's tolerance.  Errors are propagated linearly,
    C(k) = S(k) C0 S(k)^T: exact to first order, and reliable while the flow is close to
    linear across the IR error ellipse (compare with a flow from a shifted initial point if
    the errors are large).
    """
    if renamed:
        scale0, scale_max, scales = _renamed_scales(renamed, scale0, scale_max, scales)
    d = as_real("d", d, positive=True)
    k0 = as_real("scale0", scale0, positive=True)
    if truncation is None:
        truncation = "phi6" if u6 is not None else "phi4"
    truncation = _check_truncation(truncation)
    method = as_choice("method", method, _STIFF_METHODS)
    rtol = as_real("rtol", rtol, positive=True)
    if not 100 * np.finfo(float).eps <= rtol < 1:
        raise ValueError(f"rtol must lie in [{100 * np.finfo(float).eps:.1e}, 1), got {rtol!r}")
    atol = as_real("atol", atol, positive=True)
    grid = _output_grid(scales, scale_max, k0, num)
    state0 = _initial_state(u4, u6, sigma, u2, d, k0, truncation)
    cov0 = _initial_covariance(covariance, u4_err, u6_err, truncation)
    sol = _solve(state0, grid, d, truncation, k0, method, rtol, atol)
    return _make_flow(sol, grid, state0, cov0, d, truncation, k0, method, rtol, atol)


def _solve(
    state0: FloatArray,
    grid: FloatArray,
    d: float,
    truncation: str,
    k0: float,
    method: str,
    rtol: float,
    atol: float,
) -> Any:
    n = state0.size
    y0 = np.concatenate([state0, np.eye(n).ravel()])
    t_grid = np.log(grid)
    # dense output rather than t_eval: sol.t then ends where the solver really stopped
    sol = solve_ivp(
        _flow_rhs(d, n),
        (math.log(k0), float(t_grid[-1])),
        y0,
        method=method,
        dense_output=True,
        events=_flow_events(d, n),
        rtol=rtol,
        atol=_atol_vector(state0, atol),
    )
    if sol.status != 0:
        raise _singularity(sol, d, truncation)
    return sol


def _make_flow(
    sol: Any,
    grid: FloatArray,
    state0: FloatArray,
    cov0: FloatArray | None,
    d: float,
    truncation: str,
    k0: float,
    method: str,
    rtol: float,
    atol: float,
) -> FRGFlow:
    names = TRUNCATIONS[truncation]
    n = len(names)
    y = sol.sol(np.log(grid))
    values = {name: y[i] for i, name in enumerate(names)}
    values.setdefault("u6", np.zeros(grid.size))
    sens = np.moveaxis(y[n:].reshape(n, n, grid.size), -1, 0)
    sigma = sigma_from_u2(values["u2"], d)
    errors = covariance = sigma_errors = None
    if cov0 is not None:
        covariance = sens @ cov0 @ np.swapaxes(sens, 1, 2)
        err = np.sqrt(np.clip(np.diagonal(covariance, axis1=1, axis2=2), 0.0, None))
        errors = {name: _frozen(err[:, i]) for i, name in enumerate(names)}
        errors.setdefault("u6", _frozen(np.zeros(grid.size)))
        # dσ/du2 = d/(4σ); NaN where σ is undefined
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma_errors = _frozen(d / (4.0 * sigma) * errors["u2"])
    initial = dict(zip(names, map(float, state0), strict=True))
    initial.setdefault("u6", 0.0)
    solver = {
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "variables": "dimensionful couplings and sensitivities in t = ln k",
        "nfev": int(sol.nfev),
        "njev": int(sol.njev),
        "nlu": int(sol.nlu),
        "status": int(sol.status),
        "message": str(sol.message),
    }
    return FRGFlow(
        scale=_frozen(grid),
        couplings={name: _frozen(values[name]) for name in ("u2", "u4", "u6")},
        errors=errors,
        covariance=None if covariance is None else _frozen(covariance),
        sensitivity=_frozen(sens),
        sigma=_frozen(sigma),
        sigma_errors=sigma_errors,
        d=d,
        truncation=truncation,
        scale0=k0,
        initial=initial,
        initial_covariance=None if cov0 is None else _frozen(cov0),
        solver=solver,
    )


# --------------------------------------------------------------------------------------------
# Fixed points
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class FixedPoint:
    """A fixed point β(ū*) = 0 of the dimensionless flow and its linearisation.

    Attributes
    ----------
    couplings : numpy.ndarray, shape (n,)
        (ū2*, ū4*[, ū6*]).
    eigenvalues : numpy.ndarray, shape (n,)
        Eigenvalues λ of the stability matrix ∂β_i/∂ū_j, sorted by increasing real part
        (most relevant first); complex only if some pair is complex.
    eigenvectors : numpy.ndarray, shape (n, n)
        Unit eigenvectors as columns, in the order of ``eigenvalues``.
    stability_matrix : numpy.ndarray, shape (n, n)
        ∂β_i/∂ū_j at the fixed point.
    d : float
        Dimension.
    truncation : str
        ``"phi4"`` or ``"phi6"``.
    gaussian : bool
        True for ū* = 0.

    Notes
    -----
    With t = ln k, δū ∝ k^{λ}: λ < 0 is relevant (grows towards the IR).  The critical
    exponents are θ = −λ, and ``nu`` = 1/θ of the relevant direction when there is exactly
    one (real) relevant direction, otherwise None (a multicritical point or the Gaussian
    fixed point below four dimensions).
    """

    couplings: FloatArray
    eigenvalues: NDArray[Any]
    eigenvectors: NDArray[Any]
    stability_matrix: FloatArray
    d: float
    truncation: str
    gaussian: bool

    @property
    def critical_exponents(self) -> NDArray[Any]:
        """θ = −λ (positive for relevant directions), in the order of ``eigenvalues``."""
        return -self.eigenvalues

    @property
    def n_relevant(self) -> int:
        """Number of relevant directions (Re λ < 0)."""
        return int(np.sum(np.real(self.eigenvalues) < -_MARGINAL))

    @property
    def nu(self) -> float | None:
        """Correlation-length exponent ν = −1/λ of the single relevant direction, or None."""
        relevant = self.eigenvalues[np.real(self.eigenvalues) < -_MARGINAL]
        if relevant.size != 1 or np.iscomplexobj(relevant):
            return None
        return float(-1.0 / np.real(relevant[0]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation; eigen-data are split into real and imaginary parts.

        Returns
        -------
        dict
        """
        return json_record(
            {
                "kind": "FixedPoint",
                "d": self.d,
                "truncation": self.truncation,
                "names": list(TRUNCATIONS[self.truncation]),
                "couplings": self.couplings,
                "gaussian": self.gaussian,
                "eigenvalues": self.eigenvalues.astype(complex),
                "eigenvectors": self.eigenvectors.astype(complex),
                "stability_matrix": self.stability_matrix,
                "n_relevant": self.n_relevant,
                "nu": self.nu,
            }
        )

    def __repr__(self) -> str:
        couplings = ", ".join(
            f"{name}bar={value:.7g}"
            for name, value in zip(TRUNCATIONS[self.truncation], self.couplings, strict=True)
        )
        eigen = ", ".join(f"{value:.6g}" for value in np.real_if_close(self.eigenvalues))
        nu = "None" if self.nu is None else f"{self.nu:.6g}"
        label = "Gaussian" if self.gaussian else "non-Gaussian"
        return (
            f"FixedPoint({label}, d={self.d:g}, truncation={self.truncation!r}, {couplings}; "
            f"eigenvalues=({eigen}), relevant={self.n_relevant}, nu={nu})"
        )


def _fixed_point_masses(d: float, truncation: str) -> FloatArray:
    """Real roots r = ū2* ≠ 0 of the eliminated fixed-point condition.

    β2 = 0 gives ū4 = −2 r p²/V_d (p = 1 + r).  φ⁴: β4 = 0 then gives (d − 4) p = 12 r.
    φ⁶: β4 = 0 gives ū6 = r p³ [24 r − 2(d − 4) p]/V_d², and β6 = 0 becomes
    r p³ {[2(4 − d) + (32 − 2d) r][(2d − 6) + (2d − 66) r] + 720 r²} = 0.
    The masses do not depend on V_d; the couplings scale as ū4 ∝ 1/V_d, ū6 ∝ 1/V_d².
    """
    if truncation == "phi4":
        return np.array([(d - 4.0) / (16.0 - d)]) if d != 16.0 else np.array([])
    a1, a0 = 32.0 - 2.0 * d, 2.0 * (4.0 - d)
    b1, b0 = 2.0 * d - 66.0, 2.0 * d - 6.0
    roots = np.roots([a1 * b1 + 720.0, a1 * b0 + a0 * b1, a0 * b0])
    return np.real(roots[np.abs(np.imag(roots)) <= 1e-12 * (1.0 + np.abs(roots))])


def _fixed_point_couplings(r: float, d: float, truncation: str) -> FloatArray:
    vd = volume_factor(d)
    p = 1.0 + r
    u4 = -2.0 * r * p**2 / vd
    if truncation == "phi4":
        return np.array([r, u4])
    u6 = r * p**3 * (24.0 * r - 2.0 * (d - 4.0) * p) / vd**2
    return np.array([r, u4, u6])


def _polish(ubar: FloatArray, d: float, truncation: str) -> FloatArray:
    """Take a few Newton steps (analytic Jacobian) against round-off in the elimination."""
    for _ in range(4):
        step = np.linalg.solve(
            stability_matrix(ubar, d, truncation), beta_dimensionless(ubar, d, truncation)
        )
        ubar = ubar - step
        if np.all(np.abs(step) <= 1e-15 * (1.0 + np.abs(ubar))):
            break
    return ubar


def _fixed_point(ubar: FloatArray, d: float, truncation: str, gaussian: bool) -> FixedPoint:
    matrix = stability_matrix(ubar, d, truncation)
    eigenvalues, eigenvectors = np.linalg.eig(matrix)
    order = np.lexsort((np.imag(eigenvalues), np.real(eigenvalues)))
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    if np.all(np.abs(np.imag(eigenvalues)) <= 1e-12 * (1.0 + np.abs(eigenvalues))):
        eigenvalues, eigenvectors = np.real(eigenvalues), np.real(eigenvectors)
    values = np.array(eigenvalues)
    vectors = np.array(eigenvectors)
    values.flags.writeable = vectors.flags.writeable = False
    return FixedPoint(
        couplings=_frozen(ubar),
        eigenvalues=values,
        eigenvectors=vectors,
        stability_matrix=_frozen(matrix),
        d=d,
        truncation=truncation,
        gaussian=gaussian,
    )


def fixed_points(d: float, truncation: str = "phi6") -> tuple[FixedPoint, ...]:
    """All real fixed points of the dimensionless LPA flow with 1 + ū2* > 0.

    The β-functions are eliminated to one polynomial in ū2* (see ``_fixed_point_masses``),
    whose roots are exact and complete; they are polished by Newton steps and deduplicated.
    Fixed points with 1 + ū2* ≤ 0 lie beyond the propagator pole and are omitted.

    Parameters
    ----------
    d : float
        Dimension (real, > 0).
    truncation : {"phi6", "phi4"}
        Truncation of the potential.

    Returns
    -------
    tuple of FixedPoint
        The Gaussian fixed point first, then the others by increasing ū2*.
    """
    d = as_real("d", d, positive=True)
    truncation = _check_truncation(truncation)
    n = len(TRUNCATIONS[truncation])
    found = [_fixed_point(np.zeros(n), d, truncation, gaussian=True)]
    for r in np.sort(_fixed_point_masses(d, truncation)):
        if 1.0 + r <= 0.0 or abs(r) <= 1e-12:
            continue
        ubar = _polish(_fixed_point_couplings(float(r), d, truncation), d, truncation)
        if any(np.allclose(ubar, fp.couplings, rtol=1e-9, atol=1e-12) for fp in found):
            continue
        found.append(_fixed_point(ubar, d, truncation, gaussian=False))
    return tuple(found)


# --------------------------------------------------------------------------------------------
# Passive flow against active (measured) points
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, repr=False)
class PassiveComparison:
    """The passive FRG curve u(σ(k)) next to couplings measured along σ (the active flow).

    Attributes
    ----------
    coupling : str
        ``"u4"`` or ``"u6"`` (``"u2"`` is allowed but trivial).
    scale, sigma, flow_values : numpy.ndarray
        The flow's scales whose σ(k) lies in the measured σ range, σ(k) and the coupling.
    flow_errors : numpy.ndarray or None
        Propagated errors of the flow curve (None if the flow carries none).
    measured_sigma, measured_values : numpy.ndarray
        The active points, as given.
    measured_errors : numpy.ndarray or None
        Their standard errors.
    flow_at_measured : numpy.ndarray or None
        The flow curve interpolated (monotone cubic in σ) at ``measured_sigma``; NaN outside
        the σ range the flow covers; None if σ(k) is not monotonic along the flow.
    flow_errors_at_measured : numpy.ndarray or None
        Flow errors interpolated the same way.
    pulls : numpy.ndarray or None
        (measured − flow)/sqrt(err_measured² + err_flow²) at the measured points, where
        defined; None without measured errors.
    """

    coupling: str
    scale: FloatArray
    sigma: FloatArray
    flow_values: FloatArray
    flow_errors: FloatArray | None
    measured_sigma: FloatArray
    measured_values: FloatArray
    measured_errors: FloatArray | None
    flow_at_measured: FloatArray | None
    flow_errors_at_measured: FloatArray | None
    pulls: FloatArray | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation (NaN becomes None).

        Returns
        -------
        dict
        """
        return json_record({"kind": "PassiveComparison", **dataclasses.asdict(self)})

    def __repr__(self) -> str:
        span = (
            f"sigma in [{self.sigma[0]:.4g}, {self.sigma[-1]:.4g}]" if self.sigma.size else "empty"
        )
        inside = (
            0 if self.flow_at_measured is None else int(np.sum(np.isfinite(self.flow_at_measured)))
        )
        return (
            f"PassiveComparison({self.coupling}: flow curve {self.scale.size} points, {span}; "
            f"{self.measured_sigma.size} measured points, {inside} inside the flow's range)"
        )


def _measured_arrays(
    sigma: npt.ArrayLike, values: npt.ArrayLike, errors: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    s = np.asarray(sigma, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.size < 1 or not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError("sigma must be a non-empty 1-D array of finite values > 0")
    if v.shape != s.shape or not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite with the shape of sigma {s.shape}, got {v.shape}")
    if errors is None:
        return s, v, None
    e = np.asarray(errors, dtype=np.float64)
    if e.shape != s.shape or not np.all(np.isfinite(e) & (e >= 0)):
        raise ValueError(f"errors must be finite, >= 0 and of the shape of sigma {s.shape}")
    return s, v, e


def _interpolate_in_sigma(
    flow_sigma: FloatArray, curve: FloatArray, at: FloatArray
) -> FloatArray | None:
    """Monotone-cubic interpolation of a curve in σ; None if σ(k) is not monotonic.

    σ(k) is flat in the deep IR (u2 moves by O(k^{d+2})), so plateaus are allowed and
    collapsed to their first point; the coupling is equally flat there.
    """
    from scipy.interpolate import PchipInterpolator

    if flow_sigma.size < 2:
        return None
    sign = 1.0 if flow_sigma[-1] >= flow_sigma[0] else -1.0
    tolerance = 1e-12 * np.abs(flow_sigma).max()
    if np.any(sign * np.diff(flow_sigma) < -tolerance):
        return None
    ordered = sign * np.maximum.accumulate(sign * flow_sigma)  # remove round-off wiggles
    knots, first = np.unique(ordered, return_index=True)
    if knots.size < 2:
        return None
    interp = PchipInterpolator(knots, curve[first], extrapolate=False)
    return np.asarray(interp(at), dtype=np.float64)


def passive_comparison(
    flow: FRGFlow,
    sigma: npt.ArrayLike,
    values: npt.ArrayLike,
    errors: npt.ArrayLike | None = None,
    *,
    coupling: str = "u4",
) -> PassiveComparison:
    """Put the passive flow curve u(σ(k)) on the σ range of measured (active) couplings.

    Parameters
    ----------
    flow : FRGFlow
        A flow from :func:`integrate_flow` (its IR point is usually the first active point).
    sigma : array_like, shape (m,)
        Weight scales at which the coupling was measured.
    values : array_like, shape (m,)
        Measured coupling at each σ.
    errors : array_like, shape (m,), optional
        Their standard errors.
    coupling : {"u4", "u6", "u2"}
        Which coupling to compare; it must be evolved by the flow's truncation.

    Returns
    -------
    PassiveComparison
        Arrays ready to be drawn together, plus the flow interpolated at the measured σ.
    """
    coupling = as_choice("coupling", coupling, flow.names)  # the couplings of its truncation
    s, v, e = _measured_arrays(sigma, values, errors)
    finite = np.isfinite(flow.sigma)
    flow_sigma = flow.sigma[finite]
    curve = flow.couplings[coupling][finite]
    curve_err = None if flow.errors is None else flow.errors[coupling][finite]
    inside = (flow_sigma >= s.min()) & (flow_sigma <= s.max())
    at_measured = _interpolate_in_sigma(flow_sigma, curve, s)
    err_at = None
    if at_measured is not None and curve_err is not None:
        err_at = _interpolate_in_sigma(flow_sigma, curve_err, s)
    pulls = None
    if at_measured is not None and e is not None:
        total = np.hypot(e, 0.0 if err_at is None else err_at)
        with np.errstate(invalid="ignore", divide="ignore"):
            pulls = np.where(total > 0, (v - at_measured) / total, np.nan)
    return PassiveComparison(
        coupling=coupling,
        scale=_frozen(flow.scale[finite][inside]),
        sigma=_frozen(flow_sigma[inside]),
        flow_values=_frozen(curve[inside]),
        flow_errors=None if curve_err is None else _frozen(curve_err[inside]),
        measured_sigma=_frozen(s),
        measured_values=_frozen(v),
        measured_errors=None if e is None else _frozen(e),
        flow_at_measured=None if at_measured is None else _frozen(at_measured),
        flow_errors_at_measured=None if err_at is None else _frozen(err_at),
        pulls=None if pulls is None else _frozen(pulls),
    )
