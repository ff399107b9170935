"""Smoke test of an installed nnqft wheel (cibuildwheel's test-command and .ci/run).

Run from outside the source tree, so that the installed package is imported:
``python .ci/wheel_smoke.py``. Checks that the compiled core loads, that the kernel path
chosen at import is the best one this CPU supports, that every path the CPU supports is
in the wheel and gives the same correlators, and that a small ensemble agrees with the
exact theory. A few seconds.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import numpy as np

import nnqft
from nnqft import _core

PATHS = ("avx512", "avx2", "generic")  # best first, as the core chooses


def cpu_paths() -> list[str]:
    """The kernel paths this CPU can run, from the OS's view of its flags (Linux, macOS)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ["generic"]
    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = cpuinfo.read_text()
    else:  # macOS
        import subprocess

        flags = subprocess.run(["sysctl", "-a"], capture_output=True, text=True).stdout.lower()
    words = set(flags.replace(".", " ").split())
    paths = ["generic"]
    if {"avx2", "fma"} <= words:
        paths.insert(0, "avx2")
        if {"avx512f", "avx512dq"} <= words:
            paths.insert(0, "avx512")
    return paths


def main() -> int:
    here = Path(nnqft.__file__).resolve()
    print(f"nnqft {nnqft.__version__} from {here.parent}")
    assert "site-packages" in str(here) or "dist-packages" in str(here), "not the installed wheel"

    supported = cpu_paths()
    chosen = _core.kernel_path()
    print(f"kernel path at import: {chosen}; this CPU supports {supported}")
    assert chosen == supported[0], (chosen, supported)

    arch = nnqft.Architecture("erf", width=50)
    x = np.array([-1.0, -0.2, 0.6, 1.0])
    runs = {}
    for path in supported:  # every path the CPU runs must be in the wheel
        assert _core.set_kernel_path(path), f"the wheel lacks the {path} kernels"
        runs[path] = nnqft.sample(arch, x, 16_384, orders=(2, 4), estimator="conditional",
                                  seed=1, threads=2)
    assert _core.set_kernel_path(chosen)
    ref = runs["generic"]
    for path, corr in runs.items():  # same networks on every path, to rounding
        np.testing.assert_allclose(corr.mean(4), ref.mean(4), rtol=1e-9, err_msg=path)

    kappa4, err = ref.connected(4)
    z = (kappa4 - nnqft.exact(arch, x, order=4, connected=True)) / err
    print(f"kappa4 against exact theory: max |z| = {np.abs(z).max():.2f} over {z.size} tuples")
    assert np.abs(z).max() < 5
    print("wheel smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
