"""Certified steps (direction x certificate): every certified method decreases f by at least
what its certificate claims; LFSO-GD through the ball is the paper's loop; L-BFGS edge
cases; the method registry rejects every bad option."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import lfso
from lfso._arrays import norm
from lfso._registry import DEFAULT_METHOD, METHODS, build_rule, settle
from lfso.bench import PROBLEMS
from lfso.models import Evaluation, FunctionModel, LpRegression, Model, PowerSum
from lfso.oracles import ConstantBound, OracleError, PrecisionLimitError, WrappedSegment
from lfso.steps import (
    ArmijoStep,
    BallCertificate,
    CertifiedStep,
    LBFGSDirection,
    LFSOStep,
    Safeguarded,
    SteepestDescent,
)
from lfso.steps._directions import CallableDirection, LBFGSState

WITH_ORACLE = sorted(n for n, p in PROBLEMS.items() if p.has_oracle)

#: (method, options) of every certified configuration.
CERTIFIED = [
    ("lfso", {}),
    ("lfso", {"certificate": "ball"}),
    ("lfso", {"certificate": "segment", "eta": 1.5}),
    ("lfso-lbfgs", {}),
    ("lfso-lbfgs", {"certificate": "ball", "memory": 3}),
    ("lfso-lbfgs", {"certificate": "segment", "eta": 0.5}),
]


def _iterate(model, x0, method, options, steps):
    """Drive a rule by hand: ``(x, evaluation, d, L, move, new)`` per step (``L`` the
    reported curvature per unit length, ``C / ||d||^2``)."""
    rule = build_rule(method, dict(options), model=model, auto=False)
    ev = model.evaluate(x0)
    state = rule.init(model, x0, ev)
    x, out = x0, []
    for _ in range(steps):
        try:
            plan = rule.plan(model, x, ev, state)
        except PrecisionLimitError:  # the quadratics reach the bottom of the float range
            break
        proposal = rule.propose(x, ev, plan, 1.0)
        state = rule.commit(plan, proposal, x, ev)
        move = proposal.move
        d = -ev.grad if plan.direction is None else plan.direction
        lipschitz = None if plan.sized is None else plan.sized.curvature
        new = model.evaluate(move.x)
        out.append((x, ev, d, lipschitz, move, new))
        x, ev = move.x, new
    return out


@pytest.mark.parametrize("method, options", CERTIFIED)
@pytest.mark.parametrize("problem", WITH_ORACLE)
def test_every_certified_step_decreases_f_as_claimed(problem, method, options):
    model, x0 = PROBLEMS[problem].build("sharp")
    eta = options.get("eta", 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        steps = _iterate(model, x0, method, options, 25)
    for x, ev, d, lipschitz, move, new in steps:
        # g . v and C = L ||v||^2 computed here, not taken from the rule, along v = 2^k d of
        # length in [1/2, 1): neither underflows where the squares of d do
        length = norm(d)
        exponent = math.frexp(length)[1]
        v = np.ldexp(d, -exponent)
        slope = float(np.asarray(ev.grad) @ v)
        if lipschitz is None or not slope < 0.0:  # g = 0 (to underflow): f cannot rise
            assert new.value <= ev.value
            continue
        t = move.step
        np.testing.assert_array_equal(move.x, x + t * d)
        curvature = lipschitz * float(v @ v)
        assert math.ldexp(t, exponent) == pytest.approx(eta * -slope / curvature, rel=1e-9)
        claim = eta * (1 - eta / 2) * slope**2 / curvature
        slack = 1e-10 * abs(ev.value) + 1e-300
        assert new.value <= ev.value - claim + slack, (problem, method)
        # The step stays in the segment the bound covers.
        assert t * length <= move.R * (1 + 1e-9)


def _transcribed_lfso_gd(model, x0, steps, eta=1.0, rtol=1e-3):
    """Tight-radius LFSO-GD as the code before the split wrote it (radius guess from the
    last radius rescaled by the target and the drift; the next radius offered as a hint)."""
    ev = model.evaluate(x0)
    x, xs = x0, [x0]
    last_radius = last_target = last_length = None
    drift = 1.0
    for _ in range(steps):
        target = eta * ev.grad_norm
        bound = ev.bound
        predicted = last_radius
        if predicted is not None and last_target > 0.0:
            predicted *= target / last_target
        guess = None if predicted is None else predicted * drift
        radius, L, _ = bound.radius_for(target, rtol=rtol, guess=guess)
        drift = 1.0 if not predicted else min(max(radius / predicted, 0.5), 2.0)
        offered = getattr(bound, "hint", None)
        missed = offered is not None and radius != offered
        length = target / L
        hint = None
        if last_length and not missed:
            hint = length * min(max(length / last_length, 0.5), 2.0) * math.sqrt(1 + rtol)
        x = x - (eta / L) * ev.grad
        extras = {"hint": hint} if hint is not None and "hint" in model.extras else {}
        ev = model.evaluate(x, **extras)
        last_radius, last_target, last_length = radius, target, length
        xs.append(x)
    return xs


@pytest.mark.parametrize(
    "problem", ["power_norm-p3", "lp_regression-p2-n100", "logistic-breast_cancer", "robust-cauchy"]
)
def test_ball_certificate_with_steepest_descent_is_the_tight_radius_loop(problem):
    model, x0 = PROBLEMS[problem].build("sharp")
    expected = _transcribed_lfso_gd(model, x0, 60)
    rules = (
        {"method": "lfso", "certificate": "ball"},
        {"method": LFSOStep(certificate="ball")},
        {"method": CertifiedStep(SteepestDescent(), BallCertificate())},
    )
    for options in rules:
        xs: list[np.ndarray] = []
        res = lfso.minimize(
            model,
            x0,
            tol=0.0,
            max_iter=60,
            monitor=False,
            callback=lambda xk, xs=xs: xs.append(np.copy(xk)),
            **options,
        )
        assert res.nit == 60 and len(xs) == 60
        for k, x in enumerate(xs, start=1):
            assert np.array_equal(x, expected[k]), (problem, k)


def _ev(model, x):
    return model.evaluate(x)


def test_lbfgs_skips_a_pair_without_positive_curvature():
    # f = -cos(x_1) + x_2^2 / 2: across x_1 = pi/2 the curvature along x_1 is negative.
    fun = lambda x: -math.cos(x[0]) + 0.5 * x[1] ** 2  # noqa: E731
    grad = lambda x: np.array([math.sin(x[0]), x[1]])  # noqa: E731
    model = FunctionModel(fun, grad, lambda x, R: 1.0)
    direction = LBFGSDirection(memory=5)
    x0, x1 = np.array([1.4, 0.0]), np.array([2.6, 0.0])  # s.y = 1.2 (sin 2.6 - sin 1.4) < 0
    state = direction.init(x0, _ev(model, x0))
    state = LBFGSState((), x0, _ev(model, x0).grad)
    ev1 = _ev(model, x1)
    d, slope, length, state = direction(x1, ev1, state)
    assert state.pairs == ()  # skipped
    np.testing.assert_array_equal(d if d is not None else -ev1.grad, -ev1.grad)
    assert slope == pytest.approx(-(ev1.grad_norm**2)) and length == pytest.approx(ev1.grad_norm)
    # The run is monotone and converges to the minimiser (0, 0) all the same.
    res = lfso.minimize(model, np.array([1.4, 0.3]), method="lfso-lbfgs", max_iter=500)
    assert res.success and np.all(np.diff(res.history.f) <= 1e-15)


def test_lbfgs_falls_back_to_steepest_descent_on_an_uphill_direction():
    model = PowerSum(1)  # f = ||x||^2
    x = np.array([1.0, 2.0])
    ev = _ev(model, x)
    # A corrupted memory (s . y < 0 kept) makes -H g point uphill: the direction is -g and
    # the memory is cleared.
    s, y = np.array([1.0, 0.0]), np.array([-3.0, 0.0])
    state = LBFGSState(((s, y),), None, None)
    d, slope, _, state = LBFGSDirection()(x, ev, state)
    assert d is None and slope == pytest.approx(-(ev.grad_norm**2)) and state.pairs == ()
    # A user direction that points uphill is replaced by -g too.
    d, slope, _, _ = CallableDirection(lambda x, g: g)(x, ev, None)
    assert d is None and slope < 0.0
    res = lfso.minimize(model, x, method="lfso", direction=lambda x, g: g, max_iter=50)
    ref = lfso.minimize(model, x, method="lfso", max_iter=50)
    assert res.success and np.array_equal(res.x, ref.x)


def test_a_user_direction_orthogonal_to_the_gradient_within_rounding_is_replaced_by_minus_g():
    # d = (g_2, -g_1, 0): g . d is 0 exactly, or of the rounding of x where g_1 != g_2 in
    # their last bits, whose sign tells nothing. Taken as a descent direction there, its
    # step t ~ -g . d / C is ~1e-21 and the run stays put until it stops STALLED.
    def f(x):
        return float(np.sum((x - 1.0) ** 2))

    def grad(x):
        return 2.0 * (x - 1.0)

    def turn(x, g):
        return np.array([g[1], -g[0], 0.0])

    res = lfso.minimize(f, np.zeros(3), grad=grad, method="lfso", direction=turn, max_iter=100)
    ref = lfso.minimize(f, np.zeros(3), grad=grad, method="lfso", max_iter=100)
    assert res.success and np.allclose(res.x, 1.0)
    assert np.array_equal(res.x, ref.x)


def test_a_user_direction_that_changes_its_arguments_in_place_changes_nothing():
    A = np.random.default_rng(0).standard_normal((50, 5))
    model = LpRegression(A, A @ np.ones(5), 2)
    ref = lfso.minimize(model, np.zeros(5), method="lfso", direction=lambda x, g: -g)

    def negates_g(x, g):
        g *= -1.0  # d = -g, written over the argument
        return g

    def moves_x(x, g):
        x += 1.0
        return -g

    for direction in (negates_g, moves_x):
        res = lfso.minimize(model, np.zeros(5), method="lfso", direction=direction)
        assert res.success and np.all(np.diff(res.history.f) <= 0.0)
        assert np.array_equal(res.x, ref.x) and res.fun == model.evaluate(res.x).value


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        (lambda g: (-g).astype(complex), TypeError, "real array, got dtype complex128"),
        (lambda g: g < 0, TypeError, "real array, got dtype bool"),
        (lambda g: (-g)[None, :], ValueError, r"shape \(5,\)"),
        (lambda g: None, TypeError, "got NoneType"),
    ],
)
def test_a_user_direction_of_another_kind_is_named(returned, error, message):
    model = LpRegression(np.eye(5), np.ones(5), 1)
    with pytest.raises(error, match=message) as caught:
        lfso.minimize(model, np.zeros(5), method="lfso", direction=lambda x, g: returned(g))
    assert "direction(x, g)" in str(caught.value)


def test_an_integer_user_direction_is_taken_as_a_float_one():
    model = LpRegression(np.eye(5), np.arange(1.0, 6.0), 1)
    res = lfso.minimize(
        model, np.zeros(5), method="lfso", direction=lambda x, g: -np.sign(g).astype(int)
    )
    assert res.success and np.allclose(res.x, np.arange(1.0, 6.0))


@pytest.mark.parametrize(("data", "returned"), [(np.float32, np.float64), (np.float64, np.float32)])
def test_a_user_direction_of_another_float_dtype_is_taken_in_xs(data, returned):
    # A float64 d must not turn a float32 run into a float64 one, nor a float32 d round
    # the steps t d of a float64 run to float32: the run is the one with d's values in
    # x's dtype.
    A = np.random.default_rng(1).standard_normal((30, 5)).astype(data)
    model = LpRegression(A, A @ np.ones(5, data), 1)
    x0 = np.zeros(5, data)
    other = lfso.minimize(model, x0, method="lfso", direction=lambda x, g: -g.astype(returned))
    same = lfso.minimize(
        model, x0, method="lfso", direction=lambda x, g: -g.astype(returned).astype(data)
    )
    assert other.x.dtype == data and np.array_equal(other.x, same.x)
    assert np.array_equal(other.history.f, same.history.f)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_zero_gradient_at_the_start_converges_without_moving(method):
    res = lfso.minimize(PowerSum(2), np.zeros(3), method=method, tol=0.0, max_iter=3)
    assert res.status is lfso.Status.CONVERGED and res.nit == 0
    assert np.array_equal(res.x, np.zeros(3)) and res.fun == 0.0


def test_lbfgs_beats_gd_and_needs_no_function_value():
    A = np.diag(np.geomspace(1.0, 10.0, 12))
    model = LpRegression(A, np.ones(12), 1)
    gd = lfso.minimize(model, np.zeros(12), method="lfso", certificate="ball")
    lb = lfso.minimize(model, np.zeros(12), method="lfso-lbfgs", certificate="ball")
    assert gd.success and lb.success and lb.njev < gd.njev
    # One evaluation per iteration: the step is chosen without a trial point.
    assert lb.nfev == lb.njev == lb.nit + 1


class SharpQuadratic(Model):
    """``f = x^T Q x / 2 - b^T x`` with the exact segment bound ``C = d^T Q d`` and the
    product ``Q x`` carried to the next evaluation (counted)."""

    has_segment = True  # its segment bound is proven: certificate="auto" takes it
    extras = frozenset({"product"})

    def __init__(self, Q, b):
        self.Q, self.b, self.dim, self.products = Q, b, len(b), 0
        self.top = float(np.linalg.eigvalsh(Q)[-1])

    def evaluate(self, x, *, bound=True, product=None):
        if product is None:
            self.products += 1
            product = self.Q @ x
        grad = product - self.b
        ev = Evaluation(
            float(0.5 * x @ product - self.b @ x),
            grad,
            float(np.linalg.norm(grad)),
            ConstantBound(self.top) if bound else None,
        )
        ev.product = product
        return ev

    def segment(self, x, evaluation, direction):
        Qd = self.Q @ direction
        self.products += 1
        return WrappedSegment(
            ConstantBound(float(direction @ Qd)), product=lambda t: evaluation.product + t * Qd
        )


def test_a_sharp_segment_bound_is_taken_by_default_and_its_product_reused():
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((20, 20)))[0]
    Q = U @ np.diag(np.geomspace(1.0, 1e3, 20)) @ U.T
    b = rng.standard_normal(20)
    ball = lfso.minimize(
        SharpQuadratic(Q, b), np.zeros(20), method="lfso-lbfgs", certificate="ball", max_iter=50_000
    )
    model = SharpQuadratic(Q, b)
    sharp = lfso.minimize(model, np.zeros(20), method="lfso-lbfgs")
    assert ball.success and sharp.success
    # The segment bound is exact here: L-BFGS with exact steps on a quadratic.
    assert sharp.nit <= 40 < ball.nit
    # One product with Q per iteration (the segment's Q d); Q x comes with it.
    assert model.products == sharp.nit + 1
    assert np.all(np.diff(sharp.history.f) <= 0.0)
    gd = lfso.minimize(SharpQuadratic(Q, b), np.zeros(20), method="lfso", max_iter=50_000)
    gd_ball = lfso.minimize(
        SharpQuadratic(Q, b), np.zeros(20), method="lfso", certificate="ball", max_iter=50_000
    )
    assert gd.success and gd.nit < gd_ball.nit  # steepest descent with exact steps


class UndeclaredSharpQuadratic(SharpQuadratic):
    has_segment = False  # overrides segment() without declaring it: auto keeps the ball


def test_auto_takes_the_segment_bound_only_when_the_model_declares_it():
    rng = np.random.default_rng(1)
    U = np.linalg.qr(rng.standard_normal((10, 10)))[0]
    Q = U @ np.diag(np.geomspace(1.0, 1e2, 10)) @ U.T
    b = rng.standard_normal(10)
    auto = lfso.minimize(UndeclaredSharpQuadratic(Q, b), np.zeros(10), method="lfso", monitor=False)
    ball = lfso.minimize(
        SharpQuadratic(Q, b), np.zeros(10), method="lfso", certificate="ball", monitor=False
    )
    sharp = lfso.minimize(SharpQuadratic(Q, b), np.zeros(10), method="lfso", monitor=False)
    assert auto.nit == ball.nit and np.array_equal(auto.x, ball.x)
    assert sharp.nit < ball.nit


MODEL_CLASSES = [getattr(lfso.models, name) for name in lfso.models.__all__]


@pytest.mark.parametrize(
    "cls", [c for c in MODEL_CLASSES if isinstance(c, type) and issubclass(c, Model)]
)
def test_the_model_contract_is_declared_by_every_built_in_model(cls):
    import inspect

    # A model that overrides segment() declares it; evaluate() takes the declared keywords.
    assert cls.has_segment == (cls.segment is not Model.segment)
    assert isinstance(cls.extras, property) or cls.extras <= lfso.models.EXTRAS
    if cls is not Model:
        signature = inspect.signature(cls.evaluate)
        signature.bind(None, None, bound=True, hint=1.0, probe=None, product=None)


@pytest.mark.parametrize(
    "model, name",
    [
        (lambda A, b: LpRegression(A, b, p=2), "A"),
        (lambda A, b: lfso.models.CompositeLeastSquares(A, b, p=2), "A"),
        (lambda A, b: lfso.models.CauchyRegression(A, b), "A"),
        (lambda A, b: lfso.models.SoftmaxRegression(A, (b > 0).astype(int), 2), "X"),
        (lambda A, b: lfso.models.L0L1Smooth(LpRegression(A, b, p=2), 1.0, 1.0), None),
        (lambda A, b: lfso.models.LogisticRegression(A, np.sign(b) + (b == 0)), "X"),
        (lambda A, b: PowerSum(2), None),
    ],
)
def test_the_data_is_declared_not_found_by_name(model, name):
    rng = np.random.default_rng(2)
    m = model(rng.standard_normal((6, 3)), rng.standard_normal(6))
    if isinstance(m, lfso.models.L0L1Smooth):  # a wrapper declares its base's data
        assert m.data is m.base.data and m.xp is m.base.xp
    elif name is None:
        assert m.data is None and m.xp is None
    else:
        assert m.data is getattr(m, name) and m.xp is not None


def test_black_box_lbfgs_runs_on_the_estimate_along_d_safeguarded():
    f = lambda x: float(np.sum(x**4) + 0.5 * x @ x)  # noqa: E731
    grad = lambda x: 4 * x**3 + x  # noqa: E731
    res = lfso.minimize(f, np.linspace(-2, 2, 7), grad=grad, method="lfso-lbfgs")
    assert res.success and res.noracle > 0
    assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_safeguard_wraps_the_accelerated_rule_too():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((40, 6))
    model = LpRegression(A, A @ np.ones(6), 1)
    wrong = FunctionModel(model.value, model.grad, 0.05 * model)  # 20x too small
    res = lfso.minimize(wrong, np.zeros(6), method="lfso-accel", safeguard=True, max_iter=20_000)
    assert res.success and res.rollbacks > 0
    rule = Safeguarded(lfso.steps.LFSOAccelStep())
    assert lfso.minimize(model, np.zeros(6), method=rule).success
    with pytest.raises(TypeError, match="wraps a certified rule"):
        Safeguarded(ArmijoStep())


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_the_safeguard_s_audit_of_a_step_that_underflows_does_not_divide_by_zero():
    """``sum |x|^3`` run to the float range's bottom (``tol=0``): ``t ||d||^2`` of the
    audit's secant underflows to 0, where there is nothing to measure."""
    res = lfso.minimize(
        PowerSum(3),
        np.linspace(-1.0, 1.0, 6),
        method="lfso",
        safeguard=True,
        tol=0.0,
        max_iter=1000,
    )
    assert res.status in (lfso.Status.MAX_ITER, lfso.Status.PRECISION_LIMIT)
    assert np.all(np.isfinite(res.x)) and res.fun <= 1e-200


