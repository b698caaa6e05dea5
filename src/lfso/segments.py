"""Segment bounds: ``t -> C(x, d, t)``, the curvature of ``f`` along ``[x, x + t d]``.

A segment bound at a point ``x`` and a direction ``d`` is a map ``t -> C(t)``, positive and
non-decreasing in ``t >= 0``, with

.. math::  \\varphi(s') - \\varphi(s) \\le C(t) \\, (s' - s)
           \\quad \\text{for } 0 \\le s \\le s' \\le t, \\qquad
           \\varphi(s) = \\nabla f(x + s d) \\cdot d,

i.e. an upper bound on the slope of the directional derivative along the segment (for
``C^2`` ``f``: ``C(t) >= sup_{s in [0, t]} d^T H(x + s d) d``; negative curvature needs no
bound). Integrating twice gives the descent lemma along ``d``,

.. math::  f(x + t d) \\le f(x) + t \\, g \\cdot d + \\tfrac{t^2}{2} C(t),

so the step ``t C(t) = eta (-g . d)`` is certified:
``f(x + t d) <= f(x) - eta (1 - eta/2) (g . d)^2 / C(t)``. A segment bound is a
:class:`~lfso.bounds.LocalBound` in the variable ``t``: ``radius_for(eta * (-g . d))``
returns ``(t, C, evaluations)`` with ``t C >= target`` and ``C >= C(t)`` (``C = C(t)`` from
the generic solves; a row segment may return an infeasible trial ``t`` with the inflated
``C = target / t``, equally valid), and the step rule moves by ``tau = eta (-g . d) / C <=
t``, inside the certified segment, with the guarantee above for ``C``.

Any ball oracle gives one (:class:`WrappedSegment` of ``L(x, t ||d||) ||d||^2``, the
default of :meth:`lfso.models.Model.segment`); the built-in models give sharp ones
(:class:`RowSegment`: ``C(t) = sum_i sup_{s <= t} l_i''(r_i + s u_i) u_i^2`` from
``u = A d``, O(n) per ``t``, several ``t`` per host round trip; :class:`NormPathSegment`:
``||y||^(2p)`` along a line, O(1) per ``t`` after one round trip).

Every segment bound also has ``slope`` (``g . d``, fetched together with the bound's own
statistics) and ``product(t)`` (the model's linear image of ``x + t d`` for the next
evaluation, ``None`` when the model has none).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._arrays import device, materialize, namespace, to_floats, to_numpy
from .bounds import LocalBound, OracleError, check_monotone, check_value, solve_radius

__all__ = ["NormPathSegment", "RowSegment", "SegmentBound", "WrappedSegment"]

_MAX_ROUNDS = 60
#: A sequential solve's first largest step up from the bracket's low end (_next_point).
_WIDEST = 8.0
#: Default positive floor of a row segment bound (the smallest normal float64).
_FLOOR = 2.2250738585072014e-308


def rounding_pad(terms: int, dtype_eps: float) -> float:
    """Relative pad on a sum of ``terms`` non-negative floating-point terms.

    Each term is a product of a few correctly rounded operations (relative error at most
    ``8 eps`` for the elementwise formulas here, exponentials included), and recursive
    summation of ``n`` non-negative terms has relative error at most ``(n - 1) eps / 2``
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, Section 4.2); pairwise
    and blocked summation (NumPy, PyTorch, Dask) do better. So the exact sum is at most the
    computed one times ``1 + (n + 16) eps``. Negligible in float64; in float32 about ``n``
    ulps, i.e. 1e-3 at 10^4 rows.
    """
    return 1.0 + (terms + 16) * dtype_eps


class SegmentBound(LocalBound):
    """``t -> C(x, d, t)`` (see the module docstring) with ``slope`` and ``product(t)``.

    Subclasses implement :meth:`__call__` and :meth:`_fetch_slope`, or set ``_slope``.
    """

    _slope: float | None = None

    @property
    def slope(self) -> float:
        """``g . d`` at the segment's start (fetched with the bound's statistics when it can)."""
        if self._slope is None:
            self._slope = self._fetch_slope()
        return self._slope

    def _fetch_slope(self) -> float:
        raise NotImplementedError

    def product(self, t: float) -> Any:
        """The model's linear image of ``x + t d`` (``A x + t A d``), or ``None``."""
        return None

    @property
    def on_device(self) -> bool:
        """Whether :meth:`device_step` sizes the step on the data's device (0-d arrays, no
        host round trip) rather than by the host solve."""
        return False

    def step_for(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """``radius_for(eta * (-g . d))`` with ``g . d`` from the same round trip when possible.

        Returns ``(t, C, evaluations)`` as :meth:`radius_for` does (``t C >= target`` and
        ``C >= C(t)``: the step ``eta (-g . d) / C <= t`` is certified); ``(0.0, C(0), 1)``
        when ``d`` is not a descent direction (``g . d >= 0``).
        """
        target = -eta * self.slope
        if not target > 0.0:
            return 0.0, self(0.0), 1
        return self.radius_for(target, rtol=rtol, guess=guess)

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[Any, Any]:
        """The certified step ``tau`` and the curvature bound ``C`` behind it, ``tau C <=
        eta (-g . d)`` and ``C`` bounding the curvature on ``[0, tau]``; ``tau = 0`` when
        ``g . d >= 0``.

        Here from the host solve (:meth:`step_for`), as floats. :class:`RowSegment` picks
        them on the data's device as 0-d arrays, with no host round trip at all.
        """
        t, curvature, _ = self.step_for(eta, rtol=rtol, guess=guess)
        return (-eta * self.slope / curvature if t > 0.0 else 0.0), curvature


class WrappedSegment(SegmentBound):
    """A segment bound given as any :class:`~lfso.bounds.LocalBound` in ``t``.

    The default segment of a model (``inner = L(x, t ||d||) ||d||^2``, the ball around ``x``
    contains the segment) and of the oracle calculus. Evaluation, Newton data and the radius
    solve are the inner bound's, so with ``d = -g`` the solve is the LFSO tight radius's.
    """

    def __init__(
        self,
        inner: LocalBound,
        *,
        grad: Any = None,
        direction: Any = None,
        slope: float | None = None,
        product: Callable[[float], Any] | None = None,
    ) -> None:
        self.inner = inner
        self.convex = inner.convex
        self.monotone_rtol = inner.monotone_rtol
        self._grad, self._direction, self._slope = grad, direction, slope
        self._product = product

    def _fetch_slope(self) -> float:
        if self._grad is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        return to_floats(self._grad @ self._direction)[0]

    def __call__(self, radius: float) -> float:
        return self.inner(radius)

    def derivative(self, radius: float) -> float:
        return self.inner.derivative(radius)

    def start(self, target: float) -> float | None:
        return self.inner.start(target)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        return self.inner.radius_for(target, rtol=rtol, guess=guess)

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)


