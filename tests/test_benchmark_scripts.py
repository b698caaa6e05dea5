"""The benchmark scripts run (tiny sizes, CPU) and print the table their docstrings promise.

Their figures are measured by running them as the README says, never here; these tests only
keep the scripts working, in particular the GPU script, which CI cannot run on a GPU. Each
script runs as ``__main__`` inside the test process (``tests/scripts.py``), as it would
from the command line, without a fresh interpreter's start and imports.
"""

from __future__ import annotations

import math
import re
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
from scripts import BENCHMARKS, run_script, script_namespace
from scripts import script_rows as _run

import lfso


def _numbers(row: list[str]) -> list[float]:
    return [float(v) for v in row if v.replace(".", "", 1).replace("e-", "", 1).isdigit()]


def test_gpu_script_runs_on_the_cpu():
    pytest.importorskip("torch")
    rows = _run(
        "gpu_iteration_cost.py", "--device", "cpu", "--gb", "0.001", "0.002", "--iters", "3"
    )
    assert rows[0][:2] == ["device", "cpu"]
    table = rows[2:]
    assert [(r[0], r[1]) for r in table] == [
        ("l4", "0.001"),
        ("logistic", "0.001"),
        ("l4", "0.002"),
        ("logistic", "0.002"),
    ]
    assert all(len(r) == 14 for r in table)
    assert [int(r[2]) for r in table] == [2500, 2500, 5000, 5000]  # float32, d = 100
    # times (ms) and ratios are positive; a bandwidth fraction printed to three decimals may
    # read 0.000 on a loaded machine
    assert all(float(v) > 0 for r in table for v in (*r[4:9], *r[12:14]))
    assert all(float(v) >= 0 for r in table for v in r[3:])


def test_gpu_script_times_cpu_tensors_own_path_with_host():
    pytest.importorskip("torch")
    args = ["--device", "cpu", "--host", "--rows", "300", "--d", "5", "--iters", "2"]
    rows = _run("gpu_iteration_cost.py", *args, "--methods", "lfso", "--models", "l4", "--net")
    assert rows[0][:5] == ["device", "cpu", "(cpu,", "host", "path,"]
    assert rows[1][-6:] == ["ms", "plain", "bw", "lfso", "bw", "lfso/plain"]
    (table,) = rows[2:]  # model, GB, n, copy rate, plain and lfso ms, two bw, the ratio
    assert table[:3] == ["l4", "6e-06", "300"] and len(table) == 9
    # the plain loop's time is positive; lfso's, net of the start, is a difference of two
    # runs' times (2 iterations less 1 here), so on a loaded machine only a finite number
    assert float(table[4]) > 0 and all(math.isfinite(float(v)) for v in (table[5], table[-1]))
    rows = _run("gpu_iteration_cost.py", "--device", "cpu", "--rows", "300", "--iters", "2")
    assert rows[0][3:5] == ["device", "path,"]  # (CPU tensors standing in for a GPU's)
    assert [r[0] for r in rows[2:]] == ["l4", "logistic"]  # (softmax only where named)
    args = ["--device", "cpu", "--rows", "300", "--d", "8", "--iters", "2"]
    models = ["--models", "cauchy", "softmax", "l3"]
    rows = _run("gpu_iteration_cost.py", *args, *models, "--methods", "lfso")
    assert [r[0] for r in rows[2:]] == ["softmax", "l3", "cauchy"]
    for table in rows[2:]:
        assert table[1:3] == ["9.6e-06", "300"]  # (300 x 8 float32: 9.6 KB)
        assert all(float(v) > 0 for v in (table[4], table[5], table[-1]))


def test_gpu_script_float32_host_runs_make_the_iterations_asked_for():
    """On float32 CPU tensors' own path, where the exact slope is checked, every run makes
    the iterations it is timed over: the problem (``b = A 1``, a consistent system) keeps
    the runs away from the precision limit (on ``b = A 1 + 0.01 N(0, 1)`` ``lfso-lbfgs``
    stopped at ``PRECISION_LIMIT`` within 20 iterations here)."""
    pytest.importorskip("torch")
    args = ["--device", "cpu", "--host", "--rows", "20000", "--d", "25", "--iters", "10"]
    more = ["--methods", "lfso", "lfso-lbfgs", "--models", "l4", "logistic", "l3", "--net"]
    rows = _run("gpu_iteration_cost.py", *args, *more)
    assert [r[0] for r in rows[2:]] == ["l4", "logistic", "l3"]


