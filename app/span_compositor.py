"""Partial screen updates that draw and send only where the change is.

Textual (8.2.8) sends a changed line from the left edge of each widget it touches to the end of the change: the
span's start is not used to crop (``ChopsUpdate.render_segments``), so a ladder row whose total changed is sent
again from its border, price and size included, and a newline follows every line although every span begins with
a cursor move. :class:`SpanUpdate` sends each span's cells alone, after one cursor move, and each segment's style
as a change from the one before (:class:`app.style_delta.StyleChanges`) instead of whole and then reset.

To draw an update, Textual also renders every widget whose *container* overlaps the box around all the changes,
not only the widgets a change is on: the connection bar and the footer, children of the screen, were drawn whole
for every ladder frame, and so were the screen and the containers behind the ladder, whose cells the ladder
covers; a frame that changed the ladder and the bar drew everything between them. :class:`SpanCompositor`, the
desk screen's compositor, draws the widgets that a change is on, unless what changed there is wholly behind a
widget already drawn in front. The screen is the same either way
(tests/ui/test_terminal_screen.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console, ConsoleOptions, RenderResult
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, Compositor, LayoutUpdate, ReflowResult
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from app.style_delta import FROM_PLAIN, StyleChanges

__all__ = ["SpanCompositor", "SpanUpdate"]


Pieces = list[tuple[str, Style]]
"""Cells as text in one style each, left to right."""


@runtime_checkable
class CellSource(Protocol):
    """A widget that can give the cells of its changed rows itself (:class:`widgets.strip_widget.StripWidget`)."""

    def sends_cells(self) -> bool:
        """Whether its rows can be sent from their cells now (else every change goes through its strips)."""

    def direct_cells(self, row: int, start: int, end: int) -> Pieces | None:
        """Cells ``[start, end)`` of content row ``row``, or None when that row must go through its strip."""


class SpanUpdate(ChopsUpdate):
    """A partial update whose every span is sent from its first cell to its last; then the ``direct`` spans,
    ``(y, x, pieces)``, sent from the cells of the widgets that gave them."""

    def __init__(
        self,
        chops: Sequence[Mapping[int, Strip | None]],
        spans: list[tuple[int, int, int]],
        chop_ends: list[list[int]],
        direct: list[tuple[int, int, Pieces]] | None = None,
    ) -> None:
        super().__init__(chops, spans, chop_ends)
        self.direct = direct or []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.spans:
            yield from super().__rich_console__(console, options)
        for y, x, pieces in self.direct:
            yield Control.move_to(x, y).segment
            for text, look in pieces:
                yield Segment(text, look)

    def render_segments(self, console: Console) -> str:
        sequences: list[str] = [FROM_PLAIN]  # written as changes from a plain terminal: the writer passes it
        append = sequences.append
        changes = _changes(console._color_system or ColorSystem.TRUECOLOR)
        change = changes.change
        render_style = Strip.render_style
        have: Style | None = None
        for y, x, pieces in self.direct:  # (a look with a link, a control: never given as cells)
            append(f"\x1b[{y + 1};{x + 1}H")
            for text, look in pieces:
                if look is not have:
                    append(change(have, look))
                    have = look
                append(text)
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                start = max(x, x1)
                append(f"\x1b[{y + 1};{start + 1}H")  # Control.move_to's sequence, without its objects
                cells = strip if start == x and end <= x2 else _cells(strip, start - x, min(end, x2) - x)
                for text, style, control in cells:  # each style sent as a change from the one before
                    if control:
                        append(text)  # a terminal control in a strip is written as it is (Textual writes it)
                        continue
                    if style is not None and style._link:  # a hyperlink: written whole, as Textual writes it
                        append(change(have, None))
                        append(render_style(style, text, changes.colors))
                        have = None
                        continue
                    if style is not have:
                        append(change(have, style))
                        have = style
                    append(text)
        if have is not None:
            append(change(have, None))  # the terminal left plain, as Textual leaves it
        return "".join(sequences)


_CHANGES: dict[ColorSystem, StyleChanges] = {}


def _changes(colors: ColorSystem) -> StyleChanges:
    """The style changes of one colour system, kept between frames."""
    changes = _CHANGES.get(colors)
    if changes is None:
        changes = _CHANGES[colors] = StyleChanges(colors)
    return changes


def _cells(strip: Strip, start: int, end: int) -> list[Segment]:
    """The segments of ``strip`` from cell ``start`` to cell ``end``, cut as ``Strip.crop`` cuts them (which keeps
    the zero-width segments after the last cell when the cut reaches the strip's end)."""
    cells: list[Segment] = []
    if end <= start:
        return cells
    to_the_end = end >= strip.cell_length
    if start == 0 and to_the_end:
        return list(strip)
    position = 0
    for segment in strip:
        text = segment.text
        width = cell_len(text)
        if position >= end and (width or not to_the_end):
            break
        if position + width > start:
            single = text.isascii() and text.isprintable()  # a cell a character: cut by slicing, as split_cells
            if position < start:
                cut = start - position
                segment = Segment(text[cut:], segment.style, segment.control) if single else segment.split_cells(cut)[1]
                width, position = width - cut, start
            if position + width > end:
                cut = end - position
                segment = (
                    Segment(segment.text[:cut], segment.style, segment.control)
                    if single
                    else segment.split_cells(cut)[0]
                )
            cells.append(segment)
        position += width
    return cells


class SpanCompositor(Compositor):
    """Textual's compositor, its partial updates drawn from the widgets a change is on and sent span by span."""

    def __init__(self) -> None:
        super().__init__()
        self._changes: list[Region] = []
        """The changed regions of the partial update being drawn (its crop is the box around them all)."""
        self._refreshed: dict[Widget, Region] = {}
        """The widgets refreshed since the last update, and where they show: every change is inside one of them
        unless a reflow moved, added or removed a widget (``_reflowed``)."""
        self._reflowed = False
        self._sources_for: object = None
        self._sources: list[tuple[Region, Region, CellSource]] = []

    def update_widgets(self, widgets: set[Widget]) -> None:
        visible = self.visible_widgets
        for widget in visible.keys() & widgets:
            region, clip = visible[widget]
            self._refreshed[widget] = region.intersection(clip)
        super().update_widgets(widgets)

    def reflow(self, parent: Widget, size: Size) -> ReflowResult:
        self._reflowed = True
        return super().reflow(parent, size)

    def reflow_visible(self, parent: Widget, size: Size) -> set[Widget]:
        self._reflowed = True
        return super().reflow_visible(parent, size)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        changes = self._changes
        if crop is None or not changes:
            yield from super()._get_renders(crop)
            return
        refreshed = self._refreshed
        boxes = None if self._reflowed else list(refreshed.values())
        drawn: list[Region] = []
        for widget, (region, clip) in self.visible_widgets.items():  # front to back: the first drawn wins a cell
            seen = region.intersection(clip)
            if not seen or not crop.overlaps(seen):
                continue
            if boxes is None:
                touched = [change.intersection(seen) for change in changes if change.overlaps(seen)]
            elif widget in refreshed:
                touched = [seen.intersection(crop)]
            else:  # every change is inside a refreshed widget: only those on this one may show on it
                touched = [box.intersection(seen) for box in boxes if box.overlaps(seen)]
            if not touched:
                continue  # no change is on it (the bar in a ladder frame)
            if all(any(front.contains_region(piece) for front in drawn) for piece in touched):
                continue  # behind widgets drawn whole in front of it (a container behind the ladder)
            drawn.append(seen)
            x, y, width, height = seen
            yield region, clip, widget.render_lines(Region(x - region.x, y - region.y, width, height))

    def render_full_update(self, simplify: bool = False) -> LayoutUpdate:
        self._forget_refreshes()
        return super().render_full_update(simplify)

    def clear(self) -> None:
        self._forget_refreshes()
        self._sources_for, self._sources = None, []
        super().clear()

    def _forget_refreshes(self) -> None:
        self._refreshed.clear()
        self._reflowed = False

    def render_partial_update(self) -> ChopsUpdate | None:
        direct = self._direct_spans()
        self._changes = list(self._dirty_regions)
        try:
            update = super().render_partial_update()
        finally:
            self._changes = []
            self._forget_refreshes()
        if update is None:
            return SpanUpdate([], [], [], direct) if direct else None
        return SpanUpdate(update.chops, update.spans, update.chop_ends, direct)

    def _direct_spans(self) -> list[tuple[int, int, Pieces]]:
        """The changes inside a cell source shown whole with nothing in front of it, as its cells: they leave the
        dirty regions, so no strip is built, cut or composed for them. A change whose cells the source cannot give
        stays for the strips."""
        dirty = self._dirty_regions
        if not dirty:
            return []
        sources = self._cell_sources()
        direct: list[tuple[int, int, Pieces]] = []
        ready: dict[CellSource, bool] = {}
        for change in list(dirty) if sources else ():
            for box, _, source in sources:
                if not box.contains_region(change):
                    continue
                sends = ready.get(source)
                if sends is None:
                    sends = ready[source] = source.sends_cells()
                if not sends:
                    break
                x, y, width, height = change
                spans = []
                for line in range(y, y + height):
                    pieces = source.direct_cells(line - box.y, x - box.x, x + width - box.x)
                    if pieces is None:
                        break
                    spans.append((line, x, pieces))
                else:
                    direct += spans
                    dirty.discard(change)
                break
        for _, region, source in sources:  # nothing left to draw on it: nor behind it
            if ready.get(source) and isinstance(source, Widget) and not any(map(region.overlaps, dirty)):
                self._refreshed.pop(source, None)
        return direct

    def _cell_sources(self) -> list[tuple[Region, Region, CellSource]]:
        """Each cell source shown whole and in front, with its content box and its region on screen; kept while
        the map stands."""
        visible = self.visible_widgets
        if visible is self._sources_for:
            return self._sources
        sources: list[tuple[Region, Region, CellSource]] = []
        in_front: list[Region] = []
        for widget, (region, clip) in visible.items():  # front to back
            shown_whole = clip.contains_region(region) and not any(map(region.overlaps, in_front))
            if shown_whole and isinstance(widget, CellSource):
                gutter = widget.styles.gutter
                box = Region(region.x + gutter.left, region.y + gutter.top, *widget.size)
                sources.append((box, region, widget))
            in_front.append(region.intersection(clip))
        self._sources_for, self._sources = visible, sources
        return sources
