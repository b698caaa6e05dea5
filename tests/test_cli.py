"""The command line: solve, demo and problems, through main(argv)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import lfso
import lfso._registry
from lfso.cli import main
from lfso.cli._demo import certified_methods, run_demo
from lfso.cli._main import build_parser
from lfso.monitor import RiskWarning


def test_solve_prints_progress_and_summary(capsys):
    assert main(["solve", "power_sum-p3", "--every", "5"]) == 0
    out = capsys.readouterr().out
    assert "power_sum-p3" in out and "CONVERGED" in out
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("5 ", "10 "))]
    assert len(lines) >= 2


def test_solve_gd_capped_exits_nonzero(capsys):
    code = main(["solve", "power_sum-p2", "--method", "gd", "--step", "1e-3", "--max-iter", "50"])
    assert code == 1
    assert "MAX_ITER" in capsys.readouterr().out


def test_solve_gd_without_step_is_an_error(capsys):
    assert main(["solve", "power_sum-p2", "--method", "gd"]) == 2
    assert "needs --step" in capsys.readouterr().err


def test_unknown_problem_is_an_error(capsys):
    assert main(["solve", "nope"]) == 2
    assert "unknown problem 'nope'" in capsys.readouterr().err
    assert main(["solve", "rosenbrok-d2"]) == 2
    assert "(did you mean 'rosenbrock-d2'?)" in capsys.readouterr().err


def _row(out: str, problem: str) -> list[str]:
    return next(ln for ln in out.splitlines() if ln.startswith(problem + " ")).split()


def test_demo_table_legend_lucky_landings_and_summary(capsys):
    assert main(["demo", "power_sum-p4", "power_norm-p5", "--max-iter", "2000"]) == 0
    out = capsys.readouterr().out
    header = next(ln for ln in out.splitlines() if ln.startswith("problem"))
    for title in ("paper", "GD tuned", "L-BFGS-B", "grid cost", *certified_methods()):
        assert title in header
    # The certified methods converge on power_sum-p4 in well under 100 gradients.
    cells = _row(out, "power_sum-p4")
    for value in cells[1 : 1 + len(certified_methods())]:
        assert value.isdigit() and int(value) < 100
    # From x0 = ones a grid step lands on the minimiser of ||x||^10 in 2 gradients: flagged.
    assert " 2 lucky " in " ".join(_row(out, "power_norm-p5"))
    assert "power_norm-p5 / GD tuned: lucky: step" in out
    # Every mark the table can use has a legend line; the summary says what it must.
    for mark in ("cap 3e-04", "stop 1e-07", "failed", "n/a", "lucky", "!"):
        assert any(ln.strip().startswith(mark + " ") for ln in out.splitlines()), mark
    summary = out[out.index("Summary") :]
    assert "Tuning GD's step cost" in summary and "needs no tuning" in summary
    assert "wins on" in summary and "loses on" in summary and "lfso bench" in summary
    assert "2 problems in" in out


def test_demo_runs_a_black_box_problem(capsys):
    assert main(["demo", "rosenbrock-d2", "--max-iter", "3000", "--no-gd"]) == 0
    out = capsys.readouterr().out
    cells = _row(out, "rosenbrock-d2")
    assert cells[-1].isdigit()  # L-BFGS-B converges
    assert "rosenbrock-d2 / paper: n/a" in out


def test_demo_attaches_risk_warnings_to_their_problem(capsys, recwarn):
    # The authors' oracle stagnates on this problem: the note names problem and method.
    assert main(["demo", "composite_ls-p2-n100", "--max-iter", "300", "--no-gd"]) == 0
    out, err = capsys.readouterr()
    assert "composite_ls-p2-n100 / paper: risk 'stagnation' fired" in out
    assert "!" in _row(out, "composite_ls-p2-n100")
    assert not [w for w in recwarn if issubclass(w.category, RiskWarning)]
    assert "warning" not in err  # attached to the table, not printed as warnings too


def test_warnings_are_one_line_each_without_source(capsys):
    # A step of 10 on Rosenbrock's function overflows its arithmetic (the built-in models
    # compute past the float range silently): NumPy's and the risk monitor's warnings.
    argv = ["solve", "rosenbrock-d2", "--method", "gd", "--step", "10", "--max-iter", "50"]
    assert main(argv) == 1
    err_lines = capsys.readouterr().err.splitlines()
    assert err_lines and all(ln.startswith("lfso: warning: ") for ln in err_lines), err_lines
    assert any("gd: risk 'descent' fired" in ln for ln in err_lines)
    # NumPy's own warning, said to be NumPy's, from a run's arithmetic
    tag = "lfso: warning: floating point: overflow encountered in "
    assert any(ln.startswith(tag) and "NumPy, in a run's arithmetic" in ln for ln in err_lines)
    for noise in ("RiskWarning", ".py:", "minimize("):
        assert not any(noise in ln for ln in err_lines), (noise, err_lines)


def test_warning_display_is_restored_after_main():
    before = warnings.showwarning
    assert main(["solve", "power_sum-p3", "--max-iter", "2"]) in (0, 1)
    assert warnings.showwarning is before


def test_solve_prints_the_status_once_with_its_message(capsys):
    assert main(["solve", "power_sum-p3"]) == 0
    out = capsys.readouterr().out
    assert "\nCONVERGED: gradient norm below tolerance.\n" in out
    assert "Converged" not in out
    argv = ["solve", "power_sum-p3", "--max-iter", "3"]
    assert main(argv) == 1
    assert "\nMAX_ITER: Maximum number of iterations reached;" in capsys.readouterr().out


def test_tol_zero_runs_to_the_cap_as_the_api_does(tmp_path, capsys):
    problem = lfso.bench.get_problem("power_sum-p3")
    api = lfso.minimize(*problem.make(), tol=0.0, max_iter=30)
    assert api.status.name == "MAX_ITER"
    assert main(["solve", "power_sum-p3", "--tol", "0", "--max-iter", "30"]) == 0
    out = capsys.readouterr().out
    assert "MAX_ITER" in out and f"iterations {api.nit}," in out and api.nit == 30
    argv = ["compare", "power_sum-p3", "--baseline-step", "0.01", "--tol", "0", "--max-iter", "5"]
    assert main([*argv, "--output", str(tmp_path / "r.html")]) == 0
    runs = [ln for ln in capsys.readouterr().out.splitlines() if "iterations" in ln]
    assert len(runs) == 2 and all("MAX_ITER" in ln and "iterations       5" in ln for ln in runs)


def test_compare_writes_its_report_into_a_fifo_and_leaves_it_one(tmp_path, capsys):
    # (a FIFO stands for /dev/null: a device is written into, never replaced by a file)
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    pages = []

    def read():
        with open(fifo, "rb") as fh:
            pages.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    argv = ["compare", "power_sum-p3", "--baseline-step", "0.01", "--max-iter", "5"]
    assert main([*argv, "--output", str(fifo)]) == 0
    thread.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and os.listdir(tmp_path) == ["pipe"]
    assert pages and pages[0].startswith(b"<!DOCTYPE html>")
    assert f"report: {fifo}" in capsys.readouterr().out


def test_solve_polyak_takes_the_problems_optimal_value(capsys):
    argv = ["solve", "rosenbrock-d2", "--method", "polyak", "--max-iter", "5"]
    assert main(argv) == 1
    assert "iterations 5," in capsys.readouterr().out  # ran (f* = 0 from the problem)
    assert main(["solve", "lp_regression-p2-n1000", "--method", "polyak"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--method polyak needs the optimal value" in err
    assert "lp_regression-p2-n1000" in err and "f_star=" not in err


def test_compare_runs_every_baseline_it_offers_as_solve_does(tmp_path, capsys):
    # Polyak's step takes the problem's optimal value, as in lfso solve.
    argv = ["compare", "rosenbrock-d2", "--baseline-method", "polyak", "--max-iter", "5"]
    assert main([*argv, "--output", str(tmp_path / "r.html")]) == 0
    assert "baseline: method=polyak, f_star=0.0" in capsys.readouterr().out
    argv = ["compare", "lp_regression-p2-n1000", "--baseline-method", "polyak"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--baseline-method polyak needs the optimal value" in err
    assert "lp_regression-p2-n1000" in err and "f_star=" not in err
    # Nesterov's fixed step is --baseline-step (the command line has no lipschitz=).
    assert main(["compare", "power_sum-p3", "--baseline-method", "nesterov"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--baseline-method nesterov needs a step: pass --baseline-step" in err
    assert "step=" not in err and "lipschitz=" not in err


def test_compare_reports_runs_that_did_not_converge_and_exits_0(tmp_path, capsys):
    """A comparison is a report: runs that end short of the tolerance are its content."""
    argv = ["compare", "power_sum-p3", "--baseline-step", "1e-3", "--max-iter", "3"]
    assert main([*argv, "--output", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert out.count("MAX_ITER") == 2 and (tmp_path / "r.html").is_file()


@pytest.mark.parametrize("suite", ["paper", "full"])
def test_bench_quick_with_another_suite_is_an_error(suite, tmp_path, monkeypatch, capsys):
    """--quick is the quick suite: with --suite paper it ran the quick suite silently."""
    import lfso.bench

    monkeypatch.setattr(lfso.bench, "run_suite", lambda *a, **k: pytest.fail("a suite ran"))
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick", "--suite", suite]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lfso: error: --quick runs the quick suite, not --suite {suite}")
    assert f"--suite {suite} --cap 20000" in err


def test_bench_cap_says_it_counts_gradient_evaluations():
    from lfso.bench import run_case

    bench = " ".join(_subcommands()["bench"].format_help().split())
    assert "--cap CAP budget of each run" in bench and "CAP gradient evaluations" in bench
    assert "iteration cap" not in bench and "20000-iteration" not in bench
    # (what it says: an lfso run of --cap 50 takes at most 50 gradient evaluations)
    assert run_case("power_sum-p3", "lfso", cap=50, tol=1e-30).njev <= 50


def test_demo_progress_bar_is_one_overall_bar(capsys):
    rows = run_demo(["power_sum-p2"], cap=300, progress=True)
    err = capsys.readouterr().err
    assert "lfso demo [" in err and err.count("\n") == 1  # one bar, one line at the end
    assert "1/" not in err.split("lfso demo")[0]
    assert [r.problem.name for r in rows] == ["power_sum-p2"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"lfso {lfso.__version__}"


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_tol_zero_exits_0_at_the_cap_and_1_where_the_run_broke_down(capsys):
    """``--tol 0`` asks for the cap: reaching it is the goal (exit 0), as the help says; a
    run that stopped short of it on a failure still exits 1, and a cap at ``--tol > 0``."""
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0 runs to the iteration cap" in help_text and "exits 0 there" in help_text
    cap = ["solve", "lp_regression-p2-n100", "--max-iter", "20", "--every", "1000"]
    assert main([*cap, "--tol", "0"]) == 0
    assert "MAX_ITER" in capsys.readouterr().out
    assert main([*cap, "--tol", "1e-12"]) == 1
    broke = ["solve", "lp_regression-p1-n100", "--method", "gd", "--step", "1e-3", "--tol", "0"]
    assert main([*broke, "--max-iter", "3000", "--every", "10000"]) == 1
    assert "NON_FINITE" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_tol_zero_exits_0_where_the_dtype_cannot_certify_a_further_step(method, capsys):
    """A certified run at ``--tol 0`` ends where float64 cannot certify a step (``||g||``
    near the smallest float): the run went as far as it can, as at ``STALLED``."""
    run = ["solve", "power_norm-p1", "--method", method, "--tol", "0", "--every", "1000"]
    assert main(run) == 0
    assert "PRECISION_LIMIT" in capsys.readouterr().out


def test_help_states_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0
    assert "exit status: 0 on success; 1 where the command's goal was not reached" in text
    assert "at --tol 0 stopped short of the cap other than STALLED or PRECISION_LIMIT" in text
    for status in ("2 on a usage error", "130 when interrupted", "141 when the reader"):
        assert status in text


def test_python_dash_m_lfso():
    out = subprocess.run(
        [sys.executable, "-m", "lfso", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"lfso {lfso.__version__}"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def test_every_option_has_help_with_its_default_once():
    for name, sub in _subcommands().items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"lfso {name} {action.dest}: no help"
            text = formatter._expand_help(action)
            where = f"lfso {name} {action.dest}: {text!r}"
            assert text.count("(default") <= 1 and "(default: )" not in text, where
            if action.default not in (None, False, [], ""):
                shown = action.default
                shown = " ".join(str(v) for v in shown) if isinstance(shown, list) else shown
                assert f"(default: {shown})" in text, where
            elif action.option_strings and action.nargs != 0:  # e.g. --radius, --threshold
                assert "(default" in text or "required" in text, where


def test_the_readme_synopses_name_real_options_with_their_defaults():
    """Each ``lfso COMMAND ...`` synopsis of the README's "Command line" names options the
    command has; ``[--opt a|b|c]`` lists its choices, and ``[--opt VALUE]`` with a number
    or a file name gives its default."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Command line", 1)[1].split("### API reference", 1)[0]
    commands = _subcommands()
    synopses = re.findall(r"`lfso ([a-z-]+) ([^`]*)`", " ".join(section.split()))
    assert {name for name, _ in synopses} >= {"demo", "solve", "bench", "compare", "rollout"}
    for name, synopsis in synopses:
        options = {o: a for a in commands[name]._actions for o in a.option_strings}
        for option in re.findall(r"--[a-z][a-z-]*", synopsis):
            assert option in options, f"lfso {name}: the README names {option}"
        for option, value in re.findall(r"\[(--[a-z-]+) ([^\s\[\]]+)\]", synopsis):
            action = options[option]
            if "|" in value:
                assert value.split("|") == list(action.choices), (name, option, value)
            elif re.fullmatch(r"\d[\d.]*|[\w-]+\.\w+", value):
                default = action.default
                same = isinstance(default, float) and float(value) == default
                assert same or value == default, (name, option, value, default)


