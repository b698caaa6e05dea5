"""Logistic and softmax regression with one weight per row (``lfso.models._weighted``):
the value and gradient are the unweighted models' on repeated rows, the ball bound is
above the weighted Hessian's norm on the ball, and runs are certified."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

import lfso
from lfso.models import LogisticRegression, SoftmaxRegression
from lfso.models._weighted import WeightedLogistic, WeightedSoftmax


def _data(classes, n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, classes, size=n)
    counts = rng.integers(1, 5, size=n)
    return X, y, counts


def _pair(classes, X, y, counts, l2=0.1, top=4.0):
    """The weighted model (weights ``counts / top``) and the unweighted one on the rows
    repeated ``counts`` times: the weighted loss is ``N / (top n)`` times the repeated
    one's (``N`` rows), and so is the ridge given to the weighted model."""
    weights = counts / top
    repeated = X.repeat(counts, axis=0), y.repeat(counts)
    ratio = counts.sum() / (top * X.shape[0])
    if classes == 2:
        weighted = WeightedLogistic(X, y, weights, l2=l2 * ratio, fit_intercept=True)
        plain = LogisticRegression(*repeated, l2=l2, fit_intercept=True)
    else:
        weighted = WeightedSoftmax(X, y, classes, weights, l2=l2 * ratio)
        plain = SoftmaxRegression(*repeated, classes, l2=l2)
    return weighted, plain, ratio


@pytest.mark.parametrize("classes", [2, 3])
def test_weighted_value_and_gradient_are_repeated_rows(classes):
    X, y, counts = _data(classes)
    weighted, plain, ratio = _pair(classes, X, y, counts)
    x = np.random.default_rng(1).normal(size=weighted.dim)
    ev, ref = weighted.evaluate(x), plain.evaluate(x)
    assert ev.value == pytest.approx(ratio * ref.value, rel=1e-13)
    assert weighted.value(x) == ev.value
    np.testing.assert_allclose(ev.grad, ratio * ref.grad, rtol=1e-12, atol=1e-15)


def _hessian(weighted, classes, X1, y, z):
    """The weighted loss's Hessian at ``z`` (no ridge), in float64."""
    n, s = X1.shape[0], weighted.weights
    if classes == 2:
        m = (2.0 * y - 1.0) * (X1 @ z)
        slope = expit(m) * expit(-m)
        return (X1.T * (s * slope)) @ X1 / n
    P = softmax(X1 @ z.reshape(X1.shape[1], classes), axis=1)
    H = np.zeros((z.size, z.size))
    for i in range(n):
        A = np.diag(P[i]) - np.outer(P[i], P[i])
        H += s[i] * np.kron(np.outer(X1[i], X1[i]), A)
    return H / n


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("radius", [0.0, 0.1, 1.0, 10.0])
def test_weighted_ball_bound_is_above_the_curvature_on_the_ball(classes, radius):
    """``L(x, R)`` is above ``||H(z)||`` at points ``z`` of ``B(x, R)`` (the weighted
    Hessian's norm), and no larger than the heaviest row's weight times the unweighted
    bound (each row's curvature is weighed by its own)."""
    X, y, counts = _data(classes, seed=2)
    counts[0] = 40  # (one heavy row)
    weighted, _, _ = _pair(classes, X, y, counts, l2=0.0, top=64.0)
    rng = np.random.default_rng(3)
    x = 3.0 * rng.normal(size=weighted.dim)
    bound = weighted.evaluate(x).bound
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    for _ in range(20):
        step = rng.normal(size=x.size)
        z = x + radius * rng.uniform() * step / np.linalg.norm(step)
        assert np.linalg.norm(_hessian(weighted, classes, X1, y, z), 2) <= bound(radius)
    if classes == 2:
        plain = LogisticRegression(X, y, fit_intercept=True)
    else:
        plain = SoftmaxRegression(X, y, classes)
    top = weighted.weights.max() * plain.evaluate(x).bound(radius)
    assert bound(radius) <= top * (1.0 + 1e-12)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_weighted_runs_never_rise(classes, method):
    """Along a run with weights over six orders of magnitude the computed ``f`` never
    rises beyond its rounding (each value within ``gamma_{n+20}`` of the exact)."""
    X, y, _ = _data(classes, n=100, seed=4)
    weights = 10.0 ** np.random.default_rng(5).uniform(-6, 0, size=100)
    if classes == 2:
        model = WeightedLogistic(X, y, weights, l2=1e-3, fit_intercept=True)
    else:
        model = WeightedSoftmax(X, y, classes, weights, l2=1e-3)
    res = lfso.minimize(
        model, np.zeros(model.dim), method=method, tol=1e-9, max_iter=20_000, monitor=False
    )
    f = res.history.f
    assert res.success and f.size > 5
    rounding = (X.shape[0] + 20) * np.finfo(np.float64).eps
    assert np.all(np.diff(f) <= 2.0 * rounding * np.abs(f[1:]))


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("method", ["armijo", "bb"])
def test_a_line_search_on_weighted_rows_reads_the_weighted_loss(classes, method):
    """A line search's trial value (``Model._value_product``, which the unweighted models
    compute from their own rows) is the weighted loss: the run matches one on the rows
    repeated, and every ``f`` it reports is the weighted model's value."""
    X, y, counts = _data(classes, seed=2)
    weighted, plain, _ = _pair(classes, X, y, counts)
    x = np.random.default_rng(3).normal(size=weighted.dim)
    assert weighted._value_product(x)[0] == weighted.value(x)
    res = lfso.minimize(weighted, np.zeros(weighted.dim), method=method, tol=1e-8)
    repeated = lfso.minimize(plain, np.zeros(plain.dim), method=method, tol=1e-8)
    assert res.success and res.fun == weighted.value(res.x)
    assert np.allclose(res.x, repeated.x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        (np.ones(3), ValueError, r"sample_weight must have shape \(4,\)"),
        (np.array([1.0, 0.0, 1.0, 1.0]), ValueError, "in \\(0, 1\\]"),
        (np.array([1.0, 2.0, 1.0, 1.0]), ValueError, "in \\(0, 1\\]"),
        (np.array([1.0, np.nan, 1.0, 1.0]), ValueError, "in \\(0, 1\\]"),
    ],
)
def test_weights_out_of_range_are_refused(weights, error, match):
    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 1, 0, 1])
    with pytest.raises(error, match=match):
        WeightedLogistic(X, y, weights)


