"""Step rules: how each method chooses its step. They share one loop (:mod:`lfso.loop`).

The LFSO rules are a direction (:mod:`.directions`) sized by a certificate
(:mod:`.certificates`); :class:`Safeguarded` wraps any certified rule. What a direction
or a certificate can do is declared on its abstract base (:class:`Direction`,
:class:`Certificate`), so a user's own plugs into :class:`CertifiedStep` unchanged. A
rule instance is a ``method=`` of :func:`lfso.minimize`, as a name of
:data:`lfso.METHODS` is.

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

from ._base import (
    Certificate,
    Direction,
    GradientMismatchError,
    Move,
    Sized,
    SizeInputs,
    StepFailedError,
    StepRule,
)
from .accelerated import LFSOAccelStep, NesterovStep
from .adaptive import AdGDStep, DoGStep, PolyakStep
from .certificates import (
    BallCappedEstimate,
    BallCertificate,
    EstimateCertificate,
    SegmentCertificate,
)
from .directions import CallableDirection, LBFGSDirection, SteepestDescent
from .fixed import FixedStep
from .lfso import CertifiedRule, CertifiedStep, LFSOStep
from .linesearch import ArmijoStep, BarzilaiBorweinStep
from .safeguard import Safeguarded

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
    "SegmentCertificate",
    "SizeInputs",
    "Sized",
    "SteepestDescent",
    "StepFailedError",
    "StepRule",
]
