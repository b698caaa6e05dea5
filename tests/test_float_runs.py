"""Whole runs in float32 and float64: what a run reports is the true objective, which descends.

Hundreds of small random runs of :func:`lfso.minimize` (every built-in model with a segment
bound, both precisions, methods ``"lfso"`` and ``"lfso-lbfgs"``, starts from 1e-2 to 1e5 in
float32 and to 1e8 in float64) are checked against the *true* objective: ``f`` of the
model's data at the run's own float iterates, recomputed in a wider precision (float64 for
float32 runs, ``np.longdouble`` for float64 runs) from scratch, with no carried product.

* The reported values are the true ``f`` at their points: ``res.fun`` (a fresh
  evaluation) within the rounding of ``f`` in the run's precision, every ``history.f``
  within the rounding of the product it was computed from (a carried product drifts by
  at most ``DRIFT_BUDGET`` times a fresh one's rounding before it is recomputed).
* The true ``f`` never rises from one iterate to the next by more than that rounding (the
  steps are certified: ``f(x + tau d) <= f(x) - eta (1 - eta/2) (g . d)^2 / C``), so the
  returned point is not above the start.
* Every run from a finite start ends with a :class:`lfso.Status`, without an exception.

The rounding of ``f`` at ``x`` (:meth:`Problem.noise`) is bounded from the statistics'
rounding (a residual ``a_i^T x - b_i`` computed in a dtype of unit ``eps`` is off by at
most ``(d + 2) eps (|a_i| . |x| + |b_i|)``, Higham's Lemma 3.1; the same covers rounding the
iterate itself), pushed through the loss, plus ``(n + 16) eps`` relative for the
elementwise functions and the sum. Beyond four times that, the tolerances are ``1e-4``
(float32) and ``1e-10`` (float64) relative on a value, ``1e-5`` and ``1e-12`` on a rise.

Minimal cases follow: a far float32 logistic run (margins up to 8e8, carried from step
to step), float32 least squares from ``1e5``, where the least-squares minimum bounds
every true value from below, and a float32 run whose certified steps lie past float32's
range, on NumPy and on PyTorch tensors (the host path and the device path).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

# (the exact curvature's machinery: segment bounds against mpmath)
from test_exact_curvature import Check, ExactRows, assert_all_hold, exact_sups

import lfso
from lfso.bench import lls_data
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    LogisticRegression,
    LpRegression,
    Model,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)
from lfso.models._rows import DRIFT_BUDGET

DTYPES = {"float32": np.float32, "float64": np.float64}
#: The precision the true ``f`` is recomputed in, per run precision.
WIDE = {np.float32: np.float64, np.float64: np.longdouble}
#: Relative tolerance on a reported value and on a rise of the true ``f`` (beyond 4x noise).
REL_VALUE = {np.float32: 1e-4, np.float64: 1e-10}
REL_RISE = {np.float32: 1e-5, np.float64: 1e-12}
NOISE_FACTOR = 4.0
#: Largest decade of a start, per precision.
START_SCALE = {np.float32: 5.0, np.float64: 8.0}
METHODS = ["lfso", "lfso-lbfgs"]
RUNS = 20  # per (model, dtype, method)
MAX_ITER = 60


def _abs_dot(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.abs(M) @ np.abs(x)


@dataclass
class Problem:
    """A model in the run's precision and its objective on the same (float64) data.

    ``value(x, wide)`` is ``f(x)`` computed in the dtype ``wide``; ``noise(x, eps)`` bounds
    how far ``f`` computed in a dtype of unit roundoff ``eps`` can be from the true ``f(x)``
    (statistics, elementwise functions, sums; see the module docstring).
    """

    name: str
    model: Model
    value: Callable[[np.ndarray, Any], float]
    noise: Callable[[np.ndarray, float], float]


def _residuals(A: np.ndarray, b: np.ndarray, x: np.ndarray, wide: Any) -> np.ndarray:
    return A.astype(wide) @ x.astype(wide) - b.astype(wide)


def _slack(A: np.ndarray, offsets: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """The rounding of ``a_i^T x - c_i`` in a dtype of unit ``eps`` (Higham, Lemma 3.1)."""
    return (A.shape[1] + 2) * eps * (_abs_dot(A, x) + np.abs(offsets))


def lp_problem(A: np.ndarray, b: np.ndarray, p: float, dtype: Any) -> Problem:
    """``sum_i |a_i^T x - b_i|^(2p)``."""

    def value(x, wide):
        return float(np.sum(np.abs(_residuals(A, b, x, wide)) ** (2 * p)))

    def noise(x, eps):
        r = np.abs(_residuals(A, b, x, np.float64))
        delta = _slack(A, b, x, eps)
        f = float(np.sum(r ** (2 * p)))
        # (each term rounds to within half a smallest subnormal where it underflows)
        lost = len(b) * float(
            np.finfo(np.float32 if eps > 1e-10 else np.float64).smallest_subnormal
        )
        spread = float(np.sum((r + delta) ** (2 * p) - r ** (2 * p)))
        return spread + (len(b) + 16) * eps * f + lost

    return Problem("lp", LpRegression(A.astype(dtype), b.astype(dtype), p), value, noise)


def composite_problem(A: np.ndarray, b: np.ndarray, p: float, dtype: Any) -> Problem:
    """``||A x - b||^(2p)``."""

    def value(x, wide):
        r = _residuals(A, b, x, wide)
        return float(np.sum(r * r) ** p)

    def noise(x, eps):
        r = np.abs(_residuals(A, b, x, np.float64))
        q, up = float(np.sum(r * r)), float(np.sum((r + _slack(A, b, x, eps)) ** 2))
        return up**p - q**p + (len(b) + 16 + 2 * p) * eps * q**p

    model = CompositeLeastSquares(A.astype(dtype), b.astype(dtype), p)
    return Problem("composite", model, value, noise)


def _design(X: np.ndarray, intercept: bool) -> np.ndarray:
    return np.hstack([X, np.ones((X.shape[0], 1))]) if intercept else X


def logistic_problem(X, y, l2: float, intercept: bool, dtype: Any) -> Problem:
    """``(1/n) sum_i log(1 + e^{-s_i x~_i^T w}) + l2/2 ||w_masked||^2``."""
    Xt, signs = _design(X, intercept), 2.0 * y - 1.0
    mask = np.ones(Xt.shape[1])
    if intercept:
        mask[-1] = 0.0

    def value(x, wide):
        margins = signs.astype(wide) * (Xt.astype(wide) @ x.astype(wide))
        w = x.astype(wide) * mask.astype(wide)
        return float(np.mean(np.logaddexp(wide(0), -margins)) + wide(l2) / 2 * np.sum(w * w))

    def noise(x, eps):  # |loss'| <= 1
        loss = value(x, np.float64)
        spread = float(np.mean(_slack(Xt, np.zeros(len(y)), x, eps)))
        return spread + (len(y) + Xt.shape[1] + 16) * eps * abs(loss)

    model = LogisticRegression(X.astype(dtype), y, l2=l2, fit_intercept=intercept)
    return Problem("logistic", model, value, noise)


def cauchy_problem(A, b, c: float, l2: float, dtype: Any) -> Problem:
    """``(1/n) sum_i c^2/2 log(1 + r_i^2/c^2) + l2/2 ||x||^2``."""

    def value(x, wide):
        r = _residuals(A, b, x, wide)
        c2 = wide(c) ** 2
        xw = x.astype(wide)
        return float(c2 / 2 * np.mean(np.log1p(r * r / c2)) + wide(l2) / 2 * np.sum(xw * xw))

    def noise(x, eps):  # |rho'(r)| <= min(|r|, c/2)
        r = np.abs(_residuals(A, b, x, np.float64))
        delta = _slack(A, b, x, eps)
        spread = float(np.mean(delta * np.minimum(r + delta, c / 2)))
        return spread + (len(b) + A.shape[1] + 16) * eps * value(x, np.float64)

    model = CauchyRegression(A.astype(dtype), b.astype(dtype), c, l2=l2)
    return Problem("cauchy", model, value, noise)


def softmax_problem(X, y, K: int, l2: float, intercept: bool, dtype: Any) -> Problem:
    """``(1/n) sum_i (logsumexp(z_i) - z_{i y_i}) + l2/2 ||W_masked||_F^2``."""
    Xt = _design(X, intercept)
    mask = np.ones((Xt.shape[1], K))
    if intercept:
        mask[-1] = 0.0
    mask = mask.ravel()

    def value(x, wide):
        Z = Xt.astype(wide) @ x.astype(wide).reshape(-1, K)
        top = Z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.sum(np.exp(Z - top), axis=1))
        w = x.astype(wide) * mask.astype(wide)
        loss = np.mean(lse - Z[np.arange(len(y)), y])
        return float(loss + wide(l2) / 2 * np.sum(w * w))

    def noise(x, eps):  # logsumexp and z_y are 1-Lipschitz in the largest logit error
        W = np.abs(x.reshape(-1, K))
        delta = (Xt.shape[1] + 2) * eps * (np.abs(Xt) @ W)
        spread = float(np.mean(2.0 * delta.max(axis=1)))
        return spread + (len(y) + K + Xt.shape[1] + 16) * eps * value(x, np.float64)

    model = SoftmaxRegression(X.astype(dtype), y, K, l2=l2, fit_intercept=intercept)
    return Problem("softmax", model, value, noise)


def power_problem(name: str, p: float) -> Problem:
    """``||x||^(2p)`` or ``sum_i |x_i|^(2p)``: the iterate is the statistic itself."""

    def value(x, wide):
        xw = x.astype(wide)
        if name == "power_norm":
            return float(np.sum(xw * xw) ** p)
        return float(np.sum(np.abs(xw) ** (2 * p)))

    def noise(x, eps):
        return (x.size + 6 * p + 16) * eps * value(x, np.float64)

    model = PowerNorm(p) if name == "power_norm" else PowerSum(p)
    return Problem(name, model, value, noise)


def _regression_data(rng: np.random.Generator, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian data rounded to ``dtype`` (returned in float64, exactly)."""
    n, dim = int(rng.integers(4, 40)), int(rng.integers(2, 6))
    A = rng.standard_normal((n, dim)) * rng.uniform(0.2, 3.0, dim)
    if rng.uniform() < 0.3:  # a consistent system: the minimum is 0
        b = A @ rng.standard_normal(dim)
    else:
        b = rng.standard_normal(n)
    return A.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)


