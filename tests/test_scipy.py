"""lfso's methods through ``scipy.optimize.minimize`` itself (SciPy's custom-method contract)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from scipy.optimize import (
    OptimizeResult,
    OptimizeWarning,
    minimize,
    rosen,
    rosen_der,
)

import lfso
import lfso._registry
import lfso.monitor
import lfso.scipy as ls

A = np.diag(np.linspace(1.0, 4.0, 5))
B = np.ones(5)


def quad(x, scale=1.0):
    r = A @ x - B
    return scale * float(r @ r)


def quad_grad(x, scale=1.0):
    return scale * 2.0 * A.T @ (A @ x - B)


def quad_oracle(x, radius, scale=1.0):
    return scale * 2.0 * 16.0


X_STAR = np.linalg.solve(A, B)
METHODS = {
    "lfso": {},
    "lfso_lbfgs": {},
    "lfso_accel": None,
    "gd": {"step": 1 / 32},
    "armijo": {},
    "bb": {},
    "adgd": {},
    "polyak": {"f_star": 0.0},
    "nesterov": {"lipschitz": 32.0},
    "dog": {},
}


def test_every_registered_method_is_a_scipy_custom_method():
    names = {name.replace("-", "_") for name in lfso.METHODS}
    assert set(lfso.scipy.__all__) - {"to_optimize_result", "DEFAULT"} == names
    assert all(callable(getattr(lfso.scipy, name)) for name in names)
    assert names <= set(dir(lfso.scipy))
    from lfso.scipy import lfso_lbfgs  # the import users write

    assert lfso_lbfgs is lfso.scipy.lfso_lbfgs and lfso_lbfgs.__name__ == "lfso_lbfgs"
    # The default is lfso.minimize's, from the registry.
    assert lfso.scipy.DEFAULT.__name__ == lfso.DEFAULT_METHOD.replace("-", "_")


def test_the_default_solves_a_10d_rosenbrock():
    from scipy.optimize import minimize, rosen, rosen_der

    res = minimize(rosen, np.zeros(10), jac=rosen_der, method=lfso.scipy.DEFAULT)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-6) and res.nit < 500


def test_a_method_added_to_the_registry_is_a_scipy_method_with_no_edit(monkeypatch):
    import dataclasses

    import lfso._registry

    base = lfso.METHODS["gd"]
    entry = dataclasses.replace(base, description="gd by another name")
    monkeypatch.setitem(lfso.METHODS, "gd-again", entry)
    assert "gd_again" in dir(lfso.scipy)
    res = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.gd_again, options={"step": 1 / 32})
    assert res.success and np.allclose(res.x, X_STAR, atol=1e-6)
    with pytest.raises(AttributeError, match="no attribute 'gd_never'"):
        _ = ls.gd_never


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("name", sorted(METHODS))
def test_methods_run_through_scipy_minimize(name):
    options = METHODS[name] if METHODS[name] is not None else {"smoothness": quad_oracle}
    res = minimize(
        quad,
        np.zeros(5),
        jac=quad_grad,
        method=getattr(ls, name),
        options={"maxiter": 20_000, **options},
    )
    assert isinstance(res, OptimizeResult) and res.success, res.message
    np.testing.assert_allclose(res.x, X_STAR, atol=1e-6)
    for field in ("x", "fun", "jac", "nit", "nfev", "njev", "status", "success", "message"):
        assert field in res
    assert res.njev >= res.nit + 1 and res.status == 0


def test_args_jac_true_and_tol():
    def fun_and_grad(x, scale):
        return quad(x, scale), quad_grad(x, scale)

    res = minimize(
        fun_and_grad,
        np.zeros(5),
        args=(3.0,),
        jac=True,
        method=ls.lfso,
        tol=1e-10,
        options={"smoothness": quad_oracle},
    )
    assert res.success and res.noracle > 0 and res.rollbacks == 0
    assert res.jac @ res.jac <= (1e-10 * np.linalg.norm(quad_grad(np.zeros(5), 3.0))) ** 2


def test_default_oracle_is_estimated_and_hessp_feeds_it():
    res = minimize(rosen, np.zeros(4), jac=rosen_der, method=ls.lfso, options={"maxiter": 100_000})
    assert res.success and res.rollbacks >= 0
    np.testing.assert_allclose(res.x, np.ones(4), atol=1e-5)
    res = minimize(
        quad, np.zeros(5), jac=quad_grad, hessp=lambda x, v: 2 * A.T @ (A @ v), method=ls.lfso
    )
    assert res.success and res.nhev >= 2 * res.nit
    assert "risks" not in res and "nhev" in repr(res)


def test_unknown_options_warn_like_scipy():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: frobnicate"):
        res = minimize(
            quad,
            np.zeros(5),
            jac=quad_grad,
            method=ls.gd,
            options={"step": 1 / 32, "frobnicate": 1},
        )
    assert res.success


@pytest.mark.parametrize(
    "name, given, message",
    [
        ("gd", {"options": {"smoothness": quad_oracle}}, r"gd: options\['smoothness'\] is ign"),
        ("lfso", {"hess": lambda x: 2 * A.T @ A}, "lfso: hess is ignored: .* no Hessian"),
        ("gd", {"hessp": lambda x, v: v}, "gd: hessp is ignored: .*does not estimate"),
        (
            "lfso",
            {"hessp": lambda x, v: v, "options": {"smoothness": quad_oracle}},
            r"hessp is ignored: .*options\['smoothness'\] is given",
        ),
    ],
)
def test_what_a_method_does_not_use_warns_naming_it(name, given, message):
    given = dict(given)  # (the table's dicts are shared)
    options = {"step": 1 / 32} if name == "gd" else {}
    options.update(given.pop("options", {}))
    with pytest.warns(OptimizeWarning, match=message):
        res = minimize(
            quad, np.zeros(5), jac=quad_grad, method=getattr(ls, name), options=options, **given
        )
    assert res.success


def test_callback_conventions_and_stop_iteration():
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.fun)
        if len(seen) == 3:
            raise StopIteration

    res = minimize(
        quad, np.zeros(5), jac=quad_grad, method=ls.gd, callback=cb, options={"step": 1e-3}
    )
    assert len(seen) == 3 and not res.success and res.nit == 3
    assert res.status == 99 and res.message == "`callback` raised `StopIteration`."
    xs = []
    minimize(
        quad,
        np.zeros(5),
        jac=quad_grad,
        method=ls.gd,
        callback=lambda xk: xs.append(xk),
        options={"step": 1e-3, "maxiter": 4, "tol": 0.0},
    )
    assert len(xs) == 4 and xs[0].shape == (5,)


def _stop_at_third(convention):
    """A callback in SciPy's ``convention`` that raises ``StopIteration`` at its third call,
    and the ``f`` it saw at each call."""
    seen = []

    def by_result(intermediate_result):
        seen.append(float(intermediate_result.fun))
        if len(seen) == 3:
            raise StopIteration

    def by_x(xk):
        seen.append(float(rosen(xk)))
        if len(seen) == 3:
            raise StopIteration

    return (by_result if convention == "intermediate_result" else by_x), seen


@pytest.mark.parametrize("convention", ["intermediate_result", "xk"])
@pytest.mark.parametrize("name", ["lfso", "lfso_lbfgs", "armijo"])
def test_a_callback_stop_reports_scipys_status_and_message(name, convention):
    x0 = np.zeros(4)
    reference, _ = _stop_at_third(convention)
    scipy_own = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B", callback=reference)
    callback, seen = _stop_at_third(convention)
    res = minimize(rosen, x0, jac=rosen_der, method=getattr(ls, name), callback=callback)
    assert (res.status, res.success, res.message) == (
        scipy_own.status,
        scipy_own.success,
        scipy_own.message,
    )
    assert res.nit == 3 and len(seen) == 3
    # x and fun: the best point so far, f(x) itself
    assert res.fun == min([rosen(x0), *seen]) and res.fun == rosen(res.x)


def test_counters_match_calls():
    calls = {"f": 0, "g": 0}

    def f(x):
        calls["f"] += 1
        return quad(x)

    def g(x):
        calls["g"] += 1
        return quad_grad(x)

    for method in (ls.armijo, ls.lfso_lbfgs, ls.lfso):  # (the last two: the oracle's probe)
        calls["f"] = calls["g"] = 0
        res = minimize(f, np.zeros(5), jac=g, method=method)
        assert res.nfev == calls["f"] and res.njev == calls["g"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bounds": [(0, 1)] * 5}, r"bounds and constraints are not supported, got bounds=\["),
        (
            {"constraints": {"type": "eq", "fun": lambda x: x[0]}},
            r"are not supported, got constraints=\{'type': 'eq'",
        ),
        (
            {"constraints": np.array([{"type": "eq", "fun": lambda x: x[0]}])},
            r"are not supported, got constraints=array\(",
        ),
        ({"jac": None}, "needs the gradient"),
        ({"jac": "2-point"}, "needs the gradient: .*for a finite-difference scheme, '2-point'"),
        ({"jac": "cs"}, "needs the gradient: .*for a finite-difference scheme, .*'cs'"),
    ],
)
def test_unsupported_inputs_raise(kwargs, message):
    kwargs.setdefault("jac", quad_grad)
    with pytest.raises(ValueError, match=message):
        minimize(quad, np.zeros(5), method=ls.lfso, **kwargs)


@pytest.mark.parametrize("constraints", [(), [], np.array([]), None])
def test_no_constraints_given_as_empty_is_unconstrained(constraints):
    res = minimize(quad, np.zeros(5), jac=quad_grad, constraints=constraints, method=ls.lfso)
    assert res.success


def test_stop_message_names_scipys_option():
    res = minimize(quad, np.ones(5), jac=quad_grad, method=ls.lfso_lbfgs, options={"maxiter": 2})
    assert not res.success and "maxiter" in res.message and "max_iter" not in res.message


@pytest.mark.parametrize(
    "options, callback, exc, message",
    [
        ({"maxiter": 5.0}, None, TypeError, r"options\['maxiter'\] must be an integer >= 0, got"),
        ({"maxiter": -1}, None, ValueError, r"options\['maxiter'\] must be an integer >= 0, got"),
        ({"gtol": -1.0}, None, ValueError, r"options\['gtol'\] must be finite and >= 0, got"),
        ({}, [print], TypeError, r"callback must be callable, .*got list \["),
        ({"monitor": "loud"}, None, ValueError, r"^options\['monitor'\] must be True, .*"),
        ({"progress": "x"}, None, TypeError, r"^options\['progress'\] must be True, False or"),
        ({}, "print", TypeError, r"callback must be callable, .*got str 'print'"),
    ],
)
def test_bad_options_are_named_as_scipy_spells_them(options, callback, exc, message):
    with pytest.raises(exc, match=message):
        minimize(
            quad,
            np.zeros(5),
            jac=quad_grad,
            method=ls.lfso_lbfgs,
            options=options,
            callback=callback,
        )


@pytest.mark.parametrize(
    "given, exc, message",
    [
        ({"jac": lambda x: np.ones(2)}, ValueError, r"^jac\(x\) must have shape \(5,\)"),
        ({"jac": lambda x: "g"}, TypeError, r"^jac\(x\) must return an array of shape"),
        ({"jac": lambda: 0}, TypeError, r"^jac must be callable as jac\(x\)"),
        ({"hessp": lambda x, v: np.ones(2)}, ValueError, r"^hessp\(x, v\) must have shape"),
        ({"hessp": lambda x: x}, TypeError, r"^hessp must be callable as hessp\(x, v\)"),
        ({"hessp": "x"}, TypeError, r"^hessp must be callable as hessp\(x, v\) or 'autodiff'"),
        (
            {"hessp": lambda x, v: np.full(5, np.nan)},
            ValueError,
            r"^hessp\(x, v\) must return Hess f\(x\) v, a finite array",
        ),
        (
            {"options": {"smoothness": -1.0}},
            ValueError,
            r"^options\['smoothness'\] must be finite and positive, got options\['smoothness'\]=-1",
        ),
        (
            {"options": {"smoothness": "x"}},
            ValueError,
            r"^options\['smoothness'\] must be a callable, an oracle or 'auto', got 'x'",
        ),
        (
            {"method": ls.lfso_accel},
            TypeError,
            r"^lfso.scipy.lfso_accel needs an oracle: pass options=\{'smoothness': L\}",
        ),
        (
            {"options": {"power_iterations": 3}},
            TypeError,
            r"^options\['power_iterations'\] sets the power iterations along hessp= \(got "
            r"options\['power_iterations'\]=3 and no hessp\)",
        ),
        (
            {"options": {"safeguard": False}},
            TypeError,
            r"^method=lfso.scipy.lfso_lbfgs with the automatic oracle \(options=\{'smoothness': "
            r"'auto'\}, .*drop options=\{'safeguard': False\} .*pass options=\{'smoothness': L\}",
        ),
        (
            {"options": {"smoothness": quad_oracle, "safety": 3.0}},
            TypeError,
            r"^option\(s\) options\['safety'\] tune the automatic oracle.*"
            r"pass options=\{'smoothness': 'auto'\}",
        ),
        (
            {"options": {"smoothness": quad_oracle, "eta": -1.0}},
            ValueError,
            r"^options\['eta'\] must be in \(0, 2\), got options\['eta'\]=-1",
        ),
        (
            {"options": {"smoothness": quad_oracle, "safeguard": False, "backoff": 2.0}},
            TypeError,
            r"options\['backoff'\] tune the safeguard; pass options=\{'safeguard': True\}",
        ),
        (
            {"method": ls.nesterov, "options": {"step": 0.1, "lipschitz": 10.0}},
            TypeError,
            r"^method=lfso.scipy.nesterov needs exactly one of options=\{'step': \.\.\.\} or "
            r"options=\{'lipschitz': \.\.\.\}",
        ),
    ],
)
def test_errors_about_the_gradient_and_hessp_name_them_as_scipy_spells_them(given, exc, message):
    """The SciPy face's errors name ``jac``, ``hessp``, ``options['smoothness']`` and the
    method as its caller wrote them, not lfso.minimize's ``grad``, ``hvp``, ``smoothness=``
    and ``method='lfso-accel'``."""
    given = {"jac": quad_grad, "method": ls.lfso_lbfgs} | given
    with pytest.raises(exc, match=message) as raised:
        minimize(quad, np.ones(5), **given)
    words = r"\bgrad\(|\bgrad=|\bhvp\b|(?<!')smoothness=|method='|\bsafeguard=|\beta="
    assert not re.search(words, str(raised.value)), raised.value


@pytest.mark.parametrize(
    "given, message",
    [
        ({"fun": lambda x: quad(x)}, r"^fun must be callable as fun\(x, \*args\): "),
        ({"jac": lambda x: quad_grad(x)}, r"^jac must be callable as jac\(x, \*args\): "),
        ({"hessp": lambda x, v: v}, r"^hessp must be callable as hessp\(x, v, \*args\): "),
        (
            {"method": ls.lfso, "options": {"smoothness": lambda x, radius: 32.0}},
            r"^smoothness must be callable as smoothness\(x, R, \*args\): ",
        ),
    ],
)
def test_a_callable_that_does_not_take_the_args_is_named(given, message):
    """With ``args``, a ``fun``, ``jac``, ``hessp`` or oracle that does not take them is
    named with the call SciPy makes, not reported as a bare ``TypeError`` of a lambda."""
    given = {"fun": quad, "jac": quad_grad, "method": ls.lfso_lbfgs} | given
    with pytest.raises(TypeError, match=message):
        minimize(x0=np.zeros(5), args=(2.0,), **given)


def test_args_not_a_tuple_is_one_argument_as_in_scipy():
    """``scipy.optimize.minimize`` wraps ``args=a`` as ``(a,)``; so does a direct call."""

    def hessp(x, v, scale):
        return scale * 2.0 * A.T @ (A @ v)

    res = ls.lfso_lbfgs(quad, np.zeros(5), 3.0, jac=quad_grad, hessp=hessp)
    ref = minimize(quad, np.zeros(5), args=3.0, jac=quad_grad, hessp=hessp, method=ls.lfso_lbfgs)
    assert res.success and np.array_equal(res.x, ref.x)


def test_a_risk_warning_names_scipys_arguments_at_the_callers_line():
    """A risk's warning points at the line that called ``scipy.optimize.minimize`` (not
    inside lfso or SciPy) and advises in SciPy's names: ``grad=jac``, ``options=``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        minimize(rosen, np.zeros(4), jac=lambda x: -rosen_der(x), method=ls.lfso_lbfgs)
        minimize(
            rosen,
            np.zeros(4),
            jac=rosen_der,
            method=ls.lfso,
            options={"smoothness": lambda x, radius: 1.0, "maxiter": 200, "safeguard": False},
        )
    risks = [w for w in caught if issubclass(w.category, lfso.monitor.RiskWarning)]
    text = " ".join(str(w.message) for w in risks)
    assert "'gradient'" in text and "'oracle'" in text, text
    assert "grad=jac)" in text and "options={'safeguard': True}" in text, text
    assert not re.search(r"grad=grad|\bsafeguard=|(?<!')smoothness=", text), text
    assert {w.filename for w in risks} == {__file__}


