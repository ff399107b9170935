"""Independent reference for the 1/N^2 theory of deep networks (physics-deep.md §5).

Computes, at the read-out kernel C = G^(L+1) of a depth-L network,

    E C     = K + K1/N + K2/N^2
    Cov C   = V/N + W/N^2                 (on input pairs)
    kappa3 C = U/N^2

for small k (1-3 inputs), Gaussian weights, per-layer sigmas.  Written from the definitions,
deliberately unlike a production implementation, so that agreement means something:

- The recursion is not the hand-expanded cumulant formulas of physics-deep.md §5.  Each layer
  is propagated mechanically: the raw moments of delta = G - K to O(1/N^2) (orders 1-4, from
  the cumulants K1, K2, V, W, U), the 4th-order Taylor polynomial of the mean map F and the
  2nd-order one of the covariance map tau, then E, Cov and kappa3 of the next kernel by the
  law of total cumulance evaluated as moment contractions (``_propagate``).
- Derivatives are never finite differences.  For the smooth activations, by Price's theorem
  ``d/dG_cd E[f(z)] = E[d_c d_d f]`` (``1/2 E[d_c^2 f]`` on the diagonal), so every
  derivative of F and tau is itself a Gaussian expectation of a product of derivatives of
  the activation, phi^(m) (m <= 8).  They are generated symbolically (``_price``) and all
  evaluated on one tensor Gauss-Hermite grid per layer, in a factor of that layer's k x k
  kernel (any rank): erf^(m) = (2/sqrt(pi)) (-1)^(m-1) H_(m-1)(z) exp(-z^2), tanh^(m) a
  polynomial in tanh, linear trivially.
- ReLU is not differentiable enough for Price's theorem.  At two inputs every expectation is
  ``E[relu(z_0)^i relu(z_1)^j]``, a radial integral times an integral over the arc of angles
  where both pre-activations are positive: analytic in the kernel, so its Taylor coefficients
  (to 4th order) come from Cauchy's integral formula, a 3-D FFT of values at complex kernels
  on a small torus (``_relu_derivatives``).  One input, or several on a ray (x_a = c_a u,
  c_a > 0) with every sigma_b = 0, is the one-dimensional chain of s in G = s c c^T, exact
  (E relu(sqrt(G) xi)^n = G^(n/2) E relu(xi)^n).  Three inputs off a ray are not supported.

Accuracy (run this file as a script: each case again with 1.5x the quadrature nodes, ReLU
with a finer torus): erf and tanh ~1e-12 relative (tanh's poles at i pi/2 make it need many
more nodes); linear and one-input ReLU exact to rounding; two-input ReLU ~1e-9 for K2,
~1e-12 for the rest.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
from deep_reference import _check_inputs as _check_lo_inputs
from numpy.polynomial import polynomial as npoly
from scipy import special

ACTIVATIONS = ("erf", "tanh", "linear", "relu")
#: Gauss-Hermite nodes per axis by activation and rank of the layer's kernel.  tanh needs
#: many: its poles at i pi/2 make the 8th derivatives (4th G-derivatives of F) converge slowly.
_GH_NODES = {"erf": {1: 300, 2: 240, 3: 110}, "tanh": {1: 1200, 2: 400, 3: 100},
             "linear": {1: 8, 2: 8, 3: 8}}
#: Largest pre-activation variance the base node counts resolve; more nodes beyond it.
_GH_VARIANCE = {"erf": 3.0, "tanh": 1.6, "linear": math.inf}
#: Refuse kernels that would need more than this multiple of the base node counts.
_MAX_NODE_SCALE = 3.0
#: Relative eigenvalue below which a kernel direction counts as absent.
_RANK_TOL = 1e-12
#: Grid points per chunk of the quadrature sum (bounds the memory to ~100 MB).
_CHUNK = 1 << 16


def pairs(k):
    """Unordered input pairs (a <= b), the index set of kernel entries."""
    return list(itertools.combinations_with_replacement(range(k), 2))


# -- the activation and its derivatives --------------------------------------------------
def _activation_derivatives(act, z, m_max):
    """``[phi^(m)(z) for m = 0..m_max]`` for the smooth activations."""
    if act == "linear":
        return [z, np.ones_like(z)] + [np.zeros_like(z)] * (m_max - 1)
    if act == "erf":
        out = [special.erf(z)]
        gauss = 2.0 / math.sqrt(math.pi) * np.exp(-z * z)
        h_prev, h = np.zeros_like(z), np.ones_like(z)  # physicists' Hermite H_(n-1), H_n
        for n in range(m_max):
            out.append((-1) ** n * h * gauss)
            h_prev, h = h, 2 * z * h - 2 * n * h_prev
        return out
    t = np.tanh(z)
    coeffs = np.array([0.0, 1.0])  # tanh^(m) = P_m(tanh), P_(m+1) = P_m' (1 - t^2)
    out = [t]
    for _ in range(m_max):
        coeffs = npoly.polymul(npoly.polyder(coeffs), [1.0, 0.0, -1.0])
        out.append(npoly.polyval(t, coeffs))
    return out


# -- Price's theorem, symbolically ---------------------------------------------------------
def _price(terms, pair):
    """``d/dG_pair`` of ``sum coeff * E[prod_i phi^(m_i)(z_(c_i))]``.

    A term is a sorted tuple of factors (input c_i, derivative order m_i); ``terms`` maps
    terms to coefficients.  Off the diagonal d/dG_cd acts as d_c d_d on the integrand (both
    G_cd and G_dc move), on the diagonal as d_c^2 / 2.
    """
    c, d = pair
    out = defaultdict(float)
    for factors, coeff in terms.items():
        at_c = [i for i, f in enumerate(factors) if f[0] == c]
        at_d = [i for i, f in enumerate(factors) if f[0] == d]
        weight = coeff if c != d else coeff / 2
        for i in at_c:
            for j in at_d:
                if c != d or i != j:
                    bumps = {i: 1, j: 1}
                else:
                    bumps = {i: 2}
                new = tuple(sorted((f[0], f[1] + bumps.get(n, 0)) for n, f in enumerate(factors)))
                out[new] += weight
    return out


def _derivative_terms(inputs, order, n_pairs_list):
    """Symbolic derivatives of ``E[prod_(c in inputs) phi(z_c)]`` up to ``order``.

    Returns ``{multi_index: terms}`` for every non-decreasing multi-index of pairs of length
    0..order (the derivative tensors are symmetric).
    """
    base = {tuple(sorted((c, 0) for c in inputs)): 1.0}
    out = {(): base}
    frontier = {(): base}
    for _ in range(order):
        nxt = {}
        for idx, terms in frontier.items():
            start = idx[-1] if idx else 0
            for s in range(start, len(n_pairs_list)):
                nxt[idx + (s,)] = _price(terms, n_pairs_list[s])
        out.update(nxt)
        frontier = nxt
    return out


# -- one quadrature grid per layer ------------------------------------------------------------
def _factor(kern):
    """``A`` with ``A A^T = kern``: the symmetric root at full rank, else an eigen factor."""
    w, q = np.linalg.eigh(kern)
    scale = max(float(np.max(np.abs(w))), 1e-300)
    keep = w > _RANK_TOL * scale
    if np.all(keep):
        return (q * np.sqrt(w)) @ q.T
    return q[:, keep] * np.sqrt(w[keep])


def _node_count(act, kern, rank, resolution):
    scale = max(1.0, float(np.max(np.diag(kern))) / _GH_VARIANCE[act])
    if scale > _MAX_NODE_SCALE:
        raise ValueError(
            f"pre-activation variance {np.max(np.diag(kern)):.3g} too large for this reference's "
            f"{act} quadrature (at most {_MAX_NODE_SCALE * _GH_VARIANCE[act]:.3g})"
        )
    return int(round(_GH_NODES[act][rank] * scale * resolution))


def _expectations(act, kern, keys, resolution):
    """``E[prod phi^(m_i)(z_(c_i))]``, ``z ~ N(0, kern)``, for each factor tuple in ``keys``."""
    keys = list(keys)
    a = _factor(kern)
    k, r = a.shape
    if r == 0:
        raise ValueError("zero kernel: every pre-activation vanishes")
    n = _node_count(act, kern, r, resolution)
    x, w = special.roots_hermitenorm(n)
    w = w / w.sum()
    m_max = max(f[1] for key in keys for f in key)
    # the tensor grid is walked in slabs of the first axis, so memory stays at ~_CHUNK points
    if r == 1:
        rest, rest_w = np.zeros((1, 0)), np.ones(1)
    else:
        rest = np.stack([g.ravel() for g in np.meshgrid(*([x] * (r - 1)), indexing="ij")], axis=1)
        rest_w = np.prod(np.stack([g.ravel() for g in np.meshgrid(*([w] * (r - 1)), indexing="ij")]), axis=0)
    slab = max(1, _CHUNK // len(rest))
    # per input, the distinct multisets of derivative orders: each one's product is reused
    per_input = [sorted({tuple(m for c2, m in key if c2 == c) for key in keys}) for c in range(k)]
    out = np.zeros(len(keys))
    for lo in range(0, n, slab):
        first, first_w = x[lo : lo + slab], w[lo : lo + slab]
        z = (first[:, None, None] * a[:, 0] + (rest @ a[:, 1:].T)[None]).reshape(-1, k)
        wt = (first_w[:, None] * rest_w[None]).ravel()
        prods = []
        for c in range(k):
            deriv = _activation_derivatives(act, z[:, c], m_max)
            table = {}
            for orders in per_input[c]:
                val = np.ones(len(z))
                for m in orders:
                    val = val * deriv[m]
                table[orders] = val
            prods.append(table)
        for j, key in enumerate(keys):
            val = wt
            for c in range(k):
                val = val * prods[c][tuple(m for c2, m in key if c2 == c)]
            out[j] += val.sum()
    return dict(zip(keys, out, strict=True))


def _symmetric_tensor(values, n_pairs, order):
    """Dense symmetric tensor ``(P,) * order`` from the values on non-decreasing multi-indices
    of that length (``values`` may hold other orders too)."""
    out = np.zeros((n_pairs,) * order)
    for idx, val in values.items():
        if len(idx) == order:
            for perm in set(itertools.permutations(idx)):
                out[perm] = val
    return out


# -- the layer maps and their derivatives at K --------------------------------------------------
def _smooth_derivatives(act, kern, resolution):
    """Derivatives at ``kern`` of g_p = E[O_p] (to 4th order) and of E[O_p O_q] (to 2nd),
    and E[O_p O_q O_r], for a smooth activation: Price's theorem on one quadrature grid.

    Returns ``(g_vals, gg_vals, m3)``: ``g_vals[p][idx]`` is the derivative along the
    non-decreasing multi-index ``idx`` of pairs, ``gg_vals[(p, q)][idx]`` likewise (p <= q),
    ``m3`` the dense (P, P, P) third moments.
    """
    prs = pairs(len(kern))
    n_p = len(prs)
    sym_g = {p: _derivative_terms(prs[p], 4, prs) for p in range(n_p)}
    sym_gg = {(p, q): _derivative_terms(prs[p] + prs[q], 2, prs)
              for p in range(n_p) for q in range(p, n_p)}
    triples = list(itertools.combinations_with_replacement(range(n_p), 3))
    key3 = {t: tuple(sorted((c, 0) for c in prs[t[0]] + prs[t[1]] + prs[t[2]])) for t in triples}
    keys = set(key3.values())
    for table in itertools.chain(sym_g.values(), sym_gg.values()):
        for terms in table.values():
            keys.update(terms)
    ex = _expectations(act, kern, keys, resolution)

    def evaluate(table):
        return {idx: sum(c * ex[key] for key, c in terms.items()) for idx, terms in table.items()}

    m3 = np.zeros((n_p,) * 3)
    for t in triples:
        for perm in set(itertools.permutations(t)):
            m3[perm] = ex[key3[t]]
    return [evaluate(sym_g[p]) for p in range(n_p)], {pq: evaluate(t) for pq, t in sym_gg.items()}, m3


def _layer_data(derivatives, n_p, sw, sb):
    """Taylor data of one layer: F0..F4, tau0..tau2, sigma3 (pair indices).

    ``F_n[p, s1..sn]``: n-th derivative of the mean map F = sb^2 + sw^2 g;
    ``tau_n[p, q, s1..sn]`` of the conditional covariance map (times N),
    tau = sw^4 (E[O_p O_q] - g_p g_q); ``sigma3[p, q, r]``: the conditional third cumulant
    (times N^2), from the derivative tables of :func:`_smooth_derivatives`.
    """
    g_vals, gg_vals, m3 = derivatives
    # g_n[p, s1..sn]: derivatives of g_p = E[O_p]; m2_n[p, q, s1..sn]: of E[O_p O_q]
    g = []
    for order in range(5):
        tensor = np.zeros((n_p,) + (n_p,) * order)
        for p in range(n_p):
            tensor[p] = _symmetric_tensor(g_vals[p], n_p, order)
        g.append(tensor)
    m2 = []
    for order in range(3):
        tensor = np.zeros((n_p, n_p) + (n_p,) * order)
        for (p, q), vals in gg_vals.items():
            tensor[p, q] = tensor[q, p] = _symmetric_tensor(vals, n_p, order)
        m2.append(tensor)
    f = [sw**2 * gn for gn in g]
    f[0] = f[0] + sb**2
    # tau = sw^4 (E[O_p O_q] - g_p g_q), differentiated by Leibniz
    tau0 = sw**4 * (m2[0] - np.outer(g[0], g[0]))
    tau1 = sw**4 * (m2[1] - np.einsum("ps,q->pqs", g[1], g[0]) - np.einsum("p,qs->pqs", g[0], g[1]))
    tau2 = sw**4 * (
        m2[2]
        - np.einsum("pst,q->pqst", g[2], g[0])
        - np.einsum("p,qst->pqst", g[0], g[2])
        - np.einsum("ps,qt->pqst", g[1], g[1])
        - np.einsum("pt,qs->pqst", g[1], g[1])
    )
    sigma3 = sw**6 * _third_cumulant(m3, m2[0], g[0])
    return f, [tau0, tau1, tau2], sigma3


def _smooth_layer_data(act, kern, sw, sb, resolution):
    """:func:`_layer_data` of a smooth activation at ``kern``."""
    return _layer_data(_smooth_derivatives(act, kern, resolution), len(pairs(len(kern))), sw, sb)


# -- ReLU at two inputs: explicit angular integrals, Taylor coefficients by Cauchy's formula -----------
#: Gauss-Legendre nodes on the angular arc (the integrand is a trigonometric polynomial of
#: degree <= 6: 16 nodes are exact to rounding, also at the complex points of the torus).
_ARC_NODES = 16
#: Points per axis of the Cauchy torus, and its radius as a fraction of the smallest
#: eigenvalue of the kernel (the torus then keeps |det G| > 0.4 det K: it stays inside the
#: domain of analyticity; measured: derivatives to ~1e-10 relative).
_TORUS_POINTS = 32
_TORUS_RADIUS = 0.15
#: Smallest 1 - |rho| of a ReLU kernel at two inputs: closer to collinear the rounding of
#: arccos(rho), divided by radius^4, spoils the 4th derivatives (~1e-8 at this bound).
_RELU_MIN_GAP = 1e-3


def _relu_two_input_moments(g00, g01, g11, counts):
    """``{(i, j): E[relu(z_0)^i relu(z_1)^j]}``, ``z ~ N(0, [[g00, g01], [g01, g11]])``,
    analytic in G (arrays of kernels, complex allowed).

    In polar coordinates of the whitened Gaussian the radial integral is
    ``2^(n/2) Gamma(n/2 + 1)`` (n = i + j) and the angular one runs over the arc where both
    pre-activations are positive, ``theta in [phi - pi/2, pi/2]`` with
    ``cos(phi) = g01 / sqrt(g00 g11)``; numpy's complex sqrt and arccos continue it to
    complex kernels.  With i or j = 0 it is the one-input moment ``G^(n/2) (n-1)!! / 2``.
    """
    phi = np.arccos(g01 / np.sqrt(g00 * g11))[..., None]
    x, w = special.roots_legendre(_ARC_NODES)
    half = (np.pi - phi) / 2
    theta = np.pi / 2 - half + half * x
    c0, c1 = np.cos(theta), np.cos(theta - phi)
    root0, root1 = np.sqrt(g00), np.sqrt(g11)
    out = {}
    for i, j in counts:
        n = i + j
        if i == 0 or j == 0:
            out[(i, j)] = (g11 if i == 0 else g00) ** (n / 2) * special.factorial2(n - 1) / 2
            continue
        arc = half[..., 0] * np.sum(w * c0**i * c1**j, axis=-1)
        out[(i, j)] = 2 ** (n / 2) * math.gamma(n / 2 + 1) / (2 * np.pi) * root0**i * root1**j * arc
    return out


def _relu_derivatives(kern, resolution=1.0):
    """:func:`_smooth_derivatives`' tables for ReLU at a full-rank 2 x 2 kernel.

    Every E[O_p ...] is some ``E[relu(z_0)^i relu(z_1)^j]`` (i + j = 2, 4, 6), an analytic
    function of (G_00, G_01, G_11) inside the PSD cone.  Its Taylor coefficients to 4th order
    come from Cauchy's integral formula on a torus around the kernel (a 3-D FFT of values at
    complex kernels): no finite differences, no cancellation beyond rounding / radius^4.
    """
    lam = np.linalg.eigvalsh(kern)
    rho = kern[0, 1] / math.sqrt(kern[0, 0] * kern[1, 1]) if lam[0] > 0 else 1.0
    if 1 - abs(rho) < _RELU_MIN_GAP:
        raise ValueError(
            f"relu at two inputs needs correlations |rho| <= 1 - {_RELU_MIN_GAP:g} at every layer "
            f"(got {rho:.6g}): nearer to collinear this reference's derivatives are inaccurate"
        )
    m, radius = int(round(_TORUS_POINTS * resolution)), _TORUS_RADIUS * lam[0]
    circle = radius * np.exp(2j * np.pi * np.arange(m) / m)
    g00, g01, g11 = np.meshgrid(kern[0, 0] + circle, kern[0, 1] + circle, kern[1, 1] + circle, indexing="ij")
    counts = [(i, n - i) for n in (2, 4, 6) for i in range(n + 1)]
    values = _relu_two_input_moments(g00, g01, g11, counts)
    coeffs = {ij: (np.fft.fftn(val) / m**3).real for ij, val in values.items()}

    def derivative(ij, idx):
        alpha = np.bincount(np.asarray(idx, dtype=int), minlength=3)
        scale = np.prod([math.factorial(a) for a in alpha]) / radius ** len(idx)
        return coeffs[ij][tuple(alpha)] * scale

    prs = pairs(2)
    count = [np.bincount(p, minlength=2) for p in prs]

    def table(ij, order):
        return {idx: derivative(ij, idx) for n in range(order + 1)
                for idx in itertools.combinations_with_replacement(range(3), n)}

    g_vals = [table(tuple(count[p]), 4) for p in range(3)]
    gg_vals = {(p, q): table(tuple(count[p] + count[q]), 2) for p in range(3) for q in range(p, 3)}
    m3 = np.zeros((3, 3, 3))
    for t in itertools.product(range(3), repeat=3):
        m3[t] = coeffs[tuple(count[t[0]] + count[t[1]] + count[t[2]])][0, 0, 0]
    return g_vals, gg_vals, m3


def _third_cumulant(m3, m2, m1):
    """Joint third cumulant from raw moments (all indices symmetric)."""
    cross = np.einsum("pq,r->pqr", m2, m1)
    return m3 - cross - cross.transpose(0, 2, 1) - cross.transpose(2, 1, 0) + 2 * np.einsum(
        "p,q,r->pqr", m1, m1, m1
    )


def _relu_scalar_layer_data(s, sw, sb):
    """Exact Taylor data of the one-input ReLU layer at variance ``s`` (P = 1).

    ``E relu(sqrt(s) xi)^n = s^(n/2) E relu(xi)^n`` with the half-Gaussian moments
    ``E relu(xi)^(2j) = (2j - 1)!! / 2``.
    """
    h2, h4, h6 = 0.5, 1.5, 7.5
    f = [np.array([sb**2 + sw**2 * h2 * s]), np.array([[sw**2 * h2]])] + [
        np.zeros((1,) * (n + 1)) for n in range(2, 5)
    ]
    c2 = sw**4 * (h4 - h2 * h2)
    tau = [np.array([[c2 * s * s]]), np.array([[[2 * c2 * s]]]), np.array([[[[2 * c2]]]])]
    c3 = sw**6 * (h6 - 3 * h4 * h2 + 2 * h2**3)
    return f, tau, np.array([[[c3 * s**3]]])


# -- the recursion: moments of delta to O(1/N^2), propagated through one layer ----------------------
def _sym3(a2, a1):
    """``a2_st a1_u + a2_su a1_t + a2_tu a1_s``."""
    t = np.einsum("st,u->stu", a2, a1)
    return t + t.transpose(0, 2, 1) + t.transpose(2, 1, 0)


def _gaussian_pair_sum(v):
    """``v_st v_uv + v_su v_tv + v_sv v_tu`` (Isserlis)."""
    t = np.einsum("st,uv->stuv", v, v)
    return t + t.transpose(0, 2, 1, 3) + t.transpose(0, 3, 2, 1)


def _propagate(state, f, tau, sigma3):
    """Cumulants of the next kernel from those of this one (order eps = 1/N and eps^2).

    ``state = (k1, k2, v, w, u)``.  Raw moments of delta to O(eps^2):
    E d = eps k1 + eps^2 k2, E dd = eps v + eps^2 (w + k1 k1), E ddd = eps^2 (u + 3 v k1),
    E dddd = eps^2 (vv + vv + vv); higher ones are O(eps^3).  With y = F(K + d) - F(K) as a
    Taylor polynomial and, given G, E G' = F, Cov G' = eps tau(G), kappa3 G' = eps^2 sigma3(G):
    E d' = E y;  Cov d' = eps E tau + Cov y;  kappa3 d' = eps^2 E sigma3 + 3 Cov(y, eps tau) + kappa3 y.
    """
    k1, k2, v, w, u = state
    f1, f2, f3, f4 = f[1:]
    tau0, tau1, tau2 = tau
    m1 = (k1, k2)
    m2 = (v, w + np.outer(k1, k1))
    m3 = u + _sym3(v, k1)  # order eps^2
    m4 = _gaussian_pair_sum(v)  # order eps^2
    # E y
    ey1 = f1 @ m1[0] + 0.5 * np.einsum("pst,st->p", f2, m2[0])
    ey2 = (
        f1 @ m1[1]
        + 0.5 * np.einsum("pst,st->p", f2, m2[1])
        + np.einsum("pstu,stu->p", f3, m3) / 6
        + np.einsum("pstuv,stuv->p", f4, m4) / 24
    )
    # E y y
    eyy1 = f1 @ m2[0] @ f1.T
    a = 0.5 * np.einsum("ps,qtu,stu->pq", f1, f2, m3) + np.einsum("ps,qtuv,stuv->pq", f1, f3, m4) / 6
    eyy2 = f1 @ m2[1] @ f1.T + a + a.T + 0.25 * np.einsum("pst,quv,stuv->pq", f2, f2, m4)
    # E y y y (no eps^1 part)
    b = 0.5 * np.einsum("ps,qt,ruv,stuv->pqr", f1, f1, f2, m4)
    eyyy2 = np.einsum("ps,qt,ru,stu->pqr", f1, f1, f1, m3) + b + b.transpose(0, 2, 1) + b.transpose(2, 1, 0)
    # E tau to O(eps) (it is multiplied by eps)
    etau1 = np.einsum("pqs,s->pq", tau1, k1) + 0.5 * np.einsum("pqst,st->pq", tau2, v)
    k1n, k2n = ey1, ey2
    vn = tau0 + eyy1
    wn = etau1 + eyy2 - np.outer(ey1, ey1)
    cov_y_tau = np.einsum("ps,qrt,st->pqr", f1, tau1, v)  # Cov(y_p, tau_qr) at O(eps)
    kappa3_y = eyyy2 - _sym3(eyy1, ey1)
    un = sigma3 + cov_y_tau + cov_y_tau.transpose(1, 0, 2) + cov_y_tau.transpose(2, 1, 0) + kappa3_y
    return k1n, k2n, vn, wn, un


# -- the network -------------------------------------------------------------------------------
def _check_inputs(activation, sigma_w, sigma_b, x, resolution):
    """The LO reference's argument checks (same conventions), and at most three inputs."""
    sw, sb, xs = _check_lo_inputs(activation, sigma_w, sigma_b, x, resolution, 0.1, 4)
    if not 1 <= xs.shape[0] <= 3:
        raise ValueError(f"this reference takes 1 <= k <= 3 inputs, got shape {np.shape(x)}")
    return sw, sb, xs


