"""Gradient checks: central differences of ``f`` along directions against ``g . v``.

A wrong gradient is the commonest reason a gradient method goes nowhere. Along a unit
direction ``v`` the central difference ``(f(x + h v) - f(x - h v)) / 2h`` estimates the
directional derivative ``grad f(x) . v`` with truncation error ``h^2 |f'''| / 6`` and a
rounding error of at most ``8 eps (|f(x + h v)| + |f(x - h v)|) / 2h`` (``eps`` the
dtype's machine epsilon, or float32's or float16's where every value is one of theirs: a
function computed in a narrower float than ``x``; each value within a few ulps of the exact
one); ``h = eps^(1/3) max(1, ||x||)`` balances the two (in :func:`check_grad`, cut so
that no entry moves by more than ``eps^(1/3) max(1, |x_i|)``), and a second difference at
``h / 2`` removes the ``h^2`` term and measures what is left (:func:`central_difference`).
A gradient whose ``g . v`` differs from that estimate by more than the tolerance plus the
error bound disagrees with ``f``; one that agrees only within a bound at least as large as
the estimate itself is not confirmed (``GradCheck.conclusive``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ._arrays import amax, as_vector, like, namespace, norm, to_float
from ._validate import generator, integer, nonnegative
from .models import FunctionModel, Model

__all__ = ["GradCheck", "central_difference", "check_grad"]

#: Rounding errors of ``f`` allowed in the difference's error bound (a few ulps per value).
_ROUNDINGS = 8.0

#: A difference that has not settled (:func:`_directional`) is taken again at a step this
#: many times shorter, ...
_SHRINK = 16.0
#: ... at most this many times (16^8, about 4e9: float64's step of 6e-6 down to 1.4e-15).
_REFINEMENTS = 8

_UNSETTLED = (
    "INCONCLUSIVE: along some direction the finite difference did not resolve the "
    "derivative (it did not settle at any step, as where f bends on a scale below the "
    "smallest step the dtype resolves, or its error bound is as large as the difference "
    "itself, as where f's rounding swamps it), so it neither confirms nor refutes the gradient"
)

_KINK = (
    "NOT DIFFERENTIABLE: f's one-sided differences at x disagree along some direction "
    "(a kink or a jump), so no gradient can be checked there"
)


class GradCheck(NamedTuple):
    """Result of :func:`check_grad`.

    Attributes
    ----------
    passed : bool
        Every direction agreed, ``|fd - g . v| <= rtol max(|fd|, |g . v|) + error``, and
        ``f`` is differentiable at ``x`` along each (``differentiable``). It is
        also the check's truth value (``assert lfso.check_grad(...)`` fails where it did).
    worst : float
        The largest disagreement over the directions, ``|fd - g . v| / max(|fd|, |g . v|)``
        (0 where both are 0; NaN where a derivative is NaN, or both are infinite).
    derivatives : list of (float, float, float)
        ``(fd, g . v, error)`` per direction: the finite difference, the gradient's
        directional derivative and the difference's error bound.
    differentiable : bool
        False where ``f`` has a kink (or a jump) at ``x`` along some direction: its
        one-sided differences there disagree by more than curvature and rounding explain
        (``|x|`` or ``max(x, 0)`` at 0), so no gradient can be checked there and ``passed``
        is False.
    conclusive : bool
        False where no direction's difference disagreed with the gradient, but along
        some the difference never settled: it moved with its step at every step down to
        where ``f``'s rounding swamps it (``f`` bends on a scale below the smallest step
        the dtype resolves, or its values are coarser than its dtype's), so the check has
        no evidence either way and ``passed`` is False ("INCONCLUSIVE", neither
        "FAILED" nor "PASSED"). Likewise where a direction agreed only within an error
        bound at least ``|fd|`` (a zero ``g . v`` would have agreed as well: float32's
        ``sum(x**4)`` at ``x_0 = -1.08`` beside ``x_3 = 10``, ``fd = -4.93 +- 6.4``, against
        which a ``g_0`` 1.5 times too long agreed), and wider than ``rtol ||g||`` and twice
        the bound along ``-g`` (not a zero entry of ``g``, checked as finely as the rest).
    """

    passed: bool
    worst: float
    derivatives: list[tuple[float, float, float]]
    differentiable: bool = True
    conclusive: bool = True

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED" if self.conclusive else _UNSETTLED
        lines = [f"{verdict}: largest relative disagreement {self.worst:.3g}"]
        if not self.differentiable:
            lines.insert(0, _KINK)
        if not all(math.isfinite(gv) for _, gv, _ in self.derivatives):
            lines.insert(0, "grad(x) is not finite: g . v is NaN or infinite")
        if not all(math.isfinite(fd) for fd, _, _ in self.derivatives):
            lines.insert(0, "f is not finite at or near x: a finite difference is NaN or infinite")
        for fd, gv, error in self.derivatives:
            lines.append(f"  finite difference {fd:.6g}, gradient {gv:.6g} (+- {error:.2g})")
        return "\n".join(lines)


def central_difference(
    value: Callable[[Any], float],
    x: Any,
    v: Any,
    *,
    eps: float | None = None,
    scale: float = 1.0,
    reach: float | None = None,
) -> tuple[float, float]:
    """``(fd, error)``: the directional derivative of ``value`` at ``x`` along the unit
    vector ``v``, central differences at ``h`` and ``h / 2`` combined by Richardson
    extrapolation, ``(4 D(h/2) - D(h)) / 3`` (no ``h^2`` term), and a bound on its error:
    ``|D(h) - D(h/2)|`` (about ``3/4`` of ``D(h)``'s own ``h^2`` term, far above what the
    extrapolation leaves where the ``h^4`` term is smaller) plus the rounding error
    (module docstring) through the extrapolation's weights. Four calls of ``value``.
    ``scale`` multiplies ``h`` (a longer difference, for values noisier than their dtype);
    ``reach`` replaces ``max(1, ||x||)`` in ``h`` (:func:`_reach`)."""
    fd, truncation, rounding = _extrapolated(value, x, v, eps, scale, reach)
    return fd, truncation + rounding


def _extrapolated(
    value: Callable[[Any], float],
    x: Any,
    v: Any,
    eps: float | None,
    scale: float,
    reach: float | None,
) -> tuple[float, float, float]:
    """:func:`central_difference`'s ``fd`` with its error bound's two parts: the
    truncation ``|D(h) - D(h/2)|`` and the rounding through the extrapolation's weights."""
    if eps is None:
        eps = float(namespace(x).finfo(x.dtype).eps)
    h = scale * eps ** (1.0 / 3.0) * (max(1.0, norm(x)) if reach is None else reach)
    steps = (h, 0.5 * h)
    values = [(float(value(x + t * v)), float(value(x - t * v))) for t in steps]
    eps = _values_unit(values, eps)
    diffs, noises = [], []
    for step, (ahead, behind) in zip(steps, values, strict=True):
        diffs.append((ahead - behind) / (2.0 * step))
        noises.append(_ROUNDINGS * eps * (abs(ahead) + abs(behind)) / (2.0 * step))
    coarse, fine = diffs
    fd = (4.0 * fine - coarse) / 3.0
    return fd, abs(coarse - fine), (4.0 * noises[1] + noises[0]) / 3.0


