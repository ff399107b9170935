"""Philox4x32, Box-Muller and network draws against numpy and Random123; stream versions."""

import math
import platform

import numpy as np
import pytest
from scipy import special

import nnqft
from nnqft import _core
from nnqft.cli import main

KAT = [  # Random123 kat_vectors, philox4x32_10: counter, key, result
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([2**32 - 1] * 4, [2**32 - 1] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]
LOW = np.uint64(0xFFFFFFFF)


def numpy_philox4x32(counters, key):
    """Philox4x32-10 of the rows of an (n, 4) array of 32-bit counter words, in uint64
    arithmetic (a 32 x 32-bit product is exact in 64 bits): an independent reference."""
    c = [np.asarray(counters, dtype=np.uint64)[:, i] for i in range(4)]
    k0, k1 = int(key[0]), int(key[1])
    for _ in range(10):
        p0, p1 = c[0] * np.uint64(0xD2511F53), c[2] * np.uint64(0xCD9E8D57)
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & LOW,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & LOW]
        k0, k1 = (k0 + 0x9E3779B9) % 2**32, (k1 + 0xBB67AE85) % 2**32
    return np.stack(c, axis=1)


def numpy_philox_words(first, key, n_blocks):
    """Blocks for counters first + (j, 0, 0, 0) (word 0 mod 2^32) as 64-bit words."""
    ctr = np.tile(np.array(first, dtype=np.uint64), (n_blocks, 1))
    ctr[:, 0] = (first[0] + np.arange(n_blocks, dtype=np.uint64)) & LOW
    x = numpy_philox4x32(ctr, key)
    out = np.empty(2 * n_blocks, dtype=np.uint64)
    out[0::2] = x[:, 0] | (x[:, 1] << np.uint64(32))
    out[1::2] = x[:, 2] | (x[:, 3] << np.uint64(32))
    return out


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert list(_core.philox4x32(counter, key)) == expected
    assert numpy_philox4x32([counter], key)[0].tolist() == expected


def test_philox_stream_matches_numpy():
    rng = np.random.default_rng(1)
    for n_blocks in (1, 37, 300):
        key = [int(v) for v in rng.integers(0, 2**32, 2)]
        first = [int(v) for v in rng.integers(0, 2**32, 4)]
        first[0] = 2**32 - 5  # counter word 0 wraps without a carry
        got = _core.philox_stream(first, key, n_blocks)
        np.testing.assert_array_equal(got, numpy_philox_words(first, key, n_blocks))


F32 = np.float32
# Stream version 3's single-precision Box-Muller, operation by operation as documented in
# cpp/src/kernels_impl.hpp: numpy float32 arithmetic rounds each operation once, and a
# fused multiply-add is emulated in 80-bit long double (the product of two floats is
# exact there, the sum rounds to 64 bits first: a double rounding that needs the exact
# sum within 2^-64 of a float midpoint, ~1e-12 per operation). So the normals must agree
# bit for bit on every path.
LOG_Q = [F32(float.fromhex(h)) for h in ("-0x1.fffff8p-2", "0x1.55555p-2", "-0x1.000428p-2",
                                         "0x1.99a402p-3", "-0x1.542744p-3", "0x1.227088p-3",
                                         "-0x1.0f377ep-3", "0x1.084e78p-3", "-0x1.383e14p-4")]
SIN_F = [F32(float.fromhex(h)) for h in ("0x1.921fb6p+2", "-0x1.4abbbap+5", "0x1.465e92p+6",
                                         "-0x1.2d9302p+6")]
COS_F = [F32(float.fromhex(h)) for h in ("0x1.3bd3ccp+4", "-0x1.03c1dep+6", "0x1.55c5e0p+6",
                                         "-0x1.d9d57cp+5")]
LN2_HI, LN2_LO = F32(float.fromhex("0x1.62e4p-1")), F32(float.fromhex("0x1.7f7d1cp-20"))
LONG = np.longdouble


def mul_add(a, b, c, fused):
    if not fused:
        return a * b + c
    return (LONG(1) * a * b + c).astype(F32)  # a b exact in 64 mantissa bits


def horner32(c, x, fused):
    p = mul_add(x, c[-1], c[-2], fused)
    for ck in c[-3::-1]:
        p = mul_add(p, x, ck, fused)
    return p


