"""The command line (issue 7): run --quick end to end, sample/show/merge/fit/flow, bad flags."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import nnqft
from nnqft.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: The plots of ``nnqft run``, each shown in the report beside its table.
PNGS = ("falloff.png", "couplings.png", "flow.png", "depth.png", "breakdown.png", "field.png",
        "shells.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    assert main(["run", "--quick", "--out", str(out), "--no-progress", "--threads", "2"]) == 0
    return out


def test_run_quick_writes_report_plots_and_results(quick_run):
    out = quick_run
    report = (out / "report.md").read_text()
    for heading in ("fall-off", "couplings", "flow", "depth", "perturbation theory fails",
                    "momentum-shell"):
        assert heading in report.lower()
    for png in PNGS:
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["nnqft_version"] == nnqft.__version__ and "conventions" in prov
    assert prov["wall_time"] > 0 and prov["host"]["machine"]


def test_report_says_only_what_it_shows(quick_run):
    report = (quick_run / "report.md").read_text()
    # no empty statistics or signed zeros printed as numbers
    for bad in (r"\b0/0\b", r"\bnan\b", r"[-−+]0\.0\b(?!\d)", r"\{\w+(\[\w+\])?(:[^}]*)?\}"):
        assert not re.search(bad, report, re.IGNORECASE), re.search(bad, report, re.I)
    # every plot the folder holds is in the report beside its table
    for png in PNGS:
        assert f"]({png})" in report
    # "N·u4 -> const" is shown at every width, for every net
    couplings = json.loads((quick_run / "couplings.json").read_text())
    assert [r["width"] for r in couplings["by_width"]["relu"]] == [2, 10, 100]
    for r in couplings["by_width"]["relu"]:  # relu, sigma_b = 0: N*u4 Lambda^5 = -300 exactly
        assert abs(r["Nu4"] - (-300 / 50**5)) < 5 * r["Nu4_err"]
        assert r["Nu4_exact"] == pytest.approx(-300 / 50**5, rel=1e-9)
    # the sigma exponent's caveat, and symbols defined in the text, not only in plot labels
    assert "tests the sampler and the fit, not the renormalisation group" in report
    for symbol in ("m_n = <|ΔG_n / G_n,free|>", "N·m4 = N·<|κ4 / G4,free|>", "*pull* =",
                   "z = (sampled − exact) / standard error", "ū4 = u4 Λ^(d−4) / Z²",
                   "K_Λ(0) = arctan(Λ/m)/π"):
        assert symbol in report, symbol


def test_run_falloff_numbers_agree_with_exact_theory(quick_run):
    falloff = json.loads((quick_run / "falloff.json").read_text())
    for label in ("erf", "relu"):  # light tails: the measured fall-off within 5 errors
        for row in falloff[label]:
            z = (row["m4"] - row["m4_exact"]) / row["m4_err"]
            assert abs(z) < 5, (label, row["width"], z)
    for row in falloff["relu"]:  # kappa4 / G4_GP = 5/N on every tuple (sigma_b = 0)
        assert row["m4_exact"] == pytest.approx(5 / row["width"], rel=1e-12)
    # Gauss-net at sigma_b = 1: log-normal tails; the report must not call them reliable
    assert not any(row["reliable"] for row in falloff["gauss"] if row["width"] <= 10)


def test_run_depth_section_at_depth_one_is_exact_theory(quick_run):
    """At L = 1 the 1/N theory is the exact theory: the sampled N*m4 agrees within errors."""
    depth = json.loads((quick_run / "depth.json").read_text())
    assert set(depth) == {"erf", "relu (critical)"}
    for rows in depth.values():
        assert [r["depth"] for r in rows] == [1, 2, 3]
        r = rows[0]
        assert abs(r["Nm4"] - r["Nm4_theory"]) < 5 * r["Nm4_err"]
        assert all(np.isfinite(r["Nu4_theory"]) for r in rows)
        # u6 on the order-2 theory beside the sample (exact at L = 1)
        assert all(np.isfinite([r["N2u6"], r["N2u6_err"], r["N2u6_theory"]]).all()
                   for r in rows)
        if r["reliable6"]:
            assert abs(r["N2u6"] - r["N2u6_theory"]) < 5 * r["N2u6_err"]


def test_run_breakdown_section(quick_run):
    """Section 5: r4, r6 sampled beside LO/NLO at every depth; the ReLU ray's exact curve."""
    report = (quick_run / "report.md").read_text()
    assert "## 5. Where perturbation theory fails" in report
    rows_by_net = json.loads((quick_run / "breakdown.json").read_text())
    assert set(rows_by_net) == {"relu (critical)", "erf (critical)"}
    for label, rows in rows_by_net.items():
        assert [r["depth"] for r in rows] == [1, 2, 4, 8]
        assert all(r["width"] == 10 for r in rows)
        for r in rows:
            keys = ["r4", "r4_err", "r6", "r6_err", "r4_LO", "r4_NLO", "r6_NLO"]
            assert np.isfinite([r[k] for k in keys]).all(), (label, r)
            assert r["r4_err"] > 0 and r["r6_err"] > 0
        r = rows[0]  # L = 1: NLO is exact (r4 = 5/N for ReLU); the sample agrees with it
        if r["r4_reliable"]:
            assert abs(r["r4"] - r["r4_NLO"]) < 5 * r["r4_err"]
    for r in rows_by_net["relu (critical)"]:  # exact curve on the ray: (1 + 5/N)^L - 1
        assert r["r4_exact"] == pytest.approx((1 + 5 / 10) ** r["depth"] - 1, rel=1e-12)
    for label in rows_by_net:
        assert f"**{label}**" in report  # its verdict in words
    assert (quick_run / "correlators" / "breakdown_relu_critical_L8.npz").exists()


