"""The sampler against exact theory (independent formulas in tests/reference.py)."""

import numpy as np
import pytest
from conftest import XSET_ERF, assert_z
from reference import exact_depth1, kernel_closed_form

import nnqft

KERNEL_CASES = [
    ("erf", XSET_ERF[:, None], 1.0, 1.0),
    ("relu", XSET_ERF[:, None], 1.0, 0.5),
    ("gauss", np.array([[0.0, 0.3], [0.5, -0.2], [0.6, 0.4]]), 1.0, 0.3),
    ("cos", np.array([[0.0], [0.4], [1.3]]), 1.5, 0.7),
    ("linear", np.array([[0.5, 1.0], [-1.0, 0.2]]), 0.9, 0.4),
]


@pytest.mark.parametrize("activation,x,sw,sb", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
@pytest.mark.parametrize("width", [1, 3, 50])
def test_g2_is_the_nngp_kernel_at_every_width(activation, x, sw, sb, width):
    arch = nnqft.Architecture(activation, width=width, d_in=x.shape[1], sigma_w=sw, sigma_b=sb)
    corr = nnqft.sample(arch, x, 40_000, orders=(2,), seed=11, threads=2)
    assert_z(corr.mean(2), corr.stderr(2), kernel_closed_form(activation, x, sw, sb))


EXACT_CASES = [  # activation, x, sigma_w, sigma_b
    ("erf", XSET_ERF[::2], 1.0, 1.0),
    ("relu", np.array([0.2, 0.7, 1.2]), 1.0, 0.0),
    ("relu", np.array([-0.8, 0.3, 1.0]), 1.3, 0.6),
    ("cos", np.array([0.0, 0.5, 1.5]), 1.0, 0.5),
    ("gauss", np.array([-0.4, 0.1, 0.3]), 0.5, 0.2),
    ("erf", np.array([[0.3, -0.5], [1.0, 0.2], [-0.4, -0.9]]), 1.2, 0.8),
    ("cos", np.array([[0.3, -0.5], [1.0, 0.2], [-0.4, -0.9]]), 1.0, 0.0),
    # Gauss-net tails are log-normal: keep Var z small so f^6 has a finite-looking variance
    ("gauss", np.array([[0.3, -0.2], [0.1, 0.2]]), 0.6, 0.2),
]


@pytest.mark.parametrize("activation,x,sw,sb", EXACT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(EXACT_CASES)])
@pytest.mark.parametrize("width", [2, 5])
@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_depth1_correlators_are_exact(activation, x, sw, sb, width, estimator):
    x = np.atleast_2d(x.T).T
    arch = nnqft.Architecture(activation, width=width, d_in=x.shape[1], sigma_w=sw, sigma_b=sb)
    corr = nnqft.sample(arch, x, 60_000, orders=(2, 4, 6), estimator=estimator, seed=4,
                        threads=2)
    ref = exact_depth1(activation, x, width, sw, sb)
    for n in (2, 4, 6):
        assert_z(corr.mean(n), corr.stderr(n), ref[f"G{n}"])
    for n in (4, 6):
        value, err = corr.connected(n)
        assert_z(value, err, ref[f"K{n}"])
    # the test has power: the free theory (kappa_4 = 0) is rejected at > 5 sigma, and so
    # are a wrong normalisation of kappa_4 (by 2 either way) wherever the run resolves it
    value, err = corr.connected(4)
    dof = len(value)

    def rejected(alternative):
        return np.sum(((value - alternative) / err) ** 2) > dof + 5 * np.sqrt(2 * dof)

    # Only where the run resolves kappa_4 (non-centrality sum (K4/err)^2 well above the
    # threshold): with the plain estimator at width 5 it is not, and the check passed
    # for about half of all seeds on either random stream.
    if np.sum((ref["K4"] / err) ** 2) > 2 * (dof + 5 * np.sqrt(2 * dof)):
        assert rejected(0.0)
    if estimator == "conditional":  # the plain estimator's kappa4 errors are ~10x larger
        assert rejected(2 * ref["K4"]) and rejected(ref["K4"] / 2)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_deep_relu_single_input(depth, estimator):
    # narrower deep ReLU nets are log-normal-like: at width 10 the Hill tail index of
    # either sampler scatters around 4 with the seed, and the order-4 warning may fire
    width = 20
    arch = nnqft.Architecture("relu", width=width, depth=depth, sigma_w=np.sqrt(2), sigma_b=0.0)
    corr = nnqft.sample(arch, [[1.0]], 100_000, orders=(2, 4), estimator=estimator, seed=5)
    g2 = 2.0 / 1.0 * 1.0  # sigma_w^2 x^2 / d at every layer with C_W = 2 (criticality)
    assert_z(corr.mean(2), corr.stderr(2), [g2 * 1.0 if depth else g2])
    assert_z(corr.mean(4), corr.stderr(4), [3 * g2**2 * (1 + 5 / width) ** depth])


