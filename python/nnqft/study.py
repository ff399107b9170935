"""``nnqft run``: the default study, reproducing and improving the papers' headline results.

1. The 1/N fall-off of the 4- and 6-point deviations from the free theory for erf-, relu-
   and Gauss-nets on the HMS input sets, measured (conditional estimator, jackknife
   errors) against exact finite-width theory (the HMS plot).
2. Quartic (and sextic) couplings fitted with the full covariance, with χ², against the
   couplings of the exact correlators.
3. The σ-driven flow u4(σ) of a Gauss-net with its fitted exponent (theory: d_in − 4),
   and the functional-RG (LPA, Litim) flow started from the measured IR couplings beside
   it (the ELS plot).
4. Depth: N·κ4, the fitted N·u4 and N²·u6 against the number of layers L for erf and for
   ReLU at criticality, sampled beside the 1/N theory to order 1/N²
   (:func:`nnqft.finite_width` with ``order=2``).
5. Where perturbation theory fails: at a small width and depths up to L ~ N, the sampled
   normalised κ4 and κ6 against the leading and next-to-leading theory, and the exact
   curve of critical ReLU on a ray (:mod:`nnqft._breakdown`).
6. A field theory by design: the free massive scalar in d = 1 as a spectral cos-net — its
   propagator and κ4 sampled against exact, and the momentum-shell flow of u4 beside the
   LPA (:mod:`nnqft._study_field`).

Everything lands in one folder: ``report.md``, PNG plots, every result as ``.npz`` + JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import math
import os
import platform
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from . import _breakdown, _study_field
from .architecture import Architecture
from .correlators import Correlators
from .io import dumps, write_text
from .render import signed as _signed
from .sampling import sample
from .statistics import jackknife_covariance
from .theory import exact, kernel
from .tuples import moments_from_cumulants, wick
from .warnings import FewBinsWarning, UnreliableErrorWarning

__all__ = ["StudyConfig", "run_study", "falloff", "depth_point"]

XSET_ERF = [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0]

#: The nets of the HMS plot: (label, activation, sigma_b, inputs, cutoff for fits).
DEFAULT_NETS = (
    {"label": "erf", "activation": "erf", "sigma_b": 1.0, "x": XSET_ERF, "cutoff": 1e5},
    {"label": "relu", "activation": "relu", "sigma_b": 0.0,
     "x": [0.2, 0.4, 0.6, 0.8, 1.0, 1.2], "cutoff": 50.0},
    {"label": "gauss", "activation": "gauss", "sigma_b": 1.0,
     "x": [0.01 * v for v in XSET_ERF], "cutoff": math.inf},
)

#: Deep nets of the depth section: erf as in the HMS plot, ReLU at criticality
#: (sigma_w^2 = 2, sigma_b = 0), whose vertex grows like 5L.  Inputs of both signs keep the
#: ReLU kernel of rank 2 (a ray would give rank 1 and an undetermined fit).
DEPTH_NETS = (
    {"label": "erf", "activation": "erf", "sigma_w": 1.0, "sigma_b": 1.0, "x": XSET_ERF,
     "cutoff": 1e5},
    {"label": "relu (critical)", "activation": "relu", "sigma_w": math.sqrt(2.0), "sigma_b": 0.0,
     "x": [-1.2, -0.7, -0.2, 0.3, 0.8, 1.3], "cutoff": 50.0},
)


@dataclasses.dataclass
class StudyConfig:
    """Knobs of the default study; ``nnqft run --config FILE.toml`` overrides any of them.

    A TOML file sets fields by name (unknown names are refused); fields it does not name
    keep their defaults (``--quick``: those of :meth:`quick`). The documentation's
    command-line page lists every default as a complete TOML file, generated from this
    class.

    Attributes
    ----------
    widths : list of int
        Widths N of the fall-off section (§1 of the report).
    n_networks : int
        Networks per width in the fall-off section.
    estimator : str
        ``"conditional"`` or ``"plain"``, for every sampled run.
    nets : list of dict
        The nets of the fall-off and coupling sections: ``label``, ``activation``,
        ``sigma_b``, inputs ``x`` and the ``cutoff`` of their coupling fits.
    fit_width : int
        The width, among ``widths``, whose couplings are fitted (§2).
    flow_activation, flow_width, flow_sigma_b, flow_x :
        The net of the σ-flow section (§3).
    flow_sigmas : list of float
        Its σ grid (increasing).
    flow_n_networks : int
        Networks per σ.
    depth_nets : list of dict
        The nets of the depth section (§4): as ``nets``, plus ``sigma_w``.
    depth_depths : list of int
        The depths L sampled.
    depth_width : int
        Their width N.
    depth_n_networks : int
        Networks per depth.
    breakdown_nets : list of dict
        The nets of the breakdown section (§5): ``label``, ``activation``, ``sigma_w``,
        ``sigma_b`` and inputs ``x`` (one input: the normalised cumulants r4, r6 are
        taken at the first).
    breakdown_width : int
        Their (small) width N.
    breakdown_depths : list of int
        The depths L sampled, up to about N.
    breakdown_n_networks : int
        Networks per depth.
    field_mass, field_width : float, int
        Mass m and width N of the spectral cos-net of the massive-scalar section (§6).
    field_x : list of float
        Its inputs: G(x₀, x) and κ4 on them.
    field_n_networks : int
        Networks of the propagator run.
    field_shells : list of float
        The shells Λ of the momentum-shell flow (increasing).
    field_shell_x : list of float
        Inputs of the shell flow's coupling fits.
    field_shell_n_networks : int
        Networks of the shell flow (one pass over every Λ).
    field_box : float
        Half-width of the vertex box of its u4 fits.
    """

    widths: list[int] = dataclasses.field(default_factory=lambda: [2, 5, 10, 20, 50, 100, 1000])
    n_networks: int = 800_000
    estimator: str = "conditional"
    nets: list[dict[str, Any]] = dataclasses.field(default_factory=lambda: list(DEFAULT_NETS))
    fit_width: int = 100
    flow_activation: str = "gauss"
    flow_width: int = 100
    flow_sigma_b: float = 0.5
    flow_x: list[float] = dataclasses.field(
        default_factory=lambda: [-0.01, -0.006, -0.002, 0.002, 0.006, 0.01])
    flow_sigmas: list[float] = dataclasses.field(
        default_factory=lambda: [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0])
    flow_n_networks: int = 200_000
    depth_nets: list[dict[str, Any]] = dataclasses.field(default_factory=lambda: list(DEPTH_NETS))
    depth_depths: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    depth_width: int = 200
    depth_n_networks: int = 40_000
    breakdown_nets: list[dict[str, Any]] = dataclasses.field(
        default_factory=lambda: list(_breakdown.BREAKDOWN_NETS))
    breakdown_width: int = 20
    breakdown_depths: list[int] = dataclasses.field(
        default_factory=lambda: [1, 2, 3, 4, 6, 8, 10, 13, 16, 20])
    breakdown_n_networks: int = 100_000
    # -- 6. the massive scalar by design (nnqft._study_field)
    field_mass: float = 1.0
    field_width: int = 10
    field_x: list[float] = dataclasses.field(
        default_factory=lambda: [0.0, 0.75, 1.5, 2.25, 3.0, 3.75, 4.5, 5.25, 6.0])
    field_n_networks: int = 400_000
    field_shells: list[float] = dataclasses.field(
        default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    field_shell_x: list[float] = dataclasses.field(default_factory=lambda: [-0.5, 0.0, 0.5])
    field_shell_n_networks: int = 200_000
    field_box: float = 4.0

    @classmethod
    def quick(cls) -> StudyConfig:
        """A seconds-long version of the same study."""
        return cls(widths=[2, 10, 100], n_networks=4_000, fit_width=10,
                   flow_sigmas=[1.0, 2.0, 4.0], flow_n_networks=4_000, flow_width=20,
                   depth_depths=[1, 2, 3], depth_width=10, depth_n_networks=2_000,
                   breakdown_width=10, breakdown_depths=[1, 2, 4, 8],
                   breakdown_n_networks=4_000, field_n_networks=20_000,
                   field_shells=[0.5, 2.0, 8.0], field_shell_n_networks=4_000)

    @classmethod
    def from_toml(cls, path: Path, base: StudyConfig) -> StudyConfig:
        """Override ``base`` with the keys of a TOML file (unknown keys are errors)."""
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown study keys {sorted(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(base, **data)


@contextlib.contextmanager
def _reliability_recorded() -> Iterator[None]:
    """Silence the error-bar warnings whose verdict the study writes into its tables.

    Only those two categories: anything else (an integration budget, numpy) still shows.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableErrorWarning)
        warnings.simplefilter("ignore", FewBinsWarning)
        yield


