"""Minibatch LFSO for the row models: each step certified on its own batch.

``lfso.minimize(model, x0, batch_size=256, seed=0, epochs=10)`` runs this (see
:func:`minimize_batches`). A row model's loss is a mean (or sum) over the rows of its data,
``f = (1/n) sum_i l_i(a_i^T x) + r(x)``; the loss of a batch ``B`` of rows, ``f_B``, is the
same model built on those rows, with its own proven oracle and segment certificate. One step:

.. math::  x_{k+1} = x_k - \\gamma_e\\, t_k\\, g_k, \\qquad g_k = \\nabla f_{B_k}(x_k),
           \\qquad t_k = \\eta \\|g_k\\|^2 / C_{B_k}(x_k, -g_k, t_k),

``C_B`` the batch model's segment certificate (:meth:`lfso.models.Model.segment`: a bound on
the curvature of ``f_B`` along the segment the step travels), and ``gamma_e`` the decay of
epoch ``e`` (``decay="harmonic"``, the default: ``1 / (e + 1)``; ``"sqrt"``:
``1 / sqrt(e + 1)``; ``"none"``: 1). Batches are drawn without
replacement, a fresh permutation of the rows each epoch (``seed``); where ``batch_size``
does not divide ``n`` the epoch's last batch is the ``n mod batch_size`` rows left.

What is proven (for ``gamma_e = 1``): each step satisfies the stochastic Armijo condition on
its batch,

.. math::  f_{B_k}(x_{k+1}) \\le f_{B_k}(x_k) - (1 - \\eta/2)\\, t_k \\|g_k\\|^2,

because ``t_k <= t`` where ``C_B`` bounds the curvature on ``[x_k, x_k - t g_k]``, so Taylor's
formula with that bound gives ``f_B(x_k - t_k g_k) <= f_B(x_k) - t_k ||g||^2 + t_k^2 C_B
||g||^2 / 2 = f_B(x_k) - t_k ||g||^2 (1 - eta/2)`` (using ``t_k C_B = eta``). And ``t_k >=
eta / L_B`` whenever ``L_B`` bounds the curvature of ``f_B`` everywhere. These are the two
properties of the step that Vaswani et al. (2019), "Painless stochastic gradient:
interpolation, line-search, and convergence rates" (NeurIPS), Theorem 1, need with
``c = 1 - eta/2``: with ``eta = 1`` (``c = 1/2``), if every ``f_B`` is convex and smooth,
``f`` is strongly convex, and the model *interpolates* (one point minimises every ``f_B``),
the iterates converge linearly in expectation. Not proven: anything without interpolation;
then constant steps stop at a noise floor whose size scales with the step, and a decay
shrinks it. ``python benchmarks/stochastic.py --only decay`` compares the decays by the
distance to the full-batch minimiser (``docs/results.md``, "Minibatches", has the table and
the reason ``"harmonic"`` is the default).

The history has one row per epoch: the *full* loss and gradient norm at the epoch's end (one
full pass per epoch, counted), the epoch's last step (``gamma_e t_k``) and its certificate
per unit length (``L = C_B / ||g_k||^2``, as a full-batch run's ``L``: ``t_k L = eta``).
``nfev``/``njev`` count model evaluations (a batch evaluation counts as one).
"""

from __future__ import annotations

import copy
import math
import operator
import warnings
from collections.abc import Callable
from typing import Any, cast

import array_api_compat
import numpy as np

from ._arrays import error_gamma, materialize, materialize_all, namespace, to_float
from ._loop import Counted
from ._result import Result, Status
from ._stepper import Stepper
from ._validate import (
    caller_level,
    generator,
    integer,
    nonnegative,
    open_interval,
    start_point,
)
from .models import (
    CauchyRegression,
    Evaluation,
    LogisticRegression,
    LpRegression,
    Model,
    SoftmaxRegression,
)
from .models._rows import take_rows
from .oracles import PrecisionLimitError
from .steps import Move, StepRule
from .steps._certificates import _exponent_cap, _unit_scale

