"""Risk indicators fire on runs built to trigger them and stay quiet on healthy runs;
the ready-made callbacks and the progress bar."""

from __future__ import annotations

import csv
import gc
import json
import math
import stat
import warnings

import numpy as np
import pytest

import lfso
from lfso.models import FunctionModel, L0L1Smooth, LpRegression, PowerSum
from lfso.monitor import (
    RISKS,
    CSVLogger,
    DivergenceStop,
    EarlyStopping,
    JSONLinesLogger,
    RiskMonitor,
    RiskWarning,
)
from lfso.steps import Move, StepRule


class ScheduledStep(StepRule):
    """A test rule: x+ = x - t_k g with a prescribed schedule of steps."""

    name = "scheduled"
    monotone = True

    def __init__(self, schedule):
        self.schedule = schedule

    def init(self, objective, x, evaluation):
        return 0

    def step(self, objective, x, evaluation, k):
        t = self.schedule(k)
        return Move(x - t * evaluation.grad, t), k + 1


def quadratic():
    return LpRegression(np.diag([1.0, 2.0, 3.0]), np.ones(3), 1)  # L = 18


def _run(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = lfso.minimize(*args, **kwargs)
    risk_warnings = [w for w in caught if issubclass(w.category, RiskWarning)]
    return res, risk_warnings


def _fired(res, name):
    bit = RISKS[name][0]
    return name in res.risks and np.any(res.history.risk.astype(int) & bit)


def test_descent_fires_when_a_fixed_step_is_too_large():
    res, caught = _run(quadratic(), np.zeros(3), method="gd", step=0.15, max_iter=30)
    assert _fired(res, "descent") and res.risks["descent"]["first"] == 1
    assert any(
        "descent" in str(w.message) and "step is too large" in str(w.message) for w in caught
    )


def _float32_rows(seed=0, n=40, d=5):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)).astype(np.float32)
    return A, A @ rng.standard_normal(d).astype(np.float32), rng


@pytest.mark.parametrize(
    "kind, p, noise",
    [
        ("lp", 1.0, 0.0),
        ("lp", 2.0, 0.0),
        ("lp", 2.0, 0.1),
        ("composite", 2.0, 0.0),
        ("composite", 2.0, 0.1),
        ("cauchy", 0, 0.1),
    ],
)
@pytest.mark.parametrize("seed", range(2))
def test_descent_allows_the_rounding_of_a_float32_sum_of_rows(kind, p, noise, seed):
    """At convergence f's successive values differ by their rounding (about n eps of a sum
    of n rows, and far more where the residuals are at rounding level): not a rise."""
    A, b, rng = _float32_rows(seed)
    b = b + np.float32(noise) * rng.standard_normal(40).astype(np.float32)
    model = {
        "lp": lambda: LpRegression(A, b, p),
        "composite": lambda: lfso.models.CompositeLeastSquares(A, b, p),
        "cauchy": lambda: lfso.models.CauchyRegression(A, b),
    }[kind]()
    for method in ("lfso", "lfso-lbfgs"):
        res = lfso.minimize(model, np.zeros(5, np.float32), method=method, max_iter=600, tol=0)
        assert "descent" not in res.risks, (method, res.risks)


def test_descent_still_fires_on_a_slow_float32_rise():
    """A fixed step just past 2 / L: f rises by 4e-4 of itself per step, well above its
    rounding."""
    A, b, _ = _float32_rows()
    top = 2.0 * np.linalg.norm(A.astype(np.float64), 2) ** 2
    model = LpRegression(A, b, 1.0)
    with pytest.warns(RiskWarning, match="descent"):
        res = lfso.minimize(
            model, np.zeros(5, np.float32), method="gd", step=2.0002 / top, max_iter=300, tol=0
        )
    assert res.risks["descent"]["count"] > 250


def test_descent_still_fires_on_a_slow_float32_softmax_rise():
    """Softmax regression has no value error bound (the allowance is the relative
    rounding of f alone): a fixed step of 2.04 / lambda_max from the minimiser moved along
    the Hessian's top eigenvector multiplies that displacement by -1.04 per step, and f
    rises by 6e-5 to 1e-4 of itself per step (float32: hundreds of its ulps)."""
    from lfso.models import SoftmaxRegression

    rng = np.random.default_rng(19)
    X, y = rng.standard_normal((60, 6)), rng.integers(0, 3, 60)
    exact = SoftmaxRegression(X, y, 3, l2=0.1)
    best = lfso.minimize(exact, np.zeros(exact.dim), tol=1e-12, monitor=False).x
    h = 1e-6
    hessian = np.array(
        [(exact.grad(best + h * e) - exact.grad(best - h * e)) / (2 * h) for e in np.eye(exact.dim)]
    )
    values, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    model = SoftmaxRegression(X.astype(np.float32), y, 3, l2=0.1)
    x0 = (best + 0.05 * vectors[:, -1]).astype(np.float32)
    with pytest.warns(RiskWarning, match="descent"):
        res = lfso.minimize(model, x0, method="gd", step=2.04 / values[-1], max_iter=40, tol=0)
    assert res.risks["descent"]["count"] >= 35


