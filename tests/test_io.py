"""Pickle and .npz round trips are lossless; files are written atomically."""

import json
import pickle

import numpy as np
import pytest
from conftest import XSET_ERF

import nnqft


@pytest.fixture(scope="module", params=["plain", "conditional"])
def corr(request):
    arch = nnqft.Architecture("erf", width=5, sigma_b=[0.5, 1.0])
    return nnqft.sample(arch, XSET_ERF, 5_000, orders=(2, 4, 6), estimator=request.param,
                        seed=12)


def assert_identical(a, b):
    assert a == b
    assert a.meta == b.meta
    for n in (2, 4, 6):
        np.testing.assert_array_equal(a.mean(n), b.mean(n))
        np.testing.assert_array_equal(a.covariance(n), b.covariance(n))
    np.testing.assert_array_equal(a.connected(4)[0], b.connected(4)[0])


def test_pickle_round_trip(corr):
    assert_identical(pickle.loads(pickle.dumps(corr)), corr)


def test_npz_round_trip(corr, tmp_path):
    corr.save(tmp_path / "run")
    back = nnqft.load(tmp_path / "run.npz")
    assert_identical(back, corr)
    assert back.arch == corr.arch and back.estimator == corr.estimator


def test_loaded_runs_still_merge(corr, tmp_path):
    arch, x = corr.arch, corr.x
    kw = dict(orders=corr.orders, estimator=corr.estimator, seed=12)
    nnqft.sample(arch, x, 2_560, **kw).save(tmp_path / "a.npz")
    nnqft.sample(arch, x, 2_440, start=2_560, **kw).save(tmp_path / "b.npz")
    merged = nnqft.load(tmp_path / "a.npz") + nnqft.load(tmp_path / "b.npz")
    assert merged == corr


def test_metadata_is_provenance(corr, tmp_path):
    path = tmp_path / "run.npz"
    corr.save(path)
    with np.load(path) as f:
        meta = json.loads(str(f["__meta__"]))
    assert meta["kind"] == "correlators" and meta["format_version"] == 1
    assert meta["arch"]["activation"] == "erf"
    assert meta["meta"]["seed"]["entropy"] == "12"
    assert meta["meta"]["nnqft_version"] == nnqft.__version__
    assert meta["estimator"] == corr.estimator