def _ray_scales(xs, sb):
    """``c`` with ``x_a = c_a x_0`` (all c_a > 0) if ReLU keeps the kernel on a ray, else None."""
    if len(xs) == 1:
        return np.ones(1)
    c = np.linalg.norm(xs, axis=1) / np.linalg.norm(xs[0])
    tol = 1e-14 * np.abs(xs).max()
    on_ray = np.linalg.norm(xs[0]) > 0 and np.allclose(xs, np.outer(c, xs[0]), rtol=0, atol=tol)
    return c if on_ray and np.all(sb == 0) else None


def _chain(layer_data, kern, n_layers):
    """Run the recursion from a deterministic first-layer kernel through ``n_layers`` layers."""
    n_p = len(pairs(len(kern)))
    state = (np.zeros(n_p), np.zeros(n_p), np.zeros((n_p, n_p)), np.zeros((n_p, n_p)), np.zeros((n_p,) * 3))
    for layer in range(1, n_layers + 1):
        f, tau, sigma3 = layer_data(layer, kern)
        state = _propagate(state, f, tau, sigma3)
        kern = _matrix(f[0], len(kern))
    return kern, state


def reference_nlo(activation, sigma_w, sigma_b, x, *, resolution=1.0):
    """The 1/N^2 theory of a depth-L network at its read-out kernel C = G^(L+1).

    Parameters
    ----------
    activation : {"erf", "tanh", "linear", "relu"}
        ReLU for one or two inputs (two: a full-rank kernel at every layer), or inputs on a
        ray with every sigma_b = 0 (module docstring).
    sigma_w, sigma_b : sequence of float
        One value per layer, length depth + 1 (the last one is the read-out layer).
    x : array_like, shape (k, d_in), 1 <= k <= 3
        Inputs; a 1-D array means d_in = 1.
    resolution : float, optional
        Multiplies the quadrature node counts (convergence checks).

    Returns
    -------
    dict of ndarray
        ``K, K1, K2`` (k, k): ``E C = K + K1/N + K2/N^2``;
        ``V, W`` (k,)*4: ``Cov(C_ab, C_cd) = V[a,b,c,d]/N + W[a,b,c,d]/N^2``;
        ``U`` (k,)*6: ``kappa3(C_ab, C_cd, C_ef) = U[a,b,c,d,e,f]/N^2``;
        each up to O(1/N^3).
    """
    sw, sb, xs = _check_inputs(activation, sigma_w, sigma_b, x, resolution)
    k, d_in = xs.shape
    depth = len(sw) - 1
    c = _ray_scales(xs, sb) if activation == "relu" else None
    if c is not None:
        s1 = sb[0] ** 2 + sw[0] ** 2 * float(xs[0] @ xs[0]) / d_in
        s, state = _chain(lambda i, kern: _relu_scalar_layer_data(kern[0, 0], sw[i], sb[i]), np.array([[s1]]),
                          depth)
        one = _dense_state(s, state, 1)
        cc = [np.ones(())]
        for _ in range(6):
            cc.append(np.multiply.outer(cc[-1], c))
        return {name: val.reshape(()) * cc[val.ndim] for name, val in one.items()}
    if activation == "relu" and k != 2:
        raise ValueError("relu is supported for one or two inputs, or for inputs on a ray (positive "
                         "multiples of one vector) with every sigma_b = 0")

    def layer_data(i, kern):
        if activation == "relu":
            return _layer_data(_relu_derivatives(kern, resolution), 3, sw[i], sb[i])
        return _smooth_layer_data(activation, kern, sw[i], sb[i], resolution)

    kern1 = sb[0] ** 2 + sw[0] ** 2 * (xs @ xs.T) / d_in
    kern, state = _chain(layer_data, kern1, depth)
    return _dense_state(kern, state, k)


