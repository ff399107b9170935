"""Property-based fuzzing (Hypothesis): random arguments and random or mutated result files
give a result or an nnqft error (ValueError/TypeError naming the problem), never a crash,
a hang or another exception.  Example counts and seeds come from the Hypothesis profile
of conftest.py: 60 derandomised examples a test by default, NNQFT_HYPOTHESIS_EXAMPLES
with --hypothesis-seed for the on-demand fuzz job (.ci/fuzz)."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnqft
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


@given(data=st.binary(max_size=4096))
def test_random_bytes_are_refused(tmp_path, data):
    assert _load_bytes(tmp_path, data) is None or data


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


# -- inputs the fuzzing found: refused at once, before any large allocation (issue 21) ---
LIMITED = r"""
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # main used tens of GiB
import numpy as np, nnqft
t0 = time.perf_counter()
try:
    {call}
except ValueError as err:
    print(f"ValueError {{time.perf_counter() - t0:.3f}} {{err}}")
"""


def _refused_in_limited_memory(call):
    """Run ``call`` in a process of 3 GiB address space: (seconds, ValueError message)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", LIMITED.format(call=call)], timeout=120,
                         capture_output=True, text=True)
    assert out.stdout.startswith("ValueError "), out.stdout + out.stderr[-2000:]
    seconds, message = out.stdout.split(" ", 2)[1:]
    return float(seconds), message


@pytest.mark.parametrize("call", [
    "nnqft.Architecture('erf', depth=2**31 - 1)",
    "nnqft.Architecture('erf', depth=10**5 + 1, sigma_w=np.ones(10**5 + 2))",
])
def test_huge_depth_is_refused_before_the_per_layer_lists(call):
    seconds, message = _refused_in_limited_memory(call)
    assert seconds < 1.0 and "depth must be <= 100000" in message


def test_per_layer_sequences_are_read_no_further_than_needed():
    import itertools

    with pytest.raises(ValueError, match=r"depth \+ 1 = 3\), got more than 3 values: \(1.0, 1.0, 1.0, 1.0\)"):
        nnqft.Architecture("erf", depth=2, sigma_w=itertools.repeat(1.0))  # endless
    arch = nnqft.Architecture("erf", depth=2, sigma_w=iter([1.0, 2.0, 3.0]))
    assert arch.sigma_w == (1.0, 2.0, 3.0)
    assert nnqft.Architecture("erf", depth=nnqft.architecture.MAX_DEPTH).n_layers == 10**5 + 1


def test_finite_width_on_200_inputs_is_refused_before_allocating():
    # main built 8 GiB arrays and was OOM-killed at 24 GB; the check costs microseconds
    seconds, message = _refused_in_limited_memory(
        "nnqft.finite_width(nnqft.Architecture('erf', depth=2), np.linspace(-1, 1, 200))")
    assert seconds < 1.0
    assert "the 1/N theory on 200 inputs (20100 x 20100 pair matrices) would need" in message


def test_finite_width_memory_estimate_bounds_the_measured_peak(monkeypatch):
    import tracemalloc

    from nnqft import _resources, deep_theory

    x = np.linspace(-1, 1, 16)
    for act in ("erf", "linear"):
        deep_theory._CACHE.clear()
        tracemalloc.start()
        nnqft.finite_width(nnqft.Architecture(act, depth=2), x)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < deep_theory._LO_BYTES_PER_PAIR_PAIR * (16 * 17 // 2) ** 2
    # a 16 GiB machine runs up to k = 51 (4 GiB of arrays), which takes seconds
    monkeypatch.setattr(_resources, "physical_memory", lambda: 16.0 * 2**30)
    deep_theory._check_memory(51)
    with pytest.raises(ValueError, match="1/N theory on 52 inputs"):
        deep_theory._check_memory(52)


def test_errors_of_a_result_beyond_the_theorys_sigma_range():
    # Found at 4000 examples: a file with sigma_b = 1.5e150 loaded, then stderr() raised
    # OverflowError from the exact-kernel check; so did the same run sampled directly.
    # erf saturates: every neuron is sign(b0), C = 1 + 1 exactly, with zero error.
    arch = nnqft.Architecture("erf", width=3, sigma_b=[1.5e150, 1.0])
    c = nnqft.sample(arch, [0.2, -0.4], 2048, orders=(2, 4), estimator="conditional", seed=1,
                     threads=1)
    assert c.kernel_check() is None
    np.testing.assert_array_equal(c.mean(2), 2.0)
    np.testing.assert_array_equal(c.stderr(4), 0.0)