def test_unknown_version_is_refused(corr):
    state = corr.state()
    state["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        nnqft.Correlators.from_state(state)


def test_corrupt_state_is_refused(corr):
    state = corr.state()
    state["sums"] = state["sums"][:-3]
    with pytest.raises(ValueError, match="corrupt"):
        nnqft.Correlators.from_state(state)


def test_not_an_nnqft_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    np.save(tmp_path / "bare.npy", np.zeros(3))
    (tmp_path / "table.json").write_text('{"a": 1}')
    for name in ("other.npz", "bare.npy", "table.json"):
        with pytest.raises(ValueError, match="not an nnqft result"):
            nnqft.load(tmp_path / name)


def test_saved_file_mode_follows_the_umask(corr, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = corr.save(tmp_path / "c.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken)
    arch = nnqft.Architecture("erf", width=3)
    corr = nnqft.sample(arch, XSET_ERF, 64, orders=(2,))
    with pytest.raises(KeyboardInterrupt):
        corr.save(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def strict_json(text):
    """Parse standard JSON only: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_one_encoder_writes_null_for_nan_and_inf():
    from nnqft.io import dumps, jsonable

    value = {"a": np.float64("nan"), "b": [1.5, float("inf"), -np.inf], "c": np.arange(3),
             "d": np.array([[0.5, np.nan]]), "e": (np.int64(4), True, None), 7: "seven",
             "z": np.complex128(1 + 2j)}
    expected = {"a": None, "b": [1.5, None, None], "c": [0, 1, 2], "d": [[0.5, None]],
                "e": [4, True, None], "7": "seven", "z": {"real": 1.0, "imag": 2.0}}
    assert jsonable(value) == expected
    assert strict_json(dumps(value)) == expected
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        dumps({"x": object()})


def test_metadata_record_is_strict_json(tmp_path):
    from nnqft.io import read_npz, write_npz

    path = write_npz(tmp_path / "r", {"kind": "test", "cutoff": np.inf, "p": np.nan}, {})
    with np.load(path) as f:
        assert strict_json(str(f["__meta__"])) == {"kind": "test", "cutoff": None, "p": None}
    assert read_npz(path)[0]["cutoff"] is None


def test_load_reads_only_the_members_its_loader_asks_for(corr, tmp_path):
    # An extra member that would be a decompression bomb (declared 1 GiB from a few
    # bytes) is never opened: load() decompresses only what the result's loader reads.
    import zipfile

    bomb = corr.save(tmp_path / "c.npz")
    before = bomb.stat().st_size
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("extra.npy", bytes(2**24))  # 16 MiB of zeros in a few KiB
    assert bomb.stat().st_size - before < 2**16
    assert nnqft.load(bomb) == corr
    from nnqft.io import read_npz  # reading everything does open it, and refuses it
    with pytest.raises(ValueError, match="extra"):
        read_npz(bomb)


# -- hostile files (issue 21) ---------------------------------------------------------------
def _rewrite(path, out, change):
    """Copy the result file ``path`` to ``out`` with ``change(meta, arrays)`` applied."""
    from nnqft.io import read_npz, write_npz

    meta, arrays = read_npz(path)
    change(meta, arrays)
    return write_npz(out, meta, arrays)


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A conditional run over networks [0, 2048) in blocks of 64, saved."""
    c = nnqft.sample(nnqft.Architecture("erf", width=3), [0.2, -0.4], 2048, orders=(2, 4),
                     estimator="conditional", seed=1, threads=1, block_size=64)
    return c.save(tmp_path_factory.mktemp("hostile") / "run.npz")


def test_ranges_must_be_the_stored_blocks(run_file, tmp_path):
    # Shifted by one block the count still adds up, so the file loaded, and merged with
    # the run over [2048, 4096) it gave ranges [[64, 4096]] for 4096 networks: `merge`
    # wrote a file that `load` refused.
    bad = _rewrite(run_file, tmp_path / "shifted.npz",
                   lambda meta, arrays: meta["meta"].__setitem__("ranges", [[64, 2112]]))
    with pytest.raises(ValueError, match=r"cover blocks \[\[1, 33\]\] .* blocks \[\[0, 32\]\]"):
        nnqft.load(bad)
    for ranges in ([[0, 1024], [512, 1536]], [[10, 2058]]):
        bad = _rewrite(run_file, tmp_path / "overlap.npz",
                       lambda meta, arrays, r=ranges: meta["meta"].__setitem__("ranges", r))
        with pytest.raises(ValueError, match="overlap or do not start on blocks of 64"):
            nnqft.load(bad)
    split = _rewrite(run_file, tmp_path / "split.npz",  # the same blocks, split: fine
                     lambda meta, arrays: meta["meta"].__setitem__("ranges", [[0, 64], [64, 2048]]))
    assert nnqft.load(split).n_networks == 2048


@pytest.mark.parametrize("name", ["sums", "shift"])
def test_nan_sums_or_shift_are_refused(run_file, tmp_path, name):
    def poison(meta, arrays):
        arrays[name] = arrays[name].copy()
        arrays[name][1] = np.nan

    with pytest.raises(ValueError, match=f"corrupt correlator state: .*{name}"):
        nnqft.load(_rewrite(run_file, tmp_path / "nan.npz", poison))


@pytest.mark.parametrize("version", ["3", 3.9, 3.0, True, -1, None])
def test_stream_version_is_never_coerced(run_file, tmp_path, version):
    bad = _rewrite(run_file, tmp_path / "sv.npz",
                   lambda meta, arrays: meta["meta"].__setitem__("stream_version", version))
    with pytest.raises(ValueError, match="stream_version must be an integer"):
        nnqft.load(bad)


def _set_encryption_flag(data):
    """Set bit 0 (encrypted) of every local and central zip header's flags."""
    data = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + offset] |= 1
            at = data.find(signature, at + 4)
    return bytes(data)


def test_an_encrypted_zip_is_a_user_error(run_file, tmp_path, capsys):
    from nnqft.cli import main

    path = tmp_path / "encrypted.npz"
    path.write_bytes(_set_encryption_flag(run_file.read_bytes()))
    with pytest.raises(ValueError, match="member __meta__.npy is encrypted"):
        nnqft.load(path)
    assert main(["show", str(path)]) == 2
    assert "is encrypted" in capsys.readouterr().err


def test_loading_applies_the_sampling_memory_check(run_file, tmp_path, monkeypatch):
    # A 2 KB file declaring 2^20 bins of 1000 values: load (which sums the bins) asked
    # for 8 GiB at 1000 values, 18 GiB at 2300.  Now the check that sampling makes.
    from nnqft import _resources
    from nnqft.correlators import observable_size, stored_degrees
    from nnqft.tuples import n_tuples

    k, orders = 4, [2, 4, 6, 8]
    width = sum(n_tuples(observable_size(k, "conditional"), d)
                for d in stored_degrees(tuple(orders), "conditional"))

    def inflate(meta, arrays):
        meta["n_bins"] = meta["meta"]["n_bins"] = 2**20
        meta["orders"], meta["width"] = orders, width
        meta["meta"]["ranges"] = [[0, 1]]
        arrays.update(x=np.linspace(-1, 1, k)[:, None], shift=np.zeros(k * (k + 1) // 2),
                      levels=np.zeros(1, np.int64), indices=np.zeros(1, np.uint64),
                      counts=np.ones(1, np.uint64), sums=np.zeros(width),
                      tail_lengths=np.ones(1, np.uint64), tails=np.ones(1))

    bad = _rewrite(run_file, tmp_path / "inflated.npz", inflate)
    assert bad.stat().st_size < 100_000
    monkeypatch.setattr(_resources, "physical_memory", lambda: 16.0 * 2**30)
    with pytest.raises(ValueError, match=r"accumulator \(1000 stored values per bin x 1048576 "
                                         r"bins x ~4 nodes\) would need about 31.2 GiB"):
        nnqft.load(bad)
    # the check is the sampler's: the same numbers refuse the same run before sampling
    with pytest.raises(ValueError, match=r"1000 stored values per bin x 1048576 bins"):
        nnqft.sample(nnqft.Architecture("erf", width=3), np.linspace(-1, 1, k), 1,
                     orders=orders, estimator="conditional", n_bins=2**20, threads=1)
