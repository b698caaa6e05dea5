"""Float edges of the norm-path models: bounds at the float range's ends, runs that stop cleanly.

* :class:`lfso.models._segments.NormPathSegment` (``PowerNorm``, ``CompositeLeastSquares``) is
  checked against the exact curvature ``h''(s) = 2p q^(p-1) (c + 2(p-1) (b + c s)^2 / q)``
  of ``||y + s v||^(2p)``, with ``y = A x - b`` and ``v = A d`` computed exactly in
  extended precision (mpmath) from the binary float values of ``A``, ``b``, ``x``, ``d``:
  far and near points, near exact fits, ``d`` near the null space of ``A``, points whose
  powers underflow or overflow, ``t`` over many decades, float32 and float64, fresh and
  carried products. The supremum over ``s`` in ``{0, t}`` and a grid of ``[0, t]`` must
  never exceed ``C(t)``.
* ``PowerSum``'s segment (a row segment, taken in float64) against its exact curvature
  where float32 powers underflow.
* Starts whose powers over- or underflow end with a :class:`lfso.Status` (``CONVERGED``
  or ``PRECISION_LIMIT``), never an exception, at a point whose true ``f`` (recomputed in
  float64 from float64 copies) is not above the start's.
* A user's oracle that returns ``inf`` still raises :class:`lfso.OracleError`.
"""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest

import lfso
from lfso.models import CompositeLeastSquares, FunctionModel, L0L1Smooth, PowerNorm, PowerSum
from lfso.models._regression import _PaperCompositeBound
from lfso.models._segments import NormPathSegment
from lfso.oracles import OracleError, PrecisionLimitError

POWERS = (1.0, 1.25, 1.5, 2.0, 3.0, 10.0)
DTYPES = (np.float32, np.float64)
METHODS = (None, "lfso", "lfso-lbfgs")
#: Decades of ``t`` (in units of the natural step ``||y|| / ||v||``) each bound is tried at.
DECADES = (-12, -6, -3, -1, 0, 1, 3, 6, 12)
#: Interior points of ``[0, t]`` where the exact curvature is sampled (besides 0 and t).
GRID = 6


# -- the exact curvature ----------------------------------------------------------------------


def _mp(values: np.ndarray) -> list[mp.mpf]:
    """The binary float values, exactly (``mpf`` of a float is exact)."""
    return [mp.mpf(float(v)) for v in np.asarray(values).ravel().tolist()]


class ExactPath:
    """``||y + s v||^(2p)`` for exact ``y = A x - b``, ``v = A d`` (mpmath, 60 digits)."""

    def __init__(self, p: float, A: np.ndarray, b: np.ndarray, x: np.ndarray, d: np.ndarray):
        with mp.workdps(60):
            rows = [_mp(row) for row in np.atleast_2d(A)]
            xs, ds, bs = _mp(x), _mp(d), _mp(b)
            y = [
                mp.fsum(a * xi for a, xi in zip(row, xs, strict=True)) - bi
                for row, bi in zip(rows, bs, strict=True)
            ]
            v = [mp.fsum(a * di for a, di in zip(row, ds, strict=True)) for row in rows]
            self.a = mp.fsum(yi * yi for yi in y)
            self.b = mp.fsum(yi * vi for yi, vi in zip(y, v, strict=True))
            self.c = mp.fsum(vi * vi for vi in v)
        self.p = mp.mpf(p)

    def curvature(self, s: mp.mpf) -> mp.mpf:
        p, a, b, c = self.p, self.a, self.b, self.c
        q = a + s * (2 * b + c * s)
        if q <= 0:
            return 2 * c if p == 1 else mp.mpf(0)
        return 2 * p * q ** (p - 1) * (c + 2 * (p - 1) * (b + c * s) ** 2 / q)

    def sup(self, t: float) -> mp.mpf:
        """The largest exact curvature at ``s = 0``, ``t`` and a grid of ``[0, t]``."""
        with mp.workdps(60):
            t_mp = mp.mpf(t)
            points = [mp.mpf(0), t_mp] + [t_mp * j / (GRID + 1) for j in range(1, GRID + 1)]
            return max(self.curvature(s) for s in points)

    def natural(self) -> float:
        """``||y|| / ||v||`` (a natural step length), as a float."""
        if self.c == 0:
            return 1.0
        return float(mp.sqrt(self.a / self.c)) if self.a > 0 else 1.0


def worst_ratio(exact: ExactPath, bound: NormPathSegment) -> float:
    """``max_t sup_{s <= t} h''(s) / C(t)`` over the decades of ``t``."""
    worst = 0.0
    for k in DECADES:
        t = exact.natural() * 10.0**k
        if not 0.0 < t < math.inf:
            continue
        value = bound(t)
        sup = exact.sup(t)
        if value == math.inf:
            continue  # no finite bound claimed (the exact value is past the float range)
        assert value >= 0.0
        if sup > 0:
            worst = max(worst, math.inf if value == 0.0 else float(sup / mp.mpf(value)))
    return worst


# -- cases ------------------------------------------------------------------------------------


def _finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


