"""Ctrl-C stops a long run within a fraction of a second and raises KeyboardInterrupt."""

import signal
import subprocess
import sys
import time

SCRIPT = r"""
import sys, time, numpy as np, nnqft
arch = nnqft.Architecture("erf", width=2000)
print("ready", flush=True)
t0 = time.perf_counter()
try:
    nnqft.sample(arch, np.linspace(-1, 1, 6), 10**9, threads=2)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter() - t0:.3f}", flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(1)
"""


def test_ctrl_c_interrupts_sampling_quickly():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # well inside the (days-long) run
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    latency = time.perf_counter() - sent
    assert proc.returncode == 0, out
    assert out.startswith("interrupted")
    assert latency < 2.0  # process teardown included; the poll interval is 50 ms
