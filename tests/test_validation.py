"""One rule for every integer and real argument, in every module (python/nnqft/_validation.py).

0-d arrays are scalars; bool, complex, str, None and (for integers) any float are a
TypeError naming the argument and the value; out of range, NaN or inf is a ValueError
naming the argument, the value and the limit.
"""

import re

import numpy as np
import pytest

import nnqft
from nnqft import frg
from nnqft.vertex import vertex_integral

X = np.array([0.1, 0.5])
ARCH = nnqft.Architecture("erf", width=4)
GAUSS = nnqft.Architecture("gauss", width=4)

# (name, call taking the value)
INTEGERS = [
    ("width", lambda v: nnqft.Architecture("erf", width=v)),
    ("depth", lambda v: nnqft.Architecture("erf", depth=v)),
    ("d_in", lambda v: nnqft.Architecture("erf", d_in=v)),
    ("n_networks", lambda v: nnqft.sample(ARCH, X, v, orders=(2,))),
    ("block_size", lambda v: nnqft.sample(ARCH, X, 64, orders=(2,), block_size=v)),
    ("threads", lambda v: nnqft.sample(ARCH, X, 64, orders=(2,), threads=v)),
    ("orders", lambda v: nnqft.sample(ARCH, X, 64, orders=(v,))),
    ("order", lambda v: nnqft.exact(ARCH, X, v)),
    ("n", lambda v: nnqft.neuron_moment(ARCH, X, v)),
    ("order", lambda v: vertex_integral(GAUSS, X, v)),
    ("num", lambda v: frg.integrate_flow(-1.0, d=1, sigma=1.0, truncation="phi4", num=v)),
]
REALS = [
    ("sigma_w", lambda v: nnqft.Architecture("erf", sigma_w=v)),
    ("sigma_b", lambda v: nnqft.Architecture("erf", sigma_b=[1.0, v])),
    ("cutoff", lambda v: vertex_integral(GAUSS, X, 4, v)),
    ("d", lambda v: frg.fixed_points(v)),
    ("u4", lambda v: frg.integrate_flow(v, d=1, sigma=1.0, truncation="phi4")),
    ("sigma", lambda v: frg.integrate_flow(-1.0, d=1, sigma=v, truncation="phi4")),
    ("u4_err", lambda v: frg.integrate_flow(-1.0, d=1, sigma=1.0, truncation="phi4", u4_err=v)),
]
ids = [f"{name}-{i}" for i, (name, _) in enumerate(INTEGERS)]
rids = [f"{name}-{i}" for i, (name, _) in enumerate(REALS)]


@pytest.mark.parametrize("name,call", INTEGERS, ids=ids)
@pytest.mark.parametrize("bad", [2.0, 2.5, np.float64(2.0), np.array(2.5), True, 2 + 0j, "2",
                                 None], ids=repr)
def test_integer_of_wrong_type_is_a_type_error(name, call, bad):
    if name == "threads" and bad is None:
        return  # None means "all available threads"
    with pytest.raises(TypeError, match=rf"\b{name}\b.*{re.escape(repr(bad))}"):
        call(bad)


@pytest.mark.parametrize("name,call", INTEGERS, ids=ids)
def test_integer_out_of_range_is_a_value_error_naming_the_limit(name, call):
    with pytest.raises(ValueError, match=rf"\b{name}\b must be >= \d+.*, got \[?-1"):
        call(-1)


@pytest.mark.parametrize("name,call", REALS, ids=rids)
@pytest.mark.parametrize("bad", [True, 1 + 0j, "1", np.array("1")], ids=repr)
def test_real_of_wrong_type_is_a_type_error(name, call, bad):
    with pytest.raises(TypeError, match=rf"\b{name}\b must be a (real )?number"):
        call(bad)


@pytest.mark.parametrize("name,call", REALS, ids=rids)
def test_nan_is_a_value_error(name, call):
    with pytest.raises(ValueError, match=rf"\b{name}\b must be finite.*got nan"):
        call(float("nan"))


