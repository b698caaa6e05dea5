"""A row-chunked Dask array on a dask.distributed cluster gives NumPy's iterates, and the
scheduler never sees one key with two different tasks.

One two-process cluster and one persisted copy of each data set serve the whole module
(each test builds its own model and runs on its own iterates, so no test sees another's
arrays). Runs are short: a run on the cluster is compared with NumPy's after
:data:`ITERATIONS` iterations (the same lines of ``lfso`` run at 3 iterations as at 10, and
the iterates agree at every count), and every iteration of a row model reads its data twice
from the first on, so the reads are counted over :data:`WINDOW`.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import lfso  # noqa: E402
from lfso._arrays import to_floats  # noqa: E402
from lfso.bench import lls_data, logistic_data  # noqa: E402

#: Iterations of a run compared with NumPy's (each a few round trips to the cluster).
ITERATIONS = 5

#: The iterations between which a row model's data reads are counted (the first ones
#: excluded, as the start evaluates more).
WINDOW = (3, 8)

#: What ``distributed.scheduler`` logs when a key comes back with a different task.
COLLISION = "Detected different `run_spec`"


class _Collisions(logging.Handler):
    """Keeps the scheduler's messages about a key submitted with a different task."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if COLLISION in message:
            self.messages.append(message.split(" between ")[0])


@pytest.fixture(scope="module")
def cluster_log():
    """A two-process ``LocalCluster`` with a client, and the scheduler's collision log (the
    scheduler runs in this process; its workers do not)."""
    handler = _Collisions()
    logger = logging.getLogger("distributed.scheduler")
    logger.addHandler(handler)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            yield handler
    finally:
        cluster.close()
        logger.removeHandler(handler)


@pytest.fixture
def collisions(cluster_log):
    """The collision messages logged during one test (which asserts there are none)."""
    cluster_log.messages.clear()
    return cluster_log.messages


@pytest.fixture(scope="module")
def lls(cluster_log):
    """A 2000 x 20 system as NumPy arrays and as persisted Dask arrays (four row chunks)."""
    A, b = lls_data(2000, 20)
    return (
        A,
        b,
        da.from_array(A, chunks=(500, 20)).persist(),
        da.from_array(b, chunks=500).persist(),
    )


@pytest.fixture(scope="module")
def classes(lls):
    """Three classes of the same rows, as a persisted Dask array."""
    return da.from_array(np.digitize(lls[1], [-1.0, 1.0]), chunks=500).persist()


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "lfso-accel"])
def test_lp_regression_on_a_cluster_matches_numpy(lls, collisions, method):
    A, b, A_dask, b_dask = lls
    options = {"method": method, "tol": 0.0, "max_iter": ITERATIONS}
    res = lfso.minimize(lfso.models.LpRegression(A_dask, b_dask, 2), np.ones(20), **options)
    ref = lfso.minimize(lfso.models.LpRegression(A, b, 2), np.ones(20), **options)
    assert res.nit == ref.nit == ITERATIONS
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.history.f, ref.history.f, rtol=1e-12)
    assert collisions == []


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_cauchy_run_in_a_clusters_threads_warns_of_no_overflow(method):
    """On an in-process cluster the segment's chunks run in the workers' threads, which do
    not see the ``np.errstate`` the solve sets: a trial far along the segment, whose ``(r +
    t u)^2`` overflows (its bound ``inf``, as on the host), warned of the overflow, once
    per chunk and trial batch. Each chunk sets it itself; the iterates stay NumPy's."""
    A, b = lls_data(2000, 20)
    options = {"method": method, "tol": 0.0, "max_iter": ITERATIONS}
    ref = lfso.minimize(lfso.models.CauchyRegression(A, b), np.zeros(20), **options)
    with distributed.Client(processes=False, n_workers=1, dashboard_address=":0"):
        A_dask = da.from_array(A, chunks=(500, 20))
        b_dask = da.from_array(b, chunks=500)
        with warnings.catch_warnings():  # (the workers' threads share the filters)
            warnings.filterwarnings("error", "overflow", RuntimeWarning)
            model = lfso.models.CauchyRegression(A_dask, b_dask)
            res = lfso.minimize(model, np.zeros(20), **options)
        x = np.asarray(res.x)  # (lazy: computed while the cluster runs)
    assert res.nit == ref.nit == ITERATIONS
    np.testing.assert_allclose(x, ref.x, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_cauchy_run_whose_squares_overflow_warns_as_numpy_does(method):
    """Residuals of 1e160, whose ``r^2 / c^2`` overflows (their losses and gradient taken
    again without it): the ``np.errstate`` that silences those overflows on NumPy rows
    has closed when a Dask graph is computed, so each chunk sets its own; no warning, and
    NumPy's iterates."""
    import dask

    rng = np.random.default_rng(0)
    A = 1e100 * rng.standard_normal((300, 4))
    b = rng.standard_normal(300)
    x0 = np.full(4, 1e60)
    options = {"method": method, "tol": 0.0, "max_iter": ITERATIONS, "monitor": False}
    ref = lfso.minimize(lfso.models.CauchyRegression(A, b), x0, **options)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.filterwarnings("error", "overflow", RuntimeWarning)
        model = lfso.models.CauchyRegression(
            da.from_array(A, chunks=(100, 4)), da.from_array(b, chunks=100)
        )
        res = lfso.minimize(model, x0, **options)
        x = np.asarray(res.x)
    assert res.nit == ref.nit == ITERATIONS and res.fun == ref.fun
    np.testing.assert_allclose(x, ref.x, rtol=1e-12)


@pytest.mark.parametrize("l2", ["one", "per-feature"])
def test_logistic_on_a_cluster_matches_numpy(cluster_log, collisions, l2):
    """569 rows in chunks of 150 (the last one shorter), with an intercept column; one
    ridge weight, or one per feature."""
    pytest.importorskip("sklearn")
    X, y = logistic_data("breast_cancer")
    X_dask = da.from_array(X, chunks=(150, 30)).persist()
    y_dask = da.from_array(y, chunks=150).persist()
    ridge = 0.01 if l2 == "one" else np.geomspace(1e-4, 1.0, 30)
    options = {"l2": ridge, "fit_intercept": True}
    model = lfso.models.LogisticRegression(X_dask, y_dask, **options)
    res = lfso.minimize(model, np.zeros(31), tol=0.0, max_iter=ITERATIONS)
    model = lfso.models.LogisticRegression(X, y, **options)
    ref = lfso.minimize(model, np.zeros(31), tol=0.0, max_iter=ITERATIONS)
    assert res.nit == ref.nit == ITERATIONS
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-10, atol=1e-12)
    assert collisions == []


