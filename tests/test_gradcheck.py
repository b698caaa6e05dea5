"""Wrong gradients: lfso.check_grad, and the safeguard's check that stops a crawling run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lfso
from lfso._gradcheck import central_difference
from lfso.models import LogisticRegression, PowerSum


def quartic(x):
    return float(np.sum(x**4))


def quartic_grad(x):
    return 4 * x**3


def smooth(x):
    return float(np.sum(np.exp(0.5 * x)) + np.sum(np.sin(x) * x[::-1]))


def smooth_grad(x):
    return 0.5 * np.exp(0.5 * x) + np.cos(x) * x[::-1] + np.sin(x)[::-1]


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_right_gradient_passes_and_a_wrong_one_fails(scale, dtype):
    """A right gradient is never failed: it passes at every scale in float64 (at 1e-6 the
    first difference's bound, ``1e-16`` from a step of ``6e-6``, covers derivatives near
    ``1e-17``, and shorter steps resolve them) and in float32 up to 1; in float32 at 1e3
    and above the random directions' ``g . v`` cancel entries of ``1e10`` down to ``1e9``,
    which ``f``'s rounding swamps (bounds above ``|fd|``), so it is inconclusive, not
    passed. A wrong sign fails where the difference's step (``eps^(1/3) max(1, |x_i|)`` per
    entry, SciPy's habit of an absolute step below 1) resolves the derivative, and a 1%
    slip fails in float64 there."""
    x = (np.linspace(-1.0, 1.5, 6) * scale).astype(dtype)
    check = lfso.check_grad(quartic, x, grad=quartic_grad)
    if dtype == np.float32 and scale >= 1e3:
        assert not check.passed and not check.conclusive, check
        assert str(check).startswith("INCONCLUSIVE") and "swamps" in str(check)
    else:
        assert check.passed, check
    if scale >= 1e-2:
        assert not lfso.check_grad(quartic, x, grad=lambda x: -quartic_grad(x)).passed
    if scale >= 1e-2 and dtype == np.float64:
        wrong = lfso.check_grad(quartic, x, grad=lambda x: quartic_grad(x) * 1.01)
        assert not wrong.passed and 0.005 < wrong.worst < 0.02


def test_an_agreement_within_a_bound_larger_than_the_difference_is_inconclusive():
    """float32's ``sum(x**4)`` at an entry of -1.08 beside one of 10: the difference along
    that entry is ``-4.93 +- 6.4`` (``f``'s rounding), so a ``g_0`` 1.5 times too long
    (-7.54) agreed and passed; no evidence either way, so inconclusive. A zero entry beside
    larger ones, checked as finely as the rest, and a zero gradient at a minimiser pass."""
    x = np.array([-1.07928, -2.694177, -6.1670265, 10.073308], dtype=np.float32)

    def wrong(x):
        g = quartic_grad(x)
        g[0] *= 1.5
        return g

    check = lfso.check_grad(quartic, x, "all", grad=wrong)
    assert not check.passed and not check.conclusive, check
    assert str(check).startswith("INCONCLUSIVE")
    assert lfso.check_grad(quartic, np.zeros(3), grad=quartic_grad).passed

    def fun(x):
        return float(x[0] ** 2 + x[1] ** 4 + np.sin(x[2]))

    def grad(x):
        return np.array([2 * x[0], 4 * x[1] ** 3, np.cos(x[2])], dtype=x.dtype)

    for dtype in (np.float32, np.float64):
        assert lfso.check_grad(fun, np.array([1.0, 0.0, 0.3], dtype), "all", grad=grad).passed


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("big", [1e4, 1e6, 1e8])
def test_a_right_gradient_at_entries_of_far_apart_scales_passes(big, seed):
    """An entry of 1 beside one of ``big``: a step sized by ``||x||`` moved the entry of 1
    by ``eps^(1/3) big`` (600 at 1e8), where ``f`` is no longer near its tangent; each entry
    now moves by at most ``eps^(1/3)`` times its own scale, and a 1% slip still fails."""
    x = np.array([1.0, big, -0.5])

    def fun(x):
        return float(np.log1p(x[0] ** 2) + np.sin(x[2]) + (x[1] / big) ** 2)

    def grad(x):
        return np.array([2 * x[0] / (1 + x[0] ** 2), 2 * x[1] / big**2, np.cos(x[2])])

    check = lfso.check_grad(fun, x, grad=grad, seed=seed)
    assert check.passed, check
    assert not lfso.check_grad(fun, x, grad=lambda x: 1.01 * grad(x), seed=seed).passed


@pytest.mark.parametrize("seed", range(3))
def test_a_big_entry_s_rounded_step_is_not_taken_for_a_wrong_gradient(seed):
    """A step of a few ulps of an entry of 1e8 (cut to the entry of 2's scale) rounds: ``g``
    is taken along the step as rounded, so a right gradient passes and a 1% slip fails."""
    x = np.array([2.0, 1e8 + 1.0, 0.5])

    def fun(x):
        return float((x[0] - 1) ** 2 + (x[1] - 1e8) ** 2 + x[2] ** 2)

    def grad(x):
        return np.array([2 * (x[0] - 1), 2 * (x[1] - 1e8), 2 * x[2]])

    check = lfso.check_grad(fun, x, grad=grad, seed=seed)
    assert check.passed and check.worst < 1e-8, check
    assert not lfso.check_grad(fun, x, grad=lambda x: 1.01 * grad(x), seed=seed).passed


@pytest.mark.parametrize("seed", range(5))
def test_random_smooth_functions_pass_and_a_swapped_gradient_fails(seed):
    x = np.random.default_rng(seed).standard_normal(7) * 3
    assert lfso.check_grad(smooth, x, grad=smooth_grad, directions=6, seed=seed).passed
    swapped = lambda x: smooth_grad(x)[::-1]  # noqa: E731
    assert not lfso.check_grad(smooth, x, grad=swapped, directions=6, seed=seed).passed


def test_check_grad_takes_models_and_fun_returning_both():
    X = np.random.default_rng(0).standard_normal((30, 4))
    model = LogisticRegression(X, (X[:, 0] > 0).astype(int), l2=0.1)
    result = lfso.check_grad(model, np.ones(4))
    assert result.passed and len(result.derivatives) == 5 and "PASSED" in str(result)
    both = lfso.check_grad(lambda x: (quartic(x), quartic_grad(x)), np.ones(3), grad=True)
    assert both.passed and both.worst < 1e-8


def test_central_difference_removes_the_h2_term_and_bounds_its_error():
    """Exact for a quartic along a line (Richardson leaves no h^2 term, h^4 is ~1e-20)."""
    x, v = np.array([0.3, -2.0, 1.1]), np.array([0.6, 0.0, 0.8])
    fd, error = central_difference(quartic, x, v)
    exact = float(quartic_grad(x) @ v)
    assert abs(fd - exact) <= error and error < 1e-8 * abs(exact)


@pytest.mark.parametrize(
    ("fun", "grad", "named"),
    [
        (quartic, lambda x: np.array([np.nan, 4.0, 4.0]), "grad(x) is not finite"),
        (quartic, lambda x: np.array([np.inf, 4.0, 4.0]), "grad(x) is not finite"),
        (lambda x: float("nan"), quartic_grad, "f is not finite"),
        (lambda x: 1e307 * quartic(x), lambda x: 1e307 * quartic_grad(x), "f is not finite"),
    ],
)
def test_a_non_finite_gradient_or_value_is_named(fun, grad, named):
    """A NaN or infinite gradient (or ``f``) fails the check and the printed verdict says
    which, rather than only a NaN disagreement."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = lfso.check_grad(fun, np.ones(3), grad=grad)
    assert not check.passed and named in str(check)


@pytest.mark.parametrize(
    ("small", "dtype"), [(1e-4, np.float64), (1e-2, np.float64), (1e-1, np.float32)]
)
def test_directions_all_checks_each_entry_on_its_own(small, dtype):
    """An entry of ``small`` beside one of 2, wholly wrong (0) or 10% off: ``g . v`` along
    random directions can be within ``rtol`` of the difference, each entry's own is not
    (where the dtype's rounding of ``f`` resolves the entry: float32 does not at 1e-4)."""
    x = np.array([1.0, 0.3, -0.7], dtype=dtype)

    def fun(x):
        return float(x[0] ** 2 + small * np.sin(x[1]) + np.cos(x[2]))

    def grad(x, k=1.0):
        return np.array([2 * x[0], k * small * np.cos(x[1]), -np.sin(x[2])])

    rtol = 1e-3 if dtype == np.float32 else 1e-4
    for every in ("all", 4):
        assert lfso.check_grad(fun, x, grad=grad, directions=every, rtol=rtol).passed
    for k in (0.0, 1.1):
        wrong = lambda x, k=k: grad(x, k)  # noqa: E731
        assert not lfso.check_grad(fun, x, grad=wrong, directions="all", rtol=rtol).passed
    with pytest.raises(ValueError, match="directions must be an integer >= 0 or 'all'"):
        lfso.check_grad(fun, x, grad=grad, directions="al")


KINKS = [
    (lambda x: float(np.abs(x).sum()), np.sign, [0.0, 1.0]),
    (lambda x: float(np.maximum(x, 0.0).sum()), lambda x: (x > 0) * 1.0, [0.0]),
    (lambda x: float(abs(x[0] - 1) + x[1] ** 2), lambda x: np.array([0.0, 2 * x[1]]), [1.0, 3.0]),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("fun", "grad", "x"), KINKS)
def test_a_kink_at_x_is_named_not_differentiable(fun, grad, x, dtype, seed):
    """``|x|`` or ``max(x, 0)`` at 0: the one-sided differences disagree, and the check says
    ``f`` is not differentiable there instead of passing or blaming the gradient."""
    check = lfso.check_grad(fun, np.array(x, dtype=dtype), grad=grad, seed=seed)
    assert not check.passed and not check.differentiable
    assert "NOT DIFFERENTIABLE" in str(check)


@pytest.mark.parametrize("scale", [1e-8, 1e-3, 1.0, 1e3])
@pytest.mark.parametrize("size", [1e-6, 1e-2, 1.0, 10.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smooth_functions_are_not_taken_for_kinks(scale, size, dtype):
    """Curvature (``x^2``) or a higher term that swamps it near 0 (``x^4`` at ``1e-6``)
    makes the one-sided differences part at the rate of the step, not a kink."""
    x = (np.linspace(-1.0, 1.5, 6) * size).astype(dtype)
    for fun, grad in ((quartic, quartic_grad), (smooth, smooth_grad)):
        check = lfso.check_grad(
            lambda x, fun=fun: scale * fun(x), x, grad=lambda x, grad=grad: scale * grad(x)
        )
        assert check.passed and check.differentiable, check


@pytest.mark.parametrize(
    "bad",
    [
        {"directions": -1},
        {"seed": -2},
        {"rtol": -1.0},
    ],
)
def test_check_grad_rejects_bad_arguments_by_name(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        lfso.check_grad(quartic, np.ones(3), grad=quartic_grad, **bad)


def test_seed_takes_none_and_a_generator_as_scipy_does():
    """None: fresh directions; a Generator: used as is (its stream decides, and advances)."""
    x, wrong = np.ones(3), lambda x: quartic_grad(x) + np.array([0.0, 1.0, 0.0])
    assert lfso.check_grad(quartic, x, grad=quartic_grad, seed=None).passed
    assert not lfso.check_grad(quartic, x, grad=wrong, seed=None).passed
    same = [lfso.check_grad(quartic, x, 2, grad=wrong, seed=np.random.default_rng(7)) for _ in "ab"]
    assert same[0].derivatives == same[1].derivatives
    rng = np.random.default_rng(7)
    first = lfso.check_grad(quartic, x, 2, grad=wrong, seed=rng)
    second = lfso.check_grad(quartic, x, 2, grad=wrong, seed=rng)
    assert first.derivatives[1:] != second.derivatives[1:]  # (the stream advanced)
    for bad, error in [(0.5, TypeError), (True, TypeError), ("1", TypeError), (-2, ValueError)]:
        with pytest.raises(error, match=f"seed must be .*got seed={bad!r}"):
            lfso.check_grad(quartic, x, grad=quartic_grad, seed=bad)


def test_a_model_s_own_gradient_is_checked_and_a_grad_beside_it_refused():
    model = PowerSum(2)
    with pytest.raises(TypeError, match="grad= is for a plain function"):
        lfso.check_grad(model, np.ones(3), grad=lambda x: 0.0 * x)


def test_a_nan_gradient_fails_with_a_nan_disagreement():
    check = lfso.check_grad(quartic, np.ones(3), grad=lambda x: np.full(3, np.nan))
    assert not check.passed and np.isnan(check.worst) and "disagreement nan" in str(check)
    inf = lfso.check_grad(quartic, np.ones(3), grad=lambda x: np.full(3, np.inf))
    assert not inf.passed and not inf.worst <= 1.0


@pytest.mark.parametrize("wrong", [np.full(3, np.nan), np.array([np.inf, 0.0, 0.0]), np.zeros(3)])
def test_a_gradient_giving_no_descent_direction_is_checked_with_no_random_one(wrong):
    """A NaN, infinite or zero gradient gives no direction ``-g``: with ``directions=0``
    nothing was checked and the check passed; one random direction is taken instead."""
    check = lfso.check_grad(quartic, np.ones(3), 0, grad=lambda x: wrong)
    assert not check.passed and len(check.derivatives) == 1, check
    assert lfso.check_grad(PowerSum(2), np.zeros(3), 0).passed  # (a right zero gradient)


def test_a_check_s_truth_value_is_its_verdict():
    assert lfso.check_grad(quartic, np.ones(3), grad=quartic_grad)
    assert not lfso.check_grad(quartic, np.ones(3), grad=lambda x: -quartic_grad(x))


def test_check_grad_takes_x_in_the_model_s_library_and_dtype():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(20, 3, generator=gen)
    for model in (
        lfso.models.LpRegression(A, torch.randn(20, generator=gen), 2),
        LogisticRegression(A, (A[:, 0] > 0).float(), l2=0.1),
    ):
        for x in (np.zeros(3, np.float32), np.ones(3), torch.ones(3, dtype=torch.float64)):
            assert lfso.check_grad(model, x).passed


def test_check_grad_needs_a_gradient():
    with pytest.raises(TypeError, match="gradient"):
        lfso.check_grad(quartic, np.ones(3))


@pytest.mark.parametrize("method", [None, "lfso", "lfso-lbfgs"])
def test_a_wrong_gradient_stops_the_run_at_once_with_a_status_naming_it(method):
    options = {} if method is None else {"method": method, "smoothness": "auto"}
    with pytest.warns(lfso.monitor.RiskWarning, match="check_grad"):
        res = lfso.minimize(quartic, np.ones(3), grad=lambda x: -quartic_grad(x), **options)
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert res.nit <= 12 and "check_grad" in res.message and "gradient" in res.message
    assert res.risks["gradient"]["count"] == 1
    assert res.fun == 3.0 and np.array_equal(res.x, np.ones(3))  # the best point: x0


def test_a_gradient_off_by_a_sign_in_one_coordinate_is_caught():
    def grad(x):
        g = quartic_grad(x)
        g[1] = -g[1]
        return g

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(quartic, np.array([1.0, 2.0, -1.0]), grad=grad, max_iter=2000)
    assert res.status is lfso.Status.GRADIENT_MISMATCH


@pytest.mark.parametrize("smoothness", ["auto", "oracle"])
@pytest.mark.parametrize("factor", [2.0, 3.0, 10.0])
def test_a_gradient_several_times_too_long_is_caught(factor, smoothness):
    """Along ``-k grad f`` every trial falls short of the decrease the gradient promises
    (and none raises ``f``): the steps crawl at the rounding allowance, f barely moves.
    Twice too long, ``f`` falls by exactly half of what the gradient predicts."""

    def fun(x):
        return float(np.sum(x**4) + np.sum(x**2))

    def oracle(x, R):
        return 12 * (float(np.max(np.abs(x))) + R) ** 2 + 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            fun,
            np.array([1.0, 2.0, -0.7]),
            grad=lambda x: factor * (4 * x**3 + 2 * x),
            smoothness=oracle if smoothness == "oracle" else "auto",
            method="lfso",
            max_iter=1000,
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and res.nit < 100


@pytest.mark.parametrize("smoothness", ["auto", "oracle"])
def test_a_wrong_gradient_whose_trial_steps_all_fail_is_named(smoothness):
    """Every trial along ``-g`` raises ``f`` until the safeguard gives up: the gradient
    at the best point is checked before the run reports the steps, and it is wrong."""
    start = np.full(5, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            square,
            start,
            grad=WRONG_GRADIENTS["negated"],
            smoothness=2.0 if smoothness == "oracle" else "auto",
            method="lfso",
            max_rollbacks=3,
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert "trial steps rejected" in res.message and "check_grad" in res.message
    assert res.fun == square(start) and res.rollbacks == 4


def test_a_right_gradient_whose_trial_steps_all_fail_stays_a_step_failure():
    """``|x|^1.5`` has no Lipschitz gradient at 0, and an oracle that says 1 is wrong:
    the trials fail while the gradient is right, so the status names the steps."""

    def fun(x):
        return float(np.sum(np.abs(x) ** 1.5))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            fun,
            np.full(3, 1e-6),
            grad=lambda x: 1.5 * np.sign(x) * np.abs(x) ** 0.5,
            smoothness=1.0,
            method="lfso",
            max_rollbacks=0,
        )
    assert res.status is lfso.Status.STEP_FAILED


@pytest.mark.parametrize("smoothness", [2.0, 4.0])
def test_lbfgs_along_a_gradient_twice_too_long_is_caught(smoothness):
    """Each iteration's first trial falls short of its claim and is rolled back; the bound
    it teaches sizes a tiny step that meets its claim (``f`` fell by ``1.5e-7`` per
    iteration from 5): those steps count as stalled, and the check names the gradient."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            square,
            np.ones(5),
            grad=lambda x: 4 * x,
            smoothness=smoothness,
            method="lfso-lbfgs",
            max_iter=1000,
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and res.nit < 100
    assert "check_grad" in res.message


def _float32_least_squares():
    """``f`` computed in float32 at a float64 point (data kept in float32), and its gradient."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 5)).astype(np.float32)
    b = rng.standard_normal(50).astype(np.float32)

    def fun(x):
        return float(0.5 * np.sum((A @ x.astype(np.float32) - b) ** 2))

    def grad(x):
        return (A.T @ (A @ x.astype(np.float32) - b)).astype(np.float64)

    return fun, grad


def test_check_grad_passes_a_right_gradient_of_a_function_computed_in_float32():
    """The values' rounding is float32's though ``x`` is float64 (each value a float32):
    the error bound allows for it (it took float64's, and every such check failed)."""
    fun, grad = _float32_least_squares()
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal(5)
        check = lfso.check_grad(fun, x, grad=grad)
        assert check.passed, check
    assert not lfso.check_grad(fun, x, grad=lambda x: 3.0 * grad(x)).passed


@pytest.mark.parametrize("factor", [1.02, 1.05, 0.9])
def test_a_gradient_a_few_per_cent_off_of_a_function_computed_in_float32_is_caught(factor):
    """At float64's step a float32 function's rounding swamps its differences (an error bound
    of about 10 per cent); at float32's step the check sees a gradient 2 per cent off."""
    fun, grad = _float32_least_squares()
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal(5)
        assert lfso.check_grad(fun, x, grad=grad).passed
        check = lfso.check_grad(fun, x, grad=lambda x: factor * grad(x))
        assert not check.passed, check


@pytest.mark.parametrize("seed", [0, 3])
def test_a_right_gradient_of_a_function_partly_in_float32_is_not_flagged(seed):
    """Part of ``f`` in float32 (its values are no float32's, so their dtype cannot tell):
    at the rounding floor its finite differences are noise, which the longer differences
    that must confirm a mismatch see through."""
    fun32, grad32 = _float32_least_squares()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            lambda x: fun32(x) + 0.05 * float(x @ x),
            3.0 * np.random.default_rng(seed).standard_normal(5),
            grad=lambda x: grad32(x) + 0.1 * x,
            method="lfso-lbfgs",
            tol=0.0,
            max_iter=1500,
        )
    assert res.status is not lfso.Status.GRADIENT_MISMATCH


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_right_gradients_at_the_limit_of_floating_point_are_not_flagged(method, monkeypatch):
    """Runs that stall at rounding (tol=0, many iterations past convergence): the
    safeguard checks the gradient there, and never reports a mismatch."""
    from lfso.steps import _safeguard as safeguard

    checks = []
    check = safeguard._check_gradient
    monkeypatch.setattr(safeguard, "_check_gradient", lambda *a: checks.append(check(*a)))
    for x0 in (np.ones(4), np.linspace(-2.0, 3.0, 5)):
        for fun, grad in ((quartic, quartic_grad), (smooth, smooth_grad)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = lfso.minimize(
                    fun, x0, grad=grad, method=method, smoothness="auto", tol=0.0, max_iter=400
                )
            assert res.status is not lfso.Status.GRADIENT_MISMATCH
            assert "gradient" not in res.risks
    assert checks  # (the check ran, and passed)


def test_a_model_with_a_right_gradient_and_the_safeguard_is_not_flagged():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            PowerSum(3), np.linspace(1.0, 2.0, 4), safeguard=True, tol=0.0, max_iter=300
        )
    assert res.status is not lfso.Status.GRADIENT_MISMATCH


def square(x):
    return float(np.sum(x**2))


#: Gradients of ``square`` that are wrong: off by a sign, shifted, scaled by 1e3.
WRONG_GRADIENTS = {
    "negated": lambda x: -2 * x,
    "shifted": lambda x: 2 * x + 1,
    "scaled": lambda x: 2e3 * x,
}


@pytest.mark.parametrize(
    ("wrong", "x0"),
    [("negated", 1.0), ("scaled", 1.0), ("negated", -0.4), ("shifted", -0.4), ("scaled", -0.4)],
)
def test_a_wrong_gradient_stops_safeguarded_lfso_accel_early(wrong, x0):
    """Every trial along -g raises f or falls short of the decrease it claims: the
    safeguard's steps stall, and its check stops the run instead of crawling to max_iter."""
    start = np.full(5, x0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            square, start, grad=WRONG_GRADIENTS[wrong], method="lfso-accel", smoothness=2.0
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert res.nit < 100 and "check_grad" in res.message
    assert res.fun <= square(start)


@pytest.mark.parametrize("method", ["lfso-accel", "lfso"])
@pytest.mark.parametrize("wrong", ["negated", "scaled"])
def test_a_wrong_gradient_whose_squared_norm_overflows_is_caught(wrong, method):
    """``f = 1e160 ||x||^2`` at ``x = 1``: ``||g||^2 ~ 2e321`` is past the float range, but
    ``g . u = -||g||`` along ``u = -g / ||g||`` is not, and the check runs."""
    start = np.ones(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            lambda x: 1e160 * square(x),
            start,
            grad=lambda x: 1e160 * WRONG_GRADIENTS[wrong](x),
            method=method,
            smoothness=2e160,
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert res.nit < 100 and "check_grad" in res.message


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("factor", [-1.0, 2.5])
@pytest.mark.parametrize("scale", [1e300, 1e307])
def test_a_wrong_gradient_at_the_edge_of_the_float_range_is_named(scale, factor, method):
    """``f = 1e300 ||x||^2``: the safeguard's trials shrink until the bound times the
    inflation passes the float range (a step of 0, at iteration 0); a finite difference of
    ``f`` at the best point (in units of ``|f|``, so it does not overflow at ``1e307``)
    names the gradient, where a right one stops ``PRECISION_LIMIT``
    (``tests/test_float_runs.py``)."""
    start = np.full(5, 1.5)  # (f(x0) = 1.1e308 at 1e307: 4 f's slope is past the range)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            lambda x: scale * square(x),
            start,
            grad=lambda x: factor * scale * 2 * x,
            method=method,
            smoothness=2 * scale,
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert "check_grad" in res.message and "float range" in res.message
    assert res.fun == scale * square(start) and res.rollbacks > 0


@pytest.mark.parametrize("method", ["bb", "armijo"])
@pytest.mark.parametrize("wrong", ["negated", "shifted"])
def test_a_wrong_gradient_stops_a_line_search_early(method, wrong):
    """Each search shrinks its step until it changes f by rounding alone: after a few
    such steps a finite difference along -g stops the run, rather than a budget of
    searches of a hundred trials each."""
    start = np.full(5, -0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(square, start, grad=WRONG_GRADIENTS[wrong], method=method)
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert res.nit < 100 and "check_grad" in res.message
    assert res.fun <= square(start)


@pytest.mark.parametrize("method", ["bb", "armijo"])
def test_line_searches_at_the_limit_of_floating_point_are_not_flagged(method):
    for x0 in (np.ones(4), np.linspace(-2.0, 3.0, 5)):
        for fun, grad in ((quartic, quartic_grad), (smooth, smooth_grad)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = lfso.minimize(fun, x0, grad=grad, method=method, tol=0.0, max_iter=400)
            assert res.status is not lfso.Status.GRADIENT_MISMATCH


PEERS = [("gd", {"step": 0.1}), ("adgd", {}), ("nesterov", {"step": 0.1}), ("dog", {})]


@pytest.mark.parametrize(("method", "options"), PEERS)
def test_a_peer_converging_above_f_x0_on_a_wrong_gradient_reports_the_mismatch(method, options):
    """2 x + 1 vanishes at x = -1/2, where f is above f(x0): not a success, and the
    point returned is the best one seen (x0), not the one the gradient led to."""
    start = np.full(5, -0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            square, start, grad=WRONG_GRADIENTS["shifted"], method=method, **options
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert "above f(x0)" in res.message and "check_grad" in res.message
    assert res.fun == square(start) and np.array_equal(res.x, start)


def test_a_right_gradient_converging_above_f_x0_converges_saying_so():
    """A step of 1.5 jumps out of the deep well at 0 into the valley at 5, higher: a
    stationary point of f, so converged, with the message saying f rose."""

    def fun(x):
        return float(np.sum(0.1 * (x - 5) ** 2 - 3 * np.exp(-2 * x**2)))

    def grad(x):
        return 0.2 * (x - 5) + 12 * x * np.exp(-2 * x**2)

    start = np.array([-0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(fun, start, grad=grad, method="gd", step=1.5)
    assert res.status is lfso.Status.CONVERGED and res.success
    assert res.fun > fun(start) and abs(res.x[0] - 5.0) < 1e-3
    assert "above f(x0)" in res.message


@pytest.mark.parametrize(("method", "options"), [("gd", {"step": 1.0}), ("adgd", {})])
def test_a_convex_run_overshooting_past_a_relative_tolerance_does_not_converge(method, options):
    """Logistic regression with one row of size 1e17: ``||g(x0)||`` (1e12) is that row's,
    and one step fits it and sends ``f`` from 0.69 to 5e14 where the other rows' gradient
    (0.6) passes ``tol ||g(x0)||``. ``f`` is convex: no stationary point there, and the
    gradient says ``f`` falls toward ``x0``; the run stops ``DIVERGED`` at ``x0``, not
    ``CONVERGED`` at the point 5e14 above it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(30) > 0).astype(int)
    X[0] *= 1e17
    model = LogisticRegression(X, y)
    start = np.zeros(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, start, method=method, **options)
    assert res.status is lfso.Status.DIVERGED and not res.success, res.message
    assert res.fun == model.value(start) and np.array_equal(res.x, start)
    assert "overshot" in res.message


def test_a_run_stuck_past_an_overshoot_does_not_recheck_it_at_every_iteration():
    """The overshoot of the test above with steps too short to leave it: ``||g||`` passes
    the tolerance at every iteration, and the check that finds the overshoot (four
    evaluations of ``f``) runs again only once every ``STALL_ITERATIONS`` iterations or
    where ``f`` moved, not at each; the run is not named converged."""
    from lfso._result import STALL_ITERATIONS

    max_iter = 3 * STALL_ITERATIONS
    res, start = _stuck_past_an_overshoot(max_iter)
    assert res.status is lfso.Status.MAX_ITER and not res.success, res.message
    assert np.array_equal(res.x, start)
    checks = max_iter // STALL_ITERATIONS + 1
    assert res.nfev <= max_iter + 1 + 4 * checks + 2, res.nfev


def _stuck_past_an_overshoot(max_iter):
    """Logistic regression with row 0 scaled by ``1e17``: ``gd``'s first step overshoots,
    and its steps from there are too short to leave; the result and ``x0``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(30) > 0).astype(int)
    X[0] *= 1e17
    start = np.zeros(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            LogisticRegression(X, y), start, method="gd", step=1e-14, max_iter=max_iter
        )
    return res, start


def test_a_run_that_ends_past_an_overshoot_says_so_not_to_raise_max_iter():
    """The run of the test above ends ``MAX_ITER`` at the overshoot point: its message
    said "increase max_iter or loosen tol" (the finding cleared as the run went on); it
    names the overshoot, the steps too short to leave it."""
    res, _ = _stuck_past_an_overshoot(50)
    assert res.status is lfso.Status.MAX_ITER
    assert "stopped past an overshoot" in res.message, res.message
    assert "the steps overshot, not a stationary point" in res.message
    assert "increase max_iter" not in res.message
    assert f"above f(x0) = {res.fun:.6g}" in res.message  # (x0 is the best point)


def test_a_right_gradient_converging_above_f_x0_where_f_bends_below_the_step():
    """The valley at 5 of the test above with ``2e-7 |x - 5|`` smoothed within ``2e-7``:
    the converged point's difference (length ``3e-5``) spans the bend and sees another
    slope; a shorter one resolves it, and the right gradient is not named wrong."""
    w = 2e-7

    def fun(x):
        y = (x - 5) / w
        return float(
            np.sum(0.1 * (x - 5) ** 2 - 3 * np.exp(-2 * x**2) + w * w * np.logaddexp(y, -y))
        )

    def grad(x):
        return 0.2 * (x - 5) + 12 * x * np.exp(-2 * x**2) + w * np.tanh((x - 5) / w)

    start = np.array([-0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(fun, start, grad=grad, method="gd", step=1.5)
    assert res.status is lfso.Status.CONVERGED and res.success, res.message
    assert res.fun > fun(start) and abs(res.x[0] - 5.0) < 1e-3
    assert "above f(x0)" in res.message


def test_a_gradient_too_short_where_f_bends_below_the_step_is_named_wrong():
    """The valley at 5 above plus ``0.01 |x - c|`` smoothed within ``1e-9``, its kink
    ``3e-6`` past the converged point (inside the difference's length, ``3e-5``), with the
    gradient of the valley alone: ``f`` falls at ``0.01`` per unit length there where the
    gradient says ``3e-8``. The shorter difference, settled, shows that decrease, far
    larger than the gradient's, and the run no longer converges there as at a stationary
    point "where a finite difference of f agrees with the gradient"."""

    def valley(x):
        return float(np.sum(0.1 * (x - 5) ** 2 - 3 * np.exp(-2 * x**2)))

    def grad(x):
        return 0.2 * (x - 5) + 12 * x * np.exp(-2 * x**2)

    start = np.array([-0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        end = lfso.minimize(valley, start, grad=grad, method="gd", step=1.5).x
        c = end[0] + 3e-6  # (the iterates follow the gradient alone: the same with the kink)

        def fun(x):
            return valley(x) + float(np.sum(0.01 * np.sqrt((x - c) ** 2 + 1e-18)))

        res = lfso.minimize(fun, start, grad=grad, method="gd", step=1.5)
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success, res.message
    assert res.fun == fun(start) and np.array_equal(res.x, start)


@pytest.mark.parametrize(("method", "options"), [("gd", {"step": 0.1}), ("dog", {})])
def test_a_peer_diverging_on_a_negated_gradient_reports_the_mismatch(method, options):
    """``-2 x`` sends ``f`` up to the float range (DoG: 9e307 by ``max_iter``): the run
    stops once it has gone 1,000 iterations without a new low, and a finite difference at
    the best point names the gradient as wrong."""
    start = np.ones(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            square, start, grad=WRONG_GRADIENTS["negated"], method=method, **options
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH and not res.success
    assert "diverged" in res.message and "check_grad" in res.message
    assert res.nit == lfso._result.STALL_ITERATIONS
    assert res.fun == square(start) and np.array_equal(res.x, start)


def test_a_built_in_model_bending_within_the_difference_is_not_named_a_mismatch():
    """Logistic regression on a row of size 1e17 (float32): ``f`` bends within 1e-17 of
    ``x``, far inside the central difference's length (5e-3), so the difference at the best
    point of the accelerated run, which diverges there, differs from the exact gradient by
    its truncation alone; the model's proven curvature bound says so, and the run stops
    ``DIVERGED``, not ``GRADIENT_MISMATCH`` (whose message blamed the gradient)."""
    X = np.array([[-6.4e16, 1.3e17, -1.5e17]], dtype=np.float32)
    model = LogisticRegression(X, np.ones(1, np.float32), l2=1e-3, fit_intercept=True)
    start = np.array([-1e-10, 2e-10, -1e-10, 1e-10], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(model, start, method="lfso-accel", max_iter=200, monitor=False)
    assert res.status is lfso.Status.DIVERGED, res.message
    assert res.fun == model.value(res.x) == min(res.history.f)


_BEND_A = np.random.default_rng(1).standard_normal((8, 5))
_BEND_C = np.linspace(-1.0, 1.0, 5)


def _bend(x):
    """Least squares plus ``sum |y - c|`` smoothed within ``1/50``, at ``y = x / 1e-5``:
    ``f`` bends within ``2e-7`` of a point near ``1e-5``, far below the step ``eps^(1/3)``."""
    y = np.asarray(x, dtype=np.float64) / 1e-5
    r = _BEND_A @ y - _BEND_A @ _BEND_C
    return 1e10 * float(r @ r + np.sum(np.logaddexp(50 * (y - _BEND_C), -50 * (y - _BEND_C))) / 50)


def _bend_grad(x):
    y = np.asarray(x, dtype=np.float64) / 1e-5
    r = _BEND_A @ y - _BEND_A @ _BEND_C
    return (1e10 / 1e-5 * (2 * _BEND_A.T @ r + np.tanh(50 * (y - _BEND_C)))).astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_grad_shortens_the_step_where_f_bends_far_below_it(dtype):
    # The step eps^(1/3) spans the bend, where f looks like a quadratic with another
    # slope: the difference is taken again at shorter steps until one resolves it.
    x = ((_BEND_C + 0.005 * np.array([1.0, -2.0, 3.0, -1.0, 2.0])) * 1e-5).astype(dtype)
    check = lfso.check_grad(_bend, x, grad=_bend_grad)
    assert check.passed and check.conclusive, str(check)
    wrong = lfso.check_grad(_bend, x, grad=lambda z: 1.1 * _bend_grad(z))
    assert not wrong.passed and wrong.conclusive and str(wrong).startswith("FAILED")


def test_check_grad_is_inconclusive_where_no_step_resolves_the_bend():
    # f bends within 1e-16 of an x near 1e-8: no float64 step down to rounding resolves
    # it, and the check says so rather than blame the (right) gradient.
    c = 1e-8 * np.linspace(0.5, 1.5, 4)
    x = c + 1e-16 * np.array([1.5, -2.0, 0.7, 3.0])

    def fun(z):
        y = (z - c) / 1e-16
        return float(np.sum(1e-16 * np.logaddexp(y, -y)) + 0.5 * np.sum(z**2) / 1e-8)

    check = lfso.check_grad(fun, x, grad=lambda z: np.tanh((z - c) / 1e-16) + z / 1e-8)
    assert not check.passed and not check.conclusive
    assert str(check).startswith("INCONCLUSIVE")


@pytest.mark.parametrize(
    ("factor", "status"),
    [(1.0, "CONVERGED"), (3.0, "GRADIENT_MISMATCH"), (-1.0, "GRADIENT_MISMATCH")],
)
def test_safeguard_names_no_mismatch_where_f_bends_far_below_its_step(factor, status):
    # Near the minimum the safeguard's difference spans the bend and sees a kink; a
    # shorter one resolves it, and a right gradient is not named wrong (wrong ones are).
    grad = _bend_grad if factor == 1.0 else (lambda z: factor * _bend_grad(z))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            _bend, np.full(5, 2e-5), grad=grad, method="lfso", tol=1e-12, max_iter=3000
        )
    assert res.status.name == status, res.message


def test_check_grad_shortens_the_step_where_f_overflows_at_it():
    # cosh(x / 1e-6) is finite at x near 1e-6 and inf at x +- 5e-3 (float32's step).
    def fun(x):
        with np.errstate(over="ignore"):
            return float(1e-6 * np.sum(np.cosh(np.asarray(x, dtype=np.float64) / 1e-6)))

    x = np.array([1e-6, -2e-6, 0.5e-6], dtype=np.float32)
    check = lfso.check_grad(fun, x, grad=lambda z: np.sinh(z / 1e-6))
    assert check.passed, str(check)
    wrong = lfso.check_grad(fun, x, grad=lambda z: 2.0 * np.sinh(z / 1e-6))
    assert not wrong.passed and wrong.conclusive


def _log_cosh(x):
    """``sum log(cosh(1e4 x))`` in float32: at ``x`` near ``1e-5`` its values step by
    ``eps * cosh``, hundreds of their ulps, and it bends within ``1e-4`` of 0."""
    return float(np.sum(np.log(np.cosh(np.float32(1e4) * x))))


def _log_cosh_grad(x):
    return np.float32(1e4) * np.tanh(np.float32(1e4) * x)


@pytest.mark.parametrize(
    "x",
    [
        [1e-5, 1.15e-5, 1.3e-5],
        [-4.2e-7],
        [9.6e-6, 5.1e-6, 5.4e-6],
        [-1.21e-5, -3.86e-6, 9.61e-6, -9.76e-6],
    ],
)
@pytest.mark.parametrize("directions", [2, "all"])
def test_a_right_gradient_of_an_f_coarser_than_float32_is_not_called_wrong(x, directions):
    # Its shortest differences see steps of f's values, far above the rounding a few ulps
    # would give (a zero difference, or one of a single step): that is no evidence of a
    # wrong gradient (nor of a kink), so the check passes or says it cannot tell.
    x = np.array(x, dtype=np.float32)
    for seed in range(4):
        check = lfso.check_grad(_log_cosh, x, directions, grad=_log_cosh_grad, seed=seed)
        assert check.passed or not check.conclusive, str(check)
        assert check.differentiable, str(check)


@pytest.mark.parametrize(
    ("fun", "grad", "x"),
    [
        (_log_cosh, _log_cosh_grad, [1.17e-3, 1.3e-3, -9.9e-4]),
        (
            lambda x: float(np.sum(np.sin(np.float32(1e3) * x))),
            lambda x: np.float32(1e3) * np.cos(np.float32(1e3) * x),
            [-0.5695, -1.2842, -0.961, -0.0164],
        ),
    ],
)
def test_a_gradient_off_where_f_is_rough_on_the_step_s_scale_does_not_pass(fun, grad, x):
    # float32's step spans many of f's wiggles: the first difference's error bound is
    # mostly its truncation term, wide enough to take in a gradient 1.5 times too long in
    # one entry; shorter differences see it.
    x = np.array(x, dtype=np.float32)

    def wrong(z):
        g = grad(z).copy()
        g[0] *= 1.5
        return g

    for seed in range(12):
        right = lfso.check_grad(fun, x, grad=grad, seed=seed)
        assert right.passed or not right.conclusive, str(right)
        assert not lfso.check_grad(fun, x, grad=wrong, seed=seed).passed


@pytest.mark.parametrize(("method", "options"), [("gd", {"step": 0.25}), ("adgd", {})])
def test_a_run_converging_at_a_wrong_gradient_s_zero_reports_the_mismatch(method, options):
    # grad = 2 (x - 2) for f = sum((x - 1)^2): in float32 the steps land on x = 2 exactly,
    # where that gradient is 0 while f still fell along every step; the change of f over
    # the last steps, against the one the gradients predict, calls for a difference there.
    def fun(x):
        return float(np.sum((x - 1) ** 2))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = lfso.minimize(
            fun, np.zeros(3, np.float32), grad=lambda x: 2 * (x - 2), method=method, **options
        )
        right = lfso.minimize(
            fun, np.zeros(3, np.float32), grad=lambda x: 2 * (x - 1), method=method, **options
        )
    assert res.status is lfso.Status.GRADIENT_MISMATCH, res.message
    assert right.status is lfso.Status.CONVERGED, right.message
