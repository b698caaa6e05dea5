"""Staged rollout: subsample, pilot go / no-go, guarded run with planted failures, ROI, CLI."""

from __future__ import annotations

import json
import math
import os
import re
import stat
import warnings

import numpy as np
import pytest

import lfso
from lfso import Status
from lfso.bench._problems import PROBLEMS
from lfso.cli import main
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    FunctionModel,
    LogisticRegression,
    LpRegression,
    PowerSum,
    SoftmaxRegression,
)
from lfso.report import LiveReport
from lfso.rollout import (
    DEFAULT_THRESHOLDS,
    GoCriteria,
    Guard,
    GuardedResult,
    ReturnOnInvestment,
    Rollout,
    TuningBudget,
    decide,
    guarded_minimize,
    pilot,
    return_on_investment,
    rollout,
    subsample,
)
from lfso.rollout._guard import judge_against
from lfso.rollout._targets import to_target

RNG = np.random.default_rng(3)
A = RNG.standard_normal((40, 5))
B = A @ np.ones(5) + 0.1 * RNG.standard_normal(40)
LABELS = (A[:, 0] + 0.3 * RNG.standard_normal(40) > 0).astype(float)
CLASSES = np.argmax(A[:, :3], axis=1)

ROW_MODELS = {
    "lp": lambda A, b, y, c: LpRegression(A, b, 2),
    "lp-paper": lambda A, b, y, c: LpRegression(A, b, 3, oracle="paper"),
    "composite": lambda A, b, y, c: CompositeLeastSquares(A, b, 2),
    "cauchy": lambda A, b, y, c: CauchyRegression(A, b, 0.5, l2=0.1),
    "logistic": lambda A, b, y, c: LogisticRegression(A, y, l2=0.01),
    "logistic-intercept": lambda A, b, y, c: LogisticRegression(A, y, fit_intercept=True),
    "softmax": lambda A, b, y, c: SoftmaxRegression(A, c, 3, l2=0.01),
}


@pytest.mark.parametrize("name", ROW_MODELS)
def test_subsample_equals_the_model_built_on_those_rows(name):
    build = ROW_MODELS[name]
    model = build(A, B, LABELS, CLASSES)
    rows = np.array([0, 3, 4, 10, 17, 22, 31, 39])
    small = subsample(model, rows)
    direct = build(A[rows], B[rows], LABELS[rows], CLASSES[rows])
    assert type(small) is type(model) and small.dim == model.dim
    for x in RNG.standard_normal((3, model.dim)):
        e1, e2 = small.evaluate(x), direct.evaluate(x)
        assert e1.value == pytest.approx(e2.value, rel=1e-12)
        np.testing.assert_allclose(e1.grad, e2.grad, rtol=1e-12, atol=1e-14)
        assert small(x, 0.3) == pytest.approx(direct(x, 0.3), rel=1e-12)
    # all rows, in order: the same function
    full = subsample(model, np.arange(40))
    x = RNG.standard_normal(model.dim)
    assert full.value(x) == pytest.approx(model.value(x), rel=1e-12)


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_subsample_keeps_the_weights_of_the_kept_rows(kind):
    """A weighted classifier (``LFSOLogisticRegression.fit(sample_weight=)``'s) subsampled
    is the weighted model of those rows with their weights; it was rebuilt unweighted."""
    from lfso.models._weighted import WeightedLogistic, WeightedSoftmax

    weights = np.random.default_rng(7).uniform(0.05, 1.0, 40)
    rows = np.array([0, 3, 4, 10, 17, 22, 31, 39])

    def build(r):
        if kind == "logistic":
            return WeightedLogistic(A[r], LABELS[r], weights[r], l2=0.01, fit_intercept=True)
        return WeightedSoftmax(A[r], CLASSES[r], 3, weights[r], l2=0.01, fit_intercept=True)

    model = build(np.arange(40))
    small, direct = subsample(model, rows), build(rows)
    assert type(small) is type(model)
    np.testing.assert_array_equal(small.weights, weights[rows])
    for x in RNG.standard_normal((3, model.dim)):
        e1, e2 = small.evaluate(x), direct.evaluate(x)
        assert e1.value == pytest.approx(e2.value, rel=1e-12)
        np.testing.assert_allclose(e1.grad, e2.grad, rtol=1e-12, atol=1e-14)
        assert small(x, 0.3) == pytest.approx(direct(x, 0.3), rel=1e-12)


@pytest.mark.parametrize("name", ["logistic-intercept", "softmax"])
def test_subsample_keeps_rows_of_one_class(name):
    model = ROW_MODELS[name](A, B, LABELS, CLASSES)
    labels = LABELS if name.startswith("logistic") else CLASSES
    rows = np.flatnonzero(labels == labels[0])[:5]
    small = subsample(model, rows)  # (a part of a problem of several classes)
    x = RNG.standard_normal(model.dim)
    if name.startswith("logistic"):  # the mean loss of those rows, by hand
        s = 2.0 * LABELS[rows] - 1.0
        expected = np.mean(np.log1p(np.exp(-s * (A[rows] @ x[:-1] + x[-1]))))
    else:
        z = np.c_[A[rows], np.ones(5)] @ x.reshape(6, 3)
        lse = np.log(np.sum(np.exp(z), axis=1))
        expected = np.mean(lse - z[np.arange(5), CLASSES[rows]])
        expected += 0.01 / 2 * np.sum(x.reshape(6, 3)[:-1] ** 2)
    assert small.n == 5 and small.value(x) == pytest.approx(expected, rel=1e-12)
    res = lfso.minimize(small, np.zeros(model.dim), max_iter=5)
    assert np.isfinite(res.fun) and res.nit == 5


def test_subsample_takes_a_numpy_fraction_of_any_float_dtype():
    model = LpRegression(A, B, 2)
    for fraction in (0.25, np.float64(0.25), np.float32(0.25), np.float16(0.25)):
        assert subsample(model, fraction).A.shape == (10, 5)
    with pytest.raises(ValueError, match=r"rows as a fraction must be in \(0, 1\], got rows=1\.5"):
        subsample(model, np.float32(1.5))
    with pytest.raises(TypeError, match="rows must be a count, a fraction or row indices"):
        subsample(model, np.bool_(True))


def test_subsample_counts_and_fractions_draw_distinct_rows():
    model = LpRegression(A, B, 2)
    assert subsample(model, 10).A.shape == (10, 5)
    assert subsample(model, 0.25).A.shape == (10, 5)
    drawn = subsample(model, 40, seed=1).A
    np.testing.assert_array_equal(drawn, A)  # without replacement, in order


@pytest.mark.parametrize(
    ("rows", "error", "match"),
    [
        (0, ValueError, r"\[1, 40\], got rows=0"),
        (41, ValueError, "got rows=41"),
        (1.5, ValueError, r"\(0, 1\], got rows=1.5"),
        ([0, 40], ValueError, r"\[0, 40\)"),
        ([3, 1, 3, 3], ValueError, r"distinct .* got row 3 3 times \(1 repeated\)"),
        ([0.5], TypeError, "integers"),
        (True, TypeError, "rows=True"),
    ],
)
def test_subsample_rejects_bad_rows(rows, error, match):
    with pytest.raises(error, match=match):
        subsample(LpRegression(A, B, 2), rows)


def test_subsample_rejects_models_without_rows():
    with pytest.raises(TypeError, match="PowerSum"):
        subsample(PowerSum(2), 3)


# --------------------------------------------------------------------------- planted failures


def f(x):
    return float(np.sum(x**2) + 0.25 * np.sum(x**4))


def g(x):
    return 2 * x + x**3


def true_oracle(x, R):
    return 2.0 + 3.0 * (np.max(np.abs(x)) + R) ** 2


class TurnsWrong:
    """An oracle that is right at the first ``k`` points it sees, then under-estimates by
    ``factor`` (or returns NaN); at one point it stays consistent in ``R``."""

    def __init__(self, k, factor=1e-3, nan=False):
        self.k, self.factor, self.nan, self.points = k, factor, nan, {}

    def __call__(self, x, R):
        n = self.points.setdefault(x.tobytes(), len(self.points) + 1)
        if n <= self.k:
            return true_oracle(x, R)
        return math.nan if self.nan else self.factor * true_oracle(x, R)


class NaNGradientOnce:
    """The gradient is NaN at its ``k``-th call only (a transient fault)."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def __call__(self, x):
        self.calls += 1
        return np.full_like(x, np.nan) if self.calls == self.k else g(x)


X0 = np.linspace(0.5, 1.5, 6)
FALLBACK = {"method": "gd", "step": 0.02}

PLANTED = {
    # oracle under-estimates halfway: f rises (descent) and the audit fires (oracle)
    "oracle-turns-wrong": (
        lambda: FunctionModel(f, g, TurnsWrong(4)),
        {},
        {"descent", "oracle"},
    ),
    # steps grow without bound: only the divergence test is watched
    "loss-diverges": (
        lambda: FunctionModel(f, g, TurnsWrong(4, factor=1e-4)),
        {"descent": 0, "oracle": 0, "non_finite": 0},
        {"divergence"},
    ),
    "nan-gradient": (lambda: FunctionModel(f, NaNGradientOnce(6), true_oracle), {}, {"non_finite"}),
    "oracle-returns-nan": (
        lambda: FunctionModel(f, g, TurnsWrong(4, nan=True)),
        {},
        {"oracle_error"},
    ),
}


@pytest.mark.parametrize("case", PLANTED)
def test_planted_failure_trips_the_guard_and_the_fallback_finishes(case, tmp_path):
    make, thresholds, reasons = PLANTED[case]
    live = LiveReport(tmp_path / "run.html", every=3600)
    res = guarded_minimize(
        make(),
        X0,
        fallback=FALLBACK,
        safeguard=False,  # (the guard watches the bare rule: a user's oracle is safeguarded)
        guard=Guard(thresholds),
        tol=1e-8,
        callback=live.watch("guarded"),
        on_handover=lambda handover, first: live.set_handover(handover),
    )
    assert isinstance(res, GuardedResult) and isinstance(res, lfso.Result)
    ho = res.handover
    assert ho is not None and ho.reason in reasons
    first, second = res.stages
    h1 = first.history
    usable = np.isfinite(h1.f) & np.isfinite(h1.grad_norm)  # (a NaN gradient's f is no use)
    best_before = float(np.min(h1.f[usable]))
    # the fallback starts from the best point and f at the end is no worse than it
    assert ho.best_f == best_before == first.fun == second.history.f[0]
    assert h1.f[ho.best_row] == best_before
    assert res.fun <= best_before
    assert res.success  # the fallback converged to the same stopping test
    assert res.grad_norm <= 1e-8 * h1.grad_norm[0]
    # one history: both stages, counters continued, the hand-over row marked
    h = res.history
    assert len(h) == len(h1) + len(second.history) and ho.row == len(h1)
    assert h.njev[-1] == res.njev == first.njev + second.njev
    assert res.nit == first.nit + second.nit and ho.iteration == first.nit
    assert np.all(np.diff(h.njev) > 0) and np.all(np.diff(h.time) >= 0)
    assert "handed over to method=gd, step=0.02" in res.message
    assert res.method == "lfso -> gd"
    live.set_run("guarded", h, handover=ho)
    page = live.finish(res).read_text()
    assert 'id="handover"' in page and f"risk '{ho.reason}'" in page
    assert "hand-over</text>" in page  # marked on the curve


@pytest.mark.parametrize(
    "smoothness",
    [lambda x, R: -1.0, lambda x, R: math.nan, lambda x, R: 1.0 / (1.0 + R)],
    ids=["negative", "nan", "decreasing"],
)
def test_an_oracle_broken_at_the_first_step_hands_over_from_the_start(smoothness):
    # The oracle breaks its contract before any step: the fallback, which needs no oracle,
    # runs from x0 (the best point so far) instead of the run ending in an error.
    res = guarded_minimize(
        f, X0, grad=g, smoothness=smoothness, fallback=FALLBACK, safeguard=False, tol=1e-8
    )
    ho = res.handover
    assert ho is not None and ho.reason == "oracle_error" and ho.iteration == 0
    assert "smoothness oracle" in ho.detail
    first, second = res.stages
    assert first.fun == f(X0) == second.history.f[0] and ho.best_row == 0
    assert res.success and res.fun < f(X0) and res.method == "lfso -> gd"
    assert res.njev == first.njev + second.njev and first.njev >= 1
    # the first stage ends as lfso.minimize's run ends there: RAISED, naming the exception
    with pytest.raises(lfso.OracleError) as caught:
        lfso.minimize(f, X0, grad=g, smoothness=smoothness, safeguard=False, method="lfso")
    assert first.status is caught.value.result.status is lfso.Status.RAISED
    assert f"(OracleError: {caught.value})" in first.message


@pytest.mark.parametrize("smoothness", [2.0, np.float32(2.0), "auto"])
def test_the_stages_take_smoothness_as_minimize_does(smoothness):
    # a global Lipschitz constant or "auto" for a plain function, as lfso.minimize takes it
    def quadratic(x):
        return float(np.sum((x - 1.0) ** 2))

    def slope(x):
        return 2.0 * (x - 1.0)

    task = {"grad": slope, "smoothness": smoothness, "tol": 1e-8}
    alone = lfso.minimize(quadratic, X0, method="lfso", **task)
    ev = pilot(quadratic, X0, FALLBACK, max_iter=500, **task)
    assert ev.candidate.success and ev.candidate.nit == alone.nit
    res = guarded_minimize(quadratic, X0, fallback=FALLBACK, **task)
    assert res.handover is None and res.success and res.nit == alone.nit
    with pytest.raises(ValueError, match="smoothness"):
        pilot(quadratic, X0, FALLBACK, grad=slope, smoothness="automatic")


def test_a_fallback_ending_where_f_is_nan_leaves_the_first_stage_s_point():
    # the oracle breaks at once (hand-over from x0); SciPy's L-BFGS-B stops at x = 1, where
    # f is NaN: that ends no lower than x0, whose point the guarded run returns

    def holed(x):
        return math.nan if x[0] > 0.5 else float(np.sum((x - 1.0) ** 2))

    def slope(x):
        return 2.0 * (x - 1.0)

    res = guarded_minimize(
        holed,
        np.zeros(3),
        grad=slope,
        smoothness=lambda x, R: -1.0,
        fallback={"method": "scipy:L-BFGS-B"},
        safeguard=False,
    )
    first, second = res.stages
    assert res.handover is not None and math.isnan(second.fun)
    assert res.kept_first and res.fun == first.fun == holed(np.zeros(3))
    assert np.array_equal(res.x, np.zeros(3)) and not res.success
    assert "where f is not finite" in res.message


def test_no_trip_is_a_plain_run():
    model = FunctionModel(f, g, true_oracle)
    res = guarded_minimize(model, X0, fallback=FALLBACK)
    ref = lfso.minimize(model, X0, method="lfso")  # (guarded_minimize's default method)
    assert res.handover is None and len(res.stages) == 1
    assert (res.nit, res.njev, res.fun, res.status) == (ref.nit, ref.njev, ref.fun, ref.status)
    np.testing.assert_array_equal(res.history.f, ref.history.f)


def test_stagnation_at_the_limit_of_floating_point_is_not_a_handover():
    # ||A x - b||_2 (composite least squares, p = 1) converges until f no longer changes in
    # float64 while ||g|| still falls: the stagnation risk fires (the plain run records
    # it), the guard does not act. (The logistic and softmax runs end sooner there, at
    # PRECISION_LIMIT, where the gradient's rounding swamps the bound on the exact slope.)
    model = CompositeLeastSquares(A, B, 1)
    x0 = np.zeros(model.dim)
    plain = lfso.minimize(model, x0, method="lfso", tol=0.0, max_iter=300, monitor="quiet")
    assert "stagnation" in plain.risks
    capped = guarded_minimize(model, x0, fallback={"method": "armijo"}, tol=0.0, max_iter=300)
    assert capped.handover is None and len(capped.stages) == 1
    assert capped.settled_at == plain.risks["stagnation"]["first"]
    assert capped.status is lfso.Status.MAX_ITER and capped.fun == plain.fun
    assert "limit of floating point" in capped.message
    # with a tolerance it reaches after f has settled, the run converges under lfso
    done = guarded_minimize(model, x0, fallback={"method": "armijo"}, tol=1e-15, max_iter=300)
    assert done.handover is None and done.success and done.method == "lfso"
    assert done.grad_norm <= 1e-15 * done.history.grad_norm[0]


def test_stagnation_with_a_visible_certified_decrease_still_hands_over():
    # A loss reported to two decimals stops changing while each step certifies a decrease
    # far above rounding: stuck, not converged; the fallback finishes.
    lam = np.logspace(0, -2, 6)
    coarse = FunctionModel(
        lambda x: 1.0 + round(0.5 * float(lam @ x**2), 2), lambda x: lam * x, lambda x, R: 1.0
    )
    res = guarded_minimize(
        coarse, np.ones(6), fallback={"method": "gd", "step": 1.0}, tol=1e-6, safeguard=False
    )
    assert res.handover is not None and res.handover.reason == "stagnation"
    assert res.settled_at is None and res.success and not res.kept_first


def _fallback_cannot_finish():
    """A run whose oracle turns wrong near the minimum, handed to a fallback whose step is
    too small to converge within the iteration cap."""
    model = FunctionModel(
        f, g, lambda x, R: true_oracle(x, R) * (1.0 if np.max(np.abs(x)) > 0.05 else 1e-3)
    )
    return dict(
        objective=model,
        x0=X0,
        fallback={"method": "gd", "step": 1e-6},
        max_iter=200,
        safeguard=False,  # (the bare rule, whose f rises: the guard trips)
    )


def test_a_fallback_that_ends_worse_leaves_the_first_stages_point():
    plain = guarded_minimize(**_fallback_cannot_finish())
    first, second = plain.stages
    assert plain.handover is not None and second.status is lfso.Status.MAX_ITER
    # no target: the fallback's lower f is kept
    assert not plain.kept_first and plain.fun == second.fun < first.fun
    # the first stage had reached the target: a non-converged fallback is worse
    res = guarded_minimize(**_fallback_cannot_finish(), target=first.fun * 1.01)
    assert res.kept_first and res.fun == first.fun and np.array_equal(res.x, first.x)
    assert res.grad_norm == first.grad_norm and res.status is lfso.Status.MAX_ITER
    assert "without converging, while lfso's point had reached the target" in res.message
    # (the same judgement once a target is known after the run, as rollout() makes it)
    judged = judge_against(plain, first.fun * 1.01)
    assert judged.kept_first and judged.fun == res.fun and judged.message == res.message
    assert judge_against(plain, first.fun * 0.5) is plain  # target not reached: unchanged
    ro = Rollout(pilot=None, go=True, result=judged, roi=None)  # type: ignore[arg-type]
    assert "the fallback did worse, so the result is the first stage's point" in ro.verdict
    assert "hit the iteration cap" in ro.verdict


def test_a_first_stage_point_kept_over_a_converged_fallback_has_its_own_status():
    """A narrow well at 0 below a wide one at 10: the guard trips at once, and the
    fallback converges to the wide one's higher minimum; the result is the first stage's
    point, which has not converged, so the run is no success."""
    res = guarded_minimize(
        lambda x: float(0.005 * np.sum((x - 10) ** 2) - np.exp(-100 * np.sum(x**2))),
        np.array([0.001]),
        grad=lambda x: 0.01 * (x - 10) + 200 * x * np.exp(-100 * np.sum(x**2)),
        smoothness=lambda x, R: 1e-6,  # (far too small: the first step overshoots)
        safeguard=False,  # (the bare rule: its f rises)
        fallback={"method": "gd", "step": 10.0},
        tol=1e-6,
    )
    first, second = res.stages
    assert res.handover is not None and second.success and second.fun > first.fun
    assert res.kept_first and res.fun == first.fun
    assert res.grad_norm > 1e-6 * res.history.grad_norm[0]  # (not at the stopping test)
    assert res.status is first.status and not res.success
    assert "has not converged" in res.message
    ro = Rollout(pilot=None, go=True, result=res, roi=None)  # type: ignore[arg-type]
    assert "not converged" in ro.verdict


def test_guarded_result_keeps_kept_first_and_settled_at_when_saved(tmp_path):
    res = guarded_minimize(**_fallback_cannot_finish(), target=1.0)
    res.settled_at = 3
    back = GuardedResult.load(res.save(tmp_path / "kept"))
    assert back.kept_first and back.settled_at == 3


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [("low", TypeError, "target='low'"), (math.nan, ValueError, "target=nan")],
)
def test_guarded_minimize_rejects_bad_targets(target, error, match):
    with pytest.raises(error, match=match):
        guarded_minimize(PowerSum(2), X0, fallback=FALLBACK, target=target)


@pytest.mark.parametrize(
    ("stage", "kwargs", "error", "match"),
    [
        (
            "guarded",
            {"fallback": {"method": "gd", "step": -1.0}},
            ValueError,
            r"fallback \(method=gd, step=-1.0\): step must be finite and positive",
        ),
        (
            "guarded",
            {"fallback": {"method": "armijo", "shrnk": 0.5}},
            TypeError,
            r"fallback \(method=armijo, shrnk=0.5\): unknown option\(s\) for method='armijo'",
        ),
        (
            "pilot",
            {"current": {"method": "gd", "step": 1e-3}, "eta": 3.0},
            ValueError,
            r"lfso's run \(method=lfso, eta=3.0\): eta must be in \(0, 2\)",
        ),
        (
            "rollout",
            {"current": {"method": "gd", "step": 1e-3}, "fallback": {"method": "gd"}},
            TypeError,
            r"fallback \(method=gd\): method='gd' needs a step size",
        ),
        (
            "rollout",
            {"current": {"method": "gd", "step": 1e-3}, "max_iter": -1},
            ValueError,
            "max_iter must be an integer >= 0, got max_iter=-1",
        ),
    ],
)
def test_a_rule_used_later_is_checked_before_any_run(stage, kwargs, error, match):
    # A fallback used only at a hand-over, lfso's pilot run after the current rule's and the
    # guarded run after the pilot: a bad option is named before the first iteration.
    wrong = FunctionModel(f, g, lambda x, R: 0.2 * true_oracle(x, R))  # trips the guard
    run = {"guarded": guarded_minimize, "pilot": pilot, "rollout": rollout}[stage]
    seen = []
    with pytest.raises(error, match=match):
        run(wrong, X0, callback=lambda r: seen.append(r.nit), **kwargs)
    assert seen == []


@pytest.mark.parametrize(
    ("stage", "kwargs", "fragment"),
    [
        ("pilot", {"fallback": {"method": "gd"}}, "lfso.rollout.guarded_minimize and lfso."),
        ("pilot", {"guard": Guard()}, "guard= is an argument of lfso.rollout.guarded_minimize"),
        ("pilot", {"on_handover": print}, "on_handover= is an argument of lfso.rollout.guarded"),
        ("pilot", {"target": 0.5}, "target= is an argument of lfso.rollout.guarded_minimize"),
        ("pilot", {"tuning": "grid"}, "tuning= is an argument of lfso.rollout.rollout, not of"),
        ("pilot", {"force": True}, "force= is an argument of lfso.rollout.rollout, not of pilot"),
        ("pilot", {"pilot_rows": 10}, "not of pilot: pilot takes its rows as rows="),
        ("guarded", {"rows": 10}, "rows= is an argument of lfso.rollout.pilot, not of guarded"),
        ("guarded", {"tuning": "grid"}, "tuning= is an argument of lfso.rollout.rollout, not"),
    ],
)
def test_a_keyword_of_another_stage_is_named_with_its_function(stage, kwargs, fragment):
    run = {"guarded": guarded_minimize, "pilot": pilot}[stage]
    first = {"fallback": FALLBACK} if stage == "guarded" else {"current": FALLBACK}
    seen = []
    with pytest.raises(TypeError, match=re.escape(fragment)) as caught:
        run(PowerSum(2), X0, callback=lambda r: seen.append(r.nit), **first, **kwargs)
    assert seen == [] and "unknown option" not in str(caught.value)
    ((key, value),) = kwargs.items()
    assert f"got {key}={value!r}" in str(caught.value)


def test_guard_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown guard threshold 'desc'"):
        Guard({"desc": 1})
    with pytest.raises(ValueError, match="threshold descent must be >= 0, got -1"):
        Guard({"descent": -1})
    for flag in (True, np.True_):
        with pytest.raises(TypeError, match="threshold oscillation must be an integer, got"):
            Guard({"oscillation": flag})
    with pytest.raises(ValueError, match="divergence"):
        Guard(divergence=0.0)
    for thresholds in ("descent", [("descent", 2)], 3):
        with pytest.raises(TypeError, match=r"thresholds must be a mapping .* got thresholds="):
            Guard(thresholds)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fallback must be a mapping"):
        guarded_minimize(PowerSum(2), X0, fallback="gd")


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"criteria": {"target_rtol": 1}}, TypeError, ["criteria must be", "GoCriteria"]),
        ({"guard": {"descent": 2}}, TypeError, ["guard must be", "Guard(thresholds)"]),
        ({"tuning": 5}, TypeError, ["tuning must be", "got tuning=5"]),
        ({"tuning": []}, ValueError, ["non-empty sequence of steps", "got tuning=[]"]),
        ({"tuning": [1e-3, -1.0]}, ValueError, ["step of tuning=[0.001, -1.0]", "-1.0"]),
        ({"seed": -1, "pilot_rows": 10}, ValueError, ["seed must be an integer >= 0", "-1"]),
        ({"seed": 0.5}, TypeError, ["seed must be an integer", "seed=0.5"]),
        ({"pilot_iter": 0}, ValueError, ["pilot_iter must be an integer >= 1", "=0"]),
        ({"every": -1.0}, ValueError, ["every must be finite and positive", "every=-1.0"]),
        ({"every": "2"}, TypeError, ["every must be", "every='2'"]),
        ({"title": 3}, TypeError, ["title must be a str", "title=3"]),
        ({"progress": 3}, TypeError, ["progress must be True, False or None", "progress=3"]),
        ({"force": "no"}, TypeError, ["force must be True or False", "force='no'"]),
        ({"rows": 10}, TypeError, ["rollout takes the pilot's rows as pilot_rows=", "rows=10"]),
        (
            {"on_handover": print},
            TypeError,
            ["on_handover= is an argument of lfso.rollout.guarded_minimize, not of rollout"],
        ),
        (
            {"target": 0.5},
            TypeError,
            ["target= is an argument of lfso.rollout.guarded_minimize", "target=0.5"],
        ),
    ],
)
def test_rollout_names_a_bad_argument_before_anything_runs(kwargs, error, fragments):
    ran = []
    with pytest.raises(error) as raised:
        rollout(
            LpRegression(A, B, 2),
            np.zeros(5),
            {"method": "gd", "step": 1e-3},
            callback=ran.append,
            **kwargs,
        )
    assert all(fragment in str(raised.value) for fragment in fragments), str(raised.value)
    assert not ran


@pytest.mark.parametrize("key", ["tol", "atol", "max_iter", "callback", "x0"])
def test_a_rule_holding_a_run_argument_is_refused_before_anything_runs(key):
    # (a fallback with its own tol used to run the first stage, then fail at the hand-over
    # with "quiet_minimize() got multiple values for keyword argument 'tol'")
    values = {"tol": 1e-3, "atol": 1e-3, "max_iter": 5, "callback": print, "x0": X0}
    rule = {"method": "armijo", key: values[key]}
    seen = []
    planted = FunctionModel(f, g, TurnsWrong(4))  # (hands over at its first steps)
    match = rf"^fallback: '{key}' is the run's, not the rule's .* pass it to the call"
    with pytest.raises(ValueError, match=match):
        guarded_minimize(planted, X0, fallback=rule, safeguard=False, callback=seen.append)
    assert seen == []
    with pytest.raises(ValueError, match=rf"^current: '{key}' is the run's"):
        pilot(PowerSum(2), X0, rule, callback=seen.append)
    assert seen == []


def test_atol_is_the_stopping_test_of_every_run_not_lfsos_alone():
    model, x0, atol = LpRegression(A, B, 2), np.zeros(5), 1.0
    ev = pilot(model, x0, {"method": "armijo"}, atol=atol)
    cut = lfso.minimize(model, x0, method="armijo", atol=atol)
    assert ev.current.nit == cut.nit and ev.current.grad_norm <= atol < cut.history.grad_norm[0]
    assert ev.candidate.grad_norm <= atol
    # the return on investment's run of the current rule stops by atol too: lfso, stopped
    # by it, reaches that run's target (it did not reach the target of a run to tol alone)
    ro = rollout(model, x0, {"method": "gd", "step": 3e-4}, atol=atol, tuning=[3e-4])
    cut = lfso.minimize(model, x0, method="gd", step=3e-4, atol=atol)
    assert ro.go and ro.result.grad_norm <= atol and ro.roi is not None
    assert ro.roi.lfso_gradients is not None
    assert ro.roi.current_gradients is not None and ro.roi.current_gradients <= cut.njev


def test_rollout_names_current_for_a_bad_option_of_the_current_rule_as_fallback():
    # No fallback given: the fallback is the current rule, whose option is at fault.
    for current in ({"method": "gd"}, {"method": "gd", "step": -1.0}):
        with pytest.raises((TypeError, ValueError), match=r"^current \(method=gd"):
            rollout(PowerSum(2), X0, current)
        with pytest.raises((TypeError, ValueError), match=r"^current \(method=gd"):
            pilot(PowerSum(2), X0, current)
    with pytest.raises(TypeError, match=r"^current \(method=polyak\): .* pass f_star="):
        pilot(PowerSum(2), X0, {"method": "polyak"})
    with pytest.raises(ValueError, match=r"^fallback \(method=gd, step=-1"):
        rollout(PowerSum(2), X0, FALLBACK, fallback={"method": "gd", "step": -1.0})


@pytest.mark.parametrize(
    ("run", "error", "match"),
    [
        (lambda: pilot(PowerSum(2), X0, FALLBACK, max_iter=0), ValueError, "max_iter=0"),
        (lambda: pilot(PowerSum(2), X0, FALLBACK, criteria=1), TypeError, "criteria=1"),
        (lambda: pilot(PowerSum(2), X0, FALLBACK, seed=-1), ValueError, "seed=-1"),
        (lambda: pilot(PowerSum(2), X0, FALLBACK, seed="a"), TypeError, "seed='a'"),
        (lambda: subsample(LpRegression(A, B, 2), 3, seed=-1), ValueError, "seed=-1"),
        (
            lambda: guarded_minimize(PowerSum(2), X0, fallback=FALLBACK, guard="strict"),
            TypeError,
            "guard='strict'",
        ),
    ],
)
def test_the_stages_name_a_bad_argument(run, error, match):
    with pytest.raises(error, match=match):
        run()


# --------------------------------------------------------------------------- pilot


def test_pilot_says_go_when_lfso_is_faster_and_records_the_evidence():
    model = LpRegression(A, B, 3)
    ev = pilot(model, np.zeros(5), {"method": "gd", "step": 1e-5}, rows=20, max_iter=300)
    assert ev.go and all(c.passed for c in ev.checks) and "20 of 40 rows" in ev.task
    cur, cand = ev.current.history, ev.candidate.history
    row, njev, secs = ev.candidate_to_target
    assert cand.f[row] <= ev.target < cand.f[row - 1] if row else True
    assert njev == cand.njev[row] and secs == cand.time[row]
    assert ev.current_to_target[1] == cur.njev[ev.current_to_target[0]]
    assert njev < ev.current_to_target[1]
    assert ev.lines()[0].endswith("GO")


def test_pilot_says_no_go_on_a_gradient_ratio_it_cannot_meet():
    model = LpRegression(A, B, 3)
    strict = GoCriteria(max_gradient_ratio=1e-6)
    ev = pilot(model, np.zeros(5), {"method": "gd", "step": 1e-5}, max_iter=300, criteria=strict)
    assert not ev.go
    failed = [c.name for c in ev.checks if not c.passed]
    assert failed == ["gradients to the target"]
    assert "NO-GO" in ev.lines()[0] and "[FAIL] gradients to the target" in "\n".join(ev.lines())


def test_pilot_says_go_where_the_current_rule_never_goes_below_its_start():
    # The fixed step 10 diverges at once on sum x^4 from ones: the current rule's best f is
    # its start, the target is f0 and both runs hold it from their first gradient.
    strict = GoCriteria(max_gradient_ratio=0.5)
    ev = pilot(
        PowerSum(2), np.ones(4), {"method": "gd", "step": 10.0}, max_iter=100, criteria=strict
    )
    assert ev.current.status is Status.NON_FINITE and ev.current_to_target[0] == 0
    assert ev.candidate.success and ev.candidate.fun < ev.target
    assert ev.go, "\n".join(ev.lines())
    check = next(c for c in ev.checks if c.name == "gradients to the target")
    assert check.passed and "never went below its start" in check.observed
    assert "NON_FINITE" in check.observed


def test_pilot_says_no_go_when_a_risk_fires_and_go_when_it_is_allowed():
    current = {"method": "gd", "step": 1e-3}
    wrong = FunctionModel(f, g, lambda x, R: 0.2 * true_oracle(x, R))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pilot keeps risk warnings as evidence
        ev = pilot(wrong, X0, current, max_iter=200, safeguard=False)
    assert not ev.go and set(ev.candidate.risks) & {"descent", "oracle"}
    assert [c.name for c in ev.checks if not c.passed] == ["risk indicators"]
    lenient = GoCriteria(forbidden_risks=("non_finite",))
    ev = pilot(wrong, X0, current, max_iter=200, criteria=lenient, safeguard=False)
    assert ev.go


H = np.array([1.0, 4.0, 9.0])


def quadratic(x):
    return float(0.5 * np.sum(H * (x - 1.0) ** 2))


def flipped_near_minimum(x):
    """The gradient of :func:`quadratic`, pointing uphill within 1e-3 of its minimiser (a
    wrong gradient that a run meets only once it is close)."""
    grad = H * (x - 1.0)
    return -grad if np.max(np.abs(x - 1.0)) < 1e-3 else grad


def nan_near_minimum(x):
    """:func:`quadratic`, NaN within 1e-3 of its minimiser (a run meets it only once close)."""
    return math.nan if np.max(np.abs(x - 1.0)) < 1e-3 else quadratic(x)


@pytest.mark.parametrize(
    ("fun", "grad", "options", "status"),
    [
        (nan_near_minimum, lambda x: H * (x - 1.0), {"max_rollbacks": 2}, "STEP_FAILED"),
        (quadratic, flipped_near_minimum, {}, "GRADIENT_MISMATCH"),
    ],
    ids=["step-failed", "gradient-mismatch"],
)
def test_pilot_says_no_go_where_lfsos_safeguard_gave_up_after_the_target(
    fun, grad, options, status
):
    """LFSO reaches the target, far sooner than the current rule, then its safeguard gives
    up: every trial step rejected where ``f`` turns NaN (``STEP_FAILED``, no risk indicator
    fires), or a finite difference disagreeing with a gradient that turns wrong. The pilot
    is a no-go, its check ``safeguard`` naming the status, whatever risks the criteria
    forbid."""
    current = {"method": "gd", "step": 1e-2}
    lenient = GoCriteria(forbidden_risks=())
    for criteria in (None, lenient):
        ev = pilot(
            fun,
            np.zeros(3),
            current,
            grad=grad,
            max_iter=200,
            criteria=criteria,
            **options,
        )
        assert ev.candidate.status.name == status
        assert ev.candidate_to_target[1] < ev.current_to_target[1]
        assert not ev.go and "NO-GO" in ev.lines()[0]
        failed = [c for c in ev.checks if not c.passed]
        assert "safeguard" in [c.name for c in failed]
        assert f"gave up, {status}" in "\n".join(ev.lines())
        if status == "STEP_FAILED":
            assert [c.name for c in failed] == ["safeguard"] and not ev.candidate.risks


#: A skew matrix: ``g + SPIN g`` still points downhill (``g . SPIN g = 0``), but by far less
#: than its length claims.
SPIN = 3.0 * np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


def spun_near_minimum(x):
    """The gradient of :func:`quadratic` with a spurious rotation ``SPIN g`` added within
    1e-3 of its minimiser: LFSO's certified decrease, read from its length, never holds
    there, while a fixed step along it still converges (it vanishes only at the minimiser)."""
    grad = H * (x - 1.0)
    return grad + SPIN @ grad if np.max(np.abs(x - 1.0)) < 1e-3 else grad


@pytest.mark.parametrize("fallback", [{"method": "gd", "step": 3e-3}, {"method": "scipy:L-BFGS-B"}])
def test_a_safeguard_that_gives_up_on_a_wrong_gradient_hands_over(fallback):
    """LFSO's safeguard gives up where the gradient turns wrong (``GRADIENT_MISMATCH``:
    its finite difference of f contradicts the gradient; the collapse indicator, which
    fires on the way there, is not watched): the fallback takes over from the best point
    and goes below it (gd's fixed step to the stopping test)."""
    res = guarded_minimize(
        quadratic,
        np.zeros(3),
        grad=spun_near_minimum,
        fallback=fallback,
        guard=Guard({"collapse": 0}),
        tol=1e-8,
        max_iter=3000,
    )
    first, second = res.stages
    ho = res.handover
    assert first.status is Status.GRADIENT_MISMATCH
    assert ho.reason == "gradient_mismatch" and ho.iteration == first.nit
    assert ho.detail.startswith("a finite difference of f (the safeguard's, a line search's")
    assert "where the gradient says" in ho.detail  # (where and by how much)
    assert "risk 'gradient_mismatch'" in res.message and "lfso.check_grad" in ho.lines()[-1]
    assert ho.best_f == first.fun == second.history.f[0]
    assert res.method == f"lfso -> {fallback['method']}" and not res.kept_first
    assert res.fun < first.fun  # (L-BFGS-B's gain on the spun gradient is not steady)
    if fallback["method"] == "gd":
        assert res.success and res.grad_norm <= 1e-8 * first.history.grad_norm[0]
        assert res.fun < 1e-6 * first.fun


def test_go_criteria_keep_their_risks_as_a_tuple_in_the_order_of_risks():
    for given in (["oracle", "descent"], {"descent", "oracle"}, ("descent", "oracle")):
        criteria = GoCriteria(forbidden_risks=given)
        assert criteria.forbidden_risks == ("descent", "oracle")
        assert criteria == GoCriteria(forbidden_risks=("descent", "oracle"))
        assert hash(criteria) == hash(GoCriteria(forbidden_risks=("descent", "oracle")))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_rtol": 1.0}, "target_rtol"),
        ({"max_gradient_ratio": 0.0}, "max_gradient_ratio"),
        ({"forbidden_risks": ("descnt",)}, "descnt"),
    ],
)
def test_go_criteria_reject_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GoCriteria(**kwargs)


# --------------------------------------------------------------------------- ROI


def test_roi_of_a_grid_equals_the_counts_in_its_histories():
    model, x0 = PowerSum(2), np.linspace(0.5, 1.5, 5)
    tuned = lfso.bench.tune_step(model, x0, [1e-3, 1e-2, 1e-1, 1.0], max_iter=2000)
    mine = lfso.minimize(model, x0)
    roi = return_on_investment(mine.history, tuning=tuned, target_rtol=1e-6)
    others = [r for _, r in tuned.runs if r is not tuned.result]
    assert roi.tuning_runs == len(others) == 3
    assert roi.tuning_gradients == sum(int(r.history.njev[-1]) for r in others)
    assert roi.tuning_seconds == pytest.approx(sum(r.history.time[-1] for r in others))
    cur = tuned.result.history
    f_best = np.min(cur.f)
    assert roi.target == pytest.approx(f_best + 1e-6 * (cur.f[0] - f_best))
    k = int(np.argmax(cur.f <= roi.target))
    assert (roi.current_gradients, roi.current_seconds) == (cur.njev[k], cur.time[k])
    j = int(np.argmax(mine.history.f <= roi.target))
    assert (roi.lfso_gradients, roi.lfso_seconds) == (mine.history.njev[j], mine.history.time[j])
    assert roi.gradient_ratio == pytest.approx(
        (roi.tuning_gradients + roi.current_gradients) / roi.lfso_gradients
    )
    assert roi.time_ratio == pytest.approx(
        (roi.tuning_seconds + roi.current_seconds) / roi.lfso_seconds
    )
    assert roi.sources["tuning_gradients"].startswith("measured")
    assert roi.lines()[0].startswith("time to target:")


def test_roi_of_a_stated_budget_estimates_seconds_from_the_measured_rate():
    model, x0 = PowerSum(2), np.linspace(0.5, 1.5, 5)
    current = lfso.minimize(model, x0, method="gd", step=0.05, max_iter=3000)
    mine = lfso.minimize(model, x0)
    roi = return_on_investment(mine.history, tuning=TuningBudget(5000), current=current.history)
    rate = current.history.time[-1] / current.history.njev[-1]
    assert roi.tuning_gradients == 5000 and roi.tuning_seconds == pytest.approx(5000 * rate)
    assert roi.sources["tuning_gradients"] == "stated by the user"
    assert roi.sources["tuning_seconds"].startswith("estimated")
    stated = return_on_investment(
        mine.history, tuning=TuningBudget(5000, seconds=60.0), current=current.history
    )
    assert stated.tuning_seconds == 60.0 and stated.sources["tuning_seconds"] == "stated"
    with pytest.raises(TypeError, match="needs current="):
        return_on_investment(mine.history, tuning=TuningBudget(10))


def test_roi_charges_no_tuning_when_the_current_step_is_already_the_grids_best():
    model, x0 = LogisticRegression(A, LABELS, l2=0.01), np.zeros(5)
    tuned = lfso.bench.tune_step(model, x0, [1.0, 10.0], max_iter=3000)
    assert tuned.step == 10.0
    mine = lfso.minimize(model, x0).history
    tuned_already = return_on_investment(mine, tuning=tuned, current_step=10.0)
    assert (tuned_already.tuning_gradients, tuned_already.tuning_seconds) == (0, 0.0)
    assert not tuned_already.tuning_charged and tuned_already.tuning_runs == 0
    assert tuned_already.gradient_ratio == tuned_already.run_gradient_ratio
    assert tuned_already.time_ratio == tuned_already.run_time_ratio
    other = tuned.runs[0][1].njev
    assert tuned_already.sources["tuning_gradients"] == (
        f"not charged: the current step 10 is already the grid's best (the grid's 1 other "
        f"step size took {other} gradients, measured)"
    )
    head = tuned_already.lines()[0]
    assert head.endswith("; no tuning charged") and "counting the tuning" not in head
    assert "none charged" in tuned_already.lines()[1]
    # a current step the grid improves on: the grid is charged
    untuned = return_on_investment(mine, tuning=tuned, current_step=1.0)
    assert untuned.tuning_gradients == other and untuned.tuning_charged
    assert "counting the tuning" in untuned.lines()[0]
    with pytest.raises(
        ValueError, match=r"current_step must be a finite number > 0 or None, got -1"
    ):
        return_on_investment(mine, tuning=tuned, current_step=-1)


def test_roi_refuses_what_is_no_history_and_arguments_its_tuning_ignores():
    model, x0 = PowerSum(2), np.ones(3)
    mine = lfso.minimize(model, x0)
    current = lfso.minimize(model, x0, method="gd", step=0.05, max_iter=200)
    tuned = lfso.bench.tune_step(model, x0, [1e-2, 1e-1], max_iter=200)
    budget = TuningBudget(100)
    cases = [
        (
            {"lfso_history": mine, "tuning": budget, "current": current.history},
            TypeError,
            r"lfso_history must be a lfso.History .*got Result; .*lfso_history=result.history",
        ),
        (
            {"lfso_history": mine.history, "tuning": budget, "current": current},
            TypeError,
            r"current must be a lfso.History .*got Result; .*current=result.history",
        ),
        (
            {"lfso_history": mine.history, "tuning": budget, "current": lfso.History()},
            ValueError,
            "current is an empty History",
        ),
        (
            {"lfso_history": mine.history, "tuning": tuned, "current": current.history},
            TypeError,
            "current= goes with a stated TuningBudget.*drop current=",
        ),
        (
            {
                "lfso_history": mine.history,
                "tuning": budget,
                "current": current.history,
                "current_step": 0.05,
            },
            TypeError,
            "current_step= goes with a measured grid",
        ),
        *(
            (
                {"lfso_history": mine.history, "tuning": budget, "current": start, **rtol},
                ValueError,
                r"current's history starts at f0 = inf: the target is measured from a finite",
            )
            for start in [lfso.History.from_dict({"f": [np.inf, 1, 0.5], "njev": [1, 2, 3]})]
            for rtol in ({}, {"target_rtol": 0.0})
        ),
    ]
    for kwargs, error, match in cases:
        history = kwargs.pop("lfso_history")
        with pytest.raises(error, match=match):
            return_on_investment(history, **kwargs)


def _roi(tuning_s, tuning_g, current_s, current_g, lfso_s, lfso_g):
    sources = dict.fromkeys(("tuning_gradients", "tuning_seconds", "current", "lfso"), "stated")
    return ReturnOnInvestment(
        target=0.0,
        tuning_gradients=tuning_g,
        tuning_seconds=tuning_s,
        tuning_runs=None,
        current_gradients=current_g,
        current_seconds=current_s,
        lfso_gradients=lfso_g,
        lfso_seconds=lfso_s,
        sources=sources,
    )


@pytest.mark.parametrize(
    ("figures", "says"),
    [
        # already tuned, lfso's run slower in seconds though it needs fewer gradients
        (
            (0.0, 0, 0.0117, 175, 0.0198, 75),
            "time to target: lfso 1.69x slower than the tuned rule's run (0.0198 s vs "
            "0.0117 s) with 2.33x fewer gradients (75 vs 175); no tuning charged",
        ),
        # lfso faster in both
        (
            (0.0, 0, 1.0, 1000, 0.5, 250),
            "time to target: lfso 2x faster than the tuned rule's run (0.5 s vs 1 s) with 4x "
            "fewer gradients (250 vs 1000); no tuning charged",
        ),
        # lfso needs more gradients and as much time
        (
            (0.0, 0, 1.0, 100, 1.0, 200),
            "time to target: lfso about as fast as the tuned rule's run (1 s vs 1 s) with 2x "
            "more gradients (200 vs 100)",
        ),
        # the tuning makes up for a slower run: both said
        (
            (3.19, 40010, 0.622, 9978, 1.22, 3577),
            "time to target: 3.12x faster with lfso counting the tuning (tuning + run "
            "3.81 s vs lfso 1.22 s; 14x fewer gradients); the runs alone: lfso 1.96x slower "
            "than the tuned rule's run (1.22 s vs 0.622 s) with 2.79x fewer gradients",
        ),
        # slower even counting the tuning
        (
            (0.1, 10, 0.1, 10, 1.0, 100),
            "time to target: 5x slower with lfso counting the tuning (tuning + run 0.2 s vs "
            "lfso 1 s; 5x more gradients); the runs alone: lfso 10x slower",
        ),
    ],
)
def test_roi_first_line_says_faster_or_slower_as_measured(figures, says):
    head = _roi(*figures).lines()[0]
    assert head.startswith(says)
    for ratio in re.findall(r"([0-9.]+)x (?:faster|fewer)", head):
        assert float(ratio) > 1.0


def test_roi_of_a_current_rule_that_never_went_below_its_start_compares_nothing():
    model, x0 = PowerSum(2), np.ones(4)
    mine = lfso.minimize(model, x0).history
    with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diverged = lfso.minimize(model, x0, method="gd", step=10.0).history
    roi = return_on_investment(mine, tuning=TuningBudget(10), current=diverged)
    assert roi.current_stalled and roi.target == diverged.f[0]
    assert roi.gradient_ratio is roi.time_ratio is roi.run_gradient_ratio is None
    head = roi.lines()[0]
    assert "never went below its start" in head
    assert "faster" not in head and "fewer" not in head and "as many" not in head
    moving = lfso.minimize(model, x0, method="gd", step=0.1, max_iter=50).history
    assert not return_on_investment(mine, tuning=TuningBudget(10), current=moving).current_stalled


def test_rollout_of_no_step_says_the_roi_measures_nothing():
    ro = rollout(PowerSum(2), np.ones(4), {"method": "gd", "step": 1e-2}, pilot_iter=50, max_iter=0)
    assert ro.roi is not None and ro.roi.current_stalled and ro.roi.gradient_ratio is None
    assert "never went below its start" in ro.lines()[0]
    assert "as fast" not in ro.lines()[0]


def test_pilot_refuses_a_current_run_that_starts_where_f_is_not_finite():
    from lfso.rollout._pilot import decide

    bad, lfso_run = (lfso.minimize(PowerSum(2), np.ones(4), max_iter=3) for _ in range(2))
    bad.history = lfso.History.from_dict({"f": [np.inf, 1, 0.5], "njev": [1, 2, 3]})
    with pytest.raises(ValueError, match="current's history starts at f0 = inf"):
        decide(bad, lfso_run, task="a hand-built history")


def test_a_grid_of_one_other_step_is_counted_in_the_singular():
    model, x0 = PowerSum(2), np.ones(4)
    tuned = lfso.bench.tune_step(model, x0, [1e-2, 1e-1], max_iter=200)
    text = "\n".join(return_on_investment(lfso.minimize(model, x0).history, tuning=tuned).lines())
    assert "in 1 run," in text and "the grid's 1 other step size," in text
    assert "1 runs" not in text and "1 other step sizes" not in text


def test_the_method_on_trial_is_checked_before_the_current_rules_run():
    seen = []
    for method in ("scipy:L-BFGS-B", "foo"):
        match = rf"^method must be a method of lfso\.METHODS, got method='{method}'"
        with pytest.raises(ValueError, match=match):
            pilot(PowerSum(2), X0, FALLBACK, method=method, callback=seen.append)
        with pytest.raises(ValueError, match=match):
            rollout(PowerSum(2), X0, FALLBACK, method=method, callback=seen.append)
        with pytest.raises(ValueError, match=match):
            guarded_minimize(PowerSum(2), X0, fallback=FALLBACK, method=method)
    assert seen == []  # (the current rule's pilot run had run first)


def test_criteria_that_forbid_no_risk_say_so():
    lax = GoCriteria(forbidden_risks=[])
    assert lax.lines()[2] == "no risk indicator is forbidden (any may fire in lfso's run)"
    ev = pilot(PowerSum(2), np.ones(4), {"method": "gd", "step": 1e-2}, criteria=lax, max_iter=50)
    check = next(c for c in ev.checks if c.name == "risk indicators")
    assert check.required == "nothing (no risk indicator is forbidden)" and check.passed


def test_decide_refuses_what_is_not_a_run_or_criteria():
    model, x0 = PowerSum(2), np.ones(4)
    cur = lfso.minimize(model, x0, method="gd", step=1e-2, max_iter=50)
    mine = lfso.minimize(model, x0)
    with pytest.raises(TypeError, match=r"criteria must be a lfso\.rollout\.GoCriteria"):
        decide(cur, mine, task="t", criteria={"target_rtol": 0.1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"current must be a lfso\.Result .*got History; pass"):
        decide(cur.history, mine, task="t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"candidate must be a lfso\.Result .*got str"):
        decide(cur, "lfso", task="t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"task must be a str .*got task=3"):
        decide(cur, mine, task=3)  # type: ignore[arg-type]
    assert decide(cur, mine, task="t").go


@pytest.mark.parametrize("tuning", ["grid", TuningBudget(100)], ids=["grid", "budget"])
def test_pilot_and_rollout_compare_runs_of_a_noisy_f_from_the_same_x0(tuning):
    # f's noise (1e-3, a relative 3e-4 at x0) gives each run another f0 at the same x0: no
    # other start, so both runs are judged (no ValueError asking for runs from one x0)
    rng = np.random.default_rng(0)

    def noisy(x):
        return float(np.sum((x - 1.0) ** 2) + 1e-3 * rng.random())

    def slope(x):
        return 2.0 * (x - 1.0)

    task = {"grad": slope, "smoothness": lambda x, R: 2.0, "tol": 1e-6}
    current = {"method": "gd", "step": 0.1}
    ev = pilot(noisy, np.zeros(3), current, max_iter=300, **task)
    assert ev.current.history.f[0] != ev.candidate.history.f[0]
    assert ev.candidate_to_target is not None or not ev.go
    lenient = GoCriteria(target_rtol=0.5)
    run = rollout(noisy, np.zeros(3), current, tuning=tuning, criteria=lenient, **task)
    assert run.roi is not None and run.roi.lfso_gradients is not None


def test_a_pilot_s_scipy_run_stopping_where_f_is_nan_is_not_converged():
    # L-BFGS-B's line search reaches x = 1, where the gradient is 0 and f is NaN: SciPy
    # stops there; the current rule's run is NON_FINITE, not CONVERGED with f = NaN

    def holed(x):
        return math.nan if x[0] > 0.5 else float(np.sum((x - 1.0) ** 2))

    def slope(x):
        return 2.0 * (x - 1.0)

    ev = pilot(holed, np.zeros(3), {"method": "scipy:L-BFGS-B"}, grad=slope, max_iter=200)
    cur = ev.current
    assert math.isnan(cur.fun)
    assert cur.status is Status.NON_FINITE and not cur.success, cur.message


def test_roi_and_decide_refuse_runs_from_different_starts():
    model, x0 = PowerSum(2), np.ones(4)
    mine = lfso.minimize(model, x0)
    elsewhere = lfso.minimize(model, 2 * x0, method="gd", step=0.1)
    tuned = lfso.bench.tune_step(model, 2 * x0, [1e-2, 1e-1], max_iter=100)
    match = r"starts at f0 = 64.0 and lfso_history at f0 = 4.0: the runs must start"
    with pytest.raises(ValueError, match="current's history " + match):
        return_on_investment(mine.history, tuning=TuningBudget(0), current=elsewhere.history)
    with pytest.raises(ValueError, match="the grid's chosen run's history " + match):
        return_on_investment(mine.history, tuning=tuned)
    with pytest.raises(ValueError, match=r"f0 = 64.0 and candidate's history at f0 = 4.0"):
        decide(elsewhere, mine, task="two starts")
    # the same start, rounded differently, is the same start
    same = lfso.minimize(model, x0 * (1 + 1e-12), method="gd", step=0.1)
    roi = return_on_investment(mine.history, tuning=TuningBudget(0), current=same.history)
    assert roi.lfso_gradients is not None and roi.lfso_gradients > 1


def test_to_target_reports_unreached_targets():
    h = lfso.minimize(PowerSum(2), np.ones(3), max_iter=3).history
    assert to_target(h, -1.0) is None
    assert to_target(h, np.inf) == (0, 1, 0.0)


# --------------------------------------------------------------------------- workflow and CLI


def test_rollout_go_runs_every_stage_and_writes_the_report(tmp_path):
    model = LpRegression(A, B, 3)
    ro = rollout(
        model,
        np.zeros(5),
        {"method": "gd", "step": 1e-4},
        pilot_rows=20,
        pilot_iter=300,
        max_iter=3000,
        report=tmp_path / "r.html",
    )
    assert ro.go and ro.result is not None and ro.result.roi is ro.roi is not None
    assert ro.roi.lfso_gradients == to_target(ro.result.history, ro.roi.target)[1]
    lines = ro.lines()
    assert lines[0].startswith("time to target:") and "GO" in "\n".join(lines)
    page = ro.report.read_text()
    assert page.index('id="roi"') < page.index('id="stages"') < page.index('id="pilot"')
    assert "http-equiv" not in page and 'class="finished"' in page
    assert "tuned gd (step" in page and "<svg" in page and "<script" not in page
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic writes left nothing behind


def test_rollout_charges_no_grid_for_a_current_step_that_is_already_its_best():
    model, x0 = LogisticRegression(A, LABELS, l2=0.01), np.zeros(5)
    ro = rollout(model, x0, {"method": "gd", "step": 10.0}, tuning=[1.0, 10.0], force=True)
    assert ro.roi is not None and ro.roi.tuning_gradients == 0
    assert ro.roi.lines()[0].endswith("no tuning charged")
    ro = rollout(model, x0, {"method": "gd", "step": 1.0}, tuning=[1.0, 10.0], force=True)
    assert ro.roi is not None and ro.roi.tuning_gradients > 0


def test_rollout_verdict_says_the_guarded_run_hit_the_iteration_cap():
    model, x0 = LogisticRegression(A, LABELS, l2=0.01), np.zeros(5)
    rule = {"method": "gd", "step": 1.0}
    done = rollout(model, x0, rule, pilot_iter=300, tuning=None)
    assert done.go and done.result.success and done.verdict == "GO"
    capped = rollout(model, x0, rule, pilot_iter=300, max_iter=20, tuning=None)
    assert capped.go and capped.result.status is lfso.Status.MAX_ITER
    assert capped.verdict.startswith("GO, but the guarded run hit the iteration cap (20 ")
    assert capped.lines()[-1] == f"verdict: {capped.verdict}"


def test_rollout_verdict_at_tol_zero_is_go_where_the_guarded_run_ran_its_course():
    """At ``tol=0`` a guarded run that ends at the iteration cap or where the dtype cannot
    certify a further step did what it was asked (``lfso solve --tol 0`` exits 0 there):
    the verdict does not call it "not converged"; at ``tol > 0`` the cap is still named."""
    model, x0 = LogisticRegression(A, LABELS, l2=0.01), np.zeros(5)
    rule = {"method": "gd", "step": 1.0}
    capped = rollout(model, x0, rule, pilot_iter=300, max_iter=20, tol=0.0, tuning=None)
    assert capped.go and capped.result.status is lfso.Status.MAX_ITER
    assert capped.verdict == "GO"
    problem = PROBLEMS["power_norm-p1"]
    model, x0 = problem.make()
    limit = rollout(model, x0, {"method": "gd", "step": 1e-3}, tol=0.0, tuning=None)
    assert limit.go and limit.result.status is lfso.Status.PRECISION_LIMIT
    assert limit.verdict == "GO" and "not converged" not in "\n".join(limit.lines())
    short = rollout(model, x0, {"method": "gd", "step": 1e-3}, tol=1e-300, max_iter=5, tuning=None)
    assert "not converged" in short.verdict


def test_rollout_no_go_keeps_the_current_rule(tmp_path):
    ro = rollout(
        LpRegression(A, B, 3),
        np.zeros(5),
        {"method": "gd", "step": 1e-5},
        pilot_iter=200,
        criteria=GoCriteria(max_gradient_ratio=1e-6),
        report=tmp_path / "r.html",
    )
    assert not ro.go and ro.result is None and ro.roi is None
    assert "not run (no-go)" in "\n".join(ro.lines())
    page = ro.report.read_text()
    assert "NO-GO" in page and "skipped" in page


def _interrupt_at(method, nit):
    """A callback that raises KeyboardInterrupt (Ctrl-C) in ``method``'s run at ``nit``."""

    def callback(r):
        if r.method == method and r.nit == nit:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize("method", ["gd", "lfso"])
def test_an_interrupted_pilot_run_stops_the_rollout(method, tmp_path):
    with pytest.raises(KeyboardInterrupt, match=r"pilot.* interrupted at iteration 2") as caught:
        rollout(
            LpRegression(A, B, 3),
            np.zeros(5),
            {"method": "gd", "step": 1e-5},
            pilot_iter=200,
            callback=_interrupt_at(method, 2),
            report=tmp_path / "r.html",
        )
    assert caught.value.result.status is Status.INTERRUPTED and caught.value.result.nit == 2
    page = (tmp_path / "r.html").read_text()
    assert "http-equiv" not in page and "Run in progress" not in page
    assert re.search(r"<td>pilot</td><td class='interrupted'>interrupted</td>", page)
    assert re.search(r"<td>guarded</td><td class='skipped'>", page)


def test_an_interrupted_guarded_run_ends_the_rollout_without_a_grid(tmp_path):
    ro = rollout(
        LpRegression(A, B, 3),
        np.zeros(5),
        {"method": "gd", "step": 1e-5},
        pilot_iter=200,
        report=tmp_path / "r.html",
        max_iter=50,
        guard=Guard(callback=_interrupt_at("lfso", 5)),
    )
    assert ro.go and ro.result.status is Status.INTERRUPTED and ro.roi is None
    assert "stopped with INTERRUPTED" in ro.verdict
    page = ro.report.read_text()
    assert re.search(r"<td>roi</td><td class='skipped'>skipped</td><td>the guarded run was", page)
    # (a run cut short is no stage done: the page says so, as a plain run's does)
    assert re.search(r"<td>guarded</td><td class='interrupted'>interrupted</td>", page)


def test_a_rollout_that_raises_leaves_its_page_finished_with_the_stage_failed(tmp_path):
    def broken(r):
        if r.method == "lfso" and r.nit == 3:
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        rollout(
            PowerSum(2),
            np.ones(4),
            {"method": "gd", "step": 1e-2},
            pilot_iter=50,
            callback=broken,
            report=tmp_path / "r.html",
        )
    page = (tmp_path / "r.html").read_text()
    assert "http-equiv" not in page and "Run in progress" not in page
    failed = r"<td>pilot</td><td class='failed'>failed</td><td>RuntimeError: disk gone"
    assert re.search(failed, page)
    assert re.search(r"<td>roi</td><td class='skipped'>", page)


def test_rollout_hands_over_in_the_guarded_stage_after_a_clean_pilot(tmp_path):
    ro = rollout(
        lambda x: f(x),
        X0,
        FALLBACK,
        grad=g,
        smoothness=TurnsWrong(5),  # right for the short pilot (4 points), wrong later
        safeguard=False,  # (the bare rule, which the guard watches)
        pilot_iter=3,
        criteria=GoCriteria(target_rtol=0.5),
        tuning=TuningBudget(1000),
        report=tmp_path / "r.html",
    )
    assert ro.go and ro.result.handover is not None
    assert ro.result.fun <= ro.result.handover.best_f
    assert ro.roi.sources["tuning_seconds"].startswith("estimated")
    page = ro.report.read_text()
    assert 'id="handover"' in page and "restored the best point" in page


def test_cli_rollout_prints_roi_first_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "r.html"
    code = main(
        [
            "rollout",
            "lp_regression-p2-n100",
            "--current",
            "gd",
            "step=1e-4",
            "--pilot-rows",
            "50",
            "--pilot-iter",
            "200",
            "--max-iter",
            "1500",
            "--report",
            str(out),
            "--report-every",
            "0.5",
        ]
    )
    text = capsys.readouterr().out
    assert code in (0, 1) and out.exists()
    summary = text.split("\n\n", 1)[1]
    assert summary.startswith("time to target:") if code == 0 else "NO-GO" in summary
    assert "go / no-go criteria" in text and "report:" in text


def test_cli_rollout_reports_bad_rules(capsys):
    assert main(["rollout", "power_sum-p2", "--current", "step=1e-3"]) == 2
    assert "--current must start with a method name" in capsys.readouterr().err


_ROLLOUT = ["rollout", "power_sum-p2", "--current", "gd", "step=1e-3"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--tol", "-1"], ["--tol", ">= 0", "got -1"]),
        (["--pilot-iter", "0"], ["--pilot-iter", ">= 1", "got 0"]),
        (["--max-iter", "-1"], ["--max-iter", ">= 0", "got -1"]),
        (["--target-rtol", "1"], ["--target-rtol", "< 1", "got 1"]),
        (["--max-gradient-ratio", "0"], ["--max-gradient-ratio", "> 0", "got 0"]),
        (["--threshold", "descent=x"], ["--threshold descent=x", "integer", "'x'"]),
        (["--threshold", "descent"], ["--threshold", "NAME=COUNT", "'descent'"]),
        (["--threshold", "desc=1"], ["--threshold desc=1", "unknown guard threshold 'desc'"]),
        (["--threshold", "oscillation=true"], ["--threshold oscillation=true", "integer", "True"]),
        (["--tuning-gradients", "-1"], ["--tuning-gradients", ">= 0", "got -1"]),
        (["--tuning-seconds", "3"], ["--tuning-seconds 3", "needs --tuning-gradients"]),
        (
            ["--tuning-gradients", "10", "--tuning-seconds", "-1"],
            ["--tuning-seconds", ">= 0", "got -1"],
        ),
        (["--report-every", "0"], ["--report-every", "> 0", "seconds", "got 0"]),
        (["--report", ""], ["--report ''", "is empty"]),
        (["--current", "gd"], ["--current gd", "needs a step size", "step="]),
        (["--current", "gd", "step=-1"], ["--current gd step=-1", "step", "-1"]),
        (["--current", "nope"], ["--current nope", "unknown method 'nope'"]),
        (["--fallback", "polyak"], ["--fallback polyak", "f_star="]),
        (
            ["--current", "gd", "step=1e-3", "step=1e-2"],
            ["--current gd step=1e-3 step=1e-2", "option step is given twice"],
        ),
        (["--fallback", "armijo", "method=gd"], ["--fallback armijo", "the method is the first"]),
        (["--threshold", "descent=1", "descent=2"], ["--threshold descent is given twice"]),
        (["--oracle", "paper"], []),  # power_sum-p2 has the paper's oracle: only this runs
    ],
)
def test_cli_rollout_checks_every_option_before_printing(argv, expected, tmp_path, capsys):
    report = tmp_path / "r.html"
    if not expected:  # the valid case: the same options, then a run
        args = [*_ROLLOUT, "--report", str(report), "--pilot-iter", "20", "--no-roi", *argv]
        assert main(args) in (0, 1) and report.is_file()
        return
    assert main([*_ROLLOUT, "--report", str(report), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("lfso: error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert not report.exists()


@pytest.mark.parametrize(
    ("problem", "argv", "expected"),
    [
        ("rosenbrock-d2", ["--oracle", "paper"], ["--oracle paper", "no hand-made oracle"]),
        ("robust-cauchy", ["--oracle", "paper"], ["--oracle paper", "--oracle sharp"]),
        ("lp_regression-p2-n100", ["--pilot-rows", "1000"], ["--pilot-rows 1000", "[1, 100]"]),
        ("nope", [], ["unknown problem 'nope'", "lfso problems"]),
    ],
)
def test_cli_rollout_checks_options_against_the_problem(problem, argv, expected, tmp_path, capsys):
    report = ["--report", str(tmp_path / "r.html")]
    assert main(["rollout", problem, "--current", "gd", "step=1e-3", *report, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for fragment in expected:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize(
    "argv", [["--pilot-rows", "0"], ["--pilot-rows", "1.5"], ["--method", "gd"]]
)
def test_cli_rollout_rejects_malformed_values_at_parsing(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*_ROLLOUT, *argv])
    assert exc.value.code == 2 and argv[0] in capsys.readouterr().err


def test_cli_solve_writes_the_live_report(tmp_path, capsys):
    out = tmp_path / "solve.html"
    assert main(["solve", "power_sum-p2", "--report", str(out)]) == 0
    page = out.read_text()
    assert "Finished" in page and "CONVERGED" in page and "<svg" in page
    assert f"report: {out}" in capsys.readouterr().out


def test_guarded_result_saves_and_loads_the_handover_and_roi(tmp_path):
    model = FunctionModel(f, g, TurnsWrong(4))
    res = guarded_minimize(model, X0, fallback=FALLBACK)
    res.roi = return_on_investment(res.history, tuning=TuningBudget(100), current=res.history)
    back = GuardedResult.load(res.save(tmp_path / "guarded.npz"))
    assert back.handover == res.handover and back.roi == res.roi
    np.testing.assert_array_equal(back.history.f, res.history.f)
    assert (back.fun, back.nit, back.status, back.method) == (
        res.fun,
        res.nit,
        res.status,
        res.method,
    )
    plain = lfso.Result.load(tmp_path / "guarded.npz")  # still a plain Result file
    assert plain.nit == res.nit and (tmp_path / "guarded.npz.rollout.json").is_file()
    assert not list(tmp_path.glob(".*.tmp"))
    # both with the mode a new file gets under the umask (not mkstemp's private 0600)
    from lfso._atomic import _umask

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["guarded.npz", "guarded.npz.rollout.json"], 0o666 & ~_umask())


def test_a_hand_over_file_with_non_finite_numbers_is_standard_json(tmp_path):
    """A NaN or infinite number in the hand-over or the ROI was written as the tokens
    ``NaN`` and ``Infinity``, which standard JSON readers refuse; they are strings there,
    read back as the floats."""
    import dataclasses

    res = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK, safeguard=False
    )
    res.roi = return_on_investment(res.history, tuning=TuningBudget(100), current=res.history)
    assert res.handover is not None
    res.handover = dataclasses.replace(res.handover, best_f=-math.inf, time=math.nan)
    res.roi = dataclasses.replace(res.roi, target=np.float32("nan"), current_seconds=math.inf)
    path = res.save(tmp_path / "run.npz")

    def refuse(token):
        raise ValueError(f"not standard JSON: {token}")

    saved = json.loads((tmp_path / "run.npz.rollout.json").read_text(), parse_constant=refuse)
    assert saved["handover"]["best_f"] == "-Infinity" and saved["roi"]["target"] == "NaN"
    back = GuardedResult.load(path)
    assert back.handover.best_f == -math.inf and math.isnan(back.handover.time)
    assert math.isnan(back.roi.target) and back.roi.current_seconds == math.inf
    assert dataclasses.replace(back.handover, time=0.0) == dataclasses.replace(
        res.handover, time=0.0
    )


def test_a_hand_over_file_left_from_another_result_is_not_attached_to_it(tmp_path):
    planted = FunctionModel(f, g, TurnsWrong(4))
    res = guarded_minimize(planted, X0, fallback=FALLBACK, safeguard=False)
    path = res.save(tmp_path / "run.npz")
    assert res.handover is not None and GuardedResult.load(path).handover == res.handover
    side = tmp_path / "run.npz.rollout.json"
    left = side.read_text()
    other = lfso.minimize(PowerSum(2), np.ones(5), method="lfso")  # the same file, again
    other.save(path)  # (a plain result's save removes the hand-over file)
    assert not side.exists() and not list(tmp_path.glob(".*.tmp"))
    back = GuardedResult.load(path)
    assert back.handover is None and back.nit == other.nit and back.method == "lfso"
    side.write_text(left)  # (one left there all the same: a copy, an older version's save)
    with pytest.raises(ValueError, match=r"'.*run.npz.rollout.json' is not .* saved with another"):
        GuardedResult.load(path)
    res.save(tmp_path / "run")  # (a path without .npz: its own hand-over file)
    lfso.minimize(PowerSum(2), np.ones(5), method="lfso").save(tmp_path / "run")
    assert not (tmp_path / "run.rollout.json").exists()


def test_a_failed_overwrite_keeps_the_hand_over_of_the_result_left_there(tmp_path, monkeypatch):
    """A save over a guarded result's file that failed (a full disk) removed the hand-over
    file all the same: the old result, still there, loaded with ``handover=None``."""
    import lfso._atomic as atomic

    res = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK, safeguard=False
    )
    path = res.save(tmp_path / "run.npz")
    assert res.handover is not None

    def full(tmp, target):
        raise OSError(28, "No space left on device", tmp, str(target))

    with monkeypatch.context() as patched:
        patched.setattr(atomic.os, "replace", full)
        with pytest.raises(OSError, match="No space left"):
            lfso.minimize(PowerSum(2), np.ones(3)).save(path)
    assert GuardedResult.load(path).handover == res.handover
    lfso.minimize(PowerSum(2), np.ones(3)).save(path)  # (once written, it goes)
    assert not (tmp_path / "run.npz.rollout.json").exists()


def test_results_at_run_and_run_npz_keep_their_own_hand_over_files(tmp_path):
    res = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK, safeguard=False
    )
    assert res.handover is not None
    res.save(tmp_path / "run.npz")
    lfso.minimize(PowerSum(2), np.ones(3)).save(tmp_path / "run")  # (another file)
    assert GuardedResult.load(tmp_path / "run.npz").handover == res.handover
    assert GuardedResult.load(tmp_path / "run").handover is None
    res.save(tmp_path / "run")
    lfso.minimize(PowerSum(2), np.ones(3)).save(tmp_path / "run.npz")
    assert GuardedResult.load(tmp_path / "run").handover == res.handover
    assert GuardedResult.load(tmp_path / "run.npz").handover is None


@pytest.mark.parametrize("name", ["run.npz", "run"])
def test_a_hand_over_file_that_earlier_versions_named_is_read(name, tmp_path):
    res = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK, safeguard=False
    )
    res.save(tmp_path / "run.npz")  # (earlier: run.npz and run.rollout.json, for either name)
    (tmp_path / "run.npz.rollout.json").rename(tmp_path / "run.rollout.json")
    assert GuardedResult.load(tmp_path / name).handover == res.handover
    lfso.minimize(PowerSum(2), np.ones(3)).save(tmp_path / "run")  # (a new file beside it)
    assert GuardedResult.load(tmp_path / "run.npz").handover == res.handover
    assert GuardedResult.load(tmp_path / "run").handover is None


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_save_leaves_the_pair_saved_before(failing, tmp_path, monkeypatch):
    """A write (``fsync``, a full disk) or a move (``os.replace``) of the guarded result
    that fails, at each of the calls a save makes, leaves the result and hand-over files
    saved there before, which load together as they were. (Where the last move failed,
    the new result file was removed, the old one already replaced: no result was left.)"""
    old = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK, safeguard=False
    )
    path = old.save(tmp_path / "run.npz")
    new = lfso.rollout.GuardedResult(
        **{k: getattr(old, k) for k in lfso.Result.__dataclass_fields__ if k != "nit"},
        nit=old.nit + 1,
        handover=None,
    )
    real, calls, fail_at = getattr(os, failing), [], [0]

    def full(*args):
        calls.append(args)
        if len(calls) == fail_at[0]:
            raise OSError(28, "No space left on device")
        return real(*args)

    with monkeypatch.context() as patch:
        patch.setattr(os, failing, full)
        new.save(tmp_path / "counted.npz")  # (the calls a save makes)
    made, saved = len(calls), (path.read_bytes(), handover_path(path).read_text())
    assert made >= 2  # (the hand-over's and the result's)
    for fail_at[0] in range(1, made + 1):
        calls.clear()
        with monkeypatch.context() as patch:
            patch.setattr(os, failing, full)
            with pytest.raises(OSError, match="No space left on device"):
                new.save(path)
        assert not list(tmp_path.glob(".*"))  # (no temporary file left behind)
        assert (path.read_bytes(), handover_path(path).read_text()) == saved, fail_at
    back = GuardedResult.load(path)
    assert back.nit == old.nit and back.handover == old.handover is not None
    assert GuardedResult.load(new.save(path)).nit == new.nit  # (then it saves)


def handover_path(path):
    return path.with_name(path.name + ".rollout.json")


def test_a_hand_over_file_that_is_a_broken_link_is_an_error_naming_it(tmp_path):
    res = guarded_minimize(FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK)
    path = res.save(tmp_path / "run.npz")
    side = tmp_path / "run.npz.rollout.json"
    side.unlink()
    side.symlink_to(tmp_path / "gone.json")
    with pytest.raises(ValueError, match=r"'.*run.npz.rollout.json' is not .*gone.json"):
        GuardedResult.load(path)


@pytest.mark.parametrize(
    "sidecar",
    [
        "{not json",
        "[1, 2]",
        '{"handover": {"reason": "descent"}}',
        '{"roi": {"x": 1}}',
        '{"kept_first": "no"}',
        '{"kept_first": 1}',
        '{"settled_at": "x"}',
        '{"settled_at": true}',
        '{"settled_at": 2.5}',
    ],
)
def test_a_damaged_hand_over_file_is_an_error_naming_it(sidecar, tmp_path):
    res = guarded_minimize(FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK)
    path = res.save(tmp_path / "guarded.npz")
    side = tmp_path / "guarded.npz.rollout.json"
    side.write_text(sidecar)
    with pytest.raises(ValueError, match=r"GuardedResult.load: '.*guarded.npz.rollout.json' is"):
        GuardedResult.load(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(stage=5), r"unknown field\(s\) \['stage'\]"),
        (lambda d: d["handover"].pop("row"), r"handover .* lacks \['row'\]"),
        (
            lambda d: d["handover"].update(iteration="5"),
            r"handover\['iteration'\] = '5'; expected an integer >= 0",
        ),
        (
            lambda d: d["handover"].update(best_f=None),
            r"handover\['best_f'\] = None; expected a number",
        ),
        (lambda d: d["handover"].update(reason=3), r"handover\['reason'\] = 3; expected a string"),
        (lambda d: d.update(handover=[1]), r"handover = \[1\]; expected an object"),
        (
            lambda d: d["roi"].update(lfso_gradients=-1),
            r"roi\['lfso_gradients'\] = -1; expected an integer >= 0 or null",
        ),
        (
            lambda d: d["roi"].update(sources={"target": 1}),
            r"roi\['sources'\] = .*; expected an object of strings",
        ),
        (lambda d: d["handover"].update(row=10**6), r"handover has .* row = 1000000,"),
        (
            lambda d: d["handover"].update(best_row=d["handover"]["row"]),
            r"handover has .*; expected best_row < row",
        ),
        (
            lambda d: d["handover"].update(iteration=10**6),
            r"handover has .* iteration <= nit = \d+",
        ),
        (lambda d: d.update(settled_at=-3), r"settled_at must be an iteration 0\.\.nit"),
        (lambda d: d.update(settled_at=10**6), r"settled_at must be an iteration 0\.\.nit"),
        (
            lambda d: d["roi"].update(current_stalled=0),
            r"roi\['current_stalled'\] = 0; expected true or false",
        ),
    ],
)
def test_a_hand_edited_hand_over_file_names_the_field_and_the_value(edit, message, tmp_path):
    planted = FunctionModel(f, g, TurnsWrong(4))
    res = guarded_minimize(planted, X0, fallback=FALLBACK, safeguard=False)
    assert res.handover is not None
    res.roi = return_on_investment(res.history, tuning=TuningBudget(100), current=res.history)
    path = res.save(tmp_path / "guarded.npz")
    side = tmp_path / "guarded.npz.rollout.json"
    saved = json.loads(side.read_text())
    assert GuardedResult.load(path).handover == res.handover  # (as saved, it loads)
    edit(saved)
    side.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"'.*guarded.npz.rollout.json' is not .*: " + message):
        GuardedResult.load(path)


def test_a_folder_at_the_hand_over_file_is_an_error_naming_it(tmp_path):
    res = guarded_minimize(FunctionModel(f, g, TurnsWrong(4)), X0, fallback=FALLBACK)
    path = res.save(tmp_path / "guarded.npz")
    side = tmp_path / "guarded.npz.rollout.json"
    side.unlink()
    side.mkdir()
    with pytest.raises(ValueError, match=r"'.*guarded.npz.rollout.json' is not .* a folder"):
        GuardedResult.load(path)


def test_cli_rollout_no_go_and_its_options(tmp_path, capsys):
    out = tmp_path / "r.html"
    args = ["rollout", "power_sum-p2", "--current", "gd", "step=1e-3", "--report", str(out)]
    strict = ["--max-gradient-ratio", "1e-9", "--allow-risk", "oscillation", "--pilot-iter", "50"]
    assert main([*args, *strict]) == 1
    text = capsys.readouterr().out
    assert "lfso's gradients to the target <= 1e-09 x the current rule's" in text
    assert "among descent, oracle, collapse, stagnation, non_finite, gradient fires" in text
    assert "NO-GO" in text and "not run (no-go)" in text and "NO-GO" in out.read_text()
    assert main([*args, "--threshold", "desc=1"]) == 2
    assert "unknown guard threshold 'desc'" in capsys.readouterr().err


def test_a_fallback_that_cannot_start_leaves_the_best_point():
    """f turns NaN for good (a simulation that broke): the guard trips on the non-finite
    value, and the fallback, whose first evaluation at the best point is NaN too, cannot
    start; the run returns that best point, not the fallback's ValueError."""
    calls = [0]

    def f(x):
        calls[0] += 1
        return math.nan if calls[0] > 8 else float(np.sum(x**4))

    res = guarded_minimize(
        f,
        np.ones(3),
        grad=lambda x: 4 * x**3,
        smoothness=lambda x, R: 12 * (np.max(np.abs(x)) + R) ** 2,
        fallback={"method": "gd", "step": 1e-2},
        safeguard=False,  # (the bare rule stops at the first NaN)
    )
    assert res.handover is not None and res.handover.reason == "non_finite"
    assert res.kept_first and len(res.stages) == 1 and res.status is Status.NON_FINITE
    assert math.isfinite(res.fun) and res.fun < 3.0 and "could not start" in res.message
    np.testing.assert_array_equal(res.x, res.stages[0].x)


def test_a_fallback_that_cannot_start_after_an_oracle_error_is_not_raised():
    """The oracle breaks its contract at the first step (the guard handles its exception:
    the first stage ends ``RAISED``), and f is NaN when the fallback evaluates the best
    point again: the run returns that point, with nothing raised, so its status is the
    guard's stop of that stage, ``CALLBACK_STOP``, not ``RAISED`` (whose exception
    propagates)."""
    calls = [0]

    def f(x):
        calls[0] += 1
        return math.nan if calls[0] > 2 else float(x @ x)

    res = guarded_minimize(
        f,
        np.array([1.0, 2.0]),
        grad=lambda x: 2 * x,
        smoothness=lambda x, R: -1.0,
        fallback={"method": "gd", "step": 0.1},
    )
    assert res.handover is not None and res.handover.reason == "oracle_error"
    assert res.kept_first and res.stages[0].status is Status.RAISED
    assert res.status is Status.CALLBACK_STOP and not res.success
    assert "could not start" in res.message and res.fun == 5.0


def test_a_first_stage_kept_after_an_oracle_error_is_not_raised():
    """The oracle breaks its contract at once (the guard handles its exception), and the
    fallback converges to a higher local minimum: the first stage's point is kept, with
    nothing raised, so its status is the guard's stop of that stage, ``CALLBACK_STOP``,
    as for a stage the guard stopped on a risk indicator, not ``RAISED``."""

    def f(x):
        return float(-np.exp(-(x[0] ** 2)) - 0.5 * np.exp(-((x[0] - 5) ** 2) / 4))

    def g(x):
        return np.array(
            [2 * x[0] * np.exp(-(x[0] ** 2)) + 0.25 * (x[0] - 5) * np.exp(-((x[0] - 5) ** 2) / 4)]
        )

    res = guarded_minimize(
        f,
        np.array([0.3]),
        grad=g,
        smoothness=lambda x, R: -1.0,
        fallback={"method": "gd", "step": 5.0},
        max_iter=2000,
    )
    assert res.handover is not None and res.handover.reason == "oracle_error"
    first, second = res.stages
    assert first.status is Status.RAISED and second.success and second.fun > first.fun
    assert res.kept_first and res.fun == first.fun
    assert res.status is Status.CALLBACK_STOP and not res.success
    assert "RAISED" not in res.message and "CALLBACK_STOP" in res.message


@pytest.mark.parametrize("divergence", [20.0, None])
def test_a_first_stage_that_diverged_hands_over_unless_divergence_is_off(divergence):
    """gd with a step past 1/L: f = 5 * 1.0201^k rises to 98.9 in 150 steps, above the
    run's own divergence test (f0 + 10 |f0| = 55), below this guard's (f0 + 20 |f0| = 105);
    the other indicators are off. The run ends DIVERGED: a failure the guard hands over,
    unless the user turned divergence off."""
    off = {name: 0 for name in DEFAULT_THRESHOLDS if name != "divergence"}
    guard = Guard(off, divergence=divergence)
    res = guarded_minimize(
        lambda x: float(x @ x),
        np.ones(5),
        grad=lambda x: 2 * x,
        method="gd",
        step=1.005,
        fallback={"method": "armijo"},
        max_iter=150,
        guard=guard,
    )
    assert res.stages[0].status is Status.DIVERGED and res.fun == 5.0
    if divergence is None:
        assert res.handover is None and res.status is Status.DIVERGED
    else:
        assert res.handover is not None and res.handover.reason == "diverged"
        assert "f = 98.9" in res.handover.detail and res.status is not Status.DIVERGED


@pytest.mark.parametrize("fallback", [{"method": "gd", "step": 1e-3}, {"method": "scipy:L-BFGS-B"}])
def test_an_exception_in_the_fallback_carries_the_whole_guarded_run(fallback):
    """A callback that raises during the fallback: the exception's ``.result`` is the
    guarded run so far (both stages, the hand-over), not the fallback's run alone."""

    def stop_in_fallback(r):
        if r.method in ("gd", fallback["method"]) and r.nit >= 5:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here") as info:
        guarded_minimize(
            lambda x: np.sum(x**4),
            np.ones(3),
            grad=lambda x: 4 * x**3,
            smoothness=lambda x, R: 1e-3 * (12 * (np.max(np.abs(x)) + R) ** 2),
            safeguard=False,
            fallback=fallback,
            callback=stop_in_fallback,
        )
    res = info.value.result
    assert isinstance(res, GuardedResult) and res.handover is not None
    assert res.method == f"lfso -> {fallback['method']}" and len(res.stages) == 2
    first, second = res.stages
    assert res.status is Status.RAISED and second.status is Status.RAISED
    assert res.nit == first.nit + second.nit and first.nit >= 1
    assert len(res.history) == len(first.history) + len(second.history)
    assert res.fun <= first.fun
    with pytest.raises(RuntimeError, match="stop here") as info:  # (in the first stage)
        guarded_minimize(
            PowerSum(2),
            np.ones(3),
            fallback=FALLBACK,
            callback=stop_in_fallback,
            method="gd",
            step=1e-2,
        )
    res = info.value.result
    assert isinstance(res, GuardedResult) and res.handover is None and len(res.stages) == 1
    assert res.status is Status.RAISED and res.nit == res.stages[0].nit >= 5


def test_rollout_passes_a_callback_to_the_pilot_and_the_guarded_run(tmp_path):
    seen = []
    out = rollout(
        PowerSum(2),
        np.ones(4),
        {"method": "gd", "step": 1e-2},
        pilot_iter=50,
        max_iter=500,
        tol=1e-6,
        tuning=None,
        callback=lambda r: seen.append(r.method),
        report=tmp_path / "r.html",
    )
    assert out.go and out.result is not None
    # the pilot's current rule, the pilot's lfso, then the guarded run's lfso
    assert seen[0] == "gd" and "lfso" in seen and seen.count("lfso") > out.pilot.candidate.nit
    assert "pilot: lfso" in out.report.read_text()  # the live page still watches
    with pytest.raises(TypeError, match=r"callback must be callable \(or callback a list"):
        rollout(PowerSum(2), np.ones(4), {"method": "gd", "step": 1e-2}, callback=3)


@pytest.mark.parametrize("current", [{"method": "gd", "step": 1e-2}, {"method": "scipy:L-BFGS-B"}])
def test_the_stages_take_a_list_of_callbacks_as_minimize_does(current):
    # (guarded_minimize called each item of the list as the callback: "'list' object is not
    # callable"; SciPy's L-BFGS-B in the pilot refused it; rollout refused it)
    model, x0 = PowerSum(2), np.ones(4)
    firsts, seconds = [], []
    both = [lambda r: firsts.append(r.method), lambda r: seconds.append(r.method)]
    ev = pilot(model, x0, current, max_iter=20, callback=both)
    assert firsts == seconds and firsts[0] == current["method"] and "lfso" in firsts
    firsts.clear(), seconds.clear()
    res = guarded_minimize(model, x0, fallback=current, callback=both)
    assert firsts == seconds == ["lfso"] * res.nit
    firsts.clear(), seconds.clear()
    out = rollout(model, x0, current, pilot_iter=20, tuning=None, callback=both)
    assert firsts == seconds and len(firsts) > out.result.nit
    assert ev.go and out.go
    with pytest.raises(TypeError, match=r"callback\[1\] must be callable"):
        guarded_minimize(model, x0, fallback=current, callback=[print, 3])
    with pytest.raises(TypeError, match="on_handover must be callable or None, got on_handover=3"):
        guarded_minimize(model, x0, fallback=current, on_handover=3)


# --------------------------------------------------------------------------- SciPy's L-BFGS-B

LBFGS = {"method": "scipy:L-BFGS-B"}


def _scipy_own(x0, threshold, max_iter):
    """SciPy's L-BFGS-B as a SciPy user calls it on (f, g), stopped at ``||g|| <=
    threshold`` by a callback, with every iterate's ``(f, calls so far)``."""
    from scipy.optimize import minimize as scipy_minimize

    calls, seen = [], []

    def fun(x):
        calls.append(x.copy())
        return f(x), g(x)

    def stop(intermediate_result):
        seen.append((intermediate_result.fun, len(calls)))
        if np.linalg.norm(g(intermediate_result.x)) <= threshold:
            raise StopIteration

    options = {"maxiter": max_iter, "maxfun": max_iter, "gtol": 0.0, "ftol": 0.0}
    res = scipy_minimize(fun, x0, jac=True, method="L-BFGS-B", callback=stop, options=options)
    return res, len(calls), seen


def test_rollout_runs_scipys_lbfgs_as_the_current_rule_and_counts_its_calls(tmp_path):
    seen = []
    ro = rollout(
        f,
        X0,
        LBFGS,
        grad=g,
        smoothness=true_oracle,
        method="lfso-lbfgs",
        pilot_iter=40,
        max_iter=200,
        tol=1e-10,
        tuning=TuningBudget(0),
        force=True,
        callback=lambda r: seen.append(r.method),
        report=tmp_path / "r.html",
    )
    assert ro.result is not None and ro.result.success and ro.roi is not None
    current = ro.pilot.current
    threshold = 1e-10 * np.linalg.norm(g(X0))
    own, calls, _ = _scipy_own(X0, threshold, 40)  # the pilot's call
    assert current.method == "scipy:L-BFGS-B" and current.success
    assert (
        (current.nfev, current.njev, current.nit)
        == (own.nfev, own.njev, own.nit)
        == (
            calls,
            calls,
            own.nit,
        )
    )
    assert current.fun == own.fun and np.array_equal(current.x, own.x)
    assert len(current.history) == current.nit + 1 and current.history.njev[-1] == calls
    # the return on investment reads SciPy's calls at the first iterate at the target
    own, calls, iterates = _scipy_own(X0, threshold, 200)
    reached = [n for fun, n in iterates if fun <= ro.roi.target]
    assert ro.roi.current_gradients == reached[0] and ro.roi.tuning_gradients == 0
    assert "SciPy's L-BFGS-B" in ro.roi.sources["current"]
    text = "\n".join(ro.lines())
    assert f"current rule (scipy:L-BFGS-B): CONVERGED, {ro.pilot.current.nit} iterations" in text
    assert seen[0] == "scipy:L-BFGS-B" and seen.count("scipy:L-BFGS-B") == current.nit
    page = ro.report.read_text()
    assert "current rule scipy:L-BFGS-B" in page and "SciPy's L-BFGS-B (scipy:L-BFGS-B)" in page


def test_scipys_lbfgs_takes_over_as_the_fallback():
    res = guarded_minimize(
        FunctionModel(f, g, TurnsWrong(4)), X0, fallback=LBFGS, tol=1e-10, safeguard=False
    )
    assert res.handover is not None and res.success and res.method == "lfso -> scipy:L-BFGS-B"
    first, second = res.stages
    threshold = 1e-10 * np.linalg.norm(g(X0))  # the stopping test of both stages
    own, calls, _ = _scipy_own(first.x, threshold, 10_000 - first.nit)
    assert second.method == "scipy:L-BFGS-B" and (second.nfev, second.njev) == (calls, calls)
    assert (own.nfev, own.nit, own.fun) == (second.nfev, second.nit, second.fun)
    assert res.nfev == first.nfev + second.nfev and res.history.njev[-1] == res.njev
    assert res.grad_norm <= threshold


@pytest.mark.parametrize("fallback", [LBFGS, {"method": "gd", "step": 1e-3}])
def test_ctrl_c_in_the_fallback_ends_the_guarded_run_interrupted(fallback):
    handed = []  # (the fallback's steps count on from the first stage's: its 3rd step)

    def ctrl_c(intermediate_result):
        if handed and intermediate_result.nit == handed[0].iteration + 3:
            raise KeyboardInterrupt

    model = FunctionModel(f, g, TurnsWrong(4))
    try:
        res = guarded_minimize(
            model,
            X0,
            fallback=fallback,
            tol=1e-10,
            callback=ctrl_c,
            safeguard=False,
            on_handover=lambda handover, first: handed.append(handover),
        )
    except KeyboardInterrupt:  # (a run that lost its best point: no result)
        pytest.fail("the KeyboardInterrupt escaped the guarded run")
    first, second = res.stages
    assert res.handover is not None and second.nit == 3
    assert res.status is second.status is Status.INTERRUPTED and not res.success
    assert res.fun <= first.fun and res.fun == f(res.x)


@pytest.mark.parametrize("fallback", [LBFGS, {"method": "armijo"}])
def test_ctrl_c_as_the_fallback_starts_ends_the_guarded_run_at_the_best_point(fallback):
    armed = []  # (set at the hand-over: the fallback's first evaluation raises)

    def fun(x):
        if armed:
            raise KeyboardInterrupt
        return f(x)

    model = FunctionModel(fun, g, TurnsWrong(4))
    try:
        res = guarded_minimize(
            model,
            X0,
            fallback=fallback,
            tol=1e-10,
            safeguard=False,
            on_handover=lambda handover, first: armed.append(handover),
        )
    except KeyboardInterrupt:  # (the first stage's best point lost with it)
        pytest.fail("the KeyboardInterrupt escaped the guarded run")
    (first,) = res.stages
    assert armed and res.handover is armed[0] and res.kept_first
    assert res.status is Status.INTERRUPTED and not res.success and "interrupted" in res.message
    assert res.fun == first.fun == f(res.x) and np.array_equal(res.x, first.x)


@pytest.mark.parametrize("max_iter", [5, 6, 9])  # (the guard trips at iteration 5)
def test_max_iter_bounds_both_stages_with_scipys_lbfgs_as_the_fallback(max_iter):
    model = FunctionModel(f, g, TurnsWrong(4))
    res = guarded_minimize(model, X0, fallback=LBFGS, tol=1e-10, max_iter=max_iter, safeguard=False)
    first, second = res.stages
    assert res.handover is not None and res.nit <= max_iter
    assert second.nfev <= max_iter - first.nit  # (SciPy's calls too)
    assert res.status is Status.MAX_ITER and res.fun == f(res.x)


@pytest.mark.parametrize(
    ("rule", "error", "fragments"),
    [
        (
            {"method": "L-BFGS-B"},
            ValueError,
            ["current: unknown method 'L-BFGS-B'", "choose from", "gd", "lfso", "scipy:L-BFGS-B"],
        ),
        ({"method": "scipy:BFGS"}, ValueError, ["unknown method 'scipy:BFGS'", "scipy:L-BFGS-B"]),
        (
            {"method": "scipy:L-BFGS-B", "maxcor": 5},
            ValueError,
            ["'scipy:L-BFGS-B'", "takes no options", "maxcor"],
        ),
        ("scipy:L-BFGS-B", TypeError, ["{'method': 'scipy:L-BFGS-B'}", "'scipy:L-BFGS-B'"]),
    ],
)
def test_a_rule_outside_the_accepted_names_is_an_error_listing_them(rule, error, fragments):
    seen = []
    for run in (rollout, pilot):
        with pytest.raises(error) as raised:
            run(PowerSum(2), np.ones(3), rule, callback=seen.append)
        for fragment in fragments:
            assert fragment in str(raised.value), (fragment, str(raised.value))
    assert seen == []  # before anything ran


def test_rollout_refuses_a_step_grid_for_scipys_lbfgs_before_running():
    seen = []
    with pytest.raises(ValueError, match=r"'scipy:L-BFGS-B' pass tuning=TuningBudget") as raised:
        rollout(PowerSum(2), np.ones(3), LBFGS, callback=seen.append)
    assert "(0 where it was not tuned) or tuning=None" in str(raised.value) and seen == []


def test_cli_rollout_takes_scipys_lbfgs_as_the_current_rule(tmp_path, capsys):
    args = ["rollout", "power_sum-p2", "--current", "scipy:L-BFGS-B", "--method", "lfso-lbfgs"]
    out = tmp_path / "r.html"
    code = main([*args, "--tuning-gradients", "0", "--report", str(out)])
    text = capsys.readouterr().out
    assert code in (0, 1) and out.is_file()
    assert "current rule (scipy:L-BFGS-B): CONVERGED" in text and "SciPy's L-BFGS-B" in text
    assert main([*args[:2], "--current", "scipy:BFGS", "--report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--current scipy:BFGS: unknown method 'scipy:BFGS'" in err and "scipy:L-BFGS-B" in err


@pytest.mark.parametrize(
    ("run", "argument"),
    [
        (lambda: pilot(PowerSum(2), np.ones(3), {"method": "armijo"}, rows=2), "rows"),
        (
            lambda: rollout(
                lambda x: x @ x,
                np.ones(3),
                {"method": "gd", "step": 0.1},
                grad=lambda x: 2 * x,
                pilot_rows=0.5,
                tuning=None,
            ),
            "pilot_rows",
        ),
    ],
)
def test_a_pilot_on_rows_of_a_model_without_rows_says_so(run, argument):
    with pytest.raises(TypeError, match=rf"needs a row model.*got \w+; .*{argument}=None"):
        run()


@pytest.mark.parametrize("fallback", [LBFGS, {"method": "armijo"}])
def test_a_logger_on_a_guarded_run_writes_the_guarded_runs_history(fallback, tmp_path):
    """The fallback's intermediate results carry the guarded run's counters and history
    (the fallback's own restarted at iteration 1: a log wrote iteration 1 twice, and its
    ``njev`` and time went back)."""
    import csv

    from lfso.monitor import CSVLogger

    path, seen = tmp_path / "run.csv", []
    with CSVLogger(path) as log:
        res = guarded_minimize(
            lambda x: np.sum(x**4),
            np.ones(3),
            grad=lambda x: 4 * x**3,
            smoothness=lambda x, R: 1e-3 * 12 * (np.max(np.abs(x)) + R) ** 2,
            safeguard=False,
            fallback=fallback,
            tol=1e-6,
            callback=[log, seen.append],
        )
    second = res.stages[1]
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == list(range(1, res.nit + 1))
    # every row but the stages' starts (row 0 of each), as the result's history has them
    h, start = res.history, res.handover.row
    logged = [k for k in range(1, len(h)) if k != start]
    for column in ("njev", "nfev", "time"):
        assert [float(r[column]) for r in rows] == pytest.approx(h[column][logged]), column
    last = seen[-1]
    assert (last.nit, last.njev, last.nfev) == (res.nit, res.njev, res.nfev)
    assert last.method == second.method and len(last.history) == len(h)
    assert np.array_equal(last.history.njev, h.njev) and len(seen) == res.nit
