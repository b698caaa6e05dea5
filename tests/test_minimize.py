"""lfso.minimize: the API, the statuses, the counters and the errors on bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import lfso
import lfso.monitor
import lfso.scipy
from lfso import Status
from lfso.models import (
    CompositeLeastSquares,
    LpRegression,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)


def quartic(x):
    return float(np.sum(x**4))


def quartic_grad(x):
    return 4 * x**3


def quartic_oracle(x, R):
    return 12 * (np.max(np.abs(x)) + R) ** 2


def test_plain_function_with_oracle_converges():
    res = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, smoothness=quartic_oracle)
    assert res.success and res.status is Status.CONVERGED
    assert res.grad_norm <= 1e-8 * res.history.grad_norm[0]
    assert res.nfev == res.njev == res.nit + 1
    assert res.noracle >= res.nit
    assert res.message == Status.CONVERGED.message


def test_grad_true_means_fun_returns_value_and_gradient():
    res = lfso.minimize(
        lambda x: (quartic(x), quartic_grad(x)), [1.0, 2.0], grad=True, smoothness=quartic_oracle
    )
    ref = lfso.minimize(quartic, [1.0, 2.0], grad=quartic_grad, smoothness=quartic_oracle)
    np.testing.assert_array_equal(res.x, ref.x)


def test_absolute_tolerance_and_relative_tolerance():
    model = PowerSum(2)
    loose = lfso.minimize(model, np.ones(4), tol=0.0, atol=1e-2)
    assert loose.success and loose.grad_norm <= 1e-2 < loose.history.grad_norm[-2]
    tight = lfso.minimize(model, np.ones(4), tol=1e-10)
    assert tight.nit > loose.nit


def test_tol_zero_takes_exactly_max_iter_steps():
    res = lfso.minimize(PowerNorm(2), np.ones(3), tol=0.0, max_iter=25)
    assert res.nit == 25 and res.status is Status.MAX_ITER and len(res.history) == 26
    assert not res.success and "max_iter" in res.message


def test_fixed_step_gd_is_a_peer_through_the_same_loop():
    A = np.diag([1.0, 2.0, 3.0])
    model = LpRegression(A, np.zeros(3), 1)
    res = lfso.minimize(model, np.ones(3), method="gd", step=1 / 18)
    assert res.success and res.method == "gd" and res.noracle == 0
    assert np.all(np.isnan(res.history.L)) and np.allclose(res.history.step[1:], 1 / 18)
    lf = lfso.minimize(model, np.ones(3))
    assert lf.method == "lfso-lbfgs" and lf.success  # the default


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_diverging_gd_stops_non_finite_and_returns_best_point():
    res = lfso.minimize(PowerSum(2), np.ones(3), method="gd", step=10.0, max_iter=1000)
    assert res.status is Status.NON_FINITE and not res.success
    f = res.history.f
    assert not (np.isfinite(f[-1]) and np.isfinite(res.history.grad_norm[-1]))
    assert res.fun == np.min(f[np.isfinite(f)]) and res.fun == quartic(res.x)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize(("tol", "max_iter"), [(1e-8, 10_000), (1e-8, 300), (0.0, 300)])
def test_a_run_diverging_in_finite_values_stops_diverged_not_stalled(tol, max_iter):
    # A fixed step just past 1/L: f grows by 1.01^2 a step, finite for 35,000 steps; f
    # never again reaches a new low, and neither rounding nor the budget is to blame.
    res = lfso.minimize(
        lambda x: float(x @ x),
        np.ones(5),
        grad=lambda x: 2 * x,
        method="gd",
        step=1.005,
        tol=tol,
        max_iter=max_iter,
    )
    assert res.status is Status.DIVERGED and not res.success
    assert "diverged" in res.message and "rounding" not in res.message
    assert res.nit == min(max_iter, lfso._result.STALL_ITERATIONS)
    assert res.history.f[-1] > 100 * res.history.f[0]
    assert res.fun == res.history.f[0] == 5.0 and np.array_equal(res.x, np.ones(5))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize(("method", "status"), [("bb", Status.STALLED), ("armijo", None)])
def test_a_run_held_by_nan_values_of_f_says_so(method, status):
    # f is NaN inside the ball ||x|| < 0.3: the line searches shrink their trial steps
    # away from it and the run ends short of the tolerance, at f = 0.09 (BB: STALLED, its
    # last 1,000 steps accepted on the rounding of f alone).
    def fun(x):
        return float(x @ x) if np.linalg.norm(x) >= 0.3 else math.nan

    res = lfso.minimize(fun, np.ones(5), grad=lambda x: 2 * x, method=method, max_iter=2000)
    assert not res.success and (status is None or res.status is status)
    assert "f was NaN at" in res.message and "trial points" in res.message
    assert abs(res.fun - 0.09) < 1e-3
    fine = lfso.minimize(lambda x: float(x @ x), np.ones(5), grad=lambda x: 2 * x, method=method)
    assert fine.success and "NaN" not in fine.message


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_safeguard_failing_on_nan_values_of_f_says_so(method):
    # The same f, NaN inside ||x|| < 0.3: every trial step of the safeguard lands there.
    def fun(x):
        return float(x @ x) if np.linalg.norm(x) >= 0.3 else math.nan

    res = lfso.minimize(fun, np.ones(5), grad=lambda x: 2 * x, method=method)
    assert res.status is Status.STEP_FAILED and abs(res.fun - 0.09) < 1e-3
    assert "trial steps rejected by the safeguard" in res.message
    assert "f was NaN at" in res.message


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("max_rollbacks", [0, 2])
def test_a_safeguard_giving_up_counts_its_trial_steps_in_words(max_rollbacks):
    # L = 0.01 for f = x.x (L = 2): every trial step of the first step is rejected.
    res = lfso.minimize(
        lambda x: float(x @ x),
        np.ones(3),
        grad=lambda x: 2 * x,
        smoothness=0.01,
        method="lfso",
        max_rollbacks=max_rollbacks,
    )
    assert res.status is Status.STEP_FAILED
    tried = max_rollbacks + 1
    trials = f"{tried} trial step{'s' if tried > 1 else ''}"
    said = f"{trials} rejected by the safeguard, more than max_rollbacks={max_rollbacks} allows"
    assert said in res.message and "))" not in res.message


def test_polyak_below_its_f_star_raises_naming_it():
    # f(x0) = -3 < f_star = 0: Polyak's step would be negative (it stood at x0 to max_iter)
    with pytest.raises(ValueError, match=r"f_star=0\.0 must be at most the minimum of f") as info:
        lfso.minimize(
            lambda x: -float(x @ x), np.ones(3), grad=lambda x: -2 * x, method="polyak", f_star=0
        )
    res = info.value.result
    assert res.status is Status.RAISED and res.nit == 0 and res.fun == -3.0
    shifted = lfso.minimize(
        lambda x: float(x @ x) - 3, np.ones(3), grad=lambda x: 2 * x, method="polyak", f_star=-3
    )
    assert shifted.success


def test_polyak_whose_f_rounds_to_f_star_stops_stalled_at_once():
    # f = -3 + ||x - 1||^2 rounds to f_star = -3 once ||x - 1|| ~ 1e-8, where ||g|| ~ 2e-8
    # is above tol: the step is 0 there, and would be 0 at every iteration to max_iter
    def fun(x):
        return float(np.sum((x - 1) ** 2)) - 3

    def grad(x):
        return 2 * (x - 1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no stagnation warning from the steps of 0)
        res = lfso.minimize(fun, np.zeros(3), grad=grad, method="polyak", f_star=-3, tol=1e-14)
    assert res.status is Status.STALLED and res.nit < 1000
    assert res.fun == -3.0 and np.linalg.norm(res.jac) > 1e-14
    assert "Polyak's step (f - f_star) / ||g||^2 is 0" in res.message
    assert "new low" not in res.message and "increase max_iter" not in res.message
    reached = lfso.minimize(fun, np.zeros(3), grad=grad, method="polyak", f_star=-3, tol=1e-6)
    assert reached.success  # (a run that reaches tol first is not stopped)


def _least_squares_in(dtype):
    """``f = ||A x - b||^2 / 2`` computed in ``dtype`` from a float64 ``x``, and its
    gradient in float64."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((400, 200)), rng.standard_normal(400)
    A_, b_ = A.astype(dtype), b.astype(dtype)

    def fun(x):
        r = A_ @ x.astype(dtype) - b_
        return dtype(0.5) * (r @ r)

    return fun, (lambda x: A.T @ (A @ x - b)), A


