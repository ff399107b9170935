"""The Gram-chain sampler (physics-deep.md §1) against the explicit-weights path, exact
finite-width values, an independent numpy implementation and its own contracts."""

import itertools
import math

import numpy as np
import pytest
from conftest import XSET_ERF, assert_z
from scipy import special
from test_rng import PHI, draw, numpy_network

import nnqft
from nnqft import _core
from nnqft.sampling import sample_grid

#: PsdFactor::kRankTolerance (cpp/include/nnqft/psd_factor.hpp)
RANK_TOLERANCE = 1e-12


def assert_same_distribution(a, b, values, bound=5.0):
    """Two independent samples agree: |diff| / sqrt(se_a^2 + se_b^2) < bound."""
    for (va, ea), (vb, eb) in zip(values(a), values(b), strict=True):
        z = (va - vb) / np.sqrt(ea**2 + eb**2)
        assert np.max(np.abs(z)) < bound, f"max |z| = {np.max(np.abs(z)):.2f}"


def g2_g4_k4(corr):
    return [(corr.mean(2), corr.stderr(2)), (corr.mean(4), corr.stderr(4)), corr.connected(4)]


# -- in distribution: Gram chain = explicit weights --------------------------------------

DEEP_CASES = [
    dict(activation="erf", width=6, depth=4, sigma_w=1.6, sigma_b=0.2),
    dict(activation="tanh", width=5, d_in=2, depth=3, sigma_w=[1.2, 1.8, 0.9, 1.1],
         sigma_b=[0.3, 0.1, 0.5, 0.2]),
    dict(activation="relu", width=8, depth=2, sigma_w=1.4, sigma_b=0.4),
    dict(activation="linear", width=10, d_in=2, depth=2, sigma_w=1.1, sigma_b=0.6),
]


@pytest.mark.parametrize("case", DEEP_CASES, ids=lambda c: f"{c['activation']}-L{c['depth']}")
def test_gram_equals_weights_in_distribution(case):
    arch = nnqft.Architecture(**case)
    x = np.random.default_rng(1).normal(size=(3, arch.d_in))
    kw = dict(orders=(2, 4), estimator="conditional", threads=2)
    gram = nnqft.sample(arch, x, 20_000, seed=1, sampler="gram", **kw)
    weights = nnqft.sample(arch, x, 20_000, seed=2, sampler="weights", **kw)
    assert gram.meta["sampler"] == "gram" and weights.meta["sampler"] == "weights"
    assert_same_distribution(gram, weights, g2_g4_k4)


def test_gram_equals_weights_plain_estimator_to_order_6():
    arch = nnqft.Architecture("erf", width=5, d_in=2, depth=3, sigma_w=1.5, sigma_b=0.3)
    x = np.random.default_rng(2).normal(size=(2, 2))
    kw = dict(orders=(2, 3, 4, 6), threads=2)
    gram = nnqft.sample(arch, x, 40_000, seed=3, sampler="gram", **kw)
    weights = nnqft.sample(arch, x, 40_000, seed=4, sampler="weights", **kw)
    assert_same_distribution(gram, weights, lambda c: [
        (c.mean(n), c.stderr(n)) for n in (2, 3, 4, 6)] + [c.connected(4), c.connected(6)])


def test_more_inputs_than_width_plus_one():
    """k = 6 inputs at N = 2: kernels of rank <= 3 < k, no NaN, same law as the weights."""
    arch = nnqft.Architecture("erf", width=2, depth=3, sigma_w=1.3, sigma_b=0.4)
    kw = dict(orders=(2, 4), estimator="conditional", threads=2)
    gram = nnqft.sample(arch, XSET_ERF, 20_000, seed=5, sampler="gram", **kw)
    weights = nnqft.sample(arch, XSET_ERF, 20_000, seed=6, sampler="weights", **kw)
    for values, errors in g2_g4_k4(gram):
        assert np.all(np.isfinite(values)) and np.all(np.isfinite(errors))
    assert_same_distribution(gram, weights, g2_g4_k4)


# -- exact values at depth >= 2 -----------------------------------------------------------