def _values_unit(values: list[tuple[float, float]], eps: float) -> float:
    """``eps``, or the machine epsilon of float16 or float32 where every value is one of
    theirs (a function computed in a narrower float than ``x``'s, whose values round at
    that level: a float64 value that is not one is a float32 by chance 1 in 2^29)."""
    flat = [v for pair in values for v in pair]
    if not all(math.isfinite(v) for v in flat):
        return eps  # (an infinite value is one of every float's: no evidence of a narrow one)
    for narrow in (np.float16, np.float32):
        unit = float(np.finfo(narrow).eps)
        if unit > eps:
            with np.errstate(over="ignore"):
                if all(float(narrow(v)) == v for v in flat):
                    return unit
    return eps


def _reach(x: Any, v: Any) -> float:
    """``min(max(1, ||x||), min_i max(1, |x_i|) / |v_i|)``: the step along ``v`` moves no
    entry by more than ``h / eps^(1/3)`` times its own scale ``max(1, |x_i|)`` (SciPy's
    relative step, ``approx_derivative``), however far apart the entries' scales are."""
    xp = namespace(x)
    size = xp.abs(x)
    size = xp.where(size > 1.0, size, xp.ones_like(size))
    widest = amax(xp, xp.abs(v) / size)
    return min(max(1.0, norm(x)), 1.0 / widest)


