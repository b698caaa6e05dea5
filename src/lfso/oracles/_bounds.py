"""Local bounds: the map ``R -> L(x, R)`` at one fixed point ``x``.

An oracle (:mod:`lfso.oracles`) binds a point once -- residuals, margins, norms -- and
returns a :class:`LocalBound`. Evaluating the bound at any radius then costs O(1) (or
O(n) for the few bounds that keep per-row data), so the LFSO step can probe many radii
for the price of one pass over the data. :meth:`LocalBound.radius_for` answers the LFSO
step's question, the smallest ``R`` with ``R L(x, R) >= c``, by the solvers of
:mod:`lfso.oracles._solve` (closed forms where a shape has one).

Every shape here rounds up: its value (and the ``L`` its radius solve returns) is at
least its formula's exact value at its float parameters and radius, each value padded by
the roundings that made it (:func:`rounded_up`), and the calculus (sums, scalings,
stretches, shifts) rounds the parameters it computes up, so a bound built from upper
bounds is one. A user's :class:`FunctionBound` is taken as returned.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from .._validate import real
from ._solve import (  # (OracleError, PrecisionLimitError, check_value, check_monotone:
    OracleError,  # re-exported)
    PrecisionLimitError,
    _ScaledPastRangeError,
    as_float,
    feasible_start,
    infinite_target,
    newton,
    power_root,
    power_root_in_logs,
    solve_radius,
)
from ._solve import (
    check_monotone as check_monotone,
)
from ._solve import (
    check_value as check_value,
)

# The bounds a new model or oracle returns. The other shapes (PowerBound, ExpBound, MinBound,
# ...) are the built-in models' internals, and the radius solve lives in lfso.oracles._solve.
__all__ = ["ConstantBound", "FunctionBound", "LocalBound", "OracleError", "PrecisionLimitError"]


#: The unit roundoff of float64 (host floats).
_UNIT = 2.0**-53


def rounded_up(value: float, roundings: float) -> float:
    """``value >= 0``, computed from non-negative floats in at most ``roundings`` units of
    ``u = 2^-53`` of relative error below the exact result ``V`` (``value >= V (1 - k u)``,
    ``k = roundings``), moved up past them: the result is ``>= V``.

    Proof: ``P = fl(1 + (k + 3) u) >= 1 + (k + 2) u`` (floats in ``[1, 2)`` are ``2u``
    apart), so ``fl(value P) >= V (1 - k u) (1 + (k + 2) u) (1 - u) = V (1 + u - (k^2 + 2k
    + 2) u^2 + k (k + 2) u^3)``, which is ``>= V`` while ``k^2 + 2k + 2 <= 1 / u = 2^53``:
    for ``k <= 2^26`` (``2^52 + 2^27 + 2 < 2^53``). The callers keep to it: the power bounds
    count ``2q + 5`` (and at most ``2.01 q + 7500`` in logarithms), the regression models'
    constants ``5q + 6000`` (the composite paper bound ``10p + 10``), with ``q = 2p - 2``
    and ``p <= 2^22`` (:data:`lfso._validate.MAX_POWER`, enforced where the models take
    ``p``); the others
    count a few units, or ``1.01 y + 2 |log scale| + |E| + 3 < 4000`` for ``ExpBound``.
    Where the result is subnormal each rounding loses at most half the
    smallest subnormal ``5e-324`` instead of a relative ``u``: ``k + 1`` of them are added.
    (Each of the bounds below counts its own ``k``: a sum or product of non-negative floats
    ``u`` each, correctly rounded; ``math.pow`` and ``math.exp`` one ulp, ``2u``; a power
    ``q`` of a base ``j u`` low is ``q j u`` low.) A value of 0 stays 0: a bound of 0
    certifies no step (the radius solve rejects it), whether exact or underflowed.
    """
    if not value > 0.0:
        return value
    return value * (1.0 + (roundings + 3.0) * _UNIT) + (roundings + 1.0) * 5e-324


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
    hint : float or None
        A radius at which the bound was already evaluated (with the gradient, in the same
        round trip: ``"hint"`` in ``Model.extras``), free to read; the radius solve looks
        there first. ``None``: no such radius.
    proven : bool
        Whether the bound is one of the package's proven shapes (a built-in model's),
        or a sum, minimum or transform of them and of constants: a value of ``0`` or
        ``inf`` from it is the float range's edge, and the step's check raises
        :class:`PrecisionLimitError` for it, where a user's bound that returns one broke
        its contract (:class:`OracleError`). ``False`` here, for :class:`FunctionBound`,
        :class:`ConstantBound` alone (but a built-in model's, :func:`proven_constant`)
        and a user's subclasses; ``True`` for the built-in models' row and segment bounds.
        (A user's valid value that the calculus scales or sums past the float range is a
        :class:`PrecisionLimitError` too, raised where it is evaluated, naming them.)
    """

    convex: bool = False
    proven: bool = False
    paper_radius: float | None = None
    hint: float | None = None
    #: Relative decrease in ``R`` put down to rounding rather than a broken oracle. Bounds
    #: that reduce arrays in a low precision (float32) set it from the dtype.
    monotone_rtol: float = 1e-12

    @abstractmethod
    def __call__(self, radius: float) -> float:
        """Return ``L(x, radius)``."""

    def derivative(self, radius: float) -> float:
        """Return ``dL/dR`` at ``radius`` (only bounds with ``convex = True`` need it)."""
        raise NotImplementedError

    def _limit(self) -> float:
        """``L(x, R)`` as ``R -> inf``: the bound's supremum (``L`` is non-decreasing), the
        ``L`` of the answer ``R = inf`` to an infinite target. Here the bound at ``R = inf``;
        the shapes whose formula gives NaN there (``0 * inf``) say it themselves."""
        return self(math.inf)

    def start(self, target: float) -> float | None:
        """A feasible radius (``R L(R) >= target``) near the root, if one is known cheaply."""
        return None

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        """Smallest radius with ``R L(R) >= target``, up to ``rtol`` on the step.

        ``guess`` (e.g. the previous iteration's radius) seeds the bracket of the generic
        solve; closed-form and Newton solves do not need it.

        ``target`` is a number, not NaN (a ``TypeError`` or ``ValueError`` naming it
        otherwise); a target ``<= 0`` needs no radius: ``R = 0``; ``target = inf`` gives
        ``R = inf`` and ``L(x, inf)``, the bound's supremum (``inf`` where it is unbounded).

        Returns
        -------
        radius, L, evaluations : float, float, int
            A feasible radius, the bound there, and how many times the bound was evaluated.
        """
        target = check_target(target)
        if target == math.inf:
            return infinite_target(self)
        if self.convex and target > 0.0:
            start = self.start(target)
            if start is None:
                start = feasible_start(self, target)
            if start == math.inf:  # (the root is past the float range)
                return infinite_target(self)
            return newton(self, target, rtol, start)
        return solve_radius(self, target, rtol=rtol, guess=guess)

    # -- calculus -------------------------------------------------------------------------
    def __add__(self, other: LocalBound) -> LocalBound:
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        """``R -> factor L(R)``, ``factor`` finite and ``>= 0`` (a ``ValueError`` naming it
        otherwise; 0: the bound 0, which certifies no step)."""
        factor = _factor(factor, "factor")
        return TransformedBound(self, scale=factor) if factor > 0.0 else ConstantBound(0.0)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        """The bound ``R -> L(factor * R)`` (radii seen through a linear map of norm factor),
        ``factor`` finite and ``>= 0`` (a ``ValueError`` naming it otherwise)."""
        return TransformedBound(self, stretch=_factor(factor, "factor"))

    def shifted(self, shift: float) -> LocalBound:
        """The bound ``R -> L(R + shift)``, ``shift >= 0``: a bound at a point within
        ``shift`` of the point it was computed at (``B(x', R)`` lies in ``B(x, R +
        shift)`` when ``||x' - x|| <= shift``: an inner point known up to its rounding);
        ``shift`` finite (a ``ValueError`` naming it otherwise)."""
        shift = _factor(shift, "shift")
        return self if shift == 0.0 else TransformedBound(self, shift=shift)


