"""Row models on PyTorch CPU tensors run the NumPy code on zero-copy views of them
(:mod:`lfso.models._host`), their products with the data in PyTorch; inside
:func:`lfso.bench.cpu_as_accelerator` they run their PyTorch code, as on a GPU."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# (the exact curvature's machinery: segment bounds against mpmath)
from test_exact_curvature import (  # noqa: E402
    ExactLogistic,
    ExactRows,
    _far_logistic,
    assert_all_hold,
    check_claims,
    run_segments,
)

import lfso  # noqa: E402
from lfso._later import cpu_as_accelerator  # noqa: E402
from lfso.models import _host, _segments  # noqa: E402

MODELS = {
    "l4": lambda A, b: lfso.models.LpRegression(A, b, 2),
    "l3": lambda A, b: lfso.models.LpRegression(A, b, 1.5),
    "logistic": lambda A, b: lfso.models.LogisticRegression(A, (b > 0) * 1.0, l2=1e-3),
    "logistic-intercept": lambda A, b: lfso.models.LogisticRegression(
        A, (b > 0) * 1.0, fit_intercept=True
    ),
    "composite": lambda A, b: lfso.models.CompositeLeastSquares(A, b, 2),
    "softmax": lambda A, b: lfso.models.SoftmaxRegression(
        A, (b > -0.3) * 1 + (b > 0.3) * 1, 3, l2=1e-3
    ),
}
DTYPES = [np.float32, np.float64]


def _data(dtype, n=300, d=5):
    rng = np.random.default_rng(5)
    A = (rng.standard_normal((n, d)) / 2.0).astype(dtype)
    b = (A @ np.ones(d, dtype) + 0.1 * rng.standard_normal(n)).astype(dtype)
    return A, b


def _run(model, x0, method, iters=15):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (tol = 0: may run to rounding)
        return lfso.minimize(model, x0, method=method, tol=0.0, max_iter=iters)


def _numpy_products(monkeypatch):
    """The twin's products with the data in NumPy, as the NumPy model's."""
    monkeypatch.setattr(_host._TorchProduct, "__call__", lambda self, v: self.matrix.numpy() @ v)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cpu_tensor_iterates_are_numpys_bit_for_bit_with_numpys_products(name, dtype, monkeypatch):
    """Everything but the products with the data is the NumPy code: with NumPy's products,
    steepest descent on CPU tensors takes NumPy's steps exactly (its direction, -g, and
    x + t d are exact or correctly rounded alike in both libraries)."""
    _numpy_products(monkeypatch)
    A, b = _data(dtype)
    ref_model = MODELS[name](A, b)
    ref = _run(ref_model, np.zeros(ref_model.dim, dtype), "lfso")
    got = _run(
        MODELS[name](torch.from_numpy(A), torch.from_numpy(b)),
        torch.zeros(ref_model.dim, dtype=getattr(torch, np.dtype(dtype).name)),
        "lfso",
    )
    assert got.nit == ref.nit
    np.testing.assert_array_equal(got.x.numpy(), ref.x)
    np.testing.assert_array_equal(got.jac.numpy(), ref.jac)
    assert got.fun == ref.fun
    np.testing.assert_array_equal(got.history.step, ref.history.step)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cpu_tensor_iterates_are_numpys_to_rounding(name, dtype, method):
    """With PyTorch's products (another order of summation in each dot product of a row;
    L-BFGS's own dot products in PyTorch), the iterates agree with NumPy's to rounding."""
    A, b = _data(dtype)
    ref_model = MODELS[name](A, b)
    ref = _run(ref_model, np.zeros(ref_model.dim, dtype), method, iters=8)
    got = _run(
        MODELS[name](torch.from_numpy(A), torch.from_numpy(b)),
        torch.zeros(ref_model.dim, dtype=getattr(torch, np.dtype(dtype).name)),
        method,
        iters=8,
    )
    rtol = 2e-3 if dtype is np.float32 else 1e-9
    assert got.nit == ref.nit
    np.testing.assert_allclose(got.x.numpy(), ref.x, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(got.history.step, ref.history.step, rtol=rtol)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_results_stay_tensors_of_the_datas_dtype(name, dtype, method):
    A, b = _data(np.float64)
    A, b = torch.tensor(A, dtype=dtype), torch.tensor(b, dtype=dtype)
    model = MODELS[name](A, b)
    res = _run(model, torch.zeros(model.dim, dtype=dtype), method, iters=5)
    for value in (res.x, res.jac):
        assert isinstance(value, torch.Tensor)
        assert value.dtype == dtype and value.device.type == "cpu"
    assert isinstance(res.fun, float)
    ev = model.evaluate(res.x)
    assert isinstance(ev.grad, torch.Tensor) and ev.grad.dtype == dtype
    assert isinstance(model.value(res.x), float)
    assert model.value(res.x) == pytest.approx(res.fun, rel=1e-5)


def _count(monkeypatch, cls, name):
    calls = []
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["l4", "logistic"])
def test_cpu_as_accelerator_keeps_the_pytorch_path(name, method, monkeypatch):
    A, b = _data(np.float32)
    model = MODELS[name](torch.from_numpy(A), torch.from_numpy(b))
    x0 = torch.zeros(model.dim)
    host = _count(monkeypatch, _host.HostTwin, "evaluate")
    device = _count(monkeypatch, _segments.RowSegment, "device_step")
    res = _run(model, x0, method, iters=6)
    assert res.nit == 6 and len(host) >= 6 and not device
    host.clear()
    with cpu_as_accelerator():
        res = _run(model, x0, method, iters=6)
    assert res.nit == 6 and not host and len(device) == 6
    assert isinstance(res.x, torch.Tensor) and res.x.dtype == torch.float32


def test_products_carried_across_the_switch_are_converted():
    """A product the NumPy twin carried, given to the PyTorch code (and back), is taken as
    a tensor (and as a view): the same evaluation either way."""
    A, b = _data(np.float64)
    model = MODELS["l4"](torch.from_numpy(A), torch.from_numpy(b))
    x = torch.full((A.shape[1],), 0.5, dtype=torch.float64)
    ev = model.evaluate(x)
    d = -ev.grad
    seg = model.segment(x, ev, d)
    carried = seg.product(0.01)
    assert type(carried.value) is np.ndarray
    with cpu_as_accelerator():
        device = model.evaluate(x + 0.01 * d, product=carried)
        moved = model.segment(x, model.evaluate(x), d).product(0.01)
    host = model.evaluate(x + 0.01 * d, product=moved)
    assert isinstance(moved.value, torch.Tensor)
    assert device.value == pytest.approx(host.value, rel=1e-12)
    torch.testing.assert_close(device.grad, host.grad, rtol=1e-12, atol=0.0)


def test_a_copy_with_other_rows_gets_its_own_twin():
    """A model copied and given other rows (as lfso.stochastic's minibatches are) is not
    evaluated on the twin of the rows it was copied from."""
    A, b = _data(np.float64)
    model = MODELS["logistic"](torch.from_numpy(A), torch.from_numpy(b))
    x = torch.full((A.shape[1],), 0.3, dtype=torch.float64)
    model.evaluate(x)  # (the full model's twin, kept)
    batch = copy.copy(model)
    batch.X, batch.signs, batch.n = model.X[:50], model.signs[:50], 50
    fresh = MODELS["logistic"](torch.from_numpy(A[:50]), torch.from_numpy(b[:50]))
    assert batch.value(x) == pytest.approx(fresh.value(x), rel=1e-12)
    assert model.value(x) != pytest.approx(fresh.value(x), rel=1e-3)


def test_a_twin_made_while_another_thread_stores_its_own(monkeypatch):
    """Two threads running one model on CPU tensors: the second thread's twin is stored
    while the first is making its own (deterministically, from inside the first's copy of
    the attributes); both runs are the run made alone, with no error."""
    import threading

    A, b = _data(np.float64)
    make = lambda: MODELS["logistic"](torch.from_numpy(A), torch.from_numpy(b))  # noqa: E731
    x0s = [torch.full((A.shape[1],), v, dtype=torch.float64) for v in (0.3, -0.2)]
    alone = [_run(make(), x0, "lfso-lbfgs") for x0 in x0s]
    model, results, host_value = make(), {}, _host._host_value
    other = threading.Thread(target=lambda: results.update(b=_run(model, x0s[1], "lfso-lbfgs")))

    def interleaved(value):
        if not other.is_alive() and "b" not in results:
            other.start()
            other.join()
        return host_value(value)

    monkeypatch.setattr(_host, "_host_value", interleaved)
    results["a"] = _run(model, x0s[0], "lfso-lbfgs")
    for got, ref in zip((results["a"], results["b"]), alone, strict=True):
        assert got.nit == ref.nit
        torch.testing.assert_close(got.x, ref.x, rtol=0.0, atol=0.0)


@pytest.mark.parametrize("name", ["l4", "logistic", "softmax"])
def test_a_model_pickled_after_a_run_leaves_its_twin_behind(name):
    """The NumPy twin a run on CPU tensors made is a cache of views: a pickle or a deep copy
    of the model does not carry it (no second copy of the data), and runs as the model."""
    import pickle

    A, b = _data(np.float64)
    model = MODELS[name](torch.from_numpy(A), torch.from_numpy(b))
    x0 = torch.full((model.dim,), 0.1, dtype=torch.float64)
    before = len(pickle.dumps(model))
    first = _run(model, x0, "lfso-lbfgs")
    assert _host._SLOT in vars(model)
    assert len(pickle.dumps(model)) == before
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert _host._SLOT not in vars(twin)
        again = _run(twin, x0, "lfso-lbfgs")
        assert again.nit == first.nit
        torch.testing.assert_close(again.x, first.x, rtol=0.0, atol=0.0)


def test_other_tensors_take_the_pytorch_code():
    """Autograd, or a dtype not the data's: the model's PyTorch code (no twin)."""
    A, b = _data(np.float64)
    model = MODELS["l4"](torch.from_numpy(A), torch.from_numpy(b))
    x = torch.full((A.shape[1],), 0.5, dtype=torch.float64, requires_grad=True)
    assert _host.host_twin(model, x) is None
    assert model.evaluate(x).grad.requires_grad
    assert _host.host_twin(model, x.detach().float()) is None
    assert _host.host_twin(model, x.detach()) is not None
    assert _host.host_twin(MODELS["l4"](A, b), x.detach().numpy()) is None


# -- soundness: the host path's segment bounds against the exact curvature (mpmath) ---------


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_lp_segments_of_a_far_run_on_cpu_tensors_are_above_the_exact_curvature(dtype, method):
    """l_4 on CPU tensors from a far start (products carried from step to step, computed by
    PyTorch; the residual shared by the evaluation and the segment): every segment bound
    of the run is above the exact curvature of the data as they are."""
    rng = np.random.default_rng(11)
    A = (rng.standard_normal((9, 3)) * rng.uniform(0.2, 3.0, 3)).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    model = lfso.models.LpRegression(torch.from_numpy(A), torch.from_numpy(b), 2)
    x0 = torch.from_numpy(rng.standard_normal(3) * 10.0 ** (4 if dtype is np.float32 else 9))
    x0 = x0.to(getattr(torch, np.dtype(dtype).name))
    exact, checked = ExactRows(2.0, A, b), []
    for x, d, seg in run_segments(model, x0, method, 30):
        assert type(seg.r) is np.ndarray  # (the NumPy segment, on views)
        with np.errstate(all="ignore"):
            checked.append((x, d, check_claims(seg, exact, x, d, [])))
    assert len(checked) >= 10
    assert_all_hold(checked, f"l4 far run on CPU tensors, {method}")


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_logistic_float32_far_run_on_cpu_tensors_is_above_the_exact_curvature(method):
    """The far float32 logistic problem (margins of 1e4..1e8, rounding errors of order one)
    on CPU tensors: every segment bound of the run is above the exact curvature."""
    numpy_model, _ = _far_logistic()
    X, y = numpy_model.X, (numpy_model.signs > 0) * 1.0
    model = lfso.models.LogisticRegression(torch.from_numpy(X), torch.from_numpy(y), l2=0.1)
    exact = ExactLogistic(X, y, 0.1, False)
    x0 = torch.tensor([-589.0, 43388.0], dtype=torch.float32)
    checked = []
    for x, d, seg in run_segments(model, x0, method, 60):
        with np.errstate(all="ignore"):
            checked.append((x, d, check_claims(seg, exact, x, d, [])))
    assert checked
    assert_all_hold(checked, f"far logistic run on CPU tensors, {method}")
