"""The radius solve: the smallest ``R`` with ``R L(x, R) >= c``, and the checks on an
oracle's values that it relies on.

The question the LFSO step asks:

.. math::  \\varphi(R) = R \\, L(x, R) \\ge c, \\qquad c = \\eta \\|\\nabla f(x)\\|,

i.e. the smallest ball that provably contains the step ``x - (eta / L(x, R)) grad f(x)``,
and hence the largest step the oracle certifies. Since ``L`` is positive and
non-decreasing, ``phi`` is strictly increasing and the root is unique. Every solver here
returns a *feasible* radius (``phi(R) >= c``) whose step is within a factor ``1 + rtol`` of
the largest certified step: ``phi(R) <= (1 + rtol) c`` implies
``L(R*) >= L(R) R / ((1 + rtol) R*) >= L(R) / (1 + rtol)``.

The bound shapes that use these solvers are in :mod:`lfso.oracles._bounds`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._bounds import LocalBound

__all__ = [
    "OracleError",
    "as_float",
    "check_monotone",
    "check_solved",
    "check_value",
    "feasible_start",
    "infinite_target",
    "newton",
    "power_root",
    "power_root_in_logs",
    "solve_radius",
]

_MAX_NEWTON = 60
_MAX_BRACKET = 200
_LOG_RANGE = 690.0  # radii stay within e^(+-690), inside the float range
_LARGEST = 1.7976931348623157e308  # the largest float
_LOG_TOP = math.log(_LARGEST)  # (e^_LOG_TOP rounds to a finite float just below it)
_NORMAL = 2.2250738585072014e-308  # the smallest normal float


class OracleError(ValueError):
    """An oracle broke its contract: a non-finite or non-positive value, or a decrease in R."""


class PrecisionLimitError(OracleError):
    """A built-in model's proven bound has no value in floating point at this point.

    The bound holds in exact arithmetic, but here its value leaves the float range
    (the curvature along the step exceeds the largest float, or the step it certifies
    is not representable), so the data's dtype cannot certify a further step. The loop
    stops with :attr:`lfso.Status.PRECISION_LIMIT` and returns the best point. A user's
    oracle that returns ``inf``, ``0`` or decreasing values raises a plain
    :class:`OracleError` instead: that is a broken contract, not a precision limit.
    """


class _NotSmoothError(PrecisionLimitError):
    """The automatic estimate of ``L`` left the float range over a vanishing distance:
    the gradient changes by a finite amount between points nearer than any rounding scale
    (``f`` may not be differentiable there), which no rescaling cures. The loop stops with
    :attr:`lfso.Status.PRECISION_LIMIT`, its message saying so."""


class _ScaledPastRangeError(PrecisionLimitError):
    """The calculus's scaling of a valid value of a user's bound left the float range
    (``1e-300 * FunctionOracle(...)`` at a value ``1e-300``): the product of two valid
    numbers, a precision limit, not a broken contract. ``value`` is the product (``0`` or
    ``inf``), which the radius solve reads as an infeasible or unbounded trial while it
    brackets, as it reads the same value returned by a bound."""

    def __init__(self, message: str, value: float) -> None:
        super().__init__(message)
        self.value = value


class _RadiusRuleError(PrecisionLimitError):
    """A user's radius rule gave an ``R0`` at which the proven bound leaves the float
    range: the data's precision is not to blame. The loop stops with
    :attr:`lfso.Status.PRECISION_LIMIT`, the error's text as the run's whole message."""


def as_float(value: Any, radius: float) -> float:
    """An oracle's value as a float; an :class:`OracleError` naming it if it is no number."""
    try:
        return float(value)
    except (TypeError, ValueError):  # a string, None, an array with several entries, ...
        raise OracleError(
            f"smoothness oracle returned L(x, R={radius:.6g}) = {value!r:.60}; an LFSO must "
            "return a finite positive number"
        ) from None


