"""Argument errors, over every public entry point.

Every sampling entry point refuses the same bad argument with the same exception and
message: the checks live in one place (nnqft._plan.RunPlan.build), whether the run is one
pass, a sigma grid, a sigma flow, chunked, checkpointed or on Dask.  Every other public
function checks an argument that means the same thing everywhere (an order, rtol, a
cutoff, a shrinkage, a choice) by the one rule of nnqft._validation.RULES."""

import re

import numpy as np
import pytest

import nnqft
from nnqft.distributed import sample_dask
from nnqft.sampling import sample_grid

ARCH = nnqft.Architecture("erf", width=4)
UNIFORM = nnqft.Architecture("erf", width=4, depth=2, weight_dist="uniform")
X = np.array([0.1, 0.5])
#: Arguments that sigma_flow does not take (it fixes them itself).
NOT_IN_FLOW = {"orders", "start", "block_size", "n_bins"}


class NoCluster:
    """A client that reports one thread and fails the test if any work reaches it."""

    def nthreads(self):
        return {"worker": 1}

    def __getattr__(self, name):
        raise AssertionError(f"client.{name} used: the arguments were not refused first")


def _sample(arch, x, n, **kw):
    return nnqft.sample(arch, x, n, **kw)


def _grid(arch, x, n, **kw):
    return sample_grid([arch, arch.scaled("w", 1.5)], x, n, **kw)


def _chunked(arch, x, n, **kw):
    return nnqft.sample(arch, x, n, chunk_size=640, **kw)


def _checkpointed(arch, x, n, tmp_path, **kw):
    return nnqft.sample(arch, x, n, checkpoint=tmp_path / "run", **kw)


def _client(arch, x, n, **kw):
    return nnqft.sample(arch, x, n, client=NoCluster(), **kw)


def _dask(arch, x, n, **kw):
    return sample_dask(NoCluster(), arch, x, n, threads_per_task=kw.pop("threads"), **kw)


def _flow(arch, x, n, **kw):
    kw.setdefault("estimator", "plain")  # its default, conditional, refuses uniform weights
    return nnqft.sigma_flow(arch, x, [1.0, 1.5], n, with_exact=False, cutoff=10.0, **kw)


def _flow_independent(arch, x, n, **kw):
    return _flow(arch, x, n, common_random_numbers=False, **kw)


def _flow_checkpointed(arch, x, n, tmp_path, **kw):
    return _flow(arch, x, n, checkpoint=tmp_path / "flow", **kw)


ENTRY_POINTS = [_grid, _chunked, _checkpointed, _client, _dask, _flow, _flow_independent,
                _flow_checkpointed]

# (argument named in the message, positional overrides, keyword arguments)
CASES = [
    ("orders", {}, dict(orders=(2, 9))),
    ("orders", {}, dict(orders=(0,))),
    ("orders", {}, dict(orders=())),
    ("orders", {}, dict(orders=(4.5,))),
    ("orders", {}, dict(orders="246")),
    ("estimator", {}, dict(estimator="fancy")),
    ("estimator", {}, dict(estimator=None)),
    ("estimator", dict(arch=UNIFORM), dict(estimator="conditional")),
    ("sampler", {}, dict(sampler="fast")),
    ("sampler", {}, dict(sampler=3)),
    ("sampler", dict(arch=UNIFORM), dict(sampler="gram")),
    ("n_networks", dict(n=0), {}),
    ("n_networks", dict(n=-5), {}),
    ("n_networks", dict(n=1.5), {}),
    ("n_networks", dict(n=None), {}),
    ("2**62", dict(n=2**62), {}),
    ("start", {}, dict(start=-1)),
    ("start", {}, dict(start=5)),
    ("start", {}, dict(start=1.5)),
    ("2**62", {}, dict(start=2**62 - 32)),
    ("block_size", {}, dict(block_size=0)),
    ("block_size", {}, dict(block_size=2**64)),
    ("block_size", {}, dict(block_size="x")),
    ("n_bins", {}, dict(n_bins=48)),
    ("n_bins", {}, dict(n_bins=1)),
    ("n_bins", {}, dict(n_bins=2**32)),
    ("seed", {}, dict(seed=-3)),
    ("seed", {}, dict(seed=1.5)),
    ("seed", {}, dict(seed=True)),
    ("seed", {}, dict(seed="abc")),
    ("threads", {}, dict(threads=0)),
    ("threads", {}, dict(threads=-1)),
    ("threads", {}, dict(threads=1.0)),
    ("threads", {}, dict(threads=2000)),
    ("x", dict(x=np.zeros((3, 2))), {}),
    ("x", dict(x=np.array([0.1, np.nan])), {}),
    ("x", dict(x=np.zeros((0, 1))), {}),
    ("x", dict(x=np.array(["a", "b"])), {}),
]


