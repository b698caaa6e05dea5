"""Instructions per iteration of the certified methods (valgrind's callgrind): a cost that
does not move with the machine's load.

Usage::

    python benchmarks/instructions.py
    python benchmarks/instructions.py --problems power_sum-p3 --methods lfso-lbfgs --iters 300
    python benchmarks/instructions.py --against /path/to/other/checkout/src   # compare

On the suite's small problems an iteration is Python and small NumPy calls, whose CPU time
on a shared machine moves by tens of percent from run to run (``per_iteration.py``); the
number of instructions it executes moves by about 1%. Each (problem, method) runs in a
child process under ``valgrind --tool=callgrind`` with instrumentation off until a
warm-up run of 20 iterations has finished, then on for one run of ``--iters`` iterations
with ``tol=0`` (``callgrind_control -i on``/``off`` around it), with one thread and a
fixed hash seed; the table gives thousands of instructions per iteration, and with
``--against`` the same for another checkout's ``src`` and the change. Needs valgrind
(``callgrind_control`` on the path); the valgrind run takes about a minute per column on
the default problems.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import warnings

PROBLEMS = [
    "power_norm-p3",
    "power_sum-p3",
    "logistic-breast_cancer",
    "rosenbrock-d10",
    "lp_regression-p2-diabetes",
]


def child(name: str, method: str, iters: int) -> None:
    """The measured run (in the process valgrind runs): the warm-up, then ``iters``
    iterations with the instrumentation on; prints the iterations it took."""
    import lfso
    from lfso.bench import get_problem

    model, x0 = get_problem(name).make()
    toggle = ["callgrind_control", "-i"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfso.minimize(model, x0, method=method, tol=0.0, max_iter=20, monitor=False)
        subprocess.run([*toggle, "on", str(os.getpid())], capture_output=True, check=True)
        res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=iters, monitor=False)
        subprocess.run([*toggle, "off", str(os.getpid())], capture_output=True, check=True)
    print(f"iterations {res.nit}", file=sys.stderr)


def measure(src: str | None, name: str, method: str, iters: int) -> float:
    """Thousands of instructions per iteration of one run, ``src`` on the path (or this
    interpreter's ``lfso``)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    if src is not None:
        env["PYTHONPATH"] = src
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        name,
        method,
        str(iters),
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stderr
    collected = re.search(r"Collected : (\d+)", out)
    taken = re.search(r"iterations (\d+)", out)
    if collected is None or taken is None:
        raise SystemExit(f"no instruction count from valgrind for {name} {method}:\n{out}")
    return int(collected.group(1)) / max(int(taken.group(1)), 1) / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=PROBLEMS)
    parser.add_argument("--methods", nargs="+", default=["lfso", "lfso-lbfgs"])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--against", default=None, help="another checkout's src folder")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.iters < 1:
        parser.error(f"--iters {args.iters}: expected an integer >= 1")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("instructions.py needs valgrind (callgrind_control) on the path")
    here = "this" if args.against is None else "this / against / change"
    print(f"thousands of instructions per iteration ({here}), {args.iters} iterations")
    for name in args.problems:
        for method in args.methods:
            ours = measure(None, name, method, args.iters)
            cells = [f"{ours:.1f}"]
            if args.against is not None:
                theirs = measure(args.against, name, method, args.iters)
                cells += [f"{theirs:.1f}", f"{100.0 * (ours / theirs - 1.0):+.1f}%"]
            print(f"{name:>26} {method:>12} " + " ".join(f"{c:>9}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
