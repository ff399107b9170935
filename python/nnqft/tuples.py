"""The sorted-tuple layout of correlators and the combinatorics on it.

A correlator of order ``n`` on ``k`` inputs is stored on the sorted index tuples with
repetition, in the order of ``itertools.combinations_with_replacement(range(k), n)``
(21, 126, 462 tuples for n = 2, 4, 6 at k = 6), never as the dense ``k**n`` tensor.
Everything here is vectorised over tuples and cached per ``(k, n)``.
"""

from __future__ import annotations

import functools
import itertools
from math import comb

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "n_tuples",
    "tuples",
    "rank",
    "pair_index",
    "matchings",
    "set_partitions",
    "wick",
    "cumulants_from_moments",
    "moments_from_cumulants",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def n_tuples(k: int, n: int) -> int:
    """Number of sorted tuples with repetition: ``C(k + n - 1, n)``."""
    return comb(k + n - 1, n)


@functools.lru_cache(maxsize=64)
def _tuples_cached(k: int, n: int) -> IntArray:
    if n == 0:
        return np.zeros((1, 0), dtype=np.int64)
    out = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations_with_replacement(range(k), n)),
        dtype=np.int64,
        count=n_tuples(k, n) * n,
    ).reshape(-1, n)
    out.setflags(write=False)
    return out


def tuples(k: int, n: int) -> IntArray:
    """Sorted index tuples with repetition, shape ``(C(k+n-1, n), n)`` (read-only)."""
    return _tuples_cached(int(k), int(n))


@functools.lru_cache(maxsize=64)
def _rank_table(k: int, n: int) -> IntArray:
    # skip[i, v] = number of tuples whose entry at position i is < v given that the
    # previous entry is <= the smallest such v: cumulative multiset counts.
    m_left = np.arange(n - 1, -1, -1)  # slots remaining after position i
    counts = np.array(
        [[comb(k - v + m - 1, m) if k - v > 0 else 0 for v in range(k)] for m in m_left],
        dtype=np.int64,
    )
    cum = np.zeros((n, k + 1), dtype=np.int64)
    cum[:, 1:] = np.cumsum(counts, axis=1)
    return cum


def rank(idx: IntArray, k: int) -> IntArray:
    """Position of sorted tuples in the layout.

    Parameters
    ----------
    idx : int array, shape ``(..., n)``
        Tuples; each row is sorted here first, so any ordering of the indices is fine.
    k : int
        Number of inputs.
    """
    a = np.sort(np.asarray(idx, dtype=np.int64), axis=-1)
    n = a.shape[-1]
    if n == 0:
        return np.zeros(a.shape[:-1], dtype=np.int64)
    cum = _rank_table(int(k), n)
    prev = np.concatenate([np.zeros(a.shape[:-1] + (1,), dtype=np.int64), a[..., :-1]], axis=-1)
    pos = np.arange(n)
    out: IntArray = (cum[pos, a] - cum[pos, prev]).sum(axis=-1)
    return out


def pair_index(k: int) -> IntArray:
    """``(k, k)`` array mapping an input pair to its index in the order-2 layout."""
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return rank(np.stack([i, j], axis=-1), k)


@functools.lru_cache(maxsize=16)
def matchings(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """All perfect matchings of ``range(n)`` (n even): 1, 3, 15, 105 for n = 2, 4, 6, 8."""
    if n % 2:
        raise ValueError(f"perfect matchings need an even number of points, got {n}")

    def rec(items: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
        if not items:
            return [()]
        first, rest = items[0], items[1:]
        out = []
        for i, partner in enumerate(rest):
            remaining = rest[:i] + rest[i + 1 :]
            out += [((first, partner),) + m for m in rec(remaining)]
        return out

    return tuple(rec(tuple(range(n))))


@functools.lru_cache(maxsize=16)
def set_partitions(n: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All set partitions of ``range(n)`` (blocks sorted, partitions in a fixed order)."""

    def rec(items: tuple[int, ...]) -> list[tuple[tuple[int, ...], ...]]:
        if not items:
            return [()]
        first, rest = items[0], items[1:]
        out = []
        for p in rec(rest):
            out.append(((first,),) + p)
            for i in range(len(p)):
                out.append(p[:i] + ((first,) + p[i],) + p[i + 1 :])
        return out

    return tuple(tuple(sorted(p)) for p in rec(tuple(range(n))))


def wick(g2: FloatArray, n: int) -> FloatArray:
    """Free (Gaussian) ``n``-point function on the order-``n`` layout.

    ``sum over perfect matchings of prod K(x_a, x_b)``; zero for odd ``n``.

    Parameters
    ----------
    g2 : array, shape ``(k, k)`` or ``(..., k, k)``
        The two-point function (kernel).  Leading axes are broadcast (e.g. jackknife
        replicas), the result has shape ``(..., C(k+n-1, n))``.
    n : int
        Order.
    """
    g2 = np.asarray(g2, dtype=np.float64)
    k = g2.shape[-1]
    t = tuples(k, n)
    if n % 2:
        return np.zeros(g2.shape[:-2] + (len(t),))
    out = np.zeros(g2.shape[:-2] + (len(t),))
    for m in matchings(n):
        term = np.ones(g2.shape[:-2] + (len(t),))
        for a, b in m:
            term = term * g2[..., t[:, a], t[:, b]]
        out += term
    return out


def _partition_sum(
    values: dict[int, FloatArray], k: int, n: int, weight: object
) -> FloatArray:
    """Sum over set partitions of a tuple of ``weight(#blocks) * prod_blocks values``.

    ``values[m]`` holds an order-``m`` quantity on its layout, with optional leading
    axes; blocks of odd size are skipped when their order is missing (zero by symmetry).
    """
    t = tuples(k, n)
    lead = next(iter(values.values())).shape[:-1]
    out = np.zeros(lead + (len(t),))
    for part in set_partitions(n):
        if any(len(b) not in values for b in part):
            continue
        w = weight(len(part))  # type: ignore[operator]
        if w == 0:
            continue
        term = np.full(lead + (len(t),), float(w))
        for block in part:
            term = term * values[len(block)][..., rank(t[:, list(block)], k)]
        out += term
    return out


def cumulants_from_moments(moments: dict[int, FloatArray], k: int, n: int) -> FloatArray:
    """Joint cumulant of order ``n`` on its layout from the moments of orders <= n.

    Möbius inversion over set partitions, ``kappa = sum_pi (-1)^(|pi|-1) (|pi|-1)!
    prod_B m_|B|``.  Orders absent from ``moments`` are taken as zero (pass only the
    even orders for a symmetric ensemble).  Leading axes (replicas) are broadcast.
    """
    from math import factorial

    return _partition_sum(moments, k, n, lambda b: (-1) ** (b - 1) * factorial(b - 1))


def moments_from_cumulants(cumulants: dict[int, FloatArray], k: int, n: int) -> FloatArray:
    """Moment of order ``n`` from joint cumulants: ``m = sum_pi prod_B kappa_|B|``."""
    return _partition_sum(cumulants, k, n, lambda b: 1)
