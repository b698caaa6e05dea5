"""``lfso demo``: what LFSO costs against what a user does today, on one page.

Every method runs to the same target, ``||g|| <= tol ||g0||``, and is counted in gradient
evaluations: lfso's certified methods (those of ``lfso-lbfgs``, ``lfso-accel`` and ``lfso``
that the method registry has), the paper's LFSO-GD (the authors' oracle and radius rule),
fixed-step GD at the best step of a grid together with what the whole grid cost, and SciPy's
L-BFGS-B. Risk indicators are recorded per run (``monitor="quiet"``) and reported under the
problem that raised them; a grid step that lands on the minimiser by luck is flagged.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._minimize import minimize
from .._progress import ProgressBar
from .._registry import METHODS
from .._result import Result, stop_if_interrupted
from ..bench._problems import PROBLEMS, Problem, get_problem
from ..bench._tuning import DEFAULT_STEP_GRID
from ..monitor import RISKS, DivergenceStop

# ``lfso demo``; the rest (rows, rendering) is the command's own.
__all__ = ["DEMO_PROBLEMS", "run_demo"]

#: lfso's certified methods, best first; the demo runs those the registry has.
_CERTIFIED = ("lfso-lbfgs", "lfso-accel", "lfso")

#: The paper's problems, and one black box (no hand-made oracle).
DEMO_PROBLEMS: tuple[str, ...] = (
    *(n for n, p in PROBLEMS.items() if "paper" in p.tags),
    "rosenbrock-d5",
)

#: From x0 moved by this fraction (of its scale), a step that is not lucky still converges.
_NUDGE = 0.1
#: The grid stops after this many smaller steps in a row that do worse than the best.
_PATIENCE = 2
#: Nudged starts tried (fixed seeds, so the table is the same on every run).
_NUDGES = 3


def certified_methods() -> list[str]:
    """lfso's certified methods present in :data:`lfso.METHODS`, best first."""
    return [m for m in _CERTIFIED if m in METHODS]


@dataclass
class Outcome:
    """One method on one problem.

    Attributes
    ----------
    status : str
        ``converged``, ``capped`` (stopped at the cap), ``stalled`` (stopped by itself short
        of the target), ``failed`` (diverged, non-finite or no
        descending step) or ``n/a`` (does not apply; ``reason`` says why).
    njev : int
        Gradient evaluations of the run.
    accuracy : float
        Best ``||g|| / ||g0||`` reached.
    risks : dict
        ``Result.risks`` of the run.
    step, grid_njev : float, int
        Grid-tuned GD: the best step and the gradients the whole grid cost.
    lucky_njev : int or None
        Grid-tuned GD whose best run landed on the minimiser by luck: gradients the same step
        needs from ``x0`` nudged by 10 % (``-1``: it did not converge there either).
    """

    status: str
    njev: int = 0
    accuracy: float = math.nan
    reason: str = ""
    risks: dict[str, dict[str, int]] = field(default_factory=dict)
    step: float | None = None
    grid_njev: int | None = None
    grid_runs: int = 0
    lucky_njev: int | None = None

    @property
    def converged(self) -> bool:
        return self.status == "converged"


@dataclass
class DemoRow:
    """A problem and its outcome per method (label -> :class:`Outcome`)."""

    problem: Problem
    outcomes: dict[str, Outcome]


def _outcome(res: Result) -> Outcome:
    stop_if_interrupted(res, "a demo run")  # (Ctrl-C stops the demo, not only this run)
    g = res.history.grad_norm
    finite = np.isfinite(g) & np.isfinite(res.history.f)
    status = "converged" if res.success else "capped"
    if res.status.name in ("STALLED", "PRECISION_LIMIT"):  # (stopped by itself, short of tol)
        status = "stalled"
    failed = ("NON_FINITE", "STEP_FAILED", "GRADIENT_MISMATCH", "CALLBACK_STOP", "DIVERGED")
    if not finite[-1] or res.status.name in failed:
        status = "failed"
    accuracy = float(np.min(g[finite]) / g[0]) if finite.any() else math.inf
    return Outcome(status, res.njev, accuracy, risks=dict(res.risks))


def _nudged(x0: np.ndarray, seed: int) -> np.ndarray:
    scale = max(float(np.max(np.abs(x0))), 1.0)
    return x0 + _NUDGE * scale * np.random.default_rng(seed).standard_normal(x0.shape)