def power_norm_cases(dtype: type, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points and directions from tiny to huge (float32: 1e-40 to 1e30), parallel or not."""
    rng = np.random.default_rng(seed)
    top = 30 if dtype is np.float32 else 250
    cases = []
    for scale in (10.0 ** rng.uniform(-top, top) for _ in range(5)):
        x = (rng.standard_normal(4) * scale).astype(dtype)
        d_scale = 10.0 ** rng.uniform(-top, top)
        for d in (-x * dtype(d_scale / scale), rng.standard_normal(4) * d_scale):
            d = np.asarray(d).astype(dtype)
            if _finite(x, d) and np.any(x) and np.any(d):
                cases.append((x, d))
    tiny = np.full(4, 1e-40 if dtype is np.float32 else 1e-300, dtype=dtype)
    cases.append((tiny, -tiny))
    return cases


def composite_cases(
    dtype: type, seed: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """``(A, b, x, d)``: far points, exact fits, ``d`` near the null space, tiny and huge."""
    rng = np.random.default_rng(seed)
    n, dim = 6, 3
    top = 15 if dtype is np.float32 else 120
    cases = []
    for kind in ("far", "fit", "null", "tiny", "huge"):
        A = rng.standard_normal((n, dim))
        if kind == "null":
            A[:, 2] = A[:, 0] + 1e-4 * A[:, 1]  # A (1, 1e-4, -1) ~ 0
        A = A.astype(dtype)
        scale = {"tiny": 10.0**-top, "huge": 10.0**top}.get(kind, 10.0 ** rng.uniform(-4, 4))
        x_star = (rng.standard_normal(dim) * scale).astype(dtype)
        if kind in ("fit", "null"):
            b = (A.astype(np.float64) @ x_star.astype(np.float64)).astype(dtype)
            x = x_star * (1.0 + rng.standard_normal(dim) * 10.0 ** rng.uniform(-7, -1))
            x = x.astype(dtype)
        else:
            b = (rng.standard_normal(n) * scale).astype(dtype)
            x = x_star
        if kind == "null":
            d = (np.array([1.0, 1e-4, -1.0]) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
        else:
            d = (rng.standard_normal(dim) * scale * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
        if _finite(A, b, x, d):
            cases.append((A, b, x, d))
    return cases


# -- NormPathSegment against the exact curvature ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("p", POWERS)
def test_power_norm_segment_is_above_the_exact_curvature(p, dtype):
    model = PowerNorm(p)
    for x, d in power_norm_cases(dtype, seed=int(10 * p)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            evaluation = model.evaluate(x, bound=False)
            bound = model.segment(x, evaluation, d)
        exact = ExactPath(p, np.eye(x.shape[0]), np.zeros(x.shape[0]), x, d)
        assert worst_ratio(exact, bound) <= 1.0, (x, d)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("p", POWERS)
def test_composite_segment_is_above_the_exact_curvature(p, dtype):
    for A, b, x, d in composite_cases(dtype, seed=int(10 * p) + 1):
        model = CompositeLeastSquares(A, b, p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            evaluation = model.evaluate(x, bound=False)
            bound = model.segment(x, evaluation, d)
        assert worst_ratio(ExactPath(p, A, b, x, d), bound) <= 1.0, (A, b, x, d)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("p", (1.0, 1.5, 3.0))
def test_composite_segment_covers_a_carried_product(p, dtype):
    """Steps taken with the carried ``A x + t A d`` (drift bounded, not recomputed): the
    segment at the new point still bounds the exact curvature of the stored iterate."""
    rng = np.random.default_rng(7)
    A = rng.standard_normal((8, 3)).astype(dtype)
    b = (A.astype(np.float64) @ rng.standard_normal(3)).astype(dtype)  # an exact fit
    model = CompositeLeastSquares(A, b, p)
    x = (rng.standard_normal(3) * 1e3).astype(dtype)
    evaluation = model.evaluate(x, bound=False)
    for _ in range(6):
        d = (-evaluation.grad / max(evaluation.grad_norm, 1e-300)).astype(dtype)
        bound = model.segment(x, evaluation, d)
        assert worst_ratio(ExactPath(p, A, b, x, d), bound) <= 1.0
        t = 0.3 * ExactPath(p, A, b, x, d).natural()
        carried = bound.product(t)
        x = x + dtype(t) * d
        evaluation = model.evaluate(x, bound=False, product=carried)
    assert evaluation.carried  # the last evaluations did read a carried product


@pytest.mark.parametrize("p", (1.0, 1.5, 10.0))
def test_device_step_is_certified(p):
    """The on-device step (PyTorch, no round trip): ``tau C <= eta (-g . d)`` with ``C``
    above the exact curvature on ``[0, tau]``, from a far float32 start."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 3)).astype(np.float32)
    scale = 10.0 ** (12.0 / (2.0 * p - 1.0))  # far, with a gradient inside float32's range
    b = (rng.standard_normal(6) * scale).astype(np.float32)
    x = (rng.standard_normal(3) * scale).astype(np.float32)
    model = CompositeLeastSquares(torch.from_numpy(A), torch.from_numpy(b), p)
    evaluation = model.evaluate(torch.from_numpy(x), bound=False)
    d = -evaluation.grad / evaluation.grad_norm
    bound = model.segment(torch.from_numpy(x), evaluation, d)
    tau, curvature = (float(v) for v in bound.device_step(1.0))
    assert tau > 0.0 and tau * curvature <= -bound.slope * (1.0 + 1e-12)
    exact = ExactPath(p, A, b, x, d.numpy())
    assert exact.sup(tau) <= mp.mpf(curvature)


def test_norm_path_segment_certifies_no_step_past_the_float_range():
    """``C(0) = inf`` (the exact curvature exceeds float64): a precision limit, not a step."""
    huge = np.full(4, 1e300)
    bound = NormPathSegment.along(10.0, 1.0, huge, -huge, slope=-1.0)
    assert bound(0.0) == math.inf
    with pytest.raises(PrecisionLimitError, match="float range"):
        bound.radius_for(1.0)


def test_norm_path_host_curvature_is_the_generic_formula_bit_for_bit():
    """The host solve's written-out constants and ``C(t)`` against the array-generic ones on
    host floats,
    over scales from 1e-200 to 1e200, nearly parallel paths, rounding pads, and steps
    0, subnormal, huge, ``inf`` and NaN."""
    from lfso.models._segments import (
        _host_path_curvature,
        _HostFloats,
        _path_constants,
        _path_curvature,
    )

    rng = np.random.default_rng(11)
    for _ in range(400):
        p = float(rng.choice([1.0, 1.25, 1.5, 2.0, 3.0, 10.0]))
        k = float(10.0 ** rng.uniform(-5, 5))
        y = rng.standard_normal(5) * 10.0 ** rng.uniform(-200, 200)
        v = rng.standard_normal(5) * 10.0 ** rng.uniform(-200, 200)
        if rng.random() < 0.2:
            v = y * rng.uniform(-2, 2)
        bound = NormPathSegment.along(
            p, k, y, v, slope=-1.0, delta=float(rng.choice([0.0, 1e-10])), eps=1e-12
        )
        consts = bound._fetch()
        a, b, c, _ = (float(v) for v in bound._arrays)
        norms = (1.0, 1.0) if bound._norms is None else (float(v) for v in bound._norms)
        generic = _path_constants(
            _HostFloats, p, k, bound._gamma, bound._zeta, a, b, c, *norms, *bound._errors
        )
        assert consts.keys() == generic.keys()
        for key, value in consts.items():
            assert value == generic[key] or (math.isnan(value) and math.isnan(generic[key]))
        steps = (0.0, 5e-324, 10.0 ** rng.uniform(-300, 300), 10.0 ** rng.uniform(-3, 3))
        for t in (*steps, math.inf, math.nan):
            fast = _host_path_curvature(p, k, consts, t)
            generic = float(_path_curvature(_HostFloats, p, k, consts, t))
            assert fast == generic or (math.isnan(fast) and math.isnan(generic)), (p, k, t)


def _same_float(x, y):
    """Equal with the same sign (signed zeros), or both NaN."""
    return (x == y and math.copysign(1.0, x) == math.copysign(1.0, y)) or (x != x and y != y)


def test_norm_path_host_constants_are_the_generic_formula_on_any_floats():
    """The host's written-out constants against the array-generic formulas on host floats,
    bit for bit (signed zeros and NaN included), on sums, maxima and errors that no
    evaluation gives as well: negative, signed zeros, subnormal, infinite and NaN."""
    from lfso.models._segments import _host_path_constants, _HostFloats, _path_constants

    specials = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 0.5, 1.0, 2.0, 1e300, -1.0, math.inf]
    specials += [-math.inf, math.nan]
    rng = np.random.default_rng(31)
    for trial in range(3000):
        a, b, c, ymax, vmax, delta, eps = (
            float(rng.choice(specials))
            if rng.random() < 0.5
            else float(rng.standard_normal() * 10.0 ** rng.uniform(-5, 5))
            for _ in range(7)
        )
        p, k = float(rng.choice([1.0, 1.5, 2.0, 3.0])), float(10.0 ** rng.uniform(-3, 3))
        args = (p, k, 1e-13, 1e-300, a, b, c, ymax, vmax, delta, eps)
        host, generic = _host_path_constants(*args), _path_constants(_HostFloats, *args)
        assert host.keys() == generic.keys()
        for key, value in host.items():
            assert _same_float(value, generic[key]), (trial, key, args)


