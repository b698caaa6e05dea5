"""Fit time and iterations of ``LFSOLogisticRegression`` with and without ``sample_weight``.

Usage::

    python benchmarks/weighted_logistic.py                 # lfso-lbfgs and lfso
    python benchmarks/weighted_logistic.py --methods lfso  # one method

On scikit-learn's breast cancer and digits (standardised features; digits both as "0
against the rest" and as ten classes), three fits of one objective: no weights at
``C = 0.75``, ``sample_weight`` all ``0.75`` at ``C = 1`` (the same loss, through the
weighted models) and ``sample_weight`` all 1 at ``C = 0.75``: each fit's best wall clock
of ``--repeat`` (milliseconds) and its ``n_iter_``. Times move with the machine's load;
the iterations do not.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from lfso.sklearn import LFSOLogisticRegression


def _problems() -> list[tuple[str, np.ndarray, np.ndarray]]:
    X, y = load_breast_cancer(return_X_y=True)
    digits, labels = load_digits(return_X_y=True)
    digits = StandardScaler().fit_transform(digits)
    return [
        ("breast_cancer", StandardScaler().fit_transform(X), y),
        ("digits 0/rest", digits, (labels == 0).astype(int)),
        ("digits 10", digits, labels),
    ]


def _fit(
    X: np.ndarray, y: np.ndarray, method: str, C: float, weight: float | None, repeat: int
) -> tuple[float, int]:
    weights = None if weight is None else np.full(y.shape[0], weight)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        clf = LFSOLogisticRegression(C=C, method=method).fit(X, y, sample_weight=weights)
        best = min(best, time.perf_counter() - start)
    return best, int(clf.n_iter_[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["lfso-lbfgs", "lfso"])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("| problem | method | none: ms, n_iter_ | 0.75: ms, n_iter_ | ones: ms, n_iter_ |")
    print("|---|---|---|---|---|")
    for name, X, y in _problems():
        for method in args.methods:
            cells = []
            plain = _fit(X, y, method, 0.75, None, args.repeat)
            for fit in (plain, _fit(X, y, method, 1.0, 0.75, args.repeat)):
                cells.append(f"{1e3 * fit[0]:.0f}, {fit[1]}")
            ones = _fit(X, y, method, 0.75, 1.0, args.repeat)
            cells.append(f"{1e3 * ones[0]:.0f}, {ones[1]}")
            print(f"| {name} | {method} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
