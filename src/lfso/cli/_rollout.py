"""``lfso rollout PROBLEM --current ...``: the staged rollout (:mod:`lfso.rollout`) on a
built-in problem, with the live HTML report. Registered by :mod:`lfso.cli`."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

from .._result import stop_if_interrupted
from ..monitor import RISKS
from ._common import (
    LFSO_METHODS,
    UsageError,
    _check_run,
    _Help,
    _integer,
    _number,
    _oracle,
    _oracle_for,
    _output_file,
    _positive,
    _problem,
    _tolerance,
    _with_oracle,
)

if TYPE_CHECKING:
    from ..rollout import Guard, TuningBudget

# Plumbing of ``lfso rollout`` (add_rollout_parser, parse_rule: the CLI's own).
__all__ = ["run_rollout"]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_rule(words: list[str], name: str) -> dict[str, Any]:
    """``["gd", "step=1e-3"]`` -> ``{"method": "gd", "step": 0.001}``."""
    if not words or "=" in words[0]:
        raise ValueError(f"{name} must start with a method name, e.g. 'gd step=1e-3', got {words}")
    rule: dict[str, Any] = {"method": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"{name}: options are KEY=VALUE, got {word!r}")
        if key in rule:
            raise ValueError(
                f"{name} {' '.join(words)}: "
                + (
                    f"the method is the first word ({words[0]!r}), not an option"
                    if key == "method"
                    else f"option {key} is given twice; give it once"
                )
            )
        rule[key] = _value(value)
    return rule


def _rows(text: str) -> int | float | None:
    if text == "none":
        return None
    value = _value(text)
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or (isinstance(value, int) and value < 1)
        or (isinstance(value, float) and not 0.0 < value <= 1.0)
    ):
        raise argparse.ArgumentTypeError(
            f"expected a count >= 1, a fraction in (0, 1] or 'none', got {text!r}"
        )
    return value


def _help_formatter() -> Any:

    return _Help


def _thresholds(words: list[str]) -> dict[str, Any]:
    """``["oscillation=3"]`` -> ``{"oscillation": 3}``."""

    thresholds = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"--threshold takes NAME=COUNT, e.g. oscillation=3, got {word!r}")
        if key in thresholds:
            raise UsageError(f"--threshold {key} is given twice ({' '.join(words)}); give it once")
        thresholds[key] = _value(value)
    return thresholds


def add_rollout_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``rollout`` subcommand to ``lfso``'s subparsers."""
    p = subparsers.add_parser(
        "rollout",
        formatter_class=_help_formatter(),
        help="pilot, guarded run with fallback, and the return on investment, with a report",
        description=(
            "Pilot the current rule and lfso on a row subsample (or a short budget), decide "
            "go / no-go by the printed criteria, run lfso on the full problem under a guard "
            "that hands over to the fallback rule from the best point when a risk trips, and "
            "report what tuning the current rule costs against lfso's time to the same target."
        ),
    )
    _task_arguments(p)
    _pilot_arguments(p)
    _roi_arguments(p)
    p.set_defaults(run=run_rollout)
    return p


def _task_arguments(p: argparse.ArgumentParser) -> None:
    """``lfso rollout``'s problem, current and fallback rules, method and oracle."""
    p.add_argument("problem", help="a name from 'lfso problems'")
    p.add_argument(
        "--current",
        nargs="+",
        required=True,
        metavar="METHOD [KEY=VALUE]",
        help="the rule used today, e.g. --current gd step=1e-3, or --current scipy:L-BFGS-B "
        "for SciPy's L-BFGS-B (its gradients counted as SciPy's njev) (required)",
    )
    p.add_argument(
        "--fallback",
        nargs="+",
        metavar="METHOD [KEY=VALUE]",
        help="the rule the guard hands over to, an lfso method or scipy:L-BFGS-B "
        "(default: the current rule)",
    )
    p.add_argument(
        "--method", choices=LFSO_METHODS, default="lfso", help="the lfso method to roll out"
    )
    _oracle(p, "the model's oracle")


