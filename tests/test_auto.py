"""The automatic oracle, the safeguard and the oracle check."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from cases import MODELS, dim_of
from hypothesis import given, settings
from hypothesis import strategies as st

import lfso
from lfso._auto import SecantBound, SecantEstimator, SecantState, check_oracle
from lfso.models import Evaluation, FunctionModel, LogisticRegression, LpRegression, PowerSum
from lfso.steps import EstimateCertificate
from lfso.steps._certificates import BallState, EstimateState


def rosenbrock(x):
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


@settings(max_examples=200, deadline=None)
@given(
    floor=st.floats(1e-6, 1e3),
    samples=st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1e4)), max_size=8),
    safety=st.floats(1.0, 4.0),
    target=st.floats(1e-8, 1e6),
)
def test_secant_bound_is_non_decreasing_and_its_radius_is_tight(floor, samples, safety, target):
    bound = SecantBound(floor, samples, safety)
    radii = sorted({0.0, *[d for d, _ in samples], *np.linspace(0, 12, 25).tolist()})
    values = [bound(r) for r in radii]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert min(values) >= safety * floor
    radius, L, _ = bound.radius_for(target)
    assert L == bound(radius) and radius * L >= target * (1 - 1e-12)
    below = radius * (1 - 1e-9)
    assert below * bound(below) < target or radius == 0.0


def test_secant_bound_radius_ends_with_no_curvature_seen_or_an_infinite_target():
    # No curvature yet (a linear function): L = 0 for every R, no radius (as any bound
    # answers L = 0: rejected by the caller), not R = inf with R L(R) NaN.
    assert SecantBound(0.0, [(1.0, 0.0)], 2.0).radius_for(1.0) == (0.0, 0.0, 1)
    # A target past the float range: the search ends past the last sample.
    radius, L, _ = SecantBound(1.0, [(2.0, 3.0)], 1.0).radius_for(np.inf)
    assert radius == np.inf and L == 3.0


def test_plain_function_without_oracle_defaults_to_auto_and_never_climbs():
    x0 = np.array([-1.2, 1.0, -1.2, 1.0, -1.2])
    res = lfso.minimize(rosenbrock, x0, grad=rosenbrock_grad, method="lfso", max_iter=100_000)
    assert res.success
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-4)
    assert np.all(np.diff(res.history.f) <= 0)
    assert res.rollbacks > 0 and res.njev == res.nit + 1 + res.rollbacks + 1


def test_model_as_black_box_with_auto():
    A = np.diag(np.linspace(1.0, 5.0, 6))
    model = LpRegression(A, np.ones(6), 1)
    res = lfso.minimize(model, np.zeros(6), smoothness="auto")
    assert res.success and res.noracle > 0
    np.testing.assert_allclose(res.x, np.ones(6) / np.linspace(1.0, 5.0, 6), atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_auto_estimate_on_a_quadratic_is_within_its_safety_factor(seed):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    A = Q @ np.diag(np.geomspace(1.0, 30.0, 10))
    model = LpRegression(A, rng.standard_normal(10), 1)
    L_true = 2 * np.linalg.norm(A, 2) ** 2
    res = lfso.minimize(model, np.zeros(10), method="lfso", smoothness="auto", max_iter=5000)
    L = res.history.L[1:]
    # Never above safety * L (the backoff of a rollback aside), never needlessly tiny.
    assert np.all(L <= 4.0 * L_true * (1 + 1e-9))
    rollback_free = res.rollbacks == 0
    assert not rollback_free or np.all(L <= 2.0 * L_true * (1 + 1e-9))
    assert np.all(np.diff(res.history.f) <= 1e-12 * abs(res.history.f[:-1]))


def test_hessian_vector_products_give_the_top_curvature():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 8))
    model = LpRegression(A, rng.standard_normal(30), 1)
    H = 2 * A.T @ A
    res = lfso.minimize(
        model,
        np.zeros(8),
        method="lfso",
        smoothness="auto",
        hvp=lambda x, v: H @ v,
        power_iterations=3,
        max_iter=3000,
    )
    assert res.success and res.nhev == 3 * res.nit
    L_true = np.linalg.norm(H, 2)
    # Power iterations warm-started across iterations converge to ||H||: after a few
    # iterations L is within the safety factor 2 of it from above.
    assert np.all(res.history.L[10:] >= 2 * L_true * 0.99)
    assert np.all(res.history.L[10:] <= 2 * L_true * 1.01)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_an_hvp_with_nan_entries_is_named(method):
    """From its third product on (for ``lfso-lbfgs``: along an L-BFGS direction)."""
    calls = []

    def hvp(x, v):
        calls.append(1)
        out = 12.0 * x**2 * v
        if len(calls) >= 3:
            out[0] = np.nan
        return out

    with pytest.raises(ValueError, match=r"hvp.* NaN entries") as caught:
        lfso.minimize(
            lambda x: float(np.sum(x**4)),
            np.ones(3),
            grad=lambda x: 4 * x**3,
            hvp=hvp,
            method=method,
        )
    assert caught.value.result.status is lfso.Status.RAISED and len(calls) == 3


def test_along_a_quasi_newton_direction_the_hessian_sample_is_the_curvature_along_it():
    """With ``hvp``, the sample along ``d`` is ``d . H d / ||d||^2`` from one product (the
    top curvature would size an L-BFGS step as a gradient step): on an ill-conditioned
    quadratic the run needs no more iterations than without ``hvp``."""
    D = np.diag(np.logspace(0, 3, 20))
    fun, grad = (lambda x: 0.5 * x @ D @ x), (lambda x: D @ x)
    plain = lfso.minimize(fun, np.ones(20), grad=grad)
    res = lfso.minimize(fun, np.ones(20), grad=grad, hvp=lambda x, v: D @ v)
    assert res.success and plain.success and res.nit <= plain.nit
    assert res.nhev <= res.nit + 2  # one product along d (power iterations along -g only)
    estimator = SecantEstimator(hvp=lambda x, v: D @ v)
    x, d = np.ones(20), -np.linspace(1.0, 2.0, 20)
    model = FunctionModel(fun, grad)
    ev = model.evaluate(x, bound=False)
    samples, _, used = estimator.samples(x, ev, estimator.init(model, x, ev), along=d)
    assert used == 1 and samples == [(0.0, pytest.approx(d @ D @ d / (d @ d), rel=1e-15))]


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("factor", [10.0, 100.0, 1000.0])
def test_safeguard_rescues_a_wrong_oracle(factor):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((40, 6))
    model = LpRegression(A, A @ np.ones(6) + 0.1 * rng.standard_normal(40), 2)
    wrong = FunctionModel(model.value, model.grad, (1.0 / factor) * model)
    x0 = np.zeros(6)
    unsafe = lfso.minimize(wrong, x0, method="lfso", max_iter=200, safeguard=False)
    assert not unsafe.success  # climbs or blows up without the safeguard
    safe = lfso.minimize(wrong, x0, method="lfso", max_iter=50_000, safeguard=True)
    assert safe.success and safe.rollbacks > 0
    assert np.all(np.diff(safe.history.f) <= 1e-12 * np.abs(safe.history.f[:-1]))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("factor", [10.0, 1e3, 1e6])
def test_safeguard_rescues_a_wrong_ball_oracle_along_lbfgs_directions(factor):
    """The default method with a user's ball oracle ``factor`` times too small
    (``BallCappedEstimate``): once a step no longer than the ball's is rejected, the
    ball's step is not proposed again, so the run converges where the true oracle's does
    instead of repeating that step until ``STEP_FAILED``."""
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((30, 4)), rng.standard_normal(30)
    model = LpRegression(A, b, 2)
    wrong = FunctionModel(model.value, model.grad, lambda x, R: model(x, R) / factor)
    best = lfso.minimize(model, np.ones(4), tol=1e-10).fun
    res = lfso.minimize(wrong, np.ones(4), max_iter=5_000, safeguard=True)
    assert res.success, res.message
    assert res.fun == pytest.approx(best, rel=1e-9)
    assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(1e-3, 1e3))
def test_safeguarded_runs_decrease_monotonically_for_any_oracle(seed, scale):
    """Valid, too-small and random oracles alike: the safeguard keeps f non-increasing."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((20, 4))
    y = (rng.uniform(size=20) < 0.5).astype(float)
    model = LogisticRegression(A, y, l2=0.01)

    def oracle(x, R):  # random in x (valid or not), non-decreasing in R as required
        level = np.random.default_rng(abs(hash(x.tobytes())) % 2**32).lognormal(0.0, 2.0)
        return scale * level * (1.0 + R)

    wrong = FunctionModel(model.value, model.grad, oracle)
    res = lfso.minimize(wrong, np.zeros(4), max_iter=300, safeguard=True, tol=0.0)
    f = res.history.f
    assert np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1]))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_check_oracle_passes_every_builtin_oracle(name):
    rng = np.random.default_rng(11)
    model = MODELS[name](rng)
    x = rng.standard_normal(dim_of(model))
    report = check_oracle(model, x, radii=(1e-2, 1e-1, 1.0), samples=40)
    assert report.passed, str(report)
    assert 0.0 < report.max_ratio <= 1.0 and report.pairs > 100


