"""Monitoring: risk indicators computed as a run goes, and ready-made callbacks.

Risk indicators (each a bit in the history's ``risk`` column, counted in
``Result.risks``, and reported once per run by a :class:`RiskWarning` that says what to
do):

* ``descent`` -- ``f`` rose on a rule that should decrease it (LFSO-GD, Armijo, fixed
  step). A valid oracle makes this impossible for LFSO-GD.
* ``oracle`` -- the observed secant ratio ``||g(x+) - g(x)|| / ||x+ - x||`` exceeded the
  ``L`` the step used: the oracle under-estimated the local smoothness. It costs one dot
  product per iteration, from gradients the run has anyway. It audits the oracles that are
  not proven: a user's ``smoothness=`` (a plain function, or any model whose
  ``audit_oracle`` is true: a built-in model's ball bound resting on a stated ``norm=``,
  ``L0L1Smooth``'s constants); the built-in models' bounds are otherwise proven in their
  docstrings and property-tested, and are audited only with ``monitor="full"``.
* ``collapse`` (step collapse) -- the step fell ``collapse`` (1e-6) times below the
  running median of the last ``window`` steps (once ten are known; a step ``x + t d``
  along a direction other than ``-g`` counts as ``t ||d|| / ||g||``, the gradient step of
  its length, as the run's loop passes it) while the gradient
  norm did not shrink accordingly: it stayed above ``sqrt(collapse)`` (1e-3) times the
  median of the gradient norms those steps were taken at. A step that shrinks with the
  gradient (a run converging into a region of growing curvature) is not a collapse, nor
  is one huge step (out of a region of vanishing curvature), nor a tiny step where a step
  sized by the reported ``L``, or one of the median length, could gain no more than the
  rounding of ``f`` (``||g||^2 / L`` or ``t_median ||g||^2`` within ``descent``'s
  allowance: converged as far as ``f`` can show, where the gradient is rounding and the
  step along it anything; a line search there backtracks to nothing), nor one from the
  rounding floor
  (below); a step that vanishes where the gradient does not is the signature
  of an oracle or line search that has become far too pessimistic, and of a full-batch
  method fed minibatches (its curvature estimates and safeguard see a different function
  at every call; :class:`lfso.torch.LFSO` warns).
* ``stagnation`` -- ``f`` changed by less than ``1e-15 |f|`` over ``window`` iterations.
* ``non_finite`` -- ``f`` or the gradient became NaN or infinite. Where every firing was
  ``f = -inf`` (the run stops ``UNBOUNDED``: the objective appears unbounded below), the
  warning says so, not that the step was too large.
* ``gradient`` -- a finite difference of ``f`` disagreed with the gradient: the
  safeguard's or a line search's along a stalled step's direction, or at a converged
  point above ``f(x0)`` (the run then stops, ``GRADIENT_MISMATCH``).
* ``oscillation`` -- the step went up and down by more than 2x at least 80% of the time
  over ``window`` iterations.

A step taken from a point whose ``||g||`` has fallen to ``descent``'s relative allowance
(``rtol``) of the largest gradient norm seen is at the rounding floor: at an exact fit
``f`` and its gradient are the rounding of residuals that cancel (``f ~ 1e-28`` from
``f(x0) ~ 1e4``), and their changes rounding noise. ``descent``, ``oracle``, ``collapse``
and ``oscillation`` do not count such a step; ``stagnation`` does (the run is at the
limit of floating point: stop it with ``tol``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections import deque
from pathlib import Path
from typing import Any

from ._arrays import namespace, to_float
from ._atomic import GrowingFile
from ._validate import (
    caller_level,
    flag,
    integer,
    nonnegative,
    open_interval,
    real,
    spelt,
    spelt_given,
)

__all__ = [
    "RISKS",
    "CSVLogger",
    "DivergenceStop",
    "EarlyStopping",
    "JSONLinesLogger",
    "RiskMonitor",
    "RiskWarning",
    "TensorBoardLogger",
]

RISKS: dict[str, tuple[int, str]] = {
    "descent": (
        1,
        "f increased on a monotone rule: the step is too large for the "
        "function; for LFSO the oracle is invalid: run lfso.check_oracle on it, "
        "or pass safeguard=True.",
    ),
    "oracle": (
        2,
        "the observed gradient change exceeded the L used: the oracle "
        "under-estimates the smoothness; check it with lfso.check_oracle, or pass "
        "safeguard=True (or smoothness='auto').",
    ),
    "collapse": (
        4,
        "the step collapsed by many orders of magnitude while the gradient did "
        "not: the oracle or line search is too pessimistic here; try lfso-accel, a "
        "sharper oracle, or check for a non-smooth point. A full-batch method fed "
        "minibatches fails this way: use a stochastic method (lfso.torch.StochasticLFSO).",
    ),
    "stagnation": (
        8,
        "f stopped changing: the run is at the limit of floating point or "
        "stuck; loosen tol or check the gradient.",
    ),
    "non_finite": (
        16,
        "f or the gradient became NaN/inf: the step was too large (or the "
        "model overflows); use the safeguard or a smaller eta/step.",
    ),
    "gradient": (
        64,
        "f rose along steps its gradient says descend, and a finite difference of f "
        "disagreed with the gradient: the gradient is likely wrong (or f is not "
        "differentiable there); check it with lfso.check_grad(fun, x, grad=grad).",
    ),
    "oscillation": (
        32,
        "the step size oscillates: usual for Barzilai-Borwein; for other "
        "rules the local curvature estimate is unstable.",
    ),
}
"""Risk indicator name -> (its bit in ``History.risk``, the advice its warning gives)."""


# ``stagnation`` fires where ``f`` changed by at most this times ``|f|`` over the window
# (the guard of lfso.rollout reads it too).
STAGNATION_RTOL = 1e-15

#: ``non_finite``'s advice where each firing was ``f = -inf`` (:meth:`RiskMonitor.warn`).
_UNBOUNDED_ADVICE = (
    "f fell to -inf: the objective appears unbounded below; no step size or safeguard "
    "cures that: check the objective (a sign, a missing term or constraint) or bound it "
    "below."
)

#: ``descent``'s and ``oracle``'s advice where the safeguard was on (:meth:`RiskMonitor.warn`):
#: not to pass ``safeguard=True`` but to fix the oracle (``fix``: what, the model's own).
_GUARDED_ADVICE = {
    "descent": (
        "f increased on a monotone rule although the safeguard was on (it rolled back "
        "{rollbacks} trial step{s}): for LFSO the oracle is invalid: {fix}."
    ),
    "oracle": (
        "the observed gradient change exceeded the L used: the oracle under-estimates the "
        "smoothness. The safeguard was on: it rolled back {rollbacks} trial step{s} whose "
        "claimed decrease f did not show, and shortened the steps after them, which keeps f "
        "from rising but not the run from crawling; {fix}."
    ),
}
#: The oracle's cure where its model names none (:attr:`lfso.models.Model._oracle_advice`).
_FIX = "check it with lfso.check_oracle, or pass smoothness='auto'"

_INF = math.inf
_TINY = 2.0**-1022  # float64's smallest normal number


class RiskWarning(RuntimeWarning):
    """A risk indicator fired during a run (the message says what to do)."""


class RiskMonitor:
    """Per-iteration risk indicators; the loop calls :meth:`observe` after each step.

    Parameters
    ----------
    monotone : bool
        The rule promises ``f`` decreases (enables ``descent``).
    gradient_step : bool
        The move is ``x+ = x - t g`` from the previous iterate and its ``L`` is claimed to
        be a bound (enables ``oracle``).
    window : int >= 1
        Iterations for ``stagnation`` and ``oscillation``.
    oscillation : bool
        Watch for ``oscillation`` (off for rules whose step follows the curvature along
        the direction, ``StepRule.oscillates``: there it is the rule working, not a risk).
    collapse : float in (0, 1)
        Ratio for ``collapse``: the step fell below ``collapse`` times the median of the
        last ``window`` steps while ``||g||`` stayed above ``sqrt(collapse)`` times the
        median of the gradient norms they were taken at, and a step sized by the reported
        ``L``, and one of the median length, could still gain more than the rounding of
        ``f`` (``||g||^2 / L`` and ``t_median ||g||^2``, against ``descent``'s allowance):
        at the limit of floating point a tiny step is not a collapse.
    rtol : float >= 0
        Relative rounding allowance on ``f`` for ``descent`` (1e-12 in float64; 8 ulps
        in float32). A model that bounds its value's rounding (``Model.value_error``:
        :class:`~lfso.models.LpRegression` does, a sum of ``n`` terms whose rounding is
        about ``n eps`` of their absolute sum, and more where the residuals are at rounding
        level) widens it by ``observe``'s ``allowance``. A step from a gradient norm
        within ``rtol`` of the largest seen is at the rounding floor (see the module's
        notes), where only ``stagnation`` and ``non_finite`` count.

    Examples
    --------
    :func:`lfso.minimize` runs one (``monitor=``); by hand, an iteration whose ``f`` rose:

    >>> import numpy as np
    >>> from lfso.monitor import RISKS, RiskMonitor
    >>> monitor = RiskMonitor(monotone=True, gradient_step=True)
    >>> g0, g1 = np.array([1.0, 0.0]), np.array([0.5, 0.0])
    >>> flags = monitor.observe(0, 1.0, 2.0, g0, g1, 1.0, 0.5, step=1.0, lipschitz=1.0)
    >>> flags == RISKS["descent"][0], monitor.summary()
    (True, {'descent': {'count': 1, 'first': 0}})
    """

    def __init__(
        self,
        *,
        monotone: bool,
        gradient_step: bool,
        window: int = 50,
        collapse: float = 1e-6,
        rtol: float = 1e-12,
        oscillation: bool = True,
    ) -> None:
        self.monotone = bool(flag(monotone, "monotone"))  # ("no" is no False)
        self.gradient_step = bool(flag(gradient_step, "gradient_step"))
        self.rtol = nonnegative(rtol, "rtol")
        self.oscillation = bool(flag(oscillation, "oscillation"))
        self.collapse = open_interval(collapse, "collapse", 0.0, 1.0)
        self.window = integer(window, "window", low=1)
        self.counts: dict[str, int] = {}
        self.first: dict[str, int] = {}
        self._unbounded = True  # (every non_finite firing so far was f = -inf)
        self._max_step = 0.0  # the largest step so far (a cheap test before the medians)
        self._max_gnorm = 0.0  # the largest finite ||g|| so far (the gradients' scale)
        # (||g+|| ||g||, ||g||) where the gradients' dot product underflows, overflows
        self._dot_range: tuple[float, float] | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=self.window)  # (t, ||g||)
        self._last_step = math.nan
        self._last_ratio = math.nan
        self._swings: deque[int] = deque(maxlen=self.window)  # O(1) per iteration
        self._swing_sum = 0
        self._f: deque[float] = deque(maxlen=self.window)
        #: The largest ``||g+ - g|| / (L ||x+ - x||)`` over the audited steps (``oracle``'s
        #: test, which fires above 1), and of the curvature along the step over ``L`` for
        #: the steps :meth:`along` measures; NaN before the first. Far below 1 at the end of
        #: a run, the oracle's ``L`` was that much larger than any curvature the steps met.
        #: (On PyTorch tensors :meth:`along`'s part is kept on the device until
        #: :meth:`settle`, which the run calls at its end.)
        self.secant_ratio = math.nan
        self._pending: Any = None  # (the largest of along's ratios on the device, or -inf)

    def _rounding(self, f: float, allowance: float) -> float:
        """The rounding of ``f`` :meth:`observe` allows (``descent``'s)."""
        return max(self.rtol * abs(f), allowance)

    def _settled(
        self, f: float, gnorm: float, lipschitz: float, allowance: float, typical: float
    ) -> bool:
        """Whether a step sized by ``L`` (``||g||^2 / L``), or one as long as the recent
        steps' median ``typical`` (``typical ||g||^2``: a rule that reports no ``L``, a line
        search), could gain no more than the rounding of ``f`` (at least float64's smallest
        normal number: below it, gradual underflow's): converged as far as ``f`` can show,
        where a tiny step is no ``collapse``."""
        # (below float64's smallest normal number, f and the gains are underflow's rounding)
        rounding = max(self._rounding(f, allowance), _TINY)
        if gnorm * typical * gnorm <= rounding:
            return True
        return 0.0 < lipschitz < _INF and gnorm / lipschitz * gnorm <= rounding

    def note(self, name: str, k: int) -> None:
        """Count an indicator the step rule raised (``gradient``: the safeguard's check)."""
        self._fire(name, k)

    def _fire(self, name: str, k: int) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.first.setdefault(name, k)
        return RISKS[name][0]

    def observe(
        self,
        k: int,
        f_prev: float,
        f_new: float,
        grad_prev: Any,
        grad_new: Any,
        gnorm_prev: float,
        gnorm_new: float,
        step: float,
        lipschitz: float,
        dot: float | None = None,
        allowance: float = 0.0,
    ) -> int:
        """Flags (bit mask) for iteration ``k``; O(1) work plus one dot product.

        ``dot`` is ``grad_new @ grad_prev`` if the caller already has it (the loop asks the
        model for it with the evaluation, a probe); otherwise it is computed here.
        ``allowance`` bounds the rounding of ``f_prev`` and ``f_new`` together (absolute;
        the loop takes it from the model's ``value_error``): ``descent`` fires where ``f``
        rose by more than it and ``rtol |f_prev|``.
        """
        flags = 0
        if self._max_gnorm < gnorm_prev < _INF:
            self._max_gnorm = gnorm_prev
        if not (-_INF < f_new < _INF and -_INF < gnorm_new < _INF):  # (NaN fails both)
            self._unbounded = self._unbounded and f_new == -_INF
            return self._fire("non_finite", k)
        # A step from a gradient at the rounding of the largest seen (an exact fit: f, its
        # gradient and their changes are rounding) can show no rise, secant or swing.
        floor = gnorm_prev <= self.rtol * self._max_gnorm
        if self.monotone and not floor and f_new > f_prev + self._rounding(f_prev, allowance):
            flags |= self._fire("descent", k)
        if self.gradient_step and lipschitz == lipschitz and step > 0.0 < gnorm_prev and not floor:
            secant = self._secant(grad_prev, grad_new, gnorm_prev, gnorm_new, dot)
            if secant > lipschitz * step * (1.0 + 1e-6):
                flags |= self._fire("oracle", k)
            if lipschitz * step > 0.0 and not secant / (lipschitz * step) <= self.secant_ratio:
                self.secant_ratio = secant / (lipschitz * step)
        if step > 0.0:  # (False for NaN)
            recent = self._recent
            # The median is at most the largest step: sort only when the step is that small.
            if step < self.collapse * self._max_step and len(recent) >= 10:
                middle = len(recent) // 2
                steps = sorted(t for t, _ in recent)[middle]
                gnorms = sorted(g for _, g in recent)[middle]
                if (
                    step < self.collapse * steps
                    and gnorm_prev > math.sqrt(self.collapse) * gnorms
                    and not floor
                    and not self._settled(f_prev, gnorm_prev, lipschitz, allowance, steps)
                ):
                    flags |= self._fire("collapse", k)
            recent.append((step, gnorm_prev))
            if step > self._max_step:
                self._max_step = step
            if self.oscillation:  # (the swings are kept only where they can fire)
                flags |= self._swing(k, step, floor)
        fs = self._f
        if len(fs) == self.window and abs(fs[0] - f_new) <= STAGNATION_RTOL * abs(f_new):
            flags |= self._fire("stagnation", k)
        fs.append(f_new)
        return flags

    def along(self, curvature: float, lipschitz: float, gnorm_prev: float) -> None:
        """Fold into :attr:`secant_ratio` the ``curvature`` a step met along itself
        (``|(g+ - g) . (x+ - x)| / ||x+ - x||^2``) over the ``L`` it was sized by: a step
        that is not ``x - t g`` from the last iterate (momentum), or whose ``L`` bounds the
        curvature along the step alone (a segment's), where ``oracle``'s test does not
        apply. A step from a gradient norm ``gnorm_prev`` at the rounding floor (see the
        module's notes) is not counted, as in the audit. ``curvature`` may be a 0-d array
        on a device (PyTorch's): its ratio is then kept there, the largest so far, with no
        host round trip, and folded in by :meth:`settle`."""
        if gnorm_prev <= self.rtol * self._max_gnorm or not 0.0 < lipschitz < _INF:
            return
        if not isinstance(curvature, float):
            ratio, pending = curvature / lipschitz, self._pending
            if pending is None:
                pending = namespace(ratio).full_like(ratio, -_INF)
            # (NaN, the step did not move x: not greater, not kept)
            self._pending = namespace(ratio).where(ratio > pending, ratio, pending)
        elif not curvature / lipschitz <= self.secant_ratio:
            if curvature == curvature:  # (NaN: the step did not move x)
                self.secant_ratio = curvature / lipschitz

    def settle(self) -> None:
        """Fold the ratios :meth:`along` kept on a device into :attr:`secant_ratio` (one
        host round trip, at the end of a run)."""
        if self._pending is None:
            return
        ratio, self._pending = to_float(self._pending), None
        if ratio > -_INF and not ratio <= self.secant_ratio:
            self.secant_ratio = ratio

    def _secant(
        self, grad_prev: Any, grad_new: Any, gnorm_prev: float, gnorm_new: float, dot: Any
    ) -> float:
        """``||g+ - g|| / ||g||`` (``||x+ - x|| = t ||g||``) from one dot product ``g+ . g``
        (``dot`` where the caller has it) in the gradients' dtype, where it can neither
        overflow nor underflow; where it could underflow (``||g+|| ||g||`` within ``1 / eps``
        of the dtype's smallest normal number: a run whose ``f`` is about 1e-300, or 1e-40
        in float32), from the dot product of the gradients scaled by ``1 / ||g||``; where
        it could overflow, ``||g+|| / ||g|| - 1`` (a lower bound)."""
        a = gnorm_new / gnorm_prev
        if self._dot_range is None:
            finfo = namespace(grad_prev).finfo(grad_prev.dtype)
            self._dot_range = (
                float(finfo.smallest_normal) / float(finfo.eps),
                math.sqrt(float(finfo.max)) / 1e4,
            )
        low, high = self._dot_range
        if not (gnorm_new < high and gnorm_prev < high and a < high):
            return a - 1.0  # ||g+ - g|| >= ||g+|| - ||g||
        if gnorm_new == 0.0 or gnorm_new * gnorm_prev > low:
            c = (to_float(grad_new @ grad_prev) if dot is None else dot) / gnorm_prev / gnorm_prev
        else:
            c = to_float((grad_new / gnorm_prev) @ (grad_prev / gnorm_prev))
        return math.sqrt(max(a * a + 1.0 - 2.0 * c, 0.0))

    def _swing(self, k: int, step: float, floor: bool = False) -> int:
        """Record whether the step ``step > 0`` went up (down) more than 2x right after
        going down (up) more than 2x (never where it was taken from a gradient at the
        rounding floor, ``floor``); the ``oscillation`` flag where at least 80% of the last
        ``window`` steps did."""
        ratio = step / self._last_step if self._last_step > 0.0 else math.nan
        last = self._last_ratio
        swing = int(not floor and ((last > 2.0 and ratio < 0.5) or (last < 0.5 and ratio > 2.0)))
        swings = self._swings
        if len(swings) == self.window:
            self._swing_sum -= swings[0]
        swings.append(swing)
        self._swing_sum += swing
        self._last_step, self._last_ratio = step, ratio
        if len(swings) == self.window and self._swing_sum >= 0.8 * self.window:
            return self._fire("oscillation", k)
        return 0

    def summary(self) -> dict[str, dict[str, int]]:
        """``{name: {"count": n, "first": k}}`` for the indicators that fired."""
        return {n: {"count": c, "first": self.first[n]} for n, c in self.counts.items()}

    def warn(
        self, method: str, *, guarded: bool = False, rollbacks: int = 0, fix: str = ""
    ) -> None:
        """One :class:`RiskWarning` per indicator that fired (``non_finite``'s advice is
        that the objective appears unbounded below where each of its firings was
        ``f = -inf``). ``guarded``: the run's steps were safeguarded (it rolled back
        ``rollbacks`` trial steps), so ``descent`` and ``oracle`` advise fixing the oracle
        as ``fix`` says (default: check it, or the automatic oracle), not the safeguard."""
        advice = self.advice(guarded=guarded, rollbacks=rollbacks, fix=fix)
        for name, count in self.counts.items():
            warnings.warn(
                RiskWarning(
                    f"{method}: risk '{name}' fired {count} time(s), first at iteration "
                    f"{self.first[name]}: {_spelt_advice(advice[name])}"
                ),
                stacklevel=caller_level(),  # (the user's call, through any face)
            )

    def advice(self, *, guarded: bool = False, rollbacks: int = 0, fix: str = "") -> dict[str, str]:
        """What :meth:`warn` advises for each indicator that fired (the same arguments), in
        lfso's own names: ``{indicator: advice}``."""
        advice = {}
        for name in self.counts:
            advice[name] = RISKS[name][1]
            if name == "non_finite" and self._unbounded:
                advice[name] = _UNBOUNDED_ADVICE
            elif guarded and name in _GUARDED_ADVICE:
                advice[name] = _GUARDED_ADVICE[name].format(
                    rollbacks=rollbacks, fix=fix or _FIX, s="" if rollbacks == 1 else "s"
                )
        return advice


def _spelt_advice(advice: str) -> str:
    """A risk's advice in the names of the face that started the run (the SciPy face's
    ``grad=jac`` and ``options={'safeguard': True}``)."""
    return (
        advice.replace("grad=grad)", f"grad={spelt('grad')})")
        .replace("safeguard=True", spelt_given("safeguard", "True"))
        .replace("smoothness='auto'", spelt_given("smoothness", "'auto'"))
    )


def _row(intermediate_result: Any) -> dict[str, Any]:
    r = intermediate_result
    h = r.history  # (its newest row only, in O(1): a long run's logging stays linear)
    return {
        "iteration": r.nit,
        "f": r.fun,
        "grad_norm": r.grad_norm,
        "step": h.last("step"),
        "L": h.last("L"),
        "R": h.last("R"),
        "nfev": r.nfev,
        "njev": r.njev,
        "time": h.last("time"),
    }


class CSVLogger:
    """Callback writing one CSV row per iteration (``iteration, f, grad_norm, step, L, R,
    nfev, njev, time``). Use as a context manager, or call :meth:`close`.

    The rows go to ``path`` with ``.part`` appended to its name (``run.csv.part``), in the
    same folder, each flushed as it is written, so the log can be watched during the run;
    :meth:`close` (the end of the ``with`` block, whether the run returned or raised)
    moves it over ``path`` in one step. A file already at ``path`` is untouched until then,
    so a process killed during the run leaves it as it was, and the ``.part`` file holding
    the rows so far. A logger that is never closed is closed when it is collected or at
    the interpreter's exit. One logger passed to several runs before it is closed writes
    their rows one run after the other (``iteration`` starts again at 1); a closed logger
    raises a ``ValueError`` at its first row (the run stops ``RAISED``): make a new one.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced if it exists); its folder must exist.

    Examples
    --------
    >>> import csv, os, tempfile
    >>> import numpy as np, lfso
    >>> from lfso.monitor import CSVLogger
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "run.csv")
    ...     with CSVLogger(path) as log:
    ...         res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), callback=log)
    ...     with open(path, newline="") as fh:
    ...         rows = list(csv.DictReader(fh))
    >>> list(rows[0])
    ['iteration', 'f', 'grad_norm', 'step', 'L', 'R', 'nfev', 'njev', 'time']
    >>> len(rows) == res.nit, rows[-1]["iteration"] == str(res.nit)
    (True, True)
    """

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike (the file to write), got {path!r}")
        self._file = GrowingFile(path)
        self._writer: csv.DictWriter | None = None

    def __call__(self, intermediate_result: Any) -> None:
        row = _row(intermediate_result)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row))
            self._writer.writeheader()
        self._writer.writerow(row)

    def close(self) -> None:
        """Move the log over ``path`` (once: later calls do nothing)."""
        self._file.close()

    def __enter__(self) -> CSVLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class JSONLinesLogger(CSVLogger):
    """Callback writing one JSON object per line and iteration (same fields as CSV).

    JSON has no NaN or infinity: a number that is not finite (``L`` and ``R`` of a rule
    that has none, NaN) is written as ``null``, so that every line is standard JSON. The
    file is written as :class:`CSVLogger`'s: to ``path`` + ``.part`` during the run, moved
    over ``path`` by :meth:`close`.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced if it exists); its folder must exist.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np, lfso
    >>> from lfso.monitor import JSONLinesLogger
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "run.jsonl")
    ...     with JSONLinesLogger(path) as log:
    ...         res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), callback=log)
    ...     with open(path) as fh:
    ...         rows = [json.loads(line) for line in fh]
    >>> rows[0]["iteration"], rows[0]["njev"], len(rows) == res.nit
    (1, 2, True)
    """

    def __call__(self, intermediate_result: Any) -> None:
        row = {
            k: v if not isinstance(v, float) or math.isfinite(v) else None
            for k, v in _row(intermediate_result).items()
        }
        self._file.write(json.dumps(row, allow_nan=False) + "\n")


