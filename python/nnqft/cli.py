"""The ``nnqft`` command line.

``run`` (the default study) and ``sample | fit | flow | show | merge``, all reading and
writing the same result files (``.npz`` + JSON metadata).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import textwrap
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from ._output import check_output, claim_output, with_suffix
from ._validation import ESTIMATORS
from .cli_spectral import add_shell_arguments, add_spectrum_arguments, run_shell_flow, spectrum_from

__all__ = ["main", "build_parser"]


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


#: The sigma grid of ``nnqft flow`` when --sigmas is not given.
_DEFAULT_SIGMAS = [1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0]

def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _integer(text: str) -> int:
    """An integer, also written as an exact float: ``100000``, ``1e5``, ``2.5e4``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer (see :func:`_integer`) >= ``minimum``."""
    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text!r}")
        return value
    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


_positive = _at_least(1)
_non_negative = _at_least(0)


def _positive_float(text: str) -> float:
    """A number > 0 (``inf`` allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _sigma(text: str) -> float | list[float]:
    values = _floats(text)
    return values[0] if len(values) == 1 else values


def _inputs(text: str) -> np.ndarray:
    """``-1,-0.6,0.2`` (d_in = 1) or ``0,1;1,0`` (rows separated by ';')."""
    try:
        rows = [[float(v) for v in row.split(",") if v.strip()] for row in text.split(";")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot parse inputs {text!r}") from None
    if len(rows) == 1:
        return np.array(rows[0])[:, None]
    if len({len(r) for r in rows}) != 1:
        raise argparse.ArgumentTypeError("every input row needs the same dimension")
    return np.array(rows)


#: Inputs of a net when ``--x`` is not given: the published sets (physics.md §1.6), HMS's
#: erf set for the bounded and linear activations, its 0.01 multiple for the Gauss-net
#: (whose 1/N terms grow like exp(|x|^2)), and the positive ReLU set.
_ERF_SET = (-1.0, -0.6, -0.2, 0.2, 0.6, 1.0)
DEFAULT_INPUTS = {"erf": _ERF_SET, "tanh": _ERF_SET, "linear": _ERF_SET, "cos": _ERF_SET,
                  "relu": (0.2, 0.4, 0.6, 0.8, 1.0, 1.2),
                  "gauss": tuple(0.01 * v for v in _ERF_SET)}

#: Vertex cutoff Λ when ``--cutoff`` is not given: the papers' (HMS/ELS: 1e5 for erf, 50
#: for ReLU, none for the Gauss-net), the same for the kernels that behave alike.
DEFAULT_CUTOFFS = {"erf": 1e5, "tanh": 1e5, "relu": 50.0, "linear": 50.0,
                   "gauss": math.inf, "cos": math.inf}

_ACTIVATIONS = tuple(DEFAULT_INPUTS)


def _sets(table: dict[str, Any], fmt: Callable[[Any], str]) -> str:
    """``erf, tanh: A; relu: B`` — a per-activation table for a help text."""
    groups: dict[str, list[str]] = {}
    for act, value in table.items():
        groups.setdefault(fmt(value), []).append(act)
    return "; ".join(f"{', '.join(acts)}: {text}" for text, acts in groups.items())


def _add_arch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture")
    g.add_argument("--activation", default="erf", choices=_ACTIVATIONS,
                   help="activation function")
    g.add_argument("--width", type=_positive, default=1000, help="hidden width N")
    g.add_argument("--depth", type=_positive, default=1, help="number of hidden layers")
    g.add_argument("--sigma-w", type=_sigma, default=1.0,
                   help="weight std (one value, or one per layer: 'a,b,...')")
    g.add_argument("--sigma-b", type=_sigma, default=None,
                   help="bias std (default 1; 0 for relu, as in HMS)")
    g.add_argument("--weight-dist", default="gaussian", choices=["gaussian", "uniform", "sign"],
                   help="distribution of the weights (all have the variance sigma_w^2/fan-in; "
                        "sign: +-sigma/sqrt(fan-in), the read-out of a cos-net only)")
    g.add_argument("--x", type=_inputs, default=None,
                   help="inputs: --x=-1,-0.6,0.2 (d_in=1) or --x='0,1;1,0' (rows; d_in=2); "
                        "default: the papers' set for the activation (physics.md §1.6), "
                        + _sets(DEFAULT_INPUTS, lambda v: "{" + ",".join(f"{t:g}" for t in v) + "}"))
    add_spectrum_arguments(p)


def _arch_from(args: argparse.Namespace) -> tuple[Any, np.ndarray]:
    from .architecture import Architecture

    x = args.x if args.x is not None else np.array(DEFAULT_INPUTS[args.activation])[:, None]
    sigma_b = args.sigma_b if args.sigma_b is not None else (0.0 if args.activation == "relu" else 1.0)
    arch = Architecture(activation=args.activation, width=args.width, d_in=x.shape[1],
                        depth=args.depth, sigma_w=args.sigma_w, sigma_b=sigma_b,
                        weight_dist=args.weight_dist, spectrum=spectrum_from(args, x.shape[1]))
    return arch, x


def _add_cutoff(p: argparse.ArgumentParser, whose: str) -> None:
    p.add_argument("--cutoff", type=_positive_float, default=None,
                   help=f"half-width Λ of the box of the vertex integrals (inf allowed where "
                        f"they converge); default by the {whose} activation, as the papers: "
                        + _sets(DEFAULT_CUTOFFS, lambda v: f"{v:g}"))


def _cutoff_for(args: argparse.Namespace, activation: str) -> float:
    return float(args.cutoff if args.cutoff is not None else DEFAULT_CUTOFFS[activation])


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_non_negative, default=0, help="seed, an integer >= 0")
    p.add_argument("--threads", type=_positive, default=None,
                   help="threads (default: every core this process may use)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars (default: shown)")


def _add_sampler_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", default="auto", choices=["auto", "gram", "weights"],
                   help="how deep layers are drawn: gram = the Gram chain (Gaussian weights, "
                        "cost ~N per layer), weights = every weight (~N^2); auto = "
                        "gram for Gaussian weights at depth >= 2")


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing --out (default: refuse)")


