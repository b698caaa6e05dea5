"""PyTorch: LFSO's history, risk indicators and callback; the guarded optimiser's switch."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lfso import History, Status  # noqa: E402
from lfso.monitor import RISKS, CSVLogger  # noqa: E402
from lfso.torch import LFSO, GuardedOptimizer, MinibatchWarning  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _float64_default():
    """These tests build float64 tensors by default; the default is restored after them
    (it is process-wide: a test or doctest that runs later gets its own)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def make_closure(opt, w, fault=None):
    """Loss ``sum w^2 + sum w^4 / 4``; ``fault(calls, w)`` may corrupt the gradient."""
    calls = [0]

    def closure():
        opt.zero_grad()
        loss = (w**2).sum() + 0.25 * (w**4).sum()
        loss.backward()
        calls[0] += 1
        if fault is not None:
            fault(calls[0], w)
        return loss

    return closure


def oracle(params, R):
    return 2.0 + 3.0 * (float(params[0].detach().abs().max()) + R) ** 2


class TurnsWrong:
    """Right for the first ``k`` parameter vectors it sees, then 1000x too small."""

    def __init__(self, k):
        self.k, self.points = k, {}

    def __call__(self, params, R):
        key = params[0].detach().numpy().tobytes()
        n = self.points.setdefault(key, len(self.points) + 1)
        return oracle(params, R) * (1.0 if n <= self.k else 1e-3)


def test_lfso_keeps_a_history_and_calls_loggers(tmp_path):
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    seen = []
    path = tmp_path / "log.csv"
    with CSVLogger(path) as log:

        def callback(r):
            seen.append((r.nit, r.fun, r.grad_norm))
            log(r)

        opt = LFSO([w], smoothness=oracle, callback=callback)
        closure = make_closure(opt, w)
        losses = [opt.step(closure).item() for _ in range(12)]
    h = opt.history
    assert len(h) == 12 and np.array_equal(h.f, losses)
    assert [s[0] for s in seen] == list(range(12)) and [s[1] for s in seen] == losses
    assert np.all(np.diff(h.f) <= 0) and h.f[-1] < 1e-12 * h.f[0]
    assert opt.risks == {} and not np.any(h.risk)
    assert h.L[1] > 0 and math.isnan(h.L[0]) and h.step[1] == pytest.approx(1.0 / h.L[1])
    assert h.nfev[-1] == opt.nfev == 12  # one closure call per step with a user oracle
    assert len(path.read_text().splitlines()) == 13


def test_lfso_flags_a_wrong_oracle():
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    opt = LFSO([w], smoothness=lambda p, R: 0.05 * oracle(p, R))
    closure = make_closure(opt, w)
    for _ in range(10):
        opt.step(closure)
    assert set(opt.risks) & {"descent", "oracle"}
    assert np.any(opt.history.risk.astype(int) & RISKS["oracle"][0])


class TurnsNegative(TurnsWrong):
    """Right for the first ``k`` parameter vectors it sees, then negative (a broken
    contract: LFSO raises ``OracleError``)."""

    def __call__(self, params, R):
        value = super().__call__(params, R)
        return value if value > oracle(params, R) * 0.5 else -1.0


PLANTED = {
    "oracle-turns-wrong": (TurnsWrong(4), None, {"descent", "oracle"}),
    "oracle-breaks-its-contract": (TurnsNegative(4), None, {"oracle_error"}),
    "nan-gradient": (
        oracle,
        lambda calls, w: w.grad.fill_(math.nan) if calls == 5 else None,
        {"non_finite"},
    ),
}


