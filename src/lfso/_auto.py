"""The automatic oracle (``smoothness="auto"``: :class:`SecantEstimator`) and the oracle
check (:func:`check_oracle`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._arrays import as_vector, like, namespace, norm, to_floats, to_numpy
from ._arrays import distance as gap
from ._validate import call_user, integer, nonnegative, real, returned_array, spelt
from .models import Evaluation, FunctionModel, Model
from .oracles._bounds import LocalBound, check_target, check_value, infinite_target

__all__ = ["OracleCheck", "SecantEstimator", "check_oracle"]


class SecantBound(LocalBound):
    """``R -> s * max(floor, max{rho_i : d_i <= R})``: a non-decreasing step function."""

    def __init__(self, floor: float, samples: Sequence[tuple[float, float]], safety: float):
        self.floor, self.safety = floor, safety
        self.samples = sorted(samples)  # by distance

    def __call__(self, radius: float) -> float:
        best = self.floor
        for distance, rho in self.samples:
            if distance > radius:
                break
            best = max(best, rho)
        return self.safety * best

    def radius_for(
        self, target: float, *, rtol: float = 1e-3, guess: float | None = None
    ) -> tuple[float, float, int]:
        # L is constant on [d_j, d_{j+1}); R L(R) >= target there from max(d_j, target / L).
        target = check_target(target)
        if not target > 0.0:  # (no radius needed)
            return 0.0, self(0.0), 1
        if target == math.inf:  # R = inf and the supremum (R = 0 and L = 0 where that is 0)
            return infinite_target(self)
        samples, level, i, low = self.samples, self.floor, 0, 0.0
        while True:
            while i < len(samples) and samples[i][0] <= low:
                level = max(level, samples[i][1])
                i += 1
            high = samples[i][0] if i < len(samples) else math.inf
            scaled = self.safety * level
            radius = max(low, target / scaled) if scaled > 0.0 else math.inf
            if radius < high or high == math.inf or radius != radius:
                # (past the last sample L is constant: an infinite radius, where the target
                # overflowed, ends the search; where no curvature was seen, L = 0 for
                # every R: no radius, as infinite_target answers it, for the caller to
                # reject)
                if not scaled > 0.0:
                    return 0.0, 0.0, 1
                return radius, scaled, 1
            low = high


class SecantState(NamedTuple):
    floor: float  # L_floor for the next iteration (0: not yet known)
    x: Any  # previous iterate and its gradient (None at the start)
    grad: Any
    vector: Any  # power-iteration vector (warm start)


@dataclass
class SecantEstimator:
    """Estimate ``L(x, R)`` from gradient differences (and Hessian-vector products): the
    automatic oracle (``smoothness="auto"``).

    An estimator, not an oracle: its ``L`` is what the run has seen so far, not a proven
    bound (:mod:`lfso.oracles`); the rules that use it are safeguarded.

    A function with no hand-made LFSO still gets one, estimated from what the run already
    computes. :class:`SecantEstimator` keeps *samples* ``(d_i, rho_i)``: a distance from the
    current point and an observed curvature there, either a secant ratio
    ``rho = ||grad f(y) - grad f(x)|| / ||y - x||`` with ``d = ||y - x||`` (the previous
    iterate, and every trial point of the current iteration), or a Hessian power-iteration
    estimate ``rho ~ ||Hess f(x)||`` with ``d = 0`` when Hessian-vector products exist. The
    estimate is

    .. math::
        \\hat L(x, R) = s \\cdot \\max\\big(L_{\\text{floor}},\\;
        \\max\\lbrace\\rho_i : d_i \\le R\\rbrace\\big),

    non-decreasing in ``R`` by construction (a larger ball admits more samples), with safety
    factor ``s`` (default 2) and a floor ``L_floor = L_{k-1} / (s growth)`` carried from the
    last accepted step (so the step can grow by at most ``growth`` per iteration). For a
    quadratic with Hessian norm ``L`` every secant ratio is at most ``L``, so the estimate
    never exceeds ``s L`` (before any safeguard backoff). A secant ratio is a lower bound on
    the Lipschitz constant over the segment, never an upper bound: the estimate can be too
    small, which is why runs with it are always safeguarded (:class:`lfso.steps.LFSOStep`):
    a trial step is accepted only if the descent inequality holds, and a rejected trial's
    secant ratio joins the samples before the radius is solved again.

    Along a quasi-Newton direction (``lfso-lbfgs``) the certificate uses the samples
    differently: secants along the direction, no safety factor on the step, which is capped
    at the unit step, and the factor moved into the claimed decrease
    (:meth:`lfso.steps.EstimateCertificate._along`).

    Cost per iteration on top of the step's own evaluation: zero when the first trial is
    accepted (the trial's gradient is the next iterate's), one value-and-gradient evaluation
    per rejected trial (``Result.rollbacks`` counts them), plus ``power_iterations``
    Hessian-vector products with ``hvp=`` (one along a quasi-Newton direction;
    ``Result.nhev``), and one gradient at the start.

    Parameters
    ----------
    safety : float >= 1
        The factor ``s`` applied to every observed curvature.
    growth : float > 1
        ``L_floor = L_{k-1} / growth``.
    hvp : callable ``hvp(x, v) -> Hess f(x) v``, optional
        Enables ``power_iterations`` warm-started power iterations per iteration along
        ``-g``, and one product along a quasi-Newton direction ``d``, whose curvature
        ``d . H d / ||d||^2`` is the sample there (:meth:`samples`). A NaN in its value
        raises a ``ValueError``.
    power_iterations : int >= 1
    """

    safety: float = 2.0
    growth: float = 2.0
    hvp: Callable[[Any, Any], Any] | None = None
    power_iterations: int = 2

    def __post_init__(self) -> None:
        self.safety = real(self.safety, "safety", low=1.0)
        self.growth = real(self.growth, "growth", low=1.0, low_open=True)
        if self.hvp is not None and not callable(self.hvp):
            raise TypeError(f"hvp must be callable as hvp(x, v), got {self.hvp!r}")
        self.power_iterations = integer(self.power_iterations, "power_iterations", low=1)

    def init(self, objective: Model, x: Any, evaluation: Evaluation) -> SecantState:
        return SecantState(0.0, None, None, None)

    def samples(
        self, x: Any, evaluation: Evaluation, state: SecantState, *, along: Any = None
    ) -> tuple[list[tuple[float, float]], SecantState, int]:
        """Samples at ``x`` from the previous iterate and (with ``hvp``) the Hessian.

        Returns the samples, the state with the new power vector, and the number of HVPs.
        With ``along=d`` (a quasi-Newton direction) the Hessian's sample is the curvature
        along ``d``, ``max(d . H d, 0) / ||d||^2`` from one product (the largest
        curvature in any direction, which the power iterations estimate, would size a
        quasi-Newton step as a gradient step).
        """
        out: list[tuple[float, float]] = []
        if state.x is not None:  # (distances a model computed before its fetch: no round trip)
            d = gap(x, state.x)
            if d > 0.0:
                out.append((d, gap(evaluation.grad, state.grad) / d))
        vector, used = state.vector, 0
        if self.hvp is not None and along is not None:
            hv = self._product(x, along)
            dhd, dd = to_floats(along @ hv, along @ along)
            if math.isnan(dhd):  # (a NaN entry of hv: 0 * NaN is NaN too)
                raise _not_finite()
            if dd > 0.0 and math.isfinite(dhd / dd):
                out.append((0.0, max(dhd, 0.0) / dd))
            return out, state, 1
        if self.hvp is not None:
            v = vector if vector is not None else evaluation.grad
            vn = norm(v)
            if vn > 0.0:
                v = v / vn
                rho = 0.0
                for _ in range(self.power_iterations):
                    hv = self._product(x, v)
                    used += 1
                    rho = norm(hv)
                    if math.isnan(rho):
                        raise _not_finite()
                    if not rho > 0.0 or not math.isfinite(rho):
                        break
                    v = hv / rho
                out.append((0.0, rho))
                vector = v
        return out, state._replace(vector=vector), used

    def _product(self, x: Any, v: Any) -> Any:
        """``hvp(x, v)``, its shape and dtype checked (its NaN entries by the caller, from
        the number it reads of it: no round trip of their own). A user's ``hvp`` is called
        with copies (as ``fun`` and ``grad`` are: see :class:`lfso.models.FunctionModel`);
        a model's own method (a bound method of a :class:`~lfso.models.Model`, which may
        key its caches on the iterate) with ``x`` and ``v``."""
        xp = namespace(x)
        assert self.hvp is not None
        if isinstance(getattr(self.hvp, "__self__", None), Model):
            own = (x, v)
        else:
            own = (xp.asarray(x, copy=True), xp.asarray(v, copy=True))
        called = f"{spelt('hvp')}(x, v)"
        return returned_array(call_user(self.hvp, called, *own), called, x, xp)

    def first_floor(self, objective: Model, x: Any, evaluation: Evaluation) -> float:
        """A first curvature estimate: a secant over a tiny step along ``-g`` (one gradient)."""
        g = evaluation.grad
        if not evaluation.grad_norm > 0.0:  # a stationary point: no direction to probe
            return 1.0
        delta = 1e-6 * (1.0 + norm(x)) / max(evaluation.grad_norm, 1e-300)
        probe = objective.grad(x - delta * g)
        rho = norm(probe - g) / (delta * evaluation.grad_norm)
        return rho if rho > 0.0 and math.isfinite(rho) else 1.0


def _not_finite() -> ValueError:
    """The error for an ``hvp(x, v)`` with NaN entries (``x`` and its gradient are finite
    where it is called)."""
    return ValueError(
        f"{spelt('hvp')}(x, v) must return Hess f(x) v, a finite array, got an array with NaN "
        "entries at a point where f and its gradient are finite (is f twice differentiable "
        "there?)"
    )


#: Units in the last place of its norm a computed gradient may be off by (check_oracle).
_GRADIENT_ULPS = 64.0


#: Why :func:`check_oracle` measured nothing at a radius (``_UnmeasuredError``'s reasons).
_PAST_RANGE = (
    "the oracle's bound L(x, R) = {L:g} at this radius is past the float range; "
    "expected a smaller radius"
)
_GRADIENT_PAST_RANGE = (
    "the gradient passes the float range in the ball of this radius around x, so no ratio "
    "can be measured there; expected a smaller radius"
)
_NO_PAIRS = (
    "no two sampled points of the ball of this radius around x differ in floating point "
    "(as where x + R rounds back to x), so no ratio can be measured there; expected a "
    "larger radius"
)


class _UnmeasuredError(ValueError):
    """A radius of :func:`check_oracle` at which nothing can be measured (no verdict):
    ``radius`` and ``reason`` for the command line, which names its own option."""

    def __init__(self, index: int, radius: float, reason: str) -> None:
        self.radius, self.reason = radius, reason
        super().__init__(f"radii[{index}] = {radius:g}: {reason}")


def _over(a: float, L: float, dist: float) -> float:
    """``a / (L dist)`` for ``L, dist > 0``, without overflowing or underflowing in ``L
    dist`` (inf where the quotient itself overflows)."""
    denominator = L * dist
    if 0.0 < denominator < math.inf:
        return a / denominator
    with np.errstate(over="ignore"):
        return float(np.float64(a) / dist / L)


def _pair_ratio(
    model: Model, y: Any, z: Any, L: float, dist: float, rtol: float
) -> tuple[Any, float, bool]:
    """The ratio ``||g(y) - g(z)|| / (L ||y - z||)`` of one pair, its rounding allowance
    and whether it passes (see :func:`check_oracle`; decided as ``||g(y) - g(z)|| <= (1 +
    rtol) L ||y - z|| + 64 eps (||g(y)|| + ||g(z)||)``, which no quotient overflows);
    ``(None, nan, False)`` where nothing is measured: the gradients are finite but their
    norms pass the float range, or ``f`` does at ``y`` or ``z``. A NaN or infinite
    gradient where ``f`` is finite is measured: a NaN or infinite ratio, which fails."""
    gy, gz = to_numpy(model.grad(y)), to_numpy(model.grad(z))
    with np.errstate(over="ignore", invalid="ignore"):
        diff = float(np.linalg.norm(gy.astype(np.float64) - gz))
        size = float(np.linalg.norm(gy) + np.linalg.norm(gz))
    eps = float(np.finfo(np.result_type(gy.dtype, np.float32)).eps)
    ratio, rounding = _over(diff, L, dist), _GRADIENT_ULPS * eps * _over(size, L, dist)
    if math.isfinite(diff) and math.isfinite(size):
        return ratio, rounding, diff <= (1.0 + rtol) * L * dist + _GRADIENT_ULPS * eps * size
    finite = bool(np.all(np.isfinite(gy)) and np.all(np.isfinite(gz)))
    if finite or not (math.isfinite(model.value(y)) and math.isfinite(model.value(z))):
        return None, math.nan, False
    return ratio, rounding, False


@dataclass
class OracleCheck:
    """Result of :func:`check_oracle`.

    Attributes
    ----------
    max_ratio : float
        Largest ``||g(y) - g(z)|| / (L(x, R) ||y - z||)`` seen; above 1 the oracle is wrong
        (NaN where a gradient was NaN: nothing was measured there; those pairs lead
        ``worst``).
    worst : list of dict
        The worst pairs: ``ratio``, ``radius``, ``L``, ``y``, ``z`` and ``rounding`` (the
        ratio's allowance for the gradients' own rounding, see :func:`check_oracle`).
    monotone : bool
        Whether ``L(x, R)`` was non-decreasing over the radii.
    passed : bool
        Every pair's ratio is at most ``1 + rtol + rounding``, and ``L`` is monotone.
    pairs : int
        The pairs measured, over all radii (a sampled pair whose points round to one
        point is not; a radius with none is an error, see :func:`check_oracle`).
    """

    max_ratio: float
    worst: list[dict[str, Any]]
    monotone: bool
    passed: bool
    pairs: int

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"{verdict}: max ratio {self.max_ratio:.6g} over {self.pairs} pairs; "
            f"non-decreasing in R: {self.monotone}"
        ]
        for w in self.worst[:3]:
            lines.append(
                f"  ratio {w['ratio']:.10g} at R = {w['radius']:.3g} (L = {w['L']:.6g}; "
                f"rounding allowance {w.get('rounding', 0.0):.2g})"
            )
        return "\n".join(lines)


def check_oracle(
    objective: Model | Callable[..., Any],
    x: Any,
    radii: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0),
    samples: int = 200,
    *,
    grad: Callable[[Any], Any] | None = None,
    smoothness: Callable[[Any, float], float] | None = None,
    seed: int = 0,
    rtol: float = 1e-9,
) -> OracleCheck:
    """Test an oracle by sampling: does ``L(x, R)`` bound the gradient's Lipschitz ratio?

    For each radius, ``samples`` pairs ``y, z`` in ``B(x, R)``: half uniform in the ball,
    half close pairs (``z`` near ``y``, which probe the local curvature), both including
    points on the sphere along the coordinate axes and the gradient.

    Parameters
    ----------
    objective : Model or callable
        A model, or ``fun`` with ``grad=`` and ``smoothness=``.
    x : array
        The centre of the balls (taken in a model's array library and dtype, as
        :func:`lfso.minimize` takes ``x0``; the sample points too).
    radii : sequence of float > 0
    samples : int >= 1
        Pairs per radius.
    grad, smoothness : callable
        ``grad(x)`` and the oracle ``smoothness(x, R)`` of a plain ``fun`` (a model has
        its own: ``TypeError``).
    seed : int >= 0
        Seed of the random pairs.
    rtol : float >= 0
        A pair passes with a ratio up to ``1 + rtol + rounding``, where ``rounding = 64 eps
        (||g(y)|| + ||g(z)||) / (L ||y - z||)`` is what the computed gradients' own
        errors (``eps`` their dtype's machine epsilon; a few ulps of their norms each, 64
        allowed) can add to the computed ratio: it matters on the close pairs, whose
        gradients differ by only about ``L ||y - z||``.

    Returns
    -------
    OracleCheck

    Raises
    ------
    ValueError
        Naming ``radii`` and the radius, where nothing can be measured at a radius (no
        verdict is given for it): ``L(x, R)`` is infinite, the gradients in the ball pass
        the float range (or ``f`` does), or no two sample points differ in floating point
        (``x + R`` rounds back to ``x``). A gradient that is NaN or infinite where ``f`` is
        finite is measured: a NaN or infinite ratio, and the check fails.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> f, grad = lambda x: np.sum(x**4), lambda x: 4 * x**3
    >>> right = lambda x, R: 12 * (np.max(np.abs(x)) + R) ** 2  # sup of ||Hess f|| on B(x, R)
    >>> lfso.check_oracle(f, np.ones(3), grad=grad, smoothness=right).passed
    True
    >>> wrong = lambda x, R: 12 * np.max(np.abs(x)) ** 2  # the Hessian at x only
    >>> check = lfso.check_oracle(f, np.ones(3), grad=grad, smoothness=wrong)
    >>> check.passed, check.max_ratio > 1, check.worst[0]["radius"]
    (False, True, 1.0)
    """
    if isinstance(objective, Model):
        if grad is not None or smoothness is not None:
            raise TypeError("grad= and smoothness= are for a plain function; a model has its own")
        model = objective
    else:
        model = FunctionModel(objective, grad, smoothness)
    x = like(as_vector(x, "x", model.xp), model.data)  # (the model's library and dtype)
    if model.dim is not None and x.shape[0] != model.dim:
        raise ValueError(f"x must have shape ({model.dim},) for this model, got {tuple(x.shape)}")
    if isinstance(radii, (str, bytes)) or not isinstance(radii, (Sequence, np.ndarray)):
        raise TypeError(f"radii must be a sequence of radii > 0, got {radii!r}")
    radii = [
        real(r, f"radii[{i}]", low=0.0, low_open=True)
        for i, r in enumerate(radii.ravel().tolist() if isinstance(radii, np.ndarray) else radii)
    ]
    if not radii:
        raise ValueError("radii must hold at least one radius, got radii=[]")
    samples = integer(samples, "samples", low=1)
    seed = integer(seed, "seed", low=0)
    rtol = nonnegative(rtol, "rtol")
    xn = to_numpy(x).astype(np.float64)
    rng = np.random.default_rng(seed)
    d = xn.size
    g0 = to_numpy(model.grad(x)).astype(np.float64)
    bound = model.at(x)

    def at(point: Any, name: str) -> tuple[Any, np.ndarray]:
        """The sample ``point`` in the model's library and ``x``'s dtype, and as the
        float64 NumPy vector it was rounded to there (whose distances the ratio takes)."""
        there = like(as_vector(point, name, model.xp), x)
        return there, to_numpy(there).astype(np.float64)

    worst: list[dict[str, Any]] = []
    max_ratio, pairs, monotone, last, exceeded = 0.0, 0, True, 0.0, False
    for radius, index in sorted((float(r), i) for i, r in enumerate(radii)):
        L = check_value(bound(radius), radius, allow_inf=True)
        if L == math.inf:
            raise _UnmeasuredError(index, radius, _PAST_RANGE.format(L=L))
        monotone &= L >= last * (1 - 1e-12)
        last = L
        directions = [np.eye(d)[i % d] * (1 if i < d else -1) for i in range(2 * d)]
        if np.linalg.norm(g0) > 0:
            directions += [-g0 / np.linalg.norm(g0), g0 / np.linalg.norm(g0)]
        before = pairs
        for k in range(samples):
            if k < len(directions):
                y = xn + radius * directions[k]
            else:
                u = rng.standard_normal(d)
                y = xn + radius * rng.uniform() ** (1 / d) * u / np.linalg.norm(u)
            if k % 2:
                w = rng.standard_normal(d)
                z = xn + radius * rng.uniform() ** (1 / d) * w / np.linalg.norm(w)
            else:
                z = y + 1e-6 * radius * (xn - y) / max(np.linalg.norm(xn - y), 1e-300)
            (ym, y), (zm, z) = at(y, "y"), at(z, "z")
            dist = float(np.linalg.norm(y - z))
            if dist == 0.0:
                continue
            ratio, rounding, passed = _pair_ratio(model, ym, zm, L, dist, rtol)
            if ratio is None:
                raise _UnmeasuredError(index, radius, _GRADIENT_PAST_RANGE)
            pairs += 1
            if ratio > max_ratio or ratio != ratio:  # (a NaN ratio stays: nothing bounds it)
                max_ratio = ratio
            exceeded |= not passed
            entry = {"ratio": ratio, "radius": radius, "L": L, "y": y, "z": z}
            worst.append({**entry, "rounding": rounding})
            worst = sorted(worst, key=lambda w: (w["ratio"] == w["ratio"], -w["ratio"]))[:5]
        if pairs == before:
            raise _UnmeasuredError(index, radius, _NO_PAIRS)
    return OracleCheck(max_ratio, worst, bool(monotone), not exceeded and monotone, pairs)