def test_norm_path_for_p_1_reads_only_the_direction():
    """``C = 2k ||v||^2`` for ``p = 1``: ``y`` may be omitted, and gives the same bound."""
    rng = np.random.default_rng(12)
    y, v = rng.standard_normal(7), rng.standard_normal(7) * 1e-30
    with_y = NormPathSegment.along(1.0, 3.0, y, v, slope=-1.0, eps=1e-40)
    without = NormPathSegment.along(1.0, 3.0, None, v, slope=-1.0, eps=1e-40)
    assert with_y(0.5) == without(0.5) >= 6.0 * float(v @ v)
    with pytest.raises(ValueError, match="needs y"):
        NormPathSegment.along(2.0, 1.0, None, v)


@pytest.mark.parametrize("size", [1e-220, 1e-150, 1e-100, 1e-99, 1.0, 1e150, 1e160])
def test_norm_path_for_p_1_is_above_and_close_to_the_exact_curvature(size):
    """``C = 2k ||v||^2`` (``p = 1``) against mpmath at scales where ``||v||^2`` is summed
    as it is and where it underflows or overflows (then normalised); sharp wherever the
    exact value is a normal float64."""
    rng = np.random.default_rng(13)
    v = rng.standard_normal(9) * size
    bound = NormPathSegment.along(1.0, 0.5, None, v, slope=-1.0, eps=0.0)
    with mp.workdps(50):
        exact = sum(mp.mpf(float(e)) ** 2 for e in v)  # 2k ||v||^2, k = 1/2
    value = bound(1.0)
    assert exact <= mp.mpf(value)
    if 1e-300 < exact < 1e300:
        assert mp.mpf(value) <= exact * (1 + mp.mpf(1e-13))


# -- PowerSum where float32 powers underflow -------------------------------------------------


def _power_sum_curvature(p: float, x: np.ndarray, d: np.ndarray, t: float) -> mp.mpf:
    """Exact ``sup_{s in [0, t]} d^T H(x + s d) d`` of ``sum |x_i|^(2p)``: each term at an
    endpoint (``|x_i + s d_i|`` is convex), so over ``{0, t}`` per coordinate."""
    with mp.workdps(60):
        pm, t_mp = mp.mpf(p), mp.mpf(t)
        total = mp.mpf(0)
        for xi, di in zip(_mp(x), _mp(d), strict=True):
            top = max(abs(xi), abs(xi + t_mp * di))
            total += 2 * pm * (2 * pm - 1) * top ** (2 * pm - 2) * di * di
        return total


@pytest.mark.parametrize("p", (1.25, 2.0, 25.0))
def test_power_sum_segment_does_not_underflow_in_float32(p):
    """``0.1^48 = 0`` in float32: the bound is taken in float64 and stays above the truth."""
    model = PowerSum(p)
    for x in (np.full(4, 0.1, np.float32), np.array([1e-16, -3e-17, 2e-16, 1e-20], np.float32)):
        evaluation = model.evaluate(x, bound=False)
        d = -x / np.max(np.abs(x))  # (the gradient itself may underflow here)
        bound = model.segment(x, evaluation, d)
        for t in (0.0, 1e-3, 1e-1, 1.0):
            exact = _power_sum_curvature(p, x, d, t)
            assert mp.mpf(bound(t)) >= exact
            assert bound(t) <= 1.01 * float(exact) + 1e-300  # and sharp (no underflow floor)


# -- runs from the float range's ends ---------------------------------------------------------


def _true_value(model: object, x: np.ndarray) -> float:
    """``f`` at ``x`` recomputed in float64 from float64 copies."""
    x = np.asarray(x, dtype=np.float64)
    if isinstance(model, PowerNorm):
        return float(np.sum(x * x)) ** model.p
    if isinstance(model, PowerSum):
        return float(np.sum(np.abs(x) ** (2 * model.p)))
    assert isinstance(model, CompositeLeastSquares)
    r = np.asarray(model.A, np.float64) @ x - np.asarray(model.b, np.float64)
    return float(r @ r) ** model.p


ALLOWED = (lfso.Status.CONVERGED, lfso.Status.PRECISION_LIMIT)

REPRODUCERS = {
    "power_norm-p10-far-float64": (lambda: PowerNorm(10), np.full(4, 1.1e7)),
    "power_norm-p2-tiny-float32": (lambda: PowerNorm(2), np.full(4, 1e-12, np.float32)),
    "power_sum-p2-tiny-float32": (lambda: PowerSum(2), np.full(4, 1e-11, np.float32)),
    "power_sum-p1.25-tiny-float32": (lambda: PowerSum(1.25), np.full(4, 1e-16, np.float32)),
}


