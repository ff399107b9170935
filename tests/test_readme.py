"""The README's examples run as written, so they cannot rot.

Every ```python block of README.md runs as a user would paste it into a script: alone,
``python block.py`` in a fresh process and an empty directory (so a Dask block without
its ``if __name__ == "__main__":`` guard fails here as it would for the user; tracebacks
give README.md's own line numbers). The claims the comments make are then checked on
the objects each block left behind. The cheap ```bash blocks run too, in a shell where
``nnqft`` is this interpreter's command line.
"""

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_z

import nnqft

README = Path(__file__).resolve().parents[1] / "README.md"
# the nnqft this test imported (installed, or the developer's tree), for the fresh processes
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(nnqft.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}


def blocks(language):
    """(first line number, code) of every fenced block of ``language`` in the README."""
    text = README.read_text(encoding="utf-8")
    fence = re.compile(rf"^```{language}\n(.*?)^```", re.S | re.M)
    return [(text.count("\n", 0, m.start(1)), m.group(1)) for m in fence.finditer(text)]


def _block(marker):
    found = [(line, code) for line, code in blocks("python") if marker in code]
    assert len(found) == 1, f"one README python block with {marker!r}"
    return found[0]


def run_block(tmp_path, marker, names=(), timeout=300):
    """Run the README block containing ``marker`` as ``python block.py``; its named objects.

    block.py is the block, shifted to its README line numbers (so a traceback's line is
    README.md's), then a few lines that pickle the objects the test checks.
    """
    line, code = _block(marker)
    epilogue = ("\nif __name__ == '__main__':\n    import pickle as _p\n"
                f"    with open('names.pkl', 'wb') as _f:\n"
                f"        _p.dump({{n: globals()[n] for n in {list(names)!r}}}, _f)\n")
    (tmp_path / "block.py").write_text("\n" * line + code + epilogue)
    proc = subprocess.run([sys.executable, "block.py"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"README.md block at line {line + 1}:\n{proc.stderr}"
    with open(tmp_path / "names.pkl", "rb") as fh:
        return pickle.load(fh)


def test_every_python_block_is_tested():
    markers = ["corr.save(\"erf1000.npz\")", "th = nnqft.finite_width(", "sample_dask(client, arch",
               "nnqft.massive_spectrum(1.0, d=1)"]
    assert len(blocks("python")) == len(markers)
    for m in markers:
        _block(m)


def test_readme_tour(tmp_path):
    ns = run_block(tmp_path, "corr.save(\"erf1000.npz\")",
                   ["corr", "arch", "x", "kappa4", "err", "same", "total"])
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
    # "now 3"
    assert corr.meta["stream_version"] == 4


def test_readme_deep_networks(tmp_path):
    ns = run_block(tmp_path, "th = nnqft.finite_width(", ["th", "deep_kappa4", "deep_err"])
    # the deep ensemble's kappa4 beside the leading 1/N theory (remainder ~ L/N = 0.3%)
    assert_z(ns["deep_kappa4"], ns["deep_err"], ns["th"].connected(4))


def test_readme_field_theories_by_design(tmp_path):
    ns = run_block(tmp_path, "nnqft.massive_spectrum(1.0, d=1)",
                   ["scalar", "r", "g2", "g2_err", "propagator", "k4", "k4_err", "k4_exact",
                    "shells", "lpa"])
    scalar, r = ns["scalar"], ns["r"]
    # "e^(−m r)/2, exact at every width", and the sampled G(0, r) beside it
    np.testing.assert_allclose(ns["propagator"], 0.5 * np.exp(-r), rtol=1e-12)
    pairs = [scalar.index(0, a) for a in range(len(r))]
    assert_z(ns["g2"][pairs], ns["g2_err"][pairs], ns["propagator"])
    assert_z(ns["k4"], ns["k4_err"], ns["k4_exact"])
    shells = ns["shells"]
    np.testing.assert_allclose(shells.exact_kernel[:, 0], np.arctan(shells.shells) / np.pi,
                               rtol=1e-10)  # "K_Λ(0) = arctan(Λ/m)/π"
    assert_z(shells.couplings["u4"], shells.errors["u4"], shells.exact_couplings["u4"])
    np.testing.assert_allclose(shells.dimensionless("u4"),  # Z = 1 here (σ_a = 1, m = 1)
                               shells.couplings["u4"] * shells.shells**-3)
    assert ns["lpa"].scale[0] == 0.5
    assert ns["lpa"].couplings["u4"][0] == pytest.approx(shells.couplings["u4"][0])


def test_readme_dask_block_runs_as_a_script(tmp_path):
    run_block(tmp_path, "sample_dask(client, arch")  # asserts the same bits itself
    assert (tmp_path / "erf1000.ckpt" / "config.json").is_file()


def test_readme_command_line_examples(tmp_path):
    (line, code), = [(n, c) for n, c in blocks("bash") if "nnqft merge a.npz" in c]
    script = (f'set -euo pipefail\nnnqft() {{ "{sys.executable}" -m nnqft.cli "$@"; }}\n'
              + code.replace("\\\n", " "))
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"README.md line {line}: {proc.stderr}"
    out = proc.stdout
    assert "merged 2 runs, 200000 networks" in out
    assert "REJECTED" in out  # the text after the block: the local u4 is rejected for erf
    flow = nnqft.load(tmp_path / "flow.npz")
    u4, err = flow.couplings["u4"], flow.errors["u4"]
    assert np.all(np.abs(u4 - flow.exact_couplings["u4"]) < 5 * err)  # "beside theory"
    assert flow.exponent()[0] == pytest.approx(-3, abs=0.05)  # "~ sigma^-3"
