"""Segment bounds ``t -> C(x, d, t)``: sound along random segments, monotone, sharp.

Soundness is tested against the truth: the largest secant slope of the directional
derivative ``s -> grad f(x + s d) . d`` on a fine grid of ``[0, t]`` (a lower bound on the
curvature's supremum there, by the mean value theorem), computed in float64 even for
float32 models.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
from cases import MODELS, dim_of
from hypothesis import given, settings
from hypothesis import strategies as st

import lfso
from lfso.bench import get_problem
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    FunctionModel,
    L0L1Smooth,
    LogisticRegression,
    LpRegression,
    Model,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)
from lfso.models._segments import RowSegment
from lfso.oracles import SegmentBound
from lfso.steps import LFSOStep

Factory = Callable[[np.random.Generator, type], Model]


def _data(rng: np.random.Generator, dtype: type, n: int = 30, d: int = 4, spread: float = 1.0):
    A = rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, size=d) * spread
    b = rng.standard_normal(n)
    return A.astype(dtype), b.astype(dtype)


def _labels(rng: np.random.Generator, n: int, k: int = 2) -> np.ndarray:
    return rng.integers(0, k, n).astype(float if k == 2 else np.int64)


#: Built-in models in both precisions; ``spread`` scales the data (saturated margins).
BUILT_IN: dict[str, Factory] = {
    "power_norm-p1": lambda rng, dt: PowerNorm(1),
    "power_norm-p1.25": lambda rng, dt: PowerNorm(1.25),
    "power_norm-p1.7": lambda rng, dt: PowerNorm(1.7),
    "power_norm-p3": lambda rng, dt: PowerNorm(3),
    "power_sum-p1": lambda rng, dt: PowerSum(1),
    "power_sum-p1.3": lambda rng, dt: PowerSum(1.3),
    "power_sum-p2.5": lambda rng, dt: PowerSum(2.5),
    "lp-p1": lambda rng, dt: LpRegression(*_data(rng, dt), 1),
    "lp-p1.2": lambda rng, dt: LpRegression(*_data(rng, dt), 1.2),
    "lp-p1.5": lambda rng, dt: LpRegression(*_data(rng, dt), 1.5),
    "lp-p2": lambda rng, dt: LpRegression(*_data(rng, dt), 2),
    "lp-p3": lambda rng, dt: LpRegression(*_data(rng, dt), 3),
    "composite-p1": lambda rng, dt: CompositeLeastSquares(*_data(rng, dt), 1),
    "composite-p1.4": lambda rng, dt: CompositeLeastSquares(*_data(rng, dt), 1.4),
    "composite-p2": lambda rng, dt: CompositeLeastSquares(*_data(rng, dt), 2),
    "logistic": lambda rng, dt: LogisticRegression(
        _data(rng, dt)[0], _labels(rng, 30), l2=0.1, fit_intercept=True
    ),
    "logistic-saturated": lambda rng, dt: LogisticRegression(
        _data(rng, dt, spread=20.0)[0], _labels(rng, 30)
    ),
    "softmax": lambda rng, dt: SoftmaxRegression(
        _data(rng, dt)[0], _labels(rng, 30, 3), 3, l2=0.05
    ),
    "softmax-saturated": lambda rng, dt: SoftmaxRegression(
        _data(rng, dt, spread=20.0)[0], _labels(rng, 30, 4), 4
    ),
    "cauchy": lambda rng, dt: CauchyRegression(*_data(rng, dt), c=0.5, l2=0.01),
    "cauchy-wide": lambda rng, dt: CauchyRegression(*_data(rng, dt, spread=5.0), c=2.0),
    "l0l1-power_norm": lambda rng, dt: L0L1Smooth(PowerNorm(2), 12.0, 3.0),
}


def _directional(model: Model, x: np.ndarray, d: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.array([float(model.grad(x + si * d) @ d) for si in s])


def _largest_secant(model: Model, x: np.ndarray, d: np.ndarray, t: float, k: int = 400) -> float:
    """Largest slope of ``s -> grad f(x + s d) . d`` between neighbours of a grid of ``[0, t]``
    (a lower bound on the supremum of the curvature there); float64."""
    return _secant_and_noise(model, x, d, t, k)[0]


def _secant_and_noise(model, x, d, t, k=400):
    """The largest secant and its own rounding error (float64 differences of ``phi``)."""
    s = np.linspace(0.0, t, k + 1)
    phi = _directional(model, x, d, s)
    size = np.abs(model.grad(x)) @ np.abs(d) + np.max(np.abs(phi))
    return float(np.max(np.diff(phi) / np.diff(s))), 64 * 2.2e-16 * size * k / t


def _point(rng: np.random.Generator, dim: int, far: bool) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal(dim) * (30.0 if far else 1.0)
    d = rng.standard_normal(dim) * 10.0 ** rng.uniform(-1, 1)
    return x, d


def _pair(name: str, seed: int, dtype: type) -> tuple[Model, Model]:
    """The model in ``dtype`` and the same model (same numbers) in float64."""
    make = BUILT_IN[name]
    low = make(np.random.default_rng(seed), dtype)
    high = make(np.random.default_rng(seed), np.float64)
    if dtype is not np.float64:  # the float64 twin must see the float32 data exactly
        for attr in ("A", "X"):
            if hasattr(low, attr):
                setattr(high, attr, getattr(low, attr).astype(np.float64))
        if hasattr(low, "b"):
            high.b = low.b.astype(np.float64)
    return low, high


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_segments_radius_solve_names_a_nan_target(name):
    model = BUILT_IN[name](np.random.default_rng(0), np.float64)
    x, _ = _point(np.random.default_rng(1), dim_of(model, 5), False)
    ev = model.evaluate(x)
    for seg in (model.segment(x, ev, -ev.grad), Model.segment(model, x, ev, -ev.grad)):
        with pytest.raises(ValueError, match="target must be a number, got target=nan"):
            seg.radius_for(math.nan)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_segments_radius_solve_answers_an_infinite_target(name):
    """``R = inf`` (check_target's answer) or a PrecisionLimitError: never a step with an
    infinite curvature bound, nor a solve that runs out of rounds."""
    model = BUILT_IN[name](np.random.default_rng(0), np.float64)
    x, _ = _point(np.random.default_rng(1), dim_of(model, 5), False)
    ev = model.evaluate(x)
    seg = model.segment(x, ev, -ev.grad)
    try:
        t, _, _ = seg.radius_for(math.inf)
    except lfso.oracles.PrecisionLimitError as error:
        assert "not representable" in str(error) or "float range" in str(error)
    else:
        assert t == math.inf


@pytest.mark.parametrize(
    ("x", "d", "slope"),
    [([1e8, 1e8], [-1.0, -1.0], "-inf"), ([1e8, -1e8], [-1.0, 0.5], "nan")],
    ids=["minus-inf", "nan"],
)
def test_a_float32_gradient_past_the_float_range_is_named_by_the_step_solve(x, d, slope):
    A = np.array([[2.0, 1.0], [1.0, 3.0], [0.5, 1.0]], np.float32)
    model = LpRegression(A, np.zeros(3, np.float32), 5.0)
    x, d = np.array(x, np.float32), np.array(d, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        ev = model.evaluate(x)
        assert not np.all(np.isfinite(ev.grad))
        with pytest.raises(lfso.oracles.PrecisionLimitError, match=f"g . d = {slope} "):
            model.segment(x, ev, d).step_for(1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), far=st.booleans(), log_t=st.floats(-3, 1.5))
def test_segment_bounds_curvature_along_segment(name, dtype, seed, far, log_t):
    model, truth = _pair(name, seed, dtype)
    rng = np.random.default_rng(seed)
    x, d = _point(rng, dim_of(model, 5), far)
    x, d = x.astype(dtype), d.astype(dtype)
    ev = model.evaluate(x)
    seg = model.segment(x, ev, d)
    assert isinstance(seg, SegmentBound)
    t = 10.0**log_t
    bound = seg(t)
    if name.startswith("l0l1") and bound == math.inf:  # e^(L1 ||d|| t) past the float range
        return
    assert 0.0 < bound < math.inf
    x64, d64 = x.astype(np.float64), d.astype(np.float64)
    secant, noise = _secant_and_noise(truth, x64, d64, t)
    tol = 1e-12 if dtype is np.float64 else 1e-5
    # the bound is sound: no secant above it (up to the truth's own rounding)
    assert secant <= bound * (1.0 + tol) + noise
    # slope is g . d, from the same round trip
    g_d, size = float(ev.grad @ d), float(np.abs(ev.grad) @ np.abs(d))
    assert seg.slope == pytest.approx(g_d, rel=1e-5, abs=1e-5 * size)


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_t=st.floats(-3, 1))
def test_segment_bounds_of_every_oracle_and_the_calculus(name, seed, log_t):
    rng = np.random.default_rng(seed)
    model = MODELS[name](rng)
    x = rng.standard_normal(dim_of(model))
    d = rng.standard_normal(x.shape)
    seg = model.segment(x, model.evaluate(x), d)
    t = 10.0**log_t
    secant, noise = _secant_and_noise(model, x, d, t, k=200)
    assert secant <= seg(t) * (1.0 + 1e-12) + noise


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), far=st.booleans())
def test_segment_bound_is_positive_and_non_decreasing(name, dtype, seed, far):
    model, _ = _pair(name, seed, dtype)
    rng = np.random.default_rng(seed)
    x, d = _point(rng, dim_of(model, 5), far)
    x, d = x.astype(dtype), d.astype(dtype)
    seg = model.segment(x, model.evaluate(x), d)
    ts = np.concatenate([[0.0], np.sort(10.0 ** rng.uniform(-6, 3, size=15))])
    values = np.array([seg(t) for t in ts]) if not isinstance(seg, RowSegment) else None
    if values is None:
        values = np.array(seg.values(list(ts)))
    # positive, never NaN (+inf only past the float range of an exponential bound)
    assert np.all(values > 0) and not np.any(np.isnan(values))
    assert np.all(np.isfinite(values[ts <= 1.0])) or name.startswith("l0l1")
    assert np.all(values[1:] >= values[:-1] * (1.0 - seg.monotone_rtol))


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_t=st.floats(-3, 1), far=st.booleans())
def test_sharp_segment_is_never_above_the_ball_fallback(name, seed, log_t, far):
    model = BUILT_IN[name](np.random.default_rng(seed), np.float64)
    rng = np.random.default_rng(seed)
    x, d = _point(rng, dim_of(model, 5), far)
    ev = model.evaluate(x)
    t = 10.0**log_t
    sharp = model.segment(x, ev, d)(t)
    ball = Model.segment(model, x, ev, d)(t)
    assert sharp <= ball * (1.0 + 1e-9)


@pytest.mark.parametrize("name", ["lp-p2", "logistic", "softmax", "cauchy", "composite-p2"])
def test_product_is_the_linear_image_of_the_point_on_the_segment(name):
    model = BUILT_IN[name](np.random.default_rng(3), np.float64)
    assert "product" in model.extras
    rng = np.random.default_rng(4)
    x, d = _point(rng, dim_of(model), False)
    ev = model.evaluate(x)
    seg = model.segment(x, ev, d)
    t = 0.37
    direct = model.evaluate(x + t * d)
    carried = seg.product(t)
    np.testing.assert_allclose(carried.value, direct.product.value, rtol=1e-12, atol=1e-12)
    # its claimed drift covers its distance from the fresh product (rounding both)
    assert 0.0 < float(carried.drift) < 1e-10
    assert np.max(np.abs(carried.value - direct.product.value)) <= 2 * float(carried.drift)
    # ... and an evaluation given the product is the evaluation
    reused = model.evaluate(x + t * d, product=carried)
    assert reused.value == pytest.approx(direct.value, rel=1e-12)
    np.testing.assert_allclose(reused.grad, direct.grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_softmax_takes_the_first_top_class_as_argmax_does(k):
    """The softmax rows' reference class (the first of each row's largest logits), made
    by reductions along the classes' axis, is ``argmax``'s, ties included (at ``x = 0``
    every class ties); the logits are kept class by class, ``(tilde X W)^T``."""
    rng = np.random.default_rng(k)
    X = rng.standard_normal((40, 3))
    model = SoftmaxRegression(X, rng.integers(0, k, 40), k)
    x = rng.standard_normal(model.dim)
    W = x.reshape(model.n_features, k)
    np.testing.assert_allclose(model._logits(x), (model.X @ W).T, rtol=1e-13, atol=1e-13)
    for Z in (
        rng.standard_normal((k, 40)),
        np.zeros((k, 40)),
        np.round(rng.standard_normal((k, 40))),
    ):
        expected = np.zeros_like(Z)
        expected[Z.argmax(axis=0), np.arange(40)] = 1.0
        np.testing.assert_array_equal(model._top(Z), expected)
        peak = Z.max(axis=0, keepdims=True)
        np.testing.assert_array_equal(model._host_top(Z, peak), expected == 1.0)


def _bits(a) -> bytes:
    return np.asarray(a).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kernel_in_place_is_the_array_forms_bit_for_bit(dtype):
    """The softmax segment's kernel on NumPy rows (buffers made once, ``v2 e1`` only where
    ``v2 > 0``, no mask where every ``v2 > 0``) gives the array form's terms bit for bit:
    with ``v2 = 0`` where ``e1`` overflows (``0 * inf``: the array form's 0, not NaN), with
    NaN rows, several trials at once and called twice on one buffer."""
    from lfso.models._softmax import _variance_kernel

    rng = np.random.default_rng(7)
    K, n, k = 4, 50, 3
    r = -np.abs(rng.standard_normal((K, n, 1)) * 3).astype(dtype)
    u = (rng.standard_normal((K, n, 1)) * 40).astype(dtype)
    r[0], u[0] = 0.0, 0.0  # the reference class (Delta = delta = 0)
    e0 = np.exp(r)
    for zeros in (False, True):
        v2 = np.square(np.abs(u) + dtype(0.5)).astype(dtype)
        if zeros:
            v2[:2] = 0.0  # (an underflowed square: class 1's e1 overflows at t = 300)
            v2[2, :5] = np.nan
        t0 = np.sum(v2 * e0, axis=0)
        spread = (u.max(axis=0) - u.min(axis=0))[:, 0]
        popoviciu = (0.25 * spread * spread)[:, None]
        trials = np.array([0.01, 3.0, 300.0], dtype=dtype)  # (e1 overflows at 300)
        end = r + u * trials[None, None, :]
        widen = (dtype(0.0), (np.array([1e-6, 2e-6, 3e-6], dtype=dtype))[None, None, :])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            host = _variance_kernel(e0, v2, t0, popoviciu, True, K)
            array = _variance_kernel(e0, v2, t0, popoviciu, False, K)
            for ends in (end, end[:, :, :1], end):
                for extra in ((), (widen,) if ends.shape[2] == k else ()):
                    expected = array(np, r, ends, u, *extra)
                    got = host(np, r, ends, u, *extra)
                    assert got.dtype == expected.dtype
                    assert _bits(got) == _bits(expected)
        assert np.isnan(expected[5:]).sum() == 0  # (0 * inf is not NaN)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_numpy_path_is_the_array_forms_bit_for_bit(dtype):
    """On NumPy the softmax model makes its loss, gradient and segment in place, with the
    shifted logits and their exponentials kept from the evaluation for the segment at the
    point; the values are those of the array forms, which array_api_strict runs through the
    same NumPy functions, bit for bit: at a point with tied and saturated rows, along the
    negative gradient and along a float32 direction so short that the squares of its
    smallest changes underflow, for one trial and a batch, and from an evaluation whose
    kept rows were taken (the segment then makes them again)."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(11)
    X = np.round(rng.standard_normal((60, 3)) * 2).astype(dtype)
    X[:10] *= 30.0  # saturated rows
    y = rng.integers(0, 4, 60)
    host = SoftmaxRegression(X, y, 4, l2=0.01)
    twin = SoftmaxRegression(xps.asarray(X), xps.asarray(y), 4, l2=0.01)
    x = np.round(rng.standard_normal(host.dim)).astype(dtype)
    x[:4] = 0.0  # (ties between the classes' logits)
    assert host.value(x) == twin.value(xps.asarray(x))
    for bound in (False, True):
        ev, ev_twin = host.evaluate(x, bound=bound), twin.evaluate(xps.asarray(x), bound=bound)
        assert ev.value == ev_twin.value and ev.grad_norm == ev_twin.grad_norm
        assert _bits(ev.grad) == _bits(ev_twin.grad)
    tiny = (rng.standard_normal(host.dim) * 1e-21).astype(dtype)
    for d in (-ev.grad, tiny):
        for kept in (True, False):
            ev = host.evaluate(x)
            if not kept:
                ev.product.rows = None
            seg = host.segment(x, ev, d)
            twin_seg = twin.segment(xps.asarray(x), twin.evaluate(xps.asarray(x)), xps.asarray(d))
            assert ev.product.rows is None  # (taken by the segment)
            for trials in ([0.5], [1e-3, 2.0, 40.0]):
                seg._cache.clear(), twin_seg._cache.clear()
                assert seg.values(trials) == twin_seg.values(trials)


@pytest.mark.parametrize("name", ["softmax", "cauchy"])
def test_a_large_batch_of_trials_is_summed_in_chunks(name, monkeypatch):
    """On the accelerator's path a batch of trial steps whose arrays would hold more than
    ``_BATCH_ELEMENTS`` elements each is summed in chunks of trials: no array the batch
    makes is larger (counted by PyTorch's dispatch), and the sums are the whole batch's up
    to the order of the rows' sums; a run with chunked batches takes the same steps to
    rounding."""
    torch = pytest.importorskip("torch")
    from torch.utils._python_dispatch import TorchDispatchMode

    from lfso.bench import cpu_as_accelerator
    from lfso.models import _segments

    class Largest(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            for value in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(value, torch.Tensor):
                    self.numel = max(self.numel, value.numel())
            return out

    rng = np.random.default_rng(3)
    A = torch.tensor(rng.standard_normal((200, 4)))
    b = A @ torch.ones(4, dtype=A.dtype) + 0.3 * torch.tensor(rng.standard_normal(200))
    if name == "softmax":
        model = SoftmaxRegression(A, (b > -0.5) * 1 + (b > 0.5) * 1, 3, l2=0.01)
    else:
        model = CauchyRegression(A, b, c=0.5)
    x = torch.tensor(rng.standard_normal(model.dim) * 0.3)
    trials = torch.tensor([1e-3 * 4.0**j for j in range(13)], dtype=A.dtype)
    with cpu_as_accelerator():
        ev = model.evaluate(x)
        seg = model.segment(x, ev, -ev.grad)
        size = math.prod(seg.r.shape)
        whole, largest = Largest(), Largest()
        with whole:
            expected = seg._device_values(trials)
        monkeypatch.setattr(_segments, "_BATCH_ELEMENTS", 3 * size)
        with largest:
            got = seg._device_values(trials)
        assert whole.numel >= 13 * size and largest.numel <= 3 * size
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-13)
        chunked = lfso.minimize(model, torch.zeros(model.dim, dtype=A.dtype), tol=0, max_iter=15)
        monkeypatch.undo()
        ref = lfso.minimize(model, torch.zeros(model.dim, dtype=A.dtype), tol=0, max_iter=15)
    np.testing.assert_allclose(chunked.x.numpy(), ref.x.numpy(), rtol=1e-9, atol=1e-12)
    assert chunked.nit == ref.nit == 15


def test_models_without_a_product_return_none():
    x = np.ones(3)
    for model in (PowerNorm(2), PowerSum(2), L0L1Smooth(PowerNorm(2), 12.0, 3.0)):
        assert "product" not in model.extras
        assert model.segment(x, model.evaluate(x), -x).product(0.5) is None


@pytest.mark.parametrize("name", ["lp-p2", "logistic", "softmax", "cauchy", "power_norm-p1.7"])
def test_ball_default_along_minus_gradient_is_the_tight_lfso_step(name):
    model = BUILT_IN[name](np.random.default_rng(5), np.float64)
    x = np.random.default_rng(6).standard_normal(dim_of(model, 5))
    ev = model.evaluate(x)
    rule = LFSOStep(radius_rtol=1e-10, certificate="ball")
    move, _ = rule.step(model, x, ev, rule.init(model, x, ev))
    seg = Model.segment(model, x, ev, -ev.grad)
    assert seg.slope == pytest.approx(-(ev.grad_norm**2), rel=1e-12)
    t, curvature, _ = seg.step_for(1.0, rtol=1e-10)
    step = ev.grad_norm**2 / curvature
    assert t * curvature >= ev.grad_norm**2 * (1 - 1e-12)
    np.testing.assert_allclose(x - step * ev.grad, move.x, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@pytest.mark.parametrize("rtol", [1e-3, 1e-1])
@pytest.mark.parametrize("guess", [0.3, None])
@pytest.mark.parametrize("sequential", [True, False], ids=["sequential", "batches"])
def test_step_solve_is_feasible_and_within_rtol_of_the_root(name, rtol, guess, sequential):
    model = BUILT_IN[name](np.random.default_rng(7), np.float64)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(dim_of(model, 5))
    ev = model.evaluate(x)
    d = -ev.grad + 0.3 * np.linalg.norm(ev.grad) * rng.standard_normal(x.shape) / math.sqrt(x.size)
    seg = model.segment(x, ev, d)
    if hasattr(seg, "sequential"):
        seg.sequential = sequential
    target = -seg.slope
    assert target > 0.0
    t, curvature, _ = seg.step_for(1.0, rtol=rtol, guess=guess)
    assert curvature >= seg(t) * (1 - 1e-12)  # bounds the curvature on [0, t]
    assert t * curvature >= target * (1 - 1e-12)  # feasible: the step stays in [0, t]
    # the largest certified step is t* with t* C(t*) = target; the solve's step is within rtol
    lo, hi = 0.0, t
    while hi * seg(hi) < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if mid * seg(mid) >= target else (mid, hi)
    best = target / seg(hi)
    assert target / curvature >= best / (1.0 + rtol) * (1 - 1e-9)


@pytest.mark.parametrize("name", ["logistic", "softmax", "lp-p2", "cauchy"])
def test_row_segment_solves_in_few_round_trips(name):
    model = BUILT_IN[name](np.random.default_rng(9), np.float64)
    x = np.random.default_rng(10).standard_normal(dim_of(model, 5))
    ev = model.evaluate(x)
    seg = model.segment(x, ev, -ev.grad)
    seg.sequential = False  # batches: the solve on an accelerator (a round trip per round)
    t, _, _ = seg.step_for(1.0, rtol=1e-3)
    first = seg.round_trips
    # with the last step as the guess, the same solve at a nearby point is one round trip
    seg2 = model.segment(x, ev, -ev.grad)
    seg2.sequential = False
    seg2.step_for(1.0, rtol=0.05, guess=t)
    assert seg2.round_trips == 1
    assert first <= 4


@pytest.mark.parametrize("name", ["logistic", "softmax", "lp-p2", "cauchy"])
def test_sequential_row_segment_solve_tries_few_steps(name):
    # NumPy rows: one trial step at a time (a pass each, no round trip to save)
    model = BUILT_IN[name](np.random.default_rng(9), np.float64)
    x = np.random.default_rng(10).standard_normal(dim_of(model, 5))
    ev = model.evaluate(x)
    seg = model.segment(x, ev, -ev.grad)
    assert seg.sequential
    t, curvature, cold = seg.step_for(1.0, rtol=1e-3)
    batched = model.segment(x, ev, -ev.grad)
    batched.sequential = False
    _, curvature_b, cold_b = batched.step_for(1.0, rtol=1e-3)
    assert len(seg._cache) == cold < cold_b / 2
    # both steps are within rtol of the largest certified step, so of each other
    assert abs(curvature / curvature_b - 1.0) <= 2.1e-3
    # from a guess 30% off: the guess, target / C(guess) (the root, were C flat), and a
    # few secant steps where C is not flat (lp-p2's C is quadratic in t: two)
    seg2 = model.segment(x, ev, -ev.grad)
    _, _, warm = seg2.step_for(1.0, rtol=0.05, guess=1.3 * t)
    assert warm <= (2 if name == "lp-p2" else 5)
    assert len(seg2._cache) == warm


def test_descent_lemma_holds_at_the_certified_step():
    # f(x + tau d) <= f(x) - eta (1 - eta/2) (g.d)^2 / C on every built-in model
    for name, make in BUILT_IN.items():
        model = make(np.random.default_rng(11), np.float64)
        rng = np.random.default_rng(12)
        x, d = _point(rng, dim_of(model, 5), False)
        ev = model.evaluate(x)
        if float(ev.grad @ d) >= 0:
            d = -d
        seg = model.segment(x, ev, d)
        for eta in (0.5, 1.0, 1.9):
            _, curvature, _ = seg.step_for(eta)
            tau = eta * -seg.slope / curvature
            decrease = eta * (1 - eta / 2) * seg.slope**2 / curvature
            assert model.value(x + tau * d) <= ev.value - decrease * (1 - 1e-9) + 1e-12, name


def test_calculus_segment_is_exact_through_an_affine_map():
    rng = np.random.default_rng(13)
    A, b = rng.standard_normal((6, 4)), rng.standard_normal(6)
    oracle = lfso.oracles.ridge(lfso.oracles.AffineOracle(PowerNorm(2), A, b) * 0.5, 0.3)
    x, d = rng.standard_normal(4), rng.standard_normal(4)
    seg = oracle.along(x, d)
    inner = PowerNorm(2).segment(A @ x + b, PowerNorm(2).evaluate(A @ x + b), A @ d)
    for t in (0.0, 0.1, 1.0, 10.0):
        assert seg(t) == pytest.approx(0.5 * inner(t) + 0.3 * float(d @ d), rel=1e-12)
        ball = oracle.at(x).stretched(np.linalg.norm(d))(t) * float(d @ d)
        assert seg(t) <= ball * (1 + 1e-12)
    model = FunctionModel(lambda z: 0.0, lambda z: 0 * z, oracle)
    assert model.segment(x, model.evaluate(x), d)(1.0) == pytest.approx(seg(1.0))


def test_plain_callable_oracle_keeps_the_ball_fallback():
    model = FunctionModel(lambda z: float(z @ z), lambda z: 2 * z, lambda z, r: 2.0 + r)
    x, d = np.ones(3), -np.ones(3)
    seg = model.segment(x, model.evaluate(x), d)
    assert seg(2.0) == pytest.approx((2.0 + 2.0 * math.sqrt(3)) * 3.0)
    assert seg.slope == pytest.approx(-6.0)


def test_segment_needs_a_bound_for_the_ball_fallback():
    model = FunctionModel(lambda z: float(z @ z), lambda z: 2 * z, lambda z, r: 2.0)
    x = np.ones(2)
    with pytest.raises(ValueError, match="bound=True"):
        model.segment(x, model.evaluate(x, bound=False), -x)


def test_power_norm_segment_is_the_exact_supremum():
    # h(s) = ||x + s d||^(2p): the bound equals h'' at the far endpoint, which the secants reach
    model = PowerNorm(1.5)
    x, d = np.array([1.0, -2.0, 0.5]), np.array([-0.5, 1.0, 0.2])
    seg = model.segment(x, model.evaluate(x), d)
    for t in (0.5, 2.0, 8.0):
        secant = _largest_secant(model, x, d, t, k=4000)
        assert secant == pytest.approx(seg(t), rel=2e-3)


# -- other array libraries: the same steps as NumPy, products included -----------------------


def _lib_models(asarray):
    rng = np.random.default_rng(20)
    A = rng.standard_normal((40, 6))
    b = A @ np.ones(6) + 0.1 * rng.standard_normal(40)
    y = (b > np.median(b)).astype(float)
    classes = np.digitize(b, np.quantile(b, [1 / 3, 2 / 3]))
    return {
        "power_norm": (PowerNorm(1.5), 6),
        "power_sum": (PowerSum(2.5), 6),
        "lp-p2": (LpRegression(asarray(A), asarray(b), 2), 6),
        "lp-p1": (LpRegression(asarray(A), asarray(b), 1), 6),
        "composite": (CompositeLeastSquares(asarray(A), asarray(b), 1.5), 6),
        "logistic": (LogisticRegression(asarray(A), asarray(y), l2=0.05, fit_intercept=True), 7),
        "softmax": (SoftmaxRegression(asarray(A), asarray(classes), 3, l2=0.05), 21),
        "cauchy": (CauchyRegression(asarray(A), asarray(b), c=0.5, l2=0.01), 6),
    }


def _segment_descent(model, x, to_host, iters=6, sequential=None):
    """Certified steps along a fixed non-gradient direction mix, reusing the products;
    ``sequential`` forces row segments' solve (one trial at a time, or batches)."""
    ev = model.evaluate(x)
    values = [ev.value]
    guess = None
    for k in range(iters):
        d = -ev.grad * (1.0 + 0.5 * (k % 2))  # a direction other than -g's scale
        seg = model.segment(x, ev, d)
        if sequential is not None and hasattr(seg, "sequential"):
            seg.sequential = sequential
        t, curvature, _ = seg.step_for(1.0, guess=guess)
        tau = -seg.slope / curvature
        assert tau <= t * (1 + 1e-12)
        guess = t
        x = x + tau * d
        product = seg.product(tau)
        assert (product is not None) == ("product" in model.extras)
        ev = model.evaluate(x, product=product) if product is not None else model.evaluate(x)
        values.append(ev.value)
    assert all(b <= a for a, b in itertools.pairwise(values))
    return to_host(x), values


@pytest.mark.parametrize("sequential", [False, True], ids=["batches", "sequential"])
@pytest.mark.parametrize("lib", ["torch", "torch-float32", "array_api_strict", "dask"])
@pytest.mark.parametrize(
    "name",
    ["power_norm", "power_sum", "lp-p2", "lp-p1", "composite", "logistic", "softmax", "cauchy"],
)
def test_segment_steps_match_numpy_on_other_array_libraries(lib, name, sequential):
    if lib.startswith("torch"):
        torch = pytest.importorskip("torch")
        dtype = torch.float32 if lib.endswith("float32") else torch.float64

        def asarray(a):
            return torch.asarray(np.asarray(a), dtype=dtype if a.dtype.kind == "f" else None)

        def to_host(x):
            return x.detach().cpu().numpy().astype(np.float64)
    elif lib == "array_api_strict":
        xps = pytest.importorskip("array_api_strict")
        device = xps.Device("device1")

        def asarray(a):
            return xps.asarray(np.asarray(a), device=device)

        def to_host(x):
            return np.asarray(x.to_device(xps.Device("CPU_DEVICE")))
    else:
        da = pytest.importorskip("dask.array")

        def asarray(a):
            return da.from_array(np.asarray(a), chunks=10)

        def to_host(x):
            return np.asarray(x)

    model, dim = _lib_models(asarray)[name]
    ref_model, _ = _lib_models(np.asarray)[name]
    x0 = np.linspace(0.5, 1.5, dim)
    ref, ref_values = _segment_descent(ref_model, x0, np.asarray, sequential=sequential)
    start = asarray(x0)
    got, values = _segment_descent(model, start, to_host, sequential=sequential)
    rtol = 1e-10 if lib != "torch-float32" else 2e-3
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(values, ref_values, rtol=rtol)


@pytest.mark.parametrize("lib", ["numpy", "torch", "torch-float32"])
@pytest.mark.parametrize("name", sorted(_lib_models(np.asarray)))
def test_device_step_is_certified_without_a_round_trip(lib, name):
    asarray, tol = np.asarray, 1e-12
    if lib.startswith("torch"):
        torch = pytest.importorskip("torch")
        dtype = torch.float32 if lib.endswith("float32") else torch.float64
        tol = 1e-5 if lib.endswith("float32") else 1e-12

        def asarray(a):
            return torch.asarray(np.asarray(a), dtype=dtype if a.dtype.kind == "f" else None)

    model, dim = _lib_models(asarray)[name]
    x = asarray(np.random.default_rng(15).standard_normal(dim))
    ev = model.evaluate(x)
    d = -ev.grad
    seg = model.segment(x, ev, d)
    if lib.startswith("torch"):  # (round trips are counted on PyTorch tensors)
        from lfso.bench import count_host_syncs

        # (the device's constants are made once per process, by a first step: not counted)
        model.segment(x, ev, d).device_step(1.0)
        with count_host_syncs() as counts:
            tau, bound = seg.device_step(1.0)
        assert sum(counts.values()) == 0
    else:
        tau, bound = seg.device_step(1.0)
    tau, bound = float(tau), float(bound)
    target = -float(ev.grad @ d)
    host = model.segment(x, ev, d)
    assert tau * bound <= target * (1 + tol)  # the descent lemma's condition
    assert bound >= host(tau) * (1 - tol)  # a bound on [0, tau]
    t_best, c_best, _ = host.radius_for(target, rtol=1e-9)
    # with the optimum as the guess the grid brackets it: within its spacing (5%)
    best = target / c_best
    t2, _ = model.segment(x, ev, d).device_step(1.0, guess=t_best)
    assert float(t2) >= best / 1.06
    assert float(t2) <= best * (1 + max(tol, 1e-9))


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_device_step_without_a_guess_reaches_a_root_far_past_its_first_batch(p):
    """Rows and residuals of size 1e-10: along ``-g`` the largest certified step is 2e27
    (``p = 1.5``) to 1e55 (``p = 3``), far past the first batch's ``2^40``. No trial of
    that batch is feasible, so the second one also tries ``target / max C(t_j)``, an upper
    bound on the root: the step is within 1% of the host solve's (a second batch only a
    factor 4 past the first takes 3.6e12), and certified."""
    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((20, 3)) * 1e-10, rng.standard_normal(20) * 1e-10
    model = lfso.models.LpRegression(A, b, p)
    x = np.ones(3)
    ev = model.evaluate(x)
    d = -ev.grad
    target = -float(ev.grad @ d)
    _, c_best, _ = model.segment(x, ev, d).radius_for(target, rtol=1e-9)
    seg = model.segment(x, ev, d)
    tau, bound = (float(v) for v in seg.device_step(1.0))
    assert tau >= 0.99 * target / c_best, (tau, target / c_best)
    assert tau * bound <= target * (1 + 1e-12)  # the descent lemma's condition
    assert bound >= seg(tau) * (1 - 1e-12)  # a bound on [0, tau]


def test_device_step_is_zero_along_an_ascent_direction():
    model = BUILT_IN["logistic"](np.random.default_rng(16), np.float64)
    x = np.zeros(model.dim)
    ev = model.evaluate(x)
    tau, _ = model.segment(x, ev, ev.grad).device_step(1.0)
    assert float(tau) == 0.0


#: docs/segments.md, the page of the segment bounds and their measured tables.
SEGMENTS_DOC = Path(__file__).resolve().parents[1] / "docs" / "segments.md"


def _doc_table(command: str) -> dict[str, list[str]]:
    """The table docs/segments.md prints below ``Command: `python benchmarks/COMMAND```:
    problem -> the row's other cells."""
    text = SEGMENTS_DOC.read_text().split(f"`python benchmarks/{command}`", 1)[1]
    table = text.split("```\n", 2)[1]
    rows = [line.split() for line in table.splitlines()[1:]]
    return {row[0]: row[1:] for row in rows}


def test_sharpness_script_reports_longer_sharp_steps():
    from scripts import BENCHMARKS, run_script

    names = ["lp_regression-p2-diabetes", "composite_ls-p2-n100", "power_sum-p3-lin"]
    out = run_script(BENCHMARKS / "segment_sharpness.py", *names, "--at", "0", "10").stdout
    rows = [line.split() for line in out.splitlines()[3:]]
    assert [r[0] for r in rows] == names
    documented = _doc_table("segment_sharpness.py")
    for row in rows:
        ratios = [float(v) for v in row[1::2]]
        trips = [int(v.strip("()")) for v in row[2::2]]
        assert len(ratios) == 2 and all(r >= 1.0 for r in ratios)  # sharp never shorter
        assert all(1 <= k <= 6 for k in trips)
        # the page's first two columns (iterations 0 and 10) are what the script prints
        assert row[1:] == documented[row[0]][:4], (row, documented[row[0]])


def test_segments_doc_quotes_the_methods_solve_tolerances():
    """docs/segments.md's sentence on the library's ``radius_rtol`` of ``lfso-lbfgs`` and
    ``lfso`` gives the registry's defaults."""
    import re

    prose = " ".join(SEGMENTS_DOC.read_text().split())
    m = re.search(
        r"`lfso-lbfgs` takes `radius_rtol=([\d.e-]+)` and `lfso` keeps `radius_rtol=([\d.e-]+)`",
        prose,
    )
    assert m, "docs/segments.md no longer states the methods' solve tolerances"
    for method, quoted in (("lfso-lbfgs", m[1]), ("lfso", m[2])):
        assert float(quoted) == lfso.METHODS[method].options["radius_rtol"].default, method


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_segment_bound_far_out_is_never_nan(name, dtype):
    model, _ = _pair(name, 17, dtype)
    rng = np.random.default_rng(18)
    x, d = _point(rng, dim_of(model, 5), True)
    x, d = x.astype(dtype), d.astype(dtype)
    seg = model.segment(x, model.evaluate(x), d)
    for t in (1e10, 1e30, 1e100, 1e250):
        value = seg(t)
        assert value > 0.0 and not math.isnan(value)  # +inf allowed: no finite bound there


def test_segment_solve_script_converges_monotonically():
    from scripts import BENCHMARKS, run_script

    names = ["power_sum-p3-lin", "lp_regression-p2-diabetes"]
    # (run_script raises if the script does: it raises if f ever rose)
    out = run_script(BENCHMARKS / "segment_solve.py", *names, "--rtol", "0.1").stdout
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [r[0] for r in rows] == names
    for row in rows:
        iters, trips, device_iters = int(row[1]), float(row[2].strip("()")), int(row[3])
        assert 0 < iters < 200 and 1.0 <= trips <= 3.0 and 0 < device_iters < 200


def test_calculus_segment_slope_is_the_models_own():
    # an oracle through a model (here ||A x||^4) only bounds the curvature of a different f
    rng = np.random.default_rng(19)
    A = rng.standard_normal((5, 3))
    oracle = lfso.oracles.AffineOracle(PowerNorm(2), A)
    model = FunctionModel(lambda z: 0.1 * float(z @ z), lambda z: 0.2 * z, oracle)
    x, d = rng.standard_normal(3), rng.standard_normal(3)
    seg = model.segment(x, model.evaluate(x), d)
    assert seg.slope == pytest.approx(0.2 * float(x @ d))
    assert seg.product(0.5) is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_numpy_trials_equal_the_generic_kernels_bit_for_bit(dtype, monkeypatch):
    """The in-place NumPy path of the row segments (power, logistic and Cauchy kernels)
    gives the generic kernels' sums exactly, so the iterates do not change."""
    from lfso.models import _compiled
    from lfso.models._segments import (
        RowSegment,
        approach,
        approach_kernel,
        cauchy_kernel,
        power_kernel,
    )

    monkeypatch.setattr(_compiled, "ENABLED", False)  # (the compiled: tests/test_compiled.py)

    rng = np.random.default_rng(1)
    trials = [0.0, 1e-3, 0.25, 0.7, 1.0, 1.4, 4.0, 1e30]
    for n in (1, 7, 5000):
        r = (3 * rng.standard_normal(n)).astype(dtype)
        u = rng.standard_normal(n).astype(dtype)
        cases = [(power_kernel(m, c), r, u) for m, c in ((2.0, 12.0), (3.5, 2.5), (1.0, 1.0))]
        cases.append((approach_kernel, *approach(np, r, u)))
        unit = float(np.finfo(dtype).eps) / 2  # (the Cauchy kernel's widening, and none)
        cases += [(cauchy_kernel(0.3, unit), r, u), (cauchy_kernel(1.0), r, u)]
        for kernel, start, speed in cases:
            assert kernel.fused is not None

            def generic(xp, s, e, v, *slack, kernel=kernel):
                return kernel(xp, s, e, v, *slack)

            for weight in (speed * speed, None):
                for slack in (None, (dtype(1e-3), np.asarray(2e-4, dtype=dtype))):
                    with np.errstate(over="ignore"):
                        fast = RowSegment(
                            start, speed, kernel, weight=weight, scale=1.0, slack=slack
                        )
                        slow = RowSegment(
                            start, speed, generic, weight=weight, scale=1.0, slack=slack
                        )
                        a, b = fast._device_values(trials), slow._device_values(trials)
                    assert a.dtype == b.dtype == dtype
                    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_trial_path_equals_the_fused_trials_bit_for_bit(dtype, monkeypatch):
    """The sequential solve's one-trial path (the buffers and kernel form settled once per
    segment) sums what the fused path sums for ``[t]``, on NumPy rows and on views of
    PyTorch CPU tensors, with and without the rows' slack."""
    from lfso.models import _compiled
    from lfso.models._segments import (
        RowSegment,
        approach,
        approach_kernel,
        cauchy_kernel,
        power_kernel,
    )

    monkeypatch.setattr(_compiled, "ENABLED", False)  # (the compiled: tests/test_compiled.py)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for n in (1, 7, 3000):
        r = (3 * rng.standard_normal(n)).astype(dtype)
        u = rng.standard_normal(n).astype(dtype)
        cases = [(power_kernel(m, c), r, u) for m, c in ((2.0, 12.0), (3.0, 30.0), (2.5, 3.0))]
        cases.append((approach_kernel, *approach(np, r, u)))
        cases.append((cauchy_kernel(0.3, float(np.finfo(dtype).eps) / 2), r, u))
        for (kernel, start, speed), slack in itertools.product(cases, (None, (1e-3, 2e-4))):
            for wrap in (np.asarray, torch.from_numpy):
                rows = wrap(start), wrap(speed)
                weight = rows[1] * rows[1]
                seg = RowSegment(*rows, kernel, weight=weight, scale=1.0, slack=slack)
                single = seg._single_trial()
                assert single is not None
                for t in (0.0, 1e-3, 0.7, 4.0, 1e30):
                    with np.errstate(over="ignore"):
                        a, b = single(t), float(seg._fused_values(kernel.fused, [t])[0])
                    assert a == b or (math.isnan(a) and math.isnan(b))


def test_fused_trials_past_the_kept_workspace_are_the_same(monkeypatch):
    """Above the kept buffer size the trial buffers are fresh per call: the same sums."""
    import lfso.models._segments as segments

    monkeypatch.setattr(segments._compiled, "ENABLED", False)  # (NumPy's workspace)
    rng = np.random.default_rng(2)
    r, u = rng.standard_normal(300), rng.standard_normal(300)
    kernel = segments.power_kernel(2.0, 12.0)
    trials = [0.0, 0.5, 1.0, 2.0]
    kept = segments.RowSegment(r, u, kernel, weight=u * u, scale=1.0)._device_values(trials)
    monkeypatch.setattr(segments, "_KEEP", 10)
    fresh = segments.RowSegment(r, u, kernel, weight=u * u, scale=1.0)._device_values(trials)
    np.testing.assert_array_equal(kept, fresh)


def test_row_segments_solve_sequentially_in_host_memory_only():
    from lfso.models._segments import _in_host_memory

    class Device:
        def __init__(self, kind):
            self.type = kind

    class OnDevice:
        def __init__(self, kind):
            self.device = Device(kind)

    assert _in_host_memory(np.zeros(3))
    assert _in_host_memory(OnDevice("cpu"))
    assert not _in_host_memory(OnDevice("cuda"))
    assert not _in_host_memory(OnDevice("mps"))
    torch = pytest.importorskip("torch")
    assert _in_host_memory(torch.zeros(3))


def test_sequential_solve_climbs_out_of_the_floor_in_few_trials():
    # Cauchy's C is at its positive floor where the curvature along the segment is negative:
    # from t = 0, target / C(0) is astronomically far; the solve steps up from the bracket's
    # low end (8x first) instead of bisecting ~500 decades
    model, x0 = get_problem("robust-cauchy").make()
    ev = model.evaluate(x0)
    seg = model.segment(x0, ev, -ev.grad)
    assert seg(0.0) < 1e-300  # the floor
    t, curvature, trials = seg.step_for(1.0, rtol=1e-3)
    assert trials <= 10
    assert t * curvature >= -seg.slope * (1 - 1e-12)
    assert seg(t) <= curvature * (1 + 1e-12)


@pytest.mark.parametrize("jump", [1e3, 1e100, 1e200])
def test_sequential_solve_finds_a_root_hundreds_of_decades_up(jump):
    # C(t) at the floor until t u passes `jump`, then 4: the root is at `jump`. The solve
    # gallops up from the bracket's low end (8x, 64x, 8^4 x, ...) and must neither stop
    # short (the bracket's middle once overflowed to inf here) nor run out of rounds.
    def kernel(xp, start, end, u):
        return xp.where(end > jump, 1.0, 0.0)

    seg = RowSegment(
        np.zeros(4), np.ones(4), kernel, weight=None, scale=1.0, slope=np.asarray(-1.0)
    )
    t, curvature, trials = seg.step_for(1.0, rtol=1e-3)
    step = 1.0 / curvature  # eta (-g . d) / C
    assert step <= t * (1 + 1e-12)
    assert seg(t) <= curvature * (1 + 1e-12)
    assert step >= jump / (1 + 1e-3) * (1 - 1e-9)  # within rtol of the largest (t* = jump)
    assert trials <= 40


@pytest.mark.parametrize(
    ("name", "q"), [("power_norm-p5", 10), ("power_sum-p5", 10), ("power_norm-p4-lin", 8)]
)
@pytest.mark.parametrize("eta", [1.0, 1.99])
def test_segment_gd_takes_the_fewest_gradients_any_certified_step_can(name, q, eta):
    # On these problems steepest descent stays on the line through x0 and x* (grid-tuned GD
    # lands on x* in one step), where f = c tau^q. Any certified step moves at most
    # eta / (q - 1) of the way to x* (docs/results.md, "Where LFSO loses"), so ||g|| falls
    # at most by (1 - eta/(q-1))^(q-1) per step: the segment certificate, exact at the
    # step's start here, must reach the tolerance in exactly that many steps.
    factor = (1.0 - eta / (q - 1)) ** (q - 1)
    fewest = math.ceil(math.log(1e-8) / math.log(factor)) + 1  # steps, plus the gradient at x0
    model, x0 = get_problem(name).make()
    result = lfso.minimize(model, x0, method="lfso", eta=eta, tol=1e-8)
    assert result.success
    assert result.njev == fewest


@pytest.mark.parametrize("scale", [1.0, 1e-70, 1e70, 1e-90, 1e90, 1e-110, 1e110])
@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_path_bound_summed_plainly_in_range_matches_the_normalised_one(p, scale):
    """On the host in float64, ``NormPathSegment.along`` sums ``||y||^2``, ``y . v`` and
    ``||v||^2`` as they are while they lie in ``[1e-150, 1e150]``, and normalises by the
    vectors' maxima otherwise (scales 1e-90 and beyond put the sums outside): either way
    ``C(t)`` is the same bound, to the host's rounding, and above the exact curvature
    ``2p ||q||^(2p-4) ((2p-2) (q . v)^2 + ||q||^2 ||v||^2)``, ``q = y + s v``, in mpmath
    at points of the segment."""
    from lfso.models._segments import NormPathSegment

    rng = np.random.default_rng(7)
    y, v = rng.standard_normal(50) * scale, rng.standard_normal(50) * scale
    plain = NormPathSegment.along(p, 1.0, y, v)
    # the same sums, normalised by hand (what the bound reads outside the range)
    ym, vm = float(np.abs(y).max()), float(np.abs(v).max())
    ys, vs = y / ym, v / vm
    scaled = NormPathSegment(
        p,
        1.0,
        ys @ ys,
        ys @ vs,
        vs @ vs,
        terms=50,
        dtype_eps=float(np.finfo(float).eps),
        norms=(ym, vm),
    )
    in_range = 1e-150 <= float(y @ y) <= 1e150 and 1e-150 <= float(v @ v) <= 1e150
    assert (plain._norms is None) == in_range
    for t in (0.0, 0.1, 1.0, 10.0):
        assert plain(t) == pytest.approx(scaled(t), rel=1e-9)
        # exact d^2/ds^2 of ||y + s v||^(2p) at points of [0, t], in mpmath (50 digits)
        for s in np.linspace(0.0, t, 5):
            with mpmath.workdps(50):
                q = [
                    mpmath.mpf(a) + mpmath.mpf(float(s)) * mpmath.mpf(b)
                    for a, b in zip(y, v, strict=True)
                ]
                w = [mpmath.mpf(b) for b in v]
                qq = mpmath.fsum(a * a for a in q)
                qv = mpmath.fsum(a * b for a, b in zip(q, w, strict=True))
                vv = mpmath.fsum(b * b for b in w)
                second = 2 * p * qq ** (p - 2) * ((2 * p - 2) * qv * qv + qq * vv)
                log_exact = float(mpmath.log(second))
            assert log_exact <= math.log(plain(t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [3.0, 4.0, 2.5])
def test_row_power_sum_covers_its_rounding_for_powers_by_multiplication(m, dtype):
    """The power kernel takes ``b^3`` and ``b^4`` by multiplications (``pow`` otherwise):
    the row segment's ``C(t)`` still bounds the exact ``sum_i w_i coef max(|r_i|, |r_i +
    t u_i|)^m`` (mpmath, from the float inputs), over rows of widely spread magnitudes."""
    from lfso.models._segments import power_kernel

    rng = np.random.default_rng(int(m * 10) + (dtype == np.float32))
    coef = 12.0
    for _ in range(20):
        n = int(rng.integers(1, 30))
        mag = 10.0 ** rng.uniform(-6, 6, n)
        r = (rng.standard_normal(n) * mag).astype(dtype)
        u = (rng.standard_normal(n) * mag).astype(dtype)
        w = (rng.uniform(0.1, 2.0, n)).astype(dtype)
        bound = RowSegment(r, u, power_kernel(m, coef), weight=w, scale=1.0)
        for t in (0.0, 1e-3, 0.37, 1.0, 3.1):
            with mpmath.workdps(60):
                exact = mpmath.fsum(
                    mpmath.mpf(float(wi))
                    * coef
                    * max(
                        abs(mpmath.mpf(float(ri))),
                        abs(mpmath.mpf(float(ri)) + mpmath.mpf(t) * mpmath.mpf(float(ui))),
                    )
                    ** mpmath.mpf(m)
                    for ri, ui, wi in zip(r, u, w, strict=True)
                )
                assert exact <= mpmath.mpf(bound(t)), (n, t)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kernel", ["power-m2", "power-m2.5", "approach"])
def test_cpu_tensor_rows_are_solved_on_numpy_views_bit_for_bit(kernel, dtype, monkeypatch):
    """On PyTorch CPU tensors the host solve runs NumPy's fused kernels on zero-copy views
    of the rows: the same values as NumPy rows, bit for bit, and within rounding of the
    accelerator's path (PyTorch's own arithmetic, inside lfso._later.cpu_as_accelerator)."""
    torch = pytest.importorskip("torch")
    from lfso._later import cpu_as_accelerator
    from lfso.models import _compiled

    monkeypatch.setattr(_compiled, "ENABLED", False)  # (the compiled: tests/test_compiled.py)
    from lfso.models._segments import approach_kernel, power_kernel

    rng = np.random.default_rng(21)
    r, u = (rng.standard_normal(3000).astype(dtype) for _ in range(2))
    if kernel == "approach":  # (margins' distances to 0 and their approach rates)
        r, u = np.abs(r), -np.abs(u)
    slope, delta, eps = (np.asarray(v, dtype) for v in (-float(u @ u), 1e-6, 1e-7))
    fn = {"power-m2": power_kernel(2.0, 12.0), "power-m2.5": power_kernel(2.5, 3.0)}
    fn["approach"] = approach_kernel

    def segment(lib):
        rows, steps, weight = lib(r), lib(u), lib(u * u)
        slack = None if kernel == "approach" else (lib(delta), lib(eps))
        return RowSegment(
            rows, steps, fn[kernel], weight=weight, scale=0.5, slope=lib(slope), slack=slack
        )

    trials = [0.0, 0.3, 1.0, 2.5]
    ref = segment(np.asarray)
    host = segment(torch.from_numpy)
    assert host._views and np.shares_memory(host._host_rows()[0], r)
    np.testing.assert_array_equal(host._device_values(trials), ref._device_values(trials))
    assert host.values(trials) == ref.values(trials)
    assert host.step_for(1.0) == ref.step_for(1.0)
    with cpu_as_accelerator():
        device = segment(torch.from_numpy)
    assert not device._views
    generic = device._device_values(trials)
    assert isinstance(generic, torch.Tensor)
    # (the pad covers the order of summation and exp's own rounding; the rows are exact)
    pad = device._pad - 1.0
    np.testing.assert_allclose(generic.numpy(), ref._device_values(trials), rtol=pad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cpu_tensor_host_path_row_helpers_are_pytorchs_bit_for_bit(dtype):
    """approach() and the carried product on PyTorch CPU tensors compute on NumPy views
    (the host path) exactly what PyTorch computes on the tensors (the accelerator's)."""
    torch = pytest.importorskip("torch")
    import array_api_compat

    from lfso._later import cpu_as_accelerator
    from lfso.models._segments import approach, materialized_product

    rng = np.random.default_rng(22)
    m, v = (torch.from_numpy(rng.standard_normal(5000).astype(dtype)) for _ in range(2))
    m[:5], v[5:10], m[10] = 0.0, 0.0, math.nan
    xp = array_api_compat.array_namespace(m)
    for delta, eps, unit in [(0.0, 0.0, 0.0), (torch.tensor(1e-6), 3e-7, 2.0**-24)]:
        host = approach(xp, m, v, delta, eps, unit)
        with cpu_as_accelerator():
            device = approach(xp, m, v, delta, eps, unit)
        for a, b in zip(host, device, strict=True):
            assert isinstance(a, torch.Tensor) and a.dtype == b.dtype
            assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
    host_product = materialized_product(m, v)
    with cpu_as_accelerator():
        device_product = materialized_product(m, v)
    for t in (0.1, 1.0 / 3.0, 12345.678):
        a, b = host_product(t).value, device_product(t).value
        assert isinstance(a, torch.Tensor)
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))


@pytest.mark.parametrize(
    "dtypes", [("float64", "float64"), ("float32", "float32"), ("float32", "float64")]
)
def test_numpy_carried_product_is_base_plus_t_step_bit_for_bit(dtypes):
    """The next point's product ``z + t u`` on NumPy (formed with one temporary) is NumPy's
    ``base + t * step`` bit for bit (signed zeros, infinities and NaN included), in the
    dtype NumPy gives it, with the drift beside it."""
    from lfso.models._segments import materialized_product

    rng = np.random.default_rng(23)
    base, step = (rng.standard_normal(1001).astype(dtype) for dtype in dtypes)
    base[:4], step[4:8] = (np.inf, 0.0, -0.0, 1.0), (np.nan, -0.0, 0.0, -np.inf)
    product = materialized_product(base, step, lambda t: 2.0 * abs(t))
    for t in (0.0, -0.0, 0.1, -1.0 / 3.0, 12345.678):
        with np.errstate(invalid="ignore"):  # (inf * 0 and inf - inf: NaN, as NumPy's)
            carried = product(t)
            expected = base + t * step
        assert carried is not None and carried.drift == 2.0 * abs(t)
        assert carried.value.dtype == expected.dtype
        assert np.array_equal(np.isnan(carried.value), np.isnan(expected))
        assert np.nan_to_num(carried.value).tobytes() == np.nan_to_num(expected).tobytes()


@pytest.mark.parametrize("scale", [1.0, 1e-80, 1e80])
def test_host_quadratic_is_the_general_path_bound_bit_for_bit(scale):
    """For ``p = 1`` on the host, ``NormPathSegment.along`` computes the bound's constant
    at once (a ``NormPathSegment`` whose ``C(t)`` and exact step are a read and a
    division): every ``C(t)``, the step, the slope and the errors are those of the general
    path built from the same sum, bit for bit."""
    from lfso.models._segments import NormPathSegment

    rng = np.random.default_rng(3)
    v = rng.standard_normal(40) * scale
    slope = np.float64(-2.5 * scale)
    fast = NormPathSegment.along(1.0, 3.0, None, v, slope=slope, delta=1e-14, eps=1e-13 * scale)
    c = float(v @ v)
    general = NormPathSegment(
        1.0,
        3.0,
        c,
        c,
        c,
        slope=slope,
        terms=40,
        dtype_eps=float(np.finfo(float).eps),
        delta=1e-14,
        eps=1e-13 * scale,
        tiny=float(np.finfo(float).smallest_normal),
    )
    assert type(fast) is not NormPathSegment and isinstance(fast, NormPathSegment)
    for t in (0.0, 1e-3, 1.0, 1e5):
        assert fast(t) == general(t)
    assert fast.radius_for(7.0 * c) == general.radius_for(7.0 * c)
    assert fast.radius_for(0.0) == general.radius_for(0.0)
    assert fast.slope == general.slope == float(slope)
    # past the float range the fast path raises what the general one raises
    huge = NormPathSegment.along(1.0, 1e300, None, v / np.linalg.norm(v) * 1e5, slope=slope)
    assert type(huge) is type(fast) and huge(0.0) == math.inf
    with pytest.raises(lfso.oracles.PrecisionLimitError):
        huge.radius_for(1.0)


def test_composite_segment_reuses_the_evaluations_residual_bit_for_bit():
    """On NumPy, ``CompositeLeastSquares.evaluate`` keeps ``r = A x - b`` with its product
    and the segment at that point reads it instead of forming it again: the same bound as
    from a product without it, bit for bit."""
    from lfso.models import CompositeLeastSquares
    from lfso.models._segments import CarriedProduct

    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((60, 7)), rng.standard_normal(60)
    model = CompositeLeastSquares(A, b, 2.0)
    x, d = rng.standard_normal(7), rng.standard_normal(7)
    ev = model.evaluate(x)
    assert np.array_equal(ev.product.residual, ev.product.value - b)
    bare = copy.copy(ev)
    bare.product = CarriedProduct(ev.product.value, ev.product.drift, ev.product.xmax)
    kept, formed = model.segment(x, ev, d), model.segment(x, bare, d)
    for t in (0.0, 0.01, 1.0, 100.0):
        assert kept(t) == formed(t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e-12, 1e12])
def test_host_quadratic_covers_the_exact_curvature(dtype, scale):
    """The quadratic's host path in either dtype: ``C(t)`` is the general path's bound
    from the same sum, and at least the exact ``2k ||v||^2`` of the given ``v`` (mpmath,
    50 digits), the sum's rounding in that dtype included."""
    from lfso.models._segments import NormPathSegment

    rng = np.random.default_rng(11)
    for trial in range(20):
        v = (rng.standard_normal(257) * rng.lognormal(0.0, 3.0, 257) * scale).astype(dtype)
        fast = NormPathSegment.along(1.0, 0.5, None, v)
        c = float(v @ v)
        general = NormPathSegment(
            1.0,
            0.5,
            c,
            c,
            c,
            terms=257,
            dtype_eps=float(np.finfo(dtype).eps),
            tiny=float(np.finfo(dtype).smallest_normal),
        )
        assert type(fast) is not NormPathSegment, trial
        with mpmath.workdps(50):
            exact = 2 * mpmath.mpf(0.5) * mpmath.fsum(mpmath.mpf(float(e)) ** 2 for e in v)
        for t in (0.0, 1.0, 1e6):
            assert fast(t) == general(t) and mpmath.mpf(fast(t)) >= exact, (trial, t)


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_host_path_is_the_general_path_bound_bit_for_bit(p):
    """For ``p > 1`` on the host in float64 (sums in range), ``NormPathSegment.along``
    computes the bound's constants at once: the constants, ``C(t)`` past ``t = 1`` and the
    slope (``g . d`` from ``slope_of``, summed when first asked for) are those of the
    general path built from the same sums, bit for bit; ``C(t)`` on ``[0, 1]`` (the direct
    form) is the same bound less padded; ``||y||^2`` handed in (``y_sq``) is the sum it
    would take."""
    from lfso.models._segments import NormPathSegment

    rng = np.random.default_rng(4)
    y, v = rng.standard_normal(60), 0.1 * rng.standard_normal(60)
    g, d = rng.standard_normal(9), rng.standard_normal(9)
    errors = {"delta": 1e-13, "eps": 1e-14}
    fast = NormPathSegment.along(p, 2.0, y, v, slope_of=(g, d), **errors)
    given = NormPathSegment.along(p, 2.0, y, v, y_sq=float(y @ y), slope_of=(g, d), **errors)
    general = NormPathSegment(
        p,
        2.0,
        float(y @ y),
        float(y @ v),
        float(v @ v),
        slope=g @ d,
        terms=60,
        dtype_eps=float(np.finfo(float).eps),
        tiny=float(np.finfo(float).smallest_normal),
        **errors,
    )
    assert type(fast) is not NormPathSegment and isinstance(fast, NormPathSegment)
    assert fast._fetch() == given._fetch() == general._fetch()  # the constants
    for t in (1.5, 1e3):  # (past t = 1: the logarithms, as the general path)
        assert fast(t) == given(t) == general(t)
    for t in (0.0, 1e-3, 0.7, 1.0):  # (the direct form: the same bound, less padded)
        assert fast(t) == given(t)
        assert general(t) * (1.0 - 1e-10) <= fast(t) <= general(t)
    for guess in (None, 1e-4, 0.5, 30.0):
        assert fast.radius_for(3.0, guess=guess) == given.radius_for(3.0, guess=guess)
    assert fast.slope == given.slope == general.slope == float(g @ d)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_host_max_abs_and_dot_are_numpys_values_bit_for_bit(dtype):
    """``max_i |x_i|`` by BLAS ``i?amax`` and ``x . y`` by ``np.vdot`` (the host paths of
    the segment bounds' rounding terms and sums) are ``np.abs(x).max()`` and ``x @ y``
    exactly, over scales, strides, zeros and infinities; a dot past the range is ``inf``
    with no warning, and an empty vector's maximum is 0."""
    import warnings

    from lfso.models._segments import _host_dot, host_max_abs

    rng = np.random.default_rng(12)

    def same(a: float, b: float) -> bool:
        return a == b or (a != a and b != b)

    for trial in range(60):
        n = int(rng.integers(1, 300))
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30, n)
        y = rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30, n)
        with np.errstate(over="ignore"):  # (float16: past its range, inf)
            x, y = x.astype(dtype), y.astype(dtype)
        if trial % 5 == 1:
            x[int(rng.integers(n))] = -np.inf
        if trial % 7 == 2:
            x[:] = 0.0
        for a, b in ((x, y), (x[::3], y[::3]), (x[::-1], y)):
            assert host_max_abs(a) == float(np.abs(a).max())
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                expected = float(a @ b)
            with np.errstate(invalid="ignore"):  # (inf - inf in float16)
                assert same(_host_dot(a, b), expected)
    assert host_max_abs(np.zeros(0, dtype)) == 0.0
    big = np.full(10, np.finfo(dtype).max, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _host_dot(big, big) == math.inf


def _exact_path_curvature(p, k, y, v, s):
    """``d^2/ds^2 k ||y + s v||^(2p)`` in mpmath (60 digits) from the binary values."""
    with mpmath.workdps(60):
        q = [
            mpmath.mpf(float(a)) + mpmath.mpf(s) * mpmath.mpf(float(b))
            for a, b in zip(y, v, strict=True)
        ]
        w = [mpmath.mpf(float(b)) for b in v]
        qq = mpmath.fsum(a * a for a in q)
        qv = mpmath.fsum(a * b for a, b in zip(q, w, strict=True))
        vv = mpmath.fsum(b * b for b in w)
        if qq == 0:  # (the path through the origin: a power 2p - 2 > 0 of 0)
            return mpmath.mpf(0) if p > 1 else 2 * k * vv
        return 2 * p * k * qq ** (p - 2) * ((2 * p - 2) * qv * qv + qq * vv)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [1.25, 1.5, 2.0, 3.0, 7.5])