def test_descent_allows_the_rounding_of_a_model_coarser_than_x():
    """A model whose value is computed in float32 at a float64 point says so
    (``unit_roundoff``): f's successive values near its minimum differ by float32's
    rounding, which a fixed step below 2 / L does not make a rise."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((300, 50)), 3.0 * rng.standard_normal(300)
    A32, b32 = A.astype(np.float32), b.astype(np.float32)

    def fun(x):
        r = A32 @ x.astype(np.float32) - b32
        return float(r @ r)

    model = FunctionModel(fun, lambda x: 2.0 * A.T @ (A @ x - b))
    model.unit_roundoff = float(np.finfo(np.float32).eps)
    step = 0.5 / np.linalg.norm(A, 2) ** 2
    res = lfso.minimize(model, np.zeros(50), method="gd", step=step, max_iter=200, tol=0)
    assert res.fun < 0.99 * fun(np.zeros(50)) and "descent" not in res.risks, res.risks


def _exact_value(name, A, b, x, p):
    """f at float x in exact residuals (rationals) and 50-digit arithmetic."""
    from fractions import Fraction

    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rows = [
        sum(Fraction(float(a)) * Fraction(float(v)) for a, v in zip(row, x, strict=True))
        - Fraction(float(c))
        for row, c in zip(A, b, strict=True)
    ]
    r = [mpmath.mpf(q.numerator) / q.denominator for q in rows]
    if name == "lp":
        return sum(abs(t) ** (2 * p) for t in r)
    if name == "composite":
        return sum(t * t for t in r) ** p
    return sum(mpmath.log1p(t * t) for t in r) / (2 * len(r))  # (Cauchy, c = 1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "name, p",
    [("lp", 1.0), ("lp", 1.5), ("lp", 2.0), ("composite", 1.0), ("composite", 2.5), ("cauchy", 0)],
)
def test_value_error_bounds_the_rounding_of_f(seed, name, p):
    """``value_error`` of the row models against f in extended precision, float32 data, at
    a random point and at a least-squares fit (residuals at rounding level)."""
    A, b, rng = _float32_rows(seed, n=12, d=4)
    make = {
        "lp": lambda: LpRegression(A, b, p),
        "composite": lambda: lfso.models.CompositeLeastSquares(A, b, p),
        "cauchy": lambda: lfso.models.CauchyRegression(A, b),
    }
    model = make[name]()
    for x in (rng.standard_normal(4), np.linalg.lstsq(A, b, rcond=None)[0]):
        x = x.astype(np.float32)
        ev = model.evaluate(x, bound=False)
        exact = _exact_value(name, A, b, x, p)
        assert abs(ev.value - exact) <= model.value_error(x, ev)


@pytest.mark.parametrize(
    "name, dtype, residual",
    [("lp", np.float32, 1e-6), ("lp", np.float64, 1e-25), ("composite", np.float64, 1e-25)],
)
def test_value_error_covers_terms_that_underflow(name, dtype, residual):
    """``|r|^16`` of 1e-96 is 0 in float32 (1e-400 in float64): the value's rounding
    bound read ``F = 0`` as exact to the residuals' rounding (1e-196 for ``LpRegression``
    in float32, a million million times below the exact ``f``; 0 for a float64
    ``CompositeLeastSquares``, whose ``f`` is 6e-400)."""
    A = np.array([[1.0], [0.5]], dtype=dtype)
    b = np.zeros(2, dtype=dtype)
    x = np.array([residual], dtype=dtype)
    make = {"lp": LpRegression, "composite": lfso.models.CompositeLeastSquares}
    model = make[name](A, b, 8.0)
    ev = model.evaluate(x, bound=False)
    assert ev.value == 0.0
    exact = _exact_value(name, A, b, x, 8.0)
    assert exact > 0
    assert abs(ev.value - exact) <= model.value_error(x, ev)


def _exact_softmax_value(X, y, W, l2, intercept):
    """Softmax regression's f at float ``W`` in exact logits (rationals) and 50-digit
    arithmetic."""
    from fractions import Fraction

    mpmath = pytest.importorskip("mpmath")
    rows = np.concatenate([X, np.ones((len(X), 1))], axis=1) if intercept else X
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for row, label in zip(rows.tolist(), y.tolist(), strict=True):
            z = [
                sum(Fraction(a) * Fraction(w) for a, w in zip(row, col, strict=True))
                for col in W.T.tolist()
            ]
            z = [mpmath.mpf(q.numerator) / q.denominator for q in z]
            total += mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z)) - z[label]
        ridge = W[:-1] if intercept else W
        squares = mpmath.fsum(mpmath.mpf(v) ** 2 for v in ridge.ravel().tolist())
        return total / len(rows) + mpmath.mpf(l2) / 2 * squares


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3, 1e5])
@pytest.mark.parametrize("seed", range(3))
def test_softmax_value_error_bounds_the_rounding_of_f(seed, scale, dtype):
    """``SoftmaxRegression.value_error`` against f in extended precision, at weights from 1
    to 1e5 (confident rows, whose losses are far below the logits' rounding, and rows
    whose logits spread by 1e5), with and without intercepts and the ridge term; it is
    also not loose by orders of magnitude at modest weights."""
    rng = np.random.default_rng(seed)
    n, d, K = 15, 3, 4
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, K, n)
    for intercept, l2 in ((True, 0.0), (False, 0.1), (True, 1e-3)):
        model = lfso.models.SoftmaxRegression(X, y, K, l2=l2, fit_intercept=intercept)
        W = (rng.standard_normal((model.n_features, K)) * scale).astype(dtype)
        ev = model.evaluate(W.ravel(), bound=False)
        exact = _exact_softmax_value(X.astype(np.float64), y, W.astype(np.float64), l2, intercept)
        error = abs(float(ev.value) - float(exact))
        bound = model.value_error(W.ravel(), ev)
        assert error <= bound, (intercept, l2, float(ev.value), float(exact), bound)
        if scale == 1.0:  # (within a few thousand ulps of f, where the rounding is ulps)
            assert bound <= 1e4 * float(np.finfo(dtype).eps) * abs(float(exact)), bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [1e2, 1e4, 1e6])
def test_softmax_value_error_covers_logits_that_cancel(big, dtype):
    """Two nearly equal features weighted by ``+big`` and ``-big``: each logit is a small
    difference of large products, off by about ``u big`` (float32 at ``big = 1e4``: ``f``
    off by 1e-4, hundreds of ulps), which the logits' term ``2 dz`` covers."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal(15)
        near = a * (1.0 + 1e-3 * rng.standard_normal(15))
        X = np.stack([a, near, rng.standard_normal(15)], axis=1).astype(dtype)
        y = rng.integers(0, 4, 15)
        model = lfso.models.SoftmaxRegression(X, y, 4)
        v = rng.standard_normal(4)
        W = np.stack([big * v, -big * v, *rng.standard_normal((2, 4))]).astype(dtype)
        ev = model.evaluate(W.ravel(), bound=False)
        exact = _exact_softmax_value(X.astype(np.float64), y, W.astype(np.float64), 0.0, True)
        assert abs(float(ev.value) - float(exact)) <= model.value_error(W.ravel(), ev)