class NormPathSegment(SegmentBound):
    """``f(y) = k ||y||^(2p)`` (``p >= 1``, ``k > 0``) along ``y(s) = y + s v``: the exact supremum.

    With ``q(s) = ||y(s)||^2 = a + 2 b s + c s^2`` (``a = ||y||^2``, ``b = y . v``,
    ``c = ||v||^2``), ``h(s) = f(y(s)) = k q(s)^p`` and

    .. math::  h''(s) = 2 p k \\, q^{p-1} \\big(c + 2 (p - 1) (b + c s)^2 / q\\big).

    Writing ``q = c w^2 + delta^2`` with ``w = s - s_0`` (``s_0 = -b/c``), ``h''`` is even in
    ``w`` and non-decreasing in ``|w|``: the first term because ``p >= 1``, the second,
    ``4 p (p-1) k c^2 w^2 q^{p-2}``, because ``d/dv [v (c v + delta^2)^{p-2}] =
    (c v + delta^2)^{p-3} ((p - 1) c v + delta^2) >= 0`` (``v = w^2``) for every real
    ``p >= 1``. So the supremum over ``[0, t]`` is ``h''`` at the endpoint farther from
    ``s_0``, the one with the larger ``q``:

    .. math::  C(t) = h''(s^*), \\qquad s^* = \\arg\\max_{s \\in \\{0, t\\}} q(s),

    non-decreasing in ``t`` (a supremum over a growing interval) and never above the
    ball bound ``2p(2p-1) k (||y|| + t ||v||)^{2p-2} ||v||^2`` (by Cauchy-Schwarz,
    ``(b + c s)^2 <= c q``). The three scalars come in one round trip; each ``t`` is O(1).

    Rounding: ``a``, ``b``, ``c`` are sums of ``m`` products, each with absolute error at
    most ``gamma = (m + 2) eps`` times the sum of the absolute terms, so ``q(s)`` is off by
    at most ``gamma (||y|| + s ||v||)^2 <= 9 gamma q(s^*)`` (as ``max(||y(0)||, ||y(t)||) >=
    max(||y||, t ||v|| / 2)``); ``q`` is padded by ``1 + 9 gamma`` and ``c`` by ``1 + gamma``.
    """

    def __init__(
        self,
        p: float,
        scale: float,
        a: Any,
        b: Any,
        c: Any,
        *,
        slope: Any = None,
        terms: int = 1,
        dtype_eps: float = 0.0,
        product: Callable[[float], Any] | None = None,
    ) -> None:
        self.p, self.k = float(p), float(scale)
        gamma = (terms + 2) * dtype_eps + 1e-15
        self._arrays = (a, b, c, slope)  # 0-d arrays (or floats), fetched on first use
        self._host: tuple[float, float, float] | None = None
        self._q_pad, self._c_pad = 1.0 + 9.0 * gamma, 1.0 + gamma
        self._product = product
        self.monotone_rtol = max(1e-12, 64.0 * dtype_eps)

    def _scalars(self) -> tuple[float, float, float]:
        """``(a, b, c)`` on the host, with ``g . d``: one round trip, the first time."""
        if self._host is None:
            a, b, c, slope = self._arrays
            wanted = [a, b, c] if slope is None else [a, b, c, slope]
            values = to_floats(*wanted)
            self._host = (values[0], values[1], values[2])
            if slope is not None:
                self._slope = values[3]
        return self._host

    def _fetch_slope(self) -> float:
        self._scalars()
        if self._slope is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        return self._slope

    def __call__(self, radius: float) -> float:
        p = self.p
        a, b, c = self._scalars()
        cp = c * self._c_pad
        if p == 1.0:
            return 2.0 * self.k * cp
        t = radius
        qt = a + t * (2.0 * b + c * t)
        q, s = (qt, t) if qt > a else (a, 0.0)
        if not q > 0.0:
            return 0.0  # y(s) = 0 on the whole segment: only at t = 0 with y = 0
        if not q < math.inf:
            return math.inf  # past the float range: no finite bound this far
        ratio = min((b + c * s) ** 2 / q, c)  # (b + c s)^2 / q <= c (Cauchy-Schwarz)
        q *= self._q_pad
        try:
            power = q ** (p - 1.0)
        except OverflowError:
            return math.inf
        return 2.0 * p * self.k * power * (cp + 2.0 * (p - 1.0) * ratio * self._c_pad)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        if self.p == 1.0 and target > 0.0:  # a quadratic: exact
            value = self(0.0)
            return target / value, value, 1
        return solve_radius(self, target, rtol=rtol, guess=guess)

    @property
    def on_device(self) -> bool:
        a, _, _, slope = self._arrays
        return slope is not None and not isinstance(a, (float, int))

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[Any, Any]:
        """:meth:`SegmentBound.device_step` on the data's device, no round trip: the same
        formula on two batches of trial steps (:attr:`RowSegment.device_round` times
        ``guess``, then a refinement: :func:`_grid_step`), each certifying
        ``min(t_j, target / C(t_j))``; exact for ``p = 1``."""
        a, b, c, slope = self._arrays
        if slope is None or isinstance(a, float):
            return super().device_step(eta, rtol=rtol, guess=guess)
        xp = namespace(a)
        p, k = self.p, self.k
        target = (-eta) * slope
        cp = c * self._c_pad
        if p == 1.0:
            bound = (2.0 * k) * cp
            tau = target / bound
            return xp.where(target > 0.0, tau, xp.zeros_like(tau)), bound
        center, factors = 1.0, RowSegment.device_wide
        if guess is not None and 0.0 < guess < math.inf:
            center, factors = guess, RowSegment.device_round
        trials = xp.asarray([center * f for f in factors], dtype=a.dtype, device=device(a))
        tiny = xp.asarray(xp.finfo(a.dtype).smallest_normal, dtype=a.dtype, device=device(a))

        def curvature(trials: Any) -> Any:
            qt = a + trials * (2.0 * b + c * trials)
            farther = qt > a
            q = xp.where(farther, qt, a)
            s = xp.where(farther, trials, xp.zeros_like(trials))
            safe = xp.where(q > 0.0, q, xp.ones_like(q))
            ratio = xp.minimum((b + c * s) ** 2 / safe, c)
            with np.errstate(over="ignore", invalid="ignore"):
                value = (2.0 * p * k) * (q * self._q_pad) ** (p - 1.0)
                value = value * (cp + (2.0 * (p - 1.0) * self._c_pad) * ratio)
            return xp.maximum(value, tiny)

        t_max = float(xp.finfo(a.dtype).max) ** 0.25
        return _grid_step(xp, target, trials, curvature, t_max)

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)


