"""Line-search step rules: Armijo backtracking and Barzilai-Borwein."""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

from .._arrays import materialize, rounding, to_floats
from .._validate import integer, open_interval, positive, real
from ..models import Evaluation, Model
from ._base import Move, StepRule
from ._safeguard import _STALLS, _check_gradient

__all__ = ["ArmijoStep", "BarzilaiBorweinStep"]


#: The line searches' last trial step, accepted whatever ``f`` is there (``x - t g`` is then
#: ``x`` to rounding for any gradient the run can take).
_SMALLEST_TRIAL = 1e-300


#: ``2^-540``: ``s`` and ``y`` scaled by it (exactly) give the BB products without overflow.
_DOWN = 2.0**-540

#: The largest float64: the longest step a reset gives (:meth:`BarzilaiBorweinStep._reset`).
_LARGEST = sys.float_info.max


def _backtrack(
    objective: Model,
    x: Any,
    evaluation: Evaluation,
    t: float,
    reference: float,
    c: float,
    shrink: float,
    min_step: float,
) -> tuple[Any, float, float, Any, bool, bool]:
    """Largest ``t * shrink^j`` with ``f(x - t g) <= reference - c t ||g||^2``: the trial,
    ``t``, ``f`` there, what the pass that computed it formed for the evaluation there
    (:meth:`lfso.models.Model._value_product`: a row model's ``A x``), whether the step
    stalled, lowering ``f`` not at all and raising it
    by no more than the rounding allowance (:func:`lfso._arrays.rounding` of ``|f(x)|``),
    and whether a trial raised ``f`` beyond it."""
    g, gn = evaluation.grad, evaluation.grad_norm
    g2 = gn * gn  # (inf where ||g||^2 overflows: then c t ||g|| ||g||, left to right)
    here = evaluation.value
    allowance = rounding(x, getattr(objective, "unit_roundoff", None)) * abs(here)
    rose = False
    while True:
        trial = materialize(x - t * g)  # (Dask: f reads it here, the gradient once accepted)
        value, product = objective._value_product(trial)
        decrease = c * t * g2 if g2 < math.inf else c * t * gn * gn
        if value <= reference - decrease or t <= min_step:
            return trial, t, value, product, here <= value <= here + allowance, rose
        rose = rose or value > here + allowance
        t *= shrink


class Stalls(NamedTuple):
    """A line search's stalled steps in a row (:func:`_backtrack`) since the last gradient
    check, whether a trial over them raised ``f`` beyond rounding, the count at which the
    gradient is checked, and the stalled steps in a row, checks or not (``flat``: the run
    stops ``STALLED`` after :data:`lfso._result.STALL_ITERATIONS` of them)."""

    steps: int = 0
    rose: bool = False
    wait: int = _STALLS
    flat: int = 0


def _stall_check(
    objective: Model,
    x: Any,
    evaluation: Evaluation,
    stalled: bool,
    rose: bool,
    stalls: Stalls,
) -> Stalls:
    """``stalls`` after this step (``stalled``, ``rose``: :func:`_backtrack`'s).

    A wrong gradient makes the search shrink every step until it raises ``f`` by no more
    than rounding: after ``wait`` such steps in a row (10, the safeguard's count), with a
    trial over them that raised ``f``, a central difference of ``f`` along ``-g`` showing
    less than half the decrease the gradient predicts raises
    :class:`~lfso.steps.GradientMismatchError` (status ``GRADIENT_MISMATCH``), as the
    safeguard's check does (four evaluations of ``f``); where they agree (a run at the
    limit of floating point), the next check waits twice as many stalled steps."""
    if not stalled:
        return Stalls(0, False, stalls.wait)
    steps, rose, flat = stalls.steps + 1, stalls.rose or rose, stalls.flat + 1
    if steps < stalls.wait or not rose:
        return Stalls(steps, rose, stalls.wait, flat)
    gn = evaluation.grad_norm
    _check_gradient(objective, x, evaluation, (None, -gn * gn, gn))
    return Stalls(0, False, 2 * stalls.wait, flat)


class ArmijoState(NamedTuple):
    step: float
    stalls: Stalls = Stalls()