def _directional(
    value: Callable[[Any], float], x: Any, v: Any, g: Any, f0: float, rtol: float
) -> tuple[float, float, float, float, bool]:
    """``(fd, g . v, error)`` along ``v`` (:func:`central_difference` at ``x``'s step, cut
    to each entry's scale by :func:`_reach`), or again at the step of the narrower float
    every value is one of (a ``fun`` computed in float32 at a float64 ``x``, whose
    rounding at ``x``'s step swamps the difference: its error bound let a gradient several
    per cent off pass). ``g . v`` is taken along the steps as they were rounded,
    ``(x + t v) - (x - t v)``, through the same extrapolation, as ``fd`` differences ``f``
    there. Four calls of ``value``, eight in that case. The fourth item is the jump in
    slope of a kink at ``x`` along ``v``, or 0 (:func:`_kinked`, with ``f0 = f(x)``).

    The first difference decides at once where it agrees with ``g . v`` and has settled
    (its extrapolation moves it by no more than ``3x`` its rounding, or than ``rtol``), or
    agrees within ``rtol`` and twice a rounding below ``rtol``. Otherwise (a disagreement,
    a kink, or an agreement that only a large truncation term allowed, as where ``f`` is
    rough on the scale of the step and a gradient 1.5 times too long in one entry passed)
    the difference is taken again at steps :data:`_SHRINK` times shorter, down to where
    ``f(x)``'s rounding swamps it or :data:`_REFINEMENTS` times (four calls each), each
    with a rounding bound measured from ``f``'s values as well (:func:`_scatter`: an
    ``f`` computed less accurately than its dtype). A shorter difference settles where
    ``|D(h) - D(h/2)|`` is within ``3x`` its rounding, and decides only where the next
    shorter one settles too and agrees with it (a pair): it confirms a settled first
    difference, or replaces one that both contradict beyond their error bounds (``f``
    bends on a scale far below the longer step, as within ``1e-7`` of an ``x`` near
    ``1e-5``: that step spans the bend, where ``f`` looks as smooth as a quadratic with
    another slope, and its error bound, which assumes ``f``'s curvature varies slowly
    over the step, does not hold; or ``f`` is not finite at ``x +- h v``, as ``cosh(x /
    1e-6)`` at ``h = 5e-3``, while it is at ``x``). A pair whose two differences do not
    both agree or both disagree with ``g . v`` is no evidence, and a kink is one whose
    jump two steps see alike. The last item is False where nothing decided: no evidence
    either way."""
    seen: list[float] = []

    def recorded(z: Any) -> float:
        seen.append(float(value(z)))
        return seen[-1]

    reach = _reach(x, v)
    eps = float(namespace(x).finfo(x.dtype).eps)
    fd, truncation, rounding = _extrapolated(recorded, x, v, eps, 1.0, reach)
    unit = _values_unit(list(zip(seen[::2], seen[1::2], strict=True)), eps)
    if unit > eps:
        eps = unit
        fd, truncation, rounding = _extrapolated(recorded, x, v, eps, 1.0, reach)
    h = eps ** (1.0 / 3.0) * reach
    gv, jump = _slope(g, x, v, h), _kinked(seen[-4:], f0, h, eps)
    error = truncation + rounding
    scale = max(abs(fd), abs(gv))
    settled = math.isfinite(error) and truncation <= max(3.0 * rounding, rtol * scale)
    close = abs(fd - gv) <= rtol * scale + (error if settled else 2.0 * rounding)
    resolved = error < abs(fd)  # (else a zero g . v would agree as well)
    smooth = not abs(jump) > rtol * scale
    if close and resolved and smooth and (settled or rounding <= rtol * scale):
        return fd, gv, error, jump, True
    if not (math.isfinite(gv) and math.isfinite(f0)):
        return fd, gv, error, jump, True
    best = (fd, gv, error, jump, math.isfinite(error) and truncation <= 3.0 * rounding and not jump)
    previous = None  # (the last refinement, where it settled)
    for k in range(1, _REFINEMENTS + 1):
        step = h / _SHRINK**k
        fine, truncation, rounding = _extrapolated(recorded, x, v, eps, _SHRINK**-k, reach)
        slope = _slope(g, x, v, step)
        if not math.isfinite(fine + truncation + rounding):
            previous = None
            continue  # (f overflows this far from x: shorter)
        if not 3.0 * _ROUNDINGS * eps * abs(f0) / step < max(abs(fine), abs(slope)):
            break  # (the difference is all rounding from here down: f0's, through the weights)
        rounding = max(rounding, _scatter(seen[-4:], f0, step))
        current = None
        if truncation <= 3.0 * rounding < 3.0 * max(abs(fine), abs(slope)):
            current = (fine, slope, truncation + rounding, _kinked(seen[-4:], f0, step, eps), True)
        if current is None or previous is None or _apart(previous, current):
            previous = current
            continue  # (a refinement decides only where the next one confirms it)
        # A kink's jump is the same at every step (one seen at one step alone is rounding's
        # or a bend's: f bends within the longer step and is smooth within the shorter).
        jump = previous[3] if _same_jump(previous, current) or _same_jump(previous, best) else 0
        if best[4] and not (_apart(best, previous) and _apart(best, current)):
            return (*best[:3], best[3] if jump else 0.0, True)  # (confirmed)
        # The first pair that settles decides, where the two agree on the gradient.
        return (*previous[:3], jump, _agrees(previous, rtol) == _agrees(current, rtol))
    return best


