"""L-BFGS on PyTorch CPU tensors computes its direction with the NumPy code, on zero-copy
views of the tensors (:class:`lfso.steps.LBFGSDirection`); inside
:func:`lfso.bench.cpu_as_accelerator` it keeps the PyTorch path, as on a GPU."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lfso  # noqa: E402
from lfso._later import cpu_as_accelerator, host_value, riding  # noqa: E402
from lfso.bench import count_host_syncs  # noqa: E402
from lfso.models import Evaluation, _host  # noqa: E402
from lfso.steps import LBFGSDirection  # noqa: E402
from lfso.steps import _directions as directions  # noqa: E402

MODELS = {
    "l4": lambda A, b: lfso.models.LpRegression(A, b, 2),
    "l2": lambda A, b: lfso.models.LpRegression(A, b, 1),
    "logistic": lambda A, b: lfso.models.LogisticRegression(A, (b > 0) * 1.0, l2=1e-3),
    "composite": lambda A, b: lfso.models.CompositeLeastSquares(A, b, 2),
}
DTYPES = [np.float32, np.float64]
IDS = ["float32", "float64"]


def _tensor_dtype(dtype):
    return getattr(torch, np.dtype(dtype).name)


# -- the direction itself, on given points --------------------------------------------------


def _points(dtype, d=7, k=14):
    """A quadratic's gradient ``H x - c`` (``H`` positive definite, so every pair has
    ``s . y > 0``) along a random walk that stands still once (a skipped pair)."""
    rng = np.random.default_rng(11)
    M = rng.standard_normal((d, d))
    H, c = (M @ M.T / d + np.eye(d)).astype(dtype), rng.standard_normal(d).astype(dtype)
    xs = np.cumsum(rng.standard_normal((k, d)), axis=0).astype(dtype)
    xs[6] = xs[5]
    return [(x, (H @ x - c).astype(dtype)) for x in xs]


def _evaluation(g):
    host = g if type(g) is np.ndarray else g.detach().numpy()
    return Evaluation(0.0, g, float(np.linalg.norm(host.astype(np.float64))))


HOST = contextlib.nullcontext


def _directions(points, wrap, modes=None, memory=3):
    """The L-BFGS directions at ``points``, each call in the mode ``modes[i]``: ``"host"``,
    ``"generic"`` (inside cpu_as_accelerator) or ``"deferred"`` (there, with defer=True)."""
    rule = LBFGSDirection(memory)
    x0, g0 = points[0]
    state = rule.init(wrap(x0), _evaluation(wrap(g0)))
    out = []
    for i, (x, g) in enumerate(points):
        mode = "host" if modes is None else modes[i]
        ctx = HOST() if mode == "host" else cpu_as_accelerator()
        with ctx:
            d, gd, dnorm, state = rule(
                wrap(x), _evaluation(wrap(g)), state, defer=mode == "deferred"
            )
        out.append((d, host_value(gd), host_value(dnorm), state))
    return out


def _host_array(d, g):
    if d is None:
        return -g
    return d if type(d) is np.ndarray else d.numpy()


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_directions_on_cpu_tensors_are_numpys_bit_for_bit(dtype):
    """The same NumPy arithmetic on views of the tensors: the same bits, ``d`` a tensor of
    the data's dtype, ``g . d`` and ``||d||`` host floats, the memory kept as tensors."""
    points = _points(dtype)
    ref = _directions(points, lambda a: a)
    got = _directions(points, torch.from_numpy)
    assert sum(d is not None for d, *_ in got) >= len(points) - 2
    for (d, gd, dnorm, state), (rd, rgd, rdnorm, _), (_, g) in zip(got, ref, points, strict=True):
        assert (d is None) == (rd is None)
        if d is not None:
            assert isinstance(d, torch.Tensor) and d.dtype == _tensor_dtype(dtype)
            np.testing.assert_array_equal(d.numpy(), _host_array(rd, g))
        assert type(gd) is float and type(dnorm) is float
        assert (gd, dnorm) == (rgd, rdnorm)
        assert isinstance(state.x, torch.Tensor) and isinstance(state.grad, torch.Tensor)
        assert all(isinstance(v, torch.Tensor) for pair in state.pairs for v in pair)