def _classes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    return y


def draw(name: str, rng: np.random.Generator, dtype: Any) -> tuple[Problem, np.ndarray]:
    """A random problem of the kind ``name`` and a start over many scales."""
    if name in ("lp-p1", "lp", "composite", "cauchy"):
        A, b = _regression_data(rng, dtype)
        if name == "lp-p1":
            problem = lp_problem(A, b, 1.0, dtype)
        elif name == "lp":
            problem = lp_problem(A, b, float(rng.choice([1.25, 1.5, 2.0])), dtype)
        elif name == "composite":
            problem = composite_problem(A, b, float(rng.choice([1.0, 1.5, 2.0])), dtype)
        else:
            c, l2 = float(10.0 ** rng.uniform(-1, 1)), float(rng.choice([0.0, 0.01]))
            problem = cauchy_problem(A, b, c, l2, dtype)
        dim = A.shape[1]
    elif name in ("logistic", "softmax"):
        k = 2 if name == "logistic" else int(rng.integers(2, 4))
        n, features = int(rng.integers(4, 30)), int(rng.integers(1, 4))
        X = rng.standard_normal((n, features)) * 10.0 ** rng.uniform(-1, 2, features)
        X = X.astype(dtype).astype(np.float64)
        y = _classes(rng, n, k)
        l2, intercept = float(rng.choice([0.0, 0.01, 0.1])), bool(rng.integers(0, 2))
        if name == "logistic":
            problem = logistic_problem(X, y, l2, intercept, dtype)
        else:
            problem = softmax_problem(X, y, k, l2, intercept, dtype)
        dim = problem.model.dim
    else:
        p = float(rng.choice([1.0, 1.5, 2.0, 3.0] if name == "power_sum" else [1.0, 1.5, 2.0]))
        problem, dim = power_problem(name, p), int(rng.integers(1, 6))
    top = START_SCALE[dtype] if name not in ("power_sum", "power_norm") else 3.0
    x0 = rng.standard_normal(dim) * 10.0 ** rng.uniform(-2, top)
    return problem, x0.astype(dtype)


NAMES = ["lp-p1", "lp", "composite", "logistic", "cauchy", "softmax", "power_norm", "power_sum"]


