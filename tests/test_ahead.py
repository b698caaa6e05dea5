"""The loop one point ahead of its evaluations' scalars on an accelerator (CPU tensors
standing in for a GPU): the same run as in order, and no wait that drains the queue. The
loop goes ahead from ``lfso._stepper.AHEAD_ROWS`` rows: lowered to 0 here, so that the
small models of these tests take that path."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lfso  # noqa: E402
from lfso import _stepper  # noqa: E402
from lfso._later import ahead, cpu_as_accelerator, later, riding, start_fetch  # noqa: E402
from lfso.bench import count_host_syncs  # noqa: E402
from lfso.models import _rows  # noqa: E402
from lfso.models._base import PendingEvaluation  # noqa: E402
from lfso.steps import FixedStep  # noqa: E402
from lfso.steps._directions import LBFGSDirection, SteepestDescent  # noqa: E402


def _data(n: int = 300, d: int = 6, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d)) / 2.0
    return A, A @ np.ones(d) + 0.1 * rng.standard_normal(n)


def _models(dtype: torch.dtype = torch.float64) -> dict[str, lfso.models.Model]:
    A, b = _data()
    At, bt = torch.tensor(A, dtype=dtype), torch.tensor(b, dtype=dtype)
    labels = torch.tensor((b > 0) * 1.0, dtype=dtype)
    rng = np.random.default_rng(5)

    def least_squares(x):
        r = At @ x - bt
        return 0.5 * (r @ r), At.T @ r

    lipschitz = float(np.linalg.norm(A, 2) ** 2)

    return {
        "l4": lfso.models.LpRegression(At, bt, 2),
        "l2.5": lfso.models.LpRegression(At, bt, 1.25),
        "logistic": lfso.models.LogisticRegression(At, labels, l2=1e-3),
        "softmax": lfso.models.SoftmaxRegression(At, torch.tensor(rng.integers(0, 3, 300)), 3),
        "cauchy": lfso.models.CauchyRegression(At, bt),
        "composite": lfso.models.CompositeLeastSquares(At, bt, 2),
        "power_sum": lfso.models.PowerSum(2),
        "power_norm": lfso.models.PowerNorm(2),
        "function": lfso.models.FunctionModel(least_squares, True, lambda x, radius: lipschitz),
    }


MODELS = _models()
MODELS32 = _models(torch.float32)


@pytest.fixture(autouse=True)
def _ahead_at_any_size(monkeypatch):
    monkeypatch.setattr(_stepper, "AHEAD_ROWS", 0)


def _x0(name: str) -> torch.Tensor:
    model = MODELS[name]
    d = model.dim if model.dim is not None else 6
    return torch.full((d,), 0.3, dtype=torch.float64)


def _run(model, x0, in_order: bool, monkeypatch, method: str = "gd", **options):
    """``lfso.minimize`` on the accelerator's path, ahead or (``in_order``) not."""
    with monkeypatch.context() as patch:
        if in_order:
            for rule in (FixedStep, SteepestDescent, LBFGSDirection):
                patch.setattr(rule, "host_free", False)
        with cpu_as_accelerator():
            return lfso.minimize(model, x0, method=method, **options)


def _same_run(first, second) -> None:
    assert torch.equal(first.x, second.x)
    assert (first.fun, first.grad_norm, first.nit, first.status) == (
        second.fun,
        second.grad_norm,
        second.nit,
        second.status,
    )
    np.testing.assert_array_equal(first.history.f, second.history.f)
    np.testing.assert_array_equal(first.history.grad_norm, second.history.grad_norm)
    np.testing.assert_array_equal(first.history.step, second.history.step)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_evaluates_ahead_as_in_order(name, monkeypatch):
    """The fields of an evaluation made ahead are those of one that waited, bit for bit."""
    model, x0 = MODELS[name], _x0(name)
    with cpu_as_accelerator(), riding():
        now = model.evaluate(x0, bound=True, probe=x0)
        with ahead():
            pending = model.evaluate(x0, bound=True, probe=x0)
        assert isinstance(pending, PendingEvaluation) and pending.pending
        assert pending.grad is not None
        value = pending.value  # the first read settles it
        assert not pending.pending
    assert value == now.value and pending.grad_norm == now.grad_norm
    assert pending.probe_dot == now.probe_dot and pending.carried == now.carried
    assert torch.equal(pending.grad, now.grad)
    assert (pending.bound is None) == (now.bound is None)
    if now.bound is not None:
        assert pending.bound(0.5) == now.bound(0.5)


