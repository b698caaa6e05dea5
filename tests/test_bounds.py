"""The radius solve: feasible, within rtol of the true root, and strict about bad oracles."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import lfso
from lfso.oracles._bounds import (
    ConstantBound,
    ExpBound,
    FunctionBound,
    LocalBound,
    MinBound,
    MinPowerBound,
    OracleError,
    PolynomialBound,
    PowerBound,
    PrecisionLimitError,
)
from lfso.oracles._solve import solve_radius

pos = st.floats(1e-3, 1e3)

BOUNDS = {
    "constant": st.builds(ConstantBound, pos),
    "polynomial": st.builds(
        PolynomialBound,
        st.lists(st.floats(0.0, 1e3), min_size=1, max_size=6).filter(lambda c: c[0] > 1e-6),
    ),
    "power": st.builds(PowerBound, pos, pos, st.floats(0.0, 1e2), st.floats(0.0, 9.0)),
    "power-a0": st.builds(PowerBound, pos, st.just(0.0), pos, st.floats(0.5, 9.0)),
    "exp": st.builds(ExpBound, pos, st.floats(0.0, 10.0)),
    "sum": st.builds(
        lambda a, b: a + b,
        st.builds(PowerBound, pos, pos, pos, st.floats(0.0, 4.0)),
        st.builds(ExpBound, pos, st.floats(0.0, 3.0)),
    ),
    "min": st.builds(
        lambda a, b: MinBound((a, b)),
        st.builds(PowerBound, pos, pos, pos, st.floats(0.0, 4.0)),
        st.builds(PowerBound, pos, pos, pos, st.floats(0.0, 4.0)),
    ),
    "scaled-stretched": st.builds(
        lambda a, s, t: (a * s).stretched(t),
        st.builds(ExpBound, pos, st.floats(0.0, 3.0)),
        pos,
        st.floats(0.01, 10.0),
    ),
}


def _true_root(bound, target):
    hi = 1.0
    while hi * bound(hi) < target:
        hi *= 2.0
    return brentq(lambda r: r * bound(r) - target, 0.0, hi, xtol=1e-300, rtol=1e-15)


@pytest.mark.parametrize("kind", sorted(BOUNDS))
@pytest.mark.parametrize("generic", [False, True])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), log_target=st.floats(-8, 8))
def test_radius_is_feasible_and_tight(kind, generic, data, log_target):
    bound = data.draw(BOUNDS[kind])
    target, rtol = 10.0**log_target, 1e-3
    if generic:  # the bracket + regula falsi path used for user oracles
        radius, value, evals = solve_radius(FunctionBound(bound), target, rtol=rtol)
    else:
        radius, value, evals = bound.radius_for(target, rtol=rtol)
    assert evals >= 1
    assert value == pytest.approx(bound(radius), rel=1e-12)
    assert radius * value >= target * (1 - 1e-12)  # the step stays in the ball
    root = _true_root(bound, target)
    # The step eta / L(R) is within rtol of the largest certified step eta / L(root).
    assert bound(root) >= value / (1 + rtol) * (1 - 1e-9)
    assert radius >= root * (1 - 1e-9)


class _Recorder:
    """A bound that records the radii the solve asks for."""

    def __init__(self, bound):
        self.bound, self.asked = bound, []

    def __call__(self, radius):
        self.asked.append(radius)
        return self.bound(radius)


@pytest.mark.parametrize("kind", sorted(BOUNDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), log_target=st.floats(-6, 6), log_offset=st.floats(-6, 6))
def test_seeded_solve_is_feasible_tight_and_brackets_at_once(kind, data, log_target, log_offset):
    """From any seed: the same guarantees, and the second radius tried already brackets.

    The slope bound (``R L(R)`` grows at least like ``R``) makes the step up from an
    infeasible seed feasible, and the step down from a feasible one (with a finite ``L``)
    land at or below the window: after two evaluations the root is bracketed or found.
    """
    bound = data.draw(BOUNDS[kind])
    target, rtol = 10.0**log_target, 1e-3
    root = _true_root(bound, target)
    rec = _Recorder(bound)
    radius, value, evals = solve_radius(
        FunctionBound(rec), target, rtol=rtol, guess=root * 10.0**log_offset
    )
    assert evals == len(rec.asked)
    assert radius * value >= target * (1 - 1e-12)
    assert bound(root) >= value / (1 + rtol) * (1 - 1e-9)
    first = rec.asked[0] * bound(rec.asked[0])
    if evals >= 2 and math.isfinite(first) and abs(first / target - 1.0) > 1e-9:
        second = rec.asked[1] * bound(rec.asked[1])  # (a seed at the root: rounding decides)
        if first < target:
            assert second >= target * (1 - 1e-12)  # up from an infeasible seed: feasible
        else:  # down from a feasible seed: at most the window's top
            assert second <= target * (1 + rtol)


def test_resolving_from_the_last_answer_costs_one_evaluation():
    bound = FunctionBound(lambda r: 1.0 + r * r)  # not convex-flagged: the generic path
    radius, _, evals = solve_radius(bound, 3.0)
    assert evals > 1
    again, _, evals = solve_radius(bound, 3.0, guess=radius)
    assert (again, evals) == (radius, 1)
    # A flat oracle (L(R) = L(0)): the start R = target / L(0), nudged into the window,
    # is the answer, whatever rounding says about the root itself.
    assert solve_radius(FunctionBound(lambda r: 4.0), 2.0)[2] == 2  # L(0), then one radius


def test_zero_target_gives_zero_radius():
    assert PowerBound(2.0, 1.0, 1.0, 2.0).radius_for(0.0)[0] == 0.0
    assert solve_radius(FunctionBound(lambda r: 1.0 + r), 0.0)[0] == 0.0


@pytest.mark.parametrize(
    "oracle, message",
    [
        (lambda r: -1.0, "returned L"),
        (lambda r: float("nan"), "finite positive"),
        (lambda r: 0.0, "finite positive"),
        (lambda r: float("inf"), "finite positive"),
        (lambda r: 1.0 / (1.0 + r), "decreases in R"),
    ],
)
def test_generic_solve_rejects_broken_oracles(oracle, message):
    with pytest.raises(OracleError, match=message):
        solve_radius(FunctionBound(oracle), 5.0)


class _UserBound(LocalBound):
    """A user's bound class (no FunctionBound around it); ``convex`` selects Newton's
    solve. It raises after many calls, so that a solve that loops on a bad value fails."""

    def __init__(self, value, convex):
        self.value, self.convex, self.calls = value, convex, 0

    def __call__(self, radius):
        self.calls += 1
        if self.calls > 10_000:
            raise RuntimeError("the solve kept calling the bound")
        return self.value(radius)

    def derivative(self, radius):
        return 1.0


@pytest.mark.parametrize("convex", [False, True])
@pytest.mark.parametrize(
    "value, message",
    [
        (lambda r: np.ones(2), r"L\(x, R=0\) = array\(\[1\., 1\.\]\)"),
        (lambda r: "junk", r"L\(x, R=0\) = 'junk'"),
        (lambda r: math.nan, r"L\(x, R=0\) = nan"),
        (lambda r: math.inf, r"L\(x, R=0\) = inf"),
        (lambda r: 10.0 if r < 1.0 else math.nan, r"L\(x, R=\d.*\) = nan"),
    ],
)
def test_a_user_bound_class_returning_junk_is_named(value, message, convex):
    with pytest.raises(OracleError, match=message):
        _UserBound(value, convex).radius_for(50.0)


def test_calculus_keeps_closed_forms():
    p = PolynomialBound([1.0, 2.0]) + ConstantBound(3.0)
    # (values rounded up past their formula's exact value: a few ulps above)
    assert isinstance(p, PolynomialBound) and 6.0 <= p(1.0) <= 6.0 * (1 + 1e-14)
    s = p.stretched(2.0) * 0.5
    assert isinstance(s, PolynomialBound) and s(1.0) == pytest.approx(0.5 * (4.0 + 4.0))
    q = PowerBound(2.0, 1.0, 1.0, 2.0).stretched(3.0) * 2.0
    assert isinstance(q, PowerBound) and q(1.0) == pytest.approx(4.0 * 16.0)
    assert math.isinf(ExpBound(1.0, 1.0)(1e6))
    with pytest.raises(ValueError, match="non-negative coefficients"):
        PolynomialBound([1.0, -1.0])


def _exact_shapes(rng):
    """Random bound shapes at float parameters with their exact values (Fractions; the
    powers and exponentials in mpmath at 80 digits), across the calculus."""
    import mpmath

    from lfso.oracles._bounds import MinPowerBound, TransformedBound

    ctx = mpmath.MPContext()
    ctx.dps = 80

    def power(v, q):  # exact v^q, as an mpf
        return ctx.power(ctx.mpf(v.numerator) / v.denominator, ctx.mpf(q))

    def f(v):
        return Fraction(float(v))

    scale, a, b = (float(v) for v in 10.0 ** rng.uniform(-3, 3, 3) * rng.uniform(1, 2, 3))
    q = float(rng.choice([0.02, 0.5, 1.0, 1.7, 2.0, 4.0, 10.0]))
    rate = float(rng.uniform(0.0, 50.0))
    coefs = [float(c) for c in rng.uniform(0.0, 3.0, 4) / 3.0]
    factor, shift = float(rng.uniform(0.1, 3.0)) / 3.0, float(rng.uniform(0.0, 1.0)) / 3.0
    lines = [(a, b), (float(a * 1.7), float(b / 3.0))]

    def power_exact(s, aa, bb, r):
        return ctx.mpf(f(s).numerator) / f(s).denominator * power(f(aa) + f(bb) * f(r), q)

    def poly_exact(cs, r):
        return sum(
            ctx.mpf(f(c).numerator) / f(c).denominator * (ctx.mpf(r) ** k) for k, c in enumerate(cs)
        )

    def exp_exact(s, rt, r):
        return ctx.mpf(s) * ctx.exp(ctx.mpf(rt) * ctx.mpf(r))

    def min_exact(r):
        return ctx.mpf(scale) * min(power(f(x) + f(y) * f(r), q) for x, y in lines)

    power_b = PowerBound(scale, a, b, q)
    exp_b = ExpBound(scale, rate / 7.0)
    poly = PolynomialBound(coefs)
    yield "power", power_b, lambda r: power_exact(scale, a, b, r)
    yield "min-power", MinPowerBound(scale, lines, q), min_exact
    yield "exp", exp_b, lambda r: exp_exact(scale, rate / 7.0, r)
    yield "polynomial", poly, lambda r: poly_exact(coefs, r)
    yield (
        "power * factor",
        power_b * factor,
        (lambda r: ctx.mpf(factor) * power_exact(scale, a, b, r)),
    )
    yield (
        "power stretched",
        power_b.stretched(factor),
        (lambda r: ctx.mpf(scale) * power(f(a) + f(b) * f(factor) * f(r), q)),
    )
    yield (
        "power shifted",
        power_b.shifted(shift),
        (lambda r: ctx.mpf(scale) * power(f(a) + f(b) * (f(shift) + f(r)), q)),
    )
    yield (
        "polynomial stretched",
        poly.stretched(factor),
        (lambda r: poly_exact(coefs, ctx.mpf(factor) * ctx.mpf(r))),
    )
    yield (
        "polynomial + constant",
        poly + ConstantBound(factor),
        (lambda r: poly_exact(coefs, r) + ctx.mpf(factor)),
    )
    yield (
        "sum",
        power_b + exp_b,
        (lambda r: power_exact(scale, a, b, r) + exp_exact(scale, rate / 7.0, r)),
    )
    yield (
        "transformed",
        TransformedBound(exp_b, scale=factor, stretch=factor, shift=shift),
        (
            lambda r: (
                ctx.mpf(factor)
                * exp_exact(scale, rate / 7.0, ctx.mpf(factor) * ctx.mpf(r) + ctx.mpf(shift))
            )
        ),
    )


def test_bound_values_are_rounded_up_past_their_exact_formula():
    # Each built-in shape's value, and its radius solve's L, is at least its formula's exact
    # value at the float parameters and radius (rounded to nearest they fell an ulp below:
    # PowerSum(1.5) at x = 0.7 gave L(x, 0) = 4.199999999999999 < 6 fl(0.7)).
    import numpy as np

    from lfso.models import PowerSum

    exact_hessian = 6 * Fraction(0.7)
    assert Fraction(PowerSum(1.5).evaluate(np.array([0.7])).bound(0.0)) >= exact_hessian
    rng = np.random.default_rng(5)
    low = []
    for trial in range(60):
        for name, bound, exact in _exact_shapes(rng):
            for r in (0.0, float(rng.uniform(0, 2)) / 3.0, float(10.0 ** rng.uniform(-8, 1))):
                if bound(r) < exact(r):
                    low.append((trial, name, r, bound(r), exact(r)))
            target = float(10.0 ** rng.uniform(-6, 3))
            radius, value, _ = bound.radius_for(target)
            if value < exact(radius) or Fraction(radius) * Fraction(value) < Fraction(target):
                low.append((trial, name, "solve", radius, value, target))
    assert not low, low[:5]


def test_power_root_reaches_its_target_in_floating_point():
    # The closed-form start's root (t / b^q)^(1/(q+1)) is rounded; at t = 1e300 it left
    # R L(R) 1.7e-14 below the target.
    import numpy as np

    from lfso.models import PowerNorm

    bound = PowerNorm(1.01).evaluate(np.array([1.5])).bound
    for target in (1e300, 1e200, 3e100, 1e-300):
        radius, value, _ = bound.radius_for(target)
        assert Fraction(radius) * Fraction(value) >= Fraction(target), target
        assert radius * value <= target * (1.0 + 1e-3) * (1 + 1e-12)  # still the tight radius


@pytest.mark.parametrize(
    ("coefficients", "target"),
    [
        ((3.984290494576138e24, 2.0302694912453923e211, 0.0), 4.325825705512166e-233),
        ((6.330804494732195e-107, 2.6411804246533093e60, 0.0), 4.4e-323),
        ((2.665272175634789e-68, 3.830133637246054e-266, 0.0, 8.8e192), 5.336092323783833e-180),
    ],
)
def test_a_start_whose_product_rounds_to_the_target_is_moved_past_it(coefficients, target):
    """A start ``R = target / L(0)`` whose computed ``R L(R)`` equals the target was taken
    as feasible, but the exact product lay up to half an ulp below it (a subnormal's
    spacing for a subnormal target); a computed ``R L(R) > target`` is above it exactly."""
    bound = PolynomialBound(coefficients)
    radius, value, _ = bound.radius_for(target)
    assert Fraction(radius) * Fraction(value) >= Fraction(target)
    assert value >= bound(radius) and radius * value <= target * (1.0 + 1e-3) + 1e-323


@pytest.mark.parametrize(
    ("scale", "a", "b", "q", "target"),
    [
        (1.0, 2.0, 2000.0, 98.0, 1.0),  # b^q overflows; L(0) = 2^98, the root ~ 3e-30
        (1.0, 0.1617, 9.4e214, 3.0, 1.666),  # b^q overflows, the root ~ 1e-161
        (1.0, 1e-5, 1e-5, 100.0, 1.0),  # a^q and b^q underflow, the root ~ 9e4
        (1e-300, 0.5, 1e-3, 2.0, 1e-300),  # t / b^q normal, t tiny
        (1.0, 0.5, 1e200, 2.0, 1e-300),  # t / b^q below the float range, its root not
    ],
)
def test_power_root_beyond_the_range_of_its_powers(scale, a, b, q, target):
    """The closed-form start ``(t / b^q)^(1/(q+1))`` is taken in logarithms where ``b^q``
    or ``t / b^q`` leaves the float range: ``b^q = inf`` made the start 0 and raised a
    precision limit for a root well inside the range, ``a^q = b^q = 0`` answered ``R =
    inf``."""
    import mpmath

    bound = PowerBound(scale, a, b, q)
    radius, value, _ = bound.radius_for(target)
    assert 0.0 < radius < math.inf and 0.0 < value < math.inf
    ctx = mpmath.MPContext()
    ctx.dps = 60
    exact = ctx.mpf(scale) * (ctx.mpf(a) + ctx.mpf(b) * ctx.mpf(radius)) ** ctx.mpf(q)
    assert value >= exact and ctx.mpf(radius) * exact >= target
    smaller = ctx.mpf(radius) / 1.002  # tight: twice the tolerance below falls short
    assert smaller * ctx.mpf(scale) * (ctx.mpf(a) + ctx.mpf(b) * smaller) ** ctx.mpf(q) < target


def test_power_root_past_the_float_range_raises_no_bare_python_error():
    """``s^q`` past the float range is ``inf`` (an ``OverflowError`` before), and an
    ``a + b R`` that underflows to 0 is a precision limit (a bare ``math domain error``)."""
    from lfso.oracles import PrecisionLimitError

    radius, value, _ = PowerBound(1.0, 1e154, 1e154, 2.0).radius_for(1e308)
    assert 0.0 < radius < 1.0 and value == math.inf  # L(R) itself overflows at the root
    lines = MinPowerBound(1.0, [(1e154, 1e154), (1e154, 1e154)], 2.0)
    assert lines.radius_for(1e308)[1] == math.inf
    with pytest.raises(PrecisionLimitError, match="underflows to 0"):
        PowerBound(1.5e204, 0.0, 3.5e-165, 1e-9).radius_for(5.3e-34)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PolynomialBound([4.7e237, 4.6e-28]),
        lambda: ExpBound(1.4e38, 0.0),
        lambda: PolynomialBound([4.7e237, 4.6e-28]) + ExpBound(1.0, 1.0),
    ],
    ids=["polynomial", "exp-rate-0", "sum"],
)
def test_a_root_below_the_float_range_is_a_precision_limit_not_a_hang(make):
    """``target / L(0)`` underflowing to 0 left the feasible start at ``R = 0``, grown by
    ``1.5 R = 0`` forever: ``PolynomialBound([4.7e237, 4.6e-28]).radius_for(2.2e-287)``
    never returned."""
    from lfso.oracles import PrecisionLimitError

    with pytest.raises(PrecisionLimitError, match="below the smallest float"):
        make().radius_for(2.2e-287)


def test_a_subnormal_radius_still_reaches_its_target():
    """The last rescaling of a power root could not move a subnormal radius (``R (1 +
    1e-15) = R``): ``R L(R)`` came back below the target (exactly, in mpmath)."""
    import mpmath

    for bound in (
        PowerBound(6.98e19, 4.15e19, 2.9e-06, 0.5),
        MinPowerBound(6.98e19, [(35080.2, 0.0539), (4.15e19, 2.9e-06), (4.7e11, 34.8)], 0.5),
    ):
        target = 1.2115263675084416e-290
        radius, value, _ = bound.radius_for(target)
        assert 0.0 < radius < 2.3e-308  # (subnormal)
        assert mpmath.mpf(radius) * mpmath.mpf(value) >= target


@pytest.mark.parametrize(
    ("scale", "a", "b", "q", "radius"),
    [
        (1e10, 1.1108e-155, 1.0, 2.0, 0.0),  # a^2 subnormal, the value 1.2e-300
        (1e200, 3.3e-160, 1.0, 2.0, 0.0),
        (23737.4, 0.0, 16.457, 0.5, 5e-324),  # b R subnormal: 1.4% low
        (1.0, 0.0, 13.36, 1e-9, 5e-324),
    ],
)
def test_a_power_bound_through_subnormals_stays_above_its_formula(scale, a, b, q, radius):
    """A subnormal ``b R`` or ``(a + b R)^q`` loses up to half the smallest subnormal, an
    absolute error the relative pad did not cover once the scale multiplied it: values in
    the normal range fell below the exact ``scale (a + b R)^q`` (mpmath)."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = 60
    exact = ctx.mpf(scale) * (ctx.mpf(a) + ctx.mpf(b) * ctx.mpf(radius)) ** ctx.mpf(q)
    for bound in (PowerBound(scale, a, b, q), MinPowerBound(scale, [(a, b)], q)):
        value = bound(radius)
        assert value >= 2.2250738585072014e-308 and value >= exact
        assert value <= exact * 1.05  # (a subnormal is known to its spacing, no better)