def test_the_safeguard_guarantees_what_minimize_says_for_each_certified_method():
    """lfso-accel's safeguard checks its anchor's decrease, not f at its iterates: f at the
    extrapolated points may rise with nothing rolled back, and the docstring says so."""
    doc = " ".join(lfso.minimize.__doc__.split())
    assert 'With ``"lfso"`` and ``"lfso-lbfgs"`` the claim is at the new iterate' in doc
    assert "whose ``f`` may still rise" in doc
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 3)) * np.logspace(0, 1.5, 3)
    model = LpRegression(A, rng.standard_normal(20), 2)
    for method, rises in (("lfso", False), ("lfso-lbfgs", False), ("lfso-accel", True)):
        res = lfso.minimize(model, np.zeros(3), method=method, safeguard=True, monitor="quiet")
        f = res.history.f
        assert res.success and res.rollbacks == 0
        assert bool(np.any(np.diff(f) > 1e-12 * np.abs(f[:-1]))) is rises, method


def test_default_method_and_its_exceptions():
    model = PowerSum(2)
    assert lfso.minimize(model, np.ones(3)).method == DEFAULT_METHOD == "lfso-lbfgs"
    # A radius rule is the paper's LFSO-GD.
    assert lfso.minimize(model, np.ones(3), radius="paper").method == "lfso"


