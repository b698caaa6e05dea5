"""Each LFSO step stays in its ball, satisfies the descent inequality, and the tight radius wins."""

from __future__ import annotations

import numpy as np
import pytest
from cases import MODELS, dim_of
from hypothesis import given, settings
from hypothesis import strategies as st

import lfso
from lfso._registry import settle
from lfso.steps import LFSOStep

NAMES = sorted(MODELS)


def _step(rule, model, x, ev):
    rule = settle(rule, model)  # (certificate="auto" is the registry's to decide)
    return rule.step(model, x, ev, rule.init(model, x, ev))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), eta=st.sampled_from([0.3, 1.0, 1.7]))
def test_every_step_is_in_its_ball_and_descends(name, seed, eta):
    rng = np.random.default_rng(seed)
    model = MODELS[name](rng)
    x0 = rng.standard_normal(dim_of(model))
    res = lfso.minimize(model, x0, method="lfso", eta=eta, tol=0.0, max_iter=40)
    h = res.history
    # (or fewer steps when one lands exactly on a stationary point, which converges, or
    # where the float range ends: the quadratics shrink x by about 1e15 a step)
    stopped = h.grad_norm[-1] == 0.0 or res.status is lfso.Status.PRECISION_LIMIT
    assert len(h) == res.nit + 1 and (res.nit == 40 or stopped)
    g_prev, L, R, t = h.grad_norm[:-1], h.L[1:], h.R[1:], h.step[1:]
    assert np.allclose(t, eta / L, rtol=1e-14)
    # R L(x, R) >= eta ||g||: the step eta ||g|| / L has length at most R.
    assert np.all(R * L >= eta * g_prev * (1 - 1e-12))
    # f(x+) <= f(x) - eta (1 - eta/2) ||g||^2 / L, up to rounding of f.
    decrease = eta * (1 - eta / 2) * g_prev**2 / L
    slack = 1e-10 * np.abs(h.f[:-1]) + 1e-300
    assert np.all(h.f[1:] <= h.f[:-1] - decrease + slack)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), r0_scale=st.floats(0.0, 10.0))
def test_tight_step_is_never_shorter_than_the_paper_rule(name, seed, r0_scale):
    rng = np.random.default_rng(seed)
    model = MODELS[name](rng)
    x = rng.standard_normal(dim_of(model))
    ev = model.evaluate(x)
    rtol = 1e-3
    tight, _ = _step(LFSOStep(radius="tight", radius_rtol=rtol), model, x, ev)
    paper, _ = _step(LFSOStep(radius=lambda _x: r0_scale * ev.grad_norm), model, x, ev)
    assert tight.step * (1 + rtol) >= paper.step * (1 - 1e-12)
    assert tight.R <= paper.R * (1 + 1e-12) or tight.L <= paper.L * (1 + 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paper_radius_is_never_below_its_target_in_extended_precision(dtype):
    """``R >= R_k = max(R0, eta ||g|| / L(x, R0))`` in mpmath (80 digits), where ``R0``
    is the rounded quotient or the float below it (rounded to nearest, ``R`` fell an ulp
    short in about a quarter of these, or took ``R0`` below ``R_k``), and the step's
    length ``t ||g||`` stays within ``R`` to the rounding of ``t``."""
    import mpmath

    ctx = mpmath.MPContext()
    ctx.dps = 80
    rng = np.random.default_rng(7)
    for k in range(400):
        l0, eta = float(np.exp(rng.uniform(-5.0, 5.0))), float(rng.uniform(0.1, 1.9))
        x = rng.standard_normal(3).astype(dtype)
        model = lfso.models.FunctionModel(
            lambda z, l0=l0: 0.5 * l0 * float(z @ z),
            lambda z, l0=l0: l0 * z,
            smoothness=lambda z, R, l0=l0: l0,
        )
        ev = model.evaluate(x)
        quotient = eta * ev.grad_norm / l0
        r0 = quotient if k % 2 else float(np.nextafter(quotient, 0.0))
        step, _ = _step(LFSOStep(eta=eta, radius=lambda _x, r0=r0: r0), model, x, ev)
        target = max(ctx.mpf(r0), ctx.mpf(eta) * ctx.mpf(ev.grad_norm) / ctx.mpf(l0))
        assert ctx.mpf(step.R) >= target
        length = ctx.mpf(step.step) * ctx.mpf(ev.grad_norm)
        assert length <= ctx.mpf(step.R) * (1 + ctx.mpf(2) ** -52)


def test_paper_radius_rule_matches_its_definition():
    model = lfso.models.PowerSum(3)
    x = np.array([1.0, -0.5, 0.25])
    ev = model.evaluate(x)
    step, _ = _step(LFSOStep(eta=0.5, radius="paper"), model, x, ev)
    r0 = np.max(np.abs(x))
    R = max(r0, 0.5 * ev.grad_norm / model(x, r0))
    assert step.R == R and step.L == model(x, R) and step.oracle_calls == 2
    np.testing.assert_array_equal(step.x, x - (0.5 / model(x, R)) * ev.grad)
