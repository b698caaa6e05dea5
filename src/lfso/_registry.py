"""The one table of methods: rule, options (type, default, valid range), what each needs.

:func:`lfso.minimize`, :mod:`lfso.scipy`, the CLI's method choices, the benchmark suite and
the tests are built from :data:`METHODS`. Every option given is checked against the
method's table (an option the method does not use raises, naming the method), and every
value against its declared range, before any rule is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as validate
from ._auto import SecantEstimator
from .models import Model
from .steps import (
    AdGDStep,
    ArmijoStep,
    BallCappedEstimate,
    BarzilaiBorweinStep,
    Certificate,
    Direction,
    DoGStep,
    EstimateCertificate,
    FixedStep,
    LBFGSDirection,
    LFSOAccelStep,
    LFSOStep,
    NesterovStep,
    PolyakStep,
    Safeguarded,
    SteepestDescent,
    StepRule,
)
from .steps._certificates import audited_sizing, certificate_named, proven_segment
from .steps._directions import CallableDirection

# build_rule is lfso.minimize's own (it builds the rule from the table).
__all__ = ["DEFAULT_METHOD", "METHODS", "Method", "Option", "certificate_for", "settle"]

#: ``lfso.minimize``'s default method (the certified method that wins ``lfso bench`` on
#: most problems: docs/results.md).
DEFAULT_METHOD = "lfso-lbfgs"

#: A required option's default.
REQUIRED = object()


@dataclass(frozen=True)
class Option:
    """One option: its default and a check ``(method, name, value) -> value`` that raises
    ``TypeError``/``ValueError`` naming the option, the value and what is expected."""

    default: Any
    check: Callable[[str, Any], Any]
    expect: str
    needs: str = ""  # for a required option: what the method needs, in words

    @property
    def required(self) -> bool:
        """The option has no default: the method cannot run without it."""
        return self.default is REQUIRED


def real(low: float, high: float = math.inf, *, closed: str = "") -> Option:
    """A real number in ``(low, high)``; ``closed`` lists the closed ends (``"l"``, ``"h"``);
    checked by :func:`lfso._validate.real`."""
    bounds: dict[str, Any] = {
        "low": None if low == -math.inf else low,
        "high": None if high == math.inf else high,
        "low_open": "l" not in closed,
        "high_open": "h" not in closed,
        "finite": not (high == math.inf and "h" in closed),  # (inf allowed: "no limit")
    }

    def check(name: str, value: Any) -> float:
        return validate.real(value, name, **bounds)

    return Option(REQUIRED, check, validate.real_range(**bounds))


def integer(low: int) -> Option:
    """An integer ``>= low`` (``True``/``False`` are not integers here)."""

    def check(name: str, value: Any) -> int:
        return validate.integer(value, name, low=low)

    return Option(REQUIRED, check, f"an integer >= {low}")


def flag() -> Option:
    """``True`` or ``False`` (not ``"no"``, not ``0``)."""

    def check(name: str, value: Any) -> bool:
        return bool(validate.flag(value, name))

    return Option(REQUIRED, check, "True or False")


def choice(*values: Any, callable_ok: str = "") -> Option:
    """One of ``values`` (compared by type and value), or a callable if ``callable_ok``
    (its description)."""
    expect = ", ".join(repr(v) for v in values) + (
        f" or a callable {callable_ok}" if callable_ok else ""
    )

    def check(name: str, value: Any) -> Any:
        if callable_ok and callable(value):
            return value
        if isinstance(value, np.generic) and not isinstance(value, np.bool_):
            value = value.item()  # (a NumPy integer or string: the Python one it holds)
        if not any(type(value) is type(v) and value == v for v in values):
            error = ValueError if isinstance(value, tuple(type(v) for v in values)) else TypeError
            raise error(f"{name} must be {expect}, got {name}={value!r}")
        return value

    return Option(REQUIRED, check, expect)


def _with(option: Option, default: Any) -> Option:
    return Option(default, option.check, option.expect)


def _required(option: Option, needs: str) -> Option:
    return Option(REQUIRED, option.check, option.expect, needs)


@dataclass(frozen=True)
class Context:
    """What a rule factory may need besides its options."""

    model: Model
    auto: bool  # the oracle is estimated (smoothness="auto" or a model without one)
    objective: Any = None
    x0: Any = None


@dataclass(frozen=True)
class Method:
    """A ``method=`` entry: its rule factory, options and needs.

    Attributes
    ----------
    build : callable ``(options, context) -> StepRule``
        Gets every option, validated, with defaults filled in.
    options : dict of Option
    needs_oracle : bool
        Needs an oracle, or (``estimates``) the automatic one for a black box.
    estimates : bool
        Runs with the automatic oracle (``smoothness="auto"``), safeguarded.
    family : str
        ``"lfso"`` or ``"peer"`` (benchmark tables).
    description : str
    """

    build: Callable[[dict[str, Any], Context], StepRule]
    options: dict[str, Option]
    description: str
    needs_oracle: bool = False
    estimates: bool = False
    family: str = "peer"


_RTOL = _with(real(0.0, 1.0), 1e-3)
_SAFEGUARD = {
    "safeguard": Option(
        None,
        lambda name, value: None if value is None else flag().check(name, value),
        "True or False; None (the default): on with the automatic oracle or a user's "
        "oracle, off with a model's own (proven) oracle",
    ),
    "backoff": _with(real(1.0), 4.0),
    "max_rollbacks": _with(integer(0), 60),
}
_ESTIMATE = {
    "safety": _with(real(1.0, closed="l"), 2.0),
    "growth": _with(real(1.0), 2.0),
    "power_iterations": _with(integer(1), 2),
    "hvp": _with(choice("autodiff", callable_ok="hvp(x, v)"), None),
}
_CERTIFIED = {
    "eta": _with(real(0.0, 2.0), 1.0),
    "radius_rtol": _RTOL,
    "certificate": _with(choice("auto", "ball", "segment"), "auto"),
    **_SAFEGUARD,
    **_ESTIMATE,
}


def _autodiff_hvp(objective: Any, x0: Any) -> Callable[[Any, Any], Any]:
    """Hessian-vector products of a plain PyTorch function by double backward."""
    import array_api_compat

    if isinstance(objective, Model) or not array_api_compat.is_torch_array(x0):
        raise TypeError(
            "hvp='autodiff' differentiates a plain function of PyTorch tensors: pass fun "
            "returning a tensor and x0 as a torch.Tensor (or pass hvp=callable)"
        )
    import torch

    def hvp(x: Any, v: Any) -> Any:
        return torch.autograd.functional.hvp(objective, x, v)[1]

    return hvp


def _sharp_segment(model: Model) -> bool:
    """Whether ``certificate="auto"`` takes the model's segment bound over the ball.

    Yes when the model declares its own proven bound along ``d``
    (:attr:`lfso.models.Model.has_segment`) and its oracle is not a user's
    (``audit_oracle``): a user's oracle keeps the ball, whose claim the loop's audit can
    check, unless the segment is proven without it (a built-in model given ``norm=``).
    """
    return model.has_segment and (not model.audit_oracle or proven_segment(model))


def certificate_for(
    model: Model,
    choice: str,
    *,
    radius: str | Callable[[Any], float] = "tight",
    radius_rtol: float = 1e-3,
) -> Certificate:
    """The certificate that ``certificate=choice`` means for ``model``: the one place a
    certificate choice is decided.

    ``"ball"`` (or any radius rule other than ``"tight"``, which is the ball's):
    :class:`~lfso.steps.BallCertificate`; ``"segment"``:
    :class:`~lfso.steps.SegmentCertificate`; ``"auto"``: the segment where the model
    declares a proven one of its own (``has_segment``, and not a user's oracle, which
    keeps the ball whose claim the loop audits), else the ball with the tight radius.
    """
    if choice == "auto":
        choice = "segment" if radius == "tight" and _sharp_segment(model) else "ball"
    return certificate_named(choice, radius, radius_rtol)


def settle(rule: StepRule, model: Model) -> StepRule:
    """``rule`` fitted to ``model``, once per run, before the loop reads its flags.

    Calls :meth:`StepRule.resolve <lfso.steps.StepRule.resolve>` with the registry's
    choice for ``certificate="auto"`` (:func:`certificate_for`); :func:`lfso.minimize`
    calls it for a rule instance, :func:`build_rule` for a method name.
    """
    return rule.resolve(model, lambda rtol: certificate_for(model, "auto", radius_rtol=rtol))


def _safeguarded(rule: Any, o: dict[str, Any], ctx: Context, force: bool = False) -> StepRule:
    """``rule`` under the safeguard where ``safeguard=True``, where ``force`` (the estimate
    sizes the steps), and by default (``safeguard`` not given) where the oracle is a
    user's (:attr:`lfso.models.Model.audit_oracle`: not proven, so a wrong one must not
    make ``f`` rise); bare where ``safeguard=False`` or the oracle is a proven one."""
    guarded = o["safeguard"]
    if guarded is None:
        guarded = audited_sizing(ctx.model, rule)
    if guarded or force:
        return Safeguarded(rule, o["backoff"], o["max_rollbacks"])
    return rule


def _capped(direction: Direction, choice: str, radius: Any, model: Model) -> bool:
    """Whether a certified rule sizes its steps by :class:`~lfso.steps.BallCappedEstimate`:
    quasi-Newton directions on a ball oracle (no proven segment bound of the model's own)
    with ``certificate="auto"`` and the tight radius."""
    return (
        choice == "auto"
        and radius == "tight"
        and direction.quasi_newton
        and not _sharp_segment(model)
    )


def always_guarded(method: str, options: dict[str, Any], model: Model) -> bool:
    """Whether ``method=`` with ``options`` on ``model``'s oracle sizes its steps by an
    estimate capped by the ball, which is always safeguarded (``safeguard=False`` raises)."""
    if method != "lfso-lbfgs":
        return False
    choice, radius = options.get("certificate", "auto"), options.get("radius", "tight")
    return _capped(LBFGSDirection(), choice, radius, model)


def _certified(
    direction: Callable[[dict[str, Any]], Direction], name: str
) -> Callable[..., StepRule]:
    def build(o: dict[str, Any], ctx: Context) -> StepRule:
        radius = o.get("radius", "tight")
        choice = o["certificate"]
        chosen = direction(o)
        capped = False
        certificate: Certificate
        if ctx.auto:
            if choice != "auto" or radius != "tight":
                raise ValueError(
                    f"method={name!r} with the automatic oracle (smoothness='auto') sizes "
                    f"its steps by the estimate: certificate={choice!r} and "
                    f"radius={radius!r} need an oracle (pass smoothness= or a model)"
                )
            hvp = o["hvp"]
            if hvp == "autodiff":
                hvp = _autodiff_hvp(ctx.objective, ctx.x0)
            estimator = SecantEstimator(o["safety"], o["growth"], hvp, o["power_iterations"])
            certificate = EstimateCertificate(estimator, o["radius_rtol"])
        elif _capped(chosen, choice, radius, ctx.model):
            # A ball oracle along quasi-Newton directions: the estimate along d, never a
            # shorter step than the ball's, safeguarded (BallCappedEstimate).
            if o["safeguard"] is False:
                opt, given_as = validate.spelt_option, validate.spelt_given
                raise TypeError(
                    f"{validate.spelt_method(name)} with a ball oracle sizes its steps by an "
                    f"estimate capped by the ball ({given_as('certificate', repr('auto'))}, "
                    f"the default), always safeguarded: drop {given_as('safeguard', 'False')} "
                    f"(got {opt('safeguard')}=False), or pass "
                    f"{given_as('certificate', repr('ball'))} to run unguarded on the ball"
                )
            capped = True
            estimator = SecantEstimator(o["safety"], o["growth"], None, o["power_iterations"])
            certificate = BallCappedEstimate(estimator, o["radius_rtol"])
        else:
            certificate = certificate_for(
                ctx.model, choice, radius=radius, radius_rtol=o["radius_rtol"]
            )
        rule = LFSOStep(
            o["eta"],
            radius,
            o["radius_rtol"],
            certificate=certificate,
            direction=chosen,
            name=name,
        )
        return _safeguarded(rule, o, ctx, ctx.auto or capped)

    return build


def _steepest_or_user(o: dict[str, Any]) -> Direction:
    return CallableDirection(o["direction"]) if o["direction"] is not None else SteepestDescent()


def _accel(o: dict[str, Any], ctx: Context) -> StepRule:
    certificate = certificate_for(ctx.model, o["certificate"], radius_rtol=o["radius_rtol"])
    rule = LFSOAccelStep(o["eta"], o["jump"], o["restart"], o["radius_rtol"], certificate)
    return _safeguarded(rule, o, ctx)


def _plain(cls: type[StepRule]) -> Callable[[dict[str, Any], Context], StepRule]:
    return lambda o, ctx: cls(**o)


def _opt(o: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: o[n] for n in names if o[n] is not None}


METHODS: dict[str, Method] = {
    "lfso": Method(
        _certified(_steepest_or_user, "lfso"),
        {
            **_CERTIFIED,
            "radius": _with(choice("tight", "paper", callable_ok="x -> R0"), "tight"),
            "direction": _with(choice(None, callable_ok="direction(x, g) -> d"), None),
        },
        "LFSO-GD: steepest descent, certified step (the segment bound where the model "
        "has one, else the ball)",
        needs_oracle=True,
        estimates=True,
        family="lfso",
    ),
    "lfso-lbfgs": Method(
        _certified(lambda o: LBFGSDirection(o["memory"]), "lfso-lbfgs"),
        # A step within 10% of the largest certified one: along quasi-Newton directions
        # the first or second trial step lands there (docs/results.md, "Trial steps").
        {**_CERTIFIED, "radius_rtol": _with(real(0.0, 1.0), 0.1), "memory": _with(integer(1), 10)},
        "L-BFGS directions (m = 10), certified step, no line search",
        needs_oracle=True,
        estimates=True,
        family="lfso",
    ),
    "lfso-accel": Method(
        _accel,
        {
            "eta": _with(real(0.0, 1.0, closed="h"), 1.0),
            "jump": _with(real(1.0, math.inf, closed="h"), 2.0),
            "restart": _with(flag(), True),
            "radius_rtol": _RTOL,
            "certificate": _with(choice("ball", "segment", "auto"), "ball"),
            **_SAFEGUARD,
        },
        "LFSO-accelerated (FISTA epochs, restarts)",
        needs_oracle=True,
        family="lfso",
    ),
    "gd": Method(
        _plain(FixedStep),
        {"step": _required(real(0.0), "a step size")},
        "fixed step ``step`` (required)",
    ),
    "armijo": Method(
        _plain(ArmijoStep),
        {
            "step0": _with(real(0.0), 1.0),
            "c": _with(real(0.0, 1.0), 1e-4),
            "shrink": _with(real(0.0, 1.0), 0.5),
            "growth": _with(real(1.0, closed="l"), 2.0),
            "max_step": _with(real(0.0), 1e10),
        },
        "Armijo backtracking, warm start",
    ),
    "bb": Method(
        _plain(BarzilaiBorweinStep),
        {
            "variant": _with(choice("long", "short"), "long"),
            "memory": _with(integer(1), 10),
            "c": _with(real(0.0, 1.0), 1e-4),
            "shrink": _with(real(0.0, 1.0), 0.5),
            "step0": _with(real(0.0), 1.0),
            "min_step": _with(real(0.0), 1e-12),
            "max_step": _with(real(0.0), 1e12),
        },
        "Barzilai-Borwein (long), GLL safeguard",
    ),
    "adgd": Method(
        _plain(AdGDStep),
        {"variant": _with(choice(2023, 2020), 2023), "step0": _with(real(0.0), 1e-10)},
        "AdGD (Malitsky-Mishchenko 2023)",
    ),
    "polyak": Method(
        _plain(PolyakStep),
        {"f_star": _required(real(-math.inf), "the optimal value")},
        "Polyak step (``f_star`` required)",
    ),
    "nesterov": Method(
        lambda o, ctx: NesterovStep(**_opt(o, "step", "lipschitz")),
        {"step": _with(real(0.0), None), "lipschitz": _with(real(0.0), None)},
        "Nesterov, fixed step (``step`` or ``lipschitz``)",
    ),
    "dog": Method(
        _plain(DoGStep), {"r_eps": _with(real(0.0), 1e-6)}, "DoG (Ivgi-Hinder-Carmon 2023)"
    ),
}


def _validated(
    name: str, method: Method, given: dict[str, Any], auto: bool, model: Model
) -> dict[str, Any]:
    opt, given_as, method_is = validate.spelt_option, validate.spelt_given, validate.spelt_method
    unknown = sorted(set(given) - set(method.options))
    if unknown:
        raise TypeError(
            f"unknown option(s) for {method_is(name)}: {unknown}; "
            f"its options are: {', '.join(sorted(method.options))}"
        )
    out: dict[str, Any] = {}
    for key, option in method.options.items():
        if key in given:
            value = given[key]
            if value is None and option.default is None:
                out[key] = None
                continue
            out[key] = option.check(opt(key), value)
        elif option.default is REQUIRED:
            raise TypeError(f"{method_is(name)} needs {option.needs}: pass {given_as(key, '...')}")
        else:
            out[key] = option.default
    estimate_only = sorted(k for k in given if k in _ESTIMATE and given[k] is not None)
    if estimate_only and not auto:
        raise TypeError(
            f"option(s) {', '.join(map(opt, estimate_only))} tune the automatic oracle; this "
            f"run has an oracle (pass {given_as('smoothness', repr('auto'))} to estimate it "
            "instead)"
        )
    if auto and out.get("safeguard") is False:
        raise TypeError(
            f"{method_is(name)} with the automatic oracle ({given_as('smoothness', repr('auto'))}"
            f", the default without one) sizes its steps by an estimate, always safeguarded: "
            f"drop {given_as('safeguard', 'False')} (got {opt('safeguard')}=False), or pass "
            f"{given_as('smoothness', 'L')}, L an oracle, to run unguarded"
        )
    if auto and given.get("power_iterations") is not None and out.get("hvp") is None:
        hvp, powers = validate.spelt("hvp"), opt("power_iterations")
        keyword = f"{powers}=" if powers == "power_iterations" else powers  # (lfso's: a keyword)
        raise TypeError(
            f"{keyword} sets the power iterations along {hvp}= (got "
            f"{powers}={given['power_iterations']!r} and no {hvp}): pass {hvp}= a "
            f"callable {hvp}(x, v){' or ' + repr('autodiff') if hvp == 'hvp' else ''}, or "
            f"drop {keyword}"
        )
    guard_only = sorted(k for k in given if k in ("backoff", "max_rollbacks"))
    choice = out.get("certificate")
    segment = out.get("radius", "tight") == "tight" and (
        choice == "segment" or (choice == "auto" and _sharp_segment(model))
    )
    audited = audited_sizing(model, segment=segment)
    by_default = out.get("safeguard") is None and audited  # (a user's oracle: on)
    if guard_only and not (out.get("safeguard") or (auto and method.estimates) or by_default):
        raise TypeError(
            f"option(s) {', '.join(map(opt, guard_only))} tune the safeguard; pass "
            f"{given_as('safeguard', 'True')}"
        )
    return out


def build_rule(
    method: str,
    options: dict[str, Any],
    *,
    model: Model,
    auto: bool,
    objective: Any = None,
    x0: Any = None,
) -> StepRule:
    """The step rule for ``method=`` with ``options``, every one validated, settled for
    ``model`` (:func:`settle`).

    ``auto``: the run has no oracle (``smoothness="auto"``, or a model without one).
    """
    try:
        entry = METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}") from None
    if auto and entry.needs_oracle and not entry.estimates:
        raise TypeError(
            f"{validate.spelt_method(method)} needs an oracle and does not estimate one "
            f"({validate.spelt_given('smoothness', repr('auto'))}, the default without one): "
            f"pass {validate.spelt_given('smoothness', 'L')}, L a callable (x, R) -> L, a "
            "number or an oracle, or a model that has one"
        )
    validated = _validated(method, entry, options, auto and entry.estimates, model)
    rule = entry.build(validated, Context(model, auto and entry.estimates, objective, x0))
    return settle(rule, model)