def check_value(
    value: float, radius: float, *, allow_inf: bool = False, proven: bool = False
) -> float:
    """Return ``value`` as a float after checking it is a finite positive bound.

    ``allow_inf`` admits ``+inf`` ("no finite bound at this radius"), which the radius
    solve may meet while bracketing but never returns. ``proven``: the value is a
    built-in model's proven bound (:attr:`lfso.oracles.LocalBound.proven`), whose ``inf``
    is the float range's edge and whose ``0`` is its exact value (no curvature at ``x``)
    or an underflow: a :class:`PrecisionLimitError` saying so, not a broken contract (NaN
    stays an :class:`OracleError`).
    """
    value = as_float(value, radius)
    if not (0.0 < value < math.inf or (allow_inf and value == math.inf)):
        if proven and value == math.inf:
            raise PrecisionLimitError(
                f"the built-in bound L(x, R={radius:.6g}) = inf leaves the float range "
                "(its exact value is a finite number past the largest float): no step can "
                "be certified accurately at this point"
            )
        if proven and value == 0.0:
            raise PrecisionLimitError(
                f"the built-in bound L(x, R={radius:.6g}) = 0.0 certifies no step: its "
                "exact value is 0 (no curvature at x: f flat to second order, or, for "
                "L0L1Smooth with L0 = 0, a zero gradient; a run stops at a zero gradient "
                "before asking) or a positive number past the float range "
                "(underflow)"
            )
        raise OracleError(
            f"smoothness oracle returned L(x, R={radius:.6g}) = {value!r}; "
            "an LFSO must return a finite positive bound"
        )
    return value


def check_solved(answer: Any, *, proven: bool = False) -> tuple[float, float, int]:
    """A bound's ``radius_for`` answer ``(radius, L, evaluations)``, checked: a radius
    ``>= 0`` (``inf`` allowed) and a finite positive ``L`` (:func:`check_value`); an
    :class:`OracleError` naming what it returned otherwise (a user's bound class may
    solve its own radius), a :class:`PrecisionLimitError` for an ``L`` of ``0`` or
    ``inf`` from a ``proven`` bound (:attr:`lfso.oracles.LocalBound.proven`)."""
    if not (isinstance(answer, (tuple, list)) and len(answer) == 3):
        raise OracleError(
            f"smoothness oracle's radius_for returned {answer!r:.60}; it must return "
            "(radius, L, evaluations)"
        )
    radius, value, calls = answer
    if type(radius) is not float or not radius >= 0.0:
        try:
            number = float(radius)
        except (TypeError, ValueError):  # a string, None, an array with several entries
            number = math.nan
        if not number >= 0.0:
            raise OracleError(
                f"smoothness oracle's radius_for returned the radius R = {radius!r:.60}; "
                "a radius must be a number >= 0"
            )
        radius = number
    if type(value) is not float or not 0.0 < value < math.inf:
        value = check_value(value, radius, proven=proven)
    return radius, value, calls


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


def infinite_target(bound: LocalBound | Callable[[float], float]) -> tuple[float, float, int]:
    """The radius solve's answer to ``target = inf`` (:func:`lfso.oracles._bounds.check_target`):
    ``R = inf`` with ``L(x, inf)``, the bound's supremum (``inf`` where it is unbounded), so
    that ``R L(R) >= target`` holds; ``(0.0, 0.0, 1)`` where ``L`` is 0 for every ``R`` (no
    radius: rejected by the caller's check, as for a finite target). A value that is no
    non-negative number raises :class:`OracleError` naming it.
    """
    limit = getattr(bound, "_limit", None)
    value = limit() if limit is not None else as_float(bound(math.inf), math.inf)
    if not value >= 0.0:
        check_value(value, math.inf, allow_inf=True)  # raises, naming the value
    return (math.inf if value > 0.0 else 0.0), value, 1