def test_stop_messages_that_list_arguments_name_them_as_scipy_spells_them():
    """The messages of a failed safeguard and of an exception raised during the run name
    ``options['max_rollbacks']``, ``jac`` and ``hessp``, not lfso.minimize's names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        res = minimize(
            rosen,
            np.zeros(3),
            jac=rosen_der,
            method=ls.lfso,
            options={"smoothness": lambda x, radius: 1e-6, "safeguard": True, "max_rollbacks": 2},
        )
    assert res.status == lfso.Status.STEP_FAILED
    assert "(options['max_rollbacks'] reached)" in res.message, res.message
    assert "more than options={'max_rollbacks': 2} allows" in res.message, res.message

    def fun(x):
        if x[0] > 0.1:
            raise RuntimeError("not here")
        return rosen(x)

    with pytest.raises(RuntimeError, match="not here") as raised:
        minimize(fun, np.zeros(3), jac=rosen_der, method=ls.lfso_lbfgs)
    message = raised.value.result.message
    assert raised.value.result.status == lfso.Status.RAISED
    assert "(by fun, jac, the oracle, hessp or a callback)" in message, message


@pytest.mark.parametrize("name", ["lfso_lbfgs", "armijo"])
def test_return_all_lists_the_iterates_as_scipys_bfgs(name):
    """``options={"return_all": True}``: ``allvecs`` holds ``x0`` and then each iterate (as
    the callback sees them), as SciPy's BFGS returns it, with no unknown-option warning."""
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)
        res = minimize(
            rosen,
            [0, 0, 0],
            jac=rosen_der,
            method=getattr(ls, name),
            callback=lambda xk: seen.append(xk),
            options={"return_all": True, "maxiter": 50},
        )
    assert len(res.allvecs) == res.nit + 1 == len(seen) + 1
    assert res.allvecs[0].dtype == float and not res.allvecs[0].any()
    assert all(np.array_equal(a, b) for a, b in zip(res.allvecs[1:], seen, strict=True))
    assert any(np.array_equal(a, res.x) for a in res.allvecs)
    assert "allvecs" not in minimize(rosen, [0, 0, 0], jac=rosen_der, method=ls.armijo)


