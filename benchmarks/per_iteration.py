"""CPU time per iteration of the certified methods on the suite's problems (overhead).

Usage::

    python benchmarks/per_iteration.py
    python benchmarks/per_iteration.py --problems lp_regression-p2-n100 --iters 1000
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/per_iteration.py   # compare

Each problem of the benchmark suite (``lfso.bench``) runs ``--iters`` iterations with
``tol=0`` (a run that stops earlier is timed over the iterations it took) for each method,
``--repeats`` times; the table gives the best CPU time per iteration in microseconds. On the
suite's small problems an iteration is mostly Python and NumPy call overhead, which this
measures; run two checkouts alternately (``PYTHONPATH``) to compare them on a machine whose
timings drift.
"""

from __future__ import annotations

import argparse
import time
import warnings

import lfso

try:
    from lfso.bench import get_problem
except ImportError:  # (a checkout from before the problems joined lfso.bench)
    from lfso.problems import get_problem  # type: ignore[no-redef]

DEFAULT_PROBLEMS = [
    "lp_regression-p1-n100",
    "lp_regression-p2-n100",
    "lp_regression-p3-n1000",
    "logistic-breast_cancer",
    "logistic-digits01",
    "power_sum-p3-lin",
    "composite_ls-p2-n100",
    "robust-cauchy",
]


def per_iteration(name: str, method: str, iters: int, repeats: int) -> float:
    """Best CPU seconds per iteration of ``method`` on the problem ``name``."""
    model, x0 = get_problem(name).make()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=iters, monitor=False)
        best = min(best, (time.process_time() - start) / max(res.nit, 1))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=DEFAULT_PROBLEMS)
    parser.add_argument("--methods", nargs="+", default=["lfso", "lfso-lbfgs"])
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"lfso from {lfso.__file__}; CPU us per iteration, best of {args.repeats}")
    print(f"{'problem':>24} " + " ".join(f"{m:>12}" for m in args.methods))
    for name in args.problems:
        times = [per_iteration(name, m, args.iters, args.repeats) for m in args.methods]
        print(f"{name:>24} " + " ".join(f"{1e6 * t:>12.1f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
