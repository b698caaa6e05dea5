"""GPU benchmark: LFSO against a plain PyTorch GD loop, and bandwidth against the copy rate.

Usage (one call of a few minutes on a GPU machine; also runs on the CPU with small sizes)::

    python benchmarks/gpu_iteration_cost.py                       # 1, 4 and 17 GB of A
    python benchmarks/gpu_iteration_cost.py --gb 0.01 0.05 --device cpu --iters 20
    python benchmarks/gpu_iteration_cost.py --device cpu --host --rows 1000000 100000 \
        --d 25 --iters 10 --methods lfso lfso-lbfgs            # CPU tensors' own path

For each size, A (n x 100, float32 by default, entries N(0, 1/n)) and b live on the
device, ``b = A 1``: a consistent system, on which l_4 and l_3 regression are flat at their
minimum, so that every method converges sublinearly and a float32 run stays far from the
precision limit for hundreds of iterations. (With ``b = A 1 + 0.01 N(0, 1)`` the minimum is
sharp, and float32 runs of ``lfso`` and ``lfso-lbfgs`` at 10^5 to 10^6 x 25 reach it within
ten iterations; there the computed gradient's rounding swamps its slope, the exact slope
along the step and along ``-g`` is positive, and the run stops at ``PRECISION_LIMIT``.
Every run here must make the iterations it is asked for: one that stops sooner is an error
that names it.) For l_4 regression, a plain PyTorch fixed-step GD loop (two passes over A
per iteration, nothing else), ``lfso.minimize`` with ``method="gd"``, ``"lfso"``,
``"lfso-lbfgs"`` and ``"lfso-accel"`` run ``--iters`` iterations on the same tensors; then
the same for logistic regression (labels the signs of b: separable data), and with
``--models ... softmax`` for softmax regression over 10 classes (no intercept; a plain loop
of two products and a softmax), ``l3`` for l_3 regression and ``cauchy`` for Cauchy
regression on ``b = A 1 + 0.01 N(0, 1)`` (``c`` the median ``|b_i|``; on the consistent
``b`` its runs end converged, the gradient exactly 0, within a few dozen iterations).
The table gives the time per iteration, the achieved bandwidth ``2 * bytes(A) / time`` as
a fraction of the measured device copy rate (read + write of a buffer of the same size),
and LFSO's ratio to the plain loop. An iteration of either model
must read A twice and no more. ``--rows`` gives the sizes as numbers of rows instead,
``--methods`` and ``--models`` a subset, ``--threads`` PyTorch's CPU threads; with
``--net`` lfso's time per iteration is net of the start (runs of ``2 --iters`` less runs of
``--iters`` iterations). ``--clock cpu`` times with the process's CPU time (steadier on a
machine other jobs share; meant for ``--device cpu``), and ``--repeat k`` runs every timing
``k`` times, interleaved (the plain loop, then each method, ``k`` rounds), and reports the
median. From 2^18 rows the loop runs a point ahead of its evaluations' scalars
(``lfso._stepper.AHEAD_ROWS``); ``--in-order`` makes it wait for each, as below that size,
to time what going ahead saves.

On CPU tensors (``--device cpu``) the runs take the accelerator's path
(:func:`lfso._later.cpu_as_accelerator`: the step sized on the device, scalars deferred),
so that the CPU stands in for a GPU; with ``--host`` they take CPU tensors' own path (the
step solved on the host, the models' arithmetic NumPy's on views of the tensors, their
products with ``A`` PyTorch's), which is what ``lfso.minimize`` does on CPU tensors by
default.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Any

import torch

import lfso

#: The clock every timing reads (``--clock``).
CLOCK = time.perf_counter


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def copy_rate(nbytes: int, device: torch.device, repeats: int = 5) -> float:
    """Bytes per second of a device-to-device copy (counting the read and the write)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    _sync(device)
    rate = 2 * src.numel() * 4 * repeats / (time.perf_counter() - start)
    del src, dst
    return rate


def plain_residual(
    A: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    step: float,
    iters: int,
    slope: Any = None,
) -> float:
    """Seconds per iteration of the bare loop x <- x - t A^T slope(Ax - b), by default
    ``slope(r) = 4 r^3`` (l_4 regression)."""
    _sync(A.device)
    start = CLOCK()
    for _ in range(iters):
        r = A @ x - b
        x = x - step * (A.T @ (4.0 * (r * r * r) if slope is None else slope(r)))
    _sync(A.device)
    return (CLOCK() - start) / iters


def plain_l3(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, step: float, iters: int) -> float:
    """:func:`plain_residual` of l_3 regression, ``slope(r) = 3 |r| r``."""
    return plain_residual(A, b, x, step, iters, lambda r: 3.0 * (r.abs() * r))


