"""lfso.torch.LFSO through torch's own conventions: closure, param_groups, state_dict, DDP."""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import data_parallel  # noqa: E402

import lfso  # noqa: E402
from lfso.steps import Safeguarded  # noqa: E402
from lfso.torch import LFSO  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _float64_default():
    """These tests build float64 tensors by default; the default is restored after them
    (it is process-wide: a test or doctest that runs later gets its own)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def quartic_closure(opt, w):
    def closure():
        opt.zero_grad()
        loss = (w**4).sum() + 0.5 * (w**2).sum()
        loss.backward()
        return loss

    return closure


def test_trains_without_a_learning_rate():
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0, 1.0]))
    opt = LFSO([w])
    closure = quartic_closure(opt, w)
    losses = [opt.step(closure).item() for _ in range(80)]
    assert losses[-1] < 1e-10 * losses[0]
    assert math.isfinite(opt.last_L) and opt.last_step == pytest.approx(1.0 / opt.last_L)


def test_user_oracle_reproduces_lfso_minimize_iterates():
    A = torch.tensor([[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]])
    b = torch.tensor([1.0, -1.0, 0.5])
    w = torch.nn.Parameter(torch.zeros(2))
    An, bn = A.numpy(), b.numpy()
    model = lfso.models.LpRegression(An, bn, 2)

    def oracle(params, radius):
        return model(params[0].detach().numpy(), radius)

    opt = LFSO([w], smoothness=oracle)

    def closure():
        opt.zero_grad()
        loss = ((A @ w - b) ** 4).sum()
        loss.backward()
        return loss

    for _ in range(25):
        opt.step(closure)
    ref = lfso.minimize(
        model.value,
        np.zeros(2),
        grad=model.grad,
        smoothness=model,
        method="lfso",
        tol=0.0,
        max_iter=25,
        radius_rtol=1e-3,
    )
    np.testing.assert_allclose(w.detach().numpy(), ref.x, rtol=1e-6, atol=1e-9)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_hessian_vector_products_by_double_backward():
    H = torch.diag(torch.tensor([1.0, 4.0, 9.0]))
    w = torch.nn.Parameter(torch.ones(3))
    opt = LFSO([w], power_iterations=5)

    def closure():
        opt.zero_grad()
        loss = 0.5 * w @ H @ w
        loss.backward(create_graph=True)  # gradients with a graph: HVPs by double backward
        return loss

    for _ in range(12):
        opt.step(closure)
    # The power iterations find ||H|| = 9; the step uses safety * 9.
    assert opt.last_L == pytest.approx(2.0 * 9.0, rel=1e-3)
    assert opt.nhev == 5 * 12  # power_iterations per step, warm-started from the last


def test_hessian_vector_products_of_a_loss_that_is_not_quadratic():
    """The graph of a quartic's gradient holds the parameters; the first step's probe
    writes another point into them, and the power iterations then need a fresh graph."""
    w = torch.nn.Parameter(torch.tensor([1.0, -0.5, 2.0]))
    opt = LFSO([w], power_iterations=3)

    def closure():
        opt.zero_grad()
        loss = (w**4).sum() + 0.5 * (w**2).sum()
        loss.backward(create_graph=True)
        return loss

    losses = [opt.step(closure).item() for _ in range(30)]
    assert opt.nhev == 3 * 30
    assert losses[-1] < 1e-6 * losses[0]


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_a_frozen_parameter_stays_put_under_hessian_vector_products():
    """A parameter with requires_grad=False, given to the optimiser, does not move: its
    gradient is zero and so are its Hessian-vector products, so the steps are those of an
    optimiser over the other parameters alone."""
    X = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(16, 1, generator=torch.Generator().manual_seed(2))

    def run(frozen_given):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 1)
        net.bias.requires_grad_(False)
        opt = LFSO(net.parameters() if frozen_given else [net.weight], power_iterations=3)

        def closure():
            opt.zero_grad()
            loss = ((net(X) - y) ** 4).mean()
            loss.backward(create_graph=True)
            return loss

        bias = net.bias.detach().clone()
        for _ in range(8):
            opt.step(closure)
        assert torch.equal(net.bias, bias)
        assert opt.nhev > 0
        return net.weight.detach()

    torch.testing.assert_close(run(True), run(False))


@pytest.mark.parametrize("how", ["data-replaced", "data-in-place"])
def test_parameters_changed_through_data_between_steps_are_where_the_next_step_starts(how):
    """Weight clipping through ``.data`` (which torch does not count as a change): a new
    tensor given as ``p.data`` is seen at once; an in-place change at the misuse check's
    steps (1, 2, 4, ...), where the closure is called there anyway. Neither is mistaken
    for minibatches, nor makes the safeguard give up."""
    A = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    b = torch.randn(20, generator=torch.Generator().manual_seed(2))
    w = torch.nn.Parameter(torch.full((3,), 2.0))
    opt = LFSO([w])

    def closure():
        opt.zero_grad()
        loss = ((A @ w - b) ** 2).mean()
        loss.backward()
        return loss

    def loss_here():
        with torch.no_grad():
            return ((A @ w - b) ** 2).mean()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(5):
            before = loss_here()
            loss = opt.step(closure)
            if k in (1, 2, 4) or how == "data-replaced":
                assert torch.equal(loss, before)
            assert opt.last_step > 0.0
            if how == "data-replaced":
                w.data = w.detach().clamp(-0.1, 0.1)
            else:
                w.data.clamp_(-0.1, 0.1)


def test_param_groups_and_state_dict_round_trip():
    def make():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        opt = LFSO([{"params": net[0].parameters()}, {"params": net[2].parameters(), "eta": 0.5}])
        return net, opt

    X = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    y = X.sum(dim=1, keepdim=True)

    def closure_for(net, opt):
        def closure():
            opt.zero_grad()
            loss = ((net(X) - y) ** 2).mean()
            loss.backward()
            return loss

        return closure

    net, opt = make()
    assert [g["eta"] for g in opt.param_groups] == [1.0, 0.5]
    for _ in range(10):
        opt.step(closure_for(net, opt))
    saved_net = copy.deepcopy(net.state_dict())  # state dicts hold references: snapshot them
    saved_opt = copy.deepcopy(opt.state_dict())
    for _ in range(5):
        opt.step(closure_for(net, opt))
    expected = [p.detach().clone() for p in net.parameters()]

    net2, opt2 = make()
    net2.load_state_dict(saved_net)
    opt2.load_state_dict(saved_opt)
    for _ in range(5):
        opt2.step(closure_for(net2, opt2))
    for a, b in zip(net2.parameters(), expected, strict=True):
        torch.testing.assert_close(a.detach(), b)


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs", "bb", "adgd"])
def test_a_checkpoint_loads_with_torch_loads_default_and_resumes_the_same_steps(method, tmp_path):
    """torch.load reads with weights_only=True by default: the rule's state (lfso's named
    tuples, L-BFGS's memory of NumPy arrays) is saved as tensors, numbers and containers."""
    X = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(32, generator=torch.Generator().manual_seed(2))

    def run(steps, start=None):
        w = torch.nn.Parameter(torch.zeros(3))
        opt = LFSO([w], method=method)
        if start is not None:
            with torch.no_grad():
                w.copy_(start["w"])
            opt.load_state_dict(start["opt"])

        def closure():
            opt.zero_grad()
            loss = ((X @ w - y) ** 2).mean() + (w**4).sum()
            loss.backward()
            return loss

        for _ in range(steps):
            opt.step(closure)
        return w, opt

    whole, _ = run(30)
    w, opt = run(12)
    path = tmp_path / "checkpoint.pt"
    torch.save({"w": w.detach(), "opt": opt.state_dict()}, path)
    resumed, _ = run(18, start=torch.load(path))
    assert torch.equal(whole, resumed)


