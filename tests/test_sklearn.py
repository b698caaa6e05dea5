"""The scikit-learn estimators: conformance suite and agreement with scikit-learn's solvers."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import clone, datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from lfso.sklearn import LeastPowerRegressor, LFSOLogisticRegression


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [LeastPowerRegressor(), LeastPowerRegressor(p=1.0), LFSOLogisticRegression()]
)
def test_sklearn_conformance(estimator, check):
    name = getattr(check, "func", check).__name__
    if name.startswith("check_sample_weight_equivalence"):  # (fits compared to 1e-7)
        estimator = clone(estimator).set_params(tol=1e-12)
    check(estimator)


def _sk_objective(clf, X, y, C):
    """C * sum of log-losses + ||coef||^2 / 2 (scikit-learn's objective)."""
    from sklearn.metrics import log_loss

    proba = clf.predict_proba(X)
    return C * log_loss(y, proba, normalize=False) + 0.5 * np.sum(clf.coef_**2)


@pytest.mark.parametrize("data", ["breast_cancer", "iris", "wine"])
def test_logistic_matches_scikit_learn_objective(data):
    X, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    ours = LFSOLogisticRegression(C=1.0, tol=1e-10, max_iter=100_000).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(X, y)
    f_ours, f_ref = _sk_objective(ours, X, y, 1.0), _sk_objective(ref, X, y, 1.0)
    assert abs(f_ours - f_ref) <= 1e-8 * abs(f_ref)
    assert np.mean(ours.predict(X) == ref.predict(X)) >= 0.99


def test_least_squares_matches_scikit_learn():
    X, y = datasets.load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    ours = LeastPowerRegressor(p=1.0, tol=1e-12, max_iter=100_000).fit(X, y)
    ref = LinearRegression().fit(X, y)

    def sse(model):
        return float(np.sum((model.predict(X) - y) ** 2))

    assert abs(sse(ours) - sse(ref)) <= 1e-8 * sse(ref)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5)


def test_least_power_fits_a_higher_power():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.1 * rng.standard_normal(200)
    reg = LeastPowerRegressor(p=2.0).fit(X, y)
    np.testing.assert_allclose(reg.coef_, [1.0, -2.0, 0.5], atol=0.05)
    assert reg.intercept_ == pytest.approx(3.0, abs=0.05) and reg.n_iter_ > 0


def test_convergence_warning_says_what_to_change_once():
    """The status's advice and the estimator's were both given ("increase max_iter or
    loosen tol. (...) Increase max_iter, loosen tol, or scale the features")."""
    X, y = datasets.load_breast_cancer(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="increase max_iter or loosen tol") as record:
        LFSOLogisticRegression(max_iter=3).fit(X, y)
    (message,) = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert message.lower().count("max_iter") == message.lower().count("loosen tol") == 1
    assert "Standardizing the features may also help" in message


@pytest.mark.parametrize("estimator", [LeastPowerRegressor, LFSOLogisticRegression])
def test_the_convergence_warning_points_at_the_line_that_called_fit(estimator):
    """It pointed into scikit-learn's ``base.py`` (the wrapper around ``fit``), so that
    ``warnings.filterwarnings(..., module=...)`` and the printed location missed the caller."""
    X, y = datasets.load_breast_cancer(return_X_y=True)
    with pytest.warns(ConvergenceWarning) as record:
        estimator(max_iter=1).fit(X, y)
    (warning,) = [w for w in record if w.category is ConvergenceWarning]
    assert warning.filename == __file__


def test_parameters_are_validated_in_fit():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="'C' parameter"):
        LFSOLogisticRegression(C=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="'p' parameter"):
        LeastPowerRegressor(p=0.5).fit(X, y.astype(float))


def test_a_power_above_the_models_range_is_an_invalid_parameter():
    """``p = 5e6`` passed the declared constraint ``[1, inf)`` and was refused by the
    model inside ``fit`` with a plain ``ValueError``, not scikit-learn's
    ``InvalidParameterError`` naming the parameter and its range."""
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.default_rng(0).normal(size=(20, 2))
    y = X @ np.array([1.0, 2.0])
    reg = LeastPowerRegressor().set_params(p=5e6)
    with pytest.raises(InvalidParameterError, match=r"'p' parameter .*\[1.0, 4194304.0\]"):
        reg.fit(X, y)
    assert LeastPowerRegressor(p=2.0**22).fit(X, y).coef_.shape == (2,)