def test_check_oracle_finds_a_planted_violation():
    model = PowerSum(2)
    report = check_oracle(
        lambda x: model.value(x),
        np.array([1.0, 0.5]),
        radii=(0.1, 1.0),
        samples=50,
        grad=model.grad,
        smoothness=lambda x, R: 0.5 * model(x, R),
    )
    assert not report.passed and report.max_ratio > 1.5
    assert report.worst[0]["ratio"] == report.max_ratio and "FAILED" in str(report)


def test_check_oracle_refuses_an_oracle_beside_a_model_s_own():
    model = PowerSum(2)
    with pytest.raises(TypeError, match="a model has its own"):
        check_oracle(model, np.ones(3), smoothness=lambda x, R: 1e-9, samples=5)
    with pytest.raises(TypeError, match="a model has its own"):
        check_oracle(model, np.ones(3), grad=model.grad, samples=5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_check_oracle_takes_pytorch_models_at_their_dtype(dtype):
    """The sample points are made in the model's library and dtype; the distances are
    those of the points as rounded there, so the close pairs stay within the bound."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(20, 3, generator=gen, dtype=getattr(torch, dtype))
    for model in (
        lfso.models.LpRegression(A, torch.randn(20, generator=gen, dtype=A.dtype), 2),
        lfso.models.LogisticRegression(A, (A[:, 0] > 0).to(A.dtype)),
    ):
        for x in (torch.zeros(3), np.full(3, 0.5)):
            report = check_oracle(model, x, radii=(1e-2, 1.0), samples=30)
            assert report.passed and report.pairs >= 45, str(report)  # (float32: close
            # pairs at R = 1e-2 that round to one point are skipped)


def test_secant_oracle_rejects_bad_settings():
    with pytest.raises(ValueError, match="safety must be finite and >= 1"):
        SecantEstimator(safety=0.5)
    with pytest.raises(ValueError, match="growth must be finite and > 1"):
        SecantEstimator(growth=1.0)
    with pytest.raises(TypeError, match="hvp must be callable"):
        SecantEstimator(hvp=3)


def test_safeguard_learns_from_the_audit():
    """An oracle caught too small by the zero-cost audit has its L raised for later steps."""
    A = np.diag(np.linspace(1.0, 10.0, 8))
    model = LpRegression(A, np.ones(8), 1)  # true L = 200
    wrong = FunctionModel(model.value, model.grad, lambda x, R: 20.0)
    res = lfso.minimize(
        wrong, np.zeros(8), safeguard=True, certificate="ball", max_iter=20_000, monitor=False
    )
    assert res.success
    assert np.max(res.history.L[1:]) > 20.0  # raised above the oracle's claim
    assert res.rollbacks < 0.05 * res.nit  # learned once, not paid at every step


def test_hvp_by_automatic_differentiation_on_torch_tensors():
    torch = pytest.importorskip("torch")
    H = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))

    def fun(x):
        return 0.5 * x @ H @ x + (x**4).sum()

    def grad(x):
        return H @ x + 4 * x**3

    x0 = torch.ones(3, dtype=torch.float64)
    res = lfso.minimize(fun, x0, grad=grad, hvp="autodiff", power_iterations=3)
    assert res.success and isinstance(res.x, torch.Tensor)
    assert res.nit <= res.nhev < 3 * res.nit  # (one product along each L-BFGS direction)
    with pytest.raises(TypeError, match="hvp='autodiff' differentiates a plain function"):
        lfso.minimize(fun, np.ones(3), grad=grad, hvp="autodiff")


def test_safeguard_gives_up_honestly_on_a_wrong_gradient():
    """A gradient that is not the function's: no step decreases f; the run stops, f intact,
    and a finite difference at the best point names the gradient rather than the steps."""
    model = PowerSum(2)
    res = lfso.minimize(
        model.value,
        np.ones(3),
        grad=lambda x: -model.grad(x),
        smoothness=model,
        safeguard=True,
        max_rollbacks=5,
        monitor=False,
    )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and "check_grad" in res.message
    assert "6 trial steps rejected by the safeguard" in res.message
    assert res.nit == 0 and res.fun == model.value(np.ones(3))
    assert res.rollbacks == 5 + 1  # (every trial rejected, each rolled back)


def test_lbfgs_with_the_estimate_takes_the_unit_step_where_the_estimate_reaches_it():
    """Along L-BFGS directions the estimate sizes the step without the safety factor,
    capped at the unit step (the direction's own scale): on a well-conditioned quadratic
    no step exceeds 1, many are exactly 1 (the safety factor would halve them), and f
    never rises."""
    rng = np.random.default_rng(3)
    A = np.linalg.qr(rng.standard_normal((30, 30)))[0] @ np.diag(np.geomspace(1.0, 3.0, 30))
    model = LpRegression(A, rng.standard_normal(30), 1)
    res = lfso.minimize(model, np.zeros(30), method="lfso-lbfgs", smoothness="auto")
    assert res.success
    steps = res.history.step[2:]  # after x0's steepest step and the first L-BFGS one
    assert np.all(steps <= 1.0) and np.mean(steps == 1.0) >= 0.25 and np.mean(steps) > 0.6
    assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))


def test_a_rejected_trial_along_d_learns_the_curvature_its_values_show():
    """After a rejected trial along d, the sample is the larger of the gradient secant
    along d and the values' ``2 (f(x + t d) - f(x) - t g . d) / (t ||d||)^2`` (both lower
    bounds on the largest curvature on the segment): a trial whose gradient barely changed
    but whose value rose still shortens the next one."""
    cert = EstimateCertificate(SecantEstimator())
    x, d = np.zeros(2), np.array([1.0, 0.0])
    here = Evaluation(0.0, np.array([-1.0, 0.0]), 1.0)
    there = Evaluation(9.0, np.array([-0.5, 0.0]), 0.5)  # at x + d: secant along d 0.5
    state = EstimateState(BallState(None), SecantState(1.0, None, None, None), [], ())
    ((distance, rho),) = cert.learn(x, here, d, 1.0, there, state).extra
    assert distance == 1.0
    assert rho == pytest.approx(2 * (9.0 - 0.0 - 1.0 * -1.0))


@pytest.mark.parametrize("length", [1e-170, 1e-200, 1e170])
def test_a_rejected_trial_along_a_tiny_or_huge_d_learns_the_same_curvature(length):
    """The sample along d does not depend on the length of d: where ``||d||^2`` (or
    ``distance ||d||^2``) leaves the float range, as where a run closes in on a kink of f
    with steps of 1e-160, it is the one along d / ||d||, not a ZeroDivisionError."""
    cert = EstimateCertificate(SecantEstimator())
    x, unit = np.zeros(2), np.array([0.6, 0.8])
    here = Evaluation(0.0, np.array([-1.0, 0.0]), 1.0)
    there = Evaluation(3e-100, np.array([1.0, 0.0]), 1.0)  # at x + 1e-100 unit
    state = EstimateState(BallState(None), SecantState(1.0, None, None, None), [], ())
    ((_, expected),) = cert.learn(x, here, unit, 1e-100, there, state).extra
    ((distance, rho),) = cert.learn(x, here, length * unit, 1e-100, there, state).extra
    assert distance == 1e-100 and 0.0 < expected < np.inf
    assert rho == pytest.approx(expected, rel=1e-12)


def test_lbfgs_closing_in_on_a_kink_does_not_divide_by_zero():
    """L-BFGS on ``sum |x_i|`` with the automatic estimate closes in on the kink at 0 with
    steps of 1e-110 and less: a rejected trial's sample was a ZeroDivisionError (the run
    ended RAISED); the run now ends with a status and its best point near the kink."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        res = lfso.minimize(
            lambda x: float(np.abs(x).sum()),
            np.array([1.0, 2.0, -3.0]),
            grad=np.sign,
            method="lfso-lbfgs",
            max_iter=2000,
        )
    assert res.status is not lfso.Status.RAISED and res.fun < 1e-100


