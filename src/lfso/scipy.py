"""SciPy integration: LFSO and the peer rules as custom methods of ``scipy.optimize.minimize``.

>>> import numpy as np, scipy.optimize, lfso.scipy
>>> from scipy.optimize import rosen, rosen_der
>>> res = scipy.optimize.minimize(rosen, np.zeros(10), jac=rosen_der, method=lfso.scipy.lfso_lbfgs)
>>> bool(res.success), res.x.round(4).tolist() == [1.0] * 10
(True, True)

There is one such function per method of :data:`lfso.METHODS` (``"lfso-lbfgs"``
is ``lfso.scipy.lfso_lbfgs``), made from the registry when this module is imported;
``lfso.scipy.DEFAULT`` is the one :func:`lfso.minimize` uses by default
(:data:`lfso.DEFAULT_METHOD`), ``lfso_lbfgs``.

SciPy's custom-method contract: ``method(fun, x0, args, **kwargs)`` receives ``jac``,
``hess``, ``hessp``, ``bounds``, ``constraints``, ``callback`` and the ``options`` (and
``tol``) as keywords, and returns an :class:`scipy.optimize.OptimizeResult`. As in SciPy,
``fun`` and ``jac`` are called with a copy of the iterate (one that changes its argument
in place does not change the run). Options:

* ``smoothness``: the oracle ``smoothness(x, R)`` (``x`` first, like ``fun``; ``args``
  are passed after ``R``), or ``"auto"`` (the default: estimated, safeguarded);
  ``hessp`` from ``minimize`` feeds the automatic oracle's power iterations;
* ``maxiter`` (an integer >= 0; default 10000), ``tol`` (relative
  gradient tolerance, default 1e-8),
  ``gtol`` (absolute), and every option of the rule (``eta``, ``radius``, ``step``, ...).
  **Both apply to the 2-norm of the gradient**, as :func:`lfso.minimize`'s ``tol`` and
  ``atol`` do: the run converges when ``||g||_2 <= max(tol ||g_0||_2, gtol)``, where
  SciPy's BFGS and L-BFGS-B test the largest entry, ``max_i |g_i| <= gtol``. As
  ``max_i |g_i| <= ||g||_2 <= sqrt(n) max_i |g_i|``, a run that meets lfso's ``gtol``
  meets SciPy's too, and lfso's test with ``gtol * sqrt(n)`` is no stricter than
  SciPy's with ``gtol`` (``res.grad_norm`` is the 2-norm);
* ``disp``: print the final message;
* ``return_all``: as for SciPy's BFGS, the result's ``allvecs`` is the list of the iterates,
  ``x0`` first (one per iteration after it; ``x`` is the best of them).

A run of an L-BFGS method (``lfso_lbfgs``) returns ``hess_inv``, as SciPy's L-BFGS-B
does: the inverse-Hessian approximation of its last step, a
:class:`scipy.optimize.LbfgsInvHessProduct` of the kept pairs ``sk``, ``yk`` (``s_i =
x_{i+1} - x_i``, ``y_i = g_{i+1} - g_i``, oldest first; at most ``memory`` of them), so
that ``-res.hess_inv.dot(g)`` is the two-loop recursion's direction, with the initial
matrix the direction uses, ``gamma I``, ``gamma = s^T y / y^T y`` of the newest pair
(SciPy's class takes ``I``); the identity where the memory is empty (``maxiter=0``, or
after a fallback to ``-g``), as SciPy's is with no pair. It is positive definite (every
kept pair has ``s^T y > 0``), read from the run once it stopped (no cost per iteration).
Other methods return no ``hess_inv``.

Errors and messages name the arguments as SciPy spells them: ``jac`` (``jac(x) must have
shape ...``), ``hessp``, ``options['smoothness']`` and ``maxiter``, not
:func:`lfso.minimize`'s ``grad``, ``hvp``, ``smoothness=`` and ``max_iter``.

An option given as ``None`` takes its default, as ``maxiter=None`` and ``tol=None`` do for
SciPy's own methods (``options={"gtol": None, "memory": None}`` is ``options={}``).

Unknown options are ignored with an :class:`scipy.optimize.OptimizeWarning`, as SciPy's
own methods do, and so are ``hess`` (no method uses a Hessian matrix), ``hessp`` where
the automatic oracle is not used, and ``smoothness`` for a method without an oracle.
``callback`` follows SciPy: ``callback(intermediate_result=...)`` if ``intermediate_result``
is its only parameter, else ``callback(xk)`` (a copy of the iterate). The intermediate result
is an ``OptimizeResult`` with the fields of the final one (:func:`to_optimize_result`:
``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``njev``, ``grad_norm``, ``history``, ``method``,
...), so the callbacks of :mod:`lfso.monitor` and :class:`lfso.report.LiveReport` work here
as they do with :func:`lfso.minimize`. Raising ``StopIteration`` in either stops the run,
and the result is SciPy's for a callback stop: ``status`` 99, ``success`` false, ``message``
"`callback` raised `StopIteration`.", with ``x`` and ``fun`` the best point so far
(:func:`lfso.minimize` reports the same stop as ``Status.CALLBACK_STOP``). An exception raised
during the run propagates with the best point so far as its ``result`` (an
``OptimizeResult``; see :func:`lfso.minimize`).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import LbfgsInvHessProduct, OptimizeResult, OptimizeWarning

from ._minimize import minimize
from ._registry import DEFAULT_METHOD, METHODS
from ._result import SCIPY_CALLBACK_STOP, Result, Status
from ._validate import call_user, integer, nonnegative, spelling

#: Options every method takes besides its own (those of the method registry, except ``hvp``,
#: which comes from SciPy's ``hessp``).
_SHARED = {"maxiter", "tol", "gtol", "disp", "return_all", "smoothness", "monitor", "progress"}


#: SciPy's ``message`` of a run its callback stopped (``StopIteration``), as
#: ``scipy.optimize.minimize`` sets it for its own methods (its ``status``:
#: :data:`lfso._result.SCIPY_CALLBACK_STOP`).
_CALLBACK_STOP_MESSAGE = "`callback` raised `StopIteration`."


def to_optimize_result(res: Any) -> OptimizeResult:
    """An :class:`lfso.Result` as SciPy's ``OptimizeResult`` (extra fields kept: ``grad_norm``,
    ``noracle``, ``rollbacks``, ``nhev``, ``history``, ``method``, and ``risks`` where an
    indicator fired).

    ``status`` is the integer of :class:`lfso.Status`, except for a run its callback
    stopped (``Status.CALLBACK_STOP``): there ``status`` and ``message`` are SciPy's,
    ``99`` and "`callback` raised `StopIteration`.", as for SciPy's own methods.
    """
    stopped = res.status is Status.CALLBACK_STOP
    out = OptimizeResult(
        x=np.asarray(res.x),
        fun=res.fun,
        jac=np.asarray(res.jac),
        nit=res.nit,
        nfev=res.nfev,
        njev=res.njev,
        grad_norm=res.grad_norm,
        status=SCIPY_CALLBACK_STOP if stopped else int(res.status),
        success=res.success,
        message=_CALLBACK_STOP_MESSAGE if stopped else res.message,
        noracle=res.noracle,
        rollbacks=res.rollbacks,
        nhev=res.nhev,
        history=res.history,
        method=res.method,
    )
    if res.risks:  # (SciPy's repr cannot print an empty dict)
        out["risks"] = res.risks
    memory = getattr(res, "_memory", None)
    if memory is not None:  # (an L-BFGS run's: SciPy's L-BFGS-B's hess_inv)
        out["hess_inv"] = _inverse_hessian(memory, out.x.size)
    return out


class _InverseHessian(LbfgsInvHessProduct):
    """The inverse-Hessian approximation ``H`` of an L-BFGS run as SciPy's
    :class:`~scipy.optimize.LbfgsInvHessProduct` (``sk``, ``yk`` its pairs, oldest first),
    with the initial matrix the run's direction uses, ``H_0 = gamma I``, ``gamma = s^T y /
    y^T y`` of the newest pair (SciPy's class takes ``H_0 = I``). Scaling ``y`` by
    ``gamma`` scales the recursion's ``H`` by ``1 / gamma`` and turns ``gamma I`` into
    ``I``, so ``H = gamma H'``, ``H'`` SciPy's operator of the pairs ``(s_i, gamma y_i)``."""

    def __init__(self, sk: np.ndarray, yk: np.ndarray) -> None:
        super().__init__(sk, yk)
        self.gamma = float(sk[-1] @ yk[-1] / (yk[-1] @ yk[-1])) if len(sk) else 1.0
        self._unit = LbfgsInvHessProduct(sk, self.gamma * yk)

    def _matvec(self, x: Any) -> Any:
        return self.gamma * self._unit._matvec(x)

    def _matmat(self, X: Any) -> Any:
        return self.gamma * self._unit._matmat(X)


def _inverse_hessian(pairs: Any, n: int) -> _InverseHessian:
    """``hess_inv`` of the kept L-BFGS ``pairs`` (``()``: the identity, as SciPy's for a
    memory with no pair), in float64."""
    sk = np.array([np.asarray(s, dtype=np.float64) for s, _ in pairs]).reshape(-1, n)
    yk = np.array([np.asarray(y, dtype=np.float64) for _, y in pairs]).reshape(-1, n)
    return _InverseHessian(sk, yk)


def _scipy_callback(callback: Callable[..., Any] | None) -> Callable[..., Any] | None:
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(
            "callback must be callable, callback(intermediate_result) or callback(xk), got "
            f"{type(callback).__name__} {callback!r:.60}"
        )
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):  # (no signature: SciPy's default, the iterate)
        params = set()
    if params == {"intermediate_result"}:  # (SciPy's test, scipy.optimize._wrap_callback)

        def wrapped(intermediate_result: Any) -> None:
            callback(intermediate_result=to_optimize_result(intermediate_result))
    else:

        def wrapped(intermediate_result: Any) -> None:
            callback(np.copy(np.asarray(intermediate_result.x)))

    return wrapped