def test_oracle_fires_when_the_oracle_is_too_small():
    model = quadratic()
    wrong = FunctionModel(model.value, model.grad, 0.2 * model)  # claims L = 3.6 < 18
    res, caught = _run(wrong, np.zeros(3), method="lfso", max_iter=20, tol=0.0)
    assert _fired(res, "oracle")
    assert any("check_oracle" in str(w.message) for w in caught)


@pytest.mark.parametrize("radius", ["tight", lambda x: 1.0])
@pytest.mark.parametrize("loose", [1e6, 2.0, 1e20])
def test_max_iter_and_stalled_name_an_oracle_far_above_the_curvature(radius, loose):
    """An oracle ``loose`` times the curvature: at 1e6 the run crawls, and ``MAX_ITER``
    says the oracle, not ``max_iter``, is what slows it; at 1e20 every step is below the
    rounding of ``x`` and ``STALLED`` says the oracle, not the dtype, holds it there; at 2
    it says nothing more."""
    Q = np.diag(np.linspace(1.0, 10.0, 8))
    res = lfso.minimize(
        lambda x: 0.5 * x @ Q @ x,
        np.ones(8),
        grad=lambda x: Q @ x,
        smoothness=lambda x, R: 10.0 * loose,
        method="lfso",
        certificate="ball",
        radius=radius,
        max_iter=1100 if loose > 1e16 else 20,
        tol=0.0 if loose < 1e16 else 1e-8,
        monitor="quiet",
    )
    assert res.status is (lfso.Status.STALLED if loose > 1e16 else lfso.Status.MAX_ITER)
    named = "oracle's L" in res.message and "smoothness='auto'" in res.message
    assert named == (loose > 1e3)


@pytest.mark.parametrize(
    "options", [{"method": "lfso-accel"}, {"method": "lfso", "certificate": "segment"}]
)
@pytest.mark.parametrize("loose", [1e6, 2.0, 1e20])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_max_iter_names_a_loose_oracle_for_momentum_and_segment_steps(options, loose, library):
    """Steps that are not ``x - t g`` from the last iterate (momentum), or whose ``L``
    bounds the curvature along the step alone (a segment's), are measured along
    themselves: an oracle 1e6 times the curvature is named as what slows the run, as for
    the ball's gradient steps, and one 1e20 times it, whose steps are lost below the
    rounding of ``x``; one 2 times it is not. On PyTorch tensors too (the curvatures kept
    on the tensors' device and fetched at the end), where nothing was named."""
    Q = np.diag(np.linspace(1.0, 10.0, 10))
    x0 = np.full(10, 3.0)
    if library == "torch":
        torch = pytest.importorskip("torch")
        Q, x0 = torch.from_numpy(Q), torch.from_numpy(x0)
    res = lfso.minimize(
        lambda x: 0.5 * x @ Q @ x,
        x0,
        grad=lambda x: Q @ x,
        smoothness=lambda x, R: 10.0 * loose,
        max_iter=1100 if loose > 1e16 else 30,
        tol=0.0 if loose < 1e16 else 1e-8,
        monitor="quiet",
        **options,
    )
    assert res.status in (lfso.Status.MAX_ITER, lfso.Status.STALLED)
    named = "oracle's L" in res.message and "smoothness='auto'" in res.message
    assert named == (loose > 1e3)


@pytest.mark.parametrize(
    ("dtype", "scale"),
    [(np.float64, 1e-300), (np.float64, 1e-200), (np.float32, 1e-30), (np.float32, 1e-20)],
)
def test_oracle_audit_of_tiny_gradients(dtype, scale):
    """A quadratic scaled by ``scale`` (f about 1e-300, gradients about 1e-300) with its
    exact L: the audit's dot product of two gradients would underflow to 0 (the secant
    then looks as long as the gradient, and the exact L too small); it is scaled first. An
    L ten times too small is still caught there."""
    H = np.diag([1.0, 2.0, 3.0]).astype(dtype)

    def fun(x):
        return float(dtype(scale) * (dtype(0.5) * (x - 1) @ (H @ (x - 1))))

    def grad(x):
        return (dtype(scale) * (H @ (x - 1))).astype(dtype)

    x0 = np.zeros(3, dtype)
    for claimed, fires in [(3.0 * scale, False), (0.3 * scale, True)]:
        res, _ = _run(
            fun,
            x0,
            grad=grad,
            smoothness=lambda x, R, L=claimed: L,
            safeguard=False,
            method="lfso",
            max_iter=60,
            tol=0.0,
        )
        assert ("oracle" in res.risks) is fires, (claimed, res.risks)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_exact_fit_run_past_convergence_is_quiet(dtype):
    """Least squares with an exact solution, run at tol=0 for hundreds of iterations past
    convergence: f (about 1e-28 from 1e4 in float64) and its gradient are the rounding of
    residuals that cancel, so f goes up and down, the secants and the steps are noise.
    Only ``stagnation`` says so; no rise, oracle, collapse or oscillation."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 50)).astype(dtype)
    b = (A @ rng.standard_normal(50).astype(dtype)).astype(dtype)
    top = 2.0 * np.linalg.norm(A.astype(np.float64), 2) ** 2

    def fun(x):
        r = A @ x - b
        return float(r @ r)

    def grad(x):
        return 2 * A.T @ (A @ x - b)

    x0 = np.zeros(50, dtype)
    for method, options in [
        ("gd", {"step": 1.0 / top}),
        ("lfso", {"smoothness": lambda x, R: top}),
        ("lfso-lbfgs", {"smoothness": lambda x, R: top}),
    ]:
        res, _ = _run(fun, x0, grad=grad, method=method, tol=0.0, max_iter=600, **options)
        assert res.fun < 1e-6 * fun(x0), (method, res.fun)
        assert set(res.risks) <= {"stagnation"}, (method, res.risks)


@pytest.mark.parametrize("kind", ["lp", "logistic", "cauchy"])
def test_a_line_search_at_the_rounding_of_f_is_no_collapse(kind):
    """Armijo reports no ``L``; run at tol=0 past convergence, where f cannot show a
    decrease along its gradient, its line search backtracks to nothing: a step of the
    recent median length would gain less than the rounding of f, so that is no collapse."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 8))
    w = rng.standard_normal(8)
    model = {
        "lp": lambda: LpRegression(X, X @ w + rng.standard_normal(200), 2),
        "logistic": lambda: lfso.models.LogisticRegression(
            X, (X @ w + 0.3 * rng.standard_normal(200) > 0).astype(int), l2=1e-3
        ),
        "cauchy": lambda: lfso.models.CauchyRegression(X, X @ w + rng.standard_cauchy(200)),
    }[kind]()
    res, _ = _run(model, np.zeros(model.dim), method="armijo", tol=0.0, max_iter=400)
    assert "collapse" not in res.risks, res.risks


def test_a_run_into_gradual_underflow_is_no_collapse():
    """Barzilai-Borwein on a quadratic scaled by 1e-300, at tol=0: f falls to a few
    subnormal units (about 3e-323) and the gradient into the subnormal range, where the
    steps are whatever its rounding makes them; no step there could gain anything."""
    M = np.random.default_rng(1).standard_normal((8, 5))
    H = M.T @ M / 8 + 0.1 * np.eye(5)

    def fun(x):
        return float(1e-300 * (0.5 * (x - 1) @ (H @ (x - 1))))

    def grad(x):
        return 1e-300 * (H @ (x - 1))

    res, _ = _run(fun, np.zeros(5), grad=grad, method="bb", tol=0.0, max_iter=300)
    assert 0.0 < res.fun < 1e-310 and "collapse" not in res.risks, res.risks


def test_collapse_and_stagnation_fire_when_the_step_vanishes():
    rule = ScheduledStep(lambda k: 0.05 * 10.0 ** (-k))
    res, caught = _run(quadratic(), np.zeros(3), method=rule, max_iter=80, tol=0.0)
    assert _fired(res, "collapse") and res.risks["collapse"]["first"] > 10
    assert _fired(res, "stagnation")
    assert any("step collapsed" in str(w.message) for w in caught)


def _observe(steps, gnorms, **kwargs):
    """Feed RiskMonitor a run's steps and gradient norms; the collapse flags per step."""
    monitor = RiskMonitor(monotone=False, gradient_step=False, **kwargs)
    bit = RISKS["collapse"][0]
    out = []
    for k, (t, g) in enumerate(zip(steps, gnorms, strict=True), start=1):
        out.append(bool(monitor.observe(k, 1.0, 1.0, None, None, g, g, t, math.nan) & bit))
    return out


@pytest.mark.parametrize(
    "steps, gnorms, fires",
    [
        # the step falls 1e7 below its running median, the gradient stays: a collapse
        ([1.0] * 12 + [1e-7] * 3, [1.0] * 15, [False] * 12 + [True] * 3),
        # ... after a growth phase too (the first steps are no reference)
        ([1e-3] * 5 + [1.0] * 12 + [1e-7] * 2, [1.0] * 19, [False] * 17 + [True] * 2),
        # ... but not before ten steps are known
        ([1.0] * 5 + [1e-7] * 3, [1.0] * 8, [False] * 8),
        # one huge step (out of a region of vanishing curvature), then normal ones: quiet
        ([1e6] + [1.0] * 20, [1.0] * 21, [False] * 21),
        # the step falls with the gradient (converging where the curvature grows): quiet
        ([10.0**-k for k in range(30)], [10.0**-k for k in range(30)], [False] * 30),
        # the gradient shrank 1e4 while the step fell 1e7: accordingly, quiet
        ([1.0] * 12 + [1e-7], [1.0] * 12 + [1e-4], [False] * 13),
        # the gradient shrank only 100x while the step fell 1e7: a collapse
        ([1.0] * 12 + [1e-7], [1.0] * 12 + [1e-2], [False] * 12 + [True]),
    ],
)
def test_collapse_compares_the_step_with_its_running_median_and_the_gradient(steps, gnorms, fires):
    assert _observe(steps, gnorms) == fires


def test_a_tiny_step_at_the_rounding_of_f_is_no_collapse():
    """Where a step sized by ``L`` could gain no more than ``f``'s rounding (``||g||^2 /
    L`` within ``rtol |f|`` or the model's allowance), the run has converged as far as
    ``f`` can show: its gradient is rounding, and a tiny step along it is no collapse."""
    bit = RISKS["collapse"][0]

    def flags(gnorm, lipschitz, allowance=0.0, rtol=1e-12):
        monitor = RiskMonitor(monotone=False, gradient_step=False, rtol=rtol)
        steps = [1.0] * 12 + [1e-7]
        return [
            bool(
                monitor.observe(
                    k, 1.0, 1.0, None, None, gnorm, gnorm, t, lipschitz, None, allowance
                )
                & bit
            )
            for k, t in enumerate(steps, start=1)
        ][-1]

    assert flags(1e-5, 1.0)  # ||g||^2 / L = 1e-10 > 1e-12 |f|: a collapse
    assert not flags(1e-5, 1.0, rtol=5e-7)  # (float32's 8 ulps): converged
    assert not flags(1e-5, 1.0, allowance=1e-9)  # (the model's bound on f's rounding)
    assert not flags(1e-5, 1e3)  # 1e-13: within 1e-12 |f|
    assert flags(1e-5, math.nan) and flags(1e-5, 0.0)  # (no L: nothing to tell by)


def test_a_converged_float32_lbfgs_run_warns_of_no_collapse():
    torch = pytest.importorskip("torch")
    import lfso.torch

    gen = torch.Generator().manual_seed(0)
    A, b = torch.randn(40, 6, generator=gen), torch.randn(40, generator=gen)
    w = torch.nn.Parameter(torch.zeros(6))
    opt = lfso.torch.LFSO([w], method="lfso-lbfgs")

    def closure():
        opt.zero_grad()
        loss = ((A @ w - b) ** 2).mean() + 0.1 * (w**4).sum()
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (a MinibatchWarning would raise)
        for _ in range(60):
            opt.step(closure)
    assert opt.history.grad_norm[-1] < 1e-5 * opt.history.grad_norm[0]


@pytest.mark.parametrize("kind", ["l1", "max"])
def test_an_lbfgs_run_names_a_collapse_alike_with_and_without_a_monitor(kind):
    """A run without a monitor replays its history through one to tell whether its steps
    collapsed: the replay reads a step along an L-BFGS direction as the monitor does (the
    gradient step of its length, ``t ||d|| / ||g||``), so the message is the same under
    both ``monitor=``; the replay read ``t`` alone, and named a collapse on a weighted
    ``|x - c|`` that the monitor did not see."""
    rng = np.random.default_rng(2 if kind == "l1" else 3)
    c, w = rng.standard_normal(5), np.logspace(0, 4, 5)
    if kind == "l1":
        f = lambda x: float(np.sum(w * np.abs(x - c)) + x @ x)  # noqa: E731
        g = lambda x: w * np.sign(x - c) + 2 * x  # noqa: E731
    else:
        f = lambda x: float(np.max(w * (x - c)) + 0.5 * x @ x)  # noqa: E731
        g = lambda x: np.eye(5)[np.argmax(w * (x - c))] * w + x  # noqa: E731
    x0 = rng.standard_normal(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [
            lfso.minimize(f, x0, grad=g, method="lfso-lbfgs", max_iter=300, monitor=monitor)
            for monitor in (True, False)
        ]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    assert runs[0].status is runs[1].status is lfso.Status.MAX_ITER
    assert runs[0].message == runs[1].message
    assert ("collapsed" in runs[0].message) is (kind == "max")  # (the replay's path, both ways)


def test_collapse_ratio_is_validated():
    with pytest.raises(ValueError, match=r"collapse must be in \(0, 1\), got collapse=2"):
        RiskMonitor(monotone=True, gradient_step=False, collapse=2)


@pytest.mark.parametrize(
    "option, error, message",
    [
        ({"window": 0}, ValueError, r"window must be an integer >= 1, got window=0"),
        ({"window": 2.5}, TypeError, r"window must be an integer >= 1, got window=2.5"),
        ({"rtol": math.nan}, ValueError, r"rtol .*got rtol=nan"),
        ({"rtol": -1.0}, ValueError, r"rtol .*got rtol=-1"),
    ],
)
def test_window_and_rtol_are_validated(option, error, message):
    with pytest.raises(error, match=message):
        RiskMonitor(monotone=True, gradient_step=False, **option)


@pytest.mark.parametrize(
    "option",
    [{"monotone": "no"}, {"gradient_step": 1}, {"oscillation": "off"}, {"monotone": None}],
)
def test_the_monitors_switches_refuse_what_is_not_a_bool(option):
    """``monotone="no"`` was taken as true (any truthy value switched ``descent`` on)."""
    ((name, value),) = option.items()
    switches = {"monotone": False, "gradient_step": False, **option}
    with pytest.raises(TypeError, match=rf"{name} must be True or False, got {name}={value!r}"):
        RiskMonitor(**switches)
    assert RiskMonitor(monotone=np.bool_(False), gradient_step=False).monotone is False


def test_a_users_rule_whose_monotone_is_truthy_runs_with_the_descent_check():
    """A user's rule's ``monotone`` is read as it reads (``1`` is true), not handed to the
    monitor's check of its own argument (which refuses what is not a bool)."""

    class Once(lfso.steps.FixedStep):
        monotone = 1

    res = lfso.minimize(
        lambda x: float(x @ x), np.ones(3), grad=lambda x: 2.0 * x, method=Once(0.1), tol=1e-6
    )
    assert res.success


def test_oscillation_fires_on_alternating_steps():
    rule = ScheduledStep(lambda k: 0.05 if k % 2 else 0.005)
    res, _ = _run(quadratic(), np.zeros(3), method=rule, max_iter=120, tol=0.0)
    assert _fired(res, "oscillation")


def test_non_finite_fires_and_the_run_stops():
    model = PowerSum(2)

    def fun(x):
        return math.nan if np.max(np.abs(x)) < 0.5 else model.value(x)

    res, caught = _run(
        fun,
        np.ones(3),
        grad=model.grad,
        smoothness=model,
        method="lfso",
        max_iter=200,
        safeguard=False,  # (the bare rule steps into the NaN; the safeguard would reject it)
    )
    assert res.status is lfso.Status.NON_FINITE and _fired(res, "non_finite")
    assert any("NaN/inf" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "model, x0, kwargs",
    [
        (PowerSum(3), np.linspace(0.5, 1.5, 5), {}),
        (quadratic(), np.zeros(3), {}),
        (quadratic(), np.zeros(3), {"method": "gd", "step": 1 / 18}),
        (quadratic(), np.zeros(3), {"method": "armijo"}),
        (quadratic(), np.zeros(3), {"method": "lfso-accel"}),
        (quadratic(), np.zeros(3), {"smoothness": "auto"}),
    ],
)
def test_healthy_runs_are_quiet(model, x0, kwargs):
    res, caught = _run(model, x0, **kwargs)
    assert res.success and res.risks == {} and caught == []
    assert np.all(res.history.risk == 0)


def test_monitor_can_be_switched_off():
    res, caught = _run(quadratic(), np.zeros(3), method="gd", step=0.15, max_iter=30, monitor=False)
    assert res.risks == {} and caught == []


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_log_that_cannot_be_opened_is_an_error_naming_its_path(logger, tmp_path, monkeypatch):
    import errno

    import lfso._atomic as atomic

    def denied(name, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr(atomic.os, "open", denied)
    path = tmp_path / "run.log"
    with pytest.raises(PermissionError) as caught:
        logger(path)
    assert str(caught.value) == f"[Errno {errno.EACCES}] Permission denied: {str(path)!r}"


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_log_through_a_link_to_a_missing_folder_is_an_error_at_once(logger, tmp_path):
    link = tmp_path / "run.log"
    link.symlink_to(tmp_path / "missing" / "run.log")
    with pytest.raises(FileNotFoundError, match=r"symbolic link to .*missing.* does not exist"):
        logger(link)
    assert [p.name for p in tmp_path.iterdir()] == ["run.log"]  # (the link alone)


def test_a_log_does_not_write_through_a_link_where_its_pieces_go(tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("kept")
    path = tmp_path / "run.csv"
    (tmp_path / "run.csv.part").symlink_to(other)  # (where the rows go during the run)
    with CSVLogger(path) as log:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=log)
    assert other.read_text() == "kept"
    assert len(path.read_text().splitlines()) == res.nit + 1  # (the header and the rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "run.csv"]


def test_csv_and_jsonl_loggers_and_early_stopping(tmp_path):
    with CSVLogger(tmp_path / "run.csv") as log:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=log)
    rows = list(csv.DictReader(open(tmp_path / "run.csv")))
    assert len(rows) == res.nit and float(rows[-1]["f"]) == pytest.approx(res.fun)
    with JSONLinesLogger(tmp_path / "run.jsonl") as log:
        lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=5, tol=0)
    lines = [json.loads(ln) for ln in open(tmp_path / "run.jsonl")]
    assert [ln["iteration"] for ln in lines] == [1, 2, 3, 4, 5] and "L" in lines[0]
    res = lfso.minimize(PowerSum(2), np.ones(3), callback=EarlyStopping(1e-3))
    assert res.status is lfso.Status.CALLBACK_STOP and res.fun <= 1e-3
    assert res.history.f[-2] > 1e-3


def test_early_stopping_at_a_start_already_below_target_takes_one_step():
    doc = " ".join(EarlyStopping.__doc__.split())
    assert "still takes one step and stops with ``nit == 1``" in doc
    res = lfso.minimize(PowerSum(2), np.ones(3), callback=EarlyStopping(10.0))
    assert res.history.f[0] <= 10.0
    assert res.status is lfso.Status.CALLBACK_STOP and res.nit == 1


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_logger_reads_only_the_newest_row_of_the_history(logger, tmp_path, monkeypatch):
    """A whole column per iteration would make a long run's logging quadratic."""
    read = []
    column = lfso.History.__getitem__
    monkeypatch.setattr(lfso.History, "__getitem__", lambda h, c: read.append(c) or column(h, c))
    with logger(tmp_path / "run.log") as log:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=50, tol=0)
    assert res.nit == 50 and read == []


def test_json_lines_are_standard_json_where_a_number_is_not_finite(tmp_path):
    """JSON has no NaN: L and R of a fixed step (NaN) are written as null."""
    path = tmp_path / "run.jsonl"
    with JSONLinesLogger(path) as log:
        lfso.minimize(PowerSum(2), np.ones(3), method="gd", step=1e-2, max_iter=3, callback=log)

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    rows = [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]
    assert len(rows) == 3 and all(r["L"] is None and r["R"] is None for r in rows)
    assert all(r["step"] == 0.01 and math.isfinite(r["f"]) for r in rows)


def test_tensorboard_logger(tmp_path):
    pytest.importorskip("tensorboardX")
    from lfso.monitor import TensorBoardLogger

    log = TensorBoardLogger(tmp_path)
    lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=5, tol=0)
    log.close()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"logdir": None}, r"logdir must be a str or os\.PathLike.*got None"),
        ({"logdir": 3}, r"logdir must be a str or os\.PathLike.*got 3"),
        ({"prefix": None}, r"prefix must be a str.*got None"),
    ],
)
def test_tensorboard_logger_names_a_bad_argument_and_writes_nothing(
    kwargs, message, tmp_path, monkeypatch
):
    pytest.importorskip("tensorboardX")
    from lfso.monitor import TensorBoardLogger

    monkeypatch.chdir(tmp_path)  # (str(None) would be a folder "None" here)
    with pytest.raises(TypeError, match=message):
        TensorBoardLogger(**({"logdir": tmp_path / "runs"} | kwargs))
    assert list(tmp_path.iterdir()) == []


def test_tensorboard_logger_names_a_logdir_that_is_a_file(tmp_path):
    pytest.importorskip("tensorboardX")
    from lfso.monitor import TensorBoardLogger

    path = tmp_path / "run.txt"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=r"logdir must be a folder .*got the file logdir='.*run"):
        TensorBoardLogger(path)
    assert list(tmp_path.iterdir()) == [path]


def test_tensorboard_logger_is_a_context_manager(tmp_path):
    pytest.importorskip("tensorboardX")
    from lfso.monitor import TensorBoardLogger

    with TensorBoardLogger(tmp_path) as log:
        lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=3, tol=0)
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_progress_bar_is_off_when_not_a_terminal(capsys):
    lfso.minimize(PowerSum(2), np.ones(3))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_when_asked(capsys):
    lfso.minimize(PowerSum(2), np.ones(3), progress=True)
    err = capsys.readouterr().err
    assert "lfso-lbfgs [" in err and "|g|" in err and err.endswith("\n")


def test_progress_bar_shows_the_last_iteration_when_the_run_ends(capsys):
    """Redraws are at most ten a second; the line left on the stream is the run's last
    state (its final iteration and f), not the first one drawn."""
    res = lfso.minimize(PowerSum(2), np.ones(3), progress=True)
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert f" {res.nit}/" in last and f"f {res.fun:.4e}" in last


@pytest.mark.parametrize("stderr", ["none", "closed"])
def test_progress_bar_without_a_usable_stderr_leaves_the_run_alone(stderr, monkeypatch):
    """No ``sys.stderr`` (pythonw, an embedder) or a closed one: no bar, the same run."""
    import io
    import sys

    stream = None
    if stderr == "closed":
        stream = io.StringIO()
        stream.close()
    monkeypatch.setattr(sys, "stderr", stream)
    expected = lfso.minimize(PowerSum(2), np.ones(3), progress=False)
    for progress in (None, True):
        res = lfso.minimize(PowerSum(2), np.ones(3), progress=progress)
        assert res.success and np.array_equal(res.x, expected.x)


