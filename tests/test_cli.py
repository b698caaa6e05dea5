"""The command line: solve, demo and problems, through main(argv)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lfso.cli import main


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


def test_demo_prints_the_table(capsys):
    assert main(["demo", "power_sum-p4", "power_norm-p3", "--max-iter", "300"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("power_sum-p4"))
    cells = row.split()
    assert cells[1].isdigit() and int(cells[1]) < 100  # tight radius converges
    assert cells[2].startswith(">")  # the paper rule needs over 1000 at p = 4
    assert "2 problems" in out


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