# -- layouts ---------------------------------------------------------------------------------------
def _matrix(vec, k):
    """Symmetric k x k matrix from its upper-triangle vector."""
    out = np.zeros((k, k))
    for p, (a, b) in enumerate(pairs(k)):
        out[a, b] = out[b, a] = vec[p]
    return out


def _dense(t, k):
    """Dense (k,)*(2n) array of an n-index tensor over pairs (each pair in both orders)."""
    prs = pairs(k)
    index = np.empty((k, k), dtype=int)
    for p, (a, b) in enumerate(prs):
        index[a, b] = index[b, a] = p
    return t[tuple(np.ix_(*([index.ravel()] * t.ndim)))].reshape((k,) * (2 * t.ndim))


def _dense_state(kern, state, k):
    k1, k2, v, w, u = state
    return {"K": kern, "K1": _dense(k1, k), "K2": _dense(k2, k), "V": _dense(v, k), "W": _dense(w, k),
            "U": _dense(u, k)}


def pairings(n):
    """Perfect matchings of range(n), as lists of pairs."""
    if n == 0:
        return [[]]
    out = []
    for j in range(1, n):
        rest = [i for i in range(1, n) if i != j]
        for m in pairings(len(rest)):
            out.append([(0, j)] + [(rest[a], rest[b]) for a, b in m])
    return out