def test_path_bound_on_the_unit_interval_covers_the_exact_curvature(p, dtype):
    """``C(t)`` of ``k ||y + s v||^(2p)`` for ``t`` in ``[0, 1]`` (float64 on the host: the
    direct form; float32: the normalised sums and logarithms) against the exact curvature
    in mpmath at the ends and inside ``[0, t]``, for the given vectors and for vectors
    moved outwards by the rounding errors ``delta``, ``eps`` the bound covers: scales to the
    ends of the plain range, paths through and near the origin (``D`` about 0), nearly
    orthogonal ones, large powers and the subnormal step."""
    from lfso.models._segments import NormPathSegment, _host_path_curvature

    rng = np.random.default_rng(17)
    big = 1e70 if dtype == np.float64 else 1e15
    for trial in range(40):
        n = int(rng.integers(2, 40))
        scale = float(rng.choice([1.0, 1e-3, 1e3, big, 1.0 / big]))
        y = rng.standard_normal(n) * scale
        kind = trial % 4
        if kind == 1:  # through (nearly) the origin at s = 0.5 and 1
            v = -y / float(rng.choice([0.5, 1.0])) + 1e-9 * scale * rng.standard_normal(n)
        elif kind == 2:  # nearly orthogonal to y
            v = rng.standard_normal(n) * scale
            v -= (v @ y) / (y @ y) * y
        else:
            v = rng.standard_normal(n) * scale * 10.0 ** rng.uniform(-2, 2)
        y, v = y.astype(dtype), v.astype(dtype)
        k = float(10.0 ** rng.uniform(-3, 3))
        delta = float(rng.choice([0.0, 1e-14, 1e-6])) * float(np.linalg.norm(y))
        eps = float(rng.choice([0.0, 1e-14, 1e-6])) * float(np.linalg.norm(v))
        seg = NormPathSegment.along(p, k, y, v, delta=delta, eps=eps)
        direct = dtype == np.float64 and seg._norms is None and delta <= 1.0 and eps <= 1.0
        assert (getattr(seg, "_lead", None) is not None) == (direct and seg._lead is not None)
        ny, nv = float(np.linalg.norm(y)), float(np.linalg.norm(v))
        moved = (
            (y, v),
            (y * (1.0 + delta / ny), v * (1.0 + eps / nv)),
            (y, v * (1.0 + eps / nv)),
        )
        for t in (0.0, 5e-324, 1e-12, 1e-4, 0.25, 0.5, 1.0):
            bound = seg(t)  # (inf where the padded bound is past the float range)
            assert bound > 0.0
            if direct and bound < math.inf:  # the same bound as the logarithms', less padded
                logs = _host_path_curvature(p, k, seg._fetch(), t)
                assert logs * (1.0 - 1e-10) <= bound <= logs
            for yy, vv in moved:
                for s in sorted({0.0, 0.5 * t, t}):
                    exact = _exact_path_curvature(p, k, yy, vv, s)
                    assert float(exact) <= bound or exact <= mpmath.mpf(bound), (trial, t, s)


