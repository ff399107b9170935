"""The shared quadrature rules integrate known functions to rounding."""

import math

import numpy as np
import pytest

from nnqft.quadrature import composite, graded_edges, tensor, two_sided_unit_rule, unit_rule


@pytest.mark.parametrize("q", [1, 4, 12])
def test_gauss_legendre_is_exact_to_degree_2q_minus_1(q):
    x, w = unit_rule(q)
    for degree in range(2 * q):
        assert (w * x**degree).sum() == pytest.approx(1.0 / (degree + 1), rel=1e-14)
    assert abs((w * x ** (2 * q)).sum() - 1.0 / (2 * q + 1)) > 1e-15  # and no further


def test_composite_on_graded_edges():
    edges = graded_edges(9.0, 0.01)
    assert edges[0] == 0.0 and edges[1] == 0.01 and edges[-1] == 9.0
    assert np.all(np.diff(edges[1:-1]) == edges[1:-2])  # doubling panels
    x, w = composite(edges)
    assert (w * np.sqrt(x)).sum() == pytest.approx(2.0 / 3.0 * 9.0**1.5, rel=1e-8)


def test_two_sided_rule_resolves_both_end_singularities():
    x, w = two_sided_unit_rule(20)
    # int_0^1 log(x(1-x)) dx = -2: integrable singularities at both ends
    assert (w * np.log(x * (1 - x))).sum() == pytest.approx(-2.0, rel=1e-8)
    assert two_sided_unit_rule(0)[0] is unit_rule(12)[0]


def test_tensor_product():
    nodes, weights = tensor([composite(np.array([0.0, 1.0, 2.0]), 4), unit_rule(3)])
    assert nodes.shape == (8 * 3, 2)
    assert (weights * nodes[:, 0] ** 3 * nodes[:, 1] ** 2).sum() == pytest.approx(4.0 / 3.0)
    assert (weights * np.exp(nodes[:, 0])).sum() == pytest.approx(math.e**2 - 1, rel=1e-9)
    empty_nodes, empty_weights = tensor([])
    assert empty_nodes.shape == (1, 0) and empty_weights.tolist() == [1.0]
