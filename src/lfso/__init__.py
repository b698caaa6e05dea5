"""lfso: tuning-free gradient descent with local first-order smoothness oracles.

A *local first-order smoothness oracle* ``L(x, R)`` bounds the Lipschitz constant of the
gradient on the ball ``B(x, R)``; each step is sized by it (or by a bound on the curvature
along the segment the step travels), so the descent lemma certifies the decrease and no
step size is tuned (Berahas, Roberts & Roosta, *Non-Uniform Smoothness for Gradient
Descent*, TMLR 2024). ``import lfso`` needs NumPy, SciPy and array-api-compat only.

>>> import numpy as np, lfso
>>> A, b = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([1.0, 2.0, 2.0])
>>> res = lfso.minimize(lfso.models.LpRegression(A, b, p=1), np.zeros(2))  # least squares
>>> res.status.name, res.x.round(6).tolist()
('CONVERGED', [1.0, 1.0])

Running a method
----------------
* `lfso.minimize`: the entry point, ``minimize(objective, x0, method=...)``.
* `lfso._result`: what a run returns (`Result`, `History`, `Status`).
* `lfso._registry`: the table of methods and their options (`lfso.METHODS`).
* `lfso.steps`: the step rules, certified and peer, one loop for all.
* `lfso._loop`: that loop (call counts, stopping tests, history, callbacks).
* `lfso.stochastic`: minibatch LFSO for the row models (``batch_size=``).
* `lfso.bench`: grid-tuning a fixed step, and what the grid costs.

Objectives and their bounds
---------------------------
* `lfso.models`: objectives computing value, gradient and their oracle in one pass.
* `lfso.oracles`: oracles ``L(x, R)`` and their calculus (sum, scaling, affine maps).
* `lfso.oracles._bounds`: the bound ``R -> L(x, R)`` at one point, and the radius it certifies.
* `lfso.models._segments`: bounds on the curvature along a segment ``[x, x + t d]``.
* `lfso._auto`: the automatic oracle for a black box, and `check_oracle`.
* `lfso.bench`: the paper's test problems and a registry of built-in problems.

Monitoring and adopting
-----------------------
* `lfso.monitor`: risk indicators and callbacks (CSV/JSON loggers, early stopping).
* `lfso._progress`: the progress bar.
* `lfso.report`: figures, a self-contained HTML report, and `compare`.
* `lfso._dashboard`: the live HTML report of a run.
* `lfso.rollout`: the staged rollout: pilot, guarded run, return on investment.

Integrations
------------
`lfso.sklearn` and the PyTorch modules import their library; ``import lfso`` does not.

* `lfso.scipy`: every method as a custom method of ``scipy.optimize.minimize``.
* `lfso.sklearn`: scikit-learn estimators (least-power and logistic regression).
* `lfso.torch`: a ``torch.optim`` optimiser with no learning rate.
* `lfso.torch`: minibatch training without a learning rate.
* `lfso.torch`: LFSO in charge of a PyTorch model, today's optimiser as fallback.

Command line and benchmarks
---------------------------
* `lfso.cli`: the ``lfso`` command (``demo``, ``solve``, ``bench``, ``compare``, ...).
* `lfso.cli._rollout`: ``lfso rollout``.
* `lfso.cli._demo`: ``lfso demo``, LFSO against what a user does today.
* `lfso.bench`: the benchmark suite, its harness and report.
"""

from . import models, oracles, rollout, steps
from ._gradcheck import GradCheck, check_grad
from ._auto import check_oracle
from .oracles._bounds import OracleError
from ._minimize import minimize
from .oracles._ball import (
    AffineOracle,
    ConstantOracle,
    FunctionOracle,
    LocalSmoothnessOracle,
    ScaledOracle,
    SumOracle,
    ridge,
)
from ._registry import METHODS
from .report import compare
from ._result import History, Result, Status
from .bench._tuning import TunedStep, tune_step

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "AffineOracle",
    "ConstantOracle",
    "FunctionOracle",
    "GradCheck",
    "History",
    "LocalSmoothnessOracle",
    "OracleError",
    "Result",
    "ScaledOracle",
    "Status",
    "SumOracle",
    "TunedStep",
    "check_grad",
    "check_oracle",
    "compare",
    "minimize",
    "models",
    "oracles",
    "ridge",
    "rollout",
    "steps",
    "tune_step",
]
