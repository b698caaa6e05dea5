"""Staged rollout: a pilot beside the current rule, a guarded run that falls back on its
own, and the return on investment in figures.

The workflow a team follows before it stops tuning step sizes, as one call
(:func:`rollout`) or stage by stage:

1. **Pilot** (:func:`pilot`). The current rule (a method of :data:`lfso.METHODS` with its
   options, or SciPy's L-BFGS-B, ``{"method": "scipy:L-BFGS-B"}``, counted by SciPy's own
   ``nfev`` and ``njev``) and LFSO run on the same small task, a row subsample of the data
   (:func:`subsample`) or a short budget. Go / no-go follows explicit
   :class:`GoCriteria`, each checked and recorded (:class:`PilotEvidence`).
2. **Guarded run** (:func:`guarded_minimize`). LFSO runs the full task while a
   :class:`Guard` watches the risk indicators of :mod:`lfso.monitor` (and divergence,
   non-finite values, an oracle error, and a safeguard that gives up: ``STEP_FAILED`` or
   ``GRADIENT_MISMATCH``). When one trips its threshold, the run goes back to the best
   point and the fallback rule finishes it: one
   :class:`GuardedResult`, one history, the hand-over marked (:class:`Handover`). A run
   whose ``f`` stopped changing at the limit of floating point is converged, not stuck (no
   hand-over), and a fallback that ends worse leaves the first stage's point.
3. **Return on investment** (:func:`return_on_investment`). Gradients and seconds the
   current rule's tuning costs (a grid run with :func:`lfso.bench.tune_step`, nothing where the
   current step is already the grid's best, or the user's stated budget), the tuned rule's
   and LFSO's gradients and seconds to the same target, and the ratios with and without the
   tuning (``slower`` where LFSO is), each figure labelled measured, stated or estimated.

:class:`lfso.report.LiveReport` shows all of it in a self-refreshing HTML page while the
run goes (``report=`` of :func:`rollout`).
"""

# The stages, their inputs (GoCriteria, Guard, TuningBudget, DEFAULT_THRESHOLDS) and the
# results they return (Check, PilotEvidence, Handover, GuardedResult, ReturnOnInvestment,
# Rollout). Helpers the stages share (_targets.to_target, _guard.concat_histories,
# _guard.judge_against) stay private: their figures reach users as fields of those results.
from ._guard import DEFAULT_THRESHOLDS as _DEFAULT_THRESHOLDS
from ._guard import Guard, GuardedResult, Handover, guarded_minimize
from ._pilot import Check, GoCriteria, PilotEvidence, decide, pilot
from ._roi import ReturnOnInvestment, TuningBudget, return_on_investment
from ._subsample import subsample
from ._workflow import Rollout, rollout

# (assigned here, each with its docstring, so that the API reference documents them)
DEFAULT_THRESHOLDS = _DEFAULT_THRESHOLDS
"""Risk indicator (and the guard's own ``divergence``) -> firings that trip a
:class:`Guard`: one firing of any; 0 turns one off."""

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Check",
    "GoCriteria",
    "Guard",
    "GuardedResult",
    "Handover",
    "PilotEvidence",
    "ReturnOnInvestment",
    "Rollout",
    "TuningBudget",
    "decide",
    "guarded_minimize",
    "pilot",
    "return_on_investment",
    "rollout",
    "subsample",
]
