"""Step rules: how each method chooses its step. They share one loop (:mod:`lfso.loop`).

The LFSO rules are a direction (:mod:`.directions`) sized by a certificate
(:mod:`.certificates`); :class:`Safeguarded` wraps any certified rule.
"""

from ._base import Step, StepFailedError, StepRule
from .accelerated import LFSOAccelStep, NesterovStep
from .adaptive import AdGDStep, DoGStep, PolyakStep
from .certificates import (
    BallCertificate,
    Certificate,
    EstimateCertificate,
    SegmentCertificate,
)
from .directions import CallableDirection, Direction, LBFGSDirection, SteepestDescent
from .fixed import FixedStep
from .lfso import CertifiedRule, CertifiedStep, LFSOStep
from .linesearch import ArmijoStep, BarzilaiBorweinStep
from .safeguard import Safeguarded

__all__ = [
    "AdGDStep",
    "ArmijoStep",
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
    "LBFGSDirection",
    "LFSOAccelStep",
    "LFSOStep",
    "NesterovStep",
    "PolyakStep",
    "Safeguarded",
    "SegmentCertificate",
    "SteepestDescent",
    "Step",
    "StepFailedError",
    "StepRule",
]