@pytest.mark.parametrize("classes", [2, 3])
def test_predict_proba_of_huge_margins_is_exact_and_warns_nothing(classes):
    import warnings

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    y = np.argmax(np.column_stack([X, -X.sum(axis=1)])[:, :classes], axis=1)
    clf = LFSOLogisticRegression(max_iter=2000).fit(X, y)
    huge = X * 1e6  # margins of order 1e6: exp(-margin) overflows float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = clf.predict_proba(huge)
    assert proba.shape == (60, classes) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(huge))
    assert np.all(proba.max(axis=1) == 1.0)  # margins of 1e6: certain, exactly
    if classes == 2:  # small margins: the logistic function itself
        s = clf.decision_function(X)
        np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-s)), rtol=1e-14)


@pytest.mark.parametrize(
    "make",
    [
        functools.partial(LeastPowerRegressor, p=1.0),
        functools.partial(LeastPowerRegressor, p=2.0),
        functools.partial(LFSOLogisticRegression, C=np.inf),
    ],
    ids=["p1", "p2", "logistic"],
)
def test_features_whose_squares_overflow_float64_are_fitted(make):
    """``X * 1e160`` was refused (``||X||_F^2`` overflows float64), though the fit is
    solved on the features divided by a power of 2 near their scale: it is the fit of
    ``X``, the coefficients scaled back."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    t = X @ np.array([1.0, -2.0, 0.5]) + rng.logistic(size=40)  # (p = 2: no exact fit)
    y = (t > 0).astype(int) if make.func is LFSOLogisticRegression else t
    make = functools.partial(make, tol=1e-12, max_iter=100_000)
    (coef, b), *others = _scaled_fits(make, X, y, [1.0, 1e160, 1e300])
    for coef_s, b_s in others:
        np.testing.assert_allclose(coef_s, coef, rtol=1e-6)
        np.testing.assert_allclose(b_s, b, rtol=1e-6, atol=1e-12)


def test_convergence_warning_gives_the_features_scale():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match=r"their largest magnitude is 4\.25e\+03"):
        LFSOLogisticRegression(max_iter=3).fit(X, y)


@pytest.mark.parametrize("data", ["iris-binary", "wine"])
def test_c_inf_fits_without_the_penalty_as_scikit_learn_does(data):
    from sklearn.metrics import log_loss

    name, _, binary = data.partition("-")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y == 2).astype(int) if binary else y
    ours = LFSOLogisticRegression(C=np.inf, tol=1e-10, max_iter=100_000).fit(X, y)
    assert ours.result_.success
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(X, y)
    loss_ours, loss_ref = log_loss(y, ours.predict_proba(X)), log_loss(y, ref.predict_proba(X))
    assert loss_ours <= loss_ref + 1e-6 * max(loss_ref, 1e-3)  # unpenalised: the loss alone
    assert np.mean(ours.predict(X) == ref.predict(X)) >= 0.99


@pytest.mark.parametrize("classes", [2, 3])
def test_predict_log_proba_is_the_log_of_predict_proba_and_finite_where_it_underflows(classes):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    y = np.argmax(np.column_stack([X, -X.sum(axis=1)])[:, :classes], axis=1)
    clf = LFSOLogisticRegression().fit(X, y)
    ref = LogisticRegression().fit(X, y)
    for model in (clf, ref):  # the same shape and meaning as scikit-learn's
        log_p = model.predict_log_proba(X)
        np.testing.assert_allclose(np.exp(log_p), model.predict_proba(X), rtol=1e-12)
    far = X * 1e4  # probabilities of exp(-1e4): 0 in float64, their logarithms finite
    log_p = clf.predict_log_proba(far)
    zero = clf.predict_proba(far) == 0.0
    assert log_p.shape == (60, classes) and np.all(np.isfinite(log_p))
    assert zero.any() and np.all(log_p[zero] < -700)


# -- scikit-learn: errors that name the estimator's parameters and data ------------------------


def test_logistic_regression_with_a_tiny_c_names_c():
    X = np.random.default_rng(0).standard_normal((20, 2))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="C=1e-310"):
        LFSOLogisticRegression(C=1e-310).fit(X, y)
    with pytest.raises(ValueError, match=r"C=1.0 times the largest sample_weight \(1e-320\)"):
        LFSOLogisticRegression().fit(X, y, sample_weight=np.full(20, 1e-320))


def test_least_power_regressor_with_a_huge_target_says_to_rescale():
    """Where the loss overflows at coefficients 0 (``1e200^2``); the runs after the first
    are on residuals of order 1, so ``1e100 X[:, 0]``, whose fourth powers overflowed at
    the least-squares fit, is fitted."""
    X = np.random.default_rng(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match=r"rescale y") as info:
        LeastPowerRegressor(p=2).fit(X, 1e200 * X[:, 0])
    assert type(info.value) is ValueError  # (not the solver's NonFiniteStartError)
    reg = LeastPowerRegressor(p=2).fit(X, 1e100 * X[:, 0])
    assert reg.result_.success
    np.testing.assert_allclose(reg.coef_, [1e100, 0.0], atol=1e92)


@pytest.mark.parametrize(
    ("estimator", "classes"),
    [(LeastPowerRegressor(), 0), (LFSOLogisticRegression(), 2), (LFSOLogisticRegression(), 3)],
)
def test_an_interrupted_fit_raises_keyboard_interrupt(monkeypatch, estimator, classes):
    from sklearn.model_selection import cross_val_score

    import lfso.sklearn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = rng.integers(0, classes, 60) if classes else X @ np.ones(3)
    calls = []
    for name in ("_Logistic", "LpRegression", "SoftmaxRegression"):
        model = getattr(lfso.sklearn, name)

        def evaluate(self, *args, _original=model.evaluate, **kwargs):
            calls.append(None)
            if len(calls) == 5:
                raise KeyboardInterrupt
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(model, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt, match="fit was interrupted") as caught:
        estimator.fit(X, y)
    assert caught.value.result.status.name == "INTERRUPTED"
    assert not hasattr(estimator, "coef_")
    del calls[:]
    with pytest.raises(KeyboardInterrupt):
        cross_val_score(estimator, X, y, cv=5)


def _scaled_fits(make, X, y, scales):
    """``(coef_ * s, intercept_)`` of ``make()`` fitted on ``X * s`` for each ``s``."""
    fits = []
    for s in scales:
        est = make().fit(X * s, y)
        fits.append((est.coef_ * s, np.atleast_1d(est.intercept_)))
    return fits


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_least_power_fit_of_tiny_or_huge_features_is_the_same_fit(p):
    """``LeastPowerRegressor(p=1).fit(X * 1e-20, y)`` stopped after one iteration, its
    ``coef_ * 1e-20`` about 2e-40 for [1, 2, 3] (the features' gradient, 1e-20 times the
    intercept's, met the relative test at once); at 1e20 the intercept was 3e-40 for 0.5."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.5 + (0.0 if p == 1.0 else rng.standard_normal(20))
    make = functools.partial(LeastPowerRegressor, p=p, tol=1e-10)
    (coef, b), *others = _scaled_fits(make, X, y, [1.0, 1e-20, 1e20])
    for coef_s, b_s in others:
        np.testing.assert_allclose(coef_s, coef, rtol=1e-6)
        np.testing.assert_allclose(b_s, b, rtol=1e-6)
    if p == 1.0:
        np.testing.assert_allclose(coef, [1.0, 2.0, 3.0], rtol=1e-8)
    # features of scales apart (1e10, 1, 1e-10): the same fit, feature by feature
    mixed = np.array([1e10, 1.0, 1e-10])
    est = LeastPowerRegressor(p=p, tol=1e-10).fit(X * mixed, y)
    np.testing.assert_allclose(est.coef_ * mixed, coef, rtol=1e-6)
    np.testing.assert_allclose(est.intercept_, b[0], rtol=1e-6)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("C", [np.inf, 1.0])
def test_logistic_fit_of_tiny_or_huge_features_is_the_same_fit(classes, C):
    """Features times 1e-20 (``C = inf``) or 1e20 (any ``C``: the penalty then weighs
    nothing) give the fit of the features themselves, as the exact problem does (the
    coefficients stayed near 0, or the intercepts did)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    t = X @ np.array([0.3, 0.6, 0.9]) + 0.5 + rng.logistic(size=200)
    y = np.digitize(t, [-0.5, 1.5] if classes == 3 else [0.0])
    fit = functools.partial(LFSOLogisticRegression, tol=1e-10, max_iter=100_000)
    # (C = 1 on features of 1e20: the penalty weighs nothing against the loss, as C = inf)
    ((coef, b),) = _scaled_fits(functools.partial(fit, C=np.inf), X, y, [1.0])
    others = _scaled_fits(
        functools.partial(fit, C=C), X, y, [1e20] if C < np.inf else [1e-20, 1e20]
    )
    for coef_s, b_s in others:
        np.testing.assert_allclose(coef_s, coef, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(b_s, b, rtol=1e-5, atol=1e-8)


def _penalised_fit(X, y, C, classes):
    """The minimiser of scikit-learn's objective divided by ``C n`` (mean loss plus
    ``||W||^2 / (2 C n)``, intercepts not penalised; one column of weights for two classes)
    by SciPy's BFGS, on each coefficient times its column's largest magnitude (so that its
    variables are of order one), to a gradient of 1e-13: ``(coef, objective)``."""
    from scipy.optimize import minimize
    from scipy.special import expit, logsumexp

    n, d = X.shape
    s = np.max(np.abs(X), axis=0)
    A = np.hstack([X / s, np.ones((n, 1))])
    k = 1 if classes == 2 else classes
    signs = 2.0 * y - 1.0
    Y = np.eye(classes)[y]
    l2 = 1.0 / (C * n)

    def objective(v):
        V = v.reshape(d + 1, k)
        Z = A @ V
        W = V[:d] / s[:, None]
        if k == 1:
            m = signs * Z[:, 0]
            loss = np.mean(np.logaddexp(0.0, -m))
            G = A.T @ (-signs * expit(-m))[:, None] / n
        else:
            loss = np.mean(logsumexp(Z, axis=1) - np.sum(Z * Y, axis=1))
            G = A.T @ (np.exp(Z - logsumexp(Z, axis=1, keepdims=True)) - Y) / n
        G[:d] += l2 * W / s[:, None]
        return loss + 0.5 * l2 * np.sum(W * W), G.ravel()

    res = minimize(
        objective,
        np.zeros((d + 1) * k),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-13, "maxiter": 10_000},
    )
    return (res.x.reshape(d + 1, k)[:d] / s[:, None]).T, res.fun


def _our_objective(clf, X, y, C):
    """scikit-learn's objective divided by ``C n`` at the fitted ``coef_``, ``intercept_``."""
    return _sk_objective(clf, X, y, C) / (C * X.shape[0])


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_fit_of_features_of_scales_apart_is_the_penalised_optimum(classes):
    """Features of scales 1e10, 1 and 1 (``C = 1``): the fit stopped after 5 iterations,
    status 0, at ``coef_`` about ``[4e-11, -4e-20, 2e-20]`` where the optimum is ``[8.98e-11,
    -2.49, 0.97]`` (all features divided by one power of 2, so that the relative gradient
    test, weighed by the 1e10 feature's gradient at the start, was met at once)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    t = X @ [1, -2, 0.5] + 0.5 * rng.normal(size=60)
    y = np.digitize(t, [-1.0, 1.0] if classes == 3 else [0.0])
    Xs = X * [1e10, 1.0, 1.0]
    clf = LFSOLogisticRegression(C=1.0).fit(Xs, y)
    assert clf.result_.success
    coef, best = _penalised_fit(Xs, y, 1.0, classes)
    np.testing.assert_allclose(clf.coef_, coef, rtol=1e-6)  # (penalised: unique)
    assert abs(_our_objective(clf, Xs, y, 1.0) - best) <= 1e-10 * abs(best)


def _lp_optimum(X, y, p):
    """The least-power loss's minimum by SciPy's BFGS from the least-squares fit, on the
    features divided by their largest magnitudes (gradient to 1e-13 of its start's)."""
    from scipy.optimize import minimize

    s = np.max(np.abs(X), axis=0)
    A = np.hstack([X / s, np.ones((X.shape[0], 1))])

    def loss(v):
        r = A @ v - y
        return np.sum(np.abs(r) ** (2 * p)), A.T @ (2 * p * np.sign(r) * np.abs(r) ** (2 * p - 1))

    start = np.linalg.lstsq(A, y, rcond=None)[0]
    return minimize(loss, start, jac=True, method="BFGS", options={"gtol": 1e-13}).fun


@pytest.mark.parametrize("p", [1.5, 3.0, 5.0, 8.0, 12.0])
@pytest.mark.parametrize("noise", ["normal", "student"])
def test_least_power_fit_of_a_high_power_is_at_the_optimum(p, noise):
    """``p = 8`` (noise 0.5) stopped, converged and without a warning, at ``coef_`` about
    ``[0.62, 1.55, 1.99]`` and a loss of 9.1e7, where the optimum ``[0.92, 2.00, 2.97]``
    has 119: the relative gradient test was weighed by the gradient at coefficients 0,
    which grows as ``|y|^(2p-1)``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    e = 0.5 * rng.normal(size=200) if noise == "normal" else rng.standard_t(3, size=200)
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 + e
    reg = LeastPowerRegressor(p=p).fit(X, y)
    assert reg.result_.success
    loss = np.sum(np.abs(reg.predict(X) - y) ** (2 * p))
    best = _lp_optimum(X, y, p)
    assert loss <= best * (1 + 1e-6)


def test_least_power_fit_that_runs_out_of_iterations_before_p_warns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.5 * rng.normal(size=200)
    first = LeastPowerRegressor(p=1.0).fit(X, y).n_iter_
    with pytest.warns(ConvergenceWarning, match="ran out at the fit with p=1.0"):
        reg = LeastPowerRegressor(p=8.0, max_iter=first).fit(X, y)
    assert reg.n_iter_ == first


@pytest.mark.parametrize("p", [1.5, 2.0, 8.0, 30.0])
@pytest.mark.parametrize("noise", [0.0, 1e-12, 1e-8])
def test_least_power_fit_of_an_exact_or_nearly_exact_target_converges(p, noise):
    """``p = 2`` on an exact target stopped at ``coef_`` about ``[1.00013, 1.99962,
    2.99982]`` for ``[1, 2, 3]`` (the gradient test relative to its size at coefficients 0).
    Started at the fit of a lower power, the gradient is of the size of the residuals'
    rounding: the run is converged there (no ``ConvergenceWarning``), at the fit."""
    import warnings

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.5 + noise * rng.normal(size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg = LeastPowerRegressor(p=p).fit(X, y)
    np.testing.assert_allclose(reg.coef_, [1.0, 2.0, 3.0], atol=1e-12 + 1e3 * noise)
    assert reg.intercept_ == pytest.approx(0.5, abs=1e-12 + 1e3 * noise)


@pytest.mark.parametrize(
    ("estimator", "classes"),
    [(LeastPowerRegressor(), 0), (LFSOLogisticRegression(), 2), (LFSOLogisticRegression(), 3)],
)
def test_float32_features_give_float32_coefficients_as_scikit_learn(estimator, classes):
    """``coef_`` was float64 for float32 ``X``; scikit-learn's linear models keep float32
    (the fit is solved in float64 and rounded)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = rng.integers(0, classes, 60) if classes else X @ np.ones(3) + rng.normal(size=60)
    fit64 = clone(estimator).fit(X, y)
    fit32 = clone(estimator).fit(X.astype(np.float32), y)
    for name in ("coef_", "intercept_"):
        assert np.asarray(getattr(fit32, name)).dtype == np.float32
        assert np.asarray(getattr(fit64, name)).dtype == np.float64
        np.testing.assert_allclose(getattr(fit32, name), getattr(fit64, name), rtol=1e-5, atol=1e-6)
    methods = ["predict"] if not classes else ["decision_function", "predict_proba"]
    for method in methods:
        assert getattr(fit32, method)(X.astype(np.float32)).dtype == np.float32
    assert isinstance(fit64.intercept_, float if not classes else np.ndarray)


@pytest.mark.parametrize("p", [1.0, 1.5, 3.0, 8.0, 30.0])
def test_least_power_sample_weights_are_repeated_rows(p):
    """``fit(X, y, sample_weight=w)`` raised ``TypeError`` (an unexpected keyword), where
    scikit-learn's linear models take it: an integer weight is the row repeated, 0 the
    row removed."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.5 * rng.standard_t(3, size=40)
    weights = rng.integers(0, 5, size=40)
    # (tol well below the comparison's: the two runs take different paths to the optimum)
    weighted = LeastPowerRegressor(p=p, tol=1e-12).fit(X, y, sample_weight=weights)
    repeated = LeastPowerRegressor(p=p, tol=1e-12).fit(X.repeat(weights, axis=0), y.repeat(weights))
    assert weighted.result_.success
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-9, atol=1e-12)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=1e-9, abs=1e-12)
    unweighted = LeastPowerRegressor(p=p).fit(X, y)
    assert np.max(np.abs(weighted.coef_ - unweighted.coef_)) > 1e-3  # (the weights count)


def test_least_power_sample_weights_are_validated():
    X, y = np.ones((4, 2)), np.arange(4.0)
    with pytest.raises(ValueError, match="sample_weight"):
        LeastPowerRegressor().fit(X, y, sample_weight=[1.0, -1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight"):
        LeastPowerRegressor().fit(X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize(("p", "noise"), [(30.0, 1e-8), (60.0, 1e-8), (60.0, 1e-4)])
def test_least_power_fit_of_a_nearly_exact_target_is_at_the_optimum(p, noise):
    """Started at the fit of a lower power, the runs' residuals ``A w - y`` were small
    differences of ``y``'s values: their rounding, raised to ``2p``, and their powers'
    underflow stopped the run, converged and without a warning, with the loss 11%
    (``p = 30``, noise ``1e-8``) to 80% (``p = 60``) above the optimum. Each run is now
    solved for the step from the last fit, on its residuals over their largest
    magnitude. The losses in extended precision (a float64 loss of residuals ``1e-8``
    is off by ``1e-5``); the optimum by BFGS on the residuals of the least-squares fit
    over their largest magnitude."""
    mpmath = pytest.importorskip("mpmath")
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.5 + noise * rng.normal(size=50)
    reg = LeastPowerRegressor(p=p).fit(X, y)
    assert reg.result_.success
    A = np.hstack([X, np.ones((50, 1))])
    start = np.linalg.lstsq(A, y, rcond=None)[0]
    r = y - A @ start
    size = np.max(np.abs(r))

    def scaled(v):  # (the loss of start + size v over size^(2p))
        e = A @ v - r / size
        return np.sum(e ** (2 * p)), 2 * p * A.T @ e ** (2 * p - 1)

    v = minimize(scaled, np.zeros(4), jac=True, method="BFGS", options={"gtol": 1e-14}).x
    mpmath.mp.dps = 60

    def loss(w):  # (exact: each residual of the float64 data and w, to 60 digits)
        c = [mpmath.mpf(x) for x in w]
        rows = [mpmath.fsum(mpmath.mpf(a) * c[j] for j, a in enumerate(row)) for row in A]
        return mpmath.fsum((rows[i] - mpmath.mpf(t)) ** int(2 * p) for i, t in enumerate(y))

    fit = np.append(reg.coef_, reg.intercept_)
    assert loss(fit) <= loss(start + size * v) * (1 + 1e-6)


@pytest.mark.parametrize("p", [1000.0, 2.0**22])
def test_least_power_fit_of_a_huge_power_is_fitted_near_the_minimax_fit(p):
    """Residuals of order 1 raised to ``2p = 2000`` overflowed float64 at the start of the
    run after ``p = 256`` ("the loss overflows float64 at the start"); that run is on the
    last fit's residuals over their largest magnitude. Its largest residual is then at
    most ``n^(1/(2p))`` times that of any other fit (``||r||_inf <= ||r||_2p``, and
    ``||r||_2p <= n^(1/(2p)) ||r||_inf``), here the fit at ``p = 100``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ np.array([1.0, 2.0]) + rng.normal(size=30)
    reg = LeastPowerRegressor(p=p).fit(X, y)
    lower = LeastPowerRegressor(p=100.0).fit(X, y)
    assert reg.result_.success
    top, other = np.max(np.abs(reg.predict(X) - y)), np.max(np.abs(lower.predict(X) - y))
    assert top <= 30.0 ** (1 / (2 * p)) * other * (1 + 1e-9)


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_n_iter_has_scikit_learns_shape_and_dtype(classes):
    """``n_iter_`` was a Python int, where scikit-learn's ``LogisticRegression`` gives an
    int32 array of shape (1,) (``clf.n_iter_[0]`` raised ``TypeError``)."""
    X, y = datasets.load_iris(return_X_y=True)
    X, y = X[y < classes], y[y < classes]
    clf = LFSOLogisticRegression().fit(X, y)
    ref = LogisticRegression(max_iter=1000).fit(X, y).n_iter_
    assert isinstance(clf.n_iter_, np.ndarray)
    assert clf.n_iter_.shape == ref.shape == (1,)
    assert clf.n_iter_.dtype == ref.dtype
    assert clf.n_iter_[0] == clf.result_.nit >= 1


@pytest.mark.parametrize("p", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("factor", [1e-320, 1e307])
def test_least_power_sample_weights_of_any_scale_give_the_same_fit(p, factor):
    """Weights all ``1e-320`` (subnormal) left the fit at coefficients 0 with a
    ``ConvergenceWarning``, and all ``1e307`` raised "A is too large in scale", where
    weights scaled by one factor are the same loss up to that factor."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = X @ np.array([1.0, 2.0]) + 3.0 + 0.1 * rng.normal(size=50)
    weights = rng.uniform(0.5, 2.0, size=50)
    ref = LeastPowerRegressor(p=p).fit(X, y, sample_weight=weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = LeastPowerRegressor(p=p).fit(X, y, sample_weight=weights * factor)
    np.testing.assert_allclose(reg.coef_, ref.coef_, rtol=1e-6, atol=1e-6)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-6, abs=1e-6)


def _weighted_problem(classes, n=40, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.digitize(X[:, 0] + 0.8 * rng.normal(size=n), [-0.5, 0.5][: classes - 1])
    return X, y, rng.integers(0, 4, size=n).astype(float)


def _same_fit(a, b, tol=1e-9):
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=tol, atol=tol)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=tol, atol=tol)


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_sample_weights_are_repeated_rows(classes):
    """``fit(X, y, sample_weight=w)`` raised ``TypeError`` (an unexpected keyword): an
    integer weight is the sample repeated, 0 the sample dropped."""
    X, y, weights = _weighted_problem(classes)
    weighted = LFSOLogisticRegression(tol=1e-12).fit(X, y, sample_weight=weights)
    repeated = LFSOLogisticRegression(tol=1e-12).fit(
        X.repeat(weights.astype(int), axis=0), y.repeat(weights.astype(int))
    )
    assert weighted.result_.success
    _same_fit(weighted, repeated)
    dropped = LFSOLogisticRegression(tol=1e-12).fit(X[weights > 0], y[weights > 0])
    ones = LFSOLogisticRegression(tol=1e-12).fit(X, y, sample_weight=(weights > 0) * 1.0)
    _same_fit(ones, dropped)
    assert np.max(np.abs(weighted.coef_ - dropped.coef_)) > 1e-3  # (the weights count)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("factor", [1e-6, 0.3, 7.0])
def test_logistic_weights_scaled_are_c_scaled(classes, factor):
    """``C sum_i s_i loss_i + ||w||^2 / 2``: weights ``c`` times larger are ``C`` times
    ``c``, as in scikit-learn's ``LogisticRegression``."""
    X, y, _ = _weighted_problem(classes)
    weights = np.full(X.shape[0], factor)
    weighted = LFSOLogisticRegression(C=2.0, tol=1e-12).fit(X, y, sample_weight=weights)
    scaled = LFSOLogisticRegression(C=2.0 * factor, tol=1e-12).fit(X, y)
    _same_fit(weighted, scaled)
    ref = LogisticRegression(C=2.0, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(weighted.coef_, ref.coef_, rtol=1e-4, atol=1e-6)


def test_logistic_sample_weight_none_is_unchanged_bit_for_bit():
    X, y, _ = _weighted_problem(3)
    plain = LFSOLogisticRegression().fit(X, y)
    none = LFSOLogisticRegression().fit(X, y, sample_weight=None)
    assert np.array_equal(plain.coef_, none.coef_) and plain.n_iter_ == none.n_iter_


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("weight", [1.0, 4.0])
def test_logistic_sample_weights_all_one_power_of_2_are_unweighted_bit_for_bit(classes, weight):
    """``sample_weight=np.ones(n)`` solved the weights as ``1/2`` and ``C`` as ``2 C`` on
    the weighted models: the same objective, another run (coefficients some ``1e-6`` off,
    about twice the iterations). Weights all equal to one power of 2 ``c`` now give the
    fit at ``c C`` without weights, bit for bit."""
    X, y, _ = _weighted_problem(classes, n=60)
    plain = LFSOLogisticRegression(C=2.0 * weight).fit(X, y)
    ones = LFSOLogisticRegression(C=2.0).fit(X, y, sample_weight=np.full(60, weight))
    assert np.array_equal(plain.coef_, ones.coef_)
    assert np.array_equal(plain.intercept_, ones.intercept_)
    assert np.array_equal(plain.n_iter_, ones.n_iter_)


def test_logistic_sample_weights_are_validated():
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 0, 1])
    for weights, match in [
        ([1.0, -1.0, 1.0, 1.0], "sample_weight"),
        (np.ones(3), "sample_weight"),
        (np.zeros(4), "at least one non-zero"),
        ([1.0, np.nan, 1.0, 1.0], "NaN"),
    ]:
        with pytest.raises(ValueError, match=match):
            LFSOLogisticRegression().fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_weighted_float32_features(classes):
    X, y, weights = _weighted_problem(classes)
    fit64 = LFSOLogisticRegression().fit(X, y, sample_weight=weights)
    fit32 = LFSOLogisticRegression().fit(X.astype(np.float32), y, sample_weight=weights)
    assert fit32.coef_.dtype == fit32.intercept_.dtype == np.float32
    np.testing.assert_allclose(fit32.coef_, fit64.coef_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_logistic_weighted_runs_are_certified(classes, method):
    """Along a weighted run (weights over 6 orders of magnitude) ``f`` never rises
    beyond its rounding (each computed value within ``gamma_{n+20}`` of the exact, a
    mean of nonnegative terms): each step certified by the weighted bound."""
    X, y, _ = _weighted_problem(classes, n=200)
    weights = 10.0 ** np.random.default_rng(5).uniform(-3, 3, size=200)
    clf = LFSOLogisticRegression(C=100.0, method=method, tol=1e-10).fit(X, y, sample_weight=weights)
    f = clf.result_.history.f
    assert clf.result_.success and f.size > 5
    rounding = (X.shape[0] + 20) * np.finfo(np.float64).eps
    assert np.all(np.diff(f) <= 2.0 * rounding * np.abs(f[1:]))


def test_least_power_runs_after_the_first_take_its_computed_norm_as_proven(monkeypatch):
    """The runs at the higher powers reuse ``||A||_2`` computed by the first run's model:
    proven, so their models are not a user's oracle (no audit, no safeguard by default)."""
    import lfso.sklearn as face

    seen, solve = [], face._solve

    def spy(estimator, model, *args, **kwargs):
        seen.append((model.p, model.audit_oracle))
        return solve(estimator, model, *args, **kwargs)

    monkeypatch.setattr(face, "_solve", spy)
    X, y = datasets.load_diabetes(return_X_y=True)
    LeastPowerRegressor(p=4.0, method="lfso-accel").fit(X, y)
    assert [p for p, _ in seen] == [1.0, 4.0] and not any(audited for _, audited in seen)