def test_gpu_script_names_a_run_that_stops_short():
    """A run that ends before the iterations asked for is an error naming the method, the
    model and the iterations it made, not a time per iteration over the wrong count."""
    torch = pytest.importorskip("torch")
    ns = script_namespace(BENCHMARKS / "gpu_iteration_cost.py")
    A = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    model = lfso.models.LpRegression(A, A @ torch.ones(2), 2)
    with pytest.raises(RuntimeError, match=r"lfso-lbfgs on LpRegression ran 0 of 5 it"):
        ns["lfso_run"](model, torch.ones(2), 5, host=True, method="lfso-lbfgs")


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-8), ("float32", 1e-5)])
def test_gpu_time_to_tol_script_runs_on_the_cpu(dtype, tol):
    pytest.importorskip("torch")
    args = ["--device", "cpu", "--sizes", "400x4", "--plain-iters", "2", "--dtype", dtype]
    rows = _run("gpu_time_to_tol.py", *args)
    assert rows[0][:2] == ["device", "cpu"] and rows[0][3:5] == [f"{dtype},", "tol"]
    assert float(rows[0][5].rstrip(",")) == tol  # (the default tolerance of the dtype)
    assert rows[1][0] == "optax:"
    methods = ["lfso-lbfgs", "torch-lbfgs"]
    if rows[1][1] != "skipped":
        methods.append("optax-lbfgs")
    assert rows[2] == ["plain", "loops", "(per", "iteration)"]
    plain = rows[4:6]
    assert [(r[0], r[1]) for r in plain] == [("l4", "400x4"), ("logistic", "400x4")]
    assert all(len(r) == 9 and len(_numbers(r)) == 7 and min(_numbers(r)) >= 0 for r in plain)
    # (times are positive; a bandwidth fraction printed to three decimals may read 0.000)
    assert all(float(r[i]) > 0 for r in plain for i in (3, 4, 7))
    assert rows[6] == ["runs", "to", "tolerance"]
    runs = rows[8:]
    expected = [(model, "400x4", m) for model in ("l4", "logistic") for m in methods]
    assert [tuple(r[:3]) for r in runs] == expected
    for row in runs:
        assert len(row) == 10 and float(row[3]) > 0 and int(row[4]) > 0 and int(row[5]) > 0
        status, rel = row[6], float(row[7])
        if row[2] == "lfso-lbfgs":
            assert status == "yes"
        # torch's L-BFGS may stall short of a float32 tolerance: then the table says so,
        # and the relative gradient recomputed at its last point agrees with the status.
        assert status in ("yes", "stalled", "capped")
        assert rel <= 2 * tol if status == "yes" else rel > tol / 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizes", "10x"], "argument --sizes: a size must be ROWSxCOLS"),
        (["--cond", "0.5"], "argument --cond: expected a float >= 1, got '0.5'"),
        (["--tol", "-1"], "argument --tol: expected a float > 0, got '-1'"),
    ],
)
def test_gpu_time_to_tol_script_names_a_bad_argument(args, message):
    pytest.importorskip("torch")
    out = run_script(BENCHMARKS / "gpu_time_to_tol.py", *args, check=False)
    assert out.returncode == 2 and message in out.stderr


def test_iteration_cost_breakdown_is_per_iteration_made():
    """``--breakdown`` divides by the iterations a run made: ``lfso-lbfgs`` on l_4
    regression at 100 x 5 ends at ``PRECISION_LIMIT`` within 200 iterations, and its
    direction is still taken once per iteration, not a fraction of once."""
    out = run_script(
        BENCHMARKS / "iteration_cost.py",
        *("--sizes", "100x5", "--iters", "200", "--repeats", "1", "--breakdown"),
    ).stdout
    (line,) = [x for x in out.splitlines() if x.strip().startswith("lfso-lbfgs:")]
    per = float(re.search(r"direction \d+ us \(([0-9.]+)/it\)", line).group(1))
    assert per >= 0.9, line


def test_iteration_cost_script_reports_each_size():
    rows = _run("iteration_cost.py", "--sizes", "100x5", "200x5", "--iters", "20", "--repeats", "1")
    table = rows[2:]
    assert [r[0] for r in table] == ["100x5", "200x5"]
    assert all(len(_numbers(r)) == 10 and min(_numbers(r)) > 0 for r in table)
    rows = _run("iteration_cost.py", "--model", "cauchy", "--sizes", "100x5", "--iters", "20")
    assert rows[0][:2] == ["Cauchy", "regression,"] and rows[2][0] == "100x5"
    assert len(_numbers(rows[2])) == 9 and min(_numbers(rows[2])) > 0  # (no paper's R0)
    assert rows[2][7] == "nan"


def test_iteration_floor_script_reports_both_models_and_its_steps_descend(monkeypatch):
    import itertools

    from lfso.bench import lls_data

    for model in ("lp", "logistic"):
        rows = _run(
            "iteration_floor.py",
            "--model",
            model,
            "--sizes",
            "200x5",
            "--iters",
            "30",
            "--repeats",
            "1",
        )
        assert [r[0] for r in rows[2:]] == ["200x5"]
        assert len(_numbers(rows[2])) == 7 and min(_numbers(rows[2])) > 0
    # The hand-written iterations are certified: f never rises, and it falls.
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # (the script's folder, as when run)
    floor = runpy.run_path(str(BENCHMARKS / "iteration_floor.py"))
    A, b = lls_data(300, 10, seed=1)
    for name, x0 in (("floor_l4", np.ones(10)), ("floor_logistic", np.zeros(10))):
        _, values = floor[name](A, b, x0, 200)
        assert len(values) == 200
        assert all(later <= earlier for earlier, later in itertools.pairwise(values))
        assert values[-1] < 0.95 * values[0]


def test_lbfgs_floor_script_reports_each_problem_and_its_runs_descend_to_the_tolerance():
    """``lbfgs_floor.py`` prints a row per power problem with the three runs' times and
    gradient counts; its hand-written certified L-BFGS never raises ``f`` (its bounds hold
    in real arithmetic) and reaches the tolerance; a problem that is not a power problem is
    refused, naming the argument."""
    import itertools

    rows = _run(
        "lbfgs_floor.py", "--problems", "power_norm-p3", "power_sum-p2-lin", "--repeats", "1"
    )
    assert [r[0] for r in rows[2:]] == ["power_norm-p3", "power_sum-p2-lin"]
    for row in rows[2:]:
        counts = [int(v.strip("()")) for v in row[2:7:2]]  # floor, lfso-lbfgs, L-BFGS-B
        assert all(0 < n < 1000 for n in counts)
    floor = runpy.run_path(str(BENCHMARKS / "lbfgs_floor.py"))
    from lfso.bench import get_problem

    for name in ("power_norm-p5", "power_sum-p4-lin", "power_sum-p5-lin"):
        model, x0 = get_problem(name).make()
        oracle, bound = floor["family"](name)
        _, evals, values = floor["floor"](oracle, bound, x0, 1e-8, 1000)
        assert evals < 1000, name  # (it stopped by the test, not the cap)
        assert all(later <= earlier for earlier, later in itertools.pairwise(values)), name
        assert values[-1] < 1e-6 * values[0]
        f, g = oracle(x0)
        assert np.isclose(f, model.evaluate(x0, bound=False).value, rtol=1e-12)
        assert np.allclose(g, model.evaluate(x0, bound=False).grad, rtol=1e-12, atol=0.0)
    bad = run_script(BENCHMARKS / "lbfgs_floor.py", "--problems", "rosenbrock-d2", check=False)
    assert bad.returncode != 0 and "--problems" in bad.stderr and "rosenbrock-d2" in bad.stderr


