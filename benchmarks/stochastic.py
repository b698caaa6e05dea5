"""Minibatch training without a learning rate: StochasticLFSO against tuned and tuning-free peers.

Usage::

    python benchmarks/stochastic.py                  # all tasks, 3 seeds, CPU (minutes)
    python benchmarks/stochastic.py --only mlp cnn   # some tasks
    python benchmarks/stochastic.py --quick          # tiny sizes, one seed (seconds; tests)
    python benchmarks/stochastic.py --only cost      # where a step's time goes (OUT/cost.md)

Tasks (CPU, bundled or generated data, ``torch.set_num_threads(1)``):

* ``mlp``: a 64-64-10 ReLU network on scikit-learn's digits (75/25 split), batch 64, 10 epochs;
* ``logreg``: logistic regression on a generated 10^5 x 100 data set (labels drawn from the
  logistic model; a separate 2 x 10^4 test set), batch 256, 5 epochs; also
  ``lfso.minimize(batch_size=256)``, the certified row-model steps (NumPy);
* ``cnn``: conv(16, 3x3) - pool - conv(32, 3x3) - pool - linear on digits' 8x8 images, batch 64,
  10 epochs;
* ``ablation``: StochasticLFSO's variants on ``mlp``; ``decay``: the row-model decay rules.

Optimisers: StochasticLFSO at its defaults; Adam and SGD, each on a 7-point learning-rate grid
(the best by mean final test accuracy over the seeds is reported, with what the whole grid
cost in training seconds; the grid is scored on the test set, which flatters the tuned
baselines); DoG (``dog-optimizer``), Prodigy (``prodigyopt``) and schedule-free AdamW
(``schedulefree``) at their defaults; a peer that is not installed is skipped with a note.
Per-step cost: the same batches stepped by Adam and by StochasticLFSO, interleaved, median of
the per-block ratios of this thread's CPU time (and of wall-clock time). Output: a markdown
table on stdout and in ``OUT/table.md``, and
``OUT/<task>.png`` (test accuracy and training loss against epochs and seconds; needs
matplotlib), with ``OUT`` = ``docs/stochastic`` by default; files are written atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

torch.set_num_threads(1)

from lfso.torch import StochasticLFSO  # noqa: E402

ADAM_GRID = np.logspace(-4, -1, 7)
SGD_GRID = np.logspace(-3, 0, 7)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------- data
def digits(images: bool, quick: bool) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if quick:
        X, y = X[:400], y[:400]
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    shape = (-1, 1, 8, 8) if images else (-1, 64)
    f = lambda a: torch.tensor(a, dtype=torch.float32).reshape(shape)  # noqa: E731
    return f(Xtr), torch.tensor(ytr), f(Xte), torch.tensor(yte)


def logistic_data(quick: bool) -> tuple[torch.Tensor, ...]:
    n, d = (2000, 20) if quick else (100_000, 100)
    rng = np.random.default_rng(12345)
    w = rng.standard_normal(d) * (3.0 / math.sqrt(d))
    X = rng.standard_normal((n + n // 5, d)).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    y = (rng.random(n + n // 5) < p).astype(np.int64)
    t = lambda a: torch.tensor(a)  # noqa: E731
    return t(X[:n]), t(y[:n]), t(X[n:]), t(y[n:])


# -------------------------------------------------------------------------------- models
def mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    )


def linear(d: int) -> Callable[[], torch.nn.Module]:
    return lambda: torch.nn.Linear(d, 2)


# ---------------------------------------------------------------------------- optimisers
def optimisers(quick: bool) -> tuple[dict[str, Callable[..., Any]], list[str]]:
    """name -> factory(params); and the notes for peers that are not installed."""
    grid_a = ADAM_GRID[2:5:2] if quick else ADAM_GRID
    grid_s = SGD_GRID[3:6:2] if quick else SGD_GRID
    out: dict[str, Callable[..., Any]] = {
        "StochasticLFSO": lambda p: StochasticLFSO(p),
        "StochasticLFSO probe_every=1": lambda p: StochasticLFSO(p, probe_every=1),
    }
    for lr in grid_a:
        out[f"Adam lr={lr:.2g}"] = lambda p, lr=lr: torch.optim.Adam(p, lr=lr)
    for lr in grid_s:
        out[f"SGD lr={lr:.2g}"] = lambda p, lr=lr: torch.optim.SGD(p, lr=lr)
    notes = []
    if importlib.util.find_spec("dog"):
        from dog import DoG

        out["DoG"] = lambda p: DoG(p)
    else:
        notes.append("DoG skipped: pip install dog-optimizer")
    if importlib.util.find_spec("prodigyopt"):
        from prodigyopt import Prodigy

        out["Prodigy"] = lambda p: Prodigy(p)
    else:
        notes.append("Prodigy skipped: pip install prodigyopt")
    if importlib.util.find_spec("schedulefree"):
        from schedulefree import AdamWScheduleFree

        out["schedule-free AdamW"] = lambda p: AdamWScheduleFree(p)
    else:
        notes.append("schedule-free skipped: pip install schedulefree")
    return out, notes


# ------------------------------------------------------------------------------ training
def evaluate(model: torch.nn.Module, data: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    Xtr, ytr, Xte, yte = data
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(model(Xtr), ytr))
        acc = float((model(Xte).argmax(1) == yte).float().mean())
    return acc, loss


def train(
    make_model: Callable[[], torch.nn.Module],
    make_opt: Callable[..., Any],
    data: tuple[torch.Tensor, ...],
    batch: int,
    epochs: int,
    seed: int,
) -> dict[str, list[float]]:
    """Per epoch (0 = start): test accuracy, training loss, training seconds."""
    Xtr, ytr = data[0], data[1]
    torch.manual_seed(seed)
    model = make_model()
    opt = make_opt(model.parameters())
    closure_opt = isinstance(opt, StochasticLFSO)
    switch = hasattr(opt, "train") and hasattr(opt, "eval")  # schedule-free
    gen = torch.Generator().manual_seed(seed)
    acc, loss = evaluate(model, data)
    rec = {"acc": [acc], "loss": [loss], "time": [0.0]}
    lossf = torch.nn.functional.cross_entropy
    elapsed = 0.0
    for _ in range(epochs):
        if switch:
            opt.train()
        start = time.perf_counter()
        for idx in torch.randperm(len(Xtr), generator=gen).split(batch):
            xb, yb = Xtr[idx], ytr[idx]
            if closure_opt:

                def closure(backward: bool = True, xb: Any = xb, yb: Any = yb) -> Any:
                    loss = lossf(model(xb), yb)
                    if backward:
                        loss.backward()
                    return loss

                opt.step(closure)
            else:
                opt.zero_grad()
                lossf(model(xb), yb).backward()
                opt.step()
        elapsed += time.perf_counter() - start
        if switch:
            opt.eval()
        acc, loss = evaluate(model, data)
        if not math.isfinite(loss):
            loss = math.inf
        rec["acc"].append(acc)
        rec["loss"].append(loss)
        rec["time"].append(elapsed)
    return rec


def _fixed_batches(data: Any, batch: int, steps: int) -> list[tuple[Any, Any]]:
    """The first ``steps`` batches of one shuffle (seed 0): the cost runs' common input."""
    Xtr, ytr = data[0], data[1]
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(Xtr), generator=gen).split(batch)[:steps]
    return [(Xtr[i], ytr[i]) for i in order]


