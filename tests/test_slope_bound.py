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
from lfso.models import CauchyRegression, LogisticRegression, LpRegression, SoftmaxRegression
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
    if isinstance(model, SoftmaxRegression):
        X, k = np.asarray(model.X), model.K
        W, D = x.reshape(-1, k), d.reshape(-1, k)
        labels = np.argmax(np.asarray(model.onehot), axis=1)
        total = mpmath.mpf(0)
        for row, label in zip(X, labels, strict=True):
            z = _exact_rows(W.T, row)
            v = _exact_rows(D.T, row)
            top = max(z)
            e = [mpmath.exp(zk - top) for zk in z]
            norm = mpmath.fsum(e)
            total += mpmath.fsum(
                (ek / norm - (1 if c == label else 0)) * vk
                for c, (ek, vk) in enumerate(zip(e, v, strict=True))
            )
        if model._ridge is not None:
            lam = np.asarray(model._ridge.r, dtype=np.float64)
        else:
            lam = float(model.l2) * np.asarray(model._mask, dtype=np.float64)
        ridge = mpmath.fsum(
            mpmath.mpf(float(m)) * mpmath.mpf(float(a)) * mpmath.mpf(float(b))
            for m, a, b in zip(lam, x, d, strict=True)
        )
        return total / len(labels) + ridge
    if isinstance(model, CauchyRegression):
        A, b, c = np.asarray(model.A), np.asarray(model.b), mpmath.mpf(model.c)
        z, u = _exact_rows(A, x), _exact_rows(A, d)
        r = [zi - mpmath.mpf(float(bi)) for zi, bi in zip(z, b, strict=True)]
        rows = mpmath.fsum(ri / (1 + (ri / c) ** 2) * ui for ri, ui in zip(r, u, strict=True))
        ridge = mpmath.fsum(
            mpmath.mpf(float(a)) * mpmath.mpf(float(w)) for a, w in zip(x, d, strict=True)
        )
        return rows / len(r) + mpmath.mpf(model.l2) * ridge
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

    def lp_mixed(p):  # rows and targets of scales 1e-15..1e15 (float64: 1e-150..1e150)
        def make(dtype, rng):
            A = rng.standard_normal((12, 3))
            top = (15.0 if dtype == np.float32 else 150.0) / p
            size = 10.0 ** rng.uniform(-top, top, size=(12, 1))
            b = rng.standard_normal(12) * size[:, 0]
            model = LpRegression((A * size).astype(dtype), b.astype(dtype), p)
            x = (rng.standard_normal(3) * 10.0 ** rng.uniform(-1, 1)).astype(dtype)
            return model, x, rng.standard_normal(3).astype(dtype)

        return make

    def lp_near_fit(dtype, rng):  # residuals at rounding level: the slope is noise
        A = rng.standard_normal((25, 4)) * 1e3
        x = rng.standard_normal(4)
        b = (A @ x).astype(dtype)
        model = LpRegression(A.astype(dtype), b, 2)
        return model, x.astype(dtype), rng.standard_normal(4).astype(dtype)

    def cauchy(c, l2, spread):
        def make(dtype, rng):
            A = rng.standard_normal((25, 4))
            b = rng.standard_normal(25) * spread
            model = CauchyRegression(A.astype(dtype), b.astype(dtype), c, l2=l2)
            x = (rng.standard_normal(4) * 10.0 ** rng.uniform(-2, 3)).astype(dtype)
            return model, x, rng.standard_normal(4).astype(dtype)

        return make

    def cauchy_mixed(dtype, rng):  # rows and targets of scales 1e-15..1e15 (1e-150..1e150)
        A = rng.standard_normal((12, 3))
        top = 15.0 if dtype == np.float32 else 150.0
        size = 10.0 ** rng.uniform(-top, top, size=(12, 1))
        b = rng.standard_normal(12) * size[:, 0]
        model = CauchyRegression((A * size).astype(dtype), b.astype(dtype), 1.0)
        x = (rng.standard_normal(3) * 10.0 ** rng.uniform(-1, 1)).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def cauchy_near_fit(dtype, rng):  # residuals of 1 from products of 1e3: rounding swamps
        A = rng.standard_normal((7, 3))
        A[3:] = A[:4]
        x0 = rng.standard_normal(3) * 10.0 ** rng.uniform(5, 8)
        A = (A * 1e-4).astype(dtype)
        b = (A.astype(np.float64) @ x0 + rng.standard_normal(7)).astype(dtype)
        model = CauchyRegression(A, b, 1.0)
        x = (x0 * (1.0 + 1e-4 * rng.standard_normal(3))).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def cauchy_outliers(dtype, rng):  # residuals far past c, c far from 1
        A = rng.standard_normal((20, 3))
        c = 10.0 ** rng.uniform(-3, 3)
        b = rng.standard_normal(20) * c * 10.0 ** rng.uniform(0, 6)
        model = CauchyRegression(A.astype(dtype), b.astype(dtype), c)
        x = (rng.standard_normal(3) * c).astype(dtype)
        return model, x, rng.standard_normal(3).astype(dtype)

    def softmax(k, l2, size):
        def make(dtype, rng):
            A = rng.standard_normal((20, 3))
            y = rng.integers(0, k, 20)
            weights = np.array(l2) if isinstance(l2, list) else l2
            model = SoftmaxRegression(A.astype(dtype), y, k, l2=weights)
            x = (rng.standard_normal(4 * k) * 10.0 ** rng.uniform(-2, size)).astype(dtype)
            return model, x, rng.standard_normal(4 * k).astype(dtype)

        return make

    def softmax_cancelling(dtype, rng):  # rows of 1e-4 repeated with other labels
        A = rng.standard_normal((7, 3))
        A[3:] = A[:4]
        y = rng.integers(0, 3, 7)
        model = SoftmaxRegression((A * 1e-4).astype(dtype), y, 3, fit_intercept=False)
        x = (rng.standard_normal(9) * 10.0 ** rng.uniform(5, 8)).astype(dtype)
        return model, x, rng.standard_normal(9).astype(dtype)

    return [
        ("softmax", softmax(3, 0.1, 1)),
        ("softmax ridge per feature", softmax(4, [0.0, 1.0, 1e3], 2)),
        ("softmax two classes large logits", softmax(2, 0.0, 3)),
        ("softmax cancelling", softmax_cancelling),
        ("cauchy", cauchy(1.0, 0.0, 1.0)),
        ("cauchy ridge large c", cauchy(1e3, 0.3, 1e2)),
        ("cauchy small c", cauchy(1e-2, 0.0, 1.0)),
        ("cauchy near a fit", cauchy_near_fit),
        ("cauchy outliers", cauchy_outliers),
        ("cauchy mixed rows", cauchy_mixed),
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
        ("least squares mixed rows", lp_mixed(1)),
        ("l_4 mixed rows", lp_mixed(2)),
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
        fresh = check._refined_bound()
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
        # (rows of mixed scales too: each row's pad is its own)
        if math.isfinite(fresh) and "fit" not in label:
            assert fresh - float(exact) <= 1e-6 * scale + 1e-9 * abs(float(exact))


_COMPILED = [c for c in _cases() if c[0].startswith(("cauchy", "softmax"))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, make", _COMPILED, ids=[c[0] for c in _COMPILED])
def test_compiled_cauchy_and_softmax_slope_sums_are_the_numpy_ones(label, make, dtype, monkeypatch):
    # The held rows' and the fresh rows' sums in one compiled pass (lfso.models._compiled,
    # on these few rows): the NumPy terms in another order, and the bound above the exact
    # slope.
    from lfso.models import _compiled, _slope

    if not _compiled.ENABLED:
        pytest.skip("numba not installed, or LFSO_NO_COMPILED set")
    monkeypatch.setattr(_compiled, "MIN_ROWS", 0)
    rng = np.random.default_rng(zlib.crc32(f"compiled {label}/{np.dtype(dtype).name}".encode()))
    for trial in range(8):
        model, x, d = make(dtype, rng)
        check = model.segment(x, model.evaluate(x), d).slope_check
        fn, args = check.derivative
        for rows, u, delta, eps in [
            (check.rows, check.u, check.delta, check.eps),
            check.refine[0](*check.refine[1]),
        ]:
            with np.errstate(all="ignore"):
                if isinstance(delta, float):
                    compiled = _slope._compiled_sums(fn, args, rows, u, delta, eps)
                    plain = _slope._numpy_sums(fn, args, rows, u, delta, eps)
                else:  # (per-row pads)
                    compiled = _slope._compiled_row_sums(fn, args, rows, u, delta, eps)
                    with monkeypatch.context() as patch:
                        patch.setattr(_slope, "_compiled_row_sums", lambda *a: None)
                        plain = _slope._row_sums(check.derivative, rows, u, delta, eps)
            assert compiled is not None
            n = int(np.asarray(rows).shape[0])
            spread = plain[1]  # sum |w u|: the first sum's own rounding
            assert abs(compiled[0] - plain[0]) <= 2.0 * _slope.gamma64(n + 1) * spread
            assert compiled[1:] == pytest.approx(plain[1:], rel=4.0 * _slope.gamma64(n + 10))
            if isinstance(delta, float):
                bound = check._bound(rows, u, delta, eps)
            else:
                bound = check._per_row_bound(rows, u, delta, eps)
            assert bound >= exact_slope(model, x, d), (label, trial, bound)


_PER_ROW = [
    c for c in _cases() if c[0] in ("random logistic", "mixed rows", "l_4", "l_4 mixed rows")
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, make", _PER_ROW, ids=[c[0] for c in _PER_ROW])
def test_compiled_per_row_slope_sums_are_the_numpy_ones(label, make, dtype, monkeypatch):
    # The fresh rows' and the float64 rows' sums with per-row pads in one compiled pass
    # (logistic and l_2p rows): the NumPy terms in another order, and above the exact slope.
    from lfso.models import _compiled, _slope

    if not _compiled.ENABLED:
        pytest.skip("numba not installed, or LFSO_NO_COMPILED set")
    monkeypatch.setattr(_compiled, "MIN_ROWS", 0)
    rng = np.random.default_rng(zlib.crc32(f"per row {label}/{np.dtype(dtype).name}".encode()))
    for _ in range(6):
        model, x, d = make(dtype, rng)
        check = model.segment(x, model.evaluate(x), d).slope_check
        fn, args = check.derivative
        exact = exact_slope(model, x, d)
        for tier in (check.fresh, check.refine):
            rows, u, delta, eps = tier[0](*tier[1])
            with np.errstate(all="ignore"):
                compiled = _slope._compiled_row_sums(fn, args, rows, u, delta, eps)
                with monkeypatch.context() as patch:
                    patch.setattr(_slope, "_compiled_row_sums", lambda *a: None)
                    plain = _slope._row_sums(check.derivative, rows, u, delta, eps)
            assert compiled is not None
            n = int(np.asarray(rows).shape[0])
            assert abs(compiled[0] - plain[0]) <= 2.0 * _slope.gamma64(n + 1) * plain[1]
            assert compiled[1:] == pytest.approx(plain[1:], rel=4.0 * _slope.gamma64(n + 10))
            assert check._per_row_bound(rows, u, delta, eps) >= exact, (label, float(exact))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fresh_row_pads_bound_each_rows_rounding(dtype):
    # |fl(a_i^T x) - a_i^T x| <= gamma_d ||a_i||_1 ||x||_inf + d eta, row by row, at rows of
    # every scale, subnormal entries and products, and sums that cancel to nothing; and
    # |fl(fl(a_i^T x) - b_i) - (a_i^T x - b_i)| <= that + u |r_i|.
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
        # the residuals r = fl(A x - b) of l_2p regression: b's subtraction adds u |r_i|
        b = (A.astype(np.float64) @ x * (1.0 + 1e-6 * rng.standard_normal(16))).astype(dtype)
        lp = LpRegression(A, b, 2)
        r, _, pad, _ = lp._fresh_rows(x, A @ x, float(np.max(np.abs(x))), 1.0)
        for i, row in enumerate(exact):
            residual = row - mpmath.mpf(float(b[i]))
            assert abs(mpmath.mpf(float(r[i])) - residual) <= pad[i], (i, pad[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_row_pads_bound_each_rows_rounding(dtype):
    # The rows made again in float64 (A x, and A x - b), row by row within gamma_{d+4}
    # (||a_i||_1 ||x||_inf + |b_i|) + (d + 6) eta_64, at rows of every scale, subnormal
    # entries, and sums that cancel to nothing.
    rng = np.random.default_rng(zlib.crc32(f"wide pads/{np.dtype(dtype).name}".encode()))
    info = np.finfo(dtype)
    top = 15.0 if dtype == np.float32 else 150.0
    for _ in range(20):
        A = rng.standard_normal((16, 5)) * 10.0 ** rng.uniform(-top, top, size=(16, 1))
        x = rng.standard_normal(5) * 10.0 ** rng.uniform(-3, 3)
        A[0] = [1.0, -1.0, 1e-8, 3.0, -3.0]  # (cancels to the smallest term)
        A[1] = rng.standard_normal(5) * float(info.smallest_subnormal) * 4  # subnormals
        A, x = A.astype(dtype), x.astype(dtype)
        b = (A.astype(np.float64) @ x * (1.0 + 1e-3 * rng.standard_normal(16))).astype(dtype)
        xmax, exact = float(np.max(np.abs(x))), _exact_rows(A, x)
        logistic = LogisticRegression(A, (rng.standard_normal(16) > 0).astype(dtype))
        z, _, delta, _ = logistic._wide_rows(x, x, xmax, xmax)
        r, _, pad, _ = LpRegression(A, b, 2)._wide_rows(x, x, xmax, xmax)
        for i, row in enumerate(exact):
            assert abs(mpmath.mpf(float(z[i])) - row) <= delta[i], (i, float(row), delta[i])
            residual = row - mpmath.mpf(float(b[i]))
            assert abs(mpmath.mpf(float(r[i])) - residual) <= pad[i], (i, pad[i])
        assert np.min(delta) < 1e-9 * np.max(delta)  # (each row's own scale)


def test_lp_fresh_rows_certify_where_the_held_rows_cannot(monkeypatch):
    # Float32 least squares near a fit, rows of scales 1e-3..1e3: the held rows' uniform
    # pads (the largest row's, and the largest |b_i|) leave the bound on the slope along
    # -g non-negative, while r = fl(A x - b) made again with per-row pads proves it
    # negative, with no float64 pass over the rows; every bound is above the exact slope.
    from lfso.models import _regression

    rng = np.random.default_rng(1)
    certified = 0
    for _ in range(60):
        A = rng.standard_normal((50, 4))
        scales = 10.0 ** rng.uniform(-3, 3, size=(50, 1))
        A = (A * scales).astype(np.float32)
        x0 = rng.standard_normal(4) * 10.0 ** rng.uniform(0, 4)
        noise = 1e-3 * rng.standard_normal(50) * scales[:, 0]
        b = (A.astype(np.float64) @ x0 + noise).astype(np.float32)
        model = LpRegression(A, b, 1)
        x = (x0 * (1.0 + 1e-5 * rng.standard_normal(4))).astype(np.float32)
        evaluation = model.evaluate(x)
        d = -np.asarray(evaluation.grad)
        check = model.segment(x, evaluation, d).slope_check
        assert check.fresh is not None
        if check._held_bound() < 0.0:
            continue
        exact = exact_slope(model, x, d)
        fresh = check._fresh_bound()
        assert fresh >= exact, (fresh, float(exact))
        if fresh < 0.0:
            certified += 1
            with monkeypatch.context() as patch:  # (no float64 pass: the fresh tier decides)
                patch.setattr(_regression, "wide_products", None)
                assert check.upper(0.0) == fresh
    assert certified >= 2


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


#: The certified methods an ordinary run is tested with (``method=`` and options).
_ORDINARY = {
    "lfso": {"method": "lfso"},
    "lfso-lbfgs": {"method": "lfso-lbfgs"},
    "lfso-ball": {"method": "lfso", "certificate": "ball"},
    "lfso-paper": {"method": "lfso", "radius": "paper"},
    "lfso-accel": {"method": "lfso-accel"},
}


def _swamped_cauchy() -> tuple[Any, list[np.ndarray]]:
    """Float32 Cauchy rows of size 1e-4 repeated with other targets, near their minimiser
    at weights of 1e7 (residuals of 1, each a difference of products of 1e3, whose
    rounding swamps the gradient), and four starts."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    x0 = rng.standard_normal(3) * 1e7
    A32 = (A * 1e-4).astype(np.float32)
    b32 = (A32.astype(np.float64) @ x0 + rng.standard_normal(7)).astype(np.float32)
    starts = [x0 + np.random.default_rng(s).standard_normal(3) * 1e4 for s in range(4)]
    return CauchyRegression(A32, b32, 1.0), [x.astype(np.float32) for x in starts]


def _swamped_softmax() -> tuple[Any, list[np.ndarray]]:
    """Float32 softmax rows of size 1e-4 repeated with other labels, no intercept and no
    ridge (the minimiser at weights near 1e6, logits differences of products of 1e2), and
    four starts."""
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = rng.integers(0, 3, 7)
    model = SoftmaxRegression((A * 1e-4).astype(np.float32), y, 3, fit_intercept=False)
    starts = [np.random.default_rng(s).standard_normal(9).astype(np.float32) for s in range(4)]
    return model, starts


def _taken_slopes(problem: Any, method: str, max_iter: int, monkeypatch: Any) -> list[Any]:
    """The exact slope ``grad f(x) . d`` (50 digits) at each step a certified method takes
    on ``problem()``'s model from its starts, along the step's direction."""
    model, starts = problem()
    taken: list[tuple[np.ndarray, np.ndarray]] = []
    real = certificates.SegmentCertificate.size

    def size(self, inputs, *, defer=False):
        out = real(self, inputs, defer=defer)
        d = -inputs.evaluation.grad if inputs.direction is None else inputs.direction
        if out[0].t > 0.0:
            taken.append((np.array(inputs.x), np.array(d)))
        return out

    monkeypatch.setattr(certificates.SegmentCertificate, "size", size)
    for start in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lfso.minimize(model, start, method=method, max_iter=max_iter)
    return [exact_slope(model, x, d) for x, d in taken]


@pytest.mark.parametrize(
    "problem, method, max_iter",
    [
        (_swamped_cauchy, "lfso-lbfgs", 60),
        (_swamped_cauchy, "lfso", 60),
        (_swamped_softmax, "lfso-lbfgs", 200),
    ],
    ids=["cauchy-lfso-lbfgs", "cauchy-lfso", "softmax-lfso-lbfgs"],
)
def test_steps_where_the_gradients_rounding_swamps_its_slope_descend(
    problem, method, max_iter, monkeypatch
):
    slopes = _taken_slopes(problem, method, max_iter, monkeypatch)
    assert slopes
    assert max(slopes) < 0.0


def _ordinary(dtype: Any, method: str) -> Any:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((200, 5)).astype(dtype)
    y = (rng.standard_normal(200) > 0).astype(dtype)
    model = LogisticRegression(A, y, l2=0.1)
    return lfso.minimize(model, np.zeros(5, dtype), tol=1e-3, **_ORDINARY[method])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", list(_ORDINARY))
def test_ordinary_runs_take_the_steps_the_computed_slope_sizes(dtype, method, monkeypatch):
    # Where the gradient's rounding is below its slope the steps are those of the
    # computed slope, bit for bit (as with no slope bound at all).
    res = _ordinary(dtype, method)
    assert res.success
    monkeypatch.setattr(certificates, "_checked_slope", lambda check, along, eta: (0.0, None))
    plain = _ordinary(dtype, method)
    assert plain.nit == res.nit
    assert np.array_equal(plain.x, res.x)


@pytest.mark.parametrize("method", list(_ORDINARY))
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


@pytest.mark.parametrize("upper", [math.inf, math.nan])
def test_checked_slope_refuses_a_bound_past_the_range(upper):
    # a bound past float64's range states nothing: no step is certain to descend
    with pytest.raises(lfso.oracles.PrecisionLimitError, match="pass float64's range"):
        certificates._checked_slope(_Check(0.07, upper), -1.0, 1.0)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_run_whose_slope_bound_passes_the_range_stops_at_the_precision_limit(method):
    # Margins of 1e300 and rows whose margins cancel to 0 within a rounding of 1e284:
    # the rows' bound on the exact slope is inf, along L-BFGS's direction and along -g.
    # The run stops there, instead of taking steps that claim no decrease until max_iter.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)) * 1e150
    X[:5, 1], X[:5, 2] = -X[:5, 0], 0.0
    y = (rng.random(20) > 0.5).astype(float)
    x0 = np.full(3, 1e150)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(LogisticRegression(X, y), x0, method=method, max_iter=20)
    assert res.status is lfso.Status.PRECISION_LIMIT, res.message
    assert "pass float64's range" in res.message
    assert res.fun <= LogisticRegression(X, y).evaluate(x0).value


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_device_run_whose_slope_bound_passes_the_range_stops_at_the_precision_limit(method):
    # The same rows on the device path (float64 CPU tensors inside cpu_as_accelerator):
    # the held rows' bound is inf there too, and the step is 0 (the run stops), not sized
    # from g . d unchecked until max_iter.
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)) * 1e150
    X[:5, 1], X[:5, 2] = -X[:5, 0], 0.0
    y = (rng.random(20) > 0.5).astype(float)
    model = LogisticRegression(torch.from_numpy(X), torch.from_numpy(y))
    x0 = torch.from_numpy(np.full(3, 1e150))
    with warnings.catch_warnings(), cpu_as_accelerator():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, x0, method=method, max_iter=20)
    assert res.status is lfso.Status.PRECISION_LIMIT, res.message
    assert res.nit < 20


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e15), (np.float64, 1e100)])
def test_logistic_slope_bound_is_sharp_where_the_margins_dwarf_their_rounding(
    dtype, scale, compiled, monkeypatch
):
    # Margins of scale * 1e0..1 with a rounding bound delta far past 690 (e^delta out of
    # float64's range) but far below the margins: sigma'' on [m - delta, m + delta] is at
    # most e^{-(|m| - delta)}, so the held rows' bound is within the rows' own rounding of
    # the exact slope, and the run takes its steps.
    from lfso.models import _compiled

    if compiled:
        if not _compiled.ENABLED:
            pytest.skip("numba not installed, or LFSO_NO_COMPILED set")
        monkeypatch.setattr(_compiled, "MIN_ROWS", 0)
    rng = np.random.default_rng(zlib.crc32(f"dwarfed/{np.dtype(dtype).name}".encode()))
    for trial in range(6):
        X = (rng.standard_normal((20, 3)) * scale).astype(dtype)
        y = (rng.standard_normal(20) > 0).astype(dtype)
        model = LogisticRegression(X, y)
        x, d = np.ones(3, dtype), rng.standard_normal(3).astype(dtype)
        check = model.segment(x, model.evaluate(x), d).slope_check
        assert check.delta > 1e3 * 690.0
        exact = exact_slope(model, x, d)
        held = check._held_bound()
        assert held >= exact, (trial, held, float(exact))
        assert held - float(exact) <= 1e-2 * abs(float(exact)), (trial, held, float(exact))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, np.ones(3, dtype), max_iter=20)
    assert res.nit > 0 and res.status is not lfso.Status.PRECISION_LIMIT, res.message
    assert res.fun < model.evaluate(np.ones(3, dtype)).value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swamped_slope_names_the_gradients_rounding_not_the_float_range(dtype):
    # Least squares held to tol=1e-30 stops where the gradient's rounding swamps the
    # slope of every step: the message says so and advises tol (and float64 for a float32
    # run), not keeping values inside the float range, which they are.
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((200, 8)).astype(dtype), rng.standard_normal(200).astype(dtype)
    res = lfso.minimize(LpRegression(A, b, p=1), np.zeros(8, dtype), tol=1e-30, atol=0.0)
    assert res.status is lfso.Status.PRECISION_LIMIT, res.message
    head = res.message.split(" (the gradient's rounding")[0]
    assert "swamps its slope" in head and "loosen tol" in head, res.message
    assert ("run in float64" in head) is (dtype == np.float32), res.message
    assert "well inside the float range" not in res.message


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


def _cancelling_pair(dtype: Any, r: float, scale: float) -> tuple[Any, np.ndarray]:
    """Logistic rows ``p = (1e-4, 1e-4)`` (three, labels 1, 0, 1) and ``q = (1e-4, 1e-4 (1 +
    r))`` (three, labels 1, 0, 0), whose minimiser ``x*`` (``p . x* = log 2``, ``q . x* = -log
    2``) is of size ``1e4 / r``: there each margin is a difference of products of ``1e4 /
    r``, whose rounding swamps the gradient. Returns the model and ``scale x*`` (rounded
    to the dtype)."""
    p = np.array([1e-4, 1e-4], dtype=dtype).astype(np.float64)
    q = (p * [1.0, 1.0 + r]).astype(dtype).astype(np.float64)
    A = np.array([p, p, p, q, q, q], dtype=dtype)
    y = np.array([1, 0, 1, 1, 0, 0], dtype=dtype)
    x = np.linalg.solve(np.array([p, q]), np.array([math.log(2.0), -math.log(2.0)]))
    return LogisticRegression(A, y), (scale * x).astype(dtype)


def _exact_value(model: Any, x: list[Any]) -> Any:
    """``f`` of a logistic model (no ridge) at the point ``x`` (mpf), exactly."""
    A = np.asarray(model.X)
    signs = [float(s) for s in np.asarray(model.signs)]
    z = [mpmath.fsum(mpmath.mpf(float(a)) * w for a, w in zip(row, x, strict=True)) for row in A]
    terms = (mpmath.log1p(mpmath.exp(-s * zi)) for s, zi in zip(signs, z, strict=True))
    return mpmath.fsum(terms) / len(z)


def _first_step(model: Any, x: np.ndarray, rule: Any) -> tuple[Any, Any, float] | None:
    """The rule's first step at ``x``: ``(f(x), f(x + t d), claimed decrease)``, ``f``
    exact at the exact points (``x + t d`` not rounded); ``None`` where the rule claims
    no step (it stops the run at the precision limit)."""
    from lfso._registry import settle

    rule = settle(rule, model)
    ev = model.evaluate(x, bound=True)
    try:
        plan = rule.plan(model, x, ev, rule.init(model, x, ev))
    except lfso.oracles.PrecisionLimitError:
        return None
    proposal = rule.propose(x, ev, plan, 1.0)
    t = mpmath.mpf(proposal.move.step)
    direction = getattr(plan, "direction", None)  # (None: -g; LFSOAccelStep's is -g)
    d = -np.asarray(ev.grad, np.float64) if direction is None else direction
    start = [mpmath.mpf(float(v)) for v in x]
    end = [a + t * mpmath.mpf(float(v)) for a, v in zip(start, d, strict=True)]
    return _exact_value(model, start), _exact_value(model, end), proposal.decrease


def _ball_rules() -> list[Any]:
    from lfso.steps import BallCertificate, LFSOAccelStep, LFSOStep

    return [
        pytest.param(lambda: LFSOStep(certificate=BallCertificate()), id="lfso-ball"),
        pytest.param(lambda: LFSOStep(radius="paper"), id="lfso-paper"),
        pytest.param(lambda: LFSOAccelStep(), id="lfso-accel"),
    ]


#: ``(dtype, r, scale)`` of :func:`_cancelling_pair` where the step sized from the
#: computed ``||g||^2`` misses its claim for the exact ``f`` (at ``x*`` in float32 the
#: exact ``f`` rose; at ``7.2 x*`` it rose by a third of the decrease claimed).
_SWAMPED = [
    (np.float32, 1e-4, 1.0),
    (np.float32, 1e-4, 7.2),
    (np.float64, 1e-4, 1.0),
    (np.float64, 2.0**-40, 7.2),
]


@pytest.mark.parametrize("dtype, r, scale", _SWAMPED)
@pytest.mark.parametrize("make", _ball_rules())
def test_ball_step_decreases_the_exact_f_as_claimed_where_the_rounding_swamps_g(
    dtype, r, scale, make
):
    # The step along -g sized from ||g||^2, with ||g|| mostly the gradient's rounding:
    # now sized from the bound on the exact slope (its claim the descent lemma's for the
    # exact f), or no step where no bound is negative.
    model, x = _cancelling_pair(dtype, r, scale)
    step = _first_step(model, x, make())
    if step is not None:
        before, after, claimed = step
        assert after - before <= -claimed


def test_ball_step_where_the_rounding_swamps_g_is_sized_from_the_exact_slope():
    from lfso.steps import BallCertificate, LFSOStep

    model, x = _cancelling_pair(np.float32, 1e-4, 7.2)
    step = _first_step(model, x, LFSOStep(certificate=BallCertificate()))
    assert step is not None
    before, after, claimed = step
    assert 0.0 < claimed and after - before <= -claimed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {"method": "lfso", "certificate": "ball"},
        {"method": "lfso", "radius": "paper"},
        {"method": "lfso-accel"},
        {"method": "lfso-lbfgs", "certificate": "ball"},
    ],
)
def test_ball_run_at_the_precision_limit_stops_there(dtype, options):
    # At the minimiser no bound on the exact slope along -g is negative: the ball's step
    # along the computed gradient, at most an ulp of x, spun to max_iter; the run now
    # stops at the precision limit and says why.
    model, x = _cancelling_pair(dtype, 1e-4, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, x, max_iter=50, **options)
    assert res.status is lfso.Status.PRECISION_LIMIT
    assert "rounding swamps its slope" in res.message


# PyTorch CPU tensors: the host path's NumPy twin (lfso.models._host) bounds the slope too.


def _on_tensors(model: Any) -> Any:
    """The model over PyTorch CPU tensors of its data (the host path)."""
    torch = pytest.importorskip("torch")
    if isinstance(model, LogisticRegression):
        labels = (np.asarray(model.signs) > 0).astype(np.asarray(model.X).dtype)
        return LogisticRegression(torch.from_numpy(np.asarray(model.X)), torch.from_numpy(labels))
    return LpRegression(torch.from_numpy(np.asarray(model.A)), torch.from_numpy(model.b), p=model.p)


@pytest.mark.parametrize("dtype, r, scale", [case for case in _SWAMPED if case[2] != 1.0])
@pytest.mark.parametrize("make", _ball_rules())
def test_ball_step_on_cpu_tensors_decreases_the_exact_f_as_claimed(dtype, r, scale, make):
    # The ball's steps on CPU tensors are checked against the exact slope as on NumPy:
    # along -g sized from ||g||^2 the exact f rose (float32 at 7.2 x*: by 9.8e-9, a
    # decrease of 2.7e-8 claimed).
    torch = pytest.importorskip("torch")
    model, x = _cancelling_pair(dtype, r, scale)
    tensors = _on_tensors(model)
    from lfso._registry import settle

    rule = settle(make(), tensors)
    point = torch.from_numpy(x)
    ev = tensors.evaluate(point, bound=True)
    try:
        plan = rule.plan(tensors, point, ev, rule.init(tensors, point, ev))
    except lfso.oracles.PrecisionLimitError:
        return
    proposal = rule.propose(point, ev, plan, 1.0)
    t = mpmath.mpf(proposal.move.step)
    d = -np.asarray(ev.grad, np.float64)  # (these rules step along -g)
    start = [mpmath.mpf(float(v)) for v in x]
    end = [a + t * mpmath.mpf(float(v)) for a, v in zip(start, d, strict=True)]
    assert _exact_value(model, end) - _exact_value(model, start) <= -proposal.decrease


def _exact_softmax_value(model: Any, x: list[Any]) -> Any:
    """``f`` of a softmax model (no ridge) at the point ``x`` (mpf), exactly."""
    X, k = np.asarray(model.X), model.K
    labels = np.argmax(np.asarray(model.onehot), axis=1)
    total = mpmath.mpf(0)
    for row, label in zip(X, labels, strict=True):
        z = [
            mpmath.fsum(mpmath.mpf(float(a)) * x[j * k + c] for j, a in enumerate(row))
            for c in range(k)
        ]
        total += mpmath.log(mpmath.fsum(mpmath.exp(zc) for zc in z)) - z[label]
    return total / len(labels)


@pytest.mark.parametrize("make", [r for r in _ball_rules() if r.id != "lfso-paper"])
def test_ball_step_on_softmax_cpu_tensors_decreases_the_exact_f_as_claimed(make):
    # The swamped softmax rows at the float32 point where an lfso-lbfgs run from the
    # second start stops: along -g the ball's step on CPU tensors is checked against the
    # exact slope as on NumPy (unchecked, it claimed 1.4e-11 where f fell by 9.5e-12).
    # (Softmax regression has no paper radius.)
    torch = pytest.importorskip("torch")
    model, _ = _swamped_softmax()
    labels = torch.from_numpy(np.argmax(np.asarray(model.onehot), axis=1))
    tensors = SoftmaxRegression(
        torch.from_numpy(np.asarray(model.X)), labels, 3, fit_intercept=False
    )
    weights = [[121125.055, 127409.62, -248533.92], [461152.6, 449970.97, -911121.9]]
    weights.append([326639.12, 321672.66, -648312.6])
    x = np.array(weights, dtype=np.float32).ravel()
    from lfso._registry import settle

    claims = []
    for m, point in ((model, x), (tensors, torch.from_numpy(x))):
        rule = settle(make(), m)
        ev = m.evaluate(point, bound=True)
        proposal = rule.propose(point, ev, rule.plan(m, point, ev, rule.init(m, point, ev)), 1.0)
        t = mpmath.mpf(proposal.move.step)
        d = -np.asarray(ev.grad, np.float64)  # (these rules step along -g)
        start = [mpmath.mpf(float(v)) for v in x]
        end = [a + t * mpmath.mpf(float(v)) for a, v in zip(start, d, strict=True)]
        fell = _exact_softmax_value(model, end) - _exact_softmax_value(model, start)
        assert fell <= -proposal.decrease
        claims.append(proposal.decrease)
    assert claims[1] == pytest.approx(claims[0], rel=1e-9)  # (the NumPy model's claim)


#: The certified methods the reproducer runs on CPU tensors (``lfso.minimize`` options).
_TENSOR_METHODS = {
    "lfso": {"method": "lfso"},
    "lfso-lbfgs": {"method": "lfso-lbfgs"},
    "lfso-ball": {"method": "lfso", "certificate": "ball"},
    "lfso-lbfgs-ball": {"method": "lfso-lbfgs", "certificate": "ball"},
    "lfso-accel": {"method": "lfso-accel"},
}


@pytest.mark.parametrize("method", list(_TENSOR_METHODS))
def test_reproducer_on_cpu_tensors_never_raises_the_exact_f(method):
    # The docs' reproducer on CPU tensors: f exact (50 digits) at each iterate, from the
    # float32 data, rises by no more than the rounding of the iterate to float32 allows.
    torch = pytest.importorskip("torch")
    allowance = script_namespace(BENCHMARKS / "float_soundness.py")["_allowance"]
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    A32 = (A * 1e-4).astype(np.float32)
    model = LogisticRegression(torch.from_numpy(A32), torch.from_numpy(y.astype(np.float32)))
    wide = LogisticRegression(A32.astype(float), y)
    for seed in range(2):
        xs = [np.random.default_rng(seed).standard_normal(3).astype(np.float32)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lfso.minimize(
                model,
                torch.from_numpy(xs[0]),
                max_iter=60,
                callback=lambda x, xs=xs: xs.append(np.array(x)),
                **_TENSOR_METHODS[method],
            )
        f = [_exact_value(wide, [mpmath.mpf(float(v)) for v in x]) for x in xs]
        for k in range(len(f) - 1):
            x1 = xs[k + 1].astype(float)
            assert f[k + 1] - f[k] <= allowance(wide, x1, float(f[k + 1]), 2.0**-24, 1.4e-45)


def _tensor_run(model: Any, method: str) -> Any:
    torch = pytest.importorskip("torch")
    x0 = torch.zeros(model.data.shape[1], dtype=torch.float64)
    return lfso.minimize(model, x0, tol=1e-6, **_TENSOR_METHODS[method])


@pytest.mark.parametrize("method", list(_TENSOR_METHODS))
@pytest.mark.parametrize("kind", ["logistic", "l4"])
def test_ordinary_float64_run_on_cpu_tensors_keeps_its_iterates(method, kind, monkeypatch):
    # The slope check on CPU tensors (a-priori bound on the views) leaves an ordinary
    # run's steps as they were without it, bit for bit.
    from lfso.models._host import HostTwin

    rng = np.random.default_rng(5)
    A = rng.standard_normal((300, 6))
    if kind == "logistic":
        model = _on_tensors(LogisticRegression(A, (rng.standard_normal(300) > 0) * 1.0))
    else:
        model = _on_tensors(LpRegression(A, rng.standard_normal(300), p=2))
    asked = []
    real = HostTwin.slope_prior

    def counted(self, *args):
        asked.append(1)
        return real(self, *args)

    monkeypatch.setattr(HostTwin, "slope_prior", counted)
    checked = _tensor_run(model, method)
    assert checked.success
    monkeypatch.setattr(certificates, "_viewable", lambda grad: False)  # (no slope check)
    plain = _tensor_run(model, method)
    assert plain.nit == checked.nit
    assert np.array_equal(np.asarray(plain.x), np.asarray(checked.x))
    ball = "ball" in method or "accel" in method
    assert bool(asked) == ball  # (the segment's own check needs no a-priori one)


def _exact_logistic_value(A: np.ndarray, y: np.ndarray, x: np.ndarray) -> float:
    """The logistic ``f`` of the float data at the float point ``x``, in mpmath (200
    bits), rounded to a float."""
    with mpmath.workprec(200):
        total = mpmath.mpf(0)
        for row, label in zip(A.astype(float), y, strict=True):
            terms = zip(row, x, strict=True)
            z = mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(v)) for a, v in terms)
            total += mpmath.log1p(mpmath.exp(z if label == 0.0 else -z))
        return float(total / len(y))


def _device_run(method: str, seed: int) -> tuple[Any, list[np.ndarray]]:
    """The docs' float32 reproducer (as :func:`_rises`) on the device path: PyTorch
    tensors inside :func:`lfso._later.cpu_as_accelerator`; the result and the iterates."""
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = ((rng.standard_normal(7) > 0) * 1.0).astype(np.float32)
    A32 = (A * 1e-4).astype(np.float32)
    model = LogisticRegression(torch.from_numpy(A32), torch.from_numpy(y))
    x0 = np.random.default_rng(seed).standard_normal(3).astype(np.float32)
    xs = [x0]
    with warnings.catch_warnings(), cpu_as_accelerator():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            model,
            torch.from_numpy(x0.copy()),
            method=method,
            max_iter=200,
            callback=lambda x: xs.append(np.array(x.numpy(), copy=True)),
        )
    return res, xs


@pytest.mark.parametrize("method", ["lfso-lbfgs", "lfso"])
def test_device_steps_where_the_gradients_rounding_swamps_its_slope_never_raise_f(method):
    # On the device path (float32 PyTorch tensors, the step sized on the device) the
    # exact f of the iterates (mpmath) rose by up to 3.4e-5 of itself along lfso-lbfgs's
    # directions: the step was sized from g . d alone.
    allowance = script_namespace(BENCHMARKS / "float_soundness.py")["_allowance"]
    rng = np.random.default_rng(470974474)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    y = (rng.standard_normal(7) > 0) * 1.0
    A32 = (A * 1e-4).astype(np.float32)
    exact = LogisticRegression(A32.astype(float), y)
    for seed in range(4):
        _, xs = _device_run(method, seed)
        f = [_exact_logistic_value(A32, y, x) for x in xs]
        for k in range(len(f) - 1):
            pad = allowance(exact, xs[k + 1].astype(float), f[k + 1], 2.0**-24, 1.4e-45)
            assert f[k + 1] - f[k] <= pad, (seed, k, (f[k + 1] - f[k]) / f[k])


def test_device_run_where_the_gradients_rounding_swamps_its_slope_stops_at_the_precision_limit():
    res, _ = _device_run("lfso-lbfgs", 0)
    assert res.status is lfso.Status.PRECISION_LIMIT
    assert "rounding swamps its slope" in res.message


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_ordinary_device_runs_take_the_steps_the_computed_slope_sizes(method, monkeypatch):
    # Where the gradient's rounding is below its slope the device path's steps are those
    # of the computed slope, bit for bit (as with no check on the device); near the
    # float32 optimum (tol=1e-6) the held rows' bound alone cannot certify a step, and the
    # rows made again in float64 (after one step of 0) do: the run converges at the same x.
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    rng = np.random.default_rng(3)
    A = torch.from_numpy(rng.standard_normal((2000, 8)).astype(np.float32))
    y = torch.from_numpy((rng.standard_normal(2000) > 0).astype(np.float32))

    def run(l2: float) -> Any:
        model = LogisticRegression(A, y, l2=l2)
        with cpu_as_accelerator():
            return lfso.minimize(model, torch.zeros(8), method=method, tol=1e-6, monitor=False)

    checked: list[bool] = []
    original = LogisticRegression._device_check
    refined = LogisticRegression._refine_on_device

    def counted(self, *args):
        check = original(self, *args)
        checked.append(check is not None)
        return check

    escalated: list[bool] = []
    monkeypatch.setattr(LogisticRegression, "_device_check", counted)
    monkeypatch.setattr(
        LogisticRegression, "_refine_on_device", lambda self: escalated.append(refined(self))
    )
    results = [run(0.0), run(0.1)]
    assert checked and all(checked)
    monkeypatch.setattr(LogisticRegression, "_device_check", lambda self, *args: None)
    for l2, res in zip((0.0, 0.1), results, strict=True):
        plain = run(l2)
        assert res.status is lfso.Status.CONVERGED
        assert plain.nit <= res.nit <= plain.nit + 1
        assert torch.equal(plain.x, res.x)
    if method == "lfso":
        assert escalated


_LOGISTIC_CASES = [
    c for c in _cases() if c[0] in ("random logistic", "cancelling logistic", "large margins")
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, make", _LOGISTIC_CASES, ids=[c[0] for c in _LOGISTIC_CASES])
def test_device_slope_bounds_hold_against_the_exact_slope(label, make, dtype):
    # The device path's bounds (the held rows' and the rows made again, on PyTorch
    # tensors inside cpu_as_accelerator) against the exact slope in 50 digits, and the
    # a-priori bound against |s* - fl(g . d)|.
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator, riding

    rng = np.random.default_rng(zlib.crc32(f"device/{label}/{np.dtype(dtype).name}".encode()))
    for trial in range(12):
        host, x, d = make(dtype, rng)
        exact = exact_slope(host, x, d)
        model = LogisticRegression(
            torch.from_numpy(np.asarray(host.X)[:, : host.dim - host.fit_intercept]),
            torch.from_numpy((np.asarray(host.signs) > 0).astype(dtype)),
            l2=host.l2,
            fit_intercept=host.fit_intercept,
        )
        xt, dt = torch.from_numpy(x), torch.from_numpy(d)
        with cpu_as_accelerator(), riding():
            evaluation = model.evaluate(xt)
            check = model.segment(xt, evaluation, dt).device_check
            model._refine_on_device()
            refined = model.segment(xt, evaluation, dt).device_check
            computed = float(evaluation.grad @ dt)
        assert check is not None and check.refine is None and refined.refine is not None
        held, fresh = float(check.bound_upper()), float(refined.bound_refined())
        assert held >= exact, (label, trial, held, float(exact))
        assert fresh >= exact, (label, trial, fresh, float(exact))
        assert float(check.bound_prior()) >= abs(float(exact) - computed), (label, trial)


@pytest.mark.parametrize("make", [r for r in _ball_rules() if r.id != "lfso-paper"])
def test_ball_step_on_cauchy_rows_is_checked_against_the_exact_slope(make):
    # The swamped Cauchy rows at a float32 point near their minimiser (where an lfso-lbfgs
    # run ends) at which the exact slope along -g is positive: no step along -g descends
    # for certain, so the ball's rules claim none (they took one, claiming a decrease).
    # (Cauchy regression has no paper radius.)
    model, _ = _swamped_cauchy()
    x = np.array([-2758083.5, 12912817.0, 10108635.0], dtype=np.float32)
    assert exact_slope(model, x, -np.asarray(model.evaluate(x).grad, np.float64)) > 0
    from lfso._registry import settle

    rule = settle(make(), model)
    ev = model.evaluate(x, bound=True)
    with pytest.raises(lfso.oracles.PrecisionLimitError, match="rounding swamps"):
        rule.plan(model, x, ev, rule.init(model, x, ev))


@pytest.mark.parametrize("problem", [_swamped_cauchy, _swamped_softmax])
def test_slope_prior_is_the_segment_checks_prior(problem):
    # The ball's rules read the a-priori bound without a segment: the same bound the
    # segment's check states, for every row model that bounds the exact slope.
    model, starts = problem()
    rng = np.random.default_rng(8)
    for x in starts:
        evaluation = model.evaluate(x)
        d = rng.standard_normal(x.shape).astype(x.dtype)
        check = model.segment(x, model.evaluate(x), d).slope_check
        assert model._slope_prior(x, evaluation, d) == check.prior


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1000, 4097])
def test_numpy_slope_sums_are_np_sum_bit_for_bit(n):
    # The host sums of the slope check (np.add.reduce, without np.sum's dispatch) are
    # np.sum's, bit for bit, at every length of its pairwise blocks.
    from lfso.models import _slope

    rng = np.random.default_rng(n)
    f = rng.standard_normal(n).astype(np.float32) * 10.0 ** rng.uniform(-20, 20, n)
    u = rng.standard_normal(n).astype(np.float32)
    af, au = np.abs(f.astype(np.float64)), np.abs(u.astype(np.float64))
    total, spread, su, sf = _slope._numpy_factor_sums(f, u)
    assert (su, sf) == (float(np.sum(au)), float(np.sum(af)))
    assert (total, spread) == (float(f.astype(float) @ u.astype(float)), float(af @ au))
    assert _slope.on_host((1.0, 2.0), f, u) and not _slope.on_host((1.0, np.float64(2)), f)
    assert not _slope.on_host((1.0,), f, [1.0])


# The device path on l_2p rows (lfso.models._device_slope.PowerSlope).


def _swamped_lp(p: float) -> tuple[Any, Any, list[np.ndarray]]:
    """Float32 ``l_2p`` rows of size 1e-4 repeated with other targets, near their fit at
    weights of 1e7 (residuals of 1, each a difference of products of 1e3): the host model,
    its data as PyTorch tensors, and four starts."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    A = rng.standard_normal((7, 3))
    A[3:] = A[:4]
    x0 = rng.standard_normal(3) * 1e7
    A32 = (A * 1e-4).astype(np.float32)
    b32 = (A32.astype(np.float64) @ x0 + rng.standard_normal(7)).astype(np.float32)
    starts = [x0 + np.random.default_rng(s).standard_normal(3) * 1e4 for s in range(4)]
    tensors = LpRegression(torch.from_numpy(A32), torch.from_numpy(b32), p)
    return LpRegression(A32, b32, p), tensors, [x.astype(np.float32) for x in starts]


def _device_taken(p: float, method: str, monkeypatch: Any) -> tuple[Any, list[Any]]:
    """The exact slope (50 digits) of every step of nonzero length that ``method`` takes on
    :func:`_swamped_lp`'s rows on the device path (CPU tensors inside
    :func:`lfso._later.cpu_as_accelerator`), along its direction, and each run's
    iterates."""
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    host, model, starts = _swamped_lp(p)
    taken: list[tuple[Any, Any, Any]] = []
    real = certificates.SegmentCertificate.size

    def size(self, inputs, *, defer=False):
        out = real(self, inputs, defer=defer)
        assert out[0].along is not None  # (sized on the device)
        tau, v = out[0].along
        taken.append((inputs.x.clone(), v.clone(), tau.clone()))
        return out

    monkeypatch.setattr(certificates.SegmentCertificate, "size", size)
    runs = []
    for start in starts:
        xs = [start]
        with warnings.catch_warnings(), cpu_as_accelerator():
            warnings.simplefilter("ignore")
            lfso.minimize(
                model,
                torch.from_numpy(start.copy()),
                method=method,
                max_iter=60,
                callback=lambda x, xs=xs: xs.append(np.array(x.numpy(), copy=True)),
            )
        runs.append(xs)
    slopes = [exact_slope(host, x.numpy(), v.numpy()) for x, v, tau in taken if float(tau) > 0]
    return host, slopes, runs


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("method", ["lfso-lbfgs", "lfso"])
def test_device_steps_on_lp_rows_where_the_gradients_rounding_swamps_its_slope_descend(
    p, method, monkeypatch
):
    # On the device path lfso-lbfgs took 205 (least squares) and 148 (l_4) of 240 steps
    # along directions of positive exact slope: the step was sized from g . d alone. Now
    # none, and the exact f of the iterates (mpmath) never rises beyond the rounding of
    # the iterate to float32.
    host, slopes, runs = _device_taken(p, method, monkeypatch)
    assert slopes
    assert max(slopes) < 0.0
    allowance = script_namespace(BENCHMARKS / "float_soundness.py")["_allowance"]
    A, b = np.asarray(host.A, np.float64), np.asarray(host.b, np.float64)
    wide = LpRegression(A, b, p)

    def exact_f(x: np.ndarray) -> Any:
        r = [z - mpmath.mpf(float(t)) for z, t in zip(_exact_rows(A, x), b, strict=True)]
        return mpmath.fsum(abs(v) ** (2 * p) for v in r)

    for xs in runs:
        f = [exact_f(x) for x in xs]
        for k in range(len(f) - 1):
            pad = allowance(wide, xs[k + 1].astype(float), float(f[k + 1]), 2.0**-24, 1.4e-45)
            assert f[k + 1] - f[k] <= pad


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_ordinary_device_runs_on_lp_rows_keep_their_iterates(p, method, monkeypatch):
    # Where the gradient's rounding is below its slope the device path's l_2p steps are
    # those of the computed slope: the same final x, bit for bit, as with no check.
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    rng = np.random.default_rng(3)
    A = torch.from_numpy(rng.standard_normal((2000, 8)).astype(np.float32))
    b = torch.from_numpy(rng.standard_normal(2000).astype(np.float32))

    def run() -> Any:
        with cpu_as_accelerator():
            model = LpRegression(A, b, p)
            return lfso.minimize(model, torch.zeros(8), method=method, tol=1e-5, monitor=False)

    checked: list[bool] = []
    original = LpRegression._device_check

    def counted(self, *args):
        check = original(self, *args)
        checked.append(check is not None)
        return check

    monkeypatch.setattr(LpRegression, "_device_check", counted)
    res = run()
    assert checked and all(checked)
    monkeypatch.setattr(LpRegression, "_device_check", lambda self, *args: None)
    plain = run()
    assert res.status is plain.status
    assert plain.nit <= res.nit <= plain.nit + 1
    assert torch.equal(plain.x, res.x)


_LP_CASES = [
    c for c in _cases() if c[0] in ("least squares", "l_4", "l_3", "l_6", "l_4 near a fit")
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label, make", _LP_CASES, ids=[c[0] for c in _LP_CASES])
def test_device_lp_slope_bounds_hold_against_the_exact_slope(label, make, dtype):
    # The device path's l_2p bounds (the held rows' and the rows made again, on PyTorch
    # tensors inside cpu_as_accelerator) against the exact slope in 50 digits, and the
    # a-priori bound against |s* - fl(g . d)|.
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator, riding

    rng = np.random.default_rng(zlib.crc32(f"device/{label}/{np.dtype(dtype).name}".encode()))
    for trial in range(12):
        host, x, d = make(dtype, rng)
        exact = exact_slope(host, x, d)
        A, b = torch.from_numpy(np.asarray(host.A)), torch.from_numpy(np.asarray(host.b))
        model = LpRegression(A, b, host.p)
        xt, dt = torch.from_numpy(x), torch.from_numpy(d)
        with cpu_as_accelerator(), riding():
            evaluation = model.evaluate(xt)
            check = model.segment(xt, evaluation, dt).device_check
            model._refine_on_device()
            refined = model.segment(xt, evaluation, dt).device_check
            computed = float(evaluation.grad @ dt)
        assert check is not None and check.refine is None and refined.refine is not None
        held, fresh = float(check.bound_upper()), float(refined.bound_refined())
        assert math.isfinite(held) and math.isfinite(fresh)
        assert held >= exact, (label, trial, held, float(exact))
        assert fresh >= exact, (label, trial, fresh, float(exact))
        assert float(check.bound_prior()) >= abs(float(exact) - computed), (label, trial)


@pytest.mark.parametrize("p", [1, 2])
def test_swamped_device_step_along_lbfgs_falls_back_to_steepest_descent(p, monkeypatch):
    # The host path tries -g where no bound on the exact slope along the L-BFGS direction
    # is negative, and stops only where -g's bound is not negative either; the device
    # path stopped at the direction's step of 0. Now its next step is steepest descent,
    # chosen with the step's scalars (no round trip of its own).
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator

    _, model, starts = _swamped_lp(p)
    real = certificates.SegmentCertificate.size
    stopped = 0
    for start in starts:
        steepest: list[bool] = []

        def size(self, inputs, *, defer=False, steepest=steepest):
            steepest.append(inputs.direction is None)
            return real(self, inputs, defer=defer)

        monkeypatch.setattr(certificates.SegmentCertificate, "size", size)
        with warnings.catch_warnings(), cpu_as_accelerator():
            warnings.simplefilter("ignore")
            x0 = torch.from_numpy(start.copy())
            res = lfso.minimize(model, x0, method="lfso-lbfgs", max_iter=60)
        if res.status is lfso.Status.PRECISION_LIMIT:
            stopped += 1
            assert "nor along -g" in res.message
            assert steepest[0] and not steepest[-2] and steepest[-1], steepest
    assert stopped >= 3


@pytest.mark.parametrize("p", [5.0, 9.0, 1000.0, 2.0**22])
def test_power_curvature_bound_covers_the_rounded_base_raised_to_a_high_power(p):
    # kappa >= 2p (2p - 1) (|r| + delta)^m exactly, where |r| + delta rounds down: the
    # power m = 2p - 2 raises that rounding to about m u_64 (beyond a fixed 16 u_64 pad
    # from m of about 16), on NumPy and in the compiled kernel.
    from lfso.models import _compiled, _slope

    m = 2.0 * p - 2.0
    r = np.array([1.0, -1.0, 0.5])
    delta = 0.75 * 2.0**-53  # (1 + delta rounds to 1)
    _, kappa, _ = _slope.power_derivative(r, delta, p)
    with mpmath.workdps(60):
        for ri, ki in zip(r, kappa, strict=True):
            exact = 2 * p * (2 * p - 1) * (abs(mpmath.mpf(ri)) + mpmath.mpf(delta)) ** m
            assert mpmath.mpf(ki) >= exact, (p, ri)
    if _compiled.ENABLED:
        u = np.array([1.0, 1.0, 1.0])
        eps = 0.0
        kernels = _compiled.kernels()
        _, _, terms = kernels.power_slope_sums(r, u, p, delta, eps)
        _, _, plain = _slope._numpy_sums(_slope.power_derivative, (p,), r, u, delta, eps)
        with mpmath.workdps(60):
            exact_terms = sum(
                2 * p * (2 * p - 1) * (abs(mpmath.mpf(ri)) + mpmath.mpf(delta)) ** m * delta
                for ri in r
            )
            assert mpmath.mpf(terms) >= exact_terms and mpmath.mpf(plain) >= exact_terms


@pytest.mark.parametrize("dim", [2**22, 2**23 - 4, 2**23 + 4, 2**24, 10**8])
def test_prior_constants_take_gamma_at_least_its_worst_case_for_any_dim(dim):
    """``gamma_{dim+4}`` of the a-priori slope bound was 1 from ``(dim + 4) u = 1/2`` on,
    below the worst case ``(1 - u)^-(dim+4) - 1`` (1.72 at ``2^24`` float32 features)."""
    from lfso.models._slope import prior_constants

    u = 2.0**-24
    _, scaled, _ = prior_constants(u, dim, 1.0, 1.0, 0.0)
    worst = float((1 - mpmath.mpf(u)) ** (-(dim + 4)) - 1)
    assert scaled >= (worst + 4.0 * u) * math.sqrt(dim) * (1 - 1e-15)