@pytest.mark.parametrize("name", ["l4", "logistic", "cauchy", "function", "power_norm"])
@pytest.mark.parametrize("tol", [0.0, 1e-2])
def test_gd_ahead_is_the_run_in_order(name, tol, monkeypatch):
    model, x0 = MODELS[name], _x0(name)
    with cpu_as_accelerator():
        step = 1.0 / model.at(x0)(2.0)
    options = {"step": step, "tol": tol, "max_iter": 60 if tol == 0.0 else 5000}
    in_order = _run(model, x0, True, monkeypatch, **options)
    ahead_run = _run(model, x0, False, monkeypatch, **options)
    _same_run(ahead_run, in_order)
    # A run that stops converged has evaluated the point after its last one too.
    extra = 1 if in_order.status is lfso.Status.CONVERGED else 0
    assert ahead_run.nfev == in_order.nfev + extra
    assert ahead_run.status is (lfso.Status.MAX_ITER if tol == 0.0 else lfso.Status.CONVERGED)


def test_gd_ahead_waits_on_the_device_once_per_run():
    """Every read of an evaluation's scalars overlaps the next evaluation's work: only the
    last point's read (where the run stops at max_iter) drains the device's queue."""
    model, x0 = MODELS["logistic"], _x0("logistic")
    for max_iter in (20, 50):
        with count_host_syncs() as counts:
            res = lfso.minimize(model, x0, method="gd", step=1.0, tol=0.0, max_iter=max_iter)
        assert res.nit == max_iter
        assert counts["wait"] == 1 and counts["overlapped wait"] == max_iter - 1
        assert counts["tolist"] == 1  # (the first evaluation, before the loop)


def test_a_non_finite_point_met_ahead_stops_as_in_order(monkeypatch):
    """The point after a non-finite one was taken ahead; the run still stops at the
    non-finite one, returning the best finite point."""
    model, x0 = MODELS["power_sum"], _x0("power_sum")
    options = {"step": 10.0, "tol": 0.0, "max_iter": 500}  # (diverges: f overflows to inf)
    in_order = _run(model, x0, True, monkeypatch, **options)
    ahead_run = _run(model, x0, False, monkeypatch, **options)
    assert in_order.status in (lfso.Status.NON_FINITE, lfso.Status.UNBOUNDED)
    _same_run(ahead_run, in_order)


def test_a_callback_sees_each_point_in_order_and_can_stop_the_run(monkeypatch):
    model, x0 = MODELS["logistic"], _x0("logistic")
    for in_order in (True, False):
        seen: list[float] = []

        def callback(result, seen=seen):
            seen.append(result.fun)
            if result.nit == 7:
                raise StopIteration

        res = _run(
            model, x0, in_order, monkeypatch, step=1.0, tol=0.0, max_iter=50, callback=callback
        )
        assert res.status is lfso.Status.CALLBACK_STOP and res.nit == 7
        assert seen == list(res.history.f[1:8])


def test_a_move_that_raises_ahead_reports_the_points_own_status_first(monkeypatch):
    """A rule that raises while the point it moves from is still on its way: where that
    point converged, the run is CONVERGED there, as in order; otherwise RAISED."""
    model, x0 = MODELS["l4"], _x0("l4")

    class Failing(FixedStep):
        calls = 0

        def step(self, objective, x, evaluation, state):
            Failing.calls += 1
            if Failing.calls == 5:
                raise RuntimeError("a failing rule")
            return super().step(objective, x, evaluation, state)

    with cpu_as_accelerator():
        step = 0.5 / model.at(x0)(1.0)
        with pytest.raises(RuntimeError, match="a failing rule") as raised:
            lfso.minimize(model, x0, method=Failing(step), tol=0.0, max_iter=50)
    assert raised.value.result.nit == 4  # type: ignore[attr-defined]


def test_a_rider_taken_by_a_fetch_arrives_with_it():
    x = torch.arange(3.0, dtype=torch.float64)
    with cpu_as_accelerator(), riding():
        rider = later(x @ x)
        fetch = start_fetch([x.sum(), 2.5])
        assert rider.value is None and rider.fetch is fetch
        assert rider.get() == 5.0  # (read through the fetch that took it)
        assert fetch.values() == [3.0, 2.5]


def test_a_fetch_read_after_a_later_one_does_not_drain():
    x = torch.ones(4)
    with count_host_syncs() as counts, riding():
        first = start_fetch([x.sum()])
        second = start_fetch([x.max()])
        assert first.values() == [4.0]
        assert second.values() == [1.0]
    assert counts == {"overlapped wait": 1, "wait": 1}
    assert not math.isnan(first.values()[0])  # (read once: kept)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["l4", "l2.5", "logistic", "softmax", "cauchy", "power_sum"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_certified_runs_ahead_are_the_runs_in_order(method, name, dtype, monkeypatch):
    """Where the carried products' drift budget does not bind (patched out), the run ahead
    takes the steps of the run in order, bit for bit; its reported L and R are the same
    floats up to the rounding of the device's square root of ||g||^2."""
    monkeypatch.setattr(_rows, "DRIFT_BUDGET", 1e300)
    model, x0 = (MODELS if dtype == torch.float64 else MODELS32)[name], _x0(name).to(dtype)
    options = {"method": method, "tol": 1e-7 if dtype == torch.float64 else 1e-4}
    in_order = _run(model, x0, True, monkeypatch, max_iter=300, **options)
    ahead_run = _run(model, x0, False, monkeypatch, max_iter=300, **options)
    _same_run(ahead_run, in_order)
    for column in ("L", "R"):
        np.testing.assert_allclose(
            getattr(ahead_run.history, column), getattr(in_order.history, column), rtol=1e-13
        )


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("name", ["logistic", "softmax", "cauchy", "l4"])
def test_certified_runs_ahead_wait_on_the_device_once(method, name):
    model, x0 = MODELS[name], _x0(name)
    # (lfso-lbfgs on the logistic and l_4 rows reaches the precision limit of its slope,
    # as on NumPy, after 14 to 18 iterations)
    steps = 12 if method == "lfso-lbfgs" and name in ("logistic", "l4") else 40
    with count_host_syncs() as counts:
        res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=steps)
    assert res.nit == steps
    assert counts["wait"] == 1 and counts["overlapped wait"] == steps - 1