@pytest.mark.parametrize("graph", [False, True], ids=["rollbacks", "hessian-products"])
def test_a_state_dict_carries_the_run_counters_and_a_resumed_run_counts_on(graph, tmp_path):
    """The counters (and the last step's values) round-trip through a checkpoint read with
    torch.load's default weights_only=True; a state dict without them (an older one)
    loads and keeps the current counts; the resumed run takes the uninterrupted steps."""
    X = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(32, generator=torch.Generator().manual_seed(2))

    def make():
        w = torch.nn.Parameter(torch.zeros(3))
        opt = LFSO([w])

        def closure():
            opt.zero_grad()
            loss = ((X @ w - y) ** 2).mean() + (w**4).sum()
            loss.backward(create_graph=graph)  # (with a graph: Hessian-vector products)
            return loss

        return w, opt, closure

    names = ("nfev", "rollbacks", "nhev", "noracle", "last_L", "last_radius", "last_step")

    def counts(opt):
        return {name: getattr(opt, name) for name in names}

    whole, opt, closure = make()
    for _ in range(30):
        opt.step(closure)
    w, opt, closure = make()
    for _ in range(12):
        opt.step(closure)
    saved = counts(opt)
    assert saved["nfev"] > 0 and saved["noracle"] > 0
    assert saved["nhev" if graph else "rollbacks"] > 0
    path = tmp_path / "checkpoint.pt"
    torch.save({"w": w.detach(), "opt": opt.state_dict()}, path)
    start = torch.load(path)
    resumed, opt2, closure2 = make()
    with torch.no_grad():
        resumed.copy_(start["w"])
    opt2.load_state_dict(start["opt"])
    assert counts(opt2) == saved
    for _ in range(18):
        opt2.step(closure2)
    assert torch.equal(whole, resumed)
    assert opt2.nfev > saved["nfev"] and opt2.noracle > saved["noracle"]
    assert opt2.history.nfev[0] == saved["nfev"] + 1  # (the closure's count goes on)
    # A state dict without the counters: the rule's state loads, the counts stay.
    first = start["opt"]["param_groups"][0]["params"][0]
    entry = start["opt"]["state"][first]
    older = copy.deepcopy(start["opt"])
    dropped = (*names, "steps", "method", "oracle", "rule")
    older["state"][first] = {k: v for k, v in entry.items() if k not in dropped}
    before = counts(opt2)
    opt2.load_state_dict(older)
    assert counts(opt2) == before and "lfso" in opt2.state[opt2.param_groups[0]["params"][0]]


def test_steps_that_left_no_rule_state_save_their_counters_alone():
    """At a stationary point no rule is started: the state dict holds the counters only,
    and loads into a fresh optimiser as them, with no state for the parameter."""
    w = torch.nn.Parameter(torch.zeros(2))
    opt = LFSO([w])
    closure = quartic_closure(opt, w)
    for _ in range(3):
        opt.step(closure)
    assert opt.nfev > 0 and not opt.state[w].get("lfso")
    saved = opt.state_dict()
    assert saved["state"][0]["nfev"] == opt.nfev
    fresh = LFSO([w])
    fresh.load_state_dict(saved)
    assert fresh.nfev == opt.nfev and not fresh.state.get(w)


def test_safeguard_rolls_back_a_wrong_oracle():
    """The library's safeguard (lfso.steps.Safeguarded): monotone, and lfso.minimize's run.

    It remembers how far the bound was caught too small (forgetting 1% per step), so the
    steps stay cautious for a while after the rollbacks.
    """
    w = torch.nn.Parameter(torch.tensor([2.0, -1.0]))
    opt = LFSO([w], smoothness=lambda params, R: 1e-3, safeguard=True)
    closure = quartic_closure(opt, w)
    losses = [opt.step(closure).item() for _ in range(100)]
    assert all(b <= a for a, b in itertools.pairwise(losses))
    assert opt.rollbacks > 0 and losses[-1] < 1e-4 * losses[0]
    ref = lfso.minimize(
        lambda x: (x**4).sum() + 0.5 * (x**2).sum(),
        np.array([2.0, -1.0]),
        grad=lambda x: 4 * x**3 + x,
        smoothness=lambda x, R: 1e-3,
        safeguard=True,
        method="lfso",
        tol=0.0,
        max_iter=100,
        monitor="quiet",
    )
    np.testing.assert_allclose(w.detach().numpy(), ref.x, rtol=1e-9, atol=1e-15)
    assert opt.rollbacks == ref.rollbacks and np.allclose(losses, ref.history.f[:100])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": 2.0}, "Invalid eta: 2.0"),
        ({"safety": 0.5}, "Invalid safety: 0.5"),
        ({"growth": 1.0}, "Invalid growth"),
        ({"power_iterations": -1}, "Invalid power_iterations"),
    ],
)
def test_bad_hyperparameters_are_rejected_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LFSO([torch.nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": "1"}, "Invalid eta: '1' (must be a real number)"),
        ({"eta": True}, "Invalid eta: True (must be a real number)"),
        ({"safety": "2"}, "Invalid safety: '2' (must be a real number)"),
    ],
)
def test_hyperparameters_that_are_not_numbers_are_named(kwargs, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LFSO([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_lbfgs_on_an_oracle_refuses_safeguard_false_and_is_guarded_by_default():
    """lfso-lbfgs's default certificate on a ball oracle is an estimate capped by the ball,
    always safeguarded: ``safeguard=False`` raises, as with the automatic oracle."""
    w = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(TypeError, match=r"always safeguarded: drop safeguard=False"):
        LFSO(w, method="lfso-lbfgs", smoothness=1.0, safeguard=False)
    assert isinstance(LFSO(w, method="lfso-lbfgs", smoothness=1.0)._run.rule, Safeguarded)
    bare = LFSO(w, method="lfso-lbfgs", smoothness=1.0, safeguard=False, certificate="ball")
    assert not isinstance(bare._run.rule, Safeguarded)


@pytest.mark.parametrize("value", [2.5, 2.0, 0.0, math.inf])
def test_power_iterations_that_are_not_integers_say_what_is_accepted(value):
    """0 is accepted (no Hessian-vector products): the message says ``>= 0``."""
    with pytest.raises(TypeError, match=r"power_iterations must be an integer >= 0, got"):
        LFSO([torch.nn.Parameter(torch.zeros(1))], power_iterations=value)
    assert LFSO([torch.nn.Parameter(torch.zeros(1))], power_iterations=0).nhev == 0


@pytest.mark.parametrize("monitor", ["no", "yes", 0, 1, None, "False"])
def test_a_monitor_lfso_minimize_does_not_take_is_refused(monitor):
    """``monitor=`` as :func:`lfso.minimize` takes it: ``"no"`` is not ``False``."""
    with pytest.raises(ValueError, match=r"monitor must be True, False, 'full' or 'quiet'"):
        LFSO([torch.nn.Parameter(torch.zeros(1))], monitor=monitor)


@pytest.mark.parametrize("monitor, rows", [(True, 3), ("full", 3), ("quiet", 3), (False, 0)])
def test_the_monitor_values_of_lfso_minimize_are_taken(monitor, rows):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    opt = LFSO([w], monitor=monitor)

    def closure():
        opt.zero_grad()
        loss = (w**4).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert len(opt.history) == rows and (opt._risk is not None) is bool(monitor)


def test_a_callback_is_called_as_lfso_minimize_calls_it():
    """A callback with a keyword-only ``intermediate_result`` gets it by keyword; one that
    takes no argument is refused at construction, naming the callback."""
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0, 1.0]))
    seen = []

    def by_keyword(*, intermediate_result):
        seen.append((intermediate_result.nit, intermediate_result.x))

    opt = LFSO([w], callback=by_keyword)
    closure = quartic_closure(opt, w)
    for _ in range(3):
        opt.step(closure)
    assert seen == [(0, None), (1, None), (2, None)] and opt.callback is by_keyword
    with pytest.raises(TypeError, match=r"callback must accept one argument"):
        LFSO([w], callback=lambda: None)


