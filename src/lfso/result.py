"""What a run returns: the status, the result and the per-iteration history."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["History", "Result", "Status"]


def _npz(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


class Status(enum.IntEnum):
    """Why a run stopped. Each member carries its message."""

    CONVERGED = 0
    MAX_ITER = 1
    NON_FINITE = 2
    INTERRUPTED = 3
    CALLBACK_STOP = 4
    STEP_FAILED = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def success(self) -> bool:
        return self is Status.CONVERGED


_MESSAGES = {
    Status.CONVERGED: "Converged: gradient norm below tolerance.",
    Status.MAX_ITER: "Maximum number of iterations reached; increase max_iter or loosen tol.",
    Status.NON_FINITE: (
        "Stopped: the objective or gradient became non-finite; returning the best point. "
        "Check the oracle (it may under-estimate the smoothness) or the step size."
    ),
    Status.INTERRUPTED: "Interrupted (KeyboardInterrupt); returning the best point so far.",
    Status.CALLBACK_STOP: (
        "Stopped by the callback (StopIteration); returning the best point so far."
    ),
    Status.STEP_FAILED: (
        "Stopped: the safeguard rejected every trial step (max_rollbacks reached); returning "
        "the best point. The gradient may be wrong (check it), or the function not smooth here."
    ),
}


class History:
    """Columnar per-iteration record: one list per quantity, cheap to append.

    Row ``k`` describes iterate ``x_k``: ``f`` and ``grad_norm`` there, the counters after
    evaluating it, the wall time since the start, the ``step`` (the scalar ``t`` in
    ``x_k = x_{k-1} - t g_{k-1}``), ``L`` and ``R`` that produced it (NaN for ``k = 0``
    and for rules that use no oracle), and ``risk``, the bit mask of the risk indicators
    that fired at this iteration (:data:`lfso.monitor.RISKS`).
    """

    columns = ("f", "grad_norm", "step", "L", "R", "nfev", "njev", "noracle", "time", "risk")

    def __init__(self) -> None:
        self._data: dict[str, list[float]] = {c: [] for c in self.columns}

    def append(
        self,
        f: float,
        grad_norm: float,
        step: float,
        L: float,
        R: float,
        nfev: int,
        njev: int,
        noracle: int,
        time: float,
        risk: int = 0,
    ) -> None:
        """Add the row for the next iterate (see the class docstring for the columns)."""
        d = self._data
        d["f"].append(f)
        d["grad_norm"].append(grad_norm)
        d["step"].append(step)
        d["L"].append(L)
        d["R"].append(R)
        d["nfev"].append(nfev)
        d["njev"].append(njev)
        d["noracle"].append(noracle)
        d["time"].append(time)
        d["risk"].append(risk)

    def __len__(self) -> int:
        return len(self._data["f"])

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self._data:
            raise KeyError(f"unknown history column {column!r}; have {self.columns}")
        return np.asarray(self._data[column], dtype=float)

    def __getattr__(self, column: str) -> np.ndarray:
        if column.startswith("_") or column not in History.columns:
            raise AttributeError(column)
        return self[column]

    def last(self, column: str) -> float:
        """The latest value of ``column`` in O(1) (NaN for an empty history)."""
        values = self._data[column] if column in self._data else self[column]
        return float(values[-1]) if values else float("nan")

    def as_dict(self) -> dict[str, np.ndarray]:
        """All columns as NumPy arrays."""
        return {c: self[c] for c in self.columns}

    @classmethod
    def from_dict(cls, columns: dict[str, Any]) -> History:
        """A history from column arrays (missing columns are filled with NaN)."""
        history = cls()
        n = len(next(iter(columns.values()))) if columns else 0
        for c in cls.columns:
            values = columns.get(c)
            history._data[c] = [float(v) for v in values] if values is not None else [np.nan] * n
        return history

    def save(self, path: str | Path) -> Path:
        """Save the columns to ``.npz`` (no pickle)."""
        path = _npz(path)
        np.savez(path, **self.as_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Load a history written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls.from_dict({k: data[k] for k in data.files})

    def __repr__(self) -> str:
        return f"History({len(self)} rows: {', '.join(self.columns)})"


@dataclass
class Result:
    """Outcome of :func:`lfso.minimize`, with SciPy's field names.

    Attributes
    ----------
    x : array
        The solution: the last iterate when converged, else the best (lowest ``f``) point.
    fun, jac : float, array
        Value and gradient at ``x``.
    nit : int
        Steps taken.
    nfev, njev, noracle : int
        Function evaluations, gradient evaluations and oracle evaluations ``L(x, R)``.
    status : Status
    success : bool
        ``status == Status.CONVERGED``.
    message : str
    history : History
    method : str
    grad_norm : float
        ``||jac||``.
    rollbacks : int
        Trial steps rejected by the safeguard (see :class:`lfso.steps.LFSOStep`).
    nhev : int
        Hessian-vector products (automatic oracle with ``hvp=``).
    risks : dict
        ``{indicator: {"count": n, "first": k}}`` for the risk indicators that fired
        (:mod:`lfso.monitor`); empty for a healthy run.
    """

    x: Any
    fun: float
    jac: Any
    nit: int
    nfev: int
    njev: int
    noracle: int
    status: Status
    message: str
    method: str
    grad_norm: float
    history: History = field(repr=False)
    rollbacks: int = 0
    nhev: int = 0
    risks: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status.success

    def save(self, path: str | Path) -> Path:
        """Save the result and its history to ``.npz``: arrays plus JSON metadata, no pickle.

        Arrays on another device or library are brought to NumPy first.
        """
        meta = {
            "fun": self.fun,
            "nit": self.nit,
            "nfev": self.nfev,
            "njev": self.njev,
            "noracle": self.noracle,
            "status": self.status.name,
            "message": self.message,
            "method": self.method,
            "grad_norm": self.grad_norm,
            "rollbacks": self.rollbacks,
            "nhev": self.nhev,
            "risks": self.risks,
        }
        arrays = {f"history_{k}": v for k, v in self.history.as_dict().items()}
        path = _npz(path)
        np.savez(
            path,
            x=np.asarray(self.x),
            jac=np.asarray(self.jac),
            meta=np.array(json.dumps(meta)),
            **arrays,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Load a result written by :meth:`save` (``x`` and ``jac`` come back as NumPy)."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            history = History.from_dict(
                {k[len("history_") :]: data[k] for k in data.files if k.startswith("history_")}
            )
            x, jac = data["x"], data["jac"]
        status = Status[meta.pop("status")]
        return cls(x=x, jac=jac, status=status, history=history, **meta)

    def __repr__(self) -> str:
        return (
            f"Result(method={self.method!r}, status={self.status.name}, nit={self.nit}, "
            f"fun={self.fun:.6g}, |jac|={self.grad_norm:.3g}, nfev={self.nfev}, "
            f"njev={self.njev}, noracle={self.noracle})"
        )