def sum_over_pairings(dense, n):
    """``out[a1..an] = sum over matchings of dense[(pair), (pair), ...]`` (dense, (k,)*n)."""
    letters = "abcdefgh"[:n]
    out = 0
    for m in pairings(n):
        src = "".join(letters[i] + letters[j] for i, j in m)
        out = out + np.einsum(f"{src}->{letters}", dense)
    return out


def kappa4(ref, width):
    """Connected four-point function ``sum_3 (V + W/N)/N`` (dense, to O(1/N^3))."""
    return sum_over_pairings(ref["V"] + ref["W"] / width, 4) / width


def kappa6(ref, width):
    """Connected six-point function ``sum_15 U/N^2`` (dense, to O(1/N^3))."""
    return sum_over_pairings(ref["U"], 6) / width**2


# -- comparison with the sampler ------------------------------------------------------------------
def on_tuples(dense, n):
    """Values of a dense (k,)*n array on the sorted tuples of :func:`nnqft.tuples.tuples`."""
    from nnqft.tuples import tuples

    return np.array([dense[tuple(t)] for t in tuples(dense.shape[0], n)])


def nlo_targets(ref):
    """What N^2 x (sampled - leading theory) tends to, on the tuples of orders 2, 4, 6.

    ``"G2"``: K2;  ``"K4"``: sum_3 W (the conditional estimator's connected(4) is exactly
    sum_3 Cov C);  ``"K6"``: sum_15 U (its connected(6) is exactly sum_15 kappa3 C).
    """
    return {"G2": on_tuples(ref["K2"], 2), "K4": on_tuples(sum_over_pairings(ref["W"], 4), 4),
            "K6": on_tuples(sum_over_pairings(ref["U"], 6), 6)}