@pytest.mark.parametrize(
    "bound",
    [
        PowerBound(1e300, 0.0, 1e-300, 2.0),
        MinPowerBound(1e300, [(0.0, 1e-300), (0.0, 2e-300)], 2.0),
        PowerBound(1e250, 1e-170, 1e-300, 2.0),
    ],
    ids=["power", "min-power", "power-a"],
)
@pytest.mark.parametrize("target", [1e-5, 1.0, 1e5])
def test_a_power_bound_radius_solve_keeps_a_power_that_underflows(bound, target):
    """``scale s^q`` at the radius solve's root where ``s^q`` underflows but the product
    need not (a scale of ``1e300``): the solve returned ``L = 0`` (``PowerBound(1e300, 0,
    1e-300, 2)`` at ``target = 1``: ``R = 1e100``, exact ``L = 1e-100``), which certifies no
    step; it returns the bound's value there, at least the exact one (mpmath). The
    minimum of lines took the root of its second line (``6.3e99``) where the check of that
    line's power at the first root underflowed: a radius with ``R L = 0.25 target``."""
    import mpmath

    radius, value, _ = bound.radius_for(target)
    ctx = mpmath.MPContext()
    ctx.dps = 60
    lines = bound.lines if isinstance(bound, MinPowerBound) else [(bound.a, bound.b)]
    R = ctx.mpf(radius)
    exact = ctx.mpf(bound.scale) * min(ctx.mpf(a) + ctx.mpf(b) * R for a, b in lines) ** bound.q
    assert exact <= ctx.mpf(value) <= exact * (1 + ctx.mpf(1e-9))
    assert R * ctx.mpf(value) >= target


