"""The row models' shared host helpers (``lfso.models._rows``) and the row segment's checks:
their shortcuts give the values of the general code they stand for, bit for bit."""

from __future__ import annotations

import itertools
import math
import sys
import warnings

import numpy as np
import pytest

from lfso._arrays import fetch_with_norm, norm_from_square
from lfso.models._rows import DRIFT_BUDGET, ProductDrift
from lfso.models._segments import RowSegment, materialized_product, power_kernel
from lfso.oracles import OracleError


def _vectors(dtype):
    """Gradients of every kind: small, plain, strided, past the sum's range either way,
    zero, with an infinite or NaN entry."""
    rng = np.random.default_rng(5)
    info = np.finfo(dtype)
    for n in (1, 7, 100, 1001):
        for scale in (1e-3, 1.0, 1e5):
            g = (rng.standard_normal(2 * n) * scale).astype(dtype)
            yield g[:n]
            yield g[::2]
    yield np.full(4, float(info.max) / 2, dtype=dtype)  # ||g||^2 overflows
    yield np.full(4, float(info.smallest_normal) * 4, dtype=dtype)  # and underflows
    yield np.zeros(5, dtype=dtype)
    yield np.array([1.0, np.inf, 2.0], dtype=dtype)
    yield np.array([1.0, np.nan, 2.0], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fetch_with_norm_on_numpy_is_the_general_sum_bit_for_bit(dtype):
    """On a NumPy gradient the fetch's ``||grad||`` (``np.vdot``) is the general code's,
    ``sqrt(grad @ grad)``, bit for bit, and the overflow-safe norm where that sum over- or
    underflows (NaN included); its scalars are plain floats, and a probe's dot ``grad @
    probe``."""
    probe = np.arange(3, dtype=dtype)
    for grad in _vectors(dtype):
        scalars = (np.float64(1.5), 2, 0.25, np.array(3.0, dtype=dtype), dtype(7.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the general norm's overflow, where it warns)
            values, gnorm, dot = fetch_with_norm(grad, *scalars)
            with np.errstate(all="ignore"):
                gsq = float(grad @ grad)
            expected = norm_from_square(gsq, grad)
        assert values == [float(v) for v in scalars]
        assert all(type(v) is float for v in values)
        assert dot is None
        same = gnorm == expected or (math.isnan(gnorm) and math.isnan(expected))
        assert same, (grad, gnorm, expected)
    grad = np.array([3.0, 4.0, 0.0], dtype=dtype)
    assert tuple(fetch_with_norm(grad, 1.0, probe=probe)) == ([1.0], 5.0, float(grad @ probe))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_carried_drift_is_the_stale_and_fresh_formulas(dtype):
    """:meth:`ProductDrift.carry`'s inline ``F(x)`` and budget test are :meth:`fresh` and
    :meth:`stale`, bit for bit: ``None`` past the budget, else ``(D or F(x)) grow + rate
    ||x||_inf + rate ||d||_inf |t|``."""
    tracker = ProductDrift(37.5, 100, dtype)
    rng = np.random.default_rng(6)
    xmaxes = [0.0, 1e-300, 1.0, 3.7, 1e12, math.inf]
    for xmax, dmax, t in itertools.product(xmaxes, [0.0, 0.3, 1e8], [0.0, -0.5, 2.0]):
        fresh = tracker.fresh(xmax)
        for drift in (0.0, fresh * 0.5, fresh * DRIFT_BUDGET, fresh * 65.0, math.nan, rng.random()):
            got = tracker.carry(drift, xmax, dmax)(t)
            if tracker.stale(drift, xmax):
                assert got is None
                assert not drift <= DRIFT_BUDGET * fresh
                continue
            base = (drift if drift > 0.0 else fresh) * tracker.grow + tracker.rate * xmax
            expected = base + tracker.rate * dmax * abs(t)
            assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_carried_product_takes_the_path_of_its_arrays():
    """The path a float step takes is settled from the arrays when the product is made: the
    same values as ``base + t step`` (NumPy, one dtype), and the generic sum otherwise."""
    rng = np.random.default_rng(7)
    base, step = rng.standard_normal(50), rng.standard_normal(50)
    for t in (0.0, 0.37, -2.5):
        carried = materialized_product(base, step, lambda t: 0.125)(t)
        assert carried is not None and carried.drift == 0.125
        np.testing.assert_array_equal(carried.value, base + t * step)
    mixed = materialized_product(base.astype(np.float32), step)(0.37)  # (two dtypes)
    assert mixed is not None
    np.testing.assert_array_equal(mixed.value, base.astype(np.float32) + 0.37 * step)
    assert materialized_product(base, step, lambda t: None)(0.5) is None


def _segment(values):
    """A row segment whose ``C(t)`` is ``values[t]`` at the trials given (a stub kernel)."""
    r = np.ones(3)
    segment = RowSegment(r, r, power_kernel(2.0, 12.0), weight=r, scale=1.0, slope=-1.0)
    segment._cache.update(values)
    return segment


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({0.0: 2.0, 1.0: 1.0}, "decreases in R"),
        ({0.0: 2.0, 1.0: 2.0 * (1 - 1e-3)}, "decreases in R"),
        ({0.0: 2.0, 1.0: -1.0}, "finite positive"),
        ({0.0: 2.0, 1.0: 0.0}, "finite positive"),
        ({0.0: 2.0, 1.0: math.nan}, "finite positive"),
        ({0.0: 1.0, 0.5: 2.0, 1.0: 1.5}, "decreases in R"),
    ],
)
def test_row_segment_check_raises_on_a_broken_bound(values, message):
    """The solve's check of the values seen (the inline tests, then the named checks' errors)
    raises where ``C`` decreases past the tolerance, or is not positive, or is NaN."""
    segment = _segment(values)
    with pytest.raises(OracleError, match=message):
        segment._check(sorted(segment._cache.items()))


def test_row_segment_check_admits_a_valid_bound():
    """Non-decreasing values, ``+inf`` far out and a decrease within the tolerance pass."""
    segment = _segment({})
    slack = 1.0 - 0.5 * segment.monotone_rtol
    seen = [(0.0, 1.0), (0.5, 1.0 * slack), (1.0, 3.0), (2.0, math.inf), (4.0, math.inf)]
    segment._check(seen)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_host_dot_is_vdot_bit_for_bit(dtype):
    """The host dot product (the models' sums of squares and ``g . d``) is ``np.vdot``'s sum
    bit for bit, contiguous or strided either way, ``inf`` past the range with no warning."""
    from lfso.models._segments import _host_dot

    rng = np.random.default_rng(8)
    for n in (0, 1, 2, 7, 16, 17, 100, 1000, 1001, 5000):
        a = (rng.standard_normal(3 * n) * 1e3).astype(dtype)
        b = rng.standard_normal(3 * n).astype(dtype)
        for x, y in ((a[:n], b[:n]), (a[::3], b[::3]), (a[::-3], b[::3]), (a[1::2][:n], b[:n])):
            got = _host_dot(x, y)
            assert type(got) is float
            assert np.float64(got).tobytes() == np.float64(np.vdot(x, y)).tobytes(), (n, x.strides)
    huge = np.full(8, float(np.finfo(dtype).max) / 2, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _host_dot(huge, huge) == math.inf


def test_a_zero_row_beside_ordinary_rows_raises_no_overflow_warning():
    """A row whose squares underflow (here a row of zeros) is rescaled by a large power of
    two; the other rows' products with it may overflow, and are not used: no warning."""
    import warnings

    from lfso.models import LogisticRegression

    X = np.array([[0.0, 0.0], [1e100, 1.0], [2.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticRegression(X, np.array([0, 1, 1]))
    assert np.all(np.isfinite(model.geometry.row_norms))


def test_lp_ball_bound_does_not_jump_where_the_row_sums_gamma_passes_one_half(monkeypatch):
    """Past ``n u = 1/2`` (float32, 8.4 million rows) the sum of the squared row norms
    kept a bound (``(1 - u)^-n - 1``, not ``inf``): ``L`` just past it is that just
    before, not the spectral-norm fallback, 16 times larger. Every ``k`` is scaled by
    ``2^10`` here so that the switch is at 8192 rows."""
    import lfso
    from lfso._arrays import error_gamma
    from lfso.models import LpRegression

    def scaled(k, dtype):
        return error_gamma(1024 * k, dtype)

    for module in list(sys.modules.values()):
        if getattr(module, "error_gamma", None) is error_gamma:
            monkeypatch.setattr(module, "error_gamma", scaled)
    rng = np.random.default_rng(0)
    Ls = []
    for n in (2**13 - 64, 2**13 + 16):
        A = rng.standard_normal((n, 2)).astype(np.float32)
        model = LpRegression(A, A[:, 0] + 0.1, p=3)
        x0 = np.zeros(2, np.float32)
        result = lfso.minimize(model, x0, method="lfso", certificate="ball", max_iter=2)
        Ls.append(float(result.history.L[1]))
    assert math.isfinite(Ls[1]) and Ls[1] <= 1.5 * Ls[0]
    # (the authors' frobenius=True bound, ||A||_F^2 max_i d_i, was L = inf there)
    from lfso.models._rows import RowGeometry

    rows = np.abs(A.astype(np.float64)).sum()
    frobenius_sq = RowGeometry(A).frobenius_sq
    assert float(np.sum(A.astype(np.float64) ** 2)) <= frobenius_sq <= 2.0 * rows * rows
