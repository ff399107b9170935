"""Command-line options of the spectral cos-nets (``nnqft sample`` and ``nnqft flow``).

One self-contained block for :mod:`nnqft.cli`: :func:`add_spectrum_arguments` adds the
option group, :func:`spectrum_from` turns the parsed options into a
:class:`nnqft.Spectrum` (or None), :func:`add_shell_arguments` adds ``--shells`` to
``nnqft flow``, which then runs :func:`nnqft.shell_flow` instead of the σ flow.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = ["add_spectrum_arguments", "spectrum_from", "add_shell_arguments", "run_shell_flow"]


def add_spectrum_arguments(p: argparse.ArgumentParser) -> None:
    """The ``spectral cos-net`` option group."""
    g = p.add_argument_group(
        "spectral cos-net (with --activation cos; frequencies drawn from a chosen spectrum)")
    g.add_argument("--spectrum", default=None, choices=["massive", "gaussian"],
                   help="massive: density (p^2 + m^2)^-power, the free scalar's propagator; "
                        "gaussian: the plain cos-net's frequencies N(0, sigma^2/d) (default none: "
                        "the activation's own first layer)")
    g.add_argument("--mass", type=float, default=None, help="mass m of --spectrum massive "
                   "(default 1)")
    g.add_argument("--power", type=float, default=None, help="power s of (p^2 + m^2)^-s "
                   "(default 1)")
    g.add_argument("--uv-cutoff", type=float, default=None,
                   help="UV cutoff of --spectrum massive (default none: needs power > d/2)")
    g.add_argument("--regulator", default=None, choices=["sharp", "smooth"],
                   help="UV regulator: 1{p < cutoff} or exp(-p^2/cutoff^2) (default sharp)")
    g.add_argument("--spectrum-sigma", type=float, default=None,
                   help="sigma of --spectrum gaussian (default 1)")


#: The options of each --spectrum (attribute names), and their defaults where unset.
_OPTIONS: dict[str, dict[str, Any]] = {
    "massive": {"mass": 1.0, "power": 1.0, "uv_cutoff": None, "regulator": "sharp"},
    "gaussian": {"spectrum_sigma": 1.0},
}


def spectrum_from(args: argparse.Namespace, d: int) -> Any:
    """The :class:`nnqft.Spectrum` the options describe in ``d`` dimensions, or None.

    An option of a spectrum other than ``--spectrum``'s (or given without it) is an
    error, not silently ignored.
    """
    from .spectral import gaussian_spectrum, massive_spectrum

    for kind, options in _OPTIONS.items():
        given = ["--" + o.replace("_", "-") for o in options if getattr(args, o) is not None]
        if given and args.spectrum != kind:
            what = "is an option" if len(given) == 1 else "are options"
            raise ValueError(f"{', '.join(given)} {what} of --spectrum {kind}, got "
                             f"--spectrum {args.spectrum or 'none'}")
    if args.spectrum is None:
        return None
    values = {o: default if getattr(args, o) is None else getattr(args, o)
              for o, default in _OPTIONS[args.spectrum].items()}
    if args.spectrum == "gaussian":
        return gaussian_spectrum(d, values["spectrum_sigma"])
    return massive_spectrum(values["mass"], d=d, power=values["power"],
                            cutoff=values["uv_cutoff"], regulator=values["regulator"])


def _shells(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]  # "inf" parses
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated shells (numbers or inf), got {text!r}") from None


def add_shell_arguments(p: argparse.ArgumentParser) -> None:
    """``--shells`` of ``nnqft flow``: the momentum-shell flow of a spectral cos-net."""
    p.add_argument("--shells", type=_shells, default=None, metavar="L1,L2,...",
                   help="momentum-shell flow instead of the sigma flow: keep the neurons "
                        "with |q| < L at each shell (increasing; 'inf' = all), one pass; "
                        "needs --spectrum and a finite --cutoff (the vertex box); default none: "
                        "the sigma flow")


def run_shell_flow(args: argparse.Namespace, arch: Any, x: Any, scale: dict[str, Any],
                   cutoff: float) -> Any:
    """:func:`nnqft.shell_flow` with the options of ``nnqft flow`` (``cutoff``: the box Λ)."""
    from .shells import shell_flow

    if not math.isfinite(cutoff):
        raise ValueError("the shell flow fits couplings in a finite vertex box: give "
                         "--cutoff (e.g. 5); the spectral kernel has no closed-form vertex "
                         "integral over all of space")
    return shell_flow(arch, x, args.shells, n_networks=args.n_networks, seed=args.seed,
                      estimator=args.estimator, cutoff=cutoff, threads=args.threads,
                      progress=args.progress, **scale)
