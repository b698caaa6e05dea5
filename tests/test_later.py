"""PyTorch CPU tensors take the host path; :func:`lfso._later.cpu_as_accelerator` switches
them to the accelerator's (deferred scalars, the step sized on the device)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lfso  # noqa: E402
from lfso._later import accelerated, cpu_as_accelerator, deferring, riding  # noqa: E402
from lfso.bench import count_host_syncs  # noqa: E402
from lfso.models import _segments  # noqa: E402


def _data():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((400, 6)) / 2.0
    b = A @ np.ones(6) + 0.1 * rng.standard_normal(400)
    return A, b


MODELS = {
    "l4": lambda A, b: lfso.models.LpRegression(A, b, 2),
    "logistic": lambda A, b: lfso.models.LogisticRegression(A, (b > 0) * 1.0, l2=1e-3),
    "logistic-ridges": lambda A, b: lfso.models.LogisticRegression(
        A, (b > 0) * 1.0, l2=np.array([1e-3, 0.0, 1e-2, 1e-3, 1e-1, 1e-4])
    ),
}


def test_cpu_tensors_defer_only_inside_the_switch():
    x = torch.zeros(3)
    assert not deferring(x)  # not riding: nothing deferred anywhere
    with riding():
        assert not deferring(x) and not accelerated(x)
        assert not deferring(np.zeros(3))
        with cpu_as_accelerator():
            assert deferring(x) and accelerated(x)
            assert not deferring(np.zeros(3)) and not accelerated(np.zeros(3))
            with cpu_as_accelerator(enabled=False):
                assert not deferring(x)
            assert deferring(x)
        assert not deferring(x)


def test_counting_round_trips_measures_the_accelerators_path():
    x = torch.zeros(3)
    with riding():
        with count_host_syncs():
            assert deferring(x)
        assert not deferring(x)


def _run(model, x0, method, iters=12):
    points = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (tol = 0: may run to rounding)
        res = lfso.minimize(
            model,
            x0,
            method=method,
            tol=0.0,
            max_iter=iters,
            callback=lambda x: points.append(np.asarray(lfso._arrays.to_numpy(x), float)),
        )
    return res, points


def _count_device_steps(monkeypatch):
    calls = []
    original = _segments.RowSegment.device_step

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_segments.RowSegment, "device_step", counted)
    return calls


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cpu_tensors_take_no_device_step_unless_switched(name, method, monkeypatch):
    A, b = _data()
    model = MODELS[name](torch.tensor(A), torch.tensor(b))
    x0 = torch.zeros(6, dtype=torch.float64)
    calls = _count_device_steps(monkeypatch)
    res, _ = _run(model, x0, method)
    assert res.nit == 12 and not calls
    assert all(isinstance(v, float) for v in res.history.step)
    with cpu_as_accelerator():
        res, _ = _run(model, x0, method)
    assert res.nit == 12 and len(calls) == 12


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_cpu_tensor_iterates_are_numpys_to_rounding(name, method):
    """The same data as float64 NumPy arrays and CPU tensors: the same steps (the models'
    own products differ by rounding only, the segments' host solve is NumPy's)."""
    A, b = _data()
    ref, ref_points = _run(MODELS[name](A, b), np.zeros(6), method)
    got, points = _run(
        MODELS[name](torch.tensor(A), torch.tensor(b)), torch.zeros(6, dtype=torch.float64), method
    )
    assert got.nit == ref.nit
    np.testing.assert_allclose(got.history.step, ref.history.step, rtol=1e-8)
    for a, c in zip(points, ref_points, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["lp3-float32", "power_sum-float64"])
def test_the_first_device_step_finds_a_root_far_below_the_unit_step(case):
    """Large data (or a large start): the first certified step is about ``1e-19`` of
    ``-g``. The device's first batch of trials, centred on ``target / C(0)``, brackets it;
    centred on 1, every trial's float32 row sums were past the range, the bound ``inf``
    and the step 0, at every iteration. The run takes the host path's iterations."""
    if case == "lp3-float32":
        rng = np.random.default_rng(0)
        A = (100 * rng.standard_normal((200, 8))).astype(np.float32)
        b = A @ rng.standard_normal(8).astype(np.float32)
        model = lfso.models.LpRegression(torch.tensor(A), torch.tensor(b), p=3)
        x0 = torch.zeros(8)
    else:
        model, x0 = lfso.models.PowerSum(4), torch.full((5,), 1e10, dtype=torch.float64)
    host = lfso.minimize(model, x0, max_iter=300)
    with cpu_as_accelerator():
        device_run = lfso.minimize(model, x0, max_iter=300)
    assert host.status is device_run.status is lfso.Status.CONVERGED
    assert abs(device_run.nit - host.nit) <= 2 and device_run.history.step[1] > 0.0


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["logistic", "cauchy"])
def test_a_step_no_bound_certifies_on_the_device_stops_as_on_the_host(name, method):
    """float32 data of size 1e20: every trial step's bound is past the range, so the
    device's step is 0. The run stops ``PRECISION_LIMIT`` at ``x0``, as the host's does,
    instead of taking zero steps until ``max_iter``."""
    A, b = _data()
    At, bt = torch.tensor(1e20 * A, dtype=torch.float32), torch.tensor(1e20 * b).float()
    if name == "logistic":
        model = lfso.models.LogisticRegression(At, (bt > 0).float(), l2=1e-3)
    else:
        model = lfso.models.CauchyRegression(At, bt)
    x0 = torch.zeros(6)
    host = lfso.minimize(model, x0, method=method, max_iter=30)
    with cpu_as_accelerator():
        device_run = lfso.minimize(model, x0, method=method, max_iter=30)
    assert host.status is lfso.Status.PRECISION_LIMIT
    assert device_run.status is host.status
    assert device_run.nit == host.nit == 0 and len(device_run.history) == 1
    assert torch.equal(device_run.x, x0)


