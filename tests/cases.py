"""Shared test problems: every built-in oracle, with random data of a given seed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import lfso
from lfso.models import (
    CompositeLeastSquares,
    FunctionModel,
    L0L1Smooth,
    LogisticRegression,
    LpRegression,
    Model,
    PowerNorm,
    PowerSum,
)


def _data(rng: np.random.Generator, n: int = 12, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    A = rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, size=d)
    b = rng.standard_normal(n)
    return A, b


def _cosh_model() -> Model:
    # f = sum cosh(x_i): Hess = diag(cosh x_i) <= 1 + |sinh x_i| <= L0 + L1 ||grad f||.
    return FunctionModel(lambda x: float(np.sum(np.cosh(x))), lambda x: np.sinh(x))


def _affine_model(rng: np.random.Generator) -> Model:
    # g(x) = ||Ax + b||^4 through the calculus: AffineOracle(PowerNorm(2)) + ridge.
    A, b = _data(rng, 6, 4)
    inner = PowerNorm(2)
    oracle = lfso.oracles.ridge(lfso.oracles.AffineOracle(inner, A, b) * 0.5, 0.3)

    def fun(x: np.ndarray) -> float:
        return 0.5 * inner.value(A @ x + b) + 0.15 * float(x @ x)

    def grad(x: np.ndarray) -> np.ndarray:
        return 0.5 * (A.T @ inner.grad(A @ x + b)) + 0.3 * x

    return FunctionModel(fun, grad, oracle)


def _sum_model(rng: np.random.Generator) -> Model:
    # f = l_4 regression + sum x_i^6 through SumOracle of two models.
    A, b = _data(rng)
    m1, m2 = LpRegression(A, b, 2), PowerSum(3)
    return FunctionModel(
        lambda x: m1.value(x) + m2.value(x), lambda x: m1.grad(x) + m2.grad(x), m1 + m2
    )


def _consistent(rng: np.random.Generator, p: int) -> Model:
    A, _ = _data(rng, 8, 4)
    return CompositeLeastSquares(A, A @ rng.standard_normal(4), p, oracle="paper")


def _logistic(rng: np.random.Generator, oracle: str) -> Model:
    A, _ = _data(rng, 20, 3)
    y = (rng.uniform(size=20) < 0.5).astype(float)
    return LogisticRegression(A, y, l2=0.1, fit_intercept=True, oracle=oracle)


#: name -> factory(rng) -> model. Every built-in oracle and every calculus rule.
MODELS: dict[str, Callable[[np.random.Generator], Model]] = {
    "power_norm-p1": lambda rng: PowerNorm(1),
    "power_norm-p1.5": lambda rng: PowerNorm(1.5),
    "power_norm-p3": lambda rng: PowerNorm(3),
    "power_sum-p1": lambda rng: PowerSum(1),
    "power_sum-p2.5": lambda rng: PowerSum(2.5),
    "power_sum-p4": lambda rng: PowerSum(4),
    "power_sum-p3-paper": lambda rng: PowerSum(3, oracle="paper"),
    "lp-p1": lambda rng: LpRegression(*_data(rng), 1),
    "lp-p2": lambda rng: LpRegression(*_data(rng), 2),
    "lp-p3": lambda rng: LpRegression(*_data(rng), 3),
    "lp-p1.5": lambda rng: LpRegression(*_data(rng), 1.5),
    "lp-p2-paper": lambda rng: LpRegression(*_data(rng), 2, oracle="paper"),
    "lp-p3-paper": lambda rng: LpRegression(*_data(rng), 3, oracle="paper"),
    "composite-p1": lambda rng: CompositeLeastSquares(*_data(rng), 1),
    "composite-p2": lambda rng: CompositeLeastSquares(*_data(rng), 2),
    "composite-p3": lambda rng: CompositeLeastSquares(*_data(rng), 3),
    "composite-p2-paper-consistent": lambda rng: _consistent(rng, 2),
    "logistic": lambda rng: _logistic(rng, "sharp"),
    "logistic-paper": lambda rng: _logistic(rng, "paper"),
    "softmax": lambda rng: lfso.models.SoftmaxRegression(
        rng.standard_normal((15, 3)), rng.integers(0, 3, 15), 3, l2=0.05
    ),
    "cauchy": lambda rng: lfso.models.CauchyRegression(*_data(rng), c=0.5, l2=0.01),
    "l0l1-cosh": lambda rng: L0L1Smooth(_cosh_model(), 1.0, 1.0),
    "affine-ridge-scaled": _affine_model,
    "sum": _sum_model,
}


def dim_of(model: Model, default: int = 4) -> int:
    return model.dim if model.dim is not None else default