@pytest.mark.parametrize("case", PLANTED)
def test_guarded_optimizer_switches_with_the_best_parameters_and_training_continues(case):
    smoothness, fault, reasons = PLANTED[case]
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    primary = LFSO([w], smoothness=smoothness)
    fallback = torch.optim.SGD([w], lr=0.05)
    opt = GuardedOptimizer(primary, fallback)
    closure = make_closure(opt, w, fault)
    calls = 0  # (GuardedOptimizer.step calls up to the one that switched)
    for _ in range(300):
        calls += opt.handover is None
        opt.step(closure)
    ho = opt.handover
    assert ho is not None and ho.reason in reasons and opt.active is fallback
    # the LFSO steps taken: all its calls, less one that raised (oracle error, NaN)
    assert ho.step == calls - (ho.reason in {"oracle_error", "non_finite"})
    assert ho.lines()[0].startswith(f"hand-over after {ho.step} lfso steps")
    lfso_rows = primary.history
    usable = np.isfinite(lfso_rows.f) & np.isfinite(lfso_rows.grad_norm)
    best = float(np.min(lfso_rows.f[usable]))
    assert ho.best_loss == best and lfso_rows.f[ho.best_row] == best
    h = opt.history
    assert ho.row == len(lfso_rows) and len(h) > ho.row + 250
    # the best parameters were restored: the fallback's first loss is the best loss
    assert h.f[ho.row] == pytest.approx(best, rel=1e-12)
    assert np.all(np.diff(h.nfev) > 0)
    v = w.detach()
    final = float((v**2).sum() + 0.25 * (v**4).sum())
    assert final <= best and final < 1e-6  # training went on under SGD


