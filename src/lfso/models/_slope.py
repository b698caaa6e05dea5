"""Proven bounds on the exact slope ``grad f(x) . v`` of a row model along a segment.

A certified step is sized from the computed slope ``s = g . v`` (``g`` the computed
gradient): with ``tau C = eta (-s)`` and ``C`` a proven bound on the curvature along the
segment, the descent lemma for the exact ``f`` at the float ``x`` reads

.. math::  f(x + \\tau v) - f(x) \\le \\tau s^* + \\tau^2 C / 2
           = \\tau (s^* - s) - \\tau (1 - \\eta/2) |s|,

``s* = grad f(x) . v`` the exact slope. So the step descends iff ``s* - s < (1 - eta/2)
|s|``, which the rounding of ``g`` can break where it is comparable to the slope (the
margins of a logistic model at weights of 1e7, each a difference of products of 1e4).
:class:`RowSlope` bounds ``s*`` from the rows a row segment already holds, for the
certificate (:class:`lfso.steps.SegmentCertificate`) to check the step against.

Model. ``f(x) = (1/N) sum_i l_i(z*_i) + (1/2) sum_j lambda_j x_j^2`` with ``z* = A x``
(exact), ``N`` the rows' divisor (``n`` for a mean, 1 for a sum) and ``u* = A v``. The
rows held are the computed ``z`` and ``u`` with ``|z_i - z*_i| <= delta`` and ``|u_i -
u*_i| <= eps`` (the segment's own rounding bounds). Then ``s* = (1/N) sum_i l_i'(z*_i)
u*_i + sum_j lambda_j x_j v_j``.

Theorem (:meth:`RowSlope.upper`). Let ``w_i`` be ``l_i'(z_i)`` computed in float64 with
``|w_i - l_i'(z_i)| <= omega_i``, and ``kappa_i >= sup |l_i''|`` over ``[z_i - delta, z_i
+ delta]``. Then

.. math::  s^* \\le \\frac1N \\Big(\\sum_i w_i u_i + \\sum_i (\\kappa_i \\delta + \\omega_i)
           (|u_i| + \\epsilon) + |w_i| \\epsilon\\Big) + \\sum_j \\lambda_j x_j v_j .

Proof: ``|l'(z*) u* - w u| <= |l'(z*) - l'(z)| |u*| + |l'(z) - w| |u*| + |w| |u* - u|``,
with ``|l'(z*) - l'(z)| <= kappa delta`` (mean value theorem) and ``|u*| <= |u| + eps``.
The bound does not read ``g`` at all: it holds however the gradient was rounded.

Rounding. ``z`` and ``u`` (float32 or float64) are exact in float64, and so are their
products with a float64 ``w`` up to a relative ``u_64`` each; the sum ``S = fl(sum_i w_i
u_i)`` is within ``gamma_{n+1} sum_i |w_i u_i|`` of the exact one in any order (Higham,
*Accuracy and Stability of Numerical Algorithms*, 2002, Lemma 3.1; ``u_64`` the unit
roundoff of float64), and each product may lose up to the smallest subnormal ``eta_64``
to underflow. The error terms are non-negative, a few correctly rounded operations each,
summed: their computed sum times ``1 + gamma_{n+10}`` bounds the exact one. The ridge sum
``sum_j lambda_j x_j v_j`` is padded likewise (``gamma_{dim+2}`` of ``sum_j |lambda_j x_j
v_j|``). The last few host operations (the sums of the parts and the division by ``N``)
are rounded up by one float each (:func:`math.nextafter`), so that the float returned is
``>= s*``.

Per-row pads (``fresh``, :func:`fresh_pads`; ``refine``, :func:`wide_row_pads`). The
theorem and its proof hold as they stand with ``delta`` and ``eps`` replaced by per-row
bounds ``delta_i >= |z_i - z*_i|`` and ``eps_i >= |u_i - u*_i|``, and ``kappa_i`` taken
over ``[z_i - delta_i, z_i + delta_i]`` (the mean value theorem on row ``i`` reads its
own interval only). For ``z = fl(A x)`` and ``u = fl(A v)`` made
in the data's dtype (``gamma_d`` its Higham constant, ``eta`` its smallest subnormal),
``|fl(a_i^T x) - a_i^T x| <= gamma_d sum_j |a_ij x_j| + d eta <= gamma_d c_i ||x||_inf +
d eta`` with ``c_i >= ||a_i||_1`` (Lemma 3.1, in any order of the sum; each product may
lose up to ``eta`` to underflow, the sums nothing): ``c_i`` is summed once per model in
float64 (:func:`row_one_norms`, exact up to ``gamma_{d-1}``, padded). Against the uniform
pads ``gamma_d alpha ||x||_inf + D`` (``alpha = sqrt(d) max_i ||a_i||_2 >= max_i ||a_i||_1``
and ``D`` a carried product's drift) they gain the ratio ``c_i / alpha`` on every row and
the drift on ``z``, at the cost of one product in the data's dtype; the error terms' own
rounding and underflow are those of the uniform case (``delta_i`` and ``eps_i`` are
computed in four float64 operations, rounded up by a relative ``2^-40``). The rows made
again in float64 (:func:`wide_products`) take the same per-row form with ``gamma_{d+4}^{64}``
(:func:`wide_row_pads`, ``|b_i|`` added for a residual ``fl(z_i - b_i)``): rows of mixed
scales (1e-15 to 1e15) do not share the largest row's pad, which would swamp the slope
of the small rows wherever the large ones' ``l'`` vanishes (saturated logistic margins).

A priori (:attr:`RowSlope.prior`). The model also states, from quantities at hand and no
pass over the rows, a bound ``e_0 >= |s* - s|`` for a computed slope ``s = fl(g . v)``
(its docstring, :meth:`lfso.models.LogisticRegression.segment`,
:meth:`lfso.models.LpRegression.segment`, and the Cauchy and softmax models'
``_slope_check``): where ``e_0`` is below an eighth of ``(1 -
eta/2) |s|`` the certificate reads no row; else it asks for :meth:`RowSlope.upper`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import _gamma_of_unit
from . import _compiled

__all__ = [
    "RowSlope",
    "cauchy_derivative",
    "logistic_derivative",
    "power_derivative",
    "softmax_derivative",
]

#: The tiers of :meth:`RowSlope.upper` by stage (the names ``history`` keeps).
_TIERS = {1: "factor", 2: "held", 3: "fresh", 4: "refine"}
#: float64's unit roundoff and smallest subnormal number.
_U64 = 2.0**-53
_ETA64 = math.ulp(0.0)
#: sigma'(t) = e^-t / (1 + e^-t)^2 <= 1/4.
_QUARTER = 0.25
#: ``np.sum(a)`` of a 1-d array as ``_sum(a, None)``: the same reduction, bit for bit.
_sum = np.add.reduce


def gamma64(k: float) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)`` in float64 (``inf`` from ``k u >= 1/2``)."""
    ku = k * _U64
    return ku / (1.0 - ku) if ku < 0.5 else math.inf