def _valid(value: float) -> bool:
    """Whether ``value`` is a finite positive number (a valid bound or scale)."""
    return 0.0 < value < math.inf


def _scaled_up(value: float, factor: float, proven: bool, radius: float) -> float:
    """``value * factor`` rounded up (:func:`rounded_up`), a scaled bound's value at
    ``radius``. A product of a finite positive ``value`` of a user's bound (not
    ``proven``) and a finite positive ``factor`` that leaves the float range (``1e-300 *
    1e-300 = 0``, ``1e300 * 1e300 = inf``) raises a :class:`PrecisionLimitError` naming
    both: the calculus's own limit, where the ``0`` or ``inf`` would have read as the
    user's broken contract (a proven bound's is a precision limit already, at the step's
    check). The radius solve reads it as the value it carries while it brackets."""
    product = rounded_up(value * factor, 1.0)
    if 0.0 < product < math.inf or proven or not (_valid(value) and _valid(factor)):
        return product
    edge = "underflows to 0" if product == 0.0 else "overflows to inf"
    raise _ScaledPastRangeError(
        f"scaling the bound's value L = {value!r} (at R={radius:.6g}) by the factor "
        f"{factor!r} {edge}: the product of two "
        "valid numbers is past the float range, so no step can be certified accurately "
        "(rescale f, or the oracle's factor, nearer to 1)",
        product,
    )


def check_target(target: float) -> float:
    """The radius solve's ``target`` as a float: a number, not NaN (``inf`` and values
    ``<= 0`` have their answers, ``R = inf`` and ``R = 0``); a ``TypeError`` or
    ``ValueError`` naming ``target`` otherwise. Every ``radius_for`` that solves (not one
    that hands the target on to another bound) checks its target with it."""
    if type(target) is float and target == target:  # (the run's own: a finite float)
        return target
    return real(target, "target", finite=False)