def pair_sums(k2, k):
    """sum over the 3 pairings of K_ab K_cd on the order-4 tuples."""
    idx = {t: i for i, t in enumerate(itertools.combinations_with_replacement(range(k), 2))}
    out = []
    for a, b, c, d in itertools.combinations_with_replacement(range(k), 4):
        out.append(sum(k2[idx[tuple(sorted(p))]] * k2[idx[tuple(sorted(q))]]
                       for p, q in (((a, b), (c, d)), ((a, c), (b, d)), ((a, d), (b, c)))))
    return np.array(out)


@pytest.mark.parametrize("activation,ratio,d_in", [("relu", 5, 1), ("linear", 2, 2)])
def test_zero_bias_exact_finite_width(activation, ratio, d_in):
    """G4 = (1 + c/N)^L sum_3 K K exactly: c = 5 for ReLU on a ray (every kernel of rank
    1), c = 2 for linear nets (a Wishart chain), physics-deep.md §3."""
    width, depth = 10, 3
    arch = nnqft.Architecture(activation, width=width, d_in=d_in, depth=depth, sigma_b=0.0,
                              sigma_w=[1.3, 1.5, 0.8, 1.1])
    x = np.array([[0.5], [1.0], [2.5]]) if d_in == 1 else np.array([[0.5, 1], [1, -1], [2, 0.3]])
    corr = nnqft.sample(arch, x, 40_000, orders=(2, 4), estimator="conditional", seed=7,
                        threads=2, sampler="gram")
    k2 = nnqft.kernel(arch, x)[np.triu_indices(3)]
    assert_z(corr.mean(2), corr.stderr(2), k2)
    assert_z(corr.mean(4), corr.stderr(4), (1 + ratio / width) ** depth * pair_sums(k2, 3))


def width1_depth2_erf(x, sw, sb, nodes=20):
    """E[C] and E[C_ab C_cd] of a width-1, depth-2 erf net with d_in = 1, by quadrature.

    z1 = sb0 u1 + sw0 x u2 and, given z1, z2 = sb1 v1 + sw1 erf(z1) v2 (the one neuron's
    rows are exactly these Gaussians): a 4-d Gauss-Hermite product rule in u and v.
    Arguments of erf stay below 1/sqrt(2) standard deviations per variable, where the
    rule converges geometrically.
    """
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    u1, u2, v1, v2 = np.meshgrid(t, t, t, t, indexing="ij", sparse=True)
    weight = np.einsum("i,j,k,l->ijkl", w, w, w, w)
    h2 = [special.erf(sb[1] * v1 + sw[1] * special.erf(sb[0] * u1 + sw[0] * xa * u2) * v2)
          for xa in x]
    pairs = list(itertools.combinations_with_replacement(range(len(x)), 2))
    c = {p: sb[2] ** 2 + sw[2] ** 2 * h2[p[0]] * h2[p[1]] for p in pairs}
    mean = np.array([(weight * c[p]).sum() for p in pairs])
    second = {(p, q): (weight * c[p] * c[q]).sum() for p in pairs for q in pairs}
    return mean, second


def test_width_one_depth_two_against_quadrature():
    """N = 1, k = 3: the deep kernel has rank <= 2 < k; G2, G4 and kappa4 exact."""
    x = np.array([-0.8, 0.3, 1.0])
    sw, sb = (0.45, 0.6, 1.0), (0.3, 0.35, 0.2)
    mean, second = width1_depth2_erf(x, sw, sb)
    g4 = []
    for a, b, c, d in itertools.combinations_with_replacement(range(3), 4):
        g4.append(sum(second[tuple(sorted(p)), tuple(sorted(q))]
                      for p, q in (((a, b), (c, d)), ((a, c), (b, d)), ((a, d), (b, c)))))
    g4 = np.array(g4)
    arch = nnqft.Architecture("erf", width=1, depth=2, sigma_w=sw, sigma_b=sb)
    corr = nnqft.sample(arch, x, 100_000, orders=(2, 4), estimator="conditional", seed=8,
                        threads=2, sampler="gram")
    assert_z(corr.mean(2), corr.stderr(2), mean)
    assert_z(corr.mean(4), corr.stderr(4), g4)
    k4, dk4 = corr.connected(4)
    assert_z(k4, dk4, g4 - pair_sums(mean, 3))


