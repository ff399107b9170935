"""Quadrature rules shared by exact theory and the vertex integrals.

:mod:`nnqft.theory` and :mod:`nnqft.vertex` build on these: Gauss-Legendre on [0, 1],
composite rules on panels, graded panel edges and tensor products.

The measure-specific rules built from these (radial Gaussian, circle and sphere rules,
box cells around ReLU kinks) stay next to the integrands whose scales they follow.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import NDArray

__all__ = ["composite", "graded_edges", "tensor", "two_sided_unit_rule", "unit_rule"]

FloatArray = NDArray[np.float64]

#: Gauss-Legendre nodes per smooth panel (exact for polynomials of degree 23).
DEFAULT_NODES = 12


@functools.lru_cache(maxsize=32)
def unit_rule(q: int) -> tuple[FloatArray, FloatArray]:
    """Gauss-Legendre nodes and weights on [0, 1] with ``q`` nodes."""
    x, w = leggauss(q)
    return (x + 1.0) / 2.0, w / 2.0


def composite(edges: FloatArray, q: int = DEFAULT_NODES) -> tuple[FloatArray, FloatArray]:
    """Composite Gauss-Legendre rule, ``q`` nodes on each panel ``[edges[i], edges[i+1]]``."""
    u, w = unit_rule(q)
    lengths = np.diff(edges)
    nodes = edges[:-1, None] + lengths[:, None] * u
    return nodes.ravel(), (lengths[:, None] * w).ravel()


def graded_edges(length: float, h: float) -> FloatArray:
    """Panel edges on [0, length]: h, 2h, 4h, ... (geometric grading towards 0)."""
    edges = [0.0]
    e = h
    while e < length * (1 - 1e-12):
        edges.append(e)
        e *= 2.0
    edges.append(length)
    return np.array(edges)


@functools.lru_cache(maxsize=32)
def two_sided_unit_rule(levels: int, q: int = DEFAULT_NODES) -> tuple[FloatArray, FloatArray]:
    """Rule on [0, 1]; for ``levels >= 1`` panels are graded towards both ends.

    Panel edges 0, 2^-(levels+1), ..., 1/4, 1/2, 3/4, ..., 1 - 2^-(levels+1), 1;
    ``levels = 0`` is a single panel.
    """
    if levels == 0:
        return unit_rule(q)
    left = 0.5 * 2.0 ** -np.arange(levels, -1, -1)  # 2^-(levels+1) ... 1/2
    edges = np.concatenate([[0.0], left, 1.0 - left[::-1][1:], [1.0]])
    return composite(edges, q)


def tensor(rules: list[tuple[FloatArray, FloatArray]]) -> tuple[FloatArray, FloatArray]:
    """Tensor product of 1-D rules: nodes ``(m, len(rules))`` and weights ``(m,)``."""
    if not rules:
        return np.zeros((1, 0)), np.ones(1)
    grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
    weights = np.meshgrid(*[r[1] for r in rules], indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1), np.prod([g.ravel() for g in weights], 0)