def _refusal(entry, tmp_path, arch=ARCH, x=X, n=64, **kw):
    kw.setdefault("threads", 1)
    if entry in (_checkpointed, _flow_checkpointed):
        kw["tmp_path"] = tmp_path
    with pytest.raises((ValueError, TypeError)) as info:
        entry(arch, x, n, **kw)
    return type(info.value), str(info.value)


PAIRS = [(entry, *case) for entry in ENTRY_POINTS for case in CASES
         if not (entry.__name__.startswith("_flow") and NOT_IN_FLOW & set(case[2]))]


@pytest.mark.parametrize("entry,name,positional,keywords", PAIRS,
                         ids=[f"{p[0].__name__.lstrip('_')}-{p[1]}-{i}"
                              for i, p in enumerate(PAIRS)])
def test_every_entry_point_refuses_alike(entry, name, positional, keywords, tmp_path):
    exc, message = _refusal(_sample, tmp_path, **positional, **keywords)
    assert name in message
    if entry is _dask and "threads" in keywords:  # sample_dask's name for it
        message = message.replace("threads", "threads_per_task")
    assert _refusal(entry, tmp_path, **positional, **keywords) == (exc, message)
    assert not (tmp_path / "run").exists() and not (tmp_path / "flow").exists()


def test_an_infeasible_run_is_refused_alike():
    # The whole run is checked, not only a chunk; the cluster's threads count on Dask.
    n = 10**17
    exc, message = _refusal(_sample, None, n=n)
    assert exc is ValueError and re.search(f"n_networks={n} would take roughly", message)
    for entry in (_chunked, _client, _dask):
        assert _refusal(entry, None, n=n) == (exc, message)
    # independent ensembles: sample per sigma, with the flow's orders
    assert _refusal(_flow_independent, None, n=n) == _refusal(_sample, None, n=n, orders=(2, 4))
    # A grid evaluates every network at each point: the message quotes the argument given.
    for entry in (_grid, _flow):
        exc, message = _refusal(entry, None, n=n)
        assert exc is ValueError and message.startswith(f"n_networks={n} at 2 grid points would")


# -- every public function: one rule (nnqft._validation.RULES) -------------------------------
# An argument that means the same thing everywhere (an order, rtol, a cutoff, a shrinkage, a
# choice) is checked by the same rule at every public entry point: a wrong type is a
# TypeError, a value out of range or not among the choices a ValueError, both naming it.

from nnqft import diagnostics, frg, vertex  # noqa: E402
from nnqft.fit import cutoff_scan, fit_couplings  # noqa: E402

_RELU = nnqft.Architecture("relu", width=20, sigma_b=0.0)
_XR = np.array([0.3, 0.7, 1.1])


@pytest.fixture(scope="module")
def sampled():
    return nnqft.sample(_RELU, _XR, 2048, orders=(2, 4, 6), seed=1, threads=1)