@contextlib.contextmanager
def _claimed(args: argparse.Namespace, suffix: str) -> Iterator[Callable[[Any], Path]]:
    """Check and lock ``--out`` before any work; yield ``save(result)``.

    ``save`` checks again just before writing: another program may have created the
    file meanwhile.
    """
    path = with_suffix(args.out, suffix)

    def save(result: Any) -> Path:
        check_output(path, force=args.force)
        saved: Path = result.save(path)
        return saved

    with claim_output(path, force=args.force):
        yield save


def _add_scale_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scaling out (see README, 'Scaling out')")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on Dask: a scheduler address (tcp://host:8786) or 'local:N' "
                        "(a LocalCluster of N worker processes); --threads is then per task "
                        "(default: no Dask, this process)")
    g.add_argument("--checkpoint", type=Path, default=None, metavar="DIR",
                   help="keep every finished chunk in DIR; rerunning the same command resumes "
                        "(default: none)")
    g.add_argument("--chunk-size", type=_positive, default=None, metavar="N",
                   help="networks per chunk / Dask task (default 131072)")


def _scale_options(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """Keyword arguments routing a run through a checkpoint and/or Dask."""
    return {"checkpoint": args.checkpoint, "client": client, "chunk_size": args.chunk_size}


class _HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help names its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        shown = not (default is None or default is False or default == argparse.SUPPRESS
                     or action.required)
        if shown and "default" not in text and action.option_strings:
            if isinstance(default, (list, tuple)):
                default = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
            text += f" (default: {default})".replace("%", "%%")
        return text


def _subcommand(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=description, formatter_class=_HelpFormatter)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``nnqft`` command."""
    parser = argparse.ArgumentParser(
        prog="nnqft", formatter_class=_HelpFormatter,
        description="Neural-network field theory: sample ensembles, exact theory, couplings, "
                    "flows. 'nnqft COMMAND --help' describes each command.",
        epilog="Exit status: 0 success; 2 a user error (one line on stderr); 1 an internal "
               "error (a bug); 130 after Ctrl-C, 143 after SIGTERM.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"nnqft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _subcommand(
        sub, "run", "the default study: correlators, couplings, sigma flow, depth, report",
        "Run the default study: the 1/N fall-off of the correlators against exact theory, "
        "the fitted couplings, the sigma-driven and functional-RG flows and the depth "
        "dependence, written as report.md, PNG plots and result files into one folder.")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder, created in an existing directory "
                          "(default: a new nnqft-run-DATE-TIME in the current directory)")
    run.add_argument("--quick", action="store_true",
                     help="a seconds-long version of the study (default: the full study)")
    run.add_argument("--config", type=Path, default=None, metavar="TOML",
                     help="TOML file overriding any StudyConfig field (see the docs' "
                          "'Command line' page; default: none)")
    _add_force(run)
    _add_run_arguments(run)
    _add_scale_arguments(run)

    sample = _subcommand(
        sub, "sample", "sample an ensemble and save its correlators",
        "Sample an ensemble of random networks and save its correlators (means, "
        "covariances and jackknife replicas of every order) as a result file.")
    _add_arch_arguments(sample)
    sample.add_argument("--n-networks", type=_positive, default=100_000,
                        help="networks to sample; 1e5 reads as 100000")
    sample.add_argument("--orders", type=_ints, default=[2, 4, 6],
                        help="correlator orders, comma-separated (1 to 8)")
    sample.add_argument("--estimator", default="plain", choices=ESTIMATORS,
                        help="plain: products of outputs (as the papers); conditional: "
                             "moments of the read-out's conditional Gaussian (smaller errors)")
    sample.add_argument("--start", type=_non_negative, default=0,
                        help="index of the first network (the next disjoint range to merge)")
    _add_sampler_argument(sample)
    sample.add_argument("--out", type=Path, required=True,
                        help="result file (.npz appended if missing; its directory must exist)")
    _add_force(sample)
    _add_run_arguments(sample)
    _add_scale_arguments(sample)

    fit = _subcommand(
        sub, "fit", "fit effective couplings to saved correlators",
        "Fit effective couplings (u4, u6, ...) to the connected correlators of a result "
        "file, with the jackknife covariance; prints the values, errors and chi2.")
    fit.add_argument("result", type=Path, help="correlators file from 'nnqft sample'")
    _add_cutoff(fit, "file's")
    fit.add_argument("--terms", default="u4", help="comma-separated: u4,u6,d2,bilocal")
    fit.add_argument("--out", type=Path, default=None,
                     help="also write the fit as JSON (default: print only)")
    _add_force(fit)

    flow = _subcommand(
        sub, "flow", "the sigma-driven flow u4(sigma) of one architecture",
        "Sample the architecture at every sigma of a grid (the same networks rescaled) and "
        "fit u4 at each: the sigma-driven flow, with the fitted exponent and the exact "
        "theory's couplings beside it. Every argument is checked before sampling.")
    _add_arch_arguments(flow)
    flow.add_argument("--sigmas", type=_floats, default=None,
                      help="the sigma grid, increasing (default 1,1.5,2,3,5,7,10; not with "
                           "--shells)")
    flow.add_argument("--vary", default="w", choices=["w", "w0", "w1", "b"],
                      help="what sigma replaces: w every sigma_w, w0 the first layer's, "
                           "w1 the read-out's, b every sigma_b")
    flow.add_argument("--n-networks", type=_positive, default=20_000,
                      help="networks per sigma; 1e5 reads as 100000")
    flow.add_argument("--estimator", default="conditional", choices=ESTIMATORS,
                      help="as for 'nnqft sample'")
    _add_cutoff(flow, "")
    add_shell_arguments(flow)
    _add_sampler_argument(flow)
    flow.add_argument("--out", type=Path, required=True,
                      help="result file (.npz appended if missing; its directory must exist)")
    _add_force(flow)
    _add_run_arguments(flow)
    _add_scale_arguments(flow)

    show = _subcommand(
        sub, "show", "print a summary of any result file",
        "Print the tables of a result file (.npz of any nnqft result) or an outline of a "
        "study's JSON file.")
    show.add_argument("result", type=Path, help="a result file (.npz) or a study's .json")
    show.add_argument("--orders", type=_ints, default=None,
                      help="even orders to tabulate, among the file's (correlators files; "
                           "default: all)")
    show.add_argument("--rows", type=_positive, default=None,
                      help="tuples per table (correlators files; default 12)")

    merge = _subcommand(
        sub, "merge", "combine runs of one configuration losslessly",
        "Combine correlators files of one configuration over disjoint network ranges into "
        "exactly the result of one run over their union (bit-identical sums).")
    merge.add_argument("results", type=Path, nargs="+", help="correlators files to merge")
    merge.add_argument("--out", type=Path, required=True,
                       help="merged result file (.npz appended if missing)")
    _add_force(merge)
    return parser


# -- commands ---------------------------------------------------------------------------

def _cmd_sample(args: argparse.Namespace) -> int:
    from .distributed import connect
    from .sampling import sample

    arch, x = _arch_from(args)
    with _claimed(args, ".npz") as save, connect(args.scheduler) as client:
        corr = sample(arch, x, args.n_networks, orders=args.orders, estimator=args.estimator,
                      seed=args.seed, threads=args.threads, progress=args.progress,
                      start=args.start, sampler=args.sampler, **_scale_options(args, client))
        path = save(corr)
    print(corr.describe(max_rows=8))
    print(f"\nsaved {path}")
    return 0


def _outline(value: Any, indent: str = "") -> list[str]:
    """Outline a JSON document: scalars and short lists in full, long lists as a range."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and not _is_short(item):
                lines.append(f"{indent}{key}:")
                lines.extend(_outline(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {_short(item)}")
        return lines
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines = []
        for i, item in enumerate(value):
            lines.append(f"{indent}[{i}]")
            lines.extend(_outline(item, indent + "  "))
        return lines
    return [f"{indent}{_short(value)}"]


def _null(name: str) -> None:
    """Read NaN/Infinity, which files of nnqft <= 0.1 could contain, as null."""
    return None


def _is_short(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 8 and not any(
        isinstance(v, (dict, list)) for v in value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        if _is_short(value):
            return "[" + ", ".join(_short(v) for v in value) + "]"
        arr = np.asarray(value, dtype=object)
        flat = arr.ravel()
        nums = [float(v) for v in flat if isinstance(v, (int, float)) and not isinstance(v, bool)]
        shape = "x".join(str(n) for n in arr.shape)
        if nums and len(nums) == flat.size:
            return f"[{shape} values from {min(nums):.6g} to {max(nums):.6g}]"
        return f"[{shape} items]"
    return str(value)


def _displays() -> dict[type, Callable[[Any, argparse.Namespace], str]]:
    """How ``nnqft show`` prints each result class, by exact type.

    Every class of :func:`nnqft._load.result_classes` has an entry (a test checks it);
    a result of a type not listed is refused rather than printed by a guess.
    """
    from .correlators import Correlators
    from .deep_theory import FiniteWidthTheory
    from .fit import CouplingFit, CutoffScan
    from .flow import Flow
    from .frg import FRGFlow
    from .shells import ShellFlow

    def tables(obj: Any, args: argparse.Namespace) -> str:
        if args.orders is not None or args.rows is not None:
            raise ValueError(f"--orders and --rows apply to correlators files; {args.result} "
                             f"holds a {type(obj).__name__}")
        return str(obj)

    def correlators(corr: Any, args: argparse.Namespace) -> str:
        if args.orders is not None:
            shown = sorted({n for n in corr.orders if n % 2 == 0})
            bad = [n for n in args.orders if n not in shown]
            if bad:
                raise ValueError(f"--orders {','.join(map(str, bad))}: {args.result} tabulates "
                                 f"the even orders {shown}")
        return str(corr.describe(args.orders, 12 if args.rows is None else args.rows))

    def fit(result: Any, args: argparse.Namespace) -> str:
        tables(result, args)  # refuses the correlators options
        return _fit_text(result)

    return {Correlators: correlators, CouplingFit: fit, CutoffScan: tables, Flow: tables,
            FRGFlow: tables, FiniteWidthTheory: tables, ShellFlow: tables}


#: Below this p-value the fitted model is rejected: the values are no measurement.
_REJECT_P = 1e-3


def _fit_text(fit: Any) -> str:
    """A :class:`nnqft.CouplingFit` for the terminal, with a verdict a reader can act on.

    The fit's own header says "valid" for a well-conditioned solve; here a rejected model
    (p < 0.001) is named as such, so no reader takes "valid" beside p = 3e-34 for a test
    passed.
    """
    from . import render

    if not fit.valid:
        verdict = ("INVALID: the normal equations are ill-conditioned or a number is not "
                   "finite; the values below mean nothing")
    elif not math.isfinite(fit.pvalue):
        verdict = "no goodness of fit (no degrees of freedom, or exact data)"
    elif fit.pvalue < _REJECT_P:
        verdict = (f"the model is REJECTED (p = {fit.pvalue:.2g} < {_REJECT_P:g}): the data "
                   "need more terms (--terms) or another cutoff; the values below are the "
                   "best projection onto these terms, not measured couplings")
    else:
        verdict = f"the model fits (p = {fit.pvalue:.3g})"
    notes = [f"CouplingFit, cutoff Λ = {fit.cutoff:g}; χ²/ndof = {fit.chi2:.4g}/{fit.ndof}",
             verdict, fit.convention, *textwrap.wrap(fit.regularisation, 88)]
    rows = [(t, f"{fit.values[t]:.6e}", f"{fit.errors[t]:.3e}") for t in fit.parameters]
    return render.text([render.Table(notes, ("term", "value", "error"), rows)])


def _load_correlators(path: Path) -> Any:
    """The :class:`nnqft.Correlators` of ``path``; any other result is a ValueError."""
    from ._load import load
    from .correlators import Correlators

    corr = load(path)
    if not isinstance(corr, Correlators):
        raise ValueError(f"{path} holds a {type(corr).__name__}, not correlators "
                         "(a file of 'nnqft sample')")
    return corr


def _cmd_show(args: argparse.Namespace) -> int:
    from ._load import load

    if args.result.suffix == ".json":  # the study's tables and provenance
        print("\n".join(_outline(json.loads(args.result.read_text(), parse_constant=_null))))
        return 0
    obj = load(args.result)
    display = _displays().get(type(obj))
    if display is None:
        raise ValueError(f"{args.result}: nnqft show cannot display a {type(obj).__name__}")
    print(display(obj, args))
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    with _claimed(args, ".npz") as save:
        runs = [_load_correlators(p) for p in args.results]
        merged = runs[0]
        for path, run in zip(args.results[1:], runs[1:], strict=True):
            reason = merged.compatible_with(run)
            if reason is not None:
                raise ValueError(f"{path}: {reason}")
            merged = merged + run
        path = save(merged)
    print(f"merged {len(runs)} runs, {merged.n_networks} networks -> {path}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .distributed import connect
    from .study import run_study

    claims = contextlib.ExitStack()
    if args.out is not None:
        claims.enter_context(claim_output(args.out, force=args.force, directory=True))
    with claims, connect(args.scheduler) as client:
        return run_study(out=args.out, quick=args.quick, config=args.config, seed=args.seed,
                         threads=args.threads, progress=args.progress,
                         **_scale_options(args, client))


def _cmd_fit(args: argparse.Namespace) -> int:
    from .fit import fit_couplings

    if args.out is not None:
        check_output(args.out, force=args.force)
    corr = _load_correlators(args.result)
    terms = tuple(t.strip() for t in args.terms.split(",") if t.strip())
    fit = fit_couplings(corr, corr.arch, corr.x, cutoff=_cutoff_for(args, corr.arch.activation),
                        terms=terms)
    print(_fit_text(fit))
    if args.out is not None:
        from .io import dumps, write_text

        with claim_output(args.out, force=args.force):
            write_text(args.out, dumps(fit, indent=2))
        print(f"\nsaved {args.out}")
    return 0


def _cmd_flow(args: argparse.Namespace) -> int:
    from .distributed import connect
    from .flow import sigma_flow

    arch, x = _arch_from(args)
    cutoff = _cutoff_for(args, arch.activation)
    if args.shells is not None and (args.sigmas is not None or args.vary != "w"):
        raise ValueError("--shells runs the momentum-shell flow: --sigmas and --vary are "
                         "options of the sigma flow")
    sigmas = _DEFAULT_SIGMAS if args.sigmas is None else args.sigmas
    with _claimed(args, ".npz") as save, connect(args.scheduler) as client:
        if args.shells is not None:
            flow = run_shell_flow(args, arch, x, _scale_options(args, client), cutoff)
            save(flow)
            print(flow)
            print(f"\nsaved {args.out}")
            return 0
        flow = sigma_flow(arch, x, sigmas, n_networks=args.n_networks, seed=args.seed,
                          estimator=args.estimator, cutoff=cutoff, vary=args.vary,
                          threads=args.threads, progress=args.progress, sampler=args.sampler,
                          **_scale_options(args, client))
        path = save(flow)
    print(flow)
    print(f"\nsaved {path}")
    return 0


_COMMANDS = {"run": _cmd_run, "sample": _cmd_sample, "fit": _cmd_fit, "flow": _cmd_flow,
             "show": _cmd_show, "merge": _cmd_merge}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that sampling stops and temporaries are removed."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


# Mistakes in the command line, the files or the environment: one line, exit status 2.
_USER_ERRORS = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile, MemoryError,
                RecursionError, OverflowError)


def _is_cluster_failure(exc: BaseException) -> bool:
    """A failure of the cluster, not of nnqft (a worker killed, e.g. out of memory)."""
    return type(exc).__module__.split(".")[0] == "distributed" or type(exc).__name__ in (
        "KilledWorker", "CommClosedError", "CancelledError")


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "the file is nested too deeply to read"
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + str(exc) if str(exc) else ''}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnqft`` command; returns the exit status.

    0 on success; 2 for a user error (bad argument, unreadable or invalid file, existing
    output without ``--force``, no memory or disk space), printed as one line; 1 for an
    internal error (a bug: please report it; ``NNQFT_DEBUG=1`` shows the traceback);
    130 after Ctrl-C and 143 after SIGTERM (nothing partial is left behind).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    # signal handlers can only be installed from the main thread (main() may be called
    # from another, e.g. a notebook's worker thread: SIGTERM keeps its default there)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main else None
    try:
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_left()
    except Terminated:
        print("\nterminated: " + _kept(args), file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("\ninterrupted: " + _kept(args), file=sys.stderr)
        return 130
    except _USER_ERRORS as exc:
        print(f"nnqft {args.command}: error: {_user_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("NNQFT_DEBUG"):
            raise
        if _is_cluster_failure(exc):
            print(f"nnqft {args.command}: error: the Dask cluster failed ({type(exc).__name__}: "
                  f"{exc}); rerun with the same --checkpoint to resume", file=sys.stderr)
            return 2
        print(f"nnqft {args.command}: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in nnqft: please report it with the command line "
              "(NNQFT_DEBUG=1 shows the traceback).", file=sys.stderr)
        return 1
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _reader_left() -> int:
    """Stdout's reader has gone (``nnqft show r.npz | head``): stop quietly, as cat does.

    Python would report the unflushed output at exit; pointing stdout at /dev/null first
    keeps that quiet. The status is a SIGPIPE death's, 128 + 13.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 128 + 13


def _kept(args: argparse.Namespace) -> str:
    """What an interrupted command leaves: nothing partial, or a resumable checkpoint."""
    ckpt = getattr(args, "checkpoint", None)
    if ckpt is None:
        return "nothing partial was written"
    return f"the finished chunks are kept in {ckpt}; rerun the same command to resume"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