def _grid_gd(model: Any, x0: np.ndarray, cap: int, tol: float) -> Outcome:
    """Fixed-step GD over :data:`lfso.bench.DEFAULT_STEP_GRID`, largest step first.

    A frugal tuner: a run is stopped once it has spent as many gradients as the best
    converged run so far (it can no longer win) or once ``f`` exceeds
    ``1e6 max(|f(x0)|, 1)`` (diverged), and the grid stops after :data:`_PATIENCE` steps in a
    row that did worse than the best. The grid's cost is what these runs spent: a naive grid,
    every step run to the cap, costs more.
    """
    limit = 1e6 * max(abs(model.value(x0)), 1.0)
    best: tuple[float, Outcome] | None = None
    spent = runs = worse = 0
    for step in sorted(DEFAULT_STEP_GRID, reverse=True):  # diverging steps stop at once
        budget = cap if best is None or not best[1].converged else best[1].njev
        guard = DivergenceStop(limit)
        res = minimize(
            model,
            x0,
            method="gd",
            step=step,
            tol=tol,
            max_iter=budget - 1,
            callback=guard,
            monitor="quiet",
            progress=False,
        )
        spent += res.njev
        runs += 1
        out = _outcome(res)
        if guard.fired:
            out.status = "failed"
        if out.status == "failed":
            continue
        if best is None or _better(out, best[1]):
            best, worse = (step, out), 0
        else:
            worse += 1
            if worse >= _PATIENCE:
                break
    if best is None:
        return Outcome("failed", grid_njev=spent, grid_runs=runs, reason="every step diverged")
    step, out = best
    out.step, out.grid_njev, out.grid_runs = step, spent, runs
    if out.converged:  # lucky landing: the same step from nudged starts
        worst = 0
        for seed in range(_NUDGES):
            again = minimize(
                model,
                _nudged(x0, seed),
                method="gd",
                step=step,
                tol=tol,
                max_iter=min(cap, 10 * out.njev + 10) - 1,
                callback=DivergenceStop(limit),
                monitor=False,
                progress=False,
            )
            stop_if_interrupted(again, "a demo run")
            if not again.success:
                worst = -1
                break
            worst = max(worst, again.njev)
        if worst < 0 or worst > 10 * out.njev:
            out.lucky_njev = worst
    return out


def _better(a: Outcome, b: Outcome) -> bool:
    if a.converged != b.converged:
        return a.converged
    return a.njev < b.njev if a.converged else a.accuracy < b.accuracy


def _scipy_lbfgs(problem: Problem, model: Any, x0: np.ndarray, cap: int, tol: float) -> Outcome:
    from ..bench._harness import lbfgs_record

    rec = lbfgs_record(problem, model, x0, cap, tol)
    return Outcome(rec.status, rec.njev, rec.accuracy)


def _run(problem: Problem, label: str, cap: int, tol: float) -> Outcome:
    if label == "paper":
        if not problem.has_oracle or problem.family == "robust":
            return Outcome("n/a", reason="the paper has no oracle for this function")
        model, x0 = problem.make("paper")
        options: dict[str, Any] = {"radius": "paper"}
    else:
        model, x0 = problem.make("sharp")
        options = {"method": label} if label in METHODS else {}
    if label == "gd":
        return _grid_gd(model, x0, cap, tol)
    if label == "L-BFGS-B":
        return _scipy_lbfgs(problem, model, x0, cap, tol)
    try:
        res = minimize(
            model, x0, tol=tol, max_iter=cap - 1, monitor="quiet", progress=False, **options
        )
    except (TypeError, ValueError):  # a method that needs a hand-made oracle
        if problem.has_oracle:
            raise
        return Outcome("n/a", reason=f"{label} needs a hand-made oracle; this function has none")
    return _outcome(res)


def run_demo(
    names: Sequence[str] = DEMO_PROBLEMS,
    *,
    cap: int = 10_000,
    tol: float = 1e-8,
    gd: bool = True,
    progress: bool | None = None,
) -> list[DemoRow]:
    """Run every demo method on each named problem (an overall progress bar on a terminal).

    Parameters
    ----------
    names : sequence of str
        Problem names (:data:`lfso.bench.PROBLEMS`).
    cap : int
        Gradient evaluations allowed per run (``>= 2``; the start's is one of them).
    tol : float
        Target ``||g|| <= tol ||g0||`` (``0 < tol < 1``).
    gd : bool
        Include grid-tuned fixed-step GD (the slowest part).
    progress : bool or None
        Show the overall progress bar (``None``: only on a terminal).

    Returns
    -------
    list of DemoRow
        One row per problem; :func:`render` turns them into the table, legend, notes and
        summary that ``lfso demo`` prints.

    Examples
    --------
    >>> from lfso.cli._demo import run_demo
    >>> [row] = run_demo(["power_sum-p1"], cap=200, gd=False)
    >>> row.outcomes["lfso"].status, row.outcomes["lfso"].njev
    ('converged', 2)
    """
    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 2:
        raise ValueError(f"cap must be an integer >= 2 (gradient evaluations per run), got {cap!r}")
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be in (0, 1) (a fraction of ||g0||), got {tol!r}")
    problems = [get_problem(n) for n in names]
    labels = [*certified_methods(), "paper", *(["gd"] if gd else []), "L-BFGS-B"]
    bar = ProgressBar(len(problems) * len(labels), "lfso demo", enabled=progress)
    rows = []
    try:
        for problem in problems:
            outcomes = {}
            for label in labels:
                bar.update(0, f"{problem.name} / {label}")
                outcomes[label] = _run(problem, label, cap, tol)
                bar.update(1, f"{problem.name} / {label}")
            rows.append(DemoRow(problem, outcomes))
    finally:
        bar.close()
    return rows