def test_the_direction_shares_the_numpy_results_memory(monkeypatch):
    """No copy on the way out: the tensor is the NumPy direction's memory."""
    results = []
    original = directions._Gram.direction

    def kept(self, g):
        results.append(original(self, g))
        return results[-1]

    monkeypatch.setattr(directions._Gram, "direction", kept)
    d, *_ = _directions(_points(np.float64), torch.from_numpy)[-1]
    assert d.numpy().ctypes.data == results[-1].ctypes.data


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_the_memory_carries_across_cpu_as_accelerator(dtype, monkeypatch):
    """A run that enters and leaves cpu_as_accelerator keeps its pairs: each path reads the
    memory the other left (tensors), and the directions are NumPy's to rounding."""
    calls = []
    original = LBFGSDirection._on_host

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("views", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LBFGSDirection, "_on_host", counted)
    points = _points(dtype, k=16)
    modes = ["host"] * 5 + ["generic"] * 3 + ["host"] * 3 + ["deferred"] * 3 + ["host"] * 2
    ref = _directions(points, lambda a: a)
    calls.clear()
    with riding():
        got = _directions(points, torch.from_numpy, modes)
    # the host path with views exactly where a mode asked for it, until the deferred
    # path's unsettled tests keep the run there (as before: it settles them itself)
    assert calls == [True] * 8
    rtol = 1e-4 if dtype is np.float32 else 1e-10
    for (d, gd, dnorm, _), (rd, rgd, rdnorm, _), (_, g) in zip(got, ref, points, strict=True):
        np.testing.assert_allclose(_host_array(d, g), _host_array(rd, g), rtol=rtol, atol=0)
        assert gd == pytest.approx(rgd, rel=rtol) and dnorm == pytest.approx(rdnorm, rel=rtol)


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("autograd", lambda a: torch.from_numpy(a).requires_grad_(True)),
        ("float16", lambda a: torch.from_numpy(a.astype(np.float16))),
    ],
)
def test_other_tensors_take_the_generic_path(case, make, monkeypatch):
    """Autograd or a dtype NumPy's path is not written for: the two-loop recursion in
    PyTorch, as before."""
    calls = []
    monkeypatch.setattr(
        LBFGSDirection, "_on_host", lambda *a, **k: calls.append(1) or pytest.fail(case)
    )
    got = _directions(_points(np.float64, k=8), make)
    assert not calls
    assert any(isinstance(d, torch.Tensor) for d, *_ in got)


# -- whole runs ------------------------------------------------------------------------------


def _data(dtype, n=300, d=5):
    rng = np.random.default_rng(5)
    A = (rng.standard_normal((n, d)) / 2.0).astype(dtype)
    b = (A @ np.ones(d, dtype) + 0.1 * rng.standard_normal(n)).astype(dtype)
    return A, b


def _run(model, x0, iters=15, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (tol = 0: may run to rounding)
        return lfso.minimize(model, x0, method="lfso-lbfgs", tol=0.0, max_iter=iters, **options)


@pytest.mark.parametrize("memory", [2, 10])
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_lbfgs_runs_on_cpu_tensors_are_numpys_bit_for_bit_with_numpys_products(
    name, dtype, memory, monkeypatch
):
    """With the twin's products in NumPy, everything is the NumPy code: lfso-lbfgs on CPU
    tensors takes NumPy's steps exactly."""
    monkeypatch.setattr(_host._TorchProduct, "__call__", lambda self, v: self.matrix.numpy() @ v)
    A, b = _data(dtype)
    ref_model = MODELS[name](A, b)
    ref = _run(ref_model, np.zeros(ref_model.dim, dtype), memory=memory)
    got = _run(
        MODELS[name](torch.from_numpy(A), torch.from_numpy(b)),
        torch.zeros(ref_model.dim, dtype=_tensor_dtype(dtype)),
        memory=memory,
    )
    assert got.nit == ref.nit
    np.testing.assert_array_equal(got.x.numpy(), ref.x)
    np.testing.assert_array_equal(got.history.step, ref.history.step)
    assert got.fun == ref.fun


@pytest.mark.parametrize("name", ["l4", "logistic"])
def test_cpu_as_accelerator_keeps_the_device_path_and_its_round_trips(name, monkeypatch):
    """Inside cpu_as_accelerator the direction never takes the views, and a run makes the
    same host round trips as with the views switched off altogether."""
    A, b = _data(np.float32)
    model = MODELS[name](torch.from_numpy(A), torch.from_numpy(b))
    x0 = torch.zeros(model.dim)

    def counted_run():
        with count_host_syncs() as counts:
            res = _run(model, x0, iters=8)
        assert res.nit == 8
        return dict(counts)

    counted_run()  # (the device's constants, made once per process, are not counted again)
    views = []
    original = LBFGSDirection._on_host
    monkeypatch.setattr(
        LBFGSDirection,
        "_on_host",
        lambda self, *a, **k: views.append(k.get("views", False)) or original(self, *a, **k),
    )
    with_views = counted_run()
    assert not any(views)
    monkeypatch.setattr(directions, "_viewable", lambda *arrays: False)
    assert counted_run() == with_views
    assert sum(with_views.values()) > 0
