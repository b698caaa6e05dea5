"""GPU benchmark: LFSO against a plain PyTorch GD loop, and bandwidth against the copy rate.

Usage (one call of a few minutes on a GPU machine; also runs on the CPU with small sizes)::

    python benchmarks/gpu_iteration_cost.py                       # 1, 4 and 17 GB of A
    python benchmarks/gpu_iteration_cost.py --gb 0.01 0.05 --device cpu --iters 20

For each size, A (n x 100, float32 by default) and b live on the device. For l_4
regression, a plain PyTorch fixed-step GD loop (two passes over A per iteration, nothing
else), ``lfso.minimize`` with ``method="gd"``, ``"lfso"``, ``"lfso-lbfgs"`` and
``"lfso-accel"`` run
``--iters`` iterations on the same tensors; then the same for logistic regression (labels
the signs of b). The table gives the time per iteration, the achieved bandwidth
``2 * bytes(A) / time`` as a fraction of the measured device copy rate (read + write of a
buffer of the same size), and LFSO's ratio to the plain loop. An iteration of either model
must read A twice and no more.
"""

from __future__ import annotations

import argparse
import time

import torch

import lfso


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


def plain_lp(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, step: float, iters: int) -> float:
    """Seconds per iteration of the bare loop x <- x - t * 4 A^T (Ax - b)^3."""
    _sync(A.device)
    start = time.perf_counter()
    for _ in range(iters):
        r = A @ x - b
        x = x - step * 4.0 * (A.T @ (r * r * r))
    _sync(A.device)
    return (time.perf_counter() - start) / iters


def plain_logistic(
    A: torch.Tensor, s: torch.Tensor, x: torch.Tensor, step: float, iters: int
) -> float:
    """Seconds per iteration of the bare loop x <- x + t A^T (s sigma(-s Ax)) / n."""
    _sync(A.device)
    start = time.perf_counter()
    n = A.shape[0]
    for _ in range(iters):
        coef = s * torch.sigmoid(-s * (A @ x))
        x = x + (step / n) * (A.T @ coef)
    _sync(A.device)
    return (time.perf_counter() - start) / iters


def lfso_run(model: lfso.models.Model, x0: torch.Tensor, iters: int, **kw: object) -> float:
    start = time.perf_counter()
    res = lfso.minimize(model, x0, tol=0.0, max_iter=iters, monitor=False, **kw)
    _sync(x0.device)
    assert res.nit == iters
    return (time.perf_counter() - start) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gb", type=float, nargs="+", default=[1.0, 4.0, 17.0], help="sizes of A in GB"
    )
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    size = torch.finfo(dtype).bits // 8
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), {args.dtype}, d = {args.d}, {args.iters} iterations")
    print(
        f"{'model':>9} {'GB':>6} {'n':>11} {'copy GB/s':>10} {'plain ms':>9} {'gd ms':>8} "
        f"{'lfso ms':>8} {'lbfgs ms':>9} {'accel ms':>9} {'plain bw':>9} {'lfso bw':>8} "
        f"{'lbfgs bw':>9} {'lfso/plain':>11} {'lbfgs/plain':>12}"
    )
    gen = torch.Generator(device=device).manual_seed(0)
    for gb in args.gb:
        n = int(gb * 1e9 / (size * args.d))
        A = torch.randn(n, args.d, generator=gen, device=device, dtype=dtype) / n**0.5
        b = A @ torch.ones(args.d, device=device, dtype=dtype)
        b += 0.01 * torch.randn(n, generator=gen, device=device, dtype=dtype)
        nbytes = A.numel() * size
        rate = copy_rate(nbytes, device)
        x0 = torch.zeros(args.d, device=device, dtype=dtype)
        signs = torch.where(b > 0, 1.0, -1.0).to(dtype)
        cases = [
            ("l4", lfso.models.LpRegression(A, b, 2), plain_lp, b),
            ("logistic", lfso.models.LogisticRegression(A, signs), plain_logistic, signs),
        ]
        for label, model, plain, data in cases:
            step = 0.5 / model.at(x0)(0.0)
            plain(A, data, x0, step, 3)  # warm up
            t_plain = plain(A, data, x0, step, args.iters)
            t_gd = lfso_run(model, x0, args.iters, method="gd", step=step)
            t_lfso = lfso_run(model, x0, args.iters, method="lfso")
            t_lbfgs = lfso_run(model, x0, args.iters, method="lfso-lbfgs")
            t_accel = lfso_run(model, x0, args.iters, method="lfso-accel")
            bw = [2 * nbytes / t / rate for t in (t_plain, t_lfso, t_lbfgs)]
            print(
                f"{label:>9} {gb:>6.3g} {n:>11d} {rate / 1e9:>10.1f} {1e3 * t_plain:>9.3f} "
                f"{1e3 * t_gd:>8.3f} {1e3 * t_lfso:>8.3f} {1e3 * t_lbfgs:>9.3f} "
                f"{1e3 * t_accel:>9.3f} {bw[0]:>9.3f} {bw[1]:>8.3f} {bw[2]:>9.3f} "
                f"{t_lfso / t_plain:>11.3f} {t_lbfgs / t_plain:>12.3f}",
                flush=True,
            )
            del model
        del A, b, signs, cases
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