class EarlyStopping:
    """Callback that stops the run (``StopIteration``) once ``f <= target``.

    Parameters
    ----------
    target : float
        The run stops after the first step that ends at ``f <= target``. A callback is
        called after each step, not at the start (SciPy's convention), so a run that
        starts at ``f <= target`` still takes one step and stops with ``nit == 1``.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> from lfso.monitor import EarlyStopping
    >>> res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), callback=EarlyStopping(1e-3))
    >>> res.status.name, bool(res.fun <= 1e-3)
    ('CALLBACK_STOP', True)
    """

    def __init__(self, target: float) -> None:
        # (a NaN target would never stop the run; -inf never does either, +inf at once)
        self.target = real(target, "target", finite=False)

    def __call__(self, intermediate_result: Any) -> None:
        if intermediate_result.fun <= self.target:
            raise StopIteration


class DivergenceStop:
    """Callback that stops the run (``StopIteration``) once ``f`` exceeds ``limit``.

    A guard for trying step sizes that may blow up (the grid of :func:`lfso.bench.tune_step`).
    ``fired`` says whether it stopped the run.

    Parameters
    ----------
    limit : float
        The run stops once ``f`` exceeds it or is NaN.

    Examples
    --------
    A fixed step far too large: the run stops, and returns the best point seen (the start).

    >>> import numpy as np, lfso
    >>> from lfso.monitor import DivergenceStop
    >>> stop = DivergenceStop(1e6)
    >>> res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3), method="gd", step=1.0,
    ...                     callback=stop, monitor="quiet")
    >>> stop.fired, res.status.name, res.fun, sorted(res.risks)
    (True, 'CALLBACK_STOP', 3.0, ['descent'])
    """

    def __init__(self, limit: float) -> None:
        # (a NaN limit would stop every run at its first iteration; inf: only a NaN f stops it)
        self.limit = real(limit, "limit", finite=False)
        self.fired = False

    def __call__(self, intermediate_result: Any) -> None:
        if not intermediate_result.fun <= self.limit:
            self.fired = True
            raise StopIteration


