"""The peer step rules: each converges on a quadratic and a non-quadratic problem, follows
its published update, and rejects bad hyperparameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lfso
from lfso.models import LogisticRegression, LpRegression, PowerNorm, PowerSum
from lfso.steps import (
    AdGDStep,
    ArmijoStep,
    BallCappedEstimate,
    BarzilaiBorweinStep,
    CertifiedStep,
    DoGStep,
    EstimateCertificate,
    LBFGSDirection,
    LFSOAccelStep,
    LFSOStep,
    NesterovStep,
    PolyakStep,
    SteepestDescent,
)


def quadratic():
    """f = ||A x - b||^2 with a known minimiser and global L = 2 ||A||^2 = 32."""
    rng = np.random.default_rng(3)
    Q = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    A = Q @ np.diag(np.linspace(1.0, 4.0, 8))
    x_star = rng.standard_normal(8)
    return LpRegression(A, A @ x_star, 1), np.zeros(8), x_star, 0.0, 32.0


def quartic():
    """f = sum x_i^4 (flat minimum at 0, no global L)."""
    return PowerSum(2), np.linspace(0.5, 1.5, 6), np.zeros(6), 0.0, None


def logistic():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.5 * rng.standard_normal(60) > 0).astype(float)
    model = LogisticRegression(X, y, l2=0.1)
    ref = lfso.minimize(model, np.zeros(4), method="lfso-accel", tol=1e-13, max_iter=100_000)
    assert ref.success
    L = model.norm**2 / (4 * model.n) + model.l2
    return model, np.zeros(4), ref.x, ref.fun, L


PROBLEMS = {"quadratic": quadratic, "quartic": quartic, "logistic": logistic}

# method, options (None: derive from the problem), problems it applies to, iteration cap
METHODS = [
    ("lfso", {}, ("quadratic", "quartic", "logistic")),
    ("lfso-lbfgs", {}, ("quadratic", "quartic", "logistic")),
    ("lfso-lbfgs", {"safeguard": True, "memory": 2}, ("quadratic", "quartic", "logistic")),
    ("lfso-accel", {"safeguard": True}, ("quadratic", "logistic")),
    ("gd", "step", ("quadratic", "logistic")),
    ("lfso-accel", {}, ("quadratic", "quartic", "logistic")),
    ("armijo", {}, ("quadratic", "quartic", "logistic")),
    ("bb", {}, ("quadratic", "quartic", "logistic")),
    ("bb", {"variant": "short"}, ("quadratic", "quartic", "logistic")),
    ("adgd", {}, ("quadratic", "quartic", "logistic")),
    ("adgd", {"variant": 2020}, ("quadratic", "quartic", "logistic")),
    ("polyak", "f_star", ("quadratic", "quartic", "logistic")),
    ("nesterov", "lipschitz", ("quadratic", "logistic")),
    ("dog", {}, ("quadratic", "logistic")),
]
CASES = [(m, o, p) for m, o, probs in METHODS for p in probs]


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method, options, problem", CASES)
def test_rule_converges(method, options, problem):
    model, x0, x_star, f_star, L = PROBLEMS[problem]()
    if options == "f_star":
        options = {"f_star": f_star}
    elif options == "lipschitz":
        options = {"lipschitz": L}
    elif options == "step":
        options = {"step": 1.0 / L}
    tol = 1e-6 if problem == "quartic" else 1e-8
    if method == "polyak" and problem == "logistic":
        tol = 1e-6  # f* is only known to rounding: Polyak's step then stalls near 1e-8
    res = lfso.minimize(model, x0, method=method, tol=tol, max_iter=50_000, **options)
    assert res.success, (method, problem, res)
    assert res.method == method
    scale = 1e-1 if problem == "quartic" else 1e-5
    np.testing.assert_allclose(res.x, x_star, atol=scale)
    assert res.fun <= f_star + 1e-8 * max(1.0, abs(f_star)) + (1e-6 if problem == "quartic" else 0)


def test_every_registered_method_is_in_the_table():
    """The table above is checked against the registry: a new method needs its row."""
    assert {m for m, _, _ in METHODS} == set(lfso.METHODS)


def test_armijo_every_step_satisfies_sufficient_decrease():
    model, x0, *_ = quartic()
    res = lfso.minimize(model, x0, method="armijo", c=0.3, tol=0.0, max_iter=30)
    h = res.history
    assert np.all(h.f[1:] <= h.f[:-1] - 0.3 * h.step[1:] * h.grad_norm[:-1] ** 2 + 1e-15)
    assert res.nfev > res.njev  # the trials cost function evaluations, counted


@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_line_search_evaluates_f_once_at_each_point(method):
    """The accepted trial's value is handed on: ``fun`` sees each point once, ``grad``
    only the accepted ones, and ``nfev`` counts the calls of ``fun``."""
    seen, grads = [], []

    def fun(x):
        seen.append(x.tobytes())
        return float(np.sum(np.cosh(x)))

    def grad(x):
        grads.append(x.tobytes())
        return np.sinh(x)

    res = lfso.minimize(
        fun, np.linspace(-2.0, 3.0, 5), grad=grad, method=method, tol=0.0, max_iter=6
    )
    assert res.nit == 6 and len(grads) == res.njev and len(seen) == res.nfev
    assert [seen.count(point) for point in grads] == [1] * len(grads)


@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_line_search_with_grad_true_calls_fun_once_at_each_point(method):
    """With ``grad=True`` the accepted trial's gradient is kept (as SciPy's ``MemoizeJac``
    keeps it): ``fun`` sees each point once, ``nfev`` counts its calls, and the gradient
    the run reports is its own copy, not the buffer ``fun`` overwrites at its next call."""
    seen = []
    buffer = np.empty(5)

    def fun(x):
        seen.append(x.tobytes())
        buffer[:] = np.sinh(x)
        return float(np.sum(np.cosh(x))), buffer

    res = lfso.minimize(
        fun, np.linspace(-2.0, 3.0, 5), grad=True, method=method, tol=0.0, max_iter=6
    )
    assert res.nit == 6 and len(seen) == res.nfev
    assert max(seen.count(point) for point in seen) == 1
    assert res.jac is not buffer
    np.testing.assert_array_equal(res.jac, np.sinh(res.x))
    assert res.fun == float(np.sum(np.cosh(res.x)))


def _row_problems():
    """A row model of each family (``p = 2, 3``: the compiled residual kernels; ``p =
    1.5``: the generic rows), and the method that forms its product with the data."""
    from lfso.models import CauchyRegression, CompositeLeastSquares, L0L1Smooth, SoftmaxRegression

    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((40, 6)), rng.standard_normal(40)
    y = np.sign(rng.standard_normal(40))
    classes = rng.integers(0, 3, 40)
    return {
        "lp2": (lambda A: LpRegression(A, b, p=2), "_product"),
        "lp3": (lambda A: LpRegression(A, b, p=3), "_product"),
        "lp1.5": (lambda A: LpRegression(A, b, p=1.5), "_product"),
        "composite": (lambda A: CompositeLeastSquares(A, b, p=1.5), "_product"),
        "logistic": (lambda A: LogisticRegression(A, y, l2=0.1), "_product"),
        "cauchy": (lambda A: CauchyRegression(A, b), "_product"),
        "softmax": (lambda A: SoftmaxRegression(A, classes, n_classes=3), "_logits"),
        "l0l1": (lambda A: L0L1Smooth(LpRegression(A, b, p=3), 1.0, 1.0), "_product"),
    }, A


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(_row_problems()[0]))
@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_line_search_forms_a_row_models_product_once_at_each_point(
    method, name, library, monkeypatch
):
    """The accepted trial's pass over the data (``A x``, logits) is handed on: the data's
    product is formed once at each point, ``nfev`` counts those passes, and each value the
    run reports is the model's own evaluation's there, bit for bit."""
    problems, A = _row_problems()
    make, method_name = problems[name]
    if library == "torch":
        torch = pytest.importorskip("torch")
        A = torch.asarray(A)
    model = make(A)
    formed = []
    cls = type(getattr(model, "base", model))  # (L0L1Smooth: its base's)
    original = getattr(cls, method_name)

    def counted(self, v):
        if v.shape[0] == model.dim:  # (the point's product, not a gradient's adjoint)
            formed.append(np.asarray(v).tobytes())
        return original(self, v)

    monkeypatch.setattr(cls, method_name, counted)
    from lfso.models import _host

    twin_product = _host._TorchProduct.__call__

    def twin_counted(self, v):
        if v.shape[0] == model.dim and self.matrix.shape[0] != model.dim:
            formed.append(v.tobytes())
        return twin_product(self, v)

    monkeypatch.setattr(_host._TorchProduct, "__call__", twin_counted)
    x0 = model.xp.zeros(model.dim, dtype=A.dtype) + 0.1
    points = [np.asarray(x0).tobytes()]
    res = lfso.minimize(
        model,
        x0,
        method=method,
        tol=0.0,
        max_iter=15,
        callback=lambda x: points.append(np.asarray(x).tobytes()),
    )
    assert res.nit == 15 and len(formed) == res.nfev
    assert [formed.count(point) for point in points] == [1] * len(points)
    monkeypatch.undo()
    for k, point in enumerate(points):
        x = model.xp.asarray(np.frombuffer(point, dtype=np.float64).copy())
        assert res.history.f[k] == model.evaluate(x, bound=False).value == model.value(x)


@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_a_subclass_that_overrides_value_alone_has_its_value_read_by_the_line_search(method):
    """A user's subclass of a row model that overrides ``value`` (not the pass that hands
    its product on) has its own ``value`` read at each trial, as before the hand-over."""
    rng = np.random.default_rng(4)
    A, b = rng.standard_normal((30, 4)), rng.standard_normal(30)
    calls = []

    class Logged(LpRegression):
        def value(self, x):
            calls.append(1)
            return super().value(x)

    res = lfso.minimize(Logged(A, b, p=2), np.zeros(4), method=method, tol=0.0, max_iter=10)
    assert res.nit == 10 and len(calls) == res.nfev - res.njev > 0


@pytest.mark.parametrize("model", [PowerSum(3), PowerNorm(2)], ids=["sum", "norm"])
@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_line_search_evaluates_a_point_model_once_at_each_point(method, model, monkeypatch):
    """A point model's value comes with its gradient (one pass over ``x``): the accepted
    trial's evaluation is handed on, so each point is evaluated once and ``nfev`` counts
    those passes."""
    cls, seen = type(model), []
    original = cls._evaluate

    def counted(self, x, bound, probe):
        seen.append(x.tobytes())
        return original(self, x, bound, probe)

    monkeypatch.setattr(cls, "_evaluate", counted)
    x0 = np.linspace(-2.0, 3.0, 5)
    points = [x0.tobytes()]
    res = lfso.minimize(
        model, x0, method=method, tol=0.0, max_iter=8, callback=lambda x: points.append(x.tobytes())
    )
    assert res.nit == 8 and len(seen) == res.nfev
    assert [seen.count(point) for point in points] == [1] * len(points)
    monkeypatch.undo()
    for k, point in enumerate(points):
        assert res.history.f[k] == model.value(np.frombuffer(point))


def test_bb_takes_the_published_step_on_a_quadratic():
    model, x0, *_ = quadratic()
    xs = [x0]
    lfso.minimize(
        model, x0, method="bb", c=1e-12, tol=0.0, max_iter=3, callback=lambda x: xs.append(x)
    )
    s = xs[2] - xs[1]
    y = model.grad(xs[2]) - model.grad(xs[1])
    t_long = s @ s / (s @ y)
    np.testing.assert_allclose(xs[3], xs[2] - t_long * model.grad(xs[2]), rtol=1e-12)


def test_bb_line_search_accepts_no_step_that_fails_its_test_below_min_step():
    """f = 1e14 ||x||^2 needs steps below min_step = 1e-12: a first step a million times
    too long is shrunk by the line search, never accepted with f rising."""
    c = 1e-4
    res = lfso.minimize(
        lambda x: 1e14 * (x @ x),
        np.ones(3),
        grad=lambda x: 2e14 * x,
        method="bb",
        c=c,
        step0=1e6,
    )
    assert res.success, res.message
    h = res.history
    for k in range(res.nit):
        reference = np.max(h.f[max(0, k - 9) : k + 1])  # (the last memory = 10 values)
        assert h.f[k + 1] <= reference - c * h.step[k + 1] * h.grad_norm[k] ** 2
    assert np.nanmin(h.step) < 1e-12


def _float32_valued_quadratic():
    """``f`` returned as a float32 (its minimum 1, resolved to about 1e-7), its gradient
    exact in float64: no tolerance below the float32 floor of ``||g||`` can be reached."""
    a, D = np.linspace(0.1, 1.3, 6), np.linspace(1.0, 30.0, 6)
    return (lambda x: np.float32(np.sum(D * (x - a) ** 2) + 1.0)), (lambda x: 2 * D * (x - a))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize(
    ("method", "dtype"), [("armijo", np.float64), ("bb", np.float32), ("armijo", np.float32)]
)
def test_a_line_search_at_the_rounding_floor_of_f_stops_stalled(method, dtype):
    """Where the search's sufficient-decrease test passes on the rounding of ``f`` alone,
    its steps cannot be told from no move (Armijo's ``||g||`` creeps to new lows, BB may
    raise ``f``): the run stops ``STALLED`` once 1,000 such steps come in a row, not at
    ``max_iter``; with ``tol=0`` it takes the ``max_iter`` steps asked for."""
    fun, grad = _float32_valued_quadratic()
    x0 = np.zeros(6, dtype)
    res = lfso.minimize(fun, x0, grad=grad, method=method, tol=1e-12, max_iter=5000)
    assert res.status is lfso.Status.STALLED and not res.success, res.message
    assert res.nit < 3000 and "loosen tol" in res.message
    assert res.fun < 1.0 + 1e-6
    res = lfso.minimize(fun, x0, grad=grad, method=method, tol=0.0, max_iter=1200)
    assert res.status is lfso.Status.MAX_ITER and res.nit == 1200


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("variant", ["long", "short"])
def test_bb_takes_its_step_where_its_products_overflow(variant):
    """f = ||x||^2 from x0 = 1.2e154 with a first step to -1e154: ``s^T s``, ``y^T y`` and
    ``s^T y`` overflow, and inf / inf made the step NaN, which the line search halved
    forever; the BB step 1/2 is the ratio of the products of ``s`` and ``y`` scaled."""
    calls = []

    def fun(x):
        calls.append(1)
        if len(calls) > 1000:
            raise RuntimeError("the line search did not end")
        return float(x @ x)

    res = lfso.minimize(
        fun, np.array([1.2e154]), grad=lambda x: 2 * x, method="bb", step0=2.2e154, variant=variant
    )
    assert res.success and res.fun == 0.0, res.message
    assert res.history.step[2] == 0.5 and res.nfev < 20


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_bb_short_step_with_y_y_underflowing_is_a_finite_step():
    """f = 5e-301 ||x||^2 from x0 = 2: at x = 1, ``y^T y = 1e-600`` underflows to 0 where
    ``s^T y = 1e-300`` does not, and the short step ``s^T y / y^T y`` raised
    ``ZeroDivisionError``; as inf, its reset ``max_step / ||g||`` (``||g|| = 1e-300``)
    overflows too and the line search would halve inf for ever. The reset step is now
    the largest float: the line search (non-monotone) shrinks it, and f falls below f(1)."""
    calls = []

    def fun(x):
        calls.append(1)
        if len(calls) > 5000:
            raise RuntimeError("the line search did not end")
        return 0.5e-300 * float(x @ x)

    res = lfso.minimize(
        fun,
        np.array([2.0]),
        grad=lambda x: 1e-300 * x,
        method="bb",
        variant="short",
        tol=0.0,
        max_iter=5,
    )
    assert res.status is lfso.Status.MAX_ITER, res.message
    assert np.all(np.isfinite(res.history.step[1:])) and res.fun < 0.5e-300


@pytest.mark.parametrize("variant", ["long", "short"])
@pytest.mark.parametrize("scale", [1e14, 1e-14])
def test_bb_takes_its_step_whatever_the_scale_of_f(variant, scale):
    """The BB steps of f = scale ||x||^2 (5e-15, 5e13) lie outside [min_step, max_step]
    but their moves do not: the run is the one on ||x||^2, not thousands of iterations."""

    def run(a):
        return lfso.minimize(
            lambda x: a * (x @ x),
            np.ones(10),
            grad=lambda x: 2 * a * x,
            method="bb",
            variant=variant,
        )

    plain, scaled = run(1.0), run(scale)
    assert plain.success and scaled.success, scaled.message
    assert (scaled.nit, scaled.nfev, scaled.njev) == (plain.nit, plain.nfev, plain.njev)
    assert np.all(np.abs(scaled.x) <= 1e-12)


@pytest.mark.parametrize("variant", [2020, 2023])
def test_adgd_follows_its_update(variant):
    model, x0, *_ = logistic()
    res = lfso.minimize(model, x0, method="adgd", variant=variant, tol=0.0, max_iter=6)
    xs, steps = [x0], [math.nan]
    lfso.minimize(
        model,
        x0,
        method="adgd",
        variant=variant,
        tol=0.0,
        max_iter=6,
        callback=lambda x: xs.append(x),
    )
    steps = res.history.step
    theta = math.inf if variant == 2020 else 1 / 3
    for k in range(2, 6):
        L = np.linalg.norm(model.grad(xs[k - 1]) - model.grad(xs[k - 2])) / np.linalg.norm(
            xs[k - 1] - xs[k - 2]
        )
        prev = steps[k - 1]
        if variant == 2020:
            expected = min(math.sqrt(1 + theta) * prev, 1 / (2 * L))
        else:
            excess = 2 * prev**2 * L**2 - 1
            cap = prev / math.sqrt(excess) if excess > 0 else math.inf
            expected = min(math.sqrt(2 / 3 + theta) * prev, cap)
        assert steps[k] == pytest.approx(expected, rel=1e-10)
        theta = steps[k] / prev


@pytest.mark.parametrize(
    "fun, grad, x0",
    [
        # f linear along the first step: the gradient does not change (L_1 = 0)
        (lambda x: x[0] + 0.5 * x[1] ** 2, lambda x: np.array([1.0, x[1]]), np.zeros(2)),
        # a first step step0 ||g_0|| = 1e-22 below the rounding of x_0 = 1: x_1 = x_0
        (lambda x: 0.5e-12 * (x @ x), lambda x: 1e-12 * x, np.ones(3)),
    ],
)
def test_adgd_2020_keeps_a_finite_step_where_no_curvature_is_seen(fun, grad, x0):
    res = lfso.minimize(fun, x0, grad=grad, method="adgd", variant=2020, tol=0.0, max_iter=4)
    assert res.status is lfso.Status.MAX_ITER, res.message
    steps = res.history.step[1:]
    assert np.all(np.isfinite(steps)) and np.all(np.isfinite(res.x))
    assert steps[1] == steps[0] == 1e-10  # t_1 = t_0, then sqrt(1 + 1) t_1
    assert steps[2] == pytest.approx(math.sqrt(2.0) * steps[1], rel=1e-12)


@pytest.mark.parametrize("variant, limit", [(2020, (1 + 5**0.5) / 2), (2023, None)])
def test_adgd_step_growth_is_as_documented(variant, limit):
    """Where no curvature caps it (f linear along the steps), the step grows by
    sqrt(1 + theta) (2020) or sqrt(2/3 + theta) (2023): past sqrt(5/3) after a few
    iterations, never past the fixed point of theta^2 = theta + 1 (or + 2/3)."""
    res = lfso.minimize(
        lambda x: x[0],
        np.zeros(2),
        grad=lambda x: np.array([1.0, 0.0]),
        method="adgd",
        variant=variant,
        tol=0.0,
        max_iter=12,
    )
    ratios = res.history.step[2:] / res.history.step[1:-1]
    limit = limit or (1 + math.sqrt(11 / 3)) / 2
    assert np.all(ratios < limit)
    assert ratios[-1] > math.sqrt(5 / 3) and ratios[-1] == pytest.approx(limit, rel=1e-2)


def test_polyak_and_dog_steps():
    model, x0, _, f_star, _ = quadratic()
    res = lfso.minimize(model, x0, method="polyak", f_star=f_star, tol=0.0, max_iter=3)
    h = res.history
    np.testing.assert_allclose(h.step[1:], (h.f[:-1] - f_star) / h.grad_norm[:-1] ** 2)
    xs = [x0]
    res = lfso.minimize(
        model, x0 + 1.0, method="dog", tol=0.0, max_iter=3, callback=lambda x: xs.append(x)
    )
    h = res.history
    r_eps = 1e-6 * (1 + np.linalg.norm(x0 + 1.0))
    assert h.step[1] == pytest.approx(r_eps / h.grad_norm[0])


def test_nesterov_meets_its_rate_on_a_quadratic():
    model, x0, x_star, f_star, L = quadratic()
    res = lfso.minimize(model, x0, method="nesterov", lipschitz=L, tol=0.0, max_iter=200)
    k = np.arange(len(res.history.f))
    bound = 2 * L * np.linalg.norm(x0 - x_star) ** 2 / (k + 1) ** 2
    # The bound is on f(x_k); f(y_k) recorded by the loop is within a factor of it early on.
    assert np.all(res.history.f[50:] - f_star <= 4 * bound[50:])


def test_lfso_accel_gradient_steps_satisfy_the_quadratic_upper_bound():
    model, x0, *_ = logistic()
    rule = LFSOAccelStep()
    state = rule.init(model, x0, model.evaluate(x0))
    y = x0
    for _ in range(40):
        ev = model.evaluate(y)
        step, new_state = rule.step(model, y, ev, state)
        x_new = y - step.step * ev.grad
        assert step.step * step.L <= 1 + 1e-12
        assert model.value(x_new) <= ev.value - 0.5 * step.step * ev.grad_norm**2 + 1e-15
        assert step.R * step.L >= ev.grad_norm * (1 - 1e-12)
        y, state = step.x, new_state
    assert state.restarts >= 1


def test_lfso_accel_beats_lfso_on_ill_conditioned_least_squares():
    from lfso.bench import lls_data

    A, b = lls_data(200, 50)
    model = LpRegression(A, b, 1)
    accel = lfso.minimize(model, np.ones(50), method="lfso-accel", max_iter=20_000)
    plain = lfso.minimize(model, np.ones(50), method="lfso", certificate="ball", max_iter=20_000)
    assert accel.success and accel.njev < plain.njev / 5


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ArmijoStep(c=1.5), r"c must be in \(0, 1\)"),
        (lambda: ArmijoStep(shrink=0.0), "shrink must be in"),
        (lambda: ArmijoStep(growth=0.5), "growth must be finite and >= 1, got growth=0.5"),
        (lambda: BarzilaiBorweinStep(variant="medium"), "variant must be 'long' or 'short'"),
        (lambda: BarzilaiBorweinStep(memory=0), "memory must be an integer >= 1, got memory=0"),
        (lambda: AdGDStep(variant=2021), "variant must be 2020 or 2023"),
        (lambda: AdGDStep(step0=-1.0), "step0 must be finite and positive"),
        (lambda: DoGStep(r_eps=0.0), "r_eps must be finite and positive"),
        (lambda: PolyakStep(float("nan")), "f_star must be a finite real number, got f_star=nan"),
        (lambda: NesterovStep(lipschitz=-2.0), "lipschitz must be finite and positive"),
        (lambda: LFSOAccelStep(eta=1.5), r"eta must be in \(0, 1\]"),
        (lambda: LFSOAccelStep(jump=1.0), "jump must be > 1, got jump=1.0"),
    ],
)
def test_bad_hyperparameters_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"method": "polyak"}, TypeError, "needs the optimal value"),
        ({"method": "nesterov"}, TypeError, r"exactly one of step=\.\.\. or lipschitz=\.\.\."),
        ({"method": "nesterov", "step": 1.0, "lipschitz": 1.0}, TypeError, "exactly one"),
        ({"method": "lfso-accel", "radius": "paper"}, TypeError, r"lfso-accel'.*\['radius'\]"),
        ({"method": "armijo", "step": 1.0}, TypeError, r"unknown option\(s\).*step"),
    ],
)
def test_method_options_are_checked(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        lfso.minimize(PowerSum(2), np.ones(2), **kwargs)


def test_move_is_what_a_rule_returns():
    # Rules are the *Step classes; the move one proposes is a Move (no alias Step).
    assert not hasattr(lfso.steps, "Step")
    assert "Move" in lfso.steps.__all__ and "Step" not in lfso.steps.__all__
    move, _ = lfso.steps.FixedStep(0.5).step(None, np.ones(2), _Grad(np.ones(2)), None)
    assert isinstance(move, lfso.steps.Move) and move.step == 0.5
    np.testing.assert_allclose(move.x, 0.5 * np.ones(2))


class _Grad:
    def __init__(self, grad):
        self.grad = grad


def test_a_users_certificate_and_direction_compose_without_touching_the_core():
    """A throwaway certificate (a global curvature bound) and direction (scaled -g),
    declared only through the abstract bases, run in the loop and under the safeguard."""
    from lfso.steps import Certificate, Direction, LFSOStep, Safeguarded, SizedStep

    class GlobalBound(Certificate):
        needs_bound = False

        def __init__(self, c):
            super().__init__()
            self.c = c

        def size(self, inputs, *, defer=False):
            t = inputs.eta * (-inputs.slope) / (self.c * inputs.length * inputs.length)
            return SizedStep(t, self.c, t * inputs.length, 0), inputs.state

    class Scaled(Direction):
        def __call__(self, x, evaluation, state, *, defer=False):
            g = evaluation.grad
            d = -g / (1.0 + np.abs(x))
            return d, float(g @ d), float(np.linalg.norm(d)), state

    A = np.diag(np.linspace(1.0, 3.0, 5))
    model = LpRegression(A, np.ones(5), 1)  # f = ||A x - 1||^2, curvature <= 2 * 9
    for rule in (
        LFSOStep(certificate=GlobalBound(18.0), direction=Scaled()),
        Safeguarded(LFSOStep(certificate=GlobalBound(1.0), direction=Scaled())),  # too small
    ):
        res = lfso.minimize(model, np.zeros(5), method=rule, monitor=False)
        assert res.success and np.allclose(A @ res.x, 1.0, atol=1e-6)
        assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))


def test_the_old_spellings_warn_and_still_work():
    import lfso.steps
    from lfso.steps import BarzilaiBorweinStep, StepRule

    with pytest.warns(DeprecationWarning, match="use lfso.steps.SizedStep"):
        assert lfso.steps.Sized is lfso.steps.SizedStep
    with pytest.warns(DeprecationWarning, match="use StepRule.oscillates"):

        class Old(StepRule):
            zigzags = True

            def step(self, objective, x, evaluation, state):
                raise NotImplementedError

    assert Old.oscillates is True and Old().oscillates is True
    rule = BarzilaiBorweinStep()
    with pytest.warns(DeprecationWarning, match="use StepRule.oscillates"):
        assert rule.zigzags is True
    with pytest.warns(DeprecationWarning, match="use StepRule.oscillates"):
        rule.zigzags = False
    assert rule.oscillates is False
    with pytest.raises(AttributeError, match="no attribute 'Unsized'"):
        lfso.steps.Unsized  # noqa: B018


# -- options that silently break a method --------------------------------------------------


def test_bb_refuses_min_step_above_max_step():
    with pytest.raises(ValueError, match="min_step must be <= max_step"):
        lfso.minimize(
            lambda x: float(np.sum(x**4)),
            np.ones(3),
            grad=lambda x: 4 * x**3,
            method="bb",
            min_step=10,
            max_step=1,
        )


def test_lfso_accel_with_jump_inf_moves():
    res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), method="lfso-accel", jump=np.inf)
    assert res.status is lfso.Status.CONVERGED


# -- a rule built by hand: arguments of the wrong kind ---------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LFSOStep(direction="lbfgs"), "direction must be a lfso.steps Direction"),
        (lambda: LFSOStep(direction=LBFGSDirection), "got direction=<class"),
        (lambda: LFSOStep(name=3), "name must be a str .*got name=3"),
        (lambda: CertifiedStep(SteepestDescent(), name=None), "got name=None"),
        (
            lambda: EstimateCertificate(None),
            "estimator must be a lfso.steps.SecantEstimator, got estimator=None",
        ),
        (lambda: BallCappedEstimate("auto"), "got estimator='auto'"),
    ],
)
def test_a_rule_built_with_an_argument_of_the_wrong_kind_raises_naming_it(build, message):
    with pytest.raises(TypeError, match=message):
        build()