def newton(
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
    root, from :func:`feasible_start`) returned, breaking ``phi(R) <= (1 + rtol) c``.
    It is exact in one step on a monomial ``c R^k``, and takes one or two steps on the
    bounds of the built-in models.
    """
    log = math.log
    value = bound(radius)
    evals = 1
    # (fl(R L) > target: the exact R L is above target too, rounding being monotone;
    # fl(R L) = target left it up to half an ulp below, a subnormal's spacing for a
    # subnormal target: PolynomialBound([4e24, 2e211, 0]) at target 4.3e-233)
    if not radius * value > target:  # a closed-form start lost to rounding: nudge it up
        radius *= 1.0 + 0.25 * rtol
        value = bound(radius)
        evals += 1
        if not radius * value > target:
            radius = feasible_start(bound, target)
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
    decrease in ``R`` raise :class:`OracleError`. A root past the largest float (``R L(R)
    < target`` up to it) gives :func:`infinite_target`'s answer, ``R = inf`` and ``L(x,
    inf)``.

    Returns
    -------
    radius, L, evaluations : float, float, int
    """
    if not target > 0.0:
        return 0.0, check_value(bound(0.0), 0.0), 1
    if target == math.inf:
        return infinite_target(bound)
    if getattr(bound, "convex", False):  # a LocalBound with its own Newton solve
        own: Any = bound
        return own.radius_for(target, rtol=rtol)
    excess = _Excess(bound, target)
    stop = math.log1p(rtol)
    aim = 0.5 * stop
    hinted = _at_hint(excess, stop)
    if hinted is not None:
        return hinted[0], hinted[1], excess.evals
    root, lo, hi = _bracket(excess, _seed(excess, guess, aim), stop, aim)
    if root is None:
        root = _illinois(excess, lo, hi, stop, aim)
    return root[0], root[1], excess.evals


class _Excess:
    """``u -> (g(u), L(e^u))``, ``g(u) = log(R L(R) / target)`` at ``R = e^u``, for
    :func:`solve_radius`: every evaluation counted (``evals``) and checked (a finite or
    infinite positive value, no decrease in ``R`` against the last two seen)."""

    def __init__(self, bound: LocalBound | Callable[[float], float], target: float) -> None:
        self.bound = bound
        self.log_t = math.log(target)
        self.slack = getattr(bound, "monotone_rtol", 1e-12)
        self.evals = 0
        self.seen: list[tuple[float, float]] = []
        #: A feasible radius was met: below it, ``L(R) = 0`` is underflow, not an error.
        self.above = False
        #: A built-in bound (:attr:`lfso.oracles.LocalBound.proven`): its 0 is underflow.
        self.proven = bool(getattr(bound, "proven", False))

    def __call__(self, u: float) -> tuple[float, float]:
        """``g(u)`` and ``L(e^u)`` (``g = inf`` where the oracle has no finite bound)."""
        radius = math.exp(u)
        try:
            raw = self.bound(radius)
        except OverflowError:  # Python float overflow in the oracle: no finite bound here
            raw = math.inf
        except _ScaledPastRangeError as edge:  # (a scaling's inf: no finite bound here, as
            if not (edge.value == math.inf or self.above):  # a bound's own; its 0
                raise  # below a feasible radius: infeasible, as a bound's own 0 there)
            raw = edge.value
        if type(raw) is float and 0.0 < raw <= math.inf:  # (a valid value: check_value's)
            value = raw
        elif (self.above or self.proven) and as_float(raw, radius) == 0.0:
            # Below a feasible radius, L(R) = 0 is underflow (L(R) = R^9 at R = 1e-36, a
            # step down the slope bound allows): infeasible, as any smaller value; so is
            # a proven bound's 0 anywhere (its exact value is positive: underflow too)
            value = 0.0
        else:
            value = check_value(raw, radius, allow_inf=True)
        self.evals += 1
        slack = self.slack
        for r_old, l_old in self.seen[-2:]:
            # (check_monotone's test, inline; it raises with the message where it fails)
            if value < l_old * (1.0 - slack) if r_old <= radius else l_old < value * (1.0 - slack):
                check_monotone(r_old, l_old, radius, value, slack)
        self.seen.append((radius, value))
        return (u + math.log(value) - self.log_t if value > 0.0 else -math.inf), value


