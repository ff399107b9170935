"""Input checks shared by the public functions: one rule for every argument.

Scalars (``as_int``, ``as_real``, ``as_bool``):

* a 0-d numpy array is the scalar it holds; numpy scalar types are accepted;
* a wrong type is a ``TypeError`` naming the argument and the value: bool where a number
  is expected, complex, str, None, and any float where an integer is expected
  (``4.0`` or ``4.5`` for an order, as ``range`` and numpy sizes do);
* a value out of range, NaN or an infinity is a ``ValueError`` naming the argument, the
  value and the limit.

Choices (``as_choice``): a string from the argument's table of names (the tables live
here, e.g. :data:`ESTIMATORS`); anything else is a ``TypeError`` (not a string) or a
``ValueError`` naming the allowed values.  Correlator orders (``as_orders``): an integer
or a sequence of integers in ``1..MAX_ORDER``.

Inputs (``as_inputs``) are checked here too; architectures by
:func:`nnqft.architecture.check_arch`.  This module imports no other nnqft module.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ESTIMATORS", "MAX_ORDER", "RULES", "as_bool", "as_choice", "as_inputs", "as_int",
           "as_increasing", "as_orders", "as_real", "as_real_array", "checked", "scalar"]

#: The estimators of sampled correlators (see :func:`nnqft.sample`).
ESTIMATORS = ("plain", "conditional")
#: Highest correlator order sampled or computed.
MAX_ORDER = 8


def scalar(value: Any) -> Any:
    """A 0-d array as its scalar; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def as_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer argument (see the module docstring for the rule).

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : object
        An int, numpy integer or 0-d integer array.
    minimum, maximum : int, optional
        Inclusive limits.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer (bool, float, complex, str, ...).
    ValueError
        If it lies outside ``[minimum, maximum]``.
    """
    v = scalar(value)
    if isinstance(v, (bool, np.bool_)) or not hasattr(v, "__index__"):
        hint = f" (pass int({v!r}))" if isinstance(v, float) and v.is_integer() else ""
        raise TypeError(f"{name} must be an integer, got {value!r}{hint}")
    out = operator.index(v)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and out > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return out


def as_real(
    name: str,
    value: Any,
    minimum: float | None = None,
    *,
    maximum: float | None = None,
    positive: bool = False,
    allow_inf: bool = False,
) -> float:
    """Validate a real-number argument (see the module docstring for the rule).

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : object
        An int, float, numpy real scalar or 0-d real array.
    minimum, maximum : float, optional
        Inclusive limits.
    positive : bool
        Require ``value > 0``.
    allow_inf : bool
        Accept ``+inf`` (e.g. an infinite cutoff).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``value`` is not a real number (bool, complex, str, None, ...).
    ValueError
        If it is NaN, infinite (unless allowed) or out of range.
    """
    v = scalar(value)
    if isinstance(v, (bool, np.bool_, complex, np.complexfloating)) or not isinstance(
            v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    out = float(v)
    if math.isnan(out) or (math.isinf(out) and not (allow_inf and out > 0)):
        raise ValueError(f"{name} must be finite{' or +inf' if allow_inf else ''}, "
                         f"got {value!r}")
    if positive and out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and out > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return out


def as_bool(name: str, value: Any) -> bool:
    """Validate a flag: True or False (or a numpy bool), nothing else (``TypeError``)."""
    v = scalar(value)
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(v)


def as_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate a choice argument: one of the strings ``choices``.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If it is not one of ``choices`` (the message lists them).
    """
    v = scalar(value)
    if isinstance(v, np.str_):
        v = str(v)
    if not isinstance(v, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    if v not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return v


def as_orders(name: str, value: Any, maximum: int = MAX_ORDER) -> tuple[int, ...]:
    """Validate correlator orders: an int or a non-empty sequence of ints in 1..``maximum``.

    Returns the sorted distinct orders.  Each order follows :func:`as_int` (``4.5`` and
    ``"4"`` are refused, not read as 4).
    """
    if np.ndim(value) == 0 and not isinstance(value, (str, bytes)):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}")
    values = [as_int(name, o) for o in value]
    if not values:
        raise ValueError(f"{name} must not be empty")
    bad = [o for o in values if not 1 <= o <= maximum]
    if bad:
        raise ValueError(f"{name} must be >= 1 and <= {maximum}, got {bad}")
    return tuple(sorted(set(values)))


