"""Spectral ensembles: cos-nets whose frequencies have a chosen isotropic density.

A depth-1 cos-net ``f(x) = b + sum_i a_i cos(p_i . x + b_i)`` with ``b_i`` uniform on
(-pi, pi) has the kernel ``K(x, y) = sigma_b^2 + (sigma_a^2 / 2) c(|x - y|)`` where
``c(r) = E cos(p . r)`` is the characteristic function of the frequency density.  So a
frequency density proportional to a momentum-space propagator ``S(|p|)`` makes the
network ensemble that free field theory at infinite width (physics.md §1.5, §5, §6):

    K(x) = sigma_b^2 + (sigma_a^2 / 2) int d^dp S(p) e^{ip.x} / int d^dp S(p).

A :class:`Spectrum` is such a density (isotropic in ``d`` dimensions), handed to
:class:`nnqft.Architecture` as ``spectrum=`` with ``activation="cos"``.  The direction of
each frequency is that of ``d`` unit normals ``g``; its radius ``|q|`` is drawn in the C++
core by an exact inverse CDF where one exists (the Cauchy law of the 1-D massive
propagator, with or without a sharp cutoff), by the Gaussian normals of the plain cos-net
(:func:`gaussian_spectrum`), or from a table built here once (:mod:`nnqft._radius_table`):
at d = 1 the quantiles of the compactified radius ``t = |q| / (|q| + s)`` at ``u = j / M``,
``t`` linear in a uniform ``u`` between them; at d >= 2 the radius as a function of
``|g|^2 ~ chi^2_d`` (independent of the direction), ``R = F^-1 o F_chi2`` at nodes of equal
width within each of 32 octaves of ``|g|^2``, ``R / |g|`` linear between them, so no
further random number and no root are needed.  :attr:`Spectrum.table_error` is the
Kolmogorov distance between the tabulated law and the exact one, measured at the cell
midpoints and where the tabulated radius crosses a kink or gap edge of the density: 1e-8
to 1e-6 for smooth densities in d >= 2, up to ``1 / M`` at d = 1 where a cell spans a
region without mass.  A table whose error is not below ``1 / M`` is refused before
sampling.  The first-layer ``sigma_w`` multiplies every frequency (``p = sigma_w0 q``; 1
by default).

A momentum shell ``|q| < shell`` (:meth:`Spectrum.truncated`) switches the neurons
outside it off: the truncated ensemble has the unnormalised density ``rho(q)
1{|q| < shell}``, so its characteristic function (and kernel) is the shell integral.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from . import _core
from ._radius_table import NODES as _NODES
from ._radius_table import RadialCdf, chi_table, quantile_table
from ._validation import as_int, as_real, as_real_array
from .quadrature import composite

__all__ = ["Spectrum", "gaussian_spectrum", "massive_spectrum", "REGULATORS", "MAX_DIMENSION",
           "MAX_POWER", "MOMENTUM_RANGE", "spectral_config", "grid_shells", "check_shell_grid"]

FloatArray = NDArray[np.float64]

#: UV regulators of :func:`massive_spectrum`: ``1{p < cutoff}`` or ``exp(-p^2 / cutoff^2)``.
REGULATORS = ("sharp", "smooth")
#: Largest spatial dimension of a spectrum (the radial kernels are implemented for d <= 4).
MAX_DIMENSION = 4
#: Default number of cells of the radius tables (d = 1: quantiles; d >= 2: chi tables).
DEFAULT_TABLE_SIZE = 16384
#: exp(-_TAIL) is where a Gaussian tail is cut for quadrature and tables (~4e-18).
_TAIL = 40.0
#: Panels of the compactified radius in the radial quadratures (mass, characteristic).
_QUAD_PANELS = 128
#: Momentum scales (mass, cutoff, sigma, a table's end) accepted: beyond them p^d, p^2
#: and the quadratures' panel edges over- or underflow in double precision (in d = 4
#: already near 1e+-50).
MOMENTUM_RANGE = (1e-30, 1e30)
#: Largest power of the massive density: beyond, the Matern kernel's Gamma(nu) K_nu(z)
#: overflows (c(r) came out 0 instead of ~1 at power 150).
MAX_POWER = 100.0
#: Largest |log10 m^(-2 power)|: the massive density at p = 0 stays a double (1e+-300).
_MAX_DECADES = 300.0


def _momentum(name: str, value: Any, *, zero: bool = False, inf: bool = False) -> float:
    """A momentum scale: > 0 (or 0 if ``zero``, +inf if ``inf``), else in MOMENTUM_RANGE."""
    v = as_real(name, value, minimum=0.0, allow_inf=inf)
    if v == 0 and not zero:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    lo, hi = MOMENTUM_RANGE
    if v != 0 and math.isfinite(v) and not lo <= v <= hi:
        raise ValueError(
            f"{name} = {v!r} is outside [{lo:g}, {hi:g}], the momentum scales for which the "
            "spectral quadratures stay finite in double precision: measure momenta in units "
            "where they are of order 1")
    return v


def _core_function(name: str, z: FloatArray) -> FloatArray:
    """``name`` (cos, sinc) by the core's vectorised kernels.

    Within a few ulp, ~15x faster than numpy: the vertex quadratures of the shell flow in
    d = 3 spent 74% of their time in ``np.sinc``.
    """
    return _core.apply_function(name, z.ravel()).reshape(z.shape)


def _radial_kernel(d: int, z: FloatArray) -> FloatArray:
    """``Omega_d(z)``: the angular average of ``exp(i q.r)`` at ``z = |q| |r|``."""
    if d == 1:
        return _core_function("cos", z)
    if d == 2:
        return np.asarray(special.j0(z))
    if d == 3:
        return _core_function("sinc", z)
    safe = np.where(z == 0, 1.0, z)
    return np.asarray(np.where(z == 0, 1.0, 2.0 * special.j1(safe) / safe))


class Spectrum:
    """An isotropic frequency density in ``d`` dimensions for a spectral cos-net.

    Build one with :func:`massive_spectrum`, :func:`gaussian_spectrum`,
    :meth:`Spectrum.from_function` or :meth:`Spectrum.from_table`; pass it to
    ``nnqft.Architecture(activation="cos", d_in=spectrum.d, spectrum=spectrum)``.

    Attributes
    ----------
    d : int
        Spatial dimension (1..4); must equal the architecture's ``d_in``.
    kind : str
        ``"gaussian"``, ``"massive"`` or ``"tabulated"``.
    shell : float
        Momentum shell: neurons with ``|q| >= shell`` are switched off (``inf``: none).
    table_size : int
        Cells ``M`` of the radius table (where one is used; at d >= 2 the table has
        ``32 K`` cells, ``K`` the power of two ``>= M / 32``, or up to 16 times as many
        where that is not accurate to ``1 / (8 M)``: see :meth:`radius_table`).

    Notes
    -----
    Instances are immutable, hashable and compare by value; two results merge only if
    their spectra are equal.  ``density(p)`` means the density per unit ``d``-volume at
    ``|q| = p`` (proportional to the momentum-space propagator); the density of the
    radius is ``p^(d-1) density(p)`` up to normalisation.
    """

    def __init__(self, d: int, kind: str, params: dict[str, Any], *, shell: float = math.inf,
                 table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self.d = as_int("d", d, minimum=1, maximum=MAX_DIMENSION)
        if kind not in ("gaussian", "massive", "tabulated"):
            raise ValueError(f"kind must be gaussian, massive or tabulated, got {kind!r}")
        self.kind = kind
        self._params = dict(params)
        self.shell = as_real("shell", shell, minimum=0.0, allow_inf=True)
        if self.shell == 0:
            raise ValueError("shell must be > 0 (a shell of 0 switches every neuron off)")
        self.table_size = as_int("table_size", table_size, minimum=16, maximum=2**24)
        self._norm = self._total_mass()
        if not (math.isfinite(self._norm) and self._norm > 0):
            raise ValueError(
                f"the frequency density does not normalise: int d^dp density = {self._norm!r} "
                "(it must be finite and > 0)")
        self._table: FloatArray | None = None
        self._table_error = math.nan

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_table(cls, p: Any, density: Any, d: int, *, shell: float = math.inf,
                   table_size: int = DEFAULT_TABLE_SIZE) -> Spectrum:
        """A spectrum from a tabulated density, linear between the nodes, zero beyond.

        Parameters
        ----------
        p : array_like
            1-D, strictly increasing momenta ``|q| >= 0``, ``p[-1]`` in
            :data:`MOMENTUM_RANGE`; the density is zero above ``p[-1]`` (and, if
            ``p[0] > 0``, below ``p[0]``).
        density : array_like
            1-D density per unit d-volume at ``p`` (finite, >= 0, not all zero, largest
            value not subnormal); proportional to the propagator ``S(p)`` wanted.  Only
            its shape matters: it is stored divided by its largest value, so that the
            quadratures neither overflow nor underflow.
        d : int
            Spatial dimension, 1..4.
        shell, table_size :
            See :class:`Spectrum`.
        """
        ps = as_real_array("p", p, ndim=1)
        values = as_real_array("density", density, ndim=1)
        if ps.size < 2 or ps.shape != values.shape:
            raise ValueError(f"p and density must be 1-D of the same length >= 2, got "
                             f"{ps.shape} and {values.shape}")
        if ps[0] < 0 or np.any(np.diff(ps) <= 0):
            raise ValueError("p must be >= 0 and strictly increasing")
        _momentum("p[-1]", ps[-1])
        if np.any(values < 0):
            raise ValueError(f"the density must be >= 0, got min {values.min():.3g}")
        peak = float(values.max())
        if 0 < peak < np.finfo(np.float64).tiny:
            raise ValueError(
                f"the density's largest value {peak:.3g} is subnormal (below 2.2e-308, where "
                "doubles lose their digits): multiply it by a constant (only its shape matters)")
        return cls(d, "tabulated", {"p": ps, "density": values / (peak or 1.0)}, shell=shell,
                   table_size=table_size)

    @classmethod
    def from_function(cls, density: Callable[[FloatArray], Any], d: int, p_max: float, *,
                      n_grid: int = 4097, shell: float = math.inf,
                      table_size: int = DEFAULT_TABLE_SIZE) -> Spectrum:
        """A spectrum from a callable ``density(p)`` on ``0 <= p <= p_max`` (zero beyond).

        The callable is evaluated once, vectorised, on ``n_grid`` equally spaced points
        (it must return a real array of their shape; ``p_max`` in
        :data:`MOMENTUM_RANGE`) and the spectrum is that table (:meth:`from_table`): it
        is what is sampled, what the theory integrates and what results record, so a
        saved result can be reloaded without the callable.
        """
        if not callable(density):
            raise TypeError(f"density must be a callable density(p), got {density!r}")
        p_max = _momentum("p_max", p_max)
        n_grid = as_int("n_grid", n_grid, minimum=3, maximum=2**22)
        grid = np.linspace(0.0, p_max, n_grid)
        values = as_real_array("density(p)", density(grid))
        if values.shape != grid.shape:
            raise ValueError(
                f"density(p) must return one value per momentum, an array of p's shape "
                f"{grid.shape}, got shape {values.shape} (a constant: np.full_like(p, c))")
        return cls.from_table(grid, values, d, shell=shell, table_size=table_size)

    def truncated(self, shell: float) -> Spectrum:
        """The same spectrum with the neurons at ``|q| >= shell`` switched off.

        The truncated density is ``rho(q) 1{|q| < shell}``, not renormalised: the
        momentum-shell coarse-graining of the same networks (the smaller of this
        spectrum's shell and ``shell`` applies).
        """
        shell = as_real("shell", shell, minimum=0.0, allow_inf=True)
        out = Spectrum(self.d, self.kind, self._params, shell=min(self.shell, shell),
                       table_size=self.table_size)
        out._table, out._table_error = self._table, self._table_error  # same radii law
        return out

    # -- the density -----------------------------------------------------------------
    def density(self, p: Any) -> FloatArray:
        """The (unnormalised) density per unit d-volume at ``|q| = p``, shell ignored."""
        ps = np.asarray(p, dtype=np.float64)
        if self.kind == "gaussian":
            return np.asarray(np.exp(-0.5 * self.d * ps**2 / self._params["sigma"] ** 2))
        if self.kind == "massive":
            m, s, cut = self._params["mass"], self._params["power"], self._params["cutoff"]
            with np.errstate(divide="ignore"):
                out = (ps**2 + m**2) ** (-s)
            if cut is None:
                return np.asarray(out)
            if self._params["regulator"] == "sharp":
                return np.asarray(np.where(ps < cut, out, 0.0))
            return np.asarray(out * np.exp(-((ps / cut) ** 2)))
        nodes, values = self._params["p"], self._params["density"]
        return np.asarray(np.interp(ps, nodes, values, left=0.0, right=0.0))

    def _radial(self, p: FloatArray) -> FloatArray:
        """Unnormalised density of the radius: ``p^(d-1) density(p)``."""
        return np.asarray(p ** (self.d - 1) * self.density(p))

    def normaliser(self) -> float:
        """``int_0^inf p^(d-1) density(p) dp`` of the untruncated density (shell ignored)."""
        return self._norm

    def radial_density(self, p: Any) -> FloatArray:
        """Normalised density of the radius ``|q|`` (zero outside the shell)."""
        ps = np.asarray(p, dtype=np.float64)
        return np.asarray(np.where(ps < self.shell, self._radial(ps) / self._norm, 0.0))

    def _support(self) -> float:
        """Where the density ends (``inf``: a power-law tail)."""
        if self.kind == "gaussian":
            return float(self._params["sigma"] * math.sqrt(2 * _TAIL / self.d))
        if self.kind == "tabulated":
            return float(self._params["p"][-1])
        cut = self._params["cutoff"]
        if cut is None:
            return math.inf
        return float(cut if self._params["regulator"] == "sharp" else cut * math.sqrt(_TAIL))

    def _scale(self) -> float:
        """The momentum scale of the compactification ``t = p / (p + s)``."""
        if self.kind == "gaussian":
            return float(self._params["sigma"])
        if self.kind == "massive" and self._params["mass"] > 0:
            return float(self._params["mass"])
        return self._support() / 4 if self.kind == "tabulated" else float(self._params["cutoff"])

    def _edges(self, end: float, r_max: float = 0.0) -> FloatArray:
        """Panel edges on ``[0, end]`` for the radial quadratures.

        The compactified grid (the density's scale), the landmarks (16 per decade) and
        panels of width <= 4 / r_max in p (so that ``Omega_d(p r)`` is resolved).
        """
        s = self._scale()
        t_end = 1.0 if math.isinf(end) else end / (end + s)
        t = np.linspace(0.0, t_end, _QUAD_PANELS + 1)
        if math.isinf(end):
            t = t[:-1]  # t = 1 is p = inf
        with np.errstate(divide="ignore"):  # t rounds to 1 (p = inf) at end / s > 1e16
            parts = [s * t / (1.0 - t), self._landmarks(end, 16)]  # inf edges dropped below
        if r_max > 0 and math.isfinite(end):
            parts.append(np.linspace(0.0, end, int(min(math.ceil(end * r_max / 4.0), 10**6)) + 2))
        edges = np.unique(np.concatenate(parts + [np.array([0.0, end])]))
        return np.asarray(edges[np.isfinite(edges)], dtype=np.float64)

    def _landmarks(self, end: float, per_decade: int) -> FloatArray:
        """Momenta below ``end`` that panels must not straddle.

        A tabulated density's nodes (its kinks), and ``per_decade`` points per decade from
        the scale to a far cutoff (power-law tails: the compactified grid alone lumped p
        in [1e2, 1e4] s into one panel).
        """
        s = self._scale()
        parts = [np.zeros(0)]
        if self.kind == "tabulated":
            nodes = self._params["p"]
            parts.append(nodes[nodes < end])
        if math.isfinite(end) and end > 10 * s:
            parts.append(np.geomspace(s, end, math.ceil(per_decade * math.log10(end / s)) + 1))
        return np.concatenate(parts)

    def _total_mass(self) -> float:
        """``int_0^inf p^(d-1) density(p) dp`` (closed form where the support is infinite)."""
        d = self.d
        if self.kind == "gaussian":
            a = 0.5 * d / self._params["sigma"] ** 2
            return float(special.gamma(d / 2) / (2 * a ** (d / 2)))
        if self.kind == "massive" and self._params["cutoff"] is None:
            m, s = self._params["mass"], self._params["power"]
            return float(m ** (d - 2 * s) * special.beta(d / 2, s - d / 2) / 2)
        nodes, weights = composite(self._edges(self._support()), _NODES)
        return float(weights @ self._radial(nodes))

    def mass(self, shell: float | None = None) -> float:
        """Probability that ``|q| < shell`` (default: this spectrum's shell)."""
        end = self.shell if shell is None else min(
            as_real("shell", shell, minimum=0.0, allow_inf=True), self.shell)
        if end >= self._support():
            return 1.0
        if self.kind == "massive" and self._cauchy():
            return float(2 / math.pi * math.atan(end / self._params["mass"]))
        nodes, weights = composite(self._edges(end), _NODES)
        return float(weights @ self._radial(nodes) / self._norm)

    def characteristic(self, r: Any) -> FloatArray:
        """``c(r) = E[1{|q| < shell} cos(q . r)]`` at ``|r| = r`` (any shape, r >= 0).

        Closed forms without a shell: the Gaussian ``exp(-sigma^2 r^2 / (2 d))``; the
        untruncated massive spectrum is the Matern function ``2^(1-nu) / Gamma(nu)
        (m r)^nu K_nu(m r)``, ``nu = power - d / 2`` (``exp(-m r)`` in d = 1 at power 1
        and in d = 3 at power 2).  Otherwise a radial quadrature ``int rho(p)
        Omega_d(p r) dp`` (``Omega_1 = cos``, ``Omega_2 = J_0``, ``Omega_3 = sin z / z``,
        ``Omega_4 = 2 J_1(z) / z``) on 16-point Gauss-Legendre panels that resolve both
        the density's scale and the oscillation (relative accuracy ~1e-12, tested
        against scipy's adaptive quadrature).  At ``|r| = inf`` it is the limit 0 (every
        spectrum here has a density: Riemann-Lebesgue); a NaN radius is a ValueError.
        """
        rs = np.abs(as_real_array("r", r, allow_inf=True))
        finite = np.isfinite(rs)
        if not finite.all():
            return np.asarray(np.where(finite, self.characteristic(np.where(finite, rs, 0.0)), 0.0))
        end = min(self.shell, self._support())
        if math.isinf(self.shell) and self.kind == "gaussian":
            return np.asarray(np.exp(-0.5 * self._params["sigma"] ** 2 * rs**2 / self.d))
        if math.isinf(end):  # massive, no cutoff, no shell: Matern
            m, nu = self._params["mass"], self._params["power"] - self.d / 2
            z = m * rs
            safe = np.where(z == 0, 1.0, z)
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                out = 2 ** (1 - nu) / special.gamma(nu) * safe**nu * special.kv(nu, safe)
            return np.asarray(np.where(z == 0, 1.0, np.nan_to_num(out, nan=0.0)))
        flat, inverse = np.unique(rs.ravel(), return_inverse=True)
        nodes, weights = composite(self._edges(end, float(flat.max(initial=0.0))), _NODES)
        w = weights * self._radial(nodes) / self._norm
        out = np.empty(flat.size)
        for i0 in range(0, flat.size, 256):  # bounded memory: 256 radii at a time
            chunk = flat[i0:i0 + 256]
            out[i0:i0 + 256] = _radial_kernel(self.d, np.outer(chunk, nodes)) @ w
        return np.asarray(out[inverse].reshape(rs.shape))

    # -- the sampler's radius law ------------------------------------------------------
    def _cauchy(self) -> bool:
        """The exact inverse CDF ``m tan(u arctan(cutoff / m))``: d = 1, power 1, massive."""
        p = self._params
        return (self.kind == "massive" and self.d == 1 and p["power"] == 1 and p["mass"] > 0
                and (p["cutoff"] is None or p["regulator"] == "sharp"))

    def core_spec(self) -> tuple[str, float, float, list[float], float]:
        """``(kind, scale, angle, table, shell)`` for the C++ core's ``SpectrumSpec``."""
        if self.kind == "gaussian":
            return ("gaussian", float(self._params["sigma"]), 0.0, [], self.shell)
        if self._cauchy():
            m, cut = self._params["mass"], self._params["cutoff"]
            angle = math.pi / 2 if cut is None else math.atan(cut / m)
            return ("cauchy", float(m), angle, [], self.shell)
        table = self.radius_table()
        if not self.table_error < 1 / self.table_size:  # the promise of an exact-mass cell
            raise ValueError(
                f"the radius law of {self!r} could not be tabulated: Kolmogorov distance "
                f"{self.table_error:.3g} >= 1/table_size, the table's promise.  A tail too "
                "heavy for doubles (a power just above d/2 without a cutoff: a few percent "
                "of the mass beyond |q| ~ 1e16 m) cannot be tabulated: give a cutoff or a "
                "larger power")
        if self.d == 1:
            return ("table", self._scale(), 0.0, table.tolist(), self.shell)
        return ("chi", 1.0, 0.0, table.tolist(), self.shell)

    def radius_table(self) -> FloatArray:
        """The table the core draws radii from (built once; :mod:`nnqft._radius_table`).

        d = 1: the quantiles ``t_j`` of ``t = |q| / (|q| + s)`` at ``u = j / M``
        (``M + 1`` values; ``t`` linear in ``u`` between them).  d >= 2: ``H = R /
        sqrt(Q)`` at the nodes ``Q`` of ``|g|^2`` of the chi table (``32 K + 1`` values,
        ``K`` the power of two ``>= M / 32``, doubled up to 4 times where that is not
        accurate to ``1 / (8 M)``; ``H`` linear in ``|g|^2`` between them, the radius
        ``sqrt(Q) H(Q)``).
        """
        if self._table is None:
            cdf = self._radial_cdf()
            size = self.table_size
            self._table, self._table_error = (
                quantile_table(cdf, size) if self.d == 1 else chi_table(cdf, self.d, size))
        return self._table

    def _radial_cdf(self) -> RadialCdf:
        """The CDF of the radius that the tables are built from."""
        end = self._support()
        scale = self._scale()
        if self.d > 1 and math.isfinite(end):
            # the chi table's t is internal: t = p / (p + end / 4) keeps a cutoff 1e16 m
            # (where d >= 3 puts the mass) away from t = 1 - 1e-16
            scale = max(scale, end / 4)
        return RadialCdf(self._radial, scale, end, self._landmarks(end, 256))

    @property
    def table_error(self) -> float:
        """Kolmogorov distance between the tabulated radius law and the exact one.

        0 for the exact samplers (Gaussian, Cauchy); for tables the largest distance at
        the cell midpoints (where linear interpolation of a smooth law is worst) and where
        the tabulated radius crosses a landmark (a kink or gap edge of the density).
        """
        if self.kind == "gaussian" or self._cauchy():
            return 0.0
        self.radius_table()
        return self._table_error

    # -- identity ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (inverse of :meth:`from_dict`)."""
        params = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                  for k, v in self._params.items()}
        return {"kind": self.kind, "d": self.d, **params,
                "shell": None if math.isinf(self.shell) else self.shell,
                "table_size": self.table_size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spectrum:
        """Rebuild a spectrum from :meth:`to_dict` output."""
        data = dict(data)
        kind, d = data.pop("kind"), data.pop("d")
        shell = data.pop("shell", None)
        shell = math.inf if shell is None else float(shell)  # JSON has no infinity
        size = data.pop("table_size", DEFAULT_TABLE_SIZE)
        if kind == "gaussian":
            return gaussian_spectrum(d, data["sigma"]).truncated(shell)._sized(size)
        if kind == "massive":
            return massive_spectrum(data["mass"], d=d, power=data["power"],
                                    cutoff=data["cutoff"], regulator=data["regulator"],
                                    table_size=size).truncated(shell)
        if kind == "tabulated":
            return cls.from_table(data["p"], data["density"], d, shell=shell, table_size=size)
        raise ValueError(f"unknown spectrum kind {kind!r}")

    def _sized(self, table_size: int) -> Spectrum:
        return Spectrum(self.d, self.kind, self._params, shell=self.shell, table_size=table_size)

    def _identity(self) -> tuple[Any, ...]:
        params = []
        for k in sorted(self._params):
            v = self._params[k]
            if isinstance(v, np.ndarray):
                v = hashlib.sha256(v.tobytes()).hexdigest()
            params.append((k, v))
        return (self.kind, self.d, tuple(params), self.shell, self.table_size)

    def same_law(self, other: Spectrum) -> bool:
        """Whether ``other`` is this spectrum up to its shell (one ensemble, two shells)."""
        return self._identity()[:3] + self._identity()[4:] == \
            other._identity()[:3] + other._identity()[4:]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spectrum):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        if self.kind == "tabulated":
            p = self._params["p"]
            body = f"tabulated, {p.size} nodes on [{p[0]:.4g}, {p[-1]:.4g}]"
        else:
            body = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        shell = "" if math.isinf(self.shell) else f", shell={self.shell!r}"
        return f"Spectrum({self.kind}: {body}, d={self.d}{shell})"


def gaussian_spectrum(d: int, sigma: float = 1.0) -> Spectrum:
    """The plain cos-net's frequencies: ``q ~ N(0, sigma^2 / d I_d)``.

    Kernel ``(sigma_a^2 / 2) exp(-sigma^2 |r|^2 / (2 d))``; at ``sigma = 1`` the networks
    are bit for bit those of ``Architecture(activation="cos")`` without a spectrum.
    ``sigma`` must lie in :data:`MOMENTUM_RANGE`.
    """
    return Spectrum(d, "gaussian", {"sigma": _momentum("sigma", sigma)})


def massive_spectrum(mass: float, *, d: int, power: float = 1.0, cutoff: float | None = None,
                     regulator: str = "sharp",
                     table_size: int = DEFAULT_TABLE_SIZE) -> Spectrum:
    """Frequencies with density ``(p^2 + m^2)^(-power)`` times a UV regulator.

    The spectral cos-net with this density is, at infinite width, the free scalar of
    mass ``m`` (``power = 1``: the propagator ``1 / (p^2 + m^2)``) in ``d`` dimensions,
    normalised so that ``K(0) = sigma_b^2 + sigma_a^2 / 2``.

    Parameters
    ----------
    mass : float
        ``m >= 0``; ``m = 0`` only where the radial density ``p^(d-1-2 power)`` is
        finite at p = 0 (``2 power <= d - 1``).  A mass > 0 lies in
        :data:`MOMENTUM_RANGE` and keeps ``m^(-2 power)`` within 1e+-300.
    d : int
        Spatial dimension, 1..4 (the architecture's ``d_in``).
    power : float
        ``s > 0`` in ``(p^2 + m^2)^(-s)``, at most :data:`MAX_POWER`.
    cutoff : float or None
        UV cutoff ``Lambda`` in :data:`MOMENTUM_RANGE` (``inf``: none).  None (no
        cutoff) needs ``2 power > d`` (normalisable): in d = 1 at power 1 the kernel
        is ``e^{-m|r|} / 2`` (Cauchy frequencies, drawn by an exact inverse CDF); in
        general the Matern kernel.
    regulator : {"sharp", "smooth"}
        ``1{p < cutoff}`` or ``exp(-p^2 / cutoff^2)``.
    table_size : int
        Cells of the radius table (not used by the exact Cauchy sampler; see
        :attr:`Spectrum.table_size`).
    """
    mass = _momentum("mass", mass, zero=True)
    power = as_real("power", power, positive=True, maximum=MAX_POWER)
    d = as_int("d", d, minimum=1, maximum=MAX_DIMENSION)
    if regulator not in REGULATORS:
        raise ValueError(f"regulator must be one of {REGULATORS}, got {regulator!r}")
    if cutoff is not None:
        cutoff = _momentum("cutoff", cutoff, inf=True)
        if math.isinf(cutoff):
            cutoff = None
    if mass > 0 and 2 * power * abs(math.log10(mass)) > _MAX_DECADES:
        bound = 10 ** (_MAX_DECADES / (2 * power))
        raise ValueError(
            f"mass^(-2 power), the density at p = 0, overflows double precision at mass = "
            f"{mass!r}, power = {power}: at this power the mass must lie in "
            f"[{1 / bound:.3g}, {bound:.3g}] (measure momenta in units of order 1)")
    if mass == 0 and d <= 2 * power:
        raise ValueError(
            f"mass = 0 needs d > 2 power for the density p^(d-1) / p^(2 power) to be "
            f"integrable at p = 0, got d = {d}, power = {power}: give a mass > 0")
    if mass == 0 and 2 * power > d - 1:
        raise ValueError(
            f"mass = 0 with power > (d - 1)/2 = {(d - 1) / 2} makes the radial density "
            f"p^(d-1-2 power) diverge at p = 0 (d = {d}, power = {power}); the radius table "
            "and the radial quadratures do not resolve that: give a mass > 0")
    if cutoff is None and 2 * power <= d:
        raise ValueError(
            f"the density (p^2 + m^2)^(-{power}) does not normalise in d = {d} without a "
            f"UV cutoff (it needs power > d/2 = {d / 2}): give cutoff= (sharp or smooth)")
    return Spectrum(d, "massive", {"mass": mass, "power": power, "cutoff": cutoff,
                                   "regulator": regulator}, table_size=table_size)


# -- the core's configuration ------------------------------------------------------------
def spectral_config(arch: Any, shells: Any = ()) -> dict[str, Any]:
    """Keyword arguments of ``_core.SampleConfig`` for ``arch``'s spectrum and read-out.

    ``shells``: one momentum shell per grid point (empty: the spectrum's own).
    """
    out: dict[str, Any] = {"sign_weights": arch.weight_dist == "sign",
                           "grid_shells": [float(s) for s in shells]}
    if arch.spectrum is not None:
        out["spectrum"] = arch.spectrum.core_spec()
    return out


def grid_shells(archs: Any) -> list[float]:
    """The shell of each grid point of a one-pass run (empty for a single point)."""
    if len(archs) == 1:
        return []
    return [math.inf if a.spectrum is None else a.spectrum.shell for a in archs]


def check_shell_grid(archs: Any) -> None:
    """The points of a one-pass grid must share the spectrum up to its shell."""
    first = archs[0].spectrum
    for a in archs[1:]:
        s = a.spectrum
        if (s is None) != (first is None) or (s is not None and not s.same_law(first)):
            raise ValueError(f"a grid must share the spectrum (only its shell may differ): "
                             f"{first!r} vs {s!r}")
