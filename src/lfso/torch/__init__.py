"""PyTorch integration: optimisers with no learning rate, and LFSO's rollout for a model.

* :class:`LFSO`: a full-batch ``torch.optim.Optimizer`` over the library's step rules
  (every method of :func:`lfso.minimize`, the safeguard, the risk indicators).
* :class:`StochasticLFSO`: minibatch training, the step sized from the batch's own
  curvature along the step.
* :func:`pilot` and :class:`GuardedOptimizer`: LFSO beside, then in charge of, the
  optimiser a model is trained with today, which stays as the fallback.

The package imports torch; ``import lfso`` does not.
"""

from ._optimizer import LFSO, MinibatchWarning
from ._rollout import GuardedOptimizer, TorchHandover, pilot
from ._stochastic import SkippedBatchWarning, StochasticLFSO

__all__ = [
    "LFSO",
    "GuardedOptimizer",
    "MinibatchWarning",
    "SkippedBatchWarning",
    "StochasticLFSO",
    "TorchHandover",
    "pilot",
]
