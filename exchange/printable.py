"""Untrusted text made safe to show: what the exchange, a relay or a file says never drives the terminal.

A coin name, a symbol, a ``retMsg``, an order link id or an HTML error page can hold ESC sequences (an OSC 52
clipboard write, an OSC 0 window title, an OSC 8 hyperlink), C1 controls that some terminals obey as ESC, a
newline that forges a line of output, bidi overrides that show text in another order than it is stored, or
zero-width characters that hide part of it. Every output path (widgets, notifications, stdout, stderr, logs)
passes such strings through one of these functions; the data itself (symbols, ids) is kept exactly as the
exchange sent it, since it is sent back and used as keys.

* :func:`printable`: one line for a person, every unprintable code point replaced (U+FFFD, whitespace by a
  space, so no field can break a line), capped in length.
* :func:`printable_lines`: the same for text whose newlines are meant (a log record with its traceback, a
  stream of output lines).
* :func:`strip_controls`: deletes the zero-width code points a terminal would act on without changing the
  width of what is drawn, for output that is already laid out (the dashboard's rendered lines).
* :func:`escape_json_controls`: JSON text with those code points escaped, so a JSON line keeps the exact data
  and is still inert on a terminal.
"""

from __future__ import annotations

import logging
import re

__all__ = [
    "MAX_CHARS",
    "REPLACEMENT",
    "PrintableFormatter",
    "escape_json_controls",
    "printable",
    "printable_lines",
    "strip_controls",
]

MAX_CHARS = 256
"""The longest untrusted field shown (a symbol is ~20 characters, a ``retMsg`` a sentence)."""
REPLACEMENT = "\ufffd"
"""Stands where an unprintable code point was, so tampering shows instead of vanishing."""
ELLIPSIS = "…"

TERMINAL_CONTROLS = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0, DEL, C1 (ESC, CSI, OSC, ST...)
    "\u061c\u180e\u200b-\u200f"  # Arabic letter mark, Mongolian vowel separator, zero-width, LRM, RLM
    "\u2028-\u202e"  # line and paragraph separators, bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format controls
    "\ufeff\ufff9-\ufffb"  # byte order mark, interlinear annotation
    "\ud800-\udfff"  # lone surrogates (no encoding can write them)
    "\U000e0000-\U000e007f"  # tag characters
    "]"
)
"""Zero-width code points a terminal acts on or that hide or reorder text."""


def _printable_char(char: str) -> str:
    if char.isprintable():
        return char
    return " " if char.isspace() else REPLACEMENT


def printable(text: str, limit: int | None = MAX_CHARS) -> str:
    """``text`` as one printable line: every code point ``str.isprintable`` refuses (controls, format and
    bidi characters, separators, surrogates, unassigned) replaced, whitespace by a space; longer than ``limit``
    characters it is cut and ends in an ellipsis. Printable text within the limit comes back unchanged."""
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + ELLIPSIS
    if text.isprintable():
        return text
    return "".join(map(_printable_char, text))


def printable_lines(text: str) -> str:
    """``text`` with its newlines kept and every line made :func:`printable` (no length cap)."""
    if text.isprintable():
        return text
    return "\n".join(printable(line, None) for line in text.split("\n"))


def strip_controls(text: str) -> str:
    """``text`` without :data:`TERMINAL_CONTROLS`: those take no cell on screen, so deleting them keeps a laid
    out line's width while no ESC, C1 control, bidi override or lone surrogate reaches the terminal."""
    if text.isprintable():
        return text
    return TERMINAL_CONTROLS.sub("", text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # JSON spells an astral code point as its UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def escape_json_controls(json_text: str) -> str:
    """Serialized JSON with every :data:`TERMINAL_CONTROLS` code point written as a ``\\uXXXX`` escape.

    Outside strings JSON text is plain ASCII, so every such code point is inside a string, where the escape
    means the same character: a parser reads the exact data back.
    """
    if json_text.isprintable():
        return json_text
    return TERMINAL_CONTROLS.sub(_json_escape, json_text)


class PrintableFormatter(logging.Formatter):
    """Log lines whose message is one printable line and whose traceback keeps its lines, each printable: a
    message quoting the exchange can neither drive the terminal nor forge another log line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record), None)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return printable_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return printable_lines(super().formatStack(stack_info))