def _subnormal_quotient_cases(seed: int) -> list[tuple[LocalBound, float]]:
    """Power bounds and targets whose ``target / scale`` is subnormal or underflows."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[LocalBound, float]] = []
    for _ in range(40):
        scale = float(10.0 ** rng.uniform(-5, 40))
        a = 0.0 if rng.random() < 0.3 else float(10.0 ** rng.uniform(-200, 30))
        b, q = float(10.0 ** rng.uniform(-100, 10)), float(rng.choice([0.5, 1.0, 2.0, 7.3]))
        target = float(10.0 ** rng.uniform(-323, -300))
        lines = [(a, b), (2.0 * a + 1e-300, 0.5 * b)]
        cases += [(PowerBound(scale, a, b, q), target), (MinPowerBound(scale, lines, q), target)]
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_a_subnormal_target_over_scale_still_reaches_the_target(seed):
    """``target / scale`` subnormal lost its relative precision: ``PowerBound(1.6e-3, 0,
    4.4e-83, 2)`` at ``target = 1.2e-317`` returned ``R L(R)`` below the target (exactly),
    and where the quotient underflowed to 0 a root well inside the float range raised a
    precision limit. Every answer is now ``R L >= target`` exactly, or an honest precision
    limit (``L`` itself below the float range at the root: ``L = 0``)."""
    from lfso.oracles import PrecisionLimitError

    cases = [
        (PowerBound(0.0015886554042325318, 0.0, 4.3643818310327336e-83, 2.0), 1.2020583e-317),
        ((PowerBound(4.84e-33, 4.61e-21, 2.57e-4, 7.3) * 8.19e62).stretched(6117.6), 1.93e-296),
    ]
    solved = 0
    for bound, target in cases + _subnormal_quotient_cases(seed):
        try:
            radius, value, _ = bound.radius_for(target)
        except PrecisionLimitError as error:
            assert "L(R) = 0.0" in str(error) or "below the smallest float" in str(error)
            continue
        if value == 0.0:  # (L below the float range at the root: the caller's precision limit)
            continue
        solved += 1
        assert Fraction(radius) * Fraction(value) >= Fraction(target), (bound, target)
        assert value >= bound(radius)
    assert solved >= 30
    for bound, target in cases:  # (in range: solved, and tight)
        radius, value, _ = bound.radius_for(target)
        smaller = radius / 1.002
        assert Fraction(smaller) * Fraction(bound(smaller)) < Fraction(target)


def test_a_high_power_regression_with_large_rows_takes_ball_steps():
    # LpRegression(p=50) with rows of norm ~1e3: the line's b^98 overflows; the ball
    # certificate stopped at iteration 0 with a precision limit.
    import numpy as np

    import lfso
    from lfso.models import LpRegression

    rng = np.random.default_rng(0)
    A = 500.0 * rng.standard_normal((20, 5))
    solution = rng.standard_normal(5) / 500.0
    model = LpRegression(A, A @ solution, p=50)
    x0 = solution + 1e-3 * rng.standard_normal(5)
    res = lfso.minimize(model, x0, max_iter=5, certificate="ball")
    assert res.status != lfso.Status.PRECISION_LIMIT and res.nit == 5
    assert res.fun < model.value(x0)


_CALCULUS_SHAPES = {
    "constant": lambda: ConstantBound(2.0),
    "polynomial": lambda: PolynomialBound([1.0, 2.0]),
    "power": lambda: PowerBound(1.0, 1.0, 1.0, 2.0),
    "min-power": lambda: MinPowerBound(1.0, [(1.0, 1.0), (2.0, 0.5)], 2.0),
    "exp": lambda: ExpBound(1.0, 1.0),
    "sum": lambda: PowerBound(1.0, 1.0, 1.0, 2.0) + ExpBound(1.0, 1.0),
    "function": lambda: FunctionBound(lambda r: 1.0 + r),
}


@pytest.mark.parametrize("shape", sorted(_CALCULUS_SHAPES))
@pytest.mark.parametrize(
    ("apply", "name", "value"),
    [
        (lambda b, v: b * v, "factor", -1.0),
        (lambda b, v: v * b, "factor", math.nan),
        (lambda b, v: b * v, "factor", math.inf),
        (lambda b, v: b.stretched(v), "factor", -2.0),
        (lambda b, v: b.stretched(v), "factor", math.nan),
        (lambda b, v: b.shifted(v), "shift", -1.0),
        (lambda b, v: b.shifted(v), "shift", math.inf),
        (lambda b, v: b.shifted(v), "shift", math.nan),
    ],
)
def test_the_calculus_refuses_a_factor_or_shift_out_of_range(shape, apply, name, value):
    """A negative, infinite or NaN scaling, stretch or shift is named: ``PowerBound * -1``
    made a negative bound, ``ExpBound.stretched(-1)`` a decreasing one (``L(1) = 0.37``),
    ``PowerBound.shifted(nan)`` a NaN one, all silently."""
    bound = _CALCULUS_SHAPES[shape]()
    with pytest.raises(ValueError, match=rf"{name} must be finite and >= 0, got {name}="):
        apply(bound, value)


@pytest.mark.parametrize("shape", sorted(_CALCULUS_SHAPES))
def test_a_bound_times_zero_is_the_zero_bound(shape):
    """``L * 0`` is the bound 0 for every shape (its radius solve answers ``(0, 0)``, which
    the step rejects): a power or exponential bound of scale 0 divided by it."""
    bound = _CALCULUS_SHAPES[shape]() * 0.0
    assert bound(1.0) == 0.0 and bound.radius_for(1.0)[:2] == (0.0, 0.0)
    assert bound.stretched(0.0)(1.0) == 0.0 and bound.shifted(0.0)(1.0) == 0.0


def test_a_radius_below_the_float_range_is_a_precision_limit():
    """``t / a^q`` underflows to 0: no radius in range meets the solve's tolerance."""
    from lfso.oracles import PrecisionLimitError
    from lfso.oracles._bounds import PowerBound

    bound = PowerBound(1.0, 1e100, 1.0, 2.0)  # L(0) = 1e200: R = 1e-300 / 1e200 underflows
    with pytest.raises(PrecisionLimitError, match="below the smallest float"):
        bound.radius_for(1e-300)
    radius, value, _ = bound.radius_for(1e-100)  # (in range: solved)
    assert Fraction(radius) * Fraction(value) >= Fraction(1e-100)
    with pytest.raises(PrecisionLimitError, match=r"L\(0\) = inf"):  # (a^q past the range)
        PowerBound(1.0, 1e200, 1.0, 2.0).radius_for(1.0)