__all__ = ["SkippedBatchWarning", "minimize_batches"]

#: The models whose batches ``batch_size=`` can build (a mean or sum over rows of data).
ROW_MODELS = (LogisticRegression, SoftmaxRegression, LpRegression, CauchyRegression)


class SkippedBatchWarning(RuntimeWarning):
    """A minibatch optimiser (:func:`minimize_batches`, :class:`lfso.torch.StochasticLFSO`)
    skipped a batch whose loss or gradient is not finite."""


def _persisted(arrays: dict[str, Any]) -> dict[str, Any]:
    """A batch's rows, persisted where they are Dask arrays (:func:`lfso._arrays.
    materialize`: each batch's evaluations read them more than once)."""
    return dict(zip(arrays, materialize_all(*arrays.values()), strict=True))


class RowBatches:
    """Builds the model of a batch of rows of a row model (same loss, same oracle).

    The batch model is the full model with its row-indexed data sliced: ``X`` (or ``A``), the
    labels or targets, ``n``, and the row geometry (:class:`~lfso.models._rows.RowGeometry`):
    the padded row norms are the full model's, sliced; ``||A_B||_F^2`` is summed again with
    its own rounding pad; and ``||A_B|| <= ||A||`` (``A_B = P A`` with ``P`` a selection of
    rows, ``||P|| = 1``), so the full model's operator norm is a valid, if looser, bound for
    every batch, and no eigenvalue problem is solved per batch. The segment certificate that
    sizes the steps does not use it.

    Parameters
    ----------
    model : LogisticRegression, SoftmaxRegression, LpRegression or CauchyRegression
    """

    def __init__(self, model: Model) -> None:
        if not isinstance(model, ROW_MODELS):
            names = ", ".join(c.__name__ for c in ROW_MODELS)
            raise TypeError(
                f"batch_size= samples rows of a row model ({names}); got objective="
                f"{type(model).__name__}, which has no rows to sample (drop batch_size=, or "
                "use lfso.torch.StochasticLFSO for a network)"
            )
        self.model = model
        self.xp = model.xp
        data = model.A if isinstance(model, (LpRegression, CauchyRegression)) else model.X
        self.data = data
        self.n = int(data.shape[0])

    def __call__(self, idx: np.ndarray) -> Model:
        """The model of rows ``idx`` (a NumPy integer array)."""
        xp, model = self.xp, self.model
        if isinstance(model, LpRegression):  # (its constructor takes the norm bound)
            sliced = _persisted(take_rows(model, idx))
            lp = copy.copy(model)  # (a subclass kept, as the others: its own methods run)
            LpRegression.__init__(
                lp, sliced["A"], sliced["b"], model.p, oracle=model.oracle, norm=model.norm
            )
            # (a subset of A's rows has a norm at most A's: proven where the model's is)
            lp.audit_oracle = model.audit_oracle
            return lp
        sliced = _persisted(take_rows(model, idx, row_norms=model.geometry.row_norms))
        row_norms = sliced.pop("row_norms")
        batch = copy.copy(model)
        for name, value in sliced.items():
            setattr(batch, name, value)
        batch.n = int(row_norms.shape[0])
        geometry = copy.copy(model.geometry)
        geometry.row_norms = row_norms
        geometry.row_norms_sq = geometry.squared(row_norms)
        geometry.sum_pad = 1.0 + error_gamma(batch.n + 4, self.data.dtype)
        geometry.frobenius_sq = to_float(xp.sum(geometry.row_norms_sq)) * geometry.sum_pad
        batch.geometry = geometry
        return batch


