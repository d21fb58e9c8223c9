"""Files that hold account data (ledger exports, CSVs) are owner-only, as the journal holding the same data is.

A file is written whole into a new owner-only (0600) file beside the target, then moved over it: the target is
never half-written, and an existing file that group or others could read is replaced by an owner-only one rather
than keeping its old mode. A symbolic link of the user's own is followed, so the file it points to is the one
replaced; a link someone else owns is refused (another user's ``/tmp/ledger.csv`` pointing at the user's
``~/.bashrc``: the kernel refuses such a link to a shell's ``>`` in a shared folder, but a path resolved here
would not be). A target that exists and is not a regular file (``/dev/stdout``, a FIFO) is written in place:
nothing is left on disk.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO, TypeVar

__all__ = ["OWNER_ONLY", "owner_only_creation", "restrict_sqlite_files", "write_private"]

OWNER_ONLY = 0o600


@contextlib.contextmanager
def owner_only_creation() -> Iterator[None]:
    """Every file created inside is owner-only from its first byte, whatever the process's umask (SQLite makes its
    -wal and -shm side files itself, so a chmod afterwards would leave a window)."""
    previous = os.umask(0o777 & ~OWNER_ONLY)
    try:
        yield
    finally:
        os.umask(previous)


def restrict_sqlite_files(path: str) -> None:
    """A SQLite file and its -wal and -shm side files (they hold the same records) made owner-only, as found:
    a file made by an older version, or under another umask, is tightened too."""
    if path == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        side = Path(path + suffix)
        if side.exists():
            side.chmod(OWNER_ONLY)


T = TypeVar("T")


def write_private(path: str | Path, write: Callable[[TextIO], T]) -> T:
    """Call ``write`` with a text file (UTF-8, no newline translation) that becomes ``path``, owner-only.

    Raises :class:`OSError` as ``open`` would (a missing directory, no permission); the target is then unchanged.
    """
    _refuse_foreign_links(Path(path))
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        with open(target, "w", encoding="utf-8", newline="") as file:
            return write(file)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            os.fchmod(file.fileno(), OWNER_ONLY)  # mkstemp already does; say it where it matters
            result = write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return result


MAX_LINK_HOPS = 40
"""As many links as the kernel follows in one path (ELOOP past that)."""


def _refuse_foreign_links(path: Path) -> None:
    """:class:`PermissionError` when ``path`` is, or leads through, a symbolic link its user does not own."""
    user = os.geteuid()
    for _ in range(MAX_LINK_HOPS):
        try:
            status = path.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISLNK(status.st_mode):
            return
        if status.st_uid != user:
            raise PermissionError(1, "it is a symbolic link another user owns: not followed", str(path))
        path = path.parent / os.readlink(path)
