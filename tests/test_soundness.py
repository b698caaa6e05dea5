"""Every built-in oracle bounds the gradient's Lipschitz constant on the ball: adversarially.

The ratio of a secant ``||g(y) - g(z)|| / ||y - z||`` (``y, z`` in ``B(x, R)``) to
``L(x, R)`` must not exceed one. :func:`worst_ratio` maximises it: starting points on the
ball's boundary along the axes, the data's rows, ``x`` itself and random directions, each
followed by a few steps of power iteration with central differences (a secant along the
Hessian's top eigenvector). A float32 model's bound is checked against the exact (float64)
gradient of the same data, which float32 data are exactly: it must bound the *true*
curvature, rounding and all.

The first tests are counterexamples to earlier oracles, each with the ratio it reached.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lfso
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    FunctionModel,
    L0L1Smooth,
    LogisticRegression,
    LpRegression,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)
from lfso.oracles._bounds import ConstantBound, ExpBound, PolynomialBound, PowerBound

#: Tolerance on the ratio, beyond the rounding of the float64 secants themselves
#: (:func:`secant_noise`).
TOL = 1e-6
EPS64 = float(np.finfo(np.float64).eps)


def secant_noise(x, radius, d, offsets=0.0, row_norm=1.0):
    """Relative rounding error of a float64 secant over ``h = radius / 100``.

    A statistic ``a_i^T y - b_i`` is rounded by about ``(d + 2) eps (||a_i|| ||y|| + |b_i|)``
    while the secant's step moves it by ``||a_i|| h``: their ratio, with a factor 64 of
    slack, bounds the secant's relative error.
    """
    h = 1e-2 * radius
    return 64.0 * (d + 2) * EPS64 * (np.linalg.norm(x) + radius + offsets / row_norm) / h


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def worst_ratio(bound_model, exact_model, x, radius, directions, rng, steps=3, randoms=6):
    """max secant / L(x, R) over pairs found by power iteration from boundary points.

    Each secant is reduced by the rounding of its two gradients, so that a flat region
    (a saturated logistic loss: the gradient's terms are 1 - 1e-12) does not report noise.

    ``bound_model`` gives ``L`` at ``x`` (in its own dtype), ``exact_model`` the float64
    gradient; ``x`` is float64 and exactly representable in the bound model's dtype.
    """
    L = bound_model.at(x.astype(bound_model_dtype(bound_model)))(radius)
    grad = exact_model.grad
    d = x.size
    starts = [_unit(u) for u in directions if np.linalg.norm(u) > 0]
    starts += [_unit(rng.standard_normal(d)) for _ in range(randoms)]
    worst = 0.0
    h = 1e-2 * radius
    for u in starts:
        y = x + (1.0 - 2e-2) * radius * u
        v = _unit(rng.standard_normal(d))
        for _ in range(steps):
            plus, minus = y + h * v, y - h * v
            dist = np.linalg.norm(plus - minus)
            if dist == 0.0:
                break
            g_plus, g_minus = grad(plus), grad(minus)
            diff = g_plus - g_minus
            # Less the rounding of the two gradients (a few ulps of their size each).
            noise = 16 * (d + 2) * EPS64 * (np.linalg.norm(g_plus) + np.linalg.norm(g_minus))
            worst = max(worst, (np.linalg.norm(diff) - noise) / dist)
            if not np.any(diff):
                break
            v = _unit(diff)
    return worst / L


def bound_model_dtype(model):
    return getattr(model, "_lfso_dtype", np.float64)


def _pair(build, dtype):
    """(model on data in ``dtype``, the same model on the same data in float64)."""
    low, exact = build(dtype), build(np.float64)
    low._lfso_dtype = dtype
    return low, exact


# -- counterexamples to earlier oracles ---------------------------------------------------


def _secant(model, y, z):
    return np.linalg.norm(model.grad(y) - model.grad(z)) / np.linalg.norm(y - z)


def test_power_sum_paper_below_p_one_and_a_half():
    """Was L = 2.654 against a secant of 3.75 (ratio 1.41): 2^(m-1) < 1 for m < 1."""
    model = PowerSum(1.25, oracle="paper")
    x, radius = np.array([1.0]), 1e-6
    secant = _secant(model, x + radius, x - radius)
    assert secant == pytest.approx(3.75, rel=1e-5)
    assert secant <= model(x, radius) * (1 + TOL)


@pytest.mark.parametrize("p", [200.0, 512.5, 600.0, 1000.0])
@pytest.mark.parametrize("top", [10.0, 0.9, 0.45, 0.3])
def test_power_sum_paper_at_a_high_power_is_a_bound_not_an_overflow(p, top):
    """The paper's ``k_m = 2^(m-1)`` leaves the float range for ``p > 512`` (an
    ``OverflowError``, or ``inf * 0 = NaN`` at ``p = 512.5``), and ``max |x_i|^m`` for
    ``max |x_i| > 1`` (an ``OverflowError`` at ``p = 200``, ``x = 10``): the bound is now
    ``c (2 t)^m / 2`` there, and ``inf`` past the range, never below the Hessian's norm
    (in mpmath)."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = 40
    bound = PowerSum(p, oracle="paper").evaluate(np.array([top, 0.1])).bound
    assert bound is not None
    for radius in (0.0, 0.05, 0.2):
        value = bound(radius)
        assert value >= 0.0  # (0 where it underflows: a bound of 0 certifies no step)
        q = ctx.mpf(2 * p - 2)
        exact = 2 * ctx.mpf(p) * (2 * ctx.mpf(p) - 1) * (ctx.mpf(top) + ctx.mpf(radius)) ** q
        assert value >= exact or (value == 0.0 and exact < 1e-300), (radius, value, exact)
    if top == 0.3 and p == 600.0:  # (its bound is finite: the folded form's)
        assert 0.0 < bound(0.0) < math.inf