def check_batch_size(batch_size: Any, n: int) -> int:
    """``batch_size`` as an int in ``[1, n]`` (what ``operator.index`` takes, as ``epochs``:
    a NumPy integer or a 0-d integer array too), or a ``TypeError``/``ValueError`` naming it."""
    message = (
        f"batch_size must be an integer in [1, {n}] (the number of rows), "
        f"got batch_size={batch_size!r}"
    )
    if isinstance(batch_size, (bool, np.bool_)):
        raise TypeError(message)
    try:
        size = operator.index(batch_size)
    except TypeError:
        raise TypeError(message) from None
    if not 1 <= size <= n:
        raise ValueError(message)
    return size


def minimize_batches(
    model: Model,
    x0: Any,
    *,
    batch_size: int,
    seed: Any = None,
    epochs: int = 10,
    eta: float = 1.0,
    decay: str = "harmonic",
    tol: float = 1e-8,
    atol: float = 0.0,
    callback: Callable[[Result], Any] | None = None,
) -> Result:
    """Minibatch certified steps on a row model (module docstring); one history row per epoch.

    Parameters
    ----------
    model : a row model (:data:`ROW_MODELS`)
    x0 : array
        The start, a real vector (as for :func:`lfso.minimize`: taken into the model's
        array library and dtype, and copied, so that ``Result.x`` is never the caller's
        array).
    batch_size : int in [1, n]
    seed : None, int >= 0 or numpy.random.Generator
        The batches' permutations (same seed, same run).
    epochs : int >= 1
    eta : float in (0, 2)
    decay : {"harmonic", "sqrt", "none"}
        The step factor of epoch ``e``: ``1 / (e + 1)``, ``1 / sqrt(e + 1)`` or 1.
    tol, atol : float >= 0
        Converged at an epoch's end when the full ``||grad f|| <= max(tol ||grad f(x0)||, atol)``.
    callback : callable, optional
        ``callback(intermediate_result)`` after each epoch; ``StopIteration`` stops the run.

    Returns
    -------
    Result
        ``x`` is the best epoch-end point by the full loss (the last one when converged);
        ``nit`` counts epochs; ``skipped`` counts the batches skipped (below).

    Raises
    ------
    TypeError, ValueError
        Naming the argument, for a model that is not a row model, an ``x0`` that is not a
        real vector of the model's dimension, or an argument out of the range above; a
        ``ValueError`` where the loss or its gradient at ``x0`` is not finite (as
        :func:`lfso.minimize`'s full-batch run raises).

    Warns
    -----
    SkippedBatchWarning
        When a batch's loss or gradient is not finite at the current point: the batch takes
        no step (``x`` is left as it was) and is counted in ``Result.skipped``; one warning at
        the end names the count. Where ``x`` itself is no longer finite the epoch ends there,
        and the run with it (``NON_FINITE``, the best point returned), as it does wherever
        the full loss at an epoch's end is not finite. ``lfso.minimize(...,
        batch_size=..., monitor="quiet")`` counts them without the warning.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 5)); y = (X @ np.ones(5) + rng.standard_normal(2000) > 0)
    >>> model = lfso.models.LogisticRegression(X, y, l2=1e-3)
    >>> res = lfso.minimize(model, np.zeros(5), batch_size=100, seed=0, epochs=20)
    >>> full = lfso.minimize(model, np.zeros(5))
    >>> bool(res.fun - full.fun < 1e-3), len(res.history)  # epochs 0..20
    (True, 21)
    """
    if not isinstance(model, Model):  # (a model without rows: RowBatches, after x0)
        names = ", ".join(c.__name__ for c in ROW_MODELS)
        raise TypeError(
            f"model must be a row model ({names}), got model={model!r} ({type(model).__name__})"
        )
    return _minimize_batches(
        model,
        x0,
        batch_size=batch_size,
        seed=seed,
        epochs=epochs,
        eta=eta,
        decay=decay,
        tol=tol,
        atol=atol,
        callback=callback,
    )


