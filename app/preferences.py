"""What the desk remembers between runs (the theme chosen in the palette), in a small owner-only JSON file under
the user's state directory.

The file is the user's, but still read as untrusted input: a missing, unreadable, oversized or malformed file,
or a theme this version does not know, is ignored with a log line. A start is never stopped by it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from exchange.printable import printable
from exchange.private_file import write_private
from exchange.regular_file import read_bounded

__all__ = ["MAX_BYTES", "default_preferences_path", "load_theme", "save_theme"]

log = logging.getLogger(__name__)

MAX_BYTES = 4096
MAX_THEME_NAME = 64


def default_preferences_path() -> Path:
    from platformdirs import user_state_path

    return user_state_path("fluxum", appauthor=False) / "preferences.json"


def load_theme(path: Path | None = None) -> str | None:
    """The remembered theme's name, or None (nothing remembered, or a file that cannot be trusted)."""
    path = path or default_preferences_path()
    try:
        values = orjson.loads(read_bounded(path, MAX_BYTES))
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as error:
        log.warning("preferences %s ignored: %s", path, getattr(error, "strerror", None) or error)
        return None
    theme = values.get("theme") if isinstance(values, dict) else None
    if not isinstance(theme, str) or not 0 < len(theme) <= MAX_THEME_NAME:
        log.warning("preferences %s ignored: no theme name in it (%s)", path, printable(str(theme), 40))
        return None
    return theme


def save_theme(theme: str, path: Path | None = None) -> None:
    """Remember ``theme``; a failure to write is logged, never raised (the desk goes on with it for this run)."""
    path = path or default_preferences_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, lambda file: file.write(orjson.dumps({"theme": theme}).decode()))
    except OSError as error:
        log.warning("theme not remembered in %s: %s", path, error.strerror or error)
