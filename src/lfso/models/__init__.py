"""Models: objectives that compute value, gradient and their LFSO's statistics in one pass.

Every model's docstring states the bound its oracle implements and why it holds.
"""

from ._base import EXTRAS, Evaluation, Model
from .function import FunctionModel
from .generalized import L0L1Smooth
from .logistic import LogisticRegression
from .power import PowerNorm, PowerSum
from .regression import CompositeLeastSquares, LpRegression
from .robust import CauchyRegression
from .softmax import SoftmaxRegression

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
