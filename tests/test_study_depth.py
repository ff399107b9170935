"""study.depth_point: u6 beside the order-2 theory where the run and the theory allow it."""

import math

import numpy as np

import nnqft
from nnqft.study import StudyConfig, _depth_table, depth_point

X = [-1.0, -0.3, 0.4, 1.0]


def _point(activation, orders):
    arch = nnqft.Architecture(activation, width=10, depth=2, sigma_b=0.5)
    corr = nnqft.sample(arch, X, 2_000, orders=orders, estimator="conditional", seed=0,
                        progress=False)
    return depth_point(corr, arch, 1e5)


def test_depth_point_fits_u6_on_the_order_two_theory():
    row = _point("erf", (2, 4, 6))
    assert row["theory_order"] == 2
    assert np.isfinite([row["N2u6"], row["N2u6_err"], row["N2u6_theory"], row["pull_u6"]]).all()
    assert row["N2u6_err"] > 0


def test_without_six_point_data_or_theory_u6_is_absent_not_invented():
    for activation, orders in (("erf", (2, 4)), ("tanh", (2, 4, 6))):
        row = _point(activation, orders)
        assert math.isnan(row["N2u6"]) and math.isnan(row["N2u6_theory"])
        assert np.isfinite(row["Nu4_theory"])
    cfg = StudyConfig(depth_nets=[{"label": "tanh", "cutoff": 1e5}], depth_depths=[2])
    assert "— (no 1/N² theory)" in _depth_table({"tanh": [row]}, cfg)