#: (model, method) pairs whose short runs submit no key twice with different tasks: each
#: model's own evaluation and segment, L-BFGS's memory, a line search's trial points (the
#: tests above cover LpRegression with p = 2 and LogisticRegression).
RUNS = [
    ("lp3", "lfso"),
    ("lp", "bb"),
    ("composite", "lfso-lbfgs"),
    ("cauchy", "lfso-lbfgs"),
    ("softmax", "lfso"),
]


@pytest.mark.parametrize(("name", "method"), RUNS)
def test_a_run_gives_the_scheduler_no_key_twice(lls, classes, collisions, name, method):
    _, _, A, b = lls
    models = {
        "lp": lambda: lfso.models.LpRegression(A, b, 2),
        "lp3": lambda: lfso.models.LpRegression(A, b, 3),
        "composite": lambda: lfso.models.CompositeLeastSquares(A, b, 2),
        "cauchy": lambda: lfso.models.CauchyRegression(A, b),
        "softmax": lambda: lfso.models.SoftmaxRegression(A, classes, 3, l2=0.01),
    }
    model = models[name]()
    res = lfso.minimize(model, np.zeros(model.dim), method=method, tol=0.0, max_iter=3)
    assert res.nit == 3
    assert collisions == []


@pytest.mark.parametrize("name", ["lp", "logistic"])
def test_minibatches_on_a_cluster_match_numpy_and_give_no_key_twice(lls, collisions, name):
    """``batch_size=``: each batch's rows, its direction and the iterate are persisted
    where they are made, so no key reaches the scheduler with two tasks."""
    A, b, A_dask, b_dask = lls
    signs = b > 0
    build = {
        "lp": lambda A, b, y: lfso.models.LpRegression(A, b, 2),
        "logistic": lambda A, b, y: lfso.models.LogisticRegression(A, y, l2=0.01),
    }[name]
    y_dask = da.from_array(signs, chunks=500)  # (lazy: the model's own arrays persisted)
    options = {"batch_size": 300, "seed": 0, "epochs": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lfso.minimize(build(A_dask, b_dask, y_dask), np.zeros(20), **options)
    ref = lfso.minimize(build(A, b, signs), np.zeros(20), **options)
    assert res.nit == ref.nit == 2
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-12, atol=1e-14)
    assert collisions == []


class _CountingSource:
    """An in-memory array that counts how many chunk reads dask makes of it."""

    def __init__(self, array):
        self.array, self.reads = array, 0
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        self.reads += 1
        return self.array[index]


def test_host_numbers_and_dask_scalars_come_back_in_one_pass():
    """A host number among the values does not split the Dask ones into a pass each."""
    import dask

    source = _CountingSource(np.arange(12.0))
    x = da.from_array(source, chunks=3, asarray=True)
    source.reads = 0
    with dask.config.set(scheduler="synchronous"):
        values = to_floats(0.5, x.sum(), (x * x).sum(), np.float64(2.0))
    assert values == [0.5, 66.0, 506.0, 2.0]
    assert source.reads == 4  # each of the four chunks once


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
    first, last = WINDOW
    reads = {}  # after iterations first and last of one run

    def record(intermediate_result):
        if intermediate_result.nit in WINDOW:
            reads[intermediate_result.nit] = source.reads

    with dask.config.set(scheduler="synchronous"):
        model = models[name]()
        lfso.minimize(model, np.zeros(model.dim), tol=0.0, max_iter=last, callback=record)
    per_iteration = (reads[last] - reads[first]) / (last - first) / 4  # four chunks
    assert per_iteration <= 2.0, per_iteration