def step_cost(
    make_model: Callable[[], torch.nn.Module],
    data: tuple[torch.Tensor, ...],
    batch: int,
    steps: int,
    repeats: int,
    probe_every: int = 2,
) -> tuple[float, float]:
    """StochasticLFSO's seconds per step over Adam's, on the same batches, in interleaved
    blocks (the first not counted): the medians of the ratios of CPU seconds of this thread
    (what the step costs; a shared machine's other jobs barely move it) and of wall seconds."""
    lossf = torch.nn.functional.cross_entropy
    batches = _fixed_batches(data, batch, steps)
    torch.manual_seed(0)
    m_a, m_l = make_model(), make_model()
    adam, ours = (
        torch.optim.Adam(m_a.parameters(), lr=1e-3),
        StochasticLFSO(m_l.parameters(), probe_every=probe_every),
    )
    cpu, wall = [], []
    for repeat in range(repeats + 1):  # the first block warms up (not counted)
        start, start_cpu = time.perf_counter(), time.thread_time()
        for xb, yb in batches:
            adam.zero_grad()
            lossf(m_a(xb), yb).backward()
            adam.step()
        mid, mid_cpu = time.perf_counter(), time.thread_time()
        for xb, yb in batches:

            def closure(backward: bool = True, xb: Any = xb, yb: Any = yb) -> Any:
                loss = lossf(m_l(xb), yb)
                if backward:
                    loss.backward()
                return loss

            ours.step(closure)
        end, end_cpu = time.perf_counter(), time.thread_time()
        if repeat:
            cpu.append((end_cpu - mid_cpu) / (mid_cpu - start_cpu))
            wall.append((end - mid) / (mid - start))
    return float(np.median(cpu)), float(np.median(wall))