def _refuse_unsupported(attribute: str, jac: Any, bounds: Any, constraints: Any) -> None:
    """A ``ValueError`` for bounds or constraints, or a ``jac`` that is no gradient."""
    # (SciPy's default constraints=() and an empty list or array give none)
    constrained = constraints is not None and not (
        isinstance(constraints, (list, tuple, np.ndarray)) and len(constraints) == 0
    )
    if bounds is not None or constrained:
        given = (
            f"bounds={bounds!r:.60}" if bounds is not None else f"constraints={constraints!r:.60}"
        )
        raise ValueError(
            f"lfso.scipy.{attribute} is unconstrained: bounds and constraints are not "
            f"supported, got {given}"
        )
    if not (jac is True or callable(jac)):
        raise ValueError(
            f"lfso.scipy.{attribute} needs the gradient: pass jac= a callable or jac=True "
            f"(got jac={jac!r}"
            + (
                "; scipy.optimize.minimize passes None for jac=None and for a "
                "finite-difference scheme, '2-point', '3-point' or 'cs'; lfso's methods take "
                "the gradient itself)"
                if jac is None
                else ")"
            )
        )


def _require_oracle(attribute: str, needed: bool, smoothness: Any) -> None:
    """A ``TypeError`` where the method needs an oracle and ``options`` give none."""
    if needed and smoothness is None:
        raise TypeError(
            f"lfso.scipy.{attribute} needs an oracle: pass options={{'smoothness': L}}, L a "
            "callable L(x, R, *args), a positive number or an oracle"
        )


