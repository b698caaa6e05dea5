"""Step rules: how each method chooses its step. They share one loop (:mod:`lfso.loop`)."""

from ._base import Step, StepFailedError, StepRule
from .accelerated import LFSOAccelStep, NesterovStep
from .adaptive import AdGDStep, DoGStep, PolyakStep
from .fixed import FixedStep
from .lfso import LFSOStep
from .linesearch import ArmijoStep, BarzilaiBorweinStep

__all__ = [
    "AdGDStep",
    "ArmijoStep",
    "BarzilaiBorweinStep",
    "DoGStep",
    "FixedStep",
    "LFSOAccelStep",
    "LFSOStep",
    "NesterovStep",
    "PolyakStep",
    "Step",
    "StepFailedError",
    "StepRule",
]
