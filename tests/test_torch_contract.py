"""Both PyTorch optimisers against torch.optim's conventions: copies (``copy.deepcopy``,
``pickle``) that step as the original, parameter sets that change between steps, complex
parameters refused, a closure that raises in the probe, exact resumes of LFSO with group
etas or mixed dtypes, and hyperparameters checked when they are given."""

import copy
import io
import math
import pickle
import warnings

import pytest

torch = pytest.importorskip("torch")

import lfso.torch  # noqa: E402


@pytest.fixture(autouse=True)
def _float32_default():
    """torch's own default dtype, whatever an earlier test module set (test_torch sets
    float64 when it is imported)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


_X = torch.randn(64, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float32)


def _steps(opt, net, n=4):
    def closure(backward=True):
        if backward:
            opt.zero_grad()
        loss = (net(_X) ** 2).mean()
        if backward:
            loss.backward()
        return loss

    for _ in range(n):
        opt.step(closure)
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("LFSO", {}),
        ("LFSO", {"method": "lfso-lbfgs"}),
        ("StochasticLFSO", {}),
        ("StochasticLFSO", {"device_steps": True}),
    ],
)
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_optimiser_steps_as_the_original(kind, options, how):
    net = _net()
    opt = getattr(lfso.torch, kind)(net.parameters(), **options)
    _steps(opt, net)
    if how == "deepcopy":
        net2, opt2 = copy.deepcopy((net, opt))
    else:
        net2, opt2 = pickle.loads(pickle.dumps((net, opt)))
    assert torch.equal(_steps(opt, net), _steps(opt2, net2))


def _two_heads(device_steps=False):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.zeros(3))
    b = torch.nn.Parameter(torch.zeros(3))
    X = torch.randn(256, 3)
    ya, yb = X @ torch.tensor([1.0, 2.0, 3.0]), X @ torch.tensor([-1.0, 0.5, 2.0])
    opt = lfso.torch.StochasticLFSO([a, b], device_steps=device_steps)
    return a, b, X, ya, yb, opt


@pytest.mark.parametrize("device_steps", [False, True])
def test_the_probe_never_evaluates_a_parameter_the_last_step_did_not_move(device_steps):
    # Two heads of the same size, used on alternating batches: the last step's direction
    # is over the other head.
    a, b, X, ya, yb, opt = _two_heads(device_steps)
    seen = []
    for i in range(8):
        head, y = (a, ya) if i % 2 == 0 else (b, yb)
        idx = torch.arange(32 * i, 32 * i + 32)

        def closure(backward=True, head=head, y=y, idx=idx):
            if not backward:
                seen.append(head.detach().clone())
            loss = ((X[idx] @ head - y[idx]) ** 2).mean()
            if backward:
                loss.backward()
            return loss

        opt.step(closure)
    # A probe there would evaluate the other head at its kept point, uninitialised memory
    # (values like 1e32): heads that always alternate are never measured.
    assert not seen


def test_the_device_path_undoes_only_the_parameters_the_last_step_moved():
    torch.manual_seed(1)
    X = torch.randn(512, 5)
    Y = torch.sin(X.sum(1, keepdim=True))

    def run(device_steps):
        torch.manual_seed(0)
        l1, l2, l3 = torch.nn.Linear(5, 8), torch.nn.Linear(8, 1), torch.nn.Linear(8, 1)
        params = [*l1.parameters(), *l2.parameters(), *l3.parameters()]
        opt = lfso.torch.StochasticLFSO(params, device_steps=device_steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lfso.torch.SkippedBatchWarning)
            for i in range(11):
                idx = torch.arange(32 * i, 32 * i + 32) % 512

                def closure(backward=True, i=i, idx=idx):
                    h = torch.tanh(l1(X[idx]))
                    out = l2(h) + (l3(h) if i % 3 == 0 else 0.0)  # l3 on every third
                    loss = ((out - Y[idx]) ** 2).mean()
                    if i == 9:
                        loss = loss * math.nan
                    if backward:
                        loss.backward()
                    return loss

                opt.step(closure)
            assert opt.rollbacks == 1
        return torch.cat([p.detach().reshape(-1) for p in params])

    assert torch.equal(run(False), run(True))


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
def test_complex_parameters_are_refused_naming_them(kind):
    real = torch.nn.Parameter(torch.zeros(2))
    z = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    make = getattr(lfso.torch, kind)
    with pytest.raises(TypeError, match=r"parameter 1 \(shape \(3,\)\) is torch.complex64"):
        make([real, z])
    opt = make([real])
    with pytest.raises(TypeError, match="parameter 1"):
        opt.add_param_group({"params": [z]})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
def test_a_parameter_given_twice_is_refused_naming_it(kind):
    """Once in the flat point, or its gradient counts twice in the step's norms (torch.optim
    only warns within a group, and names no parameter across groups)."""
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    make = getattr(lfso.torch, kind)
    given_twice = [
        ([p, p], 1, 0, 2),
        ([q, p, q], 2, 0, 3),
        ([{"params": [p]}, {"params": [q, p]}], 2, 0, 2),
        ([{"params": q}, {"params": (x for x in [p, q])}], 2, 0, 3),
    ]
    for params, again, first, size in given_twice:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (refused before torch's own warning)
            with pytest.raises(
                ValueError, match=rf"parameter {again} \(shape \({size},\)\) is parameter {first}"
            ):
                make(params)
    opt = make([p, q])
    with pytest.raises(ValueError, match=r"parameter 3 .* is parameter 0 given again"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1)), p]})
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == 2


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
def test_parameters_that_share_elements_are_refused_naming_them(kind):
    """Two parameters that are views of one storage with elements in common: each step
    moved the shared elements twice. ``StochasticLFSO`` on ``||a - 1||^2 + ||b - 2||^2``
    with ``a = base[:4]`` and ``b = base[2:]`` ended at 2.2 after 300 steps (the minimum
    is 1), silently; views of one buffer that share no element are kept."""
    make = getattr(lfso.torch, kind)
    base = torch.zeros(12)
    grid = base.view(6, 2)
    overlapping = [
        ([base[:4], base[2:6]], 1, 0),
        ([base[9:10], grid[:, 0], base[4:5]], 2, 1),
    ]
    for views, shares, other in overlapping:
        with pytest.raises(
            ValueError, match=rf"parameter {shares} .* shares elements with parameter {other}"
        ):
            make([torch.nn.Parameter(v) for v in views])
    opt = make([torch.nn.Parameter(grid[:, 0]), torch.nn.Parameter(grid[:, 1])])  # disjoint
    with pytest.raises(ValueError, match=r"parameter 2 .* shares elements with parameter 1"):
        opt.add_param_group({"params": [torch.nn.Parameter(base[3:4])]})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
def test_a_parameter_whose_elements_alias_one_another_is_refused_naming_it(kind):
    """A parameter two of whose elements are one element of its storage was accepted:
    ``expand(3)`` of one element failed at the first step with torch's in-place error, and
    strides that interleave (``as_strided`` of shape (3, 2), strides (1, 2)) were stepped
    silently, each shared element moved once for each; one whose strides do not alias is
    kept."""
    make = getattr(lfso.torch, kind)
    q = torch.nn.Parameter(torch.zeros(2))
    aliased = [
        torch.zeros(1).expand(3),
        torch.zeros(1, 4).expand(2, 4),
        torch.zeros(8).as_strided((3, 2), (2, 1)),  # (rows 0-1, 2-3, 4-5: no alias)
        torch.zeros(8).as_strided((3, 2), (1, 2)),  # (offsets 0, 2, 1, 3, 2, 4)
    ]
    for p, alias in zip(aliased, [True, True, False, True], strict=True):
        if alias:
            with pytest.raises(ValueError, match=rf"{kind}: parameter 1 \(shape .*expand"):
                make([q, torch.nn.Parameter(p)])
        else:
            make([q, torch.nn.Parameter(p)])
    make([torch.nn.Parameter(torch.zeros(12).as_strided((3, 2), (2, 3)))])  # (distinct)
    opt = make([q])
    with pytest.raises(ValueError, match=r"parameter 1 .* one element of its storage"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1).expand(2))]})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("device_steps", [False, True])
def test_a_closure_that_raises_in_the_probe_leaves_the_parameters_where_they_were(device_steps):
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = X @ torch.tensor([1.0, 2.0, 3.0])
    w = torch.nn.Parameter(torch.zeros(3))
    opt = lfso.torch.StochasticLFSO([w], device_steps=device_steps)
    fail = [False]

    def closure(backward=True):
        if fail[0] and not backward:
            raise KeyboardInterrupt
        loss = ((X @ w - y) ** 2).mean()
        if backward:
            loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    before = w.detach().clone()
    fail[0] = True
    with pytest.raises(KeyboardInterrupt):
        opt.step(closure)
    assert torch.equal(w.detach(), before)


def _groups_net(mixed):
    net = _net()
    if mixed:
        net[2].double()
        return net, net.parameters()
    return net, [
        {"params": net[0].parameters(), "eta": 0.5},
        {"params": net[2].parameters(), "eta": 1.0},
    ]


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("mixed", [False, True])
def test_lfso_resumes_bit_for_bit_with_group_etas_or_mixed_dtypes(method, mixed):
    Y = torch.randn(64, 1, generator=torch.Generator().manual_seed(2))

    def run(split):
        net, params = _groups_net(mixed)
        opt = lfso.torch.LFSO(params, method=method)
        for i in range(8):
            if i == split:
                buffer = io.BytesIO()
                torch.save({"net": net.state_dict(), "opt": opt.state_dict()}, buffer)
                buffer.seek(0)
                saved = torch.load(buffer)  # weights_only=True
                net, params = _groups_net(mixed)
                net.load_state_dict(saved["net"])
                opt = lfso.torch.LFSO(params, method=method)
                opt.load_state_dict(saved["opt"])

            def closure(net=net, opt=opt):
                opt.zero_grad()
                out = net[2](net[1](net[0](_X)).to(net[2].weight.dtype))
                loss = ((out - Y.to(out.dtype)) ** 2).mean()
                loss.backward()
                return loss

            opt.step(closure)
        return torch.cat([p.detach().double().reshape(-1) for p in net.parameters()])

    assert torch.equal(run(None), run(3))


@pytest.mark.parametrize("method", ["lfso", "lfso-lbfgs"])
@pytest.mark.parametrize("etas", [(0.5,), (0.5, 1.5)], ids=["one-group", "two-groups"])
def test_a_resumed_run_takes_the_saved_groups_eta_and_the_same_steps(method, etas):
    """torch's load_state_dict restores the groups' hyperparameters: an optimiser built
    with the default eta takes the saved ones and, with the saved rule state, the steps
    of the run that was never interrupted."""
    Y = torch.randn(64, 1, generator=torch.Generator().manual_seed(2))

    def make(given):
        net = _net()
        layers = (
            [net.parameters()] if len(etas) == 1 else [net[0].parameters(), net[2].parameters()]
        )
        groups = [
            {"params": list(p), **({"eta": e} if given else {})}
            for p, e in zip(layers, etas, strict=True)
        ]
        return net, lfso.torch.LFSO(groups, method=method)

    def steps(net, opt, n):
        def closure():
            opt.zero_grad()
            loss = ((net(_X) - Y) ** 4).mean()
            loss.backward()
            return loss

        for _ in range(n):
            opt.step(closure)

    whole, opt = make(True)
    steps(whole, opt, 12)
    net, opt = make(True)
    steps(net, opt, 5)
    saved = copy.deepcopy((net.state_dict(), opt.state_dict()))
    resumed, opt2 = make(False)
    resumed.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    assert [g["eta"] for g in opt2.param_groups] == list(etas)
    steps(resumed, opt2, 7)
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def _saved(make, steps=4, size=3):
    """The state dict of an optimiser ``make(params)`` after a few steps of a quartic (of
    ``size`` variables)."""
    w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, size))
    opt = make([w])
    for _ in range(steps):

        def closure(backward=True):
            opt.zero_grad()
            loss = (w**4).sum() + (w**2).sum()
            if backward:
                loss.backward()
            return loss

        opt.step(closure)
    return copy.deepcopy(opt.state_dict())


def _without_shapes(state_dict):
    """A state dict as saved before it named its parameters' shapes (its point ``z``)."""
    state_dict["state"][0].pop("shapes")
    return state_dict


