"""The momentum-shell flow of a spectral cos-net: one ensemble, neurons kept below Λ.

Keeping only the neurons of a spectral cos-net (:mod:`nnqft.spectral`) whose frequency
has ``|q| < Λ`` is an exact momentum-shell coarse-graining of the same networks: the
truncated ensemble has the unnormalised frequency density ``rho(q) 1{|q| < Λ}``, so its
kernel is the shell integral of the propagator and its connected correlators are the
exact finite-width ones of that density (physics.md §6.3; the Bayesian-RG benchmark of §5).
:func:`shell_flow` evaluates every network at every Λ in one pass of the C++ core
(common random numbers, as :func:`nnqft.sigma_flow` does for σ), so the jackknife gives
the covariance along Λ, and sets the exact kernel, κ4 and fitted couplings of each
truncated ensemble beside the sampled ones.

For the massive spectrum at power 1 the kernel inside the shell is the propagator
``K~(p) = (2π)^d σ_a² / (2 N) / (p² + m²)`` (``N = ∫ d^dp (p² + m²)^-1`` of the untruncated
density), so the canonically normalised field has ``Z = 2 N / ((2π)^d σ_a²)``, mass
``u2 = m²``, and renormalised dimensionless couplings ``ū_n = u_n Λ^{(n/2-1)d-n} / Z^{n/2}``
(:func:`nnqft.frg.to_dimensionless` at scale Λ) — the variables of the LPA flow
(:meth:`ShellFlow.frg`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import render
from ._result import Result
from ._validation import as_increasing, as_inputs
from .architecture import Architecture, check_arch
from .fit import CouplingFit, fit_couplings, fit_exact_like, theory_connected
from .io import json_record, prefixed
from .sampling import sample_grid
from .statistics import jackknife_covariance
from .vertex import check_cutoff

__all__ = ["ShellFlow", "shell_flow", "shell_architectures"]

FloatArray = NDArray[np.float64]


def shell_architectures(arch: Architecture, shells: Any) -> list[Architecture]:
    """``arch`` with its spectrum truncated at each shell ``Λ`` (neurons at ``|q| >= Λ`` off)."""
    check_arch(arch)
    if arch.spectrum is None:
        raise ValueError("a momentum-shell flow needs a spectral cos-net: "
                         "Architecture(activation='cos', spectrum=nnqft.massive_spectrum(...))")
    return [arch.replace(spectrum=arch.spectrum.truncated(float(s)))
            for s in as_increasing("shells", shells, allow_inf=True)]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ShellFlow(Result, kind="shell_flow"):
    """Correlators and couplings of one spectral ensemble along a grid of shells Λ.

    Attributes
    ----------
    arch : Architecture
        The untruncated ensemble.
    x : ndarray, shape (k, d_in)
    shells : ndarray
        The shells Λ (in units of the spectrum's ``q``; frequencies are ``sigma_w0 q``).
    kernel, kernel_errors, exact_kernel : ndarray, shape (len(shells), C(k+1, 2))
        Sampled two-point function (with standard errors) and the exact kernel of each
        truncated ensemble, on the sorted pairs.
    kappa4, kappa4_errors, exact_kappa4 : ndarray, shape (len(shells), C(k+3, 4))
        Connected four-point function, sampled and exact.
    couplings, errors : dict of str to ndarray
        Fitted couplings (``fit_couplings`` with the box ``cutoff`` and the fixed weights
        ``weights="kernel"``) at each Λ.
    covariance : dict of str to ndarray
        Jackknife covariance of each coupling along the shells (shared bins).
    replicas : dict of str to ndarray
        Jackknife replicas, shape ``(n_bins, len(shells))``.
    chi2, ndof : ndarray
        Goodness of each fit (a large χ² says the local ``u4`` form does not describe
        the truncated ensemble's κ4: it is non-local on the scale 1/Λ).
    exact_couplings : dict of str to ndarray
        The same fit applied to the exact κ4 (κ6) of each truncated ensemble, with the
        same fixed weights (:func:`nnqft.fit.fit_exact_like`), so that the pull between
        the two measures sampling error alone even where the local form does not
        describe κ4 (sample-estimated GLS weights would bias it: at Λ = 8 in the
        d = 1 massive example the GLS pulls averaged +1.6 over 8 seeds).
    meta : dict
        seed, estimator, n_networks, cutoff (the vertex box), terms.
    """

    arch: Architecture
    x: FloatArray
    shells: FloatArray
    kernel: FloatArray
    kernel_errors: FloatArray
    exact_kernel: FloatArray
    kappa4: FloatArray
    kappa4_errors: FloatArray
    exact_kappa4: FloatArray
    couplings: dict[str, FloatArray]
    errors: dict[str, FloatArray]
    covariance: dict[str, FloatArray]
    replicas: dict[str, FloatArray]
    chi2: FloatArray
    ndof: FloatArray
    exact_couplings: dict[str, FloatArray]
    meta: dict[str, Any]

    @property
    def terms(self) -> tuple[str, ...]:
        """The fitted coupling names."""
        return tuple(self.couplings)

    # -- renormalised couplings ------------------------------------------------------
    def field_normalisation(self) -> tuple[float, float, float]:
        """``(Z, m, s)``: field normalisation, mass and frequency scale ``s = sigma_w0``.

        Defined for the massive spectrum at power 1 (the canonical kinetic term
        ``Z (p² + m²)``); m is in the units of the frequencies ``p = s q``.
        """
        sp = self.arch.spectrum
        params = sp.to_dict() if sp is not None else {}
        if sp is None or params.get("kind") != "massive" or params.get("power") != 1:
            raise ValueError("renormalised couplings need the massive spectrum at power 1 "
                             "(a canonical kinetic term Z (p^2 + m^2)), got "
                             f"{sp!r}")
        d, s = self.arch.d_in, self.arch.sigma_w_layers[0]
        area = 2 * math.pi ** (d / 2) / math.gamma(d / 2)  # of the unit sphere S^(d-1)
        n_p = area * sp.normaliser() * s ** (d - 2)  # int d^dp (p^2 + (s m)^2)^-1
        sigma_a = self.arch.sigma_w_layers[-1]
        z = 2 * n_p / ((2 * math.pi) ** d * sigma_a**2)
        return z, s * float(params["mass"]), s

    def dimensionless(self, name: str = "u4", exact: bool = False) -> FloatArray:
        """Renormalised dimensionless coupling ``ū_n = u_n Λ_p^{(n/2-1)d-n} / Z^{n/2}``.

        ``Λ_p = sigma_w0 Λ`` is the shell in frequency units (:meth:`field_normalisation`
        gives Z); ``exact=True`` for the exact couplings.
        """
        n = {"u4": 4, "u6": 6}.get(name)
        if n is None:
            raise ValueError(f"dimensionless couplings are defined for u4 and u6, not {name!r}")
        table = self.exact_couplings if exact else self.couplings
        if name not in table:
            raise ValueError(f"coupling {name!r} was not fitted; have {sorted(table)}")
        z, _, s = self.field_normalisation()
        d = self.arch.d_in
        return np.asarray(table[name] * (s * self.shells) ** ((n / 2 - 1) * d - n) / z ** (n / 2))

    def frg(self, index: int = 0, **kwargs: Any) -> Any:
        """The LPA flow (:func:`nnqft.frg.integrate_flow`) from the couplings at ``shells[index]``.

        Initial conditions at the scale ``scale0`` = that shell (in frequency units; give
        ``scale0=`` where the shell is infinite): ``u2 = m²`` and the canonically
        normalised ``u4 / Z²`` (``u6 / Z³``) with their jackknife covariance; output at the
        shells from there on (in frequency units) unless ``scales=`` is given.  Remaining
        keywords go to :func:`nnqft.frg.integrate_flow`.
        """
        from .frg import integrate_flow

        names = [t for t in ("u4", "u6") if t in self.couplings]
        if names[:1] != ["u4"]:
            raise ValueError("the FRG flow needs a fitted u4")
        z, m, s = self.field_normalisation()
        scale = np.array([z**-2, z**-3][: len(names)])
        values = [float(self.couplings[t][index]) * f for t, f in zip(names, scale, strict=True)]
        reps = np.stack([self.replicas[t][:, index] for t in names], axis=1) * scale
        start = float(self.shells[index]) * s
        if "scale0" not in kwargs and not math.isfinite(start):
            raise ValueError(f"shells[{index}] is infinite: give the flow's start as scale0=")
        kwargs.setdefault("scale0", start)
        finite = self.shells[np.isfinite(self.shells)] * s
        kwargs.setdefault("scales", finite[finite >= kwargs["scale0"]])
        return integrate_flow(*values, d=self.arch.d_in, u2=m**2,
                              covariance=jackknife_covariance(reps), **kwargs)

    # -- output ------------------------------------------------------------------------
    _ARRAYS = ("x", "shells", "kernel", "kernel_errors", "exact_kernel", "kappa4",
               "kappa4_errors", "exact_kappa4", "chi2", "ndof")
    _TABLES = (("value", "couplings"), ("error", "errors"), ("cov", "covariance"),
               ("rep", "replicas"), ("exact", "exact_couplings"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists)."""
        out: dict[str, Any] = {"arch": self.arch.to_dict(), "meta": self.meta}
        out.update({name: getattr(self, name) for name in self._ARRAYS})
        out.update({field: {k: np.asarray(v).tolist() for k, v in getattr(self, field).items()}
                    for _, field in self._TABLES})
        return json_record(out)

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        arrays = {name: np.asarray(getattr(self, name)) for name in self._ARRAYS}
        for prefix, field in self._TABLES:
            arrays.update({f"{prefix}:{k}": np.asarray(v) for k, v in getattr(self, field).items()})
        return {"arch": self.arch.to_dict(), "meta": self.meta}, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> ShellFlow:
        provenance = dict(meta["meta"])
        if provenance.get("cutoff", 0.0) is None:  # JSON has no infinity
            provenance["cutoff"] = math.inf
        fields: dict[str, Any] = {name: arrays[name] for name in cls._ARRAYS}
        fields.update({field: prefixed(arrays, prefix) for prefix, field in cls._TABLES})
        return cls(arch=Architecture.from_dict(meta["arch"]), meta=provenance, **fields)

    def __repr__(self) -> str:
        return (f"<ShellFlow width={self.arch.width} {self.arch.spectrum!r}, "
                f"{len(self.shells)} shells in [{self.shells[0]:g}, {self.shells[-1]:g}], "
                f"terms={self.terms}>")

    def _tables(self) -> list[render.Table]:
        notes = [f"Momentum-shell flow of {self.arch!r}",
                 f"{self.meta.get('n_networks', '?')} networks (one pass, common random "
                 f"numbers), estimator {self.meta.get('estimator', '?')}, vertex box "
                 f"cutoff {self.meta.get('cutoff', '?')}; G2 and κ4 at the first tuple"]
        columns = ["Λ", "G2 sampled", "G2 exact", "κ4 sampled", "κ4 exact"]
        for t in self.terms:
            columns += [t, f"{t} exact"]
        rows = []
        for i, lam in enumerate(self.shells):
            cells = [f"{lam:g}",
                     render.value_error(self.kernel[i, 0], self.kernel_errors[i, 0]),
                     f"{self.exact_kernel[i, 0]:.6g}",
                     render.value_error(self.kappa4[i, 0], self.kappa4_errors[i, 0]),
                     f"{self.exact_kappa4[i, 0]:.6g}"]
            for t in self.terms:
                cells += [render.value_error(self.couplings[t][i], self.errors[t][i]),
                          f"{self.exact_couplings[t][i]:.5g}"]
            rows.append(cells + [f"{self.chi2[i]:.3g}/{int(self.ndof[i])}"])
        return [render.Table(notes, columns + ["χ²/ndof"], rows)]

    def plot(self, ax: Any = None, name: str = "u4") -> Any:
        """The coupling against Λ: sampled points with errors, exact line (a Figure)."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

        fig = Figure(figsize=(5.5, 4)) if ax is None else ax.figure
        ax = ax if ax is not None else fig.add_subplot()
        finite = np.isfinite(self.shells)
        lam = self.shells[finite]
        symbol = f"${name[0]}_{{{name[1:]}}}$"  # u4 -> $u_{4}$
        ax.errorbar(lam, self.couplings[name][finite], yerr=self.errors[name][finite], fmt="o",
                    capsize=2, label=f"{symbol} sampled")
        ax.plot(lam, self.exact_couplings[name][finite], "-", label=f"{symbol} exact")
        ax.set_xscale("log")
        # Plain numbers at 1, 2, 5 x 10^k, no minor labels: matplotlib's default labels
        # every minor tick of a short log axis, and they overlap.
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("shell Λ")
        ax.set_ylabel(symbol)
        ax.legend()
        return fig


def shell_flow(
    arch: Architecture,
    x: Any,
    shells: Sequence[float],
    n_networks: int = 20_000,
    seed: Any = 0,
    estimator: str = "conditional",
    cutoff: float = 5.0,
    terms: Sequence[str] = ("u4",),
    *,
    threads: int | None = None,
    progress: bool = False,
    checkpoint: Any = None,
    client: Any = None,
    chunk_size: int | None = None,
) -> ShellFlow:
    """Correlators and couplings of a spectral cos-net as functions of the shell Λ.

    Parameters
    ----------
    arch : Architecture
        A spectral cos-net (``spectrum=``); its own shell, if any, bounds every Λ.
    x : array_like, shape (k, d_in)
    shells : sequence of float
        Strictly increasing Λ > 0 (``inf``: the untruncated ensemble).
    n_networks, seed, estimator, threads, progress, checkpoint, client, chunk_size :
        As for :func:`nnqft.sample`; one pass evaluates every network at every Λ
        (cost ~ ``len(shells)`` times one :func:`nnqft.sample` of the networks' cos
        evaluations, the random numbers paid once).
    cutoff : float
        Half-width of the vertex box of the coupling fits (finite: the spectral kernel
        has no closed-form vertex integral).
    terms : sequence of str
        As for :func:`nnqft.fit_couplings` (``"u6"`` adds order 6).

    Returns
    -------
    ShellFlow
    """
    grid = as_increasing("shells", shells, allow_inf=True)
    archs = shell_architectures(arch, grid)
    xs = as_inputs(x, arch.d_in)
    check_cutoff(arch, cutoff)  # before any sampling
    terms = tuple(terms)
    orders = (2, 4, 6) if "u6" in terms else (2, 4)
    corrs = sample_grid(archs, xs, n_networks, orders, estimator, seed, threads, progress,
                        checkpoint=checkpoint, client=client, chunk_size=chunk_size)
    # fixed weights, as fit_exact_like: GLS weights estimated from the sample would make the
    # sampled coupling a different projection of kappa4 from the exact one (the local form
    # is rejected here), and their difference no z-score
    fits: list[CouplingFit] = [fit_couplings(c, a, xs, cutoff=cutoff, terms=terms,
                                             weights="kernel")
                               for c, a in zip(corrs, archs, strict=True)]
    names = fits[0].parameters
    replicas = {t: np.stack([f.replicas[:, i] for f in fits], axis=1)  # type: ignore[index]
                for i, t in enumerate(names)}
    exact_fits = [fit_exact_like(c, a, xs, cutoff=cutoff, terms=terms)
                  for c, a in zip(corrs, archs, strict=True)]
    two = [c.connected(2) for c in corrs]
    four = [c.connected(4) for c in corrs]
    return ShellFlow(
        arch=arch, x=xs, shells=grid,
        kernel=np.array([v for v, _ in two]), kernel_errors=np.array([e for _, e in two]),
        exact_kernel=np.array([theory_connected(a, xs, 2) for a in archs]),
        kappa4=np.array([v for v, _ in four]), kappa4_errors=np.array([e for _, e in four]),
        exact_kappa4=np.array([theory_connected(a, xs, 4) for a in archs]),
        couplings={t: np.array([f.values[t] for f in fits]) for t in names},
        errors={t: np.array([f.errors[t] for f in fits]) for t in names},
        covariance={t: jackknife_covariance(r) for t, r in replicas.items()},
        replicas=replicas, chi2=np.array([f.chi2 for f in fits]),
        ndof=np.array([f.ndof for f in fits]),
        exact_couplings={t: np.array([f.values[t] for f in exact_fits]) for t in names},
        meta={"seed": str(seed), "estimator": estimator, "n_networks": n_networks,
              "cutoff": cutoff, "terms": list(terms), "common_random_numbers": True},
    )
