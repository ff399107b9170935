"""Dask scale-out: a LocalCluster run equals the local run bit for bit."""

import numpy as np
import pytest
from conftest import XSET_ERF

import nnqft

distributed = pytest.importorskip("distributed")


def test_dask_equals_local_run():
    from nnqft.distributed import sample_dask

    runs = [(nnqft.Architecture("tanh", width=8), "weights"),
            (nnqft.Architecture("tanh", width=8, depth=3, sigma_b=0.4), "gram")]
    kw = dict(orders=(2, 4), estimator="conditional", seed=21)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for arch, sampler in runs:
            local = nnqft.sample(arch, XSET_ERF, 5_000, threads=2, sampler=sampler, **kw)
            remote = sample_dask(client, arch, XSET_ERF, 5_000, chunk_size=700, sampler=sampler,
                                 **kw)
            assert remote == local and remote.meta["sampler"] == sampler
            np.testing.assert_array_equal(remote.connected(4)[1], local.connected(4)[1])


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(n_networks=0), ValueError, "n_networks must be >= 1, got 0"),
    (dict(n_networks=-5), ValueError, "n_networks must be >= 1"),
    (dict(chunk_size=None), TypeError, "chunk_size"),
    (dict(chunk_size=0), ValueError, "chunk_size must be >= 1"),
    (dict(threads_per_task=0), ValueError, "threads_per_task must be >= 1"),
    (dict(n_networks=10**6, chunk_size=32), ValueError,
     "31250 tasks .*use chunk_size >= 100"),
    (dict(block_size="x"), TypeError, "block_size"),
])
def test_dask_arguments_are_checked_before_any_task(kwargs, exc, match):
    from nnqft.distributed import sample_dask

    args = dict(n_networks=64)
    args.update(kwargs)
    n = args.pop("n_networks")
    with pytest.raises(exc, match=match):  # no client needed: refused before submitting
        sample_dask(None, nnqft.Architecture("erf", width=3), [0.5], n, orders=(2,), **args)
