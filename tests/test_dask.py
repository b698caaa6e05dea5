"""A row-chunked Dask array on a dask.distributed cluster gives NumPy's iterates."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import lfso  # noqa: E402
from lfso.problems import lls_data, logistic_data  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.parametrize("method", ["lfso", "lfso-accel"])
def test_lp_regression_on_a_cluster_matches_numpy(client, method):
    A, b = lls_data(2000, 20)
    model = lfso.models.LpRegression(
        da.from_array(A, chunks=(500, 20)).persist(), da.from_array(b, chunks=500).persist(), 2
    )
    res = lfso.minimize(model, np.ones(20), method=method, tol=0.0, max_iter=25)
    ref = lfso.minimize(
        lfso.models.LpRegression(A, b, 2), np.ones(20), method=method, tol=0.0, max_iter=25
    )
    assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.history.f, ref.history.f, rtol=1e-12)


def test_logistic_on_a_cluster_matches_numpy(client):
    pytest.importorskip("sklearn")
    X, y = logistic_data("breast_cancer")
    model = lfso.models.LogisticRegression(
        da.from_array(X, chunks=(150, 30)),
        da.from_array(y, chunks=150),
        l2=0.01,
        fit_intercept=True,
    )
    res = lfso.minimize(model, np.zeros(31), tol=0.0, max_iter=15)
    ref = lfso.minimize(
        lfso.models.LogisticRegression(X, y, l2=0.01, fit_intercept=True),
        np.zeros(31),
        tol=0.0,
        max_iter=15,
    )
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-10, atol=1e-12)


class _CountingSource:
    """An in-memory array that counts how many chunk reads dask makes of it."""

    def __init__(self, array):
        self.array, self.reads = array, 0
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        self.reads += 1
        return self.array[index]


@pytest.mark.parametrize("name", ["logistic", "softmax", "cauchy", "lp"])
def test_row_models_read_the_data_twice_per_iteration(name):
    """X x and X^T v each read A once; the radius solve and the next step re-read nothing."""
    import dask

    rng = np.random.default_rng(0)
    A = rng.standard_normal((400, 5))
    b = A @ np.ones(5) + 0.5 * rng.standard_normal(400)
    source = _CountingSource(A)
    X = da.from_array(source, chunks=(100, 5), asarray=True)
    models = {
        "logistic": lambda: lfso.models.LogisticRegression(X, da.from_array(b > 0), l2=0.01),
        "softmax": lambda: lfso.models.SoftmaxRegression(
            X, da.from_array(np.digitize(b, [-1.0, 1.0])), 3, fit_intercept=False
        ),
        "cauchy": lambda: lfso.models.CauchyRegression(X, da.from_array(b)),
        "lp": lambda: lfso.models.LpRegression(X, da.from_array(b), 2),
    }
    with dask.config.set(scheduler="synchronous"):
        model = models[name]()
        x0 = np.zeros(model.dim)
        reads = []
        for iters in (5, 15):
            source.reads = 0
            lfso.minimize(model, x0, tol=0.0, max_iter=iters)
            reads.append(source.reads)
    per_iteration = (reads[1] - reads[0]) / 10 / 4  # four chunks
    assert per_iteration <= 2.0, per_iteration
