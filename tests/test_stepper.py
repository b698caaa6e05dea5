"""The stepper (start / advance / result) against lfso.minimize, which drives it."""

import math

import numpy as np
import pytest

import lfso
from lfso import Status
from lfso._loop import Counted
from lfso._registry import build_rule
from lfso._stepper import Stepper

MODEL = lfso.models.PowerSum(2)
X0 = np.array([1.0, -0.5, 0.25])

METHODS = {
    "lfso": {},
    "lfso-lbfgs": {},
    "gd": {"step": 0.05},
    "armijo": {},
    "bb": {},
    "auto": {},
}


def _rule(method):
    if method == "auto":
        return build_rule("lfso", {}, model=MODEL, auto=True)
    return build_rule(method, dict(METHODS[method]), model=MODEL, auto=False)


def _minimize(method, **kw):
    options = dict(METHODS[method])
    if method == "auto":
        return lfso.minimize(MODEL, X0, method="lfso", smoothness="auto", **kw)
    return lfso.minimize(MODEL, X0, method=method, **options, **kw)


def _stepped(method, *, tol=1e-3, atol=0.0, max_iter=10_000, callback=None):
    rule = _rule(method)  # (settled for MODEL by the registry)
    stepper = Stepper(
        Counted(MODEL), rule, model=MODEL, tol=tol, atol=atol, max_iter=max_iter, callback=callback
    )
    stepper.start(X0)
    advances = 0
    while not stepper.advance():
        advances += 1
    return stepper, stepper.result(), advances


def _same(a, b):
    assert a.status is b.status and a.message == b.message and a.method == b.method
    assert np.array_equal(a.x, b.x) and a.fun == b.fun and np.array_equal(a.jac, b.jac)
    assert (a.nit, a.nfev, a.njev, a.noracle) == (b.nit, b.nfev, b.njev, b.noracle)
    assert (a.rollbacks, a.nhev, a.risks) == (b.rollbacks, b.nhev, b.risks)
    ha, hb = a.history.as_dict(), b.history.as_dict()
    for column in a.history.columns:
        if column != "time":
            np.testing.assert_array_equal(ha[column], hb[column], err_msg=column)


@pytest.mark.parametrize("method", METHODS)
def test_start_advance_result_is_minimize(method):
    _, res, advances = _stepped(method)
    _same(res, _minimize(method, tol=1e-3))
    assert res.status is Status.CONVERGED and advances == res.nit  # one step per advance


@pytest.mark.parametrize("method", ["lfso", "gd"])
def test_max_iter(method):
    _, res, advances = _stepped(method, tol=0.0, max_iter=3)
    assert res.status is Status.MAX_ITER and res.nit == 3 and advances == 3
    _same(res, _minimize(method, tol=0.0, max_iter=3))


def _stopping_at(k, exc):
    def callback(intermediate_result):
        if intermediate_result.nit == k:
            raise exc

    return callback


@pytest.mark.parametrize(
    "exc, status", [(StopIteration, Status.CALLBACK_STOP), (KeyboardInterrupt, Status.INTERRUPTED)]
)
def test_a_callback_stops_or_interrupts_as_in_minimize(exc, status):
    _, res, _ = _stepped("lfso", tol=0.0, callback=_stopping_at(4, exc))
    assert res.status is status and res.nit == 4
    _same(res, _minimize("lfso", tol=0.0, callback=_stopping_at(4, exc)))


def test_an_interrupt_between_advances_keeps_the_recorded_rows():
    stepper = Stepper(Counted(MODEL), _rule("gd"), model=MODEL, max_iter=100)
    stepper.start(X0)
    for _ in range(5):
        assert not stepper.advance()
    stepper.interrupt()
    assert stepper.advance()  # stopped: advancing does nothing more
    res = stepper.result()
    assert res.status is Status.INTERRUPTED and res.nit == 5 and len(res.history) == 6
    assert res.fun == np.min(res.history.f) and res.fun == MODEL.value(res.x)


def test_result_before_the_run_stops_raises():
    stepper = Stepper(Counted(MODEL), _rule("gd"), model=MODEL, max_iter=100)
    stepper.start(X0)
    stepper.advance()
    with pytest.raises(RuntimeError, match="has not stopped"):
        stepper.result()