def _with_entry(state_dict, name, value):
    """A state dict whose entry ``name`` was edited by hand."""
    state_dict["state"][0][name] = value
    return state_dict


def _with_shapes(state_dict, shapes):
    return _with_entry(state_dict, "shapes", shapes)


def _too_large_eta(state_dict):
    state_dict["param_groups"][0]["eta"] = 1.5  # lfso-accel takes eta in (0, 1]
    return state_dict


_LFSO = lfso.torch.LFSO


@pytest.mark.parametrize(
    ("saved", "options", "match"),
    [
        (
            lambda: _saved(_LFSO),
            {"method": "lfso-lbfgs"},
            "of method='lfso', .* method='lfso-lbfgs'",
        ),
        (lambda: _saved(lambda p: _LFSO(p, method="lfso-lbfgs")), {}, "method='lfso-lbfgs'"),
        (lambda: _saved(_LFSO), {"method": "bb"}, "method='bb'"),
        (lambda: _saved(lambda p: _LFSO(p, smoothness=50.0)), {}, "of a smoothness oracle"),
        (lambda: _saved(_LFSO), {"smoothness": 50.0}, "of the automatic oracle"),
        (
            lambda: _saved(lambda p: _LFSO(p, smoothness=50.0, safeguard=True)),
            {"smoothness": 50.0},
            "rule='Safeguarded",
        ),
        (lambda: _saved(lambda p: torch.optim.Adam(p)), {}, "not an LFSO state dict"),
        (lambda: _saved(lambda p: lfso.torch.StochasticLFSO(p)), {}, "not an LFSO state dict"),
        (lambda: [1, 2], {}, "not an LFSO state dict: list"),
        (
            lambda: _saved(_LFSO, size=4),
            {},
            r"saved for parameters of shapes \[\(4,\)\], .* have shapes \[\(3,\)\]",
        ),
        (
            lambda: _without_shapes(_saved(_LFSO, size=4)),
            {},
            r"saved for a point of 4 elements, .* have shapes \[\(3,\)\] \(3 elements",
        ),
        (
            lambda: _with_shapes(_saved(_LFSO), [5]),
            {},
            r"'shapes' entry must be the parameters' shapes, .* got shapes=\[5\]",
        ),
        (
            lambda: _with_entry(_saved(_LFSO), "nfev", "abc"),
            {},
            r"the state dict's 'nfev' entry must be an integer >= 0, got nfev='abc'",
        ),
        (
            lambda: _with_entry(_saved(_LFSO), "steps", -3),
            {},
            r"'steps' entry must be an integer >= 0, got steps=-3",
        ),
        (
            lambda: _with_entry(_saved(_LFSO), "last_L", None),
            {},
            r"the state dict's 'last_L' entry must be a number, got last_L=None",
        ),
        (
            lambda: _with_shapes(_saved(_LFSO), "3"),
            {},
            r"'shapes' entry must be .* lists of integers >= 0 .* got shapes='3'",
        ),
        (
            lambda: _too_large_eta(
                _saved(lambda p: _LFSO(p, method="lfso-accel", smoothness=50.0))
            ),
            {"method": "lfso-accel", "smoothness": 50.0},
            "eta",
        ),
    ],
    ids=[
        "lfso-into-lbfgs",
        "lbfgs-into-lfso",
        "lfso-into-bb",
        "given-oracle-into-automatic",
        "automatic-into-given-oracle",
        "safeguarded-into-not",
        "adam",
        "stochastic",
        "not-a-dict",
        "another-model",
        "another-model-no-shapes",
        "malformed-nfev",
        "negative-steps",
        "last-L-not-a-number",
        "malformed-shapes",
        "shapes-not-a-list",
        "eta-the-method-refuses",
    ],
)
def test_a_state_dict_that_does_not_apply_is_refused_and_changes_nothing(saved, options, match):
    state_dict = saved()

    def run(load):
        w = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 3))
        opt = lfso.torch.LFSO([w], **options)

        def closure():
            opt.zero_grad()
            loss = (w**4).sum() + (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        if load:
            with pytest.raises(ValueError, match=match):
                opt.load_state_dict(state_dict)
        for _ in range(3):
            opt.step(closure)
        return w.detach(), [dict(g, params=None) for g in opt.param_groups]

    untouched, refused = run(False), run(True)
    assert torch.equal(untouched[0], refused[0]) and untouched[1] == refused[1]


def test_a_group_eta_is_checked_when_the_group_is_given():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(TypeError, match="Invalid eta: 'a'"):
        lfso.torch.LFSO([{"params": [w], "eta": "a"}])
    opt = lfso.torch.LFSO([w])
    v = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="Invalid eta: 5"):
        opt.add_param_group({"params": [v], "eta": 5})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize(
    ("options", "match"),
    [({"betas": 0.9}, "Invalid betas: 0.9"), ({"eps": math.inf}, "Invalid eps: inf")],
)
def test_stochastic_hyperparameters_are_refused_with_the_value(options, match):
    with pytest.raises(ValueError, match=match):
        lfso.torch.StochasticLFSO([torch.nn.Parameter(torch.zeros(2))], **options)