def _at_hint(excess: _Excess, stop: float) -> tuple[float, float] | None:
    """``(R, L(R))`` at the bound's ``hint`` when that lies in the window, else ``None``."""
    hint = getattr(excess.bound, "hint", None)
    if hint is not None and 0.0 < hint < math.inf:
        # A radius the bound was evaluated at with the gradient: free to look at, and the
        # answer when it lies in the window (otherwise the seed below is better informed).
        hinted = check_value(excess.bound(hint), hint)
        excess.evals += 1
        excess.seen.append((hint, hinted))
        if 0.0 <= math.log(hint) + math.log(hinted) - excess.log_t <= stop:
            return hint, hinted
    return None


def _seed(excess: _Excess, guess: float | None, aim: float) -> float:
    """The first ``u = log R`` to evaluate: ``log(guess)``, or just past ``target / L(0)``."""
    if guess is not None and guess > 0.0:
        u = math.log(guess)
    else:
        at_zero = as_float(excess.bound(0.0), 0.0)  # L(x, 0) may be 0 (a flat point): only a limit
        excess.evals += 1
        if not 0.0 <= at_zero < math.inf:  # (a proven bound's inf: a precision limit)
            check_value(at_zero, 0.0, proven=getattr(excess.bound, "proven", False))
        # R L(0) = target is a lower bound on the root: step past it by aim (feasible, and
        # exactly in the window's middle when L is flat: no rounding-dependent outcome).
        u = excess.log_t - math.log(at_zero) + aim if at_zero > 0.0 else 0.0
    return min(max(u, -_LOG_RANGE), _LOG_RANGE)


_Point = tuple[float, float, float]  # (u, g, L)


def _bracket(
    excess: _Excess, u: float, stop: float, aim: float
) -> tuple[tuple[float, float] | None, _Point, _Point]:
    """From the seed ``u``: ``(root, lo, hi)``, ``root = (R, L(R))`` when a step landed in
    the window (``lo``, ``hi`` then meaningless), else ``None`` and the bracket
    (``g(lo) < 0 <= g(hi)``)."""
    lo: _Point | None = None  # g < 0
    hi: _Point | None = None  # g >= 0
    g, value = excess(u)
    fall = math.log(2.0)  # step down from a radius with no finite bound; doubles each time
    for _ in range(_MAX_BRACKET):
        if 0.0 <= g <= stop:
            return (math.exp(u), value), (u, g, value), (u, g, value)
        if g < 0.0:
            lo = (u, g, value)
            if hi is not None:
                break
            if u >= _LOG_TOP:  # R L(R) < target up to the largest float: the root is past it
                radius, value, _ = infinite_target(excess.bound)
                excess.evals += 1
                return (radius, value), lo, lo
            u = min(u - g + aim, _LOG_TOP)  # feasible by the slope bound
        else:
            hi = (u, g, value)
            excess.above = True
            if lo is not None:
                break
            if u <= -_LOG_RANGE:  # pragma: no cover - needs L ~ 1/R near 0: not an LFSO
                return (math.exp(u), value), hi, hi
            if math.isinf(g):
                u, fall = u - fall, 2.0 * fall
            else:
                u = max(u - (g - aim), -_LOG_RANGE)  # lands at or below aim
        g, value = excess(u)
    else:  # pragma: no cover - every step above brackets or finishes within two evaluations
        raise OracleError("radius solve failed to bracket the root")
    assert lo is not None and hi is not None
    return None, lo, hi


def _illinois(
    excess: _Excess, lo: _Point, hi: _Point, stop: float, aim: float
) -> tuple[float, float]:
    """``(R, L(R))`` in the window by regula falsi (Illinois) on ``g - aim`` from the
    bracket, each trial kept inside the interval the slope bound allows; the bracket's
    feasible end when it closes first."""
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
            return math.exp(u), value
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
    return radius, check_value(l_hi, radius)


