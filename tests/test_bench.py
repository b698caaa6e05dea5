"""The benchmark harness: records, tuning cost, tables, figures and the command."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from lfso._progress import ProgressBar
from lfso.bench import BENCH_METHODS, BENCH_PROBLEMS, SUITES, run_case, run_suite
from lfso.bench._report import cell, markdown, plot_convergence, targets, write_csv
from lfso.cli import main


@pytest.mark.parametrize("method", sorted(BENCH_METHODS))
def test_every_method_runs_on_a_flat_problem(method):
    rec = run_case("power_sum-p3-lin", method, cap=3000, grid=(1e-3, 1e-2, 10.0))
    assert rec.problem == "power_sum-p3-lin" and rec.method == method
    assert rec.status in ("converged", "capped")
    assert rec.njev >= 1 and rec.nfev >= 1
    assert rec.curve["grad"][0] == pytest.approx(1.0)
    if rec.status == "converged":
        assert rec.accuracy <= 1e-8
    if BENCH_METHODS[method].tuned:
        assert rec.step in (1e-3, 1e-2) and rec.grid_njev >= rec.njev


def test_tuned_record_counts_the_whole_grid():
    grid = (1e-6, 1e-5, 100.0)  # L = 2e4: two stable steps, one that blows up
    rec = run_case("lp_regression-p1-n100", "gd-tuned", cap=200, grid=grid)
    assert rec.status == "capped" and rec.step == 1e-5
    # two capped runs of 200 evaluations, and one stopped early by the blow-up guard
    assert 400 < rec.grid_njev < 440


@pytest.mark.parametrize("method", ["lbfgs", "lfso"])
def test_a_run_that_stops_by_itself_is_stalled_not_capped(method):
    """A tolerance past float64's reach: SciPy's line search (and lfso's precision test)
    stop the run far short of the cap; the record, the table and the CSV say so."""
    rec = run_case("logistic-breast_cancer", method, cap=5000, tol=1e-30)
    assert rec.status == "stalled" and rec.njev < 4000, (rec.status, rec.njev)
    assert cell(rec) == f"{rec.njev} stalled ({rec.accuracy:.0e})"
    capped = run_case("logistic-breast_cancer", method, cap=20, tol=1e-30)
    assert capped.status == "capped" and cell(capped).startswith(">")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: run_case("power_sum-p2", "nosuch"), r"unknown method 'nosuch'; choose from: lfso"),
        (lambda: run_case("nosuch", "lfso"), r"unknown problem 'nosuch'; choose from: power"),
        (
            lambda: run_case("power_sum-p2", "lfso", cap=0),
            r"cap must be an integer >= 1, got cap=0",
        ),
    ],
)
def test_run_case_names_a_bad_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_run_suite_checks_every_name_before_the_first_run(monkeypatch):
    import lfso.bench._harness as harness

    ran = []
    monkeypatch.setattr(harness, "_run_case", lambda *args: ran.append(args))
    with pytest.raises(ValueError, match="unknown method 'lfos'"):
        run_suite(["power_sum-p2", "power_sum-p3"], ["lfso", "lfos"], progress=False)
    with pytest.raises(ValueError, match="unknown problem 'power-sum-p3'"):
        run_suite(["power_sum-p2", "power-sum-p3"], ["lfso"], progress=False)
    assert ran == []


@pytest.mark.parametrize(
    "problem, method, message",
    [
        (3, "lfso", r"problem must be a problem's name \(a str\) or a Problem, got problem=3"),
        ("power_sum-p2", None, r"method must be a method's name \(a str\) or a BenchMethod"),
    ],
)
def test_run_case_rejects_what_is_neither_a_name_nor_an_entry(problem, method, message):
    with pytest.raises(TypeError, match=message):
        run_case(problem, method)
    with pytest.raises(TypeError, match=message):
        run_suite([problem], [method], progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": []}, r"grid must contain at least one step size"),
        ({"grid": [1e-3, 0.0]}, r"grid\[1\] must be finite and positive, got grid\[1\]=0.0"),
        ({"tol": -1.0}, r"tol must be finite and >= 0, got tol=-1.0"),
    ],
)
def test_run_suite_checks_tol_and_the_grid_before_the_first_run(monkeypatch, kwargs, message):
    """A bad grid or tolerance is reported at once, not after the cases before the
    first tuned method have run."""
    import lfso.bench._harness as harness

    ran = []
    monkeypatch.setattr(harness, "_run_case", lambda *args: ran.append(args))
    with pytest.raises(ValueError, match=message):
        run_suite(["power_sum-p2"], ["lfso", "gd-tuned"], progress=False, **kwargs)
    assert ran == []


def test_not_applicable_methods_say_why():
    rec = run_case("logistic-breast_cancer", "polyak")
    assert rec.status == "n/a" and "f* unknown" in rec.reason
    assert cell(rec) == "n/a"
    rec = run_case("robust-cauchy", "lfso-paper")
    assert rec.status == "n/a"


def test_f_star_criterion_is_measured_when_f_star_is_known():
    rec = run_case("power_sum-p2-lin", "lfso", cap=2000, tol=1e-14)
    h_f = rec.curve["f"]
    assert rec.njev_f is not None
    k = int(np.argmax(h_f <= 1e-12 * h_f[0]))
    assert rec.njev_f == rec.curve["njev"][k]


def test_reports_and_targets(tmp_path):
    records = run_suite(
        ["power_sum-p2-lin", "robust-cauchy"],
        ["lfso", "gd-tuned", "armijo", "adgd"],
        cap=500,
        grid=(1e-3, 1e-1),
        progress=False,
    )
    text = markdown(records, title="t", command="lfso bench --test", cap=500, tol=1e-8)
    assert "| power_sum-p2-lin |" in text and "Tuning cost" in text
    lines = targets(records)
    assert any("armijo" in ln for ln in lines) and any("grid-tuned" in ln for ln in lines)
    write_csv(records, tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 8 and {r["method"] for r in rows} == {"lfso", "gd-tuned", "armijo", "adgd"}
    pytest.importorskip("matplotlib")
    plot_convergence(records, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_problem_lfso_did_not_solve_is_no_win_in_gradients():
    from lfso.bench import Record

    records = [  # both capped: lfso the more accurate, with fewer gradients than the grid
        Record("power_sum-p2-lin", "lfso", "capped", njev=500, accuracy=1e-3),
        Record("power_sum-p2-lin", "gd-tuned", "capped", njev=500, accuracy=1e-2, grid_njev=1e3),
        # lfso capped where the tuned step converged: no win, even against the grid's cost
        Record("power_sum-p3-lin", "lfso", "capped", njev=500, accuracy=1e-3),
        Record("power_sum-p3-lin", "gd-tuned", "converged", njev=300, grid_njev=1e3),
        # no oracle: lfso does not apply, and the problem is not counted
        Record("rosenbrock-d2", "lfso", "n/a", reason="no oracle"),
        Record("rosenbrock-d2", "gd-tuned", "converged", njev=100, grid_njev=1e3),
    ]
    (line,) = targets(records)
    assert "on 1/2 problems with an oracle" in line
    assert "at least 100x fewer on 0/2 flat ones" in line
    assert "(where both are capped: the better accuracy), fewer on 1/2." in line


def test_the_paper_figures_stop_at_an_interrupted_run(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import lfso._minimize
    from lfso.bench._report import plot_paper_figures

    real, calls = lfso._minimize.minimize, []

    def interrupted(*args, **kwargs):
        calls.append(1)

        def callback(intermediate_result):
            if intermediate_result.nit >= 2:
                raise KeyboardInterrupt

        return real(*args, callback=callback, **kwargs)

    monkeypatch.setattr(lfso._minimize, "minimize", interrupted)
    # (p = 1 converges in one step; the run on p = 2 is the first one cut short)
    with pytest.raises(KeyboardInterrupt, match="power_norm-p2 was interrupted") as caught:
        plot_paper_figures(tmp_path, iterations=50)
    assert caught.value.result.nit == 2 and len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_bench_command_writes_its_outputs(tmp_path, capsys):
    code = main(
        [
            "bench",
            "--problems",
            "power_sum-p2-lin",
            "--methods",
            "lfso",
            "armijo",
            "--cap",
            "300",
            "--out",
            str(tmp_path),
            "--no-plots",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| power_sum-p2-lin |" in out
    assert (tmp_path / "results.md").exists() and (tmp_path / "results.csv").exists()
    assert main(["bench", "--methods", "nope", "--problems", "power_sum-p2-lin"]) == 2


def test_suites_are_registry_entries():
    assert set(SUITES["quick"]) <= set(BENCH_PROBLEMS)
    assert set(SUITES["paper"]) < set(SUITES["full"])
    assert "robust-cauchy" in SUITES["full"] and "robust-cauchy" not in SUITES["paper"]


def test_progress_bar_only_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(3, "x", stream=stream)
    bar.update(3)
    bar.close()
    assert stream.getvalue() == ""  # StringIO is not a terminal
    bar = ProgressBar(3, "x", stream=stream, enabled=True)
    bar.update(3, "done")
    bar.close()
    assert "3/3" in stream.getvalue() and "done" in stream.getvalue()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_runs_inside_the_bench_leave_the_overall_bar_alone(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    run_suite(["power_sum-p2"], ["lfso", "armijo"], cap=200)  # progress: on a terminal
    lines = terminal.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 2  # one bar, ended once
    assert all(part.startswith("lfso bench [") for part in lines[0].split("\r") if part)
    # A bar opened while another is drawing on the same terminal stays off; later ones draw.
    outer = ProgressBar(2, "outer", stream=terminal)
    assert outer.enabled and not ProgressBar(2, "inner", stream=terminal).enabled
    outer.close()
    after = ProgressBar(2, "after", stream=terminal)
    assert after.enabled
    after.close()


@pytest.mark.parametrize("problem", ["rosenbrock-d2", "rosenbrock-d5", "rosenbrock-d10"])
def test_lbfgs_with_the_estimate_needs_at_most_1_5x_the_gradients_of_scipy(problem):
    """The 1.5x bound on the black-box problems (no oracle: the estimate along d)."""
    ours = run_case(problem, "lfso-lbfgs-auto")
    scipy = run_case(problem, "lbfgs")
    assert ours.status == scipy.status == "converged"
    assert ours.njev <= 1.5 * scipy.njev


def test_scipy_lbfgs_returns_the_run_as_a_result_with_scipys_counts():
    from scipy.optimize import minimize as scipy_minimize

    from lfso import Status
    from lfso.bench import scipy_lbfgs

    model, x0 = BENCH_PROBLEMS["lp_regression-p2-n100"].make()
    seen = []
    run = scipy_lbfgs(model, x0, cap=5000, tol=1e-8, callback=lambda r: seen.append(r.nit))
    res = run.result
    assert res.method == "scipy:L-BFGS-B" and res.status is Status.CONVERGED
    assert res.nfev == res.njev == len(run.calls) and res.nit == run.iterations == len(seen)
    assert seen == list(range(1, res.nit + 1)) and len(res.history) == res.nit + 1
    assert res.history.njev[-1] == res.nfev and res.grad_norm <= 1e-8 * run.g0
    # the same call of SciPy's own, to the same iterate: the same counts
    stop = {"iterations": 0}

    def fun(x):
        return model.value(x), model.grad(x)

    def at_the_same_iterate(intermediate_result):
        stop["iterations"] += 1
        if stop["iterations"] == res.nit:
            raise StopIteration

    options = {"maxiter": 5000, "maxfun": 5000, "gtol": 0.0, "ftol": 0.0}
    own = scipy_minimize(
        fun, x0, jac=True, method="L-BFGS-B", callback=at_the_same_iterate, options=options
    )
    assert (own.nfev, own.njev, own.nit) == (res.nfev, res.njev, res.nit)
    np.testing.assert_array_equal(own.x, res.x)
    # atol: the absolute test; a callback's StopIteration: the caller's stop
    loose = scipy_lbfgs(model, x0, cap=5000, tol=0.0, atol=1e-3 * run.g0).result
    assert loose.success and 0 < loose.nit < res.nit

    def halt(intermediate_result):
        if intermediate_result.nit == 3:
            raise StopIteration

    halted = scipy_lbfgs(model, x0, cap=5000, tol=1e-8, callback=halt).result
    assert halted.status is Status.CALLBACK_STOP and halted.nit == 3
    # the history: a row per iterate where asked for (or read by a callback), else x0's
    kept = scipy_lbfgs(model, x0, cap=5000, tol=1e-8, history=True).result
    np.testing.assert_array_equal(kept.history.f, res.history.f)
    np.testing.assert_array_equal(kept.history.njev, res.history.njev)
    bare = scipy_lbfgs(model, x0, cap=5000, tol=1e-8).result
    assert len(bare.history) == 1 and bare.nit == res.nit and bare.nfev == res.nfev


def test_scipy_lbfgs_from_a_stationary_point_has_converged():
    from lfso import Status
    from lfso.bench import scipy_lbfgs
    from lfso.models import PowerSum

    res = scipy_lbfgs(PowerSum(2), np.zeros(3), cap=100, tol=1e-8).result
    assert res.status is Status.CONVERGED and res.success and res.nit == 0 and res.fun == 0.0


@pytest.mark.parametrize("stop", [{"tol": 1.0}, {"tol": 2.0}, {"tol": 0.0, "atol": "g0"}])
def test_scipy_lbfgs_stops_at_an_x0_that_passes_the_test_as_minimize_does(stop):
    from lfso import Status, minimize
    from lfso.bench import scipy_lbfgs
    from lfso.models import PowerSum

    model, x0 = PowerSum(2), np.ones(3)
    mine = minimize(model, x0, tol=1.0)
    g0 = mine.grad_norm
    stop = {k: g0 if v == "g0" else v for k, v in stop.items()}
    run = scipy_lbfgs(model, x0, cap=100, history=True, **stop)
    res = run.result
    assert res.status is Status.CONVERGED and run.converged
    assert (res.nit, res.nfev, res.njev, run.iterations) == (mine.nit, mine.nfev, mine.njev, 0)
    np.testing.assert_array_equal(res.x, x0)
    assert res.fun == mine.fun and len(run.calls) == 1 and len(res.history) == 1
    record = run_case("power_sum-p1", "lbfgs", tol=1)
    lfso_record = run_case("power_sum-p1", "lfso", tol=1)
    assert (record.status, record.njev, record.nfev, record.iterations) == (
        lfso_record.status,
        lfso_record.njev,
        lfso_record.nfev,
        lfso_record.iterations,
    )


@pytest.mark.parametrize("cap", range(6))
def test_scipy_lbfgs_cap_bounds_its_iterations_and_its_calls(cap):
    from lfso import Status
    from lfso.bench import scipy_lbfgs
    from lfso.models import PowerSum

    model, x0 = PowerSum(4), np.ones(3)
    run = scipy_lbfgs(model, x0, cap=cap, tol=1e-8, history=True)
    res = run.result
    assert len(run.calls) <= cap and res.nfev == res.njev == len(run.calls) <= cap
    assert res.nit == run.iterations <= cap and len(res.history) == res.nit + 1
    assert res.status is Status.MAX_ITER and not res.success
    assert res.fun == model.value(res.x) <= model.value(x0)  # (an iterate, honestly told)
    if res.nit == 0:
        np.testing.assert_array_equal(res.x, x0)


def test_scipy_lbfgs_interrupted_ends_at_its_last_iterate():
    from lfso import Status
    from lfso.bench import scipy_lbfgs
    from lfso.models import PowerSum

    model, x0 = PowerSum(4), np.ones(3)
    seen = []

    def ctrl_c(intermediate_result):
        seen.append(intermediate_result)
        if intermediate_result.nit == 3:
            raise KeyboardInterrupt

    try:
        res = scipy_lbfgs(model, x0, cap=100, tol=1e-8, callback=ctrl_c).result
    except KeyboardInterrupt:  # (a run that lost its best point: no result)
        pytest.fail("the KeyboardInterrupt escaped the run")
    assert res.status is Status.INTERRUPTED and res.nit == 3
    np.testing.assert_array_equal(res.x, seen[-1].x)
    assert res.fun == seen[-1].fun < model.value(x0) and res.nfev == seen[-1].nfev


def test_scipy_lbfgs_attaches_the_run_so_far_to_an_exception():
    """An exception from the callback or the objective propagates with the run so far as
    its ``.result`` (status ``RAISED``), as from :func:`lfso.minimize`."""
    from lfso import Status
    from lfso.bench import scipy_lbfgs
    from lfso.models import FunctionModel, PowerSum

    model, x0 = PowerSum(4), np.ones(3)
    seen = []

    def fails(intermediate_result):
        seen.append(intermediate_result)
        if intermediate_result.nit == 3:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here") as info:
        scipy_lbfgs(model, x0, cap=100, tol=1e-8, callback=fails)
    res = info.value.result
    assert res.status is Status.RAISED and res.nit == 3 and len(res.history) == 4
    np.testing.assert_array_equal(res.x, seen[-1].x)
    assert res.fun == seen[-1].fun < model.value(x0) and res.nfev == seen[-1].nfev
    calls = []

    def f(x):
        calls.append(x)
        if len(calls) > 4:
            raise FloatingPointError("f broke")
        return float(np.sum(x**4))

    broken = FunctionModel(f, lambda x: 4 * x**3, lambda x, R: 12 * (np.abs(x).max() + R) ** 2)
    with pytest.raises(FloatingPointError, match="f broke") as info:
        scipy_lbfgs(broken, x0, cap=100, tol=1e-8)
    res = info.value.result
    assert res.status is Status.RAISED and res.fun < 3.0 and res.nfev == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"cap": -1}, ValueError, "cap=-1"),
        ({"cap": 1.5}, TypeError, "cap=1.5"),
        ({"tol": -1.0}, ValueError, "tol=-1.0"),
        ({"tol": float("nan")}, ValueError, "tol=nan"),
        ({"atol": -1.0}, ValueError, "atol=-1.0"),
        ({"x0": np.array([np.nan, 1.0, 1.0])}, ValueError, "x0 must be finite"),
        ({"callback": 3}, TypeError, "callback=3"),
        ({"model": lambda x: x @ x}, TypeError, "model must be a model"),
    ],
)
def test_scipy_lbfgs_names_a_bad_argument(kwargs, error, message):
    from lfso.bench import scipy_lbfgs
    from lfso.models import PowerSum

    given = {"model": PowerSum(2), "x0": np.ones(3), "cap": 100, "tol": 1e-8} | kwargs
    with pytest.raises(error, match=message):
        scipy_lbfgs(given.pop("model"), given.pop("x0"), **given)


def test_bench_results_name_the_command_that_made_them(tmp_path, capsys):
    args = ["--problems", "power_sum-p2", "--methods", "lfso", "armijo", "--cap", "300"]
    assert main(["bench", *args, "--tol", "1e-06", "--out", str(tmp_path), "--no-plots"]) == 0
    capsys.readouterr()
    text = (tmp_path / "results.md").read_text()
    given = [*args[:-2], "--cap", "300", "--tol", "1e-06"]
    command = "lfso bench --suite full " + " ".join(given)
    assert f"Generated by `{command}`" in text
    assert "full suite" not in text.splitlines()[0]


def test_a_ctrl_c_in_the_suite_s_scipy_run_stops_the_suite(monkeypatch):
    """The L-BFGS-B run ends ``INTERRUPTED`` at its best point; the suite, a workflow of
    runs, stops there (it measured nothing from a run cut short)."""
    import lfso.bench._harness as harness
    from lfso.models import PowerSum

    model_evaluate = PowerSum.evaluate
    count = []

    def evaluate(self, x, **kwargs):
        count.append(1)
        if len(count) == 4:
            raise KeyboardInterrupt
        return model_evaluate(self, x, **kwargs)

    monkeypatch.setattr(PowerSum, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt, match="L-BFGS-B on power_sum-p2 was interrupted"):
        harness.run_suite(["power_sum-p2"], ["lbfgs"])
