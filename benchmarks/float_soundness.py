"""Certified in floating point: random runs in float32 (or float64), the true f recomputed.

Usage::

    python benchmarks/float_soundness.py                        # NumPy, float32
    python benchmarks/float_soundness.py --lib torch --device cuda --dtype float32
    python benchmarks/float_soundness.py --lib torch --device-path  # a GPU's path, on the CPU
    python benchmarks/float_soundness.py --runs 4 --iters 40      # a quick look

For every built-in model with a segment bound (l_2p regression at p = 2 and 1.25, composite
least squares, logistic regression, softmax regression with and without its ridge term,
Cauchy regression, ``||x||^4`` and ``sum x_i^4``), a few random problems in the chosen
dtype and array library, starts at several scales (1 to 1e4 times a random point: far
starts, where rounding is largest), and the methods ``lfso`` and ``lfso-lbfgs`` (segment
certificates; ``--methods`` picks others of ``lfso bench``'s: ``lfso-accel``,
``lfso-ball``, ``lfso-auto``, ``lfso-lbfgs-auto``, and ``lfso-paper`` alone, which runs the
authors' oracles and radius on the five models that have them; ``--seed`` draws other
problems and starts). Every iterate is recorded (``callback``) and its TRUE ``f`` recomputed in
float64 from float64 copies of the same data (float32 data and iterates are exact in
float64). The table counts, per model:

* ``rises``: steps where the true ``f`` rose by more than the rounding of ``f`` and of the
  iterate, ``8 u (|f| + sum_i |x_i g_i|)`` at the new point (``u`` the dtype's unit
  roundoff; the step itself is certified for the exact segment, and the stored iterate is
  ``fl(x + t d)``), plus the float64 recomputation's own rounding and ``n + 8`` of the
  dtype's smallest subnormals (the underflow of ``f``'s terms); for ``lfso-accel`` the
  certified step is the gradient step from each extrapolated point, ``fl(y_k - tau_k
  g(y_k))``, whose ``f`` is compared with ``f(y_k)`` (the extrapolated points' own ``f``
  may rise); for the methods with the automatic oracle (``-auto``: an estimate, not a
  bound, safeguarded) plus the safeguard's own tolerance, ``16 u |f|`` on the computed
  values, and the same rounding at the step's start;
* ``fun off``: results whose ``fun`` differs from the true ``f(x)`` by more than
  ``1e-5 |f|`` plus that rounding, plus the model's own bound on the rounding of its
  computed ``f`` (``Model.value_error``, where it states one: ``Result.fun`` must be ``f``
  at ``Result.x``, computed in the dtype);
* ``raised``: runs that raised instead of returning a status;
* ``worst rise``: the largest rise over that rounding allowance (0: none).

Every count should be 0.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

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

Builder = Callable[[np.random.Generator, Callable[[np.ndarray], Any]], tuple[Any, Any, int]]


def _rows(
    rng: np.random.Generator, scale: float = 1.0, n: int = 60, d: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    A = rng.standard_normal((n, d)) * np.exp(rng.uniform(-2.0, 2.0, size=(n, 1)))
    b = A @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return A * scale, b * scale


def _models(
    lib: Callable[[np.ndarray], Any], scale: float = 1.0, oracle: str = "sharp"
) -> dict[str, Callable[..., tuple[Any, Any]]]:
    """Per name: ``rng -> (model in the benchmark's dtype, the same model in float64)``,
    the row models' data (and targets) multiplied by ``scale``; with ``oracle="paper"``
    the authors' bounds, and only the models that have them."""
    kw = {"oracle": oracle}

    def pair(make: Callable[[Callable[[np.ndarray], Any]], Any]) -> tuple[Any, Any]:
        return make(lib), make(lambda a: np.asarray(a, dtype=np.float64))

    def lp(p: float) -> Callable[..., tuple[Any, Any]]:
        def build(rng: np.random.Generator) -> tuple[Any, Any]:
            A, b = _rows(rng, scale)
            return pair(lambda f: LpRegression(f(A), f(b), p, **kw))

        return build

    def composite(rng: np.random.Generator) -> tuple[Any, Any]:
        A, b = _rows(rng, scale)
        return pair(lambda f: CompositeLeastSquares(f(A), f(b), 2, **kw))

    def logistic(rng: np.random.Generator) -> tuple[Any, Any]:
        A, b = _rows(rng, scale)
        y = (b > 0).astype(np.float64)
        return pair(lambda f: LogisticRegression(f(A), f(y), l2=1e-3, **kw))

    def softmax(l2: float) -> Callable[..., tuple[Any, Any]]:
        def build(rng: np.random.Generator) -> tuple[Any, Any]:
            A, b = _rows(rng, scale)
            y = np.digitize(b, np.quantile(b, [1 / 3, 2 / 3])).astype(np.float64)
            return pair(lambda f: SoftmaxRegression(f(A), f(y), 3, l2=l2))

        return build

    def cauchy(rng: np.random.Generator) -> tuple[Any, Any]:
        A, b = _rows(rng, scale)
        return pair(lambda f: CauchyRegression(f(A), f(b), 1.0))

    paper = {
        "lp-p2": lp(2.0),
        "lp-p1.25": lp(1.25),
        "composite-p2": composite,
        "logistic": logistic,
        "power_sum-p2": lambda rng: (PowerSum(2, **kw), PowerSum(2, **kw)),
    }
    if oracle == "paper":
        return paper
    return {
        "lp-p2": lp(2.0),
        "lp-p1.25": lp(1.25),
        "composite-p2": composite,
        "logistic": logistic,
        "softmax": softmax(1e-3),
        "softmax-l2=0": softmax(0.0),
        "cauchy": cauchy,
        "power_norm-p2": lambda rng: (PowerNorm(2), PowerNorm(2)),
        "power_sum-p2": lambda rng: (PowerSum(2), PowerSum(2)),
    }


def _dim(model: Any) -> int:
    return int(model.dim) if getattr(model, "dim", None) else 6


#: The unit roundoff of the float64 recomputation, whose own sums over the rows round too.
_U64 = 2.0**-53


def _allowance(exact: Any, x: np.ndarray, value: float, unit: float, tiny: float) -> float:
    """``8 u (|f| + sum_i |x_i g_i|)`` at ``x`` (true gradient, float64), plus the float64
    recomputation's own rounding, ``(n + 8) u_64`` of the same scale (``n`` rows), plus
    ``(n + 8)`` times the dtype's smallest subnormal number ``tiny`` (each term of ``f``
    may underflow by up to that: an ``f`` of 1e-42 in float32 is a subnormal)."""
    g = np.asarray(exact.grad(x), dtype=np.float64)
    rows = int(exact.data.shape[0]) if exact.data is not None else int(x.shape[0])
    scale = abs(value) + float(np.sum(np.abs(x * g)))
    return (8.0 * unit + (rows + 8) * _U64) * scale + (rows + 8) * tiny


def _value_error(model: Any, x: Any) -> float:
    """The model's own bound on the rounding of its computed ``f`` at ``x``
    (``Model.value_error``, of a fresh evaluation, as ``Result.fun`` is one), 0 where it
    states none. Softmax regression's covers its logits' rounding: at a large ``W`` (a far
    start, small rows) far above ``u |f|``."""
    bound = model.value_error(x, model.evaluate(x, bound=False))
    return 0.0 if bound is None else float(bound)


#: The certified methods, as ``lfso.minimize`` options (the names of ``lfso bench``).
METHODS: dict[str, dict[str, Any]] = {
    "lfso": {"method": "lfso"},
    "lfso-lbfgs": {"method": "lfso-lbfgs"},
    "lfso-accel": {"method": "lfso-accel"},
    "lfso-paper": {"method": "lfso", "radius": "paper"},
    "lfso-ball": {"method": "lfso", "certificate": "ball"},
    "lfso-auto": {"method": "lfso", "smoothness": "auto"},
    "lfso-accel-segment": {"method": "lfso-accel", "certificate": "segment"},
    "lfso-lbfgs-ball": {"method": "lfso-lbfgs", "certificate": "ball"},
    "lfso-lbfgs-auto": {"method": "lfso-lbfgs", "smoothness": "auto"},
}


#: The methods that size steps by an estimate, not a bound: their safeguard accepts a
#: computed ``f`` that rose by up to ``max(1e-12, 8 eps) |f|`` (``lfso.minimize``'s
#: ``safeguard``: the computed ``f`` never rises by more than that at a step, the exact
#: ``f`` by at most that plus the rounding of the two computed values).
_SAFEGUARDED = frozenset({"lfso-auto", "lfso-lbfgs-auto"})


def _safeguard_slack(exact: Any, x: np.ndarray, value: float, unit: float, tiny: float) -> float:
    """What a safeguarded step may raise the true ``f`` by beyond a certified one's
    allowance: the safeguard's own tolerance on the computed values, ``max(1e-12, 16 u)
    |f(x)|``, and the rounding of the computed ``f(x)`` it compared against (the allowance
    at ``x``, the step's start)."""
    return max(1e-12, 16.0 * unit) * abs(value) + _allowance(exact, x, value, unit, tiny)


def _over_bound(
    exact: Any,
    x: np.ndarray,
    new: np.ndarray,
    value: float,
    new_value: float,
    L: float,
    unit: float,
    tiny: float,
) -> bool:
    """Whether the true ``f`` at ``new`` is above the upper bound the step's certificate
    states, ``f(x) + g(x) . D + (L / 2) ||D||^2`` (``D = new - x``, ``g`` the true
    gradient, ``L`` the history's curvature bound per unit length along the step), beyond
    the rounding allowance at both points. Sharper than a rise: a bound below the
    curvature by less than a factor 2 still moves ``f`` down, and shows only here."""
    if not (math.isfinite(L) and math.isfinite(value)):
        return False
    D = new - x
    g = np.asarray(exact.grad(x), dtype=np.float64)
    bound = value + float(g @ D) + 0.5 * L * float(D @ D)
    allowed = _allowance(exact, new, new_value, unit, tiny)
    return new_value - bound > allowed + _allowance(exact, x, value, unit, tiny)


def _gradient_steps(
    model: Any,
    points: list[np.ndarray],
    res: Any,
    lib: Callable[[np.ndarray], Any],
    host: Callable[[Any], np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """``lfso-accel``'s certified steps: from each extrapolated point ``y_k`` (the run's
    iterates) its gradient step ``x_{k+1} = fl(y_k - tau_k g(y_k))`` in the dtype, ``tau_k``
    the history's step; the claim is ``f(x_{k+1}) <= f(y_k)``, not ``f(y_{k+1}) <= f(y_k)``.
    Also the history's row of each (its ``L``)."""
    taus = np.asarray(res.history.step, dtype=np.float64)
    starts, ends, rows = [], [], []
    for k in range(len(points) - 1):
        tau = float(taus[k + 1])
        if not math.isfinite(tau) or tau <= 0.0:
            continue
        y = lib(points[k])
        g = model.evaluate(y, bound=False).grad
        starts.append(points[k])
        ends.append(host(y - tau * g))
        rows.append(k + 1)
    return starts, ends, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["numpy", "torch"], default="numpy")
    parser.add_argument("--device", default="cpu", help="PyTorch device (with --lib torch)")
    parser.add_argument(
        "--device-path",
        action="store_true",
        help="with --lib torch on the CPU: the tensors take an accelerator's path "
        "(lfso.bench.cpu_as_accelerator: the step sized on the device, scalars deferred)",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--runs", type=int, default=6, help="random problems per model")
    parser.add_argument("--iters", type=int, default=80)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1e2, 1e4])
    parser.add_argument(
        "--data-scale",
        type=float,
        default=1.0,
        help="multiply the row models' data and targets by this (1e-12: tiny features)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the problems' and starts' seed")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=["lfso", "lfso-lbfgs"],
        help="lfso-paper: the authors' oracle and radius, on the models that have them",
    )
    parser.add_argument("--verbose", action="store_true", help="name each rise and fun off")
    args = parser.parse_args()
    if args.device_path and args.lib != "torch":
        parser.error("--device-path takes --lib torch")
    path = bool(args.device_path)
    if args.lib == "torch":
        import torch

        tdtype = getattr(torch, args.dtype)

        def lib(a: np.ndarray) -> Any:
            return torch.as_tensor(np.asarray(a), dtype=tdtype, device=args.device)

        def host(x: Any) -> np.ndarray:
            return x.detach().cpu().numpy().astype(np.float64)

    else:
        ndtype = np.dtype(args.dtype)

        def lib(a: np.ndarray) -> Any:
            return np.asarray(a, dtype=ndtype)

        def host(x: Any) -> np.ndarray:
            return np.asarray(x, dtype=np.float64)

    unit = 0.5 * float(np.finfo(np.dtype(args.dtype)).eps)
    tiny = float(np.finfo(np.dtype(args.dtype)).smallest_subnormal)
    where = args.device if args.lib == "torch" else "cpu"
    print(f"{args.lib} {args.dtype} on {where}{' (an accelerator path)' if path else ''}")
    print(
        f"{'model':>14} {'runs':>5} {'steps':>6} {'rises':>6} {'fun off':>8} {'raised':>7} "
        f"{'worst rise':>11} {'seconds':>8}"
    )
    totals, over = [0, 0, 0], 0
    if not 0.0 < args.data_scale < math.inf:
        parser.error(f"--data-scale {args.data_scale}: expected a finite number > 0")
    paper = "lfso-paper" in args.methods
    if paper and len(args.methods) > 1:
        parser.error("--methods lfso-paper runs alone (the authors' oracles, other models)")
    models = _models(lib, args.data_scale, "paper" if paper else "sharp")
    for name, build in models.items():
        rng = np.random.default_rng(args.seed)
        runs = steps = rises = off = raised = 0
        worst = 0.0
        start = time.perf_counter()
        for _ in range(args.runs):
            model, exact = build(rng)
            point = rng.standard_normal(_dim(model))
            for scale in args.scales:
                for method in args.methods:
                    runs += 1
                    x0 = lib(point * scale)
                    points = [host(x0)]
                    try:
                        with warnings.catch_warnings(), lfso.bench.cpu_as_accelerator(path):
                            warnings.simplefilter("ignore")
                            res = lfso.minimize(
                                model,
                                x0,
                                max_iter=args.iters,
                                monitor=False,
                                callback=lambda x, seen=points: seen.append(host(x)),
                                **METHODS[method],
                            )
                    except Exception as error:  # counted, and named below
                        raised += 1
                        print(f"  {name} {method} scale {scale:g}: {type(error).__name__}: {error}")
                        continue
                    if method.startswith("lfso-accel"):
                        starts, ends, rows = _gradient_steps(model, points, res, lib, host)
                    else:
                        starts, ends = points[:-1], points[1:]
                        rows = list(range(1, len(points)))
                    curvature = np.asarray(res.history.L, dtype=np.float64)[rows]
                    before = [exact.value(x) for x in starts]
                    after = [exact.value(x) for x in ends]
                    for k, (x, f0, f1) in enumerate(zip(ends, before, after, strict=True)):
                        steps += 1
                        excess = f1 - f0 - _allowance(exact, x, f1, unit, tiny)
                        if method in _SAFEGUARDED:
                            excess -= _safeguard_slack(exact, starts[k], f0, unit, tiny)
                        if method not in _SAFEGUARDED and _over_bound(
                            exact, starts[k], x, f0, f1, curvature[k], unit, tiny
                        ):
                            over += 1  # (counted in the total line)
                            if args.verbose:
                                print(f"  over bound: {name} {method} scale {scale:g} step {k}")
                        if excess > 0.0 and math.isfinite(f0):
                            rises += 1
                            worst = max(worst, excess / max(abs(f0), 1e-300))
                            if args.verbose:
                                print(f"  rise: {name} {method} scale {scale:g} step {k}")
                    xr = host(res.x)
                    true = exact.value(xr)
                    allowed = _allowance(exact, xr, true, unit, tiny)
                    allowed += _value_error(model, res.x)
                    if not abs(res.fun - true) <= 1e-5 * abs(true) + allowed:
                        off += 1
                        if args.verbose:
                            print(f"  fun off: {name} {method} scale {scale:g}")
        totals[0] += rises
        totals[1] += off
        totals[2] += raised
        print(
            f"{name:>14} {runs:>5} {steps:>6} {rises:>6} {off:>8} {raised:>7} "
            f"{worst:>11.2e} {time.perf_counter() - start:>8.1f}",
            flush=True,
        )
    print(
        f"total: {totals[0]} rises, {totals[1]} results off f(x), {totals[2]} raised, "
        f"{over} steps over their bound"
    )


if __name__ == "__main__":
    main()
