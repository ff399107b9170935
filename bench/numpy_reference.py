"""A plain, vectorised numpy implementation of nnqft's sampling job (the baseline).

This is what a careful user would write by hand: float64, batches of networks drawn with
numpy's Generator, activations from scipy.special, correlators accumulated as running
sums of the tuple products (never holding all outputs), per-tuple standard errors from
running sums of squares.  The benchmarks time it side by side with nnqft.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special

ACTIVATIONS = {
    "erf": special.erf,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


def tuple_index(k: int, n: int) -> np.ndarray:
    return np.array(list(itertools.combinations_with_replacement(range(k), n)))


class NumpySampler:
    """Depth-1 network ensemble, plain or conditional estimator, batch by batch."""

    def __init__(self, activation, width, x, sigma_w=1.0, sigma_b=1.0, orders=(2, 4, 6),
                 estimator="plain", batch=256, seed=0):
        self.phi = ACTIVATIONS[activation]
        self.n = width
        self.x = np.atleast_2d(np.asarray(x, dtype=float).T).T
        self.sw, self.sb = sigma_w, sigma_b
        self.orders = orders
        self.estimator = estimator
        self.batch = batch
        self.rng = np.random.default_rng(seed)
        k = len(self.x)
        self.tuples = {n: tuple_index(k, n) for n in orders}
        self.sums = {n: np.zeros(len(t)) for n, t in self.tuples.items()}
        self.sumsq = {n: np.zeros(len(t)) for n, t in self.tuples.items()}
        self.count = 0
        iu = np.triu_indices(k)
        self.pair = np.zeros((k, k), dtype=int)
        self.pair[iu] = np.arange(len(iu[0]))
        self.pair[(iu[1], iu[0])] = np.arange(len(iu[0]))

    def _hidden(self, b):
        d = self.x.shape[1]
        w0 = self.rng.standard_normal((b, self.n, d)) * (self.sw / np.sqrt(d))
        b0 = self.rng.standard_normal((b, self.n)) * self.sb
        z = np.einsum("bnd,kd->bkn", w0, self.x) + b0[:, None, :]
        return self.phi(z)  # (b, k, n)

    def _readout(self, h):
        """Plain: the outputs f (b, k); conditional: the empirical kernel C (b, k, k)."""
        b = h.shape[0]
        if self.estimator == "plain":
            w1 = self.rng.standard_normal((b, self.n)) * (self.sw / np.sqrt(self.n))
            b1 = self.rng.standard_normal(b) * self.sb
            return np.einsum("bkn,bn->bk", h, w1) + b1[:, None]
        return self.sb**2 + (self.sw**2 / self.n) * np.einsum("bkn,bln->bkl", h, h)

    def _observable(self, r, order_tuples):
        if self.estimator == "plain":
            return np.prod(r[:, order_tuples], axis=-1)
        # conditional: E[f_t | C] = sum over matchings of products of C entries
        from nnqft.tuples import matchings  # the matchings only, not the algebra

        out = np.zeros((r.shape[0], len(order_tuples)))
        for m in matchings(order_tuples.shape[1]):
            term = np.ones_like(out)
            for i, j in m:
                term *= r[:, order_tuples[:, i], order_tuples[:, j]]
            out += term
        return out

    def run(self, n_networks):
        done = 0
        while done < n_networks:
            b = min(self.batch, n_networks - done)
            r = self._readout(self._hidden(b))  # one read-out per network for every order
            for n, t in self.tuples.items():
                v = self._observable(r, t)
                self.sums[n] += v.sum(axis=0)
                self.sumsq[n] += (v * v).sum(axis=0)
            done += b
        self.count += n_networks
        return self

    def mean(self, n):
        return self.sums[n] / self.count

    def stderr(self, n):
        m = self.mean(n)
        var = (self.sumsq[n] / self.count - m * m) * self.count / (self.count - 1)
        return np.sqrt(var / self.count)
