"""The benchmark suite as data: problems and methods, each one registry entry.

Adding a problem or a method touches one place: :data:`BENCH_PROBLEMS` or
:data:`BENCH_METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models import CauchyRegression, FunctionModel, LpRegression, Model
from ..problems import PROBLEMS, Problem, lls_data

__all__ = ["BENCH_METHODS", "BENCH_PROBLEMS", "STEP_GRID", "SUITES", "BenchMethod", "BenchProblem"]

#: Step sizes tried by the grid-tuned methods (decades; wide enough for every problem).
STEP_GRID: tuple[float, ...] = tuple(float(s) for s in np.logspace(-8, 1, 10))


@dataclass(frozen=True)
class BenchProblem:
    """A benchmark problem.

    Attributes
    ----------
    name : str
    build : callable ``(oracle) -> (model, x0)``
    f_star : callable ``() -> float`` or None
        The optimal value when it is known exactly (for Polyak and for ``f - f*``).
    lipschitz : callable ``(model) -> float`` or None
        A global Lipschitz constant of the gradient, when one exists.
    flat : bool
        Degenerate (non-strongly convex) minimum.
    tags : tuple of str
        ``"paper"``: one of the paper's problems; ``"quick"``: in the quick suite.
    """

    name: str
    build: Callable[[str], tuple[Model, np.ndarray]]
    description: str
    f_star: Callable[[], float] | None = None
    lipschitz: Callable[[Any], float] | None = None
    flat: bool = False
    tags: tuple[str, ...] = ()
    has_oracle: bool = True


@dataclass(frozen=True)
class BenchMethod:
    """A benchmark method: a ``lfso.minimize`` configuration, a grid, or an outside solver.

    Attributes
    ----------
    name : str
    options : callable ``(problem) -> dict or str``
        The ``minimize`` keyword arguments for a problem, or a string saying why the
        method does not apply.
    tuned : bool
        Run over :data:`STEP_GRID` (``step=``) and report the best and the grid's cost.
    family : str
        ``"lfso"`` for the LFSO methods, ``"peer"`` otherwise.
    """

    name: str
    options: Callable[[BenchProblem], dict[str, Any] | str]
    description: str
    tuned: bool = False
    family: str = "peer"
    tags: tuple[str, ...] = field(default=())


def _from_registry(problem: Problem) -> Callable[[str], tuple[Model, np.ndarray]]:
    return problem.make


def _lls_optimum(n: int, p: int) -> Callable[[], float]:
    def f_star() -> float:
        A, b = lls_data(n, 100)
        if n == 100:
            return 0.0  # square and non-singular: the system is consistent
        sol = np.linalg.lstsq(A, b, rcond=None)[0]
        res = float(np.sum((A @ sol - b) ** 2))
        return res**p

    return f_star


def _diabetes(oracle: str) -> tuple[Model, np.ndarray]:
    from ..problems import _require_sklearn

    datasets = _require_sklearn()
    X, y = datasets.load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    return LpRegression(X, y, 2, oracle=oracle), np.zeros(X.shape[1])


def _cauchy(oracle: str) -> tuple[Model, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d = 500, 20
    A = rng.standard_normal((n, d))
    x_true = rng.standard_normal(d)
    noise = 0.1 * rng.standard_t(df=2, size=n)
    outliers = rng.uniform(size=n) < 0.1
    b = A @ x_true + noise + outliers * rng.normal(0.0, 20.0, size=n)
    return CauchyRegression(A, b, c=1.0), np.zeros(d)


def _bench_problems() -> dict[str, BenchProblem]:
    out: dict[str, BenchProblem] = {}
    quick = {
        "power_sum-p3-lin",
        "power_sum-p5-lin",
        "lp_regression-p1-n100",
        "lp_regression-p2-n100",
        "logistic-breast_cancer",
    }
    for name, pr in PROBLEMS.items():
        f_star = None
        lipschitz = None
        if pr.family in ("power_norm", "power_sum"):
            f_star = lambda: 0.0  # noqa: E731
            if name.endswith("p1"):
                lipschitz = lambda model: 2.0  # noqa: E731
        elif pr.family in ("lp_regression", "composite_ls"):
            p = int(name.split("-p")[1].split("-")[0])
            n = int(name.split("-n")[1])
            if n == 100 or p == 1:
                f_star = _lls_optimum(n, p)
            if p == 1:
                lipschitz = lambda model: 2.0 * model.norm**2  # noqa: E731
        elif pr.family == "logistic":
            lipschitz = lambda model: model.norm**2 / (4 * model.n) + model.l2  # noqa: E731
        tags = () if name.endswith("-lin") else ("paper",)
        if name in quick:
            tags += ("quick",)
        out[name] = BenchProblem(
            name, _from_registry(pr), pr.description, f_star, lipschitz, pr.flat, tags
        )
    out["lp_regression-p2-diabetes"] = BenchProblem(
        "lp_regression-p2-diabetes",
        _diabetes,
        "sum (Ax-b)_i^4 on scikit-learn's diabetes (442x10), standardised",
        tags=("quick",),
    )
    for d in (2, 5, 10):
        out[f"rosenbrock-d{d}"] = BenchProblem(
            f"rosenbrock-d{d}",
            _rosenbrock(d),
            f"Rosenbrock, d={d}, x0=(-1.2, 1, ...): no hand-made oracle",
            f_star=lambda: 0.0,
            has_oracle=False,
            tags=("quick",) if d == 5 else (),
        )
    out["cauchy-robust"] = BenchProblem(
        "cauchy-robust",
        _cauchy,
        "Cauchy-loss robust regression, 500x20, 10% gross outliers (non-convex)",
        lipschitz=lambda model: model.geometry.norm**2 / model.n,
        tags=("quick",),
    )
    return out


def rosenbrock(x: np.ndarray) -> float:
    """The Rosenbrock function ``sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """Gradient of :func:`rosenbrock`."""
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def _rosenbrock(d: int) -> Callable[[str], tuple[Model, np.ndarray]]:
    def build(oracle: str) -> tuple[Model, np.ndarray]:
        x0 = np.full(d, -1.2)
        x0[1::2] = 1.0
        return FunctionModel(rosenbrock, rosenbrock_grad), x0

    return build