def test_vanishing_kernel_is_rank_zero():
    """sigma_w = sigma_b = 0 in a middle layer: G = 0, z = 0, C = sigma_b,L^2 exactly."""
    arch = nnqft.Architecture("erf", width=5, depth=3, sigma_w=[1.0, 0.0, 1.0, 1.0],
                              sigma_b=[0.5, 0.0, 0.0, 0.7])
    corr = nnqft.sample(arch, XSET_ERF, 640, orders=(2, 4), estimator="conditional", seed=1,
                        sampler="gram")
    np.testing.assert_allclose(corr.mean(2), 0.49, rtol=1e-14)
    np.testing.assert_allclose(corr.connected(4)[0], 0.0, atol=1e-14)


# -- the stream layout, against an independent numpy implementation ----------------------

def numpy_psd_factor(g):
    """Pivoted Cholesky of the correlation matrix, as documented in psd_factor.hpp."""
    k = len(g)
    diag = np.diag(g)
    d = np.where(diag > 0, np.sqrt(np.maximum(diag, 0)), 0.0)
    active = d > 0
    s = np.zeros((k, k))
    s[np.ix_(active, active)] = g[np.ix_(active, active)] / np.outer(d[active], d[active])
    s[active, active] = 1.0
    chosen = np.zeros(k, dtype=bool)
    columns = []
    while True:
        left = np.where(chosen, -np.inf, np.diag(s))
        p = int(np.argmax(left))
        if left[p] <= RANK_TOLERANCE:
            break
        chosen[p] = True
        f = np.where(chosen, 0.0, s[:, p] / np.sqrt(s[p, p]))
        f[p] = np.sqrt(s[p, p])
        s -= np.outer(f, f)
        columns.append(d * f)
    return np.array(columns).T.reshape(k, len(columns))


def numpy_gram_network(arch, x, key, net, estimator):
    n, sw, sb = arch.width, arch.sigma_w_layers, arch.sigma_b_layers
    w = draw(key, net, 0, 0, n * arch.d_in, sw[0] / math.sqrt(arch.d_in)).reshape(n, arch.d_in)
    h = PHI[arch.activation](x @ w.T + draw(key, net, 0, 1, n, sb[0]))
    for layer in range(1, arch.depth):
        a = numpy_psd_factor(sb[layer] ** 2 + sw[layer] ** 2 / n * h @ h.T)
        xi = draw(key, net, layer, 0, a.shape[1] * n, 1.0).reshape(a.shape[1], n)
        h = PHI[arch.activation](a @ xi)  # neuron i of component s: normal s N + i
    L = arch.depth
    if estimator == "plain":
        return h @ draw(key, net, L, 0, n, sw[L] / math.sqrt(n)) + draw(key, net, L, 1, 1, sb[L])[0]
    c = sb[L] ** 2 + sw[L] ** 2 / n * h @ h.T
    return c[np.triu_indices(len(x))]


LAYOUT_CASES = [
    (dict(activation="erf", width=7, d_in=2, depth=3, sigma_w=[1.0, 1.5, 0.7, 2.0],
          sigma_b=[0.1, 0.4, 0.2, 0.3]), np.random.default_rng(3).normal(size=(4, 2))),
    (dict(activation="relu", width=5, depth=2, sigma_b=0.0), np.array([[0.3], [1.0], [2.0]])),
    (dict(activation="tanh", width=2, depth=4, sigma_b=0.5), XSET_ERF[:5, None]),
]


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
@pytest.mark.parametrize("case,x", LAYOUT_CASES, ids=["erf-d2", "relu-ray-rank1", "tanh-k>N"])
def test_network_matches_numpy_reimplementation(case, x, estimator):
    arch = nnqft.Architecture(**case)
    key = np.random.SeedSequence(5).generate_state(2, np.uint64)
    config = nnqft._plan.core_config(arch, x, key, estimator, (2,), [], 32, 64, sampler="gram")
    assert config.sampler == "gram"
    ids = [0, 1, 2**40 + 3]
    for row, net in zip(_core.evaluate(config, ids), ids, strict=True):
        np.testing.assert_allclose(row, numpy_gram_network(arch, x, key, net, estimator),
                                   rtol=1e-11, atol=1e-13)