def test_a_run_nested_in_a_scipy_run_names_arguments_as_lfso_minimize():
    """A callback (or fun) of a SciPy-face run that itself calls lfso.minimize gets that
    run's errors in lfso.minimize's names, and the SciPy run's own errors keep SciPy's."""
    seen = []

    def callback(intermediate_result):
        for given in ({"safeguard": False}, {"grad": lambda x: np.ones(2)}):
            try:
                lfso.minimize(quad, np.ones(5), **({"grad": quad_grad} | given))
            except (TypeError, ValueError) as exc:
                seen.append(str(exc))
        raise StopIteration

    minimize(quad, np.ones(5), jac=quad_grad, method=ls.lfso_lbfgs, callback=callback)
    assert seen[0].startswith("method='lfso-lbfgs' with the automatic oracle (smoothness=")
    assert "drop safeguard=False" in seen[0] and "options" not in seen[0]
    assert seen[1].startswith("grad(x) must have shape (5,)")
    with pytest.raises(ValueError, match=r"^jac\(x\) must have shape \(5,\)"):
        minimize(quad, np.ones(5), jac=lambda x: np.ones(2), method=ls.lfso_lbfgs)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_a_wrong_jac_is_named_jac_in_the_status_message():
    """A gradient mismatch tells the SciPy user to check ``jac``; lfso.minimize's run of the
    same problem still names ``grad``."""
    wrong = {"jac": lambda x: np.ones(5), "options": {"smoothness": quad_oracle}}
    res = minimize(quad, np.linspace(1.0, 2.0, 5), method=ls.lfso_lbfgs, **wrong)
    assert res.status == lfso.Status.GRADIENT_MISMATCH and "grad=jac)" in res.message
    own = lfso.minimize(quad, np.linspace(1.0, 2.0, 5), grad=wrong["jac"], smoothness=quad_oracle)
    assert own.status is lfso.Status.GRADIENT_MISMATCH and "grad=grad)" in own.message