def test_a_scheduler_on_the_fallback_sets_the_rate_it_takes_over_with():
    """The documented way to schedule a guarded run's learning rate: the scheduler is
    refused on GuardedOptimizer itself, and on its fallback it decays the rate the
    fallback steps with after the switch."""
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    fallback = torch.optim.SGD([w], lr=0.05)
    opt = GuardedOptimizer(LFSO([w], smoothness=TurnsWrong(4)), fallback)
    assert "lr_scheduler.StepLR(opt.fallback, step_size=10)" in (GuardedOptimizer.__doc__ or "")
    with pytest.raises(TypeError, match="not an Optimizer"):
        torch.optim.lr_scheduler.StepLR(opt, 1)  # type: ignore[arg-type]
    scheduler = torch.optim.lr_scheduler.StepLR(opt.fallback, step_size=1, gamma=0.5)
    closure = make_closure(opt, w, None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
        for _ in range(40):
            opt.step(closure)
            scheduler.step()
            if opt.handover is not None:
                break
    assert opt.handover is not None
    start = [p.detach().clone() for p in fallback.param_groups[0]["params"]]
    opt.step(closure)  # the fallback's first step, at the scheduled rate
    rate = fallback.param_groups[0]["lr"]
    assert scheduler.last_epoch > 0 and rate == pytest.approx(0.05 * 0.5**scheduler.last_epoch)
    assert torch.allclose(w.detach(), start[0] - rate * w.grad, rtol=0, atol=1e-12)


def test_guarded_optimizer_keeps_lfso_where_the_loss_stops_at_its_rounding():
    # LFSO reaches loss 0 exactly: "stagnation" fires there, but at the limit of floating
    # point it is convergence (the guard's check, as in lfso.rollout.guarded_minimize)
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    opt = GuardedOptimizer(LFSO([w], smoothness=oracle), torch.optim.SGD([w], lr=0.05))
    closure = make_closure(opt, w)
    for _ in range(100):
        opt.step(closure)
    h = opt.history
    assert np.any(h.risk.astype(int) & RISKS["stagnation"][0])
    assert opt.handover is None and opt.guard.settled_at is not None
    assert "stagnation" not in opt.counts and h.f[-1] == 0.0


def test_guarded_optimizer_counts_divergence_as_the_guard_does():
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    primary = LFSO([w], smoothness=lambda p, R: 1e-4 * oracle(p, R))  # steps far too long
    watch = {"descent": 0, "oracle": 0, "divergence": 2}  # trips at the second firing
    opt = GuardedOptimizer(primary, torch.optim.SGD([w], lr=0.05), thresholds=watch)
    closure = make_closure(opt, w)
    for _ in range(6):
        opt.step(closure)
    assert opt.handover is not None and opt.handover.reason == "divergence"
    assert opt.counts["divergence"] == 2 and opt.handover.step >= 2
    assert opt.handover.detail.startswith("f = ") and "rose above the best" in opt.handover.detail


def test_a_guarded_lfso_stopped_by_its_callback_counts_no_more_firings():
    """Once LFSO's callback stops it (StopIteration), its steps take no step and record no
    row: the guard does not count the last row's firings again at each call."""
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    seen = []

    def stop_at_the_third(result):
        seen.append(result.nit)
        if len(seen) == 3:
            raise StopIteration

    primary = LFSO(
        [w],
        smoothness=lambda p, R: 1e-4 * oracle(p, R),
        safeguard=False,
        callback=stop_at_the_third,
    )  # (steps far too long: descent, oracle and divergence fire)
    watch = {"descent": 0, "oracle": 0, "divergence": 5}
    opt = GuardedOptimizer(primary, torch.optim.SGD([w], lr=0.05), thresholds=watch)
    closure = make_closure(opt, w)
    for _ in range(3):
        opt.step(closure)
    assert primary.stopped and opt.counts["divergence"] == 2
    for _ in range(6):
        opt.step(closure)
    assert len(primary.history) == 3 and opt.counts["divergence"] == 2
    assert opt.handover is None


def test_guarded_optimizer_rejects_bad_input():
    w = torch.nn.Parameter(torch.ones(2))
    sgd = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match=r"primary must be an lfso\.torch\.LFSO"):
        GuardedOptimizer(sgd, sgd)
    with pytest.raises(TypeError, match=r"fallback must be a torch\.optim\.Optimizer"):
        GuardedOptimizer(LFSO([w]), "sgd")
    with pytest.raises(ValueError, match="monitor=True"):
        GuardedOptimizer(LFSO([w], monitor=False), sgd)
    with pytest.raises(ValueError, match="unknown guard threshold 'x'"):
        GuardedOptimizer(LFSO([w]), sgd, thresholds={"x": 1})
    with pytest.raises(TypeError, match=r"threshold descent must be an integer, got 1\.5"):
        GuardedOptimizer(LFSO([w]), sgd, thresholds={"descent": 1.5})
    with pytest.raises(ValueError, match="divergence must be finite and > 0 or None, got -1"):
        GuardedOptimizer(LFSO([w]), sgd, divergence=-1)
    v = torch.nn.Parameter(torch.ones(3))
    differ = r"only primary has #0 \(2,\), only fallback has #0 \(3,\)"
    with pytest.raises(ValueError, match=differ):
        GuardedOptimizer(LFSO([w]), torch.optim.SGD([v], lr=0.1))
    with pytest.raises(ValueError, match=r"only primary has none, only fallback has #1 \(3,\)"):
        GuardedOptimizer(LFSO([w]), torch.optim.SGD([w, v], lr=0.1))
    # the same tensors, grouped differently: accepted
    GuardedOptimizer(LFSO([w, v]), torch.optim.SGD([{"params": [v]}, {"params": [w]}], lr=0.1))
    opt = GuardedOptimizer(LFSO([w]), sgd)
    for switched in (False, True):  # LFSO in charge, then the fallback
        if switched:
            opt._switch("descent", "planted", 0)
        with pytest.raises(RuntimeError, match=r"step needs a closure .*got closure=None"):
            opt.step(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"thresholds must be a mapping .* got thresholds='desc"):
        GuardedOptimizer(LFSO([w]), sgd, thresholds="descent")  # type: ignore[arg-type]


class _QuietSGD(torch.optim.SGD):
    """SGD whose ``step`` returns no loss (as some third-party optimisers do)."""

    def step(self, closure=None):
        super().step(closure)