def box_muller(words, fused=None):
    """Two normals per 64-bit word: a = low half (radius), b = high half (angle); fused:
    with FMA (default: as the kernel path in use has it)."""
    fused = _core.kernel_fma() if fused is None else fused
    w = np.asarray(words, dtype=np.uint64)
    a = (w & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    b = (w >> np.uint64(32)).astype(np.uint32)
    with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as intended
        h = (a >> np.uint32(16)).astype(np.int32).astype(F32) * F32(2.0**-16)
        lo = ((a & np.uint32(0xFFFF)).astype(np.int32).astype(F32) + F32(0.5)) * F32(2.0**-32)
        k = ((h + lo).view(np.uint32) - np.uint32(0x3F3504F3)).view(np.int32) >> np.int32(23)
        scale = ((np.int32(127) - k) << np.int32(23)).view(F32)
        f = (h * scale - F32(1)) + lo * scale  # exact products: the same with FMA
        log1pf = mul_add(f * f, horner32(LOG_Q, f, fused), f, fused)
        nk = (-k).astype(F32)
        t = nk * LN2_HI - mul_add(-nk, LN2_LO, log1pf, fused)  # nk LN2_HI is exact
        rad = np.sqrt(t + t)
        v = b + np.uint32(0x20000000)
        x = ((v & np.uint32(0x3FFFFFFF)).astype(np.int32) - np.int32(0x20000000)).astype(F32)
        x = x * F32(2.0**-32)
        xx = x * x
        sn = x * horner32(SIN_F, xx, fused)
        cs = mul_add(-xx, horner32(COS_F, xx, fused), F32(1), fused)
    q = v >> np.uint32(30)
    cos = np.choose(q, [cs, -sn, -cs, sn])
    sin = np.choose(q, [sn, cs, -sn, -cs])
    out = np.empty(2 * len(w))
    out[0::2], out[1::2] = rad * cos, rad * sin
    return out


def box_muller_exact(words):
    """The same pairs in double precision from the defining formula."""
    w = np.asarray(words, dtype=np.uint64)
    a = (w & np.uint64(0xFFFFFFFF)).astype(float)
    theta = 2 * np.pi * (w >> np.uint64(32)).astype(float) * 2.0**-32
    r = np.sqrt(-2 * np.log((a + 0.5) * 2.0**-32))
    out = np.empty(2 * len(w))
    out[0::2], out[1::2] = r * np.cos(theta), r * np.sin(theta)
    return out, np.repeat(r, 2)


EXTREME_WORDS = [0, 2**64 - 1, 2**32 - 1, (2**32 - 1) << 32, 1, 2**31, 2**29 << 32,
                 2**30 << 32, 3 * 2**29 << 32, (2**29 - 1) << 32, 2**32 - 2**8,
                 # the largest errors a targeted search found, 3.60 and 3.51 2^-24 R
                 # (without and with FMA): the bound of 4 is nearly tight
                 0xE096CD90DFB5FF9F, 0xE07C0D90DF3D229F]


def test_normals_match_numpy_box_muller_bit_for_bit(kernel_path):
    rng = np.random.default_rng(2)
    words = np.concatenate([
        np.array(EXTREME_WORDS, dtype=np.uint64),
        rng.integers(0, 2**64, 200_000, dtype=np.uint64),
        # small a: the tail of the radius; a near 2^32: radii near 0
        (rng.integers(0, 2**32, 20_000, dtype=np.uint64) << np.uint64(32))
        | rng.integers(0, 2**12, 20_000, dtype=np.uint64),
        (rng.integers(0, 2**32, 20_000, dtype=np.uint64) << np.uint64(32))
        | rng.integers(2**32 - 2**12, 2**32, 20_000, dtype=np.uint64)])
    got = _core.normals_from_bits(words)
    assert _core.kernel_fma() == (kernel_path != "generic" or platform.machine() != "x86_64")
    np.testing.assert_array_equal(got.view(np.uint64), box_muller(words).view(np.uint64))
    # ... and the formula they evaluate, to single precision: |error| <= 4 2^-24 R, with
    # or without FMA (which changes 1/3 of the values by an ulp or so).
    exact, radius = box_muller_exact(words)
    for values in (got, box_muller(words, fused=not _core.kernel_fma())):
        assert np.all(np.abs(values - exact) <= 4 * 2.0**-24 * radius)
    assert np.max(np.abs(got)) == pytest.approx(math.sqrt(66 * math.log(2)), rel=1e-7)


def test_fused_normals_equal_words_then_transform(kernel_path):
    rng = np.random.default_rng(8)
    for n_blocks in (0, 1, 3, 31, 32, 33, 100, 1027):
        key = [int(v) for v in rng.integers(0, 2**32, 2)]
        first = [2**32 - 9, *(int(v) for v in rng.integers(0, 2**32, 3))]  # word 0 wraps
        got = _core.philox_normals(first, key, n_blocks)
        words = numpy_philox_words(first, key, n_blocks)
        np.testing.assert_array_equal(got.view(np.uint64), box_muller(words).view(np.uint64))


def test_normal_moments():
    """The lattice of (a, b) and the 6.76 cap leave the moments of N(0, 1) intact: mean,
    variance, kurtosis and the 6th and 8th moments of 4e6 normals, |z| < 5 each."""
    z = _core.philox_normals([0, 7, 1, 0], [12345, 6789], 1_000_000)
    for p, exact in ((1, 0.0), (2, 1.0), (3, 0.0), (4, 3.0), (6, 15.0), (8, 105.0)):
        zp = z**p
        assert abs(zp.mean() - exact) < 5 * zp.std() / math.sqrt(len(z)), p
    # pairs (cos, sin) of one word are uncorrelated
    assert abs(np.mean(z[0::2] * z[1::2])) < 5 / math.sqrt(len(z) / 2)


@pytest.mark.parametrize("name,ref", [("erf", special.erf), ("tanh", np.tanh),
                                      ("exp", np.exp), ("cos", np.cos),
                                      ("sinc", lambda v: np.sin(v) / np.where(v == 0, 1, v)
                                       + (v == 0)),
                                      ("relu", lambda v: np.maximum(v, 0)),
                                      ("identity", lambda v: v)])
def test_activation_kernels(name, ref):
    x = np.concatenate([np.linspace(-30, 30, 100_001), [0.0, -0.0, 1e-300, -1e-300]])
    if name == "exp":
        x = np.linspace(-700, 700, 100_001)
    np.testing.assert_allclose(_core.apply_function(name, x), ref(x), rtol=2e-15, atol=1e-300)


# ---- the whole network, re-implemented in numpy from the documented conventions ----

def words(key, net, layer, purpose, n_words):
    """Stream version 3: counter (block, 2 layer + purpose, net mod 2^32, net >> 32) under
    the seed's first 64 bits; two words per block."""
    key32 = [int(key[0]) & 0xFFFFFFFF, int(key[0]) >> 32]
    first = [0, 2 * layer + purpose, net & 0xFFFFFFFF, net >> 32]
    return numpy_philox_words(first, key32, (n_words + 1) // 2)


def draw(key, net, layer, purpose, n, scale, uniform=False):
    """n draws of a stream: a uniform per word, or a pair of normals per word."""
    if uniform:
        u = (words(key, net, layer, purpose, n) >> np.uint64(11)).astype(float) * 2.0**-53
        return (-math.sqrt(3) * scale + 2 * math.sqrt(3) * scale * u)[:n]
    return scale * box_muller(words(key, net, layer, purpose, (n + 1) // 2))[:n]


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
    config = nnqft._plan.core_config(arch, x, key, estimator, (2,), [], 32, 64)
    ids = [0, 1, 2**40 + 3]
    got = _core.evaluate(config, ids)
    for row, net in zip(got, ids, strict=True):
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


def test_stream_version_recorded_and_merge_refused(tmp_path, capsys):
    arch = nnqft.Architecture(activation="erf", width=3)
    x = np.array([[0.3], [1.0]])
    run = nnqft.sample(arch, x, 256, orders=(2,), seed=4, threads=1, progress=False)
    assert _core.STREAM_VERSION == 4 and run.meta["stream_version"] == 4
    # A file written before stream versions were recorded is version 1: it loads, but
    # cannot be merged with a version-4 run of the same seed.
    state = run.state()
    state["meta"] = {k: v for k, v in state["meta"].items() if k != "stream_version"}
    old = nnqft.Correlators.from_state(state)
    assert old.stream_version == 1
    later = nnqft.sample(arch, x, 256, orders=(2,), seed=4, threads=1, progress=False, start=256)
    for a, b in ((old, later), (later, old)):
        with pytest.raises(ValueError, match=r"random-stream versions \((1 and 4|4 and 1)\)"):
            a + b
    assert (run + later).meta["stream_version"] == 4
    # Saved and loaded, and through the CLI's merge.
    old.save(tmp_path / "old")
    later.save(tmp_path / "new")
    assert nnqft.load(tmp_path / "old.npz").stream_version == 1
    status = main(["merge", str(tmp_path / "old.npz"), str(tmp_path / "new.npz"),
                   "--out", str(tmp_path / "both.npz")])
    assert status == 2 and "random-stream versions (1 and 4)" in capsys.readouterr().err
    assert not (tmp_path / "both.npz").exists()
