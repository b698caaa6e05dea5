"""The paper's test problems, generated as the authors' public code does, and a registry.

Berahas, Roberts & Roosta (TMLR 2024) test LFSO-GD on ``||x||^(2p)`` and
``sum_i x_i^(2p)`` (``d = 10``, ``p = 1..5``, ``x0 = ones``), on ``l_2p`` regression and
composite least squares with a random ``n x d`` matrix of condition number 100 and noise
0.1 (``n = 1000, d = 100`` and ``n = d = 100``, ``x0 = ones``), and on logistic regression.
The random matrices reproduce their ``generate_lls_problem`` with ``np.random.seed(0)``
draw for draw; logistic regression uses scikit-learn's bundled breast-cancer and digits
(0 vs 1) sets instead of their MNIST file (scikit-learn is then needed). Beyond the paper:
generic starts for the power families, l_4 regression on scikit-learn's diabetes data,
Rosenbrock (no hand-made oracle) and a non-convex robust regression.

Each entry of :data:`PROBLEMS` builds ``(model, x0)``; ``oracle="paper"`` gives the
authors' oracle instead of the sharper default.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import integer, real
from ..models import (
    CauchyRegression,
    CompositeLeastSquares,
    FunctionModel,
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
        ``power_norm``, ``power_sum``, ``lp_regression``, ``composite_ls``, ``logistic``,
        ``rosenbrock`` or ``robust``.
    description : str
    build : callable ``(oracle) -> (model, x0)``
    flat : bool
        Whether the minimum is degenerate (non-strongly convex, e.g. ``p >= 2``).
    f_star : callable ``() -> float`` or None
        The optimal value when it is known exactly (Polyak's step, the ``f - f*`` test).
    has_oracle : bool
        ``False`` for functions with no hand-made oracle (LFSO then estimates one).
    tags : tuple of str
        ``"paper"``: one of the paper's problems; ``"quick"``: in the quick benchmark.
    """

    name: str
    family: str
    description: str
    build: Callable[[str], tuple[Model, np.ndarray]]
    flat: bool = False
    f_star: Callable[[], float] | None = None
    has_oracle: bool = True
    tags: tuple[str, ...] = ()

    def make(self, oracle: str = "sharp") -> tuple[Model, np.ndarray]:
        """Build the model (with the ``"sharp"`` or ``"paper"`` oracle) and its ``x0``;
        another ``oracle`` raises ``ValueError``."""
        if not (isinstance(oracle, str) and oracle in ("sharp", "paper")):
            raise ValueError(f"oracle must be 'sharp' or 'paper', got oracle={oracle!r}")
        return self.build(oracle)