@pytest.mark.parametrize("p", [200.0, 512.5, 513.6, 600.0, 1000.0])
@pytest.mark.parametrize(("scale", "top"), [(1.0, 0.3), (3.0, 0.3), (1.0, 0.9), (0.5, 1.5)])
def test_lp_regression_paper_at_a_high_power_is_a_bound_not_an_overflow(p, scale, top):
    """As :class:`PowerSum`'s: the paper's ``k_m = 2^(m-1)`` leaves the float range for
    ``p > 513.5`` (``LpRegression(np.eye(2), np.zeros(2), p=600, oracle='paper')`` raised
    a bare ``OverflowError`` evaluating at ``x = 0.3``), and ``k ||a_i||^m`` for rows of
    norm ``> 1`` (``inf * 0 = NaN`` at ``R = 0`` with ``A = 3 I``, ``p = 200``): the bound
    is now ``c (2 t)^m / 2`` and ``k (||a_i|| R)^m`` there, and ``inf`` past the range,
    never below the Hessian's norm sup ``2p(2p-1) s^2 (s (x_max + R))^m`` (mpmath)."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = 40
    model = LpRegression(scale * np.eye(2), np.zeros(2), p, oracle="paper")
    bound = model.evaluate(np.array([top, 0.1])).bound
    assert bound is not None
    for radius in (0.0, 0.05, 0.2):
        value = bound(radius)
        assert value >= 0.0  # (0 where it underflows: a bound of 0 certifies no step)
        q, s = ctx.mpf(2 * p - 2), ctx.mpf(scale)
        exact = 2 * ctx.mpf(p) * (2 * ctx.mpf(p) - 1) * s**2 * (s * (ctx.mpf(top) + radius)) ** q
        assert value >= exact or (value == 0.0 and exact < 1e-300), (radius, value, exact)


def test_lp_regression_paper_below_p_one_and_a_half():
    model = LpRegression(np.array([[1.0]]), np.array([0.0]), 1.25, oracle="paper")
    x, radius = np.array([1.0]), 1e-6
    assert _secant(model, x + radius, x - radius) <= model(x, radius) * (1 + TOL)


def test_lp_regression_sharp_trace_term_below_p_one_and_a_half():
    """Was L = 4.592 against a secant of 5.303 (ratio 1.155): Minkowski needs m >= 1."""
    model = LpRegression(np.array([[1.0], [1.0]]), np.array([-1.0, 0.0]), 1.25)
    x, radius = np.array([0.0]), 0.1249
    secant = _secant(model, x + radius, x + radius - 1e-7)
    assert secant == pytest.approx(5.303, rel=1e-3)
    assert secant <= model(x, radius) * (1 + TOL)


@pytest.mark.parametrize("p", [1.0001, 1.001])
@pytest.mark.parametrize("oracle", ["sharp", "paper"])
def test_lp_regression_with_p_just_above_one(p, oracle):
    """``m = 2p - 2`` near 0: the model took ``||A||^(2/m)`` (``3.3^1000`` here) for its
    ``m >= 1`` bound and raised ``OverflowError``; its bound holds and a run converges."""
    A = np.array([[1.0, 2.0], [3.0, -1.0], [1.0, 1.0]])
    b = np.array([1.0, 2.0, 0.5])
    model = LpRegression(A, b, p, oracle=oracle)
    rng = np.random.default_rng(0)
    x = np.array([0.3, -0.2])
    for radius in (1e-3, 1.0, 10.0):
        ratio = worst_ratio(model, model, x, radius, [*np.eye(2), *A], rng)
        assert ratio <= 1 + TOL + secant_noise(x, radius, 2, 2.0)
    res = lfso.minimize(model, np.zeros(2), tol=1e-9)
    assert res.success
    assert res.fun <= model.value(np.zeros(2))


def test_lp_regression_paper_run_below_p_one_and_a_half_descends():
    """Was: the descent inequality broken on 1,499 of 1,500 iterations, stalled above f*."""
    A, b = np.array([[1.0], [1.0]]), np.array([-1.0, 0.0])
    model = LpRegression(A, b, 1.25, oracle="paper")
    res = lfso.minimize(model, np.array([0.0]), eta=1.9, tol=0.0, max_iter=1500)
    f = res.history.f
    assert np.all(np.diff(f) <= 1e-12 * np.abs(f[:-1]))
    f_star = model.value(np.array([-0.5]))  # the minimiser, by symmetry
    assert res.fun - f_star <= 1e-6 * f_star


def test_composite_paper_uses_the_squared_singular_value():
    """Was L = 0.625 against a Hessian of 0.75 (mu_g = 2 sigma_min, not 2 sigma_min^2)."""
    model = CompositeLeastSquares(np.array([[0.5]]), np.array([0.0]), 2, oracle="paper")
    x = np.array([1.0])
    for radius in (0.0, 1e-3, 0.5):
        y = x + radius
        assert _secant(model, y, y - 1e-6) <= model(x, radius) * (1 + TOL)


@pytest.mark.parametrize("p", [1.0, 1.25, 1.5, 1.75, 2.0, 3.0])
def test_composite_paper_holds_on_an_inconsistent_ill_conditioned_system(p):
    """g* > 0 and sigma_min < 1, and 1 < p < 2 where h'' decreases: all covered now."""
    A = np.array([[1.0, 0.0], [0.0, 0.1], [0.0, 0.0]])
    b = np.array([0.0, 0.0, 1.0])
    model = CompositeLeastSquares(A, b, p, oracle="paper")
    rng = np.random.default_rng(0)
    for x in (np.array([0.0, 0.0]), np.array([2.0, -3.0]), np.array([1e-3, 5.0])):
        for radius in (1e-3, 0.3, 4.0):
            assert worst_ratio(model, model, x, radius, np.eye(2), rng) <= 1 + TOL


def test_composite_paper_rejects_a_rank_deficient_matrix():
    with pytest.raises(ValueError, match="full rank"):
        CompositeLeastSquares(np.ones((3, 2)), np.ones(3), 2, oracle="paper")


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_saturated_margin(fit_intercept, dtype):
    """Was L = 7e-276 against a secant of 0.4999 (and L = l2 for every R in float32)."""

    def build(dt):
        return SoftmaxRegression(
            np.array([[1.0]], dtype=dt), np.array([0]), 2, fit_intercept=fit_intercept
        )

    low, exact = _pair(build, dtype)
    x = np.array([20.0, -20.0] * (2 if fit_intercept else 1))
    radius = 28.28 * (math.sqrt(2) if fit_intercept else 1.0)
    rng = np.random.default_rng(0)
    ratio = worst_ratio(low, exact, x, radius, [-x], rng)
    assert 0.5 <= ratio <= 1 + TOL  # the bound is valid, and not absurdly loose here


def test_lp_regression_float32_far_point_near_parallel_rows():
    """float32, rows 1e-6 apart, x ~ 5e7 orthogonal to them, R = 1e-9 ||x||: was 1.075
    (||A|| padded by 1e-12 whatever the dtype, residuals by nothing)."""
    rng = np.random.default_rng(0)
    base = np.array([-1.0, 0.6, 0.8])
    A = (base + 1.3e-6 * rng.standard_normal((4, 3))).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    direction = _unit(np.cross(base, [1.0, 0.0, 0.0]))
    x = (5e7 * direction).astype(np.float32).astype(np.float64)
    worst = 0.0
    for p in (1.25, 1.5, 2.0, 3.0):
        low, exact = _pair(lambda dt, p=p: LpRegression(A.astype(dt), b.astype(dt), p), np.float32)
        for radius in (0.05, 0.5, 5.0):
            ratio = worst_ratio(low, exact, x, radius, list(A.astype(np.float64)), rng)
            assert ratio <= 1 + TOL + secant_noise(x, radius, 3, 3.0), (p, radius, ratio)
            worst = max(worst, ratio)
    assert worst > 0.5  # the check has teeth: the bound is not absurdly loose here


def test_logistic_float32_far_point():
    """float32 logistic: was 1 + 1.2e-5."""
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((40, 5)) * 30.0).astype(np.float32)
    y = (rng.uniform(size=40) < 0.5).astype(np.float32)
    low, exact = _pair(lambda dt: LogisticRegression(X.astype(dt), y.astype(dt)), np.float32)
    x = (rng.standard_normal(5)).astype(np.float32).astype(np.float64)
    for radius in (1e-4, 1e-2, 1.0):
        assert worst_ratio(low, exact, x, radius, list(X.astype(np.float64)), rng) <= 1 + TOL


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_saturated_margins_keep_a_positive_bound(dtype):
    """sigma'(1000) underflows to 0: was L = 0 (an OracleError, or a ZeroDivisionError)."""

    def build(dt):
        return LogisticRegression(np.array([[1.0], [2.0]], dtype=dt), np.array([1.0, 0.0], dt))

    low, exact = _pair(build, dtype)
    x = np.array([-1000.0])
    assert low.at(x.astype(dtype))(0.0) > 0.0
    rng = np.random.default_rng(0)
    for radius in (1.0, 990.0, 1100.0):
        assert worst_ratio(low, exact, x, radius, [np.ones(1)], rng) <= 1 + TOL
    assert lfso.minimize(exact, x, max_iter=50).success


