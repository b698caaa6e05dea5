"""Segment bounds against the exact curvature: every bound is a theorem in floating point.

A segment bound of a model at ``x`` along ``d`` (:meth:`lfso.models.Model.segment`) claims

.. math::  C(t) \\ge \\sup_{s \\in [0, t]} \\varphi''(s), \\qquad \\varphi(s) = f(x + s d),

for the exact ``f`` of the model's data: the float32 or float64 entries of ``A``, ``b``,
``X``, ``x`` and ``d`` read as the binary fractions they are, with no rounding anywhere. The
model computes ``C`` in its own precision, so every rounding (residuals, margins, carried
products, powers, exponentials, sums, underflow) must be paid for by its pads and floors.

The exact side: the statistics along the segment (residuals ``r_i + s u_i``, margins,
logits) are computed as exact fractions, and the powers, exponentials and sums in mpmath at
60 digits, so ``phi''(s)`` is known to about 1e-55 (relative) at any rational ``s``. The
supremum over ``[0, t]`` is at least the largest ``phi''`` over samples of ``[0, t]``: both
ends, a uniform grid and each row's critical point inside (where a residual or margin
crosses zero, where two logits cross). That maximum is a *lower* estimate of the supremum,
so ``exact / C > 1`` (beyond the mpmath error, :data:`TOL`) is a genuine violation.

Adversarial classes (each model, float32 and float64): moderate points (where the bounds
hold with ratios near one: the check has teeth), far points (``|x|`` up to 1e7 in float32,
1e14 in float64), near exact fits (residuals at the rounding level, ``p`` in 1.25 .. 3),
directions near the null space of ``A`` (``u = A d`` cancels), large margins (``sigma'``
below the float range), tiny points (powers that underflow), huge directions; at random
``t`` over many decades and at the certified step of ``step_for(1.0)`` and 2x, 10x it.
The class ``along_run`` checks every segment bound that real runs of :func:`lfso.minimize`
build (``"lfso"`` and ``"lfso-lbfgs"``, starts up to 1e5 in float32 and 1e10 in float64),
from the loop's own evaluations: products carried from step to step, L-BFGS directions.
Then three minimal cases, each with the size of the violation an unsound bound shows there.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest

import lfso
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    LogisticRegression,
    LpRegression,
    Model,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
    _compiled,
)
from lfso.models._segments import ApproachSegment, RowSegment

#: A private mpmath context (the global one is left alone), 60 significant digits.
MP = mpmath.MPContext()
MP.dps = 60
#: Slack on ``exact / C``: the exact side's own relative error is below 1e-55.
TOL = MP.mpf("1e-30")
ZERO = Fraction(0)
GRID = 16  # uniform samples of [0, t], besides its ends and the critical points

Vector = list[Fraction]


def fractions(values: Any) -> Vector:
    """The entries of a float array (any precision) as the exact binary fractions they are."""
    return [Fraction(float(v)) for v in np.asarray(values).ravel()]


def rows_of(A: Any, intercept: bool = False) -> list[Vector]:
    """The rows of a float matrix as exact fractions, with a column of ones if asked."""
    rows = [fractions(row) for row in np.asarray(A)]
    return [[*row, Fraction(1)] for row in rows] if intercept else rows


def dot(a: Vector, b: Vector) -> Fraction:
    return sum((ai * bi for ai, bi in zip(a, b, strict=True)), ZERO)


def mp(q: Fraction) -> Any:
    """A fraction in mpmath: exact numerator (rounded once to 60 digits), dyadic division."""
    return MP.mpf(q.numerator) / q.denominator


def sigma_slope(z: Any) -> Any:
    """``sigma'(z) = e^{-|z|} / (1 + e^{-|z|})^2``."""
    e = MP.exp(-abs(z))
    return e / (1 + e) ** 2


@dataclass
class Path:
    """``phi''(s)`` along one segment, and the points where a term peaks (any ``s``)."""

    curvature: Callable[[Fraction], Any]
    critical: list[Fraction]


def crossings(start: Vector, rate: Vector) -> list[Fraction]:
    """Where ``start_i + s rate_i`` crosses zero."""
    return [-a / v for a, v in zip(start, rate, strict=True) if v != 0]


class ExactRows:
    """``f(x) = sum_i |a_i^T x - b_i|^(2p)`` (``LpRegression``; ``PowerSum`` with ``A = I``).

    ``phi''(s) = 2p(2p-1) sum_i |r_i + s u_i|^(2p-2) u_i^2``, ``r = A x - b``, ``u = A d``.
    """

    def __init__(self, p: float, A: Any = None, b: Any = None) -> None:
        p_ = Fraction(p)
        self.coef, self.m = mp(2 * p_ * (2 * p_ - 1)), mp(2 * p_ - 2)
        self.rows = None if A is None else rows_of(A)
        self.b = None if b is None else fractions(b)

    def line(self, x: Any, d: Any) -> tuple[Vector, Vector]:
        x, d = fractions(x), fractions(d)
        if self.rows is None:
            return x, d
        assert self.b is not None
        r = [dot(row, x) - bi for row, bi in zip(self.rows, self.b, strict=True)]
        return r, [dot(row, d) for row in self.rows]

    def path(self, x: Any, d: Any) -> Path:
        r, u = self.line(x, d)
        weights = [mp(ui * ui) for ui in u]

        def curvature(s: Fraction) -> Any:
            terms = (
                MP.power(abs(mp(ri + s * ui)), self.m) * w
                for ri, ui, w in zip(r, u, weights, strict=True)
            )
            return self.coef * MP.fsum(terms)

        return Path(curvature, crossings(r, u))


class ExactNorm(ExactRows):
    """``f(x) = ||A x - b||^(2p)`` (``CompositeLeastSquares``; ``PowerNorm`` with ``A = I``).

    With ``q(s) = ||r + s u||^2``: ``phi'' = 2p ||u||^2 q^(p-1) + p(p-1) q^(p-2) q'^2``.
    """

    def __init__(self, p: float, A: Any = None, b: Any = None) -> None:
        super().__init__(p, A, b)
        self.p = Fraction(p)

    def path(self, x: Any, d: Any) -> Path:
        r, u = self.line(x, d)
        p = self.p
        c = sum((ui * ui for ui in u), ZERO)
        pm, p1 = mp(p), mp(p - 1)

        def curvature(s: Fraction) -> Any:
            y = [ri + s * ui for ri, ui in zip(r, u, strict=True)]
            q = sum((yi * yi for yi in y), ZERO)
            if q == 0:  # q' = 0 too; the second term vanishes with q for p > 1
                return mp(2 * c) if p == 1 else MP.mpf(0)
            dq = 2 * dot(y, u)
            qm = mp(q)
            return 2 * pm * mp(c) * MP.power(qm, p1) + pm * p1 * MP.power(qm, p1 - 1) * mp(dq * dq)

        return Path(curvature, [-dot(r, u) / c] if c else [])


