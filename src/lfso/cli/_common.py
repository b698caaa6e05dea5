"""What the commands of ``lfso`` share: the usage error, the checks of option values
before a run, and the parser's help format."""

from __future__ import annotations

import argparse
import contextlib
import decimal
import errno
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import _special, _target
from .._minimize import minimize
from .._registry import METHODS
from ..bench._problems import PROBLEMS, get_problem, nearest_problem

#: The methods ``lfso compare`` runs beside a baseline: lfso's own, from the registry.
LFSO_METHODS = sorted(n for n, m in METHODS.items() if m.family == "lfso")


class UsageError(ValueError):
    """A command-line value that cannot work: the message names the option and the value."""


def _number(text: str) -> float:
    """A number option's value (argparse's ``type=``), parsed as a float64; text that names
    a number float64 cannot hold, nonzero but rounding to 0 (``1e-400``) or finite but
    rounding to inf (``1e400``), is an error that quotes the text as typed."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    try:
        exact = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:  # (float reads some text Decimal does not)
        return value
    if (value == 0.0 and exact != 0) or (math.isinf(value) and exact.is_finite()):
        raise argparse.ArgumentTypeError(
            f"{text} rounds to {value:g} in float64 (a nonzero magnitude must lie between "
            f"{np.finfo(np.float64).smallest_subnormal:.0e} and "
            f"{np.finfo(np.float64).max:.3g})"
        )
    return value


def _integer(option: str, value: int, minimum: int) -> int:
    if value < minimum:
        raise UsageError(f"{option} must be an integer >= {minimum}, got {value}")
    return value


def _tolerance(option: str, value: float, *, table: bool = False) -> float:
    """A relative gradient tolerance: ``0 <= value < 1``, as for :func:`lfso.minimize` (0:
    run to the iteration cap); ``0 < value < 1`` for a ``table`` of gradients to it."""
    if table and not (0.0 < value < 1.0):
        raise UsageError(
            f"{option} must be a number > 0 and < 1 (a fraction of ||g0||; the table counts "
            f"the gradients to it), got {value!r}"
        )
    if not (0.0 <= value < 1.0):
        raise UsageError(
            f"{option} must be a number >= 0 and < 1 (a fraction of ||g0||; 0 runs to the "
            f"iteration cap), got {value!r}"
        )
    return value


def _positive(option: str, value: float, *, below: float = math.inf, what: str = "") -> float:
    if not (0.0 < value < below):
        bound = f" and < {below:g}" if below < math.inf else ""
        raise UsageError(f"{option} must be a finite number > 0{bound}{what}, got {value!r}")
    return value


def _once_each(option: str, names: list[str]) -> None:
    """Raise :class:`UsageError` where ``option`` names an entry twice (its runs would be
    repeated, and a table shows one of them)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UsageError(f"{option} names {name!r} twice; name each once")
        seen.add(name)


def _problem(name: str) -> Any:
    try:
        return get_problem(name)
    except ValueError:
        raise UsageError(
            f"unknown problem {name!r}{nearest_problem(name)}; 'lfso problems' lists the "
            f"names: {', '.join(PROBLEMS)}"
        ) from None


def _writable(option: str, path: str, folder: Path, file: Path | None = None) -> None:
    """Raise :class:`UsageError` unless a file can be created in ``folder`` (and ``file``,
    when it exists, opened for writing): tried with a temporary file named as the atomic
    writer names its own beside ``file`` (so a name too long for the file system shows
    here, before the run), removed at once."""
    prefix = ".lfso-" if file is None else f".{file.name}."
    try:
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
        if file is not None and file.exists():
            with open(file, "a"):
                pass
    except OSError as exc:
        raise _cannot_write(option, path, exc) from None


def _cannot_write(option: str, path: str, exc: OSError) -> UsageError:
    """The :class:`UsageError` of an ``option`` naming a ``path`` that cannot be written."""
    hint = "; expected a shorter name" if exc.errno == errno.ENAMETOOLONG else ""
    return UsageError(f"{option} {path!r}: cannot write there ({exc.strerror}){hint}")


def _output_file(option: str, path: str) -> Path:
    """A file to write during or at the end of a run, checked before the run."""
    if not path.strip():
        raise UsageError(f"{option} {path!r} is empty; expected a file name such as report.html")
    out = Path(path)
    try:  # (a name too long for the file system: an OSError here)
        folder = out.is_dir()
    except OSError as exc:
        raise _cannot_write(option, path, exc) from None
    if folder:
        raise UsageError(f"{option} {path!r} is a folder; expected a file name such as report.html")
    if not out.parent.is_dir():
        raise UsageError(
            f"{option} {path!r}: the folder {str(out.parent)!r} does not exist; create it first"
        )
    if _special(out):  # (/dev/null, a FIFO: written into, nothing created beside it)
        if not os.access(out, os.W_OK):
            raise UsageError(f"{option} {path!r}: cannot write there (Permission denied)")
        return out
    target = _target(out)  # (the file a symbolic link leads to is the one replaced)
    if not target.parent.is_dir():
        raise UsageError(
            f"{option} {path!r} is a symbolic link to {str(target)!r}, whose folder does not "
            "exist; create it first"
        )
    _writable(option, path, target.parent, target)
    return out