def _needs_oracle(options: dict[str, Any]) -> Callable[[BenchProblem], dict[str, Any] | str]:
    def build(problem: BenchProblem) -> dict[str, Any] | str:
        return dict(options) if problem.has_oracle else "no hand-made oracle"

    return build


def _paper_rule(problem: BenchProblem) -> dict[str, Any] | str:
    if not problem.has_oracle:
        return "no hand-made oracle"
    if problem.name.startswith("cauchy"):
        return "the paper has no oracle or radius rule for this model"
    return {"radius": "paper", "oracle": "paper"}


def _polyak(problem: BenchProblem) -> dict[str, Any] | str:
    if problem.f_star is None:
        return "f* unknown"
    return {"method": "polyak", "f_star": problem.f_star()}


BENCH_METHODS: dict[str, BenchMethod] = {
    m.name: m
    for m in (
        BenchMethod("lfso", _needs_oracle({}), "LFSO-GD, tight radius (default)", family="lfso"),
        BenchMethod(
            "lfso-auto",
            lambda p: {"smoothness": "auto"},
            "LFSO-GD with the automatic oracle (black box, safeguarded)",
            family="lfso",
        ),
        BenchMethod(
            "lfso-paper", _paper_rule, "LFSO-GD, the authors' oracle and radius rule", family="lfso"
        ),
        BenchMethod(
            "lfso-accel",
            _needs_oracle({"method": "lfso-accel"}),
            "LFSO-accelerated (FISTA epochs, restarts)",
            family="lfso",
        ),
        BenchMethod(
            "gd-tuned", lambda p: {"method": "gd"}, "fixed step, best of the grid", tuned=True
        ),
        BenchMethod(
            "nesterov-tuned",
            lambda p: {"method": "nesterov"},
            "Nesterov, fixed step, best of the grid",
            tuned=True,
        ),
        BenchMethod("armijo", lambda p: {"method": "armijo"}, "Armijo backtracking, warm start"),
        BenchMethod("bb", lambda p: {"method": "bb"}, "Barzilai-Borwein (long), GLL safeguard"),
        BenchMethod("adgd", lambda p: {"method": "adgd"}, "AdGD (Malitsky-Mishchenko 2023)"),
        BenchMethod(
            "adgd-2020",
            lambda p: {"method": "adgd", "variant": 2020},
            "AdGD (Malitsky-Mishchenko 2020)",
        ),
        BenchMethod("polyak", _polyak, "Polyak step with the exact f*"),
        BenchMethod("dog", lambda p: {"method": "dog"}, "DoG (Ivgi-Hinder-Carmon 2023)"),
        BenchMethod(
            "lbfgs", lambda p: {"method": "scipy-lbfgs"}, "scipy L-BFGS-B (outside reference)"
        ),
    )
}

#: Problems of each suite.
BENCH_PROBLEMS: dict[str, BenchProblem] = _bench_problems()
SUITES: dict[str, list[str]] = {
    "paper": [n for n, p in BENCH_PROBLEMS.items() if "paper" in p.tags],
    "full": list(BENCH_PROBLEMS),
    "quick": [n for n, p in BENCH_PROBLEMS.items() if "quick" in p.tags],
}
