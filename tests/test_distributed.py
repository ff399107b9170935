"""Scale-out: Dask runs and checkpointed runs equal the local run bit for bit, survive a
killed worker or an interrupted client, refuse foreign checkpoints and never merge a
corrupt chunk."""

import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import XSET_ERF

import nnqft
from nnqft.checkpoint import Checkpoint
from nnqft.io import read_npz, write_npz
from nnqft.warnings import CheckpointWarning

distributed = pytest.importorskip("distributed")
from nnqft.distributed import sample_dask  # noqa: E402

ARCH = nnqft.Architecture("tanh", width=8)
KW = dict(orders=(2, 4), estimator="conditional", seed=21)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _chunks(path):
    return sorted(p for p in os.listdir(path) if p.startswith("chunk-") and p.endswith(".npz"))


def test_dask_equals_local_run(client, tmp_path):
    deep = nnqft.Architecture("tanh", width=8, depth=3, sigma_b=0.4)
    for arch, sampler in ((ARCH, "weights"), (deep, "gram")):
        local = nnqft.sample(arch, XSET_ERF, 5_000, threads=2, sampler=sampler, **KW)
        remote = sample_dask(client, arch, XSET_ERF, 5_000, chunk_size=700, sampler=sampler,
                             **KW)
        assert remote == local and remote.meta["sampler"] == sampler
        np.testing.assert_array_equal(remote.connected(4)[1], local.connected(4)[1])
    assert remote.meta["ranges"] == [[0, 5_000]] and remote.meta["chunks"]["computed"] == 8
    local = nnqft.sample(ARCH, XSET_ERF, 5_000, threads=2, **KW)
    # with a checkpoint on the cluster: the workers write the chunks, a rerun reads them
    ckpt = tmp_path / "ckpt"
    assert sample_dask(client, ARCH, XSET_ERF, 5_000, chunk_size=700, checkpoint=ckpt,
                       **KW) == local
    assert len(_chunks(ckpt)) == 8
    again = sample_dask(client, ARCH, XSET_ERF, 5_000, chunk_size=700, checkpoint=ckpt, **KW)
    assert again == local and again.meta["chunks"]["computed"] == 0


def test_killed_worker_costs_no_bits(client):
    """SIGKILL one worker process mid-run: Dask redoes its work, the bits do not change."""
    arch = nnqft.Architecture("erf", width=32)
    kw = dict(orders=(2, 4, 6), seed=5)
    n = 240_000  # long enough to be killed mid-run (120000 once finished first)
    local = nnqft.sample(arch, XSET_ERF, n, threads=2, **kw)
    out = {}
    run = threading.Thread(target=lambda: out.update(
        r=sample_dask(client, arch, XSET_ERF, n, chunk_size=4_000, **kw)))
    pids = client.run(os.getpid)
    run.start()
    deadline = time.monotonic() + 30
    while not all(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.02)  # both workers busy
    time.sleep(0.1)
    assert run.is_alive(), "the run finished before the kill: make it longer"
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    run.join(120)
    assert out["r"] == local
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the next test
    assert set(client.run(os.getpid).values()) != set(pids.values())


@pytest.mark.filterwarnings("ignore::nnqft.warnings.UnreliableErrorWarning")
def test_sigma_grid_on_dask_with_checkpoint(client, tmp_path):
    erf = nnqft.Architecture("erf", width=8)
    archs = [erf.scaled("w", s) for s in (1.0, 2.0, 3.0)]
    local = nnqft.sampling.sample_grid(archs, XSET_ERF, 3_000, threads=1, **KW)
    remote = nnqft.sampling.sample_grid(archs, XSET_ERF, 3_000, client=client, chunk_size=640,
                                        checkpoint=tmp_path, **KW)
    assert all(r == c for r, c in zip(remote, local, strict=True))
    flow = nnqft.sigma_flow(erf, XSET_ERF, [1.0, 2.0, 3.0], n_networks=3_000, seed=21,
                            with_exact=False, cutoff=10.0, client=client, chunk_size=640,
                            checkpoint=tmp_path)  # resumes the grid run above: same config
    ref = nnqft.sigma_flow(erf, XSET_ERF, [1.0, 2.0, 3.0], n_networks=3_000, seed=21,
                           with_exact=False, cutoff=10.0, threads=1)
    np.testing.assert_array_equal(flow.couplings["u4"], ref.couplings["u4"])
    np.testing.assert_array_equal(flow.covariance["u4"], ref.covariance["u4"])


