"""Small input checks shared by the public functions."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["as_inputs"]


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
    arr = np.asarray(x)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1 and d_in == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != d_in:
        hint = " (a 1-D array is only accepted for d_in = 1)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (k, d_in={d_in}), got {arr.shape}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must contain at least one input, got shape {arr.shape}")
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    if not np.isfinite(out).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise ValueError(f"{name} must be finite (no NaN or inf), got {out[row, col]} at "
                         f"{name}[{row}, {col}]")
    return out
