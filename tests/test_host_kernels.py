"""The NumPy host kernels of the row models (also what PyTorch CPU tensors run, on views)
give the generic array-API code's values bit for bit, edge values included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lfso.models._logistic import _host_losses, _losses
from lfso.models._segments import approach, approach_kernel, host_zeros

#: Margins that reach every branch: zeros of both signs, subnormals, the exponential's
#: underflow, infinities and NaN, next to ordinary values.
EDGES = [0.0, -0.0, 1e-45, -1e-45, 5e-324, 1e-300, 0.5, -0.5, 40.0, -40.0, 89.0, -89.0]
EDGES += [104.0, -104.0, 750.0, -750.0, 1e30, -1e30, math.inf, -math.inf, math.nan]


def _rows(dtype, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        edges = np.asarray(EDGES).astype(dtype)
    scales = np.asarray([1e-3, 1.0, 3.0, 60.0], dtype=dtype)
    values = rng.standard_normal(n).astype(dtype) * scales[rng.integers(0, 4, n)]
    return np.concatenate([edges, values]), rng


def _same(a, b):
    """Equal bit for bit, NaN payloads aside (NaN where the other has NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint8), b[~nan].view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_host_losses_are_the_generic_ones_bit_for_bit(dtype):
    """``(losses, -s sigma(-m), |m|)`` from ``z`` and ``-s``, without the select: the
    generic code's values for the margins ``m = s z``."""
    margins, rng = _rows(dtype)
    signs = np.where(rng.random(margins.shape[0]) < 0.5, -1.0, 1.0).astype(dtype)
    z = signs * margins  # (then signs * z is margins again, exactly)
    assert (signs * z).tobytes() == margins.tobytes()
    with np.errstate(over="ignore", invalid="ignore"):
        losses, slope = _losses(np, margins, np.abs(margins))
        factor = -signs * slope
        host_losses, host_factor, distance = _host_losses(z, -signs)
    _same(host_losses, losses)
    _same(host_factor, factor)
    _same(distance, np.abs(margins))
    # the mean the evaluation takes, over finite losses
    finite = np.isfinite(losses)
    assert np.mean(host_losses[finite]).tobytes() == np.mean(losses[finite]).tobytes()


def test_logistic_negated_labels_follow_the_models_labels():
    """``-signs`` is made once per labels array: a copy given other rows makes its own."""
    import copy

    from lfso.models import LogisticRegression

    X = np.arange(12.0).reshape(6, 2)
    model = LogisticRegression(X, np.array([0, 1, 1, 0, 1, 0]))
    held = model._negated_signs()
    np.testing.assert_array_equal(held, -model.signs)
    assert model._negated_signs() is held
    batch = copy.copy(model)
    batch.signs = model.signs[:3]
    np.testing.assert_array_equal(batch._negated_signs(), -model.signs[:3])
    assert model._negated_signs() is held


def _generic_approach(m, v, delta, eps, unit, size=None):
    """:func:`approach`'s generic expressions, as the array-API code writes them."""
    start = np.abs(m) if size is None else size
    rate = np.minimum(np.sign(m) * v, 0.0)
    return start * (1.0 - 4.1 * unit) - delta, (rate - eps) * (1.0 + 4.1 * unit)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("given_size", [False, True])
def test_host_approach_is_the_generic_code_bit_for_bit(dtype, given_size):
    m, rng = _rows(dtype, seed=1)
    v, _ = _rows(dtype, seed=2)
    v = v[rng.permutation(v.shape[0])]
    unit = 0.5 * float(np.finfo(dtype).eps)
    size = np.abs(m) if given_size else None
    for delta, eps in [(0.0, 0.0), (1e-6, 3e-7), (2.5, 0.0), (0.0, 1e-3)]:
        with np.errstate(over="ignore", invalid="ignore"):
            start, rate = approach(np, m, v, delta, eps, unit, size)
            ref_start, ref_rate = _generic_approach(m, v, delta, eps, unit, size)
        assert start is not size
        _same(start, ref_start)
        # a zero rate's sign may differ (the minimum's operand order); nothing reads it
        nonzero = ref_rate != 0.0
        _same(rate[nonzero], ref_rate[nonzero])
        np.testing.assert_array_equal(rate[~nonzero], 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_approach_fused_kernel_is_the_generic_kernel_on_edge_rows(dtype):
    """The in-place trial kernel (given the ends negated; the minimum with 0 against
    :func:`host_zeros`) gives the generic kernel's values on every edge row, zeros of
    either sign included."""
    start, _ = _rows(dtype, seed=3)
    assert approach_kernel.negated_ends
    for widen in (None, (0.0, np.asarray(1e-3, dtype=dtype))):
        end = np.negative(start)
        scratch = np.empty_like(end)
        with np.errstate(over="ignore", invalid="ignore"):
            expected = approach_kernel(np, None, start, None, *([widen] if widen else []))
            approach_kernel.fused(end, None, scratch, *([widen] if widen else []))
        _same(end, expected.astype(dtype))


def test_host_zeros_are_read_only_zeros_of_the_size_and_dtype():
    a = host_zeros(5, np.float32)
    assert a.dtype == np.float32 and a.shape == (5,) and not a.any()
    assert host_zeros(5, np.float32) is a
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1.0
    b = host_zeros(7, np.float64)
    assert b.dtype == np.float64 and b.shape == (7,) and not b.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_value_and_evaluation_on_numpy_are_the_generic_mean(dtype, monkeypatch):
    """``value`` and ``evaluate`` on NumPy take the host losses: the generic code's mean
    of the losses, bit for bit (``value`` computes no gradient factor)."""
    from lfso.models import LogisticRegression, _compiled

    monkeypatch.setattr(_compiled, "ENABLED", False)  # (the compiled: tests/test_compiled.py)

    rng = np.random.default_rng(4)
    X = (3.0 * rng.standard_normal((3000, 4))).astype(dtype)
    model = LogisticRegression(X, rng.integers(0, 2, 3000))
    x = rng.standard_normal(4).astype(dtype)
    margins = model.signs * (X @ x)
    assert (margins < 0).any() and (margins > 0).any()
    with np.errstate(over="ignore"):
        expected = float(np.mean(_losses(np, margins, np.abs(margins))[0]))
        slope = _losses(np, margins, np.abs(margins))[1]
    assert model.value(x) == expected
    ev = model.evaluate(x, bound=False)
    assert ev.value == expected
    np.testing.assert_array_equal(ev.grad, X.T @ (-model.signs * slope) / 3000)
    losses, factor, _ = _host_losses(X @ x, -model.signs, False)
    assert factor is None and float(np.mean(losses)) == expected
