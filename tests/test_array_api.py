"""The core and the models run on any array-API library: same iterates as NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import lfso
from lfso.models import (
    CauchyRegression,
    CompositeLeastSquares,
    LogisticRegression,
    LpRegression,
    PowerNorm,
    PowerSum,
    SoftmaxRegression,
)

xps = pytest.importorskip("array_api_strict")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((40, 6))
    return A, A @ np.ones(6) + 0.1 * rng.standard_normal(40)


def _logistic(xp):
    A, b = _data()
    y = (b > np.median(b)).astype(float)
    return LogisticRegression(xp.asarray(A), xp.asarray(y), l2=0.05, fit_intercept=True), 7


def _softmax(xp):
    A, b = _data()
    classes = np.digitize(b, np.quantile(b, [1 / 3, 2 / 3]))
    return SoftmaxRegression(xp.asarray(A), xp.asarray(classes), 3, l2=0.05), 21


#: One ridge weight per feature (a zero among them), for the cases named ``-ridges``.
RIDGES = np.array([0.05, 0.0, 0.5, 1e-3, 0.02, 0.1])


def _logistic_ridges(xp):
    A, b = _data()
    y = (b > np.median(b)).astype(float)
    model = LogisticRegression(xp.asarray(A), xp.asarray(y), l2=RIDGES, fit_intercept=True)
    return model, 7


def _softmax_ridges(xp):
    A, b = _data()
    classes = np.digitize(b, np.quantile(b, [1 / 3, 2 / 3]))
    return SoftmaxRegression(xp.asarray(A), xp.asarray(classes), 3, l2=RIDGES), 21


CASES = {
    "power_norm": lambda xp: (PowerNorm(2), 5),
    "power_sum": lambda xp: (PowerSum(3), 5),
    "lp-p1": lambda xp: (LpRegression(*map(xp.asarray, _data()), 1), 6),
    "lp-p2": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2), 6),
    "lp-p2.5": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2.5), 6),
    "lp-p2-paper": lambda xp: (LpRegression(*map(xp.asarray, _data()), 2, oracle="paper"), 6),
    "composite": lambda xp: (CompositeLeastSquares(*map(xp.asarray, _data()), 2), 6),
    "logistic": _logistic,
    "logistic-ridges": _logistic_ridges,
    "softmax": _softmax,
    "softmax-ridges": _softmax_ridges,
    "cauchy": lambda xp: (CauchyRegression(*map(xp.asarray, _data()), c=0.5), 6),
}


NO_PAPER_RADIUS = {"softmax", "softmax-ridges", "cauchy"}  # models the paper does not treat: no R0


@pytest.mark.parametrize(
    "name, radius",
    [(name, "tight") for name in sorted(CASES)]
    + [(name, "paper") for name in sorted(CASES) if name not in NO_PAPER_RADIUS],
)
def test_array_api_strict_matches_numpy(name, radius):
    model_np, d = CASES[name](np)
    model_xp, _ = CASES[name](xps)
    x0 = np.linspace(0.5, 1.5, d)
    ref = lfso.minimize(model_np, x0, radius=radius, tol=0.0, max_iter=60)
    res = lfso.minimize(model_xp, xps.asarray(x0), radius=radius, tol=0.0, max_iter=60)
    assert type(res.x) is type(xps.asarray(x0))  # the work stayed in the caller's library
    np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.history.f, ref.history.f, rtol=1e-12)


@pytest.mark.parametrize("name", ["lp-p2", "logistic", "softmax", "cauchy"])
def test_array_api_strict_float32_matches_numpy(name):
    """float32 data in a strict array-API library: the model is built (its operator norm
    is formed in float64 block by block, the last block ending at the last row, where a
    slice past the end is not part of the standard) and runs NumPy's iterates, up to the
    float32 rounding of their arithmetic, which the two paths order differently. (On NumPy
    the row models also bound the exact slope, which ends a run at ``PRECISION_LIMIT``
    where the gradient's rounding swamps it; a strict library's arrays go without that
    bound, so the two are compared over NumPy's iterations.)"""

    def as32(xp):
        def asarray(a):
            a = np.asarray(a)
            return xp.asarray(a.astype(np.float32) if a.dtype == np.float64 else a)

        return asarray

    class Lib:  # (the namespace with float32 arrays)
        def __init__(self, xp):
            self.asarray = as32(xp)

    model_np, d = CASES[name](Lib(np))
    model_xp, _ = CASES[name](Lib(xps))
    x0 = np.linspace(0.5, 1.5, d).astype(np.float32)
    ref = lfso.minimize(model_np, x0, tol=0.0, max_iter=20)
    res = lfso.minimize(model_xp, xps.asarray(x0), tol=0.0, max_iter=20)
    assert np.asarray(res.x).dtype == np.float32 and res.nit == 20
    assert ref.nit == 20 or ref.status is lfso.Status.PRECISION_LIMIT
    k = ref.nit + 1  # (NumPy's rows: x0 and each iterate)
    np.testing.assert_allclose(res.history.f[:k], ref.history.f, rtol=1e-5)
    if ref.nit == 20:
        np.testing.assert_allclose(np.asarray(res.x), ref.x, rtol=1e-4, atol=1e-5)


def test_array_api_strict_rejects_bad_start():
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        lfso.minimize(PowerSum(2), xps.ones((2, 2)))


def _torch():
    return pytest.importorskip("torch")


TORCH_CASES = [
    "power_sum",
    "lp-p1",
    "lp-p2",
    "lp-p2.5",
    "composite",
    "logistic",
    "logistic-ridges",
    "softmax",
    "softmax-ridges",
    "cauchy",
]


class _OnDevice:
    """``array_api_compat.torch`` whose ``asarray`` puts arrays on one device."""

    def __init__(self, device):
        import array_api_compat.torch as xpt

        self.xpt, self.device = xpt, device

    def asarray(self, a):
        return self.xpt.asarray(a, device=self.device)


def _match_numpy(name, method, device):
    torch = _torch()
    model_np, d = CASES[name](np)
    model_t, _ = CASES[name](_OnDevice(device))
    x0 = np.linspace(0.5, 1.5, d)
    ref = lfso.minimize(model_np, x0, method=method, tol=0.0, max_iter=40)
    res = lfso.minimize(
        model_t, torch.tensor(x0, device=device), method=method, tol=0.0, max_iter=40
    )
    assert isinstance(res.x, torch.Tensor) and res.x.dtype == torch.float64
    assert res.x.device.type == device  # the work stayed on the device
    # To rounding (CPU tensors take the host's solve, as NumPy does), except where tensors on
    # an accelerator size the certified step there (lfso._later: a grid of certified trial
    # steps, within about 2% of the host's solve, so the two runs take different certified
    # steps and their iterates part by more than rounding).
    on_accelerator = device != "cpu" and method in ("lfso", "lfso-lbfgs")
    close = 1e-5 if on_accelerator else 1e-7
    np.testing.assert_allclose(res.x.cpu().numpy(), ref.x, rtol=close, atol=close / 10)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")  # tol=0 runs to rounding
@pytest.mark.parametrize("name", TORCH_CASES)
@pytest.mark.parametrize("method", ["lfso", "lfso-accel", "armijo"])
def test_pytorch_tensors_match_numpy_in_float64(name, method):
    _match_numpy(name, method, "cpu")


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
def test_cuda_tensors_match_numpy_in_float64():  # pragma: no cover - CI has no GPU
    """Every model and method on CUDA tensors: NumPy's iterates (runs where a GPU is present)."""
    if not _torch().cuda.is_available():
        pytest.skip("no CUDA device")
    for name in TORCH_CASES:
        for method in ("lfso", "lfso-accel", "armijo"):
            _match_numpy(name, method, "cuda")


#: The relative gradient float32 runs reach (README): 1e-6, softmax's floor is about 3e-6.
FLOAT32_TOL = {
    "lp2": 1e-6,
    "lp1": 1e-6,
    "composite": 1e-6,
    "logistic": 1e-6,
    "cauchy": 1e-6,
    "softmax": 1e-5,
}


def _float32_models(dtype):
    torch = _torch()
    rng = np.random.default_rng(0)
    n, d = 1000, 20  # enough rows for float32 rounding to show in the oracle's reductions
    A = rng.standard_normal((n, d)) / np.sqrt(d)
    b = A @ np.ones(d) + 0.1 * rng.standard_normal(n)
    At, bt = torch.tensor(A, dtype=dtype), torch.tensor(b, dtype=dtype)
    labels = torch.tensor(b > np.median(b), dtype=dtype)
    classes = torch.tensor(np.digitize(b, np.quantile(b, [1 / 3, 2 / 3])))
    return {
        "lp2": LpRegression(At, bt, 2),
        "lp1": LpRegression(At, bt, 1),
        "composite": CompositeLeastSquares(At, bt, 2),
        "logistic": LogisticRegression(At, labels, l2=1e-3),
        "softmax": SoftmaxRegression(At, classes, 3, l2=1e-3),
        "cauchy": CauchyRegression(At, bt),
    }


@pytest.mark.parametrize("method", ["lfso", "lfso-accel"])
def test_pytorch_float32_converges_quietly(method):
    """float32 runs reach the documented tolerance without spurious risk warnings or a
    false "oracle decreases in R" (the row models' O(n) reductions round at 1e-7)."""
    torch = _torch()
    import warnings

    single, double = _float32_models(torch.float32), _float32_models(torch.float64)
    for name, model in single.items():
        x0 = torch.zeros(model.dim, dtype=torch.float32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", lfso.monitor.RiskWarning)
            res = lfso.minimize(model, x0, method=method, tol=FLOAT32_TOL[name], max_iter=20_000)
        assert res.success and res.x.dtype == torch.float32, name
        # Softmax's f stops resolving its decrease in float32 before the gradient reaches
        # the tolerance: 'stagnation' says so, truthfully. Nothing else may fire.
        fired = {w.message.args[0].split("'")[1] for w in caught}
        assert fired <= ({"stagnation"} if name == "softmax" else set()), (name, fired)
        ref = lfso.minimize(double[name], x0.double(), method=method, tol=1e-7, max_iter=20_000)
        assert abs(res.fun - ref.fun) <= 1e-4 * abs(ref.fun), name


def test_starting_point_follows_pytorch_data():
    """A NumPy or float32 x0 for float64 tensors is taken to their dtype and device."""
    torch = _torch()
    A, b = _data()
    model = LpRegression(torch.tensor(A), torch.tensor(b), 2)
    # The reference starts from the data's own dtype and device; every other x0 must give
    # its run exactly. (NumPy's run is not the reference: tensors size the certified step on
    # the device, lfso._later, so the default method's iterates differ beyond rounding.)
    ref = lfso.minimize(model, torch.zeros(6, dtype=torch.float64))
    for x0 in (np.zeros(6), torch.zeros(6, dtype=torch.float32), [0.0] * 6):
        res = lfso.minimize(model, x0)
        assert res.success and res.x.dtype == torch.float64
        np.testing.assert_allclose(res.x.numpy(), ref.x.numpy(), rtol=1e-10, atol=1e-12)
    numpy_run = lfso.minimize(LpRegression(A, b, 2), np.zeros(6))
    np.testing.assert_allclose(res.x.numpy(), numpy_run.x, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_targets_and_labels_follow_pytorch_data(dtype):
    """b and y as NumPy arrays (or lists) for tensors: taken to the tensors' library, device
    and dtype, giving the model of all-tensor data."""
    torch = _torch()
    A, b = _data()
    At = torch.tensor(A, dtype=getattr(torch, dtype))
    y = (b > np.median(b)).astype(float)
    pairs = [
        (LpRegression(At, b, 2), LpRegression(At, torch.tensor(b, dtype=At.dtype), 2)),
        (CauchyRegression(At, list(b)), CauchyRegression(At, torch.tensor(b, dtype=At.dtype))),
        (LogisticRegression(At, y), LogisticRegression(At, torch.tensor(y, dtype=At.dtype))),
    ]
    x = torch.linspace(-1.0, 1.0, A.shape[1], dtype=At.dtype)
    for mixed, tensors in pairs:
        if hasattr(mixed, "b"):
            assert isinstance(mixed.b, torch.Tensor) and mixed.b.dtype == At.dtype
        assert mixed.value(x) == tensors.value(x)
        assert torch.equal(mixed.grad(x), tensors.grad(x))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method", ["lfso", "lfso-accel"])
def test_models_stay_on_the_data_device(name, method):
    """Data on a non-default device (array-api-strict's "device1" refuses to mix with the
    CPU device, as CUDA does): every array a model creates, and x0, follow the data."""
    device = xps.Device("device1")

    class OnDevice:
        @staticmethod
        def asarray(a):
            return xps.asarray(np.asarray(a), device=device)

    model, d = CASES[name](OnDevice)
    x0 = np.linspace(0.5, 1.5, d)
    ref = lfso.minimize(CASES[name](np)[0], x0, method=method, tol=0.0, max_iter=20)
    starts = [OnDevice.asarray(x0)]
    if hasattr(model, "A") or hasattr(model, "X"):  # a host start joins the data's device
        starts.append(x0)
    for start in starts:
        res = lfso.minimize(model, start, method=method, tol=0.0, max_iter=20)
        assert res.x.device == device
        host = np.asarray(res.x.to_device(xps.Device("CPU_DEVICE")))
        np.testing.assert_allclose(host, ref.x, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore::lfso.monitor.RiskWarning")
@pytest.mark.parametrize("method", ["lfso", "armijo", "bb", "adgd", "dog"])
def test_black_box_runs_stay_on_the_data_device(method):
    """A user function on "device1" (automatic oracle, peers): nothing is made on the CPU."""
    device = xps.Device("device1")
    A, b = _data()
    Ad, bd = xps.asarray(A, device=device), xps.asarray(b, device=device)

    def fun(x):
        r = Ad @ x - bd
        return 0.5 * xps.sum(r * r), Ad.T @ r

    x0 = xps.zeros(6, dtype=xps.float64, device=device)
    res = lfso.minimize(fun, x0, grad=True, method=method, max_iter=30)
    assert res.x.device == device and res.nit > 0


@pytest.mark.parametrize("accelerator", [False, True])
@pytest.mark.parametrize("name", ["lp-p2", "composite", "logistic", "softmax", "cauchy"])
def test_data_tensors_that_require_grad_are_detached(name, accelerator):
    """Data that require grad (features from a network) give the run of the same data
    detached: iterates without autograd's graph, on the host path and the device path."""
    torch = _torch()
    from lfso.bench import cpu_as_accelerator

    class Grad:
        @staticmethod
        def asarray(a):
            t = torch.asarray(np.asarray(a))
            return t.to(torch.float64).requires_grad_() if t.is_floating_point() else t

    class Plain:
        @staticmethod
        def asarray(a):
            return torch.asarray(np.asarray(a))

    model, d = CASES[name](Grad)
    x0 = torch.full((d,), 0.5, dtype=torch.float64)
    with cpu_as_accelerator(accelerator):
        res = lfso.minimize(model, x0, tol=0.0, max_iter=15)
        ref = lfso.minimize(CASES[name](Plain)[0], x0, tol=0.0, max_iter=15)
    assert res.x.grad_fn is None and not res.x.requires_grad and not res.jac.requires_grad
    assert torch.equal(res.x, ref.x)


@pytest.mark.parametrize("where", ["A", "b", "x0"])
def test_tensors_on_the_meta_device_are_refused_naming_them(where):
    torch = _torch()
    A, b = (torch.tensor(a) for a in _data())
    x0 = torch.zeros(6, dtype=torch.float64)
    given = {"A": A, "b": b, "x0": x0}
    given[where] = given[where].to("meta")
    with pytest.raises(ValueError, match=f"^{where} is a tensor on PyTorch's 'meta' device"):
        lfso.minimize(LpRegression(given["A"], given["b"], 2), given["x0"])
    if where == "x0":
        with pytest.raises(ValueError, match=r"^x0 is a tensor on PyTorch's 'meta' device"):
            lfso.minimize(PowerSum(2), given["x0"])


@pytest.mark.parametrize("where", ["A", "b", "x0"])
def test_tensors_on_a_device_without_float64_are_refused_naming_them(where, monkeypatch):
    # (b or x0 there, with NumPy data, comes to the host: no float64 needed there)
    # Emulates Apple's 'mps' device, which has no float64 (PyTorch raises a TypeError at
    # a float64 tensor there), on the CPU: the certificates' float64 sums on the device
    # would fail deep inside the run; the data and the start are refused up front.
    torch = _torch()
    import lfso._arrays as arrays

    real_zeros = torch.zeros

    def zeros(*args, dtype=None, **kwargs):
        if dtype is torch.float64:
            raise TypeError("Cannot convert a MPS Tensor to float64 dtype")
        return real_zeros(*args, dtype=dtype, **kwargs)

    monkeypatch.setattr(torch, "zeros", zeros)
    monkeypatch.setattr(arrays, "_FLOAT64_DEVICES", frozenset())
    monkeypatch.setattr(arrays, "_FLOAT64_ON", {})
    A, b = (np.asarray(a, np.float32) for a in _data())
    given = {"A": A, "b": b, "x0": np.zeros(6, np.float32)}
    given[where] = torch.from_numpy(given[where])  # (only it on the emulated device)
    said = rf"^{where} \(torch.float32\) is on PyTorch's 'cpu' device, which has no float64"
    if where in ("b", "x0"):  # (NumPy data take it to the host)
        assert lfso.minimize(LpRegression(A, given["b"], 2), given["x0"]).success
    if where == "b":
        return
    with pytest.raises(TypeError, match=said) as caught:
        if where == "x0":  # (a function's start stays on its device)
            lfso.minimize(PowerSum(2), given["x0"])
        lfso.minimize(LpRegression(given["A"], given["b"], 2), given["x0"])
    assert f"{where}.cpu()" in str(caught.value)


def test_a_start_on_another_device_is_taken_to_numpy_data():
    """As b and y are: x0 on another device (array-api-strict's "device1", like CUDA's)
    for NumPy data comes to the host."""
    A, b = _data()
    x0 = np.linspace(0.5, 1.5, 6)
    start = xps.asarray(x0, device=xps.Device("device1"))
    res = lfso.minimize(LpRegression(A, b, 2), start, tol=0.0, max_iter=10)
    ref = lfso.minimize(LpRegression(A, b, 2), x0, tol=0.0, max_iter=10)
    assert type(res.x) is np.ndarray
    np.testing.assert_array_equal(res.x, ref.x)


@pytest.mark.parametrize("library", ["numpy", "array_api_strict", "torch", "dask"])
@pytest.mark.parametrize("model", [LpRegression, CompositeLeastSquares, CauchyRegression])
def test_float64_targets_take_float32_datas_dtype(library, model):
    """b is kept in A's dtype whatever the library, so that float32 data and a float32 x0
    run in float32 (float64 targets would carry NumPy's residuals, and the run, to
    float64)."""
    A, b = _data()
    A32 = A.astype(np.float32)
    if library == "numpy":
        data = A32
    elif library == "array_api_strict":
        data = xps.asarray(A32)
    elif library == "torch":
        data = _torch().asarray(A32)
    else:
        data = pytest.importorskip("dask.array").from_array(A32, chunks=(20, 6))
    extra = (2,) if model is not CauchyRegression else ()
    m = model(data, b, *extra)
    assert m.b.dtype == A32.dtype if library in ("numpy", "dask") else m.b.dtype == data.dtype
    res = lfso.minimize(m, np.zeros(6, dtype=np.float32), tol=0.0, max_iter=5)
    assert res.x.dtype == m.b.dtype and res.jac.dtype == m.b.dtype


def test_a_bfloat16_result_saves_and_loads(tmp_path):
    torch = _torch()
    res = lfso.minimize(PowerSum(2), torch.ones(4, dtype=torch.bfloat16), max_iter=5)
    assert res.x.dtype == torch.bfloat16
    loaded = lfso.Result.load(res.save(tmp_path / "run.npz"))
    np.testing.assert_array_equal(loaded.x, res.x.float().numpy())


def test_softmax_takes_integral_float_and_unsigned_labels_as_numpy_does():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 3)), np.arange(12) % 3
    ref = lfso.models.SoftmaxRegression(X, y, 3)
    x = rng.standard_normal(ref.dim)
    for labels in (y.astype(np.float64), y.astype(np.uint64)):
        model = lfso.models.SoftmaxRegression(xps.asarray(X), xps.asarray(labels), 3)
        assert float(model.value(xps.asarray(x))) == pytest.approx(ref.value(x), rel=1e-12)


def test_a_strict_run_after_a_numpy_one_raises_no_dtype_warning():
    """A strict dtype hashes as NumPy's and warns when compared with it: the dtype limits
    are kept by the dtype's type and name."""
    import warnings

    A = np.random.default_rng(0).standard_normal((20, 3))
    b = A @ np.ones(3)
    lfso.minimize(LpRegression(A, b, 2), np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lfso.minimize(
            LpRegression(xps.asarray(A), xps.asarray(b), 2), xps.zeros(3, dtype=xps.float64)
        )
    assert res.success
