"""scikit-learn estimators fitted by lfso: least-power regression and logistic regression.

Both follow scikit-learn's conventions: ``__init__`` only stores its arguments, ``fit``
validates them against ``_parameter_constraints``, fitted attributes end in ``_``
(``coef_``, ``intercept_``, ``n_iter_``, ``n_features_in_``, ``classes_``), and a run that
does not converge raises a :class:`~sklearn.exceptions.ConvergenceWarning` that says what
to change; a ``KeyboardInterrupt`` during ``fit`` propagates (scikit-learn's convention),
so a search or cross-validation around it stops. They pass scikit-learn's
``parametrize_with_checks`` suite. Float32 features give float32 ``coef_``, ``intercept_``
and predictions, as scikit-learn's linear models do (the fit is solved in float64 and
rounded). The module imports scikit-learn; ``import lfso`` does not.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._minimize import minimize
from ._registry import DEFAULT_METHOD, METHODS
from ._result import Result, stop_if_interrupted
from ._stepper import NonFiniteStartError
from ._validate import MAX_POWER
from .models import LogisticRegression as _Logistic
from .models import LpRegression, SoftmaxRegression
from .models._weighted import WeightedLogistic, WeightedSoftmax

__all__ = ["LFSOLogisticRegression", "LeastPowerRegressor"]

_COMMON = {
    "method": [StrOptions({n for n, m in METHODS.items() if m.family == "lfso"})],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
}


# The features' dtypes kept (others become float64): the fit is solved in float64 and its
# coef_ and intercept_ rounded to X's dtype, so that predictions are in it, as scikit-learn's.
_FLOATS = [np.float64, np.float32]


def _scale(X: np.ndarray) -> float:
    """The features' largest magnitude (0 for no features).

    Any finite scale is solvable: the estimators solve on the features divided by a power
    of 2 near it (:func:`_exponent`), whose squares, which the smoothness bounds read, are
    then of order 1."""
    return float(np.max(np.abs(X))) if X.size else 0.0


def _tops(X: np.ndarray) -> np.ndarray:
    """Each column's largest magnitude."""
    return np.max(np.abs(X), axis=0)


def _exponent(top: float) -> int:
    """``k`` with ``2^k`` the power of 2 nearest ``top`` (``0`` for ``top = 0``).

    The estimators solve on the features divided by ``2^k`` (exact: a power of 2), whose
    largest magnitude then lies in ``[0.7, 1.5)`` as the intercept's column of ones does,
    and multiply the coefficients found by ``2^-k``: the run's relative gradient test
    weighs the features and the intercept alike whatever the features' scale."""
    if top == 0.0:
        return 0
    mantissa, exponent = math.frexp(top)  # top = mantissa 2^exponent, mantissa in [1/2, 1)
    return exponent - 1 if mantissa < math.sqrt(0.5) else exponent


def _powers(p: float) -> list[float]:
    """The powers a least-power fit is solved at in turn: ``1, 4, 16, ...`` below ``p``,
    then ``p``, each run started at the last one's coefficients.

    The runs' gradient test is relative to the gradient at their start. At coefficients 0
    that gradient grows as ``|y|^(2p-1)``, far above its size near the optimum, whose
    residuals are smaller than ``y``'s; ``p = 8`` then stopped at 7.7e5 times the optimal
    loss. Started at the fit of a power no more than 4 times lower, it is of the optimum's
    own scale."""
    powers = [1.0]
    while powers[-1] < p:
        powers.append(min(4.0 * powers[-1], p))
    return powers


