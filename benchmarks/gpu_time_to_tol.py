"""GPU benchmark: time to tolerance of lfso-lbfgs, torch.optim.LBFGS and optax's L-BFGS.

Usage (small sizes by default, seconds on the CPU; the GPU sizes below are the
interesting ones, A of 4 GB each)::

    python benchmarks/gpu_time_to_tol.py                           # 20000 x 50, float64
    python benchmarks/gpu_time_to_tol.py --sizes 10000000x100 --dtype float32
    python benchmarks/gpu_time_to_tol.py --sizes 5000000x100 --dtype float64

Data, made on ``--device`` in ``--dtype``: ``A = G diag(s) Q`` (n x d; ``G`` Gaussian of
variance ``1/d``, ``s = linspace(1/cond, 1, d)``, ``Q`` a random rotation: condition
number about ``--cond``) and ``b = A 1 + 0.5 e``. Two models on these same tensors: l_4
regression, ``f(x) = sum_i (a_i^T x - b_i)^4`` (``lfso.models.LpRegression(A, b, 2)``),
and logistic regression with the signs ``s_i`` of ``b`` as labels, ``f(x) = mean_i
log(1 + exp(-s_i a_i^T x)) + (l2/2) ||x||^2`` with ``l2 = 1/n``
(``lfso.models.LogisticRegression(A, s, l2=1/n)``). Every run starts at 0 and stops when
``||g|| <= tol ||g_0||`` (``--tol``) or after ``--max-iter`` iterations:

- ``lfso-lbfgs``: ``lfso.minimize(model, x0, method="lfso-lbfgs", tol=tol)``; its time
  includes building the model from the tensors (row norms, ``||A||``).
- ``torch-lbfgs``: ``torch.optim.LBFGS([x], line_search_fn="strong_wolfe",
  history_size=10, tolerance_grad=0, tolerance_change=0)`` (torch's other defaults: each
  ``opt.step`` runs up to 20 iterations and 25 evaluations) in the documented loop
  ``opt.step(closure)``, the closure ``zero_grad``, the loss written in torch, ``backward``,
  return the loss. Its own stopping tests are off, so that the relative test above,
  checked after each ``opt.step`` (so it may overshoot by up to 19 iterations), decides; a
  step that leaves ``x`` unchanged ends the run as ``stalled``. Every closure call is an
  evaluation (one more after a step whose line search ended on an earlier point than its
  last evaluation, to test the gradient at the iterate).
- ``optax-lbfgs``, only if ``jax`` and ``optax`` import (otherwise a note says it was
  skipped; ``--no-optax`` skips it too): ``optax.lbfgs()`` (memory 10, zoom line search)
  in a jitted ``jax.lax.while_loop`` on copies of ``A`` and ``b`` on jax's default device,
  gradients recycled with ``optax.value_and_grad_from_state``. Its time excludes
  compilation (``jit(...).lower(...).compile()`` first); its evaluations are the gradient
  at 0 for the tolerance, the first iteration's and the line searches' steps.

lfso and torch run once with a cap of 2 iterations before the timed run (torch.optim's
first step has one-time costs).

Tables. ``plain loops``: per (model, size), the device copy rate (read + write of a
buffer of ``A``'s size), the time to build the lfso model, and two plain fixed-step GD
loops timed over ``--plain-iters`` iterations: ``plain_ms`` the torch loss's forward and
backward pass and the update ``x <- x - t grad`` (the unit of cost of torch's L-BFGS),
with its bandwidth ``2 bytes(A) / time`` in GB/s and as a fraction of the copy rate (an
iteration reads ``A`` twice and need not read it more), and ``model_ms`` the same loop on
the lfso model's gradient (``model.evaluate(x, bound=False)``). ``runs to tolerance``:
per (model, size, method), the wall time to tolerance (the device synchronised before
each reading of the clock), iterations, evaluations (gradients), ``yes`` / ``capped`` /
``stalled``, the final ``||g|| / ||g_0||`` (recomputed by the lfso model at each method's
final point), the time per iteration and its ratio to ``plain_ms``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from gpu_iteration_cost import copy_rate  # (this folder is on the path when run as a script)

import lfso

MODELS = ("l4", "logistic")
NOISE = 0.5  # (b = A 1 + NOISE e: l_4 residuals and the logistic labels' noise)


@dataclass
class Run:
    """One method's run to tolerance: wall seconds, iterations, evaluations, status, x."""

    seconds: float
    iters: int
    evals: int
    status: str  # "yes", "capped" or "stalled"
    x: torch.Tensor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _size(text: str) -> tuple[int, int]:
    """``"20000x50"`` -> ``(20000, 50)``; rejects anything else with the value echoed."""
    parts = text.lower().split("x")
    try:
        n, d = (int(float(p)) for p in parts) if len(parts) == 2 else (0, 0)
    except (ValueError, OverflowError):
        n, d = 0, 0
    if n < 2 or d < 1:
        raise argparse.ArgumentTypeError(
            f"a size must be ROWSxCOLS with ROWS >= 2 and COLS >= 1 (e.g. 20000x50), got {text!r}"
        )
    return n, d