class TensorBoardLogger:
    """Callback logging ``f``, ``||g||``, step, L and R as TensorBoard scalars.

    Needs the ``tensorboard`` extra (``pip install 'lfso[tensorboard]'``, which brings
    tensorboardX); imported only here. Use as a context manager, or call :meth:`close`.

    Parameters
    ----------
    logdir : str or Path
        The folder of the event files (made if it does not exist).
    prefix : str
        The scalars' tags are ``prefix/f``, ``prefix/grad_norm``, ...
    """

    def __init__(self, logdir: str | Path, prefix: str = "lfso") -> None:
        if not isinstance(logdir, (str, os.PathLike)):
            raise TypeError(
                f"logdir must be a str or os.PathLike (the folder of the event files), "
                f"got {logdir!r}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str (the scalars' tag prefix), got {prefix!r}")
        if os.path.exists(logdir) and not os.path.isdir(logdir):
            raise ValueError(
                "logdir must be a folder (the folder of the event files, made if it does not "
                f"exist), got the file logdir={str(logdir)!r}"
            )
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "TensorBoardLogger needs tensorboardX: pip install 'lfso[tensorboard]'"
            ) from exc
        self.writer = SummaryWriter(str(logdir))
        self.prefix = prefix

    def __call__(self, intermediate_result: Any) -> None:
        row = _row(intermediate_result)
        k = row.pop("iteration")
        for key, value in row.items():
            if isinstance(value, float) and math.isfinite(value):
                self.writer.add_scalar(f"{self.prefix}/{key}", value, k)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