def sampled_remainders(corr, ref):
    """``N^2 (sampled - leading theory)`` with jackknife errors, per order, on the tuples.

    ``corr``: conditional-estimator correlators of orders (2, 4, 6) at width N.  Returns
    ``{"G2": (value, err), "K4": ..., "K6": ...}``, each tending to :func:`nlo_targets` as
    N grows, up to O(1/N).
    """
    if corr.estimator != "conditional":
        raise ValueError("the remainders need the conditional estimator (connected(n) = sums of "
                         "cumulants of C)")
    n = corr.arch.width
    g2, e2 = corr.mean(2), corr.stderr(2)
    k4, e4 = corr.connected(4)
    k6, e6 = corr.connected(6)
    lead2 = on_tuples(ref["K"] + ref["K1"] / n, 2)
    lead4 = on_tuples(sum_over_pairings(ref["V"], 4), 4) / n
    return {"G2": (n**2 * (g2 - lead2), n**2 * e2), "K4": (n**2 * (k4 - lead4), n**2 * e4),
            "K6": (n**2 * k6, n**2 * e6)}


def fit_inverse_width(widths, values, errors, terms=2):
    """Weighted least squares ``y(N) = A + B/N (+ C/N^2)`` for each column.

    ``values, errors``: shape (len(widths), T).  Returns ``coef`` (terms, T), ``err``
    (terms, T) and ``chi2`` (T,) with ``len(widths) - terms`` degrees of freedom.
    """
    inv = 1.0 / np.asarray(widths, dtype=float)
    design = np.stack([inv**j for j in range(terms)], axis=1)
    values, errors = np.atleast_2d(values), np.atleast_2d(errors)
    coef, err, chi2 = [], [], []
    for y, e in zip(values.T, errors.T, strict=True):
        a = design / e[:, None]
        cov = np.linalg.inv(a.T @ a)
        c = cov @ (a.T @ (y / e))
        coef.append(c)
        err.append(np.sqrt(np.diag(cov)))
        chi2.append(float(np.sum(((design @ c - y) / e) ** 2)))
    return np.array(coef).T, np.array(err).T, np.array(chi2)