@dataclass
class Run:
    """One run and the true ``f`` along it (in the wider precision)."""

    problem: Problem
    x0: np.ndarray
    dtype: Any
    result: Any = None
    error: str | None = None
    iterates: list[np.ndarray] = field(default_factory=list)

    def true(self, x: np.ndarray) -> float:
        return self.problem.value(x, WIDE[self.dtype])

    def noise(self, x: np.ndarray) -> float:
        return NOISE_FACTOR * self.problem.noise(
            x.astype(np.float64), float(np.finfo(self.dtype).eps)
        )

    def describe(self) -> str:
        return f"{self.problem.name} from x0 = {self.x0.tolist()}"


def execute(problem: Problem, x0: np.ndarray, dtype: Any, method: str) -> Run:
    run = Run(problem, x0, dtype)

    def record(x):
        run.iterates.append(np.array(x, copy=True))

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            run.result = lfso.minimize(
                problem.model, x0, method=method, max_iter=MAX_ITER, callback=record
            )
    except Exception as exc:  # reported by test_every_run_ends_with_a_status
        run.error = f"{type(exc).__name__}: {exc}"
    return run


@functools.cache
def runs(name: str, dtype_name: str, method: str) -> tuple[Run, ...]:
    """The runs of one parametrization (shared by the tests below, run once)."""
    dtype = DTYPES[dtype_name]
    rng = np.random.default_rng([ord(c) for c in f"{name}/{dtype_name}/{method}"])
    out = []
    for _ in range(RUNS):
        problem, x0 = draw(name, rng, dtype)
        with np.errstate(all="ignore"):
            start = problem.model.evaluate(x0)
        if not (math.isfinite(start.value) and math.isfinite(start.grad_norm)):
            continue  # f(x0) itself past the float range: not a finite start
        out.append(execute(problem, x0, dtype, method))
    assert len(out) >= RUNS // 2
    return tuple(out)


def _finished(all_runs: tuple[Run, ...]) -> list[Run]:
    return [run for run in all_runs if run.result is not None]


PARAMS = [
    pytest.param(name, dtype, method, id=f"{name}-{dtype}-{method}")
    for name in NAMES
    for dtype in DTYPES
    for method in METHODS
]


@pytest.mark.parametrize(("name", "dtype", "method"), PARAMS)
def test_every_run_ends_with_a_status(name, dtype, method):
    for run in runs(name, dtype, method):
        assert run.error is None, f"{run.describe()}: raised {run.error}"
        assert isinstance(run.result.status, lfso.Status)


@pytest.mark.parametrize(("name", "dtype", "method"), PARAMS)
def test_reported_values_are_the_true_objective(name, dtype, method):
    """``res.fun`` is ``f`` at ``res.x`` to ``f``'s rounding (a fresh evaluation), and every
    ``history.f`` is ``f`` at its point to the rounding of the product it was computed
    from: a carried product drifts by at most ``DRIFT_BUDGET`` times a fresh one's error
    (:class:`lfso.models._rows.ProductDrift`) before it is recomputed."""
    worst, where, bad = 0.0, "", 0
    for run in _finished(runs(name, dtype, method)):
        res, rel = run.result, REL_VALUE[run.dtype]
        points = [(res.fun, np.asarray(res.x), "res.fun", 1.0)]
        reported = res.history.f[1 : 1 + len(run.iterates)]
        steps = zip(reported, run.iterates, strict=False)  # (no callback after a NaN)
        carried = 1.0 + DRIFT_BUDGET
        points += [(f, x, f"history.f[{k + 1}]", carried) for k, (f, x) in enumerate(steps)]
        for value, x, label, drift in points:
            true = run.true(x)
            tol = rel * abs(true) + drift * run.noise(x)
            gap = abs(value - true) / tol if tol > 0 else (math.inf if value != true else 0.0)
            bad += gap > 1.0
            if gap > worst:
                worst = gap
                where = f"{label} = {value!r} but f there = {true!r} (tolerance {tol:.3g}); "
                where += run.describe()
    assert bad == 0, (
        f"{bad} reported values off the true f by up to {worst:.3g}x the tolerance: {where}"
    )


@pytest.mark.parametrize(("name", "dtype", "method"), PARAMS)
def test_true_objective_never_rises_along_a_run(name, dtype, method):
    """Certified steps: the true ``f`` of consecutive iterates never rises beyond rounding,
    and the returned point is not above the start."""
    worst, where, bad = 0.0, "", 0
    for run in _finished(runs(name, dtype, method)):
        rel = REL_RISE[run.dtype]
        points = [run.x0, *run.iterates]
        values = [run.true(x) for x in points]
        noises = [run.noise(x) for x in points]
        pairs = [(k, k + 1) for k in range(len(points) - 1)]
        last = len(points)
        points.append(np.asarray(run.result.x))
        values.append(run.true(points[-1]))
        noises.append(run.noise(points[-1]))
        pairs.append((0, last))  # the returned point against the start
        for i, j in pairs:
            rise = values[j] - values[i]
            tol = rel * abs(values[i]) + noises[i] + noises[j]
            excess = rise / tol if tol > 0 else (math.inf if rise > 0 else 0.0)
            bad += excess > 1.0
            if excess > worst:
                worst = excess
                step = "returned point vs start" if j == last else f"step {j}"
                where = f"{step}: true f {values[i]!r} -> {values[j]!r} (tolerance {tol:.3g}); "
                where += run.describe()
    assert bad == 0, f"{bad} rises of the true f, up to {worst:.3g}x the tolerance: {where}"


# -- minimal reproducers ----------------------------------------------------------------------

LOGISTIC_X = [
    [368.5, 644.2],
    [-1.2, 0.7],
    [-69.2, -1814.3],
    [0.3, -0.1],
    [289.9, -17546.7],
]


@pytest.mark.parametrize("method", METHODS)
def test_far_float32_logistic_run_reports_the_true_value(method):
    """From ``w = (-589, 43388)`` the margins (up to 8e8) are carried from step to step
    (a drifting product reports ``fun = 0.2544`` where the true ``f`` of the point is
    10.28)."""
    X, y = np.array(LOGISTIC_X), np.array([0, 1, 1, 1, 1])
    problem = logistic_problem(X, y, 0.1, False, np.float32)
    run = execute(problem, np.array([-589.0, 43388.0], np.float32), np.float32, method)
    assert run.error is None, run.error
    res = run.result
    true = run.true(np.asarray(res.x))
    tol = REL_VALUE[np.float32] * abs(true) + run.noise(np.asarray(res.x))
    assert abs(res.fun - true) <= tol, f"res.fun = {res.fun!r}, true f(res.x) = {true!r}"
    assert true <= run.true(run.x0)


