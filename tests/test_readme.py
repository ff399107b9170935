"""The README's tour runs as written, so it cannot rot.

Every ```python block of README.md is executed in order, in one namespace, in a fresh
directory (the tour writes a file). Tracebacks point at README.md's own line numbers.
Then the claims the tour's comments make are checked on the objects it left behind.
"""

import re
from pathlib import Path

import numpy as np
from conftest import assert_z

import nnqft

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks():
    """(first line number, code) of every ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in FENCE.finditer(text)]


def test_readme_has_a_python_tour():
    blocks = python_blocks()
    assert blocks, "README.md has no ```python block"
    assert any("nnqft.sample(" in code for _, code in blocks)


def test_readme_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__readme__"}
    for line, code in python_blocks():
        exec(compile("\n" * line + code, str(README), "exec"), ns)  # noqa: S102 - the point

    corr, arch, x = ns["corr"], ns["arch"], ns["x"]
    # "the 126 sorted index tuples of the 4-point function" (six inputs)
    assert len(corr.tuples(4)) == 126
    # "connected 4-point function, resolved at N = 1000 ... and its exact value"
    kappa4, err = ns["kappa4"], ns["err"]
    assert np.median(np.abs(kappa4) / err) > 10  # (a few tuples cross zero)
    assert_z(kappa4, err, nnqft.exact(arch, x, order=4, connected=True))
    # save / load round trip
    assert (tmp_path / "erf1000.npz").is_file()
    np.testing.assert_array_equal(ns["same"].mean(4), corr.mean(4))
    np.testing.assert_array_equal(ns["same"].connected(4)[1], err)
    # "total = corr + more": the union of the two disjoint network ranges
    assert ns["total"].n_networks == 2 * corr.n_networks == 65_536
    # the deep ensemble's kappa4 beside the leading 1/N theory (remainder ~ L/N = 0.3%)
    assert_z(ns["deep_kappa4"], ns["deep_err"], ns["th"].connected(4))
