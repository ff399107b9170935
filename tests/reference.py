"""Independent reference formulas for the tests (written here, not imported from nnqft).

One-neuron moments M_n by closed form or quadrature over the first-layer parameters, the
NNGP kernels of physics.md §1, and the exact depth-1 finite-N correlators of §2.2.
"""

import itertools
import math

import numpy as np
from scipy import integrate, special


def layout(k, n):
    return list(itertools.combinations_with_replacement(range(k), n))


def first_layer_samples(activation, x, sigma_w, sigma_b, n_nodes):
    """Gauss-Hermite nodes over (w, b) ~ N(0, 1): returns (weights, phi values (nodes, k))."""
    x = np.atleast_2d(np.asarray(x, float).T).T
    d = x.shape[1]
    g, w = special.roots_hermitenorm(n_nodes)
    w = w / w.sum()
    grids = np.meshgrid(*([g] * (d + 1)), indexing="ij")
    weights = np.prod(np.meshgrid(*([w] * (d + 1)), indexing="ij"), axis=0).ravel()
    pts = np.stack([gr.ravel() for gr in grids], axis=-1)  # (nodes, d+1)
    z = (sigma_w / math.sqrt(d)) * pts[:, :d] @ x.T + sigma_b * pts[:, d:]
    phi = {"erf": special.erf, "tanh": np.tanh, "linear": lambda v: v}[activation](z)
    return weights, phi


def moments_quadrature(activation, x, n, sigma_w, sigma_b, n_nodes=None):
    if n_nodes is None:  # 150 nodes per axis: ~1e-13 for erf at d_in = 1 (64 gave 1e-6)
        n_nodes = 150 if np.atleast_2d(np.asarray(x, float).T).T.shape[1] == 1 else 64
    weights, phi = first_layer_samples(activation, x, sigma_w, sigma_b, n_nodes)
    k = phi.shape[1]
    return np.array([weights @ np.prod(phi[:, list(t)], axis=1) for t in layout(k, n)])


def moments_relu_1d(x, n, sigma_w, sigma_b):
    """ReLU, d_in = 1: polar angle integral with the kink break-points (physics.md §1.5)."""
    x = np.asarray(x, float).ravel()
    k = len(x)
    pref = 2 ** (n / 2) * special.gamma(1 + n / 2) / (2 * np.pi)
    out = []
    for t in layout(k, n):
        xs = x[list(t)]

        def f(th, xs=xs):
            return np.prod(np.maximum(sigma_w * xs * np.cos(th) + sigma_b * np.sin(th), 0.0))

        # zeros of sigma_w x cos(t) + sigma_b sin(t): psi and psi + pi
        brk = sorted({(math.atan2(-sigma_w * xi, sigma_b) + s) % (2 * np.pi)
                      for xi in xs for s in (0.0, np.pi)})
        edges = [0.0] + brk + [2 * np.pi]
        val = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-12)[0]
                  for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a)
        out.append(pref * val)
    return np.array(out)


def moments_gauss(x, n, sigma_w, sigma_b):
    """Gauss-net, closed form for any n and d_in (physics.md §1.5)."""
    x = np.atleast_2d(np.asarray(x, float).T).T
    d = x.shape[1]
    out = []
    for t in layout(len(x), n):
        xs = x[list(t)]
        sq = (xs**2).sum(axis=1)
        pair = sum(((xs[a] - xs[b]) ** 2).sum() for a, b in itertools.combinations(range(n), 2))
        expo = (n * n / 2 - n) * sigma_b**2 + (sigma_w**2 / d) * ((n - 2) / 2 * sq.sum() - pair / 2)
        out.append(math.exp(expo))
    return np.array(out)


def moments_cos(x, n, sigma_w):
    """Cos-net (uniform phase): average over sign patterns summing to zero."""
    x = np.atleast_2d(np.asarray(x, float).T).T
    d = x.shape[1]
    out = []
    for t in layout(len(x), n):
        xs = x[list(t)]
        total = 0.0
        for signs in itertools.product((1, -1), repeat=n):
            v = np.asarray(signs) @ xs  # frequency combination sum_a s_a x_a
            # E_b cos(sum s_a b) = 1 only when sum s_a = 0
            if sum(signs) == 0:
                total += math.exp(-(sigma_w**2) * (v @ v) / (2 * d))
        out.append(total / 2**n)
    return np.array(out)


