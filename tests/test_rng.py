"""Philox, Box-Muller and network draws against numpy and Random123."""

import math

import numpy as np
import pytest
from scipy import special

import nnqft
from nnqft import _core

KAT = [  # Random123 kat_vectors, philox4x64_10
    ([0, 0, 0, 0], [0, 0],
     [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]),
    ([2**64 - 1] * 4, [2**64 - 1] * 2,
     [0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0]),
    ([0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89],
     [0x452821E638D01377, 0xBE5466CF34E90C6C],
     [0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6]),
]


def numpy_philox_words(counter, key, n_blocks):
    """Blocks for counters counter, counter+1, ... from numpy (which pre-increments)."""
    c = sum(int(v) << (64 * i) for i, v in enumerate(counter)) - 1
    c %= 2**256
    words = np.array([(c >> (64 * i)) & (2**64 - 1) for i in range(4)], dtype=np.uint64)
    gen = np.random.Philox(counter=words, key=np.array(key, dtype=np.uint64))
    return gen.random_raw(4 * n_blocks)


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert list(_core.philox4x64(counter, key)) == expected
    assert list(numpy_philox_words(counter, key, 1)) == expected


def test_philox_stream_matches_numpy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        key = [int(v) for v in rng.integers(0, 2**64, 2, dtype=np.uint64)]
        first = [int(rng.integers(0, 2**40)), int(rng.integers(0, 2**64, dtype=np.uint64)),
                 int(rng.integers(0, 64)), 0]
        got = _core.philox_stream(first, key, 37)
        np.testing.assert_array_equal(got, numpy_philox_words(first, key, 37))


def box_muller(bits):
    u1 = ((bits[0::2] >> np.uint64(11)).astype(float) + 1) * 2.0**-53
    u2 = (bits[1::2] >> np.uint64(11)).astype(float) * 2.0**-53
    r = np.sqrt(-2 * np.log(u1))
    out = np.empty(len(bits))
    out[0::2], out[1::2] = r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)
    return out


def test_normals_match_numpy_box_muller():
    bits = np.random.default_rng(2).integers(0, 2**64, 200_000, dtype=np.uint64)
    bits[:4] = [0, 0, 2**64 - 1, 2**64 - 1]  # extreme uniforms
    np.testing.assert_allclose(_core.normals_from_bits(bits), box_muller(bits),
                               rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name,ref", [("erf", special.erf), ("tanh", np.tanh),
                                      ("exp", np.exp), ("cos", np.cos),
                                      ("relu", lambda v: np.maximum(v, 0)),
                                      ("identity", lambda v: v)])
def test_activation_kernels(name, ref):
    x = np.concatenate([np.linspace(-30, 30, 100_001), [0.0, -0.0, 1e-300, -1e-300]])
    if name == "exp":
        x = np.linspace(-700, 700, 100_001)
    np.testing.assert_allclose(_core.apply_function(name, x), ref(x), rtol=2e-15, atol=1e-300)


# ---- the whole network, re-implemented in numpy from the documented conventions ----

def words(key, net, layer, purpose, n):
    return numpy_philox_words([0, net, 2 * layer + purpose, 0], key, (n + 3) // 4)


def draw(key, net, layer, purpose, n, scale, uniform=False):
    w = words(key, net, layer, purpose, n)
    if uniform:
        u = (w >> np.uint64(11)).astype(float) * 2.0**-53
        return (-math.sqrt(3) * scale + 2 * math.sqrt(3) * scale * u)[:n]
    return scale * box_muller(w)[:n]


PHI = {"erf": special.erf, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
       "linear": lambda z: z, "gauss": np.exp, "cos": np.cos}


def numpy_network(arch, x, key, net, estimator):
    n, d = arch.width, arch.d_in
    sw, sb = arch.sigma_w_layers, arch.sigma_b_layers
    uni = arch.weight_dist == "uniform"
    h = x
    for layer in range(arch.depth):
        fan = d if layer == 0 else n
        w = draw(key, net, layer, 0, n * fan, sw[layer] / math.sqrt(fan), uni).reshape(n, fan)
        if arch.activation == "cos":
            u = (words(key, net, 0, 1, n) >> np.uint64(11)).astype(float) * 2.0**-53
            b = (-np.pi + 2 * np.pi * u)[:n]
        else:
            b = draw(key, net, layer, 1, n, sb[layer])
        z = h @ w.T + b
        if arch.activation == "gauss":
            z = z - (sb[0] ** 2 + sw[0] ** 2 * (x**2).sum(1, keepdims=True) / d)
        h = PHI[arch.activation](z)
    L = arch.depth
    if estimator == "plain":
        w = draw(key, net, L, 0, n, sw[L] / math.sqrt(n), uni)
        return h @ w + draw(key, net, L, 1, 1, sb[L])[0]
    c = sb[L] ** 2 + sw[L] ** 2 / n * h @ h.T
    return c[np.triu_indices(len(x))]


CASES = [
    dict(activation="erf", width=7, d_in=1),
    dict(activation="relu", width=5, d_in=2, sigma_b=0.3),
    dict(activation="tanh", width=6, d_in=3, depth=3, sigma_w=[1.0, 1.5, 0.7, 2.0]),
    dict(activation="gauss", width=4, d_in=2, sigma_b=0.5, sigma_w=0.8),
    dict(activation="cos", width=9, d_in=1, sigma_b=[0.0, 0.4]),
    dict(activation="linear", width=3, d_in=2, depth=2, weight_dist="uniform"),
    dict(activation="erf", width=4, d_in=1, weight_dist="uniform"),
]


PAIRS = [(c, e) for c in CASES for e in ("plain", "conditional")
         if e == "plain" or c.get("weight_dist") != "uniform"]  # conditional: Gaussian read-out


@pytest.mark.parametrize("case,estimator", PAIRS,
                         ids=lambda v: v if isinstance(v, str) else f"{v['activation']}-d{v['d_in']}")
def test_network_matches_numpy_reimplementation(case, estimator):
    arch = nnqft.Architecture(**case)
    x = np.random.default_rng(3).normal(size=(4, arch.d_in))
    key = np.random.SeedSequence(5).generate_state(2, np.uint64)
    config = nnqft.sampling._config(arch, x, key, estimator, (2,), [], 32, 64)
    ids = [0, 1, 2**40 + 3]
    got = _core.evaluate(config, ids)
    for row, net in zip(got, ids):
        np.testing.assert_allclose(row, numpy_network(arch, x, key, net, estimator),
                                   rtol=1e-12, atol=1e-13)


def test_seed_resolution():
    ss, key = nnqft._seeding.resolve_seed(7)
    assert list(key) == list(np.random.SeedSequence(7).generate_state(2, np.uint64))
    _, key_list = nnqft._seeding.resolve_seed([7, 1])
    assert list(key_list) != list(key)
    ss_none, _ = nnqft._seeding.resolve_seed(None)
    again = nnqft._seeding.seed_from_metadata(nnqft._seeding.seed_metadata(ss_none))
    assert list(again.generate_state(2, np.uint64)) == list(ss_none.generate_state(2, np.uint64))
