"""Step rules: how each method chooses its step. They share one loop (:mod:`lfso.loop`)."""

from ._base import Step, StepRule
from .fixed import FixedStep
from .lfso import LFSOStep

__all__ = ["FixedStep", "LFSOStep", "Step", "StepRule"]
