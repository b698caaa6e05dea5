"""lfso: tuning-free gradient descent with local first-order smoothness oracles.

``import lfso`` needs NumPy, SciPy and array-api-compat only.
"""

from . import bounds, models, oracles, rollout, segments, steps
from ._gradcheck import GradCheck, check_grad
from .auto import check_oracle
from .bounds import OracleError
from .minimize import minimize
from .oracles import (
    AffineOracle,
    ConstantOracle,
    FunctionOracle,
    LocalSmoothnessOracle,
    ScaledOracle,
    SumOracle,
    ridge,
)
from .registry import METHODS
from .report import compare
from .result import History, Result, Status
from .tuning import TunedStep, tune_step

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
    "bounds",
    "check_grad",
    "check_oracle",
    "compare",
    "minimize",
    "models",
    "oracles",
    "ridge",
    "rollout",
    "segments",
    "steps",
    "tune_step",
]