def _scipy_names(attribute: str) -> dict[str, str]:
    """How a run of ``lfso.scipy.<attribute>`` names :func:`lfso.minimize`'s arguments
    (:func:`lfso._validate.spelling`): ``jac``, ``hessp``, ``options['smoothness']``, the
    method's options as items of ``options`` and the method as ``method=`` was given."""
    return {
        "grad": "jac",
        "hvp": "hessp",
        "smoothness": "options['smoothness']",
        "options": "options",
        "method": f"method=lfso.scipy.{attribute}",
    }


def _custom(name: str) -> Callable[..., OptimizeResult]:
    def method(
        fun: Callable[..., Any],
        x0: Any,
        args: tuple[Any, ...] = (),
        *,
        jac: Any = None,
        hess: Any = None,
        hessp: Callable[..., Any] | None = None,
        bounds: Any = None,
        constraints: Any = (),
        callback: Callable[..., Any] | None = None,
        **options: Any,
    ) -> OptimizeResult:
        _refuse_unsupported(method.__name__, jac, bounds, constraints)
        entry = METHODS[name]
        own = set(entry.options) - {"hvp"}
        unknown = sorted(set(options) - own - _SHARED)
        if unknown:
            warnings.warn(
                f"Unknown solver options: {', '.join(unknown)}", OptimizeWarning, stacklevel=3
            )
        # As for SciPy's methods (maxiter=None, tol=None), an option given as None takes
        # its default.
        options = {k: v for k, v in options.items() if v is not None}
        opts = {k: v for k, v in options.items() if k in own}
        disp = bool(options.get("disp", False))
        maxiter = integer(options.get("maxiter", 10_000), "options['maxiter']", low=0)
        gtol = nonnegative(options.get("gtol", 0.0), "options['gtol']")
        # As SciPy does, fun and jac get a copy of the iterate (lfso.minimize gives every
        # user callable its own): one that changes its argument changes the copy, not the run.
        args = args if isinstance(args, tuple) else (args,)  # (as SciPy takes args=a)
        f = _passing(args, fun, "fun(x, *args)")
        g = jac if jac is True else _passing(args, jac, "jac(x, *args)")
        smoothness = options.get("smoothness")
        allvecs, record = _recorder(x0, callback) if options.get("return_all") else ([], None)
        ignored = _ignored(name, entry.needs_oracle, entry.estimates, hess, hessp, smoothness)
        if ignored:
            warnings.warn(ignored, OptimizeWarning, stacklevel=3)
        _require_oracle(method.__name__, entry.needs_oracle and not entry.estimates, smoothness)
        if entry.needs_oracle and callable(smoothness):
            smoothness = _passing(args, smoothness, "smoothness(x, R, *args)")
        if entry.estimates and smoothness in (None, "auto"):
            smoothness = "auto"
            if hessp is not None:
                opts["hvp"] = _passing(args, hessp, "hessp(x, v, *args)")
        elif not entry.needs_oracle:
            smoothness = None
        try:
            # (its errors and messages name jac, hessp and options['smoothness'])
            with spelling(**_scipy_names(method.__name__)):
                res = minimize(
                    f,
                    x0,
                    method=name,
                    grad=g,
                    smoothness=smoothness,
                    tol=options.get("tol", 1e-8),
                    atol=gtol,
                    max_iter=maxiter,
                    callback=record or _scipy_callback(callback),
                    monitor=options.get("monitor", True),
                    progress=options.get("progress"),
                    **opts,
                )
        except Exception as exc:  # the progress attached by lfso.minimize, as SciPy's type
            if isinstance(getattr(exc, "result", None), Result):
                exc.result = to_optimize_result(exc.result)  # type: ignore[attr-defined]
            raise
        if res.status.name == "MAX_ITER":  # SciPy's option is maxiter
            res.message = res.message.replace("max_iter", "maxiter")
        out = to_optimize_result(res)
        if record is not None:  # (SciPy's BFGS's allvecs)
            out["allvecs"] = allvecs
        if disp:
            print(
                f"{out.message}\n  iterations: {res.nit}, f: {res.fun:.6g}, "
                f"nfev: {res.nfev}, njev: {res.njev}"
            )
        return out

    method.__name__ = _attribute(name)
    method.__qualname__ = method.__name__
    method.__doc__ = _docstring(name)
    return method


