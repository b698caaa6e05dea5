"""The array helpers' NumPy paths (taken before any array-API lookup) give what the
general paths give."""

from __future__ import annotations

import itertools
import math
import warnings

import array_api_compat
import mpmath
import numpy as np
import pytest

from lfso._arrays import fetch_with_norm, namespace, to_floats
from lfso._later import Later, deferring, host_value, riding
from lfso.steps._certificates import _unit_scale


def test_namespace_of_numpy_arrays_is_array_api_compats():
    a, b = np.ones(3), np.zeros((2, 2), dtype=np.float32)
    expected = array_api_compat.array_namespace(a, b)
    assert namespace(a, b) is namespace(a) is namespace() is expected
    with pytest.raises(TypeError):
        namespace(a, "not an array")


def test_to_floats_of_host_values_are_python_floats():
    values = (np.float64(0.1), np.array(2.5, dtype=np.float32), 3, 0.25, np.int64(7))
    floats = to_floats(*values)
    assert floats == [0.1, 2.5, 3.0, 0.25, 7.0]
    assert all(type(v) is float for v in floats)
    assert to_floats() == []


def test_host_value_takes_floats_as_they_are():
    assert host_value(0.1) == 0.1 and type(host_value(np.float64(0.1))) is float
    assert math.isnan(host_value(None))
    later = Later(None)
    later.value = 4.0
    assert host_value(later) == 4.0


def test_numpy_arrays_never_defer():
    x = np.ones(3)
    assert not deferring(x)
    with riding():
        assert not deferring(x)


def _unit_scale_by_min_max(length, cap):
    """The scale as a clamp by ``min`` and ``max`` (what :func:`_unit_scale` computes)."""
    if not 0.0 < length < math.inf:
        return 1.0
    return math.ldexp(1.0, min(max(-math.frexp(length)[1], -cap), cap))