_TITLES = {
    "lfso-lbfgs": "lfso-lbfgs",
    "lfso-accel": "lfso-accel",
    "lfso": "lfso",
    "paper": "paper",
    "gd": "GD tuned",
    "L-BFGS-B": "L-BFGS-B",
}


def _cell(out: Outcome) -> str:
    if out.status == "converged":
        text = f"{out.njev}"
    elif out.status == "capped":
        text = f"cap {out.accuracy:.0e}"
    elif out.status == "stalled":
        text = f"stop {out.accuracy:.0e}"
    else:
        text = out.status
    if out.lucky_njev is not None:
        text += " lucky"
    if out.risks:
        text += " !"
    return text


def _wins(rows: list[DemoRow], a: str, b: str) -> tuple[list[str], list[str]]:
    """Problems where method ``a`` needs fewer gradients than ``b`` (or only ``a`` converges),
    and those where it needs more (or only ``b`` converges); lucky landings do not count."""
    wins, losses = [], []
    for row in rows:
        x, y = row.outcomes.get(a), row.outcomes.get(b)
        if x is None or y is None or "n/a" in (x.status, y.status):
            continue
        y_ok = y.converged and y.lucky_njev is None
        if x.converged and (not y_ok or x.njev < y.njev):
            wins.append(row.problem.name)
        elif y_ok and (not x.converged or y.njev < x.njev):
            losses.append(row.problem.name)
    return wins, losses


def _names(names: list[str], limit: int = 6) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def render(rows: list[DemoRow], *, cap: int = 10_000, tol: float = 1e-8) -> str:
    """The table, its legend, the notes per problem and a summary, as plain text."""
    labels = list(rows[0].outcomes) if rows else []
    lines = _table(rows, labels, cap=cap, tol=tol)
    table_end = len(lines)
    lines += ["", "Columns:", *_legend(labels, cap=cap, tol=tol)]
    notes = _notes(rows)
    if notes:
        lines += ["", "Notes, by problem:", *notes]

    lines += ["", *summary(rows)]
    # The table keeps its width; the prose below it wraps at 100 columns, each continuation
    # under the text of its legend line, note or summary bullet.
    indents = {"Columns:": 15, "Marks:": 15, "Notes, by problem:": 6, "Summary": 2}
    indent, prose = 0, []
    for line in lines[table_end:]:
        indent = indents.get(line, indent)
        prose.append(textwrap.fill(line, width=100, subsequent_indent=" " * indent) or line)
    return "\n".join(lines[:table_end] + prose)


def _table(rows: list[DemoRow], labels: list[str], *, cap: int, tol: float) -> list[str]:
    """The title and the table: gradients per problem and method (GD's step and grid)."""
    width = max([24, *(len(r.problem.name) for r in rows)])
    lines = [
        f"Gradient evaluations to reach ||g|| <= {tol:g} ||g0|| (fewer is better; "
        f"each run capped at {cap} gradient evaluations)",
        "",
    ]
    header = f"{'problem':{width}}" + "".join(f" {_TITLES[x]:>14}" for x in labels)
    if "gd" in labels:
        header += f" {'GD step':>8} {'grid cost':>10}"
    lines += [header, "-" * len(header)]
    for row in rows:
        line = f"{row.problem.name:{width}}" + "".join(
            f" {_cell(row.outcomes[x]):>14}" for x in labels
        )
        if "gd" in labels:
            gd = row.outcomes["gd"]
            step = f"{gd.step:.0e}" if gd.step is not None else "-"
            grid = str(gd.grid_njev) if gd.grid_njev is not None else "-"
            line += f" {step:>8} {grid:>10}"
        lines.append(line)
    return lines