def _up(value: float) -> float:
    """The float above ``value``: ``>=`` the exact result of the correctly rounded operation
    that gave ``value``."""
    return math.nextafter(value, math.inf)


Derivative = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def logistic_derivative(
    z: np.ndarray, delta: float | np.ndarray, signs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, kappa, omega)`` of the logistic rows ``l_i(z) = log(1 + e^{-s_i z})``
    (``s_i = +-1``, ``signs``) at the float64 ``z``, for :class:`RowSlope`.

    ``l'(z) = -s sigma(-s z)``, with ``sigma(-m) = e / (1 + e)`` for ``m = s z >= 0`` and
    ``1 / (1 + e)`` otherwise, ``e = e^{-|m|}`` (no overflow). ``|l''(z)| = sigma'(m) <=
    min(1/4, e^{-|m|})``, even and decreasing in ``|m|``, so on ``[z - delta, z + delta]``
    it is at most ``sigma'(max(|m| - delta, 0)) <= min(1/4, e^{-(|m| - delta)})``. Where
    ``e^delta`` is in range (``delta < 690``) that is taken as ``e^{delta} e^{-|m|}``
    (``e^{delta}`` rounded up by a relative ``2^-40``, ``e`` by ``16 u_64`` for the
    exponential's error, plus ``2 eta_64`` for its underflow); past it as ``e^{-t}`` with
    ``t = fl(|m| - delta) (1 - 2^-50) <= |m| - delta`` (``|m|`` exact, the difference and
    the product a relative ``u_64`` each), rounded up alike, and ``1/4`` where ``t <= 0``
    (so a margin of ``1e100`` at ``delta = 1e85`` keeps a ``kappa`` of 0, not ``1/4``);
    the same, row by row, for per-row bounds (``delta`` an array).
    ``w`` is within ``32 u_64 |w| + 8 eta_64`` of ``l'(z)``: the exponential (a few ulps),
    ``1 + e``, the quotient (one each), and ``sigma(-m)``'s relative sensitivity to ``e``,
    at most 1.
    """
    s64 = np.asarray(signs, dtype=np.float64)
    m = s64 * z
    e = np.exp(-np.abs(m))
    sigma = np.where(m >= 0.0, e, 1.0) / (1.0 + e)
    w = -s64 * sigma
    if type(delta) is np.ndarray:  # (per-row bounds: each row's own interval)
        growth = math.inf
    else:
        growth = math.exp(delta) * (1.0 + 2.0**-40) if delta < 690.0 else math.inf
    if growth < 1e300:
        kappa = np.minimum((e * (1.0 + 16.0 * _U64) + 2.0 * _ETA64) * growth, _QUARTER)
    else:
        kappa = _far_kappa(np.abs(m), delta)
    omega = 32.0 * _U64 * sigma + 8.0 * _ETA64
    return w, kappa, omega


def _far_kappa(size: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """``>= min(1/4, e^{-(|m| - delta)})`` from ``size = |m|`` where ``e^delta`` leaves
    float64's range (:func:`logistic_derivative`)."""
    t = (size - delta) * (1.0 - 2.0**-50)
    with np.errstate(over="ignore", under="ignore"):
        far = np.exp(-t) * (1.0 + 16.0 * _U64) + 2.0 * _ETA64
    return np.where(t > 0.0, np.minimum(far, _QUARTER), _QUARTER)


def power_derivative(
    r: np.ndarray, delta: float | np.ndarray, p: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, kappa, omega)`` of the rows ``l(r) = |r|^(2p)``, ``p >= 1``, at the float64
    residuals ``r``, for :class:`RowSlope`.

    ``l'(r) = 2p |r|^m r`` and ``l''(r) = 2p (2p - 1) |r|^m`` with ``m = 2p - 2 >= 0``,
    non-decreasing in ``|r|`` (2, constant, for least squares, ``m = 0``): on ``[r -
    delta, r + delta]`` at most ``2p (2p - 1) (|r| + delta)^m``, rounded up by ``16 u_64``
    for ``m <= 8`` and ``(m + 16) u_64`` above: the sum ``|r| + delta`` rounds by a
    relative ``u_64``, which the power raises to at most ``(1 + u_64)^m - 1 ~ m u_64``,
    ``pow`` adds an ulp (``2 u_64``) and the constant and the products a few ``u_64``
    more (``m + 7`` in all, first order); where the power underflows, it is within
    ``eta_64`` of the exact one, so ``2 eta_64`` is added. ``w`` (``|r|^m`` by ``pow``, within a few
    ulps, then two products) is within ``16 u_64 |w| + 4 (2p) eta_64`` of ``l'(r)``
    (underflow included). Past float64's range the values are ``inf``, and the bound with
    them is ``inf`` or NaN: no step is certified from it.
    """
    m, q, curv = 2.0 * p - 2.0, 2.0 * p, 2.0 * p * (2.0 * p - 1.0)
    a = np.abs(r)
    w = (q * a**m) * r
    pad = 1.0 + (16.0 if m <= 8.0 else m + 16.0) * _U64
    kappa = (curv * pad) * ((a + delta) ** m + 2.0 * _ETA64)  # (and its underflow)
    omega = 16.0 * _U64 * np.abs(w) + 4.0 * q * _ETA64
    return w, kappa, omega


def cauchy_derivative(
    r: np.ndarray, delta: float | np.ndarray, c: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, kappa, omega)`` of the Cauchy rows ``l(r) = (c^2/2) log(1 + r^2/c^2)`` at the
    float64 residuals ``r``, for :class:`RowSlope`.

    ``l'(r) = r / (1 + q^2)`` with ``q = r / c``, taken as ``c / (q + 1/q)`` where ``|r| >
    c`` (no overflow of ``r^2``); ``l''(r) = (1 - q^2) / (1 + q^2)^2``, so ``|l''(t)| <= 1 /
    (1 + t^2/c^2)`` (``|1 - w| <= 1 + w``), even and decreasing in ``|t|``: on ``[r -
    delta, r + delta]`` at most ``1 / (1 + s^2/c^2)``, ``s = max(0, |r| - delta)``, taken
    as ``(1 + 16 u_64) / (1 + (s/c)^2)`` for ``s <= c`` and ``(1 + 16 u_64) h^2 / (1 +
    h^2) + 2 eta_64``, ``h = c / s``, above (each a few correctly rounded operations, whose
    relative errors the pad covers: the value is decreasing in ``s`` and ``fl(s)`` is within
    a half ulp of ``s``), and at most 1. ``w`` is within ``16 u_64 |w| + 8 eta_64`` of
    ``l'(r)``: four operations, and ``l'``'s relative sensitivity to ``q`` (``|1 - q^2| /
    (1 + q^2)``) and to ``1/q`` at most 1; where ``q`` overflows (``|r| / c > 1.8e308``,
    so ``c < 1``) ``w = 0`` and ``|l'(r)| <= c / |q| < 1e-308``, which ``omega`` adds.
    """
    c = float(c)
    a = np.abs(r)
    inner = a <= c
    q = r / c
    with np.errstate(divide="ignore", over="ignore"):
        outer = c / (q + 1.0 / np.where(inner, 1.0, q))
        w = np.where(inner, r / (1.0 + q * q), outer)
        s = np.maximum(a - delta, 0.0)
        h = c / np.where(s > c, s, c)
        near = (1.0 + 16.0 * _U64) / (1.0 + (s / c) * (s / c))
        far = (1.0 + 16.0 * _U64) * (h * h) / (1.0 + h * h) + 2.0 * _ETA64
        kappa = np.minimum(np.where(s > c, far, near), 1.0)
    omega = 16.0 * _U64 * np.abs(w) + 8.0 * _ETA64 + np.where(np.isinf(q), 1e-308, 0.0)
    return w, kappa, omega


def softmax_derivative(
    z: np.ndarray, delta: float, classes: int, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w, kappa, omega)`` of softmax regression's logits, for :class:`RowSlope`: ``z``
    the float64 logits of ``n`` rows, ``K = classes`` a row, class by class (the ``K x
    n`` array flattened), ``labels`` the flat indices of the labels' entries.

    A row's loss ``l(z) = log sum_k e^{z_k} - z_y`` has ``d l / d z_m = pi_m - [m = y]``
    and Hessian ``H = diag(pi) - pi pi^T``, whose row ``m`` sums in absolute value to
    ``2 pi_m (1 - pi_m) <= 1/2``. Theorem (per logit, in place of the mean value
    theorem): where every logit of the row is within ``delta`` of the exact one,
    ``|l_m'(z*) - l_m'(z)| = |int_0^1 sum_k H_mk(z + s (z* - z)) (z*_k - z_k) ds| <= delta
    / 2``; so ``kappa = 1/2`` for every logit, and :class:`RowSlope`'s theorem holds with
    the sum over the ``n K`` logits in place of the rows (its proof reads
    ``|l'(z*) - l'(z)| <= kappa delta`` and nothing else of ``l``).

    Rounding: ``pi_m = e_m / S`` with ``e_m = exp(z_m - max_k z_k)`` and ``S = sum_k e_k
    >= 1``; the label's ``pi_y - 1`` taken as ``-(sum_{k != y} e_k) / S`` (no
    cancellation). The shift is within ``u_64 |Delta_m|`` of the exact one, which moves
    ``e_m`` by a relative ``1.01 u_64 |Delta_m| <= 760 u_64`` where it is at least the
    smallest normal number (``|Delta_m| <= 746``; below it, an absolute ``2 eta_64``), the
    exponential by ``2 u_64``; the sums add ``gamma_K`` and the quotient one: ``w`` is within
    ``(1600 + 2K) u_64 |w| + 4 (K + 2) eta_64`` of ``l'(z)``.
    """
    k = int(classes)
    logits = z.reshape(k, -1)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        e = np.exp(logits - np.max(logits, axis=0, keepdims=True))
        total = np.sum(e, axis=0, keepdims=True)
        w = (e / total).reshape(-1)
        flat = e.reshape(-1)
        label = flat[labels]
        flat[labels] = 0.0
        others = np.sum(e, axis=0)
        flat[labels] = label
        w[labels] = -others / total.reshape(-1)
    kappa = np.full_like(w, 0.5)
    omega = (1600.0 + 2.0 * k) * _U64 * np.abs(w) + 4.0 * (k + 2) * _ETA64
    return w, kappa, omega


class RowSlope:
    """The exact slope ``grad f(x) . v`` of a row model, bounded from its rows (see the
    module docstring for the theorem, its proof and rounding).

    Parameters
    ----------
    rows, u : NumPy arrays, shape (n,)
        The computed statistics ``z`` (margins' products, residuals) at ``x`` and ``u = A
        v``, float32 or float64; ``rows`` may be ``(fn, args)``, ``fn(*args)`` the rows,
        made only when the bound reads them.
    delta, eps : float
        ``|z_i - z*_i| <= delta``, ``|u_i - u*_i| <= eps`` (the segment's rounding bounds).
    derivative : (callable, args)
        :func:`logistic_derivative`, :func:`power_derivative`, :func:`cauchy_derivative`
        or :func:`softmax_derivative` (the ``n K`` logits as rows) and its last arguments:
        ``fn(z64, delta, *args) -> (w, kappa, omega)``.
    divisor : float
        ``N`` (``n`` for a mean, 1 for a sum): an integer, exact in float64.
    prior : float
        The model's a-priori bound on ``|s* - fl(g . v)|`` (``inf``: none).
    ridge : (weights, x, v) or None
        ``weights()`` the ridge's ``lambda`` (a float64 array or a float, read only when
        the bound is), and the point and direction, whose slope ``sum_j lambda_j x_j v_j``
        is added.
    factor : (f, omega), optional
        The gradient's own row factor ``f_i`` (``l'(z_i)`` computed in the data's dtype, of
        the same ``z``), each within ``omega`` of ``l'(z_i)``, with ``|l''| <= 1/4``
        (logistic rows): the theorem with ``w = f``, ``kappa = 1/4`` and ``omega_i =
        omega`` gives a first bound with no exponential (:meth:`upper`).
    refine : (callable, args), optional
        ``fn(*args) -> (z, u, delta, eps)``: the rows made again in float64
        (:func:`wide_products`: no carried drift, and for float32 data the products exact),
        with their rounding bounds (floats, or per row: :func:`wide_row_pads`): a sharper
        bound where the first is not enough (:meth:`upper`), at the cost of two products
        with ``A``.
    fresh : (callable, args), optional
        ``fn(*args) -> (z, u, delta, eps)``: ``z`` made again in the data's dtype (no
        carried drift) and the held ``u``, with per-row rounding bounds (float64 arrays,
        :func:`fresh_pads`): a bound tried before ``refine``, at the cost of one product
        in the data's dtype.
    history : dict, optional
        The model's record of its last checks (kept by the model, written here): where the
        held rows' or the ``fresh`` tier is predicted to fail, it is skipped
        (:meth:`upper`).
    """

    def __init__(
        self,
        rows: Any,
        u: np.ndarray,
        *,
        delta: float,
        eps: float,
        derivative: tuple[Derivative, tuple[Any, ...]],
        divisor: float,
        prior: float,
        ridge: tuple[Callable[[], Any], np.ndarray, np.ndarray] | None = None,
        refine: tuple[Callable[..., tuple[Any, Any, Any, Any]], tuple[Any, ...]] | None = None,
        factor: tuple[Any, float] | None = None,
        fresh: tuple[Callable[..., tuple[Any, Any, Any, Any]], tuple[Any, ...]] | None = None,
        history: dict[str, float] | None = None,
    ) -> None:
        self.rows, self.u, self.delta, self.eps = rows, u, delta, eps
        self.derivative, self.divisor, self.prior = derivative, divisor, prior
        self.ridge, self.refine, self.factor, self.fresh = ridge, refine, factor, fresh
        self.history = history
        self._upper: float | None = None
        self._pad = self._last = 0.0  # (the last tier's rounding part, and its bound)
        self._first: tuple[float, float] | None = None  # (the first tier's, both)
        self._base = 1  # (the first tier taken)
        self._stage = 0  # (the tiers of upper() taken so far)

    def upper(self, below: float = -math.inf) -> float:
        """An upper bound on the exact slope ``s*`` (a float; ``inf`` or NaN where the rows
        pass float64's range), the least of those taken, tier by tier, until one is below
        ``below``: from the gradient's own factor (``factor``, no exponential), from the
        held rows with ``l'`` computed in float64, from ``z`` made again in the data's dtype
        with per-row rounding bounds (``fresh``), from the rows made again in float64
        (``refine``); each one pass over the rows in float64, kept."""
        tiers = (
            (self.factor is not None, self._factor_bound),
            (True, self._held_bound),
            (self.fresh is not None, self._fresh_bound),
            (self.refine is not None, self._refined_bound),
        )
        while self._stage < 4 and not (self._upper is not None and self._upper < below):
            usable, tier = tiers[self._stage]
            self._stage += 1
            if usable and not self._hopeless(self._stage, below):
                value = tier()
                self._record(self._stage)
                old = self._upper
                if old is None or value < old or not math.isfinite(old):
                    self._upper = value
        assert self._upper is not None
        return self._upper

    def _held_bound(self) -> float:
        rows = self.rows
        if type(rows) is tuple:  # (made only now)
            rows = rows[0](*rows[1])
        return self._bound(rows, self.u, self.delta, self.eps)

    def _record(self, stage: int) -> None:
        """Keep the tier's rounding part (its pad) against the first tier's in ``history``."""
        if self._first is None:
            self._first, self._base = (self._last, self._pad), stage
        elif self.history is not None and self._first[1] > 0.0:
            self.history[self._key(stage)] = self._pad / self._first[1]

    def _key(self, stage: int) -> str:
        """``history``'s name of a tier against the first taken (``factor``, else ``held``:
        ``'fresh/held'``)."""
        return _TIERS[stage] if self._base == 1 else f"{_TIERS[stage]}/{_TIERS[self._base]}"

    def _hopeless(self, stage: int, below: float) -> bool:
        """Whether the held rows' or the ``fresh`` tier is skipped: where its pad, predicted
        from the first tier's (``factor``, else the held rows') and the ratio of the two in
        the model's last check that took both (``history``), is over twice the room left
        below ``below``. A prediction only, to save a pass: any tier may be skipped, the
        bound holds."""
        if stage not in (2, 3) or self.history is None or self._first is None:
            return False
        ratio = self.history.get(self._key(stage))
        value, pad = self._first
        if ratio is None:
            return False
        return ratio * pad > 2.0 * (below - (value - pad))

    def _refined_bound(self) -> float:
        assert self.refine is not None
        fn, args = self.refine
        rows, u, delta, eps = fn(*args)
        if isinstance(delta, float) and isinstance(eps, float):
            return self._bound(rows, u, delta, eps)
        return self._per_row_bound(rows, u, delta, eps)

    def _fresh_bound(self) -> float:
        assert self.fresh is not None
        fn, args = self.fresh
        return self._per_row_bound(*fn(*args))

    def _per_row_bound(self, rows: Any, u: Any, delta: Any, eps: Any) -> float:
        """The bound from rows with per-row rounding bounds ``delta_i``, ``eps_i`` (module
        docstring, "Per-row pads")."""
        n = int(rows.shape[0])
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            total, wu, terms = _row_sums(self.derivative, rows, u, delta, eps)
        return self._finish(n, total, wu, terms)

    def _factor_bound(self) -> float:
        assert self.factor is not None
        f, omega = self.factor
        u, delta, eps = self.u, self.delta, self.eps
        n = int(u.shape[0])
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            sums = _compiled_factor_sums(f, u)
            total, wu, su, sf = _numpy_factor_sums(f, u) if sums is None else sums
            terms = (_QUARTER * delta + omega) * (su + n * eps) + eps * sf
        return self._finish(n, total, wu, terms)

    def _bound(self, rows: Any, u: Any, delta: float, eps: float) -> float:
        n = int(rows.shape[0])
        fn, args = self.derivative
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            sums = _compiled_sums(fn, args, rows, u, delta, eps)
            total, wu, terms = _numpy_sums(fn, args, rows, u, delta, eps) if sums is None else sums
        return self._finish(n, total, wu, terms)

    def _finish(self, n: int, total: float, wu: float, terms: float) -> float:
        """The bound from the sums: padded, divided by ``N``, the ridge's slope added,
        rounded up (module docstring)."""
        # (exact sum minus computed: gamma_{n+1} sum |w u| and each product's underflow;
        # the error terms' own rounding: gamma_{n+10}, their underflow 16 eta each)
        pad = (
            _up(_up(gamma64(n + 1) * wu) + _up(terms * (1.0 + gamma64(n + 10))))
            + 32.0 * (n + 1) * _ETA64
        )
        rows = _up(_up(total + pad) / self.divisor)
        self._pad = pad / self.divisor  # (the part of the bound that is rounding)
        self._last = rows
        if self.ridge is None:
            return rows
        weights, x, v = self.ridge
        lam = weights()
        if isinstance(lam, float) and lam == 0.0:
            return rows
        self._last = _up(rows + _ridge_upper(lam, x, v))
        return self._last


def _numpy_factor_sums(f: Any, u: Any) -> tuple[float, float, float, float]:
    """``(sum f u, sum |f u|, sum |u|, sum |f|)`` in float64, by NumPy."""
    f64 = np.asarray(f, dtype=np.float64)
    u64 = np.asarray(u, dtype=np.float64)
    af, au = np.abs(f64), np.abs(u64)
    # (np.add.reduce: np.sum's own sum, bit for bit, without its dispatch)
    return float(f64 @ u64), float(af @ au), float(_sum(au, None)), float(_sum(af, None))


def _compiled_factor_sums(f: Any, u: Any) -> tuple[float, float, float, float] | None:
    """:func:`_numpy_factor_sums` in one compiled pass, where it runs on these rows."""
    if _compiled.usable(f, u):
        return _compiled.kernels().factor_slope_sums(f, u)  # type: ignore[no-any-return]
    return None


def _numpy_sums(
    fn: Derivative, args: tuple[Any, ...], rows: Any, u: Any, delta: float, eps: float
) -> tuple[float, float, float]:
    """``(sum_i w_i u_i, sum_i |w_i u_i|, sum_i (kappa_i delta + omega_i) (|u_i| + eps) +
    eps |w_i|)`` in float64, by NumPy."""
    z = np.asarray(rows, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    w, kappa, omega = fn(z, delta, *args)
    au, aw = np.abs(u), np.abs(w)
    terms = float((kappa * delta + omega) @ (au + eps)) + eps * float(_sum(aw, None))
    return float(w @ u), float(aw @ au), terms


def _row_sums(
    derivative: tuple[Derivative, tuple[Any, ...]], rows: Any, u: Any, delta: Any, eps: Any
) -> tuple[float, float, float]:
    """:func:`_numpy_sums` with per-row bounds ``delta_i``, ``eps_i`` (float64 arrays):
    ``kappa_i`` is taken over ``[z_i - delta_i, z_i + delta_i]`` (each derivative reads
    an array ``delta`` elementwise)."""
    fn, args = derivative
    sums = _compiled_row_sums(fn, args, rows, u, delta, eps)
    if sums is not None:
        return sums
    z = np.asarray(rows, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    w, kappa, omega = fn(z, delta, *args)
    au, aw = np.abs(u), np.abs(w)
    terms = float((kappa * delta + omega) @ (au + eps)) + float(eps @ aw)
    return float(w @ u), float(aw @ au), terms


def _compiled_row_sums(
    fn: Derivative, args: tuple[Any, ...], rows: Any, u: Any, delta: Any, eps: Any
) -> tuple[float, float, float] | None:
    """:func:`_row_sums`' three sums in one compiled pass (logistic, ``l_2p`` and Cauchy
    rows, as :func:`_compiled_sums`), else ``None``."""
    if fn is softmax_derivative:
        return None
    if not (_compiled.usable(rows, u) and _compiled.usable(delta, eps)):
        return None
    kernels = _compiled.kernels()
    if fn is logistic_derivative:
        return kernels.logistic_row_slope_sums(rows, u, args[0], delta, eps)  # type: ignore[no-any-return]
    if fn is power_derivative:
        return kernels.power_row_slope_sums(rows, u, float(args[0]), delta, eps)  # type: ignore[no-any-return]
    if fn is cauchy_derivative:
        return kernels.cauchy_row_slope_sums(rows, u, float(args[0]), delta, eps)  # type: ignore[no-any-return]
    return None


def _compiled_sums(
    fn: Derivative, args: tuple[Any, ...], rows: Any, u: Any, delta: float, eps: float
) -> tuple[float, float, float] | None:
    """:func:`_numpy_sums`' three sums in one compiled pass (:mod:`lfso.models._compiled`,
    where it runs on these rows: the same terms, in float64, the sums in another order,
    within the same ``gamma``), else ``None``."""
    if fn is logistic_derivative and _compiled.usable(rows, u, args[0]):
        growth = math.exp(delta) * (1.0 + 2.0**-40) if delta < 690.0 else math.inf
        kernels = _compiled.kernels()
        return kernels.logistic_slope_sums(rows, u, args[0], delta, eps, growth)  # type: ignore[no-any-return]
    if fn is power_derivative and _compiled.usable(rows, u):
        kernels = _compiled.kernels()
        return kernels.power_slope_sums(rows, u, float(args[0]), delta, eps)  # type: ignore[no-any-return]
    if fn is cauchy_derivative and _compiled.usable(rows, u):
        kernels = _compiled.kernels()
        return kernels.cauchy_slope_sums(rows, u, float(args[0]), delta, eps)  # type: ignore[no-any-return]
    if fn is softmax_derivative and _compiled.usable(rows, u):
        kernels = _compiled.kernels()
        return kernels.softmax_slope_sums(rows, u, args[1], int(args[0]), delta, eps)  # type: ignore[no-any-return]
    return None


#: Rows per block of :func:`wide_products` (a float64 copy of that many rows at a time).
_BLOCK = 1 << 15


def wide_products(A: np.ndarray, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(A x, A v)`` in float64, in one pass over ``A`` (blocks of rows cast, so that no
    float64 copy of ``A`` is made whole). Of float32 data every product ``a_ij x_j`` is
    exact in float64 (24-bit significands, exponents far inside float64's range), so each
    row is within ``gamma_d^{64} sum_j |a_ij x_j|`` of the exact one (Higham, Lemma 3.1),
    and of float64 data the same plus ``d`` times half the smallest subnormal
    (underflow). Taken as ``A @ [x v]`` (the rows' layout, about twice as fast as ``[x
    v]^T @ A^T``): the same products, summed in any order, within the same bound."""
    both = np.stack([np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)], 1)
    if A.dtype == np.float64:
        rows = np.ascontiguousarray((A @ both).T)
        return rows[0], rows[1]
    n = int(A.shape[0])
    out = np.empty((2, n), dtype=np.float64)
    for start in range(0, n, _BLOCK):
        block = A[start : start + _BLOCK].astype(np.float64)
        out[:, start : start + _BLOCK] = (block @ both).T
    return out[0], out[1]