class ArmijoStep(StepRule):
    """Backtracking line search with sufficient decrease (Armijo, 1966), warm-started.

    Each iteration tries ``t = min(growth * t_prev, max_step)`` and shrinks it by
    ``shrink`` until

    .. math::  f(x - t g) \\le f(x) - c \\, t \\|g\\|^2 .

    Every trial costs one function evaluation (counted in ``nfev``); the accepted point's
    value is handed on to its evaluation with the gradient (one ``njev``), with what the
    trial computed beside it: a function with its own gradient (``grad=callable``) has
    only the gradient called there, one with ``grad=True`` the pair its trial returned
    kept (as SciPy's ``MemoizeJac`` keeps it), a model of data the product with its data
    (``A x``, logits) its trial formed, so that only the gradient's pass is made. So
    ``trials`` function evaluations per iteration. Reference: Nocedal & Wright,
    *Numerical Optimization*, 2nd ed., Algorithm 3.1.

    A wrong gradient makes every search shrink its step until it raises ``f`` by rounding
    alone: after 10 such steps in a row, with a trial over them that raised ``f``, a finite
    difference of ``f`` along ``-g`` that disagrees with the gradient stops the run
    (``GRADIENT_MISMATCH``, as the safeguard's check does; four evaluations of ``f``).
    With a right gradient, at the rounding floor of ``f``, the test passes on rounding alone
    (``f`` unchanged) for steps it cannot tell from no move: after 1,000 such steps in a row
    (:data:`lfso._result.STALL_ITERATIONS`) the run stops ``STALLED`` where it has a
    tolerance to reach (``tol`` or ``atol`` set).

    Parameters
    ----------
    step0 : float > 0
        First trial step.
    c : float in (0, 1)
    shrink : float in (0, 1)
    growth : float >= 1
        Warm start: the previous accepted step times ``growth``.
    max_step : float > 0
        The largest trial step: the warm start is capped there.
    """

    name = "armijo"
    monotone = True

    def __init__(
        self,
        step0: float = 1.0,
        c: float = 1e-4,
        shrink: float = 0.5,
        growth: float = 2.0,
        max_step: float = 1e10,
    ) -> None:
        self.step0 = positive(step0, "step0")
        self.c = open_interval(c, "c", 0.0, 1.0)
        self.shrink = open_interval(shrink, "shrink", 0.0, 1.0)
        self.growth = real(growth, "growth", low=1.0)
        self.max_step = positive(max_step, "max_step")

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> ArmijoState:
        return ArmijoState(self.step0 / self.growth)

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: ArmijoState
    ) -> tuple[Move, ArmijoState]:
        t0 = min(state.step * self.growth, self.max_step)
        new, t, value, product, stalled, rose = _backtrack(
            objective, x, evaluation, t0, evaluation.value, self.c, self.shrink, _SMALLEST_TRIAL
        )
        stalls = _stall_check(objective, x, evaluation, stalled, rose, state.stalls)
        return Move(new, t, value=value, product=product), ArmijoState(t, stalls)

    def _flat_steps(self, state: ArmijoState) -> int:
        return state.stalls.flat


class BBState(NamedTuple):
    x: Any
    grad: Any
    step: float
    recent: tuple[float, ...]
    stalls: Stalls = Stalls()


