"""Composition by declared protocol: a model's extras, a rule's certificate, a user's own
direction and certificate, all through the abstract bases and the registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import lfso
import lfso._registry
from lfso._registry import certificate_for, settle
from lfso.models import EXTRAS, Evaluation, LpRegression, Model, PowerSum
from lfso.oracles import ConstantBound
from lfso.steps import (
    BallCertificate,
    Certificate,
    CertifiedStep,
    Direction,
    LBFGSDirection,
    LFSOAccelStep,
    LFSOStep,
    Safeguarded,
    SegmentCertificate,
    SizedStep,
    SizeInputs,
    SteepestDescent,
    StepRule,
)

# --- the model's optional inputs: one declared set, one filter -----------------------


class Recorder(Model):
    """``f = ||x - 1||^2 / 2`` whose evaluate() records the keywords it was given, and
    whose signature takes only ``bound`` and the extras it declares."""

    def __init__(self, extras: frozenset[str], dim: int = 3) -> None:
        self.extras, self.dim, self.calls = extras, dim, []

    def evaluate(self, x, *, bound=True, **given):
        assert set(given) <= self.extras, given  # nothing undeclared reaches the model
        self.calls.append((bound, dict(given)))
        grad = x - 1.0
        value = 0.5 * float(grad @ grad)
        dot = float(grad @ given["probe"]) if "probe" in given else None
        # (4 bounds the curvature 1 from above: several steps, so momentum and probes)
        return Evaluation(value, grad, float(np.linalg.norm(grad)), ConstantBound(4.0), dot)


@pytest.mark.parametrize(
    "declared, offered, bound, expected",
    [
        (frozenset(), {"hint": 1.0, "probe": "p", "product": "z"}, True, {}),
        (EXTRAS, {"hint": 1.0, "probe": "p", "product": "z"}, True, {"hint", "probe", "product"}),
        (EXTRAS, {"hint": 1.0, "probe": "p", "product": "z"}, False, {"probe", "product"}),
        (EXTRAS, {"hint": None, "probe": None, "product": None}, True, set()),
        (frozenset({"probe"}), {"hint": 1.0, "probe": "p", "product": "z"}, True, {"probe"}),
        (frozenset({"hint", "product"}), {"hint": 2.0, "product": "z"}, True, {"hint", "product"}),
    ],
)
def test_evaluate_with_passes_on_only_the_declared_extras(declared, offered, bound, expected):
    model = Recorder(declared)
    offered = {k: (np.ones(3) if v == "p" else v) for k, v in offered.items()}
    model.evaluate_with(np.zeros(3), bound=bound, **offered)
    assert model.calls[-1][0] is bound and set(model.calls[-1][1]) == set(expected)


@pytest.mark.parametrize(
    "extras, method",
    [(frozenset(), "lfso"), (frozenset({"probe"}), "lfso-accel"), (EXTRAS, "lfso-lbfgs")],
)
def test_the_loop_and_the_safeguard_offer_extras_through_the_one_filter(extras, method):
    model = Recorder(extras)
    res = lfso.minimize(model, np.zeros(3), method=method, safeguard=True, monitor="full")
    assert res.success and len(model.calls) > res.nit
    seen = set().union(*(set(given) for _, given in model.calls))
    assert seen <= extras
    if "probe" in extras and method == "lfso-accel":  # the restart test's dot product
        assert "probe" in seen


@pytest.mark.parametrize(
    "body, error, message",
    [
        ({"takes_probe": True}, TypeError, r"sets takes_probe.*extras = frozenset\(\{'probe'\}\)"),
        ({"takes_radius_hint": True}, TypeError, r"frozenset\(\{'hint'\}\)"),
        ({"takes_product": False}, TypeError, r"frozenset\(\{'product'\}\)"),
        ({"extras": frozenset({"probe", "gradient"})}, ValueError, r"extras=\{.*'gradient'"),
    ],
)
def test_a_model_declaring_the_contract_wrongly_is_refused_at_class_definition(
    body, error, message
):
    with pytest.raises(error, match=message):
        type("Mine", (Recorder,), body)


def test_the_counted_objective_declares_the_models_contract():
    from lfso._loop import Counted

    stated = LpRegression(np.eye(2), np.ones(2), 2, norm=1.0)  # (a user's constant)
    for model in (LpRegression(np.eye(2), np.ones(2), 2), stated, Recorder(frozenset({"probe"}))):
        counted = Counted(model)
        assert counted.has_segment == model.has_segment
        assert counted.segment_uses_ball == model.segment_uses_ball
        assert counted.audit_oracle == model.audit_oracle
        assert counted._segment_proven == model._segment_proven


# --- certificates: decided once, in the registry -------------------------------------

SHARP = LpRegression(np.eye(3), np.ones(3), 2)  # a proven segment of its own
STATED = LpRegression(np.eye(3), np.ones(3), 2, norm=1.0)  # a user's norm, proven segment
USERS = lfso.models.FunctionModel(  # a user's ball oracle: auto keeps the ball
    lambda x: float(x @ x), lambda x: 2 * x, lambda x, radius: 2.0
)


@pytest.mark.parametrize(
    "model, choice, radius, expected",
    [
        (SHARP, "auto", "tight", SegmentCertificate),
        (SHARP, "auto", "paper", BallCertificate),
        (SHARP, "ball", "tight", BallCertificate),
        (SHARP, "segment", "tight", SegmentCertificate),
        (USERS, "auto", "tight", BallCertificate),
        (USERS, "segment", "tight", SegmentCertificate),
        (PowerSum(2), "auto", "tight", SegmentCertificate),
        (STATED, "auto", "tight", SegmentCertificate),  # (its segment reads no norm)
        (STATED, "ball", "tight", BallCertificate),
    ],
)
def test_certificate_for_decides_every_choice(model, choice, radius, expected):
    chosen = certificate_for(model, choice, radius=radius, radius_rtol=1e-4)
    assert type(chosen) is expected and chosen.radius_rtol == 1e-4


@pytest.mark.parametrize(
    "choice, radius, message",
    [
        (
            "sharp",
            "tight",
            "certificate must be 'auto', 'ball' or 'segment', got certificate='sharp'",
        ),
        ("segment", "paper", "radius='paper' is a rule of the ball certificate"),
        (
            "ball",
            "wide",
            "radius must be 'tight', 'paper' or a callable x -> R0, got radius='wide'",
        ),
    ],
)
def test_certificate_for_refuses_bad_choices(choice, radius, message):
    with pytest.raises(ValueError, match=message):
        certificate_for(SHARP, choice, radius=radius)


def _count_resolves(monkeypatch):
    calls = []
    for cls in (CertifiedStep, Safeguarded):
        original = cls.resolve

        def counted(self, model, auto, _original=original, _cls=cls):
            calls.append(_cls.__name__)
            return _original(self, model, auto)

        monkeypatch.setattr(cls, "resolve", counted)
    return calls


@pytest.mark.parametrize(
    "method, options, expected",
    [
        ("lfso", {}, ["CertifiedStep"]),
        ("lfso-lbfgs", {"safeguard": True}, ["Safeguarded", "CertifiedStep"]),  # one settle
        (LFSOStep(), {}, ["CertifiedStep"]),
        (Safeguarded(LFSOStep()), {}, ["Safeguarded", "CertifiedStep"]),  # one settle
        ("lfso-accel", {}, []),  # (nothing to settle: built with its certificate)
    ],
)
def test_a_rule_is_settled_once_per_run(monkeypatch, method, options, expected):
    calls = _count_resolves(monkeypatch)
    lfso.minimize(SHARP, np.zeros(3), method=method, max_iter=5, monitor=False, **options)
    assert calls == expected


def test_an_unsettled_auto_certificate_says_who_decides_it():
    rule = LFSOStep()
    assert rule.certificate is None
    x = np.zeros(3)
    with pytest.raises(TypeError, match=r"settled for a model when lfso.minimize runs it"):
        rule.init(SHARP, x, SHARP.evaluate(x))
    settled = settle(rule, SHARP)
    assert isinstance(settled.certificate, SegmentCertificate)
    assert not settled.needs_bound  # the model's own segment reads no ball bound
    assert rule.certificate is None  # (the rule passed is left as it was)


@pytest.mark.parametrize("direction", [SteepestDescent, LBFGSDirection])
@pytest.mark.parametrize("guard", [False, True])
def test_a_rule_shared_by_two_runs_at_once_gives_each_its_own_settling(direction, guard):
    """One rule instance run on two models at once (threads, or a run started from
    another's callback, as here, deterministically): each run keeps the certificate and
    flags settled for its own model, and gives the result it gives alone."""
    kw = dict(grad=lambda x: 4 * x**3, smoothness=lambda x, R: 12 * (np.max(np.abs(x)) + R) ** 2)
    kw |= dict(max_iter=20, safeguard=guard, monitor=False)
    make = lambda: CertifiedStep(direction())  # noqa: E731
    alone = lfso.minimize(lambda x: float(np.sum(x**4)), np.ones(3), method=make(), **kw)
    rule, inner = make(), []

    def callback(xk):
        if not inner:  # (the proven segment of its own, for the same rule instance)
            inner.append(lfso.minimize(SHARP, np.zeros(3), method=rule, max_iter=5))

    both = lfso.minimize(
        lambda x: float(np.sum(x**4)), np.ones(3), method=rule, callback=callback, **kw
    )
    assert inner and both.nit == alone.nit
    np.testing.assert_array_equal(both.x, alone.x)
    np.testing.assert_array_equal(both.history.step, alone.history.step)


def test_a_segment_certificate_asks_for_the_ball_only_where_the_segment_is_made_from_it():
    plain = lfso.models.FunctionModel(
        lambda x: float(x @ x), lambda x: 2 * x, lambda x, radius: 2.0
    )
    for model, needs in ((SHARP, False), (plain, True)):
        rule = settle(CertifiedStep(SteepestDescent(), SegmentCertificate()), model)
        assert rule.needs_bound is needs


@pytest.mark.parametrize("choice", ["ball", "segment"])
def test_lfso_accel_takes_certificate_objects_with_the_same_iterates(choice):
    A = np.random.default_rng(2).standard_normal((30, 5))
    model = LpRegression(A, np.ones(30), 2)
    by_name = lfso.minimize(model, np.zeros(5), method="lfso-accel", certificate=choice)
    certificate = BallCertificate() if choice == "ball" else SegmentCertificate()
    rule = LFSOAccelStep(certificate=certificate)
    by_object = lfso.minimize(model, np.zeros(5), method=rule)
    assert by_name.nit == by_object.nit and np.array_equal(by_name.x, by_object.x)


@pytest.mark.parametrize(
    "certificate, message",
    [
        ("segment", "got certificate='segment'"),
        (BallCertificate("paper"), "sizes a step along -g by itself"),
    ],
)
def test_lfso_accel_refuses_a_certificate_that_cannot_size_its_step(certificate, message):
    with pytest.raises(TypeError, match=message):
        LFSOAccelStep(certificate=certificate)


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_size_takes_one_record(eta):
    x = np.array([1.0, -2.0, 0.5])
    ev = SHARP.evaluate(x)
    inputs = SizeInputs(SHARP, x, ev, None, -(ev.grad_norm**2), ev.grad_norm, eta, None)
    ball = BallCertificate(radius_rtol=1e-8)
    sized, state = ball.size(inputs._replace(state=ball.init(SHARP, x, ev)))
    assert sized.t == eta / sized.curvature and state.radius == sized.radius
    # R L(x, R) >= eta ||g||: the step eta ||g|| / L stays in the ball it is certified on
    assert sized.radius * sized.curvature >= eta * ev.grad_norm * (1 - 1e-12)
    seg, guess = SegmentCertificate(1e-8).size(inputs)
    assert 0.0 < seg.t <= guess and seg.radius == pytest.approx(guess * ev.grad_norm)


# --- a user's own direction and certificate, added without touching the core ---------


class Halved(Direction):
    """``d = -g / 2``: a throwaway direction with the minimal signature (no ``defer``)."""

    def __call__(self, x, evaluation, state):
        g = evaluation.grad
        return -0.5 * g, -0.5 * evaluation.grad_norm**2, 0.5 * evaluation.grad_norm, state


class Global(Certificate):
    """A global curvature bound ``c``: ``t = eta (-g . d) / (c ||d||^2)``. Minimal
    signature (no ``defer``), no ball bound needed."""

    needs_bound = False
    claims_ball = False

    def __init__(self, c):
        super().__init__()
        self.c = c

    def size(self, inputs):
        t = inputs.eta * (-inputs.slope) / (self.c * inputs.length**2)
        return SizedStep(t, self.c, t * inputs.length, 0), inputs.state


def _mine(options, context):
    rule = CertifiedStep(Halved(), Global(options["curvature"]), options["eta"], name="mine")
    return Safeguarded(rule) if options["safeguard"] else rule


def test_a_method_of_a_users_direction_and_certificate_needs_no_core_edit(monkeypatch):
    entry = lfso._registry.Method(
        _mine,
        {
            "curvature": lfso._registry.real(0.0),
            "eta": dataclasses.replace(lfso._registry.real(0.0, 2.0), default=1.0),
            "safeguard": dataclasses.replace(lfso._registry.flag(), default=False),
        },
        "a global curvature bound along -g / 2",
        needs_oracle=False,
        family="lfso",
    )
    monkeypatch.setitem(lfso._registry.METHODS, "mine", entry)
    A = np.diag(np.linspace(1.0, 3.0, 5))
    model = LpRegression(A, np.ones(5), 1)  # curvature <= 2 * 9
    bounds = []
    evaluate = model.evaluate

    def watched(x, *, bound=True, **extras):
        bounds.append(bound)
        return evaluate(x, bound=bound, **extras)

    monkeypatch.setattr(model, "evaluate", watched)
    for curvature, safeguard in ((18.0, False), (1.0, True)):  # 1.0: too small, rolled back
        res = lfso.minimize(
            model, np.zeros(5), method="mine", curvature=curvature, safeguard=safeguard
        )
        assert res.success and res.method == "mine" and np.allclose(A @ res.x, 1.0, atol=1e-6)
        assert np.all(np.diff(res.history.f) <= 1e-12 * np.abs(res.history.f[:-1]))
        assert (res.rollbacks > 0) == safeguard
    assert not any(bounds)  # the certificate declared it needs no ball bound
    with pytest.raises(TypeError, match=r"unknown option\(s\) for method='mine'"):
        lfso.minimize(model, np.zeros(5), method="mine", curvature=1.0, memory=3)


@pytest.mark.parametrize(
    "method, model, auto, estimated, rollbacks",
    [
        ("lfso", SHARP, False, False, 0),
        ("lfso", SHARP, True, True, 60),  # the automatic oracle, safeguarded
        ("lfso-lbfgs", USERS, False, True, 60),  # the estimate capped by the user's ball
        ("lfso-lbfgs", USERS, True, True, 60),
        ("lfso-accel", SHARP, False, False, 0),
        ("armijo", SHARP, False, False, 0),
    ],
)
def test_a_rule_declares_what_an_integration_reads(method, model, auto, estimated, rollbacks):
    """``estimated`` and ``max_rollbacks`` are declared on every rule (a wrapper forwards
    its inner rule's), so the PyTorch optimiser reads them with no probing."""
    rule = lfso._registry.build_rule(method, {}, model=model, auto=auto)
    assert isinstance(rule, StepRule)
    assert rule.estimated is estimated and rule.max_rollbacks == rollbacks


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"certificate": "sharp"}, "got certificate='sharp'"),
        ({"certificate": "segment", "radius": "paper"}, "certificate='segment' needs radius="),
        ({"certificate": "auto", "radius": "wide"}, "got radius='wide'"),
    ],
)
def test_lfso_step_spells_the_choices_that_need_no_model_as_the_registry_does(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LFSOStep(**kwargs)
    with pytest.raises(ValueError, match=message):
        certificate_for(SHARP, kwargs["certificate"], radius=kwargs.get("radius", "tight"))