@pytest.mark.parametrize(
    ("path", "dtype", "method"),
    [("host", torch.float64, "lfso"), ("ahead", torch.float32, "lfso-lbfgs")],
)
def test_a_tol_0_run_converges_only_where_the_fresh_gradient_is_0(path, dtype, method, monkeypatch):
    """A run whose steps no longer move ``x`` (``x + t d`` rounds to ``x``) while the
    product carried from step to step does: its gradient norm there reached 0 from
    ``1e-17`` (``1e-9`` in float32), and a ``tol=0`` run stopped ``CONVERGED`` (an exact
    stationary point) at a point whose gradient is not 0. The test is confirmed on a
    fresh evaluation, on the host's path and on the accelerator's, the loop ahead of its
    evaluations."""
    from lfso import _stepper

    monkeypatch.setattr(_stepper, "AHEAD_ROWS", 0)  # (only inside cpu_as_accelerator)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((120, 5)) / 2
    b = A @ np.ones(5) + 0.1 * rng.standard_normal(120)
    At, labels = torch.tensor(A, dtype=dtype), torch.tensor((b > 0) * 1.0, dtype=dtype)
    model = lfso.models.LogisticRegression(At, labels, l2=1e-3)
    x0 = torch.full((5,), 0.1, dtype=dtype)
    with warnings.catch_warnings(), cpu_as_accelerator(path == "ahead"):
        warnings.simplefilter("ignore")  # (tol = 0: runs to rounding)
        res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=300)
        fresh = model.evaluate(res.x)  # (on the run's path: the same rounding)
    assert res.grad_norm == fresh.grad_norm and res.fun == fresh.value
    # (or PRECISION_LIMIT, where the gradient's rounding swamps the exact slope's bound)
    ends = (lfso.Status.MAX_ITER, lfso.Status.PRECISION_LIMIT)
    assert res.status in ends or fresh.grad_norm == 0.0
    assert len(res.history) == res.nit + 1