def _minimize_batches(
    model: Model,
    x0: Any,
    *,
    batch_size: int,
    seed: Any = None,
    epochs: int = 10,
    eta: float = 1.0,
    decay: str = "harmonic",
    tol: float = 1e-8,
    atol: float = 0.0,
    callback: Callable[[Result], Any] | None = None,
    quiet: bool = False,
) -> Result:
    """:func:`minimize_batches`; ``quiet=True`` counts skipped batches in
    ``Result.skipped`` without the :class:`SkippedBatchWarning` (``lfso.minimize``'s
    ``monitor="quiet"``)."""
    x0 = start_point(x0, model)
    batches = RowBatches(model)
    n = batches.n
    batch_size = check_batch_size(batch_size, n)
    rng = generator(seed)
    epochs = integer(epochs, "epochs", low=1)
    eta = open_interval(eta, "eta", 0.0, 2.0)
    tol, atol = nonnegative(tol, "tol"), nonnegative(atol, "atol")
    if not (isinstance(decay, str) and decay in ("sqrt", "none", "harmonic")):
        error = ValueError if isinstance(decay, str) else TypeError
        raise error(f"decay must be 'harmonic', 'sqrt' or 'none', got decay={decay!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got callback={callback!r}")

    if array_api_compat.is_dask_array(batches.data):  # (the batches read it: persisted)
        x0 = materialize(batches.xp.asarray(x0))
    objective = Counted(model)
    first = objective.evaluate(x0, bound=False)  # (not finite: the stepper's start raises)
    rule = EpochStep(batches, batch_size, rng, eta, decay)
    stepper = Stepper(
        objective,
        rule,
        model=model,
        tol=tol,
        atol=atol,
        max_iter=int(epochs),
        callback=callback,
        monitor=False,
    )
    stepper.start(x0, first)
    try:
        while not stepper.advance():
            pass
    except KeyboardInterrupt:  # (between two epochs)
        stepper.interrupt()
    result = stepper.result()  # (its skipped: the rule's, as each intermediate result's)
    if rule.skipped and not quiet:
        warnings.warn(
            f"minimize_batches: {rule.skipped} batch(es) skipped, first in epoch "
            f"{rule.first_skipped}: their loss or gradient was not finite at the point "
            "reached, and x was left as it was for each (check the data for NaN or inf, "
            "or scale it down)",
            SkippedBatchWarning,
            stacklevel=caller_level(),
        )
    if result.status is Status.DIVERGED:  # (the built-in models' gradients are right)
        result.message = (
            f"Stopped: the run diverged: the full loss at the last epoch's end is far above "
            f"the lowest value seen ({stepper.detail}); returning the best point. Each "
            "minibatch step is certified on its own batch only, and a step that lowers its "
            "batch's loss can raise the other rows' far more: pass a larger batch_size, or "
            "run without batch_size= (steps certified on the whole loss)."
        )
    if result.status is Status.MAX_ITER:
        result.message = (
            f"Ran epochs={epochs} epochs of minibatch steps (batch_size={batch_size}) without "
            f"reaching ||grad f|| <= {stepper.threshold:.3g} (now {result.grad_norm:.3g}): "
            "minibatch steps reach a noise floor; pass more epochs, a larger batch_size, or "
            "loosen tol."
        )
    return result


def _certified_step(segment: Any, eta: float, t: float, curvature: float) -> float:
    """The batch's certified step ``eta (-g . d) / C`` from the solve's own target
    (:meth:`~lfso.oracles.SegmentBound.step_for` solved ``t C >= eta (-g . d)`` with ``g . d``
    as the segment summed it), at most ``t``: ``eta ||g||^2 / C`` from the evaluation's
    ``||g||`` can differ from it in the last bits, past the end of the segment the bound
    covers."""
    return min(-eta * segment.slope / curvature, t)