def _recorder(x0: Any, callback: Any) -> tuple[list[Any], Callable[[Any], None]]:
    """``(allvecs, record)``: the list of the iterates (a copy of ``x0`` first) and the
    callback that appends a copy of each, then calls the user's ``callback``
    (``options={"return_all": True}``)."""
    then = _scipy_callback(callback)
    first = np.atleast_1d(np.asarray(x0))
    allvecs = [np.array(first, dtype=first.dtype if first.dtype.kind == "f" else float)]

    def record(intermediate_result: Any) -> None:
        allvecs.append(np.copy(np.asarray(intermediate_result.x)))
        if then is not None:
            then(intermediate_result)

    return allvecs, record


def _passing(args: tuple[Any, ...], function: Any, signature: str) -> Any:
    """``function`` called with ``args`` after its own arguments (itself where there are
    none); one that does not take them is named by ``signature`` (:func:`call_user`), not
    reported as a bare ``TypeError``."""
    if not args:
        return function
    return lambda *own: call_user(function, signature, *own, *args)


def _ignored(
    name: str, needs_oracle: bool, estimates: bool, hess: Any, hessp: Any, smoothness: Any
) -> str:
    """What of ``hess``, ``hessp`` and ``options["smoothness"]`` method ``name`` does not
    use, as a warning's text ("" when it uses all that was given)."""
    parts = []
    if hess is not None:
        parts.append(
            "hess is ignored: lfso's methods use no Hessian matrix (the automatic oracle of "
            "the certified methods takes Hessian-vector products, hessp)"
        )
    if hessp is not None and not (estimates and smoothness in (None, "auto")):
        why = (
            "options['smoothness'] is given"
            if estimates
            else "the method does not estimate its oracle"
        )
        parts.append(f"hessp is ignored: it feeds the automatic oracle, and {why}")
    if smoothness is not None and not needs_oracle:
        parts.append("options['smoothness'] is ignored: the method uses no smoothness oracle")
    return f"lfso.scipy.{_attribute(name)}: " + "; ".join(parts) if parts else ""