def plain_cauchy(
    A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, step: float, iters: int
) -> float:
    """:func:`plain_residual` of Cauchy regression with ``c`` the median ``|b_i|``,
    ``slope(r) = r / (1 + r^2 / c^2) / n``."""
    n, inv_c2 = A.shape[0], 1.0 / cauchy_scale(b) ** 2
    return plain_residual(A, b, x, step, iters, lambda r: (r / (1.0 + inv_c2 * (r * r))) / n)


def cauchy_scale(b: torch.Tensor) -> float:
    """Cauchy regression's ``c`` here: the median ``|b_i|`` (residuals at ``x = 0`` on
    both sides of it)."""
    return float(b.abs().median())


def plain_logistic(
    A: torch.Tensor, s: torch.Tensor, x: torch.Tensor, step: float, iters: int
) -> float:
    """Seconds per iteration of the bare loop x <- x + t A^T (s sigma(-s Ax)) / n."""
    _sync(A.device)
    start = CLOCK()
    n = A.shape[0]
    for _ in range(iters):
        coef = s * torch.sigmoid(-s * (A @ x))
        x = x + (step / n) * (A.T @ coef)
    _sync(A.device)
    return (CLOCK() - start) / iters


def plain_softmax(
    A: torch.Tensor, onehot: torch.Tensor, x: torch.Tensor, step: float, iters: int
) -> float:
    """Seconds per iteration of the bare loop W <- W - t A^T (softmax(A W) - Y) / n (the
    product with ``A^T`` as ``((P - Y)^T A)^T``, the faster form of PyTorch's CPU product
    with a tall ``A``)."""
    _sync(A.device)
    start = CLOCK()
    n, k = A.shape[0], onehot.shape[1]
    W = x.reshape(A.shape[1], k)
    for _ in range(iters):
        W = W - (step / n) * ((torch.softmax(A @ W, dim=1) - onehot).T @ A).T
    _sync(A.device)
    return (CLOCK() - start) / iters


def lfso_run(
    model: lfso.models.Model,
    x0: torch.Tensor,
    iters: int,
    host: bool = False,
    net: bool = False,
    **kw: object,
) -> float:
    """Seconds per iteration of ``lfso.minimize`` over ``iters`` iterations; on CPU
    tensors the accelerator's path unless ``host``. ``net``: net of the start (the first
    evaluation, the first step's wider search), the difference between runs of ``2 iters``
    and ``iters`` iterations divided by ``iters``, after a run of ``iters`` iterations that
    is not timed (what a model makes once, on its first run, is then in neither)."""

    def seconds(max_iter: int) -> float:
        path: Any = contextlib.nullcontext()
        if not host:
            from lfso._later import cpu_as_accelerator

            path = cpu_as_accelerator()
        start = CLOCK()
        with path:
            res = lfso.minimize(model, x0, tol=0.0, max_iter=max_iter, monitor=False, **kw)
        _sync(x0.device)
        if res.nit != max_iter:
            raise RuntimeError(
                f"{kw.get('method', 'lfso')} on {type(model).__name__} ran {res.nit} of "
                f"{max_iter} iterations ({res.status.name}: {res.message}); its time per "
                "iteration would not be that of the iterations asked for"
            )
        return CLOCK() - start

    if net:
        seconds(iters)
        short = seconds(iters)
        return (seconds(2 * iters) - short) / iters
    return seconds(iters) / iters