def _secant():
    from lfso._auto import SecantBound

    return SecantBound(1.0, [(0.5, 2.0)], 1.0)


@pytest.mark.parametrize(
    "bound",
    [
        ConstantBound(2.0),
        FunctionBound(lambda r: 1.0 + r),
        PowerBound(1.0, 1.0, 1.0, 2.0),
        MinPowerBound(1.0, [(1.0, 1.0), (2.0, 0.5)], 2.0),
        MinBound([PowerBound(1.0, 1.0, 1.0, 2.0), ConstantBound(2.0)]),
        _secant(),
    ],
    ids=lambda b: type(b).__name__,
)
def test_a_nan_or_non_number_target_is_named(bound):
    """``radius_for(nan)`` raised nothing (``R = nan`` for a constant, ``R = 0`` for the
    others); a target below 0 needs no radius."""
    with pytest.raises(ValueError, match="target must be a number, got target=nan"):
        bound.radius_for(math.nan)
    with pytest.raises(TypeError, match="target must be a number, got target='1'"):
        bound.radius_for("1")
    assert bound.radius_for(-1.0)[0] == 0.0


@pytest.mark.parametrize("value", [-1.0, math.nan])
def test_a_constant_bound_below_zero_is_named(value):
    """``ConstantBound(-1.0)`` gave the radius -1 for a target of 1."""
    with pytest.raises(ValueError, match=r"value must be >= 0, got value="):
        ConstantBound(value)