def _agrees(difference: tuple[float, ...], rtol: float) -> bool:
    """Whether a difference ``(fd, g . v, error, ...)`` agrees with its ``g . v``."""
    fd, gv, error = difference[:3]
    return abs(fd - gv) <= rtol * max(abs(fd), abs(gv)) + error


def _scatter(seen: list[float], f0: float, h: float) -> float:
    """A bound on the rounding of a difference at ``h`` (:func:`_extrapolated`) measured
    from ``f``'s own values rather than assumed (an ``f`` computed less accurately than its
    dtype, as ``log(cosh(y))`` at a small ``y`` in float32, whose values step by
    ``eps * cosh(y)``, hundreds of ulps): the fourth difference of the five equally spaced
    values ``f(x + t v)``, ``t`` in ``-h, -h/2, 0, h/2, h``, is ``(h/2)^4`` times a fourth
    derivative, below rounding at a short step, plus up to six times a value's error ``e``;
    ``e`` carries through the extrapolation as ``3 e / h``. Infinite where the five values
    are equal (``f`` does not resolve the step)."""
    ahead, behind, near_ahead, near_behind = seen
    if ahead == behind == near_ahead == near_behind == f0:
        return math.inf
    fourth = ahead + behind - 4.0 * (near_ahead + near_behind) + 6.0 * f0
    return 3.0 * abs(fourth) / 4.0 / h


def _same_jump(one: tuple[float, ...], other: tuple[float, ...]) -> bool:
    """Whether two differences see a kink (the fourth item) of about the same jump."""
    return one[3] != 0.0 and 0.5 <= other[3] / one[3] <= 2.0


def _apart(one: tuple[float, ...], other: tuple[float, ...]) -> bool:
    """Whether two differences ``(fd, g . v, error, ...)`` disagree beyond their two
    error bounds."""
    return not abs(one[0] - other[0]) <= one[2] + other[2]


