"""The ``lfso`` command line: a thin layer over the public API.

``lfso demo``      lfso's certified methods, the paper's LFSO-GD, grid-tuned GD and SciPy's
                   L-BFGS-B on the paper's problems, with a summary.
``lfso solve P``   one built-in problem with progress lines and a summary.
``lfso bench``     the benchmark suite (tables, CSV and figures).
``lfso check-oracle P``  test a problem's oracle by sampling.
``lfso compare P``  a baseline rule beside LFSO, with an HTML report.
``lfso problems``  list the built-in problems.
``lfso rollout P --current ...``  pilot, guarded run and return on investment
                   (:mod:`lfso.cli._rollout`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import __version__
from .._atomic import write_atomically
from .._minimize import minimize
from .._registry import DEFAULT_METHOD, METHODS
from .._result import Result, ran_its_course, stop_if_interrupted
from ..bench._harness import SCIPY_LBFGS
from ..bench._problems import PROBLEMS
from ._common import (
    LFSO_METHODS,
    UsageError,
    _check_run,
    _files_in,
    _Help,
    _integer,
    _number,
    _once_each,
    _oracle,
    _oracle_for,
    _output_file,
    _output_folder,
    _positive,
    _problem,
    _problems_with_oracle,
    _tolerance,
    _with_oracle,
)

# The command line is the interface; build_parser is for the CLI tests.
__all__ = ["main"]


def _one_blas_thread() -> Any:
    """One BLAS thread while the built-in problems run (through threadpoolctl, which
    scikit-learn brings; without it, nothing changes). Their matrices (at most 1000 x 100)
    are too small to gain from threads, which on a busy machine contend for its cores.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _only(option: str, method_flag: str = "--method") -> str:
    """The methods that take ``option``, from the registry: ``--method lfso only``."""
    takes = sorted(n for n, m in METHODS.items() if option in m.options)
    if len(takes) > 1 and all(METHODS[n].family == "lfso" for n in takes):
        return f"the lfso methods only ({', '.join(takes)})"
    names = " or ".join([", ".join(takes[:-1]), takes[-1]] if len(takes) > 1 else takes)
    return f"{method_flag} {names} only"


def _needs(method: str, option: str) -> bool:
    """``method`` cannot run without ``option`` (the registry's option has no default)."""
    entry = METHODS[method].options.get(option)
    return entry is not None and entry.required


def _unset_step(method: str) -> bool:
    """``method`` takes a ``step`` with no default (``gd``; ``nesterov``, whose other
    option, ``lipschitz``, the command line does not offer)."""
    entry = METHODS[method].options.get("step")
    return entry is not None and entry.default is None


def _method_option(
    flag: str, method: str, option: str, value: float, method_flag: str = "--method"
) -> Any:
    """``value`` of ``flag`` checked by the registry's own check of ``method``'s ``option``
    (no second table of ranges here); the error names the flag and the method."""
    entry = METHODS[method].options.get(option)
    if entry is None:
        raise UsageError(f"{flag} applies to {_only(option, method_flag)}, not to {method}")
    try:
        return entry.check(option, value)
    except (TypeError, ValueError):
        raise UsageError(
            f"{flag} must be {entry.expect} for {method_flag} {method}, got {value!r}"
        ) from None


def _status(res: Result) -> str:
    """``CONVERGED: gradient norm below tolerance.``: the status once, then its message."""
    head, sep, rest = res.message.partition(": ")
    same = sep and head.upper().replace(" ", "_") == res.status.name
    return f"{res.status.name}: {rest if same else res.message}"


def _demo(args: argparse.Namespace) -> int:
    from ._demo import DEMO_PROBLEMS, render, run_demo

    names = args.problems or list(DEMO_PROBLEMS)
    for n in names:
        _problem(n)
    _once_each("problems", names)
    _integer("--max-iter", args.max_iter, 2)
    _tolerance("--tol", args.tol, table=True)
    if not args.problems and importlib.util.find_spec("sklearn") is None:
        print(
            "scikit-learn is not installed: skipping the logistic problems "
            "(pip install 'lfso[sklearn]')\n"
        )
        names = [n for n in names if PROBLEMS[n].family != "logistic"]
    print(f"lfso demo: {len(names)} problem(s); the table follows when all have run.", flush=True)
    start = time.perf_counter()
    with _one_blas_thread():
        rows = run_demo(
            names, cap=args.max_iter, tol=args.tol, gd=not args.no_gd, progress=args.progress
        )
    print(render(rows, cap=args.max_iter, tol=args.tol))
    print(f"\n{len(names)} problems in {time.perf_counter() - start:.1f} s")
    return 0