def test_a_non_finite_start_raises_naming_it():
    stepper = Stepper(Counted(MODEL), _rule("gd"), model=MODEL, max_iter=100)
    with pytest.raises(ValueError, match=r"f\(x0\)\|\| = nan must be finite"):
        stepper.start(np.array([math.nan, 0.0, 0.0]))


def test_an_exception_propagates_with_the_result():
    def callback(intermediate_result):
        if intermediate_result.nit == 2:
            raise ArithmeticError("from the callback")

    with pytest.raises(ArithmeticError, match="from the callback") as info:
        _stepped("gd", callback=callback)
    res = info.value.result
    assert res.status is Status.RAISED and res.nit == 2 and "ArithmeticError" in res.message


def test_intermediate_results_carry_the_counters_so_far():
    seen = []
    res = _minimize("auto", tol=1e-3, callback=lambda r: seen.append((r.rollbacks, r.nhev)))
    assert seen and seen[-1] == (res.rollbacks, res.nhev)


def test_record_is_the_one_row_writer():
    # a stepper that only records rows (another optimiser's): counters from its objective
    class Calls:
        nfev = 0

    calls = Calls()
    rows = Stepper(calls, None, method="other", monitor=False)
    for k, f in enumerate([3.0, 2.0, 1.0]):
        calls.nfev += 2
        flags = rows.record(lfso.models.Evaluation(f, None, f / 2), 0.1, math.nan, math.nan)
        assert flags == 0 and len(rows.history) == k + 1
    h = rows.history
    assert list(h.f) == [3.0, 2.0, 1.0] and list(h.nfev) == [2, 4, 6] == list(h.njev)
    assert h.time[0] == 0.0 and np.all(np.diff(h.time) >= 0)
    built = rows.build(None, lfso.models.Evaluation(1.0, None, 0.5), jac=None)
    assert (built.nit, built.nfev, built.method, built.jac) == (2, 6, "other", None)


def _sum_of_squares(opt, w):
    """A closure for ``opt`` over the parameter ``w``: ``||w||^2`` and its gradient."""

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    return closure


def test_the_torch_optimiser_runs_the_same_two_halves(monkeypatch):
    """lfso.torch.LFSO arrives, then moves, each step: the rows minimize's stepper writes."""
    torch = pytest.importorskip("torch")
    from lfso.torch import LFSO

    calls = []
    for half in ("arrive", "move"):
        original = getattr(Stepper, half)

        def counted(self, *args, _original=original, _half=half, **kwargs):
            calls.append(_half)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Stepper, half, counted)

    w = torch.nn.Parameter(torch.tensor(X0))
    opt = LFSO([w], 0.9, smoothness=lambda params, R: 2.0)

    closure = _sum_of_squares(opt, w)
    for _ in range(6):
        opt.step(closure)
    assert calls == ["arrive", "move"] * 6
    ref = lfso.minimize(
        lambda x: (x**2).sum(),
        X0,
        grad=lambda x: 2 * x,
        smoothness=lambda x, R: 2.0,
        method="lfso",
        eta=0.9,  # (eta = 1 lands on the minimiser in one step)
        tol=0.0,
        max_iter=5,
    )
    assert calls[12:] == ["move", "arrive"] * 5  # minimize: the same halves, the other order
    got, want = opt.history.as_dict(), ref.history.as_dict()
    for column in ("f", "grad_norm", "step", "L", "R"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-12, err_msg=column)


def test_the_torch_callback_gets_the_intermediate_result_whatever_its_name():
    torch = pytest.importorskip("torch")
    from lfso.torch import LFSO

    seen = []

    def callback(x):  # (minimize would pass x; the optimiser has none to pass)
        seen.append(x)

    w = torch.nn.Parameter(torch.tensor(X0))
    opt = LFSO([w], method="gd", step=0.1, callback=callback)
    assert opt.callback is callback

    closure = _sum_of_squares(opt, w)
    for _ in range(3):
        opt.step(closure)
    assert [type(r) for r in seen] == [lfso.Result] * 3 and [r.nit for r in seen] == [0, 1, 2]
    opt.callback = None
    opt.step(closure)
    assert len(seen) == 3 and opt.callback is None