ODD_CASES = [  # activation, sigma_w, sigma_b: relu, gauss and cos are not odd functions
    ("erf", 1.0, 1.0), ("relu", 1.0, 0.6), ("cos", 1.0, 0.5), ("gauss", 0.5, 0.3),
]


# The Gauss-net's Hill tail index sits near 7 here (6.1 at seed 1 on stream version 2):
# the order-7 tail warning is seed-dependent; the z-tests are what is checked.
@pytest.mark.filterwarnings("ignore::nnqft.warnings.UnreliableErrorWarning")
@pytest.mark.parametrize("activation,sw,sb", ODD_CASES, ids=[c[0] for c in ODD_CASES])
def test_odd_orders_vanish(activation, sw, sb):
    # odd moments vanish only through the sign symmetry of the read-out (W1, b1): a
    # read-out drawn or summed wrongly shows here for the non-odd activations (Gauss-net
    # with light tails: sigma_w, sigma_b small, as the design asks of Monte Carlo tests)
    x = XSET_ERF * (0.5 if activation == "gauss" else 1.0)
    arch = nnqft.Architecture(activation, width=3, sigma_w=sw, sigma_b=sb)
    corr = nnqft.sample(arch, x, 20_000, orders=(1, 2, 3, 5, 7), seed=1, threads=2)
    for n in (1, 3, 5, 7):
        assert_z(corr.mean(n), corr.stderr(n), 0.0)
    # ... and the even order next to them is resolved, so the bound means something
    assert np.all(corr.mean(2) > 10 * corr.stderr(2))


def test_conditional_odd_orders_vanish_identically():
    # given the last hidden layer the output is a centred Gaussian: no odd moment at all
    arch = nnqft.Architecture("relu", width=3, sigma_b=0.6)
    cond = nnqft.sample(arch, XSET_ERF, 2_000, orders=(3, 4), estimator="conditional", seed=1)
    assert np.all(cond.mean(3) == 0)


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_orders_7_and_8_zero_bias_relu(estimator):
    # sigma_b = 0, positive inputs: every net is f = A x with A = sum_j W1_j relu(W0_j);
    # exact G8 = 105 (sigma_w^2 x^2 / 2)^4 prod over width of the relu moments (theory.exact)
    width = 5
    arch = nnqft.Architecture("relu", width=width, sigma_b=0.0)
    x = np.array([0.5, 1.0])
    corr = nnqft.sample(arch, x, 200_000, orders=(2, 7, 8), estimator=estimator, seed=8,
                        threads=2)
    g8 = nnqft.exact(arch, x, 8)
    assert_z(corr.mean(8), corr.stderr(8), g8)
    assert_z(corr.mean(7), corr.stderr(7), 0.0)
    # independent check of the exact value at one tuple: E A^8 from the moments of
    # relu(w) (E relu(w)^n = 1/2, 3/2, 15/2, 105/2 for n = 2, 4, 6, 8), N = 5, sigma_w = 1
    # A = (1/sqrt N) sum_j w_j r_j with w_j ~ N(0, 1): E A^8 by the multinomial over j
    m = {0: 1.0, 2: 0.5, 4: 1.5, 6: 7.5, 8: 52.5}  # E relu(w)^n
    ew = {0: 1.0, 2: 1.0, 4: 3.0, 6: 15.0, 8: 105.0}  # E w^n
    from itertools import product

    ea8 = sum(np.prod([ew[p] * m[p] for p in parts]) * _multinomial(8, parts)
              for parts in product((0, 2, 4, 6, 8), repeat=width) if sum(parts) == 8) / width**4
    assert g8[-1] == pytest.approx(ea8 * 1.0**8, rel=1e-12)  # tuple (1,...,1): x = 1


def _multinomial(n, parts):
    from math import factorial

    out = factorial(n)
    for p in parts:
        out //= factorial(p)
    return out


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_bit_identical_for_any_thread_count(threads, estimator):
    arch = nnqft.Architecture("tanh", width=7, depth=2)
    ref = nnqft.sample(arch, XSET_ERF, 3_000, seed=9, threads=1, estimator=estimator)
    corr = nnqft.sample(arch, XSET_ERF, 3_000, seed=9, threads=threads, estimator=estimator)
    assert corr == ref
    np.testing.assert_array_equal(corr.mean(6), ref.mean(6))


