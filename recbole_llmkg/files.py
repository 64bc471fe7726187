"""Atomic file writes (a reader never sees a half-written file, a crash never leaves one), and
the one content hash of a file (split keys, run keys and checkpoints name files by it).

A write that fails because the folder is read-only, not the user's, or on a full disk raises
:class:`~recbole_llmkg.errors.OutputError` naming the path and the cause ("no space left on
device"), not the temporary file's name or torch's ``unexpected pos 91392 vs 91344`` (its zip
writer's report of a short write).
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from recbole_llmkg.errors import OutputError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}


def output_error(path: str | os.PathLike, error: OSError,
                 fix: str = "Make it writable, or choose another folder.") -> OutputError | None:
    """The one-line error for ``error`` raised while writing ``path`` (a file, or a folder to
    create files in); None when it is not a full disk, a folder that refuses writes or a folder
    in a file's place (anything else is a bug, which keeps its traceback)."""
    path = Path(path)
    cause = (error.strerror or str(error)).lower()
    if error.errno in _FULL:
        return OutputError(
            f"Cannot write '{path}': {cause}. Free space on the disk that holds it, or write to "
            "another disk."
        )
    if error.errno in _REFUSED:
        folder = path if path.is_dir() else path.parent
        return OutputError(
            f"Cannot write '{path}': {cause} (the folder '{folder}' is read-only or not writable "
            f"by you). {fix}"
        )
    if error.errno == errno.EISDIR:
        return OutputError(f"Cannot write '{path}': it is a folder. Give a file name.")
    if error.errno == errno.ENOTDIR or error.errno == errno.EEXIST and not path.is_dir():
        return OutputError(f"Cannot write '{path}': a part of that path is a file, not a "
                           f"folder. {fix}")
    return None


# SQLite's own words (through SQLAlchemy's OperationalError) for the same two causes
_DATABASE_FULL = ("database or disk is full", "disk i/o error")
_DATABASE_REFUSED = ("attempt to write a readonly database", "unable to open database file")


def database_error(path: str | os.PathLike, error: BaseException) -> OutputError | None:
    """:func:`output_error` for an SQLite database file (an Optuna study's storage), whose
    driver reports a full disk or a read-only folder as text, in a 90-line traceback."""
    if isinstance(error, OSError):
        return output_error(path, error)
    text = str(error).lower()
    if any(words in text for words in _DATABASE_FULL):
        return output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    if any(words in text for words in _DATABASE_REFUSED):
        return output_error(path, OSError(errno.EACCES, os.strerror(errno.EACCES)))
    return None


def ensure_writable_folder(folder: str | os.PathLike,
                           fix: str = "Make it writable, or choose another folder.") -> None:
    """Make ``folder`` (and parents) and prove a file can be created in it, before a run spends
    time on work it could not save (an :class:`OutputError` naming the folder otherwise)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise output_error(folder, error, fix) or error from None


class _WatchedFile:
    """A file whose first failed ``write`` or ``flush`` is remembered: torch's zip writer turns
    an ``OSError`` of the file it writes into ``RuntimeError: unexpected pos``."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._file.write(data)
        except OSError as error:
            self.error = self.error or error
            raise

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as error:
            self.error = self.error or error
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, then rename it over ``path``.

    The temp name is unique per call (``tempfile.mkstemp``), so concurrent writers of one path
    never share a temp file; the last rename wins and every reader sees a whole file. The file
    gets the permissions ``open()`` would give it (``0o666`` less the umask), not mkstemp's 0600.
    """
    target = Path(path)
    temp = None
    watched = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            watched = _WatchedFile(f)
            write(watched)  # type: ignore[arg-type]
            watched.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException as error:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        cause = error if isinstance(error, OSError) else watched.error if watched else None
        friendly = output_error(target, cause) if cause is not None else None
        if friendly is not None:
            raise friendly from None
        raise


def current_umask() -> int:
    """The process's umask, read without changing it where the OS tells it (Linux's
    ``/proc/self/status``); elsewhere set and restored at once (``os.umask`` has no getter)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    write_bytes_atomic(path, text.encode(encoding))


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
