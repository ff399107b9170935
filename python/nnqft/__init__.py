"""nnqft: the neural-network / quantum-field-theory correspondence as a tool.

An ensemble of random networks is a field theory: infinite width is free (the NNGP kernel
is the propagator), finite width adds interactions, and the weight scale sigma moves the
theory along a renormalisation flow.  See the README for a tour.
"""

from __future__ import annotations

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "nnqft's compiled module nnqft._core could not be imported. Install the package "
        "with `python -m pip install .` (it builds the C++ core), rather than importing "
        f"the source tree. Original error: {exc}"
    ) from exc

from ._load import load
from .architecture import Architecture
from .correlators import Correlators
from .deep_theory import FiniteWidthTheory, finite_width
from .diagnostics import per_tuple_couplings, predict_g6
from .fit import CouplingFit, cutoff_scan, fit_couplings
from .flow import Flow, sigma_flow
from .infinite_width import WidthExtrapolation, extrapolate_width, two_point_precision
from .reweighting import Reweighting, quartic_reweighting
from .sampling import sample
from .shells import ShellFlow, shell_flow
from .spectral import Spectrum, gaussian_spectrum, massive_spectrum
from .statistics import jackknife_covariance
from .theory import exact, kernel, neuron_moment
from .tuples import wick
from .warnings import NNQFTWarning

__version__ = _core.__version__

__all__ = [
    "Architecture",
    "CouplingFit",
    "Correlators",
    "FiniteWidthTheory",
    "Flow",
    "NNQFTWarning",
    "Reweighting",
    "ShellFlow",
    "Spectrum",
    "WidthExtrapolation",
    "cutoff_scan",
    "exact",
    "extrapolate_width",
    "finite_width",
    "fit_couplings",
    "gaussian_spectrum",
    "jackknife_covariance",
    "kernel",
    "load",
    "massive_spectrum",
    "neuron_moment",
    "per_tuple_couplings",
    "predict_g6",
    "quartic_reweighting",
    "sample",
    "shell_flow",
    "sigma_flow",
    "two_point_precision",
    "wick",
]