@pytest.mark.parametrize(
    "options",
    [
        {"maxiter": None},
        {"gtol": None},
        {"tol": None},
        {"monitor": None},
        {"memory": None, "eta": None, "radius_rtol": None},
        {"maxiter": None, "gtol": None, "tol": None, "disp": None, "safeguard": None},
    ],
)
def test_an_option_given_as_none_takes_its_default_as_for_scipys_methods(options):
    default = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.lfso_lbfgs)
    res = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.lfso_lbfgs, options=options)
    assert res.success and np.allclose(res.x, X_STAR)
    assert res.nit == default.nit and np.array_equal(res.x, default.x)


def test_fun_and_jac_get_a_copy_of_the_iterate_as_in_scipy():
    def scribbling(function):  # changes its argument in place, as careless code does
        def call(x, *args):
            value = function(x, *args)
            x[:] = 123.0
            return value

        return call

    for jac_true in (False, True):
        fun = (lambda x: (quad(x), quad_grad(x))) if jac_true else quad
        jac = True if jac_true else quad_grad
        clean = minimize(fun, np.zeros(5), jac=jac, method=ls.lfso_lbfgs)
        res = minimize(
            scribbling(fun),
            np.zeros(5),
            jac=jac if jac_true else scribbling(jac),
            method=ls.lfso_lbfgs,
        )
        assert res.success and res.nit == clean.nit
        np.testing.assert_array_equal(res.x, clean.x)
    x0 = np.zeros(5)
    minimize(
        scribbling(quad), x0, jac=quad_grad, method=ls.gd, options={"step": 1e-3, "maxiter": 2}
    )
    assert np.all(x0 == 0.0)  # the caller's start is untouched too


