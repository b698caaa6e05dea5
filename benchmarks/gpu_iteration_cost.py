"""GPU benchmark: LFSO-GD against a plain PyTorch GD loop, and bandwidth against the copy rate.

Usage (one call of a few minutes on a GPU machine; also runs on the CPU with small sizes)::

    python benchmarks/gpu_iteration_cost.py                       # 1, 4 and 17 GB of A
    python benchmarks/gpu_iteration_cost.py --gb 0.01 0.05 --device cpu --iters 20

For each size, A (n x 100, float32 by default) and b live on the device. Three loops run
``--iters`` iterations of l_4 regression: a plain PyTorch fixed-step GD loop (two passes
over A per iteration, nothing else), ``lfso.minimize(method="gd")`` and
``lfso.minimize(method="lfso")`` on the same tensors. The table gives the time per
iteration, the achieved bandwidth ``2 * bytes(A) / time`` as a fraction of the measured
device copy rate (read + write of a buffer of the same size), and LFSO's ratio to the plain
loop. An iteration of l_2p regression must read A twice and no more.
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


def plain_gd(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor, step: float, iters: int) -> float:
    """Seconds per iteration of the bare loop x <- x - t * 4 A^T (Ax - b)^3."""
    device = A.device
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        r = A @ x - b
        x = x - step * 4.0 * (A.T @ (r * r * r))
    _sync(device)
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
        f"{'GB':>6} {'n':>11} {'copy GB/s':>10} {'plain ms':>9} {'gd ms':>8} {'lfso ms':>8} "
        f"{'plain bw':>9} {'lfso bw':>8} {'lfso/plain':>11}"
    )
    gen = torch.Generator(device=device).manual_seed(0)
    for gb in args.gb:
        n = int(gb * 1e9 / (size * args.d))
        A = torch.randn(n, args.d, generator=gen, device=device, dtype=dtype) / n**0.5
        b = A @ torch.ones(args.d, device=device, dtype=dtype)
        b += 0.01 * torch.randn(n, generator=gen, device=device, dtype=dtype)
        nbytes = A.numel() * size
        rate = copy_rate(nbytes, device)
        model = lfso.models.LpRegression(A, b, 2)
        x0 = torch.zeros(args.d, device=device, dtype=dtype)
        step = 0.5 / model.at(x0)(0.0)
        plain_gd(A, b, x0, step, 3)  # warm up
        t_plain = plain_gd(A, b, x0, step, args.iters)
        t_gd = lfso_run(model, x0, args.iters, method="gd", step=step)
        t_lfso = lfso_run(model, x0, args.iters)
        bw = [2 * nbytes / t / rate for t in (t_plain, t_lfso)]
        print(
            f"{gb:>6.3g} {n:>11d} {rate / 1e9:>10.1f} {1e3 * t_plain:>9.3f} {1e3 * t_gd:>8.3f} "
            f"{1e3 * t_lfso:>8.3f} {bw[0]:>9.3f} {bw[1]:>8.3f} "
            f"{t_lfso / t_plain:>11.3f}",
            flush=True,
        )
        del A, b, model
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
