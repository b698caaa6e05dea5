"""A rule as ``minimize`` options: checked, described, and run with the risks kept quiet."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._minimize import minimize
from .._result import Result
from ..models import FunctionModel, Model
from ..monitor import RiskWarning


def quiet_minimize(**kwargs: Any) -> Result:
    """:func:`lfso.minimize` with the risk warnings (and NumPy's overflow warnings of a rule
    that blows up) kept as evidence, in the history's risk bits, instead of printed."""
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RiskWarning)
        return minimize(**kwargs)


def as_model(objective: Any, grad: Any, smoothness: Any) -> Model:
    """A :class:`~lfso.models.Model` as is; a plain function with ``grad`` and ``smoothness``."""
    if isinstance(objective, Model):
        return objective
    return FunctionModel(objective, grad, smoothness)


def describe_rule(rule: Mapping[str, Any]) -> str:
    """``method=gd, step=0.001``: a rule in one line."""
    return ", ".join(f"{k}={v}" for k, v in rule.items())


def check_rule(rule: Any, name: str) -> dict[str, Any]:
    """A copy of ``rule`` once it is a mapping with a ``'method'`` (``TypeError`` otherwise)."""
    if not isinstance(rule, Mapping) or "method" not in rule:
        raise TypeError(
            f"{name} must be a mapping of minimize options with a 'method', e.g. "
            f"{{'method': 'gd', 'step': 1e-3}}, got {name}={rule!r}"
        )
    return dict(rule)
