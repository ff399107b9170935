"""Every result object has the same interface: short repr, readable str, HTML, to_dict, save/load."""

import json

import numpy as np
import pytest

import nnqft
from nnqft import frg
from nnqft.fit import CutoffScan

X = np.array([-0.5, 0.0, 0.5])
ARCH = nnqft.Architecture("erf", width=10, sigma_b=[0.5, 1.0])
CUTOFF = 5.0


@pytest.fixture(scope="module")
def corr():
    return nnqft.sample(ARCH, X, 4096, orders=(2, 4, 6), estimator="conditional", seed=1,
                        threads=1, block_size=64)


@pytest.fixture(scope="module")
def results(corr):
    exact = {n: nnqft.exact(ARCH, X, n, connected=True) for n in (4, 6)}
    flow = nnqft.sigma_flow(ARCH, X, [0.8, 1.2], n_networks=2048, cutoff=CUTOFF, seed=2,
                            threads=1)
    return {
        "correlators": corr,
        "sampled fit": nnqft.fit_couplings(corr, ARCH, X, cutoff=CUTOFF, terms=("u4", "u6")),
        "exact fit": nnqft.fit_couplings(exact, ARCH, X, cutoff=CUTOFF),
        "cutoff scan": nnqft.cutoff_scan(corr, ARCH, X, [2.0, 4.0]),
        "flow": flow,
        "frg flow with errors": flow.frg(scale_max=10.0),
        "frg flow": frg.integrate_flow(-1.0, 2.0, d=1, sigma=1.0, scale_max=10.0),
        "finite width": nnqft.finite_width(nnqft.Architecture("erf", width=10, depth=2), X),
        "shell flow": _shell_flow(),
    }


def _shell_flow():
    arch = nnqft.Architecture("cos", width=5, sigma_b=0.0,
                              spectrum=nnqft.massive_spectrum(1.0, d=1, cutoff=6.0))
    return nnqft.shell_flow(arch, [-0.4, 0.0, 0.4], [1.0, 3.0], n_networks=512, cutoff=2.0)


NAMES = ("correlators", "sampled fit", "exact fit", "cutoff scan", "flow",
         "frg flow with errors", "frg flow", "finite width", "shell flow")


def dict_json(result):
    """to_dict() as strict JSON text (fails on NaN or Infinity)."""
    return json.dumps(result.to_dict(), allow_nan=False, sort_keys=True)


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_save_and_load(results, name, tmp_path):
    result = results[name]
    path = result.save(tmp_path / "r")
    assert path.name == "r.npz"
    back = nnqft.load(path)
    assert type(back) is type(result)
    assert dict_json(back) == dict_json(result)
    assert str(back) == str(result) and repr(back) == repr(result)


def test_round_trip_keeps_replicas_and_nan(results, tmp_path):
    fit = nnqft.load(results["sampled fit"].save(tmp_path / "f"))
    np.testing.assert_array_equal(fit.replicas, results["sampled fit"].replicas)
    exact = nnqft.load(results["exact fit"].save(tmp_path / "e"))
    assert exact.replicas is None and np.isnan(exact.pvalue) and exact.cutoff == CUTOFF
    assert exact.to_dict()["pvalue"] is None  # NaN is null in JSON
    flow = nnqft.load(results["frg flow with errors"].save(tmp_path / "g"))
    np.testing.assert_array_equal(flow.covariance, results["frg flow with errors"].covariance)
    assert not flow.scale.flags.writeable
    scan = nnqft.load(results["cutoff scan"].save(tmp_path / "s"))
    assert isinstance(scan, CutoffScan) and scan.slopes == results["cutoff scan"].slopes
    np.testing.assert_array_equal(scan.fits[1].covariance, results["cutoff scan"].fits[1].covariance)