def cost_breakdown(
    make_model: Callable[[], torch.nn.Module],
    data: tuple[torch.Tensor, ...],
    batch: int,
    steps: int = 50,
    repeats: int = 15,
) -> dict[str, float]:
    """CPU microseconds of this thread per step, median over interleaved blocks (the first not
    counted): an Adam step with its forward and backward pass; the forward and backward pass
    alone; a forward pass without a graph (what the probe adds at least); StochasticLFSO at
    ``probe_every`` 1 and 2 and with the probe never taken (its arithmetic alone)."""
    lossf = torch.nn.functional.cross_entropy
    batches = _fixed_batches(data, batch, steps)
    torch.manual_seed(0)
    factories: dict[str, Callable[..., Any]] = {
        "Adam": lambda p: torch.optim.Adam(p, lr=1e-3),
        "forward+backward": lambda p: None,
        "forward (no graph)": lambda p: None,
        "StochasticLFSO probe_every=1": lambda p: StochasticLFSO(p, probe_every=1),
        "StochasticLFSO probe_every=2": lambda p: StochasticLFSO(p, probe_every=2),
        "StochasticLFSO, no probe": lambda p: StochasticLFSO(p, probe_every=10**9),
    }
    runners = {}
    for name, factory in factories.items():
        model = make_model()
        runners[name] = (model, factory(model.parameters()))
    times: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(repeats + 1):
        for name, (model, opt) in runners.items():
            start = time.thread_time()
            for xb, yb in batches:
                if isinstance(opt, StochasticLFSO):

                    def closure(backward: bool = True, xb: Any = xb, yb: Any = yb) -> Any:
                        loss = lossf(model(xb), yb)  # noqa: B023
                        if backward:
                            loss.backward()
                        return loss

                    opt.step(closure)
                elif name == "forward (no graph)":
                    with torch.no_grad():
                        lossf(model(xb), yb)
                else:
                    model.zero_grad()
                    lossf(model(xb), yb).backward()
                    if opt is not None:
                        opt.step()
            if repeat:
                times[name].append((time.thread_time() - start) / len(batches) * 1e6)
    return {name: float(np.median(v)) for name, v in times.items()}


def run_task(
    name: str,
    make_model: Callable[[], torch.nn.Module],
    data: tuple[torch.Tensor, ...],
    batch: int,
    epochs: int,
    seeds: list[int],
    quick: bool,
) -> tuple[dict[str, Any], list[str]]:
    opts, notes = optimisers(quick)
    runs = {}
    for label, factory in opts.items():
        runs[label] = [train(make_model, factory, data, batch, epochs, s) for s in seeds]
        print(f"  {name}: {label} done", file=sys.stderr, flush=True)
    steps, repeats = (10, 3) if quick else (50, 15)
    cost = [step_cost(make_model, data, batch, steps, repeats, pe) for pe in (2, 1)]
    return {"runs": runs, "cost": cost}, notes


