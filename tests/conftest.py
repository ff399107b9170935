import os

# Tiny matrices everywhere: a multithreaded BLAS only adds contention on 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis: the default run is fast and the same every time (60 examples a test, the
# examples derived from each test's name); NNQFT_HYPOTHESIS_EXAMPLES=N runs N examples
# a test from the seed given by --hypothesis-seed (the on-demand fuzz job, .ci/fuzz).
_FUZZ_EXAMPLES = os.environ.get("NNQFT_HYPOTHESIS_EXAMPLES")
settings.register_profile(
    "nnqft", deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    **({"max_examples": int(_FUZZ_EXAMPLES)} if _FUZZ_EXAMPLES
       else {"max_examples": 60, "derandomize": True}))
settings.load_profile("nnqft")

#: The HMS/ELS Erf-net input set (physics.md §1.6).
XSET_ERF = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"threads={n}")
def threads(request):
    return request.param


@pytest.fixture(params=["generic", "avx2", "avx512"])
def kernel_path(request):
    """Every instruction-set path of the kernels this CPU and build support, restoring the
    path in use (the automatic one, or NNQFT_KERNEL_PATH's) afterwards."""
    from nnqft import _core

    before = _core.kernel_path()
    if not _core.set_kernel_path(request.param):
        pytest.skip(f"kernel path {request.param} not supported by this CPU or build")
    try:
        yield request.param
    finally:
        assert _core.set_kernel_path(before)


def zscores(estimate, error, exact):
    """(estimate - exact) / error, with exact-zero errors only allowed where equal."""
    estimate, error, exact = map(np.asarray, (estimate, error, exact))
    assert np.all(error >= 0)
    diff = estimate - exact
    assert np.all((error > 0) | (np.abs(diff) <= 1e-12 * (1 + np.abs(exact))))
    return np.where(error > 0, diff / np.where(error > 0, error, 1.0), 0.0)


def assert_z(estimate, error, exact, bound=5.0):
    z = zscores(estimate, error, exact)
    assert np.max(np.abs(z)) < bound, f"max |z| = {np.max(np.abs(z)):.2f}"
    return z