def test_a_sparse_gradient_is_refused_naming_the_parameter():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = LFSO(emb.parameters())

    def closure():
        opt.zero_grad()
        loss = (emb(torch.tensor([1, 2])) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(TypeError, match=r"parameter 0 \(shape \(10, 3\)\) has a torch.sparse_coo"):
        opt.step(closure)


NUMBERS = {
    "tensor": lambda loss: loss,
    "float": lambda loss: loss.item(),
    "numpy-scalar": lambda loss: np.float64(loss.item()),
    "numpy-0d": lambda loss: np.array(loss.item()),
}

FLOAT_CLOSURE_RUNS = {
    "auto": ({}, torch.float64),
    "auto-float32": ({}, torch.float32),
    "oracle-safeguard": ({"smoothness": lambda p, R: 30.0, "safeguard": True}, torch.float64),
    "lfso-lbfgs": ({"method": "lfso-lbfgs"}, torch.float64),
    "hvp": ({"power_iterations": 2}, torch.float64),
}


def _number_run(returned, options, dtype, steps=25):
    """``steps`` steps on a small regression whose closure returns ``returned(loss)``: the
    parameters after each step and what ``step`` returned."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(40, 3, generator=gen, dtype=dtype)
    y = torch.sin(X @ torch.tensor([1.0, -2.0, 0.5], dtype=dtype))
    w = torch.nn.Parameter(torch.zeros(3, dtype=dtype))
    opt = LFSO([w], **options)
    graph = "power_iterations" in options

    def closure():
        opt.zero_grad()
        loss = ((torch.tanh(X @ w) - y) ** 2).mean() + 0.1 * (w**4).sum()
        loss.backward(create_graph=graph)
        return returned(loss.detach())

    points, losses = [], []
    for _ in range(steps):
        losses.append(opt.step(closure))
        points.append(w.detach().clone())
    return points, losses


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("name", list(FLOAT_CLOSURE_RUNS))
def test_a_closure_that_returns_a_number_takes_the_tensor_closures_steps(name):
    """The rules read the loss only as a number: a closure that returns ``loss.item()``, a
    NumPy scalar or a 0-d NumPy array (``float(closure())`` in torch.optim.LBFGS takes
    each) takes exactly the steps of the one that returns the tensor, with the automatic
    oracle or a user's, L-BFGS, Hessian-vector products and in float32; ``step`` returns
    the same loss, as a tensor."""
    options, dtype = FLOAT_CLOSURE_RUNS[name]
    expected, expected_losses = _number_run(NUMBERS["tensor"], options, dtype)
    assert not torch.equal(expected[-1], expected[0])  # (the run moves)
    for form in ("float", "numpy-scalar", "numpy-0d"):
        points, losses = _number_run(NUMBERS[form], options, dtype)
        for p, q in zip(points, expected, strict=True):
            assert torch.equal(p, q), form
        for got, loss in zip(losses, expected_losses, strict=True):
            assert isinstance(got, torch.Tensor) and float(got) == float(loss), form


def _returning(returned):
    """A parameter, its optimiser and a closure that computes ``||w||^2`` with its gradient
    and returns ``returned(loss)``."""
    w = torch.nn.Parameter(torch.ones(2))
    opt = LFSO([w])

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return returned(loss)

    return w, opt, closure


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda loss: "x", "got 'x'"),
        (lambda loss: True, "got True"),
        (lambda loss: None, "got None"),
        (lambda loss: np.array([1.0, 2.0]), r"got array\(\[1\., 2\.\]\)"),
    ],
    ids=["str", "bool", "none", "numpy-vector"],
)
def test_a_closure_that_returns_no_loss_is_refused_naming_what_it_returned(returned, message):
    w, opt, closure = _returning(returned)
    expected = r"the closure must return the loss as a tensor with one element or a real number"
    with pytest.raises(TypeError, match=f"{expected}, {message}"):
        opt.step(closure)
    assert torch.equal(w.detach(), torch.ones(2))


def test_a_loss_of_several_elements_is_refused_with_its_shape():
    _, opt, closure = _returning(lambda loss: loss.repeat(2))
    with pytest.raises(TypeError, match=r"one element, got a tensor of shape \(2,\)"):
        opt.step(closure)


@pytest.mark.parametrize(
    ("returned", "message"),
    [(lambda loss: torch.complex(loss, loss), "complex"), (lambda loss: loss > 0, "bool")],
    ids=["complex", "bool"],
)
def test_a_complex_or_bool_loss_tensor_is_refused_naming_the_closure(returned, message):
    """Refused as ``fun(x)[0]``, a name the user never wrote; now as the closure's."""
    w, opt, closure = _returning(returned)
    with pytest.raises(
        TypeError, match=f"the closure must return .* floating dtype, got a torch.{message}"
    ):
        opt.step(closure)
    assert torch.equal(w.detach(), torch.ones(2))


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_an_integer_loss_tensor_is_refused_naming_its_dtype(method):
    """``loss.long()`` holds only the loss's integer part: under ``method="lfso"`` the run
    on ``||w - 1||^2`` from 0 stopped near 0.5, where the integer part no longer falls,
    instead of at 1. It is refused before any step, naming the dtype."""
    w = torch.nn.Parameter(torch.zeros(3))
    opt = LFSO([w], method=method)

    def closure():
        opt.zero_grad()
        loss = ((w - 1) ** 2).sum()
        loss.backward()
        return loss.long()

    with pytest.raises(TypeError, match=r"floating dtype, got a torch.int64 tensor \(3\)"):
        opt.step(closure)
    assert torch.equal(w.detach(), torch.zeros(3)) and not opt.state


def test_step_requires_a_closure():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = LFSO([w])
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step(None)
    with pytest.raises(RuntimeError, match=r"needs a closure .*got closure=None"):
        opt.step()
    loss = ((w - 1) ** 2).sum()
    loss.backward()  # (the loss given in the closure's place: nothing is stepped)
    with pytest.raises(RuntimeError, match=r"needs a closure .*got closure=tensor\(1\."):
        opt.step(loss)
    assert torch.equal(w.detach(), torch.zeros(1)) and opt.nfev == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():  # pragma: no cover - CI has no GPU
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0], device="cuda"))
    opt = LFSO([w])
    closure = quartic_closure(opt, w)
    for _ in range(60):
        opt.step(closure)
    assert float(w.abs().max()) < 1e-2