#: Cases of the convergence check (``python tests/nlo_reference.py``).
_X3 = np.array([[-0.5], [0.3], [0.9]])
CONVERGENCE_CASES = {
    "erf L=3 k=1 (§3 case)": ("erf", [1.5] * 4, [0.3] * 4, [0.8]),
    "tanh L=3 k=1": ("tanh", [1.5] * 4, [0.3] * 4, [0.8]),
    "erf L=3 k=3": ("erf", [1.5] * 4, [0.3] * 4, _X3),
    "tanh L=2 k=3": ("tanh", [1.3, 1.5, 1.2], [0.3, 0.2, 0.4], _X3),
    "erf L=2 k=2, d_in=2": ("erf", [1.8, 1.4, 1.1], [0.1, 0.5, 0.2], [[0.5, -0.2], [-0.3, 0.8]]),
    "relu L=3 k=2, d_in=2": ("relu", [1.4, 1.2, 1.6, 1.3], [0.3, 0.5, 0.2, 0.4], [[0.5, -0.2], [-0.3, 0.8]]),
}


def _convergence_report():
    """Largest change of each quantity (relative to its largest entry) with 1.5x the nodes
    (ReLU: 1.5x the torus points)."""
    for name, case in CONVERGENCE_CASES.items():
        base = reference_nlo(*case)
        fine = reference_nlo(*case, resolution=1.5)
        rel = {q: np.max(np.abs(base[q] - fine[q])) / max(np.max(np.abs(base[q])), 1e-300) for q in base}
        print(f"{name:26s} " + " ".join(f"{q} {r:.0e}" for q, r in rel.items()))


if __name__ == "__main__":
    _convergence_report()