@pytest.mark.parametrize("p, scale", [(5.0, 1e50), (5.0, 1e-50), (40.0, 1e10), (40.0, 1e-10)])
def test_path_bound_falls_back_to_logarithms_out_of_range(p, scale):
    """Where the direct form's power or result leaves the normal range (``||y||^(2p-2)``
    past ``1e308`` or below ``1e-308``) and past ``t = 1``, ``C(t)`` is the logarithms'
    value bit for bit (``inf`` past the float range)."""
    from lfso.models._segments import NormPathSegment, _host_path_curvature

    rng = np.random.default_rng(8)
    y, v = rng.standard_normal(10) * scale, rng.standard_normal(10) * scale
    seg = NormPathSegment.along(p, 1.0, y, v, delta=0.0, eps=0.0)
    assert seg._norms is None and seg._lead is not None  # (in the plain range)
    for t in (0.0, 0.5, 1.0, 2.0, 1e5):
        assert seg(t) == _host_path_curvature(p, 1.0, seg._fetch(), t)


def test_unit_path_constants_are_the_general_ones_bit_for_bit():
    """The direct form's constants in the units ``S_y = S_v = 1`` (``_host_unit_constants``)
    are :func:`_host_path_constants`'s with ``ymax = vmax = 1`` bit for bit (signed zeros
    included), over the plain range of the sums, parallel, antiparallel and orthogonal
    paths, and errors ``delta``, ``eps`` from 0 (and subnormal) to 1."""
    from lfso.models._segments import _DIRECT_KEYS, _host_path_constants, _host_unit_constants

    rng = np.random.default_rng(19)
    for trial in range(3000):
        a, c = (float(10.0 ** rng.uniform(-150.0, 150.0)) for _ in range(2))
        b = float(rng.uniform(-1.0, 1.0)) * math.sqrt(a * c)
        b = (b, math.sqrt(a * c), -math.sqrt(a * c), 0.0, -0.0)[trial % 5]
        delta, eps = (
            float(rng.choice([0.0, 1.0, 5e-324, 10.0 ** rng.uniform(-300.0, 0.0)]))
            for _ in range(2)
        )
        k, p = float(10.0 ** rng.uniform(-300.0, 300.0)), float(rng.choice([1.25, 2.0, 3.0]))
        n = int(rng.integers(1, 10**6))
        unit = (n + 3) * 0.5 * float(np.finfo(float).eps)
        gamma, zeta = unit / (1.0 - unit), 5.0 * n * float(np.finfo(float).smallest_normal)
        full = _host_path_constants(p, k, gamma, zeta, a, b, c, 1.0, 1.0, delta, eps)
        quad, direct = _host_unit_constants(k, gamma, zeta, a, b, c, delta, eps)
        for value, key in zip((quad, *direct), ("quad", *_DIRECT_KEYS), strict=True):
            assert value == full[key] and math.copysign(1.0, value) == math.copysign(
                1.0, full[key]
            ), (trial, key)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_host_path_slope_is_summed_only_when_asked_for(p):
    """On the host, a path bound built with ``slope_of = (g, d)`` solves without ``g . d``
    (the certificate's own slope sizes the step) and sums it once, when asked for."""
    from lfso.models._segments import NormPathSegment

    class Gradient:
        calls = 0

        def __matmul__(self, other):
            Gradient.calls += 1
            return -2.0

    rng = np.random.default_rng(6)
    y, v = rng.standard_normal(20), rng.standard_normal(20)
    seg = NormPathSegment.along(p, 1.0, y, v, slope_of=(Gradient(), v), delta=1e-14, eps=1e-14)
    seg.radius_for(0.5, guess=0.1)
    assert Gradient.calls == 0
    assert seg.slope == -2.0 and seg.slope == -2.0 and Gradient.calls == 1


