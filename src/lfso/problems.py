"""The paper's test problems, generated as the authors' public code does, and a registry.

Berahas, Roberts & Roosta (TMLR 2024) test LFSO-GD on ``||x||^(2p)`` and
``sum_i x_i^(2p)`` (``d = 10``, ``p = 1..5``, ``x0 = ones``), on ``l_2p`` regression and
composite least squares with a random ``n x d`` matrix of condition number 100 and noise
0.1 (``n = 1000, d = 100`` and ``n = d = 100``, ``x0 = ones``), and on logistic regression.
The random matrices reproduce their ``generate_lls_problem`` with ``np.random.seed(0)``
draw for draw; logistic regression uses scikit-learn's bundled breast-cancer and digits
(0 vs 1) sets instead of their MNIST file (scikit-learn is then needed).

Each entry of :data:`PROBLEMS` builds ``(model, x0)``; ``oracle="paper"`` gives the
authors' oracle instead of the sharper default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import (
    CompositeLeastSquares,
    LogisticRegression,
    LpRegression,
    Model,
    PowerNorm,
    PowerSum,
)

__all__ = ["PROBLEMS", "Problem", "get_problem", "lls_data", "logistic_data"]


@dataclass(frozen=True)
class Problem:
    """A named test problem.

    Attributes
    ----------
    name : str
    family : str
        ``power_norm``, ``power_sum``, ``lp_regression``, ``composite_ls`` or ``logistic``.
    description : str
    build : callable ``(oracle) -> (model, x0)``
    flat : bool
        Whether the minimum is degenerate (non-strongly convex, e.g. ``p >= 2``).
    """

    name: str
    family: str
    description: str
    build: Callable[[str], tuple[Model, np.ndarray]]
    flat: bool = False

    def make(self, oracle: str = "sharp") -> tuple[Model, np.ndarray]:
        """Build the model (with the ``"sharp"`` or ``"paper"`` oracle) and its ``x0``."""
        return self.build(oracle)


def lls_data(
    n: int, d: int, noise: float = 0.1, cond: float = 100.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The authors' random system ``A = U diag(linspace(1, cond)) V^T``, ``b = A 1 + noise e``.

    Draw for draw the same as their ``generate_lls_problem`` after ``np.random.seed(seed)``.
    """
    rng = np.random.RandomState(seed)
    if n >= d:
        U = np.linalg.qr(rng.randn(n, d), mode="reduced")[0]
        S = np.diag(np.linspace(1, cond, d))
        VT = np.linalg.qr(rng.randn(d, d), mode="reduced")[0]
    else:
        U = np.linalg.qr(rng.randn(n, n), mode="reduced")[0]
        S = np.diag(np.linspace(1, cond, n))
        VT = np.linalg.qr(rng.randn(d, n), mode="reduced")[0].T
    A = U @ S @ VT
    b = A @ np.ones(d) + noise * rng.randn(n)
    return A, b


def _require_sklearn() -> Any:
    """``sklearn.datasets``, or an ImportError saying how to get it."""
    try:
        from sklearn import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this problem uses scikit-learn's bundled data: pip install 'lfso[sklearn]'"
        ) from exc
    return datasets


