"""Sampled n-point correlators: streaming, mergeable, with jackknife errors.

A :class:`Correlators` holds the per-bin sums the C++ core accumulated (see
``cpp/include/nnqft/block_tree.hpp``) and turns them into estimates on demand:

* ``estimator="plain"``: the per-network observable is the output vector f(x_a); the
  stored sums are the monomials of f of the requested orders, so ``mean(n)`` is the
  ensemble average of products of outputs (what the papers do).
* ``estimator="conditional"``: the observable is the empirical read-out kernel
  C_ab = sigma_b^2 + sigma_w^2/N sum_j h_j(x_a) h_j(x_b) (minus a fixed pilot shift);
  the stored sums are its raw moments up to degree max(order)/2. Given C the output is
  Gaussian, so G_n = sum over matchings E[prod C] and, by the law of total cumulance,
  the connected kappa_n = sum over matchings of the joint cumulant of the C's.

Errors come from a delete-one-bin jackknife over the fixed bins; replicas of every
quantity share the bins, so joint covariances (across orders, across sigma in a flow)
are available.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core, render
from ._resources import check_accumulator
from ._result import Result
from ._validation import ESTIMATORS, checked
from .architecture import Architecture
from .io import json_record
from .statistics import check_dense_size, jackknife_covariance, jackknife_errors
from .tuples import cumulants_from_moments, matchings, moments_from_cumulants, n_tuples, rank
from .tuples import tuples as tuple_layout
from .warnings import FewBinsWarning, UnreliableErrorWarning

__all__ = ["Correlators"]

FloatArray = NDArray[np.float64]

#: Format version of pickles and saved files; bump on any layout change.
STATE_VERSION = 1
#: Below this many filled bins the jackknife covariance is flagged as unreliable.
MIN_BINS = 16
#: Fewest networks for a tail-index estimate, and the upper order statistics it uses
#: (few enough to stay in the tail at 2000 networks).
HILL_MIN_NETWORKS = 2000
HILL_ORDER_STATISTICS = 32
#: Sampled G2 this many standard errors from the exact depth-1 kernel: errors unreliable.
KERNEL_CHECK_Z = 5.0
#: Entries of :meth:`Correlators.state` stored as arrays in files (the rest is JSON).
STATE_ARRAYS = ("x", "shift", "levels", "indices", "counts", "sums", "tail_lengths", "tails")


#: Marks a result whose theory check has not run yet.
_NOT_CHECKED = object()


def observable_size(k: int, estimator: str) -> int:
    """Length of the per-network observable the core accumulates moments of.

    ``plain``: the outputs f(x_a), k values; ``conditional``: the empirical kernel C_ab on
    the pairs a <= b, k (k + 1) / 2 values (the C++ core's ``nnqft::observable_size``).
    """
    return k if estimator == "plain" else k * (k + 1) // 2


def _check_covariance_size(t: int, what: str) -> None:
    """Refuse a T x T covariance that would not fit in a quarter of the memory."""
    check_dense_size(t * t, f"the {what} covariance of {t} tuples",
                     "use stderr()/connected() for the errors (no matrix) or fewer inputs")


def stored_degrees(orders: tuple[int, ...], estimator: str) -> list[int]:
    """Monomial degrees of the per-network observable the core must accumulate."""
    if estimator == "plain":
        return sorted(orders)
    half = max([n // 2 for n in orders if n % 2 == 0], default=1)
    return list(range(1, half + 1))


class Correlators(Result, kind="correlators"):
    """Sampled correlators of a network ensemble on inputs ``x``.

    Do not construct directly: use :func:`nnqft.sample` or :func:`nnqft.load`.
    Instances are immutable; ``a + b`` merges two runs of the same configuration over
    disjoint network ranges (bit-identical to one run over the union).

    Attributes
    ----------
    arch : Architecture
    x : ndarray, shape (k, d_in)
    orders : tuple of int
    estimator : str
    n_networks : int
    meta : dict
        Provenance (seed, sampler, block size, bins, versions, wall time).
    """

    _format_version = STATE_VERSION

    def __init__(
        self,
        *,
        arch: Architecture,
        x: FloatArray,
        orders: tuple[int, ...],
        estimator: str,
        tree: Any,
        shift: FloatArray,
        meta: dict[str, Any],
    ) -> None:
        self.arch = arch
        self.x = np.array(x, dtype=np.float64)
        self.x.setflags(write=False)
        self.orders = tuple(orders)
        self.estimator = estimator
        self._tree = tree
        self._shift = np.array(shift, dtype=np.float64)
        self.meta = dict(meta)
        self._warned: set[int] = set()
        self._theory: Any = _NOT_CHECKED  # the verdict of theory_check(), once computed
        self._kernel_z: Any = _NOT_CHECKED  # kernel_check(), once computed

    # -- basic properties --------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of inputs."""
        return int(self.x.shape[0])

    @property
    def n_networks(self) -> int:
        """Number of networks accumulated."""
        return int(self._tree.n_networks)

    @property
    def n_bins(self) -> int:
        """Number of filled jackknife bins."""
        return int(np.count_nonzero(self._bins[0]))

    def tuples(self, n: int) -> NDArray[np.int64]:
        """Index tuples of order ``n`` (rows), in the storage order."""
        return tuple_layout(self.k, n)

    # -- bins and estimates ----------------------------------------------------------
    @functools.cached_property
    def _bins(self) -> tuple[NDArray[np.uint64], FloatArray]:
        counts, sums = self._tree.totals()
        keep = counts > 0
        return counts[keep], sums[keep]

    @functools.cached_property
    def _offsets(self) -> dict[int, slice]:
        r = observable_size(self.k, self.estimator)
        out, start = {}, 0
        for d in stored_degrees(self.orders, self.estimator):
            size = n_tuples(r, d)
            out[d] = slice(start, start + size)
            start += size
        return out

    def _raw_moments(self, counts: FloatArray, sums: FloatArray) -> dict[int, FloatArray]:
        """Per-degree averages of the stored monomials; leading axes broadcast."""
        return {d: sums[..., s] / counts[..., None] for d, s in self._offsets.items()}

    def _estimates(self, counts: FloatArray, sums: FloatArray) -> dict[str, FloatArray]:
        """Every estimate (``G<n>`` and ``K<n>`` = connected) from summed bins."""
        raw = self._raw_moments(counts, sums)
        if self.estimator == "plain":
            return self._plain_estimates(raw)
        return self._conditional_estimates(raw)

    def _plain_estimates(self, raw: dict[int, FloatArray]) -> dict[str, FloatArray]:
        out = {f"G{n}": raw[n] for n in self.orders}
        even = {n: raw[n] for n in self.orders if n % 2 == 0}
        for n in self.orders:
            if n % 2 == 0 and all(m in even for m in range(2, n + 1, 2)):
                out[f"K{n}"] = cumulants_from_moments(even, self.k, n)
        return out

    def _conditional_estimates(self, raw: dict[int, FloatArray]) -> dict[str, FloatArray]:
        q = observable_size(self.k, "conditional")
        # joint cumulants of the kernel entries; only the first depends on the shift
        kappa_c = {1: raw[1] + self._shift}
        for d in range(2, max(raw) + 1):
            kappa_c[d] = cumulants_from_moments(raw, q, d)
        lead = raw[1].shape[:-1]
        out: dict[str, FloatArray] = {}
        for n in self.orders:
            t_n = n_tuples(self.k, n)
            if n % 2:
                out[f"G{n}"] = np.zeros(lead + (t_n,))
                continue
            moments_c = moments_from_cumulants(kappa_c, q, n // 2)
            out[f"G{n}"] = self._sum_over_matchings(moments_c, n)
        for n in range(2, 2 * max(kappa_c) + 1, 2):
            out[f"K{n}"] = self._sum_over_matchings(kappa_c[n // 2], n)
        return out

    def _sum_over_matchings(self, per_pairs: FloatArray, n: int) -> FloatArray:
        """Sum over matchings of a symmetric function of the n/2 matched pairs."""
        idx = _matching_index(self.k, n)
        out: FloatArray = per_pairs[..., idx].sum(axis=-1)
        return out

    def diagonal(self) -> dict[str, tuple[FloatArray, FloatArray]]:
        """``G2(x_a, x_a)`` and, where sampled, ``kappa4(x_a, x_a, x_a, x_a)`` at each input.

        The same numbers as :meth:`mean` and :meth:`connected` on those tuples, from the
        stored moments of each input's own variable (``f_a``, or ``C_aa`` for the
        conditional estimator) without forming the estimates of every tuple: cheap at
        any number of inputs (the theory check reads them).

        Returns
        -------
        dict
            ``"G2"`` and possibly ``"K4"``, each ``(values, replicas)`` of shapes (k,) and
            (n_bins, k): delete-one-bin jackknife replicas, as :meth:`replicas`.
        """
        counts, sums = self._bins
        conditional = self.estimator == "conditional"
        r = observable_size(self.k, self.estimator)
        variable = [int(rank(np.array([a, a]), self.k)) if conditional else a
                    for a in range(self.k)]
        columns = {d: [s.start + int(rank(np.array([v] * d), r)) for v in variable]
                   for d, s in self._offsets.items()}
        # rows: the B delete-one-bin replicas, then the full sample
        totals = np.append(counts.sum() - counts, counts.sum()).astype(np.float64)

        def moment(cols: list[int]) -> FloatArray:
            own = sums[:, cols]
            out: FloatArray = np.vstack([own.sum(axis=0) - own, own.sum(axis=0)[None]])
            return out / totals[:, None]

        raw = {d: moment(cols) for d, cols in columns.items()}
        if conditional:
            table = {"G2": raw[1] + self._shift[variable]}
            if 2 in raw:
                table["K4"] = 3.0 * (raw[2] - raw[1] ** 2)
        else:
            table = {"G2": raw[2]} if 2 in raw else {}
            if 2 in raw and 4 in raw:
                table["K4"] = raw[4] - 3.0 * raw[2] ** 2
        return {key: (v[-1], v[:-1]) for key, v in table.items()}

    @functools.cached_property
    def _point(self) -> dict[str, FloatArray]:
        counts, sums = self._bins
        return self._estimates(np.asarray(counts.sum(), dtype=np.float64), sums.sum(axis=0))

    @functools.cached_property
    def _replicas(self) -> dict[str, FloatArray]:
        counts, sums = self._bins
        if len(counts) < 2:
            raise ValueError(
                f"error estimates need at least 2 filled bins, have {len(counts)} "
                f"({self.n_networks} networks, block_size {self.meta['block_size']}): "
                "sample more networks"
            )
        if len(counts) < MIN_BINS:
            warnings.warn(
                f"only {len(counts)} jackknife bins are filled; error bars and covariances "
                f"are rough (sample at least {MIN_BINS * self.meta['block_size']} networks)",
                FewBinsWarning,
                stacklevel=3,
            )
        loo_counts = (counts.sum() - counts).astype(np.float64)
        loo_sums = sums.sum(axis=0) - sums
        return self._estimates(loo_counts, loo_sums)

    def _get(self, table: dict[str, FloatArray], key: str, what: str) -> FloatArray:
        if key not in table:
            have = sorted({int(k[1:]) for k in table if k[0] == key[0]})
            raise ValueError(f"{what} of order {key[1:]} is not available; available: {have}")
        return table[key]

    # -- public estimates ------------------------------------------------------------
    def mean(self, n: int) -> FloatArray:
        """Estimate of the full correlator G^(n) on the order-``n`` tuples."""
        n = checked("n", n)
        return self._get(self._point, f"G{n}", "correlator").copy()

    def covariance(self, n: int) -> FloatArray:
        """Jackknife covariance between the tuples of ``mean(n)``.

        Emits :class:`~nnqft.warnings.UnreliableErrorWarning` when heavy tails make it
        untrustworthy (:meth:`reliable`).
        """
        n = checked("n", n)
        self._check_reliability(n)
        replicas = self.replicas(n)
        _check_covariance_size(replicas.shape[1], f"order-{n}")
        return jackknife_covariance(replicas)

    def stderr(self, n: int) -> FloatArray:
        """Jackknife standard error of each tuple of ``mean(n)`` (no covariance matrix)."""
        n = checked("n", n)
        self._check_reliability(n)
        return jackknife_errors(self.replicas(n))

    def connected(self, n: int) -> tuple[FloatArray, FloatArray]:
        """Connected correlator (joint cumulant) kappa_n and its standard errors.

        Plain estimator: Möbius inversion of the measured moments (kappa_4 = G4 -
        sum_3 G2 G2, ...), needing every even order up to ``n``; the errors include
        the uncertainty of the lower orders.  Conditional: sum over matchings of the
        joint cumulants of the empirical kernel (no large cancellation).
        """
        n = checked("n", n)
        value = self._get(self._point, f"K{n}", "connected correlator").copy()
        self._check_reliability(n)
        err = jackknife_errors(self.replicas(n, connected=True))
        return value, err

    def connected_covariance(self, n: int) -> FloatArray:
        """Jackknife covariance between the tuples of ``connected(n)[0]``."""
        n = checked("n", n)
        self._check_reliability(n)
        replicas = self.replicas(n, connected=True)
        _check_covariance_size(replicas.shape[1], f"connected order-{n}")
        return jackknife_covariance(replicas)

    def replicas(self, n: int, connected: bool = False) -> FloatArray:
        """Delete-one-bin jackknife replicas, shape ``(n_bins, T)``.

        Replicas of every order and of merged or sibling runs (same seed and block
        layout) share bins, so stacking them gives joint covariances.
        """
        n, connected = checked("n", n), checked("connected", connected)
        key = f"{'K' if connected else 'G'}{n}"
        what = "connected correlator" if connected else "correlator"
        return self._get(self._replicas, key, what).copy()

    def index(self, *inputs: int) -> int:
        """Position of the tuple of the given input indices in its order's layout."""
        if not inputs or any(not 0 <= i < self.k for i in inputs):
            raise ValueError(f"input indices must be in [0, {self.k}), got {inputs}")
        return int(rank(np.array(inputs), self.k))

    # -- reliability -----------------------------------------------------------------
    def tail_index(self) -> float | None:
        """Hill estimate of the tail index of the per-network scale ``max_a C_aa``.

        C_aa is the conditional variance of the output at input a, so ``C**(n/2)`` drives
        the order-n observable of either estimator: its variance is finite only when the
        tail index exceeds ``n``.  None when fewer than ``HILL_MIN_NETWORKS`` networks
        were sampled (too few order statistics for an estimate).
        """
        tail = self._tree.tail()
        if self.n_networks < HILL_MIN_NETWORKS or len(tail) < 17 or tail[-1] <= 0:
            return None
        k = min(HILL_ORDER_STATISTICS, len(tail) - 1)
        logs = np.log(tail[:k] / tail[k])
        return float(1.0 / logs.mean()) if logs.mean() > 0 else float("inf")

    def kernel_check(self) -> float | None:
        """Largest ``|z|`` of the sampled ``G2(x_a, x_a)`` against the exact kernel.

        At depth 1 with Gaussian weights the two-point function is the NNGP kernel at
        every width (:func:`nnqft.kernel`), so a sampled value many standard errors
        away means the errors are wrong, typically because the ensemble never reached
        the tail that carries the mean: a Gauss-net at ``|x| = 6`` samples
        ``G2 = 1.0000 +- 7e-12`` against the exact 2.0, with a Hill tail index of
        ``2e8`` (all the order statistics it sees are alike).  None when there is no
        exact value to compare with (deeper nets, uniform weights, no order 2, a
        kernel beyond float64).
        """
        if self._kernel_z is _NOT_CHECKED:
            self._kernel_z = self._kernel_z_now()
        z: float | None = self._kernel_z
        return z

    def _kernel_z_now(self) -> float | None:
        if self.arch.depth != 1 or self.arch.weight_dist != "gaussian":
            return None
        if len(self._bins[0]) < 2:
            return None
        diagonal = self.diagonal()  # G2(x_a, x_a) without the estimates of every tuple
        if "G2" not in diagonal:
            return None
        from .theory import kernel_diagonal

        try:
            exact = kernel_diagonal(self.arch, self.x)
        except OverflowError:  # sigma beyond the theory's float64 range: nothing to check
            return None
        sampled, replicas = diagonal["G2"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewBinsWarning)
            err = jackknife_errors(replicas)
        # a floor of 1e-9 relative: the kernel's quadrature and float rounding
        tol = err + 1e-9 * np.abs(exact)
        return float(np.max(np.abs(sampled - exact) / tol))

    def reliable(self, n: int) -> bool:
        """Whether the error bars of order ``n`` can be trusted.

        False when the per-network scale has a heavy tail (:meth:`tail_index` <= n) or
        when the sampled two-point function contradicts the exact kernel
        (:meth:`kernel_check` beyond ``KERNEL_CHECK_Z``, raised for few bins): then every
        order is suspect.
        """
        return self._unreliable_reason(n) is None

    def unresolved(self) -> str | None:
        """Why this many networks cannot resolve the mean at all, or None.

        Decided before sampling (:class:`nnqft._plan.RunPlan`) where the library knows
        the distribution of the per-network kernel scale (Gauss-nets: log-normal); such
        runs are refused unless ``allow_unresolved=True`` and then carry the verdict in
        ``meta["unresolved"]``.  Merged runs with enough networks are resolved.
        """
        verdict = self.meta.get("unresolved")
        if not isinstance(verdict, dict):
            return None
        needed = verdict.get("log10_networks_needed")
        if isinstance(needed, (int, float)) and math.log10(self.n_networks) >= needed:
            return None
        return f"{self.n_networks} networks cannot resolve the mean: {verdict.get('reason')}"

    def _unreliable_reason(self, n: int, computed_only: bool = False) -> str | None:
        """Why order ``n`` is unreliable, or None.

        ``computed_only`` (printing): the theory checks enter only if already computed
        (at sampling time, or by an earlier :meth:`reliable`), so that printing a result
        never evaluates theory.
        """
        unresolved = self.unresolved()
        if unresolved is not None:
            return unresolved
        alpha = self.tail_index()
        if alpha is not None and alpha <= n:
            return (f"the per-network kernel scale has a heavy tail (Hill tail index "
                    f"{alpha:.2f} <= {n}), so the variance of the order-{n} observable looks "
                    "infinite and typical sample means underestimate the truth")
        z = self._kernel_z if computed_only else self.kernel_check()
        if z is not _NOT_CHECKED and z is not None and z > self._kernel_check_threshold():
            return (f"the sampled two-point function is {z:.3g} standard errors from the "
                    "exact kernel: the networks that carry the mean were never drawn (a "
                    "tail the sample does not reach), so estimates and errors are both off")
        check = self._theory if computed_only else self.theory_check()
        return None if check is _NOT_CHECKED or check is None else check.reason()

    def _kernel_check_threshold(self) -> float:
        """``KERNEL_CHECK_Z``, raised where few bins make jackknife z heavy-tailed.

        A jackknife error from B bins makes z Student-t with B - 1 degrees of freedom,
        and the check takes the largest of k (:func:`nnqft.diagnostics.z_threshold`).
        """
        from .diagnostics import z_threshold

        return z_threshold(self.k, len(self._bins[0]), KERNEL_CHECK_Z)

    def theory_check(self) -> Any:
        """Compare the sample with theory at each input (:func:`.diagnostics.theory_check`).

        Computed once per result (the theory is cached); None when there is no theory
        to compare with, or when :meth:`with_theory_check` turned the check off.
        """
        if self._theory is _NOT_CHECKED:
            from .diagnostics import theory_check

            self._theory = theory_check(self)
        return self._theory

    def with_theory_check(self, enabled: bool = True) -> Correlators:
        """Run the theory check now and warn if the sample contradicts it; returns self.

        :func:`nnqft.sample` calls this on every result.  The verdict enters
        :meth:`reliable` (False, with the reason in :meth:`describe`) and one
        :class:`~nnqft.warnings.UnreliableErrorWarning` is emitted.  ``enabled=False``
        turns the check off for this result: no theory is evaluated, and
        :meth:`reliable` ignores it.
        """
        if not enabled:
            self._theory = None
            return self
        check = self.theory_check()
        self.kernel_check()  # the verdicts printing shows are computed here, not when printed
        # an unresolved run (sampled with allow_unresolved=True) already carries its
        # verdict; that the sample then misses the theory is no news worth a warning
        if check is not None and not check.agrees and self.unresolved() is None:
            warnings.warn(f"{check.reason()}. Error bars and estimates of every order are "
                          "unreliable (corr.reliable(n) is False).", UnreliableErrorWarning,
                          stacklevel=2)
        return self

    def _check_reliability(self, n: int) -> None:
        if n in self._warned:
            return
        reason = self._unreliable_reason(n)
        if reason is None:
            return
        self._warned.add(n)
        warnings.warn(
            f"error bars of order {n} cannot be trusted: {reason} (e.g. Gauss-net with "
            "sigma_b ~ 1 at small width or large |x|). Compare with nnqft.exact() where "
            "available.",
            UnreliableErrorWarning,
            stacklevel=3,
        )

    # -- merging ---------------------------------------------------------------------
    def _config_key(self) -> tuple[Any, ...]:
        m = self.meta
        return (
            self.arch,
            self.x.tobytes(),
            self.x.shape,
            self.orders,
            self.estimator,
            tuple(m["key"]),
            m["block_size"],
            m["n_bins"],
            self._shift.tobytes(),
            m.get("sampler", "weights"),  # results from before samplers existed: weights
        )

    @property
    def stream_version(self) -> int:
        """Version of the random streams the networks were drawn from (1 if not recorded)."""
        return int(self.meta.get("stream_version", 1))

    def compatible_with(self, other: Correlators) -> str | None:
        """None if ``self + other`` is allowed, else the reason it is not."""
        if not isinstance(other, Correlators):
            return f"cannot merge Correlators with {type(other).__name__}"
        if self.stream_version != other.stream_version:
            return (f"cannot merge runs drawn from different random-stream versions "
                    f"({self.stream_version} and {other.stream_version}): the same seed gives "
                    f"different networks; re-run one of them with a single nnqft version")
        names = ("architecture", "inputs x", "inputs x", "orders", "estimator", "seed",
                 "block_size", "n_bins", "pilot shift", "sampler")
        for name, a, b in zip(names, self._config_key(), other._config_key(), strict=True):
            if a == b:
                continue
            if name == "sampler":
                return (f"cannot merge runs with different samplers ({a!r} and {b!r}): they "
                        "draw different random streams, equal only in distribution, so the "
                        "merge would not be one run over the union; sample both with the "
                        "same sampler=")
            return f"cannot merge runs with different {name}"
        return None

    def __add__(self, other: Correlators) -> Correlators:
        reason = self.compatible_with(other)
        if reason is not None:
            raise ValueError(reason)
        tree = self._tree.copy()
        tree.merge(other._tree)
        meta = dict(self.meta)
        meta["wall_time"] = self.meta.get("wall_time", 0.0) + other.meta.get("wall_time", 0.0)
        meta["ranges"] = _merge_ranges(self.meta.get("ranges", []) + other.meta.get("ranges", []))
        return self._with_tree(tree, meta)

    def _with_tree(self, tree: Any, meta: dict[str, Any]) -> Correlators:
        return Correlators(
            arch=self.arch, x=self.x, orders=self.orders, estimator=self.estimator,
            tree=tree, shift=self._shift, meta=meta,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Correlators):
            return NotImplemented
        if self._config_key() != other._config_key():
            return False
        a, b = self._tree.state(), other._tree.state()
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    __hash__ = None  # type: ignore[assignment]

    # -- state (pickle, files) -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this object: metadata and flat arrays."""
        n_bins, width, levels, indices, counts, sums, tail_lengths, tails = self._tree.state()
        return {
            "version": STATE_VERSION,
            "arch": self.arch.to_dict(),
            "orders": list(self.orders),
            "estimator": self.estimator,
            "meta": self.meta,
            "x": self.x,
            "shift": self._shift,
            "n_bins": int(n_bins),
            "width": int(width),
            "levels": np.asarray(levels, dtype=np.int64),
            "indices": np.asarray(indices, dtype=np.uint64),
            "counts": np.asarray(counts, dtype=np.uint64),
            "sums": np.asarray(sums, dtype=np.float64),
            "tail_lengths": np.asarray(tail_lengths, dtype=np.uint64),
            "tails": np.asarray(tails, dtype=np.float64),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Correlators:
        """Inverse of :meth:`state`; refuses unknown format versions."""
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(
                f"unsupported correlator format version {version!r} "
                f"(this nnqft reads version {STATE_VERSION})"
            )
        try:
            fields = _checked_state(state)
        except KeyError as err:
            raise ValueError(f"corrupt correlator state: {err.args[0]!r} is missing") from None
        except TypeError as err:  # a field of the wrong type is a corrupt file too
            raise ValueError(f"corrupt correlator state: {err}") from None
        tree = _core.BlockTree.from_state(
            fields["n_bins"], fields["width"], *(fields[name] for name in _TREE_ARRAYS))
        ranges = fields["meta"]["ranges"]
        if sum(b - a for a, b in ranges) != tree.n_networks:
            raise ValueError(
                f"corrupt correlator state: the stored counts add up to {tree.n_networks} "
                f"networks but the recorded ranges {ranges} hold {sum(b - a for a, b in ranges)}")
        _check_blocks(ranges, fields["meta"]["block_size"], fields["levels"], fields["indices"])
        return cls(arch=fields["arch"], x=fields["x"], orders=fields["orders"],
                   estimator=fields["estimator"], tree=tree, shift=fields["shift"],
                   meta=fields["meta"])

    def __getstate__(self) -> dict[str, Any]:
        return self.state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = Correlators.from_state(state)
        self.__dict__.update(other.__dict__)

    def save(self, path: Any) -> Path:
        """Write ``.npz`` arrays with JSON metadata (see :func:`nnqft.load`); returns the path.

        The file is written atomically and keeps everything: loaded runs still merge.
        """
        return super().save(path)

    def _to_file(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        state = self.state()
        arrays = {name: np.asarray(state.pop(name)) for name in STATE_ARRAYS}
        return state, arrays

    @classmethod
    def _from_file(cls, meta: dict[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Correlators:
        state = {k: v for k, v in meta.items() if k not in ("kind", "format_version")}
        state.update({name: arrays[name] for name in STATE_ARRAYS})  # only these are read
        return cls.from_state(state)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: setup, provenance and every estimate with its errors.

        Errors of orders that :meth:`reliable` flags are included with
        ``"reliable": False`` (no warning is emitted); with fewer than 2 bins they are None.
        """
        out: dict[str, Any] = {
            "arch": self.arch.to_dict(), "x": self.x, "orders": list(self.orders),
            "estimator": self.estimator, "n_networks": self.n_networks, "n_bins": self.n_bins,
            "tail_index": self.tail_index(), "meta": self.meta, "estimates": {},
        }
        for key in sorted(self._point):
            n, connected = int(key[1:]), key[0] == "K"
            out["estimates"][key] = {"tuples": self.tuples(n), "value": self._point[key],
                                     "stderr": self._quiet_stderr(n, connected),
                                     "reliable": self.reliable(n)}
        return json_record(out)

    def _quiet_stderr(self, n: int, connected: bool) -> FloatArray | None:
        """Standard errors for display: None below 2 bins; reliability is shown, not warned."""
        if self.n_bins < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewBinsWarning)  # the display states n_bins
            reps = self.replicas(n, connected=connected)
        return jackknife_errors(reps)  # per tuple: never the T x T covariance

    def describe(self, orders: Sequence[int] | None = None, max_rows: int = 8) -> str:
        """Readable summary: setup, provenance, and a table per even order.

        Shows the reliability verdicts already computed (at sampling time, by
        :meth:`with_theory_check`) and evaluates no theory itself: a loaded result says
        its theory check was not run until :meth:`reliable` or :meth:`with_theory_check`
        runs it.

        Parameters
        ----------
        orders : sequence of int, optional
            Orders to tabulate (default: all sampled orders).
        max_rows : int
            Tuples shown per table.
        """
        orders = None if orders is None else checked("orders", orders)
        max_rows = checked("max_rows", max_rows)
        return render.text(self._tables(orders, max_rows))

    def _tables(self, orders: Sequence[int] | None = None,
                max_rows: int = 8) -> list[render.Table]:
        m = self.meta
        wall = m.get("wall_time") or math.nan
        notes = [repr(self.arch),
                 f"{self.estimator} estimator, {m.get('sampler', 'weights')} sampler, "
                 f"{self.n_networks} networks, seed entropy "
                 f"{m.get('seed', {}).get('entropy', '?')}, {self.n_bins} jackknife bins"
                 + (f" (fewer than {MIN_BINS}: rough errors)" if self.n_bins < MIN_BINS else ""),
                 f"wall time {wall:.2f} s ({self.n_networks / wall:,.0f} networks/s on "
                 f"{m.get('threads', '?')} threads, kernels: {m.get('kernel_path', '?')})"]
        if self.unresolved() is not None:
            notes.append(f"UNRESOLVED, no order is a measurement: {self.unresolved()}")
        alpha = self.tail_index()
        if alpha is not None:
            notes.append(f"tail index of the kernel scale: {alpha:.2f} "
                         f"(error bars of order n are trusted for n < {alpha:.2f})")
        reason = self._unreliable_reason(max(self.orders), computed_only=True)
        if reason is not None:
            notes.append(f"NOT RELIABLE: {reason}")
        elif self._theory is _NOT_CHECKED:
            notes.append("theory check: not run on this result (printing evaluates no theory; "
                         "corr.reliable(n) or corr.with_theory_check() runs it)")
        elif self._theory is not None:
            notes.append(f"theory check: {self._theory!r}")
        tables = [render.Table(notes)]
        for n in sorted(orders or self.orders):
            for connected in (False, True):
                key = f"{'K' if connected else 'G'}{n}"
                if n % 2 or key not in self._point or (connected and n < 4):
                    continue
                tables.append(self._table(n, connected, max_rows))
        return tables

    def _table(self, n: int, connected: bool, max_rows: int) -> render.Table:
        values = self._point[f"{'K' if connected else 'G'}{n}"]
        errors = self._quiet_stderr(n, connected)
        label = f"kappa_{n}" if connected else f"G_{n}"
        rows = [(str(tuple(int(i) for i in t)), f"{v:.6g}",
                 "—" if errors is None else f"{errors[j]:.3g}")
                for j, (t, v) in enumerate(zip(self.tuples(n), values, strict=True))]
        if len(rows) > max_rows:
            rows = rows[:max_rows] + [(f"... {len(rows) - max_rows} more", "", "")]
        title = (f"connected kappa{n}" if connected else f"G{n}") + (
            "" if self._unreliable_reason(n, computed_only=True) is None
            else " (error bars NOT reliable)")
        return render.Table([title], ("tuple", label, "stderr"), rows)

    # -- display ---------------------------------------------------------------------
    def summary(self, n: int, connected: bool = False, max_rows: int = 12) -> str:
        """Text table of one order's estimates with their standard errors."""
        n, connected = checked("n", n), checked("connected", connected)
        max_rows = checked("max_rows", max_rows)
        self._get(self._point, f"{'K' if connected else 'G'}{n}", "correlator")
        return render.text([self._table(n, connected, max_rows)])

    def __repr__(self) -> str:
        failed = self._theory is not _NOT_CHECKED and self._theory is not None \
            and not self._theory.agrees  # shown once checked; repr computes nothing
        flag = " UNRESOLVED (see unresolved())" if self.unresolved() is not None else ""
        return (
            f"<Correlators {self.estimator} orders={self.orders} k={self.k} "
            f"n_networks={self.n_networks} {self.arch!r}{flag}"
            + (" NOT RELIABLE: contradicts the theory (see describe())" if failed else "")
            + ">"
        )


def _merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    """Union of half-open network ranges, sorted and coalesced."""
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def _check_blocks(ranges: list[list[int]], block_size: int, levels: NDArray[Any],
                  indices: NDArray[Any]) -> None:
    """The recorded network ranges must be exactly the blocks whose sums are stored.

    Otherwise a merge would record ranges that disagree with its counts (a file that
    merged, then failed to load).
    """
    merged = _merge_ranges([list(rg) for rg in ranges])
    if sum(b - a for a, b in merged) != sum(b - a for a, b in ranges) or any(
            a % block_size for a, _ in merged):
        raise ValueError(f"corrupt correlator state: the ranges {ranges} overlap or do not "
                         f"start on blocks of {block_size} networks")
    recorded = _merge_ranges([[a // block_size, -(-b // block_size)] for a, b in merged if b > a])
    held = _merge_ranges([[int(i) << int(lv), (int(i) + 1) << int(lv)]
                          for lv, i in zip(levels, indices, strict=True)])
    if recorded != held:
        raise ValueError(f"corrupt correlator state: the ranges {ranges} cover blocks "
                         f"{recorded} (of {block_size} networks) but the stored sums are of "
                         f"blocks {held}")


_TREE_ARRAYS = ("levels", "indices", "counts", "sums", "tail_lengths", "tails")
_UNSIGNED = ("indices", "counts", "tail_lengths")


def _int_field(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"corrupt correlator state: {name} must be an integer in {lo}..{hi}, "
                         f"got {value!r}")
    return int(value)


def _array_field(state: dict[str, Any], name: str) -> NDArray[Any]:
    """A 1-D array of the stored kind (no silent float -> int casts, no objects)."""
    arr = np.asarray(state[name])
    kind = "f" if name in ("sums", "tails") else "u" if name in _UNSIGNED else "iu"
    if arr.ndim != 1 or arr.dtype.kind not in kind:
        raise ValueError(f"corrupt correlator state: {name} must be a 1-D array of kind "
                         f"{kind!r}, got shape {arr.shape} dtype {arr.dtype}")
    return arr


def _checked_state(state: dict[str, Any]) -> dict[str, Any]:
    """Every field of a stored state checked on its own and against the others."""
    from ._validation import as_inputs

    if not isinstance(state["arch"], dict) or not isinstance(state["meta"], dict):
        raise ValueError("corrupt correlator state: arch and meta must be mappings")
    arch = Architecture.from_dict(state["arch"])
    estimator = state["estimator"]
    if estimator not in ESTIMATORS:
        raise ValueError(f"corrupt correlator state: unknown estimator {estimator!r}")
    orders_in = state["orders"]
    if not isinstance(orders_in, list) or not orders_in:
        raise ValueError(f"corrupt correlator state: orders must be a list, got {orders_in!r}")
    orders = tuple(sorted({_int_field(o, "orders", 1, 8) for o in orders_in}))
    x = as_inputs(state["x"], arch.d_in)
    k = x.shape[0]
    r = observable_size(k, estimator)
    width = sum(n_tuples(r, d) for d in stored_degrees(orders, estimator))
    if state["width"] != width:  # e.g. an edited estimator or order list
        raise ValueError(
            f"corrupt correlator state: {estimator} orders {list(orders)} on {k} inputs "
            f"store {width} values per bin, the file has {state['width']!r}")
    shift = np.asarray(state["shift"])
    if shift.dtype.kind not in "fiu" or shift.shape != ((r,) if estimator == "conditional"
                                                        else (0,)) or not np.isfinite(shift).all():
        raise ValueError(f"corrupt correlator state: shift has shape {shift.shape}, "
                         f"dtype {shift.dtype}")
    meta = dict(state["meta"])
    n_bins = _int_field(state["n_bins"], "n_bins", 2, 2**20)
    if meta.get("n_bins") != n_bins:
        raise ValueError(f"corrupt correlator state: meta n_bins {meta.get('n_bins')!r} != "
                         f"{n_bins}")
    _int_field(meta.get("block_size"), "block_size", 1, 2**31)
    key = meta.get("key")
    if not isinstance(key, list) or len(key) != 2:
        raise ValueError(f"corrupt correlator state: key must be two integers, got {key!r}")
    for word in key:
        _int_field(word, "key", 0, 2**64 - 1)
    ranges = meta.get("ranges")
    if not isinstance(ranges, list) or not all(
            isinstance(rg, list) and len(rg) == 2 for rg in ranges):
        raise ValueError(f"corrupt correlator state: ranges must be [start, stop] pairs, "
                         f"got {ranges!r}")
    for a, b in ranges:
        if _int_field(a, "ranges", 0, 2**62) > _int_field(b, "ranges", 0, 2**62):
            raise ValueError(f"corrupt correlator state: empty range [{a}, {b}]")
    block_size = meta["block_size"]  # the same memory check as the run that sampled it
    check_accumulator(width, n_bins, sum(-(-(b - a) // block_size) for a, b in ranges),
                      advice="this machine could not have sampled it; a real result this "
                      "large needs a larger machine, anything else is a corrupt file")
    if "stream_version" in meta:  # never coerced: "3" or 3.9 is not stream version 3
        _int_field(meta["stream_version"], "stream_version", 1, 2**31)
    fields: dict[str, Any] = {name: _array_field(state, name) for name in _TREE_ARRAYS}
    if not np.isfinite(fields["sums"]).all():  # sampling refuses overflow: never stored
        raise ValueError("corrupt correlator state: the stored sums hold NaN or infinities")
    fields.update(arch=arch, estimator=estimator, orders=orders, x=x, shift=shift,
                  meta=meta, n_bins=n_bins, width=width)
    return fields


@functools.lru_cache(maxsize=32)
def _matching_index(k: int, n: int) -> NDArray[np.int64]:
    """For each order-n tuple and matching, the rank of its pair-multiset.

    Shape ``(T_n, #matchings)``; pairs are indexed in the order-2 layout and the
    multiset of ``n/2`` pair indices in the degree-``n/2`` layout of those indices.
    """
    t = tuple_layout(k, n)
    q = observable_size(k, "conditional")
    cols = []
    for m in matchings(n):
        pair_ids = np.stack([rank(t[:, list(p)], k) for p in m], axis=-1)
        cols.append(rank(pair_ids, q))
    return np.stack(cols, axis=-1)

