"""What the desk remembers between runs (the theme chosen in the palette, how many ladders it shows), in a small
owner-only JSON file under the user's state directory.

The file is the user's, but still read as untrusted input: a missing, unreadable, oversized or malformed file,
or a value this version does not know, is ignored with a log line. A start is never stopped by it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from exchange.printable import printable
from exchange.private_file import write_private
from exchange.regular_file import read_bounded

__all__ = [
    "LADDER_COUNTS",
    "MAX_BYTES",
    "default_preferences_path",
    "load_ladders",
    "load_theme",
    "save_ladders",
    "save_theme",
]

log = logging.getLogger(__name__)

MAX_BYTES = 4096
MAX_THEME_NAME = 64
LADDER_COUNTS = (1, 2, 4)
"""The ladder layouts the view key cycles through."""

Values = dict[str, object]


def default_preferences_path() -> Path:
    from platformdirs import user_state_path

    return user_state_path("fluxum", appauthor=False) / "preferences.json"


def _load(path: Path, *, quiet: bool = False) -> Values:
    """Every remembered value, or none (nothing remembered, or a file that cannot be trusted: logged)."""
    try:
        values = orjson.loads(read_bounded(path, MAX_BYTES))
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as error:
        if not quiet:
            log.warning("preferences %s ignored: %s", path, getattr(error, "strerror", None) or error)
        return {}
    if not isinstance(values, dict):
        if not quiet:
            log.warning("preferences %s ignored: not a JSON object", path)
        return {}
    return values


def _save(name: str, value: object, path: Path) -> None:
    """Remember ``value`` under ``name``, keeping the other values; a failure to write is logged, never raised
    (the desk goes on with it for this run)."""
    values = {**_load(path, quiet=True), name: value}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, lambda file: file.write(orjson.dumps(values).decode()))
    except OSError as error:
        log.warning("%s not remembered in %s: %s", name, path, error.strerror or error)


def load_theme(path: Path | None = None) -> str | None:
    """The remembered theme's name, or None (nothing remembered, or a file that cannot be trusted)."""
    path = path or default_preferences_path()
    values = _load(path)
    if "theme" not in values:
        return None
    theme = values["theme"]
    if not isinstance(theme, str) or not 0 < len(theme) <= MAX_THEME_NAME:
        log.warning("preferences %s ignored: no theme name in it (%s)", path, printable(str(theme), 40))
        return None
    return theme


def save_theme(theme: str, path: Path | None = None) -> None:
    """Remember ``theme``."""
    _save("theme", theme, path or default_preferences_path())


def load_ladders(path: Path | None = None) -> int:
    """How many ladders the desk last showed side by side (one of :data:`LADDER_COUNTS`), 1 when none is."""
    path = path or default_preferences_path()
    count = _load(path).get("ladders", 1)
    if type(count) is not int or count not in LADDER_COUNTS:  # (not a bool, not 2.0)
        log.warning("preferences %s: ladders %s ignored (1, 2 or 4)", path, printable(str(count), 20))
        return 1
    return count


def save_ladders(count: int, path: Path | None = None) -> None:
    """Remember how many ladders the desk shows."""
    _save("ladders", count, path or default_preferences_path())