PATH_CASES = [  # width 37: the vector bodies of every kernel run, and their tails
    (dict(activation="erf", width=37, d_in=2, depth=3, sigma_w=[1.0, 1.5, 0.7, 2.0],
          sigma_b=[0.1, 0.4, 0.2, 0.3]), "gram"),
    (dict(activation="relu", width=37, depth=2, sigma_b=0.3), "gram"),
    (dict(activation="tanh", width=37, d_in=3, depth=2, sigma_b=0.2), "weights"),
    (dict(activation="cos", width=37, d_in=1, sigma_b=[0.0, 0.4]), "weights"),
    (dict(activation="erf", width=37, d_in=2, depth=2, weight_dist="uniform"), "weights"),
]


@pytest.mark.parametrize("case,sampler", PATH_CASES,
                         ids=lambda v: v if isinstance(v, str) else v["activation"])
def test_every_kernel_path_draws_the_documented_networks(kernel_path, case, sampler):
    """Whole networks on each instruction-set path against the numpy reimplementations.

    test_kernels checks the kernels one by one on every path; sampling runs on the
    automatic path only, so this is where the evaluator's use of a non-default path
    (strided first-layer affine, Philox, Box-Muller, uniforms, activations, h h^T,
    A xi, the read-out) meets an independent reference.
    """
    assert _core.kernel_path() == kernel_path
    arch = nnqft.Architecture(**case)
    x = np.random.default_rng(6).normal(size=(4, arch.d_in))
    key = np.random.SeedSequence(11).generate_state(2, np.uint64)
    reference = numpy_gram_network if sampler == "gram" else numpy_network
    for estimator in ("plain",) if arch.weight_dist == "uniform" else ("plain", "conditional"):
        config = nnqft._plan.core_config(arch, x, key, estimator, (2,), [], 32, 64,
                                        sampler=sampler)
        ids = [0, 5, 2**33 + 1]
        for row, net in zip(_core.evaluate(config, ids), ids, strict=True):
            np.testing.assert_allclose(row, reference(arch, x, key, net, estimator),
                                       rtol=1e-11, atol=1e-13)


# -- determinism, merging, grids ----------------------------------------------------------

@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_bit_identical_for_any_thread_count_and_split(threads, estimator):
    arch = nnqft.Architecture("tanh", width=9, d_in=2, depth=3, sigma_b=0.3)
    x = np.random.default_rng(4).normal(size=(3, 2))
    kw = dict(orders=(2, 4), estimator=estimator, seed=9, sampler="gram")
    whole = nnqft.sample(arch, x, 3_200, threads=1, **kw)
    assert nnqft.sample(arch, x, 3_200, threads=threads, **kw) == whole
    a = nnqft.sample(arch, x, 1_024, threads=threads, **kw)
    b = nnqft.sample(arch, x, 2_176, start=1_024, threads=threads, **kw)
    for merged in (a + b, b + a):
        assert merged == whole
        np.testing.assert_array_equal(merged.connected(4)[1], whole.connected(4)[1])


def test_auto_picks_gram_for_deep_gaussian_nets_only():
    x = XSET_ERF[:3]
    deep = nnqft.Architecture("erf", width=4, depth=2)
    kw = dict(orders=(2,), seed=1)
    assert nnqft.sample(deep, x, 64, **kw) == nnqft.sample(deep, x, 64, sampler="gram", **kw)
    assert nnqft.sample(deep, x, 64, **kw).meta["sampler"] == "gram"
    uniform = deep.replace(weight_dist="uniform")
    assert nnqft.sample(uniform, x, 64, **kw).meta["sampler"] == "weights"
    shallow = nnqft.Architecture("erf", width=4)  # depth 1: both draw the same networks
    one = nnqft.sample(shallow, x, 64, sampler="gram", **kw)
    assert one.meta["sampler"] == "weights" and one == nnqft.sample(shallow, x, 64, **kw)


def test_uniform_weights_refused():
    arch = nnqft.Architecture("erf", width=4, depth=2, weight_dist="uniform")
    with pytest.raises(ValueError, match="sampler='gram' needs Gaussian weights.*uniform"):
        nnqft.sample(arch, XSET_ERF, 64, sampler="gram")
    with pytest.raises(ValueError, match="sampler must be one of .*'explicit'"):
        nnqft.sample(arch, XSET_ERF, 64, sampler="explicit")
    with pytest.raises(ValueError, match="gram sampler needs Gaussian weights"):  # the core too
        nnqft._plan.core_config(arch, XSET_ERF[:, None], [1, 2], "plain", (2,), [], 32, 64,
                               sampler="gram")