def logistic_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and 0/1 labels of a bundled scikit-learn set, scaled for gradient descent.

    ``"breast_cancer"``: 569 x 30, features standardised (zero mean, unit variance).
    ``"digits01"``: the 360 images of 0 and 1 from ``load_digits``, 64 pixels scaled to [0, 1].
    """
    datasets = _require_sklearn()
    if name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    elif name == "digits01":
        X, y = datasets.load_digits(n_class=2, return_X_y=True)
        X = X / 16.0
    else:
        raise ValueError(f"unknown data set {name!r}; choose 'breast_cancer' or 'digits01'")
    return X.astype(float), y.astype(float)


def _power(
    cls: type, p: int, d: int = 10, generic: bool = False
) -> Callable[[str], tuple[Model, np.ndarray]]:
    def build(oracle: str) -> tuple[Model, np.ndarray]:
        model = cls(p) if cls is PowerNorm else cls(p, oracle=oracle)
        return model, np.linspace(0.5, 1.5, d) if generic else np.ones(d)

    return build


def _regression(
    cls: type, p: int, n: int, d: int = 100
) -> Callable[[str], tuple[Model, np.ndarray]]:
    def build(oracle: str) -> tuple[Model, np.ndarray]:
        A, b = lls_data(n, d)
        return cls(A, b, p, oracle=oracle), np.ones(d)

    return build


def _logistic(data: str) -> Callable[[str], tuple[Model, np.ndarray]]:
    def build(oracle: str) -> tuple[Model, np.ndarray]:
        X, y = logistic_data(data)
        model = LogisticRegression(X, y, l2=1.0 / X.shape[0], fit_intercept=True, oracle=oracle)
        return model, np.zeros(model.dim)

    return build


def _registry() -> dict[str, Problem]:
    problems: list[Problem] = []
    for p in range(1, 6):
        problems.append(
            Problem(
                f"power_norm-p{p}",
                "power_norm",
                f"||x||^{2 * p}, d=10, x0=ones",
                _power(PowerNorm, p),
                flat=p > 1,
            )
        )
    for p in range(1, 6):
        problems.append(
            Problem(
                f"power_sum-p{p}",
                "power_sum",
                f"sum x_i^{2 * p}, d=10, x0=ones",
                _power(PowerSum, p),
                flat=p > 1,
            )
        )
    # From x0 = ones these are one-dimensional and a fixed step can land on x* = 0 by luck
    # (e.g. t = 0.1 on sum x_i^10); a generic start removes the luck.
    for cls, family, text in (
        (PowerNorm, "power_norm", "||x||^{}"),
        (PowerSum, "power_sum", "sum x_i^{}"),
    ):
        for p in range(2, 6):
            problems.append(
                Problem(
                    f"{family}-p{p}-lin",
                    family,
                    text.format(2 * p) + ", d=10, x0=linspace(0.5, 1.5)",
                    _power(cls, p, generic=True),
                    flat=True,
                )
            )
    for n in (1000, 100):
        for p in (1, 2, 3):
            problems.append(
                Problem(
                    f"lp_regression-p{p}-n{n}",
                    "lp_regression",
                    f"sum (Ax-b)_i^{2 * p}, {n}x100, cond 100, x0=ones",
                    _regression(LpRegression, p, n),
                    flat=p > 1 and n == 100,
                )
            )
    for n in (1000, 100):
        for p in (1, 2):
            problems.append(
                Problem(
                    f"composite_ls-p{p}-n{n}",
                    "composite_ls",
                    f"||Ax-b||^{2 * p}, {n}x100, cond 100, x0=ones",
                    _regression(CompositeLeastSquares, p, n),
                    flat=p > 1 and n == 100,
                )
            )
    problems.append(
        Problem(
            "logistic-breast_cancer",
            "logistic",
            "logistic regression, breast cancer (569x30), l2=1/n, intercept",
            _logistic("breast_cancer"),
        )
    )
    problems.append(
        Problem(
            "logistic-digits01",
            "logistic",
            "logistic regression, digits 0 vs 1 (360x64), l2=1/n, intercept",
            _logistic("digits01"),
        )
    )
    return {pr.name: pr for pr in problems}


#: Every built-in problem by name.
PROBLEMS: dict[str, Problem] = _registry()


def get_problem(name: str) -> Problem:
    """Look up a problem by name, with the list of names in the error."""
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; choose from: {', '.join(PROBLEMS)}") from None


def problem_names(family: str | None = None) -> list[str]:
    """Names of the problems, optionally of one family."""
    return [n for n, p in PROBLEMS.items() if family is None or p.family == family]
