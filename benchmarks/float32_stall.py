"""Float32 runs held to a tolerance their rounding cannot resolve: where they stop, and how.

Usage::

    python benchmarks/float32_stall.py                  # the default tol=1e-8, 10,000 iterations
    python benchmarks/float32_stall.py --max-iter 3000 --problems least-squares

Five small problems in float32 (least squares and l_4 regression on 200 x 20 Gaussian data,
least squares on scikit-learn's diabetes data when scikit-learn is installed, Cauchy
regression, logistic regression on breast cancer), each run by ``lfso`` and ``lfso-lbfgs``
at the default ``tol=1e-8`` (float64 solves every one in at most a few thousand
iterations). Per run: the status, the iterations, the seconds, and the true
``||grad f|| / ||grad f(x0)||`` at the returned point, computed in float64 from float64
copies of the data (float32 data and points are exact in float64).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import lfso
from lfso import models


def _gaussian(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((200, 20)), rng.standard_normal(200)


def _problems() -> dict[str, Callable[[Any], tuple[Any, np.ndarray]]]:
    A, b = _gaussian(0)
    problems: dict[str, Callable[[Any], tuple[Any, np.ndarray]]] = {
        "least-squares": lambda dt: (models.LpRegression(A.astype(dt), b.astype(dt), 1), A),
        "l4-regression": lambda dt: (models.LpRegression(A.astype(dt), b.astype(dt), 2), A),
        "cauchy": lambda dt: (models.CauchyRegression(A.astype(dt), b.astype(dt)), A),
    }
    try:
        from sklearn.datasets import load_breast_cancer, load_diabetes
    except ImportError:
        return problems
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    Xd, yd = load_diabetes(return_X_y=True)
    problems["logistic"] = lambda dt: (models.LogisticRegression(X.astype(dt), y, l2=1e-3), X)
    problems["diabetes"] = lambda dt: (
        models.LpRegression(Xd.astype(dt), (yd / 100).astype(dt), 1),
        Xd,
    )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=10_000)
    parser.add_argument("--problems", nargs="+", default=None, help="names (default: all)")
    args = parser.parse_args()
    problems = _problems()
    names = args.problems or list(problems)
    unknown = sorted(set(names) - set(problems))
    if unknown:
        parser.error(f"--problems: unknown {unknown}; choose from {sorted(problems)}")
    print(
        f"{'problem':>14} {'method':>11} {'status':>10} {'nit':>6} {'seconds':>8} {'|g|/|g0|':>9}"
    )
    for name in names:
        model, _ = problems[name](np.float32)
        exact, _ = problems[name](np.float64)
        x0 = np.zeros(model.dim, np.float32)
        g0 = np.linalg.norm(exact.grad(x0.astype(np.float64)))
        for method in ("lfso", "lfso-lbfgs"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                res = lfso.minimize(model, x0, method=method, max_iter=args.max_iter)
                seconds = time.perf_counter() - start
            ratio = np.linalg.norm(exact.grad(np.asarray(res.x, np.float64))) / g0
            print(
                f"{name:>14} {method:>11} {res.status.name:>10} {res.nit:>6} "
                f"{seconds:>8.2f} {ratio:>9.1e}"
            )


if __name__ == "__main__":
    main()
