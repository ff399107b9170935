"""Study section: where the 1/N expansion of deep networks fails.

At a small width N and depths up to L ~ N, the sampled normalised cumulants of one output

    r4 = κ4 / (3 G2²) = Var C / (E C)²,      r6 = κ6 / (15 G2³) = κ3(C) / (E C)³

(C the read-out kernel at one input, f | C ~ N(0, C)) stand beside the leading (LO, 1/N)
and next-to-leading (NLO, 1/N²) theory of :func:`nnqft.finite_width`, and, for ReLU at
criticality on a ray, beside the exact finite-width result: the squared norm is
multiplied per layer by an independent m with E m² = 1 + 5/N and
E m³ = (1 + 4/N)(1 + 11/N), so r4 = (1 + 5/N)^L − 1 and
r6 = [(1 + 4/N)(1 + 11/N)]^L − 3 (1 + 5/N)^L + 2 (physics-deep.md §5).  The expansion
parameter is L/N: the series is read off as valid up to the first depth at which it
departs from the samples by more than ``Z_DEPART`` standard errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .architecture import Architecture
from .correlators import Correlators
from .statistics import jackknife_errors

#: A series "departs" from the samples where it is off by more than this many errors.
Z_DEPART = 3.0

#: The nets of the section, both at criticality, where the vertex grows with depth: ReLU
#: (sigma_w^2 = 2, sigma_b = 0) on a ray, whose exact curve is known, and erf in the K* = 0
#: class (sigma_b = 0, sigma_w^2 erf'(0)^2 = 1, i.e. sigma_w^2 = pi/4).  Away from
#: criticality (e.g. erf at sigma_w = 1.5, sigma_b = 0.3) the kernel reaches a fixed point,
#: r4 levels off and the series holds to L ~ N.
BREAKDOWN_NETS = (
    {"label": "relu (critical)", "activation": "relu", "sigma_w": math.sqrt(2.0),
     "sigma_b": 0.0, "x": [1.0]},
    {"label": "erf (critical)", "activation": "erf", "sigma_w": math.sqrt(math.pi / 4),
     "sigma_b": 0.0, "x": [1.0]},
)

#: Normalisation of the connected n-point function at one input: the Wick count.
_WICK = {4: 3.0, 6: 15.0}


def _has_exact_ray_curve(net: dict[str, Any]) -> bool:
    return (net["activation"] == "relu" and float(net["sigma_b"]) == 0.0
            and len(net["x"]) == 1 and float(net["x"][0]) > 0)


def relu_ray_exact(width: int, depth: int) -> dict[int, float]:
    """Exact r4 and r6 of a zero-bias ReLU net on a ray (any sigma_w)."""
    a = (1 + 5 / width) ** depth
    b = ((1 + 4 / width) * (1 + 11 / width)) ** depth
    return {4: a - 1.0, 6: b - 3.0 * a + 2.0}


def sampled_ratios(corr: Correlators) -> dict[int, tuple[float, float]]:
    """(r_n, jackknife error) for n = 4, 6 at the first input of ``corr``."""
    out = {}
    g2 = np.concatenate([corr.mean(2)[:1], corr.replicas(2)[:, 0]])
    for n in (4, 6):
        kappa = np.concatenate([corr.connected(n)[0][:1], corr.replicas(n, connected=True)[:, 0]])
        r = kappa / (_WICK[n] * g2 ** (n // 2))
        out[n] = (float(r[0]), float(jackknife_errors(r[1:, None])[0]))
    return out


def series_ratios(arch: Architecture, x: Any) -> dict[str, dict[int, float]]:
    """r4 at LO (order 1) and NLO (order 2), and r6 at its leading order (1/N², order 2)."""
    from .deep_theory import finite_width

    lo, nlo = finite_width(arch, x), finite_width(arch, x, order=2)
    ratio = {}
    for name, th, orders in (("LO", lo, (4,)), ("NLO", nlo, (4, 6))):
        g2 = float(th.mean(2)[0])
        ratio[name] = {n: float(th.connected(n)[0]) / (_WICK[n] * g2 ** (n // 2)) for n in orders}
    return ratio


def _row(corr: Correlators, arch: Architecture, net: dict[str, Any]) -> dict[str, Any]:
    n, depth = arch.width, arch.depth
    row: dict[str, Any] = {"depth": depth, "width": n, "L_over_N": depth / n,
                           "seconds": corr.meta["wall_time"]}
    for order, (value, err) in sampled_ratios(corr).items():
        row[f"r{order}"], row[f"r{order}_err"] = value, err
        row[f"r{order}_reliable"] = bool(corr.reliable(order))
    series = series_ratios(arch, net["x"])
    row["r4_LO"], row["r4_NLO"], row["r6_NLO"] = series["LO"][4], series["NLO"][4], series["NLO"][6]
    if _has_exact_ray_curve(net):
        exact = relu_ray_exact(n, depth)
        row["r4_exact"], row["r6_exact"] = exact[4], exact[6]
    return row


def departure(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """First row (in depth) where the series ``key`` (e.g. ``"r4_NLO"``) departs from the samples.

    Only rows whose error bars the diagnostics vouch for count; ``None`` if the series holds
    on all of them.
    """
    order = key.split("_")[0]
    for r in sorted(rows, key=lambda r: r["depth"]):
        if not r[f"{order}_reliable"] or r[f"{order}_err"] <= 0:
            continue
        z = (r[order] - r[key]) / r[f"{order}_err"]
        if abs(z) > Z_DEPART:
            return {"depth": r["depth"], "L_over_N": r["L_over_N"], "z": z}
    return None


def file_label(label: str) -> str:
    """A net's label as a file-name part (labels are unique)."""
    return re.sub(r"[^\w.-]+", "_", label).strip("_")