PUBLIC_CASES = [
    # Correlators: the order n (4.5 used to read as 4, "4" as 4)
    ("n", TypeError, lambda c: c.mean(4.5)),
    ("n", TypeError, lambda c: c.mean("4")),
    ("n", TypeError, lambda c: c.mean(True)),
    ("n", ValueError, lambda c: c.mean(9)),
    ("n", TypeError, lambda c: c.stderr(2.0)),
    ("n", TypeError, lambda c: c.covariance("2")),
    ("n", TypeError, lambda c: c.connected(4.0)),
    ("n", TypeError, lambda c: c.connected_covariance(4.5)),
    ("n", TypeError, lambda c: c.replicas("4")),
    ("connected", TypeError, lambda c: c.replicas(4, connected="yes")),
    ("max_rows", ValueError, lambda c: c.summary(4, max_rows=0)),
    ("orders", TypeError, lambda c: c.describe(orders="4")),
    # fits: shrinkage, cutoff(s), rtol
    ("shrinkage", TypeError, lambda c: fit_couplings(c, _RELU, _XR, 5.0, shrinkage="0.5")),
    ("shrinkage", ValueError, lambda c: fit_couplings(c, _RELU, _XR, 5.0, shrinkage=1.5)),
    ("cutoff", TypeError, lambda c: fit_couplings(c, _RELU, _XR, "3")),
    ("cutoff", ValueError, lambda c: fit_couplings(c, _RELU, _XR, -3.0)),
    ("rtol", TypeError, lambda c: fit_couplings(c, _RELU, _XR, 5.0, rtol="1e-3")),
    ("rtol", ValueError, lambda c: fit_couplings(c, _RELU, _XR, 5.0, rtol=0.0)),
    ("rtol", ValueError, lambda c: fit_couplings(c, _RELU, _XR, 5.0, rtol=float("nan"))),
    ("cutoffs", TypeError, lambda c: cutoff_scan(c, _RELU, _XR, ["1", "2"])),
    ("cutoffs", TypeError, lambda c: cutoff_scan(c, _RELU, _XR, "12")),
    ("rtol", ValueError, lambda c: cutoff_scan(c, _RELU, _XR, [1.0, 2.0], rtol=2.0)),
    ("rtol", ValueError, lambda c: diagnostics.per_tuple_couplings(c, _RELU, _XR, 5.0,
                                                                   rtol=-1.0)),
    ("quantity", ValueError, lambda c: nnqft.predict_g6(
        fit_couplings(c, _RELU, _XR, 5.0, terms=("u4", "u6")), c, quantity="G6")),
    # vertex integrals: the method is a choice, rtol the same rule
    ("method", ValueError, lambda c: vertex.vertex_integral(_RELU, _XR, 4, 5.0, method="mc")),
    ("method", TypeError, lambda c: vertex.vertex_integral(_RELU, _XR, 4, 5.0, method=3)),
    ("rtol", TypeError, lambda c: vertex.vertex_integral(_RELU, _XR, 4, 5.0, rtol=None)),
    ("rtol", ValueError, lambda c: vertex.exchange_integral(_RELU, _XR, 5.0, rtol=0.0)),
    # FRG: truncation and method are choices
    ("truncation", ValueError, lambda c: frg.integrate_flow(-0.1, d=1.0, truncation="phi5")),
    ("method", TypeError, lambda c: frg.integrate_flow(-0.1, d=1.0, method=3)),
    ("coupling", ValueError, lambda c: frg.passive_comparison(
        frg.integrate_flow(-0.1, d=1.0, sigma=1.0, num=5), [1.0], [1.0], coupling="u8")),
    # the ensemble
    ("vary", ValueError, lambda c: _RELU.scaled("sigma", 1.0)),
    ("vary", TypeError, lambda c: _RELU.scaled(None, 1.0)),
    ("activation", TypeError, lambda c: nnqft.Architecture(3)),
    ("estimator", TypeError, lambda c: nnqft.sample(_RELU, _XR, 64, estimator=1)),
]


@pytest.mark.parametrize("name,exc,call", PUBLIC_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(PUBLIC_CASES)])
def test_every_public_function_checks_its_arguments_by_one_rule(sampled, name, exc, call):
    with pytest.raises(exc, match=f"^{name} must"):
        call(sampled)


def test_the_rule_of_an_argument_is_the_same_everywhere():
    # the same bad value gives the same message through different functions
    def message(call):
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        return str(info.value)

    assert message(lambda: fit_couplings({4: np.zeros(15)}, _RELU, _XR, 5.0, rtol=0.0)) == \
        message(lambda: vertex.vertex_integral(_RELU, _XR, 4, 5.0, rtol=0.0))
    assert message(lambda: nnqft.sample(_RELU, _XR, 64, estimator="fancy")) == \
        "estimator must be one of ('plain', 'conditional'), got 'fancy'"
