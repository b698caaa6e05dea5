"""Local bounds: the map ``R -> L(x, R)`` at one fixed point ``x``, and the radius solve.

An oracle (:mod:`lfso.oracles`) binds a point once -- residuals, margins, norms -- and
returns a :class:`LocalBound`. Evaluating the bound at any radius then costs O(1) (or
O(n) for the few bounds that keep per-row data), so the LFSO step can probe many radii
for the price of one pass over the data.

The radius solve answers the question the LFSO step asks: the smallest ``R`` with

.. math::  \\varphi(R) = R \\, L(x, R) \\ge c, \\qquad c = \\eta \\|\\nabla f(x)\\|,

i.e. the smallest ball that provably contains the step ``x - (eta / L(x, R)) grad f(x)``,
and hence the largest step the oracle certifies. Since ``L`` is positive and
non-decreasing, ``phi`` is strictly increasing and the root is unique. Every solver here
returns a *feasible* radius (``phi(R) >= c``) whose step is within a factor ``1 + rtol`` of
the largest certified step: ``phi(R) <= (1 + rtol) c`` implies
``L(R*) >= L(R) R / ((1 + rtol) R*) >= L(R) / (1 + rtol)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "ConstantBound",
    "ExpBound",
    "FunctionBound",
    "LocalBound",
    "MinBound",
    "MinPowerBound",
    "OracleError",
    "PolynomialBound",
    "PowerBound",
    "SumBound",
    "TransformedBound",
    "solve_radius",
]

_MAX_NEWTON = 60
_MAX_BRACKET = 200
_LOG_RANGE = 690.0  # radii stay within e^(+-690), inside the float range


class OracleError(ValueError):
    """An oracle broke its contract: a non-finite or non-positive value, or a decrease in R."""


def _as_float(value: Any, radius: float) -> float:
    """An oracle's value as a float; an :class:`OracleError` naming it if it is no number."""
    try:
        return float(value)
    except (TypeError, ValueError):  # a string, None, an array with several entries, ...
        raise OracleError(
            f"smoothness oracle returned L(x, R={radius:.6g}) = {value!r:.60}; an LFSO must "
            "return a finite positive number"
        ) from None