def _ddp_job(rank, world):
    """15 steps of a DistributedDataParallel model on this rank's own shard: the Lipschitz
    estimates and the parameters."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    model = torch.nn.parallel.DistributedDataParallel(net)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank has its own shard
    X = torch.randn(40, 3, generator=gen)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(40, 1, generator=gen)
    opt = LFSO(model.parameters())

    def closure():
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        return loss

    Ls = []
    for _ in range(15):
        opt.step(closure)
        Ls.append(opt.last_L)
    return {"L": Ls, "params": [p.detach() for p in net.parameters()]}


data_parallel.register("LFSO", _ddp_job)


def test_distributed_ranks_take_the_same_step(data_parallel_ranks):
    r0, r1 = (ranks["LFSO"] for ranks in data_parallel_ranks)
    assert r0["L"] == r1["L"]
    for a, b in zip(r0["params"], r1["params"], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _uphill(dtype=torch.float32, max_rollbacks=2):
    """``(w, opt, closure)``: a safeguarded ``LFSO`` whose closure's gradient points
    uphill, so that no step can decrease the loss and the safeguard gives up."""
    w = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=dtype))
    opt = LFSO([w], smoothness=lambda params, R: 1.0, safeguard=True, max_rollbacks=max_rollbacks)

    def wrong_closure():
        opt.zero_grad()
        loss = (w**4).sum()
        (-loss).backward()
        return loss

    return w, opt, wrong_closure


def test_safeguard_never_keeps_a_bad_step():
    w, opt, wrong_closure = _uphill()

    before = w.detach().clone()
    with pytest.warns(RuntimeWarning, match="parameters are unchanged") as caught:
        opt.step(wrong_closure)
    torch.testing.assert_close(w.detach(), before)
    assert caught[0].filename == __file__  # (the warning points at the call of step)


@pytest.mark.parametrize("max_rollbacks", [0, 2])
def test_a_give_up_counts_every_rejected_trial_as_the_warning_and_minimize_do(max_rollbacks):
    """At a give-up the safeguard rejected ``max_rollbacks + 1`` trials, each rolled back:
    ``rollbacks``, the warning and ``lfso.minimize``'s run all say so; both then check the
    gradient (4 evaluations per length, and 4 at each of the shorter lengths that look for
    ``f`` bending below the step, where the disagreement stands at every length)."""
    from lfso._gradcheck import _REFINEMENTS
    from lfso.steps._safeguard import _SCALES

    check = 4 * len(_SCALES) + 4 * _REFINEMENTS  # (x^4, g negated: every length confirms)

    _, opt, wrong_closure = _uphill(torch.float64, max_rollbacks)
    tried = max_rollbacks + 1
    trials = f"{tried} trial step{'s' if tried > 1 else ''}"  # (1 trial step, 3 trial steps)
    with pytest.warns(RuntimeWarning, match=rf"the safeguard rejected {trials}\b"):
        opt.step(wrong_closure)
    assert opt.rollbacks == tried and opt.nfev == 1 + tried + check
    ref = lfso.minimize(
        lambda x: (x**4).sum(),
        np.array([2.0, -1.0]),
        grad=lambda x: -4 * x**3,
        smoothness=lambda x, R: 1.0,
        safeguard=True,
        max_rollbacks=max_rollbacks,
        monitor="quiet",
    )
    assert ref.status is lfso.Status.GRADIENT_MISMATCH
    assert ref.rollbacks == opt.rollbacks and ref.nfev == opt.nfev == 1 + tried + check


def test_the_automatic_oracles_give_up_counts_the_rejected_trials_as_minimize_does():
    """With the automatic oracle and a negated gradient the safeguard gives up on the first
    step after ``max_rollbacks + 1`` rejected trials; the later steps from the same loss
    and gradient are skipped and reject nothing more. ``lfso.minimize`` on the same
    function and gradient counts the same trials in ``Result.rollbacks``."""
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(20, 3, dtype=torch.float64, generator=gen)
    b = torch.randn(20, dtype=torch.float64, generator=gen)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = LFSO([w], max_rollbacks=3)

    def closure():
        opt.zero_grad()
        loss = ((A @ w - b) ** 2).mean()
        loss.backward()
        w.grad.neg_()
        return loss

    with pytest.warns(RuntimeWarning, match="the safeguard rejected 4 trial steps"):
        for _ in range(3):
            opt.step(closure)
    An, bn = A.numpy(), b.numpy()
    ref = lfso.minimize(
        lambda x: float(((An @ x - bn) ** 2).mean()),
        np.zeros(3),
        grad=lambda x: -2 * An.T @ (An @ x - bn) / len(bn),
        max_rollbacks=3,
        monitor="quiet",
    )
    assert ref.status is lfso.Status.GRADIENT_MISMATCH and ref.nit == 0
    assert opt.rollbacks == ref.rollbacks == 3 + 1
    torch.testing.assert_close(w.detach(), torch.zeros(3, dtype=torch.float64))


def test_a_precision_limit_counts_the_safeguards_rejected_trials_as_minimize_does(monkeypatch):
    """Where the safeguard gives up because no trial step short enough is representable,
    its error carries the trials it rejected: :func:`lfso.minimize`'s run counts them in
    ``rollbacks``, and so does the optimiser (which counted none)."""
    from lfso.oracles import PrecisionLimitError

    def shrunk_to_zero(self, objective, x, evaluation, state):
        error = PrecisionLimitError("the safeguard shrank the trial step to 0")
        error.rollbacks = 3
        raise error

    monkeypatch.setattr(Safeguarded, "step", shrunk_to_zero)
    ref = lfso.minimize(
        lambda x: (x**2).sum(),
        np.array([1.0, -1.0]),
        grad=lambda x: 2 * x,
        smoothness=lambda x, R: 2.0,
        safeguard=True,
        monitor="quiet",
    )
    assert ref.status is lfso.Status.PRECISION_LIMIT and ref.rollbacks == 3
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=torch.float64))
    opt = LFSO([w], smoothness=lambda params, R: 2.0, safeguard=True)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match="no step can be certified"):
        opt.step(closure)
    assert opt.rollbacks == ref.rollbacks == 3


@pytest.mark.parametrize("uphill", [True, False], ids=["wrong-gradient", "wrong-oracle"])
def test_a_give_up_names_a_wrong_gradient_as_minimize_does(uphill):
    """Where the safeguard rejects every trial, the gradient is checked at the parameters
    (the check :func:`lfso.minimize`'s run makes at its best point): a gradient pointing
    uphill is named, in the warning, the status the guard and the pilot read and the risk
    ``gradient``; a right gradient under an oracle far too small stays ``STEP_FAILED``."""
    w = torch.nn.Parameter(torch.tensor([2.0, -1.0], dtype=torch.float64))
    L = 1.0 if uphill else 1e-9
    opt = LFSO([w], smoothness=lambda params, R: L, safeguard=True, max_rollbacks=0)

    def closure():
        opt.zero_grad()
        loss = (w**4).sum()
        (-loss if uphill else loss).backward()
        return loss

    with pytest.warns(RuntimeWarning, match="the safeguard rejected 1 trial step;") as caught:
        opt.step(closure)
    assert torch.equal(w.detach(), torch.tensor([2.0, -1.0], dtype=torch.float64))
    ref = lfso.minimize(
        lambda x: (x**4).sum(),
        np.array([2.0, -1.0]),
        grad=(lambda x: -4 * x**3) if uphill else (lambda x: 4 * x**3),
        smoothness=lambda x, R: L,
        safeguard=True,
        max_rollbacks=0,
        monitor="quiet",
    )
    status = opt._gave_up[0]
    assert status is ref.status
    assert (status is lfso.Status.GRADIENT_MISMATCH) is uphill
    assert ("loss disagrees with its gradient" in str(caught[0].message)) is uphill
    assert ("gradient" in opt.risks) is uphill


def _lp_problem():
    A = torch.tensor([[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    model = lfso.models.LpRegression(A.numpy(), b.numpy(), 2)
    return A, b, model


METHOD_CASES = {  # method -> (options, with the model's oracle)
    "lfso": ({}, True),
    "lfso-auto": ({}, False),
    "lfso-lbfgs": ({"memory": 3}, True),
    "lfso-lbfgs-auto": ({}, False),
    "lfso-accel": ({}, True),
    "gd": ({"step": 1e-3}, False),
    "armijo": ({}, False),
    "bb": ({}, False),
    "adgd": ({}, False),
    "nesterov": ({"step": 1e-3}, False),
    "dog": ({}, False),
}


@pytest.mark.parametrize("case", METHOD_CASES)
def test_every_registry_method_takes_lfso_minimize_iterates(case):
    """method= runs the registry's rule on the flattened parameters: lfso.minimize's run."""
    A, b, model = _lp_problem()
    method = case.removesuffix("-auto")
    options, with_oracle = METHOD_CASES[case]
    w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    smoothness = (lambda params, R: model(params[0].detach().numpy(), R)) if with_oracle else None
    opt = LFSO([w], method=method, smoothness=smoothness, **options)

    def closure():
        opt.zero_grad()
        loss = ((A @ w - b) ** 4).sum()
        loss.backward()
        return loss

    losses = [float(opt.step(closure)) for _ in range(12)]
    ref = lfso.minimize(
        lambda x: ((A @ x - b) ** 4).sum(),
        torch.zeros(2, dtype=torch.float64),
        grad=lambda x: A.T @ (4 * (A @ x - b) ** 3),
        smoothness=(lambda x, R: model(x.numpy(), R)) if with_oracle else None,
        method=method,
        tol=0.0,
        max_iter=12,
        monitor="quiet",
        **options,
    )
    np.testing.assert_allclose(w.detach().numpy(), ref.x.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(losses, ref.history.f[:12], rtol=1e-12)
    assert opt.history.f[-1] == losses[-1] and opt.method == method


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "newton"}, ValueError, "Invalid method: 'newton'"),
        ({"method": "gd"}, TypeError, "method='gd' needs a step size: pass step="),
        ({"method": "gd", "step": 0.1, "eta": 0.5}, TypeError, "method='gd' takes no eta"),
        ({"memory": 5}, TypeError, r"unknown option\(s\) for method='lfso': \['memory'\]"),
        ({"method": "lfso-accel"}, TypeError, "method='lfso-accel' needs an oracle"),
        ({"method": "lfso-accel", "eta": 1.5, "smoothness": lambda p, R: 1.0}, ValueError,
         r"eta must be in \(0, 1\]"),
        ({"method": "armijo", "smoothness": lambda p, R: 1.0}, TypeError, "uses no smoothness"),
        ({"hvp": "autodiff"}, TypeError, "create_graph=True"),
        ({"max_rollbacks": -1}, ValueError, "Invalid max_rollbacks: -1"),
        ({"certificate": "paper"}, ValueError, "certificate must be"),
        ({"smoothness": -1.0}, ValueError, "smoothness must be finite and positive"),
        ({"smoothness": "auto"}, TypeError, "or a positive number"),
    ],
)  # fmt: skip
def test_bad_method_options_are_rejected_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        LFSO([torch.nn.Parameter(torch.zeros(1))], **kwargs)


def test_a_number_as_smoothness_is_a_global_lipschitz_constant():
    A = torch.tensor([[2.0, 0.5], [0.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    runs = []
    for smoothness in (14.0, lambda params, radius: 14.0):
        w = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
        opt = LFSO([w], smoothness=smoothness)

        def closure(w=w, opt=opt):
            opt.zero_grad()
            loss = ((A @ w - b) ** 2).sum()
            loss.backward()
            return loss

        for _ in range(5):
            opt.step(closure)
        runs.append(w.detach().clone())
    assert torch.equal(runs[0], runs[1]) and float(runs[0].abs().sum()) > 0.0


@pytest.mark.parametrize("smoothness", [None, lambda p, R: 100.0], ids=["auto", "oracle"])
def test_a_closure_without_backward_raises_naming_it(smoothness):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = LFSO([w], smoothness=smoothness)

    def closure():
        opt.zero_grad()
        return (w**4).sum()  # no loss.backward(): every .grad stays None

    with pytest.raises(RuntimeError, match=r"must call loss\.backward\(\).*\.grad is None"):
        opt.step(closure)
    assert torch.equal(w.detach(), torch.tensor([3.0, -2.0]))


def test_group_etas_scale_each_groups_step():
    """Groups with their own eta: each moves by eta_group / L times its gradient."""
    a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    c = torch.nn.Parameter(torch.tensor([3.0]))
    opt = LFSO([{"params": [a]}, {"params": [c], "eta": 0.25}], smoothness=lambda p, R: 10.0)

    def closure():
        opt.zero_grad()
        loss = (a**2).sum() + (c**2).sum()
        loss.backward()
        return loss

    before = [a.detach().clone(), c.detach().clone()]
    opt.step(closure)
    torch.testing.assert_close(a.detach(), before[0] - (1.0 / 10.0) * 2 * before[0])
    torch.testing.assert_close(c.detach(), before[1] - (0.25 / 10.0) * 2 * before[1])


def _digits(n=None):
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    X = torch.tensor(X[:n] / 16.0, dtype=torch.float32)
    return X, torch.tensor(y[:n])


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64, dtype=torch.float32),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10, dtype=torch.float32),
    )


def _train(net, opt, batches):
    lossf = torch.nn.CrossEntropyLoss()
    for xb, yb in batches:

        def closure(xb=xb, yb=yb):
            opt.zero_grad()
            loss = lossf(net(xb), yb)
            loss.backward()
            return loss

        opt.step(closure)


def test_minibatches_warn_once_and_name_the_stochastic_optimiser():
    """Minibatches fed to LFSO: a 64-64-10 MLP on digits, batch 64, the usual closure."""
    X, y = _digits()
    net = _mlp()
    opt = LFSO(net.parameters())
    gen = torch.Generator().manual_seed(0)
    batches = [(X[i], y[i]) for i in torch.randint(0, len(X), (3, 64), generator=gen)]
    with pytest.warns(lfso.torch.MinibatchWarning) as caught:
        _train(net, opt, batches)
    mine = [w for w in caught if issubclass(w.category, lfso.torch.MinibatchWarning)]
    assert len(mine) == 1 and "lfso.torch.StochasticLFSO" in str(mine[0].message)
    assert "at the same parameters" in str(mine[0].message)
    assert mine[0].filename == __file__  # (the line that called step: _train, here)


def test_the_full_batch_does_not_warn():
    import warnings

    X, y = _digits(512)
    net = _mlp()
    opt = LFSO(net.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error", lfso.torch.MinibatchWarning)
        _train(net, opt, [(X, y)] * 20)  # a new closure each step: checked, and equal
    assert "collapse" not in opt.risks and opt.history.f[-1] < 0.5 * opt.history.f[0]


def test_mixed_precision_losses_that_round_differently_per_call_do_not_warn():
    """Parameters in float32 and float64 (the loss rounds partly in float32): a full-batch
    loss that moves by float32's rounding between two calls at the same parameters (a
    reduction whose order varies, as on a GPU) is no minibatch; one that moves by 1e-3 is,
    and the warning shows the two losses apart."""
    torch.manual_seed(0)
    X = torch.randn(64, 5, dtype=torch.float64)
    y = X @ torch.ones(5, dtype=torch.float64) + 0.5 * torch.randn(64, dtype=torch.float64)
    for wobble, warns in [(6e-8, False), (1e-3, True)]:
        gen = torch.Generator().manual_seed(1)
        w = torch.zeros(5, dtype=torch.float32, requires_grad=True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = LFSO([w, b])

        def closure(opt=opt, w=w, b=b, gen=gen, wobble=wobble):
            opt.zero_grad()
            loss = ((X @ w.double() + b - y) ** 2).mean()
            loss = loss * (1.0 + wobble * float(torch.randn((), generator=gen)))
            loss.backward()
            return loss

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(20):
                opt.step(closure)
        mine = [str(c.message) for c in caught if c.category is lfso.torch.MinibatchWarning]
        assert bool(mine) is warns, mine
        if warns:
            a, b_ = mine[0].split("returned loss ")[1].split(" at the same")[0].split(" and then ")
            assert float(a) != float(b_), mine[0]


def test_a_closure_that_samples_inside_is_caught_at_a_checked_step():
    """The same closure object each step, drawing its own batch: the check at steps
    1, 2, 4, ... re-evaluates a known point and sees another loss."""
    X, y = _digits(512)
    net = _mlp()
    opt = LFSO(net.parameters())
    gen = torch.Generator().manual_seed(0)
    lossf = torch.nn.CrossEntropyLoss()

    def closure():
        i = torch.randint(0, len(X), (64,), generator=gen)
        opt.zero_grad()
        loss = lossf(net(X[i]), y[i])
        loss.backward()
        return loss

    with pytest.warns(lfso.torch.MinibatchWarning, match="draws a new minibatch"):
        for _ in range(3):
            opt.step(closure)


def test_a_closure_that_does_not_zero_the_gradients_is_told_so_not_minibatches():
    """Without ``opt.zero_grad()`` each ``backward`` adds to the last gradient: the loss
    agrees at the same parameters and ``||g||`` does not, and the warning names the fix
    rather than minibatches."""
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    opt = LFSO([w])

    def closure():
        loss = (w**2).sum()
        loss.backward()
        return loss

    with pytest.warns(lfso.torch.MinibatchWarning) as caught:
        for _ in range(3):
            opt.step(closure)
    mine = [str(c.message) for c in caught if c.category is lfso.torch.MinibatchWarning]
    assert len(mine) == 1 and "returned ||g||" in mine[0], mine
    assert "opt.zero_grad()" in mine[0] and "minibatch" not in mine[0], mine


@pytest.mark.parametrize("safeguard", [False, True])
def test_a_step_collapse_warns_even_when_the_losses_agree(safeguard):
    """Deterministic closure, an oracle that grows 10x per call: the steps collapse while
    the gradient does not shrink; the 'collapse' risk fires and the warning says so,
    naming the safeguard only where it is on."""
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    points: dict[bytes, int] = {}

    def oracle(params, R):  # constant in R at each point, 10x larger at each new point
        n = points.setdefault(params[0].detach().numpy().tobytes(), len(points) + 1)
        return 2.0 * 10.0**n

    opt = LFSO([w], smoothness=oracle, safeguard=safeguard)
    with pytest.warns(lfso.torch.MinibatchWarning, match="step collapsed") as caught:
        for _ in range(20):
            opt.step(quartic_closure(opt, w))
    assert "collapse" in opt.risks
    mine = [str(c.message) for c in caught if issubclass(c.category, lfso.torch.MinibatchWarning)]
    assert len(mine) == 1 and ("safeguard" in mine[0]) is safeguard, mine


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_no_collapse_warning_at_an_exact_fit(seed):
    """A full-batch least-squares fit with an exact solution: the loss falls to the
    rounding of residuals that cancel (about 1e-32) and the gradient to rounding noise,
    where the steps shrink as they like; that is convergence, not a collapse."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    y = X @ torch.ones(5, dtype=torch.float64)
    w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = LFSO([w, b])

    def closure():
        opt.zero_grad()
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error", lfso.torch.MinibatchWarning)
        for _ in range(200):
            loss = opt.step(closure)
    assert float(loss) < 1e-25 and "collapse" not in opt.risks