def test_a_power_bound_past_the_float_range_is_inf_not_an_overflow_error():
    """Python's ``**`` on floats raises ``OverflowError`` past the float range: the bounds
    say ``inf`` there, and the oracle's call names the value (a built-in model at a radius
    of ``1e60``, or ``lfso check-oracle power_sum-p5 --radii 1e300``)."""
    from lfso.models import PowerSum

    assert PowerBound(1.0, 1.0, 1.0, 5.0)(1e300) == math.inf
    assert PowerBound(1.0, 1.0, 1.0, 5.0).derivative(1e300) == math.inf
    assert MinPowerBound(1.0, [(1.0, 1.0), (2.0, 1.0)], 5.0)(1e300) == math.inf
    with pytest.raises(OracleError, match="= inf"):
        PowerSum(5)([1.0, 1.0, 1.0], 1e60)


def _model_bound(name, ball_segment):
    """The bound of the built-in model ``name`` at a point (``Model.at``), or its ball segment
    (``Model.segment``'s default: the ball bound in the step length) along ``-g``."""

    def make():
        import numpy as np
        from cases import MODELS, dim_of

        from lfso.models import Model

        model = MODELS[name](np.random.default_rng(0))
        x = np.random.default_rng(1).standard_normal(dim_of(model))
        if not ball_segment:
            return model.at(x)
        ev = model.evaluate(x)
        return Model.segment(model, x, ev, -ev.grad)

    return make


def _infinite_target_cases():
    from cases import MODELS

    shapes = {
        "constant": lambda: ConstantBound(2.0),
        "polynomial": lambda: PolynomialBound([1.0, 0.0, 3.0]),
        "polynomial-constant": lambda: PolynomialBound([1e-300]),
        "power": lambda: PowerBound(1.0, 1.0, 1.0, 2.0),
        "power-b0": lambda: PowerBound(1.0, 1.0, 0.0, 2.0),
        "power-q0": lambda: PowerBound(1.0, 1.0, 1.0, 0.0),
        "min-power": lambda: MinPowerBound(1.0, [(1.0, 1.0), (2.0, 0.5)], 2.0),
        "min-power-b0": lambda: MinPowerBound(1.0, [(1.0, 1.0), (2.0, 0.0)], 2.0),
        "exp": lambda: ExpBound(1.0, 1.0),
        "exp-rate0": lambda: ExpBound(1.0, 0.0),
        "sum": lambda: ConstantBound(1.0) + FunctionBound(lambda r: 1.0 + r),
        "min": lambda: MinBound([ExpBound(3.0, 0.0), PowerBound(1.0, 1.0, 1.0, 2.0)]),
        "shifted-scaled": lambda: PowerBound(1.0, 1.0, 0.0, 2.0).shifted(1.0) * 2.0,
        "stretched": lambda: ExpBound(1.0, 1.0).stretched(2.0),
        "function": lambda: FunctionBound(lambda r: 2.0),
        "secant": _secant,
    }
    for name in sorted(MODELS):
        shapes[f"{name}-ball"] = _model_bound(name, False)
        shapes[f"{name}-ball-segment"] = _model_bound(name, True)
    return shapes


_INFINITE = _infinite_target_cases()


