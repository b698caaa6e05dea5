"""Files replaced in one step: a report, a table or a figure is either the old file or the
new one, never half of the new one.

The content goes to a temporary file in the target's folder, is flushed and synced to
disk, and is renamed over the target (``os.replace``, atomic on POSIX and Windows), so a
crash, a full disk or a kill during the write leaves the previous file as it was and no
temporary file behind. The file keeps the mode of the one it replaces; a new one gets the
mode ``open()`` would give it (``0o666`` under the umask).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_atomically", "write_figure"]


def write_atomically(path: str | Path, data: str | bytes, *, sync: bool = True) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to exactly ``path``, atomically.

    ``sync=False`` leaves out the sync to disk (a page rewritten every few seconds, which
    a crash may leave old but never half-written). Returns ``path`` as a
    :class:`~pathlib.Path`. Raises the ``OSError`` of the write (the target untouched, the
    temporary file removed), naming ``path`` (not the temporary file): an
    ``IsADirectoryError`` where ``path`` is a folder, a ``FileNotFoundError`` where its
    folder does not exist.
    """
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
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # (a folder that cannot be written: name the target)
        exc.filename, exc.filename2 = str(path), None
        raise
    try:
        os.chmod(tmp, mode)  # (mkstemp makes the file private, 0600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # (a full disk, ...: name the target, not the temporary)
            exc.filename, exc.filename2 = str(path), None
        raise
    return path


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