def _sized(
    batch: Model, x: Any, ev: Evaluation, eta: float
) -> tuple[Any, Any, tuple[float, float, int], float]:
    """A batch's step along ``d = -g``: ``(d, its segment, step_for's answer, 1.0)``; where
    that overflows (``g . d`` or the curvature ``C`` past the dtype's range: no step) along
    ``d = -2^k g`` instead, ``||d||`` in ``[1/2, 1)`` (an exact scaling, as the full-batch
    segment certificate's), and ``2^k`` last, the oracle calls of both solves counted.
    Other steps are ``-g``'s, bit for bit."""
    scale, spent = 1.0, 0
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # (an overflow: sized again)
            d = materialize(-ev.grad)  # (Dask: the segment's computations read it)
            segment = batch.segment(x, ev, d)
            answer = segment.step_for(eta)
        if answer[1] < math.inf:
            return d, segment, answer, scale
        spent = answer[2]  # (the first solve's oracle calls, counted with the second's)
    except PrecisionLimitError:
        pass
    scale = _unit_scale(ev.grad_norm, _exponent_cap(x))
    d = materialize(ev.grad * -scale)
    segment = batch.segment(x, ev, d)
    t, bound, calls = segment.step_for(eta)
    return d, segment, (t, bound, spent + calls), scale


class EpochStep(StepRule):
    """One epoch of minibatch certified steps as one move (module docstring).

    The move's ``step`` and ``L`` are the epoch's last step ``gamma_e t_k`` and its
    certificate (those of the last epoch that took a step); its ``oracle_calls`` the
    epoch's. The loop evaluates the full model at the epoch's end (one row per epoch).
    Each batch evaluation is counted on the run's objective (``nfev`` and ``njev``).
    A batch whose loss or gradient is not finite takes no step and is counted in
    :attr:`skipped` (the epoch of the first in :attr:`first_skipped`); where ``x`` itself
    is not finite the epoch ends there (the loop's evaluation of it then stops the run).
    """

    name = "lfso-minibatch"
    gradient_step = False  # (many batch steps per move: no oracle audit, no risk bits)

    def __init__(
        self, batches: RowBatches, batch_size: int, rng: np.random.Generator, eta: float, decay: str
    ) -> None:
        self.batches, self.batch_size, self.rng = batches, batch_size, rng
        self.eta, self.decay = eta, decay
        self.skipped, self.first_skipped = 0, 0

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> tuple[int, float, float]:
        """``(epoch, step, L)``: the epochs taken, the last step and its certificate."""
        self.skipped, self.first_skipped = 0, 0
        return 0, math.nan, math.nan

    def step(
        self, objective: Model, x: Any, evaluation: Evaluation, state: tuple[int, float, float]
    ) -> tuple[Move, tuple[int, float, float]]:
        epoch, step, curvature = state
        eta, batches, n = self.eta, self.batches, self.batches.n
        gamma = {"harmonic": 1.0 / (epoch + 1.0), "sqrt": (epoch + 1.0) ** -0.5, "none": 1.0}[
            self.decay
        ]
        order = self.rng.permutation(n)
        calls, counted = 0, cast(Counted, objective)
        for lo in range(0, n, self.batch_size):
            batch = batches(order[lo : lo + self.batch_size])
            ev = batch.evaluate(x, bound=False)
            counted.nfev += 1  # (the batch's model, not the objective: counted by hand)
            counted.njev += 1
            if not (math.isfinite(ev.value) and math.isfinite(ev.grad_norm)):
                self.skipped += 1
                self.first_skipped = self.first_skipped or epoch + 1
                xp = namespace(x)
                if not bool(xp.all(xp.isfinite(x))):
                    break  # (every batch would be: the loop's evaluation of x ends the run)
                continue
            d, segment, (t, bound, spent), scale = _sized(batch, x, ev, eta)
            calls += spent
            if t > 0.0 and bound > 0.0:  # (else no step: step and L stay the last step's)
                taken = gamma * _certified_step(segment, eta, t, bound)
                x = materialize(x + taken * d)  # (Dask: the next batches read it)
                # (per unit length, as the full-batch certificates report L: C / ||d||^2)
                length = ev.grad_norm * scale
                step, curvature = taken * scale, bound / length / length
        move = Move(x, step, curvature, oracle_calls=calls)
        return move, (epoch + 1, step, curvature)