@pytest.mark.parametrize("name", sorted(_INFINITE))
def test_an_infinite_target_gives_an_infinite_radius(name):
    """``check_target``'s answer, ``R = inf`` with ``L(x, inf) > 0``, from every bound: the
    power bounds (and the lp, power-norm and power-sum models' balls) gave ``R = 0``,
    breaking ``R L(R) >= target``; a polynomial bound of degree 0 looped for ever, and the
    generic solve raised 'stays below eta * ||g||'. A finite target whose root is past the
    float range gets the same answer."""
    bound = _INFINITE[name]()
    radius, value, evals = bound.radius_for(math.inf)
    assert radius == math.inf and value > 0.0 and evals >= 1
    assert value >= bound(1e10)  # the supremum of a non-decreasing L
    if name in ("polynomial-constant", "power-b0", "exp-rate0"):  # (L(inf) = L(0))
        radius, value, _ = (bound * 0.25).radius_for(1e308)  # (root 4e308)
        assert radius == math.inf and value > 0.0


def _flat_secant(samples):
    from lfso._auto import SecantBound

    return lambda: SecantBound(0.0, samples, 2.0)


@pytest.mark.parametrize(
    ("make", "target", "answer"),
    [
        # a user's L whose root lies past the float range: R = inf and L(inf)
        (lambda: FunctionBound(lambda r: 1e-300), 1e300, "infinite"),
        # ... and a root between e^690 and the largest float: found
        (lambda: FunctionBound(lambda r: 1e-10 * (1.0 + r * 1e-300)), 1e300, "finite"),
        (lambda: FunctionBound(lambda r: 1.0), 1e305, "finite"),
        (lambda: FunctionBound(lambda r: 1.0), 1.7e308, "finite"),
        # target / scale past the float range, the root (W(1e300) e^300) well inside it
        (lambda: ExpBound(1e-300, 1e-300), 1e300, "finite"),
        (lambda: ExpBound(1e-300, 1e-300), 1e308, "finite"),
        (lambda: ExpBound(1.0, 1.0) * 1e-300, 1e300, "finite"),
        (lambda: ExpBound(1e-300, 1e-310), 1e300, "infinite"),  # (root past the range)
        # likewise for powers: R (1 + R)^2 = 1e600 at R = 1e200, L = 1e100
        (lambda: PowerBound(1e-300, 1.0, 1.0, 2.0), 1e300, "finite"),
        (lambda: PowerBound(1e-300, 0.0, 1.0, 1.0), 1.7e308, "finite"),
        (lambda: PowerBound(1e-200, 1e100, 3.0, 1.5), 1e300, "finite"),
        (lambda: PowerBound(1.0, 1.0, 1.0, 2.0) * 1e-300, 1e300, "finite"),
        (lambda: MinPowerBound(1e-300, [(1.0, 1.0), (2.0, 0.5)], 2.0), 1e300, "finite"),
        (lambda: PowerBound(1e-300, 1e300, 1.0, 0.5), 1e300, "infinite"),
        (lambda: PowerBound(0.0, 1.0, 1.0, 2.0), 1.0, "none"),  # (L = 0: raised before)
        (lambda: MinPowerBound(0.0, [(1.0, 1.0)], 2.0), 1.0, "none"),
        (lambda: PolynomialBound([0.0]), 1.0, "none"),  # (L = 0: raised an OracleError)
        (lambda: PolynomialBound([0.0, 0.0, 0.0]), 1e300, "none"),
        # the automatic oracle's bound where no curvature was seen: no radius, L = 0
        (_flat_secant([]), 1.0, "none"),
        (_flat_secant([(1.0, 0.0)]), 1.0, "none"),
        (_flat_secant([(1.0, 0.0)]), 0.0, "none"),
        (_flat_secant([]), math.inf, "none"),
        (_flat_secant([(1.0, 3.0)]), 5.0, "finite"),
        (_flat_secant([(1.0, 3.0)]), math.inf, "infinite"),
    ],
    ids=[
        "function-past-range",
        "function-root-near-the-top",
        "function-1e305",
        "function-1.7e308",
        "exp-tiny-scale",
        "exp-tiny-scale-1e308",
        "exp-scaled",
        "exp-past-range",
        "power-tiny-scale",
        "power-a0-1.7e308",
        "power-fractional",
        "power-scaled",
        "min-power-tiny-scale",
        "power-past-range",
        "power-scale-0",
        "min-power-scale-0",
        "polynomial-zero",
        "polynomial-zero-quadratic",
        "secant-no-sample",
        "secant-flat-sample",
        "secant-flat-target-0",
        "secant-flat-target-inf",
        "secant-step",
        "secant-target-inf",
    ],
)
def test_radius_for_keeps_its_contract_at_the_float_range_edge(make, target, answer):
    """``R L(R) >= target`` (in exact arithmetic), ``L >= L(R)``, within ``rtol`` of the
    root where that is a float, ``R = inf`` with the supremum ``L(inf)`` where the root is
    past the float range, and ``(0, 0)`` where ``L = 0`` for every ``R``: a user's bound
    raised 'radius solve failed' past ``e^690``, ``ExpBound`` gave ``(inf, inf)`` where
    ``target / scale`` overflowed, and the automatic oracle's bound with no curvature gave
    ``(inf, 0.0)`` (``R L(R)`` NaN)."""
    import mpmath

    bound = make()
    radius, value, evals = bound.radius_for(target, rtol=1e-3)
    assert evals >= 1
    if answer == "none":
        assert (radius, value) == (0.0, 0.0) and bound(1e300) == 0.0
        return
    assert value > 0.0 and mpmath.mpf(radius) * mpmath.mpf(value) >= target
    if answer == "infinite":
        assert radius == math.inf and value >= bound(1.7e308)  # the supremum
        return
    assert 0.0 < radius < math.inf and value >= bound(radius)
    if isinstance(bound, ExpBound):  # the value covers the exact scale e^(rate R)
        exact = mpmath.mpf(bound.scale) * mpmath.exp(mpmath.mpf(bound.rate) * radius)
        assert value >= exact
    if isinstance(bound, (PowerBound, MinPowerBound)):  # likewise scale (a + b R)^q
        lines = bound.lines if isinstance(bound, MinPowerBound) else [(bound.a, bound.b)]
        with mpmath.workdps(60):
            base = min(mpmath.mpf(a) + mpmath.mpf(b) * mpmath.mpf(radius) for a, b in lines)
            assert value >= mpmath.mpf(bound.scale) * base ** mpmath.mpf(bound.q)
    # tight: a radius 0.2% smaller (twice the tolerance) falls short of the target
    smaller = radius / 1.002
    assert mpmath.mpf(smaller) * mpmath.mpf(bound(smaller)) < target


