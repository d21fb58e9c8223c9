"""Each look sent to the terminal once: Textual's frames rewritten to change only what the next cell's style changes.

Textual writes every segment as ``ESC[<whole style>m text ESC[0m``: a ladder row of six coloured cells sends six
whole truecolor styles (``38;2;r;g;b;48;2;r;g;b``, about 40 bytes) and six resets, although the background never
changes along the row. Half the bytes the desk sends are such styles. :class:`StyleDelta` follows the style the
terminal has and the style the next text wants, and sends only the difference when text comes: nothing when it is
the same look, one colour when only the foreground moved, a reset only when an attribute must go. The screen is
the same cell for cell; only the bytes drawing it shrink.

Cursor moves do not touch the style, so they pass without it; anything else (text, erasing, hyperlinks, modes
this module does not know) is sent with the terminal already in the wanted style. At the end of every write the
terminal is left in the style the written text asked for, as Textual would have left it, so nothing written
outside a frame (the exit, a suspend) sees another style.
"""

from __future__ import annotations

import re
from typing import Final

from rich.color import ColorSystem
from rich.style import Style
from textual.strip import Strip

__all__ = ["FROM_PLAIN", "StyleChanges", "StyleDelta"]

_SGR: Final = re.compile(r"\x1b\[([0-9;:]*)m")
"""A Select Graphic Rendition sequence; its parameters are the group."""
_MOVES_ONLY: Final = re.compile(r"(?:\x1b\[[0-9;]*[Hf])*")
"""Cursor positioning alone, which neither reads nor changes the style."""

_Look = tuple[str, ...]
"""A style as slots: the attribute flags, then the foreground, background and underline colour parameters."""

_FLAGS: Final = {
    "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "8": 7, "9": 8, "21": 9, "51": 10, "52": 11, "53": 12,
}  # fmt: skip
"""SGR attribute -> its slot (the attributes Textual writes)."""
_OFF: Final = {"22": (0, 1), "23": (2,), "24": (3, 9), "25": (4, 5), "27": (6,), "28": (7,), "29": (8,), "54": (10, 11)}
_OFF["55"] = (12,)
_FG, _BG, _UL = len(_FLAGS), len(_FLAGS) + 1, len(_FLAGS) + 2
_PLAIN: Final[_Look] = ("",) * (len(_FLAGS) + 3)
_FLAG_CODES: Final = tuple(code for code, _ in sorted(_FLAGS.items(), key=lambda item: item[1]))
_CACHE_LIMIT: Final = 4096
FROM_PLAIN: Final = "\x1b[0m"
"""How a text that sets its own styles from a plain terminal begins (:meth:`StyleDelta.encode` passes it)."""


class _Unknown(Exception):
    """SGR parameters outside what this module models: sent as they are."""


def _apply(look: _Look, params: str) -> _Look:
    """``look`` after the SGR ``params``; raises :class:`_Unknown` for anything it does not model."""
    slots = list(look)
    codes = params.split(";") if params else ["0"]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in ("", "0"):
            slots = list(_PLAIN)
        elif code in _FLAGS:
            slots[_FLAGS[code]] = code
        elif code in _OFF:
            for slot in _OFF[code]:
                slots[slot] = ""
        elif code in ("38", "48", "58"):
            kind = codes[i + 1] if i + 1 < len(codes) else ""
            width = 5 if kind == "2" else 3 if kind == "5" else 0
            if not width or i + width > len(codes):
                raise _Unknown(params)
            slots[{"38": _FG, "48": _BG, "58": _UL}[code]] = ";".join(codes[i : i + width])
            i += width - 1
        elif code == "39" or code == "49" or code == "59":
            slots[{"39": _FG, "49": _BG, "59": _UL}[code]] = ""
        elif code.isdigit() and (30 <= int(code) <= 37 or 90 <= int(code) <= 97):
            slots[_FG] = code
        elif code.isdigit() and (40 <= int(code) <= 47 or 100 <= int(code) <= 107):
            slots[_BG] = code
        else:
            raise _Unknown(params)
        i += 1
    return tuple(slots)


def _change(have: _Look, want: _Look) -> str:
    """The shortest plain way from ``have`` to ``want``: a reset when an attribute must go, else what differs."""
    if want == _PLAIN:
        return "\x1b[0m"
    dropped = any(h and not w for h, w in zip(have[:_FG], want[:_FG], strict=True))
    base = _PLAIN if dropped else have
    codes = ["0"] if dropped else []
    codes += [code for slot, code in enumerate(want[:_FG]) if code and not base[slot]]
    for slot, default in ((_FG, "39"), (_BG, "49"), (_UL, "59")):
        if want[slot] != base[slot]:
            codes.append(want[slot] or default)
    return f"\x1b[{';'.join(codes)}m"