@pytest.mark.parametrize(
    "model",
    [
        LpRegression(np.eye(2), np.zeros(2), p=3),
        CauchyRegression(np.eye(2), np.zeros(2)),
        PowerSum(2),
        PowerSum(1.5),
    ],
    ids=["lp3", "cauchy", "powersum2", "powersum1.5"],
)
def test_a_direction_whose_row_weights_overflow_gives_inf_without_a_warning(model):
    """``u = A d ~ 1e200`` (``PowerSum``: ``u = d``): the weights ``(|u| + eps)^2`` are past
    the float range, so the bound along the segment is ``inf``, without NumPy's overflow
    warning."""
    import warnings

    x = np.ones(2)
    evaluation = model.evaluate(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seg = model.segment(x, evaluation, np.full(2, 1e200))
        assert seg(1.0) == math.inf


@pytest.mark.parametrize("l2", [1e-46, 2.1e-45, 1.3e-40])
@pytest.mark.parametrize("name", ["logistic", "softmax", "cauchy"])
def test_a_float32_ridge_below_the_normal_range_keeps_its_curvature(name, l2):
    """The ridge's curvature ``l2 ||d||^2`` along the segment, for an ``l2`` that float32
    holds only as a subnormal number or not at all, is still inside ``C(t)`` (exactly, by
    mpmath): rows of size 1e-30 keep the loss's own curvature far below it."""
    X = np.array([[1e-30], [2e-30], [-1e-30]], dtype=np.float32)
    labels = np.array([0.0, 1.0, 1.0])
    if name == "logistic":
        model = LogisticRegression(X, labels, l2=l2)
    elif name == "softmax":
        model = SoftmaxRegression(X, labels.astype(np.int64), 2, l2=l2, fit_intercept=False)
    else:  # residuals |s u_i| <= 3e-12 < c: the loss's curvature is positive there
        model = CauchyRegression(X, np.zeros(3, np.float32), c=1.0, l2=l2)
    x = np.zeros(model.dim, np.float32)
    d = np.full(model.dim, 1e18, np.float32)
    seg = model.segment(x, model.evaluate(x), d)
    with mpmath.workdps(50):
        ridge = mpmath.mpf(l2) * mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in d)
        for t in (0.0, 1.0):
            assert mpmath.mpf(seg(t)) >= ridge, (t, seg(t), float(ridge))