@pytest.mark.parametrize(
    ("kind", "group", "match"),
    [
        ("StochasticLFSO", {"betas": (0.5, 0.5)}, r"Invalid betas in a param group: \(0.5"),
        ("StochasticLFSO", {"probe_every": 3}, "takes one probe_every for all parameters"),
        ("StochasticLFSO", {"weight_decay": 0.01}, "has no weight_decay"),
        ("StochasticLFSO", {"maximize": True}, "has no maximize"),
        ("LFSO", {"lr": 0.1}, "LFSO has no learning rate"),
        ("LFSO", {"weight_decay": 1e-4}, "has no weight_decay"),
        ("LFSO", {"safety": 3.0}, "takes one safety for all parameters"),
        ("LFSO", {"safeguard": True}, "takes one safeguard for all parameters"),
        ("LFSO", {"radius_rtol": 0.5}, "takes one radius_rtol for all parameters"),
    ],
)
def test_a_group_option_that_would_be_ignored_is_refused(kind, group, match):
    make = getattr(lfso.torch, kind)
    w, v = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=match):
        make([{"params": [w], **group}])
    opt = make([w])
    with pytest.raises(ValueError, match=match):
        opt.add_param_group({"params": [v], **group})
    assert len(opt.param_groups) == 1


def test_a_group_eta_is_refused_for_a_method_that_takes_no_eta():
    """``eta=`` is refused for ``method="gd"``; so is a group's, which was ignored alone and
    scaled the step of the groups below the largest one."""
    w, v = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    with pytest.raises(ValueError, match=r"Invalid eta in a param group: 0\.5 .*takes no eta"):
        lfso.torch.LFSO([{"params": [w], "eta": 0.5}], method="gd", step=0.1)
    opt = lfso.torch.LFSO([{"params": [w], "eta": 1.0}], method="gd", step=0.1)
    with pytest.raises(ValueError, match="takes no eta"):
        opt.add_param_group({"params": [v], "eta": 0.5})
    opt.add_param_group({"params": [v]})
    opt.param_groups[1]["eta"] = 0.5

    def closure():
        opt.zero_grad()
        loss = (w**2).sum() + (v**2).sum()
        loss.backward()
        return loss

    with pytest.raises(ValueError, match="takes no eta"):
        opt.step(closure)
    opt.param_groups[1]["eta"] = 1.0
    opt.step(closure)
    assert torch.equal(w.detach(), v.detach()) and float(w) < 1.0


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"lr": 0.1}, "LFSO has no learning rate"),
        ({"weight_decay": 0.1}, "has no weight_decay"),
        ({"safety": 8.0}, "takes one safety for all parameters"),
    ],
)
def test_a_group_option_set_between_steps_that_would_be_ignored_is_refused(edit, match):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0], dtype=torch.float64))
    opt = lfso.torch.LFSO([w], safety=2.0)

    def closure():
        opt.zero_grad()
        loss = (w**4).sum()
        loss.backward()
        return loss

    opt.step(closure)
    opt.param_groups[0].update(edit)
    before = w.detach().clone()
    with pytest.raises(ValueError, match=match):
        opt.step(closure)
    assert torch.equal(w.detach(), before)
    for key in edit:  # (the optimiser's own value is taken per group)
        del opt.param_groups[0][key]
    opt.param_groups[0]["safety"] = 2.0
    opt.step(closure)
    assert not torch.equal(w.detach(), before)
    del opt.param_groups[0]["eta"]
    with pytest.raises(KeyError, match="needs its eta"):
        opt.step(closure)


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
def test_groups_carried_over_at_values_that_change_nothing_are_taken(kind):
    # AdamW's usual no-decay group, and the optimiser's own betas given again as a list
    w, v = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    extra = {"betas": [0.9, 0.999]} if kind == "StochasticLFSO" else {}
    opt = getattr(lfso.torch, kind)(
        [{"params": [w], "weight_decay": 0.0, "maximize": False}, {"params": [v], **extra}]
    )
    assert len(opt.param_groups) == 2


