"""The paper's test problems are generated as the authors' code does."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.bench import PROBLEMS, get_problem, lls_data


def test_lls_data_is_the_authors_draw_for_draw():
    state = np.random.get_state()
    try:
        np.random.seed(0)
        U = np.linalg.qr(np.random.randn(1000, 100), mode="reduced")[0]
        S = np.diag(np.linspace(1, 100, 100))
        VT = np.linalg.qr(np.random.randn(100, 100), mode="reduced")[0]
        A = U @ S @ VT
        b = A @ np.ones(100) + 0.1 * np.random.randn(1000)
    finally:
        np.random.set_state(state)
    A2, b2 = lls_data(1000, 100)
    np.testing.assert_array_equal(A, A2)
    np.testing.assert_array_equal(b, b2)
    sv = np.linalg.svd(A2, compute_uv=False)
    assert sv.max() / sv.min() == pytest.approx(100.0)


def test_lls_data_wide_branch():
    A, b = lls_data(50, 80)
    assert A.shape == (50, 80) and b.shape == (50,)
    sv = np.linalg.svd(A, compute_uv=False)
    assert sv.max() / sv.min() == pytest.approx(100.0)


SKLEARN_DATA = {"logistic-breast_cancer", "logistic-digits01", "lp_regression-p2-diabetes"}


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - SKLEARN_DATA))
@pytest.mark.parametrize("oracle", ["sharp", "paper"])
def test_every_problem_builds_and_descends(name, oracle):
    problem = get_problem(name)
    model, x0 = problem.make(oracle)
    res = lfso.minimize(model, x0, tol=0.0, max_iter=20)
    assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))
    assert model.has_oracle == problem.has_oracle
    if "paper" in problem.tags:  # the paper's start
        np.testing.assert_array_equal(x0, np.ones(x0.size))
    if name.endswith("-lin"):
        np.testing.assert_array_equal(x0, np.linspace(0.5, 1.5, x0.size))
    if problem.f_star is not None:
        assert res.fun >= problem.f_star() - 1e-9 * max(1.0, abs(res.fun))


@pytest.mark.parametrize("name", ["logistic-breast_cancer", "logistic-digits01"])
def test_logistic_problems_use_bundled_data(name):
    pytest.importorskip("sklearn")
    model, x0 = get_problem(name).make()
    assert model.fit_intercept and np.all(x0 == 0)
    assert model.n in (569, 360)
    res = lfso.minimize(model, x0, tol=0.0, max_iter=30)
    assert res.history.f[-1] < res.history.f[0]


def test_unknown_problem_lists_the_names():
    with pytest.raises(ValueError, match="unknown problem 'nope'; choose from: power_norm-p1"):
        get_problem("nope")


def test_flat_problem_converges_linearly_where_gd_is_sublinear():
    """The paper's headline: sum x_i^(2p) with p = 5 in tens of LFSO steps."""
    model, x0 = get_problem("power_sum-p5").make()
    res = lfso.minimize(model, x0)
    assert res.success and res.nit < 100
    gd = lfso.minimize(model, np.linspace(0.5, 1.5, 10), method="gd", step=1e-3, max_iter=2000)
    assert not gd.success


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "n=0"),
        ({"n": -1}, ValueError, "n=-1"),
        ({"n": 3.5}, TypeError, "n=3.5"),
        ({"d": True}, TypeError, "d=True"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"seed": 2**32}, ValueError, "seed=4294967296"),
        ({"noise": float("nan")}, ValueError, "noise=nan"),
        ({"cond": 0.0}, ValueError, "cond=0.0"),
        ({"n": 10**6, "d": 10**5}, ValueError, r"n=1000000, d=100000\) .* \(745 GiB"),
        (
            {"n": 2**20, "d": 2**20},
            ValueError,
            r"n=1048576, d=1048576\) .*at most n \* d <= 2\*\*31",
        ),
    ],
)
def test_lls_data_names_a_bad_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        lls_data(**({"n": 3, "d": 2} | kwargs))


@pytest.mark.parametrize("name", [3, None, b"digits01", ["breast_cancer"]])
def test_logistic_data_names_a_name_that_is_not_a_str(name):
    from lfso.bench import logistic_data

    with pytest.raises(TypeError, match=r"name must be 'breast_cancer' or 'digits01' \(a str\)"):
        logistic_data(name)