def _oracle_decreasing_in_r(x, R):
    return 12.0 * (np.max(np.abs(x)) + 1.0) ** 2 / (1.0 + R)


BAD_OPTIONS = [
    # (method, options, error, message fragment)
    ("armijo", {"eta": 5}, TypeError, r"unknown option\(s\) for method='armijo': \['eta'\]"),
    ("lfso", {"eta": 5}, ValueError, r"eta must be in \(0, 2\), got eta=5"),
    ("lfso-lbfgs", {"eta": 2.0}, ValueError, r"eta must be in \(0, 2\)"),
    ("lfso", {"eta": "1"}, TypeError, "eta must be in"),
    ("lfso", {"eta": True}, TypeError, "got eta=True"),
    ("lfso-accel", {"eta": 1.5}, ValueError, r"eta must be in \(0, 1\], got eta=1.5"),
    ("lfso", {"safeguard": "no"}, TypeError, "safeguard must be True or False, got safeguard='no'"),
    ("lfso-lbfgs", {"memory": True}, TypeError, "memory must be an integer >= 1, got memory=True"),
    ("lfso-lbfgs", {"memory": 0}, ValueError, "memory must be an integer >= 1"),
    ("lfso-lbfgs", {"radius": "paper"}, TypeError, r"method='lfso-lbfgs': \['radius'\]"),
    ("lfso", {"certificate": "sharp"}, ValueError, "certificate must be 'auto', 'ball'"),
    ("lfso", {"certificate": "segment", "radius": "paper"}, ValueError, "needs radius='tight'"),
    ("lfso", {"radius": "huge"}, ValueError, "radius must be 'tight', 'paper' or a callable"),
    ("lfso", {"backoff": 2.0}, TypeError, "tune the safeguard; pass safeguard=True"),
    ("lfso", {"safeguard": True, "backoff": 1.0}, ValueError, "backoff must be finite and > 1"),
    ("lfso", {"safeguard": True, "max_rollbacks": -1}, ValueError, "max_rollbacks must be"),
    ("lfso", {"safety": 3.0}, TypeError, "tune the automatic oracle"),
    ("lfso", {"radius_rtol": 1.0}, ValueError, r"radius_rtol must be in \(0, 1\)"),
    ("lfso", {"direction": 3}, TypeError, "direction must be None or a callable"),
    ("bb", {"memory": 2.5}, TypeError, "memory must be an integer"),
    ("bb", {"variant": "medium"}, ValueError, "variant must be 'long', 'short'"),
    ("adgd", {"variant": 2021}, ValueError, "variant must be 2023, 2020"),
    ("gd", {"step": True}, TypeError, "step must be finite and positive, got step=True"),
    ("gd", {}, TypeError, "method='gd' needs a step size: pass step="),
    ("polyak", {"f_star": math.nan}, ValueError, "f_star must be a finite real number"),
    ("dog", {"r_eps": -1.0}, ValueError, "r_eps must be finite and positive"),
    ("newton", {}, ValueError, "unknown method 'newton'"),
]


