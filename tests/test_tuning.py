"""Grid-tuning fixed-step GD: the best step and the whole grid's cost."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.models import LpRegression


def test_tune_step_picks_the_fastest_converged_step_and_counts_the_grid():
    A = np.diag([1.0, 3.0])
    model = LpRegression(A, np.zeros(2), 1)  # L = 2 * 9 = 18
    grid = [1e-3, 1e-2, 5e-2, 1 / 18, 0.2]
    tuned = lfso.bench.tune_step(model, np.ones(2), grid, max_iter=5000)
    assert tuned.step == pytest.approx(1 / 18)
    assert tuned.result.success
    assert tuned.total_njev == sum(r.njev for _, r in tuned.runs)
    diverged = dict(tuned.runs)[0.2]
    assert not diverged.success


def test_tune_step_falls_back_to_best_accuracy_when_nothing_converges():
    model = lfso.models.PowerSum(3)
    tuned = lfso.bench.tune_step(model, np.linspace(0.5, 1.5, 4), [1e-4, 1e-3, 1e-2], max_iter=200)
    assert not tuned.result.success
    accuracy = {s: r.history.grad_norm.min() for s, r in tuned.runs if np.isfinite(r.fun)}
    assert tuned.step == min(accuracy, key=accuracy.get)


def test_tune_step_tunes_any_fixed_step_method_and_names_the_blown_up_steps():
    A = np.diag([1.0, 3.0])
    model = LpRegression(A, np.zeros(2), 1)  # L = 18: steps far above 2/L blow up
    grid = [1e-2, 1 / 18, 5.0]
    tuned = lfso.bench.tune_step(model, np.ones(2), grid, method="nesterov", max_iter=5000)
    assert tuned.result.success and tuned.step in (1e-2, 1 / 18)
    assert tuned.failed == {5.0}
    assert dict(tuned.runs)[5.0].status.name == "CALLBACK_STOP"


def test_a_grid_whose_every_step_blows_up_says_so():
    tuned = lfso.bench.tune_step(lfso.models.PowerSum(1), np.ones(3), [10.0, 100.0])
    assert tuned.failed == {10.0, 100.0} and tuned.step in tuned.failed
    assert not tuned.result.success and tuned.result.fun == 3.0  # (the start: the best seen)


def test_tune_step_rejects_empty_grid():
    with pytest.raises(ValueError, match="at least one step"):
        lfso.bench.tune_step(lfso.models.PowerSum(2), np.ones(2), [])


def test_tune_step_accepts_an_array_grid_like_a_list():
    f = lambda x: float(np.sum(x**4))  # noqa: E731
    g = lambda x: 4 * x**3  # noqa: E731
    grid = np.logspace(-4, 0, 9)
    from_array = lfso.bench.tune_step(f, np.ones(2), grid, grad=g, max_iter=300)
    from_list = lfso.bench.tune_step(f, np.ones(2), list(grid), grad=g, max_iter=300)
    assert from_array.step == from_list.step
    assert [s for s, _ in from_array.runs] == [float(s) for s in grid]
    assert from_array.total_njev == from_list.total_njev


def test_tune_step_names_a_grid_that_is_not_numbers():
    with pytest.raises(TypeError, match=r"steps\[0\].*'fast'"):
        lfso.bench.tune_step(lfso.models.PowerSum(2), np.ones(2), ["fast", "slow"])


def test_one_step_grid_for_tune_step_the_bench_and_the_demo():
    import inspect

    import lfso.bench
    import lfso.cli._demo
    from lfso.bench import DEFAULT_STEP_GRID

    # lfso bench's grid, value for value (np.logspace: 1e-5 is 9.999999999999999e-06 there)
    assert DEFAULT_STEP_GRID == tuple(float(s) for s in np.logspace(-8, 1, 10))
    assert inspect.signature(lfso.bench.tune_step).parameters["steps"].default is DEFAULT_STEP_GRID
    for runner in (lfso.bench.run_case, lfso.bench.run_suite):
        assert inspect.signature(runner).parameters["grid"].default is DEFAULT_STEP_GRID
    assert lfso.cli._demo.DEFAULT_STEP_GRID is DEFAULT_STEP_GRID


def test_an_interrupted_run_stops_the_grid_with_its_result():
    calls = {"n": 0}

    def grad(x):
        calls["n"] += 1
        if calls["n"] == 40:  # (Ctrl-C in the grid's second run)
            raise KeyboardInterrupt
        return 4 * x**3

    model = lfso.models.FunctionModel(lambda x: float(np.sum(x**4)), grad)
    with pytest.raises(KeyboardInterrupt, match=r"step 0\.01 was interrupted") as caught:
        lfso.bench.tune_step(model, np.ones(2), [1e-3, 1e-2, 1e-1], max_iter=30)
    assert caught.value.result.status is lfso.Status.INTERRUPTED
    assert calls["n"] == 40  # nothing ran after the interrupt


@pytest.mark.parametrize(
    ("option", "message"),
    [({"step": 0.3}, "step=0.3"), ({"callback": print}, "callback=<built-in function print>")],
)
def test_tune_step_names_an_option_it_sets_itself(option, message):
    with pytest.raises(TypeError, match=f"tune_step sets .*{message}"):
        lfso.bench.tune_step(lfso.models.PowerSum(1), np.ones(3), [0.1, 0.4], **option)


def test_the_grids_gradients_are_every_gradient_it_computed():
    """``total_njev``, the tuning cost, counts every gradient the grid computed: the runs'
    own, and no evaluation besides them (the divergence guard reads ``f(x0)`` from each
    run's history)."""
    calls = [0]

    def grad(x):
        calls[0] += 1
        return 2 * x

    tuned = lfso.bench.tune_step(lambda x: float(x @ x), np.ones(3), [0.1, 0.4, 100.0], grad=grad)
    assert tuned.total_njev == calls[0] == sum(res.njev for _, res in tuned.runs)
    assert tuned.failed == {100.0} and tuned.step == 0.4
