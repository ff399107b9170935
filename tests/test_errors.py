"""Every bad input raises a clear ValueError/TypeError naming the argument, before any work."""

import numpy as np
import pytest

import nnqft

X = np.array([0.1, 0.5])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(activation="sigmoid"), ValueError, "activation.*'sigmoid'"),
    (dict(weight_dist="cauchy"), ValueError, "weight_dist.*'cauchy'"),
    (dict(width=0), ValueError, "width.*0"),
    (dict(width=2.5), TypeError, "width.*2.5"),
    (dict(depth=0), ValueError, "depth.*0"),
    (dict(d_in=0), ValueError, "d_in.*0"),
    (dict(sigma_w=-1.0), ValueError, "sigma_w.*-1"),
    (dict(sigma_b=-0.5), ValueError, "sigma_b.*-0.5"),
    (dict(sigma_b=float("nan")), ValueError, "sigma_b.*nan"),
    (dict(sigma_b=float("inf")), ValueError, "sigma_b.*inf"),
    (dict(sigma_w=float("inf")), ValueError, "sigma_w.*inf"),
    (dict(sigma_w=[1.0, 1.0, 1.0]), ValueError, "sigma_w.*one value per layer.*3"),
    (dict(sigma_w=[1.0]), ValueError, "sigma_w.*one value per layer.*1"),
    (dict(sigma_b=[1.0, 1.0, 1.0]), ValueError, "sigma_b.*one value per layer.*3"),
    (dict(sigma_w=[1.0, -1.0]), ValueError, "sigma_w.*-1"),
    (dict(sigma_b=[float("nan"), 1.0]), ValueError, "sigma_b.*nan"),
    (dict(sigma_b="1"), TypeError, "sigma_b"),
    (dict(activation="gauss", depth=2), ValueError, "gauss.*depth 1 only.*2"),
    (dict(activation="cos", depth=3), ValueError, "cos.*depth 1 only.*3"),
    # a 32-bit int in the core: pybind's "incompatible function arguments" before
    (dict(width=2**31), ValueError, r"width must be <= 2147483647, got 2147483648"),
    (dict(depth=2**40), ValueError, r"depth must be <= 100000"),
])
def test_bad_architecture(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nnqft.Architecture(**kwargs)


ARCH = nnqft.Architecture("erf", width=4)


@pytest.mark.parametrize("x,match", [
    (np.zeros((3, 2)), r"x must have shape \(k, d_in=1\), got \(3, 2\)"),
    # the index is the user's: x is 1-D here (d_in = 1)
    (np.array([0.1, np.nan]), r"x must be finite.*nan at x\[1\]$"),
    (np.array([0.1, np.inf]), r"x must be finite.*inf at x\[1\]$"),
    (np.zeros((0, 1)), "x must contain at least one input"),
    (np.zeros((2, 1, 1)), r"x must have shape.*\(2, 1, 1\)"),
    (np.array(["a", "b"]), "x must be a real numeric array"),
])
def test_bad_inputs_x(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nnqft.sample(ARCH, x, 10)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(n_networks=0), ValueError, "n_networks.*0"),
    (dict(n_networks=-5), ValueError, "n_networks.*-5"),
    (dict(n_networks=1.5), TypeError, "n_networks.*1.5"),
    (dict(n_networks=10**17), ValueError, "n_networks=10+.*days"),
    (dict(orders=(2, 9)), ValueError, r"orders.*\[9\]"),
    (dict(orders=(0,)), ValueError, r"orders.*\[0\]"),
    (dict(orders=()), ValueError, "orders"),
    (dict(orders=(4.5,)), TypeError, "orders.*4.5"),
    (dict(orders=("4",)), TypeError, "orders.*'4'"),
    (dict(orders="246"), TypeError, "orders.*'246'"),
    (dict(threads=0), ValueError, "threads.*0"),
    (dict(threads=-1), ValueError, "threads.*-1"),
    (dict(threads=1.0), TypeError, "threads.*1.0"),
    (dict(estimator="fancy"), ValueError, "estimator.*'fancy'"),
    (dict(start=5), ValueError, "start must be a multiple of block_size=32, got 5"),
    (dict(start=2**62), ValueError, "2\\*\\*62"),
    (dict(n_bins=48), ValueError, "n_bins must be a power of two, got 48"),
    (dict(n_bins=2**32), ValueError, r"n_bins must be <= 1048576, got 4294967296"),
    (dict(block_size=2**64), ValueError, r"block_size must be <= 2147483648, got 18446744073709551616"),
    (dict(seed=-3), ValueError, "seed.*-3"),
    (dict(seed=1.5), TypeError, "seed.*1.5"),
])
def test_bad_sample_arguments(kwargs, exc, match):
    args = dict(n_networks=10)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        nnqft.sample(ARCH, X, **args)


def test_too_much_memory_is_refused():
    x = np.linspace(-1, 1, 40)
    with pytest.raises(ValueError, match="GiB"):
        nnqft.sample(ARCH, x, 10, orders=(8,))


@pytest.mark.parametrize("arch,k,threads,sampler", [
    (nnqft.Architecture("erf", width=10**9), 1, 1, "auto"),  # ~97 GB at depth 1: was OOM-killed
    (nnqft.Architecture("relu", width=10**5, depth=2), 1, 1, "weights"),  # 10^10 weights
    (nnqft.Architecture("relu", width=10**9, depth=3), 2, 1, "gram"),  # k normals a neuron
    (nnqft.Architecture("erf", width=10**7), 50, 64, "auto"),  # 64 threads x 50 x 10^7
])
def test_network_memory_is_refused_before_sampling(arch, k, threads, sampler):
    with pytest.raises(ValueError, match=f"width {arch.width} .*GiB"):
        nnqft.sample(arch, np.linspace(-1, 1, k), 10, orders=(2,), threads=threads,
                     sampler=sampler)


def test_network_memory_estimate_is_tight():
    # The estimate mirrors the evaluator's buffers: width 10^7 at depth 1 measured 880 MB.
    from nnqft._plan import network_bytes
    assert network_bytes(nnqft.Architecture("erf", width=10**7), 1) == pytest.approx(
        1.1 * 880e6, rel=1e-6)
    deep = nnqft.Architecture("relu", width=3000, depth=2)
    assert network_bytes(deep, 4) > 235e6  # measured peak at 4 inputs


def test_conditional_needs_gaussian_readout():
    arch = nnqft.Architecture("erf", width=4, weight_dist="uniform")
    with pytest.raises(ValueError, match="Gaussian read-out"):
        nnqft.sample(arch, X, 10, estimator="conditional")


def test_arch_type_checked():
    with pytest.raises(TypeError, match="Architecture"):
        nnqft.sample({"activation": "erf"}, X, 10)


def test_unavailable_orders_are_named():
    corr = nnqft.sample(ARCH, X, 640, orders=(2, 6), seed=0)
    with pytest.raises(ValueError, match="available"):
        corr.mean(4)
    with pytest.raises(ValueError, match="connected"):
        corr.connected(6)  # plain kappa_6 needs G4 too


def test_error_bars_need_two_bins():
    corr = nnqft.sample(ARCH, X, 10, orders=(2,), seed=0)
    with pytest.raises(ValueError, match="at least 2 filled bins"):
        corr.stderr(2)