def test_operator_norm_is_an_upper_bound_in_float32():
    rng = np.random.default_rng(0)
    for _ in range(20):
        A = rng.standard_normal((200, 7)).astype(np.float32)
        exact = np.linalg.norm(A.astype(np.float64), 2)
        assert lfso._arrays.operator_norm(A) >= exact
        assert lfso._arrays.operator_norm(A) <= exact * (1 + 1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["lp", "composite"])
@pytest.mark.parametrize("oracle", ["sharp", "paper"])
def test_ball_bound_at_a_subnormal_residual_covers_its_underflow(kind, oracle, dtype):
    """A residual ``a x`` that underflows to a subnormal number (or to 0) has lost up to
    half the smallest subnormal, not a relative amount, and ``|r|^m`` with ``m < 1``
    (``p = 1.25``) magnifies the loss: a ball bound that pads only relative rounding gives
    ``L(x, 0) = 0`` in float64 (``fl(0.14 * 1e-323) = 0``) and 8% below the Hessian in
    float32. The exact Hessian at ``x`` is ``2p (2p - 1) |a x|^(2p - 2) a^2``."""
    from fractions import Fraction

    import mpmath

    if dtype is np.float64:
        a, point = 0.14003784444310863, 1e-323
    else:
        a, point = 0.2691101133823395, 1.8216880036222622e-44
    A, b, x = np.array([[a]], dtype), np.zeros(1, dtype), np.array([point], dtype)
    if kind == "lp":
        model = LpRegression(A, b, 1.25, oracle=oracle)
    else:
        model = CompositeLeastSquares(A, b, 1.25, oracle=oracle if dtype is np.float64 else "sharp")
    with np.errstate(all="ignore"):
        bound = model.evaluate(x).bound(0.0)
    ctx = mpmath.MPContext()
    ctx.dps = 50
    a_exact = Fraction(float(A[0, 0]))
    residual = a_exact * Fraction(float(x[0]))
    exact = 3.75 * ctx.sqrt(ctx.mpf(residual.numerator) / residual.denominator)
    exact *= ctx.mpf(a_exact.numerator) ** 2 / ctx.mpf(a_exact.denominator) ** 2
    assert ctx.mpf(bound) >= exact, (bound, float(exact))