def _factor(value: float, name: str) -> float:
    """The calculus's ``factor`` (a scaling or a stretch) or ``shift`` as a finite float
    ``>= 0``; a ``TypeError`` or ``ValueError`` naming ``name`` otherwise (``bound * -1``
    made a negative bound, ``bound.stretched(-1)`` a decreasing one)."""
    if type(value) is float and 0.0 <= value < math.inf:
        return value
    return real(value, name, low=0.0)


class ConstantBound(LocalBound):
    """``L(R) = L``: a global Lipschitz constant of the gradient.

    ``value >= 0`` (``inf`` allowed: a bound past the float range, which the radius
    solve's callers reject, as they reject ``0``); a negative or NaN value raises a
    ``ValueError`` naming it. A target whose radius ``target / L`` is below the smallest
    float is a :class:`PrecisionLimitError` (``R = 0`` reaches no positive target).
    """

    convex = True

    def __init__(self, value: float) -> None:
        self.value = real(value, "value", low=0.0, finite=False)

    def __call__(self, radius: float) -> float:
        return self.value

    def derivative(self, radius: float) -> float:
        return 0.0

    def _limit(self) -> float:
        return self.value

    def start(self, target: float) -> float | None:
        return target / self.value

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        target = check_target(target)
        if not self.value > 0.0:  # (L = 0: no radius; rejected by the caller's check)
            return 0.0, self.value, 1
        radius = max(target, 0.0) / self.value
        if radius == 0.0 and 0.0 < target and self.value < math.inf:  # (as the power
            # bounds': R = 0 reaches no target; L = inf is the caller's to reject)
            raise PrecisionLimitError(
                f"the radius with R L(R) = {target!r} is below the smallest float (L = "
                f"{self.value!r}): no step can be certified accurately at this point"
            )
        return radius, self.value, 1

    def __add__(self, other: LocalBound) -> LocalBound:
        if isinstance(other, ConstantBound):
            value = rounded_up(self.value + other.value, 1.0)
            users = not (self.proven or other.proven)
            if users and value == math.inf and _valid(self.value) and _valid(other.value):
                # (two valid constants' sum past the range: SumBound's precision limit)
                return SumBound((self, other))
            total = ConstantBound(value)
            total.proven = self.proven or other.proven  # (as a sum's: _proven)
            return total
        if isinstance(other, PolynomialBound):
            return other + self
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        value = rounded_up(self.value * factor, 1.0)
        if not (self.proven or _valid(value)) and factor > 0.0 and _valid(self.value):
            # (a user's valid constant scaled past the float range: the scaling's own
            # limit, a PrecisionLimitError naming it where the bound is evaluated)
            return TransformedBound(self, scale=factor)
        scaled = ConstantBound(value)
        scaled.proven = self.proven
        return scaled

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        _factor(factor, "factor")
        return self

    def shifted(self, shift: float) -> LocalBound:
        _factor(shift, "shift")
        return self


def proven_constant(value: float) -> ConstantBound:
    """A built-in model's constant bound (``LpRegression`` with ``p = 1``, ``PowerSum(1)``):
    :attr:`LocalBound.proven`, so that a ``0`` or ``inf`` from it (scaled past the float
    range) is a :class:`PrecisionLimitError`, as from the model's other shapes."""
    bound = ConstantBound(value)
    bound.proven = True
    return bound