def _slope(g: Any, x: Any, v: Any, h: float) -> float:
    """``g . v`` along the steps ``h`` and ``h / 2`` as they round, ``(x + t v) - (x - t
    v)``, through :func:`central_difference`'s extrapolation."""
    coarse, fine = (to_float(g @ ((x + t * v) - (x - t * v))) / (2.0 * t) for t in (h, 0.5 * h))
    return (4.0 * fine - coarse) / 3.0


def _kinked(seen: list[float], f0: float, h: float, eps: float) -> float:
    """The jump in slope of ``f`` at ``x`` along ``v``, or 0 where its one-sided
    differences agree as a smooth ``f``'s do. ``J(t) = (f(x + t v) + f(x - t v) - 2 f(x))
    / t``, forward minus backward difference, is ``t v'Hv + O(t^3)`` for a smooth ``f``, so
    ``J(h/2) / J(h)`` is ``1/2`` or less; at a kink it tends to the jump, a constant (ratio
    1; 2 at a jump of ``f`` itself). A ratio in ``[3/4, 5/2]`` with both ``J`` above their
    rounding (module docstring) is a kink, and ``J(h/2)`` its size."""
    ahead, behind, near_ahead, near_behind = seen
    jumps, noises = [], []
    for t, (a, b) in ((h, (ahead, behind)), (0.5 * h, (near_ahead, near_behind))):
        jumps.append((a + b - 2.0 * f0) / t)
        noises.append(_ROUNDINGS * eps * (abs(a) + abs(b) + 2.0 * abs(f0)) / t)
    if not all(abs(j) > noise for j, noise in zip(jumps, noises, strict=True)):
        return 0.0  # (NaN too)
    return jumps[1] if 0.75 <= jumps[1] / jumps[0] <= 2.5 else 0.0