def lls_data(
    n: int, d: int, noise: float = 0.1, cond: float = 100.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The authors' random system ``A = U diag(linspace(1, cond)) V^T``, ``b = A 1 + noise e``.

    Draw for draw the same as their ``generate_lls_problem`` after ``np.random.seed(seed)``.
    ``n, d >= 1`` and ``seed`` in ``[0, 2^32)`` are integers, ``noise >= 0`` and ``cond >= 1``
    finite (``TypeError``/``ValueError`` naming the argument otherwise); ``n d`` is at most
    ``2^31`` entries (16 GiB in float64: a ``ValueError`` naming ``n``, ``d`` and the bytes
    above it, before anything is drawn).
    """
    n, d = integer(n, "n", low=1), integer(d, "d", low=1)
    if n * d > _MOST_ENTRIES:
        raise ValueError(
            f"lls_data(n={n}, d={d}) would build A with n * d = {n * d:.3g} entries "
            f"({8 * n * d / 2**30:.3g} GiB in float64); at most n * d <= 2**31 entries "
            "(16 GiB) are drawn"
        )
    seed = integer(seed, "seed", low=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got seed={seed}")
    noise, cond = real(noise, "noise", low=0.0), real(cond, "cond", low=1.0)
    rng = np.random.RandomState(seed)
    # The authors' U @ diag(s) @ VT with at most two n x d arrays at a time (it held three):
    # the QR overwrites its draw, and U s scales U's columns in place (each entry the
    # product U_ij s_j, rounded as the product with the diagonal matrix rounds it). (A
    # product by blocks of rows is not the same, bit for bit, as BLAS's on all of them.)
    if n >= d:
        U = _orthonormal_columns(rng.randn(n, d))
        U *= np.linspace(1, cond, d)
        A = U @ _orthonormal_columns(rng.randn(d, d))
    else:
        U = _orthonormal_columns(rng.randn(n, n))
        U *= np.linspace(1, cond, n)
        A = U @ _orthonormal_columns(rng.randn(d, n)).T
    b = A @ np.ones(d) + noise * rng.randn(n)
    return A, b


def _orthonormal_columns(G: np.ndarray) -> np.ndarray:
    """``np.linalg.qr(G, mode="reduced")[0]``, bit for bit (NumPy's own LAPACK calls,
    ``qr_r_raw`` then ``qr_reduced``), in the memory of ``G`` and ``Q`` alone
    (``np.linalg.qr`` copies ``G`` first); ``G`` is overwritten. A NumPy without these
    calls takes ``np.linalg.qr``."""
    try:
        from numpy.linalg import _umath_linalg

        raw, reduced = _umath_linalg.qr_r_raw, _umath_linalg.qr_reduced
    except (ImportError, AttributeError):  # pragma: no cover - named otherwise in NumPy
        return np.linalg.qr(G, mode="reduced")[0]
    with np.errstate(invalid="raise", over="ignore", divide="ignore", under="ignore"):
        tau = raw(G, signature="d->d")
        return reduced(G, tau, signature="dd->d")


#: The most entries of ``A`` :func:`lls_data` draws (2^31 float64: 16 GiB).
_MOST_ENTRIES = 2**31


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
    Any other name is a ``ValueError``, and a name that is not a str a ``TypeError``.
    """
    if not isinstance(name, str):
        raise TypeError(
            "name must be 'breast_cancer' or 'digits01' (a str), got "
            f"name={name!r} ({type(name).__name__})"
        )
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


def _lls_optimum(n: int, p: int) -> Callable[[], float]:
    def f_star() -> float:
        if n == 100:
            return 0.0  # square and non-singular: the system is consistent
        A, b = lls_data(n, 100)
        sol = np.linalg.lstsq(A, b, rcond=None)[0]
        return float(np.sum((A @ sol - b) ** 2)) ** p

    return f_star


def _zero() -> float:
    return 0.0


def _diabetes(oracle: str) -> tuple[Model, np.ndarray]:
    X, y = _require_sklearn().load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    return LpRegression(X, y, 2, oracle=oracle), np.zeros(X.shape[1])


def _cauchy(oracle: str) -> tuple[Model, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d = 500, 20
    A = rng.standard_normal((n, d))
    noise = 0.1 * rng.standard_t(df=2, size=n)
    outliers = rng.uniform(size=n) < 0.1
    b = A @ rng.standard_normal(d) + noise + outliers * rng.normal(0.0, 20.0, size=n)
    return CauchyRegression(A, b, c=1.0), np.zeros(d)


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


_QUICK = {
    "power_sum-p3-lin",
    "power_sum-p5-lin",
    "lp_regression-p1-n100",
    "lp_regression-p2-n100",
    "logistic-breast_cancer",
    "lp_regression-p2-diabetes",
    "rosenbrock-d5",
    "robust-cauchy",
}


def _registry() -> dict[str, Problem]:
    problems = (
        _power_problems() + _regression_problems() + _dataset_problems() + _nonconvex_problems()
    )
    out = {}
    for pr in problems:
        tags = (*pr.tags, "quick") if pr.name in _QUICK else pr.tags
        out[pr.name] = dataclasses.replace(pr, tags=tags)
    return out


def _power_problems() -> list[Problem]:
    """The power norms and sums, from ones (the paper's) and from a generic start."""
    problems: list[Problem] = []
    for p in range(1, 6):
        problems.append(
            Problem(
                f"power_norm-p{p}",
                "power_norm",
                f"||x||^{2 * p}, d=10, x0=ones",
                _power(PowerNorm, p),
                flat=p > 1,
                f_star=_zero,
                tags=("paper",),
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
                f_star=_zero,
                tags=("paper",),
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
                    f_star=_zero,
                )
            )
    return problems


def _regression_problems() -> list[Problem]:
    """l_2p regression and composite least squares on the synthetic matrices."""
    problems: list[Problem] = []
    for n in (1000, 100):
        for p in (1, 2, 3):
            problems.append(
                Problem(
                    f"lp_regression-p{p}-n{n}",
                    "lp_regression",
                    f"sum (Ax-b)_i^{2 * p}, {n}x100, cond 100, x0=ones",
                    _regression(LpRegression, p, n),
                    flat=p > 1 and n == 100,
                    f_star=_lls_optimum(n, p) if n == 100 or p == 1 else None,
                    tags=("paper",),
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
                    f_star=_lls_optimum(n, p) if n == 100 or p == 1 else None,
                    tags=("paper",),
                )
            )
    return problems


def _dataset_problems() -> list[Problem]:
    """Logistic regression and l_4 regression on scikit-learn's data sets."""
    problems: list[Problem] = []
    problems.append(
        Problem(
            "logistic-breast_cancer",
            "logistic",
            "logistic regression, breast cancer (569x30), l2=1/n, intercept",
            _logistic("breast_cancer"),
            tags=("paper",),
        )
    )
    problems.append(
        Problem(
            "logistic-digits01",
            "logistic",
            "logistic regression, digits 0 vs 1 (360x64), l2=1/n, intercept",
            _logistic("digits01"),
            tags=("paper",),
        )
    )
    problems.append(
        Problem(
            "lp_regression-p2-diabetes",
            "lp_regression",
            "sum (Ax-b)_i^4 on scikit-learn's diabetes (442x10), standardised",
            _diabetes,
        )
    )
    return problems


def _nonconvex_problems() -> list[Problem]:
    """Rosenbrock (no hand-made oracle) and Cauchy-loss robust regression."""
    problems: list[Problem] = []
    for d in (2, 5, 10):
        problems.append(
            Problem(
                f"rosenbrock-d{d}",
                "rosenbrock",
                f"Rosenbrock, d={d}, x0=(-1.2, 1, ...): no hand-made oracle",
                _rosenbrock(d),
                f_star=_zero,
                has_oracle=False,
            )
        )
    problems.append(
        Problem(
            "robust-cauchy",
            "robust",
            "Cauchy-loss robust regression, 500x20, 10% gross outliers (non-convex)",
            _cauchy,
        )
    )
    return problems


#: Every built-in problem by name.
PROBLEMS: dict[str, Problem] = _registry()


def get_problem(name: str) -> Problem:
    """Look up a problem by name, with the list of names in the error."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a problem's name (a str), got name={name!r}")
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(
            f"unknown problem {name!r}{nearest_problem(name)}; choose from: {', '.join(PROBLEMS)}"
        ) from None


def nearest_problem(name: str) -> str:
    """`` (did you mean 'rosenbrock-d2'?)`` for a name close to a problem's (a typo,
    ``-`` for ``_``, another case), else ``""``."""
    names = {n.lower(): n for n in PROBLEMS}
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.8)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""