_NEUTRAL_FLAGS = {
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": None,
}


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
@pytest.mark.parametrize("flags", [_NEUTRAL_FLAGS, {"foreach": True, "fused": False}])
def test_torch_optim_flags_that_change_nothing_are_taken_with_the_same_steps(kind, flags):
    """torch.optim's implementation options, as code that builds any optimiser passes them
    (``maximize=False``, ``foreach=None``, ...), are taken, and the steps are the same."""
    make = getattr(lfso.torch, kind)
    plain, net = _net(), _net()
    expected = _steps(make(plain.parameters()), plain)
    assert torch.equal(_steps(make(net.parameters(), **flags), net), expected)


@pytest.mark.parametrize("kind", ["LFSO", "StochasticLFSO"])
@pytest.mark.parametrize(
    ("flags", "match"),
    [
        ({"maximize": True}, r"Invalid maximize: True .*maximize=False.*return -loss"),
        ({"fused": True}, r"Invalid fused: True .*fused=None or False"),
        ({"capturable": True}, r"Invalid capturable: True .*capturable=False"),
        ({"differentiable": True}, r"Invalid differentiable: True .*no_grad"),
        ({"foreach": "yes"}, r"Invalid foreach: 'yes' .*foreach=None or False or True\)"),
    ],
)
def test_torch_optim_flags_that_would_change_a_step_are_refused(kind, flags, match):
    with pytest.raises(ValueError, match=match):
        getattr(lfso.torch, kind)([torch.nn.Parameter(torch.zeros(2))], **flags)