def run(nets: Any, width: int, depths: list[int], n_networks: int, seed: int,
        threads: int | None, progress: bool,
        sample_options: Callable[[str], dict[str, Any]] = lambda name: {},
        save_to: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Sample every net at every depth (conditional estimator, orders 2, 4, 6).

    ``sample_options(name)`` gives the extra :func:`nnqft.sample` options of the run
    ``name`` (e.g. its checkpoint directory); with ``save_to`` every run is saved there
    as ``breakdown_<name>.npz``.
    """
    from .sampling import sample

    results: dict[str, list[dict[str, Any]]] = {}
    for net in nets:
        rows = []
        for depth in depths:
            arch = Architecture(net["activation"], width=width, depth=depth,
                                sigma_w=net["sigma_w"], sigma_b=net["sigma_b"])
            name = f"{file_label(net['label'])}_L{depth}"
            corr = sample(arch, np.asarray(net["x"]), n_networks, orders=(2, 4, 6),
                          estimator="conditional", seed=seed, threads=threads,
                          progress=progress, **sample_options(name))
            if save_to is not None:
                corr.save(save_to / f"breakdown_{name}.npz")
            rows.append(_row(corr, arch, net))
        results[net["label"]] = rows
    return results


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """One row of panels per net: r4 and r6 against L/N, samples beside the series."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6 * len(results)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(results), 2))
    for row_axes, (name, rows) in zip(axes, results.items(), strict=True):
        t = np.array([r["L_over_N"] for r in rows])
        for ax, order in zip(row_axes, (4, 6), strict=True):
            _plot_samples(ax, rows, t, order)
            series = [("LO (1/N)", "r4_LO", "C0", "--"), ("NLO (to 1/N²)", "r4_NLO", "C1", "-")]
            if order == 6:
                series = [("leading (1/N²)", "r6_NLO", "C1", "-")]
            for label, key, color, style in series:
                ax.plot(t, [r[key] for r in rows], style, color=color, label=label)
            if f"r{order}_exact" in rows[0]:
                ax.plot(t, [r[f"r{order}_exact"] for r in rows], ":", color="k", lw=2,
                        label="exact (ray)")
            ax.set_yscale("log")
            ax.set_xlabel(f"L / N   (N = {rows[0]['width']})")
            what = "κ4 / (3 G2²)" if order == 4 else "κ6 / (15 G2³)"
            ax.set_ylabel(what)
            ax.set_title(f"{name}: {what}", fontsize=10)
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def _plot_samples(ax: Any, rows: list[dict[str, Any]], t: np.ndarray, order: int) -> None:
    ok = np.array([r[f"r{order}_reliable"] for r in rows])
    y = np.array([r[f"r{order}"] for r in rows])
    err = np.array([r[f"r{order}_err"] for r in rows])
    ax.errorbar(t[ok], y[ok], yerr=err[ok], fmt="o", color="C2", capsize=2, label="sampled")
    if (~ok).any():
        ax.errorbar(t[~ok], y[~ok], yerr=err[~ok], fmt="o", mfc="none", color="C2", capsize=2,
                    alpha=0.6, label="sampled, heavy tails (errors unreliable)")


def section(results: dict[str, list[dict[str, Any]]], n_networks: int) -> str:
    """The report's text: the verdict per net and series, a table, the plot."""
    width = next(iter(results.values()))[0]["width"]
    lines = [f"Width N = {width}, {n_networks} networks per depth, one input, conditional "
             "estimator. r4 = κ4/(3 G2²) and r6 = κ6/(15 G2³) are the normalised connected "
             "4- and 6-point functions; LO is the leading 1/N theory, NLO adds the 1/N² terms "
             "(K2, W, U of `nnqft.finite_width(..., order=2)`); κ6 starts at 1/N², so its first "
             f"term is NLO. A series *departs* where it is off by more than {Z_DEPART:g} standard "
             "errors at a depth whose error bars the tail diagnostics vouch for (hollow points "
             "in the plot are not vouched for).", ""]
    for name, rows in results.items():
        lines.append(f"* **{name}**: {verdicts(rows)}.")
    lines += ["", "| net | L | L/N | r4 sampled | r4 LO | r4 NLO | r4 exact | r6 sampled | "
              "r6 (1/N²) | r6 exact |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        for r in rows:
            lines.append(
                f"| {name} | {r['depth']} | {r['L_over_N']:.2f} | {_pm(r, 'r4')} | "
                f"{r['r4_LO']:.4g} | {r['r4_NLO']:.4g} | {_exact(r, 'r4')} | {_pm(r, 'r6')} | "
                f"{r['r6_NLO']:.4g} | {_exact(r, 'r6')} |")
    lines += ["", "![breakdown](breakdown.png)"]
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]]) -> str:
    """Where LO κ4, NLO κ4 and the leading κ6 depart from the samples of one net, in words."""
    return "; ".join(_verdict(rows, key, label) for key, label in
                     (("r4_LO", "LO κ4"), ("r4_NLO", "NLO κ4"), ("r6_NLO", "leading κ6")))


def _verdict(rows: list[dict[str, Any]], key: str, label: str) -> str:
    hit = departure(rows, key)
    if hit is None:
        last = max((r for r in rows if r[f"{key[:2]}_reliable"]), key=lambda r: r["depth"],
                   default=None)
        if last is None:
            return f"{label}: no depth with reliable error bars"
        return f"{label} agrees with the samples up to L/N = {last['L_over_N']:.2g}"
    return (f"{label} departs from L/N = {hit['L_over_N']:.2g} (L = {hit['depth']}, "
            f"{hit['z']:+.0f} σ)")


def _pm(r: dict[str, Any], key: str) -> str:
    flag = "" if r[f"{key}_reliable"] else " ⚠"
    return f"{r[key]:.4g} ± {r[f'{key}_err']:.2g}{flag}"


def _exact(r: dict[str, Any], key: str) -> str:
    value = r.get(f"{key}_exact")
    return "—" if value is None else f"{value:.4g}"