def ridge_weights(l2: Any, features: int) -> Vector:
    """``l2`` (one float, or one per feature) as one exact fraction per feature."""
    return fractions(np.broadcast_to(np.asarray(l2, dtype=np.float64), (features,)))


class ExactLogistic:
    """Mean logistic loss plus ``(1/2) sum_j l2_j w_j^2`` over the features (intercept not
    penalised; ``l2`` one float or one per feature)."""

    def __init__(self, X: Any, y: Any, l2: Any, fit_intercept: bool) -> None:
        self.rows = rows_of(X, fit_intercept)
        labels = np.asarray(y, dtype=np.float64)
        signs = 2.0 * labels - 1.0 if set(labels.tolist()) <= {0.0, 1.0} else labels
        self.signs = [Fraction(int(v)) for v in signs]
        self.l2, self.intercept = ridge_weights(l2, np.shape(X)[1]), fit_intercept

    def path(self, x: Any, d: Any) -> Path:
        x, d = fractions(x), fractions(d)
        m = [sg * dot(row, x) for sg, row in zip(self.signs, self.rows, strict=True)]
        v = [sg * dot(row, d) for sg, row in zip(self.signs, self.rows, strict=True)]
        penalised = d[:-1] if self.intercept else d
        ridge = mp(sum((lj * dj * dj for lj, dj in zip(self.l2, penalised, strict=True)), ZERO))
        weights = [mp(vi * vi) for vi in v]
        n = len(m)

        def curvature(s: Fraction) -> Any:
            terms = (
                sigma_slope(mp(mi + s * vi)) * w for mi, vi, w in zip(m, v, weights, strict=True)
            )
            return MP.fsum(terms) / n + ridge

        return Path(curvature, crossings(m, v))


class ExactCauchy:
    """``(1/n) sum_i c^2/2 log(1 + r_i^2/c^2) + l2/2 ||x||^2``:
    ``rho''(r) = (1 - r^2/c^2) / (1 + r^2/c^2)^2``."""

    def __init__(self, A: Any, b: Any, c: float, l2: float) -> None:
        self.inner = ExactRows(1.0, A, b)
        self.inv_c2, self.l2 = 1 / Fraction(c) ** 2, Fraction(l2)

    def path(self, x: Any, d: Any) -> Path:
        r, u = self.inner.line(x, d)
        ridge = mp(self.l2 * sum((di * di for di in fractions(d)), ZERO))
        weights = [mp(ui * ui) for ui in u]
        n = len(r)

        def curvature(s: Fraction) -> Any:
            terms = []
            for ri, ui, w in zip(r, u, weights, strict=True):
                z = ri + s * ui
                ratio = mp(z * z * self.inv_c2)
                terms.append((1 - ratio) / (1 + ratio) ** 2 * w)
            return MP.fsum(terms) / n + ridge

        return Path(curvature, crossings(r, u))