def test_zero_d_arrays_are_scalars():
    arch = nnqft.Architecture("erf", width=np.array(10), depth=np.int64(2),
                              sigma_w=np.array(1.5), sigma_b=np.array([0.5, 1.0, 2.0]))
    assert arch == nnqft.Architecture("erf", width=10, depth=2, sigma_w=1.5,
                                      sigma_b=[0.5, 1.0, 2.0])
    assert type(arch.width) is int and arch.sigma_w == (1.5, 1.5, 1.5)
    np.testing.assert_array_equal(nnqft.exact(ARCH, X, np.array(4)), nnqft.exact(ARCH, X, 4))
    corr = nnqft.sample(ARCH, X, np.array(64), orders=np.array(2), seed=np.array(3),
                        threads=np.array(1))
    assert corr == nnqft.sample(ARCH, X, 64, orders=2, seed=3, threads=1)


def test_width_with_a_fraction_is_refused_not_truncated():
    with pytest.raises(TypeError, match=r"width must be an integer, got array\(10.5\)"):
        nnqft.Architecture(width=np.array(10.5))
    with pytest.raises(TypeError, match=r"pass int\(1000.0\)"):
        nnqft.Architecture(width=1000.0)


def test_limits_are_named():
    with pytest.raises(ValueError, match="threads must be <= 1024, got 2000"):
        nnqft.sample(ARCH, X, 64, threads=2000)
    with pytest.raises(ValueError, match="order must be <= 8, got 9"):
        nnqft.exact(ARCH, X, 9)
    with pytest.raises(ValueError, match="sigma_w must be >= 0.0, got -1"):
        nnqft.Architecture(sigma_w=-1)
    with pytest.raises(ValueError, match=r"cutoff must be > 0, got -2"):
        vertex_integral(GAUSS, X, 4, -2)
    assert vertex_integral(GAUSS, X, 4, np.inf).shape == (5,)  # +inf is a valid cutoff


@pytest.mark.parametrize("seed", [True, 1.5, 2.0, 1 + 0j])
def test_sigma_flow_resolves_its_seed_like_sample(seed):
    for crn in (True, False):
        with pytest.raises(TypeError, match="seed"):
            nnqft.sigma_flow(GAUSS, X, [1.0, 2.0], n_networks=64, seed=seed,
                             common_random_numbers=crn)


def test_arch_is_checked_everywhere():
    calls = [lambda a: nnqft.sample(a, X, 64), lambda a: nnqft.kernel(a, X),
             lambda a: nnqft.exact(a, X, 4), lambda a: vertex_integral(a, X, 4),
             lambda a: nnqft.fit_couplings({4: np.zeros(5)}, a, X),
             lambda a: nnqft.sigma_flow(a, X, [1.0])]
    for call in calls:
        with pytest.raises(TypeError, match="arch must be an nnqft.Architecture, got dict"):
            call({"activation": "erf"})


def test_replace_depth_keeps_uniform_sigmas_and_asks_for_per_layer_ones():
    arch = nnqft.Architecture("relu", width=10, depth=3, sigma_w=1.5, sigma_b=[0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="sigma_b needs one value per layer"):
        arch.replace(depth=5)
    deeper = arch.replace(depth=5, sigma_b=0.2)
    assert deeper.sigma_w_layers == (1.5,) * 6 and deeper.sigma_b_layers == (0.2,) * 6
    assert arch.replace(depth=1, sigma_b=0.0) == nnqft.Architecture("relu", width=10, depth=1,
                                                                     sigma_w=1.5, sigma_b=0.0)


@pytest.mark.parametrize("x", [[[0.1], [0.2, 0.3]], [0.1, [0.2]]], ids=repr)
def test_ragged_inputs_are_refused_clearly_at_d_in_1(x):
    """At d_in = 1 a 1-D x is accepted, so a ragged one reached numpy's own error first."""
    with pytest.raises(ValueError, match="x must be a rectangular array"):
        nnqft.kernel(nnqft.Architecture("erf", width=3), x)