def feasible_start(bound: LocalBound, target: float) -> float:
    """A radius with ``R L(R) > target`` (computed, so exactly too) and finite ``L(R)``,
    for bounds with no closed form; ``inf`` where the root lies past the float range.
    """
    at_zero = as_float(bound(0.0), 0.0)
    if not 0.0 <= at_zero < math.inf:  # (NaN or inf at 0: no radius to come back to;
        # a proven bound's inf is a precision limit)
        check_value(at_zero, 0.0, proven=getattr(bound, "proven", False))
    radius = min(target / at_zero, _LARGEST) if at_zero > 0.0 else 1.0
    if radius == 0.0:  # (target / L(0) below the smallest float: no growth from 0)
        raise PrecisionLimitError(
            f"the radius with R L(R) = {target!r} is below the smallest float (L(0) = "
            f"{at_zero!r}): no step can be certified accurately at this point"
        )
    value = check_value(bound(radius), radius, allow_inf=True)  # (NaN raises)
    while value == math.inf:  # past the float range (exponential bounds): come back
        radius *= 0.5
        value = check_value(bound(radius), radius, allow_inf=True)
    while not radius * value > target:  # (as newton's: the exact R L is above target)
        radius *= 1.5
        if radius == math.inf:
            return radius
        value = check_value(bound(radius), radius, allow_inf=True)
    return radius


def _power(base: float, q: float) -> float:
    """``base^q`` for ``base, q >= 0``, ``inf`` past the float range (where ``**`` raises)."""
    try:
        return base**q
    except OverflowError:
        return math.inf


def power_root(
    a: float,
    b: float,
    q: float,
    t: float,
    rtol: float,
    *,
    bound: Callable[[float], float] | None = None,
    target: float | None = None,
) -> tuple[float, float, int]:
    """Smallest ``R`` with ``R (a + b R)^q >= t`` (to ``rtol``), ``a, b, q >= 0``, ``t > 0``.

    Returns ``(R, a + b R, evaluations)``. Newton on ``g(u) = u + q log(a + b e^u) - log t``
    in ``u = log R``, which is convex, from the feasible start
    ``min(t / a^q, (t / b^q)^(1/(q+1)))`` (each term alone reaches ``t`` there), the
    second in logarithms where ``b^q`` or ``t / b^q`` leaves the normal range (``b =
    2000``, ``q = 98``: ``b^q`` overflows, the root need not). A start whose ``a + b R``
    underflows to 0 (``a = 0``, ``b R`` below the smallest float) has no positive bound
    in floating point: :class:`PrecisionLimitError`.

    The returned ``R`` satisfies ``R (a + b R)^q >= t`` as computed in floating point, not
    only in exact arithmetic: the start's root is rounded (its exponent ``1 / (q + 1)``
    by a relative ``u``, which ``log t`` magnifies, to 1.7e-14 at ``t = 1e300``), so a
    start short of ``t`` is scaled up by the ratio it lacks (``R (a + b R)^q`` grows at
    least as fast as ``R``), twice at most.

    ``bound`` and ``target``: the bound ``L(R) = scale (a + b R)^q`` and the target
    ``t scale`` of the caller's solve, which a :class:`PrecisionLimitError` names (``L(0)``
    and ``R L(R)``) rather than ``a^q`` and ``t``.
    """
    radius = math.inf
    low = _power(a, q)
    if low > 0.0:
        radius = t / low
    if b > 0.0:
        high = _power(b, q)
        ratio = t / high if 0.0 < high < math.inf else 0.0
        if _NORMAL <= ratio < math.inf or not t > 0.0:  # (t = 0: no radius, below)
            radius = min(radius, ratio ** (1.0 / (q + 1.0)))
        else:  # b^q or t / b^q out of the normal range: the root in logarithms
            log_root = (math.log(t) - q * math.log(b)) / (q + 1.0)
            radius = min(radius, math.exp(log_root) if log_root < _LOG_TOP else math.inf)
    if radius == math.inf:  # a = b = 0 (q > 0): no radius is feasible
        return math.inf, 0.0, 0
    aim = t if target is None else target  # (the caller's target and L(0), named below)
    if radius == 0.0:  # t / a^q below the smallest float: no radius to rtol in range
        at_zero = low if bound is None else bound(0.0)
        raise PrecisionLimitError(
            f"the radius with R L(R) = {aim!r} is below the smallest float (L(0) = "
            f"{at_zero!r}): no step can be certified accurately at this point"
        )
    s = a + b * radius
    if not s > 0.0 and q > 0.0:  # (a = 0, b R underflowed: L(R) is 0 in floating point)
        raise PrecisionLimitError(
            f"the bound (a + b R)^q with a = 0, b = {b!r} underflows to 0 at the radius "
            f"with R L(R) = {aim!r}: no step can be certified accurately at this point"
        )
    if q == 0.0:
        return radius, s, 1
    log, exp = math.log, math.exp
    log_t = log(t)
    stop = math.log1p(rtol)
    aim = 0.5 * stop  # the window's middle (see newton)
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
        if trial * _power(s_trial, q) < t:  # rounding: keep the last feasible point
            break
        radius, s = trial, s_trial
    for _ in range(2):
        reached = radius * _power(s, q)
        if reached >= t or not reached > 0.0:
            break
        # (a subnormal radius may not move by that ratio: one float up at least)
        radius = max(radius * ((t / reached) * (1.0 + 2.0**-50)), math.nextafter(radius, math.inf))
        s = a + b * radius
        evals += 1
    return radius, s, evals