def test_no_collapse_warning_from_a_short_step_along_a_long_lbfgs_direction():
    """L-BFGS on a logistic regression whose data are of size 1e3: where the margins
    saturate, a pair's s . y / y . y makes the direction ``d`` some 1e15 times longer, and
    the certified ``t`` (``x + t d``) 1e15 times shorter, while the move ``t ||d||`` stays
    as long as the steps before it and the loss keeps falling. That is no collapse of the
    step, and a deterministic full-batch closure gets no MinibatchWarning."""
    gen = torch.Generator().manual_seed(329)
    X = torch.randn(40, 5, generator=gen, dtype=torch.float64) * 1e3
    truth = torch.randn(5, generator=gen, dtype=torch.float64)
    y = torch.rand(40, generator=gen, dtype=torch.float64) < torch.sigmoid(X @ truth / 1e3)
    y = y.to(torch.float64)
    w = torch.nn.Parameter(torch.randn(5, generator=gen, dtype=torch.float64))
    opt = LFSO([{"params": [w], "eta": 0.5}], method="lfso-lbfgs")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y)
        loss.backward()
        return loss

    steps = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", lfso.torch.MinibatchWarning)
        for _ in range(16):
            opt.step(closure)
            steps.append(opt.last_step)
    assert min(steps) < 1e-9 * max(steps)  # (t itself fell by many orders of magnitude)
    assert "collapse" not in opt.risks