def test_run_field_section_is_the_exact_massive_scalar(quick_run):
    """§5: G(0, r) = e^{-m r}/2, kappa4 and the shell flow's u4 agree with exact theory."""
    field = json.loads((quick_run / "field.json").read_text())
    p, s = field["propagator"], field["shells"]
    for block in (p, s):
        for key, value in block.items():
            if isinstance(value, list) and value and isinstance(value[0], float):
                assert np.all(np.isfinite(value)), key
    r, g = np.array(p["r"]), np.array(p["G"])
    np.testing.assert_allclose(p["G_exact"], 0.5 * np.exp(-field["mass"] * r), rtol=1e-12)
    assert np.all(np.abs(g - p["G_exact"]) < 5 * np.array(p["G_err"]))
    # the relative error grows like e^{m r}: as predicted, within a factor 2 at every r
    ratio = np.array(p["G_err"]) / g / np.array(p["relative_error_predicted"])
    assert np.all((ratio > 0.5) & (ratio < 2)), ratio
    n = field["width"]  # kappa4(0, 0, r, r) = (4 - e^{-2 m r}) / (8 N) for sigma_a = 1
    np.testing.assert_allclose(p["kappa4_exact"], (4 - np.exp(-2 * r)) / (8 * n), rtol=1e-9)
    assert np.all(np.abs(np.array(p["kappa4"]) - p["kappa4_exact"]) < 5 * np.array(p["kappa4_err"]))
    assert p["z_all"]["max_abs"] < 5 and 0.5 < p["z_all"]["mean_square"] < 2
    lam = np.array(s["shells"])
    np.testing.assert_allclose(s["K0_exact"], np.arctan(lam) / np.pi, rtol=1e-10)
    pulls = (np.array(s["u4"]) - s["u4_exact"]) / np.array(s["u4_err"])
    assert np.all(np.abs(pulls) < 5), pulls
    assert s["lpa_ubar4"][0] == pytest.approx(s["ubar4"][0], rel=1e-9)  # starts on the sample
    flow = nnqft.load(quick_run / "shells.npz")
    assert isinstance(flow, nnqft.ShellFlow)
    np.testing.assert_array_equal(flow.couplings["u4"], s["u4"])


def test_show_outlines_the_json_tables(quick_run, capsys):
    couplings = json.loads((quick_run / "couplings.json").read_text())
    assert main(["show", str(quick_run / "couplings.json")]) == 0
    out = capsys.readouterr().out
    u4 = couplings["erf"]["fit"]["values"]["u4"]
    assert "erf:" in out and f"u4: {u4:.6g}" in out
    assert "[2x2 values from" in out  # a covariance matrix summarised, not dumped
    assert main(["show", str(quick_run / "report.md")]) == 2
    assert "not an nnqft result file" in capsys.readouterr().err


def test_run_results_load_back_and_equal_the_api(quick_run):
    corr = nnqft.load(quick_run / "correlators" / "erf_N10.npz")
    again = nnqft.sample(corr.arch, corr.x, corr.n_networks, orders=corr.orders,
                         estimator=corr.estimator, seed=0, threads=1)
    assert corr == again
    flow = nnqft.load(quick_run / "flow.npz")
    assert isinstance(flow, nnqft.Flow) and len(flow.sigmas) == 3
    falloff = json.loads((quick_run / "falloff.json").read_text())
    assert {"erf", "relu", "gauss"} <= set(falloff)