def _recording(signature, calls):
    """A callback of ``signature`` that records how it was called."""

    def record(*args, **kwargs):
        calls.append(
            (
                tuple(type(a).__name__ for a in args),
                {k: type(v).__name__ for k, v in kwargs.items()},
            )
        )

    callbacks = {
        "xk, intermediate_result=None": lambda xk, intermediate_result=None: record(
            xk, **({} if intermediate_result is None else {"ir": intermediate_result})
        ),
        "intermediate_result": lambda intermediate_result: record(ir=intermediate_result),
        "*, intermediate_result": lambda *, intermediate_result: record(ir=intermediate_result),
        "x": lambda x: record(x),
        "res": lambda res: record(res),
        "*args": lambda *args: record(*args),
    }
    return callbacks[signature]


@pytest.mark.parametrize(
    "signature",
    [
        "xk, intermediate_result=None",
        "intermediate_result",
        "*, intermediate_result",
        "x",
        "res",
        "*args",
    ],
)
def test_a_callback_is_called_as_scipys_own_methods_call_it(signature):
    options = {"maxiter": 3}
    theirs, ours = [], []
    minimize(
        quad,
        np.zeros(5),
        jac=quad_grad,
        method="L-BFGS-B",
        callback=_recording(signature, theirs),
        options=options,
    )
    minimize(
        quad,
        np.zeros(5),
        jac=quad_grad,
        method=ls.lfso_lbfgs,
        callback=_recording(signature, ours),
        options=options,
    )
    assert ours and ours[0] == theirs[0]