def test_local_checkpoint_resumes_extends_and_recomputes_corrupt_chunks(tmp_path):
    full = nnqft.sample(ARCH, XSET_ERF, 6_000, threads=1, **KW)
    first = nnqft.sample(ARCH, XSET_ERF, 4_000, threads=1, checkpoint=tmp_path,
                         chunk_size=1_000, **KW)
    assert first == nnqft.sample(ARCH, XSET_ERF, 4_000, threads=1, **KW)
    names = _chunks(tmp_path)
    assert len(names) == 4
    # truncate one chunk; rewrite another with altered sums but a valid file (checksum)
    data = (tmp_path / names[1]).read_bytes()
    (tmp_path / names[1]).write_bytes(data[: len(data) // 2])
    meta, arrays = read_npz(tmp_path / names[2])
    arrays["0:sums"] = arrays["0:sums"] * (1 + 1e-15)
    write_npz(tmp_path / names[2], meta, arrays)
    with pytest.warns(CheckpointWarning) as caught:
        resumed = nnqft.sample(ARCH, XSET_ERF, 6_000, threads=1, checkpoint=tmp_path,
                               chunk_size=1_000, **KW)
    reasons = " ".join(str(w.message) for w in caught)
    assert "unreadable" in reasons and "checksum mismatch" in reasons
    assert resumed == full
    # two corrupt chunks recomputed, two new ones at the end
    assert resumed.meta["chunks"]["computed"] == 4
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".corrupt")]) == 2
    assert len(_chunks(tmp_path)) == 6


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    nnqft.sample(ARCH, XSET_ERF, 1_000, threads=1, checkpoint=tmp_path, **KW)
    for change, name in ((dict(seed=22), "seed"), (dict(orders=(2, 4, 6)), "orders"),
                         (dict(estimator="plain"), "estimator")):
        with pytest.raises(ValueError, match=f"belongs to another run.*{name} \\(checkpoint"):
            nnqft.sample(ARCH, XSET_ERF, 1_000, threads=1, checkpoint=tmp_path,
                         **dict(KW, **change))
    with pytest.raises(ValueError, match="arch"):
        nnqft.sample(nnqft.Architecture("tanh", width=9), XSET_ERF, 1_000, checkpoint=tmp_path,
                     **KW)
    with pytest.raises(ValueError, match="x \\(checkpoint"):
        nnqft.sample(ARCH, XSET_ERF[:5], 1_000, checkpoint=tmp_path, **KW)
    deep = nnqft.Architecture("tanh", width=8, depth=2)
    nnqft.sample(deep, XSET_ERF, 640, checkpoint=tmp_path / "d", sampler="weights", **KW)
    with pytest.raises(ValueError, match="sampler \\(checkpoint: \"weights\", this run: \"gram\""):
        nnqft.sample(deep, XSET_ERF, 640, checkpoint=tmp_path / "d", sampler="gram", **KW)
    with pytest.raises(ValueError, match="seed=None"):
        nnqft.sample(ARCH, XSET_ERF, 1_000, checkpoint=tmp_path / "b", **dict(KW, seed=None))
    # a chunk file copied from another run is not merged either
    with pytest.warns(CheckpointWarning, match="another run configuration"):
        assert Checkpoint(tmp_path, "f" * 32).load(*_range(_chunks(tmp_path)[0])) is None


def _range(name):
    a, b = name[len("chunk-"):-len(".npz")].split("-")
    return int(a), int(b)


CLI = ["sample", "--activation", "erf", "--width", "64", "--x=-1,-0.5,0.2,0.7",
       "--orders", "2,4,6", "--seed", "3", "--n-networks", "48000", "--chunk-size", "2000",
       "--no-progress"]