def test_a_tight_oracle_passes_the_check_despite_the_gradients_rounding():
    """On close pairs (distance 1e-6 R) the computed ratio of an exactly tight oracle
    exceeds 1 by the gradients' rounding; the check allows for it, per pair, and still
    catches an oracle 0.1% too small."""
    from lfso.bench import get_problem

    model, x0 = get_problem("power_sum-p3").make()
    check = lfso.check_oracle(model, x0)
    assert check.max_ratio > 1.0  # (rounding: the sup is attained on the sphere)
    assert check.passed and all(w["rounding"] > 0.0 for w in check.worst)
    small = lfso.check_oracle(
        model.value, x0, grad=model.grad, smoothness=lambda x, R: 0.999 * model(x, R)
    )
    assert not small.passed and small.max_ratio > 1.0005


def test_check_oracle_reports_a_nan_gradient_as_nan_not_as_a_small_ratio():
    """Where the gradient is NaN beyond ``|x_i| > 1.5`` (the sphere of radius 1 around
    ``x = 1``), ``max_ratio`` was the largest finite ratio (1.0: the oracle looked right)
    and the NaN pairs could sort anywhere in ``worst``."""
    check = lfso.check_oracle(
        lambda x: 0.5 * float(x @ x),
        np.ones(3),
        grad=lambda x: np.where(np.abs(x) > 1.5, np.nan, x),
        smoothness=lambda x, R: 1.0,
    )
    assert not check.passed
    assert np.isnan(check.max_ratio)
    assert np.isnan(check.worst[0]["ratio"]) and check.worst[0]["radius"] == 1.0


