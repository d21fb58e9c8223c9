"""Partial screen updates that start where the change starts.

Textual (8.2.8) sends a changed line from the left edge of each widget it touches to the end of the change: the
span's start is not used to crop (``ChopsUpdate.render_segments``), so a ladder row whose total changed is sent
again from its border, price and size included, and a newline follows every line although every span begins with
a cursor move. :class:`SpanUpdate` sends each span's cells alone, after one cursor move; the screen is the same
(tests/ui/test_terminal_screen.py). :class:`SpanCompositor` is the desk screen's compositor, making them.
"""

from __future__ import annotations

from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate, Compositor

__all__ = ["SpanCompositor", "SpanUpdate"]


class SpanUpdate(ChopsUpdate):
    """A partial update whose every span is sent from its first cell to its last."""

    def render_segments(self, console: Console) -> str:
        sequences: list[str] = []
        append = sequences.append
        move_to = Control.move_to
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                start = max(x, x1)
                if start > x or end > x2:
                    strip = strip.crop(start - x, min(end, x2) - x)
                append(move_to(start, y).segment.text)
                append(strip.render(console))
        return "".join(sequences)


class SpanCompositor(Compositor):
    """Textual's compositor, its partial updates sent span by span (:class:`SpanUpdate`)."""

    def render_partial_update(self) -> ChopsUpdate | None:
        update = super().render_partial_update()
        if update is None:
            return None
        return SpanUpdate(update.chops, update.spans, update.chop_ends)
