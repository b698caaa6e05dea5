"""Train a small network on scikit-learn's digits without choosing a learning rate.

Usage (needs the torch and sklearn extras; install ``torch==2.13.0`` first)::

    python examples/torch_digits.py [--steps 300]

Full-batch training of a 64-32-10 tanh network, the same number of steps for each
optimiser: lfso.torch.LFSO (no learning rate), and torch's SGD and Adam at their default
learning rates (1e-3). Prints test accuracy, final training loss and wall time.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lfso.torch import LFSO


def make_closure(net, opt, loss_fn, X, y):
    """torch's closure convention: zero the gradients, compute the loss, backward, return."""

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        return loss

    return closure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    Xtr, Xte = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(Xte, dtype=torch.float32)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    loss_fn = torch.nn.CrossEntropyLoss()

    print(f"{'optimiser':24} {'test accuracy':>13} {'train loss':>11} {'time (s)':>9}")
    for name in ("lfso", "sgd (lr=1e-3)", "adam (lr=1e-3)"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
        if name == "lfso":
            opt = LFSO(net.parameters())
        elif name.startswith("sgd"):
            opt = torch.optim.SGD(net.parameters())
        else:
            opt = torch.optim.Adam(net.parameters())

        closure = make_closure(net, opt, loss_fn, Xtr, ytr)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = opt.step(closure)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            accuracy = float((net(Xte).argmax(dim=1) == yte).float().mean())
        print(f"{name:24} {accuracy:>13.3f} {loss.item():>11.4f} {seconds:>9.2f}")


if __name__ == "__main__":
    main()