def _solve(args: argparse.Namespace) -> int:
    problem = _problem(args.problem)
    _integer("--max-iter", args.max_iter, 0)
    _tolerance("--tol", args.tol)
    _integer("--every", args.every, 1)
    if args.method is None:  # the library's default, or the paper's rule when a radius is named
        args.method = "lfso" if args.radius is not None else DEFAULT_METHOD
    kwargs: dict[str, Any] = {}
    if args.step is None and (_needs(args.method, "step") or _unset_step(args.method)):
        raise UsageError(f"--method {args.method} needs --step (a step size)")
    if _needs(args.method, "f_star"):  # Polyak's step: the problem's optimal value
        if problem.f_star is None:
            raise UsageError(
                f"--method {args.method} needs the optimal value, which {problem.name} does "
                "not know; choose another --method or problem"
            )
        kwargs["f_star"] = problem.f_star()
    if args.step is not None:
        kwargs["step"] = _method_option("--step", args.method, "step", args.step)
    if args.radius is not None:
        if "radius" not in METHODS[args.method].options:
            raise UsageError(
                f"--radius {args.radius} applies to {_only('radius')}; "
                f"{args.method} does not take a radius rule"
            )
        if not problem.has_oracle:
            raise UsageError(
                f"--radius {args.radius} sizes the steps by the problem's hand-made oracle, "
                f"which {problem.name} does not have; leave --radius out (its runs estimate "
                f"one), or choose a problem with an oracle: {_problems_with_oracle(6)}"
            )
        kwargs["radius"] = args.radius
    if args.eta is not None:
        kwargs["eta"] = _method_option("--eta", args.method, "eta", args.eta)
    _oracle_for("--method", args.method, problem, args.oracle)
    model, x0 = _with_oracle(problem, args.oracle)
    _check_run(f"--method {args.method}", model, x0, {"method": args.method, **kwargs})
    live = None
    if args.report is not None:
        from .._dashboard import LiveReport

        report = _output_file("--report", args.report)
        live = LiveReport(report, title=f"lfso solve {problem.name}")
    every = args.every
    print(f"{problem.name}: {problem.description}")
    print(f"{'iter':>8} {'f':>13} {'||g||':>11} {'step':>11} {'L':>11} {'R':>11}")

    def progress(intermediate_result: Result) -> None:
        r = intermediate_result
        if live is not None:
            live(r)
        if r.nit % every == 0:
            h = r.history
            print(
                f"{r.nit:>8} {r.fun:>13.6e} {r.grad_norm:>11.4e} {h.step[-1]:>11.4e} "
                f"{h.L[-1]:>11.4e} {h.R[-1]:>11.4e}",
                flush=True,
            )

    try:
        res = minimize(
            model,
            x0,
            method=args.method,
            tol=args.tol,
            max_iter=args.max_iter,
            callback=progress,
            **kwargs,
        )
    except Exception as exc:  # (the reader of the output left: the page says how it ended)
        _finish_page(live, exc)
        raise
    h = res.history
    print(
        f"\n{_status(res)}\n"
        f"  iterations {res.nit}, f = {res.fun:.6e}, ||g|| = {res.grad_norm:.3e} "
        f"(||g||/||g0|| = {res.grad_norm / h.grad_norm[0]:.2e})\n"
        f"  evaluations: f {res.nfev}, grad {res.njev}, oracle {res.noracle}; "
        f"time {h.time[-1]:.3f} s"
    )
    if live is not None:
        print(f"report: {live.finish(res)}")
    stop_if_interrupted(res, "the run")  # (its best point shown above; exit status 130)
    return 0 if res.success or ran_its_course(args.tol, res) else 1


def _finish_page(live: Any, error: Exception) -> None:
    """Finish ``live`` (a :class:`~lfso.report.LiveReport`, or ``None``) with the result
    that ``error``, raised by a run, carries: how the run ended, not "Run in progress"."""
    ended = getattr(error, "result", None)
    if live is not None and isinstance(ended, Result):
        live.finish(ended)