#: Trial steps of the second, refining batch of a device step (:func:`_grid_step`).
_REFINE = 6


def _grid_step(
    xp: Any, target: Any, trials: Any, curvature: Callable[[Any], Any], t_max: float
) -> tuple[Any, Any]:
    """The longest certified step over trial steps, chosen on the device: ``(tau, C)``.

    Every trial ``t`` with its bound ``C(t)`` on ``[0, t]`` certifies a step on its own:
    ``min(t, target / C(t))`` with the bound ``max(C(t), target / t)`` (feasible: ``t C(t)
    >= target``, the step ``target / C(t) <= t``; infeasible: the step ``t`` with the valid,
    inflated ``target / t > C(t)``), and ``step * bound = target`` in both cases. So any set
    of trials gives a certified ``(tau, C)``; the set only decides how close ``tau`` is to
    the largest certified step. The first batch ``trials`` brackets it (between its largest
    infeasible and smallest feasible trials, or beyond the batch's ends: a factor 4 past
    them); a second batch of :data:`_REFINE` points spaced geometrically inside that
    bracket refines it, with no host round trip (the bracket is computed on the device).
    ``tau = 0`` when ``target <= 0`` (``d`` does not descend).
    """

    def sanitized(trials: Any) -> Any:  # NaN (inf / inf far out): no finite bound there
        value = curvature(trials)
        return xp.where(xp.isnan(value), xp.full_like(value, math.inf), value)

    first = sanitized(trials)
    feasible = trials * first >= target
    lo = xp.max(xp.where(feasible, xp.zeros_like(trials), trials))
    hi = xp.min(xp.where(feasible, trials, xp.full_like(trials, math.inf)))
    lo = xp.where(lo > 0.0, lo, xp.min(trials) * 0.25)
    hi = xp.where(hi < math.inf, hi, xp.minimum(lo * 4.0, xp.asarray(t_max, dtype=lo.dtype)))
    fractions = xp.asarray(
        [j / (_REFINE + 1) for j in range(1, _REFINE + 1)],
        dtype=trials.dtype,
        device=device(trials),
    )
    refined = lo * (hi / lo) ** fractions
    grid = xp.concat([trials, refined])
    bounds_c = xp.concat([first, sanitized(refined)])
    steps = xp.minimum(grid, target / bounds_c)
    bounds = xp.maximum(bounds_c, target / grid)
    tau = xp.max(steps)
    bound = xp.min(xp.where(steps == tau, bounds, xp.max(bounds)))
    return xp.where(target > 0.0, tau, xp.zeros_like(tau)), bound