@pytest.mark.parametrize("method, options, error, message", BAD_OPTIONS)
def test_registry_rejects_bad_options(method, options, error, message):
    with pytest.raises(error, match=message):
        lfso.minimize(PowerSum(2), np.ones(3), method=method, **options)


def test_options_of_a_step_rule_instance_are_rejected():
    with pytest.raises(TypeError, match=r"option\(s\) bogus are for a method name"):
        lfso.minimize(PowerSum(2), np.ones(3), method=ArmijoStep(), bogus=1)
    with pytest.raises(TypeError, match=r"option\(s\) eta are for a method name"):
        lfso.minimize(PowerSum(2), np.ones(3), method=ArmijoStep(), eta=0.5)
    with pytest.raises(TypeError, match="safeguard=True wraps a certified rule"):
        lfso.minimize(PowerSum(2), np.ones(3), method=ArmijoStep(), safeguard=True)


def test_a_radius_rule_with_an_oracle_decreasing_in_r_is_caught():
    f = lambda x: float(np.sum(x**4))  # noqa: E731
    grad = lambda x: 4 * x**3  # noqa: E731
    with pytest.raises(OracleError, match="decreases in R"):
        lfso.minimize(
            f,
            np.ones(3),
            grad=grad,
            smoothness=_oracle_decreasing_in_r,
            radius=lambda x: 1e-3,
        )