def _bench(args: argparse.Namespace) -> int:
    from ..bench import BENCH_METHODS, SUITES, run_suite
    from ..bench._report import markdown, plot_convergence, plot_paper_figures, write_csv

    if args.quick and args.suite not in (None, "quick"):
        raise UsageError(
            f"--quick runs the quick suite, not --suite {args.suite}; for the {args.suite} "
            f"suite at --quick's cap, pass --suite {args.suite} --cap 20000"
        )
    suite = "quick" if args.quick else args.suite or "full"
    if args.cap is not None:
        _integer("--cap", args.cap, 2)
    cap = args.cap or (20_000 if args.quick else 50_000)
    _tolerance("--tol", args.tol, table=True)
    for name in args.problems or ():
        _problem(name)
    _once_each("--problems", args.problems or [])
    methods = args.methods or list(BENCH_METHODS)
    for m in methods:
        if m not in BENCH_METHODS:
            raise UsageError(
                f"unknown method {m!r} in --methods; choose from {', '.join(BENCH_METHODS)}"
            )
    _once_each("--methods", methods)
    with _output_folder("--out", args.out) as out:  # before the run, not after it
        figures = () if args.no_plots else ("convergence_grad.png", "convergence_f.png")
        _files_in("--out", args.out, out, ("results.md", "results.csv", *figures))
        problems = args.problems or SUITES[suite]
        if not args.problems and importlib.util.find_spec("sklearn") is None:
            print(
                "scikit-learn is not installed: skipping the problems on its bundled data "
                "(pip install 'lfso[sklearn]')\n"
            )
            problems = [p for p in problems if "logistic" not in p and "diabetes" not in p]
        with _one_blas_thread():
            records = run_suite(problems, methods, cap=cap, tol=args.tol, progress=args.progress)
        # The command that makes these tables again: every choice given, not only the suite's.
        words = ["lfso bench", "--quick" if args.quick else f"--suite {suite}"]
        if args.problems:
            words.append("--problems " + " ".join(args.problems))
        if args.methods:
            words.append("--methods " + " ".join(args.methods))
        if args.cap is not None:
            words.append(f"--cap {args.cap}")
        if args.tol != 1e-8:
            words.append(f"--tol {args.tol!r}")
        title = f"lfso benchmark: {suite} suite" if not args.problems else "lfso benchmark"
        text = markdown(records, title=title, command=" ".join(words), cap=cap, tol=args.tol)
        print(text)
        write_atomically(out / "results.md", text)
        write_csv(records, out / "results.csv")
        written = [out / "results.md", out / "results.csv"]
        if not args.no_plots:
            if importlib.util.find_spec("matplotlib") is None:
                print("matplotlib is not installed: no figures (pip install 'lfso[plot]')")
            else:
                for quantity in ("grad", "f"):
                    path = out / f"convergence_{quantity}.png"
                    plot_convergence(records, path, quantity=quantity)
                    written.append(path)
                if suite == "paper":
                    written += plot_paper_figures(out)
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _check_oracle(args: argparse.Namespace) -> int:
    from .._auto import _UnmeasuredError, check_oracle

    problem = _problem(args.problem)
    if not problem.has_oracle:
        raise UsageError(
            f"{args.problem} has no hand-made oracle to check: its runs estimate one as they go "
            "(the automatic oracle, safeguarded). Problems with an oracle: "
            f"{_problems_with_oracle(6)}"
        )
    _integer("--samples", args.samples, 1)
    _integer("--seed", args.seed, 0)
    for radius in args.radii:
        _positive("--radii", radius, what=" (each radius)")
    if not math.isfinite(args.shift) or args.shift < 0:
        raise UsageError(f"--shift must be a finite number >= 0, got {args.shift!r}")
    model, x0 = _with_oracle(problem, args.oracle)
    oracle = args.oracle or "sharp"
    x = np.asarray(x0, dtype=float)
    if args.shift:
        x = x + args.shift * np.random.default_rng(args.seed).standard_normal(x.size)
        with np.errstate(all="ignore"):
            ev = model.evaluate(x, bound=False)
        if not (np.all(np.isfinite(x)) and math.isfinite(ev.value) and math.isfinite(ev.grad_norm)):
            raise UsageError(
                f"--shift {args.shift!r} moves x0 to where f or its gradient is not finite; "
                "expected a smaller shift"
            )
    try:
        with np.errstate(all="ignore"):  # (a gradient past the float range: an error)
            report = check_oracle(model, x, radii=args.radii, samples=args.samples, seed=args.seed)
    except _UnmeasuredError as error:
        raise UsageError(f"--radii {float(error.radius)!r}: {error.reason}") from None
    print(f"{args.problem} ({oracle} oracle) at x0{' + noise' if args.shift else ''}:")
    print(report)
    return 0 if report.passed else 1