def _exact_rows(A: np.ndarray, point: np.ndarray, minus: np.ndarray | None) -> list:
    """``A point - minus`` of the float data, exactly (as mpmath numbers)."""
    from fractions import Fraction

    rows = []
    for i, row in enumerate(A):
        value = sum(
            (Fraction(float(a)) * Fraction(float(v)) for a, v in zip(row, point, strict=True)),
            Fraction(0),
        )
        if minus is not None:
            value -= Fraction(float(minus[i]))
        rows.append(mpmath.mpf(value.numerator) / value.denominator)
    return rows


def _exact_row_suprema(model: Model, x: np.ndarray, d: np.ndarray, t: float):
    """``sum_i sup_{s in [0, t]} (row i's curvature)`` plus the ridge's, exactly from the
    float data (mpmath; the caller sets the precision): at least the supremum of ``d^T
    H(x + s d) d`` on the segment, what a row segment's ``C(t)`` must bound."""
    t = mpmath.mpf(t)

    def dist(a, b):  # distance from 0 to [a, b] (either order)
        return mpmath.mpf(0) if (a <= 0) != (b <= 0) else min(abs(a), abs(b))

    if isinstance(model, LpRegression):
        r, u = _exact_rows(model.A, x, model.b), _exact_rows(model.A, d, None)
        p = mpmath.mpf(float(model.p))
        return mpmath.fsum(
            2 * p * (2 * p - 1) * max(abs(ri), abs(ri + t * ui)) ** (2 * p - 2) * ui**2
            for ri, ui in zip(r, u, strict=True)
        )
    ridge = mpmath.mpf(float(model.l2)) * mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in d)
    if isinstance(model, CauchyRegression):
        r, u = _exact_rows(model.A, x, model.b), _exact_rows(model.A, d, None)
        c2 = mpmath.mpf(float(model.c)) ** 2

        def rho2(z):
            w = z * z / c2
            return (1 - w) / (1 + w) ** 2

        terms = [
            max(rho2(dist(ri, ri + t * ui)), rho2(max(abs(ri), abs(ri + t * ui)))) * ui**2
            for ri, ui in zip(r, u, strict=True)
        ]
        return mpmath.fsum(terms) / model.n + ridge
    z, v = _exact_rows(model.X, x, None), _exact_rows(model.X, d, None)
    weights = getattr(model, "weights", np.ones(model.n))

    def sigma2(m):
        e = mpmath.exp(-m)
        return e / (1 + e) ** 2

    terms = [
        mpmath.mpf(float(w)) * sigma2(dist(zi, zi + t * vi)) * vi**2
        for zi, vi, w in zip(z, v, weights, strict=True)
    ]
    return mpmath.fsum(terms) / model.n + ridge