# Row segments -------------------------------------------------------------------------------


def power_kernel(m: float, coef: float) -> Callable[[Any, Any, Any, Any], Any]:
    """``sup_s coef |r + s u|^m`` on ``[r, e]``: the larger endpoint (``|r + s u|`` is convex)."""

    def kernel(xp: Any, start: Any, end: Any, u: Any) -> Any:
        top = xp.maximum(xp.abs(start), xp.abs(end))
        if m == 2.0:
            return coef * (top * top)
        return coef * top**m

    def fused(end: np.ndarray, start: np.ndarray, scratch: np.ndarray) -> None:
        # The same values in place: max(r^2, e^2) = max(|r|, |e|)^2 exactly (squaring
        # and its rounding are monotone on |.|), and `**=` takes `**`'s fast paths.
        if m == 2.0:
            np.multiply(end, end, out=end)
            np.maximum(end, start * start, out=end)
        else:
            np.abs(end, out=end)
            np.maximum(end, np.abs(start), out=end)
            end **= m
        end *= coef

    kernel.fused = fused  # type: ignore[attr-defined]
    return kernel


def _distance_to_zero(xp: Any, start: Any, end: Any) -> Any:
    """Distance from 0 to the interval between ``start`` and ``end`` (elementwise)."""
    crossed = (start <= 0.0) != (end <= 0.0)
    return xp.where(crossed, 0.0, xp.minimum(xp.abs(start), xp.abs(end)))


def logistic_kernel(xp: Any, start: Any, end: Any, u: Any) -> Any:
    """``sup_s sigma'(m + s v)`` = ``sigma'`` at the interval's distance to 0 (even, peaked)."""
    e = xp.exp(-_distance_to_zero(xp, start, end))
    q = 1.0 + e
    return e / (q * q)


def approach_kernel(xp: Any, start: Any, end: Any, u: Any) -> Any:
    """``sigma'(max(end, 0))`` for rows given as ``(|m|, -approach speed)``: the same supremum
    as :func:`logistic_kernel` (the distance from 0 to ``[m, m + t v]`` is ``|m|`` for a
    margin moving away from 0 and ``max(|m| - t |v|, 0)`` for one moving towards it), in
    fewer passes per trial step."""
    e = xp.exp(-xp.maximum(end, 0.0))
    q = 1.0 + e
    return e / (q * q)


def _approach_fused(end: np.ndarray, start: np.ndarray, scratch: np.ndarray) -> None:
    """:func:`approach_kernel` in place on NumPy arrays (the same operations, in order)."""
    np.maximum(end, 0.0, out=end)
    np.negative(end, out=end)
    np.exp(end, out=end)
    q = np.add(end, 1.0, out=scratch)
    np.multiply(q, q, out=q)
    np.divide(end, q, out=end)


approach_kernel.fused = _approach_fused  # type: ignore[attr-defined]


def approach(xp: Any, m: Any, v: Any) -> tuple[Any, Any]:
    """``(|m|, -speed)`` with ``speed = |v|`` where ``m`` moves towards 0 along ``v``, else 0:
    ``min(sign(m) v, 0)`` (``m = 0`` is at 0 already: no approach)."""
    sign = np.sign if type(m) is np.ndarray else xp.sign  # (skips the wrapper's dtype checks)
    return xp.abs(m), xp.minimum(sign(m) * v, 0.0)


def cauchy_kernel(inv_c2: float) -> Callable[[Any, Any, Any, Any], Any]:
    """``sup_s rho''(r + s u)``: ``rho''`` as a function of ``|r|`` decreases then increases
    (its derivative in ``w = r^2/c^2`` is ``(w - 3) / (1 + w)^3``), so the supremum over an
    interval of ``|r|`` is at its ends: the distance to 0 and the farther endpoint."""

    def rho2(xp: Any, r: Any) -> Any:
        a = 1.0 / (1.0 + inv_c2 * (r * r))  # (1 - w) / (1 + w)^2 = 2 a^2 - a: no inf / inf
        return a * (2.0 * a - 1.0)

    def kernel(xp: Any, start: Any, end: Any, u: Any) -> Any:
        near = _distance_to_zero(xp, start, end)
        far = xp.maximum(xp.abs(start), xp.abs(end))
        return xp.maximum(rho2(xp, near), rho2(xp, far))

    return kernel


_WORKSPACE = threading.local()


#: Largest buffer :func:`_workspace` keeps between calls (elements; 64 MiB in float64).
_KEEP = 1 << 23