@pytest.mark.parametrize("method", METHODS)
def test_float32_restart_from_a_converged_point_returns_no_worse_point(method):
    """A float32 logistic run restarted from its own returned point (tolerance below
    float32's reach) chooses its best point by the gradient norm of a carried product,
    whose rounding drifts: the point it returns is never worse than its start in both
    the fresh ``f`` and the fresh ``||g||`` (the start's ``||g|| = 7.7e-9`` against a
    returned ``1.1e-8`` at the same ``f``)."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((500, 10)).astype(np.float32)
        y = (X @ rng.standard_normal(10) + rng.standard_normal(500) > 0).astype(np.float32)
        model = LogisticRegression(X, y, l2=1e-3)
        x0 = np.zeros(10, np.float32)
        for _ in range(5):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = lfso.minimize(model, x0, method=method, tol=1e-12, atol=0.0, max_iter=500)
            start, end = model.evaluate(x0), model.evaluate(res.x)
            assert res.fun == end.value and np.array_equal(res.jac, end.grad)
            assert end.value < start.value or end.grad_norm <= start.grad_norm, (
                f"seed {seed}: from f = {start.value!r}, ||g|| = {start.grad_norm!r} the run "
                f"returned f = {end.value!r}, ||g|| = {end.grad_norm!r}"
            )
            x0 = res.x


#: Softmax rows (two features, three classes): with :func:`_confident_weights` each row's
#: label leads the other classes by ``m`` (the first three rows) or ``2 m``.
CONFIDENT_X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [2.0, 0.0], [0.0, 2.0], [-2.0, -2.0]])
CONFIDENT_Y = np.array([0, 1, 2, 0, 1, 2])


def _confident_weights(m: float) -> np.ndarray:
    """``W = [[m, 0, 0], [0, m, 0]]``: the logits of :data:`CONFIDENT_X` are ``(m, 0, 0)``,
    ``(0, m, 0)``, ``(-m, -m, 0)`` and twice those, integers (exact in any float dtype)."""
    return np.array([[m, 0.0, 0.0], [0.0, m, 0.0]])


def _softmax_on(lib: str, A: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple:
    """``(model, point, device)``: a three-class :class:`SoftmaxRegression` without
    intercept on ``A``, ``y`` and the point ``x`` in ``lib`` (``"numpy"``, ``"torch-host"``
    or ``"torch-device"``, the latter to run under ``cpu_as_accelerator(device)``)."""
    if lib == "numpy":
        return SoftmaxRegression(A, y, 3, fit_intercept=False), x, False
    torch = pytest.importorskip("torch")
    model = SoftmaxRegression(torch.from_numpy(A), torch.from_numpy(y), 3, fit_intercept=False)
    return model, torch.from_numpy(x), lib == "torch-device"


@pytest.mark.parametrize(
    ("dtype", "margin"), [(np.float32, 16.0), (np.float32, 20.0), (np.float64, 40.0)]
)
@pytest.mark.parametrize("lib", ["numpy", "torch-host", "torch-device"])
def test_softmax_value_of_confident_rows_keeps_its_relative_accuracy(lib, dtype, margin):
    """Rows classified by a margin ``m`` lose about ``2 e^{-m}`` each, near or below the
    unit roundoff: ``log(sum_k e^{z_k - z_max})`` rounds ``1 + 2 e^{-m}`` first, and
    reported ``f`` 6% high (float32, ``m = 16``) or 0 (float32 at ``m = 20``, float64 at
    ``m = 40``). The logits here are integers, exact in ``dtype``, so each row's loss is
    within ``gamma_{K+3}`` of itself and the mean ``gamma_n`` more
    (:meth:`SoftmaxRegression._parts`): ``f`` (mpmath) to ``(n + K + 16) eps`` relative, on
    NumPy, on PyTorch's host path and on its device path."""
    import mpmath

    W = _confident_weights(margin)
    X, y = CONFIDENT_X, CONFIDENT_Y
    Z = X @ W  # integers: exact
    with mpmath.workdps(60):
        losses = [
            mpmath.log(sum(mpmath.exp(mpmath.mpf(z) - mpmath.mpf(row[label])) for z in row))
            for row, label in zip(Z.tolist(), y.tolist(), strict=True)
        ]
        true = float(mpmath.fsum(losses) / len(losses))
    assert 0.0 < true < 1e-6
    A, x = X.astype(dtype), W.ravel().astype(dtype)
    model, point, device = _softmax_on(lib, A, y, x)
    with lfso.bench.cpu_as_accelerator(device):
        values = [model.value(point), float(model.evaluate(point, bound=False).value)]
    eps = float(np.finfo(dtype).eps)
    tol = (len(y) + 3 + 16) * eps * true
    for value in values:
        assert abs(value - true) <= tol, f"f = {value!r}, true f = {true!r}"


@pytest.mark.parametrize(
    ("dtype", "margin"),
    [(np.float32, 16.0), (np.float32, 20.0), (np.float64, 36.0), (np.float64, 40.0)],
)
@pytest.mark.parametrize("lib", ["numpy", "torch-host", "torch-device"])
def test_softmax_gradient_of_confident_rows_keeps_its_accuracy(lib, dtype, margin):
    """A row whose label leads by ``m`` has ``P_y - 1 = -sum_{k != y} P_k`` near
    ``e^{-m}``, below the unit roundoff: computed as ``P_y - 1`` it was 0 and the other
    classes' coefficients, centred, had the wrong sign (float32 at ``m = 20``:
    ``(-9.4e-10, 1.1e-9, -1.8e-10)`` for the exact ``(-2.8e-9, 2.1e-9, 7.6e-10)``). Made
    from the sum of the other classes (:meth:`SoftmaxRegression._parts`), each row of
    the gradient (one row of data each: ``X`` the identity) is within a few units in the
    last place of its largest entry of the exact one (mpmath), on NumPy, on PyTorch's
    host path and on its device path."""
    import mpmath

    W = np.array([[0.0, -margin, -margin - 1], [-margin, 0.0, -margin - 2], [-3.0, -margin, 0]])
    y = np.array([0, 1, 2])
    rows = []
    with mpmath.workdps(60):
        for logits, label in zip(W.tolist(), y.tolist(), strict=True):
            e = [mpmath.exp(mpmath.mpf(z)) for z in logits]
            coef = [v / mpmath.fsum(e) - (k == label) for k, v in enumerate(e)]
            mean = mpmath.fsum(coef) / 3
            rows.append([float((c - mean) / 3) for c in coef])
    exact = np.array(rows)
    A, x = np.eye(3, dtype=dtype), W.ravel().astype(dtype)
    model, point, device = _softmax_on(lib, A, y, x)
    with lfso.bench.cpu_as_accelerator(device):
        grad = model.evaluate(point, bound=False).grad
    G = np.asarray(grad.cpu() if hasattr(grad, "cpu") else grad, np.float64).reshape(3, 3)
    scale = float(np.finfo(dtype).eps) * np.abs(exact).max(axis=1, keepdims=True)
    assert (np.abs(G - exact) <= 8.0 * scale).all(), (G, exact)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lib", ["numpy", "torch-host", "torch-device"])