@pytest.mark.parametrize(
    ("problem", "radius", "message"),
    [
        ("lp_regression-p2-n100", 1e60, r"radii\[1\] = 1e\+60: the gradient passes the float"),
        ("power_norm-p2", 1e120, r"radii\[1\] = 1e\+120: the gradient passes the float"),
        ("power_norm-p2", 1e-200, r"radii\[1\] = 1e-200: no two sampled points .* larger"),
        ("power_sum-p3", 1e300, r"radii\[1\] = 1e\+300: .* L\(x, R\) = inf .* smaller"),
    ],
)
def test_check_oracle_gives_no_verdict_at_a_radius_where_nothing_is_measured(
    problem, radius, message
):
    """At ``R = 1e60`` the gradients of the l_2 regression pass the float range and the
    rounding allowance was inf: ``passed=True`` with ``max_ratio=inf``; at ``R = 1e-200``
    ``x + R`` rounds back to ``x``: ``passed=True`` over 0 pairs."""
    model, x0 = lfso.bench.get_problem(problem).make()
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=message):
        check_oracle(model, x0, radii=[1.0, radius], samples=4)


def test_check_oracle_fails_an_infinite_gradient_where_f_is_finite():
    """An infinite gradient at ``y = x + e_0`` (where ``f`` is finite) next to a finite
    one at ``z`` is measured: its ratio is inf, and its rounding allowance (inf too) no
    longer lets it pass."""
    check = check_oracle(
        lambda x: 0.5 * float(x @ x),
        np.ones(3),
        grad=lambda x: np.where(x >= 2.0, np.inf, x),
        smoothness=lambda x, R: 1.0,
        radii=[1.0],
        samples=1,
    )
    assert not check.passed and check.max_ratio == np.inf


