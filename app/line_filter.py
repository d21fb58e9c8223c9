"""The dashboard's last guard before the terminal: every rendered line loses its terminal controls and links.

Widgets already show untrusted text through :func:`exchange.printable.printable` and never as markup; this
filter covers what they cannot see: Textual's own widgets (toasts, the command palette, inputs, data tables)
and any string that reaches a segment by a path nobody thought of. Textual strips only a few C0 codes (BEL,
BS, VT, FF, CR) and passes ESC, C1 and bidi controls through to the terminal. The desk shows no hyperlinks, so
a link on a segment can only have come from data and is dropped too.

It deletes zero-width code points only, so a laid-out line keeps its width; Textual caches a filtered strip,
so each line is looked at once per change, not once per frame.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from exchange.printable import strip_controls

__all__ = ["ControlFilter", "printable_segments"]


def _clean(segment: Segment) -> bool:
    style = segment.style
    return segment.text.isprintable() and (style is None or not style.link)


def printable_segments(segments: Iterable[Segment]) -> list[Segment]:
    """``segments`` without terminal controls in their text and without hyperlinks; line breaks (a rendered
    report's) and control segments (Textual's own cursor moves) pass."""
    filtered: list[Segment] = []
    for text, style, control in segments:
        if control:
            filtered.append(Segment(text, style, control))
            continue
        if style is not None and style.link:
            style = style.update_link(None)
        text = "\n".join(map(strip_controls, text.split("\n")))
        if text:
            filtered.append(Segment(text, style))
    return filtered


class ControlFilter(LineFilter):
    """Deletes ESC, C0/C1, bidi and zero-width controls from every segment, and drops hyperlinks."""

    guards_text = True
    """A widget that builds its strips from printable text without links may skip this filter
    (``widgets.strip_widget``)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if all(map(_clean, segments)):
            return segments
        return printable_segments(segments)