def test_sample_merge_equals_one_run(tmp_path, capsys):
    common = ["--activation", "tanh", "--width", "7", "--orders", "2,4", "--seed", "3",
              "--no-progress", "--threads", "2"]
    assert main(["sample", *common, "--n-networks", "4000", "--out", str(tmp_path / "all")]) == 0
    assert main(["sample", *common, "--n-networks", "1600", "--out", str(tmp_path / "a")]) == 0
    assert main(["sample", *common, "--n-networks", "2400", "--start", "1600",
                 "--out", str(tmp_path / "b")]) == 0
    assert main(["merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                 "--out", str(tmp_path / "ab.npz")]) == 0
    merged, whole = nnqft.load(tmp_path / "ab.npz"), nnqft.load(tmp_path / "all.npz")
    assert merged == whole
    np.testing.assert_array_equal(merged.covariance(4), whole.covariance(4))
    assert main(["show", str(tmp_path / "ab.npz")]) == 0
    assert "connected kappa4" in capsys.readouterr().out


def test_merge_refuses_mismatched_runs(tmp_path, capsys):
    for seed, name in ((1, "a"), (2, "b")):
        assert main(["sample", "--width", "3", "--n-networks", "640", "--orders", "2",
                     "--seed", str(seed), "--no-progress", "--out", str(tmp_path / name)]) == 0
    status = main(["merge", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                   "--out", str(tmp_path / "c.npz")])
    assert status == 2
    assert "different seed" in capsys.readouterr().err
    assert not (tmp_path / "c.npz").exists()


@pytest.fixture(scope="module")
def other_results(tmp_path_factory):
    """Files of results that are not correlators."""
    from nnqft.frg import integrate_flow

    out = tmp_path_factory.mktemp("results")
    theory = nnqft.finite_width(nnqft.Architecture("erf", width=10, depth=2), [0.3, 0.7])
    return {"FRGFlow": integrate_flow(0.1, d=1.0, sigma=1.0, num=11).save(out / "frg"),
            "FiniteWidthTheory": theory.save(out / "theory")}


def test_show_has_a_display_for_every_result_class():
    from nnqft import cli
    from nnqft._load import result_classes

    assert set(cli._displays()) == set(result_classes().values())


def test_show_prints_other_results_and_refuses_correlator_options(other_results, capsys):
    for name, path in other_results.items():
        assert main(["show", str(path)]) == 0
        assert str(nnqft.load(path)) in capsys.readouterr().out
        assert main(["show", str(path), "--rows", "3"]) == 2
        assert f"apply to correlators files; {path} holds a {name}" in capsys.readouterr().err


def test_show_refuses_a_result_type_it_does_not_know(other_results, monkeypatch, capsys):
    # a subclass is a new type: printed by no guess at what its parent would print
    class Derived(nnqft.FiniteWidthTheory):
        pass

    theory = nnqft.load(other_results["FiniteWidthTheory"])
    monkeypatch.setattr(nnqft._load, "load", lambda path: theory)
    assert main(["show", str(other_results["FiniteWidthTheory"])]) == 0
    theory.__class__ = Derived
    assert main(["show", str(other_results["FiniteWidthTheory"])]) == 2
    assert "nnqft show cannot display a Derived" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["fit"], ["merge", "--out", "m"]])
def test_fit_and_merge_refuse_other_results(other_results, command, tmp_path, capsys):
    path = other_results["FRGFlow"]
    argv = [command[0], str(path), *[str(tmp_path / a) if a == "m" else a for a in command[1:]]]
    assert main(argv) == 2
    assert f"{path} holds a FRGFlow, not correlators" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _not_json(name):
    raise ValueError(f"{name} is not JSON")


def test_fit_and_flow_commands(tmp_path, capsys):
    assert main(["sample", "--activation", "relu", "--width", "10", "--x", "0.2,0.5,0.9",
                 "--n-networks", "20000", "--estimator", "conditional", "--orders", "2,4",
                 "--no-progress", "--out", str(tmp_path / "r")]) == 0
    assert main(["fit", str(tmp_path / "r.npz"), "--cutoff", "10",
                 "--out", str(tmp_path / "fit.json")]) == 0
    fit = json.loads((tmp_path / "fit.json").read_text(), parse_constant=_not_json)
    # relu, sigma_b = 0: u4 N Lambda^5 = -300
    assert fit["values"]["u4"] * 10 * 10**5 == pytest.approx(-300, abs=5 * 10**6 * fit["errors"]["u4"])
    assert main(["flow", "--activation", "gauss", "--width", "20", "--sigma-b", "0.5",
                 "--x=-0.01,0.0,0.01", "--sigmas", "1,2", "--n-networks", "4000",
                 "--no-progress", "--out", str(tmp_path / "flow")]) == 0
    assert isinstance(nnqft.load(tmp_path / "flow.npz"), nnqft.Flow)


@pytest.mark.parametrize("argv", [
    ["sample", "--width", "abc", "--out", "x"],
    ["sample", "--orders", "2,x", "--out", "x"],
    ["sample", "--activation", "sigmoid", "--out", "x"],
    ["run", "--bogus"],
    ["frobnicate"],
    [],
])
def test_bad_flags_exit_2_with_usage(argv):
    proc = subprocess.run([sys.executable, "-m", "nnqft.cli", *argv], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_invalid_values_exit_2_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse: before anything is done
        main(["sample", "--width", "0", "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    assert "--width: must be >= 1" in capsys.readouterr().err
    assert main(["sample", "--sigma-w", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "sigma_w" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing.npz")]) == 2


def test_help_on_every_subcommand():
    for cmd in ("run", "sample", "fit", "flow", "show", "merge"):
        proc = subprocess.run([sys.executable, "-m", "nnqft.cli", cmd, "--help"],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and "usage:" in proc.stdout