def test_radius_for_on_a_sum_stays_within_rtol_of_the_root():
    """Was 1.5 R*: Newton aimed at the root, whose landing rounding rejected."""
    bound = ConstantBound(1296.389) + PowerBound(11520, 0, 1, 8)
    radius, value, _ = bound.radius_for(1.35414)
    assert 1.35414 <= radius * value <= 1.35414 * (1 + 1e-3)
    flat = ConstantBound(0.14848860557912633) + PowerBound(7.703407474911784, 0, 1, 0)
    radius, value, _ = flat.radius_for(1305.8782085893092)  # was 1.019 times the target
    assert 1305.8782085893092 <= radius * value <= 1305.8782085893092 * (1 + 1e-3)


pos = st.floats(1e-3, 1e4)
SHAPES = st.one_of(
    st.builds(ConstantBound, pos),
    st.builds(
        PowerBound, pos, st.floats(0.0, 1e3), st.floats(0.0, 1e2), st.floats(0.0, 9.0)
    ).filter(
        lambda b: b(1.0) > 0.0  # (a = b = 0, q > 0: L = 0, not a bound)
    ),
    st.builds(PowerBound, pos, st.just(0.0), pos, st.integers(0, 9).map(float)),
    st.builds(ExpBound, pos, st.floats(0.0, 10.0)),
    st.builds(PolynomialBound, st.lists(st.floats(0.0, 1e3), min_size=1, max_size=4)).filter(
        lambda b: b(0.0) > 0.0
    ),
)


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(SHAPES, min_size=1, max_size=3), log_target=st.floats(-6, 6))
def test_radius_for_over_sums_of_shapes_is_feasible_and_tight(terms, log_target):
    """The docstring's claim: R L(R) >= c and R L(R) <= (1 + rtol) c, for any sum."""
    bound = terms[0]
    for t in terms[1:]:
        bound = bound + t
    target, rtol = 10.0**log_target, 1e-3
    radius, value, _ = bound.radius_for(target, rtol=rtol)
    assert value == pytest.approx(bound(radius), rel=1e-12)
    assert radius * value >= target * (1 - 1e-12)
    assert radius * value <= target * (1 + rtol) * (1 + 1e-12)


