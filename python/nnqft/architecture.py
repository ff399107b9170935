"""The network ensemble: :class:`Architecture` and its validation.

Conventions (design.md, fixed): depth ``L`` hidden layers of width ``N``, linear read-out,
scalar output.  A layer with fan-in ``n`` has weight variance ``sigma_w**2 / n`` and bias
variance ``sigma_b**2``.  Layer 0 maps the input (fan-in ``d_in``), layer ``L`` is the
read-out (fan-in ``N``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

from ._validation import as_choice, as_int, as_real
from .spectral import Spectrum

__all__ = ["ACTIVATIONS", "MAX_DEPTH", "MAX_DIMENSION", "VARY", "WEIGHT_DISTS", "Architecture",
           "check_arch"]

#: Activations the core implements.  ``gauss`` is the HMS Gauss-net
#: ``exp(z - Var z)`` (exact variance), ``cos`` the random-Fourier-feature net whose
#: first-layer bias is uniform on (-pi, pi).
ACTIVATIONS = ("erf", "relu", "tanh", "linear", "gauss", "cos")

#: Distributions of the weights (biases are always Gaussian, except the cos-net phase).
#: ``sign``: constant magnitude with a random sign (cos-nets only).
WEIGHT_DISTS = ("gaussian", "uniform", "sign")

#: What :meth:`Architecture.scaled` may set: every sigma_w, the first's, the read-out's,
#: every sigma_b.
VARY = ("w", "w0", "w1", "b")

# Activations that are only defined for the first hidden layer: their definition uses
# the variance of a Gaussian pre-activation (gauss) or a uniform phase (cos), which
# deeper, non-Gaussian pre-activations do not have.
_FIRST_LAYER_ONLY = ("gauss", "cos")


def _per_layer(name: str, value: float | Sequence[float], n_layers: int) -> tuple[float, ...]:
    """Expand a scalar or a per-layer sequence of standard deviations and validate it."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {value!r}")
    if not hasattr(value, "__iter__") or getattr(value, "ndim", None) == 0:  # number, 0-d array
        values: tuple[Any, ...] = (value,) * n_layers
    else:
        # at most one value more than needed is read: a huge or endless sequence is
        # refused by its length, never copied
        values = tuple(itertools.islice(value, n_layers + 1))
        if len(values) != n_layers:
            count = (len(value) if hasattr(value, "__len__")
                     else f"more than {n_layers}" if len(values) > n_layers else len(values))
            shown = repr(values) if len(values) <= 8 else f"({values[0]!r}, ...)"
            raise ValueError(f"{name} needs one value per layer (depth + 1 = {n_layers}), "
                             f"got {count} values: {shown}")
    return tuple(as_real(name, v, minimum=0.0) for v in values)


#: Largest width and d_in: the core stores them as 32-bit ints.
MAX_DIMENSION = 2**31 - 1
#: Largest depth.  Every layer is walked by every network evaluation and by the 1/N
#: recursion (about 0.1 s a layer at 6 inputs), and keeps two standard deviations and
#: two random streams: at 10**5 layers one network of width 1 already costs
#: milliseconds and the theory hours, while the 1/N expansion parameter is
#: depth / width (physics-deep.md), so such depths only mean something at widths where
#: one network costs ~10**10 operations.  Far beyond any study, and small enough that
#: the per-layer tuples (a few MB) are built only after this check.
MAX_DEPTH = 10**5