# -- 1. fall-off with N -------------------------------------------------------------------

def _deviation_replicas(corr: Correlators) -> dict[int, np.ndarray]:
    """Point estimate (row 0) and jackknife replicas of Delta G_n = G_n - Wick_n(G2)."""
    k = corr.k
    rows = {}
    for n in (4, 6):
        point = {2: corr.mean(2), 4: corr.connected(4)[0]}
        reps = {2: corr.replicas(2), 4: corr.replicas(4, connected=True)}
        if n == 6:
            point[6], reps[6] = corr.connected(6)[0], corr.replicas(6, connected=True)
        full = np.vstack([
            moments_from_cumulants({m: point[m][None] for m in point}, k, n),
            moments_from_cumulants(reps, k, n),
        ])
        gp = np.vstack([moments_from_cumulants({2: point[2][None]}, k, n),
                        moments_from_cumulants({2: reps[2]}, k, n)])
        rows[n] = full - gp
    return rows


def falloff(corr: Correlators, arch: Architecture) -> dict[str, Any]:
    """``m_n = <|Delta G_n / G_n^GP|>`` over tuples (HMS), measured and exact, n = 4, 6."""
    k_exact = kernel(arch, corr.x)
    out: dict[str, Any] = {"width": arch.width}
    devs = _deviation_replicas(corr)
    for n in (4, 6):
        gp = wick(k_exact, n)
        m = np.abs(devs[n] / gp).mean(axis=1)
        exact_dev = exact(arch, corr.x, n) - gp
        out[f"m{n}"] = float(m[0])
        out[f"m{n}_err"] = float(math.sqrt(jackknife_covariance(m[1:, None])[0, 0]))
        out[f"m{n}_exact"] = float(np.abs(exact_dev / gp).mean())
    out["reliable"] = bool(corr.reliable(6))
    out["tail_index"] = corr.tail_index()
    return out


def _run_falloff(cfg: StudyConfig, out: Path, seed: int, threads: int | None,
                 progress: bool, scale: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for net in cfg.nets:
        rows = []
        for width in cfg.widths:
            arch = Architecture(net["activation"], width=width, sigma_b=net["sigma_b"])
            with _reliability_recorded():  # per row instead of warned
                corr = sample(arch, np.asarray(net["x"]), cfg.n_networks, orders=(2, 4, 6),
                              estimator=cfg.estimator, seed=seed, threads=threads,
                              progress=progress, **_scale(scale, f"{net['label']}_N{width}"))
                corr.save(out / "correlators" / f"{net['label']}_N{width}.npz")
                row = falloff(corr, arch)
            row["seconds"] = corr.meta["wall_time"]
            rows.append(row)
        results[net["label"]] = rows
    return results


def _plot_falloff(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, n in zip(axes, (4, 6), strict=True):
        for i, (label, rows) in enumerate(results.items()):
            w = np.array([r["width"] for r in rows], dtype=float)
            color = f"C{i}"
            ax.errorbar(w, [r[f"m{n}"] for r in rows], yerr=[r[f"m{n}_err"] for r in rows],
                        fmt="o", color=color, label=f"{label}: sampled", capsize=2)
            ax.plot(w, [r[f"m{n}_exact"] for r in rows], "-", color=color, alpha=0.6,
                    label=f"{label}: exact theory")
            bad = [r for r in rows if not r["reliable"]]
            if bad:
                ax.plot([r["width"] for r in bad], [r[f"m{n}"] for r in bad], "x", color="k",
                        ms=9, label="heavy tails: error bars unreliable")
        _one_over_n_guide(ax, results, n)
        ax.set(xscale="log", yscale="log", xlabel="width N", ylabel=f"m{n}",
               title=f"m{n} = <|ΔG{n} / G{n},free|> over the tuples")
    handles, labels = axes[1].get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))  # one entry per label, both panels alike
    fig.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize=8)
    fig.savefig(path, dpi=110)


