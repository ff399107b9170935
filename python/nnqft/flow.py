"""The σ-driven flow: couplings along a grid of weight scales, from common random numbers.

Network i draws its parameters as standard draws times the layer's standard deviation,
so every σ of the grid evaluates *the same networks* rescaled (common random numbers),
in one pass of the C++ core (:func:`nnqft.sampling.sample_grid`: the draws are made
once per network and reused at every σ).  The jackknife bins are shared too, so the replicas of
the fitted couplings at different σ are paired and give the full covariance along the
grid: differences along the flow and the fitted exponent are far more precise than with
an independent ensemble per σ (ELS's method).

The flow is compared with exact theory (fits of ``exact()`` correlators, depth 1) and
with the functional-RG flow of :mod:`nnqft.frg` started from the measured IR couplings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import render
from ._result import Result
from ._seeding import require_fixed_seed, resolve_seed
from ._validation import as_increasing, as_inputs
from .architecture import Architecture, check_arch
from .fit import CouplingFit, check_fit_size, check_terms, fit_couplings, theory_connected
from .io import json_record, prefixed
from .sampling import build_plan, run
from .statistics import jackknife_covariance, shrink
from .vertex import check_cutoff

__all__ = ["Flow", "sigma_flow"]

FloatArray = NDArray[np.float64]
#: Weight of the diagonal in the shrunk covariance of the exponent fit.
EXPONENT_SHRINKAGE = 0.05


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Flow(Result, kind="flow"):
    """Couplings along a σ grid with errors and their covariance along the grid.

    Attributes
    ----------
    arch : Architecture
        The base ensemble (its ``vary`` standard deviations are replaced by each σ).
    x : ndarray, shape (k, d_in)
    vary : str
        Which standard deviations σ sets: ``"w"``, ``"w0"``, ``"w1"`` or ``"b"``.
    sigmas : ndarray
    couplings, errors : dict of str to ndarray
        Fitted couplings (``"u4"``, ``"u6"``, ...) and standard errors at each σ.
    covariance : dict of str to ndarray
        Jackknife covariance of each coupling between the grid points.
    replicas : dict of str to ndarray
        Jackknife replicas, shape ``(n_bins, len(sigmas))`` (shared bins; None when
        the grid points are independent ensembles).
    chi2, ndof : ndarray
        Goodness of each σ's fit.
    exact_couplings : dict of str to ndarray or None
        The fit applied to the theory's correlators, unweighted, or None: the local
        couplings of the exact theory (depth 1) or of the 1/N theory (depth >= 2,
        :func:`nnqft.finite_width` to order 1/N^2, 1/N for tanh:
        :func:`nnqft.fit.theory_order`).  Where the local form does not describe the
        correlators exactly (non-local nets at O(1) inputs, large χ²), the GLS fit of
        sampled data estimates a projection that depends on its weights; compare the
        run with :func:`nnqft.fit.compare_with_theory` instead (sample and theory under
        one fixed-weight fit, with a calibrated pull).
    meta : dict
        Provenance: seed, estimator, sampler, n_networks, cutoff, terms, common random
        numbers.
    """

    arch: Architecture
    x: FloatArray
    vary: str
    sigmas: FloatArray
    couplings: dict[str, FloatArray]
    errors: dict[str, FloatArray]
    covariance: dict[str, FloatArray]
    replicas: dict[str, FloatArray] | None
    chi2: FloatArray
    ndof: FloatArray
    exact_couplings: dict[str, FloatArray] | None
    meta: dict[str, Any]

    @property
    def terms(self) -> tuple[str, ...]:
        """The fitted coupling names."""
        return tuple(self.couplings)

    def exponent(self, name: str = "u4") -> tuple[float, float]:
        """Power law ``|u| ∝ σ^e``: the exponent and its error.

        Generalised least squares of ``log|u|`` on ``log σ`` with the covariance along
        the grid (shrunk by :data:`EXPONENT_SHRINKAGE` toward its diagonal, since common
        random numbers make it nearly singular); the error is the jackknife of that
        estimator, which accounts for all correlations whatever the weights.
        """
        return self._power_law(name)[0]

    def intercept(self, name: str = "u4") -> tuple[float, float]:
        """``log10|u|`` at σ = 1 of the power-law fit, with its error."""
        return self._power_law(name)[1]

    def _power_law(self, name: str) -> tuple[tuple[float, float], tuple[float, float]]:
        u = self._get(self.couplings, name)
        if len(u) < 2 or np.any(u == 0):
            raise ValueError(f"a power law needs >= 2 non-zero values of {name}")
        logs = np.log10(np.abs(u))
        cov = self.covariance[name] / np.outer(u, u) / math.log(10) ** 2
        design = np.stack([np.ones_like(self.sigmas), np.log10(self.sigmas)], axis=1)
        positive = np.all(np.diag(cov) > 0)
        weights = np.linalg.pinv(shrink(cov, EXPONENT_SHRINKAGE)) if positive else np.eye(len(u))
        solve = np.linalg.solve(design.T @ weights @ design, design.T @ weights)
        a, e = solve @ logs
        if self.replicas is not None:
            reps = np.log10(np.abs(self.replicas[name])) @ solve.T
            err = np.sqrt(np.diag(jackknife_covariance(reps)))
        else:  # independent points: propagate the diagonal covariance
            err = np.sqrt(np.diag(solve @ cov @ solve.T))
        return (float(e), float(err[1])), (float(a), float(err[0]))

    def dimensionless(self, name: str = "u4") -> FloatArray:
        """Renormalised dimensionless coupling ``u_n m^{(n/2-1)d - n} / Z^{n/2}``.

        For Gauss- and cos-nets, whose kernel is Gaussian, expanding ``K~^{-1}`` to order
        p² gives ``Z (p² + m²)`` with ``m² = 2 σ_w0²/d`` (physics.md §3.1, §4.2); the
        renormalised coupling at k = m is σ-independent for the exact ensemble.
        """
        self._check_gaussian_kernel("dimensionless couplings")
        n = {"u4": 4, "u6": 6}.get(name)
        if n is None:
            raise ValueError(f"dimensionless couplings are defined for u4 and u6, not {name!r}")
        d = self.arch.d_in
        out = np.empty(len(self.sigmas))
        for i, s in enumerate(self.sigmas):
            arch = self.arch.scaled(self.vary, float(s))
            sw0, sw1 = arch.sigma_w_layers[0], arch.sigma_w_layers[-1]
            amp = sw1**2 * (0.5 if arch.activation == "cos" else 1.0)
            z = d / (2 * sw0**2) / (amp * (2 * math.pi * d / sw0**2) ** (d / 2))
            m = math.sqrt(2 * sw0**2 / d)
            out[i] = self._get(self.couplings, name)[i] * m ** ((n / 2 - 1) * d - n) / z ** (n / 2)
        return out

    def frg(self, index: int = 0, **kwargs: Any) -> Any:
        """The functional-RG flow started from the couplings measured at ``sigmas[index]``.

        u2 = 2σ²/d_in, u4 (and u6 when fitted) with their covariance; the remaining
        keyword arguments go to :func:`nnqft.frg.integrate_flow`.
        """
        from .frg import integrate_flow

        if self.arch.spectrum is not None:
            self._check_gaussian_kernel("the FRG flow's mass u2 = 2 sigma^2 / d")
        names = [t for t in ("u4", "u6") if t in self.couplings]
        if names[:1] != ["u4"]:
            raise ValueError("the FRG flow needs a fitted u4")
        values = [float(self.couplings[t][index]) for t in names]
        if self.replicas is not None:
            reps = np.stack([self.replicas[t][:, index] for t in names], axis=1)
            cov = jackknife_covariance(reps)
        else:
            cov = np.diag([float(self.errors[t][index]) ** 2 for t in names])
        return integrate_flow(*values, d=self.arch.d_in, sigma=float(self.sigmas[index]),
                              covariance=cov, **kwargs)

    def _check_gaussian_kernel(self, what: str) -> None:
        """``what`` assumes the Gaussian kernel of a gauss- or plain cos-net (depth 1)."""
        if (self.arch.activation not in ("gauss", "cos") or self.arch.depth != 1
                or self.arch.spectrum is not None):
            raise ValueError(
                f"{what} need(s) the Gaussian kernel of a gauss- or plain cos-net; for a "
                "spectral cos-net use nnqft.shell_flow (ShellFlow.dimensionless, .frg)")

    def _get(self, table: dict[str, FloatArray], name: str) -> FloatArray:
        if name not in table:
            raise ValueError(f"coupling {name!r} was not fitted; have {sorted(table)}")
        return table[name]

    # -- output ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists)."""
        def lists(d: dict[str, FloatArray] | None) -> Any:
            return None if d is None else {k: np.asarray(v).tolist() for k, v in d.items()}

        return json_record({
            "arch": self.arch.to_dict(), "x": self.x, "vary": self.vary,
            "sigmas": self.sigmas, "couplings": lists(self.couplings),
            "errors": lists(self.errors), "covariance": lists(self.covariance),
            "chi2": self.chi2, "ndof": self.ndof,
            "exact_couplings": lists(self.exact_couplings), "meta": self.meta,
        })

    def _to_file(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        arrays = {"x": self.x, "sigmas": self.sigmas, "chi2": self.chi2, "ndof": self.ndof}
        for prefix, table in (("value", self.couplings), ("error", self.errors),
                              ("cov", self.covariance), ("rep", self.replicas or {}),
                              ("exact", self.exact_couplings or {})):
            arrays.update({f"{prefix}:{k}": np.asarray(v) for k, v in table.items()})
        meta = {"arch": self.arch.to_dict(), "vary": self.vary, "meta": self.meta,
                "has_replicas": self.replicas is not None,
                "has_exact": self.exact_couplings is not None}
        return meta, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, FloatArray]) -> Flow:
        provenance = dict(meta["meta"])
        if provenance.get("cutoff", 0.0) is None:  # JSON has no infinity: null is Λ = ∞
            provenance["cutoff"] = math.inf
        return cls(
            arch=Architecture.from_dict(meta["arch"]), x=arrays["x"], vary=meta["vary"],
            sigmas=arrays["sigmas"], couplings=prefixed(arrays, "value"),
            errors=prefixed(arrays, "error"), covariance=prefixed(arrays, "cov"),
            replicas=prefixed(arrays, "rep") if meta["has_replicas"] else None,
            chi2=arrays["chi2"], ndof=arrays["ndof"],
            exact_couplings=prefixed(arrays, "exact") if meta["has_exact"] else None,
            meta=provenance,
        )

    def summary(self) -> str:
        """Text table of the couplings along the grid, with the fitted exponents."""
        head = "| σ | " + " | ".join(f"{t} ± err" + (f" | {t} {self._theory_name}" if self.exact_couplings
                                                      else "") for t in self.terms)
        lines = [head + " | χ²/ndof |", "|" + "---|" * (2 + len(self.terms) * (
            2 if self.exact_couplings else 1))]
        for i, s in enumerate(self.sigmas):
            cells = []
            for t in self.terms:
                cells.append(f"{self.couplings[t][i]:.5g} ± {self.errors[t][i]:.2g}")
                if self.exact_couplings:
                    cells.append(f"{self.exact_couplings[t][i]:.5g}")
            lines.append(f"| {s:g} | " + " | ".join(cells) + f" | {self.chi2[i]:.3g}/{int(self.ndof[i])} |")
        for t in self.terms:
            try:
                e, de = self.exponent(t)
                lines.append(f"\nfitted exponent |{t}| ∝ σ^e: e = {e:.4f} ± {de:.4f}")
            except ValueError:
                pass
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Flow {self.arch.activation}-net width={self.arch.width} vary={self.vary!r}, "
                f"{len(self.sigmas)} σ in [{self.sigmas[0]:g}, {self.sigmas[-1]:g}], "
                f"terms={self.terms}>")

    @property
    def _theory_name(self) -> str:
        """What ``exact_couplings`` come from: exact theory (depth 1) or the 1/N theory."""
        return "exact" if self.arch.depth == 1 else "1/N"

    def _tables(self) -> list[render.Table]:
        notes = [f"Flow of {self.arch!r}", f"σ replaces sigma_{self.vary}; "
                 f"{self.meta.get('n_networks', '?')} networks per σ, estimator "
                 f"{self.meta.get('estimator', '?')}, cutoff Λ = {self.meta.get('cutoff', '?')}"]
        columns = ["σ"]
        for t in self.terms:
            columns += [t] + ([f"{t} {self._theory_name}"] if self.exact_couplings else [])
        rows = []
        for i, s in enumerate(self.sigmas):
            cells = [f"{s:g}"]
            for t in self.terms:
                cells.append(render.value_error(self.couplings[t][i], self.errors[t][i]))
                if self.exact_couplings:
                    cells.append(f"{self.exact_couplings[t][i]:.5g}")
            rows.append(cells + [f"{self.chi2[i]:.3g}/{int(self.ndof[i])}"])
        footer = []
        for t in self.terms:
            try:
                e, de = self.exponent(t)
            except ValueError:
                continue
            footer.append(f"fitted exponent |{t}| ∝ σ^e: e = {e:.4f} ± {de:.4f}")
        tables = [render.Table(notes, columns + ["χ²/ndof"], rows)]
        return tables + ([render.Table(footer)] if footer else [])

    def plot(self, ax: Any = None, frg: Any = None, name: str = "u4") -> Any:
        """Log-log plot of ``|coupling|`` against σ.

        Measured points, the exact line, the power-law fit and (given ``frg``, an
        :class:`nnqft.frg.FRGFlow`) the passive functional-RG curve.  Returns the
        matplotlib Figure (no pyplot state, no LaTeX).
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 4)) if ax is None else ax.figure
        ax = ax if ax is not None else fig.add_subplot()
        u, du = self._get(self.couplings, name), self.errors[name]
        ax.errorbar(self.sigmas, np.abs(u), yerr=du, fmt="o", capsize=2, label=f"|{name}| sampled")
        if self.exact_couplings is not None:
            ax.plot(self.sigmas, np.abs(self.exact_couplings[name]), "-", alpha=0.7,
                    label=f"|{name}| {self._theory_name} theory")
        try:
            (e, de), (a, _) = self._power_law(name)
            grid = np.geomspace(self.sigmas.min(), self.sigmas.max(), 50)
            ax.plot(grid, 10**a * grid**e, "--", label=f"fit: σ^({e:.4f} ± {de:.1g})")
        except ValueError:
            pass
        if frg is not None:
            inside = (frg.sigma >= self.sigmas.min()) & (frg.sigma <= self.sigmas.max())
            ax.plot(frg.sigma[inside], np.abs(frg.couplings[name][inside]), ":", lw=2,
                    label="FRG (LPA, Litim) from the IR point")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"σ ({self.vary})")
        ax.set_ylabel(f"|{name}|")
        ax.legend(fontsize=7)
        return fig


def sigma_flow(
    arch: Architecture,
    x: Any,
    sigmas: Sequence[float],
    n_networks: int = 20_000,
    seed: Any = 0,
    estimator: str = "conditional",
    cutoff: float = math.inf,
    vary: str = "w",
    terms: Sequence[str] = ("u4",),
    *,
    common_random_numbers: bool = True,
    with_exact: bool | None = None,
    threads: int | None = None,
    progress: bool = False,
    sampler: str = "auto",
    checkpoint: Any = None,
    client: Any = None,
    chunk_size: int | None = None,
) -> Flow:
    """Couplings along a σ grid (the "active" flow) with errors and grid covariance.

    Parameters
    ----------
    arch : Architecture
        The ensemble; ``vary`` selects the standard deviations that each σ replaces:
        ``"w"`` every σ_w (as the papers do), ``"w0"`` the first layer's, ``"w1"`` the
        read-out's, ``"b"`` every σ_b.
    x : array_like, shape (k, d_in)
    sigmas : sequence of float
        Strictly increasing, positive.
    n_networks, seed, estimator, threads, progress, sampler :
        As for :func:`nnqft.sample`, per grid point.
    cutoff, terms :
        As for :func:`nnqft.fit_couplings` (``terms`` may include ``"u6"``).
    common_random_numbers : bool
        True (default): every σ uses the same seed, i.e. the same networks rescaled, and
        the jackknife gives the covariance along the grid.  False: an independent
        ensemble per σ (spawned seeds), as ELS did — for comparison.
    with_exact : bool or None
        Also fit theory correlators at every σ (exact at depth 1; the 1/N theory of
        :func:`nnqft.fit.theory_connected` at depth >= 2, u4 only; default: when available).
    checkpoint, client, chunk_size :
        As for :func:`nnqft.sample`: the one pass over the grid is checkpointed and/or
        run on Dask (independent ensembles use one sub-directory per σ).

    Returns
    -------
    Flow
    """
    check_arch(arch)
    require_fixed_seed(seed, checkpoint)  # before the seed becomes a fresh SeedSequence
    seed_sequence, _ = resolve_seed(seed)  # refuses seed=True, 1.5, ... before any work
    xs = as_inputs(x, arch.d_in)
    grid = as_increasing("sigmas", sigmas)
    arch.scaled(vary, 1.0)  # validates vary
    terms = tuple(terms)
    check_terms(terms)
    check_fit_size(len(xs), terms)  # the fits' T x T weights, before any sampling
    orders = (2, 4, 6) if "u6" in terms else (2, 4)
    archs = [arch.scaled(vary, float(s)) for s in grid]
    for a in archs:  # every argument is checked before the sampling, not after it
        check_cutoff(a, cutoff)
    options = {"estimator": estimator, "threads": threads, "sampler": sampler,
               "chunk_size": chunk_size, "client": client}
    if common_random_numbers:  # one pass of the core: every network evaluated at every sigma
        plans = [build_plan(archs, xs, n_networks, orders, seed=seed_sequence,
                            checkpoint=checkpoint, **options)]
    else:  # an independent ensemble (spawned seed, own checkpoint) per sigma
        seeds = seed_sequence.spawn(len(grid))
        plans = [build_plan([a], xs, n_networks, orders, seed=sd, **options,
                            checkpoint=None if checkpoint is None
                            else Path(checkpoint) / f"sigma-{i}")
                 for i, (a, sd) in enumerate(zip(archs, seeds, strict=True))]
    corrs = [c for plan in plans for c in run(plan, progress, client)]
    fits: list[CouplingFit] = [fit_couplings(c, a, xs, cutoff=cutoff, terms=terms)
                               for c, a in zip(corrs, archs, strict=True)]
    names = fits[0].parameters
    couplings = {t: np.array([f.values[t] for f in fits]) for t in names}
    errors = {t: np.array([f.errors[t] for f in fits]) for t in names}
    replicas = None
    if common_random_numbers:
        replicas = {t: np.stack([f.replicas[:, i] for f in fits], axis=1)  # type: ignore[index]
                    for i, t in enumerate(names)}
        covariance = {t: jackknife_covariance(r) for t, r in replicas.items()}
    else:
        covariance = {t: np.diag(errors[t] ** 2) for t in names}
    if with_exact is None:  # depth >= 2: the 1/N theory (u4 only, Gaussian weights)
        with_exact = arch.depth == 1 or ("u6" not in terms and arch.weight_dist == "gaussian")
    exact_couplings = _exact_flow(arch, xs, grid, vary, cutoff, terms) if with_exact else None
    meta = {"seed": str(seed), "estimator": estimator, "sampler": corrs[0].meta["sampler"],
            "n_networks": n_networks,
            "cutoff": cutoff, "terms": list(terms), "common_random_numbers": common_random_numbers,
            "regularisation": fits[0].regularisation}
    return Flow(arch=arch, x=xs, vary=vary, sigmas=grid, couplings=couplings, errors=errors,
                covariance=covariance, replicas=replicas,
                chi2=np.array([f.chi2 for f in fits]), ndof=np.array([f.ndof for f in fits]),
                exact_couplings=exact_couplings, meta=meta)


def _exact_flow(arch: Architecture, x: FloatArray, grid: FloatArray, vary: str,
                cutoff: float, terms: tuple[str, ...]) -> dict[str, FloatArray]:
    values: dict[str, list[float]] = {}
    for s in grid:
        a = arch.scaled(vary, float(s))
        data = {n: theory_connected(a, x, n) for n in ((4, 6) if "u6" in terms else (4,))}
        fit = fit_couplings(data, a, x, cutoff=cutoff, terms=terms)
        for t in fit.parameters:
            values.setdefault(t, []).append(fit.values[t])
    return {t: np.array(v) for t, v in values.items()}
