"""What a run returns: the status, the result and the per-iteration history."""

from __future__ import annotations

import enum
import io
import json
import math
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ._atomic import write_atomically
from ._validate import spelt, spelt_given, spelt_option
from .monitor import RISKS

__all__ = ["History", "Result", "Status"]


#: How a saved file's JSON writes the non-finite floats (standard JSON has none).
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _plain(value: Any) -> Any:
    """``value`` with its non-finite floats (NumPy's too) as :data:`_NON_FINITE`'s strings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _npz(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _save_npz(path: str | Path, arrays: dict[str, Any]) -> Path:
    """Write ``arrays`` as an ``.npz`` archive to exactly ``path``, atomically (no suffix
    added: :func:`lfso._atomic.write_atomically`)."""
    return write_atomically(path, _npz_bytes(arrays))


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` archive."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def handover_file(path: Path) -> Path:
    """The file beside the result file ``path`` that holds a guarded run's hand-over: the
    result file's whole name with ``.rollout.json`` added (``run.npz`` ->
    ``run.npz.rollout.json``), so that no two result files share one."""
    return path.with_name(path.name + ".rollout.json")


def earlier_handover_file(path: Path) -> Path | None:
    """Where earlier versions wrote the hand-over of the ``.npz`` file ``path``: the name
    less ``.npz`` with ``.rollout.json`` added; ``None`` for another name, or where a file
    of the name less ``.npz`` exists (that hand-over file is then that file's)."""
    if path.suffix != ".npz" or path.with_suffix("").exists():
        return None
    return handover_file(path.with_suffix(""))


def saved_at(path: str | Path) -> Path:
    """The file that ``load`` reads for ``path``: ``path``, or where no file has that name,
    the name with ``.npz`` added, as earlier versions of ``save`` wrote it."""
    path = Path(path)
    if not path.exists() and path.suffix != ".npz" and _npz(path).exists():
        return _npz(path)
    return path


def _forget_handover(path: Path) -> Callable[[], None]:
    """What removes the hand-over file of a guarded result saved at ``path`` before (and
    the one an earlier version wrote there), to call once the new file is written there, so
    that a failed write leaves both as they were. Where ``path`` is new and holds the
    hand-over of ``<path>.npz``, as earlier versions named it, that file is moved to its
    new name at once."""
    stale, npz = handover_file(path), _npz(path)
    if path.suffix != ".npz" and not path.exists() and npz.is_file() and stale.is_file():
        if not handover_file(npz).exists():
            stale.replace(handover_file(npz))
    sides = (stale, earlier_handover_file(path))

    def forget() -> None:
        for side in sides:
            if side is not None and (side.is_symlink() or side.is_file()):
                side.unlink(missing_ok=True)

    return forget


#: Largest array a saved result may hold, in elements (a corrupt header cannot ask for more).
_MAX_ELEMENTS = 1 << 31


def _load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of the ``.npz`` archive at ``path`` (or, where no file has that name,
    at the name with ``.npz`` added, as earlier versions of ``save`` wrote it), without
    pickle; one clear ``ValueError`` for anything that is not such an archive (empty,
    truncated, corrupt, a ``.npy``, a huge header)."""
    path = saved_at(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what}.load: {str(path)!r} is a folder, not a saved file")
    if not path.is_file():
        raise FileNotFoundError(f"{what}.load: no such file: {str(path)!r}")
    try:
        on_disk = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            arrays = {}
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename!r} is not a .npy array")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    shape, _, dtype = _read_header(member, version)
                    size, held = math.prod(shape), _most_bytes(info, on_disk)
                    if size > _MAX_ELEMENTS or size * dtype.itemsize > held:
                        raise ValueError(
                            f"member {info.filename!r} claims shape {shape}, more than the "
                            f"{held} bytes it can hold in a file of {on_disk} bytes"
                        )
                    if dtype.hasobject:
                        raise ValueError(f"member {info.filename!r} holds Python objects")
                with archive.open(info) as member:
                    arrays[info.filename[:-4]] = np.lib.format.read_array(
                        member, allow_pickle=False
                    )
    # (NotImplementedError: zipfile's answer to a flipped bit in a member's compression
    # method or flags, "That compression method is not supported")
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        NotImplementedError,
    ) as exc:
        raise ValueError(
            f"{what}.load: {str(path)!r} is not a readable lfso {what} file "
            f"(an .npz written by {what}.save): {type(exc).__name__}: {exc}"
        ) from None
    return arrays


#: Deflate's greatest ratio of bytes out to bytes in (258 bytes from a code of about 2 bits).
_DEFLATE_RATIO = 1032


def _most_bytes(info: zipfile.ZipInfo, on_disk: int) -> int:
    """The most bytes the archive member ``info`` can unpack to, from what the archive, of
    ``on_disk`` bytes, actually holds (its directory's sizes are only claims): its stored
    bytes, or deflate's greatest ratio times its compressed bytes, and no more than the
    size it claims. A ``ValueError`` for a compression ``.npz`` archives do not use."""
    ratio = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: _DEFLATE_RATIO}.get(info.compress_type)
    if ratio is None:
        raise ValueError(
            f"member {info.filename!r} is compressed with method {info.compress_type}; an .npz "
            "archive's members are stored or deflated"
        )
    return min(info.file_size, ratio * min(info.compress_size, on_disk))


def _read_header(member: Any, version: tuple[int, int]) -> tuple[tuple[int, ...], bool, Any]:
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    return np.lib.format.read_array_header_2_0(member)


#: Iterations without a new low of ``f`` or of ``||g||`` after which a monotone run that has
#: a tolerance to reach stops :attr:`Status.STALLED` (:meth:`lfso._stepper.Stepper.advance`).
STALL_ITERATIONS = 1000


_NO_NEW_LOW = (
    "neither f nor the gradient norm reached a new low in the last "
    f"{STALL_ITERATIONS:,} iterations, above the tolerance"
)


class Status(enum.IntEnum):
    """Why a run stopped. Each member carries its message."""

    CONVERGED = 0
    MAX_ITER = 1
    NON_FINITE = 2
    INTERRUPTED = 3
    CALLBACK_STOP = 4
    STEP_FAILED = 5
    PRECISION_LIMIT = 6
    GRADIENT_MISMATCH = 7
    RAISED = 8
    UNBOUNDED = 9
    STALLED = 10
    DIVERGED = 11

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
    Status.GRADIENT_MISMATCH: (
        "Stopped: f does not decrease along the direction its gradient says descends (a "
        "finite difference of f disagrees with the gradient there); returning the best point. "
        "The gradient is likely wrong (or f is not differentiable here): check it with "
        "lfso.check_grad(fun, x, grad=grad)."
    ),
    Status.RAISED: (
        "Stopped: an exception was raised during the run (by fun, grad, the oracle, hvp or a "
        "callback); it propagates with this result, the best point so far, as its .result."
    ),
    Status.UNBOUNDED: (
        "Stopped: f fell to -inf or to the edge of the float range (below -2^-20 times the "
        "largest float of x's dtype, -2^-4 times it for float16); the objective appears "
        "unbounded below. Returning the point of lowest finite f seen."
    ),
    Status.STALLED: (
        f"Stopped: {_NO_NEW_LOW}: the rounding of f and its "
        "gradient in x's dtype holds the run there. Returning the best point; loosen tol "
        "(or, for a float32 run, which resolves about 7 digits, run in float64)."
    ),
    Status.DIVERGED: (
        "Stopped: the run diverged: f at the last point is far above the lowest value seen "
        "(by more than ten times both |f(x0)| and the descent from f(x0) to that value); "
        "returning the best point. The steps are too long for this function (take a shorter "
        "step, or a method that certifies its steps), or the gradient is wrong (check it with "
        "lfso.check_grad(fun, x, grad=grad))."
    ),
    Status.PRECISION_LIMIT: (
        "Stopped: the data's floating-point precision cannot certify a further step at this "
        "point (the proven bound leaves the float range, or the step it certifies is not "
        "representable); returning the best point. Run in float64, or rescale the problem "
        "(x, the data or the objective) so that its values stay well inside the float range."
    ),
}


#: The secant ratio (``||g+ - g|| / (L ||x+ - x||)``, at most 1 for a valid oracle) at or
#: below which a ``MAX_ITER`` message names the oracle as too loose (:func:`stop_message`).
_LOOSE = 1e-3

#: ``PRECISION_LIMIT``'s message where the gradient's rounding swamps the slope of every
#: step (:func:`stop_message`): in place of the advice to keep values inside the range.
_SWAMPED = (
    "Stopped: the gradient's rounding in x's dtype swamps its slope here: no proven bound "
    "on the exact slope along the step, nor along -g, is negative, so no step is certain "
    "to descend; returning the best point. The gradient is as small as its own rounding "
    "lets it be shown: loosen tol{dtype}, or rescale the problem where its values are far "
    "from 1."
)

#: ``PRECISION_LIMIT``'s message where the gradient jumps (:func:`stop_message`).
_NOT_SMOOTH = (
    "Stopped: the gradient changes by a finite amount over a vanishing distance: f may not "
    "be differentiable at x; lfso needs a smooth f (the automatic estimate of the "
    "smoothness is inf here, and no rescaling cures that); returning the best point."
)


#: ``GRADIENT_MISMATCH``'s message where ``f``'s one-sided differences show a kink
#: (:func:`stop_message`): the gradient need not be wrong.
_KINKED = (
    "Stopped: f does not decrease along the direction its gradient says descends, and its "
    "one-sided differences there disagree: f has a kink at x (its slope jumps, as |t| does "
    "at 0), where no gradient describes f and the one given need not be wrong; lfso needs "
    "a smooth f. Returning the best point."
)


#: What ``MAX_ITER`` and ``STALLED`` say where the steps collapsed while the gradient did
#: not shrink (:func:`stop_message`), in place of their advice (more iterations, tol, dtype).
_COLLAPSED = (
    "the steps collapsed by many orders of magnitude while the gradient norm did not "
    "shrink (the curvature measured along them grew without bound): f looks non-smooth "
    "near x (a kink, where the gradient jumps), which no max_iter, tol or dtype cures; "
    "lfso needs a smooth f. Returning the best point."
)


def stop_message(
    status: Status,
    *,
    float64: bool,
    users_oracle: bool,
    stalled_by: str = "",
    not_smooth: bool = False,
    half: str = "",
    secant_ratio: float = math.nan,
    swamped: bool = False,
    rollbacks: int = 0,
    oracle_advice: str = "",
) -> str:
    """``status``'s message fitted to the run that stopped with it.

    ``float64``: the run's dtype is float64 or wider, so ``PRECISION_LIMIT`` advises
    rescaling alone (not running in float64). ``half``: the name of the run's dtype where it
    resolves 3 digits or fewer (float16, bfloat16), which ``MAX_ITER`` names as what slows
    the run: there the part of a step below the rounding of ``x`` is lost, so a run
    crawls, each step moving ``x`` by the few coordinates it can, and reaches new lows of
    ``f`` or ``||g||`` now and then, which keeps ``STALLED`` from stopping it.
    ``users_oracle``: the oracle is the user's (``smoothness=``,
    :attr:`lfso.models.Model.audit_oracle`), which ``STEP_FAILED`` names as a likely cause
    beside the gradient: an oracle far below the true smoothness makes every trial step
    too long for the safeguard to accept. ``stalled_by``: what stopped a
    ``STALLED`` run at once (a step rule's step of 0 for good), said in place of the
    iterations without a new low. ``not_smooth``: a ``PRECISION_LIMIT`` where the automatic
    estimate met a jump of the gradient over a vanishing distance, which the message names
    (``f`` may not be differentiable) in place of the advice to rescale; a ``MAX_ITER`` or
    ``STALLED`` whose steps collapsed while the gradient did not, which the message names
    (``f`` looks non-smooth) in place of the advice on ``max_iter``, ``tol`` and the dtype.
    ``secant_ratio``: the largest ``||g+ - g|| / (L ||x+ - x||)`` over the steps whose
    oracle was audited, the curvature along the step over ``L`` for momentum and segment
    steps on NumPy arrays and PyTorch tensors, not other libraries' arrays
    (:attr:`lfso.monitor.RiskMonitor.secant_ratio`); at most :data:`_LOOSE`, ``MAX_ITER``
    and ``STALLED`` name the oracle's ``L``, that many times
    the curvature every step met, as what slows the run (an ``L`` so large that the steps
    are below the rounding of ``x`` stalls it), not ``max_iter`` or the dtype.
    ``swamped``: a ``PRECISION_LIMIT`` where the gradient's rounding swamps the slope
    along every step tried, which the message names (with ``tol``, and float64 for a
    narrower dtype) in place of the advice on the float range.
    ``rollbacks``: the trial steps the safeguard rolled back on a user's oracle's claim
    (``users_oracle``), which ``MAX_ITER`` and ``STALLED`` name, with ``oracle_advice``
    (what to do, the model's :attr:`~lfso.models.Model._oracle_advice`), as what slows
    the run: a claim that failed, the oracle likely under-estimates the smoothness;
    ``STEP_FAILED`` on a user's oracle adds ``oracle_advice`` too.
    """
    if status is Status.PRECISION_LIMIT and not_smooth:
        return _NOT_SMOOTH
    if status is Status.PRECISION_LIMIT and swamped:
        return _SWAMPED.format(dtype="" if float64 else ", run in float64")
    if status is Status.GRADIENT_MISMATCH and not_smooth:
        return _KINKED
    if status is Status.MAX_ITER and not_smooth:
        return f"Maximum number of iterations reached, and {_COLLAPSED}"
    if status is Status.STALLED and not_smooth:
        return f"Stopped: {_NO_NEW_LOW}, and {_COLLAPSED}"
    message = status.message
    # (the face's name of the gradient, jac, ..., where a message advises lfso.check_grad)
    message = message.replace("grad=grad)", f"grad={spelt('grad')})")
    # (and its names of the gradient, hvp and options in the messages that list them)
    message = message.replace(
        "fun, grad, the oracle, hvp", f"fun, {spelt('grad')}, the oracle, {spelt('hvp')}"
    )
    message = message.replace(
        "(max_rollbacks reached)", f"({spelt_option('max_rollbacks')} reached)"
    )
    if status is Status.STALLED and stalled_by:
        message = message.replace(_NO_NEW_LOW, stalled_by)
    if status is Status.MAX_ITER and half:
        message += (
            f" In {half}, which resolves 3 digits or fewer, the part of a step below the "
            "rounding of x is lost, which slows the run: run in float32 or float64 to go "
            "further (with NumPy data, an x0 of dtype float64 does)."
        )
    if status in (Status.MAX_ITER, Status.STALLED) and secant_ratio <= _LOOSE:
        message += (
            f" Along every step the gradient changed at most {secant_ratio:.2g} times as "
            "fast as the oracle's L allows: an L that much larger than the curvature keeps "
            "the steps that much too short; pass a sharper oracle, or "
            f"{spelt_given('smoothness', repr('auto'))}."
        )
    if status in (Status.MAX_ITER, Status.STALLED) and users_oracle and rollbacks > 0:
        advice = oracle_advice or "check it with lfso.check_oracle, or pass smoothness='auto'"
        message += (
            f" The safeguard rolled back {rollbacks} trial step{'' if rollbacks == 1 else 's'} "
            "whose decrease the oracle claimed and f did not show: the oracle (a user's, not "
            "proven) likely under-estimates the smoothness (the safeguard kept f from "
            f"rising, at the cost of those trials and shorter steps after them); {advice}.".replace(
                "smoothness='auto'", spelt_given("smoothness", "'auto'")
            )
        )
    if status is Status.PRECISION_LIMIT and float64:
        message = message.replace("Run in float64, or rescale the problem", "Rescale the problem")
    if status is Status.STEP_FAILED and users_oracle:
        message = message.replace(
            "The gradient may be wrong (check it),",
            "The oracle (a user's, not proven) may under-estimate the smoothness, or the "
            "gradient may be wrong (check both),",
        )
        if oracle_advice:  # (the claim the user stated: norm=, L0 and L1, smoothness=)
            message += f" For the oracle: {oracle_advice}.".replace(
                "smoothness='auto'", spelt_given("smoothness", "'auto'")
            )
    return message


class History:
    """Columnar per-iteration record: one array per quantity, cheap to append.

    Row ``k`` describes iterate ``x_k``: ``f`` and ``grad_norm`` there, the counters after
    evaluating it, the wall time since the start, the ``step`` (the scalar ``t`` in
    ``x_k = x_{k-1} - t g_{k-1}``), ``L`` and ``R`` that produced it (NaN for ``k = 0``
    and for rules that use no oracle), and ``risk``, the bit mask of the risk indicators
    that fired at this iteration (:data:`lfso.monitor.RISKS`).

    A row is appended as one tuple (one list append per iteration, so a row is in whole or
    not at all, even when an interrupt lands during :meth:`append`); the columns are
    transposed from the rows when read, only the rows appended since the last read.

    The intermediate :class:`Result` a callback receives holds the history as it is at
    that iteration (``len(history) == nit + 1``), in O(1): the run's later rows do not
    show in it, and a row appended to it stays out of the run's.
    """

    columns = ("f", "grad_norm", "step", "L", "R", "nfev", "njev", "noracle", "time", "risk")
    _index: ClassVar[dict[str, int]] = {c: i for i, c in enumerate(columns)}

    def __init__(self) -> None:
        self._rows: list[tuple[float, ...]] = []
        # The columns read so far, as lists (extended from the rows at the next read).
        self._data: dict[str, list[float]] = {c: [] for c in self.columns}
        # A snapshot (_snapshot) shares the rows of the history it was taken from, up to here.
        self._end: int | None = None
        self._source: History | None = None  # (a snapshot's: the run's history it shows)

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
        if self._end is not None:  # (a snapshot: its own rows from now on)
            self._rows, self._end = self._rows[: self._end], None
        self._rows.append((f, grad_norm, step, L, R, nfev, njev, noracle, time, risk))

    def __len__(self) -> int:
        return len(self._rows) if self._end is None else self._end

    def _snapshot(self) -> History:
        """This history as it is now, in O(1): it shares the rows so far, and neither the
        rows appended here later nor those appended to it show in the other."""
        snapshot = History()
        snapshot._rows, snapshot._end = self._rows, len(self)
        snapshot._source = self if self._source is None else self._source
        return snapshot

    def _column(self, column: str) -> list[float]:
        """The column as a list, brought up to date with the rows."""
        values, rows, end = self._data[column], self._rows, len(self)
        done = len(values)
        if done < end:
            position = self._index[column]
            values.extend([row[position] for row in rows[done:end]])
        return values

    def _position(self, column: str) -> int:
        position = self._index.get(column)
        if position is None:
            raise KeyError(f"unknown history column {column!r}; have {self.columns}")
        return position

    def __getitem__(self, column: str) -> np.ndarray:
        self._position(column)
        return np.asarray(self._column(column), dtype=float)

    def __getattr__(self, column: str) -> np.ndarray:
        if column.startswith("_") or column not in History.columns:
            raise AttributeError(column)
        return self[column]

    def last(self, column: str) -> float:
        """The latest value of ``column`` in O(1) (NaN for an empty history)."""
        position, end = self._position(column), len(self)
        return float(self._rows[end - 1][position]) if end else float("nan")

    def as_dict(self) -> dict[str, np.ndarray]:
        """All columns as NumPy arrays."""
        return {c: self[c] for c in self.columns}

    @classmethod
    def from_dict(cls, columns: dict[str, Any]) -> History:
        """A history from column arrays (missing columns are filled with NaN); a column
        that is not one of :attr:`columns` (a misspelt name) is a ``ValueError`` naming it."""
        unknown = sorted(str(c) for c in columns if c not in cls.columns)
        if unknown:
            raise ValueError(
                f"History.from_dict: unknown column(s) {unknown}; the columns are "
                f"{list(cls.columns)}"
            )
        history = cls()
        n = len(next(iter(columns.values()))) if columns else 0
        nan = [math.nan] * n
        lists = []
        for c in cls.columns:
            values = columns.get(c)
            lists.append([float(v) for v in values] if values is not None else nan)
        lengths = {c: len(v) for c, v in zip(cls.columns, lists, strict=True)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"History.from_dict: columns of unequal lengths {lengths}")
        history._rows = list(zip(*lists, strict=True))
        return history

    def save(self, path: str | Path) -> Path:
        """Save the columns as an ``.npz`` archive (no pickle) to exactly ``path``,
        atomically, as :meth:`Result.save` does; returns ``path`` as a ``Path``."""
        return _save_npz(path, self.as_dict())

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Load a history written by :meth:`save`; a ``ValueError`` for any other file."""
        data = _load_npz(path, "History")
        return cls._from_arrays(data, path)

    @classmethod
    def _from_arrays(cls, data: dict[str, np.ndarray], path: Any) -> History:
        names = set(data)
        if not names <= set(cls.columns) or "f" not in names:
            raise ValueError(
                f"History.load: {str(path)!r} is not a history file: it holds "
                f"{sorted(names)[:12]}, expected the columns {list(cls.columns)}"
            )
        lengths = {k: v.shape for k, v in data.items()}
        n = data["f"].shape
        if any(shape != n or len(shape) != 1 for shape in lengths.values()):
            raise ValueError(
                f"History.load: {str(path)!r} has columns of unequal or non-1-D shapes {lengths}"
            )
        for k, v in data.items():
            if not np.issubdtype(v.dtype, np.number) or np.issubdtype(v.dtype, np.complexfloating):
                raise ValueError(f"History.load: {str(path)!r} has column {k!r} of dtype {v.dtype}")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"History({len(self)} rows: {', '.join(self.columns)})"


@dataclass
class Result:
    """Outcome of :func:`lfso.minimize`, with SciPy's field names.

    Attributes
    ----------
    x : array
        The solution: the last iterate when converged, else the best (lowest ``f``) point,
        in the array library of the model's data (a Dask array where the data are Dask
        arrays, whatever ``x0`` was; ``.compute()`` brings it to the client).
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
    skipped : int
        Minibatches skipped because their loss or gradient was not finite
        (``batch_size=``, :func:`lfso.stochastic.minimize_batches`); 0 otherwise.

    Examples
    --------
    >>> import numpy as np, lfso
    >>> res = lfso.minimize(lfso.models.PowerSum(2), np.ones(3))
    >>> res.success, res.status.name
    (True, 'CONVERGED')
    >>> len(res.history.f) == res.nit + 1  # f at x0 and after every step
    True
    >>> bool(res.grad_norm <= 1e-8 * res.history.grad_norm[0])
    True
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
    skipped: int = 0
    # The L-BFGS memory of the run's last step (a rule's ``_memory``: the kept pairs, ``()``
    # where none is kept), ``None`` for a rule that keeps none: SciPy's ``hess_inv``
    # (:func:`lfso.scipy.to_optimize_result`); set for a run of the SciPy face alone.
    _memory: Any = field(default=None, repr=False, compare=False)
    # What the run's RiskWarning advised for each indicator in ``risks`` (``{indicator:
    # advice}``, :meth:`lfso.monitor.RiskMonitor.advice`: a guarded run's differs), for
    # the HTML report's legend; empty where the run did not say (the generic advice).
    _risk_advice: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def success(self) -> bool:
        return self.status.success

    def save(self, path: str | Path) -> Path:
        """Save the result and its history to ``.npz``: arrays plus JSON metadata, no pickle.

        The metadata is standard JSON: a non-finite number (a NaN ``fun``) is written as
        the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` and read back as the float.

        Arrays on another device or library are brought to NumPy first. The archive is
        written to exactly ``path``, whatever its suffix (no ``.npz`` is added; ``.npz``
        is the conventional name), and ``path`` is returned as a ``Path``. The write is
        atomic: a temporary file in the same folder, synced, then renamed over ``path``, so
        a crash or a kill during an overwrite leaves the previous file readable. The
        hand-over file of a guarded result saved there before (``<name>.rollout.json``,
        ``<name>`` the file's whole name: :meth:`lfso.rollout.GuardedResult.save`) is
        removed once the new file is written, so that it is not found beside a result it
        does not describe, and a failed write leaves both as they were.
        A result that holds no point (``x`` is ``None``: the pilot runs of
        :func:`lfso.torch.pilot`, whose parameters are the module's) is a ``ValueError``
        that says to save its history (:meth:`History.save`).
        """
        forget = _forget_handover(Path(path))
        written = _save_npz(path, self._arrays())
        forget()
        return written

    def _arrays(self) -> dict[str, Any]:
        """The arrays :meth:`save` writes (the metadata as a JSON string among them); a
        ``ValueError`` for a result that holds no point."""
        if self.x is None or self.jac is None:
            raise ValueError(
                f"Result.save: this result holds no {'x' if self.x is None else 'jac'} (None: "
                "a pilot run's parameters are the module's); save its history instead, "
                "result.history.save(path)"
            )
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
            "skipped": self.skipped,
            "risk_advice": self._risk_advice,
        }
        meta = {k: v.item() if isinstance(v, np.generic) else v for k, v in meta.items()}
        arrays = {f"history_{k}": v for k, v in self.history.as_dict().items()}
        text = json.dumps(_plain(meta), allow_nan=False)  # (standard JSON: NaN as "NaN")
        arrays.update(x=_host(self.x), jac=_host(self.jac), meta=np.array(text))
        return arrays

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Load a result written by :meth:`save` (``x`` and ``jac`` come back as NumPy).

        Anything else (an empty, truncated or corrupt file, a ``.npy``, a history file,
        metadata that does not describe a result, a history of more rows than ``nit``
        steps record) raises one ``ValueError`` naming the file.
        Where no file is named ``path``, the name with ``.npz`` added is read (earlier
        versions of :meth:`save` added it).
        """
        data = _load_npz(path, "Result")

        def bad(why: str) -> ValueError:
            return ValueError(f"Result.load: {str(path)!r} is not a result file: {why}")

        missing = {"meta", "x", "jac"} - set(data)
        if missing:
            raise bad(f"missing {sorted(missing)} (a History file? use History.load)")
        meta_raw = data.pop("meta")
        if meta_raw.shape != () or meta_raw.dtype.kind != "U":
            raise bad(f"meta is {meta_raw.dtype} of shape {meta_raw.shape}, not a JSON string")
        try:
            meta = json.loads(str(meta_raw))
        except json.JSONDecodeError as exc:
            raise bad(f"meta is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise bad(f"meta must be a JSON object, got {type(meta).__name__}")
        fields = _RESULT_META
        unknown = set(meta) - set(fields)
        defaults = {"rollbacks", "nhev", "risks", "skipped", "risk_advice"}
        missing = set(fields) - set(meta) - defaults
        if unknown or missing:
            raise bad(f"meta has unknown keys {sorted(unknown)}, lacks {sorted(missing)}")
        for key in set(fields) & set(meta):
            if fields[key] == (int, float) and isinstance(meta[key], str):
                meta[key] = _NON_FINITE.get(meta[key], meta[key])  # (written as its string)
            expected = _meta_expected(key, meta[key])
            if expected:
                raise bad(f"meta[{key!r}] = {meta[key]!r}; expected {expected}")
        try:
            status = Status[meta.pop("status")]
        except KeyError:
            raise bad(f"unknown status; expected one of {[s.name for s in Status]}") from None
        x, jac = data.pop("x"), data.pop("jac")
        for name, arr in (("x", x), ("jac", jac)):
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.floating):
                raise bad(f"{name} must be a 1-D float array, got {arr.dtype} {arr.shape}")
        if x.shape != jac.shape:
            raise bad(f"x {x.shape} and jac {jac.shape} differ in shape")
        prefix = "history_"
        if any(not k.startswith(prefix) for k in data):
            raise bad(f"unexpected arrays {sorted(k for k in data if not k.startswith(prefix))}")
        history = History._from_arrays({k[len(prefix) :]: v for k, v in data.items()}, path)
        rows, nit = len(history), meta["nit"]
        most = nit + 1 + (HANDED_OVER in meta["method"])
        if rows > most:
            raise bad(
                f"its history has {rows} rows for nit = {nit}; a run records x0's row and at "
                "most one per step (nit + 1 rows, nit + 2 for a guarded run handed over, "
                "whose fallback starts with a row of its own)"
            )
        advice = meta.pop("risk_advice", {})
        return cls(x=x, jac=jac, status=status, history=history, _risk_advice=advice, **meta)

    def __repr__(self) -> str:
        return (
            f"Result(method={self.method!r}, status={self.status.name}, nit={self.nit}, "
            f"fun={self.fun:.6g}, |jac|={self.grad_norm:.3g}, nfev={self.nfev}, "
            f"njev={self.njev}, noracle={self.noracle})"
        )


def _host(array: Any) -> np.ndarray:
    """An array of any library or device as NumPy on the host."""
    from ._arrays import to_numpy

    return to_numpy(array) if not isinstance(array, np.ndarray) else array


#: What the method name of a guarded run handed over holds (``"lfso -> gd"``).
HANDED_OVER = " -> "

#: Metadata of a saved result: key -> accepted JSON types.
_RESULT_META: dict[str, Any] = {
    "fun": (int, float),
    "nit": int,
    "nfev": int,
    "njev": int,
    "noracle": int,
    "status": str,
    "message": str,
    "method": str,
    "grad_norm": (int, float),
    "rollbacks": int,
    "nhev": int,
    "risks": dict,
    "skipped": int,
    "risk_advice": "advice",
}


#: What a count of a saved result must be.
_COUNT = "an integer >= 0"
#: What a saved result's ``risks`` must be.
_RISKS = (
    'a mapping {indicator: {"count": n, "first": k}} of integers >= 0, each indicator one of '
    "lfso.monitor.RISKS"
)


#: What a saved result's ``risk_advice`` must be.
_ADVICE = "a mapping {indicator: advice} of strings, each indicator one of lfso.monitor.RISKS"


def _meta_expected(key: str, value: Any) -> str | None:
    """What ``meta[key]`` of a saved result must be, where ``value`` is not that; ``None``
    where it is."""
    kinds = _RESULT_META[key]
    if kinds is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else _COUNT
    if kinds is dict:
        return None if _is_risks(value) else _RISKS
    if kinds == "advice":
        ok = isinstance(value, dict) and all(
            k in RISKS and isinstance(v, str) for k, v in value.items()
        )
        return None if ok else _ADVICE
    if kinds is str:
        return None if isinstance(value, str) else "a string"
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if key == "grad_norm":
        return None if ok and not value < 0 else "a number >= 0 (or NaN)"
    return None if ok else "a number"


def _is_risks(value: Any) -> bool:
    """Whether ``value`` is a risk summary ``{indicator: {"count": n, "first": k}}``."""

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    return isinstance(value, dict) and all(
        name in RISKS
        and isinstance(entry, dict)
        and set(entry) == {"count", "first"}
        and all(count(v) for v in entry.values())
        for name, entry in value.items()
    )


#: SciPy's ``status`` of a run its callback stopped (``StopIteration``), as
#: ``scipy.optimize.minimize`` sets it for its own methods and :mod:`lfso.scipy` for lfso's.
SCIPY_CALLBACK_STOP = 99


def status_of(result: Any) -> Status:
    """The :class:`Status` of a :class:`Result`, or of the ``OptimizeResult`` of an
    :mod:`lfso.scipy` method (whose ``status`` is the status's integer, or SciPy's
    :data:`SCIPY_CALLBACK_STOP` for a callback stop)."""
    if isinstance(result.status, Status):
        return result.status
    return Status.CALLBACK_STOP if result.status == SCIPY_CALLBACK_STOP else Status(result.status)


def ran_its_course(tol: float, result: Any) -> bool:
    """Whether a run at ``tol = 0`` (``result``: its result, or a guarded run's) did what
    it was asked: went to the iteration cap, or to the point where the rounding of ``f``
    and its gradient holds it (``STALLED``; for a certified method, ``PRECISION_LIMIT``:
    the dtype cannot certify a further step)."""
    ends = (Status.MAX_ITER, Status.STALLED, Status.PRECISION_LIMIT)
    return tol == 0.0 and result.status in ends


def stop_if_interrupted(result: Result, what: str) -> Result:
    """``result`` as it is, unless its run was interrupted (``KeyboardInterrupt``, status
    ``INTERRUPTED``): then the ``KeyboardInterrupt`` again, with ``result`` as its
    ``.result``, so that a command or a workflow of several runs stops there instead of
    going on, and deciding or measuring, from a run cut short (``what`` names the run)."""
    if result.status is Status.INTERRUPTED:
        error = KeyboardInterrupt(f"{what} was interrupted at iteration {result.nit}")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result
