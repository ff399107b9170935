import os

# Tiny matrices everywhere: a multithreaded BLAS only adds contention on 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

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
