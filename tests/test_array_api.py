"""The core and the models run on any array-API library: same iterates as NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.models import CompositeLeastSquares, LogisticRegression, LpRegression, PowerNorm, PowerSum

xps = pytest.importorskip("array_api_strict")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((40, 6))
    return A, A @ np.ones(6) + 0.1 * rng.standard_normal(40)


def _logistic(xp):
    A, b = _data()
    y = (b > np.median(b)).astype(float)
    return LogisticRegression(xp.asarray(A), xp.asarray(y), l2=0.05, fit_intercept=True), 7


CASES = {
    "power_norm": lambda xp: (PowerNorm(2), 5),
    "power_sum": lambda xp: (PowerSum(3), 5),
    "lp-p1": lambda xp: (LpRegression(*map(xp.asarray, _data()), 1), 6),
    "lp-p2": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2), 6),
    "lp-p2.5": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2.5), 6),
    "lp-p2-paper": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2, oracle="paper"), 6),
    "composite": lambda xp: (CompositeLeastSquares(*map(xp.asarray, _data()), 2), 6),
    "logistic": _logistic,
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("radius", ["tight", "paper"])
def test_array_api_strict_matches_numpy(name, radius):
    model_np, d = CASES[name](np)
    model_xp, _ = CASES[name](xps)
    x0 = np.linspace(0.5, 1.5, d)
    ref = lfso.minimize(model_np, x0, radius=radius, tol=0.0, max_iter=60)
    res = lfso.minimize(model_xp, xps.asarray(x0), radius=radius, tol=0.0, max_iter=60)
    assert type(res.x) is type(xps.asarray(x0))  # the work stayed in the caller's library
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.history.f, ref.history.f, rtol=1e-12)


def test_array_api_strict_rejects_bad_start():
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        lfso.minimize(PowerSum(2), xps.ones((2, 2)))