def _workspace(k: int, n: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two buffers of ``k n`` elements for :meth:`RowSegment._fused_values`: a (k, n) one
    and a flat one, kept per thread (one pair, the last size asked for, grown as needed)
    up to :data:`_KEEP` elements each; larger ones are allocated per call."""
    if max(k, 8) * n > _KEEP:
        return np.empty((k, n), dtype=dtype), np.empty(k * n, dtype=dtype)
    held = getattr(_WORKSPACE, "buffers", None)
    if held is None or held[0].dtype != dtype or held[0].shape[1] != n or held[0].shape[0] < k:
        rows = max(k, 8)
        held = (np.empty((rows, n), dtype=dtype), np.empty(rows * n, dtype=dtype))
        _WORKSPACE.buffers = held
    return held[0][:k], held[1][: k * n]


def _secant(
    target: float, lo_t: float, lo_c: float, hi: tuple[float, float] | None, default: float
) -> float:
    """The root of ``g(u) = log(t C(t) / target)``, linear in ``u = log t`` through the
    infeasible point ``(lo_t, lo_c)`` and the feasible ``hi``; ``default`` without both (or
    where ``g`` does not increase between them). In logs: ``t C`` may overflow far out."""
    if hi is None or not (lo_t > 0.0 and lo_c > 0.0):
        return default
    log = math.log
    u0, u1 = log(lo_t), log(hi[0])
    g0 = u0 + log(lo_c) - log(target)
    g1 = u1 + log(hi[1]) - log(target)
    return math.exp(u0 - g0 * (u1 - u0) / (g1 - g0)) if g1 > g0 else default


def _in_host_memory(array: Any) -> bool:
    """Whether ``array`` is in host memory (a device with a ``type``, as PyTorch's, says so
    itself; CuPy's arrays are on a GPU; every other library here computes on the host)."""
    if type(array) is np.ndarray:
        return True
    kind = getattr(getattr(array, "device", None), "type", None)
    if isinstance(kind, str):
        return kind == "cpu"
    return type(array).__module__.partition(".")[0] != "cupy"


class RowSegment(SegmentBound):
    """``C(t) = scale sum_i sup_{s in [0, t]} l_i''(r_i + s u_i) u_i^2 + offset`` for
    ``f(x) = scale sum_i l_i(a_i^T x) + (offset's quadratic)``, from ``u = A d``.

    Along the segment, ``grad f(x + s d) . d = scale sum_i l_i'(r_i + s u_i) u_i +
    (ridge)``, whose slope is ``scale sum_i l_i''(r_i + s u_i) u_i^2 + l2 ||d||^2``; each
    row's term is at most its own supremum over ``[0, t]`` (the kernel, proven for each loss
    where it is defined), so the sum of suprema bounds the supremum of the sum. Each kernel
    is a supremum over a growing interval, hence non-decreasing in ``t``. The sum is padded
    for rounding (:func:`rounding_pad`) in the data's precision.

    Cost: O(n) per ``t`` and no product with ``A``. The radius solve evaluates a batch of
    trial ``t`` in one pass and one host round trip (:meth:`values`), and the first batch
    also brings ``g . d`` (``slope``) and the ridge term. Matrix statistics (softmax
    logits, ``(n, K)``) use a kernel that reduces each row's classes itself to ``(n, k)``.

    Parameters
    ----------
    r, u : arrays, shape (n,) (or (n, K): then the kernel reduces over classes)
        The statistic at ``x`` and its change along ``d``.
    kernel : callable ``kernel(xp, start, end, u) -> sup`` elementwise
    weight : array or None
        Per-row weight of the kernel (``u^2``); ``None`` for kernels that include it.
    scale : float
    offset : 0-d array or float
        Curvature added everywhere (``l2 ||d||^2`` for a ridge), fetched with the first batch.
    slope : 0-d array
        ``g . d`` (fetched with the first batch).
    product : callable ``t -> array`` or None
    terms : int
        Number of terms summed per value (for the rounding pad; the rows by default).
    magnitude : 0-d array, optional
        For kernels that can be negative (Cauchy): a bound on ``sum_i |kernel_i| w_i``, which
        scales the rounding pad (an absolute error, fetched with the first batch); by
        default the pad is relative to the (non-negative) sum itself.
    floor : float
        A positive lower cap on ``C`` (a segment bound must be positive; where the sum of
        suprema is negative, any positive value bounds the curvature from above).
    """

    #: Trial steps of the first round, as multiples of ``guess`` (the last step: L-BFGS's
    #: ratio t*/guess lies in [0.6, 1.6] nine times in ten on l_4 regression). Every trial
    #: costs an O(n) pass (an exponential per row for logistic rows): a few suffice, as
    #: each certifies a step (see :meth:`radius_for`).
    first_round: tuple[float, ...] = (0.25, 0.7, 1.0, 1.4, 4.0)
    #: The first round without a guess: ``t = 1`` (the natural quasi-Newton step) and a wide
    #: geometric bracket around it.
    wide_round: tuple[float, ...] = (1 / 64, 1 / 8, 0.5, 1.0, 2.0, 8.0, 64.0)
    #: Points per later round (a cluster at the predicted root plus a geometric grid).
    round_size = 5
    #: Whether the solve evaluates one trial step at a time (see :meth:`radius_for`): by
    #: default where the rows live in host memory (NumPy, Dask, PyTorch on the CPU), where
    #: a round costs no device round trip but each trial a pass over the rows; batches on
    #: an accelerator (:func:`_in_host_memory`).
    sequential: bool

    def __init__(
        self,
        r: Any,
        u: Any,
        kernel: Callable[[Any, Any, Any, Any], Any],
        *,
        weight: Any,
        scale: float,
        offset: Any = 0.0,
        slope: Any = None,
        product: Callable[[float], Any] | None = None,
        terms: int | None = None,
        magnitude: Any = None,
        floor: float = _FLOOR,
    ) -> None:
        self.xp = namespace(r)
        self.r, self.u, self.kernel, self.weight = r, u, kernel, weight
        self.scale, self._offset, self._slope_array = float(scale), offset, slope
        self._product, self._magnitude = product, magnitude
        finfo = self.xp.finfo(r.dtype)
        eps = float(finfo.eps)
        self.t_max = float(finfo.max) ** 0.75  # keeps t u finite or +-inf, never NaN
        self._pad = rounding_pad(int(r.shape[0]) if terms is None else terms, eps)
        self.monotone_rtol = max(1e-12, math.sqrt(eps))
        self.floor = floor
        self._cache: dict[float, float] = {}
        self.round_trips = 0
        self._offset_value: float | None = (
            float(offset) if isinstance(offset, (int, float)) else None
        )
        self._magnitude_value: float | None = None
        self.sequential = _in_host_memory(r)

    def _fetch_slope(self) -> float:
        if self._slope_array is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        self.values([0.0])
        assert self._slope is not None
        return self._slope

    def _device_values(self, ts: Any) -> Any:
        """``sum_i kernel_i(t_j) w_i`` for the trials (a list, or a 1-d array on the data's
        device): a length-k array on the data's device."""
        xp, r, u = self.xp, self.r, self.u
        fused = getattr(self.kernel, "fused", None)
        if fused is not None and r.ndim == 1 and type(r) is np.ndarray:
            return self._fused_values(fused, ts)
        trials = xp.asarray(ts, dtype=r.dtype, device=device(r)) if isinstance(ts, list) else ts
        if r.ndim == 1:
            start = r[:, None]
            end = start + u[:, None] * trials[None, :]
            sup = self.kernel(xp, start, end, u[:, None])
        else:  # (n, K) rows: trials along a new last axis
            start = r[:, :, None]
            end = start + u[:, :, None] * trials[None, None, :]
            sup = self.kernel(xp, start, end, u[:, :, None])  # reduced over classes: (n, k)
        if self.weight is None:
            return xp.sum(sup, axis=0)
        return self.weight @ sup

    def _fused_values(self, fused: Callable[[Any, Any, Any], None], ts: Any) -> Any:
        """:meth:`_device_values` on NumPy rows, bit for bit: the trials along the first
        axis (contiguous passes over the rows, not an inner loop of length k), the kernel
        in place in a (k, n) buffer kept between calls (:func:`_workspace`: no k n
        temporaries, whose allocation and page faults cost more than the arithmetic), and
        the reduction over the (n, k) layout the generic path reduces."""
        r, u = self.r, self.u
        trials = np.asarray(ts, dtype=r.dtype)
        k, n = int(trials.shape[0]), int(r.shape[0])
        end, scratch = _workspace(k, n, r.dtype)
        np.multiply(trials[:, None], u[None, :], out=end)
        end += r
        fused(end, r, scratch.reshape(k, n))
        if k == 1:  # (1, n) -> (n, 1) is a view: the same contiguous layout
            sup = end.reshape(n, 1)
        else:
            sup = scratch.reshape(n, k)
            sup[...] = end.T
        if self.weight is None:
            return np.sum(sup, axis=0)
        return self.weight @ sup

    def values(self, ts: list[float]) -> list[float]:
        """``C(t)`` at every trial ``t``: one pass over the rows and one host round trip."""
        for t in ts:
            if t > self.t_max:  # t u may overflow to NaN: no finite bound claimed that far
                self._cache[t] = math.inf
        todo = [t for t in ts if t not in self._cache]
        if todo:
            with np.errstate(over="ignore"):  # exp past the float range: +inf, capped after
                sums = self._device_values(todo)
            extra = []
            if self._slope is None and self._slope_array is not None:
                extra.append(self._slope_array)
            if self._offset_value is None:
                extra.append(self._offset)
            if self._magnitude is not None and self._magnitude_value is None:
                extra.append(self._magnitude)
            if extra:
                xp = self.xp
                sums = xp.concat([sums, xp.stack([xp.reshape(e, ()) for e in extra])])
            host = to_numpy(sums).tolist()  # one round trip
            self.round_trips += 1
            if self._magnitude is not None and self._magnitude_value is None:
                self._magnitude_value = float(host.pop())
            if self._offset_value is None:
                self._offset_value = float(host.pop())
            if self._slope is None and self._slope_array is not None:
                self._slope = float(host.pop())
            for t, value in zip(todo, host, strict=True):
                size = value if self._magnitude_value is None else self._magnitude_value
                total = self.scale * (value + (self._pad - 1.0) * size) + self._offset_value
                self._cache[t] = max(total, self.floor)
        return [self._cache[t] for t in ts]

    def __call__(self, radius: float) -> float:
        return self.values([radius])[0]

    def product(self, t: float) -> Any:
        return None if self._product is None else self._product(t)

    @property
    def on_device(self) -> bool:
        return self._slope_array is not None

    #: Trial steps of :meth:`device_step` (multiples of ``guess``): denser, as nothing refines.
    device_round: tuple[float, ...] = (
        1 / 16,
        0.25,
        0.5,
        0.7,
        0.8,
        0.9,
        1.0,
        1.1,
        1.25,
        1.4,
        2.0,
        4.0,
        16.0,
    )
    #: Trial steps of :meth:`device_step` without a guess (the first step of a run): every
    #: power of 4 from ``2^-40`` to ``2^40``, then the refinement; O(n) each, once a run.
    device_wide: tuple[float, ...] = tuple(2.0**k for k in range(-40, 41, 2))

    def device_step(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[Any, Any]:
        """The certified step and its curvature bound as 0-d arrays on the data's device, with
        no host round trip (``rtol`` is not used: the grid decides the quality).

        Two batches of trial steps ``t_j`` (:attr:`device_round` times ``guess``, or
        :attr:`device_wide` without one; then :data:`_REFINE` points spaced geometrically
        between the first batch's largest infeasible and smallest feasible trials, chosen
        on the device); each certifies the step ``sigma_j = min(t_j, target / C(t_j))``
        with the bound ``max(C(t_j), target / t_j)`` (see :meth:`radius_for`),
        ``target = eta (-g . d)`` computed on the device, and the longest is taken there
        (:func:`_grid_step`). When the first batch brackets the largest certified step
        ``t*``, the step is within ``(spacing)^(1/7)`` of it (about 2% near ``guess``);
        ``tau = 0`` when ``g . d >= 0``. For a step rule that defers its scalars to the next
        evaluation's round trip (``x + tau d`` and ``product(tau)`` take the 0-d ``tau``).
        """
        if self._slope_array is None:
            raise ValueError("this segment bound was built without the gradient: no slope")
        xp, r = self.xp, self.r
        center, factors = 1.0, self.device_wide
        if guess is not None and 0.0 < guess < math.inf:
            center, factors = guess, self.device_round
        ts = sorted({min(center * f, self.t_max) for f in factors})
        floor = xp.asarray(
            max(self.floor, float(xp.finfo(r.dtype).smallest_normal)),
            dtype=r.dtype,
            device=device(r),
        )

        def curvature(trials: Any) -> Any:
            with np.errstate(over="ignore"):
                sums = self._device_values(trials)
            size = sums if self._magnitude is None else self._magnitude
            return xp.maximum(self.scale * (sums + (self._pad - 1.0) * size) + self._offset, floor)

        trials = xp.asarray(ts, dtype=r.dtype, device=device(r))
        target = (-eta) * self._slope_array
        return _grid_step(xp, target, trials, curvature, self.t_max)

    def step_for(
        self, eta: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        tried = 0
        if self._slope is None:  # g . d with the first batch of trial steps
            first = self._first_trials(guess)
            self.values(first)
            tried = len(set(first))
        t, curvature, evals = super().step_for(eta, rtol=rtol, guess=guess)
        return t, curvature, evals + tried

    def _first_trials(self, guess: float | None) -> list[float]:
        if self.sequential:
            return [min(guess, self.t_max)] if guess is not None and 0.0 < guess else [0.0]
        if guess is not None and 0.0 < guess < math.inf:
            center, factors = guess, self.first_round
        else:
            center, factors = 1.0, self.wide_round
        return [0.0] + [min(center * f, self.t_max) for f in factors]

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """A feasible ``t`` and a curvature bound ``C >= C(t)`` on ``[0, t]`` with
        ``t C >= target``, whose step ``target / C`` is within ``1 + rtol`` of the largest
        certified step ``t*`` (``t* C(t*) = target``), in rounds of trial steps.

        A :attr:`sequential` solve tries one step per round: ``guess`` (or ``0``), then
        ``target / C`` from there (the root, were ``C`` flat: two trials where ``C`` barely
        changes over the step), then secant steps (:meth:`_next_point`). Otherwise each
        round evaluates a batch in one pass and one host round trip. Every point seen
        certifies a step: a feasible ``t`` (``t C(t) >= target``) the step ``target / C(t)``
        with ``C(t)``, an infeasible one the step ``t`` itself with ``C = target / t >
        C(t)`` (a valid, inflated bound on ``[0, t]``, feasible by construction). And every
        point bounds the root: ``t* <= t`` for a feasible ``t``, ``t* <= target / C(t)`` for an
        infeasible one (``C`` is non-decreasing). The solve returns the best step as soon as
        it is within ``1 + rtol`` of the smallest such upper bound. The next batch clusters
        around the root predicted by interpolating ``log(t C(t))`` in ``log t`` between the
        closest infeasible and feasible points, plus a geometric grid of the bracket.
        """
        if not target > 0.0:
            return 0.0, check_value(self(0.0), 0.0), 1
        trials = [t for t in self._first_trials(guess) if t not in self._cache]
        evals = 0
        last_span = math.inf  # the bracket's width in log t after the last round
        climb = 0  # sequential rounds in a row whose trial was infeasible (see _next_point)
        for _ in range(_MAX_ROUNDS):
            if trials:
                self.values(trials)
                evals += len(trials)
            seen = sorted(self._cache.items())
            self._check(seen)
            upper = math.inf  # t* <= upper
            best, best_t, best_c = 0.0, 0.0, seen[0][1]  # step, t, C certifying it
            # largest infeasible point; C(0) > 0 is unknown until t = 0 is tried
            lo_t, lo_c = 0.0, (seen[0][1] if seen[0][0] == 0.0 else 0.0)
            hi: tuple[float, float] | None = None  # smallest feasible point
            for t, c in seen:
                if t * c >= target:
                    upper = min(upper, t)
                    if hi is None:
                        hi = (t, c)
                    step, cert = target / c, c
                else:
                    lo_t, lo_c = t, c
                    if c > 0.0:
                        upper = min(upper, target / c)
                    step, cert = t, (target / t if t > 0.0 else c)
                if step > best:
                    best, best_t, best_c = step, t, cert
            if best * (1.0 + rtol) >= upper and best > 0.0:
                return best_t, best_c, evals
            if hi is None and not lo_c > 0.0:
                raise OracleError("segment bound is zero along the whole segment")
            if hi is not None:
                low = max(lo_t, target / hi[1])
                high = min(hi[0], target / lo_c) if lo_c > 0.0 else hi[0]
            else:
                low, high = lo_t, target / lo_c  # feasible: C(high) >= C(lo)
            if self.sequential:
                span = math.log(high / low) if low > 0.0 else math.inf
                # the last step kept over 0.6 of the bracket (a midpoint keeps exactly half:
                # 0.5 would leave that decision to rounding)
                stalled = span > 0.6 * last_span
                last_span = span
                climb = climb + 1 if trials and trials[-1] == lo_t else 0
                reach = _WIDEST ** min(2**climb, 256)  # 8, 64, 8^4, ...: galloping
                trials = self._next_point(target, low, high, lo_t, lo_c, hi, stalled, reach)
            else:
                trials = self._next_trials(target, low, high, lo_t, lo_c, hi, rtol)
            if not trials:  # bracket below rounding: the best step seen is the answer
                return best_t, best_c, evals
        raise OracleError("segment step solve did not converge")  # pragma: no cover

    def _next_point(
        self,
        target: float,
        low: float,
        high: float,
        lo_t: float,
        lo_c: float,
        hi: tuple[float, float] | None,
        stalled: bool,
        reach: float = _WIDEST,
    ) -> list[float]:
        """The next single trial of a :attr:`sequential` solve: the root of the secant of
        ``log(t C(t) / target)`` in ``log t`` through the closest infeasible and feasible
        points; with points on one side only, the root were ``C`` flat from there
        (``target / C``: from a feasible point, the bracket's low end, a certified step;
        from an infeasible one, its high end); the bracket's geometric middle when the last
        round kept over 0.6 of the bracket (``stalled``), so that a one-sided secant cannot
        stall; at most ``reach`` times the bracket's low end (:data:`_WIDEST`, squared after
        each infeasible trial in a row: a root far up is found in O(log log) rounds)."""
        pred = _secant(target, lo_t, lo_c, hi, high if hi is None else low)
        middle = math.sqrt(low) * math.sqrt(high) if low > 0.0 else 0.5 * high
        if (stalled and hi is not None and lo_t > 0.0) or not low <= pred <= high:
            pred = middle
        if hi is not None and low > 0.0:
            # A wide bracket comes from a C(lo) far below C(hi) (at the floor, where the
            # curvature is negative): the root lies where C rises, near the low end.
            pred = min(pred, reach * low)
            middle = min(middle, reach * low)
        for point in (min(pred, self.t_max), min(middle, self.t_max)):
            if point > 0.0 and point not in self._cache:
                return [point]
        return []

    def _next_trials(
        self,
        target: float,
        low: float,
        high: float,
        lo_t: float,
        lo_c: float,
        hi: tuple[float, float] | None,
        rtol: float,
    ) -> list[float]:
        k = self.round_size
        pred = _secant(target, lo_t, lo_c, hi, high)
        pred = min(max(pred, low), high)
        points = {high}
        for f in (1.0 - 0.5 * rtol, 1.0, 1.0 + 0.5 * rtol, 1.0 + rtol):
            points.add(min(max(pred * f, low), high))
        if low > 0.0 and high > low:
            span = high / low
            n_grid = max(k - len(points), 2)
            for j in range(1, n_grid + 1):
                points.add(low * span ** (j / (n_grid + 1)))
        return sorted({min(p, self.t_max) for p in points if p > 0.0} - self._cache.keys())

    def _check(self, seen: list[tuple[float, float]]) -> None:
        for (t0, c0), (t1, c1) in itertools.pairwise(seen):
            check_value(c1, t1, allow_inf=True)  # +inf: no finite bound that far
            check_monotone(t0, c0, t1, c1, self.monotone_rtol)


def materialized_product(base: Any, step: Any) -> Callable[[float], Any]:
    """``t -> base + t step``, evaluated (Dask: persisted) so the next pass reads no graph."""
    return lambda t: materialize(base + t * step)