def test_merge_refused_across_samplers():
    arch = nnqft.Architecture("erf", width=4, depth=2)
    a = nnqft.sample(arch, XSET_ERF, 640, orders=(2,), seed=4, sampler="gram")
    b = nnqft.sample(arch, XSET_ERF, 640, orders=(2,), seed=4, start=640, sampler="weights")
    with pytest.raises(ValueError, match="different samplers.*'gram'.*'weights'.*distribution"):
        a + b
    assert a != nnqft.sample(arch, XSET_ERF, 640, orders=(2,), seed=4, sampler="weights")


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_sigma_grid_bit_identical_to_separate_runs(estimator):
    """Common random numbers on the Gram path, also where the rank changes along the
    grid (ReLU on a ray: rank 1 at sigma_b = 0, full rank otherwise)."""
    base = nnqft.Architecture("relu", width=5, depth=3, sigma_b=0.3)
    archs = [base.scaled("w", s) for s in (0.8, 1.4)] + [base.scaled("b", 0.0),
                                                         base.scaled("b", 0.9)]
    x = np.array([0.2, 0.7, 1.5])
    grid = sample_grid(archs, x, 1_600, orders=(2, 4), estimator=estimator, seed=8, threads=2,
                       sampler="gram")
    for a, corr in zip(archs, grid, strict=True):
        alone = nnqft.sample(a, x, 1_600, orders=(2, 4), estimator=estimator, seed=8,
                             sampler="gram")
        assert corr == alone and corr.meta["sampler"] == "gram"
        np.testing.assert_array_equal(corr.connected(4)[0], alone.connected(4)[0])


def test_sigma_flow_passes_the_sampler():
    arch = nnqft.Architecture("erf", width=5, depth=2, sigma_b=0.3)
    flow = nnqft.sigma_flow(arch, XSET_ERF[:4], [1.0, 1.5], n_networks=640, sampler="weights",
                            cutoff=10.0, with_exact=False, threads=1)
    assert flow.meta["sampler"] == "weights"
    assert nnqft.sigma_flow(arch, XSET_ERF[:4], [1.0, 1.5], n_networks=640, cutoff=10.0,
                            with_exact=False, threads=1).meta["sampler"] == "gram"


def test_command_line_sampler(tmp_path, capsys):
    from nnqft.cli import build_parser, main

    common = ["--activation", "tanh", "--width", "5", "--depth", "2", "--orders", "2",
              "--seed", "3", "--no-progress", "--threads", "1", "--n-networks", "640"]
    assert main(["sample", *common, "--sampler", "weights", "--out", str(tmp_path / "w")]) == 0
    assert main(["sample", *common, "--start", "640", "--out", str(tmp_path / "g")]) == 0
    weights, gram = nnqft.load(tmp_path / "w.npz"), nnqft.load(tmp_path / "g.npz")
    assert weights.meta["sampler"] == "weights" and gram.meta["sampler"] == "gram"
    assert weights == nnqft.sample(weights.arch, weights.x, 640, orders=(2,), seed=3,
                                   sampler="weights")
    assert "weights sampler" in capsys.readouterr().out
    status = main(["merge", str(tmp_path / "w.npz"), str(tmp_path / "g.npz"),
                   "--out", str(tmp_path / "m.npz")])
    assert status == 2 and "different samplers" in capsys.readouterr().err
    assert build_parser().parse_args(["flow", "--sampler", "gram", "--out", "f"]).sampler == "gram"


def test_cost_model_of_the_feasibility_check():
    """A run the explicit path could not finish in 30 days is feasible on the Gram chain."""
    from nnqft._plan import check_feasible

    arch = nnqft.Architecture("erf", width=10_000, depth=8)
    check_feasible(arch, 6, 84, 10**8, 2, 64, 32, "gram")
    with pytest.raises(ValueError, match="would take roughly .* days"):
        check_feasible(arch, 6, 84, 10**8, 2, 64, 32, "weights")
