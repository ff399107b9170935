"""Checkpoints (nnqft.checkpoint): a chunk file is merged only if it holds what its name
says, config.json is the run plan's identity and refuses edits, and every refusal says
what is wrong in words a user understands."""

import json
import os
import warnings

import pytest
from conftest import XSET_ERF

import nnqft
from nnqft.checkpoint import CONFIG_FILE, _checksum
from nnqft.io import read_npz, write_npz
from nnqft.warnings import CheckpointWarning

ARCH = nnqft.Architecture("tanh", width=8, depth=2)
KW = dict(orders=(2, 4), estimator="conditional", seed=21)


def _chunks(path):
    return sorted(p for p in os.listdir(path) if p.startswith("chunk-") and p.endswith(".npz"))


def test_a_chunk_whose_contents_lie_outside_its_range_is_moved_aside(tmp_path):
    full = nnqft.sample(ARCH, XSET_ERF, 960, **KW)
    nnqft.sample(ARCH, XSET_ERF, 960, checkpoint=tmp_path, chunk_size=320, **KW)
    name = _chunks(tmp_path)[1]
    meta, arrays = read_npz(tmp_path / name)
    meta.pop("checksum")
    meta["states"][0]["meta"]["ranges"] = [[5000, 5320]]  # a valid file, wrong contents
    meta["checksum"] = _checksum(meta, arrays)
    write_npz(tmp_path / name, meta, arrays)
    with pytest.warns(CheckpointWarning, match=r"contents cover networks \[\[5000, 5320\]\]"):
        resumed = nnqft.sample(ARCH, XSET_ERF, 960, checkpoint=tmp_path, chunk_size=320, **KW)
    assert resumed == full and resumed.meta["chunks"]["computed"] == 1
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".corrupt")]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moved aside: not met again
        assert nnqft.sample(ARCH, XSET_ERF, 960, checkpoint=tmp_path, chunk_size=320,
                            **KW) == full


def test_a_corrupt_chunk_that_cannot_be_moved_aside_is_reported_once(tmp_path, monkeypatch):
    full = nnqft.sample(ARCH, XSET_ERF, 640, **KW)
    nnqft.sample(ARCH, XSET_ERF, 640, checkpoint=tmp_path, chunk_size=320, **KW)
    first = tmp_path / _chunks(tmp_path)[0]
    first.write_bytes(first.read_bytes()[:100])

    replace = os.replace

    def refuse_moving_aside(src, dst):  # e.g. a file owned by another user
        if str(dst).endswith(".corrupt"):
            raise PermissionError(13, "Permission denied", str(src))
        replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_moving_aside)
    with pytest.warns(CheckpointWarning) as caught:
        resumed = nnqft.sample(ARCH, XSET_ERF, 640, threads=1, checkpoint=tmp_path,
                               chunk_size=320, **KW)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "could not be moved aside" in messages[0], messages
    assert resumed == full


def test_an_edited_pilot_shift_in_config_json_is_refused(tmp_path):
    nnqft.sample(ARCH, XSET_ERF, 320, checkpoint=tmp_path, chunk_size=320, **KW)
    record = tmp_path / CONFIG_FILE
    config = json.loads(record.read_text())
    config["shift"] = [[v * 1.01 for v in config["shift"][0]]]
    record.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="pilot shift that is not this run's"):
        nnqft.sample(ARCH, XSET_ERF, 640, checkpoint=tmp_path, chunk_size=320, **KW)


@pytest.mark.parametrize("edit,match", [
    (lambda c: [1, 2], "holds a JSON list, not the run configuration"),
    (lambda c: {k: v for k, v in c.items() if k != "shift"}, "no valid pilot shift"),
    (lambda c: dict(c, shift="zero"), "no valid pilot shift"),
    (lambda c: dict(c, shift=[["a", 1]]), "no valid pilot shift"),
    (lambda c: dict(c, arch="tanh"), "belongs to another run; it differs in arch"),
])
def test_a_malformed_config_json_gets_a_message_a_user_understands(tmp_path, edit, match):
    nnqft.sample(ARCH, XSET_ERF, 320, checkpoint=tmp_path, chunk_size=320, **KW)
    record = tmp_path / CONFIG_FILE
    record.write_text(json.dumps(edit(json.loads(record.read_text()))))
    with pytest.raises(ValueError, match=match):
        nnqft.sample(ARCH, XSET_ERF, 320, checkpoint=tmp_path, chunk_size=320, **KW)


def test_an_empty_checkpoint_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # '' would put config.json and the chunks here
    for bad in ("", 3):
        with pytest.raises(ValueError, match="checkpoint must be a non-empty path"):
            nnqft.sample(ARCH, XSET_ERF, 320, checkpoint=bad, **KW)
    assert not list(tmp_path.iterdir())
