"""The base of the Line API desk widgets (the ladder, the tape): strips prepared on a pull, handed out on paint.

``_pull`` decides whether what the widget draws moved and, if so, computes every visible row (``_show_rows``);
``render_line`` only returns a prepared strip, so a burst of updates costs at most one rebuild per pull and
painting costs nothing. Only what changed is repainted: a row equal to the one drawn keeps its strip and is not
refreshed, and a changed row refreshes only the columns from its first to its last changed cell
(:func:`changed_span`), so the compositor renders, and the terminal is sent, those cells alone. Component styles
are resolved once per style change (``_style``).

Each strip is built clean, so the app's line filters that would only copy it are skipped for these widgets
(``get_line_filters``): the text guard (a filter with ``guards_text``), because every cell's text passes
:func:`exchange.printable.strip_controls` here and no style carries a link; Textual's ANSI-to-truecolor filter,
while every style and colour the widget paints is already truecolor and not dim. On the ladder, a new strip per
filter was two of the five strips Textual builds for each changed row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter
from textual.geometry import Region
from textual.strip import Strip

from exchange.printable import strip_controls
from widgets._component_style import component_style
from widgets._format import ColumnWidths
from widgets.desk_widget import SymbolWidget
from widgets.rows import Row

__all__ = ["END_OF_ROW", "StripWidget", "changed_span"]

END_OF_ROW = 1 << 30
"""A span's end that reaches past any width."""


def changed_span(old: Row, new: Row) -> tuple[int, int] | None:
    """The columns ``[start, end)`` where ``new`` differs from ``old`` as drawn, or None when it reads and looks
    the same. Equal leading cells (same text, same styles) are skipped, then the common start of the first
    differing cell's text when its styles agree; the same from the end when both rows are as long (else the rest
    of the row changed: what follows moved). A different fill repaints to the end of the row."""
    if old == new:
        return None
    a, b = old.cells, new.cells
    shortest = min(len(a), len(b))
    lead = start = 0
    while lead < shortest and a[lead] == b[lead]:
        start += len(b[lead][0])
        lead += 1
    if lead < shortest and a[lead][1] == b[lead][1]:
        start += _common_prefix(a[lead][0], b[lead][0])
    total = sum(len(text) for text, _ in b)
    if old.fill != new.fill or total != sum(len(text) for text, _ in a):
        return start, END_OF_ROW
    end, tail = total, 0
    while tail < shortest - lead and a[-1 - tail] == b[-1 - tail]:
        end -= len(b[-1 - tail][0])
        tail += 1
    if tail < shortest - lead and a[-1 - tail][1] == b[-1 - tail][1]:
        end -= _common_prefix(a[-1 - tail][0][::-1], b[-1 - tail][0][::-1])
    return start, max(end, start + 1)


def _common_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


class StripWidget(SymbolWidget):
    """A desk widget of one symbol drawn line by line from strips built when the desk moved."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._strips: list[Strip] = []
        self._rows: list[Row] = []
        self._rows_key: tuple[object, ...] | None = None
        """What the drawn rows were drawn for (width, base style, style generation): a change repaints all."""
        self._widths = ColumnWidths()
        self._style_generation = 0
        """Part of every drawn key: a style change rebuilds the strips."""
        self._base = Style()
        self._styles: dict[str, Style] = {}
        self._layered: dict[tuple[str, ...], Style] = {}
        self._filters_key: tuple[object, ...] | None = None
        self._filters: list[LineFilter] = []

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The app's line filters but those that would leave this widget's strips as they are (see the module)."""
        filters = self.app.get_line_filters()
        key = (tuple(filters), self._style_generation, len(self._layered), self._base, self.styles.border)
        if key != self._filters_key:
            self._filters_key = key
            self._filters = [f for f in filters if not self._strips_pass(f)]
        return self._filters

    def _strips_pass(self, line_filter: LineFilter) -> bool:
        """Whether ``line_filter`` would return every strip of this widget unchanged."""
        if getattr(line_filter, "guards_text", False):
            return all(style.link is None for style in (self._base, *self._layered.values()))
        if isinstance(line_filter, ANSIToTruecolor):
            styles = (self._base, *self._layered.values())
            colours = [self.styles.background, *(colour for _, colour in self.styles.border)]
            return all(_truecolor(style) for style in styles) and all(_not_ansi(c) for c in colours)
        return False

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _restyle(self, _theme: object = None) -> None:
        """Forget the resolved component styles (the CSS or the theme changed)."""
        self._style_generation += 1
        self._styles.clear()
        self._layered.clear()

    def on_resize(self) -> None:
        self._pull()

    def _show(self, strips: list[Strip]) -> None:
        """Paint these strips from the next frame on."""
        self._strips = strips
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self._base)

    def _style(self, name: str) -> Style:
        """A component style, its colours resolved against the background (:mod:`widgets._component_style`),
        cached until the styles change."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, name)
        return style

    def _styled(self, names: tuple[str, ...]) -> Style:
        """The widget's style with these component classes layered over it, in order (cached with them)."""
        style = self._layered.get(names)
        if style is None:
            style = self._base
            for name in names:
                style += self._style(name)
            self._layered[names] = style
        return style

    def _strip(self, row: Row, width: int) -> Strip:
        """A computed row as Textual paints it: cut or padded (in the row's fill style) to ``width``. Neighbouring
        cells that look the same are one segment: the terminal is sent one style change per look, not per cell."""
        segments: list[Segment] = []
        total = 0
        for text, names in (*row.cells, (" " * max(0, width - sum(len(t) for t, _ in row.cells)), row.fill)):
            if not text:
                continue
            if not text.isprintable():
                text = strip_controls(text).ljust(len(text))  # (the line filter is skipped: see the module)
            style = self._styled(names)
            total += len(text)
            if segments and segments[-1].style == style:
                segments[-1] = Segment(segments[-1].text + text, style)
            else:
                segments.append(Segment(text, style))
        strip = Strip(segments, total)
        return strip if total == width else strip.crop_extend(0, width, self._styled(row.fill))

    def _show_rows(self, rows: list[Row], width: int) -> None:
        """Paint these computed rows from the next frame on: only the cells that changed are refreshed."""
        base = self.rich_style
        if base != self._base:
            self._base = base
            self._layered.clear()
        key = (width, self._base, self._style_generation)
        old, strips = self._rows, self._strips
        if key != self._rows_key or len(old) != len(rows) or len(strips) != len(old):
            self._rows, self._rows_key = rows, key
            self._show([self._strip(row, width) for row in rows])
            return
        regions: list[Region] = []
        new_strips = list(strips)
        for y, (before, row) in enumerate(zip(old, rows, strict=True)):
            span = changed_span(before, row)
            if span is None:
                continue
            new_strips[y] = self._strip(row, width)
            start, end = span
            if start < width:
                regions.append(Region(start, y, min(end, width) - start, 1))
        self._rows, self._strips = rows, new_strips
        if regions:
            self.refresh(*regions)


def _truecolor(style: Style) -> bool:
    """Whether Textual's ANSI-to-truecolor filter leaves ``style`` as it is: no system colour, not dim."""
    colours = (style.color, style.bgcolor)
    return not style.dim and all(colour is None or colour.triplet is not None for colour in colours)


def _not_ansi(colour: Color) -> bool:
    return colour.ansi is None
