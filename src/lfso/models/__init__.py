"""Models: objectives that compute value, gradient and their LFSO's statistics in one pass.

Every model's docstring states the bound its oracle implements and why it holds.
"""

from ._base import EXTRAS as _EXTRAS
from ._base import Evaluation, Model
from ._function import FunctionModel
from ._generalized import L0L1Smooth
from ._logistic import LogisticRegression
from ._power import PowerNorm, PowerSum
from ._regression import CompositeLeastSquares, LpRegression
from ._robust import CauchyRegression
from ._softmax import SoftmaxRegression

# (assigned here, each with its docstring, so that the API reference documents them)
EXTRAS = _EXTRAS
"""The optional inputs of :meth:`Model.evaluate` beyond ``bound`` (``"hint"``,
``"probe"``, ``"product"``); a model declares the ones it uses in :attr:`Model.extras`."""

__all__ = [
    "EXTRAS",
    "CauchyRegression",
    "CompositeLeastSquares",
    "Evaluation",
    "FunctionModel",
    "L0L1Smooth",
    "LogisticRegression",
    "LpRegression",
    "Model",
    "PowerNorm",
    "PowerSum",
    "SoftmaxRegression",
]