def test_a_float32_valued_fun_at_a_float64_point_runs_at_float32_rounding():
    # f rounds at 6e-8 |f|, not 1e-16: without that, the certified runs took f's rounding
    # for a failed descent (MAX_ITER, a stagnation warning), gd's for a rise ('descent')
    fun, grad, A = _least_squares_in(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lfso.minimize(fun, np.zeros(200), grad=grad, tol=1e-9)
    assert res.success and res.x.dtype == np.float64
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gd = lfso.minimize(fun, np.zeros(200), grad=grad, method="gd", step=step, tol=1e-9)
    assert gd.success and not [w for w in caught if "'descent'" in str(w.message)]
    model = lfso.models.FunctionModel(fun, grad)
    lfso.minimize(model, np.zeros(200), tol=1e-6)
    assert model.unit_roundoff == np.finfo(np.float32).eps
    fun64, grad64, _ = _least_squares_in(np.float64)  # (float64 values: nothing to take)
    model = lfso.models.FunctionModel(fun64, grad64)
    assert lfso.minimize(model, np.zeros(200), tol=1e-9).success
    assert model.unit_roundoff is None


# (what fun returns from sum(x**2), x's dtype, and the unit roundoff the model takes)
_F32 = float(np.finfo(np.float32).eps)
RETURNED_ROUNDING = {
    "np.float32": (lambda t, v: np.float32(v), "float64", _F32),
    "0-d float32 array": (lambda t, v: np.asarray(v, np.float32), "float64", _F32),
    "1-element float32 array": (lambda t, v: np.asarray([v], np.float32), "float64", _F32),
    "0-d float32 tensor": (lambda t, v: t.tensor(v, dtype=t.float32), "float64", _F32),
    "0-d bfloat16 tensor": (lambda t, v: t.tensor(v, dtype=t.bfloat16), "float32", 2.0**-7),
    "0-d float64 tensor": (lambda t, v: t.tensor(v, dtype=t.float64), "float32", None),
    "0-d int tensor": (lambda t, v: t.tensor(int(v)), "float32", None),
    "float(float32)": (lambda t, v: float(np.float32(v)), "float64", None),  # (no dtype)
}


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("case", RETURNED_ROUNDING)
def test_a_value_returned_in_a_coarser_float_dtype_sets_the_unit_roundoff(case, library):
    make, x_dtype, expected = RETURNED_ROUNDING[case]
    torch = pytest.importorskip("torch") if library == "torch" or "tensor" in case else None
    x = np.ones(3, x_dtype) if library == "numpy" else torch.ones(3, dtype=getattr(torch, x_dtype))

    def fun(x):
        return make(torch, float((x**2).sum()))

    model = lfso.models.FunctionModel(fun, lambda x: 2 * x, lambda x, R: 2.0)
    model.evaluate(x)
    assert model.unit_roundoff == expected


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "lfso-accel"])
def test_a_number_as_smoothness_is_a_global_lipschitz_constant(method):
    A = np.diag([1.0, 3.0, 6.0])
    fun, grad = (lambda x: float(x @ A @ x)), (lambda x: 2 * A @ x)
    oracle = lfso.oracles.ConstantOracle(12.0)
    same = lfso.minimize(fun, np.ones(3), grad=grad, smoothness=oracle, method=method)
    for number in (np.float64(12), np.array(12.0), 12):  # (a 0-d array holds a number)
        given = lfso.minimize(fun, np.ones(3), grad=grad, smoothness=number, method=method)
        assert given.success and given.nit == same.nit > 1
        np.testing.assert_array_equal(given.x, same.x)
        np.testing.assert_array_equal(given.history.L[1:], same.history.L[1:])


def test_a_non_finite_start_raises_a_public_value_error():
    """``f(x0) = NaN`` raises ``lfso.NonFiniteStartError``, a ``ValueError`` users catch by
    its public name (``lfso.__all__`` lists it)."""
    assert "NonFiniteStartError" in lfso.__all__
    assert issubclass(lfso.NonFiniteStartError, ValueError)
    with pytest.raises(lfso.NonFiniteStartError, match=r"f\(x0\) = nan"):
        lfso.minimize(lambda x: float("nan"), np.ones(2), grad=lambda x: x, method="bb")


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, np.array(-1.0)])
def test_a_number_as_smoothness_must_be_finite_and_positive(bad):
    with pytest.raises(ValueError, match=r"smoothness must be finite and positive, got smooth"):
        lfso.minimize(lambda x: float(x @ x), np.ones(2), grad=lambda x: 2 * x, smoothness=bad)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_objective_unbounded_below_stops_unbounded(method, dtype):
    # A linear function: no curvature, so the steps double until x nears the float range.
    res = lfso.minimize(
        lambda x: float(np.sum(x, dtype=np.float64)),
        np.zeros(2, dtype),
        grad=lambda x: np.ones(2, dtype),
        method=method,
    )
    assert res.status is Status.UNBOUNDED and not res.success
    assert "unbounded below" in res.message and np.all(np.isfinite(res.x))
    f = res.history.f
    assert res.fun == np.min(f[np.isfinite(f)]) < -1e30


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_a_run_out_of_iterations_at_the_edge_of_the_float_range_stops_unbounded():
    # -||x||^2 under DoG: the steps grow until f is near -1.8e308, where x stops moving
    # (its steps are 0 from there): the run stops 1,000 iterations on, before max_iter.
    res = lfso.minimize(
        lambda x: float(-np.sum(x**2)),
        np.ones(3),
        grad=lambda x: -2 * x,
        method="dog",
        max_iter=3000,
    )
    assert res.status is Status.UNBOUNDED and not res.success
    assert "unbounded below" in res.message and res.fun < -1e302 and res.nit < 3000


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_run_diverging_upward_from_a_negative_f_is_not_unbounded(dtype):
    # f >= -1: a fixed step too long makes f rise to +inf from a best point at f = -0.98.
    res = lfso.minimize(
        lambda x: float(np.sum((x - dtype(3)) ** 2) - dtype(1)),
        np.full(2, 2.9, dtype),
        grad=lambda x: 2 * (x - dtype(3)),
        method="gd",
        step=1.5,
    )
    assert res.status is Status.NON_FINITE and res.history.f[-1] == np.inf
    assert res.fun == res.history.f[0] < 0.0


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_linear_function_in_a_narrow_dtype_stops_unbounded(dtype):
    res = lfso.minimize(
        lambda x: float(np.sum(x)), np.zeros(2, dtype), grad=lambda x: np.ones(2, dtype)
    )
    assert res.status is Status.UNBOUNDED and np.all(np.isfinite(res.x))


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_curving_down_to_the_float_range_stops_unbounded(method):
    """``-sum(exp(x))``: the gradient grows as ``f`` falls, so ``||g||^2`` leaves the float
    range long before ``f`` does, and the safeguarded trials end at ``-inf``."""
    res = lfso.minimize(
        lambda x: float(-np.sum(np.exp(x))), np.zeros(2), grad=lambda x: -np.exp(x), method=method
    )
    assert res.status is Status.UNBOUNDED and np.all(np.isfinite(res.x))
    assert res.fun == float(-np.sum(np.exp(res.x))) < -1e300


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_gradient_whose_square_overflows_still_steps(method):
    """``||g||^2`` past the float range (``||g|| ~ 3e156``) with the exact oracle: the
    claimed decrease is formed without the square, and the step lands on the minimiser."""
    s = 1e156
    res = lfso.minimize(
        lambda x: float(s * np.sum(x**2)),
        np.ones(3),
        grad=lambda x: 2 * s * x,
        smoothness=2 * s,
        method=method,
    )
    assert res.status is Status.CONVERGED and res.fun == 0.0 and res.nit == 1


