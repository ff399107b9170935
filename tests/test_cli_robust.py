"""The command line under misuse: one line and exit 2 for user errors, nothing lost."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nnqft import _output, cli
from nnqft.cli import main

SMALL = ["--width", "3", "--x=0.5", "--orders", "2", "--n-networks", "256", "--no-progress",
         "--threads", "1"]
ENDLESS = ["--width", "3", "--x=0.5", "--orders", "2", "--n-networks", str(10**11),
           "--no-progress", "--threads", "1"]  # hours of work: must be refused first


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], err


def test_output_location_is_checked_before_sampling(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    t0 = time.perf_counter()
    assert main(["sample", *ENDLESS, "--out", str(blocker / "sub" / "r.npz")]) == 2
    assert time.perf_counter() - t0 < 5
    _one_line_error(capsys, "not a directory")
    (tmp_path / "dir.npz").mkdir()
    assert main(["sample", *ENDLESS, "--out", str(tmp_path / "dir")]) == 2
    _one_line_error(capsys, "is a directory")


def test_existing_result_needs_force(tmp_path, capsys):
    out = tmp_path / "r.npz"
    assert main(["sample", *SMALL, "--seed", "1", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["sample", *ENDLESS, "--seed", "2", "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "already exists", "--force")
    assert out.read_bytes() == before
    assert main(["sample", *SMALL, "--seed", "2", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != before
    assert main(["fit", str(out), "--out", str(out)]) == 2  # fit --out is checked too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]  # no lock or temporaries


def test_study_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "report.md").write_text("an earlier study")
    assert main(["run", "--quick", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "already exists")


def test_concurrent_writers_cannot_both_succeed(tmp_path, capsys):
    out = tmp_path / "r.npz"
    with _output.claim_output(out, force=False):  # another run is writing r.npz
        assert main(["sample", *ENDLESS, "--out", str(out)]) == 2
        _one_line_error(capsys, "another nnqft process is writing")
        assert main(["sample", *ENDLESS, "--out", str(out), "--force"]) == 2
    assert main(["sample", *SMALL, "--out", str(out)]) == 0  # free again


def test_concurrent_processes_one_wins(tmp_path):
    argv = [sys.executable, "-m", "nnqft.cli", "sample", "--width", "50", "--x=0.5",
            "--orders", "2", "--n-networks", "20000", "--no-progress", "--threads", "1",
            "--out", str(tmp_path / "r.npz")]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert "another nnqft process" in loser[1] or "already exists" in loser[1]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", b"\x93NUMPY garbage"])
def test_broken_files_are_one_line_errors(tmp_path, capsys, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    assert main(["show", str(bad)]) == 2
    _one_line_error(capsys, "nnqft show: error:")
    assert main(["merge", str(bad), str(bad), "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, "nnqft merge: error:")


def test_directory_and_truncated_result_and_deep_json(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    _one_line_error(capsys, "nnqft show: error:")
    good = tmp_path / "r.npz"
    assert main(["sample", *SMALL, "--out", str(good)]) == 0
    capsys.readouterr()
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        assert main(["show", str(tmp_path / "cut.npz")]) == 2
        _one_line_error(capsys, "nnqft show: error:")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["show", str(deep)]) == 2
    _one_line_error(capsys, "nested too deeply")


def test_disk_full_is_a_user_error_and_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    assert main(["sample", *SMALL, "--out", str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_internal_errors_exit_1_with_a_hint(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("invariant violated")

    monkeypatch.setitem(cli._COMMANDS, "show", broken)
    assert main(["show", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: invariant violated" in err
    assert "please report it" in err and "Traceback" not in err


def test_a_failed_cluster_is_not_reported_as_a_bug(tmp_path, capsys, monkeypatch):
    from types import SimpleNamespace

    from distributed.scheduler import KilledWorker

    def killed(args):  # what Dask raises when a worker dies, e.g. out of memory
        raise KilledWorker("chunk-3", SimpleNamespace(address="tcp://127.0.0.1:4000"), 3)

    monkeypatch.setitem(cli._COMMANDS, "show", killed)
    assert main(["show", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the Dask cluster failed (KilledWorker" in err and "--checkpoint to resume" in err
    assert "internal error" not in err


def test_sigterm_stops_fast_and_leaves_nothing(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnqft.cli", "sample", *ENDLESS, "--width", "3000",
         "--n-networks", "1000000000", "--out", str(tmp_path / "r.npz")],
        stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".r.npz.lock"  # taken after the handler is installed
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # inside the sampling
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.perf_counter() - sent < 5.0
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no result, temporary or lock file


def test_json_show_prints_valid_outline(tmp_path, capsys):
    record = tmp_path / "t.json"
    record.write_text(json.dumps({"a": [1, 2], "b": {"c": 1.5}}))
    assert main(["show", str(record)]) == 0
    assert "c: 1.5" in capsys.readouterr().out
