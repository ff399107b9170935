"""The run plan (nnqft._plan.RunPlan): one checked value per sampling run, from the
public call to the core; its feasibility verdicts; its identity as a checkpoint's key."""

import json
import math
import os
import pickle

import numpy as np
import pytest
from conftest import XSET_ERF

import nnqft
from nnqft import _plan
from nnqft._plan import RunPlan, log10_networks_needed
from nnqft.checkpoint import CONFIG_FILE
from nnqft.sampling import run, sample_grid
from nnqft.warnings import UnreliableErrorWarning

ARCH = nnqft.Architecture("tanh", width=8, depth=2)
KW = dict(orders=(2, 4), estimator="conditional", seed=21)


def _chunks(path):
    return sorted(p for p in os.listdir(path) if p.startswith("chunk-") and p.endswith(".npz"))


# -- the plan is built once and drives every chunk ----------------------------------------

def test_a_chunked_run_builds_one_plan_and_one_core_configuration(monkeypatch, tmp_path):
    built, configs = [], []
    build, core_config = RunPlan.build.__func__, _plan.core_config
    monkeypatch.setattr(RunPlan, "build", classmethod(
        lambda cls, *a, **k: built.append(1) or build(cls, *a, **k)))
    monkeypatch.setattr(_plan, "core_config", lambda *a, **k: configs.append(1) or
                        core_config(*a, **k))
    chunked = nnqft.sample(ARCH, XSET_ERF, 8 * 320, chunk_size=320, checkpoint=tmp_path, **KW)
    assert chunked.meta["chunks"]["computed"] == 8
    # one plan; one configuration for the pilot shift and one for all eight chunks
    assert len(built) == 1 and len(configs) == 2
    assert chunked == nnqft.sample(ARCH, XSET_ERF, 8 * 320, **KW)


def test_a_plan_is_a_frozen_picklable_value_whose_dict_is_the_checkpoint_identity(tmp_path):
    grid = [ARCH, ARCH.scaled("w", 1.5)]
    plan = RunPlan.build(grid, XSET_ERF, 640, seed=21, orders=(2, 4), estimator="conditional",
                         checkpoint=tmp_path, chunk_size=320)
    with pytest.raises(AttributeError):
        plan.n_networks = 3  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(plan))  # what a Dask worker receives
    assert copy.to_dict() == plan.to_dict() and copy.config is not plan.config
    assert [c.state()["sums"].tolist() for c in run(copy)] == \
        [c.state()["sums"].tolist() for c in run(plan)]
    stored = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert stored == json.loads(json.dumps(plan.to_dict()))
    assert plan.sampler == "gram" and plan.to_dict()["grid_points"] == 2
    assert plan.memory > 0 and plan.seconds > 0
    assert sample_grid(grid, XSET_ERF, 640, (2, 4), "conditional", 21) == run(plan)


# -- feasibility: can n_networks resolve the mean? (issue 21) ------------------------------

def test_networks_needed_is_the_inverse_tail_probability_of_the_mean_carrying_draws():
    # s = sigma_b = 1 at x = 0: the mean of exp(2z - 2) is carried by z = 2 s = 2 sigma
    one = nnqft.Architecture("gauss", width=1, sigma_b=1.0)
    p = 0.5 * math.erfc(2.0 / math.sqrt(2.0))
    assert log10_networks_needed(one, np.zeros((1, 1))) == pytest.approx(-math.log10(p))
    wide = nnqft.Architecture("gauss", width=100, sigma_b=1.0)
    assert log10_networks_needed(wide, np.zeros((1, 1))) == pytest.approx(-math.log10(100 * p))
    # |x| = 6: s^2 = 37, 2 s = 12.17 standard deviations (asymptotic tail, ~1e-34)
    far = log10_networks_needed(nnqft.Architecture("gauss", width=50), np.array([[6.0]]))
    assert far == pytest.approx(-math.log10(0.5 * math.erfc(2 * math.sqrt(37 / 2)) * 50),
                                rel=1e-3)
    assert log10_networks_needed(nnqft.Architecture("erf", width=5), np.zeros((1, 1))) is None


def test_a_gauss_net_whose_mean_cannot_be_resolved_is_refused_before_sampling():
    # The sample would read G2 = 1.0000 +- 1e-10 against the exact 2.0 (issue 21).
    arch = nnqft.Architecture("gauss", width=3, sigma_b=1.0)
    for est in ("plain", "conditional"):
        with pytest.raises(ValueError, match="cannot resolve the mean.*log-variance 148.*"
                                             "allow_unresolved=True"):
            nnqft.sample(arch, [0.5, 6.0], 4096, orders=(2,), estimator=est, seed=0)
    with pytest.raises(ValueError, match="cannot resolve the mean"):
        nnqft.sigma_flow(arch, [0.5, 6.0], [0.5, 1.0], 1024, cutoff=10.0, with_exact=False)
    with pytest.raises(TypeError, match="allow_unresolved must be a bool"):
        nnqft.sample(arch, [0.5], 64, allow_unresolved="yes")
    # a light tail is resolved: sampled, and within errors of the exact kernel
    light = nnqft.Architecture("gauss", width=3, sigma_b=0.5)
    c = nnqft.sample(light, [0.0, 0.5], 20_000, orders=(2,), estimator="conditional", seed=0)
    assert c.unresolved() is None and c.reliable(2) and "UNRESOLVED" not in repr(c)


def test_an_unresolved_run_sampled_on_request_carries_the_verdict():
    arch = nnqft.Architecture("gauss", width=3, sigma_b=1.0)
    c = nnqft.sample(arch, [6.0], 1024, orders=(2,), estimator="conditional", seed=0,
                     allow_unresolved=True)
    assert c.meta["unresolved"]["log10_networks_needed"] > 30
    assert "1024 networks cannot resolve the mean" in c.unresolved()
    assert not c.reliable(2)
    assert "UNRESOLVED" in repr(c) and "UNRESOLVED" in str(c)
    with pytest.warns(UnreliableErrorWarning, match="cannot resolve the mean"):
        c.stderr(2)
    loaded = nnqft.Correlators.from_state(c.state())
    assert loaded.unresolved() == c.unresolved() and not loaded.reliable(2)


def test_the_public_sampling_functions_have_no_private_re_entry_arguments():
    import inspect

    from nnqft.distributed import sample_dask

    for func in (nnqft.sample, sample_grid, nnqft.sigma_flow, sample_dask):
        private = [p for p in inspect.signature(func).parameters if p.startswith("_")]
        assert not private, (func.__name__, private)