def _least_squares(dtype) -> LpRegression:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 20)).astype(np.float32).astype(dtype)
    return LpRegression(A, rng.standard_normal(200).astype(np.float32).astype(dtype), 1)


def _unbounded_slope(dtype) -> CompositeLeastSquares:
    """``||A x - b||_2`` (composite least squares, ``p = 1``) on :func:`_least_squares`'s
    data: a row model without the exact slope's bound, whose float32 runs at their
    rounding go on until the stall test."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 20)).astype(np.float32).astype(dtype)
    b = rng.standard_normal(200).astype(np.float32).astype(dtype)
    return CompositeLeastSquares(A, b, 1)


def _stretches_without_a_new_low(res: lfso.Result) -> tuple[int, int]:
    """The longest run of rows in which neither f nor ||g|| reached a new low, and the one
    that ends the history."""
    f, g = res.history.f, res.history.grad_norm
    last, longest, low_f, low_g = 0, 0, math.inf, math.inf
    for k in range(len(f)):
        if f[k] < low_f or g[k] < low_g:
            last, low_f, low_g = k, min(low_f, f[k]), min(low_g, g[k])
        longest = max(longest, k - last)
    return longest, len(f) - 1 - last


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_float32_run_held_at_its_rounding_stops_stalled(method):
    # float32 cannot resolve ||g|| <= 1e-8 ||g0|| here (float64 converges in under 100
    # iterations): the run stops once neither f nor ||g|| has improved in 1,000. (Least
    # squares, whose exact slope is bounded, ends sooner: PRECISION_LIMIT, where the
    # gradient's rounding swamps that bound.)
    squares = lfso.minimize(_least_squares(np.float32), np.zeros(20, np.float32), method=method)
    assert squares.status is Status.PRECISION_LIMIT and not squares.success
    res = lfso.minimize(_unbounded_slope(np.float32), np.zeros(20, np.float32), method=method)
    assert res.status is Status.STALLED and not res.success
    assert "loosen tol" in res.message
    longest, last = _stretches_without_a_new_low(res)
    # (where the last new low falls moves with the rounding of the CPU's BLAS kernels:
    # iteration 1,100 to 1,600 on two machines; the run stops 1,000 after it)
    assert longest == last == lfso._result.STALL_ITERATIONS and res.nit < 4000
    assert res.grad_norm < 1e-6 * res.history.grad_norm[0]
    wide = lfso.minimize(_unbounded_slope(np.float64), np.zeros(20), method=method)
    assert wide.status is Status.CONVERGED and wide.nit < 100


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_the_safeguard_bounds_the_rise_of_the_computed_f_and_says_what_the_exact_one_adds():
    # A float32 softmax regression at weights of size 10: the rounding of the computed f
    # (the model's value_error) is tens of times 8 eps |f|, so the safeguard's tolerance
    # bounds the rise of the computed f at each step, not of the exact f, and the
    # docstring says so, naming value_error for the rest.
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 5)).astype(np.float32)
    model = SoftmaxRegression(A, rng.integers(0, 3, 100), 3)
    x0 = (10.0 * rng.standard_normal(model.dim)).astype(np.float32)
    start = model.evaluate(x0)
    tolerance = 8 * float(np.finfo(np.float32).eps)
    assert model.value_error(x0, start) > 10 * tolerance * abs(start.value)
    res = lfso.minimize(model, x0, method="lfso", smoothness="auto", max_iter=200)
    f = res.history.f.astype(np.float64)
    assert len(f) > 20 and np.all(np.diff(f) <= tolerance * np.abs(f[:-1]))
    doc = " ".join(lfso.minimize.__doc__.split())
    said = doc[doc.index("safeguard : bool") : doc.index("hvp : callable")]
    assert "the computed ``f`` never increases by more than" in said
    assert "value_error` at both points" in said


@pytest.mark.parametrize("x0_dtype", [np.float32, np.float64])
def test_a_numpy_run_works_in_the_promotion_of_x0s_and_the_datas_dtype(x0_dtype):
    """As documented (``lfso.minimize``'s ``x0``): NumPy data does not recast ``x0``; the
    iterates have NumPy's promotion of the two dtypes (float32 only with a float32 ``x0``)."""
    model = _least_squares(np.float32)
    res = lfso.minimize(model, np.zeros(20, x0_dtype), max_iter=5)
    assert res.x.dtype == np.result_type(x0_dtype, np.float32) == x0_dtype
    assert res.jac.dtype == res.x.dtype


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-accel"])
def test_tol_zero_runs_past_a_stall(method):
    model, x0 = _unbounded_slope(np.float32), np.zeros(20, np.float32)
    # tol=0 asks for exactly max_iter steps, past where the default test stalls (its last
    # new low, which moves with the CPU's BLAS kernels, plus STALL_ITERATIONS); lfso-accel's
    # f may rise (not monotone), but it stops there too: its f stays within its rounding
    stalled = lfso.minimize(model, x0, method=method, max_iter=5000)
    assert stalled.status is Status.STALLED
    assert _stretches_without_a_new_low(stalled)[1] >= lfso._result.STALL_ITERATIONS
    cap = stalled.nit + 500
    res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=cap)
    assert res.status is Status.MAX_ITER and res.nit == cap
    assert _stretches_without_a_new_low(res)[0] >= lfso._result.STALL_ITERATIONS


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_an_accelerated_run_at_its_rounding_stops_stalled_not_at_max_iter():
    """``lfso-accel`` (not monotone) held to ``tol=1e-30`` in float64: its momentum moves the
    point bit by bit while ``f`` stays within its rounding and ``||g||`` at its rounding
    floor; no new low for ``STALL_ITERATIONS`` iterations stops it ``STALLED`` with a
    message saying so, where it ran to ``max_iter`` advising more iterations."""
    rng = np.random.default_rng(1)
    # (composite least squares: no bound on the exact slope, which stops LpRegression's
    # run at PRECISION_LIMIT first)
    A, b = rng.standard_normal((200, 8)), rng.standard_normal(200)
    model = CompositeLeastSquares(A, b, 1)
    res = lfso.minimize(model, np.zeros(8), method="lfso-accel", tol=1e-30, max_iter=5000)
    assert res.status is Status.STALLED and res.nit < 5000, res.message
    assert "rounding" in res.message and "max_iter" not in res.message
    assert _stretches_without_a_new_low(res)[1] >= lfso._result.STALL_ITERATIONS
    f = res.history.f[-lfso._result.STALL_ITERATIONS :]
    assert np.ptp(f) <= 16 * np.finfo(np.float64).eps * abs(res.fun)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize(
    "method, options",
    [("lfso-accel", {}), ("nesterov", {"step": 1e-3}), ("dog", {}), ("adgd", {})],
)
def test_a_rule_that_may_rise_stuck_at_one_point_stops_stalled(method, options):
    # Started at the solution of a consistent float32 system with entries 1e6: every step
    # is below the rounding of x (x + t d == x), so the point never moves; these rules'
    # f may rise, so the test of new lows leaves them alone, but no number of iterations
    # can move x: the run stops STALLED 1,000 iterations on, not at max_iter.
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 5)).astype(np.float32)
    x_star = np.full(5, 1e6, np.float32)
    model = LpRegression(A, (A.astype(np.float64) @ x_star).astype(np.float32), 1)
    seen = []
    res = lfso.minimize(
        model,
        x_star,
        method=method,
        tol=1e-30,
        max_iter=3000,
        callback=lambda intermediate_result: seen.append(intermediate_result.x.copy()),
        **options,
    )
    assert res.status is Status.STALLED and res.nit < 3000
    assert "bit for bit" in res.message and "loosen tol" in res.message
    # (the point it ends at is the one of its last new low)
    last = len(res.history.f) - 1 - _stretches_without_a_new_low(res)[1]
    low = x_star if last == 0 else seen[last - 1]
    assert np.array_equal(seen[-1], low)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_the_best_point_at_the_rounding_of_f_is_the_one_of_smallest_gradient(method):
    # At the float32 rounding of f, the lowest computed f is at a point ||g|| = 1.7e-4 from
    # stationary (x = 0.5897385...), while later points, whose f rounds one ulp higher,
    # have ||g|| near 1e-7: the result is one of those.
    res = lfso.minimize(
        lambda x: float(((x - 1) ** 2).sum() + (x**4).sum()),
        np.zeros(3, np.float32),
        grad=lambda x: 2 * (x - 1) + 4 * x**3,
        method=method,
    )
    assert res.status is Status.STALLED
    f, g = res.history.f, res.history.grad_norm
    near = f <= f.min() + 8 * np.finfo(np.float32).eps * abs(f.min())
    assert res.grad_norm == g[near].min() < 1e-6
    assert f.min() <= res.fun < f.min() + 1e-6
    x = res.x.astype(np.float64)
    assert np.linalg.norm(2 * (x - 1) + 4 * x**3) < 1e-6