@pytest.mark.parametrize("estimator", ["plain", "conditional"])
def test_split_and_merge_equals_one_run(estimator):
    arch = nnqft.Architecture("erf", width=6)
    kw = dict(orders=(2, 4), estimator=estimator, seed=4, threads=2)
    whole = nnqft.sample(arch, XSET_ERF, 10_000, **kw)
    a = nnqft.sample(arch, XSET_ERF, 3_200, **kw)
    b = nnqft.sample(arch, XSET_ERF, 6_800, start=3_200, **kw)
    c = nnqft.sample(arch, XSET_ERF, 3_600, start=6_400, **kw)
    b1 = nnqft.sample(arch, XSET_ERF, 3_200, start=3_200, **kw)
    for merged in (a + b, b + a, (a + b1) + c, a + (c + b1)):
        assert merged == whole
        np.testing.assert_array_equal(merged.mean(4), whole.mean(4))
        np.testing.assert_array_equal(merged.connected(4)[1], whole.connected(4)[1])
    assert merged.n_networks == 10_000


def test_merge_refuses_mismatch_and_overlap():
    arch = nnqft.Architecture("erf", width=6)
    a = nnqft.sample(arch, XSET_ERF, 640, orders=(2,), seed=4)
    with pytest.raises(ValueError, match="overlapping"):
        a + a
    with pytest.raises(ValueError, match="seed"):
        a + nnqft.sample(arch, XSET_ERF, 640, orders=(2,), seed=5, start=640)
    with pytest.raises(ValueError, match="architecture"):
        a + nnqft.sample(arch.replace(width=7), XSET_ERF, 640, orders=(2,), seed=4, start=640)


def test_seeds_differ_and_repeat():
    arch = nnqft.Architecture("erf", width=6)
    a = nnqft.sample(arch, XSET_ERF, 1000, orders=(2,), seed=1)
    assert a == nnqft.sample(arch, XSET_ERF, 1000, orders=(2,), seed=1)
    assert not np.array_equal(a.mean(2), nnqft.sample(arch, XSET_ERF, 1000, orders=(2,),
                                                      seed=2).mean(2))


def test_progress_callback_errors_propagate():
    arch = nnqft.Architecture("erf", width=200)
    config = nnqft._plan.core_config(arch, XSET_ERF[:, None], [1, 2], "plain", (2,), [], 32, 64)

    def boom(done):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        nnqft._core.sample(config, 0, 10**7, 2, boom)


def test_progress_bar_reaches_the_total_and_stays_quiet_off_a_terminal(capfd):
    # stderr is captured (not a terminal): a final line with the whole count, not a flood
    arch = nnqft.Architecture("erf", width=8)
    nnqft.sample(arch, XSET_ERF, 4096, orders=(2,), seed=1, threads=2, progress=True)
    lines = [ln for ln in capfd.readouterr().err.replace("\r", "\n").splitlines() if ln.strip()]
    assert lines[-1].startswith("sampling: 100%") and "4.10k/4.10k" in lines[-1]
    assert len(lines) <= 3


def test_a_progress_callable_counts_the_networks_of_an_unchunked_run():
    arch = nnqft.Architecture("erf", width=8)
    seen: list[int] = []
    nnqft.sample(arch, XSET_ERF, 4096, orders=(2,), seed=1, threads=2, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == 4096


def test_the_progress_counter_of_chunks_moves_on_from_where_each_chunk_began():
    # the chunks of a run share one counter; the core reports networks done per call
    from nnqft._engine import core_hook, progress_counter

    seen: list[int] = []
    with progress_counter(seen.append, total=500, initial=100) as counter:
        first = core_hook(counter)
        first(30)
        first(250)
        second = core_hook(counter)
        second(120)
    assert seen == [130, 350, 470] and counter.n == 470
    with progress_counter(False, total=500) as counter:
        assert counter is None and core_hook(counter) is None


def test_sample_config_takes_keywords_only():
    from nnqft import _core

    kwargs = dict(activation="erf", width=4, d_in=1, depth=1, sigma_w=[1.0, 1.0],
                  sigma_b=[1.0, 1.0], uniform_weights=False, x=np.zeros((2, 1)), key=[1, 2],
                  estimator="plain", degrees=[2], shift=[], block_size=32, n_bins=64)
    _core.SampleConfig(**kwargs)
    with pytest.raises(TypeError, match="incompatible constructor arguments"):
        _core.SampleConfig(*kwargs.values())
