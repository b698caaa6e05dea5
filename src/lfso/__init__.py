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

The public modules, one room each (every other module is private: its name starts with
``_``, and what it offers users is exported by one of these):

* `lfso`: the entry point `minimize` and what a run returns (`Result`, `History`,
  `Status`); the table of methods (`METHODS`, `Method`, `Option`, `DEFAULT_METHOD`);
  `check_grad` and `check_oracle`; `compare`; the exceptions `OracleError` (an oracle
  breaking its contract) and `NonFiniteStartError` (``f`` or its gradient not finite at
  ``x0``).
* `lfso.models`: objectives computing value, gradient and their oracle in one pass.
* `lfso.oracles`: oracles ``L(x, R)`` and their calculus (sum, scaling, affine maps), the
  bound ``R -> L(x, R)`` at one point, and segment bounds ``t -> C(x, d, t)``.
* `lfso.steps`: the step rules, certified (a direction sized by a certificate) and peer,
  one loop for all.
* `lfso.stochastic`: minibatch LFSO for the row models (``minimize(..., batch_size=)``).
* `lfso.monitor`: risk indicators and callbacks (CSV/JSON loggers, early stopping).
* `lfso.report`: figures, a self-contained HTML report, the live report, and `compare`.
* `lfso.rollout`: the staged rollout: pilot, guarded run, return on investment.
* `lfso.scipy`: every method as a custom method of ``scipy.optimize.minimize``.
* `lfso.sklearn`: scikit-learn estimators (least-power and logistic regression).
* `lfso.torch`: ``torch.optim`` optimisers with no learning rate (full batch and
  minibatch), and LFSO in charge of a PyTorch model with today's optimiser as fallback.
* `lfso.bench`: the test problems, the benchmark suite and its harness, grid tuning of a
  fixed step, host-synchronisation counts.
* `lfso.cli`: the ``lfso`` command (``demo``, ``solve``, ``bench``, ``compare``,
  ``rollout``, ...).

`lfso.sklearn` and `lfso.torch` import their library; ``import lfso`` does not.
"""

# The packages users reach as attributes after ``import lfso`` (the others are imported by name).
from . import models as models
from . import oracles as oracles
from . import rollout as rollout
from . import steps as steps
from ._auto import OracleCheck, check_oracle
from ._gradcheck import GradCheck, check_grad
from ._minimize import minimize
from ._registry import DEFAULT_METHOD as _DEFAULT_METHOD
from ._registry import METHODS as _METHODS
from ._registry import Method, Option
from ._result import History, Result, Status
from ._stepper import NonFiniteStartError
from .oracles import OracleError
from .report import compare

__version__ = "0.1.0"

# (assigned here, each with its docstring, so that the API reference documents them)
DEFAULT_METHOD = _DEFAULT_METHOD
"""``lfso.minimize``'s default method, ``"lfso-lbfgs"`` (the certified method that wins
``lfso bench`` on most problems: docs/results.md)."""
METHODS = _METHODS
"""The one table of methods: name -> :class:`Method` (its step rule, its options with
their types and defaults, what it needs). ``lfso.minimize``, the SciPy methods, the
PyTorch optimiser, the CLI and the benchmarks are built from it."""

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "GradCheck",
    "History",
    "Method",
    "NonFiniteStartError",
    "Option",
    "OracleCheck",
    "OracleError",
    "Result",
    "Status",
    "check_grad",
    "check_oracle",
    "compare",
    "minimize",
]
