"""Wall clock to tolerance: lfso-lbfgs against SciPy's L-BFGS-B on the same model.

Usage::

    python benchmarks/lbfgs_wallclock.py            # logistic and l_4 regression, 1e4 and 1e5 rows
    python benchmarks/lbfgs_wallclock.py --quick    # 300 x 5, tol 1e-5: a smoke run
    python benchmarks/lbfgs_wallclock.py --suite    # every problem of the benchmark suite
    python benchmarks/lbfgs_wallclock.py --models softmax digits --sizes 20000  # multinomial

Both methods minimise the same lfso model from zero until ``||g|| <= tol ||g0||``
(``--tol``, default 1e-8), counted the same way: SciPy gets ``model.evaluate(x,
bound=False)`` as ``fun`` with ``jac=True`` (one call is one value and one gradient) and is
stopped by the same gradient test at its iterates; every evaluation either method makes is
counted (``evals``). The data are generated (``lfso.bench.lls_data``: condition number
100, noise 0.1; logistic labels are the signs of ``A 1 + noise``, ridge ``1/n``,
intercept) at ``--sizes`` rows and ``--dim`` columns; ``softmax``: multinomial logistic
regression (:class:`lfso.models.SoftmaxRegression`, ridge ``1/n``, intercepts) on the same
rows with 10 classes, each row's the largest entry of ``A W + noise`` (``W`` Gaussian);
``digits``: the same model on scikit-learn's bundled digits (1,797 x 64, standardised,
10 classes; ``--sizes`` and ``--dim`` do not apply). Each pair runs ``--repeats`` times,
interleaved; the table reports the best wall time, the evaluations, and lfso's time over
SciPy's (``ratio``; below 1: lfso is faster).

With ``--suite`` the models are the problems of ``lfso bench --suite full`` (each with its
own ``x0``; ``--problems`` for a subset), timed the same way, and the last line counts the
problems that both methods solved and those where lfso-lbfgs took at most SciPy's time.
Each time is the whole call (``lfso.minimize`` or ``scipy.optimize.minimize`` with the
gradient test), the problem's construction excluded. Set ``OMP_NUM_THREADS=1`` (and
``OPENBLAS_NUM_THREADS=1``) for stable times on small problems.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import lfso
from lfso.bench import lls_data, scipy_lbfgs


def make_model(kind: str, n: int, d: int, seed: int = 0) -> lfso.models.Model:
    if kind == "digits":
        from sklearn.datasets import load_digits

        X, labels = load_digits(return_X_y=True)
        X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        return lfso.models.SoftmaxRegression(X, labels, 10, l2=1.0 / X.shape[0])
    A, b = lls_data(n, d, seed=seed)
    if kind == "softmax":
        rng = np.random.default_rng(seed + 1)
        scores = A @ rng.standard_normal((d, 10)) + 0.5 * rng.standard_normal((n, 10))
        return lfso.models.SoftmaxRegression(A, scores.argmax(axis=1), 10, l2=1.0 / n)
    if kind == "logistic":
        rng = np.random.default_rng(seed + 1)
        y = (A @ np.ones(d) + 0.1 * rng.standard_normal(n) > 0).astype(float)
        return lfso.models.LogisticRegression(A, y, l2=1.0 / n, fit_intercept=True)
    return lfso.models.LpRegression(A, b, p=2)


def run_lfso(model, x0, tol: float, cap: int) -> tuple[float, int, bool]:
    start = time.perf_counter()
    res = lfso.minimize(model, x0, method="lfso-lbfgs", tol=tol, max_iter=cap, monitor=False)
    return time.perf_counter() - start, max(res.nfev, res.njev), res.success


def run_scipy(model, x0, tol: float, cap: int) -> tuple[float, int, bool]:
    run = scipy_lbfgs(model, x0, cap=cap, tol=tol)  # (the g0 evaluation counted too)
    return run.seconds, len(run.calls) + 1, run.converged


def _best_pair(model, x0, tol: float, cap: int, repeats: int) -> dict[str, tuple]:
    """Best time of each method over ``repeats`` interleaved runs."""
    best = {"lfso": (np.inf, 0, False), "scipy": (np.inf, 0, False)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            for name, run in (("lfso", run_lfso), ("scipy", run_scipy)):
                timing = run(model, x0, tol, cap)
                if timing[0] < best[name][0]:
                    best[name] = timing
    return best


def suite(problems: list[str] | None, tol: float, cap: int, repeats: int) -> None:
    """The ``--suite`` table: every problem of the full suite, and the count at the end."""
    from lfso.bench import BENCH_PROBLEMS, SUITES

    names = problems or list(SUITES["full"])
    unknown = [p for p in names if p not in BENCH_PROBLEMS]
    if unknown:
        raise SystemExit(f"--problems: unknown {unknown} (choose from {list(SUITES['full'])})")
    print(
        f"{'problem':>28} {'lfso_s':>9} {'lfso_evals':>10} {'scipy_s':>9} "
        f"{'scipy_evals':>11} {'ratio':>6} {'converged':>9}"
    )
    solved = faster = 0
    for name in names:
        model, x0 = BENCH_PROBLEMS[name].make()
        best = _best_pair(model, x0, tol, cap, repeats)
        (t_l, e_l, ok_l), (t_s, e_s, ok_s) = best["lfso"], best["scipy"]
        both = ok_l and ok_s
        solved += both
        faster += both and t_l <= t_s
        print(
            f"{name:>28} {t_l:>9.4f} {e_l:>10} {t_s:>9.4f} {e_s:>11} {t_l / t_s:>6.2f} "
            f"{'yes' if both else 'no':>9}",
            flush=True,
        )
    print(f"lfso-lbfgs at most L-BFGS-B's time on {faster} of the {solved} problems both solved")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["logistic", "l4", "softmax", "digits"],
        default=["logistic", "l4"],
    )
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--suite", action="store_true", help="the benchmark suite's problems")
    parser.add_argument("--problems", nargs="+", default=None, help="with --suite: a subset")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.suite:
        suite(args.problems, args.tol, args.cap, args.repeats)
        return
    if args.quick:
        args.sizes, args.dim, args.repeats, args.tol = [300], 5, 1, 1e-5
    print(
        f"{'model':>9} {'rows':>8} {'dim':>5} {'lfso_s':>9} {'lfso_evals':>10} "
        f"{'scipy_s':>9} {'scipy_evals':>11} {'ratio':>6} {'converged':>9}"
    )
    for kind in args.models:
        for n in args.sizes[:1] if kind == "digits" else args.sizes:
            model = make_model(kind, n, args.dim)
            dim = args.dim
            if kind == "digits":  # (its own rows and columns)
                n, dim = model.n, model.n_features - 1
            x0 = np.zeros(model.dim)
            best = _best_pair(model, x0, args.tol, args.cap, args.repeats)
            (t_l, e_l, ok_l), (t_s, e_s, ok_s) = best["lfso"], best["scipy"]
            print(
                f"{kind:>9} {n:>8} {dim:>5} {t_l:>9.4f} {e_l:>10} {t_s:>9.4f} "
                f"{e_s:>11} {t_l / t_s:>6.2f} {'yes' if ok_l and ok_s else 'no':>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