@pytest.mark.parametrize("how", ["SIGTERM, local", "SIGINT, scheduler"])
def test_cli_interrupted_run_resumes_to_the_same_bits(tmp_path, client, how):
    """Interrupt a CLI run (local, or on the running cluster by its address), rerun it."""
    sig = signal.SIGTERM if how.startswith("SIGTERM") else signal.SIGINT
    extra = ["--threads", "1"]
    if how.endswith("scheduler"):
        extra += ["--scheduler", client.scheduler.address]
    ckpt, out = tmp_path / "ckpt", tmp_path / "run.npz"
    cmd = [sys.executable, "-m", "nnqft.cli", *CLI, *extra, "--checkpoint", str(ckpt),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not ckpt.exists() or len(_chunks(ckpt)) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert "rerun the same command to resume" in err
    done = len(_chunks(ckpt))
    assert 2 <= done < 24 and not out.exists()
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    result = nnqft.load(out)
    assert result.meta["chunks"]["computed"] == 24 - done
    arch = nnqft.Architecture("erf", width=64)
    assert result == nnqft.sample(arch, [-1, -0.5, 0.2, 0.7], 48_000, orders=(2, 4, 6), seed=3,
                                  threads=2)


def test_cli_local_cluster(tmp_path, capsys):
    """``--scheduler local:N`` starts and stops its own cluster of N worker processes."""
    from nnqft.cli import main

    small = ["--width", "4", "--n-networks", "2000", "--orders", "2,4", "--no-progress",
             "--chunk-size", "500"]
    assert main(["sample", *small, "--scheduler", "local:1", "--out", str(tmp_path / "d")]) == 0
    assert main(["sample", *small, "--out", str(tmp_path / "l")]) == 0
    dask_run = nnqft.load(tmp_path / "d.npz")
    assert dask_run == nnqft.load(tmp_path / "l.npz")
    assert dask_run.meta["chunks"]["computed"] == 4
    assert main(["sample", *small, "--scheduler", "local:0", "--out", str(tmp_path / "e")]) == 2
    assert "local:N' needs N >= 1" in capsys.readouterr().err


def test_cli_refuses_a_foreign_checkpoint(tmp_path, capsys):
    from nnqft.cli import main

    small = ["sample", "--width", "4", "--n-networks", "640", "--orders", "2", "--no-progress",
             "--threads", "1", "--checkpoint", str(tmp_path / "c")]
    assert main([*small, "--out", str(tmp_path / "a")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([*small, "--seed", "1", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "belongs to another run" in err and "seed (checkpoint" in err
    assert not (tmp_path / "b.npz").exists()


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


def test_checkpoint_resumes_on_another_kernel_path(tmp_path):
    # The pilot shift is recomputed per machine and may differ in the last bit between
    # kernel paths; the checkpoint's recorded shift is the run's, so a run started on the
    # generic path resumes on the native one instead of being refused (or not merging).
    from nnqft import _core

    arch = nnqft.Architecture("erf", width=40, depth=2)
    kw = dict(orders=(2, 4), estimator="conditional", seed=5, checkpoint=tmp_path,
              chunk_size=320)
    native = _core.kernel_path()
    try:
        assert _core.set_kernel_path("generic")
        first = nnqft.sample(arch, XSET_ERF, 320, **kw)
    finally:
        _core.set_kernel_path(native)
    whole = nnqft.sample(arch, XSET_ERF, 640, **kw)
    assert first.n_networks == 320 and whole.n_networks == 640
    local = nnqft.sample(arch, XSET_ERF, 640, orders=(2, 4), estimator="conditional", seed=5)
    # Half the networks came from the generic path: without FMA, a third of its
    # single-precision normals differ from the native ones by an ulp (2^-24), which moves
    # these means by ~1e-10 relative; a different network would move them by ~1e-2.
    np.testing.assert_allclose(whole.mean(4), local.mean(4), rtol=1e-8)
    # Between paths that both have FMA the networks are the same bits.
    if native != "avx2" and _core.set_kernel_path("avx2"):
        try:
            on_avx2 = nnqft.sample(arch, XSET_ERF, 640, orders=(2, 4), estimator="conditional",
                                   seed=5)
        finally:
            _core.set_kernel_path(native)
        assert on_avx2 == local


def test_sigma_flow_with_checkpoint_needs_a_fixed_seed(tmp_path):
    arch = nnqft.Architecture("erf", width=8)
    with pytest.raises(ValueError, match="seed=None"):
        nnqft.sigma_flow(arch, XSET_ERF, [1.0, 2.0], n_networks=64, seed=None,
                         checkpoint=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before any work


def test_chunked_runs_are_checked_as_a_whole(tmp_path):
    # Each chunk is feasible on its own; the run is not (centuries on this machine), and
    # must be refused before any work, as the unchunked sample() refuses it.
    arch = nnqft.Architecture("erf", width=1000)
    with pytest.raises(ValueError, match="days"):
        nnqft.sample(arch, XSET_ERF, 10**15, chunk_size=10**6, checkpoint=tmp_path)
    assert not list(tmp_path.glob("chunk-*"))


def test_a_progress_callable_is_called_in_chunked_runs(tmp_path):
    arch = nnqft.Architecture("erf", width=8)
    seen: list[int] = []
    nnqft.sample(arch, XSET_ERF, 640, progress=seen.append, checkpoint=tmp_path, chunk_size=128)
    assert seen == sorted(seen) and seen[-1] == 640
    resumed: list[int] = []  # a resumed run starts from what the checkpoint holds
    nnqft.sample(arch, XSET_ERF, 768, progress=resumed.append, checkpoint=tmp_path,
                 chunk_size=128)
    assert resumed == [768]


def test_the_progress_bar_of_a_chunked_run_counts_every_network_once(tmp_path, capfd):
    # each chunk's hook moves the one bar on from where the chunk began; a resumed run
    # starts the bar at what the checkpoint holds
    arch = nnqft.Architecture("erf", width=8)
    for n in (640, 768):
        nnqft.sample(arch, XSET_ERF, n, progress=True, checkpoint=tmp_path, chunk_size=128)
        lines = [ln for ln in capfd.readouterr().err.replace("\r", "\n").splitlines() if ln.strip()]
        assert lines[-1].startswith("sampling: 100%") and f"{n}/{n}" in lines[-1]