def test_rollout_help_says_tuning_seconds_goes_with_tuning_gradients(capsys):
    """``--tuning-seconds`` alone is a usage error, and without it the seconds of a stated
    gradient budget are estimated at the current rule's measured rate: the help says both,
    not that a grid measures them."""
    rollout = " ".join(_subcommands()["rollout"].format_help().split())
    seconds = rollout.split("--tuning-seconds TUNING_SECONDS", 2)[2]
    assert "with --tuning-gradients" in seconds.split("--no-roi")[0]
    assert "measured by a grid" not in seconds.split("--no-roi")[0]
    assert (
        main(["rollout", "power_sum-p2", "--current", "gd", "step=1e-3", "--tuning-seconds", "5"])
        == 2
    )
    assert "--tuning-seconds 5 needs --tuning-gradients N" in capsys.readouterr().err


def test_every_option_states_its_unit():
    commands = _subcommands()
    solve = " ".join(commands["solve"].format_help().split())
    rollout = " ".join(commands["rollout"].format_help().split())
    assert "--every N print a progress line every N iterations (default: 100)" in solve
    assert "--report-every SECONDS seconds between rewrites of the --report file" in rollout
    assert "--every" not in rollout.replace("--report-every", "")
    with pytest.raises(SystemExit) as exc:  # the old name is gone, not given a new meaning
        main(["rollout", "power_sum-p2", "--current", "gd", "step=1e-3", "--every", "2"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--problems", "nope"], ["unknown problem 'nope'", "lfso problems"]),
        (["demo", "nope"], ["unknown problem 'nope'"]),
        (["check-oracle", "nope"], ["unknown problem 'nope'"]),
        (["bench", "--problems", "power_sum-p1", "--cap", "0"], ["--cap", ">= 2", "got 0"]),
        (["bench", "--problems", "power_sum-p1", "--methods", "x"], ["--methods", "'x'"]),
        (["demo", "--max-iter", "0"], ["--max-iter", ">= 2", "got 0"]),
        (["solve", "power_sum-p3", "--tol", "-1"], ["--tol", ">= 0", "got -1"]),
        (["solve", "power_sum-p3", "--tol", "1"], ["--tol", "< 1", "got 1"]),
        (["bench", "--tol", "nan"], ["--tol", "> 0", "got nan"]),
        (["demo", "--tol", "0"], ["--tol", "> 0", "the table counts the gradients", "got 0"]),
        (["solve", "power_sum-p3", "--method", "nesterov"], ["--method nesterov needs --step"]),
        (["solve", "power_sum-p3", "--report", ""], ["--report ''", "is empty"]),
        (["bench", "--problems", "power_sum-p1", "--out", ""], ["--out ''", "is empty"]),
        (
            ["compare", "power_sum-p3", "--baseline-step", "0.1", "--output", ""],
            ["--output ''", "is empty"],
        ),
        (
            ["solve", "rosenbrock-d2", "--oracle", "paper"],
            ["--oracle paper", "rosenbrock-d2", "no hand-made oracle", "power_norm-p1"],
        ),
        (
            ["solve", "rosenbrock-d2", "--oracle", "sharp"],
            ["--oracle sharp", "rosenbrock-d2", "no hand-made oracle"],
        ),
        (
            ["compare", "robust-cauchy", "--baseline-step", "0.1", "--oracle", "paper"],
            ["--oracle paper", "robust-cauchy", "the paper has no oracle", "--oracle sharp"],
        ),
        (
            ["check-oracle", "robust-cauchy", "--oracle", "paper"],
            ["--oracle paper", "robust-cauchy", "--oracle sharp"],
        ),
        (["solve", "power_sum-p3", "--every", "0"], ["--every", ">= 1", "got 0"]),
        (
            ["solve", "rosenbrock-d2", "--radius", "tight"],
            ["--radius tight", "rosenbrock-d2", "hand-made oracle", "leave --radius out"],
        ),
        (
            ["solve", "power_sum-p3", "--method", "lfso-accel", "--radius", "paper"],
            ["--radius paper", "--method lfso only", "lfso-accel"],
        ),
        (
            ["solve", "power_sum-p3", "--method", "lfso-accel", "--eta", "1.5"],
            ["--eta", "(0, 1]", "got 1.5"],
        ),
        (["solve", "power_sum-p3", "--eta", "2.5"], ["--eta", "(0, 2)", "got 2.5"]),
        (
            ["solve", "power_sum-p3", "--method", "gd", "--step", "0.1", "--eta", "0.5"],
            ["--eta", "lfso methods only", "gd"],
        ),
        (["solve", "power_sum-p3", "--method", "gd", "--step", "-1"], ["--step", "got -1"]),
        (
            ["solve", "power_sum-p3", "--method", "armijo", "--step", "0.1"],
            ["--step applies to", "not to armijo"],
        ),
        (["check-oracle", "power_sum-p3", "--shift", "1e300"], ["--shift 1e+300", "not finite"]),
        (["check-oracle", "power_sum-p3", "--shift", "nan"], ["--shift", "finite", "got nan"]),
        (["check-oracle", "power_sum-p3", "--samples", "0"], ["--samples", ">= 1", "got 0"]),
        (["check-oracle", "power_sum-p3", "--samples", "-5"], ["--samples", ">= 1", "got -5"]),
        (["check-oracle", "power_sum-p3", "--radii", "0"], ["--radii", "> 0", "got 0"]),
        (["check-oracle", "power_sum-p3", "--seed", "-1"], ["--seed", ">= 0", "got -1"]),
        (["check-oracle", "power_sum-p3", "--radii", "1", "-1"], ["--radii", "got -1"]),
        (
            ["check-oracle", "power_sum-p3", "--radii", "1", "1e300"],
            ["--radii 1e+300", "L(x, R) = inf", "smaller radius"],
        ),
        (
            ["check-oracle", "power_norm-p2", "--radii", "1", "1e-200"],
            ["--radii 1e-200", "rounds back to x", "larger radius"],
        ),
        (
            ["check-oracle", "power_norm-p2", "--radii", "1e120", "--samples", "4"],
            ["--radii 1e+120", "gradient passes the float range", "smaller radius"],
        ),
        (
            ["check-oracle", "lp_regression-p2-n100", "--radii", "1e60", "--samples", "4"],
            ["--radii 1e+60", "gradient passes the float range", "smaller radius"],
        ),
        (["compare", "power_sum-p3"], ["--baseline-step"]),
        (
            ["solve", "power_sum-p3", "--method", "gd", "--step", "0.1", "--oracle", "paper"],
            ["--oracle paper", "--method gd uses none", "leave --oracle out"],
        ),
        (
            ["solve", "power_sum-p3", "--method", "bb", "--oracle", "sharp"],
            ["--oracle sharp", "--method bb uses none"],
        ),
        (
            ["solve", "rosenbrock-d2", "--method", "lfso-accel"],
            ["--method lfso-accel", "hand-made oracle", "rosenbrock-d2", "lfso or lfso-lbfgs"],
        ),
        (
            ["compare", "rosenbrock-d2", "--method", "lfso-accel", "--baseline-step", "1e-3"],
            ["--method lfso-accel", "hand-made oracle", "rosenbrock-d2"],
        ),
        (
            ["compare", "rosenbrock-d2", "--baseline-method", "lfso-accel"],
            ["--baseline-method lfso-accel", "hand-made oracle", "rosenbrock-d2"],
        ),
        (
            ["rollout", "rosenbrock-d2", "--method", "lfso-accel", "--current", "gd", "step=1"],
            ["--method lfso-accel", "hand-made oracle", "rosenbrock-d2"],
        ),
        (
            ["rollout", "rosenbrock-d2", "--current", "lfso-accel"],
            ["--current lfso-accel", "hand-made oracle", "rosenbrock-d2"],
        ),
        (
            ["rollout", "rosenbrock-d2", "--current", "gd", "step=1", "--fallback", "lfso-accel"],
            ["--fallback lfso-accel", "hand-made oracle", "rosenbrock-d2"],
        ),
        (
            ["bench", "--problems", "power_sum-p1", "power_sum-p1", "--out", "x"],
            ["--problems", "'power_sum-p1' twice"],
        ),
        (
            ["bench", "--problems", "power_sum-p1", "--methods", "lfso", "bb", "lfso"],
            ["--methods", "'lfso' twice"],
        ),
        (["demo", "power_sum-p1", "power_sum-p1"], ["problems", "'power_sum-p1' twice"]),
        (
            ["compare", "power_sum-p3", "--baseline-step", "0.1", "--baseline-method", "sgd"],
            ["--baseline-method", "'sgd'"],
        ),
    ],
)
def test_bad_values_are_errors_naming_option_and_value(argv, expected, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""  # checked before anything is printed
    assert "smoothness=" not in err  # (the command line's words, not the API's)
    assert err.startswith("lfso: error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize(
    "argv, typed, rounds_to",
    [
        (["check-oracle", "power_sum-p3", "--radii", "1e-400"], "--radii: 1e-400", "0"),
        (["check-oracle", "power_sum-p3", "--radii", "1", "1e400"], "--radii: 1e400", "inf"),
        (["solve", "power_sum-p3", "--tol", "1e-400"], "--tol: 1e-400", "0"),
        (["solve", "power_sum-p3", "--method", "gd", "--step=-1e-999"], "--step: -1e-999", "-0"),
        (["solve", "power_sum-p3", "--method", "gd", "--step", "-1e-999"], "--step: -1e-999", "-0"),
    ],
)
def test_a_number_float64_cannot_hold_is_an_error_quoting_it(argv, typed, rounds_to, capsys):
    """A number that rounds to 0 or inf in float64 (``--tol 1e-400`` would run to the
    iteration cap as ``--tol 0``) is refused as typed, not reported as the 0 it became."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    assert f"argument {typed} rounds to {rounds_to} in float64" in err, err


def test_a_parsed_number_is_shown_in_full_in_errors(capsys):
    assert main(["solve", "power_sum-p3", "--tol", "1.0000001"]) == 2
    err = capsys.readouterr().err
    assert "--tol must be a number >= 0 and < 1" in err and "got 1.0000001" in err
    assert main(["check-oracle", "power_sum-p3", "--radii", "1", "-1.0000001"]) == 2
    assert "got -1.0000001" in capsys.readouterr().err


@pytest.mark.parametrize("typed", ["-1e-3", "-2E+1", "-.5e1", "-inf", "-Infinity"])
def test_a_negative_number_is_read_as_the_options_value(typed, capsys):
    """``--step -1e-3`` (a separate word, as ``--step -1`` is) reaches the option's own
    range check, rather than argparse's "expected one argument"."""
    assert main(["solve", "power_sum-p3", "--method", "gd", "--step", typed]) == 2
    err = capsys.readouterr().err
    assert f"--step must be finite and positive for --method gd, got {float(typed):g}" in err
    assert main(["check-oracle", "power_sum-p3", "--radii", "1", typed]) == 2
    assert f"got {float(typed):g}" in capsys.readouterr().err


_TAKE_ETA = sorted(n for n, m in lfso.METHODS.items() if "eta" in m.options)


@pytest.mark.parametrize("method", _TAKE_ETA)
def test_eta_is_checked_by_the_registry_of_each_method(method, capsys):
    option = lfso.METHODS[method].options["eta"]
    bad = next(v for v in (5.0, 1.5, 0.0, -1.0) if not _accepts(option, v))
    assert main(["solve", "power_sum-p3", "--method", method, "--eta", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--eta must be {option.expect} for --method {method}, got {bad:g}" in err
    argv = ["solve", "power_sum-p3", "--method", method, "--eta", "0.5", "--max-iter", "3"]
    assert main(argv) in (0, 1)  # runs (converged or capped)


def _accepts(option, value) -> bool:
    try:
        option.check("eta", value)
    except ValueError:
        return False
    return True


def test_a_method_added_to_the_registry_needs_no_cli_edit(monkeypatch, capsys):
    # A new certified method with its own eta range: the CLI offers it and checks --eta
    # against its range, and --radius/--step against its options, with no edit to cli.py.
    base = lfso.METHODS["lfso-lbfgs"]
    eta = dataclasses.replace(lfso._registry.real(0.0, 0.5), default=0.25)
    new = dataclasses.replace(base, options={**base.options, "eta": eta})
    monkeypatch.setitem(lfso.METHODS, "lfso-new", new)
    assert main(["solve", "power_sum-p3", "--method", "lfso-new", "--eta", "0.7"]) == 2
    assert "--eta must be in (0, 0.5) for --method lfso-new, got 0.7" in capsys.readouterr().err
    assert main(["solve", "power_sum-p3", "--method", "lfso-new", "--radius", "paper"]) == 2
    assert "lfso-new does not take a radius rule" in capsys.readouterr().err
    assert main(["solve", "power_sum-p3", "--method", "gd", "--step", "0.1", "--eta", "1"]) == 2
    assert "lfso-new" in capsys.readouterr().err  # the list of methods that take eta
    argv = ["solve", "power_sum-p3", "--method", "lfso-new", "--eta", "0.4", "--every", "1000"]
    assert main(argv) == 0
    assert "CONVERGED" in capsys.readouterr().out


def test_compare_without_a_step_does_not_speak_api(capsys):
    assert main(["compare", "power_sum-p3"]) == 2
    err = capsys.readouterr().err
    assert "--baseline-step" in err and "step=" not in err


def test_check_oracle_of_a_black_box_gives_command_line_advice(capsys):
    assert main(["check-oracle", "rosenbrock-d2"]) == 2
    err = capsys.readouterr().err
    assert "rosenbrock-d2 has no hand-made oracle" in err and "lfso problems" in err
    assert "smoothness=" not in err and "callable" not in err


def test_output_paths_are_checked_before_the_run(tmp_path, capsys, monkeypatch):
    import lfso.bench
    import lfso.report

    def never(*args, **kwargs):
        raise AssertionError("the run started before the output path was checked")

    monkeypatch.setattr(lfso.bench, "run_suite", never)
    monkeypatch.setattr(lfso.report, "compare", never)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["bench", "--problems", "power_sum-p1", "--out", str(a_file)], "is a file"),
        (["bench", "--problems", "power_sum-p1", "--out", str(a_file / "sub")], "--out"),
        (
            ["compare", "power_sum-p3", "--baseline-step", "0.1", "--output", str(tmp_path)],
            "is a folder",
        ),
        (
            [
                "compare",
                "power_sum-p3",
                "--baseline-step",
                "0.1",
                "--output",
                str(tmp_path / "missing" / "r.html"),
            ],
            "does not exist",
        ),
    ]
    link = tmp_path / "link.html"  # (a symbolic link into a folder that does not exist)
    link.symlink_to(tmp_path / "missing" / "r.html")
    for flag, argv in (
        ("--report", ["solve", "power_sum-p3"]),
        ("--output", ["compare", "power_sum-p3", "--baseline-step", "0.1"]),
        ("--report", ["rollout", "power_sum-p3", "--current", "gd", "step=0.1"]),
    ):
        cases.append(([*argv, flag, str(link)], "is a symbolic link to"))
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert fragment in err and argv[-1] in err, err
        assert out == "", out  # (nothing printed: no run began)
    for name in ("results.csv", "convergence_f.png"):  # (a folder where a file goes)
        taken = tmp_path / f"taken-{name}"
        (taken / name).mkdir(parents=True)
        argv = ["bench", "--problems", "power_sum-p1", "--methods", "lfso", "--out", str(taken)]
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert f"--out {str(taken)!r} holds a folder named {name}" in err and out == "", err
    # A missing --out folder is created before the run, not after it (and removed again
    # when the run fails: see below).
    out = tmp_path / "new" / "bench"
    seen = []

    def look(*args, **kwargs):
        seen.append(out.is_dir())
        raise RuntimeError("stopped")

    monkeypatch.setattr(lfso.bench, "run_suite", look)
    with pytest.raises(RuntimeError, match="stopped"):
        main(["bench", "--problems", "power_sum-p1", "--out", str(out)])
    assert seen == [True]


@pytest.mark.parametrize("spare", [-40, 5], ids=["over", "temporary-over"])
def test_an_output_name_too_long_for_the_file_system_is_an_error_before_the_run(
    tmp_path, capsys, monkeypatch, spare
):
    """A name over the file system's limit (or one whose temporary file beside it is)
    passed the checks: both runs went, then the write failed with ENAMETOOLONG."""
    import lfso.report

    def never(*args, **kwargs):
        raise AssertionError("the run started before the output path was checked")

    monkeypatch.setattr(lfso.report, "compare", never)
    most = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = str(tmp_path / ("a" * (most - spare - len(".html")) + ".html"))
    argv = ["compare", "power_sum-p3", "--baseline-step", "1e-3", "--output", path]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"--output {path!r}: cannot write there (" in err
    assert "expected a shorter name" in err


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_bench_leaves_no_empty_out_folder_when_the_run_stops(tmp_path, monkeypatch, stop):
    """``--out new/dir`` was created before the run and left empty where the run failed or
    was interrupted; a folder that existed stays, and so does one that holds a file."""
    import lfso.bench

    seen = []

    def stopped(*args, **kwargs):
        seen.append(sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")))
        raise stop("stopped")

    monkeypatch.setattr(lfso.bench, "run_suite", stopped)
    argv = ["bench", "--problems", "power_sum-p1", "--out"]
    with contextlib.suppress(RuntimeError):
        main([*argv, str(tmp_path / "new" / "dir")])
    assert seen == [["new", "new/dir"]] and list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with contextlib.suppress(RuntimeError):
        main([*argv, str(tmp_path / "kept")])
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_oracle_applies_where_the_problem_has_it(capsys):
    bounds = {}
    for oracle in ("paper", "sharp"):
        argv = ["check-oracle", "lp_regression-p2-n100", "--oracle", oracle, "--radii", "1"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"lp_regression-p2-n100 ({oracle} oracle) at x0" in out
        bounds[oracle] = out.split("(L = ", 1)[1].split(")")[0]
    assert bounds["paper"] != bounds["sharp"]  # the authors' bound, not the sharp one
    assert main(["solve", "rosenbrock-d2", "--max-iter", "3"]) == 1  # no --oracle: runs


_UNWRITABLE = "/proc/lfso-report.html"  # a folder that exists but takes no new files


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (
            ["compare", "power_sum-p3", "--baseline-step", "0.1", "--output", _UNWRITABLE],
            "--output",
        ),
        (["solve", "power_sum-p3", "--report", _UNWRITABLE], "--report"),
        (["bench", "--problems", "power_sum-p1", "--out", "/proc"], "--out"),
        (
            ["rollout", "power_sum-p2", "--current", "gd", "step=1e-3", "--report", _UNWRITABLE],
            "--report",
        ),
    ],
)
def test_unwritable_outputs_are_errors_before_the_run(argv, option, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith(f"lfso: error: {option} '{argv[-1]}': cannot write there (")


def test_a_write_that_fails_after_the_check_is_a_clean_error(tmp_path, capsys, monkeypatch):
    import lfso.report

    path = tmp_path / "r.html"

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(lfso.report, "compare", full_disk)
    argv = ["compare", "power_sum-p3", "--baseline-step", "0.1", "--output", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"lfso: error: {str(path)!r}: No space left on device\n"


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
@pytest.mark.parametrize(
    ("argv", "written"),
    [
        (["compare", "power_sum-p3", "--baseline-step", "0.1", "--output"], "r.html"),
        (["bench", "--problems", "power_sum-p1", "--cap", "5", "--no-plots", "--out"], ""),
    ],
    ids=["compare", "bench"],
)
def test_an_output_cut_short_leaves_the_previous_file_whole(tmp_path, capsys, argv, written):
    import resource

    folder = tmp_path / "out"
    folder.mkdir()
    files = [folder / written] if written else [folder / "results.md", folder / "results.csv"]
    for f in files:
        f.write_text("the previous run\n")
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG past the limit instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (400, limits[1]))  # a disk full at 400 bytes
    try:
        code = main([*argv, str(files[0] if written else folder)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    err = capsys.readouterr().err
    assert code == 2 and "File too large" in err, err
    assert [f.read_text() for f in files] == ["the previous run\n"] * len(files)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in files)


def test_problems_lists_names(capsys):
    assert main(["problems"]) == 0
    assert "lp_regression-p2-n1000" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "lfso.cli", "problems"], capture_output=True, text=True, check=True
    ).stdout
    assert "power_norm-p1" in out


@pytest.mark.skipif(os.name != "posix", reason="pipes closed early are POSIX's SIGPIPE")
@pytest.mark.parametrize("argv", [["problems"], ["solve", "power_sum-p3", "--every", "1"]])
def test_output_into_a_closed_pipe_stops_quietly(argv):
    read, write = os.pipe()
    os.close(read)  # the reader has gone (lfso problems | head -1)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lfso", *argv], stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.skipif(os.name != "posix", reason="pipes closed early are POSIX's SIGPIPE")
def test_solve_into_a_closed_pipe_finishes_its_page(tmp_path):
    page = tmp_path / "s.html"
    # (more lines than a pipe holds: the run cannot end before the reader leaves)
    run = "power_sum-p3 --method gd --step 1e-3 --tol 0 --max-iter 1000000".split()
    argv = ["solve", *run, "--every", "1", "--report", str(page)]
    proc = subprocess.Popen([sys.executable, "-m", "lfso", *argv], stdout=subprocess.PIPE)
    for _ in range(3):  # the reader takes the first lines, then leaves (... | head -3)
        proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    text = page.read_text()
    assert "Finished" in text and "http-equiv" not in text  # (not "Run in progress")
    assert "RAISED: " in text and "BrokenPipeError" in text


@pytest.mark.parametrize("argv", [[], ["frobnicate"]])
def test_bad_command_exits_with_usage(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def _interrupting(monkeypatch, module):
    """``module.minimize`` with Ctrl-C landing at the second iteration of every run."""
    real = module.minimize

    def interrupted(*args, **kwargs):
        inner = kwargs.pop("callback", None)

        def callback(intermediate_result):
            if inner is not None:
                inner(intermediate_result)
            if intermediate_result.nit >= 2:
                raise KeyboardInterrupt

        return real(*args, callback=callback, **kwargs)

    monkeypatch.setattr(module, "minimize", interrupted)


def test_ctrl_c_stops_solve_with_status_130_after_its_best_point(tmp_path, monkeypatch, capsys):
    import lfso.cli._main

    _interrupting(monkeypatch, lfso.cli._main)
    page = tmp_path / "s.html"
    assert main(["solve", "power_sum-p2", "--report", str(page)]) == 130
    captured = capsys.readouterr()
    assert "INTERRUPTED: " in captured.out and "iterations 2," in captured.out
    assert captured.err.strip().splitlines()[-1] == "lfso: interrupted"
    assert "Finished" in page.read_text() and "http-equiv" not in page.read_text()


@pytest.mark.parametrize(
    "module, argv",
    [
        ("lfso.cli._demo", ["demo", "power_norm-p2", "--no-gd"]),
        ("lfso.bench._harness", ["bench", "--problems", "power_norm-p2", "--methods", "lfso"]),
        ("lfso._minimize", ["compare", "power_norm-p2", "--baseline-step", "1e-3"]),
        ("lfso.rollout._rules", ["rollout", "power_norm-p2", "--current", "gd", "step=1e-3"]),
    ],
)
def test_ctrl_c_stops_a_command_of_several_runs_with_status_130(
    module, argv, tmp_path, monkeypatch, capsys
):
    import importlib

    _interrupting(monkeypatch, importlib.import_module(module))
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("previous\n")
    flag = {"demo": [], "bench": ["--out", str(out), "--no-plots"]}.get(
        argv[0], ["--report" if argv[0] == "rollout" else "--output", str(tmp_path / "r.html")]
    )
    assert main([*argv, *flag]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == "lfso: interrupted"
    assert "Traceback" not in captured.err
    assert "Gradient evaluations" not in captured.out  # (no table of runs cut short)
    assert (out / "results.csv").read_text() == "previous\n"


def test_ctrl_c_in_the_guarded_stage_stops_rollout_with_status_130(tmp_path, monkeypatch, capsys):
    import lfso.rollout._guard as guard

    real = guard.quiet_minimize

    def interrupted(**kwargs):  # (the guarded run's first stage; the pilot's runs go on)
        inner = kwargs.pop("callback")

        def callback(intermediate_result):
            inner(intermediate_result)
            if intermediate_result.nit >= 2:
                raise KeyboardInterrupt

        return real(callback=callback, **kwargs)

    monkeypatch.setattr(guard, "quiet_minimize", interrupted)
    argv = ["rollout", "power_norm-p2", "--current", "gd", "step=1e-3", "--no-roi"]
    assert main([*argv, "--report", str(tmp_path / "r.html")]) == 130
    captured = capsys.readouterr()
    assert "guarded stage (lfso): INTERRUPTED" in captured.out
    assert captured.err.strip().splitlines()[-1] == "lfso: interrupted"
    assert "Traceback" not in captured.err