@pytest.mark.parametrize("name", NAMES)
def test_renders_text_and_html(results, name):
    result = results[name]
    short, text, html = repr(result), str(result), result._repr_html_()
    assert "\n" not in short and len(short) < 250
    assert short.lstrip("<").startswith(type(result).__name__)
    assert "┌" in text and "┘" in text and len(text.splitlines()) > 4
    assert "<table>" in html and html.count("<tr>") >= 2 and "│" not in html
    if name in ("sampled fit", "exact fit", "flow"):
        assert "χ²/ndof" in text


def test_text_shows_the_numbers(results):
    fit = results["sampled fit"]
    assert f"{fit.values['u4']:.6e}" in str(fit) and f"{fit.values['u4']:.6e}" in fit._repr_html_()
    corr = results["correlators"]
    assert f"{corr.mean(2)[0]:.6g}" in str(corr)
    assert f"{corr.stderr(2)[0]:.3g}" in str(corr)


def test_correlators_display_does_not_warn_with_few_bins():
    few = nnqft.sample(ARCH, X, 256, orders=(2, 4), seed=3, threads=1, block_size=64)
    assert "fewer than 16: rough errors" in str(few)  # stated, not warned (pytest: error)
    assert few.to_dict()["n_bins"] == 4


def test_every_result_kind_is_registered():
    import importlib
    import pkgutil

    from nnqft._load import RESULT_MODULES, result_classes
    from nnqft._result import Result, registered

    for mod in pkgutil.iter_modules(nnqft.__path__):  # every module's result classes
        importlib.import_module(f"nnqft.{mod.name}")
    pending, defined = list(Result.__subclasses__()), []
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        defined += [cls] if "_kind" in vars(cls) else []
    assert {c.__module__.rsplit(".", 1)[1] for c in defined} <= set(RESULT_MODULES)
    assert {c._kind: c for c in defined} == result_classes()
    assert {"correlators", "coupling_fit", "cutoff_scan", "flow", "frg_flow",
            "finite_width", "shell_flow"} == set(result_classes()) == set(registered())


def test_a_fresh_process_loads_every_kind(results, tmp_path):
    # nnqft.frg is not imported by `import nnqft`: load imports the modules of results
    import subprocess
    import sys

    paths = [str(results[name].save(tmp_path / f"r{i}")) for i, name in enumerate(NAMES)]
    code = "import sys, nnqft; print([type(nnqft.load(p)).__name__ for p in sys.argv[1:]])"
    proc = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str([type(results[n]).__name__ for n in NAMES])


def test_unknown_format_version_is_refused(results, tmp_path):
    from nnqft.io import read_npz, write_npz

    meta, arrays = read_npz(results["exact fit"].save(tmp_path / "e"))
    write_npz(tmp_path / "future", {**meta, "format_version": 2}, arrays)
    with pytest.raises(ValueError, match="unsupported coupling_fit format version 2"):
        nnqft.load(tmp_path / "future.npz")


def test_printing_a_loaded_correlators_evaluates_no_theory(corr, tmp_path, monkeypatch):
    # the verdicts are computed at sampling time; a loaded result has none, and printing
    # it must not compute them (theory can take long): every theory entry point raises
    loaded = nnqft.load(corr.save(tmp_path / "corr.npz"))

    def refuse(*args, **kwargs):
        raise AssertionError("printing evaluated theory")

    with monkeypatch.context() as patch:
        for module, name in (("theory", "kernel"), ("theory", "exact"),
                             ("deep_theory", "finite_width"), ("diagnostics", "theory_check")):
            patch.setattr(getattr(nnqft, module), name, refuse)
        text = loaded.describe()
        for shown in (str(loaded), repr(loaded), loaded._repr_html_(), loaded.summary(4)):
            assert shown
    assert "theory check: not run" in text and "NOT RELIABLE" not in text
    # reliable() still runs the check on demand, and printing then shows its verdict
    assert loaded.reliable(4)
    assert "theory check: TheoryCheck(agrees with" in loaded.describe()
    assert "theory check: TheoryCheck(agrees with" in corr.describe()  # checked when sampled