def test_one_host_round_trip_per_step_with_an_oracle():
    """The loss, ||g|| and the audit's dot product come back together, once per step."""
    from lfso.bench import count_host_syncs

    w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 6))
    opt = LFSO([w], smoothness=lambda params, R: 50.0)  # (a constant: no sync of its own)
    closure = quartic_closure(opt, w)
    opt.step(closure)
    with count_host_syncs() as counts:
        for _ in range(10):
            opt.step(closure)
    assert sum(counts.values()) == 10 and opt.nfev == 11


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("oracle", ["auto", "user"])
def test_host_round_trips_per_step(method, oracle):
    """One round trip per closure call: the loss, ||g||, the audit's dot product and the
    automatic oracle's secant distances come back together (lfso._later). L-BFGS adds
    one per step: g . d and ||d||, which the radius solve needs on the host before the
    trial point exists (and one per rollback, the trial's secant along d)."""
    from lfso._later import cpu_as_accelerator
    from lfso.bench import count_host_syncs

    torch.manual_seed(0)  # a small network on noisy labels: far from converged in 60 steps
    X = torch.randn(500, 10)
    y = (X[:, 0] + 0.5 * torch.randn(500) > 0).double()
    net = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    smoothness = (lambda params, R: 10.0) if oracle == "user" else None  # (a constant)
    opt = LFSO(net.parameters(), method=method, smoothness=smoothness)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(X)[:, 0], y)
        loss.backward()
        return loss

    with cpu_as_accelerator():  # (as count_host_syncs: what one step leaves pending)
        for _ in range(10):
            opt.step(closure)
    calls, steps = opt.nfev, 50
    with count_host_syncs() as counts:
        for _ in range(steps):
            opt.step(closure)
    syncs, calls = sum(counts.values()), opt.nfev - calls
    assert len(opt.history) == 60 and opt.history.grad_norm[-1] > 1e-6  # (not at rounding)
    if method == "lfso":  # (with the automatic oracle, the safeguard's rollbacks add calls)
        assert syncs == calls, (syncs, calls)
    else:  # (the direction's round trip; both oracles are safeguarded estimates here)
        assert syncs <= calls + steps + opt.rollbacks
        assert syncs <= 2.1 * steps, (syncs, calls)


