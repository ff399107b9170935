"""Ctrl-C stops a long run within a fraction of a second and raises KeyboardInterrupt."""

import signal
import subprocess
import sys
import time

import pytest

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


WIDE_SCRIPT = r"""
import os, signal, sys, threading, time, numpy as np, nnqft
arch = nnqft.Architecture("erf", width=10**7)  # one network takes ~0.5-2 s
sent = []
def interrupt():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
for delay in (0.9, 1.6):
    threading.Timer(delay, interrupt).start()
    try:
        nnqft.sample(arch, [0.5], 10**6, orders=(2,), threads=1, block_size=1, n_bins=2)
    except KeyboardInterrupt:
        print(f"{time.perf_counter() - sent[-1]:.3f}", flush=True)
"""


def test_ctrl_c_stops_within_half_a_second_inside_one_wide_network():
    # The stop is polled inside the network evaluation (every 2^16 neurons), not only
    # between networks: before, width 10^7 took up to a whole network (0.7 s) to stop.
    out = subprocess.run([sys.executable, "-c", WIDE_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert len(out) == 2, out
    assert all(float(t) < 0.5 for t in out), out


PILOT_SCRIPT = r"""
import os, signal, sys, threading, time, numpy as np, nnqft
from nnqft import _core
from nnqft._plan import core_config
arch = nnqft.Architecture("erf", width=10**7)  # one network takes ~0.1-0.5 s
config = core_config(arch, np.array([[0.5], [1.0]]), (0, 1), "conditional", (2,), [], 32, 64)
sent = []
def interrupt():
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
calls = [lambda: _core.evaluate(config, list(range(10**4)), 1),  # the pilot shift's call
         lambda: nnqft.sample(arch, [0.5, 1.0], 10**6, orders=(2,), estimator="conditional",
                              threads=1, block_size=1, n_bins=2)]  # inside its pilot shift
for call in calls:
    for delay in (0.3, 0.8):
        threading.Timer(delay, interrupt).start()
        try:
            call()
        except KeyboardInterrupt:
            print(f"{time.perf_counter() - sent[-1]:.3f}", flush=True)
"""


def test_ctrl_c_stops_the_conditional_pilot_shift_within_half_a_second():
    # The conditional estimator first evaluates 16 pilot networks (its numerical shift) in
    # one C++ call; it looked at no signal, so Ctrl-C at width 10^7 took 3-28 s.
    out = subprocess.run([sys.executable, "-c", PILOT_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert len(out) == 4, out
    assert all(float(t) < 0.5 for t in out), out


GRAM_SCRIPT = r"""
import os, signal, sys, threading, time, numpy as np, nnqft
# The Gram sampler at many inputs: its Gram sums and z = A xi cost N k^2 per layer, one
# C++ call of ~1 s each before (k = 300, N = 10^5), seconds at k = 40, N = 10^7.
arch = nnqft.Architecture("erf", width=10**5, depth=2)
x = np.linspace(-1, 1, 300)
sent = []
def interrupt_after(cpu_seconds):  # CPU time, so that the stop lands in the Gram work
    start = time.process_time()
    while time.process_time() - start < cpu_seconds:
        time.sleep(0.005)
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
for estimator, cpu_seconds in (("plain", 0.5), ("plain", 1.2), ("conditional", 0.8)):
    threading.Thread(target=interrupt_after, args=(cpu_seconds,)).start()
    try:  # the conditional estimator is stopped inside its pilot shift's networks
        nnqft.sample(arch, x, 100, orders=(2,), estimator=estimator, threads=1,
                     sampler="gram", block_size=1, n_bins=2)
    except KeyboardInterrupt:
        print(f"{time.perf_counter() - sent[-1]:.3f}", flush=True)
"""


def test_ctrl_c_stops_the_gram_sampler_within_half_a_second_at_many_inputs():
    # The Gram sums (h h^T, read-out kernel), the read-outs and z = A xi poll the stop
    # every ~2^24 multiply-adds, carrying their partial sums (the same bits); before,
    # this stop took 1.8-3.3 s.
    out = subprocess.run([sys.executable, "-c", GRAM_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert len(out) == 3, out
    assert all(float(t) < 0.5 for t in out), out


RNG_SCRIPT = r"""
import sys, numpy as np
from nnqft import _core
key, first = [7, 9], [0, 1, 2, 3]
x = np.full(2**25, 1e300)  # cos by libm's Payne-Hanek reduction: ~1 s in one call
call = {"philox_stream": lambda: _core.philox_stream(first, key, 2**24),  # 256 MiB
        "philox_normals": lambda: _core.philox_normals(first, key, 2**23),
        "apply_function": lambda: _core.apply_function("cos", x)}[sys.argv[1]]
print("ready", flush=True)
try:
    while True:
        call()
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("helper", ["philox_stream", "philox_normals", "apply_function"])
def test_ctrl_c_stops_the_rng_helpers_within_half_a_second(helper):
    # They hold the GIL, so the signal must come from outside (as a Ctrl-C does); they look
    # at pending signals every 2^20 values (cos of huge x took ~1 s to stop).
    proc = subprocess.Popen([sys.executable, "-c", RNG_SCRIPT, helper], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # inside a call
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    latency = time.perf_counter() - sent
    assert proc.returncode == 0 and out.strip() == "interrupted", out
    assert latency < 0.5, latency  # interpreter exit included


def test_interruptible_rng_helpers_give_the_bits_of_one_kernel_call():
    # The helpers draw in chunks of 2^20 blocks (counter word 0 advanced, wrapping as the
    # kernel does); the sampler's own draws (one kernel call per stream chunk) must agree.
    import numpy as np

    from nnqft import _core

    key, n = [11, 12], 2**20 + 5
    first = [2**32 - 3, 4, 5, 6]  # word 0 wraps inside the second chunk
    words = _core.philox_stream(first, key, n)
    assert words.shape == (2 * n,)
    for j in (0, 2, 3, 2**20 - 1, 2**20, n - 1):
        block = _core.philox4x32([(first[0] + j) % 2**32, *first[1:]], key)
        assert words[2 * j] == block[0] | block[1] << 32
        assert words[2 * j + 1] == block[2] | block[3] << 32
    np.testing.assert_array_equal(_core.philox_normals(first, key, n),
                                  _core.normals_from_bits(words))
    x = np.linspace(-4, 4, 2**20 + 3)
    np.testing.assert_array_equal(_core.apply_function("erf", x)[-3:],
                                  _core.apply_function("erf", x[-3:]))


def test_interruptible_evaluation_gives_the_same_rows_on_any_thread_count():
    import numpy as np

    import nnqft
    from nnqft import _core
    from nnqft._plan import core_config

    arch = nnqft.Architecture("relu", width=300, depth=2)
    config = core_config(arch, np.array([[0.5], [-1.0], [2.0]]), (4, 5), "conditional", (2,),
                         [], 32, 64, sampler="gram")
    ids = [0, 7, 2**40, 3]
    one = _core.evaluate(config, ids, 1)
    assert one.shape == (4, 6) and np.isfinite(one).all()
    np.testing.assert_array_equal(_core.evaluate(config, ids, 3), one)
    np.testing.assert_array_equal(_core.evaluate(config, ids[1:2], 1)[0], one[1])
    assert _core.evaluate(config, [], 2).shape == (0, 6)