@dataclasses.dataclass(frozen=True)
class Architecture:
    """An ensemble of random fully connected networks with scalar output.

    Parameters
    ----------
    activation : str
        One of ``"erf"``, ``"relu"``, ``"tanh"``, ``"linear"``, ``"gauss"``, ``"cos"``.
        ``gauss`` and ``cos`` are defined for depth 1 only.
    width : int
        Width ``N`` of every hidden layer (>= 1).
    d_in : int
        Input dimension (>= 1).
    depth : int
        Number of hidden layers ``L``, 1 to :data:`MAX_DEPTH` (10**5).
    sigma_w, sigma_b : float or sequence of float
        Weight and bias standard deviations.  A scalar applies to every layer (as in
        both papers); a sequence gives one value per layer, ``depth + 1`` values, the
        last one for the read-out.  Weights of a layer with fan-in ``n`` have variance
        ``sigma_w**2 / n``.  For ``cos`` the first-layer bias is uniform on (-pi, pi)
        and ``sigma_b[0]`` is ignored (it must be 0 or left at the scalar default).
    weight_dist : str
        ``"gaussian"`` (default), ``"uniform"`` (zero mean, same variance) or ``"sign"``
        (``+-sigma_w / sqrt(fan_in)`` with a random sign; cos-nets only: read-out
        amplitudes of constant magnitude, and without a spectrum also first-layer
        frequencies ``+-sigma_w0 / sqrt(d_in)`` per component).
    spectrum : nnqft.Spectrum or None
        Frequency law of a spectral cos-net (``activation="cos"``, depth 1,
        ``d_in = spectrum.d``): frequencies ``p = sigma_w[0] q``, ``q`` isotropic with the
        spectrum's radial law, so the kernel is ``sigma_b^2 + sigma_w^2 c(r) / 2`` with
        ``c`` the spectrum's characteristic function (:mod:`nnqft.spectral`).  With a
        spectrum, ``weight_dist`` applies to the read-out only.

    Notes
    -----
    The instance is immutable; use :meth:`replace` to derive a modified copy.
    ``sigma_w`` and ``sigma_b`` are always stored as per-layer tuples.
    """

    activation: str = "erf"
    width: int = 1000
    d_in: int = 1
    depth: int = 1
    sigma_w: float | Sequence[float] = 1.0
    sigma_b: float | Sequence[float] = 1.0
    weight_dist: str = "gaussian"
    spectrum: Spectrum | None = None

    def __post_init__(self) -> None:
        as_choice("activation", self.activation, ACTIVATIONS)
        as_choice("weight_dist", self.weight_dist, WEIGHT_DISTS)
        set_ = object.__setattr__
        set_(self, "width", as_int("width", self.width, minimum=1, maximum=MAX_DIMENSION))
        set_(self, "d_in", as_int("d_in", self.d_in, minimum=1, maximum=MAX_DIMENSION))
        set_(self, "depth", as_int("depth", self.depth, minimum=1, maximum=MAX_DEPTH))
        n_layers = self.depth + 1
        set_(self, "sigma_w", _per_layer("sigma_w", self.sigma_w, n_layers))
        set_(self, "sigma_b", _per_layer("sigma_b", self.sigma_b, n_layers))
        if self.activation in _FIRST_LAYER_ONLY and self.depth > 1:
            raise ValueError(
                f"activation {self.activation!r} is defined for depth 1 only (its "
                "normalisation/phase assumes Gaussian first-layer pre-activations); "
                f"got depth={self.depth}. Use erf, relu, tanh or linear for deep networks."
            )
        self._check_spectral()

    def _check_spectral(self) -> None:
        """A spectrum needs a depth-1 cos-net in its dimension; sign weights a cos-net."""
        if self.weight_dist == "sign" and self.activation != "cos":
            raise ValueError(
                "weight_dist='sign' (read-out amplitudes of constant magnitude) is "
                f"implemented for the cos activation only, got {self.activation!r}")
        if self.spectrum is None:
            return
        if not isinstance(self.spectrum, Spectrum):
            raise TypeError("spectrum must be an nnqft.Spectrum (e.g. "
                            f"nnqft.massive_spectrum(...)) or None, got {self.spectrum!r}")
        if self.activation != "cos":
            raise ValueError(f"a spectrum sets the frequencies of a cos-net: it needs "
                             f"activation='cos', got {self.activation!r}")
        if self.spectrum.d != self.d_in:
            raise ValueError(f"the spectrum is {self.spectrum.d}-dimensional but d_in = "
                             f"{self.d_in}: they must agree")

    # -- derived quantities --------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of weight layers, ``depth + 1`` (the last is the read-out)."""
        return self.depth + 1

    @property
    def fan_in(self) -> tuple[int, ...]:
        """Fan-in of each weight layer: ``(d_in, N, ..., N)``."""
        return (self.d_in,) + (self.width,) * self.depth

    @property
    def weight_std(self) -> tuple[float, ...]:
        """Standard deviation of a single weight in each layer, ``sigma_w / sqrt(fan_in)``."""
        return tuple(s / math.sqrt(n) for s, n in zip(self.sigma_w, self.fan_in, strict=True))  # type: ignore[arg-type]

    @property
    def sigma_w_layers(self) -> tuple[float, ...]:
        """``sigma_w`` as a per-layer tuple (typed accessor)."""
        return self.sigma_w  # type: ignore[return-value]

    @property
    def sigma_b_layers(self) -> tuple[float, ...]:
        """``sigma_b`` as a per-layer tuple (typed accessor)."""
        return self.sigma_b  # type: ignore[return-value]

    def replace(self, **changes: Any) -> Architecture:
        """Return a copy with some fields changed (validated again).

        A new ``depth`` keeps a standard deviation that is the same in every layer (as a
        scalar gives it); per-layer values that differ must be given anew.
        """
        if "depth" in changes:
            for name in ("sigma_w", "sigma_b"):
                values = getattr(self, name)
                if name not in changes and len(set(values)) == 1:
                    changes[name] = values[0]
        return dataclasses.replace(self, **changes)

    def scaled(self, vary: str, sigma: float) -> Architecture:
        """Return the architecture with one family of standard deviations set to ``sigma``.

        ``vary`` is ``"w"`` (sigma_w of every layer), ``"w0"`` (first layer), ``"w1"``
        (read-out layer), or ``"b"`` (sigma_b of every layer).
        """
        vary = as_choice("vary", vary, VARY)
        sw, sb = list(self.sigma_w_layers), list(self.sigma_b_layers)
        if vary == "w":
            sw = [sigma] * len(sw)
        elif vary == "w0":
            sw[0] = sigma
        elif vary == "w1":
            sw[-1] = sigma
        else:  # "b"
            sb = [sigma] * len(sb)
        return self.replace(sigma_w=tuple(sw), sigma_b=tuple(sb))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (inverse of :meth:`from_dict`)."""
        return {
            "activation": self.activation,
            "width": self.width,
            "d_in": self.d_in,
            "depth": self.depth,
            "sigma_w": list(self.sigma_w_layers),
            "sigma_b": list(self.sigma_b_layers),
            "weight_dist": self.weight_dist,
            **({} if self.spectrum is None else {"spectrum": self.spectrum.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """Rebuild an :class:`Architecture` from :meth:`to_dict` output."""
        data = dict(data)
        if data.get("spectrum") is not None:
            data["spectrum"] = Spectrum.from_dict(data["spectrum"])
        return cls(**data)

    def __repr__(self) -> str:
        def short(v: tuple[float, ...]) -> str:
            return repr(v[0]) if len(set(v)) == 1 else repr(v)

        return (
            f"Architecture(activation={self.activation!r}, width={self.width}, "
            f"d_in={self.d_in}, depth={self.depth}, sigma_w={short(self.sigma_w_layers)}, "
            f"sigma_b={short(self.sigma_b_layers)}, weight_dist={self.weight_dist!r}"
            + ("" if self.spectrum is None else f", spectrum={self.spectrum!r}") + ")"
        )


def check_arch(arch: Any, name: str = "arch") -> Architecture:
    """Return ``arch`` if it is an :class:`Architecture`, else raise ``TypeError``."""
    if not isinstance(arch, Architecture):
        raise TypeError(f"{name} must be an nnqft.Architecture, got {type(arch).__name__}")
    return arch
