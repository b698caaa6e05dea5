"""The row models' bound on the exact slope ``grad f(x) . d`` (:mod:`lfso.models._slope`).

The bound is tested against the exact slope at the float ``x`` and ``d``, in 50-digit
arithmetic (mpmath), float32 and float64, at random rows, at margins and residuals of a
large scale, at a carried product's point, and where the margins are differences of large
products that cancel (rows of 1e-4 at weights of 1e7): the held rows' bound, the bound
from the rows made again in float64, and the a-priori bound on ``|s* - fl(g . d)|`` each
hold. Then whole runs: where the gradient's rounding swamps its slope, the true ``f``
never rises beyond the rounding of the iterate, and ordinary runs take their steps.
"""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Any

import mpmath
import numpy as np
import pytest
from scripts import BENCHMARKS, script_namespace

import lfso
from lfso.models import LogisticRegression, LpRegression
from lfso.steps import _certificates as certificates

mpmath.mp.dps = 50


def _exact_rows(A: np.ndarray, v: np.ndarray) -> list[Any]:
    """``A v`` for the float ``A`` and ``v``, exactly (50 digits)."""
    return [
        mpmath.fsum(
            mpmath.mpf(float(a)) * mpmath.mpf(float(w)) for a, w in zip(row, v, strict=True)
        )
        for row in A
    ]


def exact_slope(model: Any, x: np.ndarray, d: np.ndarray) -> Any:
    """``grad f(x) . d`` of a logistic or ``l_2p`` model at the float ``x``, exactly."""
    if isinstance(model, LogisticRegression):
        A = np.asarray(model.X)
        z, u = _exact_rows(A, x), _exact_rows(A, d)
        signs = [float(s) for s in np.asarray(model.signs)]
        rows = mpmath.fsum(
            -s / (1 + mpmath.exp(s * zi)) * ui for s, zi, ui in zip(signs, z, u, strict=True)
        )
        total = rows / len(z)
        if model._ridge is not None:  # one weight per feature: the held ones define f
            lam = np.asarray(model._ridge.r, dtype=np.float64)
        else:
            mask = np.ones(model.dim)
            if model.fit_intercept:
                mask[-1] = 0.0
            lam = float(model.l2) * mask
        total += mpmath.fsum(
            mpmath.mpf(float(m)) * mpmath.mpf(float(a)) * mpmath.mpf(float(b))
            for m, a, b in zip(lam, x, d, strict=True)
        )
        return total
    A, b, q = np.asarray(model.A), np.asarray(model.b), 2 * mpmath.mpf(model.p)
    z, u = _exact_rows(A, x), _exact_rows(A, d)
    r = [zi - mpmath.mpf(float(bi)) for zi, bi in zip(z, b, strict=True)]
    return mpmath.fsum(q * abs(ri) ** (q - 2) * ri * ui for ri, ui in zip(r, u, strict=True))


