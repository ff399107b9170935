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
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from ._output import check_output, claim_output, with_suffix
from ._validation import ESTIMATORS

__all__ = ["main", "build_parser"]


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


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


def _add_arch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("architecture")
    g.add_argument("--activation", default="erf",
                   choices=["erf", "relu", "tanh", "linear", "gauss", "cos"])
    g.add_argument("--width", type=int, default=1000, help="hidden width N")
    g.add_argument("--depth", type=int, default=1, help="number of hidden layers")
    g.add_argument("--sigma-w", type=_sigma, default=1.0,
                   help="weight std (one value, or one per layer: 'a,b,...')")
    g.add_argument("--sigma-b", type=_sigma, default=None,
                   help="bias std (default 1, or 0 for relu as in HMS)")
    g.add_argument("--weight-dist", default="gaussian", choices=["gaussian", "uniform"])
    g.add_argument("--x", type=_inputs, default=None,
                   help="inputs: --x=-1,-0.6,0.2 (d_in=1) or --x='0,1;1,0' (rows; d_in=2); "
                        "default: the HMS erf set {-1,-0.6,-0.2,0.2,0.6,1}")


def _arch_from(args: argparse.Namespace) -> tuple[Any, np.ndarray]:
    from .architecture import Architecture

    x = args.x if args.x is not None else np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])[:, None]
    sigma_b = args.sigma_b if args.sigma_b is not None else (0.0 if args.activation == "relu" else 1.0)
    arch = Architecture(activation=args.activation, width=args.width, d_in=x.shape[1],
                        depth=args.depth, sigma_w=args.sigma_w, sigma_b=sigma_b,
                        weight_dist=args.weight_dist)
    return arch, x


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all usable)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="hide progress bars")


def _add_sampler_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", default="auto", choices=["auto", "gram", "weights"],
                   help="how deep layers are drawn: gram = the Gram chain (Gaussian weights, "
                        "cost ~N per layer), weights = every weight (~N^2); auto (default) = "
                        "gram for Gaussian weights at depth >= 2")


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")


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
                        "(a LocalCluster of N worker processes); --threads is then per task")
    g.add_argument("--checkpoint", type=Path, default=None, metavar="DIR",
                   help="keep every finished chunk in DIR; rerunning the same command resumes")
    g.add_argument("--chunk-size", type=int, default=None, metavar="N",
                   help="networks per chunk / Dask task (default 131072)")


def _scale_options(args: argparse.Namespace, client: Any) -> dict[str, Any]:
    """Keyword arguments routing a run through a checkpoint and/or Dask."""
    return {"checkpoint": args.checkpoint, "client": client, "chunk_size": args.chunk_size}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``nnqft`` command."""
    parser = argparse.ArgumentParser(
        prog="nnqft",
        description="Neural-network field theory: sample ensembles, exact theory, couplings, flows.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"nnqft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the default study: correlators, couplings, sigma flow, report")
    run.add_argument("--out", type=Path, default=None, help="output folder (default: new nnqft-run-*)")
    run.add_argument("--quick", action="store_true", help="a seconds-long version of the study")
    run.add_argument("--config", type=Path, default=None, help="TOML file reshaping the study")
    _add_force(run)
    _add_run_arguments(run)
    _add_scale_arguments(run)

    sample = sub.add_parser("sample", help="sample an ensemble and save its correlators")
    _add_arch_arguments(sample)
    sample.add_argument("--n-networks", type=int, default=100_000)
    sample.add_argument("--orders", type=_ints, default=[2, 4, 6])
    sample.add_argument("--estimator", default="plain", choices=ESTIMATORS)
    sample.add_argument("--start", type=int, default=0, help="first network index")
    _add_sampler_argument(sample)
    sample.add_argument("--out", type=Path, required=True, help="result file (.npz)")
    _add_force(sample)
    _add_run_arguments(sample)
    _add_scale_arguments(sample)

    fit = sub.add_parser("fit", help="fit effective couplings to saved correlators")
    fit.add_argument("result", type=Path, help="correlators file from 'nnqft sample'")
    fit.add_argument("--cutoff", type=float, default=math.inf, help="box cutoff Λ (default inf)")
    fit.add_argument("--terms", default="u4", help="comma-separated: u4,u6,d2,bilocal")
    fit.add_argument("--out", type=Path, default=None, help="write the fit (.json)")
    _add_force(fit)

    flow = sub.add_parser("flow", help="the sigma-driven flow u4(sigma) and the functional-RG flow")
    _add_arch_arguments(flow)
    flow.add_argument("--sigmas", type=_floats, default=[1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0])
    flow.add_argument("--vary", default="w", choices=["w", "w0", "w1", "b"])
    flow.add_argument("--n-networks", type=int, default=20_000)
    flow.add_argument("--estimator", default="conditional", choices=ESTIMATORS)
    flow.add_argument("--cutoff", type=float, default=math.inf)
    _add_sampler_argument(flow)
    flow.add_argument("--out", type=Path, required=True, help="result file (.npz)")
    _add_force(flow)
    _add_run_arguments(flow)
    _add_scale_arguments(flow)

    show = sub.add_parser("show", help="print a summary of any result file")
    show.add_argument("result", type=Path)
    show.add_argument("--orders", type=_ints, default=None,
                      help="orders to tabulate (correlators files)")
    show.add_argument("--rows", type=int, default=None,
                      help="tuples per table (correlators files; default 12)")

    merge = sub.add_parser("merge", help="combine runs of one configuration losslessly")
    merge.add_argument("results", type=Path, nargs="+")
    merge.add_argument("--out", type=Path, required=True)
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

    def tables(obj: Any, args: argparse.Namespace) -> str:
        if args.orders is not None or args.rows is not None:
            raise ValueError(f"--orders and --rows apply to correlators files; {args.result} "
                             f"holds a {type(obj).__name__}")
        return str(obj)

    def correlators(corr: Any, args: argparse.Namespace) -> str:
        return str(corr.describe(args.orders, 12 if args.rows is None else args.rows))

    return {Correlators: correlators, CouplingFit: tables, CutoffScan: tables, Flow: tables,
            FRGFlow: tables, FiniteWidthTheory: tables}


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
    fit = fit_couplings(corr, corr.arch, corr.x, cutoff=args.cutoff, terms=terms)
    print(fit)
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
    with _claimed(args, ".npz") as save, connect(args.scheduler) as client:
        flow = sigma_flow(arch, x, args.sigmas, n_networks=args.n_networks, seed=args.seed,
                          estimator=args.estimator, cutoff=args.cutoff, vary=args.vary,
                          threads=args.threads, progress=args.progress, sampler=args.sampler,
                          **_scale_options(args, client))
        save(flow)
    print(flow)
    print(f"\nsaved {args.out}")
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
        return _COMMANDS[args.command](args)
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


def _kept(args: argparse.Namespace) -> str:
    """What an interrupted command leaves: nothing partial, or a resumable checkpoint."""
    ckpt = getattr(args, "checkpoint", None)
    if ckpt is None:
        return "nothing partial was written"
    return f"the finished chunks are kept in {ckpt}; rerun the same command to resume"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