def summarise(runs: dict[str, list[dict[str, list[float]]]]) -> dict[str, dict[str, Any]]:
    """One entry per reported optimiser; Adam and SGD: the best grid point and grid cost."""
    final = {k: float(np.mean([r["acc"][-1] for r in v])) for k, v in runs.items()}
    rows: dict[str, dict[str, Any]] = {}
    for family in ("Adam", "SGD"):
        members = [k for k in runs if k.startswith(family + " ")]
        if not members:
            continue
        best = max(members, key=lambda k: final[k])
        grid_cost = sum(r["time"][-1] for k in members for r in runs[k])
        rows[f"{family} (best of grid: {best.split(' ', 1)[1]})"] = {
            "key": best,
            "grid_cost": grid_cost,
        }
    for k in runs:
        if not k.startswith(("Adam ", "SGD ")):
            rows[k] = {"key": k, "grid_cost": None}
    for row in rows.values():
        rs = runs[row["key"]]
        row["acc"] = [r["acc"][-1] for r in rs]
        row["loss"] = [r["loss"][-1] for r in rs]
        row["time"] = float(np.mean([r["time"][-1] for r in rs]))
    return rows


def table(name: str, rows: dict[str, dict[str, Any]], cost: list[tuple[float, float]]) -> list[str]:
    lines = [
        f"**{name}** (per-step cost / Adam's, CPU time (wall clock): StochasticLFSO "
        f"{cost[0][0]:.2f}x ({cost[0][1]:.2f}x), with probe_every=1 {cost[1][0]:.2f}x "
        f"({cost[1][1]:.2f}x))",
        "",
        "| optimiser | test accuracy (mean, min over seeds) | training loss (mean) "
        "| train s / run | grid cost s |",
        "|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        grid = f"{row['grid_cost']:.1f}" if row["grid_cost"] is not None else "-"
        loss = float(np.mean(row["loss"]))
        lines.append(
            f"| {label} | {np.mean(row['acc']):.4f} ({np.min(row['acc']):.4f}) "
            f"| {loss:.4g} | {row['time']:.2f} | {grid} |"
        )
    return lines


def verdict(rows: dict[str, dict[str, Any]]) -> tuple[bool, bool]:
    """(within 1 point of the best tuned Adam/SGD, at least the best tuning-free peer)."""
    ours = float(np.mean(rows["StochasticLFSO"]["acc"]))
    tuned = [float(np.mean(r["acc"])) for k, r in rows.items() if k.startswith(("Adam", "SGD"))]
    peers = [
        float(np.mean(r["acc"]))
        for k, r in rows.items()
        if k in ("DoG", "Prodigy", "schedule-free AdamW")
    ]
    return ours >= max(tuned) - 0.01, (not peers) or ours >= max(peers)


def plot(path: Path, name: str, runs: dict[str, Any], rows: dict[str, dict[str, Any]]) -> bool:
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figures", file=sys.stderr)
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for label, row in rows.items():
        rs = runs[row["key"]]
        acc = np.mean([r["acc"] for r in rs], axis=0)
        loss = np.mean([r["loss"] for r in rs], axis=0)
        secs = np.mean([r["time"] for r in rs], axis=0)
        epochs = np.arange(len(acc))
        style = {"lw": 2.5, "color": "k"} if label == "StochasticLFSO" else {"lw": 1.2}
        axes[0, 0].plot(epochs, acc, label=label, **style)
        axes[0, 1].plot(epochs, loss, **style)
        axes[1, 0].plot(secs, acc, **style)
        axes[1, 1].plot(secs, loss, **style)
    for ax in axes[:, 1]:
        ax.set_yscale("log")
    axes[0, 0].set(ylabel="test accuracy", xlabel="epoch", title=f"{name}: test accuracy")
    axes[0, 1].set(ylabel="training loss", xlabel="epoch", title="training loss")
    axes[1, 0].set(ylabel="test accuracy", xlabel="training seconds")
    axes[1, 1].set(ylabel="training loss", xlabel="training seconds")
    acc_low = min(np.mean(r["acc"]) for r in rows.values())
    for ax in axes[:, 0]:
        ax.set_ylim(max(0.0, min(0.8, acc_low - 0.05)), 1.0)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=90)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return True


