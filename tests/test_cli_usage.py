"""The command line as a reader meets it (issue 24): arguments refused before any work,
defaults that suit the activation, help that documents every option, quiet pipes."""

import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import nnqft
from nnqft import cli
from nnqft.cli import build_parser, main

ENDLESS = ["--width", "3", "--n-networks", str(10**11), "--no-progress", "--threads", "1"]


def _exit_status(argv):
    """main(argv)'s status, also when argparse exits (SystemExit) on a bad argument."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_out_into_a_missing_directory_is_an_error(tmp_path, capsys):
    out = tmp_path / "missing" / "r.npz"
    t0 = time.perf_counter()
    assert main(["sample", *ENDLESS, "--out", str(out)]) == 2
    assert time.perf_counter() - t0 < 5  # refused before sampling
    assert "the directory" in capsys.readouterr().err
    assert main(["run", "--quick", "--out", str(tmp_path / "missing" / "study")]) == 2
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("bad", [["--threads", "0"], ["--seed", "-1"], ["--chunk-size", "0"]])
def test_run_refuses_bad_numbers_before_creating_its_folder(tmp_path, bad, capsys):
    out = tmp_path / "study"
    assert _exit_status(["run", "--quick", "--out", str(out), *bad]) == 2
    assert bad[0] in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, value", [("100000", 100_000), ("1e5", 100_000),
                                         ("2.5e4", 25_000), ("1E3", 1000)])
def test_counts_accept_exact_floats(text, value):
    args = build_parser().parse_args(["sample", "--n-networks", text, "--out", "x"])
    assert args.n_networks == value and isinstance(args.n_networks, int)


@pytest.mark.parametrize("text", ["1.5", "1e-3", "inf", "nan", "0", "-5", "1e5.0x"])
def test_counts_refuse_what_is_not_a_positive_integer(text, capsys):
    assert _exit_status(["sample", "--n-networks", text, "--out", "x"]) == 2
    assert "--n-networks" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "r.npz"
    assert main(["sample", "--width", "5", "--orders", "2,4", "--n-networks", "2048",
                 "--no-progress", "--threads", "1", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("argv, message", [
    (["--rows", "-1"], "--rows: must be >= 1"),
    (["--rows", "0"], "--rows: must be >= 1"),
    (["--orders", "8"], "--orders 8"),
    (["--orders", "3"], "--orders 3"),
    (["--orders", "2,6"], "--orders 6"),
])
def test_show_refuses_orders_and_rows_it_cannot_show(small_file, argv, message, capsys):
    assert _exit_status(["show", str(small_file), *argv]) == 2
    assert message in capsys.readouterr().err


def test_show_prints_the_orders_asked_for(small_file, capsys):
    assert main(["show", str(small_file), "--orders", "4", "--rows", "3"]) == 0
    out = capsys.readouterr().out
    assert "G4" in out and "kappa4" in out and "G2" not in out
    assert "... 123 more" in out  # 126 tuples, 3 shown


def test_piping_into_head_exits_quietly(tmp_path):
    big = tmp_path / "big.npz"  # 2 x 5005 order-6 rows: far more than a pipe's buffer
    assert main(["sample", "--width", "5", "--x=" + ",".join(map(str, range(10))),
                 "--n-networks", "1024", "--no-progress", "--threads", "1",
                 "--out", str(big)]) == 0
    with subprocess.Popen([sys.executable, "-m", "nnqft.cli", "show", str(big),
                           "--rows", "100000"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        assert proc.stdout.readline()  # head -1
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 128 + 13
    assert err == ""


def _options(parser):
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subs.choices.items()


def test_every_subcommand_and_option_is_documented():
    for name, sub in _options(build_parser()):
        assert sub.description and len(sub.description) > 40, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"nnqft {name} {action.dest}: no help"
            if action.option_strings and not action.required:
                help_text = sub._get_formatter()._get_help_string(action)
                assert "default" in help_text, f"nnqft {name} {action.option_strings}: no default"
                if name == "sample" and action.dest == "n_networks":
                    assert help_text.endswith("(default: 100000)")


def test_default_inputs_and_cutoffs_suit_the_activation():
    parse = build_parser().parse_args
    for act, inputs in cli.DEFAULT_INPUTS.items():
        args = parse(["flow", "--activation", act, "--out", "f"])
        arch, x = cli._arch_from(args)
        np.testing.assert_array_equal(x[:, 0], inputs)
        cutoff = cli._cutoff_for(args, act)
        nnqft.vertex.check_cutoff(arch, cutoff)  # the default is a usable cutoff
    assert cli.DEFAULT_INPUTS["gauss"][0] == pytest.approx(-0.01)  # HMS/ELS's Gauss-net set
    assert cli.DEFAULT_CUTOFFS["erf"] == 1e5 and cli.DEFAULT_CUTOFFS["relu"] == 50
    assert math.isinf(cli.DEFAULT_CUTOFFS["gauss"])


def test_gauss_flow_with_default_inputs_flows_as_theory(tmp_path, capsys):
    # the README's example without --x: before, erf inputs gave u4 = -1.6e24 at sigma = 4
    assert main(["flow", "--activation", "gauss", "--width", "100", "--sigma-b", "0.5",
                 "--sigmas", "1,2,4", "--n-networks", "4096", "--no-progress", "--threads",
                 "1", "--out", str(tmp_path / "flow")]) == 0
    flow = nnqft.load(tmp_path / "flow.npz")
    np.testing.assert_allclose(flow.x[:, 0], cli.DEFAULT_INPUTS["gauss"])
    u4, err, exact = flow.couplings["u4"], flow.errors["u4"], flow.exact_couplings["u4"]
    assert np.all(np.abs(u4 - exact) < 5 * err)
    assert abs(flow.exponent()[0] - (1 - 4)) < 0.1  # |u4| ~ sigma^(d_in - 4)


def test_flow_checks_every_argument_before_sampling(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["flow", *ENDLESS, "--cutoff", "inf", "--out", str(tmp_path / "f")]) == 2
    assert "cutoff = inf" in capsys.readouterr().err
    assert main(["flow", *ENDLESS, "--sigmas", "2,1", "--out", str(tmp_path / "f")]) == 2
    assert "increasing" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 10
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="terms"):
        nnqft.sigma_flow(nnqft.Architecture("erf", 3), [0.5, 1.0], [1.0], 10**11,
                         cutoff=10.0, terms=("u5",))


def _fit(pvalue, valid=True):
    return nnqft.CouplingFit(values={"u4": -1.0}, errors={"u4": 0.1},
                             covariance=np.array([[0.01]]), parameters=("u4",), chi2=200.0,
                             ndof=20, pvalue=pvalue, valid=valid, regularisation="r",
                             convention="c", cutoff=10.0)


def test_fit_names_a_rejected_model(capsys):
    rejected = cli._fit_text(_fit(3e-34))
    assert "REJECTED" in rejected and "p = 3e-34" in rejected and "valid" not in rejected
    assert "the model fits (p = 0.4)" in cli._fit_text(_fit(0.4))
    assert "INVALID" in cli._fit_text(_fit(0.4, valid=False))
    assert "no goodness of fit" in cli._fit_text(_fit(math.nan))


def test_fit_command_uses_the_file_activation_cutoff(small_file, capsys):
    assert main(["fit", str(small_file)]) == 0  # erf: 1e5 by default (inf diverges)
    assert "cutoff Λ = 100000" in capsys.readouterr().out


def test_help_runs_without_a_terminal_width(monkeypatch):
    monkeypatch.setitem(os.environ, "COLUMNS", "60")
    for _, sub in _options(build_parser()):
        assert "usage:" in sub.format_help()