def test_callback_stop_iteration_returns_best_so_far():
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result.fun)
        if intermediate_result.nit == 5:
            raise StopIteration

    res = lfso.minimize(PowerSum(3), np.ones(3), callback=callback)
    assert res.status is Status.CALLBACK_STOP and res.nit == 5 and len(seen) == 5
    assert res.fun == min(seen)


def test_keyboard_interrupt_returns_best_so_far():
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return quartic(x)

    res = lfso.minimize(fun, np.ones(3), grad=quartic_grad, smoothness=quartic_oracle)
    assert res.status is Status.INTERRUPTED and "Interrupted" in res.message
    assert res.nit == 6 and res.fun == pytest.approx(res.history.f[-1])


def test_legacy_callback_receives_the_iterate():
    xs = []
    lfso.minimize(PowerSum(2), np.ones(2), max_iter=3, tol=0.0, callback=lambda xk: xs.append(xk))
    assert len(xs) == 3 and xs[0].shape == (2,)


def test_integer_and_list_starts_are_converted():
    res = lfso.minimize(PowerSum(2), [1, 2, 3], max_iter=2, tol=0)
    assert res.x.dtype == np.float64


@pytest.mark.parametrize("how", ["stationary", "max_iter=0", "scipy"])
def test_the_result_is_never_the_callers_x0(how):
    # A run that stops at x0 returns it: a copy, so that changing x0 afterwards (a restart
    # from a perturbed start) does not change the result, as in SciPy.
    x0 = np.zeros(3) if how == "stationary" else np.ones(3)
    if how == "scipy":
        import scipy.optimize

        import lfso.scipy as ls

        res = scipy.optimize.minimize(
            lambda x: float(x @ x),
            x0,
            jac=lambda x: 2 * x,
            method=ls.lfso_lbfgs,
            options={"maxiter": 0},
        )
    else:
        res = lfso.minimize(PowerSum(2), x0, max_iter=0 if how == "max_iter=0" else 100)
    assert res.nit == 0 and np.array_equal(res.x, x0)
    x0 += 5.0
    assert not np.shares_memory(res.x, x0) and np.all(res.x == x0 - 5.0)


def _raises(exc, match, *args, **kwargs):
    with pytest.raises(exc, match=match):
        lfso.minimize(*args, **kwargs)


