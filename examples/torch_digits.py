"""Train a small network on scikit-learn's digits without choosing a learning rate.

Usage (needs the torch and sklearn extras; install ``torch==2.13.0`` first)::

    python examples/torch_digits.py [--steps 300]

Full-batch training of a 64-32-10 tanh network, the same number of steps per run:
lfso.torch.LFSO once (no learning rate), against torch's SGD and Adam each tuned over a
small grid of learning rates (``--sgd-grid``, ``--adam-grid``): every grid run trains from
the same initialisation, the learning rate with the best accuracy on a validation split
(20% of the training set) is kept, and its test accuracy is reported beside what the whole
grid cost in gradient evaluations. Prints test accuracy, final training loss, gradient
evaluations and wall time.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lfso.torch import LFSO


def make_closure(net, opt, loss_fn, X, y, calls):
    """torch's closure convention: zero the gradients, compute the loss, backward, return.

    ``calls[0]`` counts the gradient evaluations (LFSO may call the closure more than once
    per step).
    """

    def closure() -> torch.Tensor:
        calls[0] += 1
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        return loss

    return closure


def accuracy(net, X, y) -> float:
    with torch.no_grad():
        return float((net(X).argmax(dim=1) == y).float().mean())


def train(name, lr, steps, data):
    """One run from the same initialisation: (net, final loss, gradients, seconds)."""
    Xtr, ytr = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    if name == "lfso":
        opt = LFSO(net.parameters())
    elif name == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    calls = [0]
    closure = make_closure(net, opt, torch.nn.CrossEntropyLoss(), Xtr, ytr, calls)
    start = time.perf_counter()
    for _ in range(steps):
        loss = opt.step(closure)
    return net, float(loss.detach()), calls[0], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per run (default: 300)")
    parser.add_argument(
        "--sgd-grid",
        type=float,
        nargs="+",
        default=[1e-2, 1e-1, 1.0, 10.0],
        help="SGD learning rates tried (default: 0.01 0.1 1 10)",
    )
    parser.add_argument(
        "--adam-grid",
        type=float,
        nargs="+",
        default=[1e-3, 1e-2, 1e-1, 1.0],
        help="Adam learning rates tried (default: 0.001 0.01 0.1 1)",
    )
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    Xfit, Xval, yfit, yval = train_test_split(Xtr, ytr, test_size=0.2, random_state=0)
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    Xfit, Xval, Xte = as_x(Xfit), as_x(Xval), as_x(Xte)
    yfit, yval, yte = torch.tensor(yfit), torch.tensor(yval), torch.tensor(yte)

    print(
        f"{'optimiser':26} {'test accuracy':>13} {'train loss':>11} "
        f"{'gradients':>10} {'time (s)':>9}"
    )
    net, loss, grads, seconds = train("lfso", None, args.steps, (Xfit, yfit))
    print(
        f"{'lfso (no learning rate)':26} {accuracy(net, Xte, yte):>13.3f} {loss:>11.4f} "
        f"{grads:>10} {seconds:>9.2f}"
    )
    for name, grid in (("sgd", args.sgd_grid), ("adam", args.adam_grid)):
        runs = [(lr, *train(name, lr, args.steps, (Xfit, yfit))) for lr in grid]
        lr, net, loss, grads, seconds = max(runs, key=lambda r: accuracy(r[1], Xval, yval))
        total = sum(r[3] for r in runs)
        label = f"{name} (best lr={lr:g})"
        print(
            f"{label:26} {accuracy(net, Xte, yte):>13.3f} {loss:>11.4f} "
            f"{grads:>10} {seconds:>9.2f}   grid {', '.join(f'{g:g}' for g in grid)}: "
            f"{total} gradients in all"
        )


if __name__ == "__main__":
    main()