@pytest.mark.parametrize(
    "logger", ["CSVLogger", "JSONLinesLogger", "TensorBoardLogger", "LiveReport"]
)
def test_lfsos_ready_made_callbacks_work_on_the_scipy_face(tmp_path, logger):
    import lfso.monitor
    import lfso.report

    if logger == "TensorBoardLogger":
        pytest.importorskip("tensorboardX")
    where = tmp_path / "log"
    make = getattr(lfso.monitor, logger, None) or getattr(lfso.report, logger)
    callback = make(where)
    res = minimize(rosen, np.zeros(3), jac=rosen_der, method=ls.lfso_lbfgs, callback=callback)
    if logger == "LiveReport":
        callback.finish(res)
        assert res.method in where.read_text()
        return
    callback.close()
    if logger == "TensorBoardLogger":
        assert any(p.name.startswith("events.out.tfevents") for p in where.iterdir())
        return
    lines = where.read_text().splitlines()
    rows = lines[1:] if logger == "CSVLogger" else lines
    assert res.success and len(rows) == res.nit
    assert rows[-1].startswith(str(res.nit)) or f'"iteration": {res.nit}' in rows[-1]


def _two_loop(v, pairs):
    """``H v`` by the L-BFGS two-loop recursion of ``pairs`` (oldest first), ``H_0 = gamma
    I`` from the newest pair (Nocedal & Wright, Algorithm 7.4)."""
    q, alphas = np.array(v, dtype=float), []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (s @ y)
        alphas.append(alpha)
        q = q - alpha * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        r = r + (alpha - (y @ r) / (s @ y)) * s
    return r