def _rounding_gradient(
    A: np.ndarray, magnitudes: np.ndarray, y: np.ndarray, w: np.ndarray, p: float
) -> float:
    """About the largest change in the gradient of ``sum_i (a_i^T w - y_i)^(2p)`` that the
    rounding of its residuals ``r_i`` can make, ``delta_i = gamma_{d+1} (|a_i|^T |w| +
    |y_i|)`` (``w``'s own rounding included): ``||2p (2p-1) |A|^T ((|r| + delta)^(2p-2)
    delta)||`` (0 where that overflows). A run started near the fit of a lower power, where
    the gradient is small (at an exact fit, ``y`` in the span of ``A``, the fit at every
    power, it is of rounding errors), converges there rather than being asked to reduce it
    by ``tol`` below what float64 resolves; beside any larger gradient it is negligible.
    ``magnitudes`` is ``|A|``."""
    gamma = 2.0 * (A.shape[1] + 1) * np.finfo(np.float64).eps
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        pad = gamma * (magnitudes @ np.abs(w) + np.abs(y))
        weights = (np.abs(A @ w - y) + pad) ** (2.0 * p - 2.0) * pad
        g = 2.0 * p * (2.0 * p - 1.0) * (magnitudes.T @ weights)
        top = float(np.max(g, initial=0.0))  # (the norm of g / top: its squares may underflow)
        bound = top * float(np.linalg.norm(g / top)) if top > 0.0 else 0.0
    return bound if math.isfinite(bound) else 0.0


