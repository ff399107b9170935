"""Result files of format version 1, written before the Python layer was reshaped, still load.

The files in tests/data were written once (tests/data/make_fixtures_v1.py) and are never
regenerated: a change to the on-disk format must keep reading them.
"""

import json
from pathlib import Path

import numpy as np

import nnqft

DATA = Path(__file__).parent / "data"
VALUES = json.loads((DATA / "fixtures_v1_values.json").read_text())


def test_correlators_v1_loads_with_the_same_numbers():
    corr = nnqft.load(DATA / "correlators_v1.npz")
    assert isinstance(corr, nnqft.Correlators)
    assert corr.arch == nnqft.Architecture("erf", width=4, sigma_b=[0.5, 1.0])
    assert (corr.estimator, corr.orders, corr.n_networks) == ("conditional", (2, 4), 2048)
    assert corr.meta["seed"]["entropy"] == "7" and corr.meta["block_size"] == 64
    for n in (2, 4):
        np.testing.assert_array_equal(corr.mean(n), VALUES["correlators"][str(n)])
    np.testing.assert_array_equal(corr.connected(4)[0], VALUES["correlators_k4"])


def test_flow_v1_loads_with_the_same_numbers():
    flow = nnqft.load(DATA / "flow_v1.npz")
    assert isinstance(flow, nnqft.Flow)
    assert flow.arch.activation == "gauss" and flow.vary == "w"
    np.testing.assert_array_equal(flow.sigmas, [0.8, 1.0])
    np.testing.assert_array_equal(flow.couplings["u4"], VALUES["flow_u4"])
    np.testing.assert_array_equal(flow.exact_couplings["u4"], VALUES["flow_exact_u4"])
    assert flow.replicas is not None and flow.replicas["u4"].shape[1] == 2