def _legend(labels: list[str], *, cap: int, tol: float) -> list[str]:
    """What each column and each mark in the table means."""
    about = {
        "lfso-lbfgs": "lfso's default: L-BFGS directions with certified steps (no tuning)",
        "lfso-accel": "lfso, accelerated (FISTA epochs with certified steps; no tuning)",
        "lfso": "LFSO-GD, steps certified along the segment they travel (no tuning)",
        "paper": "the paper's LFSO-GD: the authors' oracle and radius rule (their loop)",
        "gd": "fixed-step gradient descent at the best step (GD step) of the grid "
        f"{max(DEFAULT_STEP_GRID):.0e}, {sorted(DEFAULT_STEP_GRID)[-2]:.0e}, ..., "
        f"{min(DEFAULT_STEP_GRID):.0e}, tried largest first; grid cost = gradients all the "
        "runs spent, each stopped once it diverged or could no longer beat the best, the grid "
        f"stopped after {_PATIENCE} steps in a row did worse (a naive grid costs more)",
        "L-BFGS-B": "SciPy's L-BFGS-B with the gradient, stopped at the same target "
        "(one gradient per function call; not certified, needs no step)",
    }
    lines = [f"  {_TITLES[x]:<12} {about[x]}" for x in labels]
    lines += [
        "Marks:",
        "  123          converged with 123 gradient evaluations",
        f"  cap 3e-04    stopped at the cap ({cap} gradient evaluations) with ||g|| down to "
        f"3e-04 ||g0|| only (the target is {tol:g})",
        "  stop 1e-07   stopped by itself short of the target, ||g|| at 1e-07 ||g0|| (SciPy: "
        "its line search found no lower f in floating point)",
        "  failed       diverged (f blew up or became NaN) or found no descending step",
        "  n/a          the method does not apply here (see the notes)",
        "  lucky        the grid's best step works from this x0 by luck (e.g. it lands on the "
        "minimiser): from x0 nudged by 10% (3 tries) the same step needs over 10x the "
        "gradients or fails (see the notes)",
        "  !            a risk indicator fired during the run (see the notes)",
    ]
    return lines


def _notes(rows: list[DemoRow]) -> list[str]:
    """Per problem and method: why it does not apply, a lucky step, the risks that fired."""
    notes: list[str] = []
    for row in rows:
        for label, out in row.outcomes.items():
            who = f"  {row.problem.name} / {_TITLES[label]}:"
            if out.status == "n/a":
                notes.append(f"{who} n/a: {out.reason}")
            if out.lucky_njev is not None:
                after = f"needs {out.lucky_njev}" if out.lucky_njev >= 0 else "does not converge in"
                notes.append(
                    f"{who} lucky: step {out.step:.0e} converges in {out.njev} from x0 but "
                    f"{after} {10 * out.njev} gradients from x0 nudged by 10%"
                )
            for name, info in out.risks.items():
                meaning = RISKS[name][1].split(":")[0]
                notes.append(
                    f"{who} risk '{name}' fired {info['count']}x from iteration "
                    f"{info['first']} ({meaning})"
                )
    return notes


def summary(rows: list[DemoRow]) -> list[str]:
    """A few plain sentences: what tuning cost, what lfso cost, where it wins and loses."""
    if not rows:
        return ["Summary: no problems were run."]
    labels = list(rows[0].outcomes)
    lines = ["Summary"]
    lfso = next((m for m in _CERTIFIED if m in labels), None)
    n = len(rows)
    if "gd" in labels:
        grid = sum(r.outcomes["gd"].grid_njev or 0 for r in rows)
        ok = sum(r.outcomes["gd"].converged for r in rows)
        lucky = sum(r.outcomes["gd"].lucky_njev is not None for r in rows)
        lines.append(
            f"- Tuning GD's step cost {grid:,} gradient evaluations over {n} "
            f"problem{'s' if n != 1 else ''}; "
            f"even at its best step GD reached the target on {ok} of {n}"
            + (f" ({lucky} by a lucky landing)." if lucky else ".")
        )
    if lfso is not None:
        runs = [r.outcomes[lfso] for r in rows if r.outcomes[lfso].status != "n/a"]
        converged = sum(o.converged for o in runs)
        lines.append(
            f"- {lfso} needs no tuning: it reached the target on {converged} of {len(runs)} "
            f"problems it applies to, with {sum(o.njev for o in runs):,} gradient "
            "evaluations in all (one run each)."
        )
        for other, name in (("gd", "tuned GD's best run"), ("L-BFGS-B", "SciPy's L-BFGS-B")):
            if other not in labels:
                continue
            wins, losses = _wins(rows, lfso, other)
            lines.append(
                f"- Against {name}: {lfso} wins on {len(wins)} ({_names(wins)}), "
                f"loses on {len(losses)} ({_names(losses)})."
            )
    lines.append(
        "- The full numbers (every method, f - f*, time, figures): "
        "lfso bench --suite paper --out DIR; the reading: docs/results.md."
    )
    return lines
