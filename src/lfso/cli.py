"""The ``lfso`` command line: a thin layer over the public API.

``lfso demo``      LFSO (tight and paper radius) and grid-tuned fixed-step GD on the paper's
                   problems.
``lfso solve P``   one built-in problem with progress lines and a summary.
``lfso bench``     the benchmark suite (tables, CSV and figures).
``lfso check-oracle P``  test a problem's oracle by sampling.
``lfso compare P``  a baseline rule beside LFSO, with an HTML report.
``lfso problems``  list the built-in problems.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence

import numpy as np

from .minimize import METHODS, minimize
from .problems import PROBLEMS, get_problem
from .result import Result
from .tuning import DEFAULT_STEP_GRID, tune_step

__all__ = ["main"]


def _iterations(res: Result) -> str:
    """Gradient evaluations to tolerance, or ``>N (rel)`` with the accuracy reached when capped."""
    if res.success:
        return str(res.njev)
    g = res.history.grad_norm
    return f">{res.njev} ({np.min(g) / g[0]:.0e})"


def _demo(args: argparse.Namespace) -> int:
    names = args.problems or [
        n for n, p in PROBLEMS.items() if "paper" in p.tags or n.endswith("-lin")
    ]
    if not args.problems and importlib.util.find_spec("sklearn") is None:
        print(
            "scikit-learn is not installed: skipping the logistic problems "
            "(pip install 'lfso[sklearn]')\n"
        )
        names = [n for n in names if PROBLEMS[n].family != "logistic"]
    for n in names:
        get_problem(n)
    print(
        f"Gradient evaluations to ||g|| <= {args.tol:g} ||g0|| (cap {args.max_iter}; "
        "'>N (r)': capped, r = best ||g||/||g0|| reached)\n"
        "  tight  = lfso default: sharp oracle, tight radius\n"
        "  paperR = sharp oracle, the paper's radius rule R = max(R0, eta||g||/L(R0))\n"
        "  paper  = the authors' oracle and radius rule (their published loop)\n"
        "  GD     = fixed step, best of the grid 1e-10..1e2; 'grid' = gradients the grid cost\n"
    )
    header = (
        f"{'problem':26} {'tight':>16} {'paperR':>16} {'paper':>16} {'GD (step)':>24} {'grid':>8}"
    )
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for name in names:
        problem = get_problem(name)
        cells = []
        for oracle, radius in (("sharp", "tight"), ("sharp", "paper"), ("paper", "paper")):
            model, x0 = problem.make(oracle)
            res = minimize(model, x0, radius=radius, tol=args.tol, max_iter=args.max_iter)
            cells.append(_iterations(res))
        model, x0 = problem.make("sharp")
        grid = DEFAULT_STEP_GRID if not args.no_gd else ()
        if grid:
            tuned = tune_step(model, x0, grid, tol=args.tol, max_iter=args.max_iter)
            gd = f"{_iterations(tuned.result)} ({tuned.step:.0e})"
            cost = str(tuned.total_njev)
        else:
            gd, cost = "-", "-"
        print(
            f"{name:26} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16} {gd:>24} {cost:>8}", flush=True
        )
    print(f"\n{len(names)} problems in {time.perf_counter() - start:.1f} s")
    return 0


def _solve(args: argparse.Namespace) -> int:
    problem = get_problem(args.problem)
    model, x0 = problem.make(args.oracle)
    options = {"step": args.step} if args.step is not None else {}
    if args.method == "gd" and args.step is None:
        print("lfso solve: --method gd needs --step", file=sys.stderr)
        return 2
    every = max(args.every, 1)
    print(f"{problem.name}: {problem.description}")
    print(f"{'iter':>8} {'f':>13} {'||g||':>11} {'step':>11} {'L':>11} {'R':>11}")

    def progress(intermediate_result: Result) -> None:
        r = intermediate_result
        if r.nit % every == 0:
            h = r.history
            print(
                f"{r.nit:>8} {r.fun:>13.6e} {r.grad_norm:>11.4e} {h.step[-1]:>11.4e} "
                f"{h.L[-1]:>11.4e} {h.R[-1]:>11.4e}",
                flush=True,
            )

    kwargs: dict[str, object] = {}
    if args.method == "lfso":
        kwargs = {"radius": args.radius, "eta": args.eta}
    elif args.method == "lfso-accel":
        kwargs = {"eta": min(args.eta, 1.0)}
    res = minimize(
        model,
        x0,
        method=args.method,
        tol=args.tol,
        max_iter=args.max_iter,
        callback=progress,
        **kwargs,
        **options,
    )
    h = res.history
    print(
        f"\n{res.status.name}: {res.message}\n"
        f"  iterations {res.nit}, f = {res.fun:.6e}, ||g|| = {res.grad_norm:.3e} "
        f"(||g||/||g0|| = {res.grad_norm / h.grad_norm[0]:.2e})\n"
        f"  evaluations: f {res.nfev}, grad {res.njev}, oracle {res.noracle}; "
        f"time {h.time[-1]:.3f} s"
    )
    return 0 if res.success else 1


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import BENCH_METHODS, SUITES, run_suite
    from .bench.report import markdown, plot_convergence, plot_paper_figures, write_csv

    suite = "quick" if args.quick else args.suite
    cap = args.cap or (20_000 if args.quick else 50_000)
    problems = args.problems or SUITES[suite]
    if not args.problems and importlib.util.find_spec("sklearn") is None:
        print(
            "scikit-learn is not installed: skipping the problems on its bundled data "
            "(pip install 'lfso[sklearn]')\n"
        )
        problems = [p for p in problems if "logistic" not in p and "diabetes" not in p]
    methods = args.methods or list(BENCH_METHODS)
    for m in methods:
        if m not in BENCH_METHODS:
            raise ValueError(f"unknown method {m!r}; choose from {', '.join(BENCH_METHODS)}")
    records = run_suite(problems, methods, cap=cap, tol=args.tol, progress=args.progress)
    command = "lfso bench " + ("--quick" if args.quick else f"--suite {suite}")
    text = markdown(
        records, title=f"lfso benchmark: {suite} suite", command=command, cap=cap, tol=args.tol
    )
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text)
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
    from .auto import check_oracle

    model, x0 = get_problem(args.problem).make(args.oracle)
    x = np.asarray(x0, dtype=float)
    if args.shift:
        x = x + args.shift * np.random.default_rng(args.seed).standard_normal(x.size)
    report = check_oracle(model, x, radii=args.radii, samples=args.samples, seed=args.seed)
    print(f"{args.problem} ({args.oracle} oracle) at x0{' + noise' if args.shift else ''}:")
    print(report)
    return 0 if report.passed else 1


def _compare(args: argparse.Namespace) -> int:
    from .report import compare

    model, x0 = get_problem(args.problem).make(args.oracle)
    baseline: dict[str, object] = {"method": args.baseline_method}
    if args.baseline_step is not None:
        baseline["step"] = args.baseline_step
    options = {"method": args.method}
    comparison = compare(
        model,
        x0,
        baseline=baseline,
        output=args.output,
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lfso", description="Tuning-free gradient descent (LFSO)."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="LFSO vs tuned fixed-step GD on the paper's problems")
    demo.add_argument(
        "problems", nargs="*", help="problem names (default: the paper's, and their generic starts)"
    )
    demo.add_argument("--max-iter", type=int, default=10_000)
    demo.add_argument("--tol", type=float, default=1e-8)
    demo.add_argument("--no-gd", action="store_true", help="skip the fixed-step grid")
    demo.set_defaults(run=_demo)

    solve = sub.add_parser("solve", help="solve one built-in problem")
    solve.add_argument("problem", help="a name from 'lfso problems'")
    solve.add_argument("--method", choices=sorted(METHODS), default="lfso")
    solve.add_argument("--radius", choices=["tight", "paper"], default="tight")
    solve.add_argument("--oracle", choices=["sharp", "paper"], default="sharp")
    solve.add_argument("--eta", type=float, default=1.0)
    solve.add_argument(
        "--step", type=float, default=None, help="step size for --method gd (or nesterov)"
    )
    solve.add_argument("--tol", type=float, default=1e-8)
    solve.add_argument("--max-iter", type=int, default=10_000)
    solve.add_argument("--every", type=int, default=100, help="print every N iterations")
    solve.set_defaults(run=_solve)

    bench = sub.add_parser("bench", help="benchmark LFSO against the peer step rules")
    bench.add_argument("--suite", choices=["paper", "full", "quick"], default="full")
    bench.add_argument(
        "--quick",
        action="store_true",
        help="the quick suite with a 20000-iteration cap (under two minutes)",
    )
    bench.add_argument("--problems", nargs="+", help="run these problems instead of a suite")
    bench.add_argument("--methods", nargs="+", help="run these methods only")
    bench.add_argument(
        "--cap", type=int, default=None, help="iteration cap per run (default 50000, quick 20000)"
    )
    bench.add_argument("--tol", type=float, default=1e-8)
    bench.add_argument("--out", default="bench-out", help="folder for results.md/.csv and PNGs")
    bench.add_argument("--no-plots", action="store_true")
    bench.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )
    bench.set_defaults(run=_bench)

    check = sub.add_parser("check-oracle", help="test a problem's oracle by sampling")
    check.add_argument("problem")
    check.add_argument("--oracle", choices=["sharp", "paper"], default="sharp")
    check.add_argument("--radii", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0])
    check.add_argument("--samples", type=int, default=200, help="pairs per radius")
    check.add_argument(
        "--shift",
        type=float,
        default=0.0,
        help="test at x0 plus this times a standard normal vector",
    )
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=_check_oracle)

    comp = sub.add_parser("compare", help="run a baseline rule beside LFSO and write a report")
    comp.add_argument("problem")
    comp.add_argument("--baseline-method", default="gd")
    comp.add_argument(
        "--baseline-step", type=float, default=None, help="step of the baseline (required for gd)"
    )
    comp.add_argument(
        "--method", choices=[n for n, m in METHODS.items() if m.family == "lfso"], default="lfso"
    )
    comp.add_argument("--oracle", choices=["sharp", "paper"], default="sharp")
    comp.add_argument("--tol", type=float, default=1e-8)
    comp.add_argument("--max-iter", type=int, default=10_000)
    comp.add_argument("--output", default="report.html")
    comp.set_defaults(run=_compare)

    problems = sub.add_parser("problems", help="list the built-in problems")
    problems.set_defaults(run=_problems)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lfso`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, ImportError) as exc:
        print(f"lfso: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