def _one_over_n_guide(ax: Any, results: dict[str, list[dict[str, Any]]], n: int) -> None:
    """A dashed c/N line, 5x above the lowest exact curve (so that it hides none)."""
    rows = min(results.values(), key=lambda rows: rows[-1][f"m{n}_exact"])
    w = np.array([r["width"] for r in rows], dtype=float)
    c = 5 * rows[-1][f"m{n}_exact"] * w[-1]
    ax.plot(w, c / w, "--", color="0.5", lw=1, label="guide: ∝ 1/N")


def _falloff_table(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["m_n = <|ΔG_n / G_n,free|> is the mean over the sorted input tuples of the deviation "
             "ΔG_n = G_n − G_n,free of the n-point function from the free theory (Wick's theorem "
             "with the sampled two-point function), relative to it, as HMS plotted it "
             "(docs/physics.md §2.1); exact: the finite-width theory (§2.2). Errors: delete-one "
             "jackknife. The tail index is the Hill estimate of the per-network kernel scale's "
             "tail; where it is ≤ 6, ⚠ marks error bars that cannot be trusted (§2.4). The "
             "exact m4 falls exactly like 1/N (κ4 ∝ 1/N at one hidden layer, §2.2), the exact "
             "m6 like 1/N at large N with a 1/N² part at small N (§2.3); the dashed guide in "
             "the plot has slope −1.", "",
             "| net | N | m4 sampled | m4 exact | m6 sampled | m6 exact | tail index | time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for label, rows in results.items():
        for r in rows:
            flag = "" if r["reliable"] else " ⚠"
            tail = "—" if r["tail_index"] is None else f"{r['tail_index']:.2g}"
            lines.append(
                f"| {label} | {r['width']} | {r['m4']:.4g} ± {r['m4_err']:.2g}{flag} | "
                f"{r['m4_exact']:.4g} | {r['m6']:.4g} ± {r['m6_err']:.2g}{flag} | "
                f"{r['m6_exact']:.4g} | {tail} | {r['seconds']:.2f} |")
    return "\n".join(lines)


# -- 2. couplings ---------------------------------------------------------------------------

RELU_CUTOFFS = [7.0, 10.0, 20.0, 50.0, 100.0, 1000.0]
#: Below this p-value the local form is rejected and the GLS coupling is no test.
LOCAL_MODEL_P = 1e-3


def _run_couplings(cfg: StudyConfig, out: Path) -> tuple[str, dict[str, Any]]:
    from .diagnostics import predict_g6
    from .fit import compare_with_theory, cutoff_scan, fit_couplings

    rows, record = [], {}
    for net in cfg.nets:
        arch = Architecture(net["activation"], width=cfg.fit_width, sigma_b=net["sigma_b"])
        corr = _load_or_none(out / "correlators" / f"{net['label']}_N{cfg.fit_width}.npz")
        if corr is None:
            continue
        x = corr.x
        cutoff = float(net["cutoff"])
        with _reliability_recorded():  # as 'reliable' instead of warned
            fit = fit_couplings(corr, arch, x, cutoff=cutoff, terms=("u4", "u6"))
            g6 = predict_g6(fit, corr, arch, x)
            cmp = compare_with_theory(corr, arch, x, cutoff=cutoff, terms=("u4", "u6"))
        reliable = corr.reliable(6)
        record[net["label"]] = {"fit": fit.to_dict(), "exact": cmp.theory.to_dict(),
                                "sampled_fixed_weights": cmp.sampled.to_dict(),
                                "pulls": cmp.pulls,
                                "g6_chi2": g6.chi2, "g6_ndof": g6.ndof, "reliable": reliable}
        flag = _tails(reliable)
        local = "" if fit.pvalue >= LOCAL_MODEL_P else " (local form rejected)"
        for t in ("u4", "u6"):
            same = cmp.sampled
            rows.append(f"| {net['label']}{flag} | {cfg.fit_width} | {cutoff:g} | {t} | "
                        f"{fit.values[t]:.5g} ± {fit.errors[t]:.2g} | "
                        f"{_goodness(fit.chi2, fit.ndof, fit.pvalue)}{local} | "
                        f"{same.values[t]:.5g} ± {same.errors[t]:.2g} | "
                        f"{cmp.theory.values[t]:.5g} | {_signed(cmp.pulls[t])} |")
        rows.append(f"| {net['label']} | | | G6 predicted from the fit | "
                    f"{_goodness(g6.chi2, g6.ndof, g6.pvalue)} | | | | |")
    table = ["| net | N | Λ | coupling | sampled (GLS) | GLS χ²/ndof (p) | sampled, fixed weights "
             "| exact correlators, fixed weights | pull |",
             "|---|---|---|---|---|---|---|---|---|"] + rows
    scan_text = ""
    relu = next((n for n in cfg.nets if n["activation"] == "relu"), None)
    if relu is not None:
        corr = _load_or_none(out / "correlators" / f"{relu['label']}_N{cfg.fit_width}.npz")
        if corr is not None:
            scan = cutoff_scan(corr, corr.arch, corr.x, RELU_CUTOFFS)
            slope, err = scan.slopes["u4"], scan.slope_errors["u4"]
            record["relu_cutoff_scan"] = scan.to_dict()
            scan_text = (f"\n\nReLU cutoff scan over Λ ∈ {RELU_CUTOFFS}: "
                         f"d log|u4| / d log Λ = {slope:.4f} ± {err:.2g} "
                         "(exact: −(4 + d_in) = −5: the vertex integral is homogeneous of degree "
                         "4 + d_in in Λ, so this slope tests the integral, not the networks; "
                         "docs/physics.md §3.6, §7.12).")
    note = ("\n\nThe couplings are in the ELS normalisation, u4 = −ΔG4 / ∫ΠK_EFT over the box "
            "[−Λ, Λ]^d_in (and u6 likewise at six points). *Sampled (GLS)* is fitted by "
            "generalised least squares with the jackknife covariance. The pull compares like "
            "with like: the sampled and the exact correlators fitted with the same fixed "
            "weights 1/∏K(xᵢ, xᵢ) (nnqft.fit.compare_with_theory), one linear functional of κ4 "
            "(and κ6), so *pull* = (sampled − exact) / error is a z-score whether or not the "
            "local form fits. The GLS coupling weights the tuples by the sample's own "
            "covariance: the efficient estimate when its χ² accepts the local form; where the "
            f"local form is rejected (p < {LOCAL_MODEL_P:g}) it is a weight-dependent projection "
            "of the correlators onto the local template, a summary of the sample that no "
            "theory number predicts, not a test."
            "\n\nχ² tests the *local* form: the ReLU net with σ_b = 0 is linear in its inputs "
            "on these positive inputs, so its kernel has rank 1 and the fit no degrees of "
            "freedom (no χ²); the Gauss- and erf-net correlators carry non-local structure that "
            "precise data resolve. The next table shows N·u4 at every width.")
    write_text(out / "couplings.json", dumps(record, indent=1))
    return "\n".join(table) + scan_text + note, record


def _goodness(chi2: float, ndof: int, pvalue: float) -> str:
    """χ²/ndof with its p-value, or why there is none."""
    if ndof <= 0:
        return "— (no degrees of freedom)"
    p = "" if not math.isfinite(pvalue) else f" (p = {pvalue:.2g})"
    return f"{chi2:.3g}/{ndof}{p}"


def _couplings_by_width(cfg: StudyConfig, out: Path) -> dict[str, list[dict[str, Any]]]:
    """N·u4 of every net at every width: sampled and exact, fitted with the same fixed weights."""
    from .fit import compare_with_theory

    results: dict[str, list[dict[str, Any]]] = {}
    for net in cfg.nets:
        rows = []
        for width in cfg.widths:
            corr = _load_or_none(out / "correlators" / f"{net['label']}_N{width}.npz")
            if corr is None:
                continue
            with _reliability_recorded():
                cmp = compare_with_theory(corr, corr.arch, corr.x, cutoff=float(net["cutoff"]))
            rows.append({"width": width, "Nu4": width * cmp.sampled.values["u4"],
                         "Nu4_err": width * cmp.sampled.errors["u4"],
                         "Nu4_exact": width * cmp.theory.values["u4"], "pull": cmp.pulls["u4"],
                         "reliable": bool(corr.reliable(4))})
        results[net["label"]] = rows
    return results


def _width_table(results: dict[str, list[dict[str, Any]]], cfg: StudyConfig) -> str:
    lines = ["N·u4 at every width (u4 alone, fixed weights 1/∏K(xᵢ, xᵢ) as in the pulls above; Λ = "
             + ", ".join(f"{n['cutoff']:g} for {n['label']}" for n in cfg.nets)
             + "). A constant N·u4 is u4 ∝ 1/N, the interaction switched off at infinite "
             "width; it holds because the Wick subtraction uses the full kernel K and only the "
             "vertex legs K − σ_b1² (docs/physics.md §7 item 9). At one hidden layer κ4 is "
             "exactly ∝ 1/N (docs/physics.md §2.2): the exact column, fitted with fixed weights "
             "that do not depend on the sample, is the same at every width.", "",
             "| net | N | N·u4 sampled | N·u4 exact correlators | pull |",
             "|---|---|---|---|---|"]
    for label, rows in results.items():
        for r in rows:
            flag = _tails(r["reliable"])
            lines.append(f"| {label}{flag} | {r['width']} | {r['Nu4']:.5g} ± {r['Nu4_err']:.2g} | "
                         f"{r['Nu4_exact']:.5g} | {_signed(r['pull'])} |")
    return "\n".join(lines) + "\n\n![N·u4 against N](couplings.png)"


def _plot_couplings(results: dict[str, list[dict[str, Any]]], cfg: StudyConfig,
                    path: Path) -> None:
    from matplotlib.figure import Figure

    cutoffs = {n["label"]: float(n["cutoff"]) for n in cfg.nets}
    fig = Figure(figsize=(4 * len(results), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(results)))
    for i, (ax, (label, rows)) in enumerate(zip(axes, results.items(), strict=True)):
        w = np.array([r["width"] for r in rows], dtype=float)
        ok = np.array([r["reliable"] for r in rows], dtype=bool)
        y, dy = np.array([r["Nu4"] for r in rows]), np.array([r["Nu4_err"] for r in rows])
        if ok.any():  # no legend entry for points that are not there
            ax.errorbar(w[ok], y[ok], yerr=dy[ok], fmt="o", color=f"C{i}", capsize=2,
                        label="sampled")
        if (~ok).any():
            ax.errorbar(w[~ok], y[~ok], yerr=dy[~ok], fmt="x", color="k", capsize=2,
                        label="sampled, heavy tails")
        ax.plot(w, [r["Nu4_exact"] for r in rows], "-", color=f"C{i}", alpha=0.6,
                label="exact correlators, same fit")
        ax.set(xscale="log", xlabel="width N", ylabel="N·u4")
        # right-aligned: the axis' offset text (×1e-5) sits at the top left
        ax.set_title(f"{label}: N·u4, cutoff Λ = {cutoffs[label]:g}", loc="right", fontsize=10)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def _load_or_none(path: Path) -> Any:
    from ._load import load

    return load(path) if path.exists() else None


# -- 3. the sigma flow ------------------------------------------------------------------------

def _run_flow(cfg: StudyConfig, out: Path, seed: int, threads: int | None,
              progress: bool, scale: dict[str, Any]) -> str:
    from .flow import sigma_flow

    arch = Architecture(cfg.flow_activation, width=cfg.flow_width, sigma_b=cfg.flow_sigma_b)
    with _reliability_recorded():  # the flow's table shows every error bar
        flow = sigma_flow(arch, np.asarray(cfg.flow_x), cfg.flow_sigmas,
                          n_networks=cfg.flow_n_networks, seed=seed, threads=threads,
                          progress=progress, **_scale(scale, "flow"))
    flow.save(out / "flow.npz")
    e, de = flow.exponent("u4")
    print(f"      u4 ∝ σ^e with e = {e:.4f} ± {de:.2g} (dimensional analysis: {arch.d_in - 4})")
    frg = flow.frg(scale_max=100.0)
    write_text(out / "frg.json", dumps(frg))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    flow.plot(ax=axes[0])  # the FRG curve spans too little σ to be seen here: own panels
    axes[0].set_title("active flow: u4(σ), one set of networks rescaled")
    frg.plot(ax=axes[1:], quantities=("u4", "sigma"))
    axes[1].set_title("functional RG from the IR point: u4(k)")
    axes[2].set_title("... and σ(k) = sqrt(d_in·u2(k)/2)")
    fig.savefig(out / "flow.png", dpi=110)
    exact_e = np.polyfit(np.log(flow.sigmas), np.log(np.abs(flow.exact_couplings["u4"])), 1)[0] \
        if flow.exact_couplings else math.nan
    text = [f"{arch!r}, inputs {cfg.flow_x}, {cfg.flow_n_networks} networks per σ, "
            "common random numbers (one set of networks rescaled), conditional estimator.", "",
            flow.summary(), "",
            "The χ²/ndof column tests the local form of the fit at each σ (docs/physics.md "
            "§3): far above 1, the local model is rejected and u4 is the best local projection "
            "of the data; the same fit of the exact correlators gives the exact column.", "",
            f"Fitted exponent {e:.4f} ± {de:.2g}; exact theory {exact_e:.4f}; "
            f"dimensional analysis d_in − 4 = {arch.d_in - 4}. This agreement tests the "
            "sampler and the fit, not the renormalisation group: rescaling σ rescales the "
            "output field, so the exponent d_in − 4 follows from dimensional analysis alone, "
            "and pure noise in ΔG4 would give the same slope (docs/physics.md §4.2 and §7 "
            "item 12). The test of the physics is u4 against the exact theory at each σ, "
            "in the table.",
            "",
            f"Functional RG (LPA, Litim regulator, potential to φ⁶; docs/physics.md §4.3) "
            f"started from the measured couplings at the IR point σ = {flow.sigmas[0]:g}: up "
            f"to k = {frg.scale[-1]:g} it moves σ(k) = sqrt(d_in·u2(k)/2) only from "
            f"{frg.sigma[0]:.4g} to {frg.sigma[-1]:.4g}, with u4 = "
            f"{frg.couplings['u4'][-1]:.4g} ± {frg.errors['u4'][-1]:.2g} there (the right-hand "
            "panels). This passive flow does not follow the active σ^(d_in−4) law; on the σ "
            "axis of the left panel it would be a single point.",
            "", "![flow](flow.png)"]
    return "\n".join(text)


# -- 4. depth: the quartic coupling flowing with the number of layers -------------------------

def _m4(kappa4: np.ndarray, gp: np.ndarray) -> np.ndarray:
    """HMS-style mean relative deviation <|kappa4 / Wick_4(K)|> over tuples (last axis).

    Tuples where the free theory vanishes (ReLU with sigma_b = 0 at inputs of opposite
    signs: kappa4 is exactly 0 there too) are left out.
    """
    keep = np.abs(gp) > 1e-9 * np.abs(gp).max()
    return np.asarray(np.abs(kappa4[..., keep] / gp[keep]).mean(axis=-1))


def depth_point(corr: Correlators, arch: Architecture, cutoff: float) -> dict[str, Any]:
    """N·m4, the fitted N·u4 and N²·u6 of one deep ensemble, sampled beside the 1/N theory.

    The theory is the one :func:`nnqft.fit.compare_with_theory` uses (exact at depth 1,
    :func:`nnqft.finite_width` to order 1/N² deeper; order 1/N for tanh).  u6 needs a run
    with order 6 and the order-2 theory; without them its entries are NaN.
    """
    from .deep_theory import finite_width
    from .fit import compare_with_theory, fit_couplings, theory_order

    n = arch.width
    order = theory_order(arch) or 2  # depth 1: the order-2 theory is exact there
    theory = finite_width(arch, corr.x, order=order)
    with_u6 = 6 in corr.orders and order == 2
    gp = wick(theory.kernel(), 4)
    m4 = _m4(np.vstack([corr.connected(4)[0], corr.replicas(4, connected=True)]), gp)
    with _reliability_recorded():  # the row's "reliable" entry carries the verdict
        fit = fit_couplings(corr, arch, corr.x, cutoff=cutoff)
        cmp = compare_with_theory(corr, arch, corr.x, cutoff=cutoff,
                                  terms=("u4", "u6") if with_u6 else ("u4",))
    u4, du4 = fit.values["u4"], fit.errors["u4"]
    row = {"depth": arch.depth, "width": n, "theory_order": order,
           "Nm4": n * float(m4[0]),
           "Nm4_err": n * float(math.sqrt(jackknife_covariance(m4[1:, None])[0, 0])),
           "Nm4_theory": n * float(_m4(theory.connected(4), gp)),
           "Nu4_gls": n * u4, "Nu4_gls_err": n * du4,
           "Nu4": n * cmp.sampled.values["u4"], "Nu4_err": n * cmp.sampled.errors["u4"],
           "Nu4_theory": n * cmp.theory.values["u4"], "pull": cmp.pulls["u4"],
           "N2u6": math.nan, "N2u6_err": math.nan, "N2u6_theory": math.nan,
           "pull_u6": math.nan,
           "chi2": fit.chi2, "ndof": fit.ndof, "pvalue": fit.pvalue,
           "seconds": corr.meta["wall_time"],
           "reliable": corr.reliable(4), "reliable6": with_u6 and corr.reliable(6)}
    if with_u6:
        row.update({"N2u6": n**2 * cmp.sampled.values["u6"],
                    "N2u6_err": n**2 * cmp.sampled.errors["u6"],
                    "N2u6_theory": n**2 * cmp.theory.values["u6"], "pull_u6": cmp.pulls["u6"]})
    return row


def _run_depth(cfg: StudyConfig, out: Path, seed: int, threads: int | None,
               progress: bool, scale: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    for net in cfg.depth_nets:
        rows = []
        for depth in cfg.depth_depths:
            arch = Architecture(net["activation"], width=cfg.depth_width, depth=depth,
                                sigma_w=net["sigma_w"], sigma_b=net["sigma_b"])
            name = f"depth_{_breakdown.file_label(net['label'])}_L{depth}"
            with _reliability_recorded():  # small-width tails: the table flags the row
                corr = sample(arch, np.asarray(net["x"]), cfg.depth_n_networks,
                              orders=(2, 4, 6), estimator="conditional", seed=seed,
                              threads=threads, progress=progress, **_scale(scale, name))
                corr.save(out / "correlators" / f"{name}.npz")
                rows.append(depth_point(corr, arch, float(net["cutoff"])))
        results[net["label"]] = rows
    return results


#: The depth plot's panels: row key, axis label, title.
_DEPTH_PANELS = (("Nm4", "N·m4", "N·m4 = N·<|κ4 / G4,free|>"),
                 ("Nu4", "N·u4", "N·u4, Λ = {cutoff:g}"),
                 ("N2u6", "N²·u6", "N²·u6, Λ = {cutoff:g}"))


def _plot_depth(results: dict[str, list[dict[str, Any]]], cfg: StudyConfig, path: Path) -> None:
    """One row per net (their scales differ by orders of magnitude), linear axes."""
    from matplotlib.figure import Figure

    cutoffs = {n["label"]: float(n["cutoff"]) for n in cfg.depth_nets}
    fig = Figure(figsize=(13, 3.4 * len(results)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(results), len(_DEPTH_PANELS)))
    for i, (name, rows) in enumerate(results.items()):
        depth = [r["depth"] for r in rows]
        for ax, (key, what, title) in zip(axes[i], _DEPTH_PANELS, strict=True):
            ax.errorbar(depth, [r[key] for r in rows], yerr=[r[f"{key}_err"] for r in rows],
                        fmt="o", color=f"C{i}", capsize=2, label="sampled")
            ax.plot(depth, [r[f"{key}_theory"] for r in rows], "-", color=f"C{i}", alpha=0.6,
                    label="1/N theory to 1/N² (exact at L = 1)")
            ax.set_xticks(depth)
            ax.set(xlabel="depth L (hidden layers)", ylabel=what)
            # right-aligned: the axis' offset text (×1e-5) sits at the top left
            ax.set_title(f"{name}: " + title.format(cutoff=cutoffs[name]), loc="right",
                         fontsize=10)
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def _depth_table(results: dict[str, list[dict[str, Any]]], cfg: StudyConfig) -> str:
    lines = [f"Width N = {cfg.depth_width}, {cfg.depth_n_networks} networks per depth, "
             "conditional estimator; theory: the 1/N recursion to order 1/N² "
             "(nnqft.finite_width(..., order=2): G2 = K + K1/N + K2/N², κ4 = Σ₃(V + W/N)/N, "
             "κ6 = Σ₁₅ U/N²; exact at L = 1). Its N·u4 and N²·u6 and the sampled ones come "
             "from the same fit with fixed weights "
             "1/∏K(xᵢ, xᵢ) (nnqft.fit.compare_with_theory), so the pull = (sampled − theory) / "
             "error measures sampling error plus the O(1/N³) remainder of the theory; the GLS "
             "column weights by the sample's own covariance and is no test where its χ² "
             "rejects the local form. N·m4 = N·<|κ4 / G4,free|>, the mean over the tuples of "
             "the connected four-point function relative to the free one (as in the fall-off "
             "section). Couplings in the ELS normalisation, u4 = −ΔG4 / ∫ΠK_EFT over the box "
             "[−Λ, Λ] (small where the box is large), and u6 from κ6 = −u6 I6 + u4²E6 (I6 = "
             "∫ΠK_EFT over six legs, E6 the two-vertex exchange diagram, docs/physics.md §3), "
             "with Λ = "
             + " and ".join(f"{n['cutoff']:g} for {n['label']}" for n in cfg.depth_nets)
             + ".", "",
             "| net | L | N·m4 sampled | N·m4 theory | N·u4 sampled (GLS) | GLS χ²/ndof | "
             "N·u4 sampled, fixed weights | N·u4 theory | pull | time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        for r in rows:
            lines.append(f"| {name}{_tails(r['reliable'])} | {r['depth']} | "
                         f"{r['Nm4']:.4g} ± {r['Nm4_err']:.2g} | "
                         f"{r['Nm4_theory']:.4g} | {r['Nu4_gls']:.4g} ± {r['Nu4_gls_err']:.2g} | "
                         f"{_goodness(r['chi2'], r['ndof'], r.get('pvalue', math.nan))} | "
                         f"{r['Nu4']:.4g} ± {r['Nu4_err']:.2g} | "
                         f"{r['Nu4_theory']:.4g} | {_signed(r['pull'])} | {r['seconds']:.2f} |")
    lines += ["", "The sextic coupling at the same depths (u4 and u6 fitted together, fixed "
              "weights, on the six-point functions of the same runs):", "",
              "| net | L | N²·u6 sampled | N²·u6 theory | pull |", "|---|---|---|---|---|"]
    for name, rows in results.items():
        for r in rows:
            if not math.isfinite(r["N2u6_theory"]):  # tanh at L >= 2: no order-2 theory
                lines.append(f"| {name} | {r['depth']} | — | — (no 1/N² theory) | — |")
                continue
            lines.append(f"| {name}{_tails(r['reliable6'])} | {r['depth']} | "
                         f"{r['N2u6']:.4g} ± {r['N2u6_err']:.2g} | {r['N2u6_theory']:.4g} | "
                         f"{_signed(r['pull_u6'])} |")
    n, depth = cfg.depth_width, max(cfg.depth_depths)
    remainder = ((1 + 5 / n) ** depth - 1) / (5 * depth / n) - 1
    remainder6 = (_breakdown.relu_ray_exact(n, depth)[6]
                  / ((44 * depth + 75 * depth * (depth - 1)) / n**2) - 1)
    lines += ["", "At criticality the ReLU vertex grows linearly with depth (V/K² = 5L on a "
              "ray, docs/physics-deep.md §3), and so does N·m4 in the plot (linear axes): the "
              "quartic interaction flows with L as it flows with σ in the ELS flow. Its "
              "six-point vertex grows quadratically (U/K³ = 44L + 75L(L − 1) on a ray, "
              "physics-deep.md §5); N²·u6 is not U alone (it is fitted to κ6 − u4²E6, with "
              "the vertex integrals of the depth-L kernel) but grows with L as well. "
              + _depth_trend(results)
              + " The 1/N series is one in L/N: for the tuples of same-sign inputs the exact "
              "ReLU ray results show the size of what the theory leaves out at "
              f"N = {n}, L = {depth}: (1 + 5/N)^L − 1 is {remainder:+.0%} off the leading "
              "κ4 (which the 1/N² term removes, up to O(1/N³)), and the exact κ6 "
              f"{remainder6:+.0%} off its leading 1/N² term. A κ6 above its leading term "
              "lowers the fitted u6 (κ6 = −u6 I6 + u4²E6), hence the negative u6 pulls of "
              "critical ReLU that grow with L: the O(1/N³) remainder, resolved by the data. "
              "Section 5 follows both series to L ~ N.",
              "", "![depth](depth.png)"]
    return "\n".join(lines)


def _tails(reliable: bool) -> str:
    return "" if reliable else " ⚠ heavy tails"


def _depth_trend(results: dict[str, list[dict[str, Any]]]) -> str:
    """What the theory's N·m4 and N·u4 do with L, in numbers, for each net."""
    parts = []
    for name, rows in results.items():
        if len(rows) < 2:
            continue
        depth = [r["depth"] for r in rows]
        m = np.array([r["Nm4_theory"] for r in rows])
        u = np.array([r["Nu4_theory"] for r in rows])
        big = int(np.argmax(np.abs(u)))
        u_text = (f"N·u4 goes from {u[0]:.3g} at L = {depth[0]} to {u[-1]:.3g} at "
                  f"L = {depth[-1]}")
        if 0 < big < len(u) - 1:
            u_text += f", through {u[big]:.3g} at L = {depth[big]} (×{u[big] / u[0]:.2g})"
        u6 = np.array([r["N2u6_theory"] for r in rows])
        if np.isfinite(u6).all():
            u_text += f", N²·u6 from {u6[0]:.3g} to {u6[-1]:.3g}"
        parts.append(f"{name}: N·m4 lies between {m.min():.3g} and {m.max():.3g} "
                     f"({m[0]:.3g} at L = {depth[0]}, {m[-1]:.3g} at L = {depth[-1]}); {u_text}")
    if not parts:
        return ""
    rejected = [r for rows in results.values() for r in rows
                if r.get("pvalue") is not None and r["pvalue"] < LOCAL_MODEL_P]
    n_rows = sum(len(rows) for rows in results.values())
    caveat = (f" N·m4 measures the interaction itself; N·u4 is its projection on a local φ⁴ "
              f"vertex, which the χ² rejects in {len(rejected)} of {n_rows} rows, so there "
              "its changes with L are not the flow of one coupling.") if rejected else ""
    return "In the theory's numbers: " + "; ".join(parts) + "." + caveat


# -- driver ---------------------------------------------------------------------------------

def _new_out_dir() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(f"nnqft-run-{stamp}")
    i = 1
    while path.exists():
        path = Path(f"nnqft-run-{stamp}-{i}")
        i += 1
    return path


def _provenance(cfg: StudyConfig, seed: int, threads: int | None, wall: float) -> dict[str, Any]:
    from . import __version__, _core

    return {
        "nnqft_version": __version__,
        "seed": seed,
        "threads": threads,
        "kernel_path": _core.kernel_path(),
        "stream_version": _core.STREAM_VERSION,
        "wall_time": wall,
        "host": {"machine": platform.machine(), "system": platform.system(),
                 "python": platform.python_version(), "cpus": os.cpu_count()},
        "config": dataclasses.asdict(cfg),
        "conventions": "ELS: Gamma ⊃ u4/4! phi^4 + u6/6! phi^6; Delta G4 = -u4 ∫ prod K_EFT, "
                       "K_EFT = K - sigma_b1^2; HMS lambda = u4/24",
    }


def _scale(scale: dict[str, Any], name: str) -> dict[str, Any]:
    """The scale-out options of one sampling run: its own checkpoint sub-directory."""
    ckpt = scale.get("checkpoint")
    return dict(scale, checkpoint=None if ckpt is None else Path(ckpt) / name)


def run_study(out: Path | None = None, quick: bool = False, config: Path | None = None,
              seed: int = 0, threads: int | None = None, progress: bool = True,
              **scale: Any) -> int:
    """Run the default study, write the report folder, print a summary; returns 0.

    ``scale`` (checkpoint, client, chunk_size) is passed to every sampling run as for
    :func:`nnqft.sample`, each run checkpointing into its own sub-directory.
    """
    cfg = StudyConfig.quick() if quick else StudyConfig()
    if config is not None:
        cfg = StudyConfig.from_toml(config, cfg)
    out = Path(out) if out is not None else _new_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sections = []

    print(f"[1/6] correlators at widths {cfg.widths} ({cfg.n_networks} networks each)")
    fall = _run_falloff(cfg, out, seed, threads, progress, scale)
    for label, rows in fall.items():
        r = rows[-1]
        print(f"      {label:>5} N={r['width']}: N*m4 = {r['width'] * r['m4']:.4g} ± "
              f"{r['width'] * r['m4_err']:.2g} (exact {r['width'] * r['m4_exact']:.4g})"
              + ("" if r["reliable"] else "  [heavy tails: error bars unreliable]"))
    _plot_falloff(fall, out / "falloff.png")
    write_text(out / "falloff.json", dumps(fall, indent=1))
    sections.append(("1/N fall-off of the deviations from the free theory",
                     _falloff_table(fall) + "\n\n![fall-off](falloff.png)"))

    print(f"[2/6] coupling fits at N = {cfg.fit_width}")
    text, record = _run_couplings(cfg, out)
    for label, rec in record.items():
        if "fit" in rec:
            v, e = rec["fit"]["values"]["u4"], rec["fit"]["errors"]["u4"]
            fit = rec["fit"]
            p = math.nan if fit["pvalue"] is None else fit["pvalue"]
            print(f"      {label:>5}: u4 = {v:.5g} ± {e:.2g}, χ²/ndof = "
                  f"{_goodness(fit['chi2'], fit['ndof'], p)}")
    by_width = _couplings_by_width(cfg, out)
    _plot_couplings(by_width, cfg, out / "couplings.png")
    record["by_width"] = by_width
    write_text(out / "couplings.json", dumps(record, indent=1))
    sections.append(("Effective couplings (GLS fits with the jackknife covariance)",
                     text + "\n\n" + _width_table(by_width, cfg)))

    print(f"[3/6] sigma flow over {cfg.flow_sigmas}")
    sections.append(("The σ-driven flow and the functional-RG flow",
                     _run_flow(cfg, out, seed, threads, progress, scale)))

    print(f"[4/6] depth L = {cfg.depth_depths} at N = {cfg.depth_width}")
    deep = _run_depth(cfg, out, seed, threads, progress, scale)
    for label, rows in deep.items():
        r = rows[-1]
        print(f"      {label}: L={r['depth']}: N*u4 = {r['Nu4']:.4g} ± {r['Nu4_err']:.2g}, "
              f"N²*u6 = {r['N2u6']:.4g} ± {r['N2u6_err']:.2g} (fixed weights; theory "
              f"{r['Nu4_theory']:.4g}, {r['N2u6_theory']:.4g})")
    _plot_depth(deep, cfg, out / "depth.png")
    write_text(out / "depth.json", dumps(deep, indent=1))
    sections.append(("Depth: the quartic and sextic couplings flowing with the number of layers",
                     _depth_table(deep, cfg)))

    print(f"[5/6] breakdown of the 1/N expansion: L = {cfg.breakdown_depths} at "
          f"N = {cfg.breakdown_width}")
    with _reliability_recorded():  # hollow points and ⚠ in the table carry the verdict
        broken = _breakdown.run(cfg.breakdown_nets, cfg.breakdown_width, cfg.breakdown_depths,
                                cfg.breakdown_n_networks, seed, threads, progress,
                                lambda name: _scale(scale, f"breakdown_{name}"),
                                out / "correlators")
    for label, rows in broken.items():
        print(f"      {label}: " + _breakdown.verdicts(rows))
    _breakdown.plot(broken, out / "breakdown.png")
    write_text(out / "breakdown.json", dumps(broken, indent=1))
    sections.append(("Where perturbation theory fails: the 1/N series against depth",
                     _breakdown.section(broken, cfg.breakdown_n_networks)))

    print(f"[6/6] massive scalar by design (d = 1, m = {cfg.field_mass:g}, N = {cfg.field_width}): "
          f"propagator, κ4, momentum shells {cfg.field_shells}")
    field = _study_field.run(cfg, out, seed, threads, progress, _scale(scale, "massive_scalar"),
                             _scale(scale, "shells"))
    _study_field.plot(field, out)
    write_text(out / "field.json", dumps(field, indent=1))
    sections.append(("A field theory by design: the massive scalar and its momentum-shell flow",
                     _study_field.markdown(field, LOCAL_MODEL_P)))

    wall = time.perf_counter() - t0
    prov = _provenance(cfg, seed, threads, wall)
    write_text(out / "provenance.json", dumps(prov, indent=1))
    report = _report(sections, prov)
    write_text(out / "report.md", report)
    print(f"\ndone in {wall:.1f} s. Everything is in {out}/:")
    print("  report.md (tables), falloff.png, couplings.png, flow.png, depth.png, "
          "breakdown.png, field.png, shells.png (plots), correlators/*.npz, flow.npz, shells.npz "
          "(results: nnqft.load or 'nnqft show'), falloff.json, couplings.json, frg.json, "
          "depth.json, breakdown.json, field.json, provenance.json")
    return 0


def _report(sections: list[tuple[str, str]], prov: dict[str, Any]) -> str:
    parts = ["# nnqft study report", "",
             f"nnqft {prov['nnqft_version']}, seed {prov['seed']}, "
             f"{prov['wall_time']:.1f} s, kernels: {prov['kernel_path']}, "
             f"host {prov['host']['machine']} / Python {prov['host']['python']}", ""]
    for number, (title, body) in enumerate(sections, start=1):  # as the console's [n/6]
        parts += [f"## {number}. {title}", "", body, ""]
    parts += ["## Conventions", "", prov["conventions"], ""]
    return "\n".join(parts)