def rows_model(quick: bool) -> list[str]:
    """``lfso.minimize(batch_size=256)`` on the logreg task's data (NumPy, certified)."""
    import lfso

    Xtr, ytr, Xte, yte = (a.numpy() for a in logistic_data(quick))
    model = lfso.models.LogisticRegression(Xtr.astype(np.float64), ytr, l2=0.0)
    epochs = 1 if quick else 5
    lines = []
    for seed in [0] if quick else [0, 1, 2]:
        start = time.perf_counter()
        res = lfso.minimize(model, np.zeros(Xtr.shape[1]), batch_size=256, seed=seed, epochs=epochs)
        secs = time.perf_counter() - start
        acc = float(np.mean((Xte @ res.x > 0) == (yte == 1)))
        lines.append(
            f"| lfso.minimize(batch_size=256), seed {seed} | {acc:.4f} | "
            f"{res.history.f[-1]:.4g} (mean logistic loss) | {secs:.2f} | - |"
        )
    return lines


def decay_study(quick: bool) -> list[str]:
    """Distance to the full-batch minimiser, by decay rule (the row models' default)."""
    import lfso

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 10))
    w = rng.standard_normal(10)
    y = X @ w + rng.standard_normal(4000) > 0
    model = lfso.models.LogisticRegression(X, y, l2=1e-3)
    full = lfso.minimize(model, np.zeros(10), tol=1e-10)
    checkpoints = [1, 2] if quick else [5, 15, 30]
    lines = [
        "| decay | " + " | ".join(f"{e} epochs" for e in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints),
    ]
    for decay in ("none", "sqrt", "harmonic"):
        dist = []
        for e in checkpoints:
            res = lfso.minimize(model, np.zeros(10), batch_size=64, seed=0, epochs=e, decay=decay)
            dist.append(float(np.linalg.norm(res.x - full.x)))
        lines.append(f"| {decay} | " + " | ".join(f"{v:.3g}" for v in dist) + " |")
    return lines