def test_check_oracle_fails_a_tiny_bound_whose_ratio_overflows():
    """``L = 5e-324`` for ``f = x.x`` (whose ``L`` is 2): the ratio and the rounding
    allowance both overflowed to inf and ``inf <= 1 + rtol + inf`` passed it."""
    check = check_oracle(
        lambda x: float(x @ x), np.ones(3), grad=lambda x: 2 * x, smoothness=lambda x, R: 5e-324
    )
    assert not check.passed and check.max_ratio == np.inf and check.pairs > 0
    exact = check_oracle(
        lambda x: float(np.sum(x)),
        np.ones(3),
        grad=lambda x: 0 * x + 1.0,
        smoothness=lambda x, R: 5e-324,
    )
    assert exact.passed  # (a constant gradient: no change for any L to bound)


def _abs_sum(x):
    return float(np.abs(x).sum())


def _c1_sum(x):  # (sum max(x, 0)^1.5: C^1, its gradient Holder, not Lipschitz, at 0)
    return float((np.maximum(x, 0.0) ** 1.5).sum() + 1e-3 * (x @ x))


def _c1_grad(x):
    return 1.5 * np.sqrt(np.maximum(x, 0.0)) + 2e-3 * x


@pytest.mark.parametrize("method", [None, "lfso", "lfso-lbfgs"])
def test_a_kink_that_stops_a_run_short_is_named_not_rounding(method):
    kwargs = {} if method is None else {"method": method}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        res = lfso.minimize(_abs_sum, np.array([1.3, -0.7, 2.1]), grad=np.sign, **kwargs)
    assert res.status in (lfso.Status.MAX_ITER, lfso.Status.STALLED)
    assert "f looks non-smooth near x" in res.message
    assert "loosen tol" not in res.message and "increase max_iter" not in res.message