def test_a_radius_rule_past_the_float_range_names_the_radius_not_the_data():
    """``radius=lambda x: 1e308`` on ``PowerSum(2)``: the proven bound at that radius is
    inf, and the run stopped ``PRECISION_LIMIT`` with a message that blamed the data's
    precision and advised rescaling it. The message names the radius rule's ``R0``; a
    radius the model chose itself (``radius="paper"``) is unaffected."""
    res = lfso.minimize(PowerSum(2), np.ones(3), method="lfso", radius=lambda x: 1e308)
    assert res.status is lfso.Status.PRECISION_LIMIT and res.nit == 0
    assert "at R = 1e+308 from the radius rule" in res.message
    assert "data's floating-point precision" not in res.message
    assert "Rescale" not in res.message and np.array_equal(res.x, np.ones(3))
    assert lfso.minimize(PowerSum(2), np.ones(3), method="lfso", radius="paper").success


def test_every_method_declares_what_it_takes():
    for name, entry in METHODS.items():
        takes_eta = "eta" in entry.options
        assert takes_eta == (entry.family == "lfso"), name
        for key, option in entry.options.items():
            assert option.expect, (name, key)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_segment_certificate_of_a_plain_oracle_is_the_ball_stretched(method):
    """A user function with a plain ``smoothness(x, R)`` has only the ball's segment bound
    (``segment_uses_ball``): ``certificate="segment"`` asks for the bound and runs like
    ``certificate="ball"`` (it once raised "segment() needs an evaluation made with
    bound=True"); the two radius solves differ by their tolerance only (1e-3 here)."""

    def fun(x):
        return float(np.sum(x**4))

    def grad(x):
        return 4 * x**3

    def smoothness(x, R):
        return 12 * (np.max(np.abs(x)) + R) ** 2

    model = FunctionModel(fun, grad, smoothness)
    assert model.segment_uses_ball
    assert not LpRegression(np.eye(2), np.ones(2), p=2).segment_uses_ball
    x0 = np.array([1.0, -0.5, 2.0])
    runs = [
        lfso.minimize(
            fun,
            x0,
            grad=grad,
            smoothness=smoothness,
            method=method,
            certificate=c,
            radius_rtol=1e-3,
        )
        for c in ("segment", "ball")
    ]
    assert runs[0].success and runs[0].njev == runs[1].njev
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("memory", [1, 3, 10])
def test_lbfgs_gram_recursion_is_the_two_loop_recursion(memory, dtype):
    """On NumPy the recursion runs in the memory's Gram matrix: the two-loop recursion's
    direction (Nocedal 1980) to rounding, as pairs arrive and the oldest are dropped."""
    from lfso.steps._directions import _Gram, _pair_scalars

    rng = np.random.default_rng(memory)
    n = 40
    scales = np.geomspace(1.0, 1e3, n)
    gram, pairs = _Gram(memory, np.zeros(n, dtype)), ()
    for _ in range(3 * memory + 2):
        s = rng.standard_normal(n).astype(dtype)
        y = (scales * s + 0.1 * rng.standard_normal(n)).astype(dtype)  # s . y > 0
        gram.add(s, y, float(s @ y), float(s @ s), float(y @ y))
        pairs = (*pairs, (s, y))[-memory:]
        g = rng.standard_normal(n).astype(dtype)
        scalars = [_pair_scalars(a, b) for a, b in pairs]
        expected = LBFGSDirection._two_loop(g, pairs, scalars)
        got = gram.direction(g)
        assert got.dtype == dtype
        rtol = 1e-10 if dtype == np.float64 else 1e-3
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_lbfgs_state_replayed_after_a_later_call_gives_the_same_direction():
    """The memory's arrays are shared and move on; a state from before (a replayed step)
    rebuilds them from its own pairs instead of reading a newer memory."""
    model = PowerSum(2)
    direction = LBFGSDirection(memory=3)
    xs = [np.array([1.0, -2.0, 0.5]) * (0.8**k) + 0.01 * k for k in range(6)]
    state = direction.init(xs[0], _ev(model, xs[0]))
    states = []
    for x in xs:
        states.append(state)
        _, _, _, state = direction(x, _ev(model, x), state)
    first = direction(xs[3], _ev(model, xs[3]), states[3])
    direction(xs[4], _ev(model, xs[4]), states[4])  # moves the shared memory on
    again = direction(xs[3], _ev(model, xs[3]), states[3])
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1] and len(first[3].pairs) == len(again[3].pairs)


