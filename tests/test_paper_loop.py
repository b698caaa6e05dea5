"""The paper rule reproduces the authors' published loop iterate by iterate.

The reference below is an independent transcription of ``run_gd_lfso`` and of the test
problems in the authors' code (github.com/lindonroberts/nonuniform-smoothness, ``main.py``
and ``simple_objective_test.py``), written for this test.
"""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.bench import lls_data


def authors_loop(f, gradf, lfso_fn, radius0, x0, niters, eta):
    xk = x0.copy()
    xs, fs = [xk], [f(xk)]
    for _ in range(niters):
        gk = gradf(xk)
        Rk1 = radius0(xk)
        Rk2 = max(Rk1, eta * np.linalg.norm(gk) / lfso_fn(xk, Rk1))
        Lk = lfso_fn(xk, Rk2)
        xk = xk - (eta / Lk) * gk
        xs.append(xk)
        fs.append(f(xk))
    return np.array(xs), np.array(fs)


def authors_linreg(n, d, p):
    np_state = np.random.get_state()
    np.random.seed(0)
    try:
        U = np.linalg.qr(np.random.randn(n, d), mode="reduced")[0]
        S = np.diag(np.linspace(1, 100, d))
        VT = np.linalg.qr(np.random.randn(d, d), mode="reduced")[0]
        A = U @ S @ VT
        b = A @ np.ones((d,)) + 0.1 * np.random.randn(n)
    finally:
        np.random.set_state(np_state)

    def f(x):
        return np.sum(np.abs(A @ x - b) ** (2 * p))

    def gradf(x):
        return 2 * p * A.T @ (A @ x - b) ** (2 * p - 1)

    Aop = np.linalg.norm(A, ord=2)
    max_row = np.max(np.linalg.norm(A, axis=1))

    def oracle(x, R):
        if p > 1:
            return (
                2
                * p
                * (2 * p - 1)
                * Aop**2
                * 2 ** (2 * p - 3)
                * (np.max((A @ x - b) ** (2 * p - 2)) + max_row ** (2 * p - 2) * R ** (2 * p - 2))
            )
        return 2 * Aop**2

    def radius0(x):
        return np.linalg.norm(A @ x - b, ord=np.inf)

    return A, b, f, gradf, oracle, radius0


@pytest.mark.parametrize("n, p", [(100, 2), (1000, 2), (100, 3), (100, 1)])
@pytest.mark.parametrize("eta", [1.0, 0.5])
def test_callable_radius_reproduces_authors_loop_exactly(n, p, eta):
    _, _, f, gradf, oracle, radius0 = authors_linreg(n, 100, p)
    xs, fs = authors_loop(f, gradf, oracle, radius0, np.ones(100), 150, eta)
    steps = []
    res = lfso.minimize(
        f,
        np.ones(100),
        grad=gradf,
        smoothness=oracle,
        radius=radius0,
        eta=eta,
        tol=0.0,
        max_iter=150,
        callback=lambda x: steps.append(x),
    )
    assert res.nit == 150
    np.testing.assert_array_equal(np.array(steps), xs[1:])
    np.testing.assert_array_equal(res.history.f, fs)


@pytest.mark.parametrize("n, p", [(100, 2), (1000, 3)])
def test_builtin_paper_oracle_matches_authors_loop(n, p):
    """The models' ``oracle="paper"`` with ``radius="paper"`` is the authors' method."""
    A, b, f, gradf, oracle, radius0 = authors_linreg(n, 100, p)
    A2, b2 = lls_data(n, 100)
    np.testing.assert_array_equal(A, A2)
    np.testing.assert_array_equal(b, b2)
    _, fs = authors_loop(f, gradf, oracle, radius0, np.ones(100), 200, 1.0)
    model = lfso.models.LpRegression(A2, b2, p, oracle="paper")
    res = lfso.minimize(model, np.ones(100), radius="paper", tol=0.0, max_iter=200)
    np.testing.assert_allclose(res.history.f, fs, rtol=1e-9)


@pytest.mark.parametrize("p", [2, 3, 5])
def test_builtin_power_sum_paper_oracle_matches_authors_loop(p):
    def oracle(x, R):
        return (
            2 * p * (2 * p - 1) * 2 ** (2 * p - 3) * (np.max(x ** (2 * p - 2)) + R ** (2 * p - 2))
        )

    _, fs = authors_loop(
        lambda x: np.sum(x ** (2 * p)),
        lambda x: 2 * p * x ** (2 * p - 1),
        oracle,
        lambda x: np.linalg.norm(x, ord=np.inf),
        np.ones(10),
        300,
        1.0,
    )
    res = lfso.minimize(
        lfso.models.PowerSum(p, oracle="paper"), np.ones(10), radius="paper", tol=0.0, max_iter=300
    )
    np.testing.assert_allclose(res.history.f, fs, rtol=1e-9)
