"""``lfso rollout PROBLEM --current ...``: the staged rollout (:mod:`lfso.rollout`) on a
built-in problem, with the live HTML report. Registered by :mod:`lfso.cli`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .monitor import RISKS

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
        rule[key] = _value(value)
    return rule


def _rows(text: str) -> int | float | None:
    if text == "none":
        return None
    value = _value(text)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"expected a count, a fraction or 'none', got {text!r}")
    return value


def _help_formatter() -> Any:
    from .cli import _Help  # (cli imports this module when it builds its parser)

    return _Help


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
    p.add_argument("problem", help="a name from 'lfso problems'")
    p.add_argument(
        "--current",
        nargs="+",
        required=True,
        metavar="METHOD [KEY=VALUE]",
        help="the rule used today, e.g. --current gd step=1e-3 (required)",
    )
    p.add_argument(
        "--fallback",
        nargs="+",
        metavar="METHOD [KEY=VALUE]",
        help="the rule the guard hands over to (default: the current rule)",
    )
    p.add_argument("--method", default="lfso", help="the lfso method to roll out")
    p.add_argument(
        "--oracle", choices=["sharp", "paper"], default="sharp", help="the model's oracle"
    )
    p.add_argument(
        "--pilot-rows",
        type=_rows,
        default=0.2,
        help="rows of the pilot: a count, a fraction, or 'none' for the full problem on the "
        "pilot budget (problems without data rows always use the budget)",
    )
    p.add_argument("--pilot-iter", type=int, default=1000, help="iteration cap of each pilot run")
    p.add_argument("--max-iter", type=int, default=10_000, help="iteration cap of the full run")
    p.add_argument("--tol", type=float, default=1e-8, help="stop when ||g|| <= tol ||g0||")
    p.add_argument(
        "--target-rtol",
        type=float,
        default=1e-6,
        help="the pilot's target: the current rule's best f, up to this relative tolerance",
    )
    p.add_argument(
        "--max-gradient-ratio",
        type=float,
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
        help="guard thresholds, e.g. oscillation=3 stagnation=0 (0: not watched; default: "
        "the built-in thresholds)",
    )
    p.add_argument(
        "--tuning-gradients",
        type=int,
        default=None,
        help="your tuning budget in gradients (default: measured by a grid)",
    )
    p.add_argument(
        "--tuning-seconds",
        type=float,
        default=None,
        help="your tuning budget in seconds (default: measured by a grid)",
    )
    p.add_argument("--no-roi", action="store_true", help="skip the return on investment")
    p.add_argument("--force", action="store_true", help="run the guarded stage on no-go too")
    p.add_argument("--report", default="rollout.html", help="the live HTML report")
    p.add_argument("--every", type=float, default=2.0, help="seconds between report rewrites")
    p.set_defaults(run=run_rollout)
    return p


def run_rollout(args: argparse.Namespace) -> int:
    """Run ``lfso rollout``; exit status 0 on go, 1 on no-go."""
    from .problems import get_problem
    from .rollout import GoCriteria, Guard, TuningBudget, rollout

    problem = get_problem(args.problem)
    model, x0 = problem.make(args.oracle)
    current = parse_rule(args.current, "--current")
    fallback = parse_rule(args.fallback, "--fallback") if args.fallback else None
    thresholds = {}
    for word in args.threshold:
        key, _, value = word.partition("=")
        thresholds[key] = _value(value)
    criteria = GoCriteria(
        target_rtol=args.target_rtol,
        max_gradient_ratio=args.max_gradient_ratio,
        forbidden_risks=tuple(r for r in RISKS if r not in args.allow_risk),
    )
    rows = args.pilot_rows
    if rows is not None and model.data is None:
        rows = None
    tuning: Any = "grid" if current["method"] == "gd" else None
    if args.tuning_gradients is not None:
        tuning = TuningBudget(args.tuning_gradients, args.tuning_seconds)
    if args.no_roi:
        tuning = None
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
        guard=Guard(thresholds),
        tuning=tuning,
        tol=args.tol,
        max_iter=args.max_iter,
        force=args.force,
        report=args.report,
        every=args.every,
        title=f"lfso rollout: {problem.name}",
    )
    print()
    if result.roi is None and tuning is None and not args.no_roi:
        print(
            "return on investment: not computed (the current rule has no step to grid-tune; "
            "pass --tuning-gradients N)"
        )
    print("\n".join(result.lines()))
    return 0 if result.go else 1