def test_host_round_trips_per_step_of_the_benchmark():
    """benchmarks/host_syncs.py's table: one round trip per closure call for lfso, one more
    per step for lfso-lbfgs (its direction's g . d and ||d||); with the automatic oracle the
    misuse checks at steps 4, 8, ... are the only extra calls (no rollback on this problem,
    and the window ends before rounding decides the safeguard's test)."""
    from lfso.bench import optimizer_syncs

    table = optimizer_syncs(1000, 20)
    for oracle in ("auto", "user"):
        calls, syncs = table[f"{oracle}: closure calls"], table[oracle]
        assert syncs["lfso"] == pytest.approx(calls["lfso"], abs=1e-12), table
        assert syncs["lfso-lbfgs"] == pytest.approx(calls["lfso-lbfgs"] + 1, abs=1e-12), table
    # (a user's ball oracle: lfso is the ball alone; lfso-lbfgs the safeguarded estimate
    # capped by the ball, whose misuse checks run as with the automatic oracle)
    assert table["user"]["lfso"] == 1.0 and table["user"]["lfso-lbfgs"] == 2.25
    # steps 4 to 12: the checks at steps 4 and 8 (they run with the safeguard's cache)
    assert table["auto: closure calls"] == {"lfso": 1.25, "lfso-lbfgs": 1.25}
    assert table["user: closure calls"] == {"lfso": 1.0, "lfso-lbfgs": 1.25}


def test_after_the_safeguard_gives_up_the_same_point_is_not_retried():
    w, opt, wrong_closure = _uphill()

    with pytest.warns(RuntimeWarning, match="parameters are unchanged"):
        opt.step(wrong_closure)
    calls = opt.nfev
    for _ in range(3):
        opt.step(wrong_closure)
    assert opt.nfev - calls <= 3 and opt.last_step == 0.0  # (no trial: the misuse check only)
    with torch.no_grad():
        w.mul_(0.5)  # moved outside: a new point, tried again
    with pytest.warns(RuntimeWarning, match="parameters are unchanged"):
        opt.step(wrong_closure)
    assert opt.nfev - calls > 3