def test_non_numpy_rows_are_refused():
    X, y = np.arange(8.0, dtype=np.float32).reshape(4, 2), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match="float64 NumPy rows"):
        WeightedLogistic(X, y, np.ones(4))


def test_weighted_softmax_value_error_bounds_the_rounding():
    """``value_error`` is above ``|F - f(x)|``, ``f`` the weighted loss in 50 digits, and
    of the order of the rounding (not a vacuous bound)."""
    mpmath = pytest.importorskip("mpmath")
    X, y, counts = _data(3, n=50, seed=6)
    model, _, _ = _pair(3, X, y, counts, l2=0.0)
    x = 4.0 * np.random.default_rng(7).normal(size=model.dim)
    ev = model.evaluate(x)
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    W = x.reshape(X1.shape[1], 3)
    with mpmath.workdps(50):
        total = mpmath.mpf(0)
        for i in range(X.shape[0]):
            z = [
                mpmath.fsum(
                    mpmath.mpf(a) * mpmath.mpf(b) for a, b in zip(X1[i], W[:, k], strict=True)
                )
                for k in range(3)
            ]
            loss = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z)) - z[y[i]]
            total += mpmath.mpf(model.weights[i]) * loss
        exact = total / X.shape[0]
        error = abs(mpmath.mpf(ev.value) - exact)
    stated = model.value_error(x, ev)
    assert float(error) <= stated <= 1e-12 * abs(ev.value)