def _cases() -> list[tuple[str, Any]]:
    """``(label, make(dtype, rng) -> (model, x, d))``."""

    def random_logistic(dtype, rng):
        A = rng.standard_normal((30, 4))
        y = (rng.standard_normal(30) > 0) * 1.0
        model = LogisticRegression(A.astype(dtype), y.astype(dtype), l2=0.3, fit_intercept=True)
        return model, rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)

    def ridge_per_feature(dtype, rng):
        A = rng.standard_normal((30, 4)) * 10.0
        y = (rng.standard_normal(30) > 0) * 1.0
        l2 = np.array([0.0, 0.1, 3.0, 1e3])
        model = LogisticRegression(A.astype(dtype), y.astype(dtype), l2=l2, fit_intercept=True)
        x = (rng.standard_normal(5) * 10.0).astype(dtype)
        return model, x, rng.standard_normal(5).astype(dtype)

    def cancelling_logistic(dtype, rng):  # rows of 1e-4 repeated with opposite labels
        A = rng.standard_normal((7, 3))
        A[3:] = A[:4]
        y = (rng.standard_normal(7) > 0) * 1.0
        model = LogisticRegression((A * 1e-4).astype(dtype), y.astype(dtype))
        x = (rng.standard_normal(3) * 10.0 ** rng.uniform(5, 8)).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def large_margins(dtype, rng):
        A = rng.standard_normal((20, 3))
        y = (rng.standard_normal(20) > 0) * 1.0
        model = LogisticRegression(A.astype(dtype), y.astype(dtype))
        x = (rng.standard_normal(3) * 10.0 ** rng.uniform(1, 3)).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def mixed_rows(dtype, rng):  # huge, tiny and subnormal rows, repeated with both labels
        A = rng.standard_normal((12, 3))
        A[6:] = A[:6]
        top = 15.0 if dtype == np.float32 else 150.0
        low = -44.0 if dtype == np.float32 else -320.0
        A *= 10.0 ** rng.uniform(-top, top, size=(12, 1))
        A[rng.integers(12)] *= 10.0**low  # (entries of the smallest subnormals)
        y = (rng.standard_normal(12) > 0) * 1.0
        model = LogisticRegression(A.astype(dtype), y.astype(dtype))
        x = (rng.standard_normal(3) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def lp(p):
        def make(dtype, rng):
            A = rng.standard_normal((25, 4))
            b = rng.standard_normal(25)
            model = LpRegression(A.astype(dtype), b.astype(dtype), p)
            x = (rng.standard_normal(4) * 10.0 ** rng.uniform(-2, 3)).astype(dtype)
            return model, x, rng.standard_normal(4).astype(dtype)

        return make

    def lp_near_fit(dtype, rng):  # residuals at rounding level: the slope is noise
        A = rng.standard_normal((25, 4)) * 1e3
        x = rng.standard_normal(4)
        b = (A @ x).astype(dtype)
        model = LpRegression(A.astype(dtype), b, 2)
        return model, x.astype(dtype), rng.standard_normal(4).astype(dtype)

    return [
        ("random logistic", random_logistic),
        ("ridge per feature", ridge_per_feature),
        ("cancelling logistic", cancelling_logistic),
        ("large margins", large_margins),
        ("mixed rows", mixed_rows),
        ("least squares", lp(1)),
        ("l_4", lp(2)),
        ("l_3", lp(1.5)),
        ("l_6", lp(3)),
        ("l_4 near a fit", lp_near_fit),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, make", _cases(), ids=[c[0] for c in _cases()])
def test_slope_bounds_hold_against_the_exact_slope(label, make, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{label}/{np.dtype(dtype).name}".encode()))
    for trial in range(12):
        model, x, d = make(dtype, rng)
        evaluation = model.evaluate(x)
        check = model.segment(x, evaluation, d).slope_check
        assert check is not None
        exact = exact_slope(model, x, d)
        rows = check.rows if type(check.rows) is not tuple else check.rows[0](*check.rows[1])
        held = check._bound(rows, check.u, check.delta, check.eps)
        fn, args = check.refine
        fresh = check._bound(*fn(*args))
        assert held >= exact, (label, trial, held, float(exact))
        if check.factor is not None:  # (logistic rows: the gradient's own factor)
            assert check._factor_bound() >= exact, (label, trial, float(exact))
        if check.fresh is not None:  # (z made again in the data's dtype, per-row pads)
            assert check._fresh_bound() >= exact, (label, trial, float(exact))
        assert fresh >= exact, (label, trial, fresh, float(exact))
        assert check.upper(math.inf) >= exact
        if check.history is not None:  # (the middle tiers skipped as hopeless: still a bound)
            check.history.update(held=math.inf, fresh=math.inf)
            assert check.upper(-math.inf) >= exact
            assert check._stage == 4
        computed = float(np.dot(evaluation.grad, d))  # fl(g . d) in the data's dtype
        assert check.prior >= abs(float(exact) - computed), (label, trial, check.prior)
        # the fresh rows' bound is sharp: within a few float64 ulps of the data's scale, or
        # of the slope where the gradient underflows (at most 3e-11 of it in 18,000 draws
        # of the cancelling rows in float32)
        scale = float(np.sum(np.abs(np.asarray(evaluation.grad, dtype=float) * d))) + 1e-300
        # (not of rows of mixed scales: the pads are the largest row's)
        if math.isfinite(fresh) and "fit" not in label and "mixed" not in label:
            assert fresh - float(exact) <= 1e-6 * scale + 1e-9 * abs(float(exact))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fresh_row_pads_bound_each_rows_rounding(dtype):
    # |fl(a_i^T x) - a_i^T x| <= gamma_d ||a_i||_1 ||x||_inf + d eta, row by row, at rows of
    # every scale, subnormal entries and products, and sums that cancel to nothing.
    rng = np.random.default_rng(zlib.crc32(f"fresh pads/{np.dtype(dtype).name}".encode()))
    info = np.finfo(dtype)
    top = 15.0 if dtype == np.float32 else 150.0
    for _ in range(20):
        A = rng.standard_normal((16, 5)) * 10.0 ** rng.uniform(-top, top, size=(16, 1))
        x = rng.standard_normal(5) * 10.0 ** rng.uniform(-3, 3)
        A[0] = [1.0, -1.0, 1e-8, 3.0, -3.0]  # (cancels to the smallest term)
        A[1] = rng.standard_normal(5) * float(info.smallest_subnormal) * 4  # subnormals
        A[2, :2] = float(info.smallest_normal) * rng.uniform(1.0, 2.0, 2)  # products underflow
        A, x = A.astype(dtype), x.astype(dtype)
        model = LogisticRegression(A, (rng.standard_normal(16) > 0).astype(dtype))
        z, _, delta, _ = model._fresh_rows(x, A @ x, float(np.max(np.abs(x))), 1.0)
        exact = _exact_rows(A, x)
        for i, row in enumerate(exact):
            assert abs(mpmath.mpf(float(z[i])) - row) <= delta[i], (i, float(row), delta[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slope_bound_holds_at_a_carried_product(dtype):
    # The next point's product carried from the segment (z + t u, with its drift): the
    # held rows' bound covers the drift.
    rng = np.random.default_rng(5)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    model = LogisticRegression((A * 1e-4).astype(dtype), y.astype(dtype))
    x = (rng.standard_normal(3) * 1e6).astype(dtype)
    for _ in range(10):
        d = rng.standard_normal(3).astype(dtype)
        evaluation = model.evaluate(x)
        segment = model.segment(x, evaluation, d)
        t = 10.0 ** rng.uniform(2, 5)
        x1 = (x + dtype(t) * d).astype(dtype)
        carried = segment.product(float(dtype(t)))
        if carried is None:
            continue
        e1 = model.evaluate(x1, product=carried)
        d1 = rng.standard_normal(3).astype(dtype)
        check = model.segment(x1, e1, d1).slope_check
        assert check.delta > 0.0
        exact = exact_slope(model, x1, d1)
        assert check._bound(check.rows, check.u, check.delta, check.eps) >= exact
        assert check._fresh_bound() >= exact  # (no drift: z made again)
        x = x1


def _rises(dtype: Any, method: str) -> list[float]:
    """The docs' reproducer: float32 logistic rows of size 1e-4 repeated with opposite
    labels, four starts; the largest rise of the true ``f`` beyond the benchmark's
    allowance, relative to ``f``, of each run."""
    allowance = script_namespace(BENCHMARKS / "float_soundness.py")["_allowance"]
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    A32 = (A * 1e-4).astype(dtype)
    model = LogisticRegression(A32, y.astype(dtype))
    exact = LogisticRegression(A32.astype(float), y)
    worst = []
    for seed in range(4):
        xs = [np.random.default_rng(seed).standard_normal(3).astype(dtype)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = lfso.minimize(
                model,
                xs[0],
                method=method,
                max_iter=200,
                callback=lambda x, xs=xs: xs.append(np.array(x)),
            )
        assert isinstance(res.status, lfso.Status)
        f = [exact.value(x.astype(float)) for x in xs]
        unit = 0.5 * float(np.finfo(dtype).eps)
        tiny = float(np.finfo(dtype).smallest_subnormal)
        over = [
            f[k + 1] - f[k] - allowance(exact, xs[k + 1].astype(float), f[k + 1], unit, tiny)
            for k in range(len(f) - 1)
        ]
        worst.append(max(over) / f[0])
    return worst


@pytest.mark.parametrize("method", ["lfso-lbfgs", "lfso"])
def test_step_where_the_gradients_rounding_swamps_its_slope_never_raises_f(method):
    assert max(_rises(np.float32, method)) <= 0.0


def test_run_where_the_gradients_rounding_swamps_its_slope_stops_at_the_precision_limit():
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    model = LogisticRegression((A * 1e-4).astype(np.float32), y.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, np.ones(3, np.float32), max_iter=400)
    assert res.status is lfso.Status.PRECISION_LIMIT
    assert "rounding swamps its slope" in res.message


def _ordinary(dtype: Any, method: str) -> Any:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((200, 5)).astype(dtype)
    y = (rng.standard_normal(200) > 0).astype(dtype)
    model = LogisticRegression(A, y, l2=0.1)
    return lfso.minimize(model, np.zeros(5, dtype), method=method, tol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_ordinary_runs_take_the_steps_the_computed_slope_sizes(dtype, method, monkeypatch):
    # Where the gradient's rounding is below its slope the steps are those of the
    # computed slope, bit for bit (as with no slope bound at all).
    res = _ordinary(dtype, method)
    assert res.success
    monkeypatch.setattr(certificates, "_checked_slope", lambda check, along, eta: (0.0, None))
    plain = _ordinary(dtype, method)
    assert plain.nit == res.nit
    assert np.array_equal(plain.x, res.x)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_ordinary_float64_runs_read_no_row_for_the_slope(method, monkeypatch):
    # The a-priori bound settles every step of an ordinary float64 run: no pass.
    from lfso.models._slope import RowSlope

    calls = []
    real = RowSlope.upper

    def counted(self, below=-math.inf):
        calls.append(below)
        return real(self, below)

    monkeypatch.setattr(RowSlope, "upper", counted)
    assert _ordinary(np.float64, method).success
    assert not calls


class _Check:
    """A slope bound with a given a-priori bound and upper bound (for
    :func:`lfso.steps._certificates._checked_slope`)."""

    def __init__(self, prior: float, upper: float) -> None:
        self.prior, self._upper, self.asked = prior, upper, 0

    def upper(self, below: float = -math.inf) -> float:
        self.asked += 1
        return self._upper


@pytest.mark.parametrize(
    "prior, upper, along, eta, expected, reads",
    [
        # the a-priori bound below an eighth of (1 - eta/2) |s|: no row read, e = prior
        (0.01, 5.0, -1.0, 1.0, (0.01, None), 0),
        (0.0624, 5.0, -1.0, 1.0, (0.0624, None), 0),
        # above it: the rows' bound; e = upper - s below (1 - eta/2) |s|: step unchanged
        (0.07, -0.6, -1.0, 1.0, (0.4, None), 1),
        (0.07, -1.2, -1.0, 1.0, (0.0, None), 1),  # (the exact slope below the computed)
        # e not below the margin, the bound negative: sized from it
        (0.07, -0.5, -1.0, 1.0, (0.0, -0.5), 1),
        (0.07, -0.05, -1.0, 1.5, (0.0, -0.05), 1),
        # a bound past float64's range states nothing: unchanged, e = prior
        (0.07, math.inf, -1.0, 1.0, (0.07, None), 1),
    ],
)
def test_checked_slope_keeps_sizes_or_refuses_the_step(prior, upper, along, eta, expected, reads):
    check = _Check(prior, upper)
    error, bounded = certificates._checked_slope(check, along, eta)
    assert bounded == expected[1]
    assert error == pytest.approx(expected[0], abs=1e-15)
    assert check.asked == reads


@pytest.mark.parametrize("upper", [0.0, 1e-300, 3.0])
def test_checked_slope_refuses_where_no_bound_is_negative(upper):
    with pytest.raises(lfso.oracles.PrecisionLimitError, match="rounding swamps its slope"):
        certificates._checked_slope(_Check(1.0, upper), -1.0, 1.0)


def test_swamped_direction_falls_back_to_steepest_descent(monkeypatch):
    # Where no bound along the L-BFGS direction is negative the step is taken along -g,
    # whose own bound is checked: the run goes on (or stops at the precision limit).
    events = []
    real = certificates._checked_slope

    def spy(check, along, eta):
        try:
            return real(check, along, eta)
        except certificates._SlopeSwampedError:
            events.append("swamped")
            raise

    real_size = certificates.SegmentCertificate.size

    def size(self, inputs, *, defer=False):
        events.append("steepest" if inputs.direction is None else "direction")
        out = real_size(self, inputs, defer=defer)
        events.append("bounded" if out[0].slope is not None else "sized")
        return out

    monkeypatch.setattr(certificates, "_checked_slope", spy)
    monkeypatch.setattr(certificates.SegmentCertificate, "size", size)
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    model = LogisticRegression((A * 1e-4).astype(np.float32), y.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, np.ones(3, np.float32), method="lfso-lbfgs")
    after = [events[k + 1] for k, event in enumerate(events[:-1]) if event == "swamped"]
    assert after and all(event == "steepest" for event in after[:-1])
    assert "bounded" in events  # (a step sized from the bound on the exact slope)
    assert isinstance(res.status, lfso.Status)
