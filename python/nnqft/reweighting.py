"""First-order reweighting: a weakly interacting theory from the free ensemble.

Deforming an ensemble's measure by ``exp(-λ S_int)`` with the local quartic interaction
``S_int[f] = ∫_box f(y)^4 / 4! d^dy`` moves every cumulant by a joint cumulant with
``S_int``::

    d/dλ κ_n(f(x_1), ..., f(x_n)) |_{λ=0} = -κ_{n+1}(f(x_1), ..., f(x_n), S_int),

so ``κ4_λ = κ4_0 - λ κ5(f1, f2, f3, f4, S_int) + O(λ²)``.  For a Gaussian ensemble the
right-hand side is the tree-level vertex ``-λ ∫_box Π_a K(x_a, y) d^dy`` (the fully
connected Wick contraction; the mass-shift pieces cancel in the cumulant), which
:func:`quartic_reweighting` sets beside the estimate; at finite width the ensemble's own
non-Gaussianity adds O(1/N).  (ELS normalisation: λ is u4, ΔG4 = -u4 ∫ΠK.)

``S_int`` is evaluated per network by Gauss-Legendre quadrature on the box (the outputs
at the nodes are extra inputs of the same networks: ``nodes^d`` of them), exact to
rounding for the smooth cos-net outputs once the nodes resolve the frequencies.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from . import tuples as _tuples
from ._validation import as_inputs, as_int, as_real
from .architecture import Architecture, check_arch
from .quadrature import tensor, unit_rule
from .statistics import jackknife_errors

__all__ = ["Reweighting", "quartic_reweighting"]

FloatArray = NDArray[np.float64]
#: Networks evaluated per call of the core (bounds the memory of the node outputs).
_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class Reweighting:
    """First-order response of the connected four-point function to ``λ ∫ φ⁴/4!``.

    Attributes
    ----------
    x : ndarray, shape (k, d_in)
    box : float
        Half-width of the interaction region ``[-box, box]^d``.
    tuples : ndarray, shape (T, 4)
    kappa4, kappa4_errors : ndarray, shape (T,)
        Connected four-point function of the free (λ = 0) ensemble, sampled.
    slope, slope_errors : ndarray, shape (T,)
        ``d κ4 / d λ`` at λ = 0, i.e. ``-κ5(f1..f4, S_int)``, with jackknife errors.
    tree : ndarray, shape (T,)
        ``-∫_box Π_a K_EFT(x_a, y) d^dy``: the Gaussian (infinite-width) value of ``slope``.
    n_networks : int
    """

    x: FloatArray
    box: float
    tuples: NDArray[np.int64]
    kappa4: FloatArray
    kappa4_errors: FloatArray
    slope: FloatArray
    slope_errors: FloatArray
    tree: FloatArray
    n_networks: int

    def kappa4_at(self, coupling: float) -> tuple[FloatArray, FloatArray]:
        """First-order ``κ4`` at ``λ = coupling`` and its (jackknife-propagated) error."""
        lam = float(coupling)
        return self.kappa4 + lam * self.slope, np.hypot(self.kappa4_errors, lam * self.slope_errors)

    def summary(self) -> str:
        """Text table: tuple, κ4 at λ = 0, the slope and its tree-level value."""
        lines = [f"first-order reweighting by λ ∫ φ⁴/4! over [-{self.box:g}, {self.box:g}]^d, "
                 f"{self.n_networks} networks",
                 "tuple | κ4(λ=0) | dκ4/dλ | tree -∫ΠK | pull"]
        for i, t in enumerate(self.tuples):
            pull = (self.slope[i] - self.tree[i]) / self.slope_errors[i]
            lines.append(f"{tuple(int(v) for v in t)} | {self.kappa4[i]:.5g} ± "
                         f"{self.kappa4_errors[i]:.2g} | {self.slope[i]:.5g} ± "
                         f"{self.slope_errors[i]:.2g} | {self.tree[i]:.5g} | {pull:+.2f}")
        return "\n".join(lines)


def _box_rule(box: float, d: int, nodes: int) -> tuple[FloatArray, FloatArray]:
    """Tensor Gauss-Legendre nodes (M, d) and weights (M,) on ``[-box, box]^d``."""
    u, w = unit_rule(nodes)
    return tensor([(box * (2 * u - 1), 2 * box * w)] * d)


class _BinSums:
    """Per-bin sums of the products the estimator needs (mergeable, jackknife-able)."""

    def __init__(self, n_bins: int, t2: int, t4: int) -> None:
        self.count = np.zeros(n_bins)
        self.s = np.zeros(n_bins)
        self.f2, self.f2s = np.zeros((n_bins, t2)), np.zeros((n_bins, t2))
        self.f4, self.f4s = np.zeros((n_bins, t4)), np.zeros((n_bins, t4))

    def add(self, b: int, f2: FloatArray, f4: FloatArray, s: FloatArray) -> None:
        self.count[b] += len(s)
        self.s[b] += s.sum()
        self.f2[b] += f2.sum(0)
        self.f2s[b] += s @ f2
        self.f4[b] += f4.sum(0)
        self.f4s[b] += s @ f4

    def estimates(self, keep: NDArray[np.bool_], pairs: NDArray[np.int64]) -> FloatArray:
        """(κ4, dκ4/dλ) from the bins ``keep``, shape (2, T4)."""
        n = self.count[keep].sum()
        s = self.s[keep].sum() / n
        g2, g2s = self.f2[keep].sum(0) / n, self.f2s[keep].sum(0) / n
        g4, g4s = self.f4[keep].sum(0) / n, self.f4s[keep].sum(0) / n
        c2 = g2s - g2 * s  # Cov(f_a f_b, S)
        kappa4 = g4.copy()
        slope = -(g4s - g4 * s)
        for left, right in pairs:  # the three matchings (ab)(cd)
            kappa4 -= g2[left] * g2[right]
            slope += c2[left] * g2[right] + g2[left] * c2[right]
        return np.stack([kappa4, slope])


def quartic_reweighting(arch: Architecture, x: Any, box: float, n_networks: int = 100_000,
                        seed: Any = 0, *, nodes: int | None = None,
                        n_bins: int = 64) -> Reweighting:
    """First-order κ4 of the theory deformed by ``λ ∫_box φ⁴ / 4!``, from the free ensemble.

    Parameters
    ----------
    arch : Architecture
        Any ensemble with its sampled outputs (the estimator is the plain one).
    x : array_like, shape (k, d_in)
    box : float
        Half-width of the interaction region ``[-box, box]^d`` (finite).
    n_networks, seed :
        As for :func:`nnqft.sample` (networks ``0 .. n_networks - 1``).
    nodes : int, optional
        Gauss-Legendre nodes per axis for ``S_int`` (default 48 in d = 1, 16 in d = 2;
        d <= 2).  They must resolve ``cos(p y)`` over the box for the frequencies that
        matter (a cutoff Λ needs ``nodes >~ Λ box``).
    n_bins : int
        Jackknife bins (contiguous ranges of networks).

    Returns
    -------
    Reweighting

    Notes
    -----
    Cost: ``n_networks`` evaluations at ``k + nodes^d`` inputs (the core's ``evaluate``,
    one thread), in chunks of 4096 networks.
    """
    from .sampling import build_plan
    from .vertex import vertex_integral

    check_arch(arch)
    xs = as_inputs(x, arch.d_in)
    box = as_real("box", box, minimum=0.0)
    if box == 0:
        raise ValueError("box must be > 0")
    d = arch.d_in
    if d > 2:
        raise ValueError(f"quartic_reweighting integrates S_int on a tensor grid: d_in <= 2, "
                         f"got {d}")
    nodes = as_int("nodes", nodes if nodes is not None else (48 if d == 1 else 16),
                   minimum=2, maximum=512)
    n_networks = as_int("n_networks", n_networks, minimum=2 * n_bins)
    n_bins = as_int("n_bins", n_bins, minimum=2, maximum=10**4)
    y, w = _box_rule(box, d, nodes)
    k = len(xs)
    config = build_plan([arch], np.concatenate([xs, y]), n_networks, (2,), "plain", seed,
                        None, None).config
    t2, t4 = _tuples.tuples(k, 2), _tuples.tuples(k, 4)
    pairs = np.array([[_tuples.rank(t4[:, list(a)], k), _tuples.rank(t4[:, list(b)], k)]
                      for a, b in _tuples.matchings(4)])
    sums = _BinSums(n_bins, len(t2), len(t4))
    edges = np.linspace(0, n_networks, n_bins + 1).astype(np.int64)
    for b in range(n_bins):
        for start in range(int(edges[b]), int(edges[b + 1]), _CHUNK):
            ids = list(range(start, min(start + _CHUNK, int(edges[b + 1]))))
            out = _core.evaluate(config, ids)
            f = out[:, :k]
            s = (out[:, k:] ** 4 @ w) / math.factorial(4)
            sums.add(b, f[:, t2].prod(axis=2), f[:, t4].prod(axis=2), s)
    everything = np.ones(n_bins, dtype=bool)
    full = sums.estimates(everything, pairs)
    reps = np.stack([sums.estimates(everything & (np.arange(n_bins) != b), pairs)
                     for b in range(n_bins)])
    errors = np.stack([jackknife_errors(reps[:, 0]), jackknife_errors(reps[:, 1])])
    tree = -vertex_integral(arch, xs, 4, cutoff=box)
    return Reweighting(x=xs, box=box, tuples=t4, kappa4=full[0], kappa4_errors=errors[0],
                       slope=full[1], slope_errors=errors[1], tree=tree,
                       n_networks=n_networks)