def _black_box(model):
    """A built-in model seen through fun, grad and its ball oracle only (no segment)."""
    return FunctionModel(model.value, model.grad, lambda x, radius: model(x, radius))


@pytest.mark.parametrize("name", ["power_sum-p3", "logistic-breast_cancer", "robust-cauchy"])
def test_lbfgs_with_a_ball_oracle_steps_as_far_as_without_one(name):
    """A user's ball oracle along L-BFGS directions: the estimate along d, never shorter
    than the ball's step, safeguarded. As few gradients as with no oracle (within 10%),
    fewer than the ball alone, and f never rises."""
    from lfso.bench import get_problem

    model, x0 = get_problem(name).make()
    box = _black_box(model)
    default = lfso.minimize(box, x0, method="lfso-lbfgs", tol=1e-8, monitor=False)
    ball = lfso.minimize(box, x0, method="lfso-lbfgs", certificate="ball", tol=1e-8, monitor=False)
    auto = lfso.minimize(
        FunctionModel(model.value, model.grad), x0, method="lfso-lbfgs", tol=1e-8, monitor=False
    )
    assert default.success and auto.success
    assert default.njev <= 1.1 * auto.njev and default.njev < ball.njev
    f = default.history.f
    assert np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1]))


def test_the_capped_estimate_is_built_only_for_lbfgs_with_a_users_ball_oracle():
    from lfso._registry import build_rule
    from lfso.steps import BallCappedEstimate, BallCertificate, Safeguarded, SegmentCertificate

    box = FunctionModel(lambda x: float(x @ x), lambda x: 2 * x, lambda x, radius: 2.0)
    rule = build_rule("lfso-lbfgs", {}, model=box, auto=False)
    assert isinstance(rule, Safeguarded) and isinstance(rule.rule.certificate, BallCappedEstimate)
    for method, options in (("lfso", {}), ("lfso-lbfgs", {"certificate": "ball"})):
        rule = build_rule(method, options, model=box, auto=False)  # a user's oracle: guarded
        assert isinstance(rule, Safeguarded) and type(rule.rule.certificate) is BallCertificate
        bare = build_rule(method, {**options, "safeguard": False}, model=box, auto=False)
        assert type(bare.certificate) is BallCertificate  # certified, not safeguarded
    rule = build_rule("lfso", {}, model=PowerSum(2), auto=False)  # a proven oracle: bare
    assert not isinstance(rule, Safeguarded)
    rule = build_rule("lfso-lbfgs", {}, model=PowerSum(2), auto=False)  # a sharp segment
    assert isinstance(rule.certificate, SegmentCertificate)


def test_a_too_small_ball_oracle_under_the_capped_estimate_stays_monotone():
    """The ball's step is taken where it is the longer one: a wrong (too small) oracle
    makes it too long, and the safeguard rolls it back."""
    box = FunctionModel(lambda x: float(np.sum(x**4)), lambda x: 4 * x**3, lambda x, radius: 1e-3)
    res = lfso.minimize(box, np.linspace(1.0, 3.0, 6), method="lfso-lbfgs", monitor=False)
    assert res.success and res.rollbacks > 0
    assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))