class PolynomialBound(LocalBound):
    """``L(R) = sum_k c_k R^k`` with ``c_k >= 0``.

    Non-decreasing, and ``log(R L(R))`` is convex in ``log R`` (a log-sum-exp).

    Closed under sums, positive scaling and stretching, so the calculus of polynomial
    oracles stays polynomial and O(1) to evaluate.
    """

    convex = proven = True

    def __init__(self, coefficients: Sequence[float]) -> None:
        coefs = [float(c) for c in coefficients]
        if not coefs or any(not (c >= 0.0) for c in coefs):
            raise ValueError(f"polynomial bound needs non-negative coefficients, got {coefs}")
        self.coefficients = tuple(coefs)

    def __call__(self, radius: float) -> float:
        if radius == 0.0:  # (Horner's value, c_0: an infinite c_k times 0 is no NaN)
            total = self.coefficients[0]
        elif radius == math.inf:  # (Horner's 0 * inf is NaN; the supremum)
            return self._limit()
        else:
            total = 0.0
            for c in reversed(self.coefficients):
                total = total * radius + c
        # (Horner on non-negative terms: 2 roundings a degree)
        return rounded_up(total, 2.0 * len(self.coefficients))

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        if any(c > 0.0 for c in self.coefficients):
            return super().radius_for(target, rtol=rtol, guess=guess)
        check_target(target)  # (L = 0 for every R: no radius; rejected by the caller's check)
        return 0.0, 0.0, 1

    def derivative(self, radius: float) -> float:
        total = 0.0
        coefs = self.coefficients
        for k in range(len(coefs) - 1, 0, -1):
            total = total * radius + k * coefs[k]
        return total

    def _limit(self) -> float:
        return math.inf if any(c > 0.0 for c in self.coefficients[1:]) else self(0.0)

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
            coefs[0] = rounded_up(coefs[0] + other.value, 1.0)
            return PolynomialBound(coefs)
        if isinstance(other, PolynomialBound):
            a, b = self.coefficients, other.coefficients
            n = max(len(a), len(b))
            a = a + (0.0,) * (n - len(a))
            b = b + (0.0,) * (n - len(b))
            return PolynomialBound([rounded_up(x + y, 1.0) for x, y in zip(a, b, strict=True)])
        return SumBound((self, other))

    def __mul__(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        if factor == 0.0:  # (the bound 0, as LocalBound's: no radius solve over zeros)
            return ConstantBound(0.0)
        return PolynomialBound([rounded_up(c * factor, 1.0) for c in self.coefficients])

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        f = _factor(factor, "factor")
        return PolynomialBound([rounded_up(c * f**k, 3.0) for k, c in enumerate(self.coefficients)])


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` for ``base >= 0``, ``inf`` past the float range (Python's ``**``
    on floats raises ``OverflowError`` there: a bound at a radius of ``1e300``)."""
    try:
        return base**exponent
    except OverflowError:
        return math.inf


#: The smallest normal float and the smallest subnormal one.
_NORMAL, _ETA = 2.2250738585072014e-308, 5e-324


def _power_up(base: float, exponent: float) -> float:
    """``base ** exponent`` as :func:`_power`, for a power bound's value: where the base or
    the power is subnormal, moved up by the smallest subnormal ``eta``, which covers what
    underflow lost there (``b R`` and the power each lose at most ``eta / 2``, an absolute
    error that no relative pad covers once the scale multiplies it: ``PowerBound(1e10,
    1.1108e-155, 1, 2)`` at ``R = 0`` was 1.2e-8 below its exact value, ``1.23e-300``). A
    base or power of 0 stays 0 (a bound of 0 certifies no step). A power that underflowed
    to 0 from a positive base was at most ``eta / 2``; :func:`_scaled_power` takes a scale
    above 1 in logarithms, so a term left at 0 has an exact value below ``eta / 2``, and
    a :class:`SumBound` of ``n`` terms adds ``(n + 1) eta`` to a positive sum
    (:func:`rounded_up`): the sum's lost ``n eta / 2`` is covered."""
    if 0.0 < base < _NORMAL:
        base += _ETA
    power = _power(base, exponent)
    return power + _ETA if 0.0 < power < _NORMAL else power


def _root_in_logs(
    bound: LocalBound,
    scale: float,
    lines: Sequence[tuple[float, float]],
    q: float,
    target: float,
    rtol: float,
) -> tuple[float, float, int]:
    """The radius solve of ``L(R) = scale min_j (a_j + b_j R)^q`` where ``target / scale``
    overflows: the largest of the lines' roots, each solved in logarithms
    (:func:`power_root_in_logs`), then scaled up by the ratio ``R L(R)`` lacks of
    ``target`` (the roundings of the logarithms and of ``e^u``), as :func:`power_root`
    does, until the computed ``R L(R)`` is above ``target``; ``R = inf`` with ``L``'s
    supremum where the root is past the float range; :class:`PrecisionLimitError` where
    it is below the smallest float, or where ``L`` there underflows to 0. Also the solve
    where ``target / scale`` is subnormal or underflows to 0: the quotient has lost its
    relative precision (``PowerBound(1.6e-3, 0, 4.4e-83, 2)`` at ``target = 1.2e-317``
    left the exact ``R L`` below ``target``), its logarithm has not."""
    log_t = math.log(target) - math.log(scale)
    radius, evals = 0.0, 0
    for a, b in lines:
        root, e = power_root_in_logs(a, b, q, log_t, rtol)
        radius, evals = max(radius, root), evals + e
    if radius == math.inf:
        return infinite_target(bound)
    if radius == 0.0:  # (as power_root: no radius to rtol in range)
        raise PrecisionLimitError(
            f"the radius with R L(R) = {target!r} is below the smallest float (L(0) = "
            f"{bound(0.0)!r}): no step can be certified accurately at this point"
        )
    lipschitz = bound(radius)
    for _ in range(4):
        # fl(R L) > target implies R L > target exactly (rounding is monotone), subnormal
        # products included: there the aim is two subnormals past target (a subnormal
        # reached = target moved R by 2^-50 and rounded back); where R L is 0, R doubles
        reached = radius * lipschitz
        if reached > target:
            return radius, lipschitz, evals
        if not lipschitz > 0.0:
            break
        grow = ((target + 2.0 * _ETA) / reached) * (1.0 + 2.0**-50) if reached > 0.0 else 2.0
        radius = max(radius * grow, math.nextafter(radius, math.inf))
        lipschitz, evals = bound(radius), evals + 1
    raise PrecisionLimitError(
        f"the bound L(R) = {lipschitz!r} at the radius R = {radius!r} with R L(R) = "
        f"{target!r} leaves the float range: no step can be certified accurately at this point"
    )


def _scaled_power(scale: float, base: float, q: float, roundings: float) -> float:
    """``scale base^q`` rounded up (``base`` two roundings low, ``roundings`` in all), in
    logarithms where ``base^q`` overflows though the product need not (a scale of
    ``1e-300``), or leaves the normal range below though the product need not (a scale
    above 1: ``1e30 (1e-20)^16`` was 0, not ``1e-290``; a subnormal base moved up by the
    smallest subnormal, as :func:`_power_up`'s): ``e^E``, ``E = q log base + log
    scale``, whose roundings in units of ``u`` below the exact value are the base's two
    (``2.01 q`` through the power), ``log``'s ulp of each logarithm (``2 |q log base|``
    and ``2 |log scale|``), the product's and the sum's (``|q log base|`` and ``|E|``)
    and ``exp``'s ulp (2)."""
    power = _power_up(base, q)
    value = scale * power
    if scale == 0.0 or (base == 0.0 and power == 0.0):  # (0 base^q, 0^q: 0 for any scale,
        return 0.0  # where base^q overflows or the scale does too: not inf * 0 = NaN)
    if not (value == math.inf and base < math.inf) and not (
        power < _NORMAL and base > 0.0 and q > 0.0 and scale > 1.0
    ):
        return rounded_up(value, roundings)
    if base < _NORMAL:  # (as _power_up: b R's underflow loss, eta / 2 at most, covered)
        base += _ETA
    log_power = q * math.log(base)
    log_scale = math.log(scale)
    exponent = log_power + log_scale
    roundings = 2.01 * q + 3.0 * abs(log_power) + 2.0 * abs(log_scale) + abs(exponent) + 3.0
    return _exp_up(exponent, roundings)


def _tiny_base_power(scale: float, b: float, radius: float, q: float) -> float | None:
    """``scale (b R)^q`` rounded up where ``b R`` is below the normal range (``a = 0``) though
    the power need not be (``q = 0.007``: ``(7e-358)^q = 3e-3``, where ``b R`` underflows to
    0), in logarithms: ``e^E``, ``E = q (log b + log R) + log scale``, whose roundings in
    units of ``u`` below the exact value are ``log``'s ulp of each logarithm and the sum's
    (``q (2 |log b| + 2 |log R| + |log b R|)`` through the product), the product's, ``2
    |log scale|``, the sum's ``|E|`` and ``exp``'s (2). ``None`` where the scale is 0 or
    those roundings pass ``2^26`` (:func:`rounded_up`'s range; a power that underflows
    anyway)."""
    if not (0.0 < scale < math.inf and 0.0 < q < math.inf):
        return None
    log_b, log_r, log_scale = math.log(b), math.log(radius), math.log(scale)
    log_base = log_b + log_r
    log_power = q * log_base
    exponent = log_power + log_scale
    roundings = q * (2.0 * abs(log_b) + 2.0 * abs(log_r) + abs(log_base))
    roundings += abs(log_power) + 2.0 * abs(log_scale) + abs(exponent) + 3.0
    if roundings > 2.0**26:
        return None
    return _exp_up(exponent, roundings)


def _exp_up(exponent: float, roundings: float) -> float:
    """``e^exponent`` rounded up by ``roundings`` units of ``u`` (:func:`rounded_up`), the
    value of a power bound taken in logarithms; ``inf`` past the float range."""
    try:
        return rounded_up(math.exp(exponent), roundings)
    except OverflowError:  # (the product past the float range too)
        return math.inf


def _root_value(bound: PowerBound | MinPowerBound, radius: float, value: float) -> float:
    """The power bound's ``L`` at the root ``radius`` of its radius solve, from ``value =
    scale s^q`` (``s`` the base there), rounded up; where that product is below the
    normal range, the bound's own value there (:func:`_scaled_power` takes it in
    logarithms): ``s^q`` underflowed to 0 though ``scale s^q`` need not
    (``PowerBound(1e300, 0, 1e-300, 2)`` at ``target = 1``: ``R = 1e100``, ``L = 0``
    where the exact ``L`` is ``1e-100``)."""
    if value >= _NORMAL:
        return rounded_up(value, bound._roundings)
    return bound(radius)


class PowerBound(LocalBound):
    """``L(R) = scale (a + b R)^q`` with ``scale >= 0``, ``a, b, q >= 0``.

    ``log(R L(R)) = u + q log(a + b e^u) + const`` is convex in ``u = log R``; the radius
    solve is a closed-form start and one or two Newton steps (:func:`power_root`), in
    logarithms where ``target / scale`` overflows or is below the normal range
    (:func:`_root_in_logs`). ``scale = 0``
    is ``L = 0`` for every ``R``: no radius (``(0, 0)``, rejected by the caller).
    """

    convex = proven = True

    def __init__(self, scale: float, a: float, b: float, q: float) -> None:
        self.scale, self.a, self.b, self.q = float(scale), float(a), float(b), float(q)
        # a + b R (2), its power (one ulp, 2, and 2 q from the base), the scale (1)
        self._roundings = 2.0 * self.q + 5.0

    def __call__(self, radius: float) -> float:
        # (at R = 0 the base is a: a b past the float range, inf, times 0 is no NaN)
        base = self.a + self.b * radius if radius != 0.0 else self.a
        if base < _NORMAL and self.a == 0.0 and radius > 0.0 and self.b > 0.0:
            tiny = _tiny_base_power(self.scale, self.b, radius, self.q)
            if tiny is not None:
                return tiny
        return _scaled_power(self.scale, base, self.q, self._roundings)

    def derivative(self, radius: float) -> float:
        if self.q == 0.0:
            return 0.0
        return self.scale * self.q * self.b * _power(self.a + self.b * radius, self.q - 1.0)

    def _limit(self) -> float:
        return self(0.0) if self.b == 0.0 or self.q == 0.0 or self.scale == 0.0 else math.inf

    def start(self, target: float) -> float | None:
        if self.scale == 0.0:
            return None
        radius = power_root(
            self.a, self.b, self.q, target / self.scale, math.inf, bound=self, target=target
        )[0]
        return radius if radius < math.inf else None

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        target = check_target(target)
        if not target > 0.0:
            return 0.0, self(0.0), 1
        if self.scale == 0.0:  # (L = 0: rejected by the caller)
            return infinite_target(self)
        t = target / self.scale
        if not _NORMAL <= t < math.inf and target < math.inf:  # (R, L floats all the same)
            lines = ((self.a, self.b),)
            return _root_in_logs(self, self.scale, lines, self.q, target, rtol)
        radius, s, evals = power_root(self.a, self.b, self.q, t, rtol, bound=self, target=target)
        if radius == math.inf:  # (target = inf, or L = 0: rejected by the caller)
            return infinite_target(self)
        return radius, _root_value(self, radius, self.scale * _power_up(s, self.q)), evals

    def __mul__(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        if factor == 0.0:  # (the bound 0, as LocalBound's; a scale of 0 has no radius solve)
            return ConstantBound(0.0)
        return PowerBound(rounded_up(self.scale * factor, 1.0), self.a, self.b, self.q)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        return PowerBound(self.scale, self.a, rounded_up(self.b * factor, 1.0), self.q)

    def shifted(self, shift: float) -> LocalBound:
        # (a + b (R + c))^q = (a + b c + b R)^q; a + b c (two roundings) rounded up
        a = rounded_up(self.a + self.b * _factor(shift, "shift"), 2.0)
        return PowerBound(self.scale, a, self.b, self.q)


class MinPowerBound(LocalBound):
    """``L(R) = scale * min_j (a_j + b_j R)^q``: the best of several power bounds of one degree.

    The tight radius is the largest of the lines' roots (``R min_j ... >= t`` iff every
    line reaches ``t``); the line solved first is checked against the others at its root,
    so usually one Newton solve suffices.
    """

    proven = True

    def __init__(self, scale: float, lines: Sequence[tuple[float, float]], q: float) -> None:
        # Built once per iteration by the regression models: no conversions on this path.
        self.scale, self.lines, self.q = scale, tuple(lines), q
        self._roundings = 2.0 * q + 5.0  # (as PowerBound's)

    def __call__(self, radius: float) -> float:
        if radius != 0.0:
            base = min(a + b * radius for a, b in self.lines)
        else:  # (as PowerBound's: an infinite b times 0 is no NaN)
            base = min(a for a, _ in self.lines)
        if base < _NORMAL and radius > 0.0:  # (each line as PowerBound's; the least of
            return min(  # the lines' upper bounds is above the least exact value)
                PowerBound(self.scale, a, b, self.q)(radius) for a, b in self.lines
            )
        return _scaled_power(self.scale, base, self.q, self._roundings)

    def _limit(self) -> float:
        if self.scale == 0.0:
            return 0.0
        ends = min(a if b == 0.0 else math.inf for a, b in self.lines)  # (inf^0 = 1)
        return rounded_up(self.scale * _power(ends, self.q), self._roundings)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        target = check_target(target)
        if not target > 0.0:
            return 0.0, self(0.0), 1
        if self.scale == 0.0:  # (L = 0: rejected by the caller)
            return infinite_target(self)
        t, q, lines = target / self.scale, self.q, self.lines
        if not _NORMAL <= t < math.inf and target < math.inf:  # (R, L floats all the same)
            return _root_in_logs(self, self.scale, lines, q, target, rtol)
        a, b = lines[0]
        radius, s, evals = power_root(a, b, q, t, rtol, bound=self, target=target)
        for a, b in lines[1:]:
            line = a + b * radius
            if radius * _power(line, q) >= t:  # this line is feasible too: nothing to solve
                s = min(s, line)
                continue
            # (the check's power may underflow to 0 on a feasible line, whose own root is
            # then the smaller: the radius stays the largest root)
            root, _, e = power_root(a, b, q, t, rtol, bound=self, target=target)
            radius, evals = max(radius, root), evals + e
            s = min(a2 + b2 * radius for a2, b2 in lines)
        if radius == math.inf:  # (t = inf, or L = 0: rejected by the caller)
            return infinite_target(self)
        return radius, _root_value(self, radius, self.scale * _power_up(s, q)), evals

    def __mul__(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        if factor == 0.0:  # (the bound 0, as LocalBound's; a scale of 0 has no radius solve)
            return ConstantBound(0.0)
        return MinPowerBound(rounded_up(self.scale * factor, 1.0), self.lines, self.q)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        f = _factor(factor, "factor")
        lines = [(a, rounded_up(b * f, 1.0)) for a, b in self.lines]
        return MinPowerBound(self.scale, lines, self.q)


class ExpBound(LocalBound):
    """``L(R) = scale * exp(rate * R)`` with ``scale >= 0`` and ``rate >= 0``, rounded up.

    Rounding: ``y = fl(rate R) >= rate R (1 - u)`` (``u = 2^-53``), so ``e^y >= e^{rate R}
    (1 - 1.01 y u)`` (``y <= 710`` where ``exp`` is finite); ``math.exp`` is within one ulp
    (``2u``) and the product with the scale rounds by ``u``: :func:`rounded_up` with
    ``1.01 y + 3`` roundings makes the value at least the exact ``scale e^{rate R}``.
    :meth:`__mul__` and :meth:`stretched` round the scale and rate they compute up. Where
    ``e^y`` overflows but ``scale e^y`` need not (a scale of ``1e-300``), the value is
    ``e^(y + log scale)``, whose exponent's roundings (``log``'s, ``2 |log scale| u``, and
    the sum's, ``|E| u``) count as relative errors of the value; the radius solve's start
    takes Lambert's ``W`` in logarithms where ``target / scale`` overflows, so a root inside
    the float range is found there too. A scale past the float range (``L = inf`` at
    every radius: ``L0L1Smooth`` with ``L0 = 1e308``) has no radius: a
    :class:`PrecisionLimitError` (a ``math domain error`` from the solve before). A scale
    of 0 (``L0L1Smooth`` with ``L0 = 0`` at a zero gradient) is the bound 0 at every
    radius, which certifies no step: the radius solve answers ``R = 0``, as
    :class:`PowerBound`'s does.
    """

    convex = proven = True

    def __init__(self, scale: float, rate: float) -> None:
        self.scale, self.rate = float(scale), float(rate)

    def __call__(self, radius: float) -> float:
        if self.scale == 0.0:  # (0 at every radius: no log 0 where e^(rate R) overflows)
            return 0.0
        exponent = self.rate * radius if radius != 0.0 else 0.0  # (inf rate * 0: no NaN)
        try:
            # (the exponent a relative u low is e^(-u rate R) low; exp one ulp; the scale)
            return rounded_up(self.scale * math.exp(exponent), 1.01 * exponent + 3.0)
        except OverflowError:  # e^(rate R) past the float range: scale e^(rate R) may not be
            pass
        # e^(rate R + log scale): log one ulp (2 |log scale| u in the exponent), the sum
        # |E| u, each an absolute error in E, a relative one in e^E
        log_scale = math.log(self.scale)
        power = exponent + log_scale
        roundings = 1.01 * exponent + 2.0 * abs(log_scale) + abs(power) + 3.0
        try:
            return rounded_up(math.exp(power), roundings)
        except OverflowError:  # beyond float range: no finite bound at this radius
            return math.inf

    def derivative(self, radius: float) -> float:
        return self.rate * self(radius)

    def _limit(self) -> float:
        return self(0.0) if self.rate == 0.0 or self.scale == 0.0 else math.inf

    def start(self, target: float) -> float | None:
        # R e^(rate R) = t has root W(rate t) / rate (Lambert W); log1p gives a feasible
        # upper estimate: R = t/scale satisfies phi(R) >= t, and so does any R >= root.
        if self.scale == 0.0:  # (L = 0 at every radius: no radius, rejected by the caller)
            return math.inf
        t = target / self.scale
        if self.scale == math.inf:  # (R = t = 0 started a Newton solve at log 0)
            raise PrecisionLimitError(
                f"the bound scale e^(rate R) is inf at every radius (its scale is past the "
                f"float range; target {target!r}): no step can be certified accurately here"
            )
        if self.rate == 0.0:
            return t
        if t == math.inf and target < math.inf:  # (t past the float range: W(z) in logs)
            log_z = math.log(self.rate) + math.log(target) - math.log(self.scale)
            # for z >= e, W(z) <= log z (W e^W = z, W >= 1): a feasible start
            return log_z / self.rate if log_z > 1.0 else t
        z = self.rate * t
        # For z > 0, W(z) <= log1p(z) with equality only at 0: a feasible start.
        return min(t, math.log1p(z) / self.rate) if z > 1e-8 else t

    def __mul__(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        if factor == 0.0:  # (the bound 0, as LocalBound's; a scale of 0 has no radius solve)
            return ConstantBound(0.0)
        return ExpBound(rounded_up(self.scale * factor, 1.0), self.rate)

    __rmul__ = __mul__

    def stretched(self, factor: float) -> LocalBound:
        factor = _factor(factor, "factor")
        return ExpBound(self.scale, rounded_up(self.rate * factor, 1.0))


def _proven(terms: Sequence[LocalBound]) -> bool:
    """:attr:`LocalBound.proven` of a sum or minimum: a proven term, and every other
    proven or a constant."""
    return any(t.proven for t in terms) and all(t.proven or type(t) is ConstantBound for t in terms)


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
        self.proven = _proven(self.terms)

    def __call__(self, radius: float) -> float:
        values = [t(radius) for t in self.terms]
        return self._summed(values, radius)

    def derivative(self, radius: float) -> float:
        return sum(t.derivative(radius) for t in self.terms)

    def _limit(self) -> float:
        return self._summed([t._limit() for t in self.terms], math.inf)

    def _summed(self, values: list[float], radius: float) -> float:
        """The sum of the terms' ``values`` at ``radius``, rounded up. A sum of finite
        values of users' bounds (not :attr:`proven`) past the float range raises a
        :class:`PrecisionLimitError` naming them (the calculus's limit, not the users'
        broken contract), which the radius solve reads as ``inf`` while it brackets."""
        total = rounded_up(sum(values), len(self.terms))
        if total == math.inf and not self.proven and all(_valid(v) for v in values):
            raise _ScaledPastRangeError(
                f"the sum of the bounds' values {values!r:.120} (at R={radius:.6g}) "
                "overflows to inf: the sum of valid numbers is past the float range, so no "
                "step can be certified accurately (rescale f, or its terms)",
                total,
            )
        return total

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
        self.proven = _proven(self.terms)

    def __call__(self, radius: float) -> float:
        return min(t(radius) for t in self.terms)

    def _limit(self) -> float:
        return min(t._limit() for t in self.terms)

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        # Solve for one term, then only for the terms still infeasible at that radius.
        target = check_target(target)
        if target == math.inf:
            return infinite_target(self)
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
    """``L(R) = scale * inner(stretch * R + shift)``, the result of scaling, stretching or
    shifting a bound.

    A shift keeps a log-convex bound log-convex (``convex``): ``u -> log inner(e^u)`` is
    convex and non-decreasing, and ``u -> log(stretch e^u + shift)`` is convex (a
    log-sum-exp), so their composition is convex in ``u = log R``.
    """

    inner: LocalBound
    scale: float
    stretch: float
    shift: float

    def __init__(
        self, inner: LocalBound, *, scale: float = 1.0, stretch: float = 1.0, shift: float = 0.0
    ) -> None:
        if not (scale > 0.0 and stretch >= 0.0 and 0.0 <= shift < math.inf):
            raise ValueError(
                f"need scale > 0, stretch >= 0 and a finite shift >= 0, got {scale}, "
                f"{stretch}, {shift}"
            )
        if isinstance(inner, TransformedBound) and _folds(inner, scale):
            # scale s1 inner(t1 (stretch R + shift) + c1): stretch t1 stretch, shift t1 shift + c1
            scale, stretch, shift = (
                rounded_up(scale * inner.scale, 1.0),
                rounded_up(stretch * inner.stretch, 1.0),
                rounded_up(inner.stretch * shift + inner.shift, 2.0),
            )
            inner = inner.inner
        self.inner, self.scale, self.stretch, self.shift = inner, scale, stretch, shift
        self.convex, self.proven = inner.convex, inner.proven
        self.paper_radius = inner.paper_radius

    def _at(self, radius: float) -> float:
        """The inner bound's radius, ``stretch * R + shift``, rounded up."""
        inner = self.stretch * radius if radius != 0.0 else 0.0  # (inf stretch * 0: no NaN)
        if self.shift == 0.0:
            return inner if self.stretch == 1.0 else rounded_up(inner, 1.0)
        return rounded_up(inner + self.shift, 2.0)

    def __call__(self, radius: float) -> float:
        if self.scale == 0.0:  # (two scales' product underflowed: 0, not 0 * inf = NaN)
            return 0.0
        value = self.inner(self._at(radius))
        return _scaled_up(value, self.scale, self.proven, radius)

    def derivative(self, radius: float) -> float:
        return self.scale * self.stretch * self.inner.derivative(self._at(radius))

    def _limit(self) -> float:
        if self.stretch == 0.0 or self.scale == 0.0:
            return self(0.0)
        return _scaled_up(self.inner._limit(), self.scale, self.proven, math.inf)

    def start(self, target: float) -> float | None:
        # R scale L(stretch R) >= t  iff  (stretch R) L(stretch R) >= t stretch / scale; a
        # shift only raises L (non-decreasing), so the unshifted start stays feasible.
        if self.stretch == 0.0:
            return target / self.scale / self.inner(self.shift)
        inner = self.inner.start(target * self.stretch / self.scale)
        return None if inner is None else inner / self.stretch


def _folds(inner: TransformedBound, scale: float) -> bool:
    """Whether ``scale`` folds into ``inner``'s: not where a user's bound's two scales'
    product leaves the float range (kept apart, the outer scaling of the inner's value
    raises a :class:`PrecisionLimitError` naming them where the bound is evaluated)."""
    return inner.proven or _valid(scale * inner.scale)


class FunctionBound(LocalBound):
    """A user's ``R -> L`` callable; the radius solve checks every value it returns."""

    def __init__(self, function: Callable[[float], float]) -> None:
        self.function = function

    def __call__(self, radius: float) -> float:
        return as_float(self.function(radius), radius)