def test_a_fallback_whose_step_returns_no_loss_records_the_closures():
    from lfso.torch import pilot

    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    primary = LFSO([w], smoothness=lambda p, R: 1e-4 * oracle(p, R))  # (steps far too long)
    opt = GuardedOptimizer(primary, _QuietSGD([w], lr=0.01), thresholds={"divergence": 2})
    closure = make_closure(opt, w)
    for _ in range(8):
        opt.step(closure)
    assert opt.handover is not None
    h, row = opt.history, opt.handover.row
    assert len(h) > row and h.f[row] == pytest.approx(opt.handover.best_loss)
    assert np.all(np.isfinite(h.f[row:])) and np.all(np.diff(h.f[row:]) < 0)  # SGD descends
    make, loss = _pilot_task()
    ev = pilot(make, loss, lambda p: _QuietSGD(p, lr=1e-3), steps=20)
    assert len(ev.current.history) == 21 and np.all(np.isfinite(ev.current.history.f))
    assert ev.current.history.f[0] == pytest.approx(ev.candidate.history.f[0])


def _divergent_guarded(w):
    """A guarded LFSO whose steps are far too long, tripping at divergence's second firing,
    with SGD and momentum (state of its own) as the fallback."""
    primary = LFSO([w], smoothness=lambda p, R: 1e-4 * oracle(p, R))
    watch = {"descent": 0, "oracle": 0, "divergence": 2}
    return GuardedOptimizer(primary, torch.optim.SGD([w], lr=0.01, momentum=0.9), thresholds=watch)