@pytest.mark.parametrize(
    "make",
    [
        lambda: ExpBound(1.0, math.inf),
        lambda: PolynomialBound([1.0, math.inf]),
        lambda: PowerBound(1.0, 1.0, math.inf, 2.0),
        lambda: MinPowerBound(1.0, [(1.0, math.inf), (2.0, math.inf)], 2.0),
        lambda: PowerBound(1.0, 1.0, 1.0, 2.0).stretched(1e308).stretched(1e308),
        lambda: ExpBound(1.0, 1.0).stretched(1e308).stretched(1e10),
        lambda: (PolynomialBound([1.0, 1.0]) + ExpBound(1.0, 1.0)).stretched(1e308).stretched(1e9),
    ],
    ids=["exp", "polynomial", "power", "min-power", "power-stretched", "exp-stretched", "sum"],
)
def test_a_slope_past_the_float_range_gives_no_nan_at_radius_0(make):
    """A rate, slope or stretch that the calculus rounded up past the float range
    (``bound.stretched(1e308)`` twice) is ``inf``, and ``inf * 0`` made ``L(x, 0)`` NaN
    (and a polynomial's Horner ``0 * inf`` its value at ``R = inf``): at ``R = 0`` the
    bound is its value there (``L(0)``, finite), ``inf`` beyond."""
    bound = make()
    assert 0.0 < bound(0.0) < math.inf
    assert bound(1e-300) == math.inf and bound(1.0) == math.inf


@pytest.mark.parametrize(
    "make",
    [
        lambda: MinPowerBound(1.1e-20, [(1.1e26, 1.3e-11), (2.2e26, 6.7e-12)], 2.0),
        lambda: PowerBound(1.1e-20, 1.1e26, 1.3e-11, 2.0),
    ],
    ids=["min-power", "power"],
)
def test_a_power_bound_precision_limit_names_the_target_and_the_bound_at_0(make):
    """Where the root is below the smallest float the message names the caller's target and
    ``L(0)``: it said "R L(R) = 1.6e-299" (``target / scale``) and gave ``a^q`` as
    ``L(0)``."""
    bound = make()
    with pytest.raises(PrecisionLimitError) as caught:
        bound.radius_for(1.77e-319)
    message = str(caught.value)
    assert f"R L(R) = {1.77e-319!r}" in message
    assert f"L(0) = {bound(0.0)!r}" in message


@pytest.mark.parametrize(
    "make",
    [
        lambda s, b, q: PowerBound(s, 0.0, b, q),
        lambda s, b, q: MinPowerBound(s, [(0.0, b), (1.0, 1.0)], q),
    ],
    ids=["power", "min-power"],
)
def test_a_power_bound_whose_base_underflows_is_taken_in_logarithms(make):
    """``scale (b R)^q`` with ``b R`` below the normal range but a normal power (``q`` small):
    ``b R`` underflowed to 0, so ``L = 0`` and the radius solve raised a precision limit at
    ``target = 2.4e-313``, whose root ``R = 1.04e-310`` has ``L = 2.3e-3``. The bound stays
    above its exact value (mpmath), within ``1e-9`` of it, at that root and elsewhere."""
    import mpmath

    scale, b, q = 0.7755911489364931, 7.071294880718157e-48, 0.007096524447083308
    bound = make(scale, b, q)
    radius, value, _ = bound.radius_for(2.3651928942e-313)
    rng = np.random.default_rng(0)
    with mpmath.workprec(200):
        assert mpmath.mpf(radius) * mpmath.mpf(value) >= mpmath.mpf(2.3651928942e-313)
        for r in [radius, 5e-324, 1e-300, *(10.0 ** rng.uniform(-323, -262, 50))]:
            exact = mpmath.mpf(scale) * (mpmath.mpf(b) * mpmath.mpf(r)) ** mpmath.mpf(q)
            got = bound(float(r))
            assert got >= exact and got <= exact * (1 + mpmath.mpf(1e-9)), (r, got, exact)


def _built_in_models() -> dict[str, object]:
    from lfso.models import LogisticRegression, LpRegression, PowerSum

    A, b = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]), np.array([1.0, 0.0, -1.0])
    return {
        "lp-1": LpRegression(A, b, p=1),
        "lp-3": LpRegression(A, b, p=3),
        "power-sum-1": PowerSum(1),
        "power-sum-2": PowerSum(2),
        "logistic": LogisticRegression(A, np.array([0, 1, 1])),
    }


@pytest.mark.parametrize("name", sorted(_built_in_models()))
def test_a_built_in_bound_past_the_float_range_is_a_precision_limit(name):
    """Every built-in model's ball and segment bounds are ``proven``, so ``inf`` from them
    is a :class:`PrecisionLimitError`: a lone constant (``LpRegression`` with ``p = 1``,
    ``PowerSum(1)``), a row bound (logistic) and the row and norm segments were not, and
    ``(model * 1e308 * 1e10)(x, 1)`` raised a plain ``OracleError`` where ``LpRegression``
    with ``p = 3`` raised a ``PrecisionLimitError``."""
    model = _built_in_models()[name]
    x, d = np.array([1.0, -0.5]), np.array([1.0, 2.0])
    assert model.at(x).proven and model.along(x, d).proven
    with pytest.raises(PrecisionLimitError, match="leaves the float range"):
        (model * 1e308 * 1e10)(x, 1.0)


def test_a_users_bound_past_the_float_range_stays_a_broken_contract():
    """A user's oracle returning ``inf`` or ``0`` itself broke its contract: an
    ``OracleError``, not a precision limit, scaled or not."""
    from lfso.oracles import FunctionOracle

    for value in (math.inf, 0.0):
        for oracle in (
            FunctionOracle(lambda x, R, v=value: v),
            2.0 * FunctionOracle(lambda x, R, v=value: v),
        ):
            with pytest.raises(OracleError) as caught:
                oracle(np.ones(2), 1.0)
            assert not isinstance(caught.value, PrecisionLimitError)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c * lfso.oracles.ConstantOracle(c),
        lambda c: c * lfso.oracles.FunctionOracle(lambda x, R: c),
        lambda c: c * (c * lfso.oracles.FunctionOracle(lambda x, R: 1.0)),
        lambda c: lfso.oracles.ridge(c * lfso.oracles.FunctionOracle(lambda x, R: c), 1.0),
    ],
    ids=["constant", "function", "nested", "in-a-sum"],
)
@pytest.mark.parametrize("c", [1e-300, 1e300], ids=["underflow", "overflow"])
def test_a_users_valid_bound_scaled_past_the_float_range_is_a_precision_limit(make, c):
    """``1e-300 * ConstantOracle(1e-300)`` (``1e300 * ...(1e300)``): the calculus's
    product of two valid numbers leaves the float range, which raised the user's
    ``OracleError`` ("an LFSO must return a finite positive bound"); it is a
    :class:`PrecisionLimitError` naming the scaling, and a run stops with
    ``PRECISION_LIMIT`` instead of taking the user's oracle for broken."""
    oracle = make(c)
    edge = "underflows to 0" if c < 1.0 else "overflows to inf"
    with pytest.raises(PrecisionLimitError, match=f"by the factor .* {edge}"):
        oracle(np.ones(2), 1.0)
    result = lfso.minimize(
        lambda x: float(x @ x),
        np.ones(2),
        grad=lambda x: 2.0 * x,
        smoothness=oracle,
        method="lfso",
    )
    assert result.status == lfso.Status.PRECISION_LIMIT and result.nit == 0