def test_lfso_takes_torch_optim_options_at_their_neutral_values_where_given():
    """``lr`` and ``weight_decay`` given to the constructor are told apart as a group's are
    (no learning rate; ``weight_decay=0.0`` changes nothing), and a group's ``fused=True`` is
    refused as the constructor's is."""
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=r"Invalid lr: 0\.1 \(LFSO has no learning rate"):
        lfso.torch.LFSO([w], lr=0.1)
    with pytest.raises(ValueError, match=r"Invalid weight_decay: 0\.01 \(LFSO has no"):
        lfso.torch.LFSO([w], weight_decay=0.01)
    assert lfso.torch.LFSO([w], weight_decay=0.0, momentum=0.0).method == "lfso"
    for kind in ("LFSO", "StochasticLFSO"):
        with pytest.raises(ValueError, match=r"Invalid fused: True"):
            getattr(lfso.torch, kind)([{"params": [w], "fused": True}])
        getattr(lfso.torch, kind)([{"params": [w], "fused": None, "foreach": None}])


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_an_lfso_parameter_that_is_not_floating_is_refused_naming_it(dtype):
    w, i = torch.nn.Parameter(torch.zeros(2)), torch.zeros(3, dtype=dtype)
    match = rf"parameter 1 \(shape \(3,\)\) is {dtype}"
    with pytest.raises(TypeError, match=match):
        lfso.torch.LFSO([w, i])
    opt = lfso.torch.LFSO([w])
    with pytest.raises(TypeError, match=match):
        opt.add_param_group({"params": [i]})
    assert len(opt.param_groups) == 1