def wide_class_products(
    A: np.ndarray, x: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wide_products` for matrices: ``(A x, A v)`` in float64 with ``x`` and ``v`` of
    shape ``(d, K)`` (softmax regression's weights and direction), in one pass over ``A``,
    each entry within the same bound as a row of :func:`wide_products`."""
    k = int(x.shape[1])
    both = np.concatenate([np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)], 1)
    if A.dtype == np.float64:
        out = A @ both
        return out[:, :k], out[:, k:]
    n = int(A.shape[0])
    out = np.empty((n, 2 * k), dtype=np.float64)
    for start in range(0, n, _BLOCK):
        out[start : start + _BLOCK] = A[start : start + _BLOCK].astype(np.float64) @ both
    return out[:, :k], out[:, k:]


def row_one_norms(A: np.ndarray) -> np.ndarray:
    """``c_i >= ||a_i||_1`` in float64 (blocks of rows, no float64 copy of ``A`` made whole):
    the sum of ``d`` absolute values exact in float64 up to ``gamma_{d-1}`` (no underflow:
    additions), padded by ``1 + gamma_{d+4}`` (the product's own rounding included)."""
    n, d = int(A.shape[0]), int(A.shape[1])
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _BLOCK):
        block = np.abs(A[start : start + _BLOCK])
        out[start : start + _BLOCK] = np.sum(block, axis=1, dtype=np.float64)
    out *= 1.0 + gamma64(d + 4)
    return out


def fresh_pads(norms: np.ndarray, gamma: float, vmax: float, lost: float) -> np.ndarray:
    """``gamma c_i ||v||_inf + d eta`` per row (``lost = d eta``): a product ``fl(a_i^T v)``
    made in the data's dtype against the exact one, where ``gamma >= gamma_d`` of that
    dtype and ``c_i = norms[i] >= ||a_i||_1`` (:func:`row_one_norms`): Higham's ``gamma_d
    sum_j |a_ij v_j|`` (Lemma 3.1, any order of the sum) and each product's underflow, at
    most ``eta``, the dtype's smallest subnormal. Four float64 operations, rounded up by
    a relative ``2^-40``."""
    return norms * (gamma * vmax * (1.0 + 2.0**-40)) + lost


def wide_row_pads(
    norms: np.ndarray, alpha: float, vmax: float, d: int, shift: Any = None
) -> np.ndarray:
    """:func:`wide_pads` row by row: ``gamma_{d+4}^{64} (c_i ||v||_inf + |b_i|) + (d + 6)
    eta_64`` with ``c_i = min(norms[i], alpha) >= ||a_i||_1`` (:func:`row_one_norms`, or
    the model's ``alpha >= max_i ||a_i||_1``) and ``|b_i|`` (``shift``, the subtracted
    numbers' sizes, or ``None``): a row of :func:`wide_products` (and one subtraction
    after it) against the exact one, as :func:`wide_pads` with ``scale_i = c_i ||v||_inf +
    |b_i| >= sum_j |a_ij v_j| + |b_i|`` (Lemma 3.1 bounds row ``i`` by its own terms).
    Five float64 operations, rounded up by a relative ``2^-40``, and ``4 eta_64`` more for
    their own underflow."""
    scale = np.minimum(norms, alpha) * vmax
    if shift is not None:
        scale = scale + shift
    return scale * (gamma64(d + 4) * (1.0 + 2.0**-40)) + (d + 6) * _ETA64


def row_norms_of(owner: Any, A: Any) -> np.ndarray:
    """:func:`row_one_norms` of ``A``, made once and held on ``owner`` (a model; a copy's
    own data gets its own)."""
    held = owner.__dict__.get("_slope_norms")
    if held is None or held[0] is not A:
        held = owner.__dict__["_slope_norms"] = (A, row_one_norms(A))
    return held[1]  # type: ignore[no-any-return]


def wide_pads(d: int, scale: float) -> float:
    """``gamma_{d+4}^{64} scale + (d + 2) eta_64``: a row of :func:`wide_products` (and one
    subtraction after it) against the exact one, where ``scale >= sum_j |a_ij v_j|`` (with
    the subtracted number's size added)."""
    return _up(gamma64(d + 4) * scale * (1.0 + 2.0**-40) + (d + 2) * _ETA64)


def _ridge_upper(weights: Any, x: np.ndarray, v: np.ndarray) -> float:
    """``>= sum_j lambda_j x_j v_j`` (float64, padded by ``gamma_{dim+2}`` of its absolute
    terms and their underflow)."""
    lam = np.asarray(weights, dtype=np.float64)
    terms = lam * np.asarray(x, dtype=np.float64) * np.asarray(v, dtype=np.float64)
    dim = int(terms.shape[0]) if terms.ndim else 1
    exact = float(np.sum(terms))
    spread = float(np.sum(np.abs(terms)))
    return _up(exact + _up(gamma64(dim + 4) * spread + 8.0 * (dim + 1) * _ETA64))


def prior_constants(
    unit: float, dim: int, alpha: float, divisor: float, ridge_top: float
) -> tuple[float, float, float]:
    """:func:`gradient_prior`'s constants of a model (computed once): ``alpha / N``,
    ``(gamma_{dim+4} + 4 u) sqrt(dim)`` and ``lambda_max sqrt(dim)``."""
    root = math.sqrt(dim)
    gamma = _gamma_of_unit(dim + 4, unit)  # (finite for any dim: not 1 past k u = 1/2)
    return alpha / divisor, (gamma + 4.0 * unit) * root, ridge_top * root


def gradient_prior(
    constants: tuple[float, float, float],
    vmax: float,
    row_error: float,
    grad_norm: float,
    xmax: float,
) -> float:
    """An a-priori bound on ``|s* - fl(g . v)|`` for a row model's computed gradient ``g =
    fl(fl(A^T f) / N) + fl(lambda x)`` in a dtype of unit roundoff ``u``
    (``constants``: :func:`prior_constants`; ``alpha >= max_i ||a_i||_1``, ``vmax =
    ||v||_inf``, ``xmax = ||x||_inf``, ``grad_norm = ||g||``).

    ``row_error >= sum_i (gamma_n |f_i| + |f_i - l_i'(z*_i)|)`` (the model's: its factors'
    rounding against the exact rows, and the sum's). Per coefficient ``|fl(A^T f)_j - (A^T
    l'(z*))_j| <= sum_i |a_ij| (gamma_n |f_i| + |f_i - l'(z*_i)|)``, and ``sum_j |v_j| sum_i
    |a_ij| c_i <= ||v||_inf max_i ||a_i||_1 sum_i c_i <= vmax alpha row_error``; the
    division by ``N``, the ridge's product and the sum add ``u (|q_j| + |lambda_j x_j| +
    |g_j|) <= 3 u (|g_j| + |lambda_j x_j|)`` each (first order, padded), and the dot
    product ``fl(g . v)`` is within ``gamma_{dim+4} ||g|| ||v||`` of ``g . v`` (``||v||
    <= sqrt(dim) vmax``, ``||lambda x|| <= lambda_max sqrt(dim) xmax``). The result is
    rounded up by a relative ``2^-40`` (its own few host operations).
    """
    lead, dot, ridge = constants
    value = vmax * (lead * row_error + dot * (grad_norm + ridge * xmax)) * (1.0 + 2.0**-40)
    return value if value == value else math.inf


def on_host(pads: tuple[Any, ...], *arrays: Any) -> bool:
    """Whether a segment's ``pads`` are host floats and its ``arrays`` NumPy arrays: the
    rows the bound reads (elsewhere a model bounds no slope)."""
    for a in arrays:  # (plain loops: this runs at every step)
        if type(a) is not np.ndarray:
            return False
    for v in pads:
        if type(v) is not float:
            return False
    return True


def prior_ok(prior: float, margin: float) -> bool:
    """Whether the a-priori bound is small against ``margin = (1 - eta/2) |s|`` (below an
    eighth of it): then the certificate reads no row."""
    return prior <= 0.125 * margin
