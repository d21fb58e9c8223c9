"""The desk's log file: where a person finds what the dashboard logged after the screen is gone.

It lives under the user's log directory (``platformdirs``), rotates at :data:`MAX_BYTES` keeping
:data:`BACKUPS` old files, is owner-only (log lines quote the account's orders and fills), and every line passes
:class:`exchange.printable.PrintableFormatter`, so nothing the exchange sent can forge a line or drive the
terminal of whoever reads it with ``cat``. Secrets cannot reach it: a :class:`exchange.secrets.Secret` prints
masked wherever it is formatted.
"""

from __future__ import annotations

import logging
import os
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path

from exchange.printable import PrintableFormatter
from exchange.private_file import OWNER_ONLY

__all__ = ["BACKUPS", "MAX_BYTES", "OwnerOnlyRotatingHandler", "default_log_path", "open_log_file"]

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def default_log_path() -> Path:
    from platformdirs import user_log_path

    return user_log_path("fluxum", appauthor=False) / "fluxum.log"


class OwnerOnlyRotatingHandler(RotatingFileHandler):
    """A rotating handler whose every file, the first and each one after a rollover, is created owner-only."""

    def _open(self) -> TextIOWrapper:
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, OWNER_ONLY)
        os.fchmod(descriptor, OWNER_ONLY)  # a file left by another umask is tightened too
        return os.fdopen(descriptor, "a", encoding=self.encoding, errors=self.errors)


def open_log_file(path: Path | None = None, level: int = logging.INFO) -> OwnerOnlyRotatingHandler | None:
    """The log file's handler, its directory made owner-only; None when it cannot be opened (a read-only home
    must not stop the desk: the failure is logged to the handlers there are)."""
    path = path or default_log_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handler = OwnerOnlyRotatingHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as error:
        logging.getLogger(__name__).warning("no log file at %s: %s", path, error.strerror or error)
        return None
    handler.setLevel(level)
    handler.setFormatter(PrintableFormatter(LINE_FORMAT))
    return handler
