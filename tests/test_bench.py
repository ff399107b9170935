"""The benchmark scripts run and print their tables (--quick; nothing is timed here)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script,expected", [
    ("bench_sampling.py", ["| numpy (vectorised, float64) |", "| nnqft plain | 2 |",
                           "| whole network |", "Ceiling at these kernel costs", "peak RSS"]),
    ("bench_precision.py", ["| relu N=100 | nnqft conditional", "| erf N=1000 | numpy plain"]),
    ("bench_depth.py", ["| depth 3, gram |", "| depth 3, weights |", "Depth scan (gram, N=100)",
                        "| 3 | 300 |"]),
    ("bench_nlo.py", ["| activation | depth | order 1 CPU (s) | order 2 CPU (s) |", "| relu | 2 |"]),
    ("bench_dask.py", ["| networks per chunk | chunks | local wall (s) | Dask wall (s) |",
                       "| CPU overhead |", "| 1e+04 | 4 |", "scheduler cost per task",
                       "idle cluster", "checkpoint writes"]),
])
def test_benchmark_runs(script, expected):
    if not (BENCH / script).exists():
        pytest.skip("bench/ is not next to the tests (installed tests only)")
    out = subprocess.run([sys.executable, str(BENCH / script), "--quick"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for line in expected:
        assert line in out.stdout, (line, out.stdout[-2000:])