@contextlib.contextmanager
def _output_folder(option: str, path: str) -> Iterator[Path]:
    """A folder to write into at the end of a run: created (or checked) before the run, and
    the folders it created removed again (where still empty) if the run fails or is
    interrupted, so that none is left behind empty."""
    if not path.strip():
        raise UsageError(f"{option} {path!r} is empty; expected a folder name such as bench-out")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option} {path!r} is a file; expected a folder (created if missing)")
    created = [p for p in (out, *out.parents) if not p.exists()]  # (the deepest first)
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"{option} {path!r}: cannot create the folder ({exc.strerror})"
            ) from None
        _writable(option, path, out)
        yield out
    except BaseException:
        for folder in created:  # (rmdir: never a folder that something was written into)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _files_in(option: str, path: str, folder: Path, names: tuple[str, ...]) -> None:
    """Raise :class:`UsageError` where a file the command writes into ``folder`` (the
    ``option``'s ``path``) under one of ``names`` is a folder there: checked before the run,
    not at its end."""
    for name in names:
        if (folder / name).is_dir():
            raise UsageError(
                f"{option} {path!r} holds a folder named {name}, the file written there; "
                f"remove it or choose another {option}"
            )


def _problems_with_oracle(count: int) -> str:
    """The first ``count`` problems with a hand-made oracle, for an error that asks for one."""
    names = [name for name, problem in PROBLEMS.items() if problem.has_oracle]
    return f"{', '.join(names[:count])}, ... ('lfso problems' lists them all)"


def _oracle_for(flag: str, method: str, problem: Any, oracle: str | None = None) -> None:
    """Raise :class:`UsageError` where ``method`` (named by ``flag``) sizes its steps by a
    hand-made oracle, estimating none, and ``problem`` has none; or where an ``--oracle``
    is named for a ``method`` that uses none (it would be ignored)."""
    entry = METHODS.get(method)
    if entry is not None and oracle is not None and not entry.needs_oracle:
        users = ", ".join(sorted(n for n, m in METHODS.items() if m.needs_oracle))
        raise UsageError(
            f"--oracle {oracle} applies to the methods that use an oracle ({users}); "
            f"{flag} {method} uses none: leave --oracle out"
        )
    if entry is None or not entry.needs_oracle or entry.estimates or problem.has_oracle:
        return
    estimating = " or ".join(sorted(n for n, m in METHODS.items() if m.estimates))
    raise UsageError(
        f"{flag} {method} sizes its steps by a hand-made oracle, which {problem.name} does "
        f"not have; choose a method that estimates one ({estimating}), or a problem with "
        f"an oracle: {_problems_with_oracle(4)}"
    )


def _with_oracle(problem: Any, oracle: str | None) -> tuple[Any, np.ndarray]:
    """``problem``'s model and ``x0`` with the ``--oracle`` named (``None``: the sharp one);
    an oracle the problem does not have is a :class:`UsageError`."""
    if oracle is not None and not problem.has_oracle:
        raise UsageError(
            f"--oracle {oracle} does not apply to {problem.name}: it has no hand-made oracle "
            f"(its runs estimate one); drop --oracle, or pick a problem with an oracle: "
            f"{_problems_with_oracle(4)}"
        )
    if oracle == "paper" and problem.family == "robust":
        raise UsageError(
            f"--oracle paper does not apply to {problem.name}: the paper has no oracle for "
            "this function; its only oracle is lfso's (--oracle sharp, the default)"
        )
    model, x0 = problem.make(oracle or "sharp")
    return model, x0


def _check_run(flag: str, model: Any, x0: np.ndarray, options: dict[str, Any]) -> None:
    """``options`` checked by :func:`lfso.minimize` itself, on a run of no step (one
    evaluation at ``x0``), so that a bad value is reported before anything is printed."""
    try:
        minimize(model, x0, max_iter=0, progress=False, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{flag}: {exc}") from None


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: ...)`` to every option's help, except flags and empty defaults
    (``None``, ``[]``, ``""``: the help states what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = action.default
        if default is False or default is argparse.SUPPRESS or default in (None, "", [], ()):
            return action.help or ""
        if isinstance(default, list | tuple):  # as typed on the command line
            return f"{action.help} (default: {' '.join(str(v) for v in default)})"
        return super()._get_help_string(action) or ""


def _oracle(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument(
        "--oracle",
        choices=["sharp", "paper"],
        default=None,
        help=f"{text} (default: sharp; problems without a hand-made oracle take none)",
    )