# -- the adversarial campaign ------------------------------------------------------------

POWERS = st.one_of(st.floats(1.0, 2.0), st.sampled_from([1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0]))
LOG_SCALE = st.sampled_from([None, -3.0, 0.0, 1.0, 3.0, 7.0])
LOG_RADIUS = st.floats(-9.0, 2.0)
DTYPES = st.sampled_from([np.float64, np.float32])


def _matrix(rng, n, d, kind):
    if kind == "parallel":
        base = rng.standard_normal(d)
        return base + 10.0 ** rng.uniform(-6, -2) * rng.standard_normal((n, d))
    if kind == "repeated":  # one row, repeated: the trace term binds
        return np.repeat(rng.standard_normal((1, d)), n, axis=0)
    A = rng.standard_normal((n, d))
    if kind == "scaled":
        A *= 10.0 ** rng.uniform(-2, 2, size=(n, 1))
    return A


def _point(rng, A, d, log_scale, kind, b=None):
    """Far along a random direction, or (near-parallel rows) orthogonal to the rows, or
    (``log_scale`` None) where one residual vanishes and the others do not."""
    if log_scale is None and b is not None:
        return np.linalg.lstsq(A[:1], b[:1], rcond=None)[0]
    v = _unit(rng.standard_normal(d))
    if kind == "parallel":
        a = _unit(A.mean(axis=0))
        v = _unit(v - (v @ a) * a)
    return 10.0 ** (log_scale or 0.0) * v


def _draw_regression(data, rng, outliers=True):
    n, d = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 4))
    kind = data.draw(st.sampled_from(["plain", "parallel", "scaled", "repeated"]))
    A = _matrix(rng, n, d, kind)
    b = rng.standard_normal(n)
    if outliers and data.draw(st.booleans()):
        b[rng.uniform(size=n) < 0.3] *= 1e3
    return A, b, kind