@pytest.mark.parametrize("spread", [0.0, 6.0, 320.0])
def test_weighted_logistic_segment_is_the_weighted_sum_of_suprema(spread):
    """The two-class segment bound ``C(t)`` is at least ``(1/n) sum_i s_i sup_{s in [0, t]}
    sigma'(m_i + s v_i) v_i^2 + l2 ||d||^2`` (each row's supremum, from the float data
    in mpmath at 50 digits), so above the curvature along the segment, and within a
    relative ``1e-10`` of it; weights spread over ``10^-spread .. 1`` (subnormal ones
    too, whose products with the rows' weights underflow)."""
    mpmath = pytest.importorskip("mpmath")
    X, y, _ = _data(2, n=40, seed=8)
    rng = np.random.default_rng(9)
    weights = 10.0 ** rng.uniform(-spread, 0.0, size=40)
    model = WeightedLogistic(X, y, weights, l2=0.3, fit_intercept=True)
    assert model.has_segment and "product" in model.extras
    x, d = 2.0 * rng.normal(size=model.dim), rng.normal(size=model.dim)
    seg = model.segment(x, model.evaluate(x), d)
    X1, signs = model.X, model.signs
    with mpmath.workdps(50):
        mp = mpmath.mpf

        def dot(a, b):
            return mpmath.fsum(mp(float(p)) * mp(float(q)) for p, q in zip(a, b, strict=True))

        m = [mp(float(signs[i])) * dot(X1[i], x) for i in range(40)]
        v = [mp(float(signs[i])) * dot(X1[i], d) for i in range(40)]
        ridge = mp(0.3) * mpmath.fsum(mp(float(c)) ** 2 for c in d[:-1])
        for t in [0.0, 1e-3, 0.1, 1.0, 10.0]:
            total = mp(0)
            for i in range(40):
                a, b = m[i], m[i] + mp(t) * v[i]
                gap = mp(0) if a * b <= 0 else min(abs(a), abs(b))
                e = mpmath.exp(-gap)
                total += mp(float(weights[i])) * e / (1 + e) ** 2 * v[i] ** 2
            exact = total / 40 + ridge
            assert exact <= mp(seg(t)) <= exact * (1 + mp(1e-10)), t


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_weighted_logistic_runs_as_the_unweighted_one_with_weights_1(method):
    """Weights all 1 give the unweighted model's run to rounding: its segment bound
    weighs each row's term by its weight (the ball bound along the direction took some
    1.6 times the iterations on ``lfso``), and the same minimiser."""
    X, y, _ = _data(2, n=200, seed=10)
    kwargs = {"l2": 1e-3, "fit_intercept": True}
    weighted = WeightedLogistic(X, y, np.ones(200), **kwargs)
    plain = LogisticRegression(X, y, **kwargs)
    runs = [
        lfso.minimize(m, np.zeros(m.dim), method=method, tol=1e-9, monitor=False)
        for m in (weighted, plain)
    ]
    assert all(res.success for res in runs)
    assert runs[0].nit <= 1.1 * runs[1].nit + 2
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("spread", [0.0, 6.0, 320.0])
def test_weighted_softmax_segment_is_above_the_weighted_curvature(spread):
    """The softmax segment bound ``C(t)`` is at least ``d^T H(x + s d) d = (1/n) sum_i s_i
    Var_{pi_i(s)}(v_i) + l2 ||D||^2`` at points ``s`` of ``[0, t]`` (from the float data
    in mpmath at 40 digits), and at most the unweighted model's ``C(t)`` (each row's term
    weighed by ``s_i <= 1``); weights spread over ``10^-spread .. 1``."""
    mpmath = pytest.importorskip("mpmath")
    X, y, _ = _data(3, n=25, seed=11)
    rng = np.random.default_rng(12)
    weights = 10.0 ** rng.uniform(-spread, 0.0, size=25)
    model = WeightedSoftmax(X, y, 3, weights, l2=0.2)
    plain = SoftmaxRegression(X, y, 3, l2=0.2)
    assert model.has_segment
    x, d = 2.0 * rng.normal(size=model.dim), rng.normal(size=model.dim)
    seg = model.segment(x, model.evaluate(x), d)
    unweighted = plain.segment(x, plain.evaluate(x), d)
    X1 = model.X
    W, D = x.reshape(X1.shape[1], 3), d.reshape(X1.shape[1], 3)
    with mpmath.workdps(40):
        mp = mpmath.mpf

        def row(a, M):
            return [
                mpmath.fsum(mp(float(p)) * mp(float(M[j, k])) for j, p in enumerate(a))
                for k in range(3)
            ]

        z = [row(X1[i], W) for i in range(25)]
        v = [row(X1[i], D) for i in range(25)]
        ridge = mp(0.2) * mpmath.fsum(mp(float(c)) ** 2 for c in D[:-1].ravel())
        for t in [0.0, 0.1, 1.0, 10.0]:
            exact = mp(0)
            for s in np.linspace(0.0, t, 21):
                total = mp(0)
                for i in range(25):
                    e = [mpmath.exp(z[i][k] + mp(s) * v[i][k]) for k in range(3)]
                    p = [a / mpmath.fsum(e) for a in e]
                    mean = mpmath.fsum(a * b for a, b in zip(p, v[i], strict=True))
                    var = mpmath.fsum(a * (b - mean) ** 2 for a, b in zip(p, v[i], strict=True))
                    total += mp(float(weights[i])) * var
                exact = max(exact, total / 25 + ridge)
            assert exact <= mp(seg(t)), t
            assert seg(t) <= unweighted(t) * (1.0 + 1e-12), t


def test_weighted_softmax_runs_as_the_unweighted_one_with_weights_1():
    """Weights all 1 give the unweighted model's run to rounding, in about as many
    iterations (the ball bound along the direction took twice as many on ``lfso``)."""
    X, y, _ = _data(3, n=200, seed=13)
    weighted = WeightedSoftmax(X, y, 3, np.ones(200), l2=1e-3)
    plain = SoftmaxRegression(X, y, 3, l2=1e-3)
    runs = [
        lfso.minimize(m, np.zeros(m.dim), method="lfso", tol=1e-9, monitor=False)
        for m in (weighted, plain)
    ]
    assert all(res.success for res in runs)
    assert runs[0].nit <= 1.1 * runs[1].nit + 2
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-6, atol=1e-8)