def check_value(value: float, radius: float, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite positive bound.

    ``allow_inf`` admits ``+inf`` ("no finite bound at this radius"), which the radius
    solve may meet while bracketing but never returns.
    """
    value = _as_float(value, radius)
    if not (0.0 < value < math.inf or (allow_inf and value == math.inf)):
        raise OracleError(
            f"smoothness oracle returned L(x, R={radius:.6g}) = {value!r}; "
            "an LFSO must return a finite positive bound"
        )
    return value


def check_monotone(
    r_small: float, l_small: float, r_large: float, l_large: float, rtol: float = 1e-12
) -> None:
    """Raise :class:`OracleError` if ``L`` was seen to decrease (beyond ``rtol``) in ``R``."""
    if r_large < r_small:
        r_small, l_small, r_large, l_large = r_large, l_large, r_small, l_small
    if l_large < l_small * (1.0 - rtol):
        raise OracleError(
            f"smoothness oracle decreases in R: L(x, R={r_small:.6g}) = {l_small:.6g} but "
            f"L(x, R={r_large:.6g}) = {l_large:.6g}; an LFSO must be non-decreasing in R"
        )


class LocalBound(ABC):
    """``R -> L(x, R)`` at a bound point ``x``: positive and non-decreasing in ``R >= 0``.

    Subclasses implement :meth:`__call__`. Those for which ``log(R L(R))`` is convex in
    ``log R`` and whose derivative is cheap also implement :meth:`derivative` and set
    ``convex = True``, so that :meth:`radius_for` can use a monotone Newton iteration.

    Attributes
    ----------
    paper_radius : float or None
        The authors' default radius ``R0(x)`` for the model that produced the bound, when
        there is one (used by ``radius="paper"``).
    monotone_rtol : float
        Relative decrease in ``R`` tolerated as rounding by the monotonicity check.
    """

    convex: bool = False
    paper_radius: float | None = None
    #: Relative decrease in ``R`` put down to rounding rather than a broken oracle. Bounds
    #: that reduce arrays in a low precision (float32) set it from the dtype.
    monotone_rtol: float = 1e-12

    @abstractmethod
    def __call__(self, radius: float) -> float:
        """Return ``L(x, radius)``."""

    def derivative(self, radius: float) -> float:
        """Return ``dL/dR`` at ``radius`` (only bounds with ``convex = True`` need it)."""
        raise NotImplementedError

    def start(self, target: float) -> float | None:
        """A feasible radius (``R L(R) >= target``) near the root, if one is known cheaply."""
        return None

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """Smallest radius with ``R L(R) >= target``, up to ``rtol`` on the step.

        ``guess`` (e.g. the previous iteration's radius) seeds the bracket of the generic
        solve; closed-form and Newton solves do not need it.

        Returns
        -------
        radius, L, evaluations : float, float, int
            A feasible radius, the bound there, and how many times the bound was evaluated.
        """
        if self.convex and target > 0.0:
            start = self.start(target)
            if start is None:
                start = _feasible_start(self, target)
            return _newton(self, target, rtol, start)
        return solve_radius(self, target, rtol=rtol, guess=guess)

    # -- calculus -------------------------------------------------------------------------
    def __add__(self, other: LocalBound) -> LocalBound:
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        return TransformedBound(self, scale=float(factor))

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        """The bound ``R -> L(factor * R)`` (radii seen through a linear map of norm factor)."""
        return TransformedBound(self, stretch=float(factor))


def _newton(
    bound: LocalBound, target: float, rtol: float, radius: float
) -> tuple[float, float, int]:
    """Newton's method on ``g(u) - aim``, ``g(u) = log(R L(R)) - log(target)``, ``u = log R``.

    For the bounds that set ``convex = True``, ``g`` is convex and increasing in ``u``
    (a log-sum-exp of affine functions for polynomials, and closed under sums and
    scaling), so Newton from a feasible start decreases monotonically towards the point
    where ``g = aim`` and every iterate has ``g >= aim >= 0`` (a tangent of a convex
    function lies below it): stopping anywhere is safe. Aiming at ``aim = log(1 + rtol)/2``,
    the middle of the window ``[0, log(1 + rtol)]``, rather than at the root keeps the
    landing point feasible when ``R L(R)`` is rounded: aiming at the root itself, a landing
    one ulp short of ``target`` was rejected and the previous iterate (up to 1.5 times the
    root, from :func:`_feasible_start`) returned, breaking ``phi(R) <= (1 + rtol) c``.
    It is exact in one step on a monomial ``c R^k``, and takes one or two steps on the
    bounds of the built-in models.
    """
    log = math.log
    value = bound(radius)
    evals = 1
    if radius * value < target:  # a closed-form start lost to rounding: nudge it up
        radius *= 1.0 + 0.25 * rtol
        value = bound(radius)
        evals += 1
        if radius * value < target:
            radius = _feasible_start(bound, target)
            value = bound(radius)
            evals += 1
    log_target = log(target)
    stop = math.log1p(rtol)
    aim = 0.5 * stop  # aim at the window's middle: the root itself is lost to rounding
    for _ in range(_MAX_NEWTON):
        g = log(radius) + log(value) - log_target  # (R L(R) itself may overflow)
        if g <= stop:
            break
        slope = 1.0 + radius * bound.derivative(radius) / value  # d log(phi) / d log(R)
        trial = radius * math.exp(-(g - aim) / slope)
        if not 0.0 < trial < radius:
            break
        trial_value = bound(trial)
        evals += 1
        if log(trial) + log(trial_value) < log_target:  # rounding: keep the last feasible
            break
        radius, value = trial, trial_value
    return radius, value, evals


def solve_radius(
    bound: LocalBound | Callable[[float], float],
    target: float,
    *,
    rtol: float = 1e-3,
    guess: float | None = None,
) -> tuple[float, float, int]:
    """Smallest ``R`` with ``R L(R) >= target`` for any non-decreasing positive ``L``.

    Newton for convex bounds. Otherwise the solve works on ``g(u) = log(R L(R) / target)``
    in ``u = log R`` and uses the one fact every LFSO gives: as ``L`` is non-decreasing,
    ``g(v) - g(u) >= v - u`` for ``v > u`` (slope at least one). From an infeasible point
    the step ``u - g(u) + aim`` (``aim`` half the tolerance) is therefore *always*
    feasible, and from a feasible point the step ``u - (g(u) - aim)`` lands at or below
    ``aim``: from the seed (``guess``, e.g. the last iteration's radius rescaled, or
    ``target / L(0)``) one or two evaluations either finish or bracket the root, and
    regula falsi (Illinois) on ``g - aim``, kept inside the interval the slope bound allows,
    closes the bracket; it is exact in one step for power laws. A good seed costs one
    evaluation, and a good ``bound.hint`` (a radius the bound was evaluated at with the
    gradient, :class:`lfso.models._rows.RowCurvatureBound`) none. Every evaluation is
    checked: non-finite or non-positive values and a
    decrease in ``R`` raise :class:`OracleError`.

    Returns
    -------
    radius, L, evaluations : float, float, int
    """
    if not target > 0.0:
        return 0.0, check_value(bound(0.0), 0.0), 1
    if isinstance(bound, LocalBound) and bound.convex:
        return bound.radius_for(target, rtol=rtol)

    evals = 0
    seen: list[tuple[float, float]] = []
    log_t = math.log(target)
    slack = getattr(bound, "monotone_rtol", 1e-12)

    def excess(u: float) -> tuple[float, float]:
        """``g(u)`` and ``L(e^u)`` (``g = inf`` where the oracle has no finite bound)."""
        nonlocal evals
        radius = math.exp(u)
        try:
            raw = bound(radius)
        except OverflowError:  # Python float overflow in the oracle: no finite bound here
            raw = math.inf
        if hi is not None and float(raw) == 0.0:
            # Below a feasible radius, L(R) = 0 is underflow (L(R) = R^9 at R = 1e-36, a
            # step down the slope bound allows): infeasible, as any smaller value.
            value = 0.0
        else:
            value = check_value(raw, radius, allow_inf=True)
        evals += 1
        for r_old, l_old in seen[-2:]:
            check_monotone(r_old, l_old, radius, value, slack)
        seen.append((radius, value))
        return (u + math.log(value) - log_t if value > 0.0 else -math.inf), value

    stop = math.log1p(rtol)
    aim = 0.5 * stop
    hint = getattr(bound, "hint", None)
    if hint is not None and 0.0 < hint < math.inf:
        # A radius the bound was evaluated at with the gradient: free to look at, and the
        # answer when it lies in the window (otherwise the seed below is better informed).
        hinted = check_value(bound(hint), hint)
        evals += 1
        seen.append((hint, hinted))
        if 0.0 <= math.log(hint) + math.log(hinted) - log_t <= stop:
            return hint, hinted, evals
    if guess is not None and guess > 0.0:
        u = math.log(guess)
    else:
        at_zero = float(bound(0.0))  # L(x, 0) may be 0 (a flat point): only a limit
        evals += 1
        if not 0.0 <= at_zero < math.inf:
            check_value(at_zero, 0.0)
        # R L(0) = target is a lower bound on the root: step past it by aim (feasible, and
        # exactly in the window's middle when L is flat: no rounding-dependent outcome).
        u = log_t - math.log(at_zero) + aim if at_zero > 0.0 else 0.0
    u = min(max(u, -_LOG_RANGE), _LOG_RANGE)
    lo: tuple[float, float, float] | None = None  # (u, g, L) with g < 0
    hi: tuple[float, float, float] | None = None  # (u, g, L) with g >= 0
    g, value = excess(u)
    fall = math.log(2.0)  # step down from a radius with no finite bound; doubles each time
    for _ in range(_MAX_BRACKET):
        if 0.0 <= g <= stop:
            return math.exp(u), value, evals
        if g < 0.0:
            lo = (u, g, value)
            if hi is not None:
                break
            if u >= _LOG_RANGE:
                raise OracleError(
                    "radius solve failed: R * L(x, R) stays below eta * ||g|| for all R"
                )
            u = min(u - g + aim, _LOG_RANGE)  # feasible by the slope bound
        else:
            hi = (u, g, value)
            if lo is not None:
                break
            if u <= -_LOG_RANGE:  # pragma: no cover - needs L ~ 1/R near 0: not an LFSO
                return math.exp(u), value, evals
            if math.isinf(g):
                u, fall = u - fall, 2.0 * fall
            else:
                u = max(u - (g - aim), -_LOG_RANGE)  # lands at or below aim
        g, value = excess(u)
    else:  # pragma: no cover - every step above brackets or finishes within two evaluations
        raise OracleError("radius solve failed to bracket the root")
    assert lo is not None and hi is not None

    u_lo, g_lo, _ = lo
    u_hi, g_hi, l_hi = hi
    w_lo, w_hi = g_lo - aim, g_hi - aim  # Illinois weights, halved on a repeated side
    side = 0
    for _ in range(_MAX_BRACKET):
        if u_hi - u_lo <= 1e-12 * max(1.0, abs(u_hi)):
            break
        # Where g = aim lies by the slope bound: between u_hi - (g_hi - aim) and
        # u_lo + (aim - g_lo).
        low = max(u_lo, u_hi - (g_hi - aim))
        high = min(u_hi, u_lo + (aim - g_lo))
        u = u_hi - w_hi * (u_hi - u_lo) / (w_hi - w_lo) if math.isfinite(w_hi) else high
        u = min(max(u, low), high)
        if not u_lo < u < u_hi:
            u = 0.5 * (u_lo + u_hi)
        g, value = excess(u)
        if 0.0 <= g <= stop:
            return math.exp(u), value, evals
        if g > stop:
            u_hi, g_hi, l_hi, w_hi = u, g, value, g - aim
            if side == 1:
                w_lo *= 0.5
            side = 1
        else:
            u_lo, g_lo, w_lo = u, g, g - aim
            if side == -1:
                w_hi *= 0.5
            side = -1
    radius = math.exp(u_hi)
    return radius, check_value(l_hi, radius), evals


def _feasible_start(bound: LocalBound, target: float) -> float:
    """A radius with ``R L(R) >= target`` and finite ``L(R)``, for bounds with no closed form."""
    at_zero = bound(0.0)
    radius = target / at_zero if at_zero > 0.0 else 1.0
    value = bound(radius)
    while not math.isfinite(value):  # past the float range (exponential bounds): come back
        radius *= 0.5
        value = bound(radius)
    while radius * value < target:
        radius *= 1.5
        value = bound(radius)
    return radius


class ConstantBound(LocalBound):
    """``L(R) = L``: a global Lipschitz constant of the gradient."""

    convex = True

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, radius: float) -> float:
        return self.value

    def derivative(self, radius: float) -> float:
        return 0.0

    def start(self, target: float) -> float | None:
        return target / self.value

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        return max(target, 0.0) / self.value, self.value, 1

    def __add__(self, other: LocalBound) -> LocalBound:
        if isinstance(other, ConstantBound):
            return ConstantBound(self.value + other.value)
        if isinstance(other, PolynomialBound):
            return other + self
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        return ConstantBound(self.value * float(factor))

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return self


class PolynomialBound(LocalBound):
    """``L(R) = sum_k c_k R^k`` with ``c_k >= 0``.

    Non-decreasing, and ``log(R L(R))`` is convex in ``log R`` (a log-sum-exp).

    Closed under sums, positive scaling and stretching, so the calculus of polynomial
    oracles stays polynomial and O(1) to evaluate.
    """

    convex = True

    def __init__(self, coefficients: Sequence[float]) -> None:
        coefs = [float(c) for c in coefficients]
        if not coefs or any(not (c >= 0.0) for c in coefs):
            raise ValueError(f"polynomial bound needs non-negative coefficients, got {coefs}")
        self.coefficients = tuple(coefs)

    def __call__(self, radius: float) -> float:
        total = 0.0
        for c in reversed(self.coefficients):
            total = total * radius + c
        return total

    def derivative(self, radius: float) -> float:
        total = 0.0
        coefs = self.coefficients
        for k in range(len(coefs) - 1, 0, -1):
            total = total * radius + k * coefs[k]
        return total

    def start(self, target: float) -> float | None:
        # phi(R) >= c_k R^(k+1) for every k, so each (target / c_k)^(1/(k+1)) is feasible;
        # the smallest lies within a factor len(coefs) of the root.
        best = math.inf
        for k, c in enumerate(self.coefficients):
            if c > 0.0:
                best = min(best, (target / c) ** (1.0 / (k + 1)))
        return best if best < math.inf else None

    def __add__(self, other: LocalBound) -> LocalBound:
        if isinstance(other, ConstantBound):
            coefs = list(self.coefficients)
            coefs[0] += other.value
            return PolynomialBound(coefs)
        if isinstance(other, PolynomialBound):
            a, b = self.coefficients, other.coefficients
            n = max(len(a), len(b))
            a = a + (0.0,) * (n - len(a))
            b = b + (0.0,) * (n - len(b))
            return PolynomialBound([x + y for x, y in zip(a, b, strict=True)])
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        return PolynomialBound([c * float(factor) for c in self.coefficients])

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return PolynomialBound([c * float(factor) ** k for k, c in enumerate(self.coefficients)])


def _power_root(a: float, b: float, q: float, t: float, rtol: float) -> tuple[float, float, int]:
    """Smallest ``R`` with ``R (a + b R)^q >= t`` (to ``rtol``), ``a, b, q >= 0``, ``t > 0``.

    Returns ``(R, a + b R, evaluations)``. Newton on ``g(u) = u + q log(a + b e^u) - log t``
    in ``u = log R``, which is convex, from the feasible start
    ``min(t / a^q, (t / b^q)^(1/(q+1)))`` (each term alone reaches ``t`` there).
    """
    radius = math.inf
    low = a**q
    if low > 0.0:
        radius = t / low
    high = b**q
    if high > 0.0:
        radius = min(radius, (t / high) ** (1.0 / (q + 1.0)))
    if radius == math.inf:  # a = b = 0 (q > 0): no radius is feasible
        return math.inf, 0.0, 0
    s = a + b * radius
    if q == 0.0:
        return radius, s, 1
    log, exp = math.log, math.exp
    log_t = log(t)
    stop = math.log1p(rtol)
    aim = 0.5 * stop  # the window's middle (see _newton)
    evals = 1
    for _ in range(_MAX_NEWTON):
        g = log(radius) + q * log(s) - log_t
        if g <= stop:
            break
        trial = radius * exp(-(g - aim) / (1.0 + q * b * radius / s))
        if not 0.0 < trial < radius:
            break
        s_trial = a + b * trial
        evals += 1
        if trial * s_trial**q < t:  # rounding: keep the last feasible point
            break
        radius, s = trial, s_trial
    return radius, s, evals


class PowerBound(LocalBound):
    """``L(R) = scale (a + b R)^q`` with ``scale > 0``, ``a, b, q >= 0``.

    ``log(R L(R)) = u + q log(a + b e^u) + const`` is convex in ``u = log R``; the radius
    solve is a closed-form start and one or two Newton steps (:func:`_power_root`).
    """

    convex = True

    def __init__(self, scale: float, a: float, b: float, q: float) -> None:
        self.scale, self.a, self.b, self.q = float(scale), float(a), float(b), float(q)

    def __call__(self, radius: float) -> float:
        return self.scale * (self.a + self.b * radius) ** self.q

    def derivative(self, radius: float) -> float:
        if self.q == 0.0:
            return 0.0
        return self.scale * self.q * self.b * (self.a + self.b * radius) ** (self.q - 1.0)

    def start(self, target: float) -> float | None:
        radius = _power_root(self.a, self.b, self.q, target / self.scale, math.inf)[0]
        return radius if radius < math.inf else None

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        if not target > 0.0:
            return 0.0, self(0.0), 1
        radius, s, evals = _power_root(self.a, self.b, self.q, target / self.scale, rtol)
        if radius == math.inf:
            return 0.0, self(0.0), 1  # L = 0: rejected by the caller's check
        return radius, self.scale * s**self.q, evals

    def __mul__(self, factor: float) -> LocalBound:
        return PowerBound(self.scale * float(factor), self.a, self.b, self.q)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return PowerBound(self.scale, self.a, self.b * float(factor), self.q)


class MinPowerBound(LocalBound):
    """``L(R) = scale * min_j (a_j + b_j R)^q``: the best of several power bounds of one degree.

    The tight radius is the largest of the lines' roots (``R min_j ... >= t`` iff every
    line reaches ``t``); the line solved first is checked against the others at its root,
    so usually one Newton solve suffices.
    """

    def __init__(self, scale: float, lines: Sequence[tuple[float, float]], q: float) -> None:
        # Built once per iteration by the regression models: no conversions on this path.
        self.scale, self.lines, self.q = scale, tuple(lines), q

    def __call__(self, radius: float) -> float:
        return self.scale * min(a + b * radius for a, b in self.lines) ** self.q

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        if not target > 0.0:
            return 0.0, self(0.0), 1
        t, q, lines = target / self.scale, self.q, self.lines
        a, b = lines[0]
        radius, s, evals = _power_root(a, b, q, t, rtol)
        for a, b in lines[1:]:
            line = a + b * radius
            if radius * line**q >= t:  # this line is feasible too: nothing to solve
                s = min(s, line)
                continue
            radius, _, e = _power_root(a, b, q, t, rtol)
            evals += e
            s = min(a2 + b2 * radius for a2, b2 in lines)
        if radius == math.inf:
            return 0.0, self(0.0), evals + 1
        return radius, self.scale * s**q, evals

    def __mul__(self, factor: float) -> LocalBound:
        return MinPowerBound(self.scale * float(factor), self.lines, self.q)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        f = float(factor)
        return MinPowerBound(self.scale, [(a, b * f) for a, b in self.lines], self.q)


class ExpBound(LocalBound):
    """``L(R) = scale * exp(rate * R)`` with ``scale > 0`` and ``rate >= 0``."""

    convex = True

    def __init__(self, scale: float, rate: float) -> None:
        self.scale, self.rate = float(scale), float(rate)

    def __call__(self, radius: float) -> float:
        try:
            return self.scale * math.exp(self.rate * radius)
        except OverflowError:  # beyond float range: no finite bound at this radius
            return math.inf

    def derivative(self, radius: float) -> float:
        return self.rate * self(radius)

    def start(self, target: float) -> float | None:
        # R e^(rate R) = t has root W(rate t) / rate (Lambert W); log1p gives a feasible
        # upper estimate: R = t/scale satisfies phi(R) >= t, and so does any R >= root.
        t = target / self.scale
        if self.rate == 0.0:
            return t
        z = self.rate * t
        # For z > 0, W(z) <= log1p(z) with equality only at 0: a feasible start.
        return min(t, math.log1p(z) / self.rate) if z > 1e-8 else t

    def __mul__(self, factor: float) -> LocalBound:
        return ExpBound(self.scale * float(factor), self.rate)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return ExpBound(self.scale, self.rate * float(factor))


class SumBound(LocalBound):
    """``L(R) = sum_j L_j(R)``; log-convex (for Newton) when every term is, since sums of
    log-convex functions are log-convex."""

    terms: tuple[LocalBound, ...]

    def __init__(self, terms: Sequence[LocalBound]) -> None:
        flat: list[LocalBound] = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, SumBound) else (t,))
        self.terms = tuple(flat)
        self.convex = all(t.convex for t in self.terms)

    def __call__(self, radius: float) -> float:
        return sum(t(radius) for t in self.terms)

    def derivative(self, radius: float) -> float:
        return sum(t.derivative(radius) for t in self.terms)

    def start(self, target: float) -> float | None:
        # L >= L_j, so a radius feasible for one term is feasible for the sum.
        starts = [r for r in (t.start(target) for t in self.terms) if r is not None]
        return min(starts) if starts else None


class MinBound(LocalBound):
    """``L(R) = min_j L_j(R)``: the best of several valid bounds.

    ``R min_j L_j(R) >= c`` iff ``R L_j(R) >= c`` for every ``j``, so the tight radius is
    the largest of the terms' tight radii.
    """

    def __init__(self, terms: Sequence[LocalBound]) -> None:
        self.terms = tuple(terms)

    def __call__(self, radius: float) -> float:
        return min(t(radius) for t in self.terms)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        # Solve for one term, then only for the terms still infeasible at that radius.
        radius, value, evals = self.terms[0].radius_for(target, rtol=rtol, guess=guess)
        for t in self.terms[1:]:
            other = t(radius)
            evals += 1
            if radius * other < target:
                radius, _, e = t.radius_for(target, rtol=rtol, guess=radius)
                evals += e
                value = self(radius)
                evals += len(self.terms)
            else:
                value = min(value, other)
        return radius, value, evals

    def __mul__(self, factor: float) -> LocalBound:
        return MinBound([t * factor for t in self.terms])

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        return MinBound([t.stretched(factor) for t in self.terms])


class TransformedBound(LocalBound):
    """``L(R) = scale * inner(stretch * R)``, the result of scaling or stretching a bound."""

    inner: LocalBound
    scale: float
    stretch: float

    def __init__(self, inner: LocalBound, *, scale: float = 1.0, stretch: float = 1.0) -> None:
        if not (scale > 0.0 and stretch >= 0.0):
            raise ValueError(f"need scale > 0 and stretch >= 0, got {scale}, {stretch}")
        if isinstance(inner, TransformedBound):
            scale, stretch = scale * inner.scale, stretch * inner.stretch
            inner = inner.inner
        self.inner, self.scale, self.stretch = inner, scale, stretch
        self.convex = inner.convex
        self.paper_radius = inner.paper_radius

    def __call__(self, radius: float) -> float:
        return self.scale * self.inner(self.stretch * radius)

    def derivative(self, radius: float) -> float:
        return self.scale * self.stretch * self.inner.derivative(self.stretch * radius)

    def start(self, target: float) -> float | None:
        # R scale L(stretch R) >= t  iff  (stretch R) L(stretch R) >= t stretch / scale.
        if self.stretch == 0.0:
            return target / self.scale / self.inner(0.0)
        inner = self.inner.start(target * self.stretch / self.scale)
        return None if inner is None else inner / self.stretch


class FunctionBound(LocalBound):
    """A user's ``R -> L`` callable; the radius solve checks every value it returns."""

    def __init__(self, function: Callable[[float], float]) -> None:
        self.function = function

    def __call__(self, radius: float) -> float:
        return _as_float(self.function(radius), radius)