class BarzilaiBorweinStep(StepRule):
    """Barzilai-Borwein steps with the usual safeguards (``method="bb"``).

    With ``s = x_k - x_{k-1}`` and ``y = g_k - g_{k-1}``:

    .. math::
        t^{\\text{long}} = \\frac{s^T s}{s^T y}, \\qquad t^{\\text{short}} = \\frac{s^T y}{y^T y}

    (Barzilai & Borwein, IMA J. Numer. Anal. 1988). Safeguards, after Raydan's globalised
    BB (SIAM J. Optim. 7, 1997, Algorithm 2.1), which resets a step out of its range
    ``[eps, 1/eps]`` to a moderate value rather than clipping it: the BB step ``t`` is kept
    when it lies in ``[min_step, max_step]`` or when the move it makes, ``t ||g_k||``,
    does; otherwise it is reset so that the move is the nearest end of that range,

    .. math::  t = \\min(\\max(t \\|g_k\\|, \\text{min\\_step}), \\text{max\\_step}) / \\|g_k\\| .

    The move test does not depend on the scale of ``f``: ``f = 10^{14} ||x||^2`` takes
    the BB step ``5 10^{-15}`` as ``f = ||x||^2`` takes ``1/2``. ``s^T y <= 0`` (curvature
    along ``s`` that is not positive, where the BB step would be negative or infinite)
    falls back to ``max_step``, the top of the step's range, as the spectral projected
    gradient method does (Birgin, Martinez & Raydan, SIAM J. Optim. 10, 2000, Algorithm
    SPG2; Raydan 1997 resets it to a moderate value instead): the line search then shrinks
    it, evaluating ``f`` first at ``x - max_step g``, far from ``x`` (an ``f`` that raises
    there, rather than return ``inf`` or NaN, needs a smaller ``max_step``). Where
    ``s^T s`` (``y^T y``) and ``s^T y`` both overflow, their ratio is taken from ``s``
    and ``y`` scaled by ``2^{-540}``. The step is accepted by the non-monotone
    line search of Grippo, Lampariello & Lucidi (1986) over the last ``memory`` values, as
    in Raydan's method, which shrinks it, below ``min_step`` if need be, until

    .. math::  f(x - t g) \\le \\max_{0 \\le j < \\text{memory}} f(x_{k-j}) - c \\, t \\|g\\|^2 .

    The first step is ``step0 / ||g_0||``. A wrong gradient stops the run
    (``GRADIENT_MISMATCH``) as it stops :class:`ArmijoStep`'s, and 1,000 steps in a row
    that lowered ``f`` by no more than its rounding stop it ``STALLED`` as they stop
    :class:`ArmijoStep`'s.

    Parameters
    ----------
    variant : {"long", "short"}
    memory : int >= 1
    c, shrink : float in (0, 1)
        Line-search constants.
    step0 : float > 0
        The first step's length (the step is ``step0 / ||g_0||``).
    min_step, max_step : float > 0, ``min_step <= max_step``
        The range of the BB step, or of the move ``t ||g_k||`` it makes, outside which
        it is reset (not a floor of the line search); ``max_step`` is also the step
        tried where ``s^T y <= 0``.
    """

    oscillates = True

    name = "bb"

    def __init__(
        self,
        variant: str = "long",
        memory: int = 10,
        c: float = 1e-4,
        shrink: float = 0.5,
        step0: float = 1.0,
        min_step: float = 1e-12,
        max_step: float = 1e12,
    ) -> None:
        if variant not in ("long", "short"):
            raise ValueError(f"variant must be 'long' or 'short', got {variant!r}")
        self.variant = variant
        self.memory = integer(memory, "memory", low=1)
        self.c = open_interval(c, "c", 0.0, 1.0)
        self.shrink = open_interval(shrink, "shrink", 0.0, 1.0)
        self.step0 = positive(step0, "step0")
        self.min_step = positive(min_step, "min_step")
        self.max_step = positive(max_step, "max_step")
        if self.min_step > self.max_step:  # (every step would be max_step, accepted unchecked)
            raise ValueError(
                f"min_step must be <= max_step, got min_step={min_step!r} and max_step={max_step!r}"
            )

    def _reset(self, t: float, grad_norm: float) -> float:
        """A step out of ``[min_step, max_step]``: kept if its move ``t ||g||`` is in it."""
        if not 0.0 < grad_norm < math.inf:  # (no move to measure: the step is clipped)
            return min(max(t, self.min_step), self.max_step)
        move = t * grad_norm
        if self.min_step <= move <= self.max_step:
            return t
        # (finite: max_step / ||g|| overflows where ||g|| < max_step / 1.8e308, and the
        # line search would halve an infinite step for ever)
        return min(min(max(move, self.min_step), self.max_step) / grad_norm, _LARGEST)

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> BBState:
        first = self.step0 / max(evaluation.grad_norm, 1e-300)
        return BBState(None, None, first, ())

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: BBState
    ) -> tuple[Move, BBState]:
        t = state.step
        if state.x is not None:
            s, y = x - state.x, evaluation.grad - state.grad
            long = self.variant == "long"
            sy, sq = to_floats(s @ y, s @ s if long else y @ y)  # (one round trip)
            t = math.nan
            if sy > 0.0:
                # (y^T y underflows to 0 where s^T y does not: the short step is then inf)
                t = sq / sy if long else (sy / sq if sq > 0.0 else math.inf)
                if t != t:  # (both products overflowed, inf / inf: the ratio of scaled ones)
                    s, y = s * _DOWN, y * _DOWN
                    sy, sq = to_floats(s @ y, s @ s if long else y @ y)
                    t = sq / sy if long else sy / sq
            if not t == t:  # (s^T y <= 0, or NaN: s or y not finite)
                t = self.max_step
        if not self.min_step <= t <= self.max_step:
            t = self._reset(t, evaluation.grad_norm)
        recent = (*state.recent, evaluation.value)[-self.memory :]
        # (the line search goes below min_step: it accepts no step that fails its test)
        new, t, value, product, stalled, rose = _backtrack(
            objective, x, evaluation, t, max(recent), self.c, self.shrink, _SMALLEST_TRIAL
        )
        stalls = _stall_check(objective, x, evaluation, stalled, rose, state.stalls)
        return Move(new, t, value=value, product=product), BBState(
            x, evaluation.grad, t, recent, stalls
        )

    def _flat_steps(self, state: BBState) -> int:
        return state.stalls.flat
