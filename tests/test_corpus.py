"""The crafted-file corpus (tests/data/make_corrupt_files.py): every file is refused."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nnqft
from nnqft import _core
from nnqft.cli import main

SCRIPT = Path(__file__).parent / "data" / "make_corrupt_files.py"
_spec = importlib.util.spec_from_file_location("make_corrupt_files", SCRIPT)
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

# The message must name the problem, not just fail.
EXPECTED = {
    "width_2_63": "store 27 values per bin, the file has 9223372036854775808",
    "counts_2_63": "counts add up to 9223372036854777792 networks",
    "counts_overflow": "network counts overflow",
    "tail_length_huge": "declares 4611686018427387904 tail values",
    "estimator_edited": "plain orders .2, 4. on 3 inputs store 21 values",
    "format_version_99": "format version 99",
    "ranges_disagree": "ranges .*hold 64",
    "bomb": "decompression bomb",
    "lying_header": "declares shape .1099511627776,.",
    "meta_deep": "not an nnqft result file",
    "flipped_byte": "Bad CRC-32",
    "object_array": "Python objects",
    "levels_float": "levels must be a 1-D array",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return {p.stem: p for p in corpus.main(tmp_path_factory.mktemp("corrupt"))}


@pytest.mark.parametrize("name", sorted(corpus.CORPUS))
def test_every_crafted_file_is_refused(files, name):
    with pytest.raises(ValueError, match=EXPECTED.get(name)) as info:
        nnqft.load(files[name])
    assert str(info.value)


@pytest.mark.parametrize("name", ["width_2_63", "bomb", "meta_deep", "truncated"])
def test_show_refuses_in_one_line(files, name, capsys):
    assert main(["show", str(files[name])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nnqft show: error:")


def test_the_base_file_loads():
    assert isinstance(nnqft.load(corpus.BASE), nnqft.Correlators)


def test_core_refuses_the_wrapping_size_directly():
    # the segfault of issue 13: width 2^63 with 2 bins made the size check wrap to 0
    empty_u = np.zeros(0, np.uint64)
    with pytest.raises(ValueError, match="width must be in 1..1099511627776"):
        _core.BlockTree.from_state(2, 2**63, np.zeros(1, np.int64), np.zeros(1, np.uint64),
                                   np.ones(2, np.uint64), np.zeros(4), np.zeros(1, np.uint64),
                                   np.zeros(0))
    with pytest.raises(ValueError, match="slot counts do not match"):
        _core.BlockTree.from_state(2, 3, np.zeros(0, np.int64), empty_u, np.ones(2, np.uint64),
                                   np.zeros(5), empty_u, np.zeros(0))