def _at_least(kind: type, low: float, strict: bool) -> Callable[[str], float]:
    """An argparse type: a ``kind`` above ``low`` (or equal, unless ``strict``)."""
    expected = f"a{'n' if kind is int else ''} {kind.__name__} {'>' if strict else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value > low or (value == low and not strict)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _device(text: str) -> torch.device:
    """An argparse type: a torch device that exists here."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"expected a torch device (cpu, cuda), got {text!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu or cuda, got {text!r}")
    return device


def torch_loss(label: str, A: torch.Tensor, b: torch.Tensor, l2: float) -> Callable:
    """The model's value written in torch: ``sum (Ax - b)^4`` or the mean logistic loss."""
    if label == "l4":
        return lambda x: ((A @ x - b) ** 4).sum()
    zero = torch.zeros((), dtype=A.dtype, device=A.device)
    return lambda x: torch.logaddexp(zero, -b * (A @ x)).mean() + (0.5 * l2) * (x * x).sum()


def plain_torch(loss: Callable, x: torch.Tensor, step: float, iters: int) -> float:
    """Seconds per iteration of x <- x - t grad, the gradient by one forward and backward pass."""
    x = x.clone().requires_grad_(True)
    _sync(x.device)
    start = time.perf_counter()
    for _ in range(iters):
        x.grad = None
        loss(x).backward()
        with torch.no_grad():
            x -= step * x.grad
    _sync(x.device)
    return (time.perf_counter() - start) / iters


def plain_model(model: lfso.models.Model, x: torch.Tensor, step: float, iters: int) -> float:
    """Seconds per iteration of x <- x - t grad, the gradient the lfso model's."""
    _sync(x.device)
    start = time.perf_counter()
    for _ in range(iters):
        x = x - step * model.evaluate(x, bound=False).grad
    _sync(x.device)
    return (time.perf_counter() - start) / iters


def run_lfso(build: Callable, x0: torch.Tensor, tol: float, cap: int) -> Run:
    _sync(x0.device)
    start = time.perf_counter()
    model = build()
    res = lfso.minimize(model, x0, method="lfso-lbfgs", tol=tol, max_iter=cap, monitor=False)
    _sync(x0.device)
    seconds = time.perf_counter() - start
    status = {"CONVERGED": "yes", "MAX_ITER": "capped"}.get(res.status.name, "stalled")
    return Run(seconds, res.nit, max(res.nfev, res.njev), status, res.x)


def run_torch(loss: Callable, x0: torch.Tensor, tol: float, cap: int) -> Run:
    """torch.optim.LBFGS in the documented ``opt.step(closure)`` loop (module docstring)."""
    _sync(x0.device)
    start = time.perf_counter()
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x],
        line_search_fn="strong_wolfe",
        history_size=10,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
    seen: dict = {"calls": 0}

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = loss(x)
        value.backward()
        # (the gradient norm at the evaluated point, kept on the device: no sync here)
        seen.update(calls=seen["calls"] + 1, x=x.detach().clone(), norm=x.grad.norm())
        seen.setdefault("norm0", seen["norm"])
        return value

    status = "capped"
    while opt.state[x].get("n_iter", 0) < cap:
        before = x.detach().clone()
        opt.step(closure)
        if not torch.equal(seen["x"], x.detach()):  # (the search ended on an earlier point)
            closure()
        if seen["norm"] <= tol * seen["norm0"]:
            status = "yes"
            break
        if torch.equal(x.detach(), before) or not torch.isfinite(seen["norm"]):
            status = "stalled"
            break
    _sync(x0.device)
    seconds = time.perf_counter() - start
    return Run(seconds, int(opt.state[x].get("n_iter", 0)), seen["calls"], status, x.detach())