def _adversarial_case(rng: np.random.Generator, kind: str, dtype: type):
    """A row model, point and direction: rows spanning many decades, one possibly
    subnormal, residuals near 0, large margins."""
    n, dim = int(rng.integers(1, 14)), int(rng.integers(1, 4))
    span = 8.0 if dtype is np.float32 else 30.0
    A = rng.standard_normal((n, dim)) * 10.0 ** rng.uniform(-span, span, n)[:, None]
    if rng.random() < 0.3:  # a subnormal row
        A[0] *= 1e-40 if dtype is np.float32 else 1e-300
    x = rng.standard_normal(dim) * 10.0 ** rng.uniform(-3, 3)
    d = rng.standard_normal(dim) * 10.0 ** rng.uniform(-3, 3)
    A, x, d = A.astype(dtype), x.astype(dtype), d.astype(dtype)
    near = A.astype(np.float64) @ x.astype(np.float64)  # residuals near 0
    b = (near + rng.standard_normal(n) * 10.0 ** rng.uniform(-12, 0, n)).astype(dtype)
    if kind == "lp":
        p = float(rng.choice([1.001, 1.25, 1.5, 2.0, 2.5, 4.0]))
        return LpRegression(A, b, p), x, d
    if kind == "cauchy":
        return CauchyRegression(A, b, c=float(10.0 ** rng.uniform(-2, 2)), l2=0.01), x, d
    labels = rng.integers(0, 2, n).astype(float)
    if kind == "weighted":
        from lfso.models._weighted import WeightedLogistic

        return WeightedLogistic(A, labels, rng.uniform(1e-6, 1.0, n), l2=0.1), x, d
    return LogisticRegression(A, labels, l2=float(rng.choice([0.0, 0.1]))), x, d


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    ("kind", "dtype"),
    [
        ("lp", np.float64),
        ("lp", np.float32),
        ("logistic", np.float64),
        ("logistic", np.float32),
        ("cauchy", np.float64),
        ("cauchy", np.float32),
        ("weighted", np.float64),
    ],
)
def test_row_segment_bounds_the_exact_row_suprema_on_adversarial_rows(
    kind, dtype, compiled, monkeypatch
):
    """``C(t)`` is at least the exact sum of the rows' suprema (mpmath, 50 digits, from the
    float data) over rows spanning many decades, subnormal rows and residuals near 0, at
    trial steps rounded down to the rows' dtype by about an ulp; NumPy's kernels and the
    compiled ones (every size of rows)."""
    from lfso.models import _compiled

    if compiled:
        if not _compiled.ENABLED:
            pytest.skip("the compiled kernels do not run here")
        monkeypatch.setattr(_compiled, "MIN_ROWS", 1)
    else:
        monkeypatch.setattr(_compiled, "ENABLED", False)
    rng = np.random.default_rng([ord(c) for c in kind] + [dtype is np.float32])
    for _ in range(12):
        model, x, d = _adversarial_case(rng, kind, dtype)
        with np.errstate(all="ignore"):
            seg = model.segment(x, model.evaluate(x), d)
        steps = [
            float(np.float32(t)) * (1 + 0.999 * 2.0**-24) for t in 10.0 ** rng.uniform(-6, 3, 3)
        ]
        for t in [0.0, *steps]:
            bound = seg(t)
            if bound == math.inf:  # (a weight past the float range: no bound claimed)
                continue
            with mpmath.workdps(50):
                assert mpmath.mpf(bound) >= _exact_row_suprema(model, x, d, t), (t, bound)