def test_a_run_resumed_where_the_safeguard_gave_up_skips_the_same_steps(tmp_path):
    """The saved run carries where its rule could not step: the resumed run skips the
    next steps from there, as the uninterrupted one does (no trials, no new warning)."""
    w, opt, closure = _uphill(torch.float64)
    with pytest.warns(RuntimeWarning, match="parameters are unchanged"):
        opt.step(closure)
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (a retried step would warn again)
        for _ in range(3):
            opt.step(closure)
        w2, resumed, closure2 = _uphill(torch.float64)
        resumed.load_state_dict(torch.load(tmp_path / "opt.pt"))
        for _ in range(3):
            resumed.step(closure2)
    assert resumed.nfev == opt.nfev and resumed.rollbacks == opt.rollbacks
    assert resumed.last_step == 0.0 and torch.equal(w2, w)


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.9**epoch),
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, 10),
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1.0, total_steps=10, cycle_momentum=False
        ),
        lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
    ],
    ids=["LambdaLR", "StepLR", "OneCycleLR", "ReduceLROnPlateau"],
)
def test_a_learning_rate_scheduler_is_told_that_lfso_has_no_learning_rate(make):
    """A scheduler reads each group's ``lr`` when it is made: a ``KeyError`` that says why
    there is none, also after a checkpoint is loaded; and the optimiser still steps,
    copies and pickles."""
    w = torch.nn.Parameter(torch.zeros(3))
    opt = LFSO([w])
    with pytest.raises(KeyError, match="LFSO has no learning rate"):
        make(opt)
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    with pytest.raises(KeyError, match="LFSO has no learning rate"):
        make(opt)

    def closure():
        opt.zero_grad()
        loss = ((w - 1.0) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(8):
        opt.step(closure)
    assert torch.allclose(w.detach(), torch.ones(3), atol=1e-6)
    assert pickle.loads(pickle.dumps(copy.deepcopy(opt))).param_groups[0]["eta"] == 1.0


def _two_dtypes(w32, w64, wrong=1.0):
    """An optimiser over a float32 and a float64 parameter, and the closure of
    ``sum w32^2 + 10 + sum w64^4`` (``wrong``: a factor on the float32 part's gradient)."""
    w32 = torch.nn.Parameter(torch.tensor(w32, dtype=torch.float32))
    w64 = torch.nn.Parameter(torch.tensor(w64, dtype=torch.float64))
    opt = LFSO([w32, w64])

    def closure():
        opt.zero_grad()
        loss = (w32**2).sum() + 10.0 + (w64**4).sum()
        loss.backward()
        w32.grad.mul_(wrong)
        return loss

    return opt, closure


def test_parameters_of_two_dtypes_are_stepped_at_the_coarser_rounding():
    """The float32 part of the loss rounds at float32's level although the rules see one
    float64 vector: the safeguard's descent test allows for it, and does not give up on
    steps that are right up to that rounding."""
    opt, closure = _two_dtypes([1.5, -0.7, 0.3], [0.9, -1.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no give-up warning)
        losses = [float(opt.step(closure)) for _ in range(200)]
    assert losses[-1] - 10.0 < 1e-6 and opt.last_step > 0.0


@pytest.mark.parametrize("wrong", [1.0, 10.0], ids=["right-gradient", "wrong-gradient"])
def test_the_gradient_check_over_two_dtypes_tells_rounding_from_a_wrong_gradient(wrong):
    """The safeguard's finite difference of ``f`` (:func:`lfso.steps._safeguard.
    _check_gradient`) at the float32 part's rounding: a right gradient passes (at float64's
    it was called a mismatch), a gradient ten times too large on the float32 part does not."""
    from lfso.steps import GradientMismatchError
    from lfso.steps._safeguard import _check_gradient

    opt, closure = _two_dtypes(
        [-0.0071043228, -0.0068332735, -0.0081905685], [0.1115, 0.1226], wrong
    )
    model = opt._run.model
    model.closure = closure
    z = opt._run.layout.flatten()
    ev = model.evaluate(z, bound=False)
    along = (None, -float(ev.grad @ ev.grad), float(ev.grad.norm()))
    if wrong == 1.0:
        _check_gradient(model, z, ev, along)
    else:
        with pytest.raises(GradientMismatchError, match="the gradient says"):
            _check_gradient(model, z, ev, along)


@pytest.mark.parametrize(
    ("dtype", "scale"), [(torch.float64, 1e-310), (torch.float32, 1e-40)], ids=["f64", "f32"]
)
@pytest.mark.parametrize(
    "options",
    [{}, {"method": "lfso-lbfgs"}, {"smoothness": "exact"}],
    ids=["auto", "lbfgs", "oracle"],
)
def test_a_subnormal_loss_warns_once_naming_it_and_leaves_the_parameters(dtype, scale, options):
    """``scale * sum w^2`` with ``scale`` below the dtype's normal range: the loss and its
    gradient are subnormal (no precision left; the step ``1 / L`` overflows): one warning
    that says so and how to rescale, and the parameters stay where they are."""
    if options.get("smoothness") == "exact":
        options = {"smoothness": 2.0 * scale}  # (the exact Lipschitz constant, subnormal)
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=dtype))
    opt = LFSO([w], **options)

    def closure():
        opt.zero_grad()
        loss = scale * (w**2).sum()
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match="subnormal.*multiply the loss") as caught:
        for _ in range(5):
            opt.step(closure)
    assert len([c for c in caught if "subnormal" in str(c.message)]) == 1
    assert w.tolist() == [3.0, -2.0] and opt.last_step == 0.0


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
def test_a_gradient_that_underflows_to_zero_warns_once_and_a_stationary_start_does_not(method):
    """A float32 least-squares loss times ``1e-44``: the loss is a subnormal number and
    its gradient underflows to exactly 0, so LFSO cannot move; one warning says the
    gradient may have underflowed and how to rescale the loss (the note of
    lfso.minimize's result). ``w . w`` at ``w = 0`` is stationary: no warning."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(50, 3, generator=gen, dtype=torch.float32)
    y = torch.randn(50, generator=gen, dtype=torch.float32)
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    opt = LFSO([w], method=method)

    def closure():
        opt.zero_grad()
        loss = 1e-44 * ((X @ w - y) ** 2).mean()
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match="gradient may have underflowed") as caught:
        for _ in range(3):
            loss = opt.step(closure)
    assert float(loss) != 0.0 and not w.grad.any() and w.tolist() == [1.0, 1.0, 1.0]
    assert len([c for c in caught if "underflowed" in str(c.message)]) == 1
    assert caught[0].filename == __file__ and "multiply f (the loss)" in str(caught[0].message)
    v = torch.nn.Parameter(torch.zeros(3, dtype=torch.float32))
    still = LFSO([v], method=method)

    def stationary():
        still.zero_grad()
        loss = v @ v
        loss.backward()
        return loss

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            still.step(stationary)


def test_an_automatic_estimate_past_the_float_range_is_a_precision_limit_not_an_oracle_error():
    """Mixed float32 / float64 parameters under ``lfso-lbfgs``: where the float32 part's
    gradient changes underflowed, the automatic estimate's floor fell step by step to 0
    and the run raised ``OracleError: smoothness oracle returned L(x, R=inf) = 0.0``
    (about step 1360), blaming an oracle the user never gave. The step it would size is
    past the float range: the optimiser stays, with a warning naming the estimate."""
    w32 = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float32))
    w64 = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = LFSO([w32, w64], method="lfso-lbfgs")

    def closure():
        opt.zero_grad()
        loss = (w32**2).sum() + (w64**4).sum()
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match="automatic smoothness estimate"):
        for _ in range(1500):
            loss = opt.step(closure)
    assert float(loss) < 1e-50 and opt.last_step == 0.0


@pytest.mark.parametrize("style", ["positional", "keyword"])
def test_a_callback_that_raises_stop_iteration_stops_the_optimiser(style):
    """``StopIteration`` from the callback stops the optimiser as it stops lfso.minimize's
    run: the step that called it returns its loss, :attr:`LFSO.stopped` turns true, and
    later steps return the closure's loss and leave the parameters, until it is reset."""
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0, 1.0]))

    def stop_at_two(result):
        if result.nit == 2:
            raise StopIteration

    def by_keyword(*, intermediate_result):
        stop_at_two(intermediate_result)

    opt = LFSO([w], callback=stop_at_two if style == "positional" else by_keyword)
    closure = quartic_closure(opt, w)
    losses = [opt.step(closure) for _ in range(3)]
    assert opt.stopped and len(opt.history) == 3 and losses[2] < losses[1] < losses[0]
    at, nfev = w.detach().clone(), opt.nfev
    later = opt.step(closure)
    assert torch.equal(w.detach(), at) and opt.nfev == nfev + 1 and len(opt.history) == 3
    assert float(later) == float((at**4).sum() + 0.5 * (at**2).sum())
    opt.stopped = False  # (goes on)
    opt.step(closure)
    assert not torch.equal(w.detach(), at) and not opt.stopped


def test_a_grad_scaler_s_step_is_refused():
    """``scaler.step(opt, closure)`` unscaled the gradient left before the step, not the
    one the closure's ``scaler.scale(loss).backward()`` left, 65536 times its loss's,
    which the step read: five steps of a linear model ended at a loss of 6 (0.04 without
    the scaler), silently. It is refused, naming the scaler, and leaves nothing behind."""
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = X @ torch.tensor([2.0, -1.0, 0.5], dtype=X.dtype)
    net = torch.nn.Linear(3, 1).to(X.dtype)
    opt = LFSO(net.parameters())
    scaler = torch.amp.GradScaler("cpu")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(X).squeeze(1), y)
        scaler.scale(loss).backward()
        return loss

    before = [p.detach().clone() for p in net.parameters()]
    scaler.scale(torch.nn.functional.mse_loss(net(X).squeeze(1), y)).backward()
    with pytest.raises(RuntimeError, match=r"LFSO does not take torch\.amp\.GradScaler"):
        scaler.step(opt, closure)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))
    assert not hasattr(opt, "found_inf") and not hasattr(opt, "grad_scale")