def _shifted(
    A: np.ndarray, magnitudes: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """The problem of a least-power run started at the fit ``w`` of a lower power: its
    target, and ``base``, ``s`` and the start ``x0`` with the fit ``base + s x``.

    It is solved for the step from ``w`` (``base = w``, ``x0 = 0``) on ``w``'s residuals
    ``y - A w`` over ``s``, their largest magnitude: the run's residuals are then of order
    1, where the residuals ``A x - y`` of the same fit from ``w`` are small differences of
    ``y``'s values, whose rounding, raised to ``2p``, stopped it short of the optimum
    where the fit is nearly exact (the loss 60% above it at ``p = 60``, noise ``1e-4``),
    and their powers underflowed or overflowed float64. Where every residual is within
    its rounding (:func:`_rounding_gradient`'s ``delta_i``: ``y`` in the span of ``A``,
    whose fit is ``w`` at every power), the same fit from ``w`` (``base = 0``, ``s = 1``,
    ``x0 = w``): its gradient is of rounding errors, and the run converged at its start.
    """
    gamma = 2.0 * (A.shape[1] + 1) * np.finfo(np.float64).eps
    r = y - A @ w
    size = float(np.max(np.abs(r), initial=0.0))
    if np.all(np.abs(r) <= gamma * (magnitudes @ np.abs(w) + np.abs(y))) or size == 0.0:
        return y, np.zeros_like(w), 1.0, w
    return r / size, w, size, np.zeros_like(w)


def _weighed(
    X: np.ndarray, codes: np.ndarray, sample_weight: Any, C: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The samples of positive weight, their weights over ``2^e``, the least power of 2 at
    or above the largest (exact: ``0 < s' <= 1``, all 1 for weights all equal to a power
    of 2), and ``C 2^e``, the same objective's ``C`` (:class:`LFSOLogisticRegression`)."""
    s = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    kept = s > 0.0  # (a sample of weight 0 is no term of the loss; not all are 0)
    X, codes, s = X[kept], codes[kept], s[kept]
    m, e = math.frexp(float(np.max(s)))  # (max = m 2^e, m in [1/2, 1))
    e -= m == 0.5  # (max = 2^(e-1) exactly: 2^(e-1) is at or above it)
    return X, codes, np.ldexp(s, -e), C * 2.0**e


def _solve(
    estimator: Any,
    model: Any,
    x0: np.ndarray,
    scale: float,
    max_iter: int | None = None,
    atol: float = 0.0,
    start: str = "all coefficients 0",
) -> Result:
    """The run that fits ``estimator``: its result, with a ``ConvergenceWarning`` where it
    did not converge (the status's message, which says what to change, once); a
    ``KeyboardInterrupt`` (the run's result as its ``.result``) where the run was
    interrupted, so that ``fit`` and a search or cross-validation around it stop."""
    try:
        res = minimize(
            model,
            x0,
            method=estimator.method,
            tol=estimator.tol,
            atol=atol,
            max_iter=estimator.max_iter if max_iter is None else max_iter,
            monitor=False,
        )
    except NonFiniteStartError as error:  # (the loss overflows float64 at the start)
        where = f" with p={estimator.p!r}" if hasattr(estimator, "p") else ""
        lower = ", or lower p" if where else ""
        raise ValueError(
            f"{type(estimator).__name__}: the loss overflows float64 at the start ({start})"
            f"{where}: {error}; rescale y and X (e.g. divide y by its "
            f"largest magnitude, or sklearn.preprocessing.StandardScaler){lower}"
        ) from error
    stop_if_interrupted(res, f"{type(estimator).__name__}.fit")
    if not res.success:
        warnings.warn(
            f"{type(estimator).__name__} did not converge: {res.message} "
            f"(||g||/||g0|| = {res.grad_norm / res.history.grad_norm[0]:.1e} after {res.nit} "
            f"iterations). Standardizing the features may also help (e.g. sklearn."
            f"preprocessing.StandardScaler; their largest magnitude is {scale:.3g}).",
            ConvergenceWarning,
            stacklevel=4,  # (the caller of fit: past _solve, fit and _fit_context's wrapper)
        )
    return res


class LeastPowerRegressor(RegressorMixin, BaseEstimator):
    """Linear regression minimising ``sum_i (x_i^T w + b - y_i)^(2p)``.

    ``p = 1`` is ordinary least squares; larger ``p`` penalises large residuals more (an
    ``l_{2p}`` fit). Fitted with LFSO (:class:`lfso.models.LpRegression`, whose oracle is
    stated there), so no step size is involved.

    Parameters
    ----------
    p : float in ``[1, 2^22]``
        The models' range (:class:`lfso.models.LpRegression`): above ``2^22`` their
        bounds' rounding argument does not hold.
    fit_intercept : bool
    method : {"lfso-lbfgs", "lfso-accel", "lfso"}
    tol : float >= 0
        Relative gradient tolerance: a run has converged where ``||g|| <= tol ||g_0||``,
        ``g`` the gradient of the loss in the solved variables (below) and ``g_0`` its value
        at the run's start. For ``p > 1`` the fit is solved at the powers ``1, 4, 16, ...``
        below ``p`` and then at ``p``, each run started at the last one's coefficients, so
        that ``g_0`` is of the size of the gradient near the optimum, not of ``|y|^(2p-1)``
        (at coefficients 0), and the fit stops near the optimum.
    max_iter : int >= 1
        Iterations in all, over the runs at each power.

    Attributes
    ----------
    coef_ : array, shape (n_features,)
    intercept_ : float
    n_iter_ : int
        Iterations in all, over the runs at each power.
    result_ : lfso.Result
        The last run (at ``p``), on each feature divided by ``2^k``, the power of 2 nearest
        its largest magnitude (exact), so that its relative gradient test weighs the
        coefficients and the intercept alike. For ``p = 1`` its ``x`` is ``coef_ 2^k`` and
        ``intercept_``. Each run after the first is solved for the step ``v`` from the
        last fit ``w`` (to ``w + s v``), on that fit's residuals ``y - A w`` over ``s``,
        their largest magnitude: its residuals are of order 1 (the largest 1 at its
        start), not small differences of ``y``'s values (whose rounding, raised to ``2p``,
        stopped the run short of the optimum where the fit is nearly exact), and their
        powers neither underflow nor overflow float64 there. Its ``x`` is that ``v``
        (where every residual of ``w`` is within its rounding, an exact fit, the run is
        the fit from ``w`` itself, converged at its start).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from lfso.sklearn import LeastPowerRegressor
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> reg = LeastPowerRegressor(p=1).fit(X, 2 * X.ravel() + 1)  # p = 1: least squares
    >>> reg.coef_.round(6).tolist(), round(reg.intercept_, 6), reg.predict([[4.0]]).round(6)
    ([2.0], 1.0, array([9.]))

    A larger ``p`` weighs the largest residual more (here the last point's):

    >>> y = np.array([1.0, 2.0, 3.5, 7.0])
    >>> [LeastPowerRegressor(p=p).fit(X, y).coef_.round(3).tolist() for p in (1, 3)]
    [[1.95], [1.969]]
    """

    _parameter_constraints: ClassVar[dict] = {
        "p": [Interval(Real, 1, MAX_POWER, closed="both")],  # (the models' range)
        "fit_intercept": ["boolean"],
        **_COMMON,
    }

    def __init__(
        self,
        p: float = 2.0,
        *,
        fit_intercept: bool = True,
        method: str = DEFAULT_METHOD,
        tol: float = 1e-8,
        max_iter: int = 10_000,
    ) -> None:
        self.p = p
        self.fit_intercept = fit_intercept
        self.method = method
        self.tol = tol
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LeastPowerRegressor:
        """Fit the model.

        ``sample_weight`` (non-negative, shape ``(n_samples,)``, optional) weighs each
        row's term: ``sum_i s_i (x_i^T w + b - y_i)^(2p)``. It is solved as the same fit
        on the rows ``(x_i, 1, y_i)`` times ``s_i^(1/(2p))`` at each power ``p`` in turn,
        so an integer weight is the row repeated that many times; the weights are solved
        divided by the power of 2 nearest their largest (exact), so that weights scaled by
        one factor, however small or large, give the same fit.
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=_FLOATS)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            kept = sample_weight > 0  # (a row of weight 0 is no term of the loss)
            X, y, sample_weight = X[kept], y[kept], sample_weight[kept]
            # (the weights over the power of 2 nearest their largest, exactly: the same fit,
            # whose rows' roots neither underflow nor overflow whatever the weights' scale)
            sample_weight = np.ldexp(sample_weight, -_exponent(float(np.max(sample_weight))))
        dtype, X = X.dtype, X.astype(np.float64, copy=False)  # (solved in float64)
        scale = _scale(X)
        # (solved on X 2^-k, each column by its own power of 2: coef_ = w 2^-k, exactly)
        k = np.array([_exponent(float(top)) for top in _tops(X)])
        A = np.ldexp(X, -k)
        A = np.hstack([A, np.ones((X.shape[0], 1))]) if self.fit_intercept else A
        w, used, last, magnitudes = np.zeros(A.shape[1]), 0, 1.0, np.abs(A)
        y, norm = y.astype(np.float64), None  # (||A||_2, computed once for all the runs)
        for power in _powers(float(self.p)):
            if used >= self.max_iter:  # (a lower power's run took them all)
                warnings.warn(
                    f"{type(self).__name__} did not converge: the max_iter={self.max_iter} "
                    f"iterations ran out at the fit with p={last!r}, before p={power!r}. "
                    f"Increase max_iter.",
                    ConvergenceWarning,
                    stacklevel=3,  # (the caller of fit: past fit and _fit_context's wrapper)
                )
                break
            rows, target = A, y
            if sample_weight is not None:  # (s_i r_i^(2p) = (s_i^(1/(2p)) r_i)^(2p))
                root = sample_weight ** (0.5 / power)
                rows, target = A * root[:, None], y * root
                magnitudes = np.abs(rows)
            base, size, x0 = np.zeros_like(w), 1.0, w
            if used:  # (the run from the last fit: solved for its step, see _shifted)
                target, base, size, x0 = _shifted(rows, magnitudes, target, w)
            model = LpRegression(rows, target, power, norm=norm)
            # (a norm carried from the first run's model is the one it computed: proven,
            # not a user's constant to audit)
            model.audit_oracle = False
            norm = model.norm if sample_weight is None else None
            start = f"the fit with p={last!r}" if used else "all coefficients 0"
            atol = _rounding_gradient(rows, magnitudes, target, x0, power) if used else 0.0
            # (the first run takes max_iter as given: lfso.minimize refuses a bool there)
            budget = self.max_iter - used if used else self.max_iter
            res = _solve(self, model, x0, scale, budget, atol, start)
            w, used, last = base + size * np.asarray(res.x), used + res.nit, power
            if not res.success:
                break
        self.coef_ = np.ldexp(w[:-1] if self.fit_intercept else w, -k).astype(dtype)
        b = float(w[-1]) if self.fit_intercept else 0.0
        self.intercept_ = b if dtype == np.float64 else dtype.type(b)
        self.n_iter_ = used
        self.result_ = res
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values ``X coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return X @ self.coef_ + self.intercept_


class LFSOLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary, or multinomial for more classes) fitted with lfso.

    Minimises scikit-learn's objective ``C sum_i loss_i + ||w||^2 / 2`` (intercepts not
    penalised), i.e. the mean loss plus ``||w||^2 / (2 C n)``, with
    :class:`lfso.models.LogisticRegression` (two classes) or
    :class:`lfso.models.SoftmaxRegression`; their oracles are stated there.

    Parameters
    ----------
    C : float > 0, or ``inf``
        Inverse regularisation strength, as in scikit-learn; ``C = inf`` fits without the
        penalty (the mean loss alone).
    fit_intercept : bool
    method : {"lfso-lbfgs", "lfso-accel", "lfso"}
    tol : float >= 0
        Relative gradient tolerance: converged where ``||g|| <= tol ||g_0||``, ``g`` the
        gradient of the mean loss plus the penalty in the solved variables (``result_``)
        and ``g_0`` its value at coefficients 0, which is at most of the features' scale
        (the loss's slope is at most 1 per sample).
    max_iter : int >= 1

    Attributes
    ----------
    classes_ : array
    coef_ : array, shape (1, n_features) or (n_classes, n_features)
    intercept_ : array, shape (1,) or (n_classes,)
    n_iter_ : array of int32, shape (1,)
        The run's iterations, as scikit-learn's ``LogisticRegression`` gives them (one run,
        binary or multinomial).
    result_ : lfso.Result
        The run, on each feature ``j`` divided by ``2^k_j``, the power of 2 nearest
        ``sqrt(m_j^2 + 4 / (C n_samples))`` (``m_j`` its largest magnitude), and the penalty
        on its coefficient weighed by ``4^-k_j`` to match (the model's ``l2`` one weight per
        feature where the ``k_j`` differ; exact: its ``x`` holds ``coef_ 2^k`` and the
        intercepts), so that its relative gradient test weighs every coefficient and the
        intercepts alike, whatever the features' scales (with ``sample_weight``, ``C 2^e``
        and ``n`` in place of ``C`` and ``n_samples``: the samples of positive weight,
        weighed by ``s'``).
    n_features_in_ : int

    Notes
    -----
    ``fit`` takes ``sample_weight`` (non-negative, shape ``(n_samples,)``): each sample's
    loss is multiplied by its weight, the penalty is not, ``C sum_i s_i loss_i + ||w||^2 /
    2``, as in scikit-learn's ``LogisticRegression``; an integer weight is the sample
    repeated that many times, a weight 0 drops it, and weights scaled by ``c`` are ``C``
    scaled by ``c``. It is solved over the samples of positive weight (``n`` of them) as
    ``(1/n) sum_i s'_i loss_i + ||w||^2 / (2 C 2^e n)``, ``s' = s 2^-e`` with ``2^e`` the
    least power of 2 at or above the largest weight (exact), so that ``0 < s'_i <= 1``;
    the models' bounds weigh each sample's curvature by ``s'_i`` (``lfso.models._weighted``:
    the unweighted ball and segment bounds with each row's term weighed). Weights all
    equal to one power of 2 (all 1, say) are solved by the unweighted models, so that
    all-ones weights give the fit without them, bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> from lfso.sklearn import LFSOLogisticRegression
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> clf = LFSOLogisticRegression(C=1.0).fit(X, [0, 0, 1, 1])
    >>> clf.predict([[-3.0], [3.0]]).tolist(), clf.predict_proba([[0.0]]).round(3).tolist()
    ([0, 1], [[0.5, 0.5]])

    Three classes or more are fitted as one multinomial model:

    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 0.0], [5.0, 1.0], [0.0, 5.0], [1.0, 5.0]])
    >>> clf = LFSOLogisticRegression().fit(X, ["a", "a", "b", "b", "c", "c"])
    >>> clf.coef_.shape, clf.predict([[5.0, 0.5]]).tolist()
    ((3, 2), ['b'])
    """

    _parameter_constraints: ClassVar[dict] = {
        "C": [Interval(Real, 0, None, closed="right")],  # (C = inf: no penalty, as there)
        "fit_intercept": ["boolean"],
        **_COMMON,
    }

    def __init__(
        self,
        C: float = 1.0,
        *,
        fit_intercept: bool = True,
        method: str = DEFAULT_METHOD,
        tol: float = 1e-8,
        max_iter: int = 10_000,
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.method = method
        self.tol = tol
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LFSOLogisticRegression:
        """Fit the model.

        ``sample_weight`` (non-negative, shape ``(n_samples,)``, optional) multiplies each
        sample's loss (the class docstring); ``None`` weighs every sample 1.
        """
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        dtype, X = X.dtype, X.astype(np.float64, copy=False)  # (solved in float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        k = self.classes_.size
        if k < 2:
            raise ValueError(f"This solver needs samples of at least 2 classes; got {k} class.")
        C, weights = self.C, None
        if sample_weight is not None:
            X, codes, weights, C = _weighed(X, codes, sample_weight, C)
            if np.all(weights == 1.0):  # (the unweighted objective: the unweighted models)
                weights = None
        scale = _scale(X)
        n, d = X.shape
        l2 = 1.0 / (C * n)
        if not math.isfinite(l2):  # (C * n underflows to 0 or a subnormal)
            if sample_weight is None:
                raise ValueError(
                    f"C={self.C!r} is too small: the penalty 1 / (C n_samples) = 1 / "
                    f"({self.C!r} * {n}) overflows float64; C must be larger"
                )
            raise ValueError(
                f"C={self.C!r} times the largest sample_weight "
                f"({float(np.max(sample_weight))!r}) is too small: the penalty 1 / (C "
                f"2^e n) = 1 / ({C!r} * {n}), 2^e the power of 2 at or above the largest "
                f"weight and n the samples of positive weight, overflows float64; C or the "
                f"weights must be larger"
            )
        # Solved on column j of X times 2^-e_j, the penalty l2 w_j^2 / 2 as l2 4^-e_j (w_j
        # 2^e_j)^2 / 2 (one weight per feature), with 4^e_j near coefficient j's curvature
        # over the intercept's (about X_j,max^2 + 4 l2, as sigma' <= 1/4): coef_ = w 2^-e,
        # exactly. One exponent for all columns: the ridge l2 4^-e, one float.
        e = np.array([_exponent(math.hypot(top, 2.0 * math.sqrt(l2))) for top in _tops(X)])
        Xs, ridge = np.ldexp(X, -e), np.ldexp(l2, -2 * e)
        ridges = float(ridge[0]) if np.all(e == e[0]) else ridge
        if k == 2:
            labels = codes.astype(np.float64)
            if weights is None:
                model = _Logistic(Xs, labels, l2=ridges, fit_intercept=self.fit_intercept)
            else:
                model = WeightedLogistic(
                    Xs, labels, weights, l2=ridges, fit_intercept=self.fit_intercept
                )
            res = _solve(self, model, np.zeros(model.dim), scale)
            w = np.asarray(res.x)
            self.coef_ = np.ldexp(w[:d], -e).reshape(1, d)
            self.intercept_ = w[d:] if self.fit_intercept else np.zeros(1)
        else:
            if weights is None:
                multi = SoftmaxRegression(Xs, codes, k, l2=ridges, fit_intercept=self.fit_intercept)
            else:
                multi = WeightedSoftmax(
                    Xs, codes, k, weights, l2=ridges, fit_intercept=self.fit_intercept
                )
            res = _solve(self, multi, np.zeros(multi.dim), scale)
            W = np.asarray(res.x).reshape(multi.n_features, k)
            self.coef_ = np.ldexp(W[:d], -e[:, None]).T
            self.intercept_ = W[d].copy() if self.fit_intercept else np.zeros(k)
        self.coef_, self.intercept_ = self.coef_.astype(dtype), self.intercept_.astype(dtype)
        self.n_iter_ = np.array([res.nit], dtype=np.int32)  # (scikit-learn's shape and dtype)
        self.result_ = res
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores: the margin (two classes) or the logits (more)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Two classes: ``expit(-s)`` and ``expit(s)`` of the margin ``s``, each computed
        directly (no ``1 - p`` cancellation); more: the softmax of the logits, shifted by
        their maximum. Neither overflows, whatever the margins' size.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([expit(-scores), expit(scores)])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithms of the class probabilities, columns in the order of ``classes_``.

        Computed as logarithms (``log_expit(-s)`` and ``log_expit(s)`` of the margin ``s``;
        the log-softmax of the logits), not as ``log(predict_proba(X))``: a probability
        that rounds to 0 has a finite logarithm.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]