class ExactSoftmax:
    """Mean cross-entropy of ``softmax(tilde x_i^T W)`` plus ``(1/2) sum_j l2_j ||W_j||^2``
    over the features' rows of ``W``: ``phi''(s) = (1/n) sum_i Var_{pi_i(s)}(v_i) + sum_j
    l2_j ||D_j||^2`` (``l2`` one float or one per feature)."""

    def __init__(self, X: Any, y: Any, K: int, l2: Any, fit_intercept: bool) -> None:
        self.rows = rows_of(X, fit_intercept)
        self.K, self.l2 = K, ridge_weights(l2, np.shape(X)[1])
        self.intercept = fit_intercept

    def path(self, x: Any, d: Any) -> Path:
        K = self.K
        x, d = fractions(x), fractions(d)
        W = [x[k::K] for k in range(K)]  # columns of the (features, K) matrix, row-major
        D = [d[k::K] for k in range(K)]
        z = [[dot(row, W[k]) for k in range(K)] for row in self.rows]
        v = [[dot(row, D[k]) for k in range(K)] for row in self.rows]
        penalised = d[: len(d) - K] if self.intercept else d
        ridge = mp(sum((self.l2[i // K] * di * di for i, di in enumerate(penalised)), ZERO))
        vm = [[mp(vk) for vk in vi] for vi in v]
        n = len(z)

        def curvature(s: Fraction) -> Any:
            total = []
            for zi, vi, vmi in zip(z, v, vm, strict=True):
                logits = [zk + s * vk for zk, vk in zip(zi, vi, strict=True)]
                top = max(logits)
                e = [MP.exp(mp(lk - top)) for lk in logits]
                norm = MP.fsum(e)
                mean = MP.fsum(ek * vk for ek, vk in zip(e, vmi, strict=True)) / norm
                total.append(
                    MP.fsum(ek * (vk - mean) ** 2 for ek, vk in zip(e, vmi, strict=True)) / norm
                )
            return MP.fsum(total) / n + ridge

        critical = [
            -(zi[j] - zi[k]) / (vi[j] - vi[k])
            for zi, vi in zip(z, v, strict=True)
            for j in range(K)
            for k in range(j)
            if vi[j] != vi[k]
        ]
        return Path(curvature, critical)


def exact_sups(path: Path, ts: Sequence[float]) -> list[Any]:
    """For each ``t``: the largest exact ``phi''`` over samples of ``[0, t]`` (ends, a grid,
    the critical points inside), a lower estimate of the supremum there."""
    cache: dict[Fraction, Any] = {}

    def at(s: Fraction) -> Any:
        if s not in cache:
            cache[s] = path.curvature(s)
        return cache[s]

    critical = sorted(c for c in path.critical if c >= 0)
    sups = []
    for t in ts:
        top = Fraction(t)
        samples = {ZERO, top} | {Fraction(t * j / GRID) for j in range(1, GRID)}
        samples |= {c for c in critical if c <= top}
        sups.append(max(at(s) for s in samples))
    return sups


@dataclass
class Check:
    """One claim ``C >= sup_[0, t] phi''`` and its exact side."""

    label: str
    t: float
    bound: float
    exact: Any

    @property
    def ratio(self) -> float:
        """``exact / C`` (``inf`` for a non-positive or NaN ``C`` under a positive ``exact``)."""
        if self.bound == math.inf:
            return 0.0
        if not self.bound > 0.0:
            return math.inf if self.exact > 0 or math.isnan(self.bound) else 0.0
        return float(self.exact / MP.mpf(self.bound))

    @property
    def holds(self) -> bool:
        return bool(self.exact <= MP.mpf(self.bound) * (1 + TOL))


def check_claims(seg: Any, exact: Any, x: Any, d: Any, ts: Sequence[float]) -> list[Check]:
    """Every claim of one segment bound: ``C(t)`` at each ``t`` and the certified step's
    ``C`` (``step_for(1.0)``, bounding the curvature on ``[0, t_cert]``), with ``C(2 t_cert)``
    and ``C(10 t_cert)``."""
    t_cert, c_cert, _ = seg.step_for(1.0)
    claims = [("certified step", t_cert, c_cert)]
    claims += [(f"{k}x the certified step", k * t_cert, seg(k * t_cert)) for k in (2, 10)]
    claims += [("t", t, seg(t)) for t in ts]
    claims = [claim for claim in claims if math.isfinite(claim[1])]  # (10 t_cert past range)
    sups = exact_sups(exact.path(x, d), [t for _, t, _ in claims])
    return [Check(label, t, c, e) for (label, t, c), e in zip(claims, sups, strict=True)]


def check_segment(
    model: Model, exact: Any, x: np.ndarray, d: np.ndarray, ts: Sequence[float]
) -> list[Check]:
    """:func:`check_claims` of the model's segment bound at ``x`` (a fresh evaluation)."""
    return check_claims(model.segment(x, model.evaluate(x), d), exact, x, d, ts)


def run_segments(model: Model, x0: np.ndarray, method: str, max_iter: int) -> list[tuple]:
    """``(x, d, segment)`` of every segment bound a run of :func:`lfso.minimize` built: the
    loop's own evaluations (a product carried from the last step included)."""
    recorded = []
    build = model.segment

    def segment(x: Any, evaluation: Any, direction: Any) -> Any:
        seg = build(x, evaluation, direction)
        recorded.append((np.array(x, copy=True), np.array(direction, copy=True), seg))
        return seg

    model.segment = segment  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lfso.minimize(model, x0, method=method, max_iter=max_iter)
    finally:
        del model.segment
    return recorded


# -- problems ---------------------------------------------------------------------------------

FAR = {np.float32: (4.0, 7.0), np.float64: (10.0, 14.0)}
RUN_SCALE = {np.float32: 5.0, np.float64: 10.0}  # largest decade of a run's start


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    return y


def _rank_deficient(rng: np.random.Generator, n: int, dim: int, dtype: type) -> np.ndarray:
    """Rows in a (dim - 1)-dimensional subspace (before rounding to ``dtype``)."""
    return (rng.standard_normal((n, dim - 1)) @ rng.standard_normal((dim - 1, dim))).astype(dtype)


def _null_direction(rng: np.random.Generator, A: np.ndarray) -> np.ndarray:
    """The right singular vector of the least singular value of ``A`` (the rounded data, in
    float64), plus a perturbation from 1e-14 to 1e-4 of it: ``A d`` nearly cancels."""
    _, _, vt = np.linalg.svd(A.astype(np.float64))
    v = vt[-1]
    return v + 10.0 ** rng.uniform(-14, -4) * rng.standard_normal(v.size)


@dataclass
class Case:
    model: Model
    exact: Any
    x: np.ndarray
    directions: list[np.ndarray]  # float64, cast to the model's dtype by the test


def _point(rng: np.random.Generator, dim: int, klass: str, dtype: type) -> np.ndarray:
    if klass == "far":
        return 10.0 ** rng.uniform(*FAR[dtype]) * _unit(rng.standard_normal(dim))
    if klass == "along_run":  # a run's start, from moderate to far
        return rng.standard_normal(dim) * 10.0 ** rng.uniform(0, RUN_SCALE[dtype])
    return rng.standard_normal(dim) * 10.0 ** rng.uniform(-1, 1)


def _regression(rng: np.random.Generator, klass: str, dtype: type) -> tuple[Any, ...]:
    """``(A, b, x)`` in ``dtype`` for the residual models, and extra directions."""
    n, dim = int(rng.integers(2, 12)), int(rng.integers(2, 5))
    extra = []
    if klass == "null_direction":
        A = _rank_deficient(rng, n, dim, dtype)
        extra.append(_null_direction(rng, A))
    else:
        A = (rng.standard_normal((n, dim)) * rng.uniform(0.2, 3.0, dim)).astype(dtype)
    if klass == "near_fit":  # an exact fit up to rounding, from a point at any scale
        star = (rng.standard_normal(dim) * 10.0 ** rng.uniform(0, 4)).astype(dtype)
        fit = A.astype(np.float64) @ star.astype(np.float64)
        b = (fit * (1.0 + 10.0 ** rng.uniform(-16, -10) * rng.standard_normal(n))).astype(dtype)
        wiggle = 10.0 ** rng.uniform(-16, -8) * np.abs(star) * rng.standard_normal(dim)
        x = (star + wiggle).astype(dtype)
    else:
        b = rng.standard_normal(n).astype(dtype)
        x = _point(rng, dim, klass, dtype).astype(dtype)
    return A, b, x, extra


def _lp(rng, klass, dtype) -> Case:
    A, b, x, extra = _regression(rng, klass, dtype)
    p = float(rng.choice([1.25, 1.5, 2.0, 3.0] if klass == "near_fit" else [1.0, 1.25, 1.5, 2.0]))
    return Case(LpRegression(A, b, p), ExactRows(p, A, b), x, extra)


def _composite(rng, klass, dtype) -> Case:
    A, b, x, extra = _regression(rng, klass, dtype)
    p = float(rng.choice([1.25, 1.5, 2.0, 3.0] if klass == "near_fit" else [1.0, 1.25, 1.5, 2.0]))
    return Case(CompositeLeastSquares(A, b, p), ExactNorm(p, A, b), x, extra)


def _cauchy(rng, klass, dtype) -> Case:
    A, b, x, extra = _regression(rng, klass, dtype)
    c = float(10.0 ** rng.uniform(-3, 1))
    l2 = float(rng.choice([0.0, 0.01]))
    return Case(CauchyRegression(A, b, c, l2=l2), ExactCauchy(A, b, c, l2), x, extra)


def _classifier_data(rng, klass, dtype, k, per_feature=False) -> tuple[Any, ...]:
    n, dim = int(rng.integers(k, 12 if k == 2 else 6)), int(rng.integers(1, 4))
    intercept = bool(rng.integers(0, 2))
    if klass == "null_direction":
        dim = max(dim, 2)
        X = _rank_deficient(rng, n, dim, dtype)
    else:
        X = (rng.standard_normal((n, dim)) * rng.uniform(0.3, 3.0, dim)).astype(dtype)
    l2 = (
        float(rng.choice([0.0, 0.0, 0.1]))
        if klass == "large_margins"
        else float(rng.choice([0.0, 0.1]))
    )
    if per_feature:  # one weight per feature over decades, some 0
        l2 = 10.0 ** rng.uniform(-4.0, 1.0, dim) * (rng.uniform(size=dim) < 0.8)
    return X, _labels(rng, n, k), intercept, l2


def _margin_scale(rng, dtype) -> float:
    """The smallest margin of a large-margins point: past exp's normal range and beyond."""
    return float(
        10.0 ** rng.uniform(np.log10(20.0), np.log10(300.0 if dtype is np.float32 else 900.0))
    )


def _logistic(rng, klass, dtype, per_feature=False) -> Case:
    X, y, intercept, l2 = _classifier_data(rng, klass, dtype, 2, per_feature)
    model = LogisticRegression(X, y, l2=l2, fit_intercept=intercept)
    dim = model.dim
    x = _point(rng, dim, klass, dtype)
    extra = []
    if klass == "large_margins":
        Xt = model.X.astype(np.float64)
        x = _unit(rng.standard_normal(dim))
        x *= _margin_scale(rng, dtype) / max(np.min(np.abs(Xt @ x)), 1e-3)
    if klass == "null_direction":
        extra.append(_null_direction(rng, model.X))
    return Case(model, ExactLogistic(X, y, l2, intercept), x.astype(dtype), extra)


def _softmax(rng, klass, dtype, per_feature=False) -> Case:
    K = int(rng.integers(2, 4))
    X, y, intercept, l2 = _classifier_data(rng, klass, dtype, K, per_feature)
    model = SoftmaxRegression(X, y, K, l2=l2, fit_intercept=intercept)
    x = _point(rng, model.dim, klass, dtype)
    extra = []
    if klass == "large_margins":  # logits far apart: every row confident
        x = _unit(rng.standard_normal(model.dim)) * _margin_scale(rng, dtype)
    if klass == "null_direction":  # the same column for every class plus a null vector
        v = _null_direction(rng, model.X)
        extra.append(np.repeat(v, K) + 1e-3 * rng.standard_normal(model.dim))
    return Case(model, ExactSoftmax(X, y, K, l2, intercept), x.astype(dtype), extra)


#: Tiny points: (p, scale of x) where the powers underflow the dtype's range.
TINY = {
    "power_sum": {
        np.float32: [(25.0, 0.1), (1.25, 1e-16)],
        np.float64: [(25.0, 1e-7), (1.25, 1e-150)],
    },
    "power_norm": {
        np.float32: [(2.0, 1e-12), (1.5, 1e-18)],
        np.float64: [(2.0, 1e-80), (1.5, 1e-120)],
    },
}


def _power(name: str) -> Callable[..., Case]:
    def build(rng, klass, dtype) -> Case:
        dim = int(rng.integers(1, 6))
        if klass == "tiny":
            p, scale = TINY[name][dtype][int(rng.integers(0, 2))]
            x = scale * rng.uniform(0.5, 1.5, dim) * rng.choice([-1.0, 1.0], dim)
            extra = [scale * rng.standard_normal(dim), -x]
        else:
            far = klass in ("far", "along_run")
            choices = [1.0, 1.25, 1.5, 2.0] + ([] if far else [3.0, 4.5])
            p = float(rng.choice(choices))
            x, extra = _point(rng, dim, klass, dtype), []
        if name == "power_sum":
            return Case(PowerSum(p), ExactRows(p), x.astype(dtype), extra)
        return Case(PowerNorm(p), ExactNorm(p), x.astype(dtype), extra)

    return build


BUILDERS: dict[str, Callable[..., Case]] = {
    "lp": _lp,
    "composite": _composite,
    "cauchy": _cauchy,
    "logistic": _logistic,
    "softmax": _softmax,
    # (l2 one weight per feature: the ridge's curvature sum_j l2_j d_j^2)
    "logistic_per_feature": functools.partial(_logistic, per_feature=True),
    "softmax_per_feature": functools.partial(_softmax, per_feature=True),
    "power_norm": _power("power_norm"),
    "power_sum": _power("power_sum"),
}

RUN = ["along_run"]  # the segments of real runs (a carried product, L-BFGS directions)
ROWS = ["moderate", "far", "near_fit", "null_direction", "huge_direction", *RUN]
CLASSIFIER = ["moderate", "far", "large_margins", "null_direction", "huge_direction", *RUN]
POWER = ["moderate", "far", "tiny", "huge_direction", *RUN]
CLASSES: dict[str, list[str]] = {
    "lp": ROWS,
    "composite": ROWS,
    "cauchy": ROWS,
    "logistic": CLASSIFIER,
    "softmax": CLASSIFIER,
    "logistic_per_feature": CLASSIFIER,
    "softmax_per_feature": CLASSIFIER,
    "power_norm": POWER,
    "power_sum": POWER,
}
EXAMPLES = 6  # problems per (model, class, dtype); each with two or three directions
RUNS, RUN_STEPS = 4, 20  # runs of the class along_run (two per method), their iterations


def _directions(rng, case: Case, klass: str, dtype: type) -> list[np.ndarray]:
    """``-g``, a random descent direction and the case's own, in ``dtype``; far and huge
    classes scale them (a far point's raw gradient only overflows the bound to inf)."""
    x = case.x
    with np.errstate(all="ignore"):
        g = case.model.evaluate(x).grad.astype(np.float64)
    found = [-g, rng.standard_normal(x.size), *case.directions]
    size = np.linalg.norm(x.astype(np.float64))
    out = []
    for d in found:
        if not (np.all(np.isfinite(d)) and np.any(d)):
            continue
        if klass == "far":
            d = _unit(d) * size * 10.0 ** rng.uniform(-4, 0)
        elif klass == "huge_direction":
            d = _unit(d) * (1.0 + size) * 10.0 ** rng.uniform(3, 12 if dtype is np.float64 else 6)
        d = d.astype(dtype)
        if float(g @ d.astype(np.float64)) > 0:  # descend, so that a step is certified
            d = -d
        out.append(d)
    return out


def _times(rng, x: np.ndarray, d: np.ndarray) -> list[float]:
    """Random ``t`` over twelve decades around the segment's own scale."""
    size = np.linalg.norm(d.astype(np.float64))
    scale = (1.0 + np.linalg.norm(x.astype(np.float64))) / size if size > 0 else 1.0
    return [float(scale * 10.0**e) for e in rng.uniform(-9, 3, 3)]


def _segments(rng, case: Case, klass: str, dtype: type, example: int) -> list[tuple]:
    """``(x, d, segment)`` to check: the case's point along its directions, or (class
    ``along_run``) every segment of a run from it, by each method in turn."""
    if klass == "along_run":
        method = ("lfso", "lfso-lbfgs")[example % 2]
        return run_segments(case.model, case.x, method, RUN_STEPS)
    model, x = case.model, case.x
    with np.errstate(all="ignore"):
        return [
            (x, d, model.segment(x, model.evaluate(x), d))
            for d in _directions(rng, case, klass, dtype)
        ]


def _describe(check: Check, x: np.ndarray, d: np.ndarray) -> str:
    ratio = check.ratio
    if 0.5 < ratio < 2.0:  # the excess itself, to its own precision
        excess = check.exact / MP.mpf(check.bound) - 1
        shown = f"1 {'+' if excess >= 0 else '-'} {MP.nstr(abs(excess), 3)}"
    else:
        shown = f"{ratio:.4g}"
    return (
        f"exact/C = {shown} at {check.label} t = {check.t:.4g}: C = {check.bound!r}, "
        f"exact sup >= {MP.nstr(check.exact, 17)}; x = {x.tolist()}, d = {d.tolist()}"
    )


def assert_all_hold(checked: list[tuple[np.ndarray, np.ndarray, list[Check]]], label: str) -> float:
    """No claim below the exact curvature; the message names the worst one. Returns the
    largest ratio ``exact / C``."""
    worst, where, violations, claims = -math.inf, "", 0, 0
    for x, d, checks in checked:
        for c in checks:
            claims += 1
            violations += not c.holds
            ratio = c.ratio if c.holds else max(c.ratio, 1.0)
            if ratio > worst or (not c.holds and worst <= 1.0):
                worst, where = ratio, _describe(c, x, d)
    assert violations == 0, (
        f"{label}: {violations} of {claims} claims below the exact; worst {where}"
    )
    return worst


PARAMS = [(name, klass) for name in BUILDERS for klass in CLASSES[name]]


@pytest.mark.parametrize("kernels", ["numpy", "compiled"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "klass"), PARAMS)
def test_segment_bound_is_above_the_exact_curvature(name, klass, dtype, kernels, monkeypatch):
    """``kernels="compiled"``: the compiled row kernels on these few rows (by default they
    run from ``MIN_ROWS`` rows), where numba is installed."""
    if kernels == "compiled":
        if not _compiled.ENABLED:
            pytest.skip("numba not installed, or LFSO_NO_COMPILED set")
        monkeypatch.setattr(_compiled, "MIN_ROWS", 0)
    label = "/".join([name, klass, np.dtype(dtype).name])
    rng = np.random.default_rng([ord(c) for c in label])
    checked = []
    for example in range(RUNS if klass == "along_run" else EXAMPLES):
        case = BUILDERS[name](rng, klass, dtype)
        for x, d, seg in _segments(rng, case, klass, dtype, example):
            ts = _times(rng, x, d)[: 1 if klass == "along_run" else 3]
            with np.errstate(all="ignore"):
                checked.append((x, d, check_claims(seg, case.exact, x, d, ts)))
    worst = assert_all_hold(checked, label)
    if klass == "moderate":  # the exact side reaches the bounds: the check has teeth
        assert worst > 0.5


# -- minimal reproducers ----------------------------------------------------------------------


def test_lp_certified_step_at_a_residual_at_the_rounding_level():
    """One row, ``p = 1.25``: at ``x = (-6, 5.8)`` the residual ``4.8 - 4.64 - 0.16`` is
    rounding noise, and ``|r|^(1/2)`` amplifies its error (a bound blind to it certifies a
    step with ``C = 4.3e-57`` where the exact supremum on the segment is 1.8e-56)."""
    A, b = np.array([[-0.8, -0.8]]), np.array([0.16000000000000061])
    model, exact = LpRegression(A, b, 1.25), ExactRows(1.25, A, b)
    x = np.array([-6.0, 5.8])
    d = -model.evaluate(x).grad
    checks = check_segment(model, exact, x, d, [1e-3, 1.0, 1e3])
    assert_all_hold([(x, d, checks)], "lp p=1.25 at (-6, 5.8)")


LOGISTIC_X = [
    [368.5, 644.2],
    [-1.2, 0.7],
    [-69.2, -1814.3],
    [0.3, -0.1],
    [289.9, -17546.7],
]
LOGISTIC_Y = [0, 1, 1, 1, 1]
LOGISTIC_START = [-589.0, 43388.0]


def _far_logistic() -> tuple[LogisticRegression, ExactLogistic]:
    X, y = np.array(LOGISTIC_X, np.float32), np.array(LOGISTIC_Y)
    return LogisticRegression(X, y, l2=0.1), ExactLogistic(X, y, 0.1, False)


def _use_kernels(kernels: str, monkeypatch) -> None:
    """``"compiled"``: the compiled row kernels on a few rows (skipped without numba)."""
    if kernels == "compiled":
        if not _compiled.ENABLED:
            pytest.skip("numba not installed, or LFSO_NO_COMPILED set")
        monkeypatch.setattr(_compiled, "MIN_ROWS", 0)


@pytest.mark.parametrize("kernels", ["numpy", "compiled"])
@pytest.mark.parametrize("perturbation", [0.0, 1e-6, 1e-4, 1e-2])
def test_logistic_float32_far_point_rounded_margins(perturbation, kernels, monkeypatch):
    """float32 logistic regression at ``w = (-589, 43388)`` and nearby points: margins of
    1e4..1e8 carry rounding errors of order one, which ``sigma'`` turns into factors (a
    bound blind to them certifies ``C = 4.5e3`` against an exact 1.0e10). Compiled: the
    segment's rows made inside each trial's pass (``ApproachSegment``)."""
    _use_kernels(kernels, monkeypatch)
    model, exact = _far_logistic()
    rng = np.random.default_rng(int(perturbation * 1e6))
    x = np.array(LOGISTIC_START) * (1.0 + perturbation * rng.standard_normal(2))
    x = x.astype(np.float32)
    g = model.evaluate(x).grad
    checked = []
    for d in (-g, (np.linalg.norm(g) * rng.standard_normal(2)).astype(np.float32)):
        d = d if float(g @ d) <= 0 else -d
        with np.errstate(all="ignore"):
            checked.append((x, d, check_segment(model, exact, x, d, [1e-6, 1e-3, 1.0])))
    assert_all_hold(checked, f"far logistic, perturbation {perturbation}")


@pytest.mark.parametrize("kernels", ["numpy", "compiled"])
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_logistic_float32_far_start_every_segment_of_the_run(method, kernels, monkeypatch):
    """The same problem's runs from ``w = (-589, 43388)``: each segment bound the loop
    builds (from its own evaluations, the margins carried from step to step) is above the
    exact curvature at the iterate it starts from."""
    _use_kernels(kernels, monkeypatch)
    model, exact = _far_logistic()
    x0 = np.array(LOGISTIC_START, np.float32)
    checked = []
    for x, d, seg in run_segments(model, x0, method, 60):
        expected = ApproachSegment if kernels == "compiled" else RowSegment
        assert type(seg) is expected
        with np.errstate(all="ignore"):
            checked.append((x, d, check_claims(seg, exact, x, d, [])))
    assert_all_hold(checked, f"far logistic run, {method}")


def test_power_sum_float32_underflow_keeps_a_bound_above_the_curvature():
    """``PowerSum(25)`` in float32 at ``x = 0.1``: ``|x|^48 = 1e-48`` is below float32's range
    (a bound that underflows to a float64 floor gives ``C(1e-3) = 2.2e-308`` against an
    exact 1.2e-44)."""
    model, exact = PowerSum(25), ExactRows(25.0)
    x, d = np.full(3, 0.1, np.float32), np.ones(3, np.float32)
    seg = model.segment(x, model.evaluate(x), d)
    (sup,) = exact_sups(exact.path(x, d), [1e-3])
    assert MP.nstr(sup, 2) == "1.2e-44"
    assert_all_hold([(x, d, [Check("t", 1e-3, seg(1e-3), sup)])], "PowerSum(25) at 0.1")


#: One row whose ``u = A d`` squares below the dtype's range, beside a large residual:
#: ``(A, b, p)`` per dtype (``x = 0``, ``d = 1``).
UNDERFLOWING_WEIGHT = {
    np.float64: ([[1e-163]], [1e10], 2.0),
    np.float32: ([[2e-23]], [1e5], 1.5),
}


@pytest.mark.parametrize("kernels", ["numpy", "compiled"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_lp_segment_keeps_a_row_whose_weight_underflows(dtype, kernels, monkeypatch):
    """``u^2`` of a row below the dtype's range rounds to 0, while the power kernel's
    ``coef |r|^m`` beside it is large: a bound that loses the weight (``C = 1e-321``
    against an exact 1.2e-305 in float64, 1.3e-43 against 2.4e-40 in float32) certifies
    steps past the minimum along ``d``."""
    _use_kernels(kernels, monkeypatch)
    rows, targets, p = UNDERFLOWING_WEIGHT[dtype]
    A, b = np.array(rows, dtype), np.array(targets, dtype)
    model, exact = LpRegression(A, b, p), ExactRows(p, A, b)
    x, d = np.zeros(1, dtype), np.ones(1, dtype)
    with np.errstate(all="ignore"):
        checks = check_segment(model, exact, x, d, [1.0, 1e10, 1e20])
    assert_all_hold([(x, d, checks)], f"lp p={p}, u^2 below {np.dtype(dtype).name}'s range")


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_lp_run_with_an_underflowing_weight_never_rises(dtype, method):
    """The same row in a run: the true ``f`` (float64 or exact) never rises (a bound that
    loses the weight jumps from ``f = 1e40`` to 1e47, 1e69, 1e135 in float64)."""
    rows, targets, p = UNDERFLOWING_WEIGHT[dtype]
    A, b = np.array(rows, dtype), np.array(targets, dtype)
    xs: list[np.ndarray] = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lfso.minimize(
            LpRegression(A, b, p),
            np.zeros(1, dtype),
            method=method,
            max_iter=5,
            callback=lambda x, *_: xs.append(np.array(x, copy=True)),
        )
    a, target = Fraction(float(A[0, 0])), Fraction(float(b[0]))
    values = [abs(a * Fraction(float(x[0])) - target) for x in [np.zeros(1), *xs]]
    assert len(values) > 1
    assert all(v1 <= v0 for v0, v1 in itertools.pairwise(values)), values  # |r| decides f


def test_power_sum_segment_keeps_a_coordinate_whose_weight_underflows():
    """``PowerSum(2)`` at ``x = (1e100, 0)`` along ``d = (-1e-170, -1)``: ``d_1^2`` rounds to 0
    in float64 beside ``12 x_1^2 = 1.2e201`` (a bound that loses it gives ``C(1e-80) =
    1.2e-159`` against an exact 1.2e-139)."""
    model, exact = PowerSum(2), ExactRows(2.0)
    x, d = np.array([1e100, 0.0]), np.array([-1e-170, -1.0])
    seg = model.segment(x, model.evaluate(x), d)
    ts = [1e-80, 1e-75]
    sups = exact_sups(exact.path(x, d), ts)
    checks = [Check("t", t, seg(t), sup) for t, sup in zip(ts, sups, strict=True)]
    assert_all_hold([(x, d, checks)], "PowerSum(2) at (1e100, 0)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["lp", "composite"])
def test_a_segment_at_a_subnormal_residual_covers_its_underflow(kind, dtype):
    """A residual ``a x`` that is a subnormal number has lost up to half the smallest
    subnormal to underflow, not a relative amount, and ``|r|^m`` with ``m < 1`` (``p =
    1.25``) magnifies that loss: a bound that counts only relative rounding is 6e-4 below
    the exact ``C(0)`` in float64 (1e-5 to 1.5e-4 in float32)."""
    point = 1.7954e-320 if dtype is np.float64 else 1e-40
    A, b = np.array([[0.11323567446883237]], dtype), np.zeros(1, dtype)
    x, d = np.array([point], dtype), np.array([-1.0], dtype)
    if kind == "lp":
        model, exact = LpRegression(A, b, 1.25), ExactRows(1.25, A, b)
    else:
        model, exact = CompositeLeastSquares(A, b, 1.25), ExactNorm(1.25, A, b)
    with np.errstate(all="ignore"):
        checks = check_segment(model, exact, x, d, [0.0, 1e-320 if dtype is np.float64 else 1e-45])
    assert_all_hold([(x, d, checks)], f"{kind} p=1.25 at a subnormal residual")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["logistic", "cauchy", "softmax"])
def test_a_ridge_term_whose_squares_underflow_stays_in_the_bound(kind, dtype):
    """``l2 ||d||^2`` with a penalised ``d`` whose squares underflow beside a large ``l2``
    (float64: ``1e300 (1e-170)^2 = 1e-40``): a bound that sums the computed squares gives
    about ``1e-308`` (float32, ``1e30 (1e-25)^2 = 1e-20``: about ``1e-44``). The ridge term
    alone bounds the curvature from below (the loss's part is >= 0)."""
    l2, tiny_d = (1e300, 1e-170) if dtype is np.float64 else (1e30, 1e-25)
    A, target = np.array([[1.0]], dtype), np.array([1], dtype)
    if kind == "logistic":
        model: Model = LogisticRegression(A, target, l2=l2, fit_intercept=True)
        x, d = np.array([0.0, 10.0], dtype), np.array([tiny_d, -1.0], dtype)
    elif kind == "cauchy":
        model = CauchyRegression(A, target, 1.0, l2=l2)
        x, d = np.zeros(1, dtype), np.array([tiny_d], dtype)
    else:
        model = SoftmaxRegression(A, np.array([1]), 2, l2=l2, fit_intercept=False)
        x, d = np.zeros(2, dtype), np.array([tiny_d, 0.0], dtype)
    ridge = Fraction(l2) * Fraction(float(d[0])) ** 2
    with np.errstate(all="ignore"):
        bound = model.segment(x, model.evaluate(x), d)(1.0)
    assert Fraction(bound) >= ridge, (bound, float(ridge))


#: float32 rows whose squares underflow (``(1e-30)^2``) at a point whose products cancel:
#: ``1e-30 w_1 + 1e-30 w_2`` rounds to 25 where the exact margin is 24.09.
TINY_ROWS = [[1e-30, 1e-30]]
TINY_ROWS_POINT = [8.713805506782144e36, -8.71378142142074e36]


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_a_segment_over_rows_whose_squares_underflow_keeps_their_rounding(kind):
    """A row norm computed as ``sqrt(sum a_j^2)`` is 0 where the squares underflow, and so
    was the rounding slack of the margins or logits (``gamma_d ||a_i||_1 ||x||_inf``): a
    margin rounded up by 0.9 gave ``C = 1.39e-11`` against an exact 3.47e-11 (logistic;
    softmax: 2.18e-11)."""
    X = np.array(TINY_ROWS, np.float32)
    w = np.array(TINY_ROWS_POINT, np.float32)
    if kind == "logistic":
        model: Model = LogisticRegression(X, np.array([1.0]))
        exact: Any = ExactLogistic(X, np.array([1.0]), 0.0, False)
        x, d = w, np.array([1e30, 0.0], np.float32)
    else:
        model = SoftmaxRegression(X, np.array([0]), 2, fit_intercept=False)
        exact = ExactSoftmax(X, np.array([0]), 2, 0.0, False)
        x = np.array([w[0], 0.0, w[1], 0.0], np.float32)
        d = np.array([1e30, 0.0, 0.0, 0.0], np.float32)
    with np.errstate(all="ignore"):
        checks = check_segment(model, exact, x, d, [0.0, 1e-3, 1.0])
    assert_all_hold([(x, d, checks)], f"{kind} over rows of 1e-30 in float32")


#: Segments whose terms pass the float32 range: ``(kind, X, labels, x, d, trials)``. A
#: logistic weight ``u^2 = 1e56`` and a softmax row's ``v^2`` overflow to ``inf`` beside a
#: ``sigma'`` or an exponential that underflows to 0; a softmax row's exponent slack ``e^{2
#: g}`` overflows at ``t = 1e27`` beside a ratio that underflowed to 0. Each ``inf * 0``
#: made ``C`` NaN (and ``step_for`` raise), where ``C(t)`` at a smaller ``t`` was finite.
PAST_THE_RANGE = [
    ("logistic", [[1e13]], [1], [1e-9], [1e15], [0.0, 1e-30, 1.0]),
    ("softmax", [[1e13, 0.0], [1.0, 1.0]], [0, 1], [0.0] * 4, [1e15, 0, 0, 0], [1e-3, 1.0]),
    (
        "softmax",
        [[1.0, -2.0], [0.5, 1.0]],
        [0, 1],
        [3000.0, -3000.0, 1000.0, 500.0],
        [1e-20, -0.5e-20, 0.25e-20, 2e-20],
        [1.0, 1e20, 1e27],
    ),
]


@pytest.mark.parametrize(
    ("kind", "X", "labels", "x", "d", "trials"),
    PAST_THE_RANGE,
    ids=["logistic-weight", "softmax-weight", "softmax-slack"],
)
def test_a_segment_whose_terms_pass_the_float_range_is_inf_not_nan(kind, X, labels, x, d, trials):
    """Past the float range no finite bound is claimed: ``C = inf`` (as on a device), never
    NaN, and ``C`` stays non-decreasing and above the exact curvature."""
    A, y = np.array(X, np.float32), np.array(labels)
    if kind == "logistic":
        model: Model = LogisticRegression(A, y)
        exact: Any = ExactLogistic(A, y, 0.0, False)
    else:
        model = SoftmaxRegression(A, y, 2, fit_intercept=False)
        exact = ExactSoftmax(A, y, 2, 0.0, False)
    w, v = np.array(x, np.float32), np.array(d, np.float32)
    with np.errstate(all="ignore"):
        segment = model.segment(w, model.evaluate(w), v)
        values = [segment(t) for t in trials]
        assert not any(math.isnan(c) for c in values), values
        assert values == sorted(values), values
        step, bound, _ = segment.step_for(1.0)
        assert not math.isnan(bound) and step >= 0.0
        checks = check_segment(model, exact, w, v, trials)
    assert_all_hold([(w, v, checks)], f"{kind} past the float32 range")


@pytest.mark.parametrize(
    ("dtype", "outlier", "c"),
    [(np.float32, 1e20, 1.0), (np.float32, 3e38, 1e-18), (np.float64, 1e155, 1e150)],
    ids=["float32", "float32-small-c", "float64-large-c"],
)
def test_cauchy_value_at_an_outlier_whose_square_overflows(dtype, outlier, c):
    """``rho(r) = (c^2/2) log(1 + r^2/c^2)`` grows like a logarithm: a residual whose
    square overflows the dtype (1e20 in float32) has a finite loss, and so has ``f``;
    ``r * r / c^2`` made it ``inf`` and the run refused to start. Its ``rho'(r) = r / (1 +
    r^2/c^2)`` is finite too (``1e145`` at ``r = 1e155``, ``c = 1e150``), where ``r / inf``
    made it 0 (the gradient then pointed the wrong way)."""
    A = np.array([[1.0], [2.0], [-1.0]], dtype)
    b = np.array([outlier, 3.0, -0.5], dtype)
    model, x = CauchyRegression(A, b, c=c), np.zeros(1, dtype)
    cm = MP.mpf(c)
    exact = MP.fsum(cm**2 / 2 * MP.log1p((MP.mpf(float(v)) / cm) ** 2) for v in b) / 3
    values = {"evaluate": model.evaluate(x).value, "value": model.value(x)}
    for name, value in values.items():
        assert abs(MP.mpf(value) / exact - 1) < 8 * np.finfo(dtype).eps, (name, value)
    r = [-MP.mpf(float(v)) for v in b]  # (at x = 0)
    slope = MP.fsum(float(a) * v / (1 + (v / cm) ** 2) for a, v in zip(A[:, 0], r, strict=True)) / 3
    with np.errstate(over="ignore"):
        evaluation = model.evaluate(x)
    assert abs(MP.mpf(float(evaluation.grad[0])) / slope - 1) < 16 * np.finfo(dtype).eps
    norm = abs(float(evaluation.grad[0]))
    assert evaluation.grad_norm == pytest.approx(norm, rel=4 * float(np.finfo(dtype).eps))
    res = lfso.minimize(model, x, max_iter=50)
    assert math.isfinite(res.fun) and res.fun <= values["value"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cauchy_evaluation_at_an_outlier_whose_square_overflows_is_quiet(dtype):
    """A residual whose ``r^2 / c^2`` overflows is one the model takes again in a wide
    form: its evaluation, the ball bound (at the hinted radius and others) and a run raise
    no NumPy overflow warning, and give the same numbers as with the warning."""
    outlier = 1e20 if dtype == np.float32 else 1e160
    A = np.array([[1.0], [2.0], [-1.0]], dtype)
    model = CauchyRegression(A, np.array([outlier, 3.0, -0.5], dtype))
    x = np.zeros(1, dtype)
    with np.errstate(over="ignore"):
        quiet = model.evaluate(x, hint=0.5)
        expected = [quiet.value, quiet.grad_norm, quiet.bound(0.5), quiet.bound(2.0)]
        run = lfso.minimize(model, x, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ev = model.evaluate(x, hint=0.5)
        got = [ev.value, ev.grad_norm, ev.bound(0.5), ev.bound(2.0)]
        plain = model.evaluate(x)
        bounds = [model(x, radius) for radius in (0.0, 1.0)]
        res = lfso.minimize(model, x, max_iter=20)
    assert got == expected and all(math.isfinite(v) for v in got)
    assert plain.value == ev.value and all(0.0 < v < math.inf for v in bounds)
    assert np.array_equal(res.x, run.x) and res.fun == run.fun


def _exact_value_and_grad(model: Any, X: Any, labels: Any, l2: Any, x: Any) -> tuple[Any, list]:
    """``f(x)`` and ``grad f(x)`` of a classifier of ``K`` columns of weights (1: binary
    logistic with 0/1 labels), in mpmath from the exact fractions."""
    K = getattr(model, "K", 1)
    rows = rows_of(X, True)
    weights = ridge_weights(l2, np.shape(X)[1])
    w = fractions(x)
    W = [[w[j * K + k] for j in range(len(rows[0]))] for k in range(K)]
    n, total = len(rows), MP.mpf(0)
    grad = [MP.mpf(0)] * len(w)
    for row, label in zip(rows, labels, strict=True):
        z = [mp(dot(row, W[k])) for k in range(K)]
        if K == 1:  # log(1 + e^{-s z}), its derivative -s sigma(-s z)
            s = 1 if label else -1
            total += MP.log1p(MP.exp(-s * z[0]))
            coef = [-s / (1 + MP.exp(s * z[0]))]
        else:
            lse = MP.log(MP.fsum(MP.exp(zk) for zk in z))
            total += lse - z[label]
            coef = [MP.exp(zk - lse) - (k == label) for k, zk in enumerate(z)]
        for j, a in enumerate(row):
            for k in range(K):
                grad[j * K + k] += mp(a) * coef[k] / n
    value = total / n
    for j, lj in enumerate(weights):
        for k in range(K):
            value += mp(lj * w[j * K + k] ** 2) / 2
            grad[j * K + k] += mp(lj * w[j * K + k])
    return value, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_one_ridge_weight_per_feature_gives_the_value_and_gradient(kind, dtype):
    """``l2`` one weight per feature (over eight decades, one 0): the model's value and
    gradient are the exact ones to the dtype's rounding, the intercepts unpenalised."""
    rng = np.random.default_rng(7)
    X = (rng.standard_normal((9, 3)) * [1.0, 10.0, 0.1]).astype(dtype)
    l2 = np.array([1e-4, 0.0, 1e4])
    if kind == "logistic":
        labels = [0, 1, 1, 0, 1, 0, 0, 1, 1]
        model: Model = LogisticRegression(X, np.array(labels), l2=l2, fit_intercept=True)
    else:
        labels = [0, 1, 2, 0, 1, 2, 2, 1, 0]
        model = SoftmaxRegression(X, np.array(labels), 3, l2=l2)
    x = rng.standard_normal(model.dim).astype(dtype)
    ev = model.evaluate(x)
    value, grad = _exact_value_and_grad(model, X, labels, l2, x)
    rtol = 1e-5 if dtype is np.float32 else 1e-13
    scale = float(MP.sqrt(MP.fsum(g * g for g in grad)))
    assert abs(ev.value - float(value)) <= rtol * abs(float(value))
    assert abs(model.value(x) - float(value)) <= rtol * abs(float(value))
    errors = [abs(float(gi) - float(ei)) for gi, ei in zip(grad, ev.grad, strict=True)]
    assert max(errors) <= rtol * scale, (errors, scale)
    # the intercepts' entries carry no ridge: 1e4 there would dwarf the loss's part
    for k in range(getattr(model, "K", 1)):
        assert abs(float(grad[-1 - k])) < 10.0


def _one_row_sup(a: float, b: float, p: float, R: float) -> Any:
    """``sup ||Hess f||`` on ``B(0, R)`` for ``f(x) = (a x - b)^(2p)`` in one variable:
    ``2p(2p-1) (|b| + |a| R)^(2p-2) a^2``, exact from the float entries."""
    P, a_, b_ = MP.mpf(p), MP.mpf(a), MP.mpf(b)
    return 2 * P * (2 * P - 1) * (abs(b_) + abs(a_) * MP.mpf(R)) ** (2 * P - 2) * a_**2


#: One row and one column, ``x = 0``: ``(a, b, p, oracle, dtype, R, what an unsound bound
#: gave against the exact supremum)``.
UNDERFLOWING_STATISTICS = [
    # ||a||^2 |r|^m (T_0) below float32's range: the trace line 0 at R = 0
    (1e-5, -4e-10, 3.0, "sharp", np.float32, 0.0, "0 against 7.7e-47"),
    (1e-5, -4e-10, 3.0, "sharp", np.float32, 1e-10, "3e-69 against 7.7e-47"),
    # |r|^m itself below float32's range, beside a large row
    (1e15, 1e-12, 3.0, "sharp", np.float32, 1e-28, "3e-21 against 4.4e-17"),
    # ||a||^(m+2) (T_2) below float64's range: the bound flat in R
    (5e-29, 3e-22, 7.5, "sharp", np.float64, 7e29, "0 against 6.2e-35"),
    # k ||a||^m below float64's range, which R^m would magnify
    (5e-24, 1e-14, 7.5, "paper", np.float64, 2e10, "2.2e-223 against 1.8e-213"),
]


@pytest.mark.parametrize(("a", "b", "p", "oracle", "dtype", "R", "was"), UNDERFLOWING_STATISTICS)
def test_lp_ball_bound_keeps_statistics_that_underflow(a, b, p, oracle, dtype, R, was):
    """The ball bound's statistics (``max_i |r_i|^m``, ``T_0``, ``T_2``, the paper's ``k
    ||a_i||^m``) may underflow to 0 in the data's dtype, while the curvature they stand for
    is within the float64 range where the bound is taken (``was``: what the bound gave)."""
    model = LpRegression(np.array([[a]], dtype), np.array([b], dtype), p, oracle=oracle)
    L = model.evaluate(np.zeros(1, dtype)).bound(R)
    sup = _one_row_sup(float(dtype(a)), float(dtype(b)), p, R)
    assert sup <= MP.mpf(L) * (1 + TOL), (was, L, MP.nstr(sup, 3))


@pytest.mark.parametrize("b", [1e10, 2e11, 3e30, 1e38])
def test_lp_float32_power_whose_exponent_rounds_in_float32(b):
    """``|r|^m`` of float32 residuals is taken with ``m`` rounded to float32: with ``p =
    1.5 + 2^-25 - 2^-41`` (``m = 1 + 2^-24 - 2^-40`` rounds to 1) and ``|r|`` up to 1e38,
    ``|r|^m`` is up to 5e-6 below its exact value, past the power's own ulps; the ball bound
    at ``R = 0`` and the segment bound at ``t = 0`` were up to 4e-6 below the curvature."""
    p = 1.5 + 2**-25 - 2**-41
    model = LpRegression(np.array([[1.0]], np.float32), np.array([b], np.float32), p)
    x, d = np.zeros(1, np.float32), np.ones(1, np.float32)
    ev = model.evaluate(x)
    sup = _one_row_sup(1.0, float(np.float32(b)), p, 0.0)
    assert sup <= MP.mpf(ev.bound(0.0)) * (1 + TOL)
    C = model.segment(x, ev, d)(0.0)
    assert sup <= MP.mpf(C) * (1 + TOL) or C == math.inf
