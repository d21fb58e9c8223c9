"""Reading a file named by a person (an execution history, a config file, the secrets file) with bounded cost.

``/dev/zero`` never ends, a FIFO nobody writes never starts, a directory is no text: only a regular file is read,
and what is read whole is read up to a limit. The file is opened without blocking and checked on what was opened
(not on a name that could be swapped in between).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["SETTINGS_FILE_LIMIT", "FileRefused", "open_regular", "read_bounded"]

SETTINGS_FILE_LIMIT = 1 << 20
"""A config or secrets file is a few lines of TOML; one over 1 MB is not one."""


class FileRefused(OSError):
    """The path is not a regular file, or is larger than the reader takes; ``str()`` says which, in words."""

    def __str__(self) -> str:
        return str(self.strerror)


def open_regular(path: str | Path) -> BinaryIO:
    """The file opened for binary reading; :class:`FileRefused` if it is not a regular file, :class:`OSError`
    as ``open`` raises it otherwise."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device"
        raise FileRefused(0, f"it is {kind}, not a regular file", str(path))
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (:class:`FileRefused` past that)."""
    with open_regular(path) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(0, f"it is larger than {_size(limit)}", str(path))
    return data


def _size(count: int) -> str:
    return f"{count >> 20} MB" if count >= 1 << 20 else f"{count >> 10} KB" if count >= 1 << 10 else f"{count} bytes"
