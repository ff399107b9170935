"""Independent reference for the leading 1/N theory of deep networks (physics-deep.md §2).

Written from the formulas alone, deliberately unlike a production implementation, so that
agreement with ``nnqft.finite_width`` means something:

- Gaussian expectations of smooth activations (erf, tanh, linear) by brute-force tensor
  Gauss-Hermite quadrature over each subset of inputs, through an eigen factor of the
  subset's kernel (any rank).
- ReLU expectations by cone geometry instead: ``prod_i relu(a_i . xi)^n_i`` is a
  homogeneous polynomial on the cone ``{xi : a_i . xi >= 0}`` and zero elsewhere, so the
  radial integral is done in closed form and what is left is a smooth integral over the
  cone's simplicial pieces (gnomonic coordinates, collapsed Gauss-Legendre rule).  No
  kink is ever inside a quadrature cell.
- The derivatives of ``g`` are never formed entry by entry.  ``sum_pq d2g/dG_p dG_q V_pq``
  equals ``sum_m lam_m d2/dt2 g(K + t U_m)`` for the eigenpairs ``(lam_m, u_m)`` of ``V``
  (``U_m`` the symmetric matrix whose upper triangle is ``u_m``), and likewise for the
  first-order terms, so only directional derivatives are needed: central differences,
  Richardson-extrapolated, along directions that keep ``K + tU`` positive semi-definite
  (which is what lets singular kernels, e.g. ReLU on a ray, go through).

Run this file as a script for the convergence checks: each case again with 1.5x the
quadrature nodes, half the finite-difference step, and one more Richardson level.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
from scipy import special

ACTIVATIONS = ("erf", "tanh", "relu", "linear")
_SMOOTH = {"erf": special.erf, "tanh": np.tanh, "linear": lambda z: z}

#: Gauss-Hermite nodes per axis by the rank of the Gaussian (smooth activations), enough
#: for pre-activation variances up to _GH_VARIANCE; more nodes, in proportion, beyond.
_GH_NODES = {1: 200, 2: 200, 3: 96, 4: 48}
#: Largest variance the base node counts resolve to ~1e-13 (phi(sqrt(G) xi) steepens with G).
_GH_VARIANCE = {"erf": 3.5, "tanh": 1.6, "linear": math.inf}
#: Refuse kernels that would need more than this multiple of the base node counts.
_MAX_NODE_SCALE = 4.0
#: Gauss-Legendre nodes per axis of the collapsed simplex rule (ReLU).
_SIMPLEX_NODES = 16
#: Widest angle (radians) between two rays of a simplicial piece of a ReLU cone.
_MAX_RAY_ANGLE = math.radians(70.0)
#: Relative eigenvalue below which a kernel direction counts as absent.
_RANK_TOL = 1e-12


# -- small helpers ---------------------------------------------------------------------
def _pairs(k):
    return list(itertools.combinations_with_replacement(range(k), 2))


def _factor(sigma):
    """Eigen factor ``A`` (m x r, full column rank) with ``A A^T = sigma`` (clipped PSD)."""
    w, q = np.linalg.eigh(sigma)
    scale = max(float(np.max(np.abs(w))), 1e-300)
    keep = w > _RANK_TOL * scale
    return q[:, keep] * np.sqrt(w[keep])


def _gh(n):
    x, w = special.roots_hermitenorm(n)
    return x, w / w.sum()


# -- Gaussian expectations: smooth activations ----------------------------------------------
def _smooth_moments(act, sigma, powers, resolution):
    """``E[prod_i phi(z_i)^p_i]`` for each power vector p, ``z ~ N(0, sigma)``.

    Tensor Gauss-Hermite over the ``r = rank(sigma)`` independent normals ``xi``, ``z = A xi``;
    the first axis is looped over so that memory stays at ``n^(r-1)`` points.
    """
    phi = _SMOOTH[act]
    a = _factor(sigma)
    m, r = a.shape
    if r == m:
        # the symmetric square root keeps each row of A near an axis when sigma is near
        # diagonal, which the tensor grid resolves far better than rotated rows
        w, q = np.linalg.eigh(sigma)
        a = (q * np.sqrt(w)) @ q.T
    powers = np.asarray(powers)
    if r == 0:
        return np.prod(phi(np.zeros(m))[None, :] ** powers, axis=1)
    n = int(round(_GH_NODES[r] * resolution))
    x, w = _gh(n)
    if r == 1:
        rest_pts, rest_w = np.zeros((1, 0)), np.ones(1)
    else:
        grids = np.meshgrid(*([x] * (r - 1)), indexing="ij")
        rest_pts = np.stack([g.ravel() for g in grids], axis=1)
        rest_w = np.prod(np.meshgrid(*([w] * (r - 1)), indexing="ij"), axis=0).ravel()
    z_rest = rest_pts @ a[:, 1:].T  # (n^(r-1), m)
    out = np.zeros(len(powers))
    for x0, w0 in zip(x, w, strict=True):
        f = phi(z_rest + x0 * a[:, 0])
        cols = [[np.ones(len(f))] for _ in range(m)]  # cols[i][e] = phi(z_i)^e
        for i in range(m):
            for _ in range(int(powers[:, i].max())):
                cols[i].append(cols[i][-1] * f[:, i])
        for j, p in enumerate(powers):
            prod = cols[0][p[0]]
            for i in range(1, m):
                prod = prod * cols[i][p[i]]
            out[j] += w0 * (rest_w @ prod)
    return out


def _smooth_pair(act, blocks, resolution):
    """``g`` for a batch of 1x1 or 2x2 kernels, via an explicit (clipped) Cholesky factor.

    The factor is a smooth function of the kernel wherever it is positive definite, so the
    quadrature error is smooth too and finite differences of the result are clean.
    """
    phi = _SMOOTH[act]
    n = int(round(_GH_NODES[2] * resolution))
    x, w = _gh(n)
    if blocks.shape[1] == 1:
        z = np.sqrt(np.maximum(blocks[:, 0, 0], 0.0))[:, None] * x[None, :]
        return phi(z) ** 2 @ w
    gaa, gab, gbb = blocks[:, 0, 0], blocks[:, 0, 1], blocks[:, 1, 1]
    out = np.empty(len(blocks))
    x1, x2 = np.meshgrid(x, x, indexing="ij")
    ww = np.outer(w, w)
    for i in range(len(blocks)):
        if gaa[i] > 0:
            l11 = math.sqrt(gaa[i])
            l21 = gab[i] / l11
            l22 = math.sqrt(max(gbb[i] - l21 * l21, 0.0))
        else:  # z_a = 0 identically
            l11, l21, l22 = 0.0, 0.0, math.sqrt(max(gbb[i], 0.0))
        out[i] = np.sum(ww * phi(l11 * x1) * phi(l21 * x1 + l22 * x2))
    return out


# -- Gaussian expectations: ReLU by cone geometry ----------------------------------------------
def _radial(k):
    """``int_0^inf rho^k exp(-rho^2/2) d rho``."""
    return 2.0 ** ((k - 1) / 2) * math.gamma((k + 1) / 2)


def _simplex_rule(dim, q):
    """Collapsed Gauss-Legendre rule on the standard simplex of R^dim (barycentric points)."""
    if dim == 1:
        return np.ones((1, 1)), np.ones(1)
    u, wu = special.roots_legendre(q)
    u, wu = (u + 1) / 2, wu / 2
    grids = np.meshgrid(*([u] * (dim - 1)), indexing="ij")
    us = np.stack([g.ravel() for g in grids], axis=1)
    wts = np.prod(np.meshgrid(*([wu] * (dim - 1)), indexing="ij"), axis=0).ravel()
    t = np.empty((len(us), dim))
    rest = np.ones(len(us))
    for j in range(dim - 1):
        t[:, j] = rest * us[:, j]
        wts = wts * (1 - us[:, j]) ** (dim - 2 - j)
        rest = rest * (1 - us[:, j])
    t[:, dim - 1] = rest
    return t, wts


def _extreme_rays(a):
    """Unit extreme rays of the pointed cone ``{xi in R^r : a xi >= 0}`` (rows of ``a``)."""
    m, r = a.shape
    if r == 1:
        s = np.sign(a[:, 0])
        return [np.array([s[0]])] if np.all(s == s[0]) else []
    rays = []
    tol = 1e-11 * np.max(np.linalg.norm(a, axis=1))
    for rows in itertools.combinations(range(m), r - 1):
        sub = a[list(rows)]
        _, sv, vt = np.linalg.svd(sub)
        if sv[-1] < 1e-9 * sv[0]:
            continue  # these faces do not meet in a line
        v = vt[-1]
        for s in (1.0, -1.0):
            if np.all(a @ (s * v) >= -tol) and not any(np.dot(s * v, u) > 1 - 1e-10 for u in rays):
                rays.append(s * v)
    return rays


def _simplicial_cones(a):
    """Split ``{xi : a xi >= 0}`` into simplicial cones, each an (r x r) matrix of unit rays."""
    m, r = a.shape
    if m == r:
        v = np.linalg.inv(a)
        return [v / np.linalg.norm(v, axis=0)]
    rays = _extreme_rays(a)
    if len(rays) < r or np.linalg.matrix_rank(np.array(rays), tol=1e-9) < r:
        return []  # empty interior: measure zero
    if r <= 2:
        return [np.array(rays).T]
    if r != 3:
        raise NotImplementedError(f"non-simplicial cone in {r} dimensions")
    # a polygon on the sphere: order the rays around their mean and fan out from the first
    c = np.mean(rays, axis=0)
    c /= np.linalg.norm(c)
    e1 = rays[0] - np.dot(rays[0], c) * c
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(c, e1)
    rays.sort(key=lambda u: math.atan2(np.dot(u, e2), np.dot(u, e1)))
    return [np.array([rays[0], rays[i], rays[i + 1]]).T for i in range(1, len(rays) - 1)]


def _subdivide(v):
    """Bisect the longest edge until every pair of rays is closer than the angle cap."""
    r = v.shape[1]
    if r == 1:
        return [v]
    cos = v.T @ v
    i, j = np.unravel_index(np.argmin(cos), cos.shape)
    if cos[i, j] >= math.cos(_MAX_RAY_ANGLE):
        return [v]
    mid = v[:, i] + v[:, j]
    mid /= np.linalg.norm(mid)
    left, right = v.copy(), v.copy()
    left[:, i], right[:, j] = mid, mid
    return _subdivide(left) + _subdivide(right)


def _relu_moments(sigma, powers, resolution):
    """``E[prod_i relu(z_i)^p_i]`` for each power vector p (all p_i >= 1), ``z ~ N(0, sigma)``.

    With ``z = A xi`` the integrand is ``prod_i (a_i . xi)^p_i`` on the cone ``a xi >= 0``.
    On a simplicial cone with unit rays V, ``xi = rho V t`` (t on the standard simplex)
    gives ``|det V| (2 pi)^(-r/2) M_(n+r-1) int p(Vt) |Vt|^(-n-r) dt``, ``n = sum p``.
    """
    a = _factor(sigma)
    m, r = a.shape
    powers = np.asarray(powers)
    if r == 0 or np.any(np.linalg.norm(a, axis=1) <= 1e-150):
        return np.zeros(len(powers))  # some z_i = 0 identically, and relu(0) = 0
    q = max(4, int(round(_SIMPLEX_NODES * resolution)))
    t, wt = _simplex_rule(r, q)
    out = np.zeros(len(powers))
    for cone in _simplicial_cones(a):
        for v in _subdivide(cone):
            xi = t @ v.T  # (points, r)
            lin = xi @ a.T  # (points, m), >= 0 up to rounding
            norm = np.linalg.norm(xi, axis=1)
            det = abs(np.linalg.det(v))
            for j, p in enumerate(powers):
                n = int(p.sum())
                integrand = np.prod(np.maximum(lin, 0.0) ** p, axis=1) / norm ** (n + r)
                out[j] += det * _radial(n + r - 1) * (wt @ integrand)
    norms = (2 * math.pi) ** (-r / 2)
    return norms * out


def _node_scale(act, kern):
    """Node-count multiplier for one layer (fixed per layer: FD needs one quadrature rule)."""
    if act == "relu":
        return 1.0
    scale = max(1.0, float(np.max(np.diag(kern))) / _GH_VARIANCE[act])
    if scale > _MAX_NODE_SCALE:
        raise ValueError(
            f"pre-activation variance {np.max(np.diag(kern)):.3g} too large for this reference's "
            f"{act} quadrature (at most {_MAX_NODE_SCALE * _GH_VARIANCE[act]:.3g})"
        )
    return scale


def _moments(act, sigma, powers, resolution):
    if act == "relu":
        return _relu_moments(sigma, powers, resolution)
    return _smooth_moments(act, sigma, powers, resolution)


# -- g, T and the directional derivatives of g -------------------------------------------------
def _g_blocks(act, blocks, resolution):
    """``g`` for a batch of 1x1 or 2x2 kernel blocks (shape (nt, s, s))."""
    if act != "relu":
        return _smooth_pair(act, blocks, resolution)
    power = np.array([[2]]) if blocks.shape[1] == 1 else np.array([[1, 1]])
    return np.array([_relu_moments(b, power, resolution)[0] for b in blocks])


def _block_index(a, b):
    return [a] if a == b else [a, b]


def _g(act, kern, resolution):
    """``g_p(K)`` on the upper-triangle pairs p = (a <= b)."""
    return np.array(
        [
            _g_blocks(act, kern[np.ix_(idx, idx)][None], resolution)[0]
            for idx in (_block_index(a, b) for a, b in _pairs(len(kern)))
        ]
    )


def _four_point(act, kern, resolution):
    """``E[phi_a phi_b phi_c phi_d]`` as a dense (k,k,k,k) array, one subset at a time."""
    k = len(kern)
    by_subset = defaultdict(list)
    for tup in itertools.combinations_with_replacement(range(k), 4):
        by_subset[tuple(sorted(set(tup)))].append(tup)
    m4 = np.empty((k,) * 4)
    for subset, tups in by_subset.items():
        powers = [[tup.count(i) for i in subset] for tup in tups]
        values = _moments(act, kern[np.ix_(subset, subset)], powers, resolution)
        for tup, val in zip(tups, values, strict=True):
            for perm in set(itertools.permutations(tup)):
                m4[perm] = val
    return m4


def _richardson(d, ratio=4.0):
    """Extrapolate ``d[j] = D(h / 2^j)`` (error series in h^2); return (value, error estimate)."""
    table = [np.asarray(d, float)]
    for i in range(1, len(d)):
        prev = table[-1]
        table.append(prev[1:] + (prev[1:] - prev[:-1]) / (ratio**i - 1))
    err = abs(table[-1][-1] - table[-2][-1]) if len(d) > 1 else np.inf
    return float(table[-1][-1]), float(err)


def _step(kb, ub, rel_step, what):
    """Projected direction and finite-difference step for one kernel block.

    The direction is projected on the range of the block; a sizeable part outside it means
    the fluctuations leave the face of the PSD cone that K sits on, where g is not smooth.
    The step is a fraction of the distance along the direction to the nearest singular
    kernel, ``1 / max |eig(Kr^(-1/2) B Kr^(-1/2))|`` with ``Kr, B`` the block and the
    direction on the block's range: there g (and its quadrature) stops being analytic.
    """
    w, q = np.linalg.eigh(kb)
    scale = max(float(np.max(np.abs(w))), 1e-300)
    keep = w > _RANK_TOL * scale
    qr = q[:, keep]
    inner = qr.T @ ub @ qr
    proj = qr @ inner @ qr.T
    leak = np.linalg.norm(ub - proj)
    if leak > 1e-6 * (scale + np.linalg.norm(ub)):
        raise ValueError(
            f"the {what} direction leaves the range of a singular kernel block "
            f"(out-of-range norm {leak:.3g}): the 1/N expansion is not defined there"
        )
    norm = np.linalg.norm(inner, 2) if inner.size else 0.0
    if norm <= 1e-300 or norm <= 1e-14 * scale:
        return None, None
    root = 1.0 / np.sqrt(w[keep])
    reach = float(np.max(np.abs(np.linalg.eigvalsh(root[:, None] * inner * root[None, :]))))
    return proj, rel_step / reach


def _directional(act, kern, u, resolution, rel_step, levels, what):
    """First and second derivatives of ``g_p(K + t U)`` at t = 0, with error estimates."""
    pairs = _pairs(len(kern))
    d1, d2 = np.zeros(len(pairs)), np.zeros(len(pairs))
    e1, e2 = np.zeros(len(pairs)), np.zeros(len(pairs))
    for p, (a, b) in enumerate(pairs):
        idx = _block_index(a, b)
        kb = kern[np.ix_(idx, idx)]
        ub, h = _step(kb, u[np.ix_(idx, idx)], rel_step, what)
        if ub is None:
            continue
        ts = h / 2.0 ** np.arange(levels)
        tt = np.concatenate([[0.0], ts, -ts])
        f = _g_blocks(act, kb[None] + tt[:, None, None] * ub[None], resolution)
        f0, fp, fm = f[0], f[1 : levels + 1], f[levels + 1 :]
        d1[p], e1[p] = _richardson((fp - fm) / (2 * ts))
        d2[p], e2[p] = _richardson((fp - 2 * f0 + fm) / ts**2)
    return d1, d2, e1, e2


def _sym(vec, k):
    """The symmetric k x k matrix whose upper triangle (pair order) is ``vec``."""
    out = np.zeros((k, k))
    for val, (a, b) in zip(vec, _pairs(k), strict=True):
        out[a, b] = out[b, a] = val
    return out


def _layer(act, sw, sb, kern, k1, v, resolution, rel_step, levels):
    """One step of the recursion: (K, K1, V) at layer l -> layer l + 1, plus FD error bounds."""
    k = len(kern)
    pairs = _pairs(k)
    g = _g(act, kern, resolution)
    m4 = _four_point(act, kern, resolution)
    t = np.array([[m4[a, b, c, d] for c, d in pairs] for a, b in pairs]) - np.outer(g, g)
    jv = np.zeros((len(pairs), len(pairs)))
    hv = np.zeros(len(pairs))
    err_v, err_k1 = np.zeros((len(pairs), len(pairs))), np.zeros(len(pairs))
    lam, vecs = np.linalg.eigh((v + v.T) / 2)
    big = np.abs(lam) > 1e-12 * max(float(np.max(np.abs(lam))), 1e-300)
    for lm, um in zip(lam[big], vecs[:, big].T, strict=True):
        # weight the direction by sqrt|lam| so that the step logic sees its natural size
        s = math.sqrt(abs(lm))
        d1, d2, e1, e2 = _directional(act, kern, _sym(s * um, k), resolution, rel_step, levels, "V")
        sign = math.copysign(1.0, lm)
        jv += sign * np.outer(d1, d1)
        hv += sign * d2
        err_v += np.outer(e1, np.abs(d1)) + np.outer(np.abs(d1), e1)
        err_k1 += e2 / 2
    d1k, _, e1k, _ = _directional(act, kern, k1, resolution, rel_step, levels, "K1")
    kern_next = sb**2 + sw**2 * _sym(g, k)
    k1_next = sw**2 * _sym(d1k + hv / 2, k)
    v_next = sw**4 * (t + jv)
    return kern_next, k1_next, v_next, sw**2 * (err_k1 + e1k), sw**4 * err_v


def _check_inputs(activation, sigma_w, sigma_b, x, resolution, rel_step, levels):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    sw = np.asarray(sigma_w, dtype=float).ravel()
    sb = np.asarray(sigma_b, dtype=float).ravel()
    if len(sw) < 2 or len(sb) != len(sw):
        raise ValueError(f"sigma_w and sigma_b need depth + 1 >= 2 values each, got {len(sw)} and {len(sb)}")
    if not (np.all(np.isfinite(sw)) and np.all(np.isfinite(sb)) and np.all(sw >= 0) and np.all(sb >= 0)):
        raise ValueError(f"sigma_w and sigma_b must be finite and >= 0, got {sw} and {sb}")
    if not (resolution > 0 and 0 < rel_step <= 0.5 and int(levels) == levels >= 2):
        raise ValueError(
            f"need resolution > 0, 0 < rel_step <= 0.5 and integer levels >= 2, got "
            f"{resolution!r}, {rel_step!r}, {levels!r}"
        )
    xs = np.asarray(x, dtype=float)
    if xs.ndim == 1:
        xs = xs[:, None]
    if xs.ndim != 2 or xs.shape[0] < 1 or xs.shape[1] < 1 or not np.all(np.isfinite(xs)):
        raise ValueError(f"x must be a finite array of shape (k, d_in), got shape {np.shape(x)}")
    return sw, sb, xs


def reference_finite_width(
    activation, sigma_w, sigma_b, x, *, resolution=1.0, rel_step=0.1, levels=4, return_errors=False
):
    """Leading 1/N theory of a depth-L network: ``(K, K1, V)`` at the read-out.

    Parameters
    ----------
    activation : {"erf", "tanh", "relu", "linear"}
    sigma_w, sigma_b : sequence of float
        One value per layer, length depth + 1 (the last one is the read-out layer).
    x : array_like, shape (k, d_in)
        Inputs; a 1-D array means d_in = 1.
    resolution : float, optional
        Multiplies every quadrature node count (convergence checks).
    rel_step : float, optional
        Largest finite-difference step as a fraction of the distance to the PSD boundary.
    levels : int, optional
        Number of halved steps in the Richardson extrapolation.
    return_errors : bool, optional
        Also return rough error estimates of K1 and V (shapes as K1 and V) from the spread of
        the last two Richardson levels; they do not include the quadrature error, which the
        convergence checks (``python tests/deep_reference.py``) measure instead.

    Returns
    -------
    K : ndarray, shape (k, k)
        NNGP kernel ``K^(L+1)``.
    K1 : ndarray, shape (k, k)
        ``K1^(L+1)``: ``G2 = K + K1 / N + O(1/N^2)``.
    V : ndarray, shape (k, k, k, k)
        ``V[a, b, c, d] = V_ab,cd``: ``kappa4_abcd = (V_ab,cd + V_ac,bd + V_ad,bc) / N``.
    """
    sw, sb, xs = _check_inputs(activation, sigma_w, sigma_b, x, resolution, rel_step, levels)
    levels = int(levels)
    k, d_in = xs.shape
    pairs = _pairs(k)
    kern = sb[0] ** 2 + sw[0] ** 2 * (xs @ xs.T) / d_in
    k1 = np.zeros((k, k))
    v = np.zeros((len(pairs), len(pairs)))
    err_k1, err_v = np.zeros(len(pairs)), np.zeros_like(v)
    for layer in range(1, len(sw)):
        # a rough total: earlier layers' finite-difference errors are simply added
        res = resolution * _node_scale(activation, kern)
        kern, k1, v, ek, ev = _layer(activation, sw[layer], sb[layer], kern, k1, v, res, rel_step, levels)
        err_k1, err_v = err_k1 + ek, err_v + ev
    if return_errors:
        return kern, k1, _dense(v, k), _sym(err_k1, k), _dense(err_v, k)
    return kern, k1, _dense(v, k)


def _dense(v, k):
    """The (k,k,k,k) array of a matrix over pairs: ``out[a,b,c,d] = v[(a,b), (c,d)]``."""
    pairs = _pairs(k)
    out = np.empty((k,) * 4)
    for p, (a, b) in enumerate(pairs):
        for q, (c, d) in enumerate(pairs):
            for i, j in {(a, b), (b, a)}:
                for m, n in {(c, d), (d, c)}:
                    out[i, j, m, n] = v[p, q]
    return out


def kappa4(v, width):
    """Leading connected four-point function ``(V_ab,cd + V_ac,bd + V_ad,bc) / N`` (dense)."""
    return (v + v.transpose(0, 2, 1, 3) + v.transpose(0, 3, 2, 1)) / width


#: Cases of the convergence check (``python tests/deep_reference.py``).
_X3 = np.array([[-0.5], [0.3], [0.9]])
_X2 = np.array([[0.5, -0.2], [-0.3, 0.8], [0.6, 0.6], [0.1, 0.2]])
CONVERGENCE_CASES = {
    "erf L=3 k=3": ("erf", [1.5] * 4, [0.3] * 4, _X3),
    "tanh L=3 k=3": ("tanh", [1.5] * 4, [0.3] * 4, _X3),
    "relu L=2 k=3": ("relu", [1.2, 1.3, 1.1], [0.2, 0.4, 0.1], _X2[:3]),
    "tanh L=2 k=4 (large variances)": ("tanh", [2.0, 1.6, 1.5], [0.1, 0.3, 0.2], 1.5 * _X2),
    "erf L=2 k=4 (large variances)": ("erf", [2.0, 1.6, 1.5], [0.1, 0.3, 0.2], 1.5 * _X2),
    "relu L=2 k=4 (large variances)": ("relu", [2.0, 1.6, 1.5], [0.1, 0.3, 0.2], 1.5 * _X2),
    "linear L=2 k=4": ("linear", [1.2, 1.1, 0.9], [0.3, 0.2, 0.1], _X2),
}


def _convergence_report():
    """Largest change of K, K1, V (relative to each one's largest entry) under refinement."""
    variations = {
        "nodes x1.5": {"resolution": 1.5},
        "step / 2": {"rel_step": 0.05},
        "levels + 1": {"levels": 5},
    }
    for name, case in CONVERGENCE_CASES.items():
        base = reference_finite_width(*case)
        parts = []
        for label, kwargs in variations.items():
            other = reference_finite_width(*case, **kwargs)
            # K1 vanishes for linear nets: there its changes are measured against K
            scales = [np.max(np.abs(a)) for a in base]
            scales[1] = max(scales[1], 1e-6 * scales[0])
            rel = [np.max(np.abs(a - b)) / s for a, b, s in zip(base, other, scales, strict=True)]
            parts.append(f"{label}: " + " ".join(f"{r:.0e}" for r in rel))
        print(f"{name:34s} (K K1 V)  " + " | ".join(parts))


if __name__ == "__main__":
    _convergence_report()