def _campaign(data, build, A, x, log_radius, dtype, rng, extra=(), offsets=0.0):
    """Check the ratio for ``build(dtype)`` at ``x`` (rounded to ``dtype``)."""
    x = np.asarray(x, dtype=dtype).astype(np.float64)
    low, exact = _pair(build, dtype)
    radius = 10.0**log_radius * (1.0 + np.linalg.norm(x))
    row_norm = 1.0
    if A is not None:
        norms = np.linalg.norm(A, axis=1)
        row_norm = float(norms[norms > 0].min()) if np.any(norms > 0) else 1.0
    L = low.at(x.astype(dtype))(radius)
    if not math.isfinite(L):  # (float32 overflow far away: an infinite bound holds)
        return
    directions = [*np.eye(x.size), x, *extra]
    if A is not None:
        directions += list(A[:6])
    ratio = worst_ratio(low, exact, x, radius, directions, rng)
    noise = secant_noise(x, radius, x.size, offsets, row_norm)
    assert ratio <= 1 + TOL + noise, (ratio, radius, noise)


@pytest.mark.parametrize("oracle", ["sharp", "paper"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), p=POWERS, log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_power_models(oracle, data, p, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    d = data.draw(st.integers(1, 4))
    log_scale = 0.0 if log_scale is None else log_scale
    x = 10.0**log_scale * rng.standard_normal(d)
    if p > 2 and log_scale > 3:
        log_scale = 3.0  # (|x|^(2p) beyond float64 range)
        x = 10.0**log_scale * _unit(x)
    for build in (
        lambda dt: PowerSum(p, oracle=oracle),
        *((lambda dt: PowerNorm(p)),) * (oracle == "sharp"),
    ):
        _campaign(data, build, None, x, log_radius, dtype, rng)


@pytest.mark.parametrize("oracle", ["sharp", "paper"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), p=POWERS, log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_lp_regression(oracle, data, p, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    A, b, kind = _draw_regression(data, rng)
    if p > 2 and log_scale is not None:
        log_scale = min(log_scale, 3.0)
    x = _point(rng, A, A.shape[1], log_scale, kind, b)
    build = lambda dt: LpRegression(A.astype(dt), b.astype(dt), p, oracle=oracle)  # noqa: E731
    _campaign(data, build, A, x, log_radius, dtype, rng, offsets=np.abs(b).max())


@pytest.mark.parametrize("oracle", ["sharp", "paper"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), p=POWERS, log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_composite_least_squares(oracle, data, p, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    A, b, kind = _draw_regression(data, rng)
    if oracle == "paper" and data.draw(st.booleans()):
        b = A @ rng.standard_normal(A.shape[1])  # consistent, as the authors assume
    if log_scale is not None:
        log_scale = min(log_scale, 3.0 if p > 2 else 5.0)
    x = _point(rng, A, A.shape[1], log_scale, kind, b)
    build = lambda dt: CompositeLeastSquares(A.astype(dt), b.astype(dt), p, oracle=oracle)  # noqa: E731
    try:
        build(np.float64)
    except ValueError:  # paper oracle, rank-deficient (or numerically so) A: rejected
        return
    _campaign(data, build, A, x, log_radius, dtype, rng, offsets=np.abs(b).max())


def _ridge(data, rng, d):
    """A classifier's ``l2``: none, one float, or one weight per feature over decades (its
    Hessian ``diag(l2_j)``, whose norm the ball bound adds)."""
    l2 = data.draw(st.sampled_from([0.0, 1e-3, "per feature"]))
    return 10.0 ** rng.uniform(-4.0, 1.0, d) if l2 == "per feature" else l2


@pytest.mark.parametrize("oracle", ["sharp", "paper"])
@settings(max_examples=40, deadline=None)
@given(data=st.data(), log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_logistic_regression(oracle, data, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, d = data.draw(st.integers(2, 10)), data.draw(st.integers(1, 4))
    X = _matrix(rng, n, d, data.draw(st.sampled_from(["plain", "parallel", "scaled"])))
    X *= 10.0 ** data.draw(st.floats(-1, 2))
    y = (rng.uniform(size=n) < 0.5).astype(float)
    y[0], y[1] = 0.0, 1.0
    l2 = _ridge(data, rng, d)
    intercept = data.draw(st.booleans())
    build = lambda dt: LogisticRegression(  # noqa: E731
        X.astype(dt), y.astype(dt), l2=l2, fit_intercept=intercept, oracle=oracle
    )
    dim = d + intercept
    x = 10.0 ** min(log_scale or 0.0, 3.0) * _unit(rng.standard_normal(dim))
    _campaign(data, build, None, x, log_radius, dtype, rng)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_softmax_regression(data, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, d, K = (
        data.draw(st.integers(1, 8)),
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(2, 4)),
    )
    X = _matrix(rng, n, d, data.draw(st.sampled_from(["plain", "parallel", "scaled"])))
    y = rng.integers(0, K, size=n)
    l2 = _ridge(data, rng, d)
    intercept = data.draw(st.booleans())
    build = lambda dt: SoftmaxRegression(  # noqa: E731
        X.astype(dt), y, K, l2=l2, fit_intercept=intercept
    )
    dim = (d + intercept) * K
    x = 10.0 ** min(log_scale or 0.0, 3.0) * _unit(rng.standard_normal(dim))
    _campaign(data, build, None, x, log_radius, dtype, rng)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), log_scale=LOG_SCALE, log_radius=LOG_RADIUS, dtype=DTYPES)
def test_cauchy_regression(data, log_scale, log_radius, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    A, b, kind = _draw_regression(data, rng)
    c = 10.0 ** data.draw(st.floats(-2, 2))
    l2 = data.draw(st.sampled_from([0.0, 1e-3]))
    x = _point(rng, A, A.shape[1], log_scale, kind, b)
    build = lambda dt: CauchyRegression(A.astype(dt), b.astype(dt), c, l2=l2)  # noqa: E731
    _campaign(data, build, A, x, log_radius, dtype, rng, offsets=np.abs(b).max())


@settings(max_examples=40, deadline=None)
@given(data=st.data(), log_radius=st.floats(-6.0, 0.5))
def test_l0l1_smooth(data, log_radius):
    # f = sum cosh(x_i): ||Hess f|| = max cosh x_i <= 1 + ||sinh x|| (L0 = L1 = 1).
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    d = data.draw(st.integers(1, 4))
    x = data.draw(st.floats(0.1, 20.0)) * rng.standard_normal(d)
    base = FunctionModel(lambda z: float(np.sum(np.cosh(z))), np.sinh)
    build = lambda dt: L0L1Smooth(base, 1.0, 1.0)  # noqa: E731
    _campaign(data, build, None, x, log_radius, np.float64, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_l0l1_bounds_round_up_from_the_computed_gradient(dtype):
    """``L0L1Smooth``'s ball bound ``(L0 + L1 ||g||) e^{L1 R}`` and segment bound ``(L0 +
    L1 ||g||) e^{L1 ||d|| t} ||d||^2``, for the base's computed gradient ``g``, are never
    below their exact values (mpmath): its own arithmetic (``||g||``, ``||d||``, the sum,
    the products and the exponential) is rounded up. Rounded to nearest they fell below
    at about half the points (``f = e^x``, ``L0 = 0``, ``L1 = 1``: 1,063 of 2,000)."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = 50
    rng = np.random.default_rng(3)
    below = []
    for _ in range(300):
        n = int(rng.integers(1, 40))
        g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 8)).astype(dtype)
        d = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4)).astype(dtype)
        L0, L1 = float(rng.uniform(0.0, 3.0)) * (rng.uniform() < 0.7), float(rng.uniform(0, 5))
        model = L0L1Smooth(FunctionModel(lambda z: 0.0, lambda z, g=g: g), L0, L1)
        x = np.zeros(n, dtype)
        ev = model.evaluate(x)
        scale = ctx.mpf(L0) + ctx.mpf(L1) * ctx.sqrt(ctx.fsum(ctx.mpf(float(v)) ** 2 for v in g))
        sq = ctx.fsum(ctx.mpf(float(v)) ** 2 for v in d)
        segment = model.segment(x, ev, d)
        for r in (0.0, *10.0 ** rng.uniform(-6, 1, 3)):
            exact = scale * ctx.exp(ctx.mpf(L1) * ctx.mpf(r))
            if ctx.mpf(ev.bound(r)) < exact:
                below.append(("ball", n, L0, L1, r))
            t = r / max(math.sqrt(float(sq)), 1e-300)
            exact = scale * ctx.exp(ctx.mpf(L1) * ctx.sqrt(sq) * ctx.mpf(t)) * sq
            if ctx.mpf(segment(t)) < exact:
                below.append(("segment", n, L0, L1, t))
    assert not below, f"{len(below)} bounds below their exact values, first {below[:3]}"


def test_generic_solve_survives_an_underflowing_bound_below_the_root():
    """L(R) = R^9 from a seed 1e4 times the root: the slope-bound step down lands at
    R = 1e-36, where L underflows to 0 (was an OracleError; a bisection now)."""
    bound = lfso.oracles.FunctionBound(lambda r: r**9)
    radius, value, _ = lfso.oracles._solve.solve_radius(bound, 1.0, guess=1e4)
    assert 1.0 <= radius * value <= 1.0 + 1e-3


def test_newton_start_lost_to_rounding_does_not_overflow():
    """The start 3^(-1/2) of 1e-167 + 3 R lost one ulp: the fallback start 1 / L(0) =
    4e166 overflowed R L(R) and was returned (R L(R) / c = 4e333)."""
    bound = PolynomialBound([2.7465801562379004e-167, 3.0])
    radius, value, _ = bound.radius_for(1.0)
    assert 1.0 <= radius * value <= 1.0 + 1e-3


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [(1e-30, np.float32), (1e-20, np.float32), (1e-170, np.float64), (1e-160, np.float64)],
    ids=["float32-1e-30", "float32-1e-20", "float64-1e-170", "float64-1e-160"],
)
@pytest.mark.parametrize("kind", ["logistic", "softmax", "cauchy"])
def test_ball_bound_over_rows_whose_squares_underflow(kind, scale, dtype):
    """One row ``(s, -s)`` whose squares underflow (to 0, or to a subnormal number that has
    lost digits): at ``x = 0`` the Hessian's norm is exactly ``c ||a||^2`` (``c = 1/4``
    logistic, ``1/2`` softmax with two classes, ``rho''(0) = 1`` Cauchy). Row norms of
    ``sqrt(sum a_j^2)`` gave ``L = 0`` (float32 ``1e-30``, float64 ``1e-170``, whose
    ``||A||`` underflowed too) or a bound below the exact by a relative 1e-5 (float32
    ``1e-20``)."""
    X = np.array([[scale, -scale]], dtype)
    if kind == "logistic":
        model: lfso.models.Model = LogisticRegression(X, np.array([1.0]))
        dim, c = 2, Fraction(1, 4)
    elif kind == "softmax":
        model = SoftmaxRegression(X, np.array([1]), 2, fit_intercept=False)
        dim, c = 4, Fraction(1, 2)
    else:
        model, dim, c = CauchyRegression(X, np.zeros(1, dtype), 1.0), 2, Fraction(1)
    exact = c * 2 * Fraction(float(X[0, 0])) ** 2
    with np.errstate(all="ignore"):
        bound = model.evaluate(np.zeros(dim, dtype)).bound
        assert bound is not None
        for radius in (0.0, 1.0):
            assert Fraction(bound(radius)) >= exact, (radius, bound(radius), float(exact))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ball_bound_keeps_the_rows_curvature_beside_a_large_ridge_term(dtype):
    """``L = scale curv + l2`` on the host: where ``scale curv`` (``sigma'(64) = 1.6e-28``)
    is below half an ulp of ``l2`` the sum rounded to ``l2`` and dropped it, below the exact
    ``||H|| = l2 + sigma'(64)``."""
    model = LogisticRegression(np.array([[1.0]], dtype), np.array([1.0]), l2=1e-3)
    bound = model.evaluate(np.array([64.0], dtype)).bound
    assert bound is not None
    assert Fraction(bound(0.0)) > Fraction(1e-3)
    assert bound(0.0) <= 1e-3 * (1 + 1e-14)  # (and no coarser than the host's rounding)


def test_row_norms_of_rows_whose_squares_overflow():
    """float32 rows past 1.8e19 overflow their squares: their norms were inf, and every
    bound with them (a segment gave NaN, reported as a bound of zero)."""
    X = np.array([[1e20, 1.0, -3e19], [1.0, -2.0, 0.5]], np.float32)
    geometry = LogisticRegression(X, np.array([1.0, 0.0])).geometry
    for row, norm in zip(X, geometry.row_norms, strict=True):
        exact = sum(Fraction(float(v)) ** 2 for v in row)
        assert math.isfinite(float(norm)) and Fraction(float(norm)) ** 2 >= exact
        assert float(norm) <= math.sqrt(float(exact)) * (1 + 1e-5)