def test_device_checks_run_as_a_dry_run_on_the_cpu(tmp_path):
    """``benchmarks/device_checks.sh``, the GPU checks in one command, runs every check at
    tiny sizes on the CPU and records each one's exit status."""
    pytest.importorskip("torch")
    import os
    import subprocess

    from scripts import ROOT

    env = {**os.environ, "LFSO_CHECKS_CPU": "1"}
    done = subprocess.run(
        ["bash", "benchmarks/device_checks.sh", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = ["cuda_tests", "iteration_cost", "time_to_tol_32", "time_to_tol_64", "step_time"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.txt" for n in names)
    for name in names:
        text = (tmp_path / f"{name}.txt").read_text()
        assert text.rstrip().endswith("rc=0"), (name, text[-2000:])
    assert "lfso-lbfgs" in (tmp_path / "time_to_tol_32.txt").read_text()
    assert "step-time | friedman2 | 128 |" in (tmp_path / "step_time.txt").read_text()


def test_host_syncs_script_lists_every_model(sync_table_of, monkeypatch):
    pytest.importorskip("torch")
    import functools

    import lfso.bench

    # The script's first table is sync_table's at the sizes tests/test_syncs.py counts
    # (counted once per test run), and its host time is timed over 20 iterations, not
    # 5 x 1000: what is checked here is the table's layout, not the figures.
    monkeypatch.setattr(lfso.bench, "sync_table", sync_table_of)
    host_time = functools.partial(lfso.bench.host_time, iters=20, repeats=1)
    monkeypatch.setattr(lfso.bench, "host_time", host_time)
    rows = _run("host_syncs.py", "--n", "300", "--d", "8")
    assert rows[1][-5:] == ["gd", "lfso:ball", "lfso", "lfso-lbfgs", "lfso-accel"]
    table = rows[2:12]
    assert len(table) == 10 and all(float(r[-5]) == 1.0 for r in table)
    assert rows[13][:3] == ["host", "time", "per"]
    assert len(rows[14]) == 5 and all(v.endswith("us") and float(v[:-2]) > 0 for v in rows[14])
    assert rows[15][:6] == ["the", "same", "with", "the", "passes", "compiled,"]
    assert len(rows[16]) == 5 and all(v.endswith("us") and float(v[:-2]) > 0 for v in rows[16])
    rows = rows[:15] + rows[17:]  # (the tables below, where they were)
    assert rows[16][:6] == ["host", "round", "trips", "per", "step", "of"]
    assert rows[17] == ["oracle", "lfso", "lfso-lbfgs"]
    assert [r[0] for r in rows[18:22]] == ["auto", "user", "auto:", "user:"]
    auto, user = ([float(v) for v in r[1:]] for r in rows[18:20])
    auto_calls, user_calls = ([float(v) for v in r[3:]] for r in rows[20:22])
    # (a user's oracle: lfso the ball alone, one per call; lfso-lbfgs the safeguarded
    # estimate capped by the ball, one more per step, its misuse checks as with "auto")
    assert user[0] == user_calls[0] == 1.0 and user[1] == user_calls[1] + 1.0
    assert auto[0] == auto_calls[0] and 1.0 <= auto_calls[0] <= 1.5  # one per closure call
    # (a tiny problem may converge inside the counted steps: past convergence L-BFGS's
    # pair test skips rounding-noise pairs, a few round trips each; test_torch checks the
    # invariant exactly at n = 1000)
    assert auto_calls[1] + 1.0 <= auto[1] <= auto_calls[1] + 2.5
    assert rows[23][:3] == ["kernels", "per", "iteration"]
    assert rows[24] == ["model", "gd", "lfso", "lfso-lbfgs"]
    kernels = {" ".join(r[:-3]): [float(v) for v in r[-3:]] for r in rows[25:27]}
    assert list(kernels) == ["l_4 regression", "logistic"]
    # (a certified iteration issues more operations than the plain loop's, and L-BFGS's
    # direction more than steepest descent's)
    assert all(0 < gd < lfso < lbfgs for gd, lfso, lbfgs in kernels.values())
    assert rows[28][:4] == ["the", "first", "table", "from"]
    assert rows[29][-5:] == ["gd", "lfso:ball", "lfso", "lfso-lbfgs", "lfso-accel"]
    ahead = rows[30:40]
    # (gd runs a point ahead of its evaluations' scalars: no read drains the queue)
    assert len(ahead) == 10 and all(float(r[-5]) == 0.0 for r in ahead)


def test_host_syncs_counts_a_compiled_pass_as_one_kernel(monkeypatch):
    """``--kernels-only``: the kernels table alone; where the passes compile (their
    threshold patched to these rows), a compiled pass counts as one call, so fewer
    operations than with PyTorch's operations, and the table is the same either way in
    layout."""
    pytest.importorskip("torch")
    from test_fused import _compiles

    from lfso.models import _fused

    if not _compiles():
        pytest.skip("torch.compile cannot compile here")
    args = ["--kernels-only", "--n", "300", "--d", "6"]
    monkeypatch.setattr(_fused, "_ENABLED", False)
    plain = _run("host_syncs.py", *args)
    monkeypatch.setattr(_fused, "_ENABLED", True)
    monkeypatch.setattr(_fused, "MIN_ROWS", 2)
    rows = _run("host_syncs.py", *args)
    for table in (plain, rows):
        assert table[0][:3] == ["kernels", "per", "iteration"] and len(table) == 4
        assert table[1] == ["model", "gd", "lfso", "lfso-lbfgs"]

    def counts(table: list[list[str]]) -> list[float]:
        return [float(v) for r in table[2:] for v in r[-3:]]

    # (gd's logistic evaluation and every certified iteration make fewer calls compiled)
    assert all(c <= p for c, p in zip(counts(rows), counts(plain), strict=True))
    assert sum(counts(rows)) < sum(counts(plain)) - 50


def test_dask_script_runs_on_a_local_cluster():
    pytest.importorskip("distributed")
    args = ["--sizes", "2000x5", "--chunk", "500", "--iters", "2", "--repeats", "1"]
    rows = _run("dask_iteration_cost.py", *args)
    assert rows[0][:5] == ["dask", "cluster", "with", "2", "workers;"]
    table = rows[2:]
    assert [(r[0], r[1]) for r in table] == [("l4", "2000x5"), ("logistic", "2000x5")]
    assert all(len(_numbers(r)) == 3 and min(_numbers(r)) > 0 for r in table)


def test_lbfgs_wallclock_script_runs_tiny():
    rows = _run("lbfgs_wallclock.py", "--quick")
    assert rows[0][:3] == ["model", "rows", "dim"]
    table = rows[1:]
    assert [r[0] for r in table] == ["logistic", "l4"]
    for row in table:
        assert row[-1] == "yes"  # both reached the tolerance
        assert int(row[4]) > 0 and int(row[6]) > 0  # evaluations counted for both


def test_lbfgs_wallclock_script_runs_the_multinomial_models():
    pytest.importorskip("sklearn")
    rows = _run("lbfgs_wallclock.py", "--quick", "--models", "softmax", "digits")
    table = rows[1:]
    assert [r[:3] for r in table] == [["softmax", "300", "5"], ["digits", "1797", "64"]]
    assert all(r[-1] == "yes" for r in table)  # both methods reached the tolerance


def test_lbfgs_wallclock_script_times_suite_problems_and_counts():
    out = run_script(
        BENCHMARKS / "lbfgs_wallclock.py",
        "--suite",
        "--problems",
        "power_norm-p2",
        "robust-cauchy",
        "--repeats",
        "1",
    )
    lines = out.stdout.splitlines()
    rows = [line.split() for line in lines[1:-1]]
    assert [r[0] for r in rows] == ["power_norm-p2", "robust-cauchy"]
    assert all(r[-1] == "yes" and int(r[2]) > 0 and int(r[4]) > 0 for r in rows)
    *_, count, _, _, total, _, _, _ = lines[-1].split()
    assert lines[-1].startswith("lfso-lbfgs at most L-BFGS-B's time on") and total == "2"
    ratios = [float(r[5]) for r in rows]  # (printed to two decimals)
    assert sum(v < 0.995 for v in ratios) <= int(count) <= sum(v <= 1.005 for v in ratios)
    bad = run_script(
        BENCHMARKS / "lbfgs_wallclock.py", "--suite", "--problems", "nope", check=False
    )
    assert bad.returncode != 0 and "--problems: unknown ['nope']" in bad.stderr


def test_bench_targets_counts_a_constructed_table(tmp_path):
    header = "problem,method,status,njev,nfev,accuracy,grid_njev\n"
    rows = [
        # p1: lfso-lbfgs beats L-BFGS-B and lfso beats gd-tuned; p2 the other way round,
        # and gd-tuned's grid landed on the minimiser (2 gradients) but cost 500 in all;
        # p3: lfso and gd-tuned both capped, lfso closer to the tolerance.
        ("p1", "lfso-lbfgs", "converged", 10, 10, 1e-9, ""),
        ("p1", "lbfgs", "converged", 20, 25, 1e-9, ""),
        ("p1", "lfso", "converged", 30, 30, 1e-9, ""),
        ("p1", "gd-tuned", "capped", 50, 50, 1e-3, 400),
        ("p1", "armijo", "converged", 12, 30, 1e-9, ""),
        ("p2", "lfso-lbfgs", "capped", 90, 90, 1e-5, ""),
        ("p2", "lbfgs", "converged", 40, 44, 1e-9, ""),
        ("p2", "lfso", "converged", 80, 80, 1e-9, ""),
        ("p2", "gd-tuned", "converged", 2, 2, 0.0, 500),
        ("p3", "lfso", "capped", 50, 50, 1e-7, ""),
        ("p3", "gd-tuned", "capped", 50, 50, 1e-4, 400),
    ]
    path = tmp_path / "results.csv"
    path.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
    out = _run("bench_targets.py", str(path))
    text = [" ".join(r) for r in out]
    assert "lfso-lbfgs fewer gradients than L-BFGS-B: 1/3 (33%)" in text
    family = "LFSO family fewer f+g evaluations than every peer: 1/3 (33%)"
    assert f"{family}; not on: ['p2', 'p3']" in text
    assert "lfso beats grid-tuned GD: 2/3; not on: ['p2']" in text
    assert "lfso beats grid-tuned GD counting the grid's cost: 3/3" in text
    assert "grid-tuned GD's first step landed on the minimiser: ['p2']" in text


def test_stochastic_script_quick_writes_its_table_and_figures(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = _run("stochastic.py", "--quick", "--only", "mlp", "decay", "--out", str(tmp_path))
    text = [" ".join(r) for r in out]
    labels = [r.split("|")[1].strip() for r in text if r.startswith("| ")]
    assert "StochasticLFSO" in labels and any(
        lab.startswith("Adam (best of grid") for lab in labels
    )
    assert any(lab.startswith("SGD momentum 0.9 (best of grid") for lab in labels)
    verdict = re.compile(r"all tasks: within 1 point of the best tuned: [01]/1; within 2: ")
    assert any(verdict.match(line) for line in text)
    assert not any(line.startswith("tasks that informed no choice") for line in text)  # (tuned)
    assert "| mlp |" in "\n".join(text)  # the verdict row of the one task run
    assert [lab for lab in labels if lab in ("none", "sqrt", "harmonic")] == [
        "none",
        "sqrt",
        "harmonic",
    ]
    peers = {"DoG": "dog", "Prodigy": "prodigyopt", "schedule-free AdamW": "schedulefree"}
    import importlib.util

    for label, module in peers.items():  # a missing peer is a note, not a crash
        installed = importlib.util.find_spec(module) is not None
        assert (label in labels) == installed
        assert any(f"{label.split()[0]} skipped" in line for line in text) == (not installed)
    assert (
        (tmp_path / "table.md").read_text().startswith("command: python benchmarks/stochastic.py")
    )
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "mlp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stochastic_script_every_task_builds_and_trains_a_step():
    """Every task of the set, at its quick size: the model's output fits the labels (class
    indices below the output's width, or targets of its shape), and a step of
    StochasticLFSO moves the parameters. The tasks the defaults were tuned on and the
    held-out ones partition the set, and at most half of it informed a choice (tuned on,
    or a held-out task a later change was derived on)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    bench = script_namespace(BENCHMARKS / "stochastic.py")  # (it sets the thread count)
    tasks, tuned, derived = bench["TASKS"], bench["TUNED_ON"], bench["DERIVED_ON"]
    assert len(set(tasks)) == len(tasks) == len(tuned) + len(bench["HELD_OUT"])
    assert set(derived) <= set(bench["HELD_OUT"])
    assert 2 * len(tuned + derived) <= len(tasks)
    for name in tasks:
        task = bench["make_task"](name, True)
        Xtr, ytr = task.data[0], task.data[1]
        assert len(task.data) == 6 and len(Xtr) == len(ytr) > 0
        torch.manual_seed(0)
        model = task.make_model()
        out = model(Xtr[: task.batch])
        if task.regression:
            assert out.shape == ytr[: task.batch].shape
        else:
            assert ytr.dtype == torch.int64 and 0 <= int(ytr.min())
            assert int(ytr.max()) < out.shape[1]
        before = [p.detach().clone() for p in model.parameters()]
        opt = bench["StochasticLFSO"](model.parameters())
        xb, yb = Xtr[: task.batch], ytr[: task.batch]

        def closure(backward=True, xb=xb, yb=yb, model=model, task=task):
            loss = task.loss(model(xb), yb)
            if backward:
                loss.backward()
            return loss

        opt.step(closure)
        moved = any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
        assert moved, name


def test_stochastic_script_counts_the_tasks_that_informed_no_choice(tmp_path):
    """A held-out task that informed no choice says so in its table's title, and the targets
    are counted over all the tasks run and over those that informed no choice."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    args = ("--quick", "--only", "friedman2", "--out", str(tmp_path))
    text = [" ".join(r) for r in _run("stochastic.py", *args)]
    assert any("friedman2" in line and "(held out: it informed no choice)" in line for line in text)
    for group in ("all tasks", "tasks that informed no choice"):
        line = next(line for line in text if line.startswith(group + ": within 1 point"))
        counts = re.findall(r"(\d+)/(\d+)", line)
        assert len(counts) == 3 and all(n == "1" and k in "01" for k, n in counts)


def test_stochastic_script_lfso_only_and_the_late_steps_table(tmp_path):
    """``--lfso-only`` trains StochasticLFSO alone; ``--only late`` reports, per seed, the
    share of late secant measurements whose line minimiser is at or below 0."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    args = ("--quick", "--lfso-only", "--only", "mlp", "late", "--out", str(tmp_path))
    text = [" ".join(r) for r in _run("stochastic.py", *args)]
    labels = [r.split("|")[1].strip() for r in text if r.startswith("| ")]
    assert "StochasticLFSO" in labels
    assert not any(lab.startswith(("Adam", "SGD")) for lab in labels)
    assert not any(line.startswith("within 1 point") for line in text)
    late = [r.split("|") for r in text if r.startswith("| 0 |")]
    assert len(late) == 1
    assert 0.0 <= float(late[0][5]) <= 1.0  # the share of u* <= 0


def test_stochastic_script_signal_table(tmp_path):
    """``--only signal`` reports, per seed, each statistic by quarter of the run: the step,
    Adam's per-coordinate ratio m^2 / v (in (0, 1]), the cosine of the gradient and the
    direction (in [-1, 1]); by quarter of the secant measurements (up to four: the quick
    run measures three times) the descent rate's signal to noise and the curvature; and the
    window statistic of the step's multiple (none: the run is shorter than a window)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    args = ("--quick", "--only", "signal", "mlp", "--no-train", "--out", str(tmp_path))
    text = [" ".join(r) for r in _run("stochastic.py", *args)]
    rows = [r.split("|") for r in text if r.startswith("| 0 |")]
    assert len(rows) == 1
    cells = [[float(v) for v in cell.split()] for cell in rows[0][3:8]]
    assert rows[0][8].strip() == "-"  # the quick run is shorter than a window
    assert [float(v) for v in rows[0][9].split()] == [1.0] * 4  # so the multiple is eta
    assert [len(cell) for cell in cells[:3]] == [4, 4, 4]
    assert 1 <= len(cells[3]) == len(cells[4]) <= 4
    steps, ratio, cos, snr, _ = cells
    assert all(v > 0.0 for v in steps)
    assert all(0.0 < v <= 1.0 for v in ratio)
    assert all(-1.0 <= v <= 1.0 for v in cos)
    assert all(v >= 0.0 for v in snr)


def test_stochastic_step_time_counts_the_device_paths_operator_calls(tmp_path):
    """``--only step-time --device-path`` adds the device path (``device_steps=True``)
    beside the host path, and counts both paths' operator calls per step."""
    pytest.importorskip("torch")
    args = ("--quick", "--only", "step-time", "mlp", "--no-train", "--device-path")
    text = [" ".join(r) for r in _run("stochastic.py", *args, "--out", str(tmp_path))]
    assert any("device path / Adam, CPU time" in line for line in text)
    row = next(r.split("|") for r in text if r.startswith("| mlp |") and "/" in r)
    for cell in row[2:4]:  # without a probe, with one: host / device
        host, device = (int(v) for v in cell.split("/"))
        assert 0 < host < device


def test_stochastic_step_time_blocks_and_rows_written_as_measured(tmp_path):
    """``--step-batches`` and ``--step-blocks`` set the timed blocks, and each row of the
    step-time table is written to standard error as soon as it is measured (a run stopped
    by a time limit keeps them)."""
    pytest.importorskip("torch")
    args = ("--quick", "--only", "step-time", "friedman2", "--no-train", "--out", str(tmp_path))
    done = run_script(
        BENCHMARKS / "stochastic.py", *args, "--step-batches", "2", "--step-blocks", "1"
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("| friedman2 | ")]
    assert [r.split("|")[2].strip() for r in rows] == ["128", "256"]
    for row in rows:
        assert f"step-time {row}" in done.stderr
    bad = run_script(BENCHMARKS / "stochastic.py", *args, "--step-blocks", "0", check=False)
    assert bad.returncode != 0 and "--step-blocks 0" in bad.stderr


def test_accel_certificate_script_reports_both_certificates():
    rows = _run("accel_certificate.py", "--problems", "power_sum-p2", "robust-cauchy")
    assert rows[0] == ["problem", "ball", "segment"]
    assert [r[0] for r in rows[1:3]] == ["power_sum-p2", "robust-cauchy"]
    assert all(len(_numbers(r)) == 2 for r in rows[1:3])
    assert rows[3][:3] == ["fewer", "gradients:", "ball"]


def test_per_iteration_script_times_each_problem_and_method():
    rows = _run(
        "per_iteration.py",
        "--problems",
        "lp_regression-p2-n100",
        "power_sum-p3-lin",
        "--iters",
        "5",
        "--repeats",
        "1",
    )
    table = rows[2:]
    assert [r[0] for r in table] == ["lp_regression-p2-n100", "power_sum-p3-lin"]
    assert all(len(r) == 3 and all(float(v) > 0 for v in r[1:]) for r in table)


def test_torch_step_time_script_times_each_method():
    pytest.importorskip("torch")
    out = run_script(
        BENCHMARKS / "torch_step_time.py",
        "--methods",
        "lfso",
        "lfso-lbfgs",
        "--steps",
        "3",
        "--repeats",
        "1",
    )
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["lfso", "lfso-lbfgs"]
    assert all(float(line.split()[1]) > 0 for line in lines)
    bad = run_script(BENCHMARKS / "torch_step_time.py", "--steps", "0", check=False)
    assert bad.returncode == 2 and "--steps and --repeats must be >= 1, got 0" in bad.stderr


def test_float_soundness_script_counts_no_failure_quickly():
    rows = _run("float_soundness.py", "--runs", "1", "--iters", "15", "--scales", "1", "1e4")
    assert rows[0][:2] == ["numpy", "float32"]
    table = [r for r in rows[2:] if len(r) == 8]
    assert len(table) == 9  # every model
    assert all(int(r[1]) == 4 and int(r[3]) == int(r[4]) == int(r[5]) == 0 for r in table)
    assert rows[-1][:2] == ["total:", "0"]


def test_float_soundness_scales_the_row_data_and_allows_for_underflow():
    script = script_namespace(BENCHMARKS / "float_soundness.py")

    def lib(a):
        return np.asarray(a, dtype=np.float32)

    small, exact = script["_models"](lib, 1e-12)["lp-p2"](np.random.default_rng(0))
    plain, _ = script["_models"](lib, 1.0)["lp-p2"](np.random.default_rng(0))
    np.testing.assert_allclose(small.A, plain.A * np.float32(1e-12), rtol=1e-6)
    np.testing.assert_allclose(small.b, plain.b * np.float32(1e-12), rtol=1e-6)
    # At f = 0 and x = 0 the allowance is the underflow of f's terms alone: (n + 8) tiny
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    x = np.zeros(6)
    assert script["_allowance"](exact, x, 0.0, 2.0**-24, tiny) == (60 + 8) * tiny
    bad = run_script(BENCHMARKS / "float_soundness.py", "--data-scale", "0", check=False)
    assert bad.returncode == 2 and "--data-scale 0.0: expected a finite number > 0" in bad.stderr


def test_float_soundness_runs_the_accelerator_path_on_the_cpu():
    pytest.importorskip("torch")
    rows = _run(
        "float_soundness.py", "--lib", "torch", "--device-path", "--runs", "1", "--iters", "5",
        "--scales", "1",
    )  # fmt: skip
    assert rows[0] == ["torch", "float32", "on", "cpu", "(an", "accelerator", "path)"]
    table = [r for r in rows[2:] if len(r) == 8]
    assert len(table) == 9 and all(int(r[1]) == 2 and int(r[2]) > 0 for r in table)
    assert rows[-1][:2] == ["total:", "0"]
    bad = run_script(BENCHMARKS / "float_soundness.py", "--device-path", check=False)
    assert bad.returncode == 2 and "--device-path takes --lib torch" in bad.stderr


def test_float_soundness_checks_the_other_certified_methods_and_their_bounds():
    """``--methods`` runs the other certified methods (``lfso-accel`` at its gradient
    steps, the ball certificate, the automatic oracle); ``lfso-paper`` runs alone, on the
    five models with the authors' oracles. A curvature bound half the true one still
    lowers ``f`` along a gradient step, and only the bound check sees it."""
    methods = ("lfso-accel", "lfso-ball", "lfso-auto")
    rows = _run(
        "float_soundness.py", "--runs", "1", "--iters", "8", "--scales", "1", "--seed", "3",
        "--methods", *methods,
    )  # fmt: skip
    table = [r for r in rows[2:] if len(r) == 8]
    assert len(table) == 9 and all(int(r[1]) == 3 and int(r[2]) > 0 for r in table)
    assert rows[-1][:2] == ["total:", "0"] and rows[-1][-5] == "0"
    rows = _run("float_soundness.py", "--runs", "1", "--iters", "8", "--methods", "lfso-paper")
    assert len([r for r in rows[2:] if len(r) == 8]) == 5
    bad = run_script(
        BENCHMARKS / "float_soundness.py", "--methods", "lfso", "lfso-paper", check=False
    )
    assert bad.returncode == 2 and "lfso-paper runs alone" in bad.stderr
    script = script_namespace(BENCHMARKS / "float_soundness.py")
    exact = lfso.models.PowerSum(2)  # f = sum x^4: curvature 12 x^2, 12 at x = 1
    unit, tiny = 2.0**-24, float(np.finfo(np.float32).smallest_subnormal)
    x, new = np.ones(1), np.array([0.9])
    f0, f1 = exact.value(x), exact.value(new)
    assert f1 < f0  # no rise, yet a bound of 6 is below the curvature over the step
    assert script["_over_bound"](exact, x, new, f0, f1, 6.0, unit, tiny)
    assert not script["_over_bound"](exact, x, new, f0, f1, 12.0, unit, tiny)


def test_float_soundness_allows_for_the_models_own_rounding_of_fun():
    """``fun`` is ``f`` computed in the dtype: at a large ``W`` the float32 softmax logits
    round by far more than ``u |f|``, and the model's ``value_error`` that the allowance
    adds covers the error seen (0 for a model that states none). The points: a minimiser
    moved far along a flat direction (one number added to every class's intercept), where
    ``g`` stays small."""
    script = script_namespace(BENCHMARKS / "float_soundness.py")

    def lib(a):
        return np.asarray(a, dtype=np.float32)

    unit, tiny = 2.0**-24, float(np.finfo(np.float32).smallest_subnormal)
    rng = np.random.default_rng(0)
    power, _ = script["_models"](lib, 1.0)["power_norm-p2"](rng)
    assert script["_value_error"](power, np.ones(3, np.float32)) == 0.0
    worst = 0.0
    for _ in range(10):
        model, exact = script["_models"](lib, 1e-3)["softmax"](rng)
        best = lfso.minimize(exact, np.zeros(exact.dim), tol=1e-10).x
        flat = np.zeros(exact.dim)
        flat[-3:] = rng.standard_normal() * 1e4  # (the intercepts, which l2 leaves alone)
        x = (best + flat).astype(np.float32)
        true = exact.value(x.astype(np.float64))
        error = abs(model.value(x) - true)
        allowed = script["_allowance"](exact, x.astype(np.float64), true, unit, tiny)
        rounding = script["_value_error"](model, x)
        assert rounding > 0.0 and error <= allowed + rounding, (error, allowed, rounding)
        worst = max(worst, error / allowed)
    assert worst > 1.0  # (the rounding of the logits is needed)


def test_suite_time_script_compares_two_checkouts():
    """Against the same checkout: every run compared, ratios near 1 (each a best of one)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    rows = _run(
        "suite_time.py",
        "--problems",
        "robust-cauchy",
        "power_sum-p3",
        "--repeats",
        "1",
        "--against",
        src,
    )
    table = [r for r in rows[2:] if "/" in r[0]]
    assert [r[0] for r in table] == [
        "robust-cauchy/lfso",
        "robust-cauchy/lfso-lbfgs",
        "power_sum-p3/lfso",
        "power_sum-p3/lfso-lbfgs",
    ]
    assert all(r[4] == r[5] and float(r[1]) > 0 and float(r[2]) > 0 for r in table)
    assert rows[-1][:3] == ["4", "runs", "compared:"]


def test_ball_oracle_script_compares_the_default_with_the_ball_and_lbfgsb():
    rows = _run("ball_oracle.py", "--problems", "power_sum-p3", "robust-cauchy")
    table = rows[1:]
    assert [r[0] for r in table] == ["power_sum-p3", "robust-cauchy"]
    for r in table:
        default, ball, auto, scipy = (int(v) for v in r[1:5])
        assert default <= ball and default <= 1.5 * scipy and default <= 1.1 * auto


def test_ball_oracle_script_gives_medians_over_perturbed_starts():
    rows = _run("ball_oracle.py", "--starts", "3", "--problems", "robust-cauchy", "power_norm-p3")
    table = rows[1:]
    assert [r[0] for r in table] == ["robust-cauchy", "power_norm-p3"]
    for r in table:
        default, auto = [int(v) for v in r[1:4]], [int(v) for v in r[5:8]]
        assert float(r[4]) == float(np.median(default)) and float(r[8]) == float(np.median(auto))
        assert max(default) <= 1.1 * min(auto)
    bad = run_script(BENCHMARKS / "ball_oracle.py", "--starts", "0", check=False)
    assert bad.returncode == 2 and "--starts 0: expected an integer >= 1" in bad.stderr


def test_iterate_fingerprint_script_prints_a_line_per_run_and_the_total():
    rows = _run("iterate_fingerprint.py")
    table, last = rows[2:-1], rows[-1]
    assert rows[1] == ["run", "nit", "nfev", "sha256(x)[:16]"]
    assert last[0] == "runs" and int(last[1]) == len(table) == 128
    assert last[2] == "total" and len(last[3]) == 64
    assert all(len(r) == 4 and int(r[1]) >= 0 and len(r[3]) == 16 for r in table)
    labels = {r[0] for r in table}
    assert len(labels) == len(table)  # every run is named apart
    assert {"cosh/float64/lfso-auto", "lp2/float32/LFSOAccelStep()"} <= labels


def test_float32_stall_script_reports_each_run():
    rows = _run("float32_stall.py", "--problems", "least-squares", "--max-iter", "3000")
    assert rows[0][:3] == ["problem", "method", "status"]
    table = rows[1:]
    assert [r[1] for r in table] == ["lfso", "lfso-lbfgs"]
    # (STALLED, or PRECISION_LIMIT where the gradient's rounding swamps the slope's bound)
    ends = ("STALLED", "PRECISION_LIMIT")
    assert all(r[2] in ends and int(r[3]) < 3000 and float(r[5]) < 1e-5 for r in table)
    bad = run_script(BENCHMARKS / "float32_stall.py", "--problems", "nope", check=False)
    assert bad.returncode == 2 and "--problems: unknown ['nope']" in bad.stderr


def test_device_traffic_counts_the_compiled_trial_pass_as_one_read(monkeypatch):
    """``device_traffic.py``: the rows' traffic per iteration of the plain loop is its two
    products with ``A`` (``2 d`` vectors) and a few more; ``lfso``'s extra traffic is a
    constant number of row-length vectors whatever ``d``, 4 to 11 with the trial steps,
    the segments' rows and weights and the evaluations' rows compiled, several hundred
    without (the ``n x k`` arrays of PyTorch's operations). Exact counts, not timings."""
    pytest.importorskip("torch")
    from test_fused import _compiles

    from lfso.models import _fused

    if not _compiles():
        pytest.skip("torch.compile cannot compile here")
    from lfso import _stepper

    monkeypatch.setattr(_fused, "MIN_ROWS", 2)
    monkeypatch.setattr(_stepper, "AHEAD_ROWS", 2)  # (the loop ahead, as at 2^18 rows)

    def counts(enabled: bool) -> dict[tuple[str, int], tuple[float, float]]:
        monkeypatch.setattr(_fused, "_ENABLED", enabled)
        args = ["--rows", "400", "--d", "4", "12", "--methods", "lfso", "--models", *models]
        rows = _run("device_traffic.py", *args)
        return {(r[0], int(r[1])): (float(r[2]), float(r[3])) for r in rows[2:]}

    models = ["l4", "logistic", "l3", "cauchy"]
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    claim = re.search(r"`lfso` iteration moves at most (\d+) row-length vectors more", readme)
    assert claim, "README: the claim on the traffic over the plain loop"
    near = re.search(r"rows again in float64 .{0,120}?at most (\d+) more besides", readme)
    assert near, "README: the claim on the traffic where the slope check makes the rows again"
    budget, remade = int(claim[1]), int(near[1])
    fused, plain = counts(True), counts(False)
    assert {m for m, _ in fused} == set(models)
    for (model, d), (loop, moved) in fused.items():
        assert 2 * d <= loop <= 2 * d + 15, (model, d, loop)
        # (l_3 and l_4 reach their float32 rounding here: two products in float64 more)
        most = budget if model in ("logistic", "cauchy") else remade + 2 * d
        assert 0 < moved - loop <= most, (model, d, moved - loop)
        assert plain[model, d][1] - loop >= 250, (model, d, plain[model, d])
    held = ("logistic", "cauchy")
    extra = {m: {fused[m, d][1] - fused[m, d][0] for d in (4, 12)} for m in held}
    assert all(len(v) == 1 for v in extra.values()), extra  # (the same at every d)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_each_script_prints_its_usage_with_help(script):
    text = (BENCHMARKS / script).read_text()
    for module in ("torch", "dask"):
        if re.search(rf"^(import|from) {module}\b", text, flags=re.M):
            pytest.importorskip(module)
    finished = run_script(BENCHMARKS / script, "--help")
    assert finished.stdout.startswith("usage:"), finished.stdout[:200]


@pytest.mark.skipif(
    not (shutil.which("valgrind") and shutil.which("callgrind_control")), reason="no valgrind"
)
def test_instructions_script_counts_instructions_per_iteration():
    rows = _run(
        "instructions.py", "--problems", "power_sum-p3", "--methods", "lfso", "--iters", "30"
    )
    assert rows[0][:4] == ["thousands", "of", "instructions", "per"]
    (row,) = rows[1:]
    assert row[:2] == ["power_sum-p3", "lfso"] and 10.0 < float(row[2]) < 1e5


def test_instructions_script_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = run_script(BENCHMARKS / "instructions.py", check=False)
    assert out.returncode == 1 and "needs valgrind (callgrind_control)" in out.stderr
    bad = run_script(BENCHMARKS / "instructions.py", "--iters", "0", check=False)
    assert bad.returncode == 2 and "--iters 0: expected an integer >= 1" in bad.stderr