def _signed_unit_at_argmax(x):
    g = np.zeros_like(x)
    i = int(np.argmax(np.abs(x)))
    g[i] = np.sign(x[i])
    return g


@pytest.mark.parametrize("method", [None, "lfso", "lfso-lbfgs"])
def test_a_kink_that_fails_the_gradient_check_is_named_not_a_wrong_gradient(method):
    """``max_i |x_i|`` with its (right) gradient ends where two entries tie: the check's
    finite difference disagrees with the gradient there, and its one-sided differences
    show the kink, which the message names in place of a wrong gradient; a wrong gradient
    of a smooth ``f`` is still named as one."""
    kwargs = {} if method is None else {"method": method}
    x0 = np.array([1.3, -0.7, 2.1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        res = lfso.minimize(lambda x: np.abs(x).max(), x0, grad=_signed_unit_at_argmax, **kwargs)
        wrong = lfso.minimize(lambda x: 0.5 * x @ x, x0, grad=lambda x: -x, **kwargs)
    assert res.status is lfso.Status.GRADIENT_MISMATCH
    assert "f has a kink at x" in res.message and "likely wrong" not in res.message
    assert wrong.status is lfso.Status.GRADIENT_MISMATCH
    assert "likely wrong" in wrong.message and "kink" not in wrong.message


def _rosen(x):
    return float(
        100.0 * (x[1:] - x[:-1] ** 2) @ (x[1:] - x[:-1] ** 2) + (1.0 - x[:-1]) @ (1.0 - x[:-1])
    )


def _rosen_grad(x):
    inner = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


@pytest.mark.parametrize(
    ("fun", "grad", "kwargs", "kink"),
    [
        (_abs_sum, np.sign, {"method": "lfso", "max_iter": 2000}, True),
        (_abs_sum, np.sign, {"method": "lfso-lbfgs", "max_iter": 2000}, True),
        (_rosen, _rosen_grad, {"method": "lfso", "max_iter": 30}, False),
        (_rosen, _rosen_grad, {"method": "armijo", "max_iter": 30}, False),
    ],
)
def test_the_stop_message_does_not_depend_on_monitor(fun, grad, kwargs, kink):
    """A kink is named from the history alone where no monitor runs (``monitor=False``):
    the same message either way, and a smooth run cut short is not called non-smooth."""
    messages = []
    for monitor in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
            res = lfso.minimize(
                fun, np.array([1.3, -0.7, 2.1]), grad=grad, monitor=monitor, **kwargs
            )
        assert res.status in (lfso.Status.MAX_ITER, lfso.Status.STALLED)
        assert ("f looks non-smooth near x" in res.message) == kink
        messages.append(res.message)
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    ("fun", "grad", "kwargs"),
    [
        (_c1_sum, _c1_grad, {"method": "lfso", "tol": 1e-300, "max_iter": 3000}),
        (_c1_sum, _c1_grad, {"method": "lfso-lbfgs", "tol": 1e-300, "max_iter": 3000}),
        (
            lambda x: float(0.5 * x @ (np.array([1.0, 1e3, 1e6]) * x) + 1e8),
            lambda x: np.array([1.0, 1e3, 1e6]) * x,
            {"method": "lfso", "tol": 1e-300, "max_iter": 500},
        ),
    ],
)
def test_a_smooth_run_is_not_called_non_smooth(fun, grad, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        res = lfso.minimize(fun, np.array([1.3, -0.7, 2.1]), grad=grad, **kwargs)
    assert "non-smooth" not in res.message
    assert res.message.startswith(res.status.message[:40])
