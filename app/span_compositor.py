"""Partial screen updates that draw and send only where the change is.

Textual (8.2.8) sends a changed line from the left edge of each widget it touches to the end of the change: the
span's start is not used to crop (``ChopsUpdate.render_segments``), so a ladder row whose total changed is sent
again from its border, price and size included, and a newline follows every line although every span begins with
a cursor move. :class:`SpanUpdate` sends each span's cells alone, after one cursor move.

To draw an update, Textual also renders every widget whose *container* overlaps the changed box, not only the
widgets that do: the connection bar and the footer, children of the screen, were drawn whole for every ladder
frame, and so were the screen and the containers behind the ladder, whose cells the ladder covers.
:class:`SpanCompositor`, the desk screen's compositor, draws the widgets whose own visible part overlaps it and is
not wholly behind a widget already drawn in front. The screen is the same either way
(tests/ui/test_terminal_screen.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip

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
    """Textual's compositor, its partial updates drawn from the widgets they touch and sent span by span."""

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        overlaps = crop.overlaps
        drawn: list[Region] = []
        for widget, (region, clip) in self.visible_widgets.items():  # front to back: the first drawn wins a cell
            seen = region.intersection(clip)
            if not seen or not overlaps(seen):
                continue
            needed = seen.intersection(crop)
            if any(front.contains_region(needed) for front in drawn):
                continue  # behind a widget drawn whole in front of it (a container behind the ladder)
            drawn.append(seen)
            x, y, width, height = seen
            yield region, clip, widget.render_lines(Region(x - region.x, y - region.y, width, height))

    def render_partial_update(self) -> ChopsUpdate | None:
        update = super().render_partial_update()
        if update is None:
            return None
        return SpanUpdate(update.chops, update.spans, update.chop_ends)
