"""The command line: solve, demo and problems, through main(argv)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

import lfso
import lfso.registry
from lfso.cli import build_parser, main
from lfso.demo import certified_methods, run_demo
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
    out = capsys.readouterr().out
    assert "composite_ls-p2-n100 / paper: risk 'stagnation' fired" in out
    assert "!" in _row(out, "composite_ls-p2-n100")
    assert not [w for w in recwarn if issubclass(w.category, RiskWarning)]


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


def test_python_dash_m_lfso():
    out = subprocess.run(
        [sys.executable, "-m", "lfso", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"lfso {lfso.__version__}"


def test_every_option_has_help_with_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"lfso {name} {action.dest}: no help"
            if action.default is not None and action.default is not False:
                shown = action.default
                shown = " ".join(str(v) for v in shown) if isinstance(shown, list) else shown
                assert f"default: {shown})" in text, f"lfso {name} {action.dest}: no default"
            elif action.option_strings and action.nargs != 0:  # e.g. --radius, --eta, --step
                assert "default" in action.help or "required" in action.help, action.dest


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--problems", "nope"], ["unknown problem 'nope'", "lfso problems"]),
        (["demo", "nope"], ["unknown problem 'nope'"]),
        (["check-oracle", "nope"], ["unknown problem 'nope'"]),
        (["bench", "--problems", "power_sum-p1", "--cap", "0"], ["--cap", ">= 2", "got 0"]),
        (["bench", "--problems", "power_sum-p1", "--methods", "x"], ["--methods", "'x'"]),
        (["demo", "--max-iter", "0"], ["--max-iter", ">= 2", "got 0"]),
        (["solve", "power_sum-p3", "--tol", "-1"], ["--tol", "> 0", "got -1"]),
        (["solve", "power_sum-p3", "--every", "0"], ["--every", ">= 1", "got 0"]),
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
        (["check-oracle", "power_sum-p3", "--radii", "1", "-1"], ["--radii", "got -1"]),
        (["compare", "power_sum-p3"], ["--baseline-step"]),
        (
            ["compare", "power_sum-p3", "--baseline-step", "0.1", "--baseline-method", "sgd"],
            ["--baseline-method", "'sgd'"],
        ),
    ],
)
def test_bad_values_are_errors_naming_option_and_value(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lfso: error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, (fragment, err)


_TAKE_ETA = sorted(n for n, m in lfso.registry.METHODS.items() if "eta" in m.options)


@pytest.mark.parametrize("method", _TAKE_ETA)
def test_eta_is_checked_by_the_registry_of_each_method(method, capsys):
    option = lfso.registry.METHODS[method].options["eta"]
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
    base = lfso.registry.METHODS["lfso-lbfgs"]
    eta = dataclasses.replace(lfso.registry.real(0.0, 0.5), default=0.25)
    new = dataclasses.replace(base, options={**base.options, "eta": eta})
    monkeypatch.setitem(lfso.registry.METHODS, "lfso-new", new)
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
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err and argv[-1] in err, err
    # A missing --out folder is created before the run, not after it.
    out = tmp_path / "new" / "bench"
    with pytest.raises(AssertionError, match="before the output"):
        main(["bench", "--problems", "power_sum-p1", "--out", str(out)])
    assert out.is_dir()


def test_problems_lists_names(capsys):
    assert main(["problems"]) == 0
    assert "lp_regression-p2-n1000" in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "lfso.cli", "problems"], capture_output=True, text=True, check=True
    ).stdout
    assert "power_norm-p1" in out


@pytest.mark.parametrize("argv", [[], ["frobnicate"]])
def test_bad_command_exits_with_usage(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
