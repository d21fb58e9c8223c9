"""Files that hold account data (ledger exports, CSVs) are owner-only, as the journal holding the same data is.

A file is written whole into a new owner-only (0600) file beside the target, then moved over it: the target is
never half-written, and an existing file that group or others could read is replaced by an owner-only one rather
than keeping its old mode. A symbolic link is followed, so the file it points to is the one replaced. A target
that exists and is not a regular file (``/dev/stdout``, a FIFO) is written in place: nothing is left on disk.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

__all__ = ["OWNER_ONLY", "write_private"]

OWNER_ONLY = 0o600

T = TypeVar("T")


def write_private(path: str | Path, write: Callable[[TextIO], T]) -> T:
    """Call ``write`` with a text file (UTF-8, no newline translation) that becomes ``path``, owner-only.

    Raises :class:`OSError` as ``open`` would (a missing directory, no permission); the target is then unchanged.
    """
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