def test_softmax_gradient_has_no_part_along_the_flat_directions(lib, dtype):
    """At ``l2 = 0``, ``f`` is flat along adding one vector to every class's weights, so
    the exact gradient's rows sum to 0 over the classes. Near the minimiser the computed
    rows summed to the rounding of ``sum_k (pi_ik - y_ik)`` over the data, which does not
    shrink with the gradient (1e7 float32 ulps of the rows' largest entry, 1e11 float64
    ulps); centred class by class (:class:`SoftmaxRegression`'s docstring) they sum to a
    few ulps of it, on NumPy, on PyTorch's host path and on its device path."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X, y = rng.standard_normal((200, 4)), rng.integers(0, 3, 200)  # (not separable)
        exact = SoftmaxRegression(X, y, 3)
        x = np.asarray(lfso.minimize(exact, np.zeros(exact.dim), tol=1e-10).x)
        A, point = X.astype(dtype), x.astype(dtype)
        if lib == "numpy":
            model, device = SoftmaxRegression(A, y, 3), False
        else:
            torch = pytest.importorskip("torch")
            model = SoftmaxRegression(torch.from_numpy(A), torch.from_numpy(y), 3)
            point, device = torch.from_numpy(point), lib == "torch-device"
        with lfso.bench.cpu_as_accelerator(device):
            grad = model.evaluate(point, bound=False).grad
        G = np.asarray(grad.cpu() if hasattr(grad, "cpu") else grad, np.float64).reshape(-1, 3)
        ulps = np.abs(G.sum(axis=1)) / (float(np.finfo(dtype).eps) * np.abs(G).max(axis=1))
        assert ulps.max() <= 12.0, (seed, ulps)


@pytest.mark.parametrize("seed", [10, 19, 22, 36])
def test_float32_softmax_run_with_tiny_features_never_rises(seed):
    """Rows of size 1e-12 (``benchmarks/float_soundness.py --data-scale 1e-12``): near the
    minimiser the computed gradient's intercepts summed to rounding (the flat direction
    of adding one number to every intercept), L-BFGS moved the three intercepts by
    thousands along it, where no curvature limits the step, and the computed slope was
    negative where the exact one was positive; the true ``f`` rose by up to 5e-5 of itself
    (these seeds, on one CPU or another). Every step now decreases the true ``f`` to
    within the rounding of ``f`` and of the iterate, ``8 u (|f| + sum_i |x_i g_i|)``."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((60, 6)) * 1e-12).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model = SoftmaxRegression(X, y, 3, l2=1e-3)
    exact = SoftmaxRegression(X.astype(np.float64), y, 3, l2=1e-3)
    x0 = rng.standard_normal(model.dim).astype(np.float32)
    points = [x0.astype(np.float64)]
    res = lfso.minimize(
        model,
        x0,
        max_iter=400,
        tol=0.0,
        monitor=False,
        callback=lambda r: points.append(np.asarray(r.x, np.float64)),
    )
    # (the run goes on in the rounding of f, or stops where the gradient's rounding swamps
    # its slope: lfso.models._slope)
    assert len(points) > 200 or res.status is lfso.Status.PRECISION_LIMIT
    unit, values = 2.0**-24, [exact.value(x) for x in points]
    for k in range(1, len(points)):
        g = exact.evaluate(points[k], bound=False).grad
        allowed = 8.0 * unit * (abs(values[k]) + float(np.abs(points[k] * g).sum()))
        allowed += 128 * 2.0**-53 * abs(values[k])  # (the float64 recomputation's own)
        assert values[k] - values[k - 1] <= allowed, (k, values[k - 1], values[k])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_least_squares_from_far_reports_no_value_below_the_minimum(seed, method):
    """``LpRegression(A, b, 1)``, 50 x 5 Gaussian data in float32, from ``1e5 (1, ..., 1)``:
    no reported value below the least-squares minimum (a drifting product reports 51.19
    against a minimum of 51.39 with seed 0)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((50, 5)).astype(np.float32).astype(np.float64)
    b = rng.standard_normal(50).astype(np.float32).astype(np.float64)
    problem = lp_problem(A, b, 1.0, np.float32)
    run = execute(problem, np.full(5, 1e5, np.float32), np.float32, method)
    assert run.error is None, run.error
    res = run.result
    solution = np.linalg.lstsq(A, b, rcond=None)[0]
    minimum = float(np.sum((A @ solution - b) ** 2))
    x = np.asarray(res.x)
    true = run.true(x)
    rel = REL_VALUE[np.float32]
    assert true >= minimum * (1 - 1e-12)
    tol = rel * abs(true) + run.noise(x)
    assert res.fun >= minimum - tol, f"res.fun = {res.fun!r} below the minimum {minimum!r}"
    assert abs(res.fun - true) <= tol, f"res.fun = {res.fun!r}, true f(res.x) = {true!r}"


#: ``LpRegression(A, b, 2)`` on float32 rows of size 9e-13, from ``BEYOND_X0``: the
#: curvature (1.6e-39) is below float32's normal range, the certified step ``t = 6e38``
#: above its largest float, while ``t g`` is 5e3.
BEYOND_A = np.array([[8.725467722479896e-13], [8.722418403869781e-13], [8.724782506706885e-13]])
BEYOND_B = np.array([5.585622186605739e-16, 7.319109523875147e-16, 7.68704761303085e-15])
BEYOND_X0 = np.array([-8812.51171875], np.float32)


@pytest.mark.parametrize("method", [*METHODS, "lfso-accel"])
def test_float32_step_beyond_the_float32_range_lands_at_a_finite_point(method):
    """``LpRegression(A, b, 2)`` on float32 rows of size 9e-13 from ``x = -8812.5``: the
    curvature (1.6e-39) is below float32's normal range, so the certified step
    ``t = 6e38`` is above its largest float while ``t g`` is 5e3. Cast to float32, ``t``
    would be ``inf``: a run returning ``x = [inf]`` with ``fun = 2.07e-33`` (the carried
    product's value: ``lfso``, ``lfso-lbfgs``), or stopping non-finite at ``x0``
    (``lfso-accel``)."""
    problem = lp_problem(BEYOND_A, BEYOND_B, 2.0, np.float32)
    run = execute(problem, BEYOND_X0, np.float32, method)
    assert run.error is None, run.error
    res = run.result
    x = np.asarray(res.x)
    assert np.all(np.isfinite(x)), f"{method}: res.x = {x}"
    assert all(np.all(np.isfinite(it)) for it in run.iterates)
    true = run.true(x)
    assert abs(res.fun - true) <= REL_VALUE[np.float32] * abs(true) + run.noise(x)
    start = run.true(run.x0)
    assert true < 1e-3 * start, f"{method}: f(res.x) = {true!r} from f(x0) = {start!r}"


def _tensor_run(model: Model, method: str, *, device: bool) -> tuple[Any, list, list]:
    """``model`` (on PyTorch float32 tensors) run from :data:`BEYOND_X0` to ``tol=1e-3``,
    on the device path (``device=True``: inside :func:`lfso.bench.cpu_as_accelerator`) or
    on the host path: the result, the iterates, and each device step as ``(x, v, tau,
    C)`` (the segment's start, the vector its bound was taken along, the step along it
    and the bound on ``[0, tau]``, from :meth:`~lfso.oracles.SegmentBound.device_step`)."""
    import torch

    iterates: list[np.ndarray] = []
    steps: list[tuple[np.ndarray, np.ndarray, float, float]] = []
    build = model.segment

    def segment(x, evaluation, direction):
        seg = build(x, evaluation, direction)
        sized = seg.device_step

        def device_step(*args, **kwargs):
            tau, bound = sized(*args, **kwargs)
            steps.append((np.array(x), np.array(direction), float(tau), float(bound)))
            return tau, bound

        seg.device_step = device_step
        return seg

    model.segment = segment  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings(), lfso.bench.cpu_as_accelerator(device):
            warnings.simplefilter("ignore")
            result = lfso.minimize(
                model,
                torch.from_numpy(BEYOND_X0),
                method=method,
                tol=1e-3,
                max_iter=MAX_ITER,
                callback=lambda x: iterates.append(np.array(x, copy=True)),
            )
    finally:
        del model.segment
    return result, iterates, steps


@pytest.mark.parametrize("ahead", [False, True])
@pytest.mark.parametrize("method", METHODS)
def test_float32_device_run_beyond_the_float32_range_moves_as_the_host_run(
    method, ahead, monkeypatch
):
    """The run above on PyTorch float32 tensors, to ``tol=1e-3``: on the device path the
    step is sized on the device and taken as ``x + tau (2^k d)`` (``t = tau 2^k``, ``tau``
    from 4e2 to 4e3 where ``t`` is 6e38 and more), and the run reaches the tolerance in as many
    iterations as on the host path, at the same ``f`` and ``||g||``. Each device step's
    bound is above the exact curvature (mpmath) over the step, and the true ``f`` never
    rises. (A device run whose trial steps, in units of ``d``, grew by a bounded factor
    per iteration and were held below float32's range stays at ``x0`` to ``max_iter``.)
    ``ahead``: the loop a point ahead of its evaluations' scalars (as from
    ``AHEAD_ROWS`` rows), the step scaled by ``||g||`` measured on the device, whose
    ``g . g`` underflows here."""
    torch = pytest.importorskip("torch")
    if ahead:
        from lfso import _stepper

        monkeypatch.setattr(_stepper, "AHEAD_ROWS", 0)
    A, b = (torch.from_numpy(a.astype(np.float32)) for a in (BEYOND_A, BEYOND_B))
    host, _, _ = _tensor_run(LpRegression(A, b, 2), method, device=False)
    dev, iterates, steps = _tensor_run(LpRegression(A, b, 2), method, device=True)
    assert host.success, host.message
    assert dev.success, f"{method} on the device: {dev.message} (x = {dev.x})"
    assert abs(dev.nit - host.nit) <= 1, (dev.nit, host.nit)
    problem = lp_problem(BEYOND_A, BEYOND_B, 2.0, np.float32)
    run = Run(problem, BEYOND_X0, np.float32, dev, iterates=iterates)
    f_dev, f_host = run.true(np.asarray(dev.x)), run.true(np.asarray(host.x))
    assert f_dev == pytest.approx(f_host, rel=0.01, abs=0.0), (f_dev, f_host)
    assert float(dev.jac.norm()) == pytest.approx(float(host.jac.norm()), rel=0.01, abs=0.0)
    assert f_dev < 1e-3 * run.true(BEYOND_X0)
    # every step certified: tau C <= -g . v (exactly, to the rounding of the model's
    # float32 g . v) and C above the exact curvature on [0, tau] along v ...
    # (ahead, the step from the last point, taken before its stopping test)
    assert len(steps) == dev.nit + (ahead and dev.status is lfso.Status.CONVERGED)
    exact = ExactRows(2.0, BEYOND_A.astype(np.float32), BEYOND_B.astype(np.float32))
    checked = []
    for x, v, tau, bound in steps:
        r, u = exact.line(x, v)
        slope = float(sum(4 * ri**3 * ui for ri, ui in zip(r, u, strict=True)))  # g . v
        assert 0.0 < tau * bound <= -slope * (1 + 1e-5), (tau, bound, slope)
        sup = exact_sups(exact.path(x, v), [tau])[0]
        checked.append((x, v, [Check("device step", tau, bound, sup)]))
    assert_all_hold(checked, f"{method}, device steps past float32's range")
    # ... and the true f never rising from one iterate to the next beyond its rounding
    values = [run.true(x) for x in [BEYOND_X0, *iterates]]
    noises = [run.noise(x) for x in [BEYOND_X0, *iterates]]
    for k in range(len(values) - 1):
        assert values[k + 1] <= values[k] + noises[k] + noises[k + 1], k


# -- gradients whose squares underflow ---------------------------------------------------------

#: 1,000 float32 entries: one whose square is float32's smallest subnormal (1.4e-45) beside
#: 999 whose squares are below half of it: ``fl(g @ g)`` is 1.4e-45 where ``||g||^2`` is 6e-43.
UNDERFLOW_DIRECTION = np.concatenate([[3.7], np.full(999, 2.45)])
UNDERFLOW_DIRECTION /= np.linalg.norm(UNDERFLOW_DIRECTION)


def _pseudo_huber_along(a: np.ndarray, c: float) -> tuple[Any, Any, Any]:
    """``f(x) = c sqrt(1 + (a . x)^2)``, its gradient (float32) and its ball oracle
    ``c ||a||^2 / (1 + (|a . x| - ||a|| R)_+^2)^(3/2)`` (the Hessian ``c a a^T / (1 +
    s^2)^(3/2)`` at ``s = a . y``, largest where ``|s|`` is least; ``||a|| <= 1.000001``
    here, padded 1%): its curvature grows toward the minimiser, so a step past the ball
    its bound covers overshoots."""
    a64 = a.astype(np.float64)
    norm_sq = float(a64 @ a64)

    def fun(x: Any) -> float:
        s = float(a64 @ x.astype(np.float64))
        return c * math.sqrt(1.0 + s * s)

    def grad(x: Any) -> Any:
        s = float(a64 @ x.astype(np.float64))
        return (c * s / math.sqrt(1.0 + s * s) * a64).astype(x.dtype)

    def smoothness(x: Any, radius: float) -> float:
        gap = max(abs(float(a64 @ x.astype(np.float64))) - 1.000001 * radius, 0.0)
        return 1.01 * c * norm_sq / (1.0 + gap * gap) ** 1.5

    return fun, grad, smoothness


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("lfso", {}),
        ("lfso", {"direction": lambda x, g: -g}),
        ("lfso-lbfgs", {"certificate": "ball", "safeguard": False}),
        ("lfso-accel", {}),
        ("lfso-accel", {"certificate": "segment"}),
    ],
    ids=["lfso", "lfso-direction", "lfso-lbfgs-ball", "lfso-accel", "lfso-accel-segment"],
)
def test_float32_steps_where_the_squares_of_the_gradient_underflow_descend(method, options):
    """A user's ball oracle on ``c sqrt(1 + (a . x)^2)`` in float32 from ``x = 100 a``, the
    gradient's 1,000 entries so small that their squares underflow: ``fl(g @ g)`` is
    1.4e-45 where ``||g||^2`` is 6e-43. A radius sized by ``sqrt(fl(g @ g))``, 25 times
    short of the step's length, let every step overshoot the minimiser (``f`` rose 17-fold
    a step); the norm is the scaled one there (:func:`lfso._arrays.norm_from_square`).
    ``lfso-accel`` promises the decrease at its gradient steps, not at the extrapolated
    points the loop records: one step (its first is a gradient step) is checked."""
    a = UNDERFLOW_DIRECTION.astype(np.float32)
    fun, grad, smoothness = _pseudo_huber_along(a, 7.75e-22)
    x0 = (100.0 * UNDERFLOW_DIRECTION).astype(np.float32)
    g0 = grad(x0)
    assert float(np.vdot(g0, g0)) < 1e-2 * float(g0.astype(np.float64) @ g0)  # (the setting)
    points = [x0.astype(np.float64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            fun,
            x0,
            grad=grad,
            smoothness=smoothness,
            method=method,
            max_iter=1 if method == "lfso-accel" else 8,
            tol=0.0,
            monitor=False,
            callback=lambda x: points.append(np.asarray(x, np.float64)),
            **options,
        )
    assert res.nit > 0, res.message
    a64 = a.astype(np.float64)
    values = [7.75e-22 * math.sqrt(1.0 + float(a64 @ x) ** 2) for x in points]
    for k in range(len(values) - 1):  # (float64 recomputation: 1e-6 covers the rounding)
        assert values[k + 1] <= values[k] * (1.0 + 1e-6), (k, values[k], values[k + 1])


def test_float32_l0l1_accelerated_segment_step_where_the_squares_underflow_descends():
    """``L0L1Smooth(PowerNorm(1), L0=2, L1=1)`` (``||x||^2``: Hessian ``2 <= L0``) with
    ``lfso-accel`` and the segment bound, at a float32 ``x`` whose gradient's squares
    underflow: the segment's ``||d||`` from ``sqrt(fl(d @ d))`` was 25 times short beside
    the step's target ``eta ||g||^2`` (the evaluation's scaled norm), and the step landed
    at ``-10 x``-ish, ``f`` 70 times higher."""
    from lfso.models import L0L1Smooth

    x0 = (1e-23 * UNDERFLOW_DIRECTION / UNDERFLOW_DIRECTION[-1] * 1.3).astype(np.float32)
    g0 = 2.0 * x0
    assert float(np.vdot(g0, g0)) < 1e-2 * float(g0.astype(np.float64) @ g0)  # (the setting)
    points = [x0.astype(np.float64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfso.minimize(
            L0L1Smooth(PowerNorm(1), L0=2.0, L1=1.0),
            x0,
            method="lfso-accel",
            certificate="segment",
            max_iter=1,
            tol=0.0,
            monitor=False,
            callback=lambda x: points.append(np.asarray(x, np.float64)),
        )
    assert len(points) == 2
    before, after = (float(x @ x) for x in points)
    assert after <= before * (1.0 + 1e-6), (before, after)


def test_l0l1_accelerated_segment_step_where_the_bound_scale_overflows_descends():
    """``lfso-accel`` with the segment bound of ``L0L1Smooth`` far from the minimiser: the
    exponential bound's scale ``(L0 + L1 ||g||) ||d||^2`` along ``d = -g`` passed the float
    range (``||g|| ~ 4e105`` in float64), its radius solve started at 0 and raised a bare
    ``math domain error``. Along the unit-length ``-2^k g`` the run steps, and ``f`` falls."""
    from lfso.models import L0L1Smooth

    model = L0L1Smooth(PowerNorm(6), L0=12 * (10 / 30) ** 10, L1=30)
    x0 = np.full(1000, 1e8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            model, x0, method="lfso-accel", certificate="segment", max_iter=20, monitor=False
        )
    assert res.status == lfso.Status.MAX_ITER, res.message
    assert res.nit == 20
    exact = [float(np.sum(np.asarray(x, np.float64) ** 2) ** 6) for x in (x0, res.x)]
    assert exact[1] < exact[0]


def _huge_quadratic(H: np.ndarray, scale: float) -> dict[str, Any]:
    """``scale (x - 1)^T H (x - 1) / 2`` with its gradient and a valid constant oracle."""
    top = float(np.linalg.eigvalsh(H).max())
    return {
        "objective": lambda x: float(scale * 0.5 * (x - 1.0) @ (H @ (x - 1.0))),
        "grad": lambda x: scale * (H @ (x - 1.0)),
        "smoothness": lambda x, R: scale * top,
    }


def test_accelerated_run_on_huge_values_with_a_valid_oracle_converges():
    """``f ~ 1e300`` with a valid oracle: ``lfso-accel`` claimed the decrease
    ``tau (1 - eta/2) ||g||^2`` with ``||g||^2`` past the float range, an ``inf`` claim no
    trial could meet, and stopped ``STEP_FAILED`` at iteration 0 where ``lfso``
    converges; no trial step is rejected (the claim is finite and met)."""
    problem = _huge_quadratic(np.diag([1.0, 2.0, 3.0]), 1e300)
    res = lfso.minimize(**problem, x0=np.zeros(3), method="lfso-accel", monitor=False)
    assert res.status is lfso.Status.CONVERGED, res.message
    assert res.nit > 0 and res.rollbacks == 0
    assert np.allclose(res.x, 1.0, atol=1e-6)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "lfso-accel"])
def test_run_at_the_limit_of_floating_point_on_huge_values_says_so(method):
    """``f ~ 1e300`` at ``tol=0`` runs until ``x`` is within a few ulps of the minimiser,
    where the steps cannot be resolved: the safeguard's trials shrank the step until the
    bound times the inflation passed the float range, then proposed ``x`` itself with a
    NaN claim, rejected to the last (``STEP_FAILED``, blaming the gradient). That is the
    precision limit."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((5, 5))
    problem = _huge_quadratic(M @ M.T + np.eye(5), 1e300)
    res = lfso.minimize(
        **problem, x0=np.zeros(5), method=method, tol=0.0, max_iter=5000, monitor=False
    )
    assert res.status is lfso.Status.PRECISION_LIMIT, res.message
    assert res.fun < 1e-20 * problem["objective"](np.zeros(5))
    assert res.rollbacks > 0


