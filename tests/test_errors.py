"""Every bad input raises a clear ValueError/TypeError naming the argument, before any work."""

import numpy as np
import pytest

import nnqft

X = np.array([0.1, 0.5])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(activation="sigmoid"), ValueError, "activation"),
    (dict(weight_dist="cauchy"), ValueError, "weight_dist"),
    (dict(width=0), ValueError, "width"),
    (dict(width=2.5), TypeError, "width"),
    (dict(depth=0), ValueError, "depth"),
    (dict(d_in=0), ValueError, "d_in"),
    (dict(sigma_w=-1.0), ValueError, "sigma_w"),
    (dict(sigma_b=float("nan")), ValueError, "sigma_b"),
    (dict(sigma_w=float("inf")), ValueError, "sigma_w"),
    (dict(sigma_w=[1.0, 1.0, 1.0]), ValueError, "one value per layer"),
    (dict(sigma_b="1"), TypeError, "sigma_b"),
    (dict(activation="gauss", depth=2), ValueError, "depth 1 only"),
    (dict(activation="cos", depth=3), ValueError, "depth 1 only"),
])
def test_bad_architecture(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nnqft.Architecture(**kwargs)


ARCH = nnqft.Architecture("erf", width=4)


@pytest.mark.parametrize("x,match", [
    (np.zeros((3, 2)), r"shape \(k, d_in=1\)"),
    (np.array([0.1, np.nan]), "finite"),
    (np.array([0.1, np.inf]), "finite"),
    (np.zeros((0, 1)), "at least one"),
    (np.zeros((2, 1, 1)), "shape"),
    (np.array(["a", "b"]), "numeric"),
])
def test_bad_inputs_x(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nnqft.sample(ARCH, x, 10)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(n_networks=0), ValueError, "n_networks"),
    (dict(n_networks=-5), ValueError, "n_networks"),
    (dict(n_networks=1.5), TypeError, "n_networks"),
    (dict(n_networks=10**17), ValueError, "days"),
    (dict(orders=(2, 9)), ValueError, "orders"),
    (dict(orders=(0,)), ValueError, "orders"),
    (dict(orders=()), ValueError, "orders"),
    (dict(threads=0), ValueError, "threads"),
    (dict(threads=1.0), TypeError, "threads"),
    (dict(estimator="fancy"), ValueError, "estimator"),
    (dict(start=5), ValueError, "multiple of block_size"),
    (dict(n_bins=48), ValueError, "power of two"),
    (dict(seed=-3), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
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