def _pilot_arguments(p: argparse.ArgumentParser) -> None:
    """``lfso rollout``'s pilot, budgets, go / no-go criteria and guard."""
    p.add_argument(
        "--pilot-rows",
        type=_rows,
        default=0.2,
        help="rows of the pilot: a count, a fraction, or 'none' for the full problem on the "
        "pilot budget (problems without data rows always use the budget)",
    )
    p.add_argument("--pilot-iter", type=int, default=1000, help="iteration cap of each pilot run")
    p.add_argument("--max-iter", type=int, default=10_000, help="iteration cap of the full run")
    p.add_argument("--tol", type=_number, default=1e-8, help="stop when ||g|| <= tol ||g0||")
    p.add_argument(
        "--target-rtol",
        type=_number,
        default=1e-6,
        help="the pilot's target: the current rule's best f, up to this relative tolerance",
    )
    p.add_argument(
        "--max-gradient-ratio",
        type=_number,
        default=1.0,
        help="go only if lfso needs at most this many times the current rule's gradients",
    )
    p.add_argument(
        "--allow-risk",
        nargs="+",
        default=["stagnation"],
        choices=list(RISKS),
        help="risk indicators the pilot may show without a no-go",
    )
    p.add_argument(
        "--threshold",
        nargs="+",
        default=[],
        metavar="NAME=COUNT",
        help="guard thresholds, e.g. oscillation=3 stagnation=0, where 0 is not watched "
        "(default: the built-in thresholds)",
    )


def _roi_arguments(p: argparse.ArgumentParser) -> None:
    """``lfso rollout``'s return on investment, force and report."""
    p.add_argument(
        "--tuning-gradients",
        type=int,
        default=None,
        help="your tuning budget in gradients (default: measured by a grid)",
    )
    p.add_argument(
        "--tuning-seconds",
        type=_number,
        default=None,
        help="your tuning budget in seconds, with --tuning-gradients (default: estimated "
        "at the current rule's measured time per gradient)",
    )
    p.add_argument("--no-roi", action="store_true", help="skip the return on investment")
    p.add_argument("--force", action="store_true", help="run the guarded stage on no-go too")
    p.add_argument("--report", default="rollout.html", help="the live HTML report")
    p.add_argument(
        "--report-every",
        type=_number,
        default=2.0,
        metavar="SECONDS",
        help="seconds between rewrites of the --report file while the rollout runs",
    )