def power_root_in_logs(
    a: float, b: float, q: float, log_t: float, rtol: float
) -> tuple[float, int]:
    """:func:`power_root` for ``t = e^log_t`` past the float range (``target / scale``
    overflows, though ``R`` and ``L(R)`` may both be floats): the same Newton on ``g(u) = u
    + q log(a + b e^u) - log t``, with ``log(a + b e^u)`` taken as ``log a`` and ``log b +
    u`` added in logarithms, from the same feasible start. Returns ``(R, evaluations)``:
    ``R = e^u`` (``inf`` where the root is past the float range, or ``a = b = 0``),
    feasible up to the roundings of ``log t`` and ``e^u``, which the caller makes up."""
    log_a = math.log(a) if a > 0.0 else -math.inf
    log_b = math.log(b) if b > 0.0 else -math.inf
    u = log_t - q * log_a if a > 0.0 else math.inf
    if b > 0.0:
        u = min(u, (log_t - q * log_b) / (q + 1.0))
    if u == math.inf:
        return math.inf, 0

    def g(u: float) -> tuple[float, float]:  # (g(u), g'(u))
        low, high = sorted((log_a, log_b + u))
        log_s = high + math.log1p(math.exp(low - high)) if low > -math.inf else high
        return u + q * log_s - log_t, 1.0 + q * math.exp(log_b + u - log_s)

    stop = math.log1p(rtol)
    value, slope = g(u)
    evals = 1
    for _ in range(_MAX_NEWTON):
        if value <= stop or q == 0.0:
            break
        trial = u - (value - 0.5 * stop) / slope  # (the window's middle, as power_root)
        if not trial < u:
            break
        trial_value, trial_slope = g(trial)
        evals += 1
        if trial_value < 0.0:  # rounding: keep the last feasible point
            break
        u, value, slope = trial, trial_value, trial_slope
    return _exp_or_inf(u), evals


def _exp_or_inf(u: float) -> float:
    """``e^u``, ``inf`` past the float range (where ``math.exp`` raises)."""
    try:
        return math.exp(u)
    except OverflowError:
        return math.inf