def test_a_sum_of_users_valid_bounds_past_the_float_range_is_a_precision_limit():
    """``ConstantOracle(1e308) + ConstantOracle(1e308)`` (or two function oracles): the
    sum of two valid values overflows, which raised the users' ``OracleError``; it is a
    :class:`PrecisionLimitError` naming the values. A term that returns ``inf`` itself
    still breaks its contract."""
    from lfso.oracles import ConstantOracle, FunctionOracle

    for oracle in (
        ConstantOracle(1e308) + ConstantOracle(1e308),
        FunctionOracle(lambda x, R: 1e308) + FunctionOracle(lambda x, R: 1e308),
    ):
        with pytest.raises(PrecisionLimitError, match="sum of the bounds' values"):
            oracle(np.ones(2), 1.0)
    with pytest.raises(OracleError) as caught:
        (FunctionOracle(lambda x, R: math.inf) + ConstantOracle(1.0))(np.ones(2), 1.0)
    assert not isinstance(caught.value, PrecisionLimitError)


def test_a_users_bound_scaled_past_the_float_range_at_large_radii_still_solves():
    """The scaling's ``inf`` far out is no finite bound there, as a bound's own ``inf``:
    the radius solve brackets below it, as for the unscaled bound."""
    from lfso.oracles import FunctionBound

    bound = FunctionBound(lambda r: 1e300 * math.exp(min(r, 700.0))) * 1e8
    radius, value, _ = bound.radius_for(1e300)
    assert radius * value >= 1e300 and value < math.inf


def test_an_exponential_bound_of_scale_zero_is_the_zero_bound_at_every_radius():
    """``L0L1Smooth`` with ``L0 = 0`` at a zero gradient has the bound ``0 e^(L1 R)``: at a
    radius where ``e^(L1 R)`` overflows it raised a bare ``math domain error``, and its
    radius solve a ``ZeroDivisionError``; it is 0 everywhere, with no radius (``R = 0``)."""
    from lfso.models import L0L1Smooth, PowerSum

    model = L0L1Smooth(PowerSum(2), L0=0.0, L1=1.0)
    x = np.zeros(2)
    for bound in (model.at(x), model.along(x, np.ones(2))):
        assert bound(1e3) == bound(0.0) == 0.0
        assert bound.radius_for(1.0)[:2] == (0.0, 0.0)
        assert bound.radius_for(math.inf)[:2] == (0.0, 0.0)
    with pytest.raises(PrecisionLimitError):
        model(x, 1e3)


def test_a_built_in_bound_of_exact_value_zero_says_so():
    """``L0L1Smooth`` with ``L0 = 0`` at a zero gradient (and ``x^4`` at 0, radius 0) has
    the exact bound 0: the message said "its exact value is a positive number"; it names
    the exact 0 (a point with no curvature) beside an underflow, and a run from such a
    stationary point stops converged before it asks for a step."""
    from lfso.models import L0L1Smooth, PowerSum

    for model, radius in ((L0L1Smooth(PowerSum(2), 0.0, 1.0), 1.0), (PowerSum(4), 0.0)):
        with pytest.raises(PrecisionLimitError, match="exact value is 0") as caught:
            model(np.zeros(2), radius)
        assert "exact value is a positive number" not in str(caught.value)
        result = lfso.minimize(model, np.zeros(2), atol=0.0, tol=0.0)
        assert result.status == lfso.Status.CONVERGED and result.nit == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: ExpBound(3.8e270, 3.1e8).shifted(6.2e-4),
        lambda: MinPowerBound(1e300, [(1e200, 1.0)], 2.0).shifted(1.0),
    ],
    ids=["exp-newton", "min-power-generic"],
)
def test_a_proven_bound_inf_at_radius_0_is_a_precision_limit_in_every_solve(make):
    """A built-in shape shifted (an inner point known up to its rounding) past the float
    range at ``R = 0`` (``3.8e270 e^(3.1e8 * 6.2e-4)``) is the float range's edge: its
    radius solve for a small target raised a plain :class:`OracleError` (a broken user
    contract) from the
    Newton start and from the generic solve's seed."""
    bound = make()
    assert bound.proven and bound(0.0) == math.inf
    with pytest.raises(PrecisionLimitError, match="leaves the float range"):
        bound.radius_for(4e-149)


def test_a_constant_bound_whose_radius_underflows_is_a_precision_limit():
    """``target / L`` below the smallest float: ``ConstantBound(1e289).radius_for(1e-135)``
    returned the radius 0, whose ``R L = 0`` reaches no target (a step of 0, run after
    run); the power bounds raise a :class:`PrecisionLimitError` there, and so does it."""
    with pytest.raises(PrecisionLimitError, match="below the smallest float"):
        ConstantBound(1e289).radius_for(1e-135)
    assert ConstantBound(1e289).radius_for(1e-30)[0] > 0.0  # (a subnormal radius: a step)


def test_a_proven_bound_that_underflows_at_the_seed_is_solved_past_it():
    """``1e-10 (1e-300 R)^3``, shifted (not log-convex: the generic solve), is 0 at the
    seed ``R = 1`` by underflow, its exact value positive: the solve raised a plain
    :class:`OracleError`; it takes that 0 as infeasible and finds the root past it."""
    bound = MinPowerBound(1e-10, [(0.0, 1e-300)], 3.0).shifted(1e-300)
    assert bound.proven and bound(1.0) == 0.0
    radius, value, _ = bound.radius_for(1.0)
    assert Fraction(radius) * Fraction(value) >= 1
    assert value >= bound(radius) > 0.0


def test_a_transformed_bound_whose_merged_scale_underflows_is_zero_not_nan():
    """Scaling a scaled bound by ``1e-200`` twice multiplies the scales to 0: ``0 * inf``
    made ``L(inf)`` NaN (an :class:`OracleError` from the radius solve); it is the bound 0."""
    bound = (MinPowerBound(2.4e29, [(1.6e-69, 9.7e42)], 1.0).shifted(1e-21) * 1e-200) * 1e-200
    assert bound(0.0) == bound(1e300) == bound._limit() == 0.0
    assert bound.radius_for(math.inf)[:2] == (0.0, 0.0)