@pytest.mark.parametrize("when", ["before", "after"])
def test_guarded_optimizer_resumes_from_its_state_dict(tmp_path, when):
    """A guarded run saved before its switch (divergence fired once: the second firing
    trips it) or after it, and loaded into a new one, takes the uninterrupted run's steps:
    the guard's counts, the best parameters it restores and the fallback's momentum go on."""
    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))
    opt = _divergent_guarded(w)
    closure = make_closure(opt, w)
    for _ in range(30):
        opt.step(closure)
        if opt.counts.get("divergence") == 1 if when == "before" else opt.handover is not None:
            break
    if when == "after":
        for _ in range(3):
            opt.step(closure)
    assert (opt.handover is None) == (when == "before")
    torch.save({"w": w.detach().clone(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    w2 = torch.nn.Parameter(saved["w"])
    resumed = _divergent_guarded(w2)
    resumed.load_state_dict(saved["opt"])
    for _ in range(10):
        opt.step(closure)
        resumed.step(make_closure(resumed, w2))
    assert opt.handover is not None and opt.handover.reason == "divergence"
    assert resumed.handover is not None and resumed.handover.reason == "divergence"
    assert resumed.handover.best_loss == opt.handover.best_loss
    assert resumed.counts["divergence"] == opt.counts["divergence"] == 2
    assert resumed.active is resumed.fallback
    assert torch.equal(w, w2)


def test_guarded_optimizer_refuses_a_state_dict_not_its_own():
    w = torch.nn.Parameter(torch.ones(2))
    opt = GuardedOptimizer(LFSO([w]), torch.optim.SGD([w], lr=0.1))
    with pytest.raises(ValueError, match=r"not a GuardedOptimizer state dict: .*'primary'"):
        opt.load_state_dict(torch.optim.SGD([w], lr=0.1).state_dict())
    other = torch.nn.Parameter(torch.ones(3))
    theirs = GuardedOptimizer(LFSO([other]), torch.optim.SGD([other], lr=0.1))
    theirs.step(make_closure(theirs, other))
    with pytest.raises(ValueError, match=r"best parameters do not match .*\[\(3,\)\], here"):
        opt.load_state_dict(theirs.state_dict())
    fresh = opt.state_dict()  # (before any step)
    opt.step(make_closure(opt, w))
    nfev, sizes = opt.primary.nfev, torch.optim.SGD([w, torch.ones(1)], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group that doesn't match the size"):
        opt.load_state_dict({**fresh, "fallback": sizes})  # (torch's own check)
    assert opt.primary.nfev == nfev > 0 and opt.primary.state  # LFSO's state kept


def _pilot_task():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, generator=gen)
    y = X @ torch.ones(5, 1) + 0.1 * torch.randn(64, 1, generator=gen)

    def make():
        torch.manual_seed(1)
        return torch.nn.Linear(5, 1)

    def loss(module):
        return ((module(X) - y) ** 4).mean()

    return make, loss


@pytest.mark.parametrize("strict", [False, True])
def test_torch_pilot_decides_both_ways_from_the_recorded_histories(strict):
    from lfso.rollout import GoCriteria
    from lfso.torch import pilot

    fresh, loss = _pilot_task()
    modules = []  # (the two runs' models, current's first)

    def make():
        modules.append(fresh())
        return modules[-1]

    criteria = GoCriteria(max_gradient_ratio=1e-6) if strict else None
    ev = pilot(make, loss, lambda p: torch.optim.SGD(p, lr=1e-3), steps=150, criteria=criteria)
    cur, cand = ev.current.history, ev.candidate.history
    # the start and the parameters each of the 150 steps left: the last ones' loss counts
    assert ev.current.nit == ev.candidate.nit == 150 and len(cur) == len(cand) == 151
    with torch.no_grad():
        final = [float(loss(module)) for module in modules]
    assert [cur.f[-1], cand.f[-1]] == pytest.approx(final, rel=1e-12)
    assert "150 iterations" in "\n".join(ev.lines()) and ev.current.method == "SGD"
    assert cur.f[0] == pytest.approx(cand.f[0])  # the same fresh model, the same loss
    row, njev, _ = ev.candidate_to_target
    assert njev == cand.njev[row] and ev.current_to_target[1] == cur.njev[ev.current_to_target[0]]
    assert njev < ev.current_to_target[1]  # lfso needs fewer gradients than SGD at lr 1e-3
    assert ev.go is not strict
    if strict:
        assert [c.name for c in ev.checks if not c.passed] == ["gradients to the target"]


def test_torch_pilot_compares_the_starting_parameters_not_a_noisy_loss():
    """A noisy loss gives each run its own f0 from the same weights: that is one start (it
    was refused as "the runs must start from the same point"); a make() that is not seeded
    gives other weights, which is another start, whatever the loss says there."""
    from lfso.torch import pilot

    make, loss = _pilot_task()
    gen = torch.Generator().manual_seed(2)

    def noisy(module):
        return loss(module) + 0.1 * torch.rand((), generator=gen)

    sgd = lambda p: torch.optim.SGD(p, lr=1e-3)  # noqa: E731
    with pytest.warns(MinibatchWarning):  # (LFSO's own notice of the noise)
        ev = pilot(make, noisy, sgd, steps=20)
    assert ev.current.history.f[0] != ev.candidate.history.f[0]  # the noise, one start
    assert ev.candidate.nit == ev.current.nit == 20

    calls = [0]

    def unseeded():  # (the same loss at the start: its weights are other ones)
        calls[0] += 1
        module = make()
        with torch.no_grad():
            module.weight[0, 0] += 1e-9 * calls[0]
        return module

    with pytest.raises(ValueError, match=r"different starting parameters \(parameter 0 .*seed"):
        pilot(unseeded, loss, sgd, steps=5)


def test_a_pilot_run_that_holds_no_point_says_to_save_its_history(tmp_path):
    """``ev.candidate.save(path)`` raised "'NoneType' object has no attribute 'device'"."""
    from lfso.torch import pilot

    make, loss = _pilot_task()
    ev = pilot(make, loss, lambda p: torch.optim.SGD(p, lr=1e-3), steps=5)
    assert ev.candidate.x is None and ev.current.x is None
    with pytest.raises(ValueError, match=r"holds no x .* result\.history\.save\(path\)"):
        ev.candidate.save(tmp_path / "pilot.npz")
    assert not list(tmp_path.iterdir())
    back = History.load(ev.candidate.history.save(tmp_path / "pilot.npz"))
    np.testing.assert_array_equal(back.f, ev.candidate.history.f)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 1.7}, TypeError, r"steps must be an integer >= 1, got steps=1\.7"),
        ({"steps": "3"}, TypeError, r"steps must be an integer >= 1, got steps='3'"),
        ({"steps": None}, TypeError, r"steps must be an integer >= 1, got steps=None"),
        ({"steps": 0}, ValueError, r"steps must be an integer >= 1, got steps=0"),
        ({"criteria": {"target_rtol": 0.1}}, TypeError, r"criteria must be .*GoCriteria"),
        ({"current": lambda p: "sgd"}, TypeError, r"current must be .*gave 'sgd'"),
        ({"bogus": 1}, TypeError, r"unknown option\(s\) for method='lfso': \['bogus'\]"),
    ],
)
def test_torch_pilot_rejects_bad_input_before_any_training(kwargs, error, match):
    from lfso.torch import pilot

    make, loss = _pilot_task()
    calls = [0]

    def counted(module):
        calls[0] += 1
        return loss(module)

    kwargs = {"current": lambda p: torch.optim.SGD(p, lr=1e-3), "steps": 5, **kwargs}
    with pytest.raises(error, match=match):
        pilot(make, counted, **kwargs)
    assert calls[0] == 0  # nothing trained before the error


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        (lambda value: value.repeat(3), r"got a tensor of shape \(3,\)"),
        (lambda value: value.long(), r"got a torch.int64 tensor"),
        (lambda value: value.detach(), r"got a tensor that does not require grad"),
        (lambda value: value.item(), r"got [0-9.]+"),
    ],
    ids=["vector", "integer", "detached", "number"],
)
def test_torch_pilot_refuses_a_loss_that_is_not_a_scalar_with_a_graph(returned, match):
    """Such a loss failed inside torch's ``backward`` (``grad can be implicitly created only
    for scalar outputs``), a message that names neither ``loss`` nor what it returned."""
    from lfso.torch import pilot

    make, loss = _pilot_task()
    with pytest.raises(TypeError, match=r"loss\(module\) must return the pilot loss .*" + match):
        pilot(make, lambda m: returned(loss(m)), lambda p: torch.optim.SGD(p, lr=1e-3), steps=3)


