"""Step rules: how each method chooses its step. They share one loop (that of
:func:`lfso.minimize`: call counts, stopping tests, history, callbacks).

The LFSO rules are a direction (:class:`Direction`: :class:`SteepestDescent`,
:class:`LBFGSDirection`, a user's :class:`CallableDirection`) sized by a certificate
(:class:`Certificate`: the ball, the segment, or an estimate from a
:class:`SecantEstimator`); :class:`Safeguarded` wraps any certified rule. What a direction
or a certificate can do is declared on its abstract base (:class:`Direction`,
:class:`Certificate`), so a user's own plugs into :class:`CertifiedStep` unchanged. A rule
instance is a ``method=`` of :func:`lfso.minimize`, as a name of :data:`lfso.METHODS` is.

Examples
--------
>>> import numpy as np, lfso
>>> from lfso.steps import (
...     CertifiedStep, FixedStep, LBFGSDirection, LFSOStep, Safeguarded, SegmentCertificate
... )
>>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
>>> model = lfso.models.LpRegression(A, np.array([1.0, 2.0, 2.0]), p=1)
>>> rule = CertifiedStep(LBFGSDirection(memory=5), SegmentCertificate(), name="mine")
>>> res = lfso.minimize(model, np.zeros(2), method=rule)
>>> res.method, res.success
('mine', True)
>>> lfso.minimize(model, np.zeros(2), method=Safeguarded(LFSOStep())).success
True
>>> lfso.minimize(model, np.zeros(2), method=FixedStep(0.05), max_iter=5000).success
True
"""

import warnings
from typing import Any

from .._auto import SecantEstimator
from ._accelerated import LFSOAccelStep, NesterovStep
from ._adaptive import AdGDStep, DoGStep, PolyakStep
from ._base import (
    Certificate,
    Direction,
    GradientMismatchError,
    Move,
    SizedStep,
    SizeInputs,
    StepFailedError,
    StepRule,
)
from ._certificates import (
    BallCappedEstimate,
    BallCertificate,
    EstimateCertificate,
    SegmentCertificate,
)
from ._certified import CertifiedRule, CertifiedStep, LFSOStep
from ._directions import CallableDirection, LBFGSDirection, SteepestDescent
from ._fixed import FixedStep
from ._linesearch import ArmijoStep, BarzilaiBorweinStep
from ._safeguard import Safeguarded

__all__ = [
    "AdGDStep",
    "ArmijoStep",
    "BallCappedEstimate",
    "BallCertificate",
    "BarzilaiBorweinStep",
    "CallableDirection",
    "Certificate",
    "CertifiedRule",
    "CertifiedStep",
    "Direction",
    "DoGStep",
    "EstimateCertificate",
    "FixedStep",
    "GradientMismatchError",
    "LBFGSDirection",
    "LFSOAccelStep",
    "LFSOStep",
    "Move",
    "NesterovStep",
    "PolyakStep",
    "Safeguarded",
    "SecantEstimator",
    "SegmentCertificate",
    "SizeInputs",
    "SizedStep",
    "SteepestDescent",
    "StepFailedError",
    "StepRule",
]


def __getattr__(name: str) -> Any:
    """The deprecated spellings: ``Sized`` is :class:`SizedStep`."""
    if name == "Sized":
        warnings.warn(
            "lfso.steps.Sized is deprecated and will be removed in the next release; "
            "use lfso.steps.SizedStep",
            DeprecationWarning,
            stacklevel=2,
        )
        return SizedStep
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