@pytest.mark.parametrize("method", METHODS, ids=str)
@pytest.mark.parametrize("case", list(REPRODUCERS))
def test_start_at_the_float_range_ends_stops_cleanly(case, method):
    factory, x0 = REPRODUCERS[case]
    model = factory()
    options = {} if method is None else {"method": method}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, x0, **options)
    assert res.status in ALLOWED, res.message
    assert _true_value(model, res.x) <= _true_value(model, x0)
    # every recorded value is the run's own, and none rose above the start
    assert np.nanmax(res.history.f) <= res.history.f[0]
    if res.status is lfso.Status.PRECISION_LIMIT:
        assert "float64" in res.message and "best point" in res.message


@pytest.mark.parametrize("method", ("lfso", "lfso-lbfgs"))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
def test_random_runs_from_wide_starts_end_with_a_status(dtype, method):
    """PowerNorm and CompositeLeastSquares from starts over the dtype's range: a status,
    no exception, and a true ``f`` not above the start's (within ``f``'s rounding)."""
    rng = np.random.default_rng(11)
    top = 12 if dtype is np.float32 else 60
    eps = float(np.finfo(dtype).eps)
    for _ in range(4):
        p = float(rng.choice(POWERS))
        scale = 10.0 ** rng.uniform(-top, top / p)
        A = rng.standard_normal((6, 3)).astype(dtype)
        models = [
            (PowerNorm(p), (rng.standard_normal(5) * scale).astype(dtype)),
            (
                CompositeLeastSquares(A, (rng.standard_normal(6) * scale).astype(dtype), p),
                (rng.standard_normal(3) * scale).astype(dtype),
            ),
        ]
        for model, x0 in models:
            start = _true_value(model, x0)
            if not 0.0 < start < 1e300:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = lfso.minimize(model, x0, method=method, max_iter=300)
            assert isinstance(res.status, lfso.Status)
            assert res.status is not lfso.Status.NON_FINITE, res.message
            assert _true_value(model, res.x) <= start * (1.0 + 64 * 8 * eps)


def test_precision_limit_status():
    status = lfso.Status.PRECISION_LIMIT
    assert not status.success
    assert "float64" in status.message and "rescale" in status.message


def test_a_users_infinite_oracle_still_raises():
    """A user's oracle returning ``inf`` broke its contract: an error, not a status."""
    model = FunctionModel(
        lambda x: float(x @ x), lambda x: 2.0 * x, smoothness=lambda x, radius: math.inf
    )
    with pytest.raises(OracleError, match="inf"):
        lfso.minimize(model, np.ones(3), method="lfso")


class _Unrepresentable(PowerNorm):
    """A model outside the package whose segment reports a precision limit."""

    def segment(self, x, evaluation, direction):
        huge = np.full(2, 1e300)
        return NormPathSegment.along(10.0, 1.0, huge, -huge, slope=-1.0)


def test_a_precision_limit_stops_the_run_with_the_best_point():
    x0 = np.ones(2)
    res = lfso.minimize(_Unrepresentable(2), x0, method="lfso", certificate="segment")
    assert res.status is lfso.Status.PRECISION_LIMIT and not res.success
    assert np.array_equal(res.x, x0) and res.fun == 4.0 and res.nit == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_precision_limits_advice_fits_the_runs_dtype(dtype):
    """``PRECISION_LIMIT`` advises running in float64 only where the run is not already in
    float64; both runs advise rescaling."""
    res = lfso.minimize(
        _Unrepresentable(2), np.ones(2, dtype), method="lfso", certificate="segment"
    )
    assert res.status is lfso.Status.PRECISION_LIMIT and res.x.dtype == dtype
    assert ("Run in float64" in res.message) is (dtype == np.float32), res.message
    assert "rescale" in res.message.lower()


def test_a_step_target_that_underflows_to_zero_is_a_precision_limit():
    """At a subnormal ``x`` of ``sum cosh x_i`` the gradient ``sinh x = x`` is nonzero
    while the segment step's target ``eta ||g|| (2^k ||g||)`` (the scale ``2^k`` capped)
    underflows to 0: a precision limit at once, where the run took steps of 0 until
    ``max_iter`` (status ``MAX_ITER``)."""
    x0 = np.array([6.82996e-320, 1.56836e-319, 6.57700e-320, -2.02369e-319])
    model = FunctionModel(
        lambda x: float(np.sum(np.cosh(x))),
        np.sinh,
        lambda x, radius: float(np.cosh(np.max(np.abs(x)) + radius)),
    )
    res = lfso.minimize(model, x0, method="lfso", certificate="segment", max_iter=5, tol=0.0)
    assert res.status is lfso.Status.PRECISION_LIMIT and res.nit == 0, (res.status, res.nit)
    assert np.array_equal(res.x, x0)


