"""``lfso.minimize``: the public entry point, a thin layer over the loop and the step rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _loop as loop
from ._registry import DEFAULT_METHOD, METHODS, build_rule, settle
from ._result import Result
from ._validate import _show, is_real, run_arguments, spelt_by_caller, start_point
from .models import FunctionModel, Model
from .oracles._ball import ConstantOracle, LocalSmoothnessOracle
from .steps import CertifiedRule, Safeguarded, StepRule
from .steps._certificates import audited_sizing

__all__ = ["minimize"]

#: :func:`minimize`'s default ``max_iter`` (a minibatch run, which counts epochs, refuses
#: another).
_MAX_ITER = 10_000


#: SciPy's names for lfso.minimize's arguments: name -> (ours, what to say about it).
_SCIPY_NAMES = {
    "maxiter": ("max_iter", ""),
    "jac": ("grad", " (a callable grad(x), or True if fun returns (value, gradient))"),
    "hessp": ("hvp", " (Hessian-vector products hvp(x, v), for the automatic oracle)"),
    "hess": (
        "hvp",
        " (lfso uses no Hessian matrix: Hessian-vector products hvp(x, v), for the "
        "automatic oracle)",
    ),
    "gtol": ("atol", " (the absolute gradient tolerance; tol= is relative to ||g0||)"),
    "disp": ("progress", ""),
}


def _reject_scipy_names(options: dict[str, Any]) -> None:
    """A ``TypeError`` with the lfso name for an option spelt as in ``scipy.optimize``."""
    for name, (ours, why) in _SCIPY_NAMES.items():
        if name in options:
            raise TypeError(f"unknown option {name}= (SciPy's name): did you mean {ours}=?{why}")
    if "options" in options:
        given = options["options"]
        spelt = [
            f"{_SCIPY_NAMES.get(k, (k, ''))[0]}={v!r}"
            for k, v in (given.items() if isinstance(given, dict) else [])
        ]
        raise TypeError(
            "unknown option options= (SciPy's dict of solver options): lfso.minimize takes "
            "them as keywords, e.g. minimize(fun, x0, "
            + (", ".join(spelt) if spelt else "max_iter=1000")
            + ")"
        )
    if "args" in options:
        raise TypeError(
            "unknown option args= (SciPy's extra arguments of fun): bind them instead, "
            "e.g. minimize(lambda x: fun(x, *args), x0, grad=lambda x: grad(x, *args))"
        )
    for name in ("bounds", "constraints"):
        if name in options:
            raise TypeError(f"unknown option {name}= (SciPy's): lfso.minimize is unconstrained")


def _checked_arguments(
    options: dict[str, Any],
    *,
    tol: Any,
    atol: Any,
    max_iter: Any,
    callback: Any,
    grad: Any,
    smoothness: Any,
    hvp: Any,
    progress: Any,
    monitor: Any,
) -> tuple[float, float, int]:
    """:func:`minimize`'s own arguments checked, after SciPy's names are refused.

    ``options`` (the method's keywords) is only read: one spelt as in
    ``scipy.optimize`` raises first (:func:`_reject_scipy_names`), then each argument is
    checked by :func:`lfso._validate.run_arguments`. Returns ``tol``, ``atol`` and
    ``max_iter`` as the run takes them.
    """
    _reject_scipy_names(options)
    return run_arguments(
        tol=tol,
        atol=atol,
        max_iter=max_iter,
        callback=callback,
        grad=grad,
        smoothness=smoothness,
        hvp=hvp,
        progress=progress,
        monitor=monitor,
    )


def _as_model(objective: Any, grad: Any, smoothness: Any) -> tuple[Model, bool]:
    """The model of the run, and whether its oracle is to be estimated.

    A :class:`Model` is taken as it is (it has its own gradient and oracle, so ``grad=``
    or an oracle given with it raises ``TypeError``); a callable ``fun`` becomes a
    :class:`FunctionModel` with ``grad`` and ``smoothness``. The oracle is estimated for
    ``smoothness="auto"``, a model without one, or a function given none. Raises
    ``ValueError`` for another string, ``TypeError`` for another objective.
    """
    auto = isinstance(smoothness, str)
    if auto and smoothness != "auto":
        raise ValueError(f"smoothness must be a callable, an oracle or 'auto', got {smoothness!r}")
    if isinstance(objective, Model):
        if grad is not None or (smoothness is not None and not auto):
            raise TypeError("grad= and smoothness= are for plain functions; a model has its own")
        return objective, auto or not objective.has_oracle
    if callable(objective):
        if getattr(smoothness, "shape", None) == () and hasattr(smoothness, "item"):
            smoothness = smoothness.item()  # (a 0-d array: the number it holds)
        if is_real(smoothness):  # a global Lipschitz constant (checked positive)
            smoothness = ConstantOracle(float(smoothness))
        model = FunctionModel(objective, grad, None if auto else smoothness)
        return model, auto or smoothness is None
    raise TypeError(
        "objective must be a model (lfso.models) or a callable fun(x), "
        f"got {objective!r} ({type(objective).__name__})"
    )


def _minibatches(
    model: Model,
    x0: Any,
    method: Any,
    eta: float | None,
    radius: Any,
    safeguard: Any,
    tol: float,
    atol: float,
    callback: Any,
    options: dict[str, Any],
    *,
    max_iter: int = _MAX_ITER,
    hvp: Any = None,
    progress: Any = None,
    monitor: Any = True,
    smoothness: Any = None,
) -> Result:
    """``batch_size=``: minibatch certified steps on a row model (:mod:`lfso.stochastic`).

    Takes :func:`minimize`'s arguments as given (``tol``, ``atol`` checked), ``options``
    holding ``batch_size`` and the rest of the keywords. Raises ``TypeError`` for what a
    minibatch run does not take (a method other than ``"lfso"``, ``radius=``,
    ``safeguard=``, an option other than ``batch_size``, ``seed``, ``epochs``, ``decay``,
    a list of callbacks, and what the run would not use: a ``max_iter`` other than the
    default, ``hvp``, ``smoothness`` (``"auto"``: the row model's bound certifies each
    batch's step), ``progress=True``, ``monitor="full"``), then those of
    :func:`lfso.stochastic.minimize_batches` (:func:`lfso._validate.start_point`'s first),
    in that order; returns its result.
    """
    from .stochastic import _minimize_batches

    if method not in (None, "lfso"):
        raise TypeError(
            f"batch_size= runs minibatch LFSO steps (method='lfso'); got method={method!r}"
        )
    if radius is not None or safeguard is not None:
        raise TypeError(
            "batch_size= takes no radius= or safeguard= (each batch's step is certified)"
        )
    unknown = sorted(set(options) - {"batch_size", *_MINIBATCH_OPTIONS})
    if unknown:
        raise TypeError(
            f"unknown option(s) with batch_size=: {unknown}; its options are: batch_size, "
            "decay, epochs, seed (and eta, tol, atol, callback)"
        )
    if callback is not None and not callable(callback):
        raise TypeError(
            "batch_size= takes one callable callback, called after each epoch, got "
            f"callback={_show(callback)} ({type(callback).__name__})"
        )
    per_epoch = "a minibatch run takes epochs= and reports one history row per epoch"
    certified = "the row model's own bound certifies each batch's step"
    for name, value, unused, why in (
        ("max_iter", max_iter, max_iter != _MAX_ITER, per_epoch),
        ("hvp", hvp, hvp is not None, certified),
        ("smoothness", smoothness, smoothness is not None, certified),
        ("progress", progress, progress is True, per_epoch),
        ("monitor", monitor, monitor == "full", per_epoch),
    ):
        if unused:
            raise TypeError(f"batch_size= does not use {name}= (got {name}={value!r}): {why}")
    return _minimize_batches(  # (which takes x0 as a start point first, one copy)
        model,
        x0,
        eta=1.0 if eta is None else eta,
        tol=tol,
        atol=atol,
        callback=callback,
        quiet=monitor == "quiet",
        **options,
    )


#: The options of a minibatch run (``batch_size=``) besides ``batch_size`` itself.
_MINIBATCH_OPTIONS = ("seed", "epochs", "decay")


def _reject_minibatch_options(options: dict[str, Any]) -> None:
    """A ``TypeError`` for a minibatch run's option given to a full-batch run (no
    ``batch_size``), saying that it goes with ``batch_size=``."""
    given = [f"{k}={options[k]!r}" for k in _MINIBATCH_OPTIONS if k in options]
    if given:
        raise TypeError(
            f"{', '.join(given)}: {'/'.join(k + '=' for k in _MINIBATCH_OPTIONS)} are options "
            "of a minibatch run, which batch_size= (the rows per batch) starts; without "
            "batch_size= the run is full-batch and takes none of them"
        )


def _rule(
    method: str | StepRule | None,
    options: dict[str, Any],
    *,
    model: Model,
    auto: bool,
    objective: Any,
    x0: Any,
    eta: Any,
    radius: Any,
    safeguard: Any,
    hvp: Any,
    smoothness: Any,
) -> StepRule:
    """The step rule of the run, settled for ``model``.

    The options given are ``eta``, ``radius``, ``safeguard`` and ``hvp`` where not
    ``None``, and the method's keywords ``options`` (only read). A :class:`StepRule`
    instance is taken as it is (:func:`_instance`); anything else is a method name
    (:func:`_named_rule`). Raises what those raise.
    """
    given = {"eta": eta, "radius": radius, "safeguard": safeguard, "hvp": hvp}
    given = {k: v for k, v in given.items() if v is not None} | options
    if isinstance(method, StepRule):  # (a method name's rule is settled as it is built)
        if smoothness is not None and not isinstance(method, (CertifiedRule, Safeguarded)):
            raise TypeError(
                f"the rule {type(method).__name__} uses no smoothness oracle; drop "
                f"smoothness= (got smoothness={smoothness!r})"
            )
        if isinstance(smoothness, str):  # ("auto": run_arguments refused any other string)
            raise TypeError(
                "smoothness='auto' builds the automatic oracle, with its safeguard, for a "
                f"method name (method='lfso', 'lfso-lbfgs', ...); the rule "
                f"{type(method).__name__} takes its model's oracle: pass smoothness=callable(x, "
                "R), or the method by name"
            )
        return settle(_instance(method, given, model), model)
    return _named_rule(
        method,
        given,
        model=model,
        auto=auto,
        objective=objective,
        x0=x0,
        radius=radius,
        smoothness=smoothness,
    )


def _instance(rule: StepRule, given: dict[str, Any], model: Model) -> StepRule:
    """A rule passed as ``method``: it carries its own options; ``safeguard=True`` wraps it,
    and so does the default (``safeguard`` not given) where it is a certified rule on a
    user's oracle (``model.audit_oracle``), as for a method name.

    ``given`` is consumed: ``safeguard`` is taken from it (``TypeError`` unless ``rule`` is
    a :class:`CertifiedRule`), and any other option left in it raises ``TypeError``.
    """
    guard = given.pop("safeguard", None)
    if guard is None:  # (the default: a certified rule on a user's oracle is guarded,
        # unless it certifies by a segment proven without it: settled to see which)
        guard = isinstance(rule, CertifiedRule) and bool(getattr(model, "audit_oracle", False))
        guard = guard and audited_sizing(model, settle(rule, model))
    if guard:
        if not isinstance(rule, CertifiedRule):
            raise TypeError(f"safeguard=True wraps a certified rule, not {type(rule).__name__}")
        rule = Safeguarded(rule)
    if given:
        raise TypeError(
            f"option(s) {', '.join(sorted(given))} are for a method name; the StepRule "
            f"instance {type(rule).__name__} carries its own"
        )
    return rule


def _named_rule(
    method: Any,
    given: dict[str, Any],
    *,
    model: Model,
    auto: bool,
    objective: Any,
    x0: Any,
    radius: Any,
    smoothness: Any,
) -> StepRule:
    """The rule of a method name from the registry (:func:`lfso._registry.build_rule`).

    ``method=None`` is ``"lfso"`` when a radius rule is given (and its certificate the
    ball's unless ``certificate=`` says otherwise), :data:`DEFAULT_METHOD` otherwise.
    Raises ``TypeError`` when ``smoothness=`` is given to a method that uses no oracle,
    then whatever :func:`build_rule` raises (an unknown method, a bad option).
    """
    if method is None:  # a radius rule is the paper's LFSO-GD; otherwise the default
        method = "lfso" if radius is not None else DEFAULT_METHOD
    entry = METHODS.get(method) if isinstance(method, str) else None
    if smoothness is not None and entry is not None and not entry.needs_oracle:
        raise TypeError(
            f"method={method!r} uses no smoothness oracle; drop smoothness= "
            f"(got smoothness={smoothness!r})"
        )
    if method == "lfso" and radius is not None and "certificate" not in given:
        rule_like = radius in ("tight", "paper") if isinstance(radius, str) else callable(radius)
        if auto and rule_like:  # (the ball certificate below is radius='s, not the caller's;
            # another radius= is named by build_rule as not a radius rule)
            raise ValueError(
                f"radius={radius!r} selects the paper's step, whose ball certificate needs an "
                "oracle; method='lfso' with the automatic oracle (smoothness='auto') sizes its "
                "steps by the estimate: pass smoothness= (or a model), or drop radius="
            )
        given["certificate"] = "ball"  # (a radius rule is the ball's, "tight" included)
    rule = build_rule(method, given, model=model, auto=auto, objective=objective, x0=x0)
    _check_paper_radius(radius, model)
    return rule


def _check_paper_radius(radius: Any, model: Model) -> None:
    """A ``TypeError`` for ``radius="paper"`` on a model whose bounds define no paper's
    ``R0`` (a plain function's oracle ``smoothness(x, R)``, ``CauchyRegression``, ...),
    before any call of the objective, rather than at the first step."""
    if not (isinstance(radius, str) and radius == "paper"):
        return
    if getattr(model, "_has_paper_radius", True):
        return
    what = (
        "a plain function's smoothness(x, R)"
        if isinstance(model, FunctionModel)
        else type(model).__name__
    )
    raise TypeError(
        f"radius='paper' needs a model that defines the paper's R0 (LpRegression, "
        f"CompositeLeastSquares, LogisticRegression, PowerNorm, PowerSum); {what} defines "
        "none: pass radius='tight' or radius=callable(x) -> R0 instead"
    )


@spelt_by_caller
def minimize(
    objective: Model | Callable[[Any], Any],
    x0: Any,
    *,
    method: str | StepRule | None = None,
    eta: float | None = None,
    radius: str | Callable[[Any], float] | None = None,
    tol: float = 1e-8,
    atol: float = 0.0,
    max_iter: int = _MAX_ITER,
    callback: Callable[..., Any] | None = None,
    grad: Callable[[Any], Any] | bool | None = None,
    smoothness: Callable[[Any, float], float] | LocalSmoothnessOracle | float | str | None = None,
    safeguard: bool | None = None,
    hvp: Callable[[Any, Any], Any] | str | None = None,
    progress: bool | None = None,
    monitor: bool | str = True,
    **options: Any,
) -> Result:
    """Minimise ``objective`` from ``x0`` by gradient descent with the chosen step rule.

    The default, ``method="lfso-lbfgs"``, takes L-BFGS directions ``d_k`` and sizes each
    step by a certificate of the curvature along the segment it travels, ``C_k``:

    .. math::  x_{k+1} = x_k + t_k d_k, \\qquad t_k = \\eta (-g_k \\cdot d_k) / C_k,
               \\qquad f(x_{k+1}) \\le f(x_k) - \\eta (1 - \\eta/2) (g_k \\cdot d_k)^2 / C_k,

    with no line search and no function value to choose the step
    (:class:`lfso.steps.CertifiedStep`). ``method="lfso"`` is LFSO gradient descent
    (Berahas, Roberts & Roosta, "Non-Uniform Smoothness for Gradient Descent", TMLR 2024),
    ``x_{k+1} = x_k - (eta / L(x_k, R_k)) grad f(x_k)`` with ``R_k L(x_k, R_k) >= eta
    ||grad f(x_k)||``; passing ``radius=`` without ``method=`` selects it.

    Parameters
    ----------
    objective : Model or callable
        A model from :mod:`lfso.models` (value, gradient and oracle in one pass), or
        ``fun(x) -> float`` together with ``grad=`` and, for LFSO, ``smoothness=``.
    x0 : array, shape (d,)
        Finite starting point (lists are converted; integers become float64; a number is a
        vector of one element, as in SciPy). It is taken into the model's array library,
        and for PyTorch data onto their device and dtype. With NumPy it keeps its dtype
        and the run works in NumPy's promotion of it and the data's: pass a float32 ``x0``
        with float32 data for a float32 run (a float64 one runs in float64).
    method : str or StepRule, optional
        A name of the method registry (:data:`lfso.METHODS`): ``"lfso-lbfgs"``
        (the default), ``"lfso"`` (LFSO-GD; the default when ``radius=`` is given),
        ``"lfso-accel"`` (:class:`lfso.steps.LFSOAccelStep`), and the peers ``"gd"``
        (``step=``, required), ``"armijo"``, ``"bb"``, ``"adgd"``, ``"polyak"``
        (``f_star=``), ``"nesterov"`` (``step=`` or ``lipschitz=``) and ``"dog"``; or a
        :class:`lfso.steps.StepRule` instance, which carries its own options (any option
        passed with one raises; ``safeguard=True`` wraps a certified rule). Each option is
        checked against the method's table: one the method does not take raises.
    eta : float, optional
        Step factor of the certified methods, in (0, 2) (``lfso-accel``: (0, 1]); default
        1. The guaranteed decrease is ``eta (1 - eta/2) (g . d)^2 / C``.
    radius : "tight", "paper" or callable ``x -> R0``, optional
        LFSO-GD's radius rule: passing one (``"tight"`` included) selects the ball
        certificate (:class:`lfso.steps.BallCertificate`), the paper's step.
    tol : float >= 0
        Converged when ``||g_k|| <= max(tol ||g_0||, atol)`` or ``g_k = 0`` exactly. With
        ``tol = atol = 0`` the run takes ``max_iter`` steps unless it meets a stationary point.
        Otherwise a method whose steps descend (all but ``lfso-accel``, ``bb``, ``adgd``,
        ``polyak``, ``nesterov`` and ``dog``) stops with status ``STALLED`` after 1,000
        iterations in which neither ``f`` nor ``||g||`` reached a new low: the rounding of
        ``x``'s dtype holds it above the tolerance (float32 at ``tol=1e-8``, often);
        ``armijo`` and ``bb`` also stop ``STALLED`` after 1,000 steps in a row whose
        sufficient-decrease test passed on the rounding of ``f`` alone, and any method
        after 1,000 iterations without a new low that end, bit for bit, at the point of
        the last one (its steps below the rounding of ``x``). Any
        method stops ``DIVERGED`` there (and instead of ``MAX_ITER``) where ``f`` at the
        last point is above the lowest ``f`` seen by more than ten times both ``|f(x0)|`` and the
        descent to that low (``GRADIENT_MISMATCH`` where a finite difference of ``f`` at
        the best point then disagrees with the gradient).
    atol : float >= 0
        Absolute gradient tolerance.
    max_iter : int >= 0
    callback : callable or list of callables, optional
        Each called in order, ``callback(intermediate_result)`` after each step (SciPy's
        convention, also by keyword to a keyword-only ``intermediate_result``; a callback
        whose first parameter is named ``x`` or ``xk`` gets the iterate). Each gets its own
        copies of the iterate and the gradient, so changing them in place changes neither
        the run nor its result, and the history as it is at that iteration (``nit + 1``
        rows, also in a result the callback keeps). Raising ``StopIteration`` stops the run
        with status ``CALLBACK_STOP`` (a ``StopIteration`` from ``fun``, ``grad`` or the
        oracle, such as an exhausted iterator's, propagates as any other exception).
        On an accelerator, where the loop runs a point ahead of its evaluations' scalars
        (:meth:`lfso._stepper.Stepper.advance`), the callback at a point runs once the
        step from it has been taken; stopping there returns that point all the same.
    grad : callable or True, optional
        Gradient of a plain ``fun``; ``True`` if ``fun`` returns ``(value, gradient)``.
    smoothness : callable ``(x, R) -> float``, LocalSmoothnessOracle, float or "auto", optional
        LFSO of a plain ``fun``. A positive number ``L`` is a global Lipschitz constant of
        the gradient (:class:`lfso.oracles.ConstantOracle`: the textbook ``1/L`` step,
        certified). ``"auto"`` (the default for a plain function without
        one, and usable with a model to treat it as a black box) estimates it from
        gradient differences (:class:`lfso.steps.SecantEstimator`; options ``safety``,
        ``growth``, ``power_iterations`` (with ``hvp=`` only: raises without)). A method
        that uses no oracle (``"gd"``, ``"armijo"``, ...) raises when given one.
    safeguard : bool, optional
        Check the claimed decrease after each certified step and roll back (enlarging the
        curvature bound) when it fails (:class:`lfso.steps.Safeguarded`; any certified
        method). With ``"lfso"`` and ``"lfso-lbfgs"`` the claim is at the new iterate, so
        whatever the oracle says, at each step the computed ``f`` never increases by more
        than the tolerance of the test, ``8 eps |f|`` (a relative 1e-12 in float64, 8
        ulps in float32; a model's coarser unit roundoff where it states one), and the
        exact ``f`` by at most that plus the rounding of the two computed values (a
        model's :meth:`~lfso.models.Model.value_error` at both points, which can be far
        above ``eps |f|``: a softmax regression at large weights). With
        ``"lfso-accel"`` the claim is its anchor's, the gradient step ``x_{k+1} = y_k -
        tau g(y_k)`` (``tau <= eta / L``) from the point ``y_k`` the gradient was taken
        at: ``f(x_{k+1}) <= f(y_k) - tau (1 - eta / 2) ||g(y_k)||^2`` up to that tolerance;
        the run's iterates and its history's ``f`` are the extrapolated points ``y_k``,
        whose ``f`` may still rise, as an accelerated method's does. Default: on for the
        automatic oracle and for a user's oracle (``smoothness=`` a callable, a number or an
        oracle object: not proven, so a wrong one must not make ``f`` rise), off for a
        model's own proven oracle (the built-in models'), for a method name and a certified
        rule instance alike; ``False`` turns it off (it raises with the automatic oracle,
        whose estimate is always safeguarded, and with ``lfso-lbfgs``'s default
        certificate on a ball oracle that is not a built-in model's, an estimate capped by
        the ball, also always safeguarded (:class:`lfso.steps.BallCappedEstimate`): pass
        ``certificate="ball"`` with it to run unguarded). Along a
        valid oracle's steps it rolls nothing back and takes the same steps, at no extra
        gradient (``lfso-accel``: one more value of ``f`` per iteration).
    hvp : callable ``hvp(x, v) -> Hess f(x) v`` or "autodiff", optional
        Hessian-vector products for the automatic oracle (power iterations). ``"autodiff"``
        builds them by automatic differentiation (double backward) when ``fun`` is written
        with PyTorch operations on a ``torch.Tensor`` ``x0``.
    progress : bool, optional
        Show a progress bar (iteration, f, ||g||, step, L) on stderr. Default: only when
        stderr is a terminal, so runs stay silent in tests, CI, pipes and notebooks.
    monitor : bool, "full" or "quiet"
        Compute the risk indicators (:mod:`lfso.monitor`): recorded in the history's
        ``risk`` column, counted in ``Result.risks`` and reported by a ``RiskWarning``.
        ``"full"`` also audits the built-in models' (proven) oracles; ``"quiet"`` records
        and counts them without warning (for grids of runs, instead of filtering warnings);
        with ``batch_size=``, skipped batches likewise: counted in ``Result.skipped``,
        without the ``SkippedBatchWarning``. Only an audited oracle (a user's,
        ``smoothness=``, under the default ``True``; any with ``"full"``) can be named too
        loose in a ``MAX_ITER`` or ``STALLED`` message: the audit keeps the last gradient
        and measures the curvature along every step, which ``"full"`` costs a built-in
        model's run (10% of an ``lfso-accel`` iteration on the suite's
        ``lp_regression-p2-n100`` and ``logistic-breast_cancer``, under 5% of ``lfso``'s
        and ``lfso-lbfgs``'s), so the default leaves proven oracles unaudited.
    **options
        Options of the method (its registry entry lists them with their ranges, e.g.
        ``certificate="ball"`` for the paper's step, ``memory=`` for L-BFGS). Unknown ones
        raise. ``batch_size=`` (with ``seed=``, ``epochs=`` (default 10), ``decay=``)
        runs minibatch steps on a row model instead, each certified on its own batch
        (:func:`lfso.stochastic.minimize_batches`); then ``max_iter`` is not used and the
        history and ``nit`` count epochs (``batch_size=None``: the full batch, as without
        it). SciPy's names raise with lfso's: ``maxiter``
        (``max_iter``), ``jac`` (``grad``), ``hess``/``hessp`` (``hvp``), ``gtol``
        (``atol``), ``disp`` (``progress``), ``options`` (pass them as keywords), ``args``
        (bind them), ``bounds``/``constraints`` (not supported).

    Returns
    -------
    Result

    Raises
    ------
    NonFiniteStartError
        Where ``f(x0)`` or ``||grad f(x0)||`` is not finite (NaN or infinite: nothing to
        start from), with or without ``batch_size=``; a subclass of ``ValueError``.
    Exception
        An exception raised during the run (by ``fun``, ``grad``, ``smoothness``, ``hvp``
        or a callback) propagates, as in SciPy, with the run's progress attached:
        ``exc.result`` is the :class:`Result` at the best point so far (status ``RAISED``,
        the history up to the failure). ``KeyboardInterrupt`` and a callback's
        ``StopIteration`` return a result instead (``INTERRUPTED``, ``CALLBACK_STOP``).

    Examples
    --------
    >>> import numpy as np, lfso
    >>> res = lfso.minimize(lfso.models.PowerSum(2), np.linspace(0.5, 1.5, 5))
    >>> res.status.name, res.nit < 100
    ('CONVERGED', True)

    A plain function with a hand-written oracle, ``f(x) = sum x_i^4``:

    >>> res = lfso.minimize(lambda x: np.sum(x**4), np.ones(3), grad=lambda x: 4 * x**3,
    ...                     smoothness=lambda x, R: 12 * (np.max(np.abs(x)) + R) ** 2)
    >>> res.success
    True
    """
    tol, atol, max_iter = _checked_arguments(
        options,
        tol=tol,
        atol=atol,
        max_iter=max_iter,
        callback=callback,
        grad=grad,
        smoothness=smoothness,
        hvp=hvp,
        progress=progress,
        monitor=monitor,
    )
    model, auto = _as_model(objective, grad, smoothness)
    if options.get("batch_size") is not None:
        return _minibatches(
            model,
            x0,
            method,
            eta,
            radius,
            safeguard,
            tol,
            atol,
            callback,
            options,
            max_iter=max_iter,
            hvp=hvp,
            progress=progress,
            monitor=monitor,
            smoothness=smoothness,
        )
    options.pop("batch_size", None)  # (None: the full batch, as without it)
    _reject_minibatch_options(options)
    x0 = start_point(x0, model)
    rule = _rule(
        method,
        options,
        model=model,
        auto=auto,
        objective=objective,
        x0=x0,
        eta=eta,
        radius=radius,
        safeguard=safeguard,
        hvp=hvp,
        smoothness=smoothness,
    )
    return loop.run(
        model,
        x0,
        rule,
        tol=tol,
        atol=atol,
        max_iter=max_iter,
        callback=callback,
        monitor=monitor,
        progress=progress,
    )