@pytest.mark.parametrize("cap", [127, 1023])
def test_unit_scale_brings_the_length_to_one_half_within_the_dtypes_exponents(cap):
    lengths = [0.0, math.inf, math.nan, -1.0, 5e-324, 1e-300, 1e-40, 0.5, 0.75, 1.0, 3.0]
    lengths += [1e38, 3e38, 1e300, math.ulp(1.0), 2.0**-127, 2.0**128, 1.7976931348623157e308]
    for length in lengths:
        scale = _unit_scale(length, cap)
        assert scale == _unit_scale_by_min_max(length, cap), length
        assert 2.0**-cap <= scale <= 2.0**cap
        if 0.0 < length < math.inf and 2.0**-cap < scale < 2.0**cap:  # (not clamped)
            assert 0.5 <= scale * length < 1.0, length


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fetch_with_norm_sums_the_gradient_as_matmul_does(dtype):
    """``||grad||`` of a NumPy gradient is ``sqrt(grad @ grad)`` bit for bit, contiguous or
    strided, with the scalars and ``grad @ probe`` beside it; where the sum overflows, the
    overflow-safe norm, without a warning."""
    rng = np.random.default_rng(4)
    for n in (1, 7, 100, 1001):
        for scale in (1e-3, 1.0, 1e5):
            g = (rng.standard_normal(2 * n) * scale).astype(dtype)
            probe = rng.standard_normal(n).astype(dtype)
            for grad in (g[:n], g[::2]):
                values, gnorm, dot = fetch_with_norm(grad, np.float64(1.5), 2, probe=probe)
                assert values == [1.5, 2.0]
                assert gnorm == math.sqrt(float(grad @ grad))
                assert dot == float(grad @ probe)
    top = float(np.finfo(dtype).max)
    huge = np.full(4, top / 2, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fetched = fetch_with_norm(huge)
    assert fetched.values == [] and fetched.grad_norm == pytest.approx(top)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norm_where_the_squares_underflow_is_the_scaled_one(dtype):
    """Where the squares underflow, ``sqrt(fl(g @ g))`` can be far short of ``||g||``
    (float32: 1,000 entries ``2.45 k`` beside one ``3.7 k``, ``k = 1e-23``, give ``fl(g @ g)
    = 1.4e-45`` against 6e-43): below ``n tiny`` the norms take the scaled sum, and so does
    the L-BFGS direction's length (:func:`lfso._arrays.norm_from_square`)."""
    from lfso._arrays import norm, norm_from_square, square_floor

    info = np.finfo(dtype)
    unit = math.sqrt(float(info.smallest_subnormal))  # (whose square is the least subnormal)
    for g in (
        np.concatenate([[1.0], np.full(999, 0.66)]) * unit,
        np.concatenate([[1.0], np.full(9, 0.3)]) * unit * 3.0,
        np.full(3, float(info.smallest_normal)),
    ):
        g = g.astype(dtype)
        exact = math.sqrt(math.fsum(float(v) ** 2 for v in g))
        for value in (norm(g), fetch_with_norm(g).grad_norm, norm_from_square(0.0, g)):
            assert value == pytest.approx(exact, rel=4 * float(info.eps)), (value, exact)
    g = np.ones(7, dtype)
    assert square_floor(g) == 7 * float(info.smallest_normal)
    assert norm_from_square(7.0, g) == math.sqrt(7.0)


def test_the_device_constants_stay_bounded_however_many_models_are_made(monkeypatch):
    """Each Cauchy model on a device keeps its ``c^2`` among the device constants
    (:func:`lfso._arrays.constant`); a process that makes models of many ``c`` (a search
    over ``c``) kept every one of them: the cache keeps the most recently used only, and
    still makes a constant once while it is in use."""
    torch = pytest.importorskip("torch")
    from lfso import _arrays
    from lfso.bench import cpu_as_accelerator
    from lfso.models import CauchyRegression, _fused

    try:
        torch.compile(lambda v: v + 1.0)(torch.ones(2))
    except Exception:
        pytest.skip("torch.compile cannot compile here")
    monkeypatch.setattr(_fused, "MIN_ROWS", 2)
    monkeypatch.setattr(_fused, "_ENABLED", True)
    rng = np.random.default_rng(0)
    A, b = torch.tensor(rng.standard_normal((30, 3))), torch.tensor(rng.standard_normal(30))
    x = torch.zeros(3, dtype=torch.float64)
    bound = _arrays._MAX_CONSTANTS
    with cpu_as_accelerator():
        for i in range(bound + 40):
            CauchyRegression(A, b, c=1.0 + i / 7).value(x)
            assert len(_arrays._CONSTANTS) <= bound, i
        model = CauchyRegression(A, b, c=0.3)
        model.value(x)
        made = dict(_arrays._CONSTANTS)
        assert model.value(x) == model.value(x)
        assert _arrays._CONSTANTS.keys() == made.keys()
        assert all(_arrays._CONSTANTS[k] is v for k, v in made.items())


_UNITS = {np.float32: 2.0**-24, np.float64: 2.0**-53}
_KS = [1, 2, 7, 1000, 2**20, 2**23 - 64, 2**23 - 1, 2**23, 2**23 + 16, 10**7, 2**24, 10**8]
_KS += [5 * 10**8, 10**9, 2**52, 2**52 + 8, 2**53]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", _KS)
def test_error_gamma_bounds_the_exact_worst_case_and_stays_finite(dtype, k):
    """``|prod_{i <= k} (1 + delta_i)^(+-1) - 1|`` with ``|delta_i| <= u`` is at most
    ``(1 - u)^-k - 1`` (all factors ``1/(1 - u)``), attained: the gamma is at least that
    (to float64's rounding of Higham's value, which equals it at ``k = 1``), finite, and
    Higham's ``k u / (1 - k u)`` bit for bit where ``k u < 1/2``."""
    from lfso._arrays import error_gamma

    u = _UNITS[dtype]
    gamma = error_gamma(k, dtype)
    with mpmath.workdps(60):
        worst = (1 - mpmath.mpf(u)) ** (-k) - 1
        assert gamma >= worst * (1 - mpmath.mpf(2) ** -51)  # (k = 1: u / (1 - u), rounded)
        if k * u < 0.5:
            assert gamma == k * u / (1.0 - k * u)
        else:
            assert math.isfinite(gamma) or worst > 1e300  # (past float64: inf)
            if math.isfinite(gamma):  # (and not loose: its pads are of float64 rounding)
                assert gamma <= max(mpmath.mpf(1), worst * (1 + mpmath.mpf(10) ** -10))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_gamma_never_decreases_with_k(dtype):
    from lfso._arrays import error_gamma

    ks = sorted({*_KS, *(int(2**e) for e in np.arange(0.0, 60.0, 0.25))})
    values = [error_gamma(k, dtype) for k in ks]
    assert values == sorted(values)


@pytest.mark.parametrize("gamma", [1e-8, 0.3, 0.9, 1.0, 1.5, 3.0, 40.0, 1e6])
@pytest.mark.parametrize("rho", [0.0, 1e-7, 0.2, 0.6])
def test_sum_bounds_hold_at_the_extreme_roundings(gamma, rho):
    """A sum ``F`` of non-negative terms whose factors (``[1 / (1 + gamma), 1 + gamma]``
    each, the lemma of ``error_gamma``, times ``1 +- rho``) all take one extreme or mix
    them: ``|F - S| <= spread F`` and ``S <= F / floor`` for the exact sum ``S``."""
    from lfso._arrays import sum_bounds

    spread, floor = sum_bounds((1.0 + rho) * (1.0 + gamma), rho)
    assert spread >= 0.0 and floor > 0.0
    terms = np.array([1.0, 0.5, 3.0])
    lows = (1.0 / (1.0 + gamma), 1.0 + gamma)
    for sign, low in itertools.product(
        (-1.0, 1.0), [(a, b, c) for a in lows for b in lows for c in lows]
    ):
        computed = float(np.sum(terms * (1.0 + sign * rho) * np.array(low)))
        exact = float(np.sum(terms))
        assert abs(computed - exact) <= spread * computed * (1 + 1e-12)
        assert exact <= computed / floor * (1 + 1e-12)