def ablation(quick: bool, seeds: list[int]) -> list[str]:
    data = digits(False, quick)
    variants: dict[str, Callable[..., Any]] = {
        "defaults (adam, secant fresh, eta 1.8, smoothing 0.9, probe_every 2)": (
            lambda p: StochasticLFSO(p)
        ),
        "probe_every 1": lambda p: StochasticLFSO(p, probe_every=1),
        "probe_every 3": lambda p: StochasticLFSO(p, probe_every=3),
        "eta 1.0": lambda p: StochasticLFSO(p, eta=1.0),
        "eta 1.5": lambda p: StochasticLFSO(p, eta=1.5),
        "smoothing 0.5": lambda p: StochasticLFSO(p, smoothing=0.5),
        "smoothing 0.98": lambda p: StochasticLFSO(p, smoothing=0.98),
        "momentum direction": lambda p: StochasticLFSO(p, direction="momentum"),
        "secant same, eta 0.5": lambda p: StochasticLFSO(p, secant="same", eta=0.5),
        "secant same, eta 1.0": lambda p: StochasticLFSO(p, secant="same", eta=1.0),
    }
    lines = ["| StochasticLFSO variant | task | test accuracy (mean, min) |", "|---|---|---|"]
    for label, factory in variants.items():
        accs = [train(mlp, factory, data, 64, 2 if quick else 10, s)["acc"][-1] for s in seeds]
        lines.append(f"| {label} | mlp | {np.mean(accs):.4f} ({np.min(accs):.4f}) |")
    logreg = logistic_data(quick)
    defaults = "defaults (adam, secant fresh, eta 1.8, smoothing 0.9, probe_every 2)"
    for label in (defaults, "secant same, eta 0.5"):
        factory = variants[label]
        runs = [
            train(linear(logreg[0].shape[1]), factory, logreg, 256, 1 if quick else 5, s)
            for s in seeds
        ]
        accs = [r["acc"][-1] for r in runs]
        loss = np.mean([r["loss"][-1] for r in runs])
        lines.append(
            f"| {label} | logreg | {np.mean(accs):.4f} ({np.min(accs):.4f}); "
            f"training loss {loss:.4g} (start {runs[0]['loss'][0]:.4g}) |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["mlp", "logreg", "cnn", "ablation", "decay", "cost"],
        default=["mlp", "logreg", "cnn", "ablation", "decay"],
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="docs/stochastic", help="folder for table.md, PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [0] if args.quick else list(range(args.seeds))
    epochs = 1 if args.quick else 10
    lines: list[str] = [
        f"command: python benchmarks/stochastic.py {' '.join(argv or sys.argv[1:])}".rstrip(),
        f"seeds: {seeds}; Adam grid {', '.join(f'{v:.2g}' for v in ADAM_GRID)}; "
        f"SGD grid {', '.join(f'{v:.2g}' for v in SGD_GRID)}",
        "",
    ]
    tasks: dict[str, tuple[Callable[[], torch.nn.Module], Any, int, int]] = {}
    if "mlp" in args.only:
        tasks["mlp"] = (mlp, digits(False, args.quick), 64, epochs)
    if "logreg" in args.only:
        data = logistic_data(args.quick)
        tasks["logreg"] = (linear(data[0].shape[1]), data, 256, 1 if args.quick else 5)
    if "cnn" in args.only:
        tasks["cnn"] = (cnn, digits(True, args.quick), 64, epochs)
    if args.only == ["cost"]:  # where the time of a step goes; writes OUT/cost.md
        lines = [lines[0], "", "CPU microseconds per step (this thread), and / Adam's step", ""]
        for name, make_model, data, batch in (
            ("mlp", mlp, digits(False, args.quick), 64),
            ("logreg", linear(100 if not args.quick else 20), logistic_data(args.quick), 256),
            ("cnn", cnn, digits(True, args.quick), 64),
        ):
            res = cost_breakdown(make_model, data, batch, *((10, 3) if args.quick else ()))
            lines += [f"**{name}**", "", "| step | us | / Adam |", "|---|---|---|"]
            lines += [f"| {k} | {v:.0f} | {v / res['Adam']:.2f} |" for k, v in res.items()]
            lines.append("")
        text = "\n".join(lines)
        print(text)
        _atomic_write(out / "cost.md", (text + "\n").encode())
        return
    met = []
    for name, (make_model, data, batch, n_epochs) in tasks.items():
        result, notes = run_task(name, make_model, data, batch, n_epochs, seeds, args.quick)
        rows = summarise(result["runs"])
        lines += table(f"{name} (batch {batch}, {n_epochs} epochs)", rows, result["cost"])
        if name == "logreg":
            lines += rows_model(args.quick)
        close, peers = verdict(rows)
        met.append((name, close, peers, result["cost"]))
        lines += [f"- {note}" for note in notes] + [""]
        if plot(out / f"{name}.png", name, result["runs"], rows):
            lines.append(f"![{name}]({name}.png)")
            lines.append("")
    if met:
        lines.append(
            "| task | StochasticLFSO within 1 point of best tuned | >= best tuning-free peer "
            "| cost / Adam (CPU time) | (wall clock) |"
        )
        lines.append("|---|---|---|---|---|")
        for name, close, peers, cost in met:
            yes = lambda v: "yes" if v else "no"  # noqa: E731
            lines.append(
                f"| {name} | {yes(close)} | {yes(peers)} | {cost[0][0]:.2f}x | {cost[0][1]:.2f}x |"
            )
        lines.append("")
    if "ablation" in args.only:
        lines += [*ablation(args.quick, seeds), ""]
    if "decay" in args.only:
        lines += [
            "Row models, `lfso.minimize(batch_size=64)`: distance to the full-batch minimiser "
            "(logistic regression, 4,000 x 10 generated rows)",
            "",
            *decay_study(args.quick),
            "",
        ]
    text = "\n".join(lines)
    print(text)
    _atomic_write(out / "table.md", (text + "\n").encode())


if __name__ == "__main__":
    main()
