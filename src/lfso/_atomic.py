"""Files replaced in one step: a report, a table or a figure is either the old file or the
new one, never half of the new one.

The content goes to a temporary file in the target's folder, is flushed and synced to
disk, and is renamed over the target (``os.replace``, atomic on POSIX and Windows), so a
crash, a full disk or a kill during the write leaves the previous file as it was and no
temporary file behind. The file keeps the mode of the one it replaces; a new one gets the
mode ``open()`` would give it (``0o666`` under the umask). A symbolic link stays a link:
the file it leads to is replaced. A device or a FIFO (``/dev/null``) is written into, as
``open()`` would: renaming a file over it would replace the device itself.

Two files that belong together (a result and the file that describes it,
:func:`write_together`) are both written to temporary files, then moved; where the second
move fails, the first is put back as it was.

A file that grows during a run (a log, :class:`GrowingFile`) is written the same way, in
pieces: beside the target under a name that says what it is, moved over the target when
it is closed.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
import weakref
from pathlib import Path
from typing import Any

__all__ = ["GrowingFile", "write_atomically", "write_figure", "write_together"]


def write_atomically(path: str | Path, data: str | bytes, *, sync: bool = True) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to exactly ``path``, atomically.

    ``sync=False`` leaves out the sync to disk (a page rewritten every few seconds, which
    a crash may leave old but never half-written). Returns ``path`` as a
    :class:`~pathlib.Path`. Raises the ``OSError`` of the write (the target untouched, the
    temporary file removed), naming ``path`` (not the temporary file): an
    ``IsADirectoryError`` where ``path`` is a folder, a ``FileNotFoundError`` where its
    folder does not exist.
    """
    path = _writable(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _special(path):  # (/dev/null, a FIFO: written into, never replaced)
        with open(path, "wb") as fh:
            fh.write(raw)
        return path
    tmp, target = _stage(path, raw, sync)
    _move(tmp, target, path)
    return path


def write_together(
    first: str | Path, first_data: str | bytes, second: str | Path, second_data: str | bytes
) -> None:
    """Write two files that belong together (a result and the file beside it that
    describes it) as :func:`write_atomically` writes one: both to temporary files first,
    then ``first`` moved over its name, then ``second``; where a write or a move fails,
    both are left as they were (``first``, read before, is written back where
    ``second``'s move fails: keep it the small one). Raises the ``OSError`` naming the
    file it is of. A device or a FIFO among them is written into, one after the other."""
    paths = [_writable(first), _writable(second)]
    raws = [d.encode("utf-8") if isinstance(d, str) else d for d in (first_data, second_data)]
    if any(_special(p) for p in paths):
        for p, raw in zip(paths, raws, strict=True):
            write_atomically(p, raw)
        return
    one, two = paths
    tmp1, target1 = _stage(one, raws[0], True)
    try:
        tmp2, target2 = _stage(two, raws[1], True)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp1)
        raise
    try:
        before = target1.read_bytes() if target1.is_file() else None
    except BaseException as exc:
        for tmp in (tmp1, tmp2):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise naming(exc, one) if isinstance(exc, OSError) else exc from None
    try:
        _move(tmp1, target1, one)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp2)
        raise
    try:
        _move(tmp2, target2, two)
    except BaseException:
        if before is None:
            target1.unlink(missing_ok=True)
        else:
            write_atomically(one, before)
        raise


def _stage(path: Path, raw: bytes, sync: bool) -> tuple[str, Path]:
    """``raw`` written to a temporary file beside the file a write to ``path`` replaces
    (synced where ``sync``), with that file's mode, or the mode a new file gets: the
    temporary file and that target. Raises the ``OSError`` naming ``path``, the temporary
    file removed."""
    target = _target(path)
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # (a folder that cannot be written: name the target)
        raise naming(exc, path) from None
    try:
        os.chmod(tmp, mode)  # (mkstemp makes the file private, 0600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # (a full disk, ...: name the target, not the temporary)
            raise naming(exc, path) from None
        raise
    return tmp, target


def _move(tmp: str, target: Path, path: Path) -> None:
    """Rename the temporary file ``tmp`` over ``target`` (the file a write to ``path``
    replaces); where that fails, ``tmp`` is removed and the ``OSError`` names ``path``."""
    try:
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise naming(exc, path) from None
        raise