@pytest.mark.parametrize("start", ["raises", "inf"])
def test_a_run_that_fails_at_x0_leaves_the_next_runs_bar_on(start, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    def fun(x):
        if start == "raises":
            raise RuntimeError("a typo in fun")
        return math.inf

    with pytest.raises((RuntimeError, ValueError)):
        lfso.minimize(fun, np.ones(2), grad=lambda x: 2 * x, smoothness=2.0)
    lfso.minimize(PowerSum(2), np.ones(3))  # (a terminal: the bar is on by default)
    assert "lfso-lbfgs [" in terminal.getvalue()


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_stop_guards_a_blowing_up_step():
    from lfso.monitor import DivergenceStop

    guard = DivergenceStop(100.0)
    res = lfso.minimize(PowerSum(2), np.ones(3), method="gd", step=0.7, callback=guard)
    assert guard.fired and res.status is lfso.Status.CALLBACK_STOP
    assert res.fun == res.history.f[0]  # the best point is the start: every step rose


def test_the_oscillation_switch_changes_no_other_indicator():
    """Without ``oscillation`` (a rule that zigzags by design) every other flag, count and
    first iteration is the same as with it, on steps that swing, stall and rise."""
    rng = np.random.default_rng(4)
    watched = RiskMonitor(monotone=True, gradient_step=True, window=20)
    unwatched = RiskMonitor(monotone=True, gradient_step=True, window=20, oscillation=False)
    bit = RISKS["oscillation"][0]
    g_prev, f_prev = rng.standard_normal(4), 1.0
    for k in range(300):
        step = (1e-2 if k % 2 else 1e-4) if k < 100 else 1e-12 if k < 110 else 1e-3
        f_new = f_prev * (1.0 + (1e-3 if k % 17 == 0 else -1e-4))
        g_new = g_prev * 0.99 + 1e-3 * rng.standard_normal(4)
        args = (k, f_prev, f_new, g_prev, g_new, float(np.linalg.norm(g_prev)))
        rest = (float(np.linalg.norm(g_new)), step, 50.0)
        both = watched.observe(*args, *rest), unwatched.observe(*args, *rest)
        assert both[1] == both[0] & ~bit
        f_prev, g_prev = f_new, g_new
    summary = watched.summary()
    assert "oscillation" in summary and {"descent", "collapse"} <= set(summary)
    assert unwatched.summary() == {n: v for n, v in summary.items() if n != "oscillation"}


@pytest.mark.parametrize(
    ("f_new", "gnorm_new", "fires"),
    [
        (math.nan, 1.0, True),
        (math.inf, 1.0, True),
        (-math.inf, 1.0, True),
        (1.0, math.nan, True),
        (1.0, math.inf, True),
        (-1e308, 1e308, False),
        (0.0, 0.0, False),
    ],
)
def test_non_finite_is_any_nan_or_infinity(f_new, gnorm_new, fires):
    monitor = RiskMonitor(monotone=False, gradient_step=False)
    flags = monitor.observe(3, 1.0, f_new, None, None, 1.0, gnorm_new, step=0.1, lipschitz=1.0)
    assert (flags == RISKS["non_finite"][0]) is fires
    assert ("non_finite" in monitor.summary()) is fires


@pytest.mark.parametrize(
    ("fun", "unbounded"),
    [
        (lambda x: -math.inf if x[0] > 1.5 else -float(x @ x), True),  # f reaches -inf
        (lambda x: math.nan if x[0] > 1.5 else -float(x @ x), False),  # f turns NaN
    ],
)
def test_non_finite_advice_fits_an_objective_unbounded_below(fun, unbounded):
    """A run whose f falls to -inf stops UNBOUNDED; the non_finite warning then says the
    objective appears unbounded below, not that a smaller step or the safeguard would help
    (which it still says where f turned NaN)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = lfso.minimize(fun, np.ones(3), grad=lambda x: -2 * x, method="gd", step=1.0)
    assert (res.status is lfso.Status.UNBOUNDED) is unbounded and "non_finite" in res.risks
    (text,) = [str(w.message) for w in caught if "non_finite" in str(w.message)]
    assert ("unbounded below" in text) is unbounded
    assert ("smaller eta/step" in text) is not unbounded


# -- the ready-made callbacks check their number ---------------------------------------------


@pytest.mark.parametrize("callback, name", [(EarlyStopping, "target"), (DivergenceStop, "limit")])
@pytest.mark.parametrize("value", [float("nan"), None, "1", True, np.ones(2)])
def test_early_and_divergence_stop_refuse_a_bad_number(callback, name, value):
    with pytest.raises((TypeError, ValueError), match=name):
        callback(value)


def test_divergence_stop_takes_inf():
    assert DivergenceStop(np.inf).limit == np.inf
    assert EarlyStopping(np.float32(0.5)).target == 0.5


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_logger_names_a_path_that_is_not_one(logger):
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike"):
        logger(None)


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_logger_replaces_its_file_only_when_closed(logger, tmp_path):
    path = tmp_path / "run.log"
    path.write_text("the previous run's log\n")
    path.chmod(0o640)
    partial = tmp_path / "run.log.part"
    seen = []

    def watch(intermediate_result):
        seen.append((path.read_text(), len(partial.read_text().splitlines())))

    with logger(path) as log:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=[log, watch], max_iter=5, tol=0)
        assert path.read_text() == "the previous run's log\n"
    header = 1 if logger is CSVLogger else 0
    assert seen == [("the previous run's log\n", header + k) for k in range(1, 6)]
    assert not partial.exists() and len(path.read_text().splitlines()) == header + res.nit
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    log.close()  # (again: nothing more happens)
    assert len(path.read_text().splitlines()) == header + res.nit


@pytest.mark.parametrize("leftover", [False, True])
@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_private_log_grows_in_a_private_file(logger, leftover, tmp_path):
    path, partial = tmp_path / "run.log", tmp_path / "run.log.part"
    path.write_text("a private log\n")
    path.chmod(0o600)
    if leftover:  # (a .part file left by a run that was killed)
        partial.write_text("the killed run's pieces\n")
        partial.chmod(0o644)
    seen = []

    def watch(intermediate_result):
        seen.append(stat.S_IMODE(partial.stat().st_mode))

    with logger(path) as log:
        lfso.minimize(PowerSum(2), np.ones(3), callback=[log, watch], max_iter=3, tol=0)
    assert seen == [0o600] * 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "killed" not in path.read_text()


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_run_that_raises_leaves_its_log_so_far(logger, tmp_path):
    path = tmp_path / "run.log"

    def fail_at_third(intermediate_result):
        if intermediate_result.nit == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), logger(path) as log:
        lfso.minimize(PowerSum(2), np.ones(3), callback=[log, fail_at_third], tol=0)
    header = 1 if logger is CSVLogger else 0
    assert len(path.read_text().splitlines()) == header + 3
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("logger", [CSVLogger, JSONLinesLogger])
def test_a_logger_writes_runs_in_turn_and_refuses_rows_once_closed(logger, tmp_path):
    """Two runs before the close: their rows one after the other, one header. After
    the close: a ValueError naming the log (the run stops RAISED), the log untouched."""
    path = tmp_path / "run.log"
    with logger(path) as log:
        first = lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=3, tol=0)
        second = lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=2, tol=0)
    header = 1 if logger is CSVLogger else 0
    written = path.read_text()
    assert len(written.splitlines()) == header + first.nit + second.nit
    with pytest.raises(ValueError, match=r"run\.log.* is closed") as caught:
        lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=2, tol=0)
    assert caught.value.result.status is lfso.Status.RAISED
    assert path.read_text() == written and list(tmp_path.iterdir()) == [path]


def test_a_logger_never_closed_is_closed_when_collected(tmp_path):
    path = tmp_path / "run.csv"
    log = CSVLogger(path)
    res = lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=4, tol=0)
    assert not path.exists()
    del log
    gc.collect()
    assert len(path.read_text().splitlines()) == 1 + res.nit
    assert list(tmp_path.iterdir()) == [path]


def test_a_log_into_a_fifo_or_through_a_symbolic_link_keeps_it_so(tmp_path):
    # (a FIFO stands for /dev/null: a device is written into, never replaced by a file)
    import os
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    chunks = []

    def read():
        with open(fifo, "rb") as fh:
            chunks.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    with CSVLogger(fifo) as log:
        res = lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=3)
    thread.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert chunks and chunks[0].decode().splitlines()[0].startswith("iteration,f,")
    real = tmp_path / "logs" / "run.csv"
    real.parent.mkdir()
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    with CSVLogger(link) as log:
        lfso.minimize(PowerSum(2), np.ones(3), callback=log, max_iter=3)
    assert link.is_symlink() and len(real.read_text().splitlines()) == res.nit + 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.csv", "logs", "pipe", "run.csv"]


def _under_claimed(kind):
    """A model whose user-stated oracle is below the true smoothness, by the factor a
    stated ``norm=`` just above its lower bounds (``||A||_F / 4``, ``max ||a_i||``) leaves
    on a near rank-one ``A``."""
    rng = np.random.default_rng(0)
    A = np.tile(rng.standard_normal(16), (400, 1)) + 1e-3 * rng.standard_normal((400, 16))
    model = LpRegression(A, rng.standard_normal(400), 1)
    low = 1.0001 * max(np.linalg.norm(A, axis=1).max(), np.linalg.norm(A) / 4)
    if kind == "norm":
        return LpRegression(A, model.b, 1, norm=low), "norm=None"
    share = (low / model.norm) ** 2
    if kind == "L0L1":
        return L0L1Smooth(model, L0=share * model(model.b[:16], 0.0), L1=0.0), "L0 and L1"
    return FunctionModel(model.value, model.grad, lambda x, R: share * model(x, R)), "check_oracle"


@pytest.mark.parametrize("kind", ["norm", "L0L1", "smoothness"])
@pytest.mark.parametrize("safeguard", [None, False])
def test_a_wrong_oracle_is_advised_on_as_the_run_was_guarded(kind, safeguard):
    """A user's oracle below the smoothness: where the safeguard was on (the default for
    a user's oracle) the warnings and the message name the claim to fix, not
    ``safeguard=True``; where it was off they advise it."""
    model, fix = _under_claimed(kind)
    options = {} if safeguard is None else {"safeguard": safeguard}
    with np.errstate(all="ignore"):
        res, caught = _run(
            model, np.ones(16), method="lfso", certificate="ball", max_iter=2000, **options
        )
    advice = [str(w.message) for w in caught if "'oracle'" in str(w.message)]
    assert advice and _fired(res, "oracle")
    if safeguard is None:
        assert res.rollbacks > 0 and res.status is lfso.Status.MAX_ITER
        assert "safeguard=True" not in advice[0] and fix in advice[0]
        assert "rolled back" in res.message and fix in res.message
    else:
        assert "safeguard=True" in advice[0] and "rolled back" not in res.message


@pytest.mark.parametrize("guarded", [True, False])
def test_descent_and_oracle_advice_fit_whether_the_safeguard_was_on(guarded):
    monitor = RiskMonitor(monotone=True, gradient_step=True)
    g0, g1 = np.array([1.0, 0.0]), np.array([-2.0, 0.0])  # f rose, ||g+ - g|| = 3 > L t
    monitor.observe(0, 1.0, 2.0, g0, g1, 1.0, 2.0, step=1.0, lipschitz=1.0)
    assert set(monitor.counts) == {"descent", "oracle"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.warn("lfso", guarded=guarded, rollbacks=3, fix="raise the stated constant")
    for w in caught:
        message = str(w.message)
        assert ("safeguard=True" in message) is not guarded
        assert ("3 trial steps" in message and "raise the stated constant" in message) is guarded


@pytest.mark.parametrize("kind", ["norm", "L0L1", "smoothness"])
def test_a_run_whose_safeguard_gave_up_names_the_claim_to_fix(kind):
    model, fix = _under_claimed(kind)
    res, _ = _run(model, np.ones(16), method="lfso", certificate="ball", max_rollbacks=0)
    assert res.status is lfso.Status.STEP_FAILED and fix in res.message


@pytest.mark.parametrize("name", ["lp", "cauchy", "softmax"])
def test_value_error_stays_a_bound_where_the_sums_gamma_passes_one(name, monkeypatch):
    """With ``gamma = 3`` for the sums (as for ``n u >= 1/2``, many float32 rows), the
    exact sum of ``F``'s non-negative terms may be ``(1 + gamma) F``: ``value_error`` is at
    least ``gamma |F|`` (``(P - 1) / (2 - P)`` would be negative there)."""
    gamma = 3.0
    module = {"lp": "_regression", "cauchy": "_robust", "softmax": "_softmax"}[name]
    monkeypatch.setattr(f"lfso.models.{module}.error_gamma", lambda k, dtype: gamma)
    A, b, rng = _float32_rows(0, n=12, d=4)
    make = {
        "lp": lambda: LpRegression(A, b, 2.0),
        "cauchy": lambda: lfso.models.CauchyRegression(A, b),
        "softmax": lambda: lfso.models.SoftmaxRegression(A, rng.integers(0, 3, 12), 3),
    }
    model = make[name]()
    x = rng.standard_normal(model.dim if name == "softmax" else 4).astype(np.float32)
    ev = model.evaluate(x, bound=False)
    assert model.value_error(x, ev) >= gamma * abs(float(ev.value)) > 0.0
