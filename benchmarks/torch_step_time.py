"""CPU time per ``lfso.torch.LFSO.step`` on a small full-batch network.

A 10-16-1 tanh network fitted by mean squared error to 200 random rows (float64, PyTorch
on one thread), ``--steps`` steps of each method, best of ``--repeats``, CPU microseconds
per step (closure included). To compare two checkouts, run it with ``PYTHONPATH`` set to
each one's ``src`` in turn::

    PYTHONPATH=src python3 benchmarks/torch_step_time.py --methods lfso lfso-lbfgs
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from lfso.torch import LFSO


def step_time(method: str, steps: int) -> float:
    """CPU microseconds per step of ``method`` over ``steps`` steps from a fixed start."""
    torch.manual_seed(0)
    X = torch.randn(200, 10, dtype=torch.float64)
    y = torch.randn(200, 1, dtype=torch.float64)
    net = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    net = net.double()
    opt = LFSO(net.parameters(), method=method)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        return loss

    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (risk indicators of a run past convergence)
        for _ in range(steps):
            opt.step(closure)
    return (time.process_time() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["lfso", "lfso-lbfgs"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1:
        parser.error(f"--steps and --repeats must be >= 1, got {args.steps} and {args.repeats}")
    torch.set_num_threads(1)
    for method in args.methods:
        best = min(step_time(method, args.steps) for _ in range(args.repeats))
        print(f"{method}: {best:.1f} us per step")


if __name__ == "__main__":
    main()