def one_neuron_moments(activation, x, n, sigma_w=1.0, sigma_b=1.0):
    if activation == "gauss":
        return moments_gauss(x, n, sigma_w, sigma_b)
    if activation == "cos":
        return moments_cos(x, n, sigma_w)
    if activation == "relu":
        return moments_relu_1d(x, n, sigma_w, sigma_b)
    return moments_quadrature(activation, x, n, sigma_w, sigma_b)


def splits(n, size):
    """Ways to choose `size` positions out of range(n) (the rest is the complement)."""
    return [(c, tuple(i for i in range(n) if i not in c))
            for c in itertools.combinations(range(n), size)]


def pairings(items):
    if not items:
        yield ()
        return
    a, rest = items[0], items[1:]
    for i, b in enumerate(rest):
        for p in pairings(rest[:i] + rest[i + 1:]):
            yield ((a, b),) + p


def exact_depth1(activation, x, width, sigma_w=1.0, sigma_b=1.0):
    """Exact depth-1 G2, G4, G6 and kappa4, kappa6 on the tuple layout (physics.md §2.2)."""
    x = np.atleast_2d(np.asarray(x, float).T).T
    k = len(x)
    m2 = one_neuron_moments(activation, x, 2, sigma_w, sigma_b)
    m4 = one_neuron_moments(activation, x, 4, sigma_w, sigma_b)
    m6 = one_neuron_moments(activation, x, 6, sigma_w, sigma_b)
    idx = {n: {t: i for i, t in enumerate(layout(k, n))} for n in (2, 4)}

    def get(table, n, points):
        return table[idx[n][tuple(sorted(points))]]

    def c(a, b):
        return get(m2, 2, (a, b))

    def kern(a, b):
        return sigma_b**2 + sigma_w**2 * c(a, b)

    s = sigma_w**2
    out = {"G2": np.array([kern(*t) for t in layout(k, 2)])}
    k4 = []
    for i, t in enumerate(layout(k, 4)):
        ccc = sum(c(t[p[0][0]], t[p[0][1]]) * c(t[p[1][0]], t[p[1][1]]) for p in pairings((0, 1, 2, 3)))
        k4.append(s**2 / width * (3 * m4[i] - ccc))
    k4 = np.array(k4)
    out["K4"] = k4
    out["G4"] = np.array([sum(kern(t[p[0][0]], t[p[0][1]]) * kern(t[p[1][0]], t[p[1][1]])
                              for p in pairings((0, 1, 2, 3))) for t in layout(k, 4)]) + k4
    k6, g6 = [], []
    for i, t in enumerate(layout(k, 6)):
        split = splits(6, 4)
        m4c = sum(get(m4, 4, [t[j] for j in four]) * c(t[two[0]], t[two[1]]) for four, two in split)
        ccc = sum(np.prod([c(t[a], t[b]) for a, b in p]) for p in pairings(tuple(range(6))))
        kap6 = s**3 / width**2 * (15 * m6[i] - 3 * m4c + 2 * ccc)
        kkk = sum(np.prod([kern(t[a], t[b]) for a, b in p]) for p in pairings(tuple(range(6))))
        k4k = sum(get(k4, 4, [t[j] for j in four]) * kern(t[two[0]], t[two[1]]) for four, two in split)
        k6.append(kap6)
        g6.append(kkk + k4k + kap6)
    out["K6"], out["G6"] = np.array(k6), np.array(g6)
    return out


def kernel_closed_form(activation, x, sigma_w=1.0, sigma_b=1.0):
    """Depth-1 NNGP kernels (physics.md §1.2-1.4, cos-net §1.5) on the order-2 layout."""
    x = np.atleast_2d(np.asarray(x, float).T).T
    d = x.shape[1]
    sig = sigma_b**2 + sigma_w**2 * (x @ x.T) / d
    diag = np.diag(sig)
    if activation == "erf":
        c = 2 / np.pi * np.arcsin(2 * sig / np.sqrt(np.outer(1 + 2 * diag, 1 + 2 * diag)))
    elif activation == "relu":
        norm = np.sqrt(np.outer(diag, diag))
        th = np.arccos(np.clip(sig / norm, -1, 1))
        c = norm / (2 * np.pi) * (np.sin(th) + (np.pi - th) * np.cos(th))
    elif activation in ("gauss", "cos"):
        diff2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        c = np.exp(-(sigma_w**2) * diff2 / (2 * d)) * (0.5 if activation == "cos" else 1.0)
    elif activation == "linear":
        c = sig
    else:
        raise ValueError(activation)
    kmat = sigma_b**2 + sigma_w**2 * c
    return np.array([kmat[a, b] for a, b in layout(len(x), 2)])