def _rows(n: int, model: str, dtype: type) -> tuple[Model, np.ndarray]:
    """The paper's generated l_4 regression (x0 = 1) or logistic regression (x0 = 0)."""
    from lfso.bench import lls_data
    from lfso.models import LogisticRegression

    A, b = lls_data(n, 20)
    A, b = A.astype(dtype), b.astype(dtype)
    if model == "logistic":
        labels = (b > np.median(b)).astype(dtype)
        return LogisticRegression(A, labels, l2=1.0 / n), np.zeros(20, dtype)
    return LpRegression(A, b, 2.0), np.ones(20, dtype)


def test_lbfgs_solves_its_step_to_ten_percent_and_lfso_to_one_in_a_thousand():
    assert METHODS["lfso-lbfgs"].options["radius_rtol"].default == 0.1
    assert METHODS["lfso"].options["radius_rtol"].default == 1e-3
    model, _ = _rows(50, "l4", np.float64)
    assert build_rule("lfso-lbfgs", {}, model=model, auto=False).certificate.radius_rtol == 0.1
    assert build_rule("lfso", {}, model=model, auto=False).certificate.radius_rtol == 1e-3
    tight = build_rule("lfso-lbfgs", {"radius_rtol": 1e-3}, model=model, auto=False)
    assert tight.certificate.radius_rtol == 1e-3  # still the user's to choose


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["l4", "logistic"])
def test_lbfgs_default_tolerance_takes_fewer_trial_steps_on_row_models(kind, dtype):
    """Along L-BFGS directions the first trial step (the last step) or the second (the root
    were C flat from there) lands within 10% of the largest certified step: under two
    passes over the rows per iteration, against about 2.5 when solved to 1e-3."""
    model, x0 = _rows(500, kind, dtype)
    per = {}
    for rtol in (0.1, 1e-3):
        options = {} if rtol == 0.1 else {"radius_rtol": rtol}
        res = lfso.minimize(
            model, x0, method="lfso-lbfgs", tol=1e-5, max_iter=200, monitor="quiet", **options
        )
        per[rtol] = res.noracle / res.nit
    assert per[0.1] <= 2.0
    assert per[0.1] <= 0.85 * per[1e-3]


@pytest.mark.parametrize("kind", ["l4", "logistic"])
def test_lbfgs_steps_at_the_default_tolerance_are_certified_in_float32(kind):
    """Every float32 iterate's true f (recomputed in float64 from the same data) is at most
    the last one's plus the rounding of f and of the stored iterate, 8 u (|f| + sum |x_i
    g_i|), from far starts too."""
    model32, x0 = _rows(400, kind, np.float32)
    model64, _ = _rows(400, kind, np.float64)  # the same data: float32 values are exact
    unit = float(np.finfo(np.float32).eps) / 2
    for scale in (1.0, 1e3):
        start = x0 + np.float32(scale) * np.linspace(-1, 1, x0.size, dtype=np.float32)
        iterates = [start.astype(np.float64)]
        lfso.minimize(
            model32,
            start,
            method="lfso-lbfgs",
            tol=1e-6,
            max_iter=150,
            monitor="quiet",
            callback=lambda x, seen=iterates: seen.append(np.asarray(x, dtype=np.float64)),
        )
        values = []
        for x in iterates:
            e = model64.evaluate(x, bound=False)
            values.append((e.value, 8 * unit * (abs(e.value) + float(np.abs(x * e.grad).sum()))))
        pairs = itertools.pairwise(values)
        rises = [f1 - f0 - pad for (f0, _), (f1, pad) in pairs if f1 > f0 + pad]
        assert len(iterates) > 20 and not rises


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize(
    "name", ["robust-cauchy", "lp_regression-p2-diabetes", "logistic-breast_cancer"]
)
def test_every_step_ends_within_its_certified_segment(name, method, monkeypatch):
    """The step ``eta (-g . d) / C`` of a segment certificate is at most the end ``t`` of
    the segment its bound covers, exactly: the quotient can round past it (on
    ``robust-cauchy`` with ``lfso-lbfgs``, for one)."""
    from lfso.steps._certificates import SegmentCertificate

    seen: list[tuple[float, float]] = []
    size = SegmentCertificate.size

    def spy(self, inputs, *, defer=False):
        sized, end = size(self, inputs, defer=defer)
        seen.append((sized.t, end))
        return sized, end

    monkeypatch.setattr(SegmentCertificate, "size", spy)
    model, x0 = PROBLEMS[name].make()
    lfso.minimize(model, x0, method=method, monitor="quiet")
    assert len(seen) > 10
    assert all(0.0 <= t <= end for t, end in seen), max(t / end for t, end in seen if end)


def test_the_host_device_step_stays_inside_its_segment():
    """``SegmentBound.device_step`` from the host solve: a solve whose ``t C >= target``
    holds in floating point (``fl(t C) >= target``) while ``fl(target / C) > t``, by an
    ulp: the step is ``t``, not the quotient past the end of the segment ``C`` bounds."""
    from lfso.oracles import SegmentBound

    curvature, target, t = 1.4045518398215282, 1.1985130445092553, 0.853306378966793
    assert t * curvature >= target and target / curvature > t  # (the rounding at stake)

    class Solved(SegmentBound):
        _slope = -target

        def __call__(self, radius):
            return curvature

        def step_for(self, eta, *, rtol=1e-3, guess=None):
            return t, curvature, 1

    tau, bound = Solved().device_step(1.0)
    assert tau == t and bound == curvature


