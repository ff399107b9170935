"""Every sampling entry point refuses the same bad argument with the same exception and
message: the checks live in one place (nnqft.sampling.check_arguments), whether the run
is one pass, a sigma grid, a sigma flow, chunked, checkpointed or on Dask."""

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
