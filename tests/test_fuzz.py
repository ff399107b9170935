"""Property-based fuzzing (Hypothesis): random arguments and random or mutated result files
give a result or an nnqft error (ValueError/TypeError naming the problem), never a crash,
a hang or another exception.  Example counts are bounded so the suite stays fast."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnqft

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

from nnqft.io import read_npz

_corr = nnqft.sample(nnqft.Architecture("erf", width=3), [0.2, -0.4], 128, orders=(2, 4),
                     estimator="conditional", seed=1, threads=1)


class Valid(bytes):
    """A valid result file's bytes (short repr: Hypothesis prints failing inputs)."""

    def __repr__(self):
        return f"<valid file, {len(self)} bytes>"


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    path = _corr.save(tmp_path_factory.mktemp("fuzz") / "c.npz")
    return Valid(path.read_bytes())


def _load_bytes(tmp_path, data):
    path = tmp_path / "f.npz"
    path.write_bytes(data)
    try:
        obj = nnqft.load(path)
    except ValueError as err:
        assert str(err)
        return None
    return obj


@FAST
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_refused(tmp_path, data):
    assert _load_bytes(tmp_path, data) is None or data


@FAST
@given(st.data())
def test_mutated_files_load_or_are_refused(tmp_path, valid, data):
    raw = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del raw[i:i + data.draw(st.integers(1, 64))]
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            raw[i] = data.draw(st.integers(0, 255))
        if not raw:
            break
    obj = _load_bytes(tmp_path, bytes(raw))
    if obj is not None:  # a mutation the CRCs allow (e.g. in an unused header field)
        assert obj == _corr


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                      st.lists(st.integers(-3, 3), max_size=3))


def _paths(value, prefix=()):
    """Every path to a leaf of a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list) and value and not all(isinstance(v, (int, float)) for v in value):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))
    else:
        yield prefix


@FAST
@given(st.data())
def test_mutated_metadata_loads_or_is_refused(tmp_path, valid, data):
    (tmp_path / "v.npz").write_bytes(valid)
    meta, arrays = read_npz(tmp_path / "v.npz")
    paths = sorted(_paths(meta), key=repr)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(JSON_LEAF)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps(meta)))
        zf.writestr("__meta__.npy", buf.getvalue())
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnqft.NNQFTWarning)
        obj = _load_bytes(tmp_path, out.getvalue())
        if obj is not None:  # harmless edits (provenance): the numbers must still work
            obj.mean(2), obj.stderr(4)


NUMBERS = st.one_of(st.integers(-2**65, 2**65), st.floats(allow_nan=True), st.none(),
                    st.text(max_size=4), st.booleans(), st.complex_numbers(max_magnitude=5),
                    st.just(np.array(3)), st.just(np.array(10.5)), st.just([1.0, 2.0]))


@FAST
@given(width=NUMBERS, depth=NUMBERS, sigma_w=NUMBERS, sigma_b=NUMBERS, d_in=NUMBERS)
def test_architecture_arguments(width, depth, sigma_w, sigma_b, d_in):
    try:
        nnqft.Architecture("erf", width=width, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b,
                           d_in=d_in)
    except (ValueError, TypeError) as err:
        assert str(err)


SMALL_OR_BAD = st.one_of(st.integers(-2**65, 300), st.floats(allow_nan=True), st.none(),
                         st.text(max_size=3), st.just(np.int64(64)), st.just(2.0))
POWERS = st.one_of(st.sampled_from([0, 1, 2, 3, 48, 64, 2**20, 2**21, 2**31, 2**64, -2]),
                   SMALL_OR_BAD)


@FAST
@given(n_networks=SMALL_OR_BAD, block_size=st.one_of(SMALL_OR_BAD, st.just(2**64)),
       n_bins=POWERS, start=st.one_of(st.just(0), SMALL_OR_BAD, st.just(2**62)),
       orders=st.one_of(st.lists(st.integers(-1, 10), max_size=3), SMALL_OR_BAD),
       seed=st.one_of(st.integers(-3, 2**70), st.none(), st.floats(allow_nan=True)))
def test_sample_arguments(n_networks, block_size, n_bins, start, orders, seed):
    arch = nnqft.Architecture("erf", width=2)
    try:
        c = nnqft.sample(arch, [0.3], n_networks, orders=orders, seed=seed, threads=1,
                         block_size=block_size, n_bins=n_bins, start=start)
    except (ValueError, TypeError) as err:
        assert str(err)
        return
    assert 1 <= c.n_networks <= 300