def test_torch_pilot_records_a_loss_that_turns_nan_as_a_no_go():
    from lfso.torch import pilot

    torch.manual_seed(0)
    f32 = torch.float32
    X = torch.randn(200, 5, dtype=f32)
    y = X @ torch.randn(5, dtype=f32) + 0.1 * torch.randn(200, dtype=f32)
    calls = [0]

    def fresh():
        calls[0] = 0
        torch.manual_seed(1)
        return torch.nn.Linear(5, 1, dtype=f32)

    def loss(module):
        return ((module(X).squeeze(-1) - y) ** 2).mean()

    def nan_later(module):  # the loss is NaN from the 11th call of each run on
        calls[0] += 1
        value = loss(module)
        return value * float("nan") if calls[0] > 10 else value

    with pytest.warns(RuntimeWarning, match="safeguard rejected"):
        ev = pilot(fresh, nan_later, lambda p: torch.optim.SGD(p, lr=1e-3), steps=50)
    assert not ev.go and "non_finite" in ev.candidate.risks
    assert np.isfinite(ev.candidate.fun) and ev.candidate.fun < ev.candidate.history.f[0]


def test_torch_pilot_gives_a_current_rule_that_blew_up_the_status_non_finite():
    from lfso import Status
    from lfso.torch import pilot

    make, loss = _pilot_task()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (SGD's overflow)
        ev = pilot(make, loss, lambda p: torch.optim.SGD(p, lr=1.0), steps=30)
    cur = ev.current
    first = int(np.argmin(np.isfinite(cur.history.f) & np.isfinite(cur.history.grad_norm)))
    assert 0 < first < len(cur.history)  # it blew up during the run
    assert cur.status is Status.NON_FINITE and f"infinite at iteration {first}" in cur.message
    assert np.isfinite(cur.fun) and ev.candidate.status is Status.MAX_ITER
    assert "(NON_FINITE)" in ev.checks[1].observed  # (it never went below its start)


class _FlippedNearMinimum(torch.autograd.Function):
    """``1/2 sum h (w - 1)^2`` whose backward points uphill within 1e-3 of the minimiser
    (a custom operation with a wrong gradient there, met only once a run is close)."""

    H = (1.0, 4.0, 9.0)

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return 0.5 * (torch.tensor(_FlippedNearMinimum.H) * (w - 1.0) ** 2).sum()

    @staticmethod
    def backward(ctx, out):
        (w,) = ctx.saved_tensors
        grad = torch.tensor(_FlippedNearMinimum.H) * (w - 1.0)
        return out * (-grad if float((w - 1.0).abs().max()) < 1e-3 else grad)


class _Weights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))


