"""One rule for every file Fluxum reads its settings from: a key it does not know is refused by name, with the
close match when there is one. A typo silently ignored would pass for the default (``depht = 200`` watching a
depth of 50, ``[tesnet]`` keys never found)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from exchange.printable import printable

__all__ = ["unknown_key"]

MAX_KEY_SHOWN = 40


def unknown_key(keys: Iterable[str], known: Sequence[str], what: str = "key") -> str | None:
    """The sentence naming the first key not in ``known`` (``"unknown key 'depht' (did you mean 'depth'?)"``),
    or None when every key is known. Only the key's name is quoted, never its value."""
    for key in keys:
        if key in known:
            continue
        close = difflib.get_close_matches(key.lower(), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known {what}s: {', '.join(known)}"
        return f"unknown {what} {printable(key, MAX_KEY_SHOWN)!r} ({hint})"
    return None