def _docstring(name: str) -> str:
    """The docstring of ``method=name``'s SciPy method: what it is, the call, its options."""
    entry = METHODS[name]
    attribute = _attribute(name)
    own = {k: o for k, o in entry.options.items() if k != "hvp"}  # hvp: SciPy's hessp
    unset = [k for k, o in own.items() if o.default is None and not _takes_none(o)]
    # The call shows the required options; where there are none, the first unset one.
    needed = [k for k, o in own.items() if o.required] or unset[:1]
    if entry.needs_oracle and not entry.estimates:
        needed.append("smoothness")
    options = ", options={" + ", ".join(f'"{k}": ...' for k in needed) + "}" if needed else ""
    if entry.estimates:
        oracle = (
            "``smoothness`` is the oracle ``L(x, R, *args)``; without it the oracle is "
            "estimated (``smoothness='auto'``, safeguarded) and ``hessp``, if given, feeds "
            "its power iterations."
        )
    elif entry.needs_oracle:
        oracle = "``smoothness``, the oracle ``L(x, R, *args)``, is required."
    else:
        oracle = "It takes no oracle (a ``smoothness`` option is ignored, with a warning)."
    lines = [
        f"``method='{name}'`` of :func:`lfso.minimize` as a SciPy custom method "
        f"(see :mod:`lfso.scipy`): {entry.description}.",
        "",
        "Call it as:",
        "",
        f"    scipy.optimize.minimize(fun, x0, jac=grad, method=lfso.scipy.{attribute}{options})",
        "",
        "``jac`` is required: a callable, or ``True`` where ``fun`` returns ``(f, g)``; "
        "``args`` are passed on to ``fun``, ``jac`` and ``hessp``; bounds and constraints "
        f"are not supported. {oracle} It returns a :class:`scipy.optimize.OptimizeResult` "
        "(:func:`to_optimize_result`).",
        "",
        "Options",
        "-------",
    ]
    for key, option in own.items():
        if option.required:
            lines.append(f"* ``{key}`` (required): {option.needs}, {option.expect}.")
        elif key in unset:
            lines.append(f"* ``{key}`` (unset by default): {option.expect}.")
        else:
            lines.append(f"* ``{key}`` (default ``{option.default!r}``): {option.expect}.")
    shared = ", ".join(f"``{k}``" for k in sorted(_SHARED))
    lines.append(f"* {shared}: as for every method (:mod:`lfso.scipy`).")
    return "\n".join(lines)


def _takes_none(option: Any) -> bool:
    """Whether ``None`` is a valid value of the option (else a ``None`` default means unset)."""
    try:
        option.check("option", None)
    except (TypeError, ValueError):
        return False
    return True


def _attribute(method: str) -> str:
    """``lfso.scipy``'s name of a registry method: ``"lfso-lbfgs"`` -> ``lfso_lbfgs``."""
    return method.replace("-", "_")


# One function per method of the registry, made here: adding a step rule to
# lfso.METHODS adds lfso.scipy.<its name> with no edit to this module.
_METHODS = {_attribute(name): _custom(name) for name in METHODS}
globals().update(_METHODS)

#: The default method of :func:`lfso.minimize` as a SciPy custom method
#: (``method=lfso.scipy.DEFAULT``).
DEFAULT = _METHODS[_attribute(DEFAULT_METHOD)]

__all__ = ["DEFAULT", *sorted(_METHODS), "to_optimize_result"]


def __getattr__(name: str) -> Callable[..., OptimizeResult]:
    """A method registered after this module was imported (``lfso.scipy.<method>``);
    typed, so that ``lfso.scipy.lfso_lbfgs`` type-checks as a SciPy custom method."""
    for method in METHODS:
        if _attribute(method) == name:
            return _custom(method)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *(_attribute(m) for m in METHODS)})