@pytest.mark.parametrize("scale", [1.0, 1e-95, 1e95, 1e-110, 1e110])
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
def test_composite_evaluation_is_exact_to_rounding_on_both_sum_paths(p, scale):
    """``CompositeLeastSquares.evaluate`` in float64 sums ``||r||^2`` as it is where that
    lies in ``[1e-200, 1e200]`` and normalises by ``max_i |r_i|`` outside (scales 1e-110
    and 1e110): on both paths ``f`` and ``grad f`` match the exact values (mpmath, from
    the float inputs) to a few ulps, and the local bound is above ``||Hess f||`` there."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 4))
    b = rng.standard_normal(30) * scale
    x = rng.standard_normal(4) * scale
    model = CompositeLeastSquares(A, b, p)
    ev = model.evaluate(x)
    with mp.workdps(60):
        r = [
            mp.fsum(mp.mpf(a) * mp.mpf(xi) for a, xi in zip(row, x, strict=True)) - mp.mpf(bi)
            for row, bi in zip(A, b, strict=True)
        ]
        sq = mp.fsum(ri * ri for ri in r)
        value = sq**p
        grad = [
            2 * p * sq ** (p - 1) * mp.fsum(A[i, j] * r[i] for i in range(30)) for j in range(4)
        ]
        f_exact, g_exact = float(value), np.array([float(g) for g in grad])
        g_norm = float(mp.sqrt(mp.fsum(g * g for g in grad)))
    assert ev.value == pytest.approx(f_exact, rel=1e-12)
    np.testing.assert_allclose(ev.grad, g_exact, rtol=1e-10)
    assert ev.grad_norm == pytest.approx(g_norm, rel=1e-10)
    # ||Hess f|| <= 2p(2p-1) ||A||^2 ||r||^(2p-2) at x itself (R = 0)
    norm_a = float(np.linalg.norm(A, 2))
    with mp.workdps(60):
        top = 2 * p * (2 * p - 1) * norm_a**2 * sq ** (p - 1) if p > 1 else 2 * norm_a**2
    assert float(top) <= ev.bound(0.0) * (1 + 1e-12)


def test_composite_quadratic_powers_are_the_general_ones_bit_for_bit():
    """For ``p = 1`` the plain-sum evaluation of ``CompositeLeastSquares`` takes ``f =
    ||r||^2`` and the gradient's factor 2 as they are: what ``_norm_powers`` gives for every
    sum in the plain range ``[1e-200, 1e200]``, bit for bit, so the value is the sum itself."""
    from lfso.models._power import _norm_powers

    rng = np.random.default_rng(21)
    for sq in (1e-200, 1e200, *(10.0 ** rng.uniform(-200.0, 200.0, 2000))):
        assert _norm_powers(1.0, float(sq), 1.0) == (float(sq), 2.0)
    A, b = rng.standard_normal((25, 3)), rng.standard_normal(25)
    x = rng.standard_normal(3)
    ev = CompositeLeastSquares(A, b, 1.0).evaluate(x)
    r = A @ x - b
    assert ev.value == float(r @ r)


# -- ||g||^2 past the float range: a status, not Python's OverflowError -----------------------


@pytest.mark.parametrize(
    "method, options",
    [
        ("armijo", {}),
        ("bb", {}),
        ("dog", {}),
        ("polyak", {"f_star": 0.0}),
        ("lfso-accel", {"smoothness": 2e150}),
    ],
)
def test_a_gradient_whose_square_overflows_raises_no_overflow_error(method, options):
    # f = 1e150 ||x||^2 at x = 1e5: f = 3e160 is finite, ||g|| = 3.5e155, ||g||^2 is not
    res = lfso.minimize(
        lambda x: 1e150 * float(np.sum(x**2)),
        np.full(3, 1e5),
        grad=lambda x: 2e150 * x,
        method=method,
        monitor="quiet",
        max_iter=200,
        **options,
    )
    assert isinstance(res.status, lfso.Status)
    assert res.fun <= 3e160


@pytest.mark.parametrize("method", ["lfso-accel", "armijo", "bb", "polyak", "dog"])
def test_a_start_whose_squared_gradient_norm_overflows_ends_with_a_status(method):
    """``||g(x0)|| = 1.6e156``: ``||g||^2`` is past float64's range (Python's ``**``
    raises ``OverflowError`` there); every method still ends with a status, and
    ``lfso-accel`` converges as ``lfso`` does."""
    options = {"f_star": 0.0} if method == "polyak" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(PowerSum(3), np.full(3, 1e31), method=method, max_iter=300, **options)
    assert isinstance(res.status, lfso.Status)
    assert res.fun <= 3e186
    if method == "lfso-accel":
        assert res.status is lfso.Status.CONVERGED, res.message


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("seed", range(4))
def test_a_float32_gradient_that_underflows_stops_with_a_status_not_nan(seed, method):
    """Composite least squares on float32 data of size 1e-15: the gradient, ~1e-44 and
    less, underflows in float32 while its norm on the host does not, so the segment along
    it bounds nothing; the run stops with ``PRECISION_LIMIT`` (or converges), never with a
    ``NaN`` step, and its true ``f`` has not risen."""
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((6, 2)) * 1e-15).astype(np.float32)
    b = (A @ np.ones(2, np.float32) + 1e-15 * rng.standard_normal(6)).astype(np.float32)
    model, x0 = CompositeLeastSquares(A, b, 1.5), np.zeros(2, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = lfso.minimize(model, x0, method=method)
    assert res.status in ALLOWED, res.message
    assert np.all(np.isfinite(res.history.f))
    assert _true_value(model, res.x) <= _true_value(model, x0)


@pytest.mark.parametrize("p", [2, 3])
@pytest.mark.parametrize("scale", [1e-20, 1e-40])
def test_lbfgs_on_tiny_data_converges_as_on_the_data_unscaled(p, scale):
    """Data scaled by ``1e-20`` make the first L-BFGS step ``1e115`` (``-g`` is tiny) and the
    second solve's first trial, that step, lies far past where the segment bound leaves the
    float range (``C = inf``): the solve tries ``t = 0`` next, whose ``C(0)`` bounds the
    step, and finds it (halving from the guess ran out of rounds before: PRECISION_LIMIT
    at the first iteration, ``f`` 2% above the minimum)."""
    from lfso.models import LpRegression

    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((120, 5)), rng.standard_normal(120)
    plain = lfso.minimize(LpRegression(A, b, p), np.zeros(5), method="lfso-lbfgs")
    tiny = lfso.minimize(LpRegression(A * scale, b * scale, p), np.zeros(5), method="lfso-lbfgs")
    assert plain.success and tiny.success, tiny.message
    np.testing.assert_allclose(tiny.x, plain.x, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: PowerNorm(p),
        lambda p: PowerSum(p),
        lambda p: PowerSum(p, oracle="paper"),
        lambda p: lfso.models.LpRegression(np.eye(2), np.zeros(2), p),
    ],
    ids=["power-norm", "power-sum", "power-sum-paper", "lp-regression"],
)
def test_a_power_past_the_rounding_proof_is_refused_naming_p(make):
    """The power bounds' rounding argument (``rounded_up``) covers ``2 (2p - 2) + 5``
    roundings up to ``2^26``: ``PowerNorm(1e300)``'s bound was NaN (its scale ``2p(2p -
    1)`` infinite times a power that underflowed to 0), ``PowerSum(1e300, oracle='paper')``
    raised from a NaN constant. ``p`` past ``2^22`` is now refused at construction."""
    for p in (1e300, 2.0**22 * (1.0 + 2.0**-52)):
        with pytest.raises(ValueError, match=r"p must be <= 2\^22 .*got p="):
            make(p)
    make(2.0**22)  # (the edge itself is taken)


@pytest.mark.parametrize("model", [PowerNorm(2.0**22), PowerSum(2.0**22)], ids=["norm", "sum"])
def test_a_bound_at_the_largest_power_stays_above_its_formula(model):
    """At ``p = 2^22`` (``q = 2^23 - 2``, ``2q + 5`` roundings: ``rounded_up``'s proof
    near its ``2^26``) the bound is no NaN and never below ``2p(2p-1) (t + R)^q``
    (``t = ||x||`` or ``max |x_i|``), in mpmath, where that is a float."""
    ctx = mp.MPContext()
    ctx.dps = 60
    x = np.array([0.6, 0.8]) if isinstance(model, PowerNorm) else np.array([1.0, 0.3])
    bound = model.evaluate(x).bound
    assert bound is not None
    p = ctx.mpf(model.p)
    exact_t = ctx.sqrt(sum(ctx.mpf(v) ** 2 for v in x)) if isinstance(model, PowerNorm) else 1
    for radius in (0.0, 1e-9, 3e-8, 1e-7, 1e-6, 1e-3):
        value = bound(radius)
        assert value == value and value >= 0.0
        exact = 2 * p * (2 * p - 1) * (exact_t + ctx.mpf(radius)) ** (2 * p - 2)
        assert value >= exact, (radius, value, exact)
    radius, value, _ = bound.radius_for(1.0)
    assert ctx.mpf(radius) * ctx.mpf(value) >= 1


def test_a_power_bound_of_infinite_scale_is_no_nan():
    """``inf * 0^q`` was NaN: a base of 0 gives 0 for any scale (``0^q = 0``), a power that
    underflowed beside an infinite scale ``inf`` (no finite bound known)."""
    from lfso.oracles._bounds import MinPowerBound, PowerBound

    assert PowerBound(math.inf, 0.0, 1.0, 2.0)(0.0) == 0.0
    assert MinPowerBound(math.inf, [(0.0, 1.0)], 2.0)(0.0) == 0.0
    assert PowerBound(math.inf, 0.1, 1.0, 2000.0)(0.0) == math.inf
    assert PowerBound(math.inf, 0.0, 1.0, 2.0)(1.0) == math.inf


def _power_bound(*args):
    from lfso.oracles._bounds import PowerBound

    return PowerBound(*args)


@pytest.mark.parametrize(
    ("make", "target"),
    [
        (
            lambda: _power_bound(
                4.48549191875115e-10, 6.389013383133029e-28, 4.2412517857468045e-225, 1e10
            ),
            1.88e-298,
        ),
        (lambda: _power_bound(1.0, 1e154, 1e154, 2.0), 1e308),
        (lambda: L0L1Smooth(PowerSum(2), L0=1e308, L1=1e308).at(np.ones(2)), 1.0),
    ],
    ids=["power-L-0", "power-L-inf", "l0l1-scale-inf"],
)
def test_a_built_in_bound_at_the_float_range_edge_is_a_precision_limit(make, target):
    """A built-in bound whose ``radius_for`` answers ``L = 0`` or ``inf`` (its exact value
    a positive number past the float range) made the step's check raise a plain
    ``OracleError`` ('an LFSO must return a finite positive bound'), blaming an oracle the
    user never wrote; ``L0L1Smooth`` with ``L0 = 1e308`` raised a bare ``math domain
    error``. Each is a :class:`PrecisionLimitError` now; a user's bound returning ``0`` or
    ``inf`` stays a plain :class:`OracleError`."""
    from lfso.oracles import ConstantBound, FunctionBound
    from lfso.steps._certificates import BallCertificate

    certificate = BallCertificate()
    with pytest.raises(PrecisionLimitError, match="float range"):
        certificate._choose(None, make(), target, None)
    for users in (FunctionBound(lambda r: math.inf), FunctionBound(lambda r: 0.0)):
        with pytest.raises(OracleError, match="an LFSO must return") as raised:
            certificate._choose(None, users, 1.0, None)
        assert not isinstance(raised.value, PrecisionLimitError)
    with pytest.raises(OracleError, match="an LFSO must return") as raised:
        certificate._choose(None, ConstantBound(math.inf), 1.0, None)
    assert not isinstance(raised.value, PrecisionLimitError)


def test_a_built_in_oracle_past_the_float_range_stops_with_a_precision_limit():
    """``L0L1Smooth(PowerSum(2), L0=1e308, L1=1e308)``: ``L0 + L1 ||g||`` overflows. Its
    value at a radius raised a plain ``OracleError``, and a run ended ``RAISED`` with a
    bare ``ValueError: math domain error`` from the radius solve."""
    model = L0L1Smooth(PowerSum(2), L0=1e308, L1=1e308)
    with pytest.raises(PrecisionLimitError, match="float range"):
        model(np.ones(2), 1.0)
    for certificate in ("ball", "segment"):
        res = lfso.minimize(model, np.ones(2), method="lfso", certificate=certificate)
        assert res.status is lfso.Status.PRECISION_LIMIT, res.message
        assert "an LFSO must" not in res.message and np.array_equal(res.x, np.ones(2))


@pytest.mark.parametrize(
    "model",
    [PowerNorm(3), PowerSum(3), PowerSum(1), CompositeLeastSquares(np.eye(2), np.zeros(2), p=3)],
    ids=["power_norm", "power_sum", "power_sum-p1", "composite"],
)
def test_a_gradient_past_the_float_range_is_inf_and_exact_zeros_stay_zero(model):
    """At ``x = [1e200, 0]`` (NumPy) the gradient's first entry is past the float range and
    its second is exactly 0: ``PowerNorm`` and ``CompositeLeastSquares`` gave ``NaN`` there
    (``inf * 0``) with NumPy's "invalid value" warning, and ``PowerSum`` warned "overflow
    encountered in multiply". Now ``[inf, 0]``, silently."""
    x = np.array([1e200, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluation = model.evaluate(x)
    assert evaluation.value == math.inf and evaluation.grad_norm == evaluation.grad[0]
    # (inf, but 2e200 for PowerSum(1): 2x is in range)
    assert evaluation.grad[0] >= 2e200 and evaluation.grad[1] == 0.0


@pytest.mark.parametrize(("x", "dtype"), [(1e200, np.float64), (1e20, np.float32)])
@pytest.mark.parametrize("name", ["power_norm", "composite"])
@pytest.mark.parametrize("library", ["numpy", "torch", "torch-device"])
def test_an_overflowing_gradient_keeps_its_exact_zeros_on_every_array_library(
    x, dtype, name, library
):
    """At ``x = [X, 0]`` with ``X`` large enough that ``2p ||x||^(2p-2)`` passes the
    dtype's range, ``PowerNorm(3)`` and ``CompositeLeastSquares(I, 0, p=3)`` have the
    gradient ``[inf, 0]`` (the second entry is exactly 0) on NumPy; on PyTorch CPU tensors
    (``PowerNorm``) and on PyTorch's accelerator path (emulated on the CPU) it was
    ``[inf, nan]`` (``inf * 0``). Now ``[inf, 0]`` on each."""
    import contextlib

    point = np.array([x, 0.0], dtype=dtype)
    A, b = np.eye(2, dtype=dtype), np.zeros(2, dtype=dtype)
    context: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if library != "numpy":
        torch = pytest.importorskip("torch")
        point, A, b = torch.from_numpy(point), torch.from_numpy(A), torch.from_numpy(b)
        if library == "torch-device":
            from lfso.bench import cpu_as_accelerator

            context = cpu_as_accelerator()
    with warnings.catch_warnings(), context:
        warnings.simplefilter("error")
        model = PowerNorm(3) if name == "power_norm" else CompositeLeastSquares(A, b, p=3)
        evaluation = model.evaluate(point)
        grad = [float(v) for v in evaluation.grad]
    assert grad == [math.inf, 0.0] and evaluation.grad_norm == math.inf


@pytest.mark.parametrize(
    ("p", "x", "dtype"),
    [
        (1000, 3.0, np.float64),
        (7.5, 1e30, np.float64),
        (3, 1e120, np.float64),
        (4, 1e10, np.float32),
        (2, 3e38, np.float32),  # (x itself near the range's end: its padded rows overflow)
    ],
)
@pytest.mark.parametrize("library", ["numpy", "torch", "torch-device"])
def test_lp_regression_past_the_float_range_is_inf_without_warnings(p, x, dtype, library):
    """``LpRegression`` where ``|r_i|^(2p)`` passes the float range: the weights overflowed
    with a ``RuntimeWarning`` and ``A^T (w r)`` made ``inf * 0 = NaN``, so ``lfso.minimize``
    reported ``||grad f(x0)|| = nan``. The value and every gradient entry are ``inf`` (each
    exact entry is past the range), silently, and the start error says so: on NumPy, on
    PyTorch CPU tensors, and on PyTorch's accelerator path (emulated on the CPU)."""
    import contextlib

    from lfso.models import LpRegression

    A, b, x0 = np.eye(2, dtype=dtype), np.zeros(2, dtype=dtype), np.full(2, x, dtype=dtype)
    context: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if library != "numpy":
        torch = pytest.importorskip("torch")
        A, b, x0 = torch.from_numpy(A), torch.from_numpy(b), torch.from_numpy(x0)
        if library == "torch-device":
            from lfso.bench import cpu_as_accelerator

            context = cpu_as_accelerator()
    model = LpRegression(A, b, p=p)
    with warnings.catch_warnings(), context:
        warnings.simplefilter("error")
        for bound in (True, False):
            evaluation = model.evaluate(x0, bound=bound)
            assert evaluation.value == math.inf and model.value(x0) == math.inf
            assert bool((evaluation.grad == math.inf).all()) and evaluation.grad_norm == math.inf
        with pytest.raises(ValueError, match=r"f\(x0\) = inf and \|\|grad f\(x0\)\|\| = inf"):
            lfso.minimize(model, x0, monitor=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda A, b: lfso.models.LpRegression(A, b, 2),
        lambda A, b: lfso.models.LpRegression(A, b, 4, norm=1e30),
        lambda A, b: CompositeLeastSquares(A, b, 4),
        lambda A, b: lfso.models.CauchyRegression(A, b),
        lambda A, b: lfso.models.LogisticRegression(A, b),
        lambda A, b: lfso.models.SoftmaxRegression(A, np.zeros(6, dtype=int), 2),
    ],
    ids=["lp2", "lp4-norm", "composite", "cauchy", "logistic", "softmax"],
)
def test_float32_rows_whose_squares_overflow_build_without_numpy_warnings(make):
    """float32 rows of size ``1e20`` (norms representable, squares past the range): the
    model's row norms and Frobenius norm are ``inf`` (upper bounds), and the run stops
    ``PRECISION_LIMIT`` at its first step; constructing the model emitted NumPy's
    ``RuntimeWarning: overflow encountered in multiply`` first, once per norm, and the
    logistic and softmax segment bounds theirs for their squared weights."""
    A = np.full((6, 3), 1e20, dtype=np.float32)
    A[:, 1] = 1.0
    b = np.ones(6, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = make(A, b)
        result = lfso.minimize(model, np.zeros(model.dim, dtype=np.float32), max_iter=20)
    assert result.status == lfso.Status.PRECISION_LIMIT


@pytest.mark.parametrize("p", [1.5, 3.0, 7.5])
def test_composite_paper_bound_past_the_float_range_is_inf(p):
    """``CompositeLeastSquares(..., oracle="paper")``'s bound at a radius whose powers pass
    the float64 range (``t^(p-1)`` with ``t ~ R^2``) is ``inf``, as the other models'
    bounds are there, not Python's bare ``OverflowError`` from ``float ** float``; below
    that range it still grows with ``R``, and the oracle call names the precision limit."""
    model = CompositeLeastSquares(np.array([[1.0], [2.0]]), np.array([1.0, 1.0]), p, oracle="paper")
    bound = model.evaluate(np.zeros(1)).bound
    values = [bound(R) for R in (1.0, 1e10, 1e100, 1e200, 1e300)]
    assert values[-1] == math.inf
    assert values == sorted(values)
    with pytest.raises(PrecisionLimitError, match="leaves the float range"):
        model(np.zeros(1), 1e300)


def test_l0l1_bound_covers_a_subnormal_gradient_norm():
    """``PowerSum(2)``'s gradient at ``x ~ 1e-108`` is subnormal (``||g|| ~ 8e-323``, off
    by up to half the smallest subnormal number in its last rounding): with ``L1 = 1e30``
    the bound ``L1 ||g||`` was 3% below ``L1`` times the exact norm of the computed ``g``."""
    x = np.array([2.675784541153342e-108, 1.583032418661724e-110, -1.490045357578403e-108])
    model = L0L1Smooth(PowerSum(2), L0=0.0, L1=1e30)
    ev = model.evaluate(x)
    ctx = mp.MPContext()
    ctx.dps = 50
    norm = ctx.sqrt(ctx.fsum(ctx.mpf(float(g)) ** 2 for g in ev.grad))
    assert norm > 0
    assert ctx.mpf(1e30) * norm <= ctx.mpf(ev.bound(0.0))
    d = np.ones(3)
    assert ctx.mpf(1e30) * norm * 3 <= ctx.mpf(model.segment(x, ev, d)(0.0))


def test_composite_paper_bound_with_a_subnormal_power_stays_above_the_hessian():
    """``oracle="paper"``'s ``p t^(p-1) L_g`` with ``t^(p-1) = 1e-318`` (subnormal, off by up
    to half the smallest subnormal number) and ``L_g = 5.7e57``: the bound at ``R = 0`` was
    5.6e-7 below the exact ``u^T Hess f(x) u`` along the column ``u`` of ``A``."""
    A = np.array([[5.001096932369649e28], [1.8777972059368184e28]])
    b = np.array([4.331047214887458e-25, -2.116222121990386e-25])
    x, p = np.array([6.197600796568818e-54]), 7.5
    L = CompositeLeastSquares(A, b, p, oracle="paper").evaluate(x).bound(0.0)
    ctx = mp.MPContext()
    ctx.dps = 80
    P, u = ctx.mpf(p), [ctx.mpf(float(a)) for a in A[:, 0]]
    z = [ui * ctx.mpf(float(x[0])) - ctx.mpf(float(bi)) for ui, bi in zip(u, b, strict=True)]
    q = ctx.fsum(t * t for t in z)
    zu = ctx.fsum(a * c for a, c in zip(z, u, strict=True))
    hess = (
        2 * P * q ** (P - 1) * ctx.fsum(t * t for t in u) + 4 * P * (P - 1) * q ** (P - 2) * zu**2
    )
    assert hess <= ctx.mpf(L)


def test_power_sum_paper_bound_with_powers_below_the_float_range():
    """``PowerSum(7.5, oracle="paper")`` at ``x = 1.1e-25``, ``R = 1e-25``: ``|x|^13`` and
    ``R^13`` both round to 0 (below half the smallest subnormal number), which the factor
    ``2p(2p-1) 2^12 = 8.6e5`` magnifies: the bound was 1.3e-319 against an exact
    ``2p(2p-1) (|x| + R)^13 = 4.6e-319``."""
    p, x, R = 7.5, np.array([1.13093147496522e-25]), 1.024755651498229e-25
    L = PowerSum(p, oracle="paper").evaluate(x).bound(R)
    ctx = mp.MPContext()
    ctx.dps = 50
    P = ctx.mpf(p)
    assert 2 * P * (2 * P - 1) * (ctx.mpf(float(x[0])) + ctx.mpf(R)) ** (2 * P - 2) <= ctx.mpf(L)


def _paper_composite_exact(bound, radius):
    """``CompositeLeastSquares``' paper bound at ``radius``, exactly at its float parameters."""
    ctx = mp.MPContext()
    ctx.dps = 80
    p, lg, mu, gg, floor = (
        ctx.mpf(v) for v in (bound.p, bound.lg, bound.mu, bound.gg, bound.floor)
    )
    c = lg * ctx.mpf(radius) + gg
    t = floor + c * c / (2 * mu)
    if p >= 2:
        second = p * (p - 1) * t ** (p - 2) * c * c
    else:
        second = p * (p - 1) * (2 * lg) ** (2 - p) * c ** (2 * p - 2)
    return second + p * t ** (p - 1) * lg


@pytest.mark.parametrize(
    ("p", "lg", "mu", "gg", "floor", "radius"),
    [  # each was below the exact value: by 110 units of 2^-53, 8.9e-10, 8.7e-4 (subnormal)
        (50.0, 630.359830496132, 0.0014595165298061138, 0.0002030906602473416,
         0.5706776089939698, 0.0005259408505853246),
        (10001.0, 1.4229316226621545e-107, 5.70273229912951e-304, 3.377157022273917e-152,
         1.3859459374195073e-05, 0.0),
        (3.0, 1.2180715762835817e-131, 6.968344690521596e-299, 2.3845063306084877e-197,
         0.0, 0.0),
    ],
)  # fmt: skip
def test_composite_paper_bound_covers_its_own_rounding(p, lg, mu, gg, floor, radius):
    """``CompositeLeastSquares(..., oracle="paper")``'s ``h''(t) c^2 + h'(t) L_g`` rounded
    its own sums, products and powers to nearest (``t^(p-2)`` magnifies ``t``'s by
    ``p - 2``), and where ``c^2`` underflows took its logarithms with a fixed ``1e-11`` pad:
    the value is at least the exact one at its float parameters."""
    bound = _PaperCompositeBound(p, lg, mu, gg, floor)
    value = bound(radius)
    assert 0.0 < value < math.inf
    assert _paper_composite_exact(bound, radius) <= mp.mpf(value)


def test_composite_paper_bound_covers_its_rounding_on_a_sweep():
    """The paper bound against its exact value at random parameters, radii and powers,
    both where ``c^2`` is in range and where it underflows (logarithms)."""
    rng = np.random.default_rng(3)
    for _ in range(400):
        p = float(rng.choice([1.2, 1.5, 2.0, 2.5, 7.3, 50.0, 1001.0]))
        tiny = rng.random() < 0.5
        gg = 10.0 ** rng.uniform(-200, -151) if tiny else 10.0 ** rng.uniform(-5, 2)
        mu = 10.0 ** (rng.uniform(-305, -290) if tiny else rng.uniform(-3, 1))
        lg = max(mu, 10.0 ** rng.uniform(-3, 3))
        floor = float(rng.choice([0.0, 10.0 ** rng.uniform(-5, 1)]))
        radius = 0.0 if tiny else 10.0 ** rng.uniform(-5, 2)
        bound = _PaperCompositeBound(p, lg, mu, gg, floor)
        value = bound(radius)
        if 0.0 < value < math.inf:
            assert _paper_composite_exact(bound, radius) <= mp.mpf(value), (p, lg, mu, gg, floor)


def test_composite_paper_bound_with_an_underflowing_c_past_the_float_range_is_inf():
    """Where ``c = L_g R + ||grad g||`` is below ``1e-150`` (``A = 1e-160``) the paper bound
    is taken in logarithms; a radius whose ``t^(p-1)`` passes the float range there was
    Python's bare ``OverflowError`` from ``math.exp``: it is ``inf``, and the oracle call
    names the precision limit."""
    model = CompositeLeastSquares(
        np.array([[1e-160], [1e-160]]), np.array([1.0, -1.0]), 100.0, oracle="paper"
    )
    x = np.zeros(1)
    assert model.evaluate(x).bound(1e169) == math.inf
    with pytest.raises(PrecisionLimitError, match="leaves the float range"):
        model(x, 1e169)