def test_the_drift_budget_binds_one_step_late_ahead(monkeypatch):
    """With a tight budget the products are made afresh often, ahead as in order (the
    budget tested on the last drift on the host, one step older): about as often, and
    every step certified (f never rises)."""
    monkeypatch.setattr(_rows, "DRIFT_BUDGET", 2.0)
    model, x0 = MODELS["logistic"], _x0("logistic")
    fresh = {}
    for in_order in (True, False):
        made: list[bool] = []
        original = model.evaluate

        def evaluate(x, made=made, original=original, **kwargs):
            ev = original(x, **kwargs)
            made.append(kwargs.get("product") is None)
            return ev

        with monkeypatch.context() as patch:
            patch.setattr(model, "evaluate", evaluate)
            res = _run(model, x0, in_order, monkeypatch, method="lfso", tol=0.0, max_iter=60)
        f = res.history.f  # (f never rises beyond its rounding)
        assert res.nit == 60 and np.all(np.diff(f) <= 4e-16 * np.abs(f[1:]))
        fresh[in_order] = sum(made[1:])
    assert fresh[True] >= 5 and 0.5 * fresh[True] <= fresh[False] <= 2.0 * fresh[True]


def test_small_models_run_in_order(monkeypatch):
    """Below ``AHEAD_ROWS`` rows the loop waits for each evaluation's scalars (one round
    trip per iteration), as a model whose passes do not compile does: its bookkeeping on
    the device would cost the host more than the wait."""
    monkeypatch.setattr(_stepper, "AHEAD_ROWS", 301)  # (the models here have 300 rows)
    model, x0 = MODELS["logistic"], _x0("logistic")
    for method, options in (("gd", {"step": 1.0}), ("lfso", {}), ("lfso-lbfgs", {})):
        with count_host_syncs() as counts:
            # (12: lfso-lbfgs reaches the precision limit of its slope after 14 to 16)
            res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=12, **options)
        assert res.nit == 12 and counts["overlapped wait"] == 0, method
        assert counts["tolist"] >= 12, method


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_a_product_carried_ahead_is_within_its_drift_in_float32(method, scale, monkeypatch):
    """The drift the device carries with ``A x_k + t_k A d_k`` (in float64 there, its
    budget tested one step late) bounds the exact error of the float32 product at every
    carried evaluation: ``A x`` summed exactly (``math.fsum`` of the float64 products of
    float32 numbers, each exact), and the product is made afresh at times (a far start,
    ``scale``, shrinks ``x`` by orders: the budget binds)."""
    A, b = _data(300, 20, seed=6)
    A32 = A.astype(np.float32)
    model = lfso.models.LpRegression(torch.tensor(A32), torch.tensor(b.astype(np.float32)), 2)
    carried: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    fresh = []
    original = model.evaluate

    def evaluate(x, **kwargs):
        product = kwargs.get("product")
        if product is None:
            fresh.append(x)
        else:
            carried.append((x.clone(), product.value.clone(), product.drift))
        return original(x, **kwargs)

    monkeypatch.setattr(model, "evaluate", evaluate)
    # (the run goes on in float32's rounding, its carried products read: no slope check,
    # which stops it at the precision limit of its slope after 37 to 60 iterations)
    monkeypatch.setattr(lfso.models.LpRegression, "_device_check", lambda self, *args: None)
    x0 = torch.full((20,), scale, dtype=torch.float32)
    with cpu_as_accelerator(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (tol=0 runs to float32's rounding)
        res = lfso.minimize(model, x0, method=method, tol=0.0, max_iter=400)
    assert res.nit == 400 and len(carried) >= 300 and len(fresh) >= 2
    A64 = A32.astype(np.float64)
    for x, value, drift in carried:
        x64 = x.numpy().astype(np.float64)
        exact = np.array([math.fsum(row * x64) for row in A64])
        error = float(np.max(np.abs(value.numpy().astype(np.float64) - exact)))
        assert error <= float(drift), (error, float(drift))