def test_lbfgs_returns_hess_inv_as_scipys_lbfgsb_does():
    from scipy.optimize import LbfgsInvHessProduct

    res = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.lfso_lbfgs)
    assert res.success
    H = res.hess_inv
    assert isinstance(H, LbfgsInvHessProduct)
    pairs = list(zip(H.sk, H.yk, strict=True))
    assert 1 <= len(pairs) <= 10
    v = np.random.default_rng(0).standard_normal(5)
    np.testing.assert_allclose(H.dot(v), _two_loop(v, pairs), rtol=1e-10)
    dense = H.todense()
    np.testing.assert_allclose(dense, dense.T, rtol=1e-10, atol=1e-14)
    assert np.linalg.eigvalsh(dense).min() > 0.0
    # the pairs are the run's secant pairs: y = grad(x + s) - grad(x) of this quadratic
    for s, y in pairs:
        np.testing.assert_allclose(y, 2.0 * A.T @ A @ s, rtol=1e-6, atol=1e-12)


def test_hess_inv_of_an_empty_memory_is_the_identity_as_in_scipy():
    res = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.lfso_lbfgs, options={"maxiter": 0})
    np.testing.assert_array_equal(res.hess_inv.todense(), np.eye(5))
    other = minimize(quad, np.zeros(5), jac=quad_grad, method=ls.armijo)
    assert "hess_inv" not in other


def test_gtol_applies_to_the_2_norm_of_the_gradient():
    # ||g0||_inf = 1e-3 <= gtol < ||g0||_2 = 1e-2: SciPy's BFGS stops at x0, lfso does not
    x0, gtol = np.full(100, 1e-3), 2e-3
    half_square = (lambda x: 0.5 * float(x @ x), lambda x: np.array(x))
    scipys = minimize(
        half_square[0], x0, jac=half_square[1], method="BFGS", tol=None, options={"gtol": gtol}
    )
    assert scipys.nit == 0
    res = minimize(
        half_square[0],
        x0,
        jac=half_square[1],
        method=ls.lfso_lbfgs,
        options={"gtol": gtol, "tol": 0.0},
    )
    assert res.success and res.nit >= 1
    assert res.grad_norm == pytest.approx(np.linalg.norm(res.jac)) and res.grad_norm <= gtol


@pytest.mark.parametrize("face", ["scipy", "lfso"])
def test_a_non_smooth_f_is_named_not_rescaling_advised(face):
    f, grad, x0 = (lambda x: float(np.abs(x).sum())), np.sign, np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lfso.monitor.RiskWarning)
        if face == "scipy":
            res = minimize(f, x0, jac=grad, method=ls.lfso_lbfgs)
        else:
            res = lfso.minimize(f, x0, grad=grad, method="lfso-lbfgs")
    assert int(res.status) == int(lfso.Status.PRECISION_LIMIT) and not res.success
    assert "f may not be differentiable at x; lfso needs a smooth f" in res.message
    assert "Rescale" not in res.message
    assert np.abs(res.x).max() < 1e-300  # (at the kink, 0)


def test_a_smooth_f_past_the_float_range_still_advises_rescaling():
    # the curvature 1e308 (twice it, the estimate's safety) overflows: a scale, not a jump
    c = 5e307
    res = lfso.minimize(lambda x: c * float(x @ x), np.full(2, 0.5), grad=lambda x: 2 * c * x)
    assert res.status is lfso.Status.PRECISION_LIMIT
    assert "differentiable" not in res.message and "Rescale" in res.message
