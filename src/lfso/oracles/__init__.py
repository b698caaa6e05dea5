"""Oracles: bounds on the smoothness of ``f`` on a ball, and their calculus."""

from ._ball import (
    AffineOracle,
    ConstantOracle,
    FunctionOracle,
    LocalSmoothnessOracle,
    ScaledOracle,
    SumOracle,
    ridge,
)
from ._bounds import ConstantBound, FunctionBound, LocalBound, OracleError, PrecisionLimitError

__all__ = [
    "AffineOracle",
    "ConstantBound",
    "ConstantOracle",
    "FunctionBound",
    "FunctionOracle",
    "LocalBound",
    "LocalSmoothnessOracle",
    "OracleError",
    "PrecisionLimitError",
    "ScaledOracle",
    "SumOracle",
    "ridge",
]