def naming(exc: OSError, path: Path) -> OSError:
    """``exc`` as the same error naming ``path`` alone (not the temporary file): a new one
    of its class, as ``open(path)`` would raise it (``[Errno 28] No space left on device:
    'report.html'``; setting ``filename2`` to ``None`` would print ``'report.html' ->
    None``); ``exc`` itself, with ``filename`` set, where it has no error number."""
    if exc.errno is None or exc.strerror is None:
        exc.filename = str(path)
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def _special(path: Path) -> bool:
    """Whether ``path`` is something other than a file or a folder: a device such as
    ``/dev/null`` or a FIFO, which a write goes into (renaming a file over it would
    replace the device itself)."""
    try:
        kind = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(kind) or stat.S_ISDIR(kind))


def _target(path: Path) -> Path:
    """The file a write to ``path`` replaces: ``path``, or the file a symbolic link at
    ``path`` leads to (the link stays a link)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _writable(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path`; an ``IsADirectoryError`` where it is a folder, a
    ``FileNotFoundError`` where its folder does not exist, or the folder of the file a
    symbolic link at ``path`` leads to (each naming ``path``)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "is a folder; expected the path of a file to write", str(path)
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot write there: the folder {str(path.parent)!r} does not exist",
            str(path),
        )
    target = _target(path)
    if not target.parent.is_dir():  # (a symbolic link into a folder that does not exist)
        raise FileNotFoundError(
            errno.ENOENT,
            f"cannot write there: it is a symbolic link to {str(target)!r}, whose folder "
            "does not exist",
            str(path),
        )
    return path


class GrowingFile:
    """A text file written in pieces, that replaces ``path`` atomically when closed.

    The pieces go to ``path`` with ``.part`` appended to its name, in the same folder
    (``run.csv`` grows as ``run.csv.part``), each flushed as it is written, so that the
    file can be watched while it grows. :meth:`close` syncs it to disk and renames it over
    ``path`` (``os.replace``); it has the mode of the file it replaces from the start (a
    private log is never readable by others while it grows). Until then a file
    already at ``path`` is untouched; a process killed before :meth:`close` leaves it so,
    and the ``.part`` file holding the pieces written. One that is dropped without
    :meth:`close` is closed when it is collected, or at the interpreter's exit.

    Raises the ``OSError`` of :func:`write_atomically` for a ``path`` that cannot be
    written (naming ``path``), at construction.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = _writable(path)
        special = _special(self.path)  # (/dev/null, a FIFO: written into directly)
        target = self.path if special else _target(self.path)
        self.partial = target if special else target.with_name(target.name + ".part")
        try:
            self._fh = (
                open(self.partial, "w", newline="", encoding="utf-8")
                if special
                else (_open_partial(self.partial, target))
            )
        except OSError as exc:  # (a folder that cannot be written: name the target)
            raise naming(exc, self.path) from None
        self._close = weakref.finalize(self, _publish, self._fh, self.partial, target)

    def write(self, text: str) -> None:
        """Append ``text`` and flush it to the ``.part`` file; a ``ValueError`` naming
        ``path`` once the file is closed (moved over ``path``)."""
        if not self._close.alive:
            raise ValueError(
                f"{str(self.path)!r} is closed (written and moved over its path): it takes "
                "no more text; open a new one to write again"
            )
        self._fh.write(text)
        self._fh.flush()

    def close(self) -> None:
        """Move the file over ``path`` (once: later calls do nothing)."""
        self._close()


def _open_partial(partial: Path, target: Path) -> Any:
    """``partial`` opened for text, emptied, with the mode of the file ``target`` from the
    start (a private log's pieces are never readable by others; a ``.part`` file left by
    an earlier run is given that mode before anything is written), or the mode ``open()``
    gives a new file where there is none. A symbolic link at ``partial`` is removed, not
    followed (the file it leads to is left as it is)."""
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
    if partial.is_symlink():  # (never followed: emptying and filling the file it leads to)
        partial.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(partial, flags, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.chmod(partial, mode)
        return os.fdopen(fd, "w", newline="", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _publish(fh: Any, partial: Path, path: Path) -> None:
    """Sync and close ``fh``, the file at ``partial``, and rename it over ``path``."""
    if partial == path:  # (a device or a FIFO, written into)
        fh.close()
        return
    try:
        fh.flush()
        os.fsync(fh.fileno())
    finally:
        fh.close()
    if path.is_file():
        os.chmod(partial, stat.S_IMODE(path.stat().st_mode))
    os.replace(partial, path)


def write_figure(fig: Any, path: str | Path) -> Path:
    """A matplotlib figure written atomically to exactly ``path`` (90 dpi), in the format
    its suffix names where matplotlib knows it (``.pdf``, ``.svg``, ...), PNG otherwise."""
    path = Path(path)
    kind = path.suffix[1:].lower()
    kind = kind if kind in fig.canvas.get_supported_filetypes() else "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=kind, dpi=90)
    return write_atomically(path, buffer.getvalue())


def _umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o22)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask
