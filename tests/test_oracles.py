"""Every built-in oracle is a valid LFSO: a Lipschitz bound on the ball, non-decreasing in R."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from cases import MODELS, dim_of
from hypothesis import given, settings
from hypothesis import strategies as st

import lfso
from lfso.models import LpRegression, PowerNorm, PowerSum


def _ball_point(rng: np.random.Generator, x: np.ndarray, radius: float) -> np.ndarray:
    u = rng.standard_normal(x.shape)
    return x + radius * rng.uniform() ** (1 / x.size) * u / np.linalg.norm(u)


def _max_ratio(model, x, radius, rng, samples=30):
    bound = model.at(x)(radius)
    worst = 0.0
    for _ in range(samples):
        y = _ball_point(rng, x, radius)
        # z near y probes local curvature, z far probes the whole ball.
        z = _ball_point(rng, x, radius) if rng.uniform() < 0.5 else y + 1e-4 * radius * (x - y)
        dist = np.linalg.norm(y - z)
        if dist == 0.0:
            continue
        worst = max(worst, np.linalg.norm(model.grad(y) - model.grad(z)) / dist)
    return worst / bound


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_r=st.floats(-3, 1), scale=st.floats(0.1, 2.0))
def test_oracle_bounds_gradient_lipschitz_on_ball(name, seed, log_r, scale):
    rng = np.random.default_rng(seed)
    model = MODELS[name](rng)
    x = scale * rng.standard_normal(dim_of(model))
    assert _max_ratio(model, x, 10.0**log_r, rng) <= 1.0 + 1e-9


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_oracle_is_positive_and_non_decreasing_in_radius(name, seed):
    rng = np.random.default_rng(seed)
    model = MODELS[name](rng)
    x = rng.standard_normal(dim_of(model))
    bound = model.at(x)
    radii = np.concatenate([[0.0], np.sort(10.0 ** rng.uniform(-6, 2, size=20))])
    values = np.array([bound(r) for r in radii])
    assert np.all(values > 0) and np.all(np.isfinite(values))
    assert np.all(np.diff(values) >= -1e-12 * values[:-1])
    # oracle(x, R) is the same number as the bound.
    assert model(x, radii[5]) == pytest.approx(values[5], rel=1e-12)


@pytest.mark.parametrize(
    "model, axis_point",
    [(PowerSum(3), np.array([1.0, 0.5, -0.2])), (PowerNorm(2), np.array([1.0, 0.5, -0.2]))],
)
def test_flat_oracles_are_attained(model, axis_point):
    """The power oracles are the exact supremum of the Hessian norm: the check has teeth."""
    radius = 0.5
    bound = model.at(axis_point)(radius)
    # Extreme point of the ball in the direction of x (largest |y_i| and ||y||).
    y = axis_point + radius * axis_point / np.linalg.norm(axis_point)
    if isinstance(model, PowerSum):
        y = axis_point.copy()
        y[0] += radius
    direction = y / np.linalg.norm(y) if isinstance(model, PowerNorm) else np.eye(3)[0]
    h = 1e-6
    ratio = np.linalg.norm(model.grad(y) - model.grad(y - h * direction)) / h
    assert ratio == pytest.approx(bound, rel=1e-4)


def test_sharp_oracles_never_exceed_the_papers():
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((30, 5)), rng.standard_normal(30)
    for p in (2, 3):
        sharp, paper = LpRegression(A, b, p), LpRegression(A, b, p, oracle="paper")
        ps, pp = PowerSum(p), PowerSum(p, oracle="paper")
        for _ in range(20):
            x = rng.standard_normal(5)
            for radius in 10.0 ** rng.uniform(-4, 1, size=5):
                assert sharp.at(x)(radius) <= paper.at(x)(radius) * (1 + 1e-12)
                assert ps.at(x)(radius) <= pp.at(x)(radius) * (1 + 1e-12)


def test_calculus_rules_compose_bounds():
    x = np.array([1.0, -2.0])
    c = lfso.oracles.ConstantOracle(3.0)
    assert 6.0 <= (c + c)(x, 1.0) <= 6.0 * (1 + 1e-15)  # (sums rounded up)
    assert 7.5 <= (2.5 * c)(x, 1.0) <= 7.5 * (1 + 1e-15)
    assert 3.5 <= lfso.oracles.ridge(c, 0.5)(x, 1.0) <= 3.5 * (1 + 1e-15)
    A = np.array([[2.0, 0.0], [0.0, 1.0]])
    inner = PowerNorm(2)
    affine = lfso.oracles.AffineOracle(inner, A, np.zeros(2))
    # ||A|| = 2: L = 4 * 12 (||Ax|| + 2R)^2
    assert affine(x, 0.5) == pytest.approx(4 * 12 * (np.linalg.norm(A @ x) + 1.0) ** 2)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda: lfso.oracles.ConstantOracle(-1.0), "lipschitz must be finite and positive"),
        (lambda: lfso.oracles.ConstantOracle(float("nan")), "lipschitz"),
        (
            lambda: 0.0 * lfso.oracles.ConstantOracle(1.0),
            "scaling factor must be finite and positive",
        ),
        (
            lambda: lfso.oracles.ridge(lfso.oracles.ConstantOracle(1.0), -1.0),
            "l2 must be finite and >= 0",
        ),
        (lambda: PowerNorm(0.5), "p must be finite and >= 1"),
        (lambda: PowerSum(2, oracle="exact"), "oracle must be 'sharp' or 'paper'"),
        (lambda: LpRegression(np.ones((3, 2)), np.ones(4), 2), r"b must have shape \(3,\)"),
        (lambda: LpRegression(np.ones(3), np.ones(3), 2), "A must be 2-D"),
        (lambda: LpRegression(np.full((3, 2), np.nan), np.ones(3), 2), "must be finite"),
        (
            lambda: lfso.models.LogisticRegression(np.ones((3, 2)), np.array([0, 1, 2])),
            "two classes",
        ),
        (lambda: lfso.models.L0L1Smooth(PowerNorm(1), 0.0, 0.0), "not both 0"),
    ],
)
def test_bad_oracle_and_model_arguments_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_value_and_grad_agree_with_evaluate_and_finite_differences(name):
    rng = np.random.default_rng(7)
    model = MODELS[name](rng)
    x = 0.5 * rng.standard_normal(dim_of(model))
    ev = model.evaluate(x, bound=False)
    assert model.value(x) == pytest.approx(ev.value, rel=1e-12)
    np.testing.assert_allclose(model.grad(x), ev.grad, rtol=1e-12)
    assert ev.grad_norm == pytest.approx(np.linalg.norm(ev.grad), rel=1e-12)
    h = 1e-6
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        fd = (model.value(x + e) - model.value(x - e)) / (2 * h)
        assert fd == pytest.approx(ev.grad[i], rel=1e-5, abs=1e-6 * (1 + abs(ev.value)))


def _value_cases() -> dict[str, Callable[..., lfso.models.Model]]:
    """Every built-in model of data ``(A, b, labels, classes)``, by name."""
    from lfso.models import CauchyRegression, CompositeLeastSquares, SoftmaxRegression

    cases: dict[str, Callable[..., lfso.models.Model]] = {}
    for p in (1.0, 1.5, 2.0, 3.0, 4.5):
        cases[f"lp-{p}"] = lambda A, b, y, k, p=p: LpRegression(A, b, p)
        cases[f"composite-{p}"] = lambda A, b, y, k, p=p: CompositeLeastSquares(A, b, p)
    for l2 in (0.0, 0.3, "per-feature"):
        for fit in (False, True):
            tag = f"{l2}-{'intercept' if fit else 'plain'}"
            weights = np.array([1e-4, 0.0, 1e4]) if l2 == "per-feature" else l2
            cases[f"logistic-{tag}"] = lambda A, b, y, k, w=weights, f=fit: (
                lfso.models.LogisticRegression(A, y, l2=w, fit_intercept=f)
            )
            cases[f"softmax-{tag}"] = lambda A, b, y, k, w=weights, f=fit: SoftmaxRegression(
                A, k, 3, l2=w, fit_intercept=f
            )
    for l2 in (0.0, 0.3):
        cases[f"cauchy-{l2}"] = lambda A, b, y, k, l2=l2: CauchyRegression(A, b, 1.0, l2=l2)
    for p in (1.0, 1.5, 3.0):
        cases[f"power-norm-{p}"] = lambda A, b, y, k, p=p: PowerNorm(p)
        cases[f"power-sum-{p}"] = lambda A, b, y, k, p=p: PowerSum(p)
    return cases


_VALUE_CASES = _value_cases()


#: ``(name, library)``: every model on NumPy and PyTorch CPU tensors, and those whose
#: evaluation has a compiled pass (lp, logistic, Cauchy) with it ("torch-compiled").
_VALUE_RUNS = [
    (name, library)
    for name in sorted(_VALUE_CASES)
    for library in ("numpy", "torch", "torch-compiled")
    if library != "torch-compiled" or name.startswith(("lp-", "logistic-", "cauchy-"))
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "library"), _VALUE_RUNS)
def test_value_is_the_evaluations_value_bit_for_bit(name, dtype, library, monkeypatch):
    """``model.value(x)`` is ``evaluate(x).value`` exactly (the same operations in the same
    order), so that ``value(res.x) == res.fun``: float32 data (sums of one order or another,
    a ridge added in float64 or in the data's dtype), float64 (a plain or a scaled sum),
    PyTorch CPU tensors, and the compiled passes an accelerator takes."""
    rng = np.random.default_rng(11)
    A = rng.standard_normal((40, 3)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    labels, classes = (b > 0).astype(dtype), rng.integers(0, 3, 40)
    context = contextlib.nullcontext()
    if library != "numpy":
        torch = pytest.importorskip("torch")
        A, b, labels, classes = map(torch.from_numpy, (A, b, labels, classes))
    if library == "torch-compiled":
        from lfso.bench import cpu_as_accelerator
        from lfso.models import _fused

        try:
            torch.compile(lambda v: v + 1.0)(torch.ones(2))
        except Exception:
            pytest.skip("torch.compile cannot compile here")
        monkeypatch.setattr(_fused, "MIN_ROWS", 2)
        monkeypatch.setattr(_fused, "_ENABLED", True)
        context = cpu_as_accelerator()
    model = _VALUE_CASES[name](A, b, labels, classes)
    with context:
        for scale in (0.5, 3.0, 30.0):
            point = (scale * rng.standard_normal(dim_of(model, 3))).astype(dtype)
            x = point if library == "numpy" else torch.from_numpy(point)
            assert model.value(x) == model.evaluate(x, bound=False).value, (scale, x)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("bound", [True, False])
def test_probe_and_hint_come_back_with_the_evaluation(name, bound):
    """``probe`` returns grad @ probe; ``hint`` returns the bound's own value there."""
    rng = np.random.default_rng(3)
    model = MODELS[name](rng)
    x = 0.5 * rng.standard_normal(dim_of(model))
    probe = rng.standard_normal(x.size)
    plain = model.evaluate(x, bound=bound)
    if "probe" in model.extras:
        ev = model.evaluate(x, bound=bound, probe=probe)
        assert ev.probe_dot == pytest.approx(float(plain.grad @ probe), rel=1e-10, abs=1e-12)
        assert ev.value == plain.value and ev.grad_norm == plain.grad_norm
    if "hint" in model.extras and bound:
        hinted = model.evaluate(x, hint=0.3).bound
        assert hinted.hint == 0.3 and hinted(0.3) == pytest.approx(plain.bound(0.3), rel=1e-12)


def test_cauchy_rejects_bad_scale():
    with pytest.raises(ValueError, match="c must be finite and positive"):
        lfso.models.CauchyRegression(np.ones((3, 2)), np.ones(3), c=0.0)
    with pytest.raises(ValueError, match="l2 must be finite and >= 0"):
        lfso.models.CauchyRegression(np.ones((3, 2)), np.ones(3), l2=-1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_affine_oracle_covers_the_rounding_of_its_inner_point(dtype):
    """``L_f`` is taken at the computed ``fl(Ax + b)``, which here cancels to 0 while the
    exact ``a x + b`` is not: at a radius below that residual the bound must still cover
    the Hessian of ``g(x) = (a x + b)^4``, ``12 a^2 (|a x + b| + |a| R)^2`` at its sup (a
    bound at the computed point alone was 312 times below it in float64)."""
    from fractions import Fraction

    A = np.array([[1.0 / 3.0]], dtype)
    b, x = np.array([-1.0], dtype), np.array([3.0], dtype)
    assert (A @ x + b)[0] == 0.0
    a = Fraction(float(A[0, 0]))
    residual = a * Fraction(float(x[0])) + Fraction(float(b[0]))
    assert residual != 0
    oracle = lfso.oracles.AffineOracle(PowerNorm(2), A, b)
    for radius in (1e-3 * abs(float(residual)), float(abs(residual)), 1.0):
        exact = 12 * a * a * (abs(residual) + abs(a) * Fraction(radius)) ** 2
        assert Fraction(oracle(x, radius)) >= exact, radius


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_affine_segment_covers_the_rounding_of_its_inner_line(dtype):
    """``f``'s segment is taken along the computed ``fl(A d)`` from the computed ``fl(Ax +
    b)``; where both cancel, the bound must still cover the exact line: against the exact
    curvature of ``g(x) = (a x + b)^4`` along ``d`` (``12 (a.d)^2`` times the largest
    ``(a.(x + s d) + b)^2``, ``s`` in ``[0, t]``) and of ``(a.x)^2 / 2`` (``(a.d)^2``)."""
    from fractions import Fraction

    A = np.array([[1.0, 1.0, -1.0]], dtype)
    big = float(np.finfo(dtype).eps) ** -1 * 4
    cases = [  # (outer, x, d): A x or A d cancels to 0 or 2 in the dtype
        (lfso.oracles.ConstantOracle(1.0), np.zeros(3), np.array([big, 1.0, big])),
        (PowerSum(2), np.array([big, 1.0, big]), np.array([0.0, 1.0, 0.0])),
        (PowerNorm(2), np.array([big, 1.0, big]), np.array([big, 1.0, big])),
    ]
    for outer, x, d in cases:
        x, d = x.astype(dtype), d.astype(dtype)
        a = [Fraction(float(v)) for v in A[0]]
        ax = sum(ai * Fraction(float(xi)) for ai, xi in zip(a, x, strict=True))
        ad = sum(ai * Fraction(float(di)) for ai, di in zip(a, d, strict=True))
        assert ad != 0 or ax != 0
        segment = lfso.oracles.AffineOracle(outer, A).along(x, d)
        for t in (0.0, 0.5, 1.0, 4.0):
            if isinstance(outer, lfso.oracles.ConstantOracle):
                exact = ad * ad
            else:  # f(z) = z^4 in one variable (PowerSum(2) and PowerNorm(2) alike)
                ends = (ax, ax + Fraction(t) * ad)
                exact = 12 * ad * ad * max(z * z for z in ends)
            assert Fraction(segment(t)) >= exact, (type(outer).__name__, t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("scale", [1e-3, 1e-6])
def test_the_rounding_shift_of_an_affine_oracle_is_not_shrunk_by_a_short_map(dtype, scale):
    """``g(x) = (a x - 1)^4`` with ``|a| < 1`` and ``fl(a x - 1) = 0``: ``L_f`` must be taken
    at ``||A|| R + delta`` (a ball of radius ``delta`` around the computed inner point),
    and the default segment (``PowerSum``'s) on ``B(x, delta + t ||u||)``, not at
    ``||A|| (R + delta)`` nor ``||u|| (t + delta)``, which were below the exact suprema
    by factors up to ``1e13`` for a map or direction shorter than 1."""
    from fractions import Fraction

    A, b = np.array([[scale]], dtype), np.array([-1.0], dtype)
    x, d = np.array([1.0 / scale], dtype), np.array([1e-3], dtype)
    a = Fraction(float(A[0, 0]))
    residual = a * Fraction(float(x[0])) + Fraction(float(b[0]))
    assert (A @ x + b)[0] == 0.0 and residual != 0
    ball = lfso.oracles.AffineOracle(PowerNorm(2), A, b).at(x)
    for radius in (0.0, 1e-3 * abs(float(residual)), 1.0):
        exact = 12 * a * a * (abs(residual) + abs(a) * Fraction(radius)) ** 2
        assert Fraction(ball(radius)) >= exact, radius
    segment = lfso.oracles.AffineOracle(PowerSum(2), A, b).along(x, d)
    ad = a * Fraction(float(d[0]))
    for t in (0.0, 1e-3):
        exact = 12 * ad * ad * max(residual**2, (residual + Fraction(t) * ad) ** 2)
        assert Fraction(segment(t)) >= exact, t


@pytest.mark.parametrize("x", [[1e-160, 1e200], [1e300, 1.0]], ids=["norms", "product"])
def test_an_affine_oracle_whose_inner_point_leaves_the_float_range_is_a_precision_limit(x):
    """Where ``A x`` overflows, or the bound on its rounding ``||A||_F ||x||`` does, the
    bound is ``inf`` (a precision limit), not a ``ValueError`` about an inner ``shift``."""
    A = np.array([[1e150, 0.0], [0.0, 1.0]])
    oracle = lfso.oracles.AffineOracle(PowerNorm(2), A)
    with np.errstate(over="ignore", invalid="ignore"):
        assert oracle.at(np.array(x))(1.0) == np.inf
        with pytest.raises(lfso.oracles.PrecisionLimitError, match="leaves the float range"):
            oracle(np.array(x), 1.0)


@pytest.mark.parametrize("x", [[1e-160, 1e200], [1e300, 1.0]], ids=["norms", "product"])
def test_an_affine_oracle_past_the_float_range_warns_nothing(x):
    """Where ``A x`` (or ``A d``) overflows, the bound is ``inf`` and the step's check a
    :class:`PrecisionLimitError`: NumPy's ``RuntimeWarning: overflow encountered in
    matmul`` (and the outer model's warnings at the infinite inner point) came first; the
    outcome is reported once, by the bound."""
    A = np.array([[1e150, 0.0], [0.0, 1.0]])
    oracle = lfso.oracles.AffineOracle(PowerNorm(2), A)
    x = np.array(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert oracle.at(x)(1.0) == np.inf
        assert oracle.along(x, np.ones(2))(1.0) == np.inf
        assert oracle.along(np.ones(2), x)(1.0) == np.inf
        with pytest.raises(lfso.oracles.PrecisionLimitError):
            oracle(x, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_constant_oracle_s_segment_pads_the_direction_s_length(dtype):
    """``C = L ||d||^2`` with ``||d||^2`` above the exact sum of squares, whose float32 sum
    over 10^4 entries was below it."""
    from fractions import Fraction

    d = np.random.default_rng(0).standard_normal(10_000).astype(dtype)
    exact = sum(Fraction(float(v)) ** 2 for v in d)
    for oracle in (lfso.oracles.ConstantOracle(1.0), 2.0 * lfso.oracles.ConstantOracle(0.5)):
        assert Fraction(oracle.along(np.zeros(10_000, dtype), d)(1.0)) >= exact


def _public_oracles():
    """``(name, oracle, dimension)`` for each public oracle kind and the calculus."""
    A = np.random.default_rng(0).standard_normal((5, 3))
    constant = lfso.oracles.ConstantOracle(2.0)
    return [
        ("constant", constant, 3),
        ("sum", constant + lfso.oracles.ConstantOracle(1.0), 3),
        ("scaled", 3.0 * constant, 3),
        ("affine", lfso.oracles.AffineOracle(constant, A.T), 5),
        ("function", lfso.oracles.FunctionOracle(lambda x, R: 1.0 + R), 3),
        ("model", PowerNorm(2), 3),
        ("affine model", lfso.oracles.AffineOracle(PowerNorm(2), A), 3),
    ]


@pytest.mark.parametrize("name", [case[0] for case in _public_oracles()])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_point_or_direction_is_named(name, bad):
    """``at(x)`` and ``along(x, d)`` with a NaN or infinite entry in ``x`` or ``d`` raise
    a ``ValueError`` naming it (their bounds were NaN)."""
    oracle, dim = {case[0]: case[1:] for case in _public_oracles()}[name]
    good, broken = np.ones(dim), np.ones(dim)
    broken[1] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        oracle.at(broken)
    with pytest.raises(ValueError, match="x must be finite"):
        oracle.along(broken, good)
    with pytest.raises(ValueError, match="direction must be finite"):
        oracle.along(good, broken)
    assert np.isfinite(oracle.along(good, good)(1.0))


@pytest.mark.parametrize("name", [case[0] for case in _public_oracles()])
def test_a_direction_of_another_shape_is_named(name):
    """``along(x, d)`` checks ``d`` against ``x``'s shape (a bound for a longer ``d``, or a
    bare NumPy error, came back)."""
    oracle, dim = {case[0]: case[1:] for case in _public_oracles()}[name]
    for shape in [(dim + 1,), (dim - 1,)]:
        with pytest.raises(
            ValueError, match=rf"direction must have shape \({dim},\) \(that of x\)"
        ):
            oracle.along(np.ones(dim), np.ones(shape))


class _ReturnsCallable(lfso.oracles.LocalSmoothnessOracle):
    def at(self, x):
        return lambda radius: 12.0 * (np.max(np.abs(x)) + radius) ** 2


class _ReturnsNumber(lfso.oracles.LocalSmoothnessOracle):
    def at(self, x):
        return -1.0


@pytest.mark.parametrize("oracle", [_ReturnsCallable(), _ReturnsNumber()], ids=type)
@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_user_oracle_whose_at_returns_no_bound_is_named(oracle, method):
    """A subclass whose ``at`` returns no ``LocalBound`` raises a ``TypeError`` naming the
    class (an ``AttributeError`` from inside the radius solve), in a run, through the
    calculus and when called."""
    name = type(oracle).__name__
    message = rf"{name}\.at\(x\) must return a lfso.oracles.LocalBound"
    x = np.ones(3)
    with pytest.raises(TypeError, match=message):
        lfso.minimize(
            lambda x: float(np.sum(x**4)), x, grad=lambda x: 4 * x**3, smoothness=oracle,
            method=method, max_iter=5,
        )  # fmt: skip
    with pytest.raises(TypeError, match=message):
        (oracle + lfso.oracles.ConstantOracle(1.0)).at(x)
    with pytest.raises(TypeError, match=message):
        oracle(x, 1.0)
    with pytest.raises(TypeError, match=message):
        oracle.along(x, x)


def test_python_s_sum_of_oracles_is_their_sum_oracle():
    """``sum([o1, o2])`` starts from the int 0 and raised ``TypeError ... got 0 (int)``;
    ``0 + o`` is ``o``, so the sum is the oracle of ``f1 + f2``. Any other number on the
    left still raises, naming it."""
    oracles = [lfso.oracles.ConstantOracle(2.0), PowerNorm(2), lfso.oracles.ConstantOracle(1.0)]
    x = np.array([1.0, -2.0])
    total = sum(oracles)
    assert isinstance(total, lfso.oracles.LocalSmoothnessOracle)
    assert total(x, 0.5) == (oracles[0] + oracles[1] + oracles[2])(x, 0.5)
    assert total(x, 0.5) >= oracles[1](x, 0.5) + 3.0
    for other in (1, 0.0, False, None):
        with pytest.raises(TypeError, match="each term of an oracle sum"):
            other + oracles[0]