@pytest.mark.filterwarnings("ignore:LFSO. the step collapsed")  # (before the mismatch)
@pytest.mark.parametrize(
    ("options", "status", "warning"),
    [
        (
            {"max_rollbacks": 2},
            "GRADIENT_MISMATCH",
            "the loss disagrees with its gradient (the safeguard rejected 3 trial steps; ",
        ),
        ({}, "GRADIENT_MISMATCH", "the loss disagrees with its gradient"),
    ],
    ids=["rejected-trials", "gradient-mismatch"],
)
def test_torch_pilot_is_a_no_go_where_lfsos_safeguard_gave_up(options, status, warning):
    """LFSO reaches the target in far fewer steps than SGD, then its safeguard gives up
    where the gradient turns wrong (the parameters stay, with a warning): the candidate
    ends with the status lfso.minimize's run ends with, and the pilot is a no-go whose
    check ``safeguard`` names it, whatever risks the criteria forbid. A wrong gradient
    caught is LFSO's risk ``gradient``, as in lfso.minimize's run."""
    from lfso.rollout import GoCriteria
    from lfso.torch import pilot

    def loss(module):
        return _FlippedNearMinimum.apply(module.w)

    def sgd(params):
        return torch.optim.SGD(params, lr=1e-2)

    for criteria in (None, GoCriteria(forbidden_risks=())):
        with pytest.warns(RuntimeWarning, match=re.escape(warning)):
            ev = pilot(_Weights, loss, sgd, steps=100, criteria=criteria, **options)
        assert ev.candidate.status.name == status and "gave up at iteration" in ev.candidate.message
        assert ev.candidate_to_target[1] < ev.current_to_target[1]
        assert not ev.go and "safeguard" in [c.name for c in ev.checks if not c.passed]
        assert f"gave up, {status}" in "\n".join(ev.lines())
        assert ("gradient" in ev.candidate.risks) is (status == "GRADIENT_MISMATCH")


@pytest.mark.filterwarnings("ignore:LFSO. the step collapsed")  # (before the mismatch)
@pytest.mark.parametrize(
    ("options", "thresholds", "status", "why"),
    [
        (
            {"max_rollbacks": 2},
            None,
            "GRADIENT_MISMATCH",
            "the loss disagrees with its gradient (the safeguard rejected 3 trial steps; ",
        ),
        ({}, {"collapse": 0}, "GRADIENT_MISMATCH", "the loss disagrees with its gradient"),
    ],
    ids=["rejected-trials", "gradient-mismatch"],
)
def test_guarded_optimizer_switches_on_the_step_lfsos_safeguard_gives_up(
    options, thresholds, status, why
):
    """Where the gradient turns wrong LFSO's safeguard gives up and LFSO would stay put
    (with ``max_rollbacks=2`` every trial is rejected, and the check of the gradient
    there names the mismatch; the collapse indicator, which fires on the way to it, is
    not watched): the guard switches after that very step, naming the status, with the
    best parameters restored, and the fallback steps on."""
    module = _Weights()
    w = module.w
    primary = LFSO([w], **options)
    opt = GuardedOptimizer(primary, torch.optim.SGD([w], lr=1e-2), thresholds=thresholds)

    def closure():
        opt.zero_grad()
        loss = _FlippedNearMinimum.apply(w)
        loss.backward()
        return loss

    for _ in range(100):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt.step(closure)
        gave_up = [str(c.message) for c in caught if str(c.message).startswith("LFSO: " + why)]
        if gave_up or opt.handover is not None:
            break
    assert gave_up and primary._gave_up is not None  # the step LFSO's safeguard gave up on
    ho = opt.handover
    assert ho is not None and ho.reason == status.lower() and ho.detail.startswith(why)
    assert f"risk '{status.lower()}' {why}" in ho.lines()[0]
    rows = len(primary.history)
    assert ho.row == rows and ho.best_loss == float(np.min(primary.history.f))
    assert float(_FlippedNearMinimum.apply(w.detach())) == ho.best_loss  # restored
    for _ in range(3):  # the fallback takes every later step
        opt.step(closure)
    assert opt.active is opt.fallback and len(primary.history) == rows
    assert len(opt.history) == rows + 3