def optax_available() -> bool:
    """Whether jax and optax import (jax told not to take most of a GPU's memory first)."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # (torch holds A too)
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        return False
    return True


def run_optax(label: str, A: torch.Tensor, b: torch.Tensor, l2: float, tol: float, cap: int) -> Run:
    """optax.lbfgs in a jitted while_loop on copies of the data (module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax
    import optax.tree_utils as otu

    if A.dtype == torch.float64:
        jax.config.update("jax_enable_x64", True)
    A_j = jax.device_put(A.cpu().numpy())
    b_j = jax.device_put(b.cpu().numpy())

    def fun(x, A, b):
        if label == "l4":
            return jnp.sum((A @ x - b) ** 4)
        return jnp.mean(jnp.logaddexp(0.0, -b * (A @ x))) + 0.5 * l2 * jnp.sum(x * x)

    def solve(x0, A, b):
        def f(x):
            return fun(x, A, b)

        opt = optax.lbfgs()
        value_and_grad = optax.value_and_grad_from_state(f)
        g0 = jnp.linalg.norm(jax.grad(f)(x0))  # (an evaluation: counted below)

        def step(carry):
            x, state, evals = carry
            value, grad = value_and_grad(x, state=state)
            updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
            steps = otu.tree_get(state, "num_linesearch_steps").astype(jnp.int32)
            return optax.apply_updates(x, updates), state, evals + steps

        def going(carry):
            _, state, _ = carry
            count = otu.tree_get(state, "count")
            norm = jnp.linalg.norm(otu.tree_get(state, "grad"))
            return (count == 0) | ((count < cap) & (norm > tol * g0))

        x, state, evals = jax.lax.while_loop(going, step, (x0, opt.init(x0), jnp.int32(2)))
        met = jnp.linalg.norm(otu.tree_get(state, "grad")) <= tol * g0
        return x, otu.tree_get(state, "count"), evals, met

    x0 = jnp.zeros(A.shape[1], dtype=A_j.dtype)
    compiled = jax.jit(solve).lower(x0, A_j, b_j).compile()
    start = time.perf_counter()
    x, count, evals, met = compiled(x0, A_j, b_j)
    x.block_until_ready()
    seconds = time.perf_counter() - start
    x_t = torch.tensor(np.array(x), device=A.device)
    return Run(seconds, int(count), int(evals), "yes" if bool(met) else "capped", x_t)


def run_method(method, label, A, data, l2, build, loss, tol, *, cap) -> Run:
    """One method's run from zero on one model (``build``: lfso's, ``loss``: torch's)."""
    x0 = torch.zeros(A.shape[1], device=A.device, dtype=A.dtype)
    if method == "lfso-lbfgs":
        return run_lfso(build, x0, tol, cap)
    if method == "torch-lbfgs":
        return run_torch(loss, x0, tol, cap)
    return run_optax(label, A, data, l2, tol, cap)


def make_data(n: int, d: int, cond: float, device: torch.device, dtype: torch.dtype):
    """``A = G diag(s) Q`` and ``b = A 1 + NOISE e``, the same for a given size.

    ``G`` has Gaussian entries of variance ``1/d``, ``s`` is ``linspace(1/cond, 1, d)`` and
    ``Q`` a random rotation, so ``A``'s condition number is about ``cond`` (``n >> d``).
    """
    gen = torch.Generator(device=device).manual_seed(n * 7919 + d)
    A = torch.randn(n, d, generator=gen, device=device, dtype=dtype) / d**0.5
    Q = torch.linalg.qr(torch.randn(d, d, generator=gen, device=device, dtype=dtype))[0]
    A = (A * torch.linspace(1.0 / cond, 1.0, d, device=device, dtype=dtype)) @ Q
    b = A @ torch.ones(d, device=device, dtype=dtype)
    b += NOISE * torch.randn(n, generator=gen, device=device, dtype=dtype)
    return A, b


def problems(A: torch.Tensor, b: torch.Tensor, models: list[str]):
    """``(label, build, loss, data, l2)`` per model: the lfso model's builder, the torch loss."""
    n = A.shape[0]
    for label in models:
        data = b if label == "l4" else torch.where(b > 0, 1.0, -1.0).to(A.dtype)
        l2 = 0.0 if label == "l4" else 1.0 / n

        def build(label: str = label, data: torch.Tensor = data, l2: float = l2):
            if label == "l4":
                return lfso.models.LpRegression(A, data, 2)
            return lfso.models.LogisticRegression(A, data, l2=l2)

        yield label, build, torch_loss(label, A, data, l2), data, l2


def plain_row(label, size, A, build, loss, iters) -> tuple[str, float]:
    """The plain table's row for one model and size, and the plain loop's seconds per iteration."""
    device = A.device
    nbytes = A.numel() * A.element_size()
    rate = copy_rate(nbytes, device)
    x0 = torch.zeros(A.shape[1], device=device, dtype=A.dtype)
    _sync(device)
    start = time.perf_counter()
    model = build()
    _sync(device)
    t_build = time.perf_counter() - start
    step = 0.5 / model.at(x0)(0.0)
    plain_torch(loss, x0, step, 2)  # warm up
    t_plain = plain_torch(loss, x0, step, iters)
    plain_model(model, x0, step, 2)
    t_model = plain_model(model, x0, step, iters)
    bandwidth = 2 * nbytes / t_plain
    row = (
        f"{label:>9} {size:>14} {rate / 1e9:>10.2f} {t_build:>8.4f} "
        f"{1e3 * t_plain:>9.3f} {bandwidth / 1e9:>10.2f} {bandwidth / rate:>9.3f} "
        f"{1e3 * t_model:>9.3f} {t_model / t_plain:>11.3f}"
    )
    return row, t_plain


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=_size,
        nargs="+",
        default=[(20_000, 50)],
        help="sizes of A as ROWSxCOLS (default 20000x50; on a GPU 10000000x100 float32 or "
        "5000000x100 float64, 4 GB each)",
    )
    parser.add_argument(
        "--cond",
        type=_at_least(float, 1, False),
        default=100.0,
        help="condition number of A (>= 1, default 100)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=MODELS,
        default=list(MODELS),
        help="models to run (default: both)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="dtype of the data (default float64)",
    )
    parser.add_argument(
        "--device",
        type=_device,
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device of the data (default cuda when available, else cpu)",
    )
    parser.add_argument(
        "--tol",
        type=_at_least(float, 0, True),
        default=None,
        help="relative gradient tolerance ||g|| <= tol ||g0|| (default 1e-8 for float64, "
        "1e-5 for float32)",
    )
    parser.add_argument(
        "--max-iter",
        type=_at_least(int, 0, True),
        default=2000,
        help="iteration cap of every method (default 2000)",
    )
    parser.add_argument(
        "--plain-iters",
        type=_at_least(int, 0, True),
        default=10,
        help="iterations of the plain GD loops (after 2 of warm-up; default 10)",
    )
    parser.add_argument(
        "--no-optax", action="store_true", help="skip optax even if jax and optax import"
    )
    args = parser.parse_args()
    device = args.device
    dtype = getattr(torch, args.dtype)
    tol = args.tol if args.tol is not None else (1e-8 if dtype == torch.float64 else 1e-5)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {device} ({name}), {args.dtype}, tol {tol:g}, at most {args.max_iter} iterations"
    )
    methods = ["lfso-lbfgs", "torch-lbfgs"]
    if args.no_optax:
        print("optax: skipped (--no-optax)")
    elif not optax_available():
        print("optax: skipped (jax or optax is not installed)")
    else:
        import jax

        print(f"optax: on jax's default device {jax.devices()[0]}")
        methods.append("optax-lbfgs")

    # Two passes over the sizes (the data remade from the same seed), so that each table
    # prints as it is measured.
    print("plain loops (per iteration)")
    print(
        f"{'model':>9} {'size':>14} {'copy_GB/s':>10} {'build_s':>8} {'plain_ms':>9} "
        f"{'plain_GB/s':>10} {'plain_bw':>9} {'model_ms':>9} {'model/plain':>11}",
        flush=True,
    )
    plain: dict[tuple[str, str], float] = {}
    for n, d in args.sizes:
        A, b = make_data(n, d, args.cond, device, dtype)
        for label, build, loss, _, _ in problems(A, b, args.models):
            row, plain[label, f"{n}x{d}"] = plain_row(
                label, f"{n}x{d}", A, build, loss, args.plain_iters
            )
            print(row, flush=True)
        del A, b
        _release(device)
    print("runs to tolerance")
    print(
        f"{'model':>9} {'size':>14} {'method':>12} {'seconds':>9} {'iters':>6} {'evals':>6} "
        f"{'converged':>9} {'rel_grad':>10} {'ms/iter':>9} {'iter/plain':>11}",
        flush=True,
    )
    for n, d in args.sizes:
        A, b = make_data(n, d, args.cond, device, dtype)
        x0 = torch.zeros(d, device=device, dtype=dtype)
        for label, build, loss, data, l2 in problems(A, b, args.models):
            model = build()  # (to measure every method's final gradient the same way)
            g0 = model.evaluate(x0, bound=False).grad_norm
            for method in methods:
                case = (method, label, A, data, l2, build, loss, tol)
                if method != "optax-lbfgs":  # (one-time costs: torch.optim's first step)
                    run_method(*case, cap=2)
                run = run_method(*case, cap=args.max_iter)
                rel = model.evaluate(run.x, bound=False).grad_norm / g0
                per_iter = run.seconds / max(run.iters, 1)
                print(
                    f"{label:>9} {f'{n}x{d}':>14} {method:>12} {run.seconds:>9.4f} "
                    f"{run.iters:>6} {run.evals:>6} {run.status:>9} {rel:>10.2e} "
                    f"{1e3 * per_iter:>9.3f} {per_iter / plain[label, f'{n}x{d}']:>11.3f}",
                    flush=True,
                )
            del model
        del A, b, x0
        _release(device)


def _release(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