def _compare(args: argparse.Namespace) -> int:
    from ..report import compare
    from ..rollout._rules import accepted_methods

    problem = _problem(args.problem)
    _integer("--max-iter", args.max_iter, 0)
    _tolerance("--tol", args.tol)
    baseline: dict[str, object] = {"method": args.baseline_method}
    scipy = args.baseline_method == SCIPY_LBFGS  # (SciPy's L-BFGS-B, as rollout's --current)
    if args.baseline_method not in METHODS and not scipy:
        raise UsageError(
            f"unknown --baseline-method {args.baseline_method!r}; choose from "
            f"{', '.join(accepted_methods())}"
        )
    if scipy:
        if args.baseline_step is not None:
            raise UsageError(
                f"--baseline-method {SCIPY_LBFGS} takes no --baseline-step (SciPy's line "
                "search sizes its steps): leave it out"
            )
    elif args.baseline_step is not None:
        baseline["step"] = _method_option(
            "--baseline-step", args.baseline_method, "step", args.baseline_step, "--baseline-method"
        )
    elif _needs(args.baseline_method, "step") or _unset_step(args.baseline_method):
        raise UsageError(
            f"--baseline-method {args.baseline_method} needs a step: pass --baseline-step S "
            "(the step used today)"
        )
    if not scipy and _needs(args.baseline_method, "f_star"):  # Polyak's: the optimal value
        if problem.f_star is None:
            raise UsageError(
                f"--baseline-method {args.baseline_method} needs the optimal value, which "
                f"{problem.name} does not know; choose another --baseline-method or problem"
            )
        baseline["f_star"] = problem.f_star()
    _oracle_for("--baseline-method", args.baseline_method, problem)
    _oracle_for("--method", args.method, problem)
    output = _output_file("--output", args.output)  # before the runs, not after them
    model, x0 = _with_oracle(problem, args.oracle)
    if not scipy:
        _check_run(f"--baseline-method {args.baseline_method}", model, x0, baseline)
    options = {"method": args.method}
    comparison = compare(
        model,
        x0,
        baseline=baseline,
        output=output,
        tol=args.tol,
        max_iter=args.max_iter,
        title=f"lfso on {args.problem}",
        **options,
    )
    for label, res in comparison.results.items():
        print(
            f"{label:40} {res.status.name:10} iterations {res.nit:7d} gradients {res.njev:7d} "
            f"f {res.fun:.6e}"
        )
    print(f"report: {comparison.path}")
    return 0


def _problems(args: argparse.Namespace) -> int:
    for name, p in PROBLEMS.items():
        print(f"{name:26} {p.description}")
    return 0


def _command(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text, formatter_class=_Help
    )
    return parser


def _tol(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tol", type=_number, default=1e-8, help="stop when ||g|| <= tol ||g0||")


def _progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )


def _add_demo(sub: Any) -> None:
    """The ``lfso demo`` command."""
    demo = _command(
        sub,
        "demo",
        "lfso against the paper's LFSO-GD, grid-tuned GD and SciPy's L-BFGS-B "
        "on the paper's problems and one black box",
    )
    demo.add_argument(
        "problems",
        nargs="*",
        help="problem names from 'lfso problems' (default: the paper's and one black box)",
    )
    demo.add_argument(
        "--max-iter",
        type=int,
        default=10_000,
        help="gradient evaluations allowed per run (the start's included)",
    )
    _tol(demo)
    demo.add_argument("--no-gd", action="store_true", help="skip the fixed-step grid")
    _progress(demo)
    demo.set_defaults(run=_demo)


def _add_solve(sub: Any) -> None:
    """The ``lfso solve`` command."""
    solve = _command(sub, "solve", "solve one built-in problem, with progress lines and a summary")
    solve.add_argument("problem", help="a name from 'lfso problems'")
    solve.add_argument(
        "--method",
        choices=sorted(METHODS),
        default=None,
        help=f"step rule (default: {DEFAULT_METHOD}, the library's default; lfso with --radius)",
    )
    solve.add_argument(
        "--radius",
        choices=["tight", "paper"],
        default=None,
        help="use the paper's ball certificate with this radius rule (--method lfso): tight "
        "(the largest step the ball certifies) or paper (the authors' rule) (default: none, "
        "the model's segment certificate)",
    )
    _oracle(solve, "the model's oracle: lfso's sharp bound or the authors' bound")
    solve.add_argument(
        "--eta",
        type=_number,
        default=None,
        help="step factor of the lfso methods: in (0, 2) for lfso, (0, 1] for lfso-accel "
        "(default: 1)",
    )
    solve.add_argument(
        "--step",
        type=_number,
        default=None,
        help="step size: required for --method gd and nesterov",
    )
    solve.add_argument(
        "--tol",
        type=_number,
        default=1e-8,
        help="stop when ||g|| <= tol ||g0||; 0 runs to the iteration cap (or to where "
        "rounding holds the run, STALLED or PRECISION_LIMIT) and exits 0 there",
    )
    solve.add_argument("--max-iter", type=int, default=10_000, help="iteration cap")
    solve.add_argument(
        "--every",
        type=int,
        default=100,
        metavar="N",
        help="print a progress line every N iterations",
    )
    solve.add_argument(
        "--report",
        default=None,
        help="write a live HTML report to this file during the run (default: none)",
    )
    solve.set_defaults(run=_solve)


def _add_bench(sub: Any) -> None:
    """The ``lfso bench`` command."""
    bench = _command(
        sub, "bench", "benchmark lfso against the peer step rules (tables, CSV, figures)"
    )
    bench.add_argument(
        "--suite",
        choices=["paper", "full", "quick"],
        default=None,
        help="problem set (default: full; quick with --quick)",
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="the quick suite with a cap of 20000 gradient evaluations per run",
    )
    bench.add_argument(
        "--problems",
        nargs="+",
        help="run these problems instead of a suite (default: the --suite's)",
    )
    bench.add_argument("--methods", nargs="+", help="run these methods only (default: all)")
    bench.add_argument(
        "--cap",
        type=int,
        default=None,
        help="budget of each run (each run of a tuned method's grid too): CAP - 1 steps "
        "after the start, CAP gradient evaluations where a step takes one; SciPy's "
        "L-BFGS-B: at most CAP calls (default: 50000; 20000 with --quick)",
    )
    _tol(bench)
    bench.add_argument(
        "--out", default="bench-out", help="folder for results.md/.csv and PNGs (created)"
    )
    bench.add_argument("--no-plots", action="store_true", help="write the tables only")
    _progress(bench)
    bench.set_defaults(run=_bench)


def _add_check_oracle(sub: Any) -> None:
    """The ``lfso check-oracle`` command."""
    check = _command(sub, "check-oracle", "test a problem's oracle by sampling pairs in balls")
    check.add_argument("problem", help="a name from 'lfso problems' (one with an oracle)")
    _oracle(check, "which bound to test")
    check.add_argument(
        "--radii",
        type=_number,
        nargs="+",
        default=[1e-3, 1e-2, 1e-1, 1.0],
        help="ball radii R to test L(x, R) at",
    )
    check.add_argument("--samples", type=int, default=200, help="pairs per radius")
    check.add_argument(
        "--shift",
        type=_number,
        default=0.0,
        help="test at x0 plus this times a standard normal vector",
    )
    check.add_argument("--seed", type=int, default=0, help="random seed of the samples")
    check.set_defaults(run=_check_oracle)


def _add_compare(sub: Any) -> None:
    """The ``lfso compare`` command."""
    comp = _command(sub, "compare", "run a baseline rule beside lfso and write an HTML report")
    comp.add_argument("problem", help="a name from 'lfso problems'")
    comp.add_argument(
        "--baseline-method",
        default="gd",
        help=f"the rule used today, one of {', '.join(sorted(METHODS))}, or {SCIPY_LBFGS}",
    )
    comp.add_argument(
        "--baseline-step",
        type=_number,
        default=None,
        help="step of the baseline (required for gd and nesterov)",
    )
    comp.add_argument(
        "--method",
        choices=LFSO_METHODS,
        default=DEFAULT_METHOD,
        help="the lfso method; the default is the library's",
    )
    _oracle(comp, "the model's oracle")
    _tol(comp)
    comp.add_argument("--max-iter", type=int, default=10_000, help="iteration cap per run")
    comp.add_argument("--output", default="report.html", help="the HTML report to write")
    comp.set_defaults(run=_compare)


#: The exit statuses of :func:`main`, as ``lfso --help`` states them.
_EXIT_STATUS = (
    "exit status: 0 on success; 1 where the command's goal was not reached (lfso solve's "
    "run did not converge, or at --tol 0 stopped short of the cap other than STALLED or "
    "PRECISION_LIMIT; "
    "lfso check-oracle found the oracle wrong; lfso rollout decided no-go; lfso demo, "
    "bench and compare report how their runs ended and exit 0); 2 on a usage error or an "
    "output that cannot be written; 130 when interrupted (Ctrl-C); 141 when the reader "
    "of the output closed the pipe."
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, reading any negative number (``-1e-3``, ``-inf``) as a value: with
    its own test (``-1``, ``-.5`` only), ``--step -1e-3`` is "expected one argument" rather
    than the option's own range error. (No lfso option looks like a negative number.)
    Subcommands' parsers are of the same class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?|inf|infinity|nan)$",
            re.IGNORECASE,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lfso",
        description="Tuning-free gradient descent (LFSO).",
        epilog=_EXIT_STATUS,
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"lfso {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_solve, _add_bench, _add_check_oracle, _add_compare):
        add(sub)
    problems = _command(sub, "problems", "list the built-in problems")
    problems.set_defaults(run=_problems)

    from ._rollout import add_rollout_parser

    add_rollout_parser(sub)
    return parser


#: How NumPy's floating-point warnings begin (:func:`numpy.errstate`'s four kinds).
_FLOATING_POINT = tuple(
    f"{kind} encountered in "
    for kind in ("overflow", "underflow", "invalid value", "divide by zero")
)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """:func:`warnings.showwarning` of the command line: ``lfso: warning: ...`` on one line
    of stderr, without the file, line number or source line; NumPy's floating-point
    warnings (``overflow encountered in multiply``) say where they come from."""
    text = " ".join(str(message).split())
    if issubclass(category, RuntimeWarning) and text.startswith(_FLOATING_POINT):
        text = f"floating point: {text} (NumPy, in a run's arithmetic; its status tells the rest)"
    print(f"lfso: warning: {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lfso`` console script.

    Returns the exit status: 0 on success, 1 when the command's goal was not reached
    (``lfso solve``'s run did not converge, or at ``--tol 0`` stopped short of the cap other
    than ``STALLED`` or ``PRECISION_LIMIT``; ``lfso check-oracle`` found the oracle wrong,
    ``lfso rollout`` decided no-go; ``lfso compare``, ``lfso bench`` and ``lfso demo``
    report how their runs ended, converged or not, so they exit 0 once the report is
    written), 2 on a usage error (printed as ``lfso: error: ...``, like a file that cannot
    be written), 130 (``lfso: interrupted``) when Ctrl-C stopped a command (``lfso solve``
    and ``lfso rollout`` print the best point so far and finish their page first), 141
    (without a message) when the reader of the output closed the pipe.
    Warnings are printed as one ``lfso: warning: ...`` line each.
    """
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            status = int(args.run(args))
            sys.stdout.flush()  # (where the output is buffered, a closed pipe shows here)
            return status
        except (ValueError, TypeError, ImportError) as exc:
            print(f"lfso: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: no traceback, and no table of runs cut short
            sys.stdout.flush()
            print("lfso: interrupted", file=sys.stderr)
            return 128 + 2  # as a shell reports a command ended by SIGINT
        except BrokenPipeError:  # the reader left (lfso problems | head -1): stop quietly
            with contextlib.suppress(OSError, ValueError):  # (no flush error at exit either)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + 13  # as a shell reports a command ended by SIGPIPE
        except OSError as exc:  # a file that could not be written after all (a full disk)
            where = f"{exc.filename!r}: " if exc.filename is not None else ""
            print(f"lfso: error: {where}{exc.strerror or exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