def _paper_rule_case(case: str) -> tuple[Model, Model, np.ndarray]:
    """``(model, exact, x0)``: a float32 model with the authors' oracle, the same data in
    float64 (float32 data are exact there) and a float32 start, for the paper's rule."""
    kind, scale = case.rsplit("@", 1)
    s = float(scale)
    if kind == "square-lp1":  # consistent: the start is the minimiser rounded to float32
        A, b = lls_data(30, 30)
        A32, b32 = (A * s).astype(np.float32), (b * s).astype(np.float32)
        A64, b64 = A32.astype(np.float64), b32.astype(np.float64)
        x0 = np.linalg.solve(A64, b64).astype(np.float32)
        return LpRegression(A32, b32, 1, oracle="paper"), LpRegression(A64, b64, 1), x0
    if kind.startswith(("lp", "composite")):
        cls = LpRegression if kind.startswith("lp") else CompositeLeastSquares
        p = int(kind[-1])
        A, b = lls_data(60, 20)
        A32, b32 = (A * s).astype(np.float32), (b * s).astype(np.float32)
        model = cls(A32, b32, p, oracle="paper")
        exact = cls(A32.astype(np.float64), b32.astype(np.float64), p)
        return model, exact, np.ones(20, np.float32)
    if kind == "logistic":
        rng = np.random.default_rng(0)
        X = (rng.standard_normal((60, 5)) * s).astype(np.float32)
        y = (rng.standard_normal(60) > 0).astype(np.float64)
        l2 = float(np.float32(1 / 60))
        model = LogisticRegression(X, y, l2=l2, fit_intercept=True, oracle="paper")
        exact = LogisticRegression(X.astype(np.float64), y, l2=l2, fit_intercept=True)
        return model, exact, np.zeros(6, np.float32)
    assert kind == "power_sum3"
    x0 = (s * np.linspace(0.5, 1.5, 10)).astype(np.float32)
    return PowerSum(3, oracle="paper"), PowerSum(3), x0