def _masked(which: str):
    """Data of 40 rows, the arrays named in ``which`` selected by a boolean mask."""
    rng = np.random.default_rng(0)
    A = da.from_array(rng.standard_normal((40, 3)), chunks=(10, 3))
    b = da.from_array(rng.standard_normal(40), chunks=10)
    keep = A[:, 0] > -100
    return (A[keep] if "A" in which else A), (b[keep] if "b" in which else b)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: lfso.models.LpRegression(*_masked("A"), 2), "A"),
        (lambda: lfso.models.LpRegression(*_masked("b"), 2), "b"),
        (lambda: lfso.models.LpRegression(*_masked("Ab"), 2), "A"),
        (lambda: lfso.models.CauchyRegression(*_masked("A")), "A"),
        (lambda: lfso.models.LogisticRegression(_masked("A")[0], np.ones(40)), "X"),
    ],
)
def test_data_of_unknown_row_count_is_refused_naming_it(build, name):
    """A Dask array selected by a boolean mask does not know its rows (shape ``(nan, d)``)."""
    import dask

    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError) as error:
        build()
    assert f"{name} has an unknown number of rows" in str(error.value)
    assert "nan" in str(error.value) and f"{name}.compute_chunk_sizes()" in str(error.value)


@pytest.mark.parametrize("name", ["lp", "cauchy", "logistic", "softmax"])
def test_targets_chunked_unlike_the_rows_give_numpys_iterates(name):
    """Targets in chunks of 70 rows against data in chunks of 100 are aligned with the rows
    (as Dask's own elementwise operations are), not refused from inside a segment."""
    import dask

    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 4))
    b = A @ np.ones(4) + 0.5 * rng.standard_normal(300)
    targets = {"lp": b, "cauchy": b, "logistic": b > 0, "softmax": np.digitize(b, [-1.0, 1.0])}

    def build(X, y):
        return {
            "lp": lambda: lfso.models.LpRegression(X, y, 2),
            "cauchy": lambda: lfso.models.CauchyRegression(X, y),
            "logistic": lambda: lfso.models.LogisticRegression(X, y),
            "softmax": lambda: lfso.models.SoftmaxRegression(X, y, 3),
        }[name]()

    options = {"tol": 0.0, "max_iter": ITERATIONS}
    ref_model = build(A, targets[name])
    ref = lfso.minimize(ref_model, np.zeros(ref_model.dim), **options)
    with dask.config.set(scheduler="synchronous"):
        X = da.from_array(A, chunks=(100, 4))
        model = build(X, da.from_array(targets[name], chunks=70))
        res = lfso.minimize(model, np.zeros(model.dim), **options)
        x = np.asarray(res.x)
    assert res.nit == ref.nit == ITERATIONS
    np.testing.assert_allclose(x, ref.x, rtol=1e-12, atol=1e-14)


#: Row models on data of 1e30 or 1e150 from a point of 1e-30 or 1e-150 (residuals of
#: order 1): a line search's far trials make ``f`` or ``||g||^2`` overflow.
_FAR = {
    "lp3": (lambda A, y: lfso.models.LpRegression(A, y, 3), 1e30),
    "least squares": (lambda A, y: lfso.models.LpRegression(A, y, 1), 1e150),
    "cauchy": (lfso.models.CauchyRegression, 1e150),
}


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("lp3", "armijo"),
        ("least squares", "armijo"),
        ("least squares", "bb"),
        ("cauchy", "armijo"),
    ],
)
def test_a_trial_past_the_float_range_warns_of_no_overflow(name, method):
    """A trial whose ``f`` (a sum of residual powers) or gradient norm passes the float range
    is ``inf`` without a warning: Dask's ``@`` summed its chunks, and the value's squares
    were formed, in the thread that computes the graph, outside the model's
    ``np.errstate``; the iterates stay NumPy's."""
    import dask

    build, scale = _FAR[name]
    rng = np.random.default_rng(0)
    A, y = scale * rng.standard_normal((300, 4)), rng.standard_normal(300)
    x0 = np.full(4, 1.0 / scale)
    options = {"method": method, "tol": 0.0, "max_iter": 3, "monitor": False}
    with warnings.catch_warnings():  # (NumPy's own rows: not what is tested here)
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = lfso.minimize(build(A, y), x0, **options)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.filterwarnings("error", "overflow", RuntimeWarning)
        model = build(da.from_array(A, chunks=(100, 4)), da.from_array(y, chunks=100))
        res = lfso.minimize(model, x0, **options)
        x = np.asarray(res.x)
    assert res.nit == ref.nit
    np.testing.assert_allclose(x, ref.x, rtol=1e-12, atol=1e-300)