@pytest.mark.parametrize("t", [-1.0, math.nan])
def test_a_certificate_that_sizes_a_negative_or_nan_step_is_named(t):
    from lfso.steps import Certificate, SizedStep

    class Broken(Certificate):
        def size(self, inputs, *, defer=False):
            return SizedStep(t, 18.0, 1.0, 1), None

        def __repr__(self):
            return "Broken()"

    with pytest.raises(ValueError, match=r"certificate Broken\(\) sized a step t = "):
        lfso.minimize(PowerSum(2), np.ones(3), method=LFSOStep(certificate=Broken()))


class _ShortSolve(ConstantBound):
    """A ball oracle whose radius solve returns half the radius its step needs."""

    def radius_for(self, target, *, rtol=1e-3, guess=None):
        return 0.5 * target / self.value, self.value, 1


@pytest.mark.parametrize("steepest", [True, False])
def test_ball_certificate_keeps_the_step_inside_the_ball(steepest):
    # The descent lemma holds on B(x, R): a step past R is uncertified, whatever the
    # oracle's solve returned (the step took eta / L, twice the radius, before).
    from lfso.steps import SizeInputs

    g = np.array([3.0, -4.0])
    evaluation = Evaluation(1.0, g, 5.0, _ShortSolve(2.0))
    d = None if steepest else np.array([-1.0, 0.5])
    slope = -25.0 if steepest else float(g @ d)
    length = 5.0 if steepest else float(np.linalg.norm(d))
    certificate = BallCertificate()
    state = certificate.init(None, np.zeros(2), evaluation)
    inputs = SizeInputs(None, np.zeros(2), evaluation, d, slope, length, 1.0, state)
    sized, _ = certificate.size(inputs)
    assert sized.t * length <= sized.radius * (1 + 1e-15)
    assert sized.t * length == pytest.approx(sized.radius)


def test_an_auto_certificate_is_settled_again_for_each_run():
    """One rule instance passed to two runs: ``certificate="auto"`` takes the ball for a
    user's oracle and the model's segment for a built-in model, whichever ran first; the
    instance passed is left unsettled (each run settles a copy)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 5))
    model = LpRegression(A, rng.standard_normal(50), 2)
    fresh = lfso.minimize(model, np.zeros(5), method=CertifiedStep(LBFGSDirection()))
    rule = CertifiedStep(LBFGSDirection())
    user = FunctionModel(lambda x: float(x @ x), lambda x: 2 * x, lambda x, radius: 2.0)
    assert type(settle(rule, user).certificate).__name__ == "BallCertificate"
    lfso.minimize(user, np.ones(3), method=rule)
    assert rule.certificate is None
    again = lfso.minimize(model, np.zeros(5), method=rule)
    assert type(settle(rule, model).certificate).__name__ == "SegmentCertificate"
    assert rule.certificate is None
    assert again.nit == fresh.nit and np.array_equal(again.x, fresh.x)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "lfso-accel"])
@pytest.mark.parametrize("name", ["power_sum-p3", "lp_regression-p2-diabetes"])
def test_a_users_oracle_is_safeguarded_by_default_with_the_same_steps_where_it_is_valid(
    method, name
):
    """A user's oracle is not proven: the default wraps the rule in the safeguard, which
    along a valid oracle's steps rolls nothing back, so the iterates are those of the bare
    rule; the same oracle a hundred times too small keeps f from rising under it, where
    the bare rule lets it rise. (lfso-lbfgs takes the ball certificate here: its default
    with a ball oracle, the capped estimate, is safeguarded whatever ``safeguard`` says.)"""
    model, x0 = PROBLEMS[name].make()
    options = {"certificate": "ball"} if method == "lfso-lbfgs" else {}
    valid = FunctionModel(model.value, model.grad, model)
    default, bare = (
        lfso.minimize(valid, x0, method=method, safeguard=guard, max_iter=400, **options)
        for guard in (None, False)
    )
    assert default.rollbacks == 0 and default.nit == bare.nit > 0
    assert default.njev == bare.njev
    np.testing.assert_array_equal(default.x, bare.x)
    wrong = FunctionModel(model.value, model.grad, 0.01 * model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guarded, unguarded = (
            lfso.minimize(wrong, x0, method=method, safeguard=guard, max_iter=400, **options)
            for guard in (None, False)
        )
    assert guarded.rollbacks > 0 and np.isfinite(guarded.fun)
    if method != "lfso-accel":  # (its history records f at the extrapolated points)
        f = guarded.history.f
        assert np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1]))
        if name.startswith("lp_regression"):  # (on the power sum the long steps do no harm)
            f = unguarded.history.f
            assert not np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1]))  # (what it guards against)


def test_a_radius_rule_where_the_bound_is_zero_does_not_ask_for_a_smaller_radius():
    """``L0L1Smooth`` with ``L0 = 0``, ``L1 = 1e-300`` at ``||g|| = 1e-30``: the bound's
    scale underflows to 0, and the message said its value "leaves the float range" and
    asked for a smaller ``R0``, which cannot help a bound of 0; it says the bound is 0."""
    from lfso.models import L0L1Smooth, PowerSum

    model = L0L1Smooth(PowerSum(2), 0.0, 1e-300)
    res = lfso.minimize(model, np.full(2, 1e-30), method="lfso", radius=lambda x: 1.0)
    assert res.status == lfso.Status.PRECISION_LIMIT
    assert "is 0 there" in res.message and "smaller R0" not in res.message