def as_inputs(x: Any, d_in: int, name: str = "x") -> NDArray[np.float64]:
    """Validate network inputs and return them as a float64 C-contiguous ``(k, d_in)`` array.

    Parameters
    ----------
    x : array_like
        Inputs, shape ``(k, d_in)``; a 1-D array of length ``k`` is accepted when
        ``d_in == 1``.
    d_in : int
        Input dimension of the architecture.
    name : str, optional
        Argument name used in error messages.

    Returns
    -------
    ndarray
        A new float64 C-contiguous array of shape ``(k, d_in)``, ``k >= 1``.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric (complex, bool, object or string data).
    ValueError
        If the shape does not match ``d_in``, ``k == 0``, or ``x`` has NaN/inf entries.
    """
    arr = as_real_array(name, x)
    if d_in == 1 and arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != d_in:
        hint = " (a 1-D array is only accepted for d_in = 1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (k, d_in={d_in}), got {arr.shape}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must contain at least one input, got shape {arr.shape}")
    return arr


def as_real_array(name: str, value: Any, *, ndim: int | None = None,
                  allow_inf: bool = False) -> NDArray[np.float64]:
    """A real numeric array as a new float64 C-contiguous array.

    Raises
    ------
    TypeError
        If ``value`` is not real numeric (complex, bool, object or string data).
    ValueError
        If it is ragged, not ``ndim``-dimensional (when given), or has a NaN or an
        infinity (infinities are accepted with ``allow_inf``).
    """
    try:
        arr = np.asarray(value)
    except ValueError:  # a ragged nested sequence
        raise ValueError(f"{name} must be a rectangular array of numbers, got a ragged "
                         "sequence") from None
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    bad = np.isnan(out) if allow_inf else ~np.isfinite(out)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at {name}[{', '.join(map(str, at))}]" if at else ""
        rule = "must not be NaN" if allow_inf else "must be finite (no NaN or inf)"
        raise ValueError(f"{name} {rule}, got {out[at]}{where}")
    return out


def as_increasing(name: str, value: Any, allow_inf: bool = False) -> NDArray[np.float64]:
    """A grid (sigmas, shells) as a 1-D float array.

    Its values are > 0, strictly increasing and finite unless ``allow_inf``; a str, a
    scalar or a nested list is an error, not a grid.
    """
    values = _sequence(name, value)
    grid = np.asarray(values, dtype=np.float64) if values else np.empty(0)
    bounded = np.all(np.isfinite(grid)) if not allow_inf else not np.any(np.isnan(grid))
    if grid.ndim != 1 or grid.size < 1 or not bounded or np.any(grid <= 0):
        limit = "> 0 (inf allowed)" if allow_inf else "finite and > 0"
        raise ValueError(f"{name} must be a 1-D list of numbers {limit}, got {value!r}")
    if np.any(np.diff(grid) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {value!r}")
    return grid


def _sequence(name: str, value: Any) -> list[Any]:
    """A sequence argument as a list (a str or a scalar is a ``TypeError``)."""
    if isinstance(value, (str, bytes)) or np.ndim(value) == 0 or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence, got {value!r}")
    return list(value)


def _optional(rule: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else rule(name, value)


#: The arguments that mean the same thing wherever they appear, and their one check:
#: ``checked(name, value)`` at the top of every public function that takes one.
RULES: dict[str, Callable[[str, Any], Any]] = {
    # a correlator order (Correlators.mean(n), exact(arch, x, order), ...)
    "n": functools.partial(as_int, minimum=1, maximum=MAX_ORDER),
    "order": functools.partial(as_int, minimum=1, maximum=MAX_ORDER),
    "orders": as_orders,
    # relative accuracy of a quadrature or an integrator
    "rtol": functools.partial(as_real, positive=True, maximum=0.5),
    # half-width of the vertex box; +inf where the integrals converge
    "cutoff": functools.partial(as_real, positive=True, allow_inf=True),
    # fixed covariance shrinkage intensity (None: estimated)
    "cutoffs": lambda name, value: tuple(as_real(name, c, positive=True)
                                         for c in _sequence(name, value)),
    "shrinkage": _optional(functools.partial(as_real, minimum=0.0, maximum=1.0)),
    "estimator": functools.partial(as_choice, choices=ESTIMATORS),
    "connected": as_bool,
    "max_rows": functools.partial(as_int, minimum=1),
}


def checked(name: str, value: Any) -> Any:
    """``value`` checked (and normalised) by the rule of the argument ``name`` (:data:`RULES`)."""
    return RULES[name](name, value)