PAPER_RULE_CASES = [
    "square-lp1@1",
    "square-lp1@1e-6",
    "square-lp1@1e-3",
    "square-lp1@1e4",
    "lp1@1e-9",
    "lp2@1",
    "lp2@1e-9",
    "lp3@1e-6",
    "composite1@1",
    "composite2@1e-6",
    "logistic@1e-9",
    "logistic@1e6",
    "power_sum3@1",
    "power_sum3@1e-3",
]


@pytest.mark.parametrize("case", PAPER_RULE_CASES)
def test_float32_paper_rule_never_rises_beyond_rounding(case):
    """The paper's rule (``radius="paper"`` with the authors' oracle: the benchmark's
    ``lfso-paper``) in float32, on its problems with data scaled by 1e-9 to 1e6 and from
    the rounded minimiser of a consistent system (where the computed gradient is rounding
    alone): the true ``f`` (float64, on the same data) never rises from one iterate to the
    next beyond the rounding of ``f`` and of the iterate, ``8 u (|f| + sum_i |x_i g_i|)``.
    (The step is checked against the model's bound on the exact slope: from the rounded
    minimiser, where the computed slope is rounding alone, the steps are sized from that
    bound and round to no move; before, sized from the computed slope, the exact ``f``
    rose there by a few times its size, a few hundredths of that allowance.)"""
    model, exact, x0 = _paper_rule_case(case)
    points = [x0.astype(np.float64)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            model,
            x0,
            method="lfso",
            radius="paper",
            max_iter=300,
            tol=0.0,
            monitor=False,
            callback=lambda r: points.append(np.asarray(r.x, np.float64)),
        )
    assert res.status in (lfso.Status.MAX_ITER, lfso.Status.STALLED, lfso.Status.CONVERGED)
    unit, values, moved = 2.0**-24, [exact.value(x) for x in points], False
    for k in range(1, len(points)):
        moved = moved or not np.array_equal(points[k], points[k - 1])
        g = exact.evaluate(points[k], bound=False).grad
        allowed = 8.0 * unit * (abs(values[k]) + float(np.abs(points[k] * g).sum()))
        allowed += 128 * 2.0**-53 * abs(values[k])  # (the float64 recomputation's own)
        assert values[k] - values[k - 1] <= allowed, (k, values[k - 1], values[k], allowed)
    assert moved or case.startswith("square"), "the run never moved: the case tests nothing"
