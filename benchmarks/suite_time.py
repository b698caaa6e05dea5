"""Time to tolerance of the certified methods on the benchmark suite, and against another checkout.

Usage::

    python benchmarks/suite_time.py                               # this checkout
    python benchmarks/suite_time.py --against ../other/src        # two checkouts, interleaved
    python benchmarks/suite_time.py --methods lfso-lbfgs --repeats 5 --problems robust-cauchy

Every problem of ``lfso bench --suite full`` runs each of ``--methods`` (default ``lfso``
and ``lfso-lbfgs``, float64 NumPy) to ``||g|| <= 1e-8 ||g0||`` (at most 50,000 gradients),
as ``lfso bench`` runs it; the time is the run's own (``Result.history.time``, the
problem's construction excluded), best of ``--repeats``. With ``--against SRC`` the same
runs are made with the lfso found at ``SRC`` (a checkout's ``src`` folder), each repeat a
fresh process per checkout, the two alternating (``A B A B ...``), so that a machine whose
speed drifts slows both alike; the table gives both times, their ratio, and at the end the
total time of each checkout, the ratio of totals and the geometric mean of the per-run
ratios, over the runs that converge in both with the same iterations give or take 5%.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

DEFAULT_METHODS = ["lfso", "lfso-lbfgs"]


def measure(methods: list[str], problems: list[str] | None) -> dict[str, list]:
    """``{"problem/method": [seconds, status, iterations]}`` for one pass over the suite."""
    from lfso.bench import SUITES, run_case

    out: dict[str, list] = {}
    for problem in problems or SUITES["full"]:
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = run_case(problem, method)
            if rec.status != "n/a":
                out[f"{problem}/{method}"] = [rec.seconds, rec.status, rec.iterations]
    return out


def _worker(src: str, methods: list[str], problems: list[str] | None) -> dict[str, list]:
    """One pass in a fresh process whose ``lfso`` is the one under ``src``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "times.json")
        cmd = [sys.executable, __file__, "--worker", path, "--methods", *methods]
        if problems:
            cmd += ["--problems", *problems]
        env = dict(os.environ, PYTHONPATH=src)
        subprocess.run(cmd, check=True, env=env)
        with open(path) as fh:
            return json.load(fh)


def _best(runs: list[dict[str, list]]) -> dict[str, list]:
    best: dict[str, list] = {}
    for run in runs:
        for key, row in run.items():
            if key not in best or row[0] < best[key][0]:
                best[key] = row
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--problems", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", metavar="SRC", default=None)
    parser.add_argument("--worker", metavar="OUT", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with open(args.worker, "w") as fh:
            json.dump(measure(args.methods, args.problems), fh)
        return
    if args.against is None:
        best = _best([measure(args.methods, args.problems) for _ in range(args.repeats)])
        total = 0.0
        print(f"{'problem/method':>40} {'seconds':>10} {'status':>10} {'iters':>7}")
        for key, (sec, status, iters) in best.items():
            total += sec
            print(f"{key:>40} {sec:>10.4f} {status:>10} {iters:>7}")
        print(f"{'total':>40} {total:>10.3f}")
        return
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src")
    mine, theirs = [], []
    for _ in range(args.repeats):
        mine.append(_worker(os.path.abspath(here), args.methods, args.problems))
        theirs.append(_worker(os.path.abspath(args.against), args.methods, args.problems))
    a, b = _best(mine), _best(theirs)
    print(f"this checkout (A) against {args.against} (B); best of {args.repeats}, seconds")
    print(f"{'problem/method':>40} {'A':>9} {'B':>9} {'A/B':>6} {'iters A':>8} {'iters B':>8}")
    logs, total_a, total_b = [], 0.0, 0.0
    for key in a:
        if key not in b:
            continue
        (sa, st_a, it_a), (sb, st_b, it_b) = a[key], b[key]
        same = st_a == st_b == "converged" and abs(it_a - it_b) <= 0.05 * max(it_b, 1)
        mark = "" if same else "  (not compared)"
        print(f"{key:>40} {sa:>9.4f} {sb:>9.4f} {sa / sb:>6.2f} {it_a:>8} {it_b:>8}{mark}")
        if same:
            logs.append(math.log(sa / sb))
            total_a, total_b = total_a + sa, total_b + sb
    if logs:
        geo = math.exp(sum(logs) / len(logs))
        print(
            f"{len(logs)} runs compared: total A {total_a:.3f} s, B {total_b:.3f} s, "
            f"A/B {total_a / total_b:.3f}; geometric mean of A/B {geo:.3f}"
        )


if __name__ == "__main__":
    main()