@pytest.mark.parametrize("p", [1.25, 1.5])
@pytest.mark.parametrize("batch", [False, True])
def test_a_trial_below_float32s_normal_range_is_not_rounded_down(p, batch):
    """A float32 segment evaluates its trial ``t`` in float32: a ``t`` below the smallest
    normal number (``1e-46`` rounds to 0, ``3e-45`` to ``2.8e-45``) still gets a ``C(t)``
    above the exact rows' suprema on ``[0, t]`` (mpmath), one trial at a time or in a
    batch, where ``u = A d`` is large enough for ``t u`` to count."""
    A = np.array([[1.0], [2.0]], dtype=np.float32)
    model = LpRegression(A, np.zeros(2, np.float32), p)
    x, d = np.zeros(1, np.float32), np.array([1e18], np.float32)
    seg = model.segment(x, model.evaluate(x), d)
    steps = [1e-46, 3e-45, 1.00001e-40]
    bounds = seg.values(steps) if batch else [seg(t) for t in steps]
    for t, bound in zip(steps, bounds, strict=True):
        with mpmath.workdps(50):
            assert mpmath.mpf(bound) >= _exact_row_suprema(model, x, d, t), (t, bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("accumulated", ["rows", "float64"])
@pytest.mark.parametrize(
    "n", [1, 2, 13, 10**4, 8 * 10**6, 2**23 + 1, 2 * 10**7, 2**24, 2**24 + 1, 4 * 10**7, 10**9]
)
def test_rounding_pad_bounds_the_worst_order_at_every_n(dtype, accumulated, n):
    """Against the worst case, in mpmath: every term ``term_ulps`` ulps below its exact
    value and each passing through ``n - 1`` additions that each keep only ``1 - u`` of
    their exact result (built symbolically: no ``n`` rows needed), and, for a sum taken in
    float64, rounded down once more to the rows' dtype. The pad bounds the exact sum over
    the computed one at every ``n`` (float32 sums of 2e7 rows and more need more than the
    first-order ``1 + (n + 2 term_ulps + 1) eps``: 11 at 4e7 rows), and is finite."""
    from lfso.models._segments import rounding_pad

    eps = float(np.finfo(dtype).eps)
    sum_eps = None if accumulated == "rows" else 2.0**-52
    for ulps in (0.0, 8.0, 12.0, 300.0):
        pad = rounding_pad(n, eps, ulps) if sum_eps is None else rounding_pad(n, eps, ulps, sum_eps)
        with mpmath.workdps(60):
            v = mpmath.mpf(eps if sum_eps is None else sum_eps) / 2
            worst = (1 - ulps * mpmath.mpf(eps)) * (1 - v) ** (n - 1)
            if sum_eps is not None:
                worst *= 1 - mpmath.mpf(eps) / 2
            assert 1 / worst <= mpmath.mpf(pad), (ulps, pad)
        assert math.isfinite(pad)
        if sum_eps is None and n * eps < 1 and ulps >= 3:  # (the first-order form)
            assert pad == 1.0 + (n + 2.0 * ulps + 1.0) * eps


@pytest.mark.parametrize("path", ["numpy", "compiled", "torch", "torch-compiled"])
def test_long_float32_row_sums_are_accumulated_in_float64(path, monkeypatch):
    """A float32 row segment of ``n`` rows with ``n eps >= _WIDE_SUMS`` (lowered here from
    its 2^23 rows) sums its terms in float64 on every path (NumPy's one trial and batch,
    the compiled kernels, which sum in float64 anyway, an accelerator's array operations
    and its compiled pass, which sums in the rows' dtype elsewhere), with the float64 sum's
    pad, not the float32 one's; its bounds are the float32 sums' up to rounding, and a run
    on such rows certifies every step."""
    from lfso.models import _compiled, _fused, _segments

    wide_sums = _segments._wide_sums
    calls = []

    def spy(*args):
        calls.append(args[2].shape)
        return wide_sums(*args)

    monkeypatch.setattr(_segments, "_wide_sums", spy)
    if path == "compiled":
        if not _compiled.ENABLED:
            pytest.skip("numba is not installed")
        monkeypatch.setattr(_compiled, "MIN_ROWS", 100)
    else:
        monkeypatch.setattr(_compiled, "ENABLED", False)
    rng = np.random.default_rng(4)
    n = 6000
    A = rng.standard_normal((n, 5)).astype(np.float32)
    y = (A @ np.ones(5) + rng.standard_normal(n) > 0).astype(np.float32)
    x = np.zeros(5, dtype=np.float32)
    context: Any = contextlib.nullcontext()
    if path.startswith("torch"):
        torch = pytest.importorskip("torch")
        if path == "torch-compiled":
            if not _fused._ENABLED:
                pytest.skip("compiled passes are off")
            monkeypatch.setattr(_fused, "MIN_ROWS", 100)
            sums = _fused.trial_sums

            def spy_sums(*args, wide=False, **kwargs):
                made = sums(*args, wide=wide, **kwargs)
                calls.append((wide, getattr(made, "dtype", None)))  # (a finished pass: tuple)
                return made

            monkeypatch.setattr(_fused, "trial_sums", spy_sums)
        from lfso.bench import cpu_as_accelerator

        A, y, x = torch.tensor(A), torch.tensor(y), torch.tensor(x)
        context = cpu_as_accelerator()
    model = LogisticRegression(A, y, l2=1e-3)
    trials, batch = [1e-2, 0.3, 1.0, 4.0], [0.02, 0.5, 2.0, 8.0]  # (one at a time, a batch)
    with context:
        ev = model.evaluate(x)
        narrow = model.segment(x, ev, -ev.grad)
        expected = [narrow.values([t])[0] for t in trials] + narrow.values(batch)
        if path == "torch-compiled":
            assert calls and {wide for wide, _ in calls} == {False}
            calls.clear()
        else:
            assert not calls
        _segments._row_constants.cache_clear()
        monkeypatch.setattr(_segments, "_WIDE_SUMS", 1e-4)
        seg = model.segment(x, ev, -ev.grad)
        assert seg._wide and not narrow._wide
        eps = float(np.finfo(np.float32).eps)
        assert seg._pad < 1.0 + 1e-4 < 1.0 + n * eps < narrow._pad
        got = [seg.values([t])[0] for t in trials] + seg.values(batch)
        assert bool(calls) == (path != "compiled")
        if path == "torch-compiled":
            assert (True, torch.float64) in calls and not any(c[0] is False for c in calls)
        np.testing.assert_allclose(got, expected, rtol=2 * n * eps)
        # (8 iterations: past about 12, float32 runs on the device path reach the rounding
        # of their gradient here, and the exact slope's check takes a step of 0)
        res = lfso.minimize(model, x, tol=0, max_iter=8)
    _segments._row_constants.cache_clear()
    assert res.nit == 8
    assert np.all(np.isfinite(res.history.L[1:])) and np.all(res.history.step[1:] > 0)


def test_a_long_float64_sum_pads_the_magnitude_and_weights_summed_in_float32(monkeypatch):
    """Where a float32 row segment sums in float64 (``_WIDE_SUMS`` lowered), its absolute
    pads still read a magnitude (Cauchy's ``sum_i |kernel_i| w_i``) and a weights' sum
    summed in float32: each is taken times a float32 sum's pad, so the pad on the trial sum
    covers the exact magnitude, not only the computed one."""
    from lfso.models import _segments
    from lfso.models._segments import rounding_pad

    monkeypatch.setattr(_segments, "_WIDE_SUMS", 1e-4)
    _segments._row_constants.cache_clear()
    n = 4000
    eps = float(np.finfo(np.float32).eps)
    rng = np.random.default_rng(2)
    r = rng.standard_normal(n).astype(np.float32)
    u = rng.standard_normal(n).astype(np.float32)

    def kernel(xp, start, end, step):
        return xp.cos(end)  # (of either sign: the pad is relative to the magnitude)

    kernel.term_ulps = 8.0  # type: ignore[attr-defined]
    magnitude = np.add.reduce(u * u)  # (float32)
    seg = RowSegment(r, u, kernel, weight=u * u, scale=1.0, magnitude=magnitude)
    plain = RowSegment(r, u, kernel, weight=u * u, scale=1.0)
    _segments._row_constants.cache_clear()
    assert seg._wide and plain._wide
    narrow = rounding_pad(n, eps)
    assert seg._pad - 1.0 >= (plain._pad - 1.0) * narrow
    assert plain._pad - 1.0 == rounding_pad(n, eps, 8.0, 2.0**-52) - 1.0
    plain.values([0.5])
    assert plain.underflow >= plain._eta / narrow * (n + float(np.sum(u.astype(float) ** 2)))


@pytest.mark.parametrize("n", [2**23 - 4, 2**24 - 3, 2**24, 10**8])
def test_norm_path_pads_stay_a_bound_for_many_float32_terms(n):
    """``gamma_{n+3}`` of :class:`NormPathSegment` for float32 sums of 8 to 100 million
    terms: finite and at least ``(1 - u)^-(n+3) - 1`` (not a division by zero at ``n + 3 =
    2^24`` or a negative pad beyond), and the upper bound ``c^+`` on an exact sum of
    squares is at least ``(1 + gamma)`` times the computed one."""
    from lfso.models._segments import _host_quad, _path_pads

    f32 = np.finfo(np.float32)
    gamma, zeta, _ = _path_pads(2.0, n, float(f32.eps), float(f32.smallest_normal))
    worst = float((1 - mpmath.mpf(2) ** -24) ** (-(n + 3)) - 1)
    assert math.isfinite(gamma) and gamma >= worst and zeta > 0.0
    quad = _host_quad(1.0, gamma, zeta, 1.0, 1.0, 0.0)  # 2 k c^+ with c = 1, V = 1
    assert quad >= 2.0 * (1.0 + worst)