BAD_INPUTS = [
    # (objective, x0, kwargs, exception, message)
    (PowerSum(2), np.ones((2, 2)), {}, ValueError, r"x0 must be 1-D, got shape \(2, 2\)"),
    (PowerSum(2), np.array([1.0, np.nan]), {}, ValueError, "x0 must be finite"),
    (PowerSum(2), np.array([1.0, np.inf]), {}, ValueError, "x0 must be finite"),
    (PowerSum(2), np.array([]), {}, ValueError, "x0 must not be empty"),
    (PowerSum(2), np.array(["a"]), {}, TypeError, "x0 must be a real array"),
    (
        LpRegression(np.ones((3, 2)), np.ones(3), 2),
        np.ones(3),
        {},
        ValueError,
        r"x0 must have shape \(2,\)",
    ),
    (PowerSum(2), np.ones(2), {"eta": 2.0}, ValueError, r"eta must be in \(0, 2\), got eta=2.0"),
    (PowerSum(2), np.ones(2), {"eta": 0.0}, ValueError, "eta must be in"),
    (PowerSum(2), np.ones(2), {"eta": float("nan")}, ValueError, "eta must be in"),
    (PowerSum(2), np.ones(2), {"tol": -1.0}, ValueError, "tol must be finite and >= 0"),
    (PowerSum(2), np.ones(2), {"tol": math.inf}, ValueError, "tol must be finite"),
    (PowerSum(2), np.ones(2), {"atol": -1e-3}, ValueError, "atol must be finite and >= 0"),
    (
        PowerSum(2),
        np.ones(2),
        {"max_iter": -1},
        ValueError,
        "max_iter must be an integer >= 0, got max_iter=-1",
    ),
    (PowerSum(2), np.ones(2), {"max_iter": 2.5}, TypeError, "max_iter must be an integer"),
    (PowerSum(2), np.ones(2), {"method": "newton"}, ValueError, "unknown method 'newton'"),
    (PowerSum(2), np.ones(2), {"method": "gd"}, TypeError, "method='gd' needs a step size"),
    (PowerSum(2), np.ones(2), {"method": "gd", "step": -1.0}, ValueError, "step must be finite"),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "method": "polyak", "f_star": "0"},
        TypeError,
        r"f_star must be a finite real number, got f_star='0' \(str\)",
    ),
    (PowerSum(2), np.ones(2), {"radius": "huge"}, ValueError, "radius must be 'tight', 'paper'"),
    (PowerSum(2), np.ones(2), {"foo": 1}, TypeError, r"unknown option\(s\).*foo"),
    (PowerSum(2), np.ones(2), {"radius_rtol": 0.0}, ValueError, "radius_rtol must be in"),
    (PowerSum(2), np.ones(2), {"grad": quartic_grad}, TypeError, "a model has its own"),
    ("not callable", np.ones(2), {}, TypeError, "objective must be a model"),
    (quartic, np.ones(2), {}, TypeError, "needs its gradient"),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": "magic"},
        ValueError,
        "smoothness must be a callable, an oracle or 'auto'",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "method": "lfso-accel"},
        TypeError,
        "lfso-accel' needs an oracle",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "method": "lfso-accel", "smoothness": "auto"},
        TypeError,
        r"lfso-accel' needs an oracle and does not estimate one \(smoothness='auto'",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "method": "gd", "step": 0.1, "safeguard": True},
        TypeError,
        r"unknown option\(s\) for method='gd': \['safeguard'\]",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": lambda x: np.ones(3), "smoothness": quartic_oracle},
        ValueError,
        r"grad\(x\) must have shape \(2,\)",
    ),
    (
        lambda x: np.nan,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": quartic_oracle},
        lfso.NonFiniteStartError,
        "must be finite",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": lambda x, R: -1.0},
        lfso.OracleError,
        "returned L.*-1.0",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": lambda x, R: float("nan")},
        lfso.OracleError,
        "finite positive",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": lambda x, R: 1.0 / (1.0 + R)},
        lfso.OracleError,
        "decreases in R",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": lambda x, R: 5.0 - R, "radius": lambda x: 0.0},
        lfso.OracleError,
        "decreases in R",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": quartic_oracle, "radius": lambda x: -1.0},
        ValueError,
        "radius rule returned R0 = -1.0",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": quartic_oracle, "radius": "paper"},
        TypeError,
        "radius='paper' needs a model",
    ),
]


@pytest.mark.parametrize("objective, x0, kwargs, exc, message", BAD_INPUTS)
def test_bad_input_raises_a_clear_error(objective, x0, kwargs, exc, message):
    _raises(exc, message, objective, x0, **kwargs)


@pytest.mark.parametrize("objective", ["function", "cauchy", "softmax"])
def test_a_paper_radius_without_the_papers_r0_is_refused_before_any_call(objective):
    """A plain function's oracle, ``CauchyRegression`` and ``SoftmaxRegression`` define no
    paper's ``R0``: ``radius="paper"`` was refused only at the first step, after ``f`` and
    its gradient had been evaluated (an expensive objective paid for nothing)."""
    calls = []

    def counted(x):
        calls.append(x)
        return quartic(x)

    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((12, 3)), rng.standard_normal(12)
    models = {
        "cauchy": lambda: lfso.models.CauchyRegression(A, b),
        "softmax": lambda: lfso.models.SoftmaxRegression(A, (b > 0).astype(int), 2),
    }
    if objective == "function":
        args = (counted, np.ones(3))
        kwargs = {"grad": quartic_grad, "smoothness": quartic_oracle}
        named = "plain function's smoothness"
    else:
        model = models[objective]()
        model.evaluate = lambda x, **kw: calls.append(x)  # (no evaluation may happen)
        args, kwargs, named = (model, np.ones(model.dim)), {}, type(model).__name__
    with pytest.raises(TypeError, match=f"radius='paper' needs a model.*{named}.*'tight'"):
        lfso.minimize(*args, radius="paper", **kwargs)
    assert calls == []


def test_result_repr_and_history_columns():
    res = lfso.minimize(PowerSum(2), np.ones(2))
    assert "status=CONVERGED" in repr(res)
    cols = res.history.as_dict()
    assert set(cols) == set(lfso.History.columns)
    assert all(len(v) == res.nit + 1 for v in cols.values())
    assert np.all(np.diff(res.history.time) >= 0) and res.history.noracle[-1] == res.noracle
    with pytest.raises(KeyError, match="unknown history column"):
        res.history["nope"]