class StyleDelta:
    """Rewrites a stream of terminal output so that each SGR change is sent once, when text needs it."""

    def __init__(self) -> None:
        self._have: _Look | None = None
        """The terminal's style; None when unknown (at first, after another writer, or after SGR parameters this
        module does not model)."""
        self._want: _Look | None = _PLAIN
        """The style the text asks for; None while SGR parameters this module does not model are in force."""
        self._looks: dict[tuple[_Look, str], _Look] = {}
        self._changes: dict[tuple[_Look | None, _Look], str] = {}

    def encode(self, text: str) -> str:
        """``text`` with its styles sent as changes; the terminal ends in the style ``text`` leaves. A text that
        begins with a reset sets every style itself (the desk's frames are written as changes already,
        :class:`StyleChanges`): it passes as it is."""
        if text.startswith(FROM_PLAIN):
            self._passed(text)
            return text
        parts = _SGR.split(text)
        if len(parts) == 1:
            return text  # every write ends with the terminal in the wanted style: nothing to change
        out: list[str] = []
        for index, part in enumerate(parts):
            if index % 2:
                self._want_style(part, out)
            elif part:
                if not _MOVES_ONLY.fullmatch(part):
                    out.append(self._sync())
                out.append(part)
        out.append(self._sync())
        return "".join(out)

    def _passed(self, text: str) -> None:
        """The terminal took ``text`` as it is: it now has the style of the last reset and the SGRs after it."""
        look = _PLAIN
        try:
            for params in _SGR.findall(text, text.rfind(FROM_PLAIN) + len(FROM_PLAIN)):
                look = _apply(look, params)
        except _Unknown:
            self._have = self._want = None
            return
        self._have = self._want = look

    def reset(self) -> None:
        """The terminal's style is no longer known (another writer, a new terminal): the next text sets it whole."""
        self._have = None

    def _want_style(self, params: str, out: list[str]) -> None:
        want = self._want
        if want is None and params not in ("", "0"):
            out.append(f"\x1b[{params}m")  # on top of a style not modelled: sent as it is
            return
        key = (want or _PLAIN, params)
        look = self._looks.get(key)
        if look is None:
            try:
                look = _apply(key[0], params)
            except _Unknown:
                out.append(self._sync())
                out.append(f"\x1b[{params}m")
                self._have = self._want = None  # not modelled: sent as it is, and the next style starts afresh
                return
            if len(self._looks) >= _CACHE_LIMIT:
                self._looks.clear()
            self._looks[key] = look
        self._want = look

    def _sync(self) -> str:
        have, want = self._have, self._want
        if have == want or want is None:
            return ""
        key = (have, want)
        change = self._changes.get(key)
        if change is None:
            change = _change(have, want) if have is not None else _change(_PLAIN, want).replace("\x1b[", "\x1b[0;", 1)
            if change == "\x1b[0;0m":
                change = "\x1b[0m"
            if len(self._changes) >= _CACHE_LIMIT:
                self._changes.clear()
            self._changes[key] = change
        self._have = want
        return change


class StyleChanges:
    """What to send between two segments' styles, as :class:`StyleDelta` would leave it: a renderer that knows
    each segment's rich ``Style`` writes its frame as changes in the first place, and the writer has fewer styles
    to read. ``None`` is the plain look the terminal has after a reset."""

    def __init__(self, color_system: ColorSystem) -> None:
        self.colors = color_system
        self._looks: dict[Style, _Look | None] = {}
        self._changes: dict[tuple[Style | None, Style | None], str] = {}

    def change(self, have: Style | None, want: Style | None) -> str:
        """The SGR that takes the terminal from ``have`` to ``want`` ("" when they look the same)."""
        key = (have, want)
        change = self._changes.get(key)
        if change is None:
            if len(self._changes) >= _CACHE_LIMIT:
                self._changes.clear()
                self._looks.clear()
            change = self._changes[key] = self._compute(have, want)
        return change

    def _look(self, style: Style | None) -> _Look | None:
        """``style`` as slots, or None when its SGR holds what this module does not model."""
        if style is None:
            return _PLAIN
        if style not in self._looks:
            try:
                self._looks[style] = _apply(_PLAIN, Strip.render_ansi(style, self.colors) or "0")
            except _Unknown:
                self._looks[style] = None
        return self._looks[style]

    def _compute(self, have: Style | None, want: Style | None) -> str:
        have_look, want_look = self._look(have), self._look(want)
        if want_look is None:  # not modelled: from a reset, whole
            return f"\x1b[0;{Strip.render_ansi(want, self.colors)}m" if want is not None else "\x1b[0m"
        if have_look is None:
            return _change(_PLAIN, want_look).replace("\x1b[", "\x1b[0;", 1).replace("\x1b[0;0m", "\x1b[0m")
        return "" if have_look == want_look else _change(have_look, want_look)
