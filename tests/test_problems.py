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


def _authors_lls(n, d, noise, cond, seed):
    """The authors' ``generate_lls_problem``, as written (three n x d arrays at a time)."""
    rng = np.random.RandomState(seed)
    k = min(n, d)
    U = np.linalg.qr(rng.randn(n, k), mode="reduced")[0]
    S = np.diag(np.linspace(1, cond, k))
    VT = np.linalg.qr(rng.randn(d, k), mode="reduced")[0]
    VT = VT if n >= d else VT.T
    A = U @ S @ VT
    return A, A @ np.ones(d) + noise * rng.randn(n)


@pytest.mark.parametrize(
    ("n", "d", "noise", "cond", "seed"),
    [(1, 1, 0.1, 100.0, 0), (1, 5, 0.1, 100.0, 1), (5, 1, 0.0, 1.0, 2), (7, 7, 0.1, 100.0, 3),
     (300, 10, 0.1, 1e4, 1), (40, 300, 1.0, 10.0, 7), (3001, 350, 0.1, 100.0, 5)],
)  # fmt: skip
def test_lls_data_is_the_authors_draw_bit_for_bit_in_either_branch(n, d, noise, cond, seed):
    A, b = _authors_lls(n, d, noise, cond, seed)
    A2, b2 = lls_data(n, d, noise, cond, seed)
    assert A2.flags.c_contiguous and A2.dtype == b2.dtype == np.float64
    assert A2.tobytes() == A.tobytes() and b2.tobytes() == b.tobytes()


@pytest.mark.parametrize(("n", "d"), [(4000, 100), (100, 4000)])
def test_lls_data_holds_at_most_two_arrays_of_the_size_of_a(n, d):
    """The draw held three n x d arrays at its peak (the draw and its copy in the QR, and
    then U, U S and A), so that a draw well under the limit of 2^31 entries exhausted the
    memory; the QR now overwrites its draw, and U s is scaled in place."""
    import tracemalloc

    tracemalloc.start()
    try:
        A, _ = lls_data(n, d)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2.2 * A.nbytes


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


@pytest.mark.parametrize(
    "typo, name",
    [
        ("rosenbrok-d2", "rosenbrock-d2"),
        ("power-sum-p3", "power_sum-p3"),
        ("Robust-Cauchy", "robust-cauchy"),
    ],
)
def test_a_name_close_to_a_problem_s_is_answered_with_it(typo, name):
    with pytest.raises(ValueError, match=rf"unknown problem '{typo}' \(did you mean '{name}'\?\)"):
        get_problem(typo)


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