def _same_run(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    assert (a.nit, a.nfev, a.method) == (b.nit, b.nfev, b.method)


def test_a_radius_rule_without_a_method_is_lfso_gd_through_the_ball():
    res = lfso.minimize(PowerSum(2), np.linspace(0.3, 1.2, 5), radius="tight")
    ball = lfso.minimize(
        PowerSum(2), np.linspace(0.3, 1.2, 5), method="lfso", radius="tight", certificate="ball"
    )
    segment = lfso.minimize(
        PowerSum(2), np.linspace(0.3, 1.2, 5), method="lfso", radius="tight", certificate="segment"
    )
    _same_run(res, ball)
    assert res.method == "lfso" and res.nit != segment.nit  # (the segment's step differs)


def test_safeguard_true_wraps_a_certified_rule_instance():
    too_small = lambda x, R: 1e-3  # noqa: E731  (an oracle far below the curvature)
    run = lambda method, **kw: lfso.minimize(  # noqa: E731
        quartic, np.ones(3), grad=quartic_grad, smoothness=too_small, method=method,
        max_iter=200, monitor=False, **kw,
    )  # fmt: skip
    res = run(lfso.steps.LFSOStep(), safeguard=True)
    _same_run(res, run(lfso.steps.Safeguarded(lfso.steps.LFSOStep())))
    assert res.rollbacks > 0 and np.all(np.diff(res.history.f) <= 0)
    # a user's oracle: the default guards a rule instance as it does a method name
    _same_run(run(lfso.steps.LFSOStep()), res)
    bare = run(lfso.steps.LFSOStep(), safeguard=False)
    assert bare.rollbacks == 0 and not np.all(np.diff(bare.history.f) <= 0)


def _row_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    return lfso.models.LogisticRegression(X, X @ np.ones(4) > 0)


MORE_BAD_INPUTS = [
    # (objective, x0, kwargs, exception, message)
    (PowerSum(2), np.ones(2), {"options": [1]}, TypeError, r"keywords, e\.g\. .*max_iter=1000\)"),
    (PowerSum(2), np.ones(2), {"constraints": ()}, TypeError, "constraints=.*unconstrained"),
    (_row_model(), np.zeros(4), {"batch_size": 4, "radius": "tight"}, TypeError, "no radius="),
    (
        _row_model(),
        np.zeros(4),
        {"batch_size": 4, "callback": [print]},
        TypeError,
        r"takes one callable callback.*got callback=\[<built-in function print>\] \(list\)",
    ),
    (_row_model(), np.zeros(3), {"batch_size": 4}, ValueError, r"x0 must have shape \(4,\)"),
    # radius= on the automatic oracle: named as the caller wrote it (the ball certificate it
    # implies is not the caller's).
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "radius": "tight"},
        ValueError,
        r"^radius='tight' selects the paper's step, whose ball certificate needs an oracle",
    ),
    # ... and a radius= that is no radius rule is named as that, oracle or not.
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "radius": 0.5},
        TypeError,
        r"^radius must be 'tight', 'paper' or a callable x -> R0, got radius=0.5",
    ),
    # Options the run would not use: the automatic oracle's steps are always safeguarded,
    # and its power iterations run along hvp= alone.
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "safeguard": False},
        TypeError,
        r"always safeguarded: drop safeguard=False",
    ),
    # lfso-lbfgs's default certificate on a user's ball oracle: an estimate capped by the
    # ball, always safeguarded too (certificate="ball" runs unguarded)
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "smoothness": lambda x, R: 1e3, "safeguard": False},
        TypeError,
        r"^method='lfso-lbfgs' with a ball oracle .* always safeguarded: drop safeguard=False"
        r".* pass certificate='ball' to run unguarded",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "method": "lfso", "smoothness": "auto", "safeguard": False},
        TypeError,
        r"method='lfso' with the automatic oracle .* drop safeguard=False",
    ),
    (
        quartic,
        np.ones(2),
        {"grad": quartic_grad, "power_iterations": 3},
        TypeError,
        r"power_iterations= sets the power iterations along hvp= \(got power_iterations=3",
    ),
]


@pytest.mark.parametrize("objective, x0, kwargs, exc, message", MORE_BAD_INPUTS)
def test_more_bad_input_raises_a_clear_error(objective, x0, kwargs, exc, message):
    _raises(exc, message, objective, x0, **kwargs)


@pytest.mark.parametrize("max_iter", [0, 200])
def test_a_torch_x0_that_requires_grad_is_detached(max_iter):
    """A model's parameter as ``x0``: the run is not differentiated through (undetached,
    its iterates would carry autograd's graph from step to step, PyTorch would warn at
    every conversion of a scalar, and the run would take other steps than from the
    detached start); the caller's tensor is neither changed nor returned."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    A, b = torch.randn(50, 5, generator=gen), torch.randn(50, generator=gen)
    model = lfso.models.LpRegression(A, b, 2.0)
    x0 = torch.zeros(5, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # (PyTorch's, not lfso's risk warnings)
        res = lfso.minimize(model, x0, max_iter=max_iter, monitor="quiet")
    plain = lfso.minimize(model, torch.zeros(5), max_iter=max_iter, monitor="quiet")
    assert not res.x.requires_grad and res.x.grad_fn is None
    assert (res.nit, res.fun) == (plain.nit, plain.fun) and torch.equal(res.x, plain.x)
    assert x0.requires_grad and not torch.any(x0.detach())
    assert res.x.data_ptr() != x0.data_ptr()


def test_an_exception_while_x0_is_evaluated_propagates_as_it_is():
    """No point has been evaluated yet, so there is no result to attach (README: an
    exception later in the run carries the best point as ``.result``)."""

    def fun(x):
        raise RuntimeError("fun failed at the start")

    with pytest.raises(RuntimeError, match="fun failed at the start") as caught:
        lfso.minimize(fun, np.zeros(2), grad=lambda x: x)
    assert not hasattr(caught.value, "result")


@pytest.mark.parametrize("x0", [1.0, 1, np.float32(1.0), np.array(1.0)], ids=repr)
def test_a_number_as_x0_is_a_vector_of_one_element_as_in_scipy(x0):
    """``scipy.optimize.minimize(f, 1.0)`` runs on ``np.atleast_1d(x0)``: so does
    ``lfso.minimize``, whose ``x`` then has shape ``(1,)``, and ``fun`` and ``grad`` get
    vectors of one element."""
    from scipy.optimize import minimize as scipy_minimize

    shapes = set()

    def f(x):
        shapes.add(np.shape(x))
        return float(np.sum((x - 3.0) ** 4))

    res = lfso.minimize(f, x0, grad=lambda x: 4.0 * (x - 3.0) ** 3, tol=1e-6)
    ref = scipy_minimize(f, x0, jac=lambda x: 4.0 * (x - 3.0) ** 3, method="L-BFGS-B")
    assert res.success and res.x.shape == ref.x.shape == (1,)
    assert shapes == {(1,)} and abs(res.x[0] - 3.0) < 0.05


@pytest.mark.parametrize("x0", [True, np.bool_(False), np.array(True)], ids=repr)
def test_a_bool_as_x0_is_refused_as_every_number_lfso_takes(x0):
    """``x0=True`` raised "x0 must be 1-D, got shape ()" and ``np.bool_(True)`` ran from
    ``[1.0]``: a bool scalar is refused by name, as a bool for any number lfso takes (a
    flag in ``x0``'s place is a mistake); an array of bools is still 0s and 1s."""
    with pytest.raises(TypeError, match=r"x0 must be a real number or a 1-D real array, got"):
        lfso.minimize(quartic, x0, grad=quartic_grad)
    res = lfso.minimize(quartic, np.array([True, False]), grad=quartic_grad, max_iter=1)
    assert res.x.dtype == np.float64


# -- callbacks get copies: changing their argument in place changes neither run nor result --


@pytest.mark.parametrize("style", ["xk", "intermediate_result"])
def test_a_callback_that_changes_its_argument_leaves_the_run_alone(style):
    if style == "xk":

        def callback(xk):
            xk[:] = 100.0

    else:

        def callback(intermediate_result):
            intermediate_result.x[:] = 100.0
            intermediate_result.jac[:] = 0.0

    plain = lfso.minimize(quartic, np.ones(3), grad=quartic_grad)
    res = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, callback=callback)
    assert res.status is lfso.Status.CONVERGED
    assert res.nit == plain.nit
    np.testing.assert_array_equal(res.x, plain.x)
    assert res.fun == quartic(res.x)
    np.testing.assert_array_equal(res.jac, quartic_grad(res.x))
    assert np.all(np.diff(res.history.f) <= 0.0)  # (a certified method: f never rose)


def _scribbling(function):
    """``function`` that then writes over every array argument, as careless code does."""

    def call(*args):
        value = function(*args)
        for arg in args:
            if isinstance(arg, np.ndarray):
                arg[:] = 123.0
        return value

    return call


@pytest.mark.parametrize("method", ["lfso-lbfgs", "lfso", "armijo"])
def test_fun_grad_and_oracle_get_their_own_copies_as_in_scipy(method):
    options = {"smoothness": quartic_oracle} if method == "lfso" else {}
    clean = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, method=method, **options)
    if options:
        options = {"smoothness": _scribbling(quartic_oracle)}
    x0 = np.ones(3)
    res = lfso.minimize(
        _scribbling(quartic), x0, grad=_scribbling(quartic_grad), method=method, **options
    )
    assert res.status is clean.status is Status.CONVERGED and res.nit == clean.nit
    np.testing.assert_array_equal(res.x, clean.x)
    assert res.fun == quartic(res.x) and np.all(x0 == 1.0)


def test_an_hvp_that_changes_its_arguments_leaves_the_run_alone():
    hvp = lambda x, v: 12.0 * x**2 * v  # noqa: E731
    clean = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, hvp=hvp)
    res = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, hvp=_scribbling(hvp))
    assert res.success and res.nit == clean.nit and np.array_equal(res.x, clean.x)


def test_a_numpy_integer_is_a_method_option_s_integer():
    fun, grad = (lambda x: float(x @ x)), (lambda x: 2 * x)
    same = lfso.minimize(fun, np.ones(3), grad=grad, method="adgd", variant=2020)
    given = lfso.minimize(fun, np.ones(3), grad=grad, method="adgd", variant=np.int64(2020))
    assert given.success and np.array_equal(given.x, same.x) and given.nit == same.nit
    with pytest.raises(TypeError, match=r"variant must be 2023, 2020, got variant=np\.True_"):
        lfso.minimize(fun, np.ones(3), grad=grad, method="adgd", variant=np.True_)


def test_a_rule_instance_names_a_smoothness_it_cannot_use():
    from lfso.steps import FixedStep, LFSOStep

    fun, grad = (lambda x: float(x @ x)), (lambda x: 2 * x)
    with pytest.raises(TypeError, match="the rule FixedStep uses no smoothness oracle"):
        lfso.minimize(fun, np.ones(3), grad=grad, method=FixedStep(0.01), smoothness=1.0)
    with pytest.raises(TypeError, match="smoothness='auto' builds the automatic oracle"):
        lfso.minimize(fun, np.ones(3), grad=grad, method=LFSOStep(), smoothness="auto")
    res = lfso.minimize(fun, np.ones(3), grad=grad, method=LFSOStep(), smoothness=2.0)
    assert res.success


def test_a_radius_rule_of_the_wrong_signature_is_named():
    with pytest.raises(TypeError, match=r"radius must be callable as radius\(x\)"):
        lfso.minimize(
            quartic, np.ones(3), grad=quartic_grad, smoothness=quartic_oracle, radius=lambda: 1.0
        )


def test_a_gradient_returned_as_its_argument_is_not_the_result_s_point():
    res = lfso.minimize(lambda x: 0.5 * float(x @ x), np.ones(3), grad=lambda x: x)
    assert res.success and res.jac is not res.x
    res.jac[:] = 7.0
    assert np.all(res.x != 7.0)


def test_a_scipy_callback_that_changes_intermediate_result_leaves_the_run_alone():
    def callback(intermediate_result):
        intermediate_result.x[:] = 100.0

    res = scipy_minimize(
        quartic, np.ones(3), jac=quartic_grad, method=lfso.scipy.lfso_lbfgs, callback=callback
    )
    assert res.success
    assert res.fun == quartic(res.x)


# -- a StopIteration raised by fun, grad or the oracle is no callback stop --------------------


@pytest.mark.parametrize("which", ["fun", "grad", "smoothness"])
def test_stop_iteration_outside_a_callback_propagates_as_raised(which):
    calls = [0]
    parts = {"fun": quartic, "grad": quartic_grad, "smoothness": quartic_oracle}
    inner = parts[which]

    def failing(*args):
        calls[0] += 1
        if calls[0] > 3:
            raise StopIteration  # (e.g. next() on an exhausted data iterator)
        return inner(*args)

    parts[which] = failing
    with pytest.raises(StopIteration) as info:
        lfso.minimize(
            parts["fun"],
            np.ones(3),
            grad=parts["grad"],
            smoothness=parts["smoothness"],
            method="lfso",
        )
    assert info.value.result.status is lfso.Status.RAISED


def test_stop_iteration_from_a_callback_is_still_a_callback_stop():
    res = lfso.minimize(
        quartic, np.ones(3), grad=quartic_grad, callback=lfso.monitor.EarlyStopping(1.0)
    )
    assert res.status is lfso.Status.CALLBACK_STOP


def test_a_callback_with_a_keyword_only_intermediate_result_is_called_by_keyword():
    # (SciPy's convention: such a callback is called callback(intermediate_result=...))
    seen = []

    def callback(*, intermediate_result):
        seen.append(intermediate_result.nit)

    res = lfso.minimize(quartic, np.ones(3), grad=quartic_grad, callback=callback)
    assert res.success
    assert seen == list(range(1, res.nit + 1))


@pytest.mark.parametrize("method", ["lfso-lbfgs", "bb", "gd"])
@pytest.mark.parametrize("pair", [False, True], ids=["grad", "grad=True"])
def test_a_gradient_written_into_one_buffer_is_the_run_s_own(method, pair):
    # (grad(x) that fills and returns the same array at every call, as PyTorch's x.grad)
    fun = lambda x: float(np.sum(np.cosh(x - 3.0)))  # noqa: E731
    grad = lambda x: np.sinh(x - 3.0)  # noqa: E731
    buffer = np.zeros(3)

    def into_buffer(x):
        buffer[:] = grad(x)
        return (fun(x), buffer) if pair else buffer

    options = {"step": 0.1} if method == "gd" else {}
    clean = lfso.minimize(fun, np.zeros(3), grad=grad, method=method, max_iter=60, **options)
    res = lfso.minimize(
        into_buffer if pair else fun,
        np.zeros(3),
        grad=True if pair else into_buffer,
        method=method,
        max_iter=60,
        **options,
    )
    assert res.status is clean.status and res.nit == clean.nit
    np.testing.assert_array_equal(res.x, clean.x)
    np.testing.assert_array_equal(res.jac, grad(res.x))
    assert res.jac is not buffer


_PICKLED_MODELS = {
    "lp": lambda A, b, y, k: lfso.models.LpRegression(A, b, p=2),
    "logistic": lambda A, b, y, k: lfso.models.LogisticRegression(A, y, l2=0.1),
    "logistic-per-feature": lambda A, b, y, k: lfso.models.LogisticRegression(
        A, y, l2=np.linspace(0.01, 1.0, A.shape[1]).astype(A.dtype)
    ),
    "softmax": lambda A, b, y, k: lfso.models.SoftmaxRegression(A, k, 3, l2=0.1),
    "cauchy": lambda A, b, y, k: lfso.models.CauchyRegression(A, b),
    "composite": lambda A, b, y, k: lfso.models.CompositeLeastSquares(A, b, p=2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(_PICKLED_MODELS))
def test_a_model_pickled_or_deep_copied_runs_as_the_original(name, dtype):
    """A model sent to a worker process (joblib, multiprocessing) or deep-copied, before or
    after a run, runs as the original, bit for bit; the caches its run made stay behind."""
    import copy
    import pickle

    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((60, 4)).astype(dtype), rng.standard_normal(60).astype(dtype)
    y, k = (b > 0).astype(dtype), rng.integers(0, 3, 60)
    model = _PICKLED_MODELS[name](A, b, y, k)
    x0 = np.linspace(-1.0, 1.0, model.dim).astype(dtype)
    before = pickle.dumps(model)
    first = lfso.minimize(model, x0, max_iter=20)
    after = pickle.dumps(model)
    assert len(after) == len(before)
    for twin in (pickle.loads(before), pickle.loads(after), copy.deepcopy(model)):
        again = lfso.minimize(twin, x0, max_iter=20)
        assert again.nit == first.nit and again.fun == first.fun
        np.testing.assert_array_equal(again.x, first.x)
        np.testing.assert_array_equal(again.history.f, first.history.f)
    kept = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(kept.x, first.x)
    np.testing.assert_array_equal(kept.history.step, first.history.step)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_step_failed_on_a_users_oracle_names_the_oracle(method):
    """An oracle far below the true smoothness (``1e-300`` for ``sum x^4 + sum x^2``) makes
    every trial step too long for the safeguard: ``STEP_FAILED`` names the oracle beside the
    gradient (the status's own message, for any run, names the gradient alone)."""

    def f(x):
        return float(np.sum(x**4) + np.sum(x**2))

    def grad(x):
        return 4 * x**3 + 2 * x

    x0 = np.array([1.0, 2.0, -0.7])
    with np.errstate(over="ignore", invalid="ignore"):  # (the trial steps, 1e300 long)
        res = lfso.minimize(
            f, x0, grad=grad, smoothness=lambda x, radius: 1e-300, method=method, max_rollbacks=3
        )
    assert res.status is lfso.Status.STEP_FAILED
    assert "oracle" in res.message and "gradient" in res.message, res.message
    assert "oracle" not in lfso.Status.STEP_FAILED.message


def _nearly_rank_one(seed=0):
    """400 near-copies of one row: ``||A||_2 = 73.5`` far above the lower bounds that
    ``norm=`` is checked against (``max_i ||a_i||`` and ``||A||_F / 4``: 18.4)."""
    rng = np.random.default_rng(seed)
    A = np.tile(rng.standard_normal(16), (400, 1)) + 1e-3 * rng.standard_normal((400, 16))
    low = max(np.linalg.norm(A, axis=1).max(), np.linalg.norm(A) / 4)
    return A, rng.standard_normal(400), low


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize(
    "method", ["lfso", "lfso-accel", "lfso-lbfgs", lfso.steps.LFSOStep(certificate="ball")]
)
def test_a_stated_norm_too_small_is_a_users_oracle_guarded_by_the_safeguard(method):
    """A ``norm=`` that passes the cheap lower bounds but is 4 times below ``||A||_2``
    under-estimates the ball bound: the model asks for its oracle to be audited and the
    safeguard keeps ``f`` from rising, where the steps it sized made ``f`` grow to
    non-finite values."""
    A, b, low = _nearly_rank_one()
    model = LpRegression(A, b, p=1, norm=low * 1.0001)
    assert model.audit_oracle and not LpRegression(A, b, p=1).audit_oracle
    x0 = np.ones(16)
    options = {"certificate": "ball"} if isinstance(method, str) else {}
    res = lfso.minimize(model, x0, method=method, max_iter=300, **options)
    assert res.status not in (Status.NON_FINITE, Status.DIVERGED), res.message
    assert np.isfinite(res.fun) and res.fun < model.value(x0)
    if method != "lfso-accel":  # (monotone rules: every accepted step descends)
        assert np.all(np.diff(res.history.f) <= 0.0), res.history.f


@pytest.mark.parametrize("method", ["lfso", "lfso-accel", "lfso-lbfgs"])
def test_a_correct_stated_norm_keeps_the_proven_segment_and_the_iterates(method):
    """The segment bound (``certificate="auto"``'s choice) reads no ``||A||``: a stated
    norm leaves it the default, unguarded (the calls of the computed norm's run); a ball
    run (``lfso-accel``'s default) is guarded, its iterates kept where no step fails."""
    A, b, _ = _nearly_rank_one()
    x0 = np.ones(16)
    model = LpRegression(A, b, p=1)
    plain = lfso.minimize(model, x0, method=method, max_iter=50)
    res = lfso.minimize(LpRegression(A, b, p=1, norm=model.norm), x0, method=method, max_iter=50)
    np.testing.assert_array_equal(res.history.f, plain.history.f)
    np.testing.assert_array_equal(res.x, plain.x)
    assert res.rollbacks == 0
    if method != "lfso-accel":
        assert (res.nfev, res.njev) == (plain.nfev, plain.njev)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "lfso-accel", "lfso-lbfgs"])
def test_l0l1_constants_too_small_are_a_users_oracle_guarded_by_the_safeguard(method):
    """``L0L1Smooth``'s ``L0``, ``L1`` are the user's claim: ``L0 = 1`` for least squares
    whose Hessian has norm 2 ||A||^2 ~ 200 sized steps that made ``f`` rise to non-finite
    values; the oracle is audited and the safeguard keeps ``f`` from rising."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((50, 5)), rng.standard_normal(50)
    model = lfso.models.L0L1Smooth(LpRegression(A, b, p=1), L0=1.0, L1=0.0)
    assert model.audit_oracle
    x0 = np.ones(5)
    res = lfso.minimize(model, x0, method=method, max_iter=500)
    assert res.status not in (Status.NON_FINITE, Status.DIVERGED), res.message
    assert np.isfinite(res.fun) and res.fun < model.value(x0)


@pytest.mark.parametrize(
    ("scale", "dtype"), [(1e-46, np.float32), (1e-8, np.float16), (1e-44, np.float32)]
)
def test_a_gradient_that_underflows_to_zero_is_named_in_the_message(scale, dtype):
    """``scale * x . x`` with ``scale`` so small that the gradient rounds to exactly 0 in
    ``x``'s dtype while ``f`` does not: at ``x0`` (``1e-46`` in float32), or after steps
    whose gradient was subnormal from ``x0`` on (``1e-44``: ``f`` far above its minimum
    where it underflows). The run ends ``CONVERGED`` at ``g = 0`` and the message says the
    gradient may have underflowed and how to rescale ``f``. A genuine stationary start
    (``f = x . x`` at ``x0 = 0``) converges silently."""
    x0 = np.ones(3, dtype)
    res = lfso.minimize(
        lambda x: scale * float(x @ x),
        x0,
        grad=lambda x: np.asarray(2 * scale * x, dtype=dtype),
        monitor="quiet",
    )
    assert res.status is Status.CONVERGED and res.grad_norm == 0.0 < res.fun
    assert (res.nit == 0) is (scale != 1e-44)
    assert "gradient may have underflowed" in res.message and "multiply f" in res.message
    for start in (np.zeros(3, dtype), np.zeros(3)):
        ok = lfso.minimize(lambda x: float(x @ x), start, grad=lambda x: 2 * x, monitor="quiet")
        assert ok.status is Status.CONVERGED and ok.message == Status.CONVERGED.message