def check_grad(
    objective: Model | Callable[..., Any],
    x: Any,
    directions: int | str = 4,
    *,
    grad: Callable[[Any], Any] | bool | None = None,
    seed: int | np.random.Generator | None = 0,
    rtol: float = 1e-4,
) -> GradCheck:
    """Compare a gradient with central differences of ``f`` along random directions.

    The SciPy habit (``scipy.optimize.check_grad``) in the form a run needs: for each of
    ``directions`` random unit vectors ``v`` (and ``-g / ||g||``), the central difference
    ``fd`` of ``f`` along ``v`` against ``g . v``; the check passes where every pair agrees
    to ``rtol`` relative to the larger, plus the difference's error bound (module
    docstring). ``directions="all"`` checks each entry of ``g`` on its own (the unit
    vectors ``e_i``, as SciPy's default, ``direction="all"``): an entry far smaller than
    the others (``1e-4`` beside ``1``, wholly wrong) is lost in random directions' ``g . v``
    within ``rtol``, and not in its own (``directions`` counts ``n`` below). Where ``f``'s
    one-sided differences disagree (a kink at ``x``, as ``|x|`` at 0) the check fails
    saying ``f`` is not differentiable there (``GradCheck.differentiable``).
    ``4 (directions + 1) + 1`` evaluations of ``f``, one of the gradient;
    ``8 (directions + 1) + 1`` where every value of ``f`` is a float32 (or float16) at a
    wider ``x``, the differences taken again at the step of that float's rounding. Along
    a direction where ``fd`` and ``g . v`` disagree, or agree only within a difference
    that has not settled or whose error bound is as large as ``fd``, the difference is
    taken again at steps 16 to ``16^8`` times shorter (four evaluations each, until
    rounding swamps it): where ``f`` bends on a scale far below the step (within ``1e-7``
    of an ``x`` near ``1e-5``), two shorter differences that agree with each other and
    contradict the first decide, and where none settles, or none resolves ``fd`` (its
    bound at least ``|fd|``: a zero ``g . v`` would agree as well; not for an entry of
    ``g`` that is 0 beside larger ones), the check is inconclusive rather than passed or
    failed (``GradCheck.conclusive``).

    Parameters
    ----------
    objective : Model or callable
        A model, or ``fun(x) -> float`` with ``grad=`` (``grad=True``: ``fun`` returns
        ``(f, g)``), as :func:`lfso.minimize` takes them.
    x : array
        The point (a 1-d array; taken in a model's array library and dtype, as
        :func:`lfso.minimize` takes ``x0``).
    directions : int >= 0 or "all"
        ``"all"``: the ``n`` coordinate directions besides ``-g``. An integer: random
        directions besides ``-g`` (at least one where ``g`` is zero or not finite,
        which gives no ``-g`` direction, so that ``g`` is always checked along one).
    grad : callable or True, optional
        With a plain ``fun`` only (a model has its own gradient: ``TypeError``).
    seed : None, int >= 0 or numpy.random.Generator
        The random directions, as SciPy's ``check_grad(..., rng=)`` takes it: an integer
        seeds a fresh generator (the default, 0, gives the same directions every call),
        ``None`` draws them from fresh entropy, a ``Generator`` is used as is.
    rtol : float >= 0

    Returns
    -------
    GradCheck

    Examples
    --------
    >>> import numpy as np, lfso
    >>> fun = lambda x: float(np.sum(x**4))
    >>> lfso.check_grad(fun, np.ones(3), grad=lambda x: 4 * x**3).passed
    True
    >>> lfso.check_grad(fun, np.ones(3), grad=lambda x: -4 * x**3).passed
    False
    """
    if isinstance(objective, Model):
        if grad is not None:
            raise TypeError("grad= is for a plain function; a model has its own gradient")
        model = objective
    else:
        model = FunctionModel(objective, grad, None)
    x = like(as_vector(x, "x", model.xp), model.data)  # (the model's library and dtype)
    every = isinstance(directions, str) and directions == "all"
    if isinstance(directions, str) and not every:
        raise ValueError(f"directions must be an integer >= 0 or 'all', got {directions!r}")
    directions = 0 if every else integer(directions, "directions", low=0)
    rng = generator(seed)
    rtol = nonnegative(rtol, "rtol")
    g = model.grad(x)
    xp = namespace(x)
    gnorm = norm(g)
    vectors = [-g / gnorm] if gnorm > 0.0 and math.isfinite(gnorm) else []
    for _ in range(directions if vectors or every else max(directions, 1)):
        w = rng.standard_normal(int(x.shape[0]))
        w = w / np.linalg.norm(w)
        vectors.append(like(xp.asarray(w, dtype=x.dtype), x))
    for i in range(int(x.shape[0]) if every else 0):
        e = np.zeros(int(x.shape[0]))
        e[i] = 1.0
        vectors.append(like(xp.asarray(e, dtype=x.dtype), x))
    derivatives, worst, passed, smooth = [], 0.0, True, True
    unsettled, failed = False, False
    f0 = float(model.value(x))
    for v in vectors:
        fd, gv, error, jump, settled = _directional(model.value, x, v, g, f0, rtol)
        gap, scale = abs(fd - gv), max(abs(fd), abs(gv))
        derivatives.append((fd, gv, error))
        kinked = abs(jump) > rtol * scale
        smooth = smooth and not kinked
        # An agreement within a bound that covers the difference itself (a zero g . v, or
        # one 1.5 times too long, would agree as well) is no evidence, unless the bound is
        # as narrow as the gradient's own (an entry of g that is 0 or far below the others).
        wide = error > max(rtol * gnorm, 2.0 * derivatives[0][2] if gnorm > 0.0 else math.inf)
        settled = settled and not (error >= abs(fd) and wide)
        if kinked or not settled or not gap <= rtol * scale + error:  # (NaN: not passed)
            passed = False
            failed = failed or (settled and (kinked or not gap <= rtol * scale + error))
            unsettled = unsettled or not settled
        if math.isnan(gap):  # a NaN derivative (or inf against inf): no agreement measured
            worst = math.nan
        elif not math.isnan(worst):
            worst = max(worst, gap / scale if scale > 0.0 else (0.0 if gap == 0.0 else math.inf))
    return GradCheck(passed, worst, derivatives, smooth, failed or not unsettled)