def test_guarded_optimizer_switches_where_no_step_can_be_certified_in_the_dtype():
    """A noisy float32 loss under ``lfso-lbfgs``: the automatic estimate's curvature
    bound goes past the float range after a few rejected trials, and LFSO stays put with
    a warning ("no step can be certified in this dtype here"), as :func:`lfso.minimize`'s
    run ends ``PRECISION_LIMIT``. That give-up is recorded as the others are: the guard
    hands over after that step, naming the status, and the fallback steps on (the
    ``descent`` indicator, which the noise fires, is not watched)."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=gen, dtype=torch.float32)
    y = X @ torch.randn(5, generator=gen, dtype=torch.float32)
    w = torch.nn.Parameter(torch.zeros(5, dtype=torch.float32))
    primary = LFSO([w], method="lfso-lbfgs", max_rollbacks=8)
    sgd = torch.optim.SGD([w], lr=1e-2)
    opt = GuardedOptimizer(primary, sgd, thresholds={"descent": 0})  # (the noise trips it)

    def closure():
        opt.zero_grad()
        noise = 1 + 1e-3 * torch.rand((), generator=gen, dtype=torch.float32)
        loss = ((X @ w - y) ** 2).mean() * noise
        loss.backward()
        return loss

    why = "no step can be certified in this dtype here"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(60):
            opt.step(closure)
            if opt.handover is not None:
                break
    assert primary._gave_up is not None and primary._gave_up[0] is Status.PRECISION_LIMIT
    ho = opt.handover
    assert ho is not None and ho.reason == "precision_limit" and ho.detail.startswith(why)
    rows = len(primary.history)
    for _ in range(3):  # the fallback takes every later step
        opt.step(closure)
    assert opt.active is opt.fallback and len(primary.history) == rows


def test_torch_pilot_takes_nan_weights_in_the_same_places_for_one_start():
    """A NaN weight made both starts 'different' (``torch.equal``: NaN != NaN), so a
    ``make()`` holding one (an uninitialised parameter) was refused though seeded."""
    from lfso.torch import pilot

    make, loss = _pilot_task()

    def with_nan():
        module = make()
        module.unused = torch.nn.Parameter(torch.tensor([math.nan, 1.0]))  # (no gradient)
        return module

    sgd = lambda p: torch.optim.SGD(p, lr=1e-3)  # noqa: E731
    ev = pilot(with_nan, loss, sgd, steps=5)
    assert ev.candidate.nit == ev.current.nit == 5

    calls = [0]

    def elsewhere():  # (NaN in the other place: another start)
        calls[0] += 1
        module = make()
        nan_at = [math.nan, 1.0] if calls[0] == 1 else [1.0, math.nan]
        module.unused = torch.nn.Parameter(torch.tensor(nan_at))
        return module

    with pytest.raises(ValueError, match=r"different starting parameters \(parameter 2 .*seed"):
        pilot(elsewhere, loss, sgd, steps=5)