def test_the_saved_direction_holds_only_its_own_elements():
    """The last direction that ``state_dict()`` saves is a tensor of the parameters' size,
    not a view of the step's larger scratch buffer (which ``torch.save`` writes whole)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(20, 10)
    x = torch.randn(32, 20)
    n = sum(p.numel() for p in net.parameters())
    opt = lfso.torch.StochasticLFSO(net.parameters())
    for _ in range(6):  # the ramp: every step probes

        def closure(backward=True):
            loss = (net(x) ** 2).mean()
            if backward:
                loss.backward()
            return loss

        opt.step(closure)
        d_prev = opt.state_dict()["state"][0]["d_prev"]
        assert d_prev.numel() == n
        assert d_prev.untyped_storage().nbytes() == n * d_prev.element_size()


def test_the_repr_shows_the_method_and_the_options_given():
    w = torch.nn.Parameter(torch.zeros(2))
    shown = repr(lfso.torch.LFSO([w], method="gd", step=0.1))
    assert shown.startswith("LFSO (method='gd', step=0.1\nParameter Group 0\n")
    shown = repr(lfso.torch.LFSO([{"params": [w], "eta": 0.5}]))
    assert shown.startswith("LFSO (method='lfso'\nParameter Group 0\n    eta: 0.5\n")
    shown = repr(lfso.torch.LFSO([w], smoothness=4.0, safeguard=True))
    assert "method='lfso', smoothness=4.0, safeguard=True" in shown
