"""Spectral ensembles: cos-nets whose frequencies have a chosen isotropic density.

A depth-1 cos-net ``f(x) = b + sum_i a_i cos(p_i . x + b_i)`` with ``b_i`` uniform on
(-pi, pi) has the kernel ``K(x, y) = sigma_b^2 + (sigma_a^2 / 2) c(|x - y|)`` where
``c(r) = E cos(p . r)`` is the characteristic function of the frequency density.  So a
frequency density proportional to a momentum-space propagator ``S(|p|)`` makes the
network ensemble that free field theory at infinite width (physics.md §1.5, §5, §6):

    K(x) = sigma_b^2 + (sigma_a^2 / 2) int d^dp S(p) e^{ip.x} / int d^dp S(p).

A :class:`Spectrum` is such a density (isotropic in ``d`` dimensions), handed to
:class:`nnqft.Architecture` as ``spectrum=`` with ``activation="cos"``.  The radius
``|q|`` of each frequency is drawn in the C++ core by an exact inverse CDF where one
exists (the Cauchy law of the 1-D massive propagator, with or without a sharp
cutoff), by the Gaussian normals of the plain cos-net (:func:`gaussian_spectrum`), or
from a quantile table built here once: the quantiles ``t_j`` of the compactified
radius ``t = |q| / (|q| + s)`` at ``u = j / M``, ``t^d`` linear in ``u`` between them.
Every table cell carries exactly probability ``1 / M``, so the sampled law differs from
the exact one only inside cells: :attr:`Spectrum.table_error` is the Kolmogorov distance
between them, measured at the cell midpoints: 1e-7 to 1e-6 inside smooth densities, up
to ``1 / (2 M)`` where the last cell spans a thin tail (a smooth regulator, a tabulated
density's end).  A table whose error is not below ``1 / M`` is refused before sampling.
The first-layer ``sigma_w`` multiplies every frequency (``p = sigma_w0 q``; 1 by default).

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

from ._validation import as_int, as_real, as_real_array

__all__ = ["Spectrum", "gaussian_spectrum", "massive_spectrum", "REGULATORS", "MAX_DIMENSION",
           "MAX_POWER", "MOMENTUM_RANGE", "spectral_config", "grid_shells", "check_shell_grid"]

FloatArray = NDArray[np.float64]

#: UV regulators of :func:`massive_spectrum`: ``1{p < cutoff}`` or ``exp(-p^2 / cutoff^2)``.
REGULATORS = ("sharp", "smooth")
#: Largest spatial dimension of a spectrum (the radial kernels are implemented for d <= 4).
MAX_DIMENSION = 4
#: Default number of cells of the radius quantile table.
DEFAULT_TABLE_SIZE = 16384
#: exp(-_TAIL) is where a Gaussian tail is cut for quadrature and tables (~4e-18).
_TAIL = 40.0
#: Panels of the compactified radius used for the CDF and the table (16 Gauss-Legendre
#: nodes each).
_CDF_PANELS = 4096
#: The largest double below 1: the compactified radius t = 1 is p = inf.
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
#: Floor of t in the table's density: t = 0 is p = 0, where a massless density's
#: p^(d-1) rho(p) is 0 * inf (far below any quadrature node, above underflow of p^(2 power)).
_T_MIN = 1e-60
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
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


def _radial_kernel(d: int, z: FloatArray) -> FloatArray:
    """``Omega_d(z)``: the angular average of ``exp(i q.r)`` at ``z = |q| |r|``."""
    if d == 1:
        return np.asarray(np.cos(z))
    if d == 2:
        return np.asarray(special.j0(z))
    if d == 3:
        return np.asarray(np.sinc(z / np.pi))
    safe = np.where(z == 0, 1.0, z)
    return np.asarray(np.where(z == 0, 1.0, 2.0 * special.j1(safe) / safe))


def _gl_rule(edges: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights of 16-point Gauss-Legendre on every panel between ``edges``."""
    lo, hi = edges[:-1, None], edges[1:, None]
    half = 0.5 * (hi - lo)
    return (lo + half * (1.0 + _GL_NODES)).ravel(), (half * _GL_WEIGHTS).ravel()


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
        Cells ``M`` of the radius quantile table (where one is used).

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

        The compactified grid (the density's scale), the table nodes (its kinks), 16
        panels per decade from the scale to a far cutoff (power-law tails: the
        compactified grid alone lumped p in [1e2, 1e4] s into one panel) and panels of
        width <= 4 / r_max in p (so that ``Omega_d(p r)`` is resolved).
        """
        s = self._scale()
        t_end = 1.0 if math.isinf(end) else end / (end + s)
        t = np.linspace(0.0, t_end, _QUAD_PANELS + 1)
        if math.isinf(end):
            t = t[:-1]  # t = 1 is p = inf
        with np.errstate(divide="ignore"):  # t rounds to 1 (p = inf) at end / s > 1e16
            parts = [s * t / (1.0 - t)]  # those edges are dropped below
        if self.kind == "tabulated":
            nodes = self._params["p"]
            parts.append(nodes[nodes < end])
        if math.isfinite(end) and end > 10 * s:
            parts.append(np.geomspace(s, end, math.ceil(16 * math.log10(end / s)) + 1))
        if r_max > 0 and math.isfinite(end):
            parts.append(np.linspace(0.0, end, int(min(math.ceil(end * r_max / 4.0), 10**6)) + 2))
        edges = np.unique(np.concatenate(parts + [np.array([0.0, end])]))
        return np.asarray(edges[np.isfinite(edges)], dtype=np.float64)

    def _total_mass(self) -> float:
        """``int_0^inf p^(d-1) density(p) dp`` (closed form where the support is infinite)."""
        d = self.d
        if self.kind == "gaussian":
            a = 0.5 * d / self._params["sigma"] ** 2
            return float(special.gamma(d / 2) / (2 * a ** (d / 2)))
        if self.kind == "massive" and self._params["cutoff"] is None:
            m, s = self._params["mass"], self._params["power"]
            return float(m ** (d - 2 * s) * special.beta(d / 2, s - d / 2) / 2)
        nodes, weights = _gl_rule(self._edges(self._support()))
        return float(weights @ self._radial(nodes))

    def mass(self, shell: float | None = None) -> float:
        """Probability that ``|q| < shell`` (default: this spectrum's shell)."""
        end = self.shell if shell is None else min(
            as_real("shell", shell, minimum=0.0, allow_inf=True), self.shell)
        if end >= self._support():
            return 1.0
        if self.kind == "massive" and self._cauchy():
            return float(2 / math.pi * math.atan(end / self._params["mass"]))
        nodes, weights = _gl_rule(self._edges(end))
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
        nodes, weights = _gl_rule(self._edges(end, float(flat.max(initial=0.0))))
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
                f"{self.table_error:.3g} >= 1/table_size, the table's promise.  The table's "
                "quadrature fails on densities singular at an end of their support (a power "
                "just above d/2 without a cutoff, a mass tiny against the cutoff), narrow "
                "bumps, and densities that vanish on [0, p0): give a cutoff or a larger "
                "mass, or widen the density")
        return ("table", self._scale(), 0.0, (table ** self.d).tolist(), self.shell)

    def radius_table(self) -> FloatArray:
        """Quantiles ``t_j`` of ``t = |q| / (|q| + s)`` at ``u = j / M`` (built once).

        The core interpolates ``t^d`` linearly in ``u`` (near ``q = 0`` the radius law
        is ``~ q^d``, so ``t^d`` is linear there).
        """
        if self._table is None:
            self._table, self._table_error = self._build_table()
        return self._table

    @property
    def table_error(self) -> float:
        """Kolmogorov distance between the tabulated radius law and the exact one.

        0 for the exact samplers (Gaussian, Cauchy); for tables the largest
        ``|F(t(u)) - u|`` at the cell midpoints (where linear interpolation is worst).
        """
        if self.kind == "gaussian" or self._cauchy():
            return 0.0
        self.radius_table()
        return self._table_error

    def _build_table(self) -> tuple[FloatArray, float]:
        s, end = self._scale(), self._support()
        t_end = 1.0 if math.isinf(end) else end / (end + s)
        edges = np.linspace(0.0, t_end, _CDF_PANELS + 1)

        def g(t: FloatArray) -> FloatArray:  # density of t (unnormalised)
            tt = np.clip(t, _T_MIN, _BELOW_ONE)  # t = 0 is p = 0, t = 1 is p = inf
            return np.asarray(self._radial(s * tt / (1 - tt)) * s / (1 - tt) ** 2)

        nodes, weights = _gl_rule(edges)
        panel = (weights * g(nodes)).reshape(_CDF_PANELS, -1).sum(axis=1)
        cdf = np.concatenate([[0.0], np.cumsum(panel)])
        total = cdf[-1]

        def partial(i: NDArray[np.int64], t: FloatArray) -> FloatArray:
            """F(t) * total for t in panel i."""
            lo = edges[i][:, None]
            half = 0.5 * (t[:, None] - lo)
            x = lo + half * (1.0 + _GL_NODES)
            return np.asarray(cdf[i] + (half * _GL_WEIGHTS * g(x)).sum(axis=1))

        m = self.table_size
        targets = np.arange(m + 1) / m * total
        i = np.clip(np.searchsorted(cdf, targets, side="right") - 1, 0, _CDF_PANELS - 1)
        lo, hi = edges[i], edges[i + 1]
        frac = (targets - cdf[i]) / np.where(panel[i] > 0, panel[i], 1.0)
        t = lo + np.clip(frac, 0, 1) * (hi - lo)
        for _ in range(8):  # safeguarded Newton inside the panel
            f = partial(i, t) - targets
            step = f / np.maximum(g(t), 1e-300)
            t = np.clip(t - step, lo, hi)
        t[0], t[-1] = 0.0, min(t_end, np.nextafter(1.0, 0.0))
        t = np.maximum.accumulate(t)
        mid = (0.5 * (t[:-1] ** self.d + t[1:] ** self.d)) ** (1.0 / self.d)
        j = np.clip(np.searchsorted(edges, mid, side="right") - 1, 0, _CDF_PANELS - 1)
        error = float(np.max(np.abs(partial(j, mid) / total - (np.arange(m) + 0.5) / m)))
        return t, error

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
        Cells of the radius quantile table (not used by the exact Cauchy sampler).
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