def run_rollout(args: argparse.Namespace) -> int:
    """Run ``lfso rollout``; exit status 0 on go, 1 on no-go. Every option is checked
    before anything is printed. A guarded run that Ctrl-C stopped ends the command, once
    its summary is printed, with the ``KeyboardInterrupt`` (``lfso: interrupted``, exit
    status 130)."""
    from ..rollout import GoCriteria, rollout

    problem = _problem(args.problem)
    current = parse_rule(args.current, "--current")
    fallback = parse_rule(args.fallback, "--fallback") if args.fallback else None
    _integer("--pilot-iter", args.pilot_iter, 1)
    _integer("--max-iter", args.max_iter, 0)
    _tolerance("--tol", args.tol)
    if not 0.0 <= args.target_rtol < 1.0:
        raise UsageError(f"--target-rtol must be a number >= 0 and < 1, got {args.target_rtol!r}")
    _positive("--max-gradient-ratio", args.max_gradient_ratio)
    guard = _guard(args)
    criteria = GoCriteria(
        target_rtol=args.target_rtol,
        max_gradient_ratio=args.max_gradient_ratio,
        forbidden_risks=tuple(r for r in RISKS if r not in args.allow_risk),
    )
    _check_tuning_budget(args)
    report = _output_file("--report", args.report)
    _positive("--report-every", args.report_every, what=" (seconds)")
    _oracle_for("--method", args.method, problem)
    model, x0 = _with_oracle(problem, args.oracle)
    rows = _pilot_rows(args, model)
    for flag, words, rule in (
        ("--current", args.current, current),
        ("--fallback", args.fallback, fallback),
    ):
        if rule is not None:
            _oracle_for(flag, rule["method"], problem)
            _check_rule(f"{flag} {' '.join(words)}", model, x0, rule)
    tuning = _tuning(args, current)
    print(f"{problem.name}: {problem.description}")
    print("go / no-go criteria (all must hold):")
    for line in criteria.lines():
        print(f"  - {line}")
    sys.stdout.flush()
    result = rollout(
        model,
        x0,
        current,
        method=args.method,
        fallback=fallback,
        pilot_rows=rows,
        pilot_iter=args.pilot_iter,
        criteria=criteria,
        guard=guard,
        tuning=tuning,
        tol=args.tol,
        max_iter=args.max_iter,
        force=args.force,
        report=report,
        every=args.report_every,
        title=f"lfso rollout: {problem.name}",
    )
    print()
    if result.roi is None and tuning is None and not args.no_roi:
        print(
            "return on investment: not computed (the current rule has no step to grid-tune; "
            "pass --tuning-gradients N)"
        )
    print("\n".join(result.lines()))
    if result.result is not None:  # (its best point shown above; exit status 130)
        stop_if_interrupted(result.result, "the guarded run")
    return 0 if result.go else 1


def _check_rule(what: str, model: Any, x0: Any, rule: dict[str, Any]) -> None:
    """A rule of ``--current`` or ``--fallback`` (``what``: the flag and its words), checked
    before anything runs: its method among the accepted names, and an lfso rule's options
    by :func:`lfso.minimize` itself."""
    from ..bench._harness import SCIPY_LBFGS
    from ..rollout._rules import check_rule

    try:
        check_rule(rule, what)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if rule["method"] != SCIPY_LBFGS:
        _check_run(what, model, x0, rule)


def _guard(args: argparse.Namespace) -> Guard:
    """The :class:`~lfso.rollout.Guard` of ``--threshold``."""
    from ..rollout import Guard

    thresholds = _thresholds(args.threshold)
    try:
        return Guard(thresholds)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--threshold {' '.join(args.threshold)}: {exc}") from None


def _check_tuning_budget(args: argparse.Namespace) -> None:
    """``--tuning-gradients`` and ``--tuning-seconds``: a count, and seconds only with it."""
    if args.tuning_gradients is not None:
        _integer("--tuning-gradients", args.tuning_gradients, 0)
    if args.tuning_seconds is not None:
        if args.tuning_gradients is None:
            raise UsageError(
                f"--tuning-seconds {args.tuning_seconds:g} needs --tuning-gradients N "
                "(the tuning budget in gradients)"
            )
        if not 0.0 <= args.tuning_seconds < math.inf:
            raise UsageError(
                f"--tuning-seconds must be a finite number >= 0, got {args.tuning_seconds!r}"
            )


def _pilot_rows(args: argparse.Namespace, model: Any) -> int | float | None:
    """``--pilot-rows`` for ``model`` (``None`` for a model without data rows), checked."""
    from ..rollout import subsample

    rows = args.pilot_rows
    if rows is not None and model.data is None:
        rows = None
    if rows is not None:
        try:
            subsample(model, rows)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--pilot-rows {args.pilot_rows}: {exc}") from None
    return rows


def _tuning(args: argparse.Namespace, current: dict[str, Any]) -> str | TuningBudget | None:
    """The rollout's ``tuning``: a grid for a ``gd`` rule, the user's budget, or none."""
    from ..rollout import TuningBudget

    tuning: str | TuningBudget | None = "grid" if current["method"] == "gd" else None
    if args.tuning_gradients is not None:
        tuning = TuningBudget(args.tuning_gradients, args.tuning_seconds)
    if args.no_roi:
        tuning = None
    return tuning