METHODS = ("gd", "lfso", "lfso-lbfgs", "lfso-accel")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gb", type=float, nargs="+", default=[1.0, 4.0, 17.0], help="sizes of A in GB"
    )
    parser.add_argument("--rows", type=int, nargs="+", help="sizes of A in rows (not --gb)")
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["l4", "logistic", "softmax", "l3", "cauchy"],
        default=["l4", "logistic"],
        help="softmax: 10 classes, no intercept; l3: l_3 regression; cauchy: Cauchy "
        "regression, c the median |b_i| (these three not run unless named)",
    )
    parser.add_argument(
        "--host", action="store_true", help="CPU tensors take their own (host) path"
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    parser.add_argument(
        "--net", action="store_true", help="lfso's time per iteration net of the start"
    )
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="wall or process CPU time"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="interleaved runs of every timing (median)"
    )
    parser.add_argument(
        "--in-order",
        action="store_true",
        help="the loop waits for each evaluation's scalars (lfso._stepper.AHEAD_ROWS raised)",
    )
    args = parser.parse_args()
    if args.in_order:
        from lfso import _stepper

        _stepper.AHEAD_ROWS = 1 << 62
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    size = torch.finfo(dtype).bits // 8
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    path = "host path" if args.host else "device path"
    if args.in_order and not args.host:
        path += ", in order"
    print(
        f"device {device} ({name}, {path}, {torch.get_num_threads()} threads), {args.dtype}, "
        f"d = {args.d}, {args.iters} iterations"
        + (" (net of the start)" if args.net else "")
        + f", {args.clock} clock, median of {args.repeat}"
    )
    methods = list(args.methods)
    ratios = [m for m in ("lfso", "lfso-lbfgs") if m in methods]
    print(
        f"{'model':>9} {'GB':>6} {'n':>11} {'copy GB/s':>10} {'plain ms':>9} "
        + "".join(f"{m + ' ms':>15} " for m in methods)
        + f"{'plain bw':>9} "
        + "".join(f"{m + ' bw':>15} " for m in ratios)
        + "".join(f"{m + '/plain':>17} " for m in ratios)
    )
    gen = torch.Generator(device=device).manual_seed(0)
    sizes = args.rows or [int(gb * 1e9 / (size * args.d)) for gb in args.gb]
    for n in sizes:
        gb = n * args.d * size / 1e9
        A = torch.randn(n, args.d, generator=gen, device=device, dtype=dtype) / n**0.5
        b = A @ torch.ones(args.d, device=device, dtype=dtype)  # (consistent: docstring)
        noisy = b + 0.01 * torch.randn(n, generator=gen, device=device, dtype=dtype)
        nbytes = A.numel() * size
        rate = copy_rate(nbytes, device)
        signs = torch.where(b > 0, 1.0, -1.0).to(dtype)
        plains = {
            "l4": plain_residual,
            "logistic": plain_logistic,
            "softmax": plain_softmax,
            "l3": plain_l3,
            "cauchy": plain_cauchy,
        }
        for label in [m for m in plains if m in args.models]:
            model, data = _case(label, A, (b, noisy), signs, gen)
            plain = plains[label]
            x0 = torch.zeros(model.dim, device=device, dtype=dtype)
            step = 0.5 / model.at(x0)(0.0)
            plain(A, data, x0, step, 3)  # warm up
            runs: dict[str, list[float]] = {m: [] for m in ["plain", *methods]}
            for _ in range(args.repeat):
                runs["plain"].append(plain(A, data, x0, step, args.iters))
                for method in methods:
                    options: dict[str, Any] = {"step": step} if method == "gd" else {}
                    runs[method].append(
                        lfso_run(
                            model,
                            x0,
                            args.iters,
                            host=args.host,
                            net=args.net,
                            method=method,
                            **options,
                        )
                    )
            times = {m: statistics.median(v) for m, v in runs.items()}
            t_plain = times.pop("plain")
            print(
                f"{label:>9} {gb:>6.3g} {n:>11d} {rate / 1e9:>10.1f} {1e3 * t_plain:>9.3f} "
                + "".join(f"{1e3 * times[m]:>15.3f} " for m in methods)
                + f"{2 * nbytes / t_plain / rate:>9.3f} "
                + "".join(f"{2 * nbytes / times[m] / rate:>15.3f} " for m in ratios)
                + "".join(f"{times[m] / t_plain:>17.3f} " for m in ratios),
                flush=True,
            )
            del model, data
        del A, b, noisy, signs
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _case(
    label: str,
    A: torch.Tensor,
    targets: tuple[torch.Tensor, torch.Tensor],
    signs: torch.Tensor,
    gen: torch.Generator,
) -> tuple[lfso.models.Model, torch.Tensor]:
    """The model ``label`` on ``A`` and what its plain loop reads besides ``A``;
    ``targets = (b, noisy)``, ``b = A 1`` and ``noisy`` it plus noise (Cauchy regression's:
    module docstring). Softmax
    regression: no intercept (the model shares ``A``), 10 classes, the largest of ``A R``
    for a random ``d x 10`` matrix ``R``; its plain loop reads the labels one-hot."""
    b, noisy = targets
    if label in ("l4", "l3"):
        return lfso.models.LpRegression(A, b, 2 if label == "l4" else 1.5), b
    if label == "cauchy":
        return lfso.models.CauchyRegression(A, noisy, cauchy_scale(noisy)), noisy
    if label == "logistic":
        return lfso.models.LogisticRegression(A, signs), signs
    R = torch.randn(A.shape[1], 10, generator=gen, device=A.device, dtype=A.dtype)
    model = lfso.models.SoftmaxRegression(A, (A @ R).argmax(dim=1), 10, fit_intercept=False)
    return model, model.onehot


if __name__ == "__main__":
    main()
